package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	streamhousev1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// ack is where an acknowledged record was written.
type ack struct {
	partition int32
	offset    int64
}

// ledger is what the producers of one topic sent and what was acknowledged.
type ledger struct {
	topic string
	mu    sync.Mutex
	sent  map[string]bool // every value sent, acknowledged or not
	acked map[string]ack
	// unacked counts records whose request failed or timed out: they may
	// or may not have been written.
	unacked    int
	errCodes   map[string]int // error code (or transport error) → records
	budget     int64
	issued     atomic.Int64 // records handed out
	ackedCount atomic.Int64
}

func newLedger(topic string, budget int) *ledger {
	return &ledger{topic: topic, sent: map[string]bool{}, acked: map[string]ack{}, errCodes: map[string]int{}, budget: int64(budget)}
}

// take reserves n records of the budget; false once it is spent.
func (l *ledger) take(n int) bool {
	return l.issued.Add(int64(n)) <= l.budget
}

func (l *ledger) markSent(values []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range values {
		l.sent[v] = true
	}
}

// result records the outcome of one record.
func (l *ledger) result(value string, a *ack, errCode string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a == nil {
		l.unacked++
		l.errCodes[errCode]++
		return nil
	}
	if prev, ok := l.acked[value]; ok {
		return fmt.Errorf("value %s acknowledged twice: %v and %v", value, prev, *a)
	}
	l.acked[value] = *a
	l.ackedCount.Add(1)
	return nil
}

// offsetEntry is an element of a produce answer's "offsets".
type offsetEntry struct {
	Partition *int32 `json:"partition"`
	Offset    *int64 `json:"offset"`
	Error     *struct {
		Code string `json:"code"`
	} `json:"error"`
}

