package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/streamhouse/streamhouse/wire"
)

// contentTypeBatch is the media type of a binary produce body: the wire
// Records encoding (router.ContentTypeBatch).
const contentTypeBatch = "application/vnd.streamhouse.batch"

// maxLineBytes bounds one input line: the server's default request limit
// (8 MiB). A record over the server's record limit (1 MiB by default) is
// refused by the server, which names the limit.
const maxLineBytes = 8 << 20

type produceCmd struct {
	Topic        string   `arg:"" help:"Topic to produce to."`
	Values       []string `arg:"" optional:"" help:"Record values. Without any, each line of --file or stdin is a record (blank lines are skipped)."`
	File         string   `short:"f" type:"existingfile" help:"Read records from this file, one per line."`
	Key          *string  `short:"k" help:"Key of every record (without it, records have no key)."`
	KeySep       string   `help:"Split each value at the first SEP into key and value (e.g. --key-sep ':' reads k1:v1)." placeholder:"SEP"`
	Partition    *int32   `help:"Send every record to this partition (default: by key, Kafka's murmur2; keyless records stick to one partition per request)."`
	Header       []string `short:"H" sep:"none" help:"A header k=v on every record; repeat for more (order is kept)." placeholder:"K=V"`
	BatchRecords int      `help:"Most records per request." default:"1000"`
	BatchBytes   int      `help:"Most bytes (encoded records) per request." default:"1048576"`
	NoProgress   bool     `help:"No progress bar (shown on a terminal's stderr for inputs over one batch)."`
}

// source yields the input's record values in order: next returns false at
// the end. consumed is how many input bytes were read, for progress.
type source interface {
	next() (value []byte, ok bool, err error)
	consumed() int64
	// where names the last value for an error message: "argument 2", "line 7".
	where() string
}

type argSource struct {
	vals []string
	i    int
}

func (s *argSource) next() ([]byte, bool, error) {
	if s.i == len(s.vals) {
		return nil, false, nil
	}
	s.i++
	return []byte(s.vals[s.i-1]), true, nil
}
func (s *argSource) consumed() int64 { return 0 }
func (s *argSource) where() string   { return "argument " + strconv.Itoa(s.i) }

// lineSource reads lines, without their "\n" or "\r\n", skipping blank
// ones. The values it returns are its own copies.
type lineSource struct {
	sc   *bufio.Scanner
	line int
	read int64
}

func newLineSource(r io.Reader) *lineSource {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	return &lineSource{sc: sc}
}

func (s *lineSource) next() ([]byte, bool, error) {
	for s.sc.Scan() {
		s.line++
		b := s.sc.Bytes()
		s.read += int64(len(b)) + 1
		b = bytes.TrimSuffix(b, []byte{'\r'})
		if len(b) == 0 {
			continue
		}
		return bytes.Clone(b), true, nil
	}
	if err := s.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, false, usageErrorf("line %d is over %d bytes, the most a request may carry", s.line+1, maxLineBytes)
		}
		return nil, false, fmt.Errorf("read line %d: %w", s.line+1, err)
	}
	return nil, false, nil
}
func (s *lineSource) consumed() int64 { return s.read }
func (s *lineSource) where() string   { return "line " + strconv.Itoa(s.line) }

// produced is one record's result, as a JSON line shows it.
type produced struct {
	Record    int        `json:"record"` // index in the input, from 0
	Partition int32      `json:"partition"`
	Offset    *int64     `json:"offset,omitempty"`
	Error     *errorBody `json:"error,omitempty"`
}

// produceResponse is the answer to POST /api/v1/topics/{topic}/records
// (router/produce.go): an entry per record in request order, and on a
// partial failure, an error.
type produceResponse struct {
	Offsets []struct {
		Partition int32      `json:"partition"`
		Offset    *int64     `json:"offset"`
		Error     *errorBody `json:"error"`
	} `json:"offsets"`
	Error *errorBody `json:"error"`
}

func (c *produceCmd) Run(a *app) error {
	headers, err := c.validate()
	if err != nil {
		return err
	}
	src, inputSize, closeSrc, err := c.source(a)
	if err != nil {
		return err
	}
	defer closeSrc()

	p := &producer{app: a, path: topicPath(c.Topic) + "/records"}
	if c.Partition != nil {
		p.query = url.Values{"partition": {strconv.Itoa(int(*c.Partition))}}
	}
	if !a.json {
		p.row = fmt.Sprintf("%%-%ds  %%-%ds  %%s\n", len("RECORD"), len("PARTITION"))
	}
	var bar *progressbar.ProgressBar
	defer func() {
		if bar != nil {
			_ = bar.Finish()
		}
	}()
	showBar := a.env.stderrTTY && !c.NoProgress && len(c.Values) == 0

	recs := make([]wire.Record, 0, min(c.BatchRecords, 1024))
	batchBytes := 0
	for {
		v, ok, err := src.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		rec := wire.Record{Value: v, Headers: headers}
		if c.Key != nil {
			rec.Key = []byte(*c.Key)
		}
		if c.KeySep != "" {
			k, v, found := bytes.Cut(v, []byte(c.KeySep))
			if !found {
				where := src.where()
				if len(recs) > 0 { // keep the promise of the message
					if err := p.send(recs); err != nil {
						return err
					}
				}
				return usageErrorf("%s has no key separator %q (the records before it were produced)", where, c.KeySep)
			}
			rec.Key, rec.Value = k, v
		}
		size := encodedSize(&rec)
		if len(recs) > 0 && (len(recs) == c.BatchRecords || batchBytes+size > c.BatchBytes) {
			if err := p.send(recs); err != nil {
				return err
			}
			if bar == nil && showBar { // more than one batch: a large input
				bar = newProgressBar(a.env.stderr, inputSize)
			}
			if bar != nil {
				_ = bar.Set64(src.consumed())
			}
			recs, batchBytes = recs[:0], 0
		}
		recs = append(recs, rec)
		batchBytes += size
	}
	if len(recs) > 0 {
		if err := p.send(recs); err != nil {
			return err
		}
	}
	if p.sent == 0 {
		return usageErrorf("no records to produce: give values as arguments, --file, or lines on stdin")
	}
	return nil
}

