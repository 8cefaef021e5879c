package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

type wsHarness struct {
	t    *testing.T
	reg  *registry.Embedded
	prod *fakeProducer
	srv  *httptest.Server
}

// newWSHarness serves a router on 127.0.0.1 over a real embedded registry.
func newWSHarness(t *testing.T, cfg Config, fetch Fetcher) *wsHarness {
	t.Helper()
	reg, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	tenant, err := reg.CreateTenant(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Authenticate = Anonymous(tenant.ID)
	h := &wsHarness{t: t, reg: reg, prod: &fakeProducer{}}
	rt, err := New(cfg, Deps{Topics: reg, Producer: h.prod, Fetch: fetch})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(rt) // 127.0.0.1
	t.Cleanup(h.srv.Close)
	return h
}

func (h *wsHarness) createTopic(name string, partitions int32) registry.Topic {
	h.t.Helper()
	ts, _ := h.reg.TenantByName(context.Background(), "default")
	topic, err := h.reg.CreateTopic(context.Background(), ts.ID, registry.TopicSpec{Name: name, Partitions: partitions})
	if err != nil {
		h.t.Fatal(err)
	}
	return topic
}

func (h *wsHarness) dial(path string) *websocket.Conn {
	h.t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.srv.URL, "http")+path, nil)
	if err != nil {
		h.t.Fatalf("dial %s: %v (%v)", path, err, resp)
	}
	h.t.Cleanup(func() { _ = c.Close() })
	return c
}

type wsAck struct {
	ID      json.RawMessage `json:"id"`
	Offsets []struct {
		Partition int32     `json:"partition"`
		Offset    *int64    `json:"offset"`
		Error     *apiError `json:"error"`
	} `json:"offsets"`
	Error *apiError `json:"error"`
}

func readAck(t *testing.T, c *websocket.Conn) wsAck {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var a wsAck
	if err := c.ReadJSON(&a); err != nil {
		t.Fatalf("read ack: %v", err)
	}
	return a
}

func send(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// wantClose reads until the close and checks its code and reason.
func wantClose(t *testing.T, c *websocket.Conn, code int, reason string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, msg, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Text, reason) {
			t.Fatalf("got %v (after %q), want close %d containing %q", err, msg, code, reason)
		}
		return
	}
}

func TestWSProduceOrderedAcks(t *testing.T) {
	t.Parallel()
	h := newWSHarness(t, Config{WebSocket: WSConfig{MaxInFlight: 16}}, nil)
	h.createTopic("orders", 4)
	// Owners answer in random order.
	h.prod.answer = func(context.Context, *wire.ProduceRequest) (*wire.ProduceResponse, error) {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		return nil, nil
	}
	c := h.dial("/ws/produce?topic=orders")
	const n = 200
	go func() {
		for i := range n {
			var f string
			if i%2 == 0 {
				f = fmt.Sprintf(`{"id":"f%d","records":[{"key":"k%d","value":%d},{"value":"x","partition":3}]}`, i, i, i)
			} else {
				f = fmt.Sprintf(`{"key":"k%d","value":{"n":%d},"id":"f%d"}`, i, i, i)
			}
			if c.WriteMessage(websocket.TextMessage, []byte(f)) != nil {
				return
			}
		}
	}()
	seen := map[[2]int64]bool{}
	for i := range n {
		a := readAck(t, c)
		if string(a.ID) != fmt.Sprintf(`"f%d"`, i) || a.Error != nil {
			t.Fatalf("ack %d: %s %+v", i, a.ID, a.Error)
		}
		want := 1 + (1 - i%2)
		if len(a.Offsets) != want {
			t.Fatalf("ack %d: %d offsets", i, len(a.Offsets))
		}
		if i%2 == 0 && a.Offsets[0].Partition != partitionOf(fmt.Sprintf("k%d", i), 4) {
			t.Fatalf("ack %d: partition %d", i, a.Offsets[0].Partition)
		}
		for _, o := range a.Offsets {
			k := [2]int64{int64(o.Partition), *o.Offset}
			if seen[k] {
				t.Fatalf("offset %v given twice", k)
			}
			seen[k] = true
		}
	}
	if len(seen) != 300 {
		t.Fatalf("%d offsets", len(seen))
	}
	// A binary frame: the wire Records encoding, to ?partition=.
	c2 := h.dial("/ws/produce?topic=orders&partition=2")
	if err := c2.WriteMessage(websocket.BinaryMessage, wire.AppendRecords(nil, []wire.Record{{Value: []byte("b")}})); err != nil {
		t.Fatal(err)
	}
	if a := readAck(t, c2); a.ID != nil || len(a.Offsets) != 1 || a.Offsets[0].Partition != 2 {
		t.Fatalf("%+v", a)
	}
	// The client's close is answered after the frames before it are acked.
	send(t, c, `{"id":"last","value":1}`)
	if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")); err != nil {
		t.Fatal(err)
	}
	if a := readAck(t, c); string(a.ID) != `"last"` {
		t.Fatalf("%s", a.ID)
	}
	wantClose(t, c, websocket.CloseNormalClosure, "")
}

