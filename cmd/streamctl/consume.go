package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// followWait is a --follow long poll's max_wait_ms.
const followWait = 5 * time.Second

type consumeCmd struct {
	Topic     string `arg:"" help:"Topic to read."`
	Partition *int32 `short:"p" help:"Partition to read (default 0)." xor:"part"`
	All       bool   `help:"Read every partition, in turn." xor:"part"`
	Offset    string `help:"Where to start: earliest (the log start), latest (the high watermark: only new records, with --follow), or an offset." default:"earliest"`
	Max       int64  `short:"n" help:"Stop after this many records (0: no limit)." default:"0"`
	Follow    bool   `short:"f" help:"Keep reading (long polls) until Ctrl-C, waiting out failovers and restarts; without it, stop at the high watermark seen at the start."`
}

// cursor is the read position in one partition.
type cursor struct {
	part int32
	next int64
	end  int64 // without --follow: stop here (the high watermark at the start)
}

func (c *consumeCmd) Run(a *app) error {
	if c.Max < 0 {
		return usageErrorf("--max %d: want 0 (no limit) or more", c.Max)
	}
	var fixed int64 = -1
	switch c.Offset {
	case "earliest", "latest":
	default:
		n, err := strconv.ParseInt(c.Offset, 10, 64)
		if err != nil || n < 0 {
			return usageErrorf("--offset %q: want earliest, latest or an offset (0 or more)", c.Offset)
		}
		fixed = n
	}
	parts := []int32{0}
	switch {
	case c.All:
		t, err := c.describe(a)
		if err != nil {
			return err
		}
		parts = parts[:0]
		for p := range t.Partitions {
			parts = append(parts, p)
		}
	case c.Partition != nil:
		if *c.Partition < 0 {
			return usageErrorf("--partition %d: want 0 or more", *c.Partition)
		}
		parts[0] = *c.Partition
	}
	svc, err := a.grpc.consumer()
	if err != nil {
		return err
	}
	curs := make([]*cursor, 0, len(parts))
	for _, p := range parts {
		retry := followRetry{part: p, stderr: a.env.stderr}
		cur, err := c.start(a, svc, p, fixed)
		for c.Follow && err != nil && retryable(err) {
			if werr := retry.wait(a.ctx, fixed, err); werr != nil {
				return werr
			}
			cur, err = c.start(a, svc, p, fixed)
		}
		if err != nil {
			return err
		}
		retry.recovered(fixed)
		curs = append(curs, cur)
	}
	pr := newRecordPrinter(a.env.stdout, a.json)
	if c.Follow {
		return c.follow(a, svc, curs, pr)
	}
	return c.toEnd(a, svc, curs, pr)
}

// describe asks the HTTP API for the topic: its partitions, their log
// start offsets.
func (c *consumeCmd) describe(a *app) (*topic, error) {
	body, err := a.client.call(a.ctx, http.MethodGet, topicPath(c.Topic), nil)
	if err != nil {
		return nil, err
	}
	var t topic
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("the server's answer: %w", err)
	}
	return &t, nil
}

// fetch is one Fetch call.
func (c *consumeCmd) fetch(a *app, svc shv1.ConsumerServiceClient, part int32, off int64, maxBytes int32, wait time.Duration) (*shv1.FetchResponse, error) {
	ctx, cancel := a.grpc.callCtx(a.ctx, wait)
	defer cancel()
	resp, err := svc.Fetch(ctx, &shv1.FetchRequest{Topic: c.Topic, Partition: part, Offset: off, MaxBytes: maxBytes, MaxWaitMs: int32(wait.Milliseconds())})
	return resp, a.grpc.grpcErr(err)
}

