package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
)

// Consumer group administration over the HTTP API (router/admin_groups.go).

// groupPath is the API path of a group, its name escaped.
func groupPath(name string) string { return "/api/v1/groups/" + url.PathEscape(name) }

// groupPart is a partition of a topic, by name.
type groupPart struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// groupDesc is GET /api/v1/groups/{group} (router groupJSON).
type groupDesc struct {
	Group      string `json:"group"`
	State      string `json:"state"`
	Generation int32  `json:"generation"`
	Strategy   string `json:"strategy"`
	Members    []struct {
		ID               string      `json:"id"`
		ClientID         string      `json:"client_id"`
		SessionTimeoutMs int64       `json:"session_timeout_ms"`
		Assignment       []groupPart `json:"assignment"`
	} `json:"members"`
	Offsets []struct {
		Topic          string `json:"topic"`
		Partition      int32  `json:"partition"`
		Committed      int64  `json:"committed"` // -1: none
		HighWatermark  int64  `json:"high_watermark"`
		LogStartOffset int64  `json:"log_start_offset"`
		Lag            int64  `json:"lag"`
		Member         string `json:"member"`
	} `json:"offsets"`
}

type groupListCmd struct{}

func (c *groupListCmd) Run(a *app) error {
	body, err := a.client.call(a.ctx, http.MethodGet, "/api/v1/groups", nil)
	if err != nil {
		return err
	}
	if a.json {
		return writeRawJSON(a.env.stdout, body)
	}
	var list struct {
		Groups []string `json:"groups"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	if len(list.Groups) == 0 {
		_, err := fmt.Fprintln(a.env.stdout, "No consumer groups.")
		return err
	}
	t := newTable(a.env.stdout)
	t.AppendHeader(table.Row{"Group"})
	for _, g := range list.Groups {
		t.AppendRow(table.Row{g})
	}
	t.Render()
	return nil
}

type groupDescribeCmd struct {
	Group string `arg:"" help:"Group name."`
}

func (c *groupDescribeCmd) Run(a *app) error {
	body, err := a.client.call(a.ctx, http.MethodGet, groupPath(c.Group), nil)
	if err != nil {
		return err
	}
	if a.json {
		return writeRawJSON(a.env.stdout, body)
	}
	var g groupDesc
	if err := json.Unmarshal(body, &g); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	w := a.env.stdout
	fields := newTable(w)
	for _, f := range []struct{ k, v string }{
		{"Group:", g.Group},
		{"State:", g.State},
		{"Generation:", itoa(int64(g.Generation))},
		{"Strategy:", orDash(g.Strategy)},
		{"Members:", strconv.Itoa(len(g.Members))},
	} {
		fields.AppendRow(table.Row{f.k, f.v})
	}
	fields.Render()
	if len(g.Members) > 0 {
		fmt.Fprintln(w)
		mt := newTable(w)
		mt.AppendHeader(table.Row{"Member", "Client", "Session timeout", "Assignment"})
		for _, m := range g.Members {
			mt.AppendRow(table.Row{m.ID, orDash(m.ClientID), (time.Duration(m.SessionTimeoutMs) * time.Millisecond).String(),
				formatParts(m.Assignment)})
		}
		mt.Render()
	}
	fmt.Fprintln(w)
	if len(g.Offsets) == 0 {
		_, err := fmt.Fprintln(w, "No partitions.")
		return err
	}
	ot := newTable(w)
	ot.AppendHeader(table.Row{"Topic", "Partition", "Committed", "High watermark", "Lag", "Member"})
	for _, o := range g.Offsets {
		committed := "-"
		if o.Committed >= 0 {
			committed = itoa(o.Committed)
		}
		ot.AppendRow(table.Row{o.Topic, itoa(int64(o.Partition)), committed, itoa(o.HighWatermark), itoa(o.Lag), orDash(o.Member)})
	}
	ot.Render()
	return nil
}

// formatParts shows partitions by topic: "audit:0 orders:0,2"; none is "-".
func formatParts(ps []groupPart) string {
	if len(ps) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, p := range ps {
		switch {
		case i == 0:
		case ps[i-1].Topic == p.Topic:
			b.WriteByte(',')
			b.WriteString(itoa(int64(p.Partition)))
			continue
		default:
			b.WriteByte(' ')
		}
		b.WriteString(p.Topic)
		b.WriteByte(':')
		b.WriteString(itoa(int64(p.Partition)))
	}
	return b.String()
}

// resetRequest is the body of POST /api/v1/groups/{group}/reset.
type resetRequest struct {
	Topic       string `json:"topic,omitempty"`
	To          string `json:"to"`
	Offset      *int64 `json:"offset,omitempty"`
	TimestampMs *int64 `json:"timestamp_ms,omitempty"`
}

type groupResetCmd struct {
	Group  string `arg:"" help:"Group name."`
	To     string `required:"" enum:"earliest,latest,offset,timestamp" help:"Where to: earliest (log start), latest (high watermark), offset (--offset), or timestamp (--time). Each offset is clamped into the partition's log."`
	Topic  string `short:"t" help:"Only this topic's partitions (default: every topic the group has offsets on)."`
	Offset *int64 `help:"With --to offset: the next offset the group will read, in every partition."`
	Time   string `help:"With --to timestamp: an RFC 3339 time (2024-05-01T12:00:00Z) or a time ago: --time=-1h, -30m, -2d (with '=', else -1h reads as a flag)."`
}

func (c *groupResetCmd) Run(a *app) error {
	req := resetRequest{Topic: c.Topic, To: c.To}
	if c.Offset != nil && c.To != "offset" {
		return usageErrorf("group reset: --offset goes with --to offset")
	}
	if c.Time != "" && c.To != "timestamp" {
		return usageErrorf("group reset: --time goes with --to timestamp")
	}
	switch c.To {
	case "offset":
		if c.Offset == nil || *c.Offset < 0 {
			return usageErrorf("group reset --to offset: want --offset N, N 0 or more")
		}
		req.Offset = c.Offset
	case "timestamp":
		if c.Time == "" {
			return usageErrorf("group reset --to timestamp: want --time, e.g. 2024-05-01T12:00:00Z or -1h")
		}
		ts, err := parseResetTime(c.Time, time.Now())
		if err != nil {
			return err
		}
		ms := ts.UnixMilli()
		req.TimestampMs = &ms
	}
	body, err := a.client.call(a.ctx, http.MethodPost, groupPath(c.Group)+"/reset", req)
	if err != nil {
		return err
	}
	if a.json {
		return writeRawJSON(a.env.stdout, body)
	}
	var out struct {
		Offsets []struct {
			groupPart
			Offset int64 `json:"offset"`
		} `json:"offsets"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	w := a.env.stdout
	fmt.Fprintf(w, "group %q reset to %s: %d offsets written\n", c.Group, c.To, len(out.Offsets))
	if len(out.Offsets) == 0 {
		return nil
	}
	t := newTable(w)
	t.AppendHeader(table.Row{"Topic", "Partition", "Offset"})
	for _, o := range out.Offsets {
		t.AppendRow(table.Row{o.Topic, itoa(int64(o.Partition)), itoa(o.Offset)})
	}
	t.Render()
	return nil
}

// parseResetTime reads --time: RFC 3339, or a negative duration from now
// (Go's units, and d and w).
func parseResetTime(s string, now time.Time) (time.Time, error) {
	if ago, ok := strings.CutPrefix(s, "-"); ok {
		bad := usageErrorf("--time %q: want a time ago such as --time=-1h, -30m or -2d", s)
		if strings.HasPrefix(ago, "-") || strings.HasPrefix(ago, "+") {
			return time.Time{}, bad
		}
		ms, err := parseRetention(ago)
		if err != nil || ms < 0 {
			return time.Time{}, bad
		}
		return now.Add(-time.Duration(ms) * time.Millisecond), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usageErrorf("--time %q: want an RFC 3339 time (2024-05-01T12:00:00Z) or a time ago (--time=-1h)", s)
	}
	return t, nil
}

type groupDeleteCmd struct {
	Group string `arg:"" help:"Group name."`
	Yes   bool   `short:"y" help:"Delete without asking. Required when stdin is not a terminal."`
}

func (c *groupDeleteCmd) Run(a *app) error {
	if !c.Yes {
		if !a.env.stdinTTY {
			return usageErrorf("group delete %s: stdin is not a terminal to confirm on; pass --yes to delete", c.Group)
		}
		ok, err := confirm(a.env.stdin, a.env.stderr,
			fmt.Sprintf("Delete consumer group %q and its committed offsets? This cannot be undone. [y/N] ", c.Group))
		if err != nil {
			return err
		}
		if !ok {
			return &declinedError{msg: fmt.Sprintf("group %q not deleted", c.Group)}
		}
	}
	if _, err := a.client.call(a.ctx, http.MethodDelete, groupPath(c.Group), nil); err != nil {
		return err
	}
	if a.json {
		return writeJSON(a.env.stdout, map[string]string{"deleted": c.Group})
	}
	_, err := fmt.Fprintf(a.env.stdout, "group %q deleted\n", c.Group)
	return err
}
