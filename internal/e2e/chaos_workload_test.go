package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	streamhousev1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// availability keeps, per topic partition, when its idempotent producer's
// batches were acknowledged.
type availability struct {
	mu   sync.Mutex
	want int                    // partitions
	acks map[string][]time.Time // "topic/partition" → times, in order
}

func newAvailability(partitions int) *availability {
	return &availability{want: partitions, acks: map[string][]time.Time{}}
}

func (a *availability) ack(key string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acks[key] = append(a.acks[key], at)
}

// ackedAfter reports whether every partition has been acknowledged after
// t, and if not, which have not.
func (a *availability) ackedAfter(t time.Time) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var waiting []string
	for key, ts := range a.acks {
		if len(ts) == 0 || !ts[len(ts)-1].After(t) {
			waiting = append(waiting, key)
		}
	}
	slices.Sort(waiting)
	if n := a.want - len(a.acks); n > 0 {
		waiting = append(waiting, fmt.Sprintf("(%d never written)", n))
	}
	return len(waiting) == 0, "not yet written again: " + strings.Join(waiting, " ")
}

// longestGap is the longest time any partition went without an
// acknowledgement from start (a stall that began before is not this
// fault's) across the acks after it, up to the first one after end. ok is
// false when a partition has no ack after end.
func (a *availability) longestGap(start, end time.Time) (gap time.Duration, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok = true
	for _, ts := range a.acks {
		i, _ := slices.BinarySearchFunc(ts, start, func(x, y time.Time) int { return x.Compare(y) })
		prev := start
		after := false
		for ; i < len(ts); i++ {
			gap = max(gap, ts[i].Sub(prev))
			prev = ts[i]
			if ts[i].After(end) {
				after = true
				break
			}
		}
		ok = ok && after
	}
	return gap, ok
}

// idempotentProducer writes batches of 5 unique values to one partition
// as an idempotent producer (a producer id per partition and run), one
// batch at a time, resending a batch with its sequence until it is
// acknowledged: a duplicate read back means the dedup failed. A refusal
// that resending cannot fix (sequence_gap, producer_fenced) is reported.
func idempotentProducer(ctx context.Context, base string, r *topicRun, p int32, seed uint64, avail *availability, stop <-chan struct{}, report func(error)) {
	const batch = 5
	client := &http.Client{Timeout: 3 * time.Second}
	if r.mode == "object" { // an ack waits for a segment commit
		client.Timeout = 5 * time.Second
	}
	pid := int64(seed%1_000_000)*1000 + int64(r.id)*100 + int64(p)
	key := fmt.Sprintf("%s/%d", r.name, p)
	seq := int32(0)
	for n := 0; ; n++ {
		values := make([]string, batch)
		recs := make([]jsonRec, batch)
		for i := range values {
			values[i] = fmt.Sprintf("%s-idem-p%d-%07d", r.name, p, int(seq)+i)
			recs[i] = jsonRec{Key: "idem", Value: values[i], Partition: &p}
		}
		r.l.markSent(values)
		body, _ := json.Marshal(map[string]any{"producer_id": pid, "producer_epoch": 0, "sequence": seq, "records": recs})
		for attempt := 0; ; attempt++ {
			select {
			case <-stop:
				if attempt > 0 { // its outcome stays unknown
					r.l.mu.Lock()
					r.l.unacked += batch
					r.l.errCodes["idempotent: unresolved at stop"] += batch
					r.l.mu.Unlock()
				}
				return
			case <-ctx.Done():
				return
			default:
			}
			ans, status, err := postJSON(ctx, client, base, r.name, body)
			if err == nil && status == http.StatusOK {
				if err := r.l.settle(values, ans, nil); err != nil {
					report(fmt.Errorf("idempotent %s: %w", key, err))
				}
				avail.ack(key, time.Now())
				break
			}
			if err == nil && ans != nil && ans.Error != nil && (ans.Error.Code == "sequence_gap" || ans.Error.Code == "producer_fenced") {
				report(fmt.Errorf("idempotent %s seq %d: %s: %s", key, seq, ans.Error.Code, ans.Error.Message))
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		seq += batch
		time.Sleep(100 * time.Millisecond)
	}
}

// postJSON posts a produce body and decodes the answer; err is a transport
// error (status 0) or an undecodable answer (with its status).
func postJSON(ctx context.Context, client *http.Client, base, topic string, body []byte) (*produceAnswer, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+base+"/api/v1/topics/"+topic+"/records", bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err // a transport error: the outcome is unknown
	}
	var ans produceAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("status %d: undecodable answer %q: %w", resp.StatusCode, raw, err)
	}
	return &ans, resp.StatusCode, nil
}

// watchCommits polls a group's committed offsets until the returned
// function is called, which stops it and returns every time an offset went
// backwards.
func watchCommits(ctx context.Context, c streamhousev1.ConsumerServiceClient, topic, group string) func() []string {
	ctx, cancel := context.WithCancel(ctx)
	var backwards []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := map[int32]int64{}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
			resp, err := c.FetchOffsets(fctx, &streamhousev1.FetchOffsetsRequest{Group: group, Topic: topic})
			fcancel()
			if err == nil {
				for _, o := range resp.GetOffsets() {
					p, off := o.GetPartition(), o.GetOffset()
					if prev, ok := last[p]; ok && off < prev && len(backwards) < 20 {
						backwards = append(backwards, fmt.Sprintf("partition %d: %d after %d", p, off, prev))
					}
					last[p] = max(last[p], off)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() []string {
		cancel()
		<-done
		return backwards
	}
}