// start finds a partition's first offset and high watermark: a fetch of
// one record at offset 0 answers with both. Offset 0 is out of range once
// retention has moved the log start: then the HTTP API's describe says
// where the log starts.
func (c *consumeCmd) start(a *app, svc shv1.ConsumerServiceClient, part int32, fixed int64) (*cursor, error) {
	var logStart, hwm int64
	resp, err := c.fetch(a, svc, part, 0, 1, 0)
	switch {
	case err == nil:
		logStart, hwm = resp.GetLogStartOffset(), resp.GetHighWatermark()
	case isCode(err, codes.OutOfRange):
		t, derr := c.describe(a)
		if derr != nil {
			return nil, fmt.Errorf("partition %d: %w (and the log start offset is unknown: %w)", part, err, derr)
		}
		found := false
		for _, pi := range t.PartitionInfo {
			if pi.Partition == part {
				logStart, hwm, found = pi.LogStartOffset, pi.HighWatermark, true
			}
		}
		if !found {
			return nil, fmt.Errorf("partition %d: %w", part, err)
		}
	default:
		return nil, err
	}
	cur := &cursor{part: part, end: hwm}
	switch {
	case fixed >= 0:
		// Out of range (below the log start, past the high watermark): the
		// server says so.
		if _, err := c.fetch(a, svc, part, fixed, 1, 0); err != nil {
			return nil, fmt.Errorf("partition %d: %w", part, err)
		}
		cur.next = fixed
	case c.Offset == "latest":
		cur.next = hwm
	default:
		cur.next = logStart
	}
	return cur, nil
}

// toEnd reads the partitions in turn, a fetch each, to the high watermarks
// seen at the start.
func (c *consumeCmd) toEnd(a *app, svc shv1.ConsumerServiceClient, curs []*cursor, pr *recordPrinter) error {
	var n int64
	for len(curs) > 0 {
		active := curs[:0]
		for _, cur := range curs {
			if cur.next >= cur.end {
				continue
			}
			resp, err := c.fetch(a, svc, cur.part, cur.next, 0, 0)
			if err != nil {
				return fmt.Errorf("partition %d at offset %d: %w", cur.part, cur.next, err)
			}
			recs := resp.GetRecords()
			for i, r := range recs {
				if r.GetOffset() >= cur.end {
					recs = recs[:i]
					break
				}
			}
			if c.Max > 0 && int64(len(recs)) > c.Max-n {
				recs = recs[:c.Max-n]
			}
			if err := pr.print(cur.part, recs); err != nil {
				return err
			}
			if n += int64(len(recs)); c.Max > 0 && n >= c.Max {
				return nil
			}
			if resp.GetNextOffset() <= cur.next { // no progress: nothing more to read
				continue
			}
			cur.next = resp.GetNextOffset()
			active = append(active, cur)
		}
		curs = active
	}
	return nil
}

// batch is one partition's fetched records, or the error that stopped it.
type batch struct {
	part int32
	recs []*shv1.Record
	err  error
}

// follow long-polls every partition at once, a goroutine each, and prints
// what arrives until --max or the context ends (Ctrl-C: exit code 130).
func (c *consumeCmd) follow(a *app, svc shv1.ConsumerServiceClient, curs []*cursor, pr *recordPrinter) error {
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	sub := *a
	sub.ctx = ctx
	out := make(chan batch)
	for _, cur := range curs {
		go func() {
			retry := followRetry{part: cur.part, stderr: a.env.stderr}
			for {
				resp, err := c.fetch(&sub, svc, cur.part, cur.next, 0, followWait)
				if err != nil && retryable(err) {
					if retry.wait(ctx, cur.next, err) != nil {
						return
					}
					continue
				}
				retry.recovered(cur.next)
				if err != nil {
					err = fmt.Errorf("partition %d at offset %d: %w", cur.part, cur.next, err)
				}
				select {
				case out <- batch{part: cur.part, recs: resp.GetRecords(), err: err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
				cur.next = max(cur.next, resp.GetNextOffset())
			}
		}()
	}
	var n int64
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b := <-out:
			if b.err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return b.err
			}
			recs := b.recs
			if c.Max > 0 && int64(len(recs)) > c.Max-n {
				recs = recs[:c.Max-n]
			}
			if err := pr.print(b.part, recs); err != nil {
				return err
			}
			if n += int64(len(recs)); c.Max > 0 && n >= c.Max {
				return nil
			}
		}
	}
}

// recordPrinter writes records as they come, a fetch's batch at a time:
// aligned lines (each column as wide as its widest cell so far, this batch
// included) or JSON lines.
type recordPrinter struct {
	w       io.Writer
	json    bool
	header  bool
	widths  [3]int // partition, offset, key
	scratch bytes.Buffer
}