type produceAnswer struct {
	ID      *int64        `json:"id"`
	Offsets []offsetEntry `json:"offsets"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type jsonRec struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	Partition *int32 `json:"partition,omitempty"`
}

// settle applies a produce answer (or a transport error) to the ledger.
// Every record of the request gets exactly one outcome.
func (l *ledger) settle(values []string, ans *produceAnswer, transportErr error) error {
	if transportErr != nil || ans == nil || len(ans.Offsets) != len(values) {
		code := "no-offsets"
		switch {
		case transportErr != nil:
			code = "transport: " + shortErr(transportErr)
		case ans != nil && ans.Error != nil:
			code = ans.Error.Code
		}
		if ans != nil && ans.Offsets != nil && len(ans.Offsets) != len(values) {
			return fmt.Errorf("answer has %d offsets for %d records", len(ans.Offsets), len(values))
		}
		for _, v := range values {
			_ = l.result(v, nil, code)
		}
		return nil
	}
	var errs []error
	for i, e := range ans.Offsets {
		switch {
		case e.Offset != nil && e.Partition != nil && e.Error == nil:
			errs = append(errs, l.result(values[i], &ack{*e.Partition, *e.Offset}, ""))
		case e.Error != nil:
			_ = l.result(values[i], nil, e.Error.Code)
		default:
			errs = append(errs, fmt.Errorf("offset entry %d of %v: neither offset nor error", i, e))
		}
	}
	return errors.Join(errs...)
}

func shortErr(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "Client.Timeout"):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	return s
}

// produceHTTP posts records as JSON and settles them in the ledger.
func produceHTTP(ctx context.Context, client *http.Client, base string, l *ledger, recs []jsonRec) (int, error) {
	values := make([]string, len(recs))
	for i, r := range recs {
		values[i] = r.Value
	}
	l.markSent(values)
	body, _ := json.Marshal(map[string]any{"records": recs})
	ans, status, err := postJSON(ctx, client, base, l.topic, body)
	switch {
	case err != nil && status == 0: // transport: the records' outcome is unknown
		return 0, l.settle(values, nil, err)
	case err != nil:
		return status, err
	case status == http.StatusOK && ans.Error != nil:
		return status, fmt.Errorf("200 with an error: %+v", ans.Error)
	case status != http.StatusOK && ans.Error == nil:
		return status, fmt.Errorf("status %d without an error", status)
	}
	return status, l.settle(values, ans, nil)
}

// httpProducer sends batches of keyed records with unique values, paced by
// a ticker, until stop is closed or the budget is spent. A failed request
// is never resent: its records count as unacknowledged.
func httpProducer(ctx context.Context, base string, l *ledger, name string, batch int, every time.Duration, stop <-chan struct{}, report func(error)) {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(every)
	defer tick.Stop()
	seq := 0
	for l.take(batch) {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		recs := make([]jsonRec, batch)
		for i := range recs {
			recs[i] = jsonRec{Key: fmt.Sprintf("k%d", (seq*7919)%1000), Value: fmt.Sprintf("%s-%s-%06d", l.topic, name, seq)}
			seq++
		}
		if _, err := produceHTTP(ctx, client, base, l, recs); err != nil {
			report(fmt.Errorf("%s: %w", name, err))
		}
	}
}

// wsProducer produces over one /ws/produce connection, pipelining up to
// window frames, until stop is closed or the budget is spent. A broken
// connection loses its outstanding frames' acks (unacknowledged) and is
// opened again.
func wsProducer(ctx context.Context, base string, l *ledger, batch, window int, every time.Duration, stop <-chan struct{}, report func(error)) {
	seq, frameID := 0, int64(0)
	for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
		select {
		case <-stop:
			return
		default:
		}
		done, err := wsSession(ctx, base, l, batch, window, every, stop, &seq, &frameID)
		if err != nil {
			report(fmt.Errorf("ws: %w", err))
		}
		if done {
			return
		}
	}
}

// wsSession runs one connection; done reports that production is over.
func wsSession(ctx context.Context, base string, l *ledger, batch, window int, every time.Duration, stop <-chan struct{}, seq *int, frameID *int64) (done bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, _, err := websocket.DefaultDialer.DialContext(dctx, "ws://"+base+"/ws/produce?topic="+l.topic, nil)
	cancel()
	if err != nil {
		return false, nil // the router may be busy; try again
	}
	defer c.Close()

	type frame struct {
		id     int64
		values []string
	}
	pending := make(chan frame, window)
	readerErr := make(chan error, 1)
	go func() { // owned by wsSession: joined below
		var rerr error
		defer func() { readerErr <- rerr }()
		for f := range pending {
			// The router answers within its produce timeout (30 s).
			_ = c.SetReadDeadline(time.Now().Add(40 * time.Second))
			_, data, err := c.ReadMessage()
			if err != nil {
				_ = l.settle(f.values, nil, err)
				for f := range pending {
					_ = l.settle(f.values, nil, err)
				}
				return
			}
			var ans produceAnswer
			if err := json.Unmarshal(data, &ans); err != nil {
				rerr = fmt.Errorf("undecodable ack %q: %w", data, err)
				_ = l.settle(f.values, nil, err)
				continue
			}
			if ans.ID == nil || *ans.ID != f.id {
				rerr = fmt.Errorf("ack %s out of order: want id %d", data, f.id)
			}
			if err := l.settle(f.values, &ans, nil); err != nil {
				rerr = err
			}
		}
	}()

	tick := time.NewTicker(every)
	defer tick.Stop()
	broken := false
	for !broken {
		if !l.take(batch) {
			done = true
			break
		}
		select {
		case <-stop:
			done = true
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		if done {
			break
		}
		recs := make([]jsonRec, batch)
		values := make([]string, batch)
		for i := range recs {
			values[i] = fmt.Sprintf("%s-ws-%06d", l.topic, *seq)
			recs[i] = jsonRec{Key: fmt.Sprintf("k%d", (*seq*104729)%1000), Value: values[i]}
			*seq++
		}
		*frameID++
		msg, _ := json.Marshal(map[string]any{"id": *frameID, "records": recs})
		l.markSent(values)
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if werr := c.WriteMessage(websocket.TextMessage, msg); werr != nil {
			_ = l.settle(values, nil, werr)
			broken = true
			break
		}
		select {
		case pending <- frame{*frameID, values}:
		case rerr := <-readerErr: // the reader ended: the connection broke
			_ = l.settle(values, nil, errors.New("connection broken"))
			close(pending)
			return false, rerr
		}
	}
	// Wait a bounded time for the outstanding acks, then cut the
	// connection: whatever is still unacknowledged stays so.
	close(pending)
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	select {
	case rerr := <-readerErr:
		return done, rerr
	case <-timer.C:
		c.Close()
		return done, <-readerErr
	}
}

// probe produces single records to one partition until one is acknowledged
// or ctx ends, and returns the time of that acknowledgement.
// Each attempt waits at most timeout.
func probe(ctx context.Context, base string, l *ledger, partition int32, name string, timeout time.Duration) (time.Time, int, error) {
	client := &http.Client{Timeout: timeout}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for attempt := 1; ; attempt++ {
		p := partition
		v := fmt.Sprintf("%s-%s-p%d-%04d", l.topic, name, partition, attempt)
		st, err := produceHTTP(ctx, client, base, l, []jsonRec{{Key: "probe", Value: v, Partition: &p}})
		if err != nil {
			return time.Time{}, attempt, err
		}
		if st == http.StatusOK {
			return time.Now(), attempt, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, attempt, ctx.Err()
		case <-tick.C:
		}
	}
}

// readRecord is a record read back.
type readRecord struct {
	offset int64
	value  string
}

// readPartition fetches a partition from offset 0 to its high watermark
// over gRPC, paging with next_offset. Transient errors (an owner moving)
// are retried within ctx.
func readPartition(ctx context.Context, c streamhousev1.ConsumerServiceClient, topic string, partition int32) ([]readRecord, int64, error) {
	var out []readRecord
	next, hw := int64(0), int64(-1)
	for hw < 0 || next < hw {
		var resp *streamhousev1.FetchResponse
		for attempt := 0; ; attempt++ {
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			r, err := c.Fetch(fctx, &streamhousev1.FetchRequest{Topic: topic, Partition: partition, Offset: next, MaxBytes: 1 << 20})
			cancel()
			if err == nil {
				resp = r
				break
			}
			switch status.Code(err) {
			case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
			default:
				return out, hw, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, next, err)
			}
			if ctx.Err() != nil || attempt > 100 {
				return out, hw, fmt.Errorf("fetch %s/%d at %d: %w (after %d attempts)", topic, partition, next, err, attempt+1)
			}
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		if hw < 0 {
			hw = resp.HighWatermark // the watermark when reading began; producers have stopped
		}
		if resp.LogStartOffset != 0 {
			return out, hw, fmt.Errorf("%s/%d: log start offset %d, want 0", topic, partition, resp.LogStartOffset)
		}
		for _, r := range resp.Records {
			out = append(out, readRecord{r.Offset, string(r.Value)})
		}
		if len(resp.Records) == 0 && next < hw {
			return out, hw, fmt.Errorf("%s/%d: empty fetch at %d below the high watermark %d", topic, partition, next, hw)
		}
		if resp.NextOffset <= next && next < hw {
			return out, hw, fmt.Errorf("%s/%d: next_offset %d does not advance from %d", topic, partition, resp.NextOffset, next)
		}
		next = resp.NextOffset
	}
	return out, hw, nil
}

// verdict is the checker's count for one topic.
type verdict struct {
	acked, unacked, read, unackedLanded int
	lost, duplicated, reordered, gaps   int
	misplaced, unknown                  int
	problems                            []string
	dups                                []string // duplicated values, reported apart
}

func (v *verdict) problem(format string, args ...any) {
	if len(v.problems) < 20 {
		v.problems = append(v.problems, fmt.Sprintf(format, args...))
	}
}

// check compares what was read with the ledger.
func check(l *ledger, read map[int32][]readRecord) verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := verdict{acked: len(l.acked), unacked: l.unacked}
	where := map[string]ack{} // value → where it was first read
	at := map[ack]string{}
	parts := make([]int32, 0, len(read))
	for p := range read {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		recs := read[p]
		v.read += len(recs)
		for i, r := range recs {
			if i > 0 && r.offset <= recs[i-1].offset {
				v.reordered++
				v.problem("%s/%d: offset %d after %d", l.topic, p, r.offset, recs[i-1].offset)
			} else if r.offset != int64(i) {
				v.gaps++
				v.problem("%s/%d: record %d has offset %d (offsets not dense from 0)", l.topic, p, i, r.offset)
			}
			if !l.sent[r.value] {
				v.unknown++
				v.problem("%s/%d@%d: value %q was never sent", l.topic, p, r.offset, r.value)
			}
			at[ack{p, r.offset}] = r.value
			if prev, dup := where[r.value]; dup {
				v.duplicated++
				_, acked := l.acked[r.value]
				v.dups = append(v.dups, fmt.Sprintf("%s: value %q (acknowledged: %v at %v) at %d/%d and again at %d/%d",
					l.topic, r.value, acked, l.acked[r.value], prev.partition, prev.offset, p, r.offset))
				continue
			}
			where[r.value] = ack{p, r.offset}
			if _, ok := l.acked[r.value]; !ok {
				v.unackedLanded++
			}
		}
	}
	for val, a := range l.acked {
		got, ok := at[a]
		switch {
		case ok && got == val:
		case !ok:
			if w, found := where[val]; found {
				v.misplaced++
				v.problem("%s: acked %q at %d/%d, read at %d/%d", l.topic, val, a.partition, a.offset, w.partition, w.offset)
			} else {
				v.lost++
				v.problem("%s: acked %q at %d/%d not read (partition has %d records)", l.topic, val, a.partition, a.offset, len(read[a.partition]))
			}
		default:
			if w, found := where[val]; found {
				v.misplaced++
				v.problem("%s: acked %q at %d/%d, but that offset holds %q; %q is at %d/%d", l.topic, val, a.partition, a.offset, got, val, w.partition, w.offset)
			} else {
				v.lost++
				v.problem("%s: acked %q at %d/%d, but that offset holds %q and %q is nowhere", l.topic, val, a.partition, a.offset, got, val)
			}
		}
	}
	return v
}

// ok reports no loss, reordering or misplacement; duplicates are judged
// apart (see TestFaults).
func (v verdict) ok() bool {
	return v.lost == 0 && v.reordered == 0 && v.gaps == 0 && v.misplaced == 0 && v.unknown == 0
}

func logVerdict(t *testing.T, mode string, v verdict, l *ledger) {
	t.Helper()
	l.mu.Lock()
	codes := fmt.Sprint(l.errCodes)
	l.mu.Unlock()
	t.Logf("%-6s acked=%d read=%d unacked=%d (landed anyway=%d) lost=%d duplicated=%d reordered=%d gaps=%d misplaced=%d unknown=%d; unacked by cause: %s",
		mode, v.acked, v.read, v.unacked, v.unackedLanded, v.lost, v.duplicated, v.reordered, v.gaps, v.misplaced, v.unknown, codes)
}
