package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
)

type topicCmd struct {
	Create        topicCreateCmd        `cmd:"" help:"Create a topic."`
	List          topicListCmd          `cmd:"" help:"List the topics."`
	Describe      topicDescribeCmd      `cmd:"" help:"Show a topic and its partitions (epochs, log start, high watermarks, committed sizes, owners)."`
	Delete        topicDeleteCmd        `cmd:"" help:"Delete a topic and all its records."`
	AddPartitions topicAddPartitionsCmd `cmd:"" name:"add-partitions" help:"Grow a topic to N partitions (partitions cannot be removed)."`
	Alter         topicAlterCmd         `cmd:"" help:"Change a topic: --partitions N is add-partitions."`
}

// topic is a topic as the API shows it (router/topics.go, topicJSON).
// PartitionInfo is only in a describe.
type topic struct {
	Name           string          `json:"name"`
	ID             int64           `json:"id"`
	Partitions     int32           `json:"partitions"`
	Durability     string          `json:"durability"`
	RetentionMs    int64           `json:"retention_ms"`
	RetentionBytes int64           `json:"retention_bytes"`
	CleanupPolicy  string          `json:"cleanup_policy"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	PartitionInfo  []partitionInfo `json:"partition_info"`
}

type partitionInfo struct {
	Partition      int32 `json:"partition"`
	Epoch          int64 `json:"epoch"`
	HighWatermark  int64 `json:"high_watermark"`
	LogStartOffset int64 `json:"log_start_offset"`
	// Owner is the agent holding the partition's lease and
	// LiveHighWatermark its high watermark, when the server knows them.
	Owner             string `json:"owner,omitempty"`
	LiveHighWatermark *int64 `json:"live_high_watermark,omitempty"`
	// SizeBytes and Segments are the partition's committed segments' bytes
	// and count (not the unflushed tail), when the server tells them.
	SizeBytes *int64 `json:"size_bytes,omitempty"`
	Segments  *int   `json:"segments,omitempty"`
}

// createTopicRequest is the body of POST /api/v1/topics; omitted fields
// take the server's defaults.
type createTopicRequest struct {
	Name        string `json:"name"`
	Partitions  int32  `json:"partitions"`
	Durability  string `json:"durability,omitempty"`
	RetentionMs int64  `json:"retention_ms,omitempty"`
}

type topicCreateCmd struct {
	Name       string  `arg:"" help:"Topic name: letters, digits, '.', '_' and '-', at most 249."`
	Partitions int32   `short:"p" help:"Number of partitions." default:"1"`
	Durability *string `help:"When a record is acknowledged: wal (in the write-ahead log; the server's default) or object (in object storage)." enum:"wal,object"`
	Retention  string  `help:"How long records are kept: e.g. 7d, 12h, 30m, or forever. The server's default is 7d."`
}

func (c *topicCreateCmd) Run(a *app) error {
	if c.Partitions < 1 {
		return usageErrorf("--partitions %d: want 1 or more", c.Partitions)
	}
	req := createTopicRequest{Name: c.Name, Partitions: c.Partitions}
	if c.Durability != nil {
		req.Durability = *c.Durability
	}
	if c.Retention != "" {
		ms, err := parseRetention(c.Retention)
		if err != nil {
			return err
		}
		req.RetentionMs = ms
	}
	body, err := a.client.call(a.ctx, http.MethodPost, "/api/v1/topics", req)
	if err != nil {
		return err
	}
	if a.json {
		return writeRawJSON(a.env.stdout, body)
	}
	var t topic
	if err := json.Unmarshal(body, &t); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	_, err = fmt.Fprintf(a.env.stdout, "topic %q created: %d partitions, durability %s, retention %s\n",
		t.Name, t.Partitions, t.Durability, formatRetention(t.RetentionMs))
	return err
}

type topicListCmd struct{}

func (c *topicListCmd) Run(a *app) error {
	body, err := a.client.call(a.ctx, http.MethodGet, "/api/v1/topics", nil)
	if err != nil {
		return err
	}
	if a.json {
		return writeRawJSON(a.env.stdout, body)
	}
	var list struct {
		Topics []topic `json:"topics"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	if len(list.Topics) == 0 {
		_, err := fmt.Fprintln(a.env.stdout, "No topics.")
		return err
	}
	t := newTable(a.env.stdout)
	t.AppendHeader(table.Row{"Name", "Partitions", "Durability", "Retention", "Cleanup", "Created"})
	for _, tp := range list.Topics {
		t.AppendRow(table.Row{tp.Name, itoa(int64(tp.Partitions)), tp.Durability, formatRetention(tp.RetentionMs),
			tp.CleanupPolicy, tp.CreatedAt.UTC().Format(time.RFC3339)})
	}
	t.Render()
	return nil
}

type topicDescribeCmd struct {
	Name string `arg:"" help:"Topic name."`
}