func TestWSProduceBackPressure(t *testing.T) {
	t.Parallel()
	const maxInFlight = 4
	h := newWSHarness(t, Config{WebSocket: WSConfig{MaxInFlight: maxInFlight}}, nil)
	h.createTopic("slow", 1)
	release := make(chan struct{})
	var inFlight, most atomicMax
	var entered atomic.Int64
	h.prod.answer = func(ctx context.Context, _ *wire.ProduceRequest) (*wire.ProduceResponse, error) {
		entered.Add(1)
		most.see(inFlight.add(1))
		defer inFlight.add(-1)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, nil
	}
	c := h.dial("/ws/produce?topic=slow")
	const n = 50
	go func() {
		for i := range n {
			if c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"id":%d,"value":%d}`, i, i)) != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for entered.Load() < maxInFlight && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room to read more, if the server would
	if e := entered.Load(); e != maxInFlight {
		t.Fatalf("%d frames reached the producer before any was acked, limit %d", e, maxInFlight)
	}
	close(release)
	offsets := map[int64]bool{} // released together, the owner answers in any order
	for i := range n {
		a := readAck(t, c)
		if string(a.ID) != fmt.Sprint(i) || len(a.Offsets) != 1 || a.Offsets[0].Offset == nil || offsets[*a.Offsets[0].Offset] {
			t.Fatalf("ack %d: %s %+v", i, a.ID, a)
		}
		offsets[*a.Offsets[0].Offset] = true
	}
	if m := most.get(); m > maxInFlight {
		t.Fatalf("%d in flight, limit %d", m, maxInFlight)
	}
}

func TestWSProduceBadFrames(t *testing.T) {
	t.Parallel()
	h := newWSHarness(t, Config{}, nil)
	h.createTopic("t", 2)
	c := h.dial("/ws/produce?topic=t")
	for _, tc := range []struct{ frame, id, msg string }{
		{`{"records":[`, ``, "truncated JSON"},
		{`not json`, ``, "invalid JSON"},
		{`{"id":"b","records":[{"valu":1}]}`, `"b"`, `unknown field "valu"`},
		{`{"id":"c","records":[],"key":"k"}`, `"c"`, `unknown field "key" beside "records"`},
		{`{"id":"d","value":1,"partition":9}`, `"d"`, "partition 9 does not exist"},
		{`{"id":"e"}`, `"e"`, "value missing"},
		{`{"id":"ok","value":"fine"}`, `"ok"`, ""},
	} {
		send(t, c, tc.frame)
		a := readAck(t, c)
		if string(a.ID) != tc.id && !(tc.id == "" && a.ID == nil) {
			t.Fatalf("%s: id %s", tc.frame, a.ID)
		}
		if tc.msg == "" {
			if a.Error != nil || len(a.Offsets) != 1 || a.Offsets[0].Offset == nil {
				t.Fatalf("%s: %+v", tc.frame, a)
			}
			continue
		}
		if a.Error == nil || a.Error.Code != "invalid" || !strings.Contains(a.Error.Message, tc.msg) || a.Offsets != nil {
			t.Fatalf("%s: %+v, want invalid %q", tc.frame, a.Error, tc.msg)
		}
	}
	if n := len(h.prod.calls()); n != 1 {
		t.Fatalf("%d produce calls, want 1", n)
	}
}

func TestWSProduceOversizeFrame(t *testing.T) {
	t.Parallel()
	h := newWSHarness(t, Config{MaxRequestBytes: 4096, MaxRecordBytes: 1024}, nil)
	h.createTopic("t", 1)
	c := h.dial("/ws/produce?topic=t")
	send(t, c, `{"id":1,"value":"small"}`)
	send(t, c, `{"id":2,"value":"`+strings.Repeat("x", 10000)+`"}`)
	if a := readAck(t, c); string(a.ID) != "1" || a.Error != nil {
		t.Fatalf("%+v", a)
	}
	wantClose(t, c, websocket.CloseMessageTooBig, "4096-byte request limit")
}

func TestWSUnknownTopic(t *testing.T) {
	t.Parallel()
	h := newWSHarness(t, Config{}, &fakeLog{})
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/ws/produce?topic=nope", 4404, `not_found: topic "nope" not found`},
		{"/ws/produce", 4400, "topic is required"},
		{"/ws/consume?topic=nope", 4404, `not_found: topic "nope" not found`},
	} {
		c := h.dial(tc.path)
		var e errorBody
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.ReadJSON(&e); err != nil || !strings.Contains(e.Error.Code+": "+e.Error.Message, tc.msg) {
			t.Fatalf("%s: %v %+v", tc.path, err, e)
		}
		wantClose(t, c, tc.code, tc.msg)
	}
	// Not an upgrade: 426 with the error shape; a foreign origin: 403.
	resp, err := http.Get(h.srv.URL + "/ws/produce?topic=x")
	if err != nil || resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("%v %v", resp, err)
	}
	_ = resp.Body.Close()
	_, resp, err = websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.srv.URL, "http")+"/ws/produce?topic=x",
		http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", resp, err)
	}
}

func TestWSConsumeDisabled(t *testing.T) {
	t.Parallel()
	h := newWSHarness(t, Config{}, nil)
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.srv.URL, "http")+"/ws/consume?topic=x", nil)
	if err == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("%v %v", resp, err)
	}
}

// fakeLog is one partition's log behind the Fetcher interface, with long
// polls. gen, if set, makes the log endless: record i is gen(i).
type fakeLog struct {
	mu      sync.Mutex
	recs    []wire.FetchedRecord
	changed chan struct{}
	gen     func(off int64) wire.FetchedRecord
}

func (l *fakeLog) append(recs ...wire.FetchedRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		r.Offset = int64(len(l.recs))
		l.recs = append(l.recs, r)
	}
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

func (l *fakeLog) Fetch(ctx context.Context, req *wire.FetchRequest) (*wire.FetchResponse, error) {
	if l.gen != nil {
		resp := &wire.FetchResponse{HighWatermark: 1 << 40}
		for i := range int64(16) {
			resp.Records = append(resp.Records, l.gen(req.Offset+i))
		}
		resp.NextOffset = req.Offset + 16
		return resp, nil
	}
	wait := time.After(time.Duration(req.MaxWaitMs) * time.Millisecond)
	for {
		l.mu.Lock()
		hw := int64(len(l.recs))
		resp := &wire.FetchResponse{HighWatermark: hw, NextOffset: req.Offset}
		switch {
		case req.Offset > hw:
			l.mu.Unlock()
			resp.Code, resp.Message = wire.OutOfRange, fmt.Sprintf("offset %d is past the high watermark %d", req.Offset, hw)
			return resp, nil
		case req.Offset < hw:
			size := 0
			for _, r := range l.recs[req.Offset:] {
				if size > 0 && size+r.Size() > int(req.MaxBytes) {
					break
				}
				size += r.Size()
				resp.Records = append(resp.Records, r)
			}
			resp.NextOffset = req.Offset + int64(len(resp.Records))
			l.mu.Unlock()
			return resp, nil
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-wait:
			return resp, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

type wsRecord struct {
	Partition  int32             `json:"partition"`
	Offset     int64             `json:"offset"`
	Timestamp  int64             `json:"timestamp_ms"`
	Key        *string           `json:"key"`
	KeyB64     *string           `json:"key_b64"`
	Value      *string           `json:"value"`
	Headers    map[string]string `json:"headers"`
	HeadersB64 map[string]string `json:"headers_b64"`
}

func readRecord(t *testing.T, c *websocket.Conn) wsRecord {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var r wsRecord
	if err := c.ReadJSON(&r); err != nil {
		t.Fatalf("read record: %v", err)
	}
	return r
}

func TestWSConsume(t *testing.T) {
	t.Parallel()
	log := &fakeLog{}
	h := newWSHarness(t, Config{WebSocket: WSConfig{ConsumeMaxWait: 200 * time.Millisecond}}, log)
	h.createTopic("t", 2)
	log.append(
		wire.FetchedRecord{Timestamp: 1700000000000, Key: []byte("k0"), Value: []byte(`{"n":0}`), Headers: []wire.Header{{Key: "h", Value: []byte("v")}}},
		wire.FetchedRecord{Key: []byte{0xff, 0x00}, Value: []byte{0xde, 0xad}, Headers: []wire.Header{{Key: "b", Value: []byte{0xff}}}},
		wire.FetchedRecord{Value: nil},
	)
	c := h.dial("/ws/consume?topic=t&partition=1&offset=earliest")
	r := readRecord(t, c)
	if r.Partition != 1 || r.Offset != 0 || r.Timestamp != 1700000000000 || *r.Key != "k0" || *r.Value != `{"n":0}` || r.Headers["h"] != "v" {
		t.Fatalf("%+v", r)
	}
	r = readRecord(t, c)
	if r.Offset != 1 || r.Key != nil || *r.KeyB64 != "/wA=" || r.HeadersB64["b"] != "/w==" {
		t.Fatalf("%+v", r)
	}
	if r = readRecord(t, c); r.Offset != 2 || r.Value != nil || r.Key != nil {
		t.Fatalf("%+v", r)
	}
	// It follows new records; latest starts at the end.
	latest := h.dial("/ws/consume?topic=t&partition=1")
	time.Sleep(300 * time.Millisecond) // let it resolve latest first
	log.append(wire.FetchedRecord{Value: []byte("new")})
	for _, conn := range []*websocket.Conn{c, latest} {
		if r = readRecord(t, conn); r.Offset != 3 || *r.Value != "new" {
			t.Fatalf("%+v", r)
		}
	}
	// An explicit offset past the end: error frame, then 4416.
	past := h.dial("/ws/consume?topic=t&offset=99")
	wantClose(t, past, 4416, "out_of_range")
	// The client's close is answered.
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	wantClose(t, c, websocket.CloseNormalClosure, "")
}

func TestWSConsumeSlowClient(t *testing.T) {
	t.Parallel()
	value := []byte(strings.Repeat("v", 64<<10))
	log := &fakeLog{gen: func(off int64) wire.FetchedRecord { return wire.FetchedRecord{Offset: off, Value: value} }}
	h := newWSHarness(t, Config{WebSocket: WSConfig{ConsumeBuffer: 4, ConsumeStallTimeout: 200 * time.Millisecond}}, log)
	h.createTopic("t", 1)
	c := h.dial("/ws/consume?topic=t&offset=0")
	time.Sleep(time.Second) // do not read: TCP fills, then the buffer
	next := int64(0)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			want := fmt.Sprintf("resume at offset %d", next)
			if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater || !strings.Contains(ce.Text, want) {
				t.Fatalf("got %v, want 1013 with %q", err, want)
			}
			break
		}
		var r wsRecord
		if err := json.Unmarshal(msg, &r); err != nil || r.Offset != next {
			t.Fatalf("record %d: offset %d %v", next, r.Offset, err)
		}
		next++
	}
	if next == 0 {
		t.Fatal("no records before the close")
	}
}

// TestWSProduceIdempotent: a batch frame carries producer_id,
// producer_epoch and sequence as the HTTP body does, under the same rules.
func TestWSProduceIdempotent(t *testing.T) {
	t.Parallel()
	h := newWSHarness(t, Config{}, nil)
	h.createTopic("t", 2)
	c := h.dial("/ws/produce?topic=t")
	send(t, c, `{"id":1,"producer_id":42,"producer_epoch":1,"sequence":3,"records":[{"value":"a","partition":1},{"value":"b","partition":1}]}`)
	if a := readAck(t, c); a.Error != nil || len(a.Offsets) != 2 || string(a.ID) != "1" {
		t.Fatalf("ack %+v", a)
	}
	calls := h.prod.calls()
	if len(calls) != 1 || calls[0].ProducerID != 42 || calls[0].ProducerEpoch != 1 || calls[0].BaseSequence != 3 || calls[0].Partition != 1 {
		t.Fatalf("calls %+v", calls)
	}
	send(t, c, `{"id":2,"records":[{"value":"a"}]}`)
	if a := readAck(t, c); a.Error != nil {
		t.Fatalf("ack %+v", a)
	}
	if calls = h.prod.calls(); calls[1].ProducerID != wire.NoProducer || calls[1].ProducerEpoch != wire.NoProducer || calls[1].BaseSequence != wire.NoProducer {
		t.Fatalf("not idempotent, yet %+v", calls[1])
	}
	for _, tc := range []struct{ frame, msg string }{
		{`{"id":3,"producer_id":1,"sequence":0,"records":[{"value":"a","partition":0},{"value":"b","partition":1}]}`, "in one partition"},
		{`{"id":3,"producer_id":1,"sequence":0,"records":[{"value":"a"}]}`, "in one partition"},
		{`{"id":3,"producer_id":1,"records":[{"value":"a","partition":0}]}`, "sequence missing"},
		{`{"id":3,"producer_id":1,"sequence":0,"sequence":1,"records":[{"value":"a","partition":0}]}`, `"sequence" given twice`},
		{`{"id":3,"producer_id":1,"sequence":0,"value":"a","partition":0}`, "need a batch frame"},
	} {
		send(t, c, tc.frame)
		a := readAck(t, c)
		if string(a.ID) != "3" || a.Error == nil || a.Error.Code != "invalid" || !strings.Contains(a.Error.Message, tc.msg) {
			t.Fatalf("%s: %+v, want invalid %q", tc.frame, a.Error, tc.msg)
		}
	}
	// A binary frame has no sequence of its own: producer fields in the URL
	// refuse it.
	b := h.dial("/ws/produce?topic=t&partition=0&producer_id=1&sequence=0")
	if err := b.WriteMessage(websocket.BinaryMessage, wire.AppendRecords(nil, []wire.Record{{Value: []byte("v")}})); err != nil {
		t.Fatal(err)
	}
	if a := readAck(t, b); a.Error == nil || !strings.Contains(a.Error.Message, "binary frame cannot be idempotent") {
		t.Fatalf("ack %+v", a)
	}
	if n := len(h.prod.calls()); n != 2 {
		t.Fatalf("%d produce calls, want 2", n)
	}
}