// validate checks the flags and returns the headers of every record.
func (c *produceCmd) validate() ([]wire.Header, error) {
	switch {
	case c.Key != nil && c.KeySep != "":
		return nil, usageErrorf("--key and --key-sep: give one (a key for all records, or one per record)")
	case len(c.Values) > 0 && c.File != "":
		return nil, usageErrorf("values as arguments and --file: give one")
	case c.Partition != nil && *c.Partition < 0:
		return nil, usageErrorf("--partition %d: want 0 or more", *c.Partition)
	case c.BatchRecords < 1 || c.BatchBytes < 1:
		return nil, usageErrorf("--batch-records and --batch-bytes: want 1 or more")
	}
	var hs []wire.Header
	for _, h := range c.Header {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--header %q: want key=value", h)
		}
		hs = append(hs, wire.Header{Key: k, Value: []byte(v)})
	}
	return hs, nil
}

// source returns where the values come from, and the input's size in
// bytes if known (else -1).
func (c *produceCmd) source(a *app) (source, int64, func(), error) {
	nothing := func() {}
	switch {
	case len(c.Values) > 0:
		return &argSource{vals: c.Values}, -1, nothing, nil
	case c.File != "":
		f, err := os.Open(c.File)
		if err != nil {
			return nil, 0, nothing, err
		}
		size := int64(-1)
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		return newLineSource(f), size, func() { _ = f.Close() }, nil
	}
	size := int64(-1)
	if f, ok := a.env.stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	if a.env.stdinTTY {
		fmt.Fprintln(a.env.stderr, "Reading records from stdin, one per line; end with Ctrl-D.")
	}
	return newLineSource(a.env.stdin), size, nothing, nil
}

// encodedSize is about the bytes rec takes in the wire Records encoding.
func encodedSize(rec *wire.Record) int {
	return rec.Size() + 16 + 6*len(rec.Headers)
}

// newProgressBar returns a bar of input bytes on w; size -1 is unknown (a
// spinner). It draws only when told of progress: no goroutine of its own.
func newProgressBar(w io.Writer, size int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("producing"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionClearOnFinish(),
	)
}

// producer sends batches and prints each record's result.
type producer struct {
	app   *app
	path  string
	query url.Values
	row   string // table row format; "" for JSON lines
	sent  int    // records produced so far
	buf   []byte
}

// send produces one batch. On a failure it prints what the server did
// write of the batch and returns the server's error.
func (p *producer) send(recs []wire.Record) error {
	p.buf = wire.AppendRecords(p.buf[:0], recs)
	resp, err := p.app.client.do(p.app.ctx, http.MethodPost, p.path, p.query, contentTypeBatch, p.buf)
	if err != nil {
		return p.stopped(len(recs), false, err)
	}
	var out produceResponse
	if json.Unmarshal(resp.body, &out) != nil || len(out.Offsets) != len(recs) {
		if resp.status/100 == 2 {
			return fmt.Errorf("the server's answer has %d offsets for %d records", len(out.Offsets), len(recs))
		}
		return p.stopped(len(recs), false, resp.apiError())
	}
	for i, o := range out.Offsets {
		if err := p.print(produced{Record: p.sent + i, Partition: o.Partition, Offset: o.Offset, Error: o.Error}); err != nil {
			return err
		}
	}
	if resp.status/100 != 2 { // a partial failure: some partitions' batches written
		return p.stopped(len(recs), true, resp.apiError())
	}
	p.sent += len(recs)
	return nil
}

// stopped says how far the input got before err, which stopped the batch
// of n records after the p.sent produced ones.
func (p *producer) stopped(n int, partial bool, err error) error {
	where := fmt.Sprintf("record %d", p.sent)
	if n > 1 {
		where = fmt.Sprintf("records %d to %d", p.sent, p.sent+n-1)
	}
	done := "nothing produced before"
	if p.sent > 0 {
		done = fmt.Sprintf("the %d records before were produced", p.sent)
	}
	if partial {
		where += " (the results above say which were written)"
	}
	return fmt.Errorf("produce stopped at %s; %s: %w", where, done, err)
}

func (p *producer) print(r produced) error {
	w := p.app.env.stdout
	if p.row == "" {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	if r.Record == 0 {
		if _, err := fmt.Fprintf(w, p.row, "RECORD", "PARTITION", "OFFSET"); err != nil {
			return err
		}
	}
	result := ""
	if r.Offset != nil {
		result = strconv.FormatInt(*r.Offset, 10)
	} else if r.Error != nil {
		result = "error " + r.Error.Code + ": " + r.Error.Message
	}
	_, err := fmt.Fprintf(w, p.row, strconv.Itoa(r.Record), strconv.Itoa(int(r.Partition)), result)
	return err
}