func (c *topicDescribeCmd) Run(a *app) error {
	body, err := a.client.call(a.ctx, http.MethodGet, topicPath(c.Name), nil)
	if err != nil {
		return err
	}
	if a.json {
		return writeRawJSON(a.env.stdout, body)
	}
	var tp topic
	if err := json.Unmarshal(body, &tp); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	w := a.env.stdout
	fields := newTable(w)
	for _, f := range []struct{ k, v string }{
		{"Name:", tp.Name},
		{"ID:", itoa(tp.ID)},
		{"Partitions:", itoa(int64(tp.Partitions))},
		{"Durability:", tp.Durability},
		{"Retention:", formatRetention(tp.RetentionMs)},
		{"Retention bytes:", formatBytes(tp.RetentionBytes)},
		{"Cleanup policy:", tp.CleanupPolicy},
		{"Created:", tp.CreatedAt.UTC().Format(time.RFC3339)},
		{"Updated:", tp.UpdatedAt.UTC().Format(time.RFC3339)},
	} {
		fields.AppendRow(table.Row{f.k, f.v})
	}
	fields.Render()
	fmt.Fprintln(w)
	// SIZE and SEGMENTS (committed segments only: the unflushed tail is not
	// counted) only when the server reports them; OWNER and LIVE HW only
	// when it reports them (a router that sees the cluster).
	var sizes, owners, live bool
	for _, p := range tp.PartitionInfo {
		sizes = sizes || p.SizeBytes != nil
		owners = owners || p.Owner != ""
		live = live || p.LiveHighWatermark != nil
	}
	parts := newTable(w)
	header := table.Row{"Partition", "Epoch", "Log start", "High watermark", "Records"}
	if sizes {
		header = append(header, "Size", "Segments")
	}
	if owners {
		header = append(header, "Owner")
	}
	if live {
		header = append(header, "Live HW")
	}
	parts.AppendHeader(header)
	for _, p := range tp.PartitionInfo {
		row := table.Row{itoa(int64(p.Partition)), itoa(p.Epoch), itoa(p.LogStartOffset), itoa(p.HighWatermark),
			itoa(p.HighWatermark - p.LogStartOffset)}
		if sizes {
			size, segs := "-", "-"
			if p.SizeBytes != nil {
				size = humanBytes(*p.SizeBytes)
			}
			if p.Segments != nil {
				segs = itoa(int64(*p.Segments))
			}
			row = append(row, size, segs)
		}
		if owners {
			row = append(row, orDash(p.Owner))
		}
		if live {
			hw := "-"
			if p.LiveHighWatermark != nil {
				hw = itoa(*p.LiveHighWatermark)
			}
			row = append(row, hw)
		}
		parts.AppendRow(row)
	}
	parts.Render()
	return nil
}

// humanBytes shows a byte count in binary units with one decimal, as
// "512 B", "1.2 MiB", "3.0 GiB".
func humanBytes(n int64) string {
	if n < 1024 {
		return itoa(n) + " B"
	}
	v, unit := float64(n)/1024, 0
	for v >= 1024 && unit < 5 {
		v /= 1024
		unit++
	}
	if v >= 1023.95 && unit < 5 { // would print as "1024.0"
		v /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %s", v, []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}[unit])
}

type topicAddPartitionsCmd struct {
	Name       string `arg:"" help:"Topic name."`
	Partitions int32  `arg:"" name:"n" help:"The topic's new number of partitions: more than it has."`
}

func (c *topicAddPartitionsCmd) Run(a *app) error {
	return addPartitions(a, c.Name, c.Partitions)
}

type topicAlterCmd struct {
	Name       string `arg:"" help:"Topic name."`
	Partitions int32  `short:"p" required:"" help:"The topic's new number of partitions: more than it has."`
}

func (c *topicAlterCmd) Run(a *app) error {
	return addPartitions(a, c.Name, c.Partitions)
}

// addPartitions grows the topic to n partitions.
func addPartitions(a *app, name string, n int32) error {
	if n < 1 {
		return usageErrorf("partitions %d: want more than the topic has", n)
	}
	body, err := a.client.call(a.ctx, http.MethodPost, topicPath(name)+"/partitions", map[string]int32{"partitions": n})
	if err != nil {
		return err
	}
	if a.json {
		return writeRawJSON(a.env.stdout, body)
	}
	var t topic
	if err := json.Unmarshal(body, &t); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	_, err = fmt.Fprintf(a.env.stdout, "topic %q now has %d partitions\n", t.Name, t.Partitions)
	return err
}

type topicDeleteCmd struct {
	Name string `arg:"" help:"Topic name."`
	Yes  bool   `short:"y" help:"Delete without asking. Required when stdin is not a terminal."`
}

func (c *topicDeleteCmd) Run(a *app) error {
	if !c.Yes {
		if !a.env.stdinTTY {
			return usageErrorf("topic delete %s: stdin is not a terminal to confirm on; pass --yes to delete", c.Name)
		}
		ok, err := confirm(a.env.stdin, a.env.stderr,
			fmt.Sprintf("Delete topic %q and all its records? This cannot be undone. [y/N] ", c.Name))
		if err != nil {
			return err
		}
		if !ok {
			return &declinedError{msg: fmt.Sprintf("topic %q not deleted", c.Name)}
		}
	}
	if _, err := a.client.call(a.ctx, http.MethodDelete, topicPath(c.Name), nil); err != nil {
		return err
	}
	if a.json {
		return writeJSON(a.env.stdout, map[string]string{"deleted": c.Name})
	}
	_, err := fmt.Fprintf(a.env.stdout, "topic %q deleted\n", c.Name)
	return err
}

// confirm asks on w and reads one answer line from r: y or yes (any case)
// is yes, anything else (also end of input) no.
func confirm(r io.Reader, w io.Writer, question string) (bool, error) {
	fmt.Fprint(w, question)
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return false, fmt.Errorf("read the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