func newRecordPrinter(w io.Writer, json bool) *recordPrinter {
	return &recordPrinter{w: w, json: json, widths: [3]int{len("PARTITION"), len("OFFSET"), len("KEY")}}
}

// maxKeyWidth bounds the key column: a longer key pushes its line's value
// along rather than every later line's.
const maxKeyWidth = 40

func (p *recordPrinter) print(part int32, recs []*shv1.Record) error {
	if len(recs) == 0 {
		return nil
	}
	p.scratch.Reset()
	if p.json {
		for _, r := range recs {
			p.jsonLine(part, r)
		}
	} else {
		rows := make([][4]string, 0, len(recs)+1)
		if !p.header {
			p.header = true
			rows = append(rows, [4]string{"PARTITION", "OFFSET", "KEY", "VALUE"})
		}
		for _, r := range recs {
			rows = append(rows, [4]string{itoa(int64(part)), itoa(r.GetOffset()), showBytes(r.Key), showBytes(r.Value)})
		}
		for _, row := range rows {
			for i, c := range row[:3] {
				if w := utf8.RuneCountInString(c); w > p.widths[i] && (i < 2 || w <= maxKeyWidth) {
					p.widths[i] = w
				}
			}
		}
		for _, row := range rows {
			p.row(row)
		}
	}
	_, err := p.scratch.WriteTo(p.w)
	return err
}

func (p *recordPrinter) row(cells [4]string) {
	for i, c := range cells[:3] {
		w := utf8.RuneCountInString(c)
		p.scratch.WriteString(c)
		p.scratch.WriteString(strings.Repeat(" ", max(p.widths[i]-w, 0)+2))
	}
	p.scratch.WriteString(cells[3])
	p.scratch.WriteByte('\n')
}

// showBytes is a key or value as a table cell: its text if it is printable
// UTF-8, quoted if it has control characters, else base64 after a marker;
// "<null>" for none (no key, a tombstone).
func showBytes(b []byte) string {
	switch {
	case b == nil:
		return "<null>"
	case !utf8.Valid(b):
		return "(base64)" + base64.StdEncoding.EncodeToString(b)
	case bytes.ContainsFunc(b, func(r rune) bool { return unicode.IsControl(r) }):
		return strconv.Quote(string(b))
	case len(b) == 0:
		return `""`
	}
	return string(b)
}

// jsonLine writes {"partition","offset","timestamp_ms","key","value","headers"}:
// a key or value is a string if it is UTF-8, else "key_b64"/"value_b64"
// holds its base64 instead; null for none. Headers are [{"key","value"}]
// in order, "value_b64" likewise.
func (p *recordPrinter) jsonLine(part int32, r *shv1.Record) {
	b := &p.scratch
	fmt.Fprintf(b, `{"partition":%d,"offset":%d,"timestamp_ms":%d,`, part, r.GetOffset(), r.GetTimestampMs())
	jsonBytes(b, "key", r.Key)
	b.WriteByte(',')
	jsonBytes(b, "value", r.Value)
	b.WriteString(`,"headers":[`)
	for i, h := range r.GetHeaders() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"key":`)
		jsonString(b, h.GetKey())
		b.WriteByte(',')
		v := h.GetValue()
		if v == nil {
			v = []byte{} // proto3 bytes: unset is empty
		}
		jsonBytes(b, "value", v)
		b.WriteByte('}')
	}
	b.WriteString("]}\n")
}

func jsonBytes(b *bytes.Buffer, name string, v []byte) {
	switch {
	case v == nil:
		b.WriteString(`"` + name + `":null`)
	case utf8.Valid(v):
		b.WriteString(`"` + name + `":`)
		jsonString(b, string(v))
	default:
		b.WriteString(`"` + name + `_b64":"` + base64.StdEncoding.EncodeToString(v) + `"`)
	}
}

func jsonString(b *bytes.Buffer, s string) {
	enc, err := json.Marshal(s)
	if err != nil { // a string always marshals
		panic(errors.Join(errors.New("marshal a string"), err))
	}
	b.Write(enc)
}
