package cells

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// fetchEnv is one partition with a real actor (MemWAL, objectstore.Mem, an
// embedded registry in a temporary folder) and a FetchServer over it.
type fetchEnv struct {
	t     *testing.T
	reg   *registry.Embedded
	id    partition.ID
	actor *partition.Actor
	srv   *FetchServer
}

// newFetchEnv starts the actor with flushBytes (0: never flush) and a tail
// that keeps nothing flushed.
func newFetchEnv(t *testing.T, flushBytes int) *fetchEnv {
	t.Helper()
	ctx := testCtx(t)
	reg, err := registry.OpenEmbedded(t.TempDir() + "/r.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	ten, err := reg.CreateTenant(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	top, err := reg.CreateTopic(ctx, ten.ID, registry.TopicSpec{Name: "orders", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	store := objectstore.NewMem()
	e := &fetchEnv{t: t, reg: reg, id: partition.ID{Tenant: ten.ID, Topic: top.ID}}
	if flushBytes == 0 {
		flushBytes = 1 << 30
	}
	e.actor, err = partition.StartActor(ctx, partition.ActorConfig{
		ID: e.id, WAL: &partition.MemWAL{}, Store: store, Registry: reg, KeyPrefix: "seg",
		FlushBytes: flushBytes, FlushAge: time.Hour, TailBytes: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.actor.Kill)
	fetcher, err := partition.NewFetcher(partition.FetcherConfig{Registry: reg, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = NewFetchServer(FetchServerConfig{
		Lookup: func(id partition.ID) *partition.Actor {
			if id == e.id {
				return e.actor
			}
			return nil
		},
		Fetcher: fetcher,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.srv.Close)
	return e
}

// produce appends records with values "<prefix><i>|" (padded to size
// bytes) and returns the first offset.
func (e *fetchEnv) produce(prefix string, n, size int) int64 {
	e.t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(size)))
	recs := make([]partition.Record, n)
	for i := range recs {
		v := fmt.Sprintf("%s%d|", prefix, i)
		for len(v) < size { // incompressible padding
			v += string(rune('a' + rng.IntN(26)))
		}
		recs[i] = partition.Record{Timestamp: int64(1000 + i), Key: []byte("k"), Value: []byte(v),
			Headers: []partition.Header{{Key: "h", Value: []byte(prefix)}}}
	}
	base, err := e.actor.Produce(testCtx(e.t), partition.ProduceRequest{Records: recs, ProducerID: partition.NoProducer})
	if err != nil {
		e.t.Fatal(err)
	}
	return base
}

// awaitCommitted waits until the registry's high watermark reaches hwm.
func (e *fetchEnv) awaitCommitted(hwm int64) {
	e.t.Helper()
	ctx := testCtx(e.t)
	for {
		p, err := e.reg.Partition(ctx, registry.PartitionID{Tenant: e.id.Tenant, Topic: e.id.Topic})
		if err != nil {
			e.t.Fatal(err)
		}
		if p.HighWatermark >= hwm {
			return
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("committed high watermark %d, want %d", p.HighWatermark, hwm)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (e *fetchEnv) fetch(offset int64, maxBytes, waitMs int32) *wire.FetchResponse {
	e.t.Helper()
	return e.srv.Serve(testCtx(e.t), &wire.FetchRequest{TenantID: e.id.Tenant, TopicID: e.id.Topic,
		Offset: offset, MaxBytes: maxBytes, MaxWaitMs: waitMs})
}

// values lists the records' offsets and values ("3=a3").
func values(r *wire.FetchResponse) string {
	var b strings.Builder
	for i, rec := range r.Records {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d=%s", rec.Offset, strings.TrimSuffix(strings.SplitAfter(string(rec.Value), "|")[0], "|"))
	}
	return b.String()
}

func checkOK(t *testing.T, r *wire.FetchResponse, want string, next, hwm int64) {
	t.Helper()
	if r.Code != wire.OK {
		t.Fatalf("fetch: %v", r.Err())
	}
	if got := values(r); got != want || r.NextOffset != next || r.HighWatermark != hwm {
		t.Fatalf("fetch: records %q next %d hwm %d; want %q next %d hwm %d", got, r.NextOffset, r.HighWatermark, want, next, hwm)
	}
}

func TestFetchServerTail(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, 0)
	e.produce("a", 3, 0)
	e.produce("b", 2, 0)
	checkOK(t, e.fetch(0, 0, 0), "0=a0 1=a1 2=a2 3=b0 4=b1", 5, 5)
	// Records below the offset are trimmed from the first batch.
	r := e.fetch(1, 0, 0)
	checkOK(t, r, "1=a1 2=a2 3=b0 4=b1", 5, 5)
	if rec := r.Records[0]; string(rec.Key) != "k" || rec.Timestamp != 1001 || len(rec.Headers) != 1 || string(rec.Headers[0].Value) != "a" {
		t.Fatalf("record 1: %+v", rec)
	}
	// MaxBytes bounds the answer, but the first record always comes.
	checkOK(t, e.fetch(2, 1, 0), "2=a2", 3, 5)
	n := r.Records[0].EncodedLen()
	checkOK(t, e.fetch(1, int32(2*n), 0), "1=a1 2=a2", 3, 5)
	// At the high watermark without a wait: an empty answer at once.
	checkOK(t, e.fetch(5, 0, 0), "", 5, 5)
}

func TestFetchServerSegments(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, 1) // every entry is flushed, and leaves the tail
	e.produce("a", 3, 0)
	e.awaitCommitted(3)
	e.produce("b", 2, 0)
	e.awaitCommitted(5)
	if _, ok := e.actor.ReadTail(0, 1<<20); ok {
		t.Fatal("offset 0 is still in the tail; the test reads nothing from segments")
	}
	checkOK(t, e.fetch(0, 0, 0), "0=a0 1=a1 2=a2 3=b0 4=b1", 5, 5)
	checkOK(t, e.fetch(4, 0, 0), "4=b1", 5, 5)
	r := e.fetch(1, 0, 0)
	checkOK(t, r, "1=a1 2=a2 3=b0 4=b1", 5, 5)
	if h := r.Records[3].Headers; len(h) != 1 || h[0].Key != "h" || string(h[0].Value) != "b" {
		t.Fatalf("headers of offset 4: %+v", h)
	}
}

func TestFetchServerAcrossTheBoundary(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, 512)
	e.produce("a", 3, 300) // over FlushBytes: flushed, and dropped from the tail
	e.awaitCommitted(3)
	e.produce("b", 2, 0) // stays in the tail
	if _, ok := e.actor.ReadTail(0, 1<<20); ok {
		t.Fatal("offset 0 is still in the tail")
	}
	if _, ok := e.actor.ReadTail(3, 1<<20); !ok {
		t.Fatal("offset 3 is not in the tail")
	}
	checkOK(t, e.fetch(2, 0, 0), "2=a2 3=b0 4=b1", 5, 5)
	checkOK(t, e.fetch(3, 0, 0), "3=b0 4=b1", 5, 5)
}

func TestFetchServerLongPoll(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, 0)
	e.produce("a", 1, 0)

	start := time.Now()
	checkOK(t, e.fetch(1, 0, 50), "", 1, 1)
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("empty long poll answered after %v, want about 50ms", d)
	}

	got := make(chan *wire.FetchResponse, 1)
	go func() { got <- e.fetch(1, 0, 20_000) }()
	select {
	case r := <-got:
		t.Fatalf("long poll answered before a produce: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	e.produce("b", 2, 0)
	select {
	case r := <-got:
		checkOK(t, r, "1=b0 2=b1", 3, 3)
	case <-time.After(10 * time.Second):
		t.Fatal("long poll not woken by a produce")
	}

	// A stopped owner ends the wait: not the owner any more.
	go func() { got <- e.fetch(3, 0, 20_000) }()
	time.Sleep(20 * time.Millisecond) // let it wait; either way the answer is NotOwner
	e.actor.Kill()
	select {
	case r := <-got:
		if r.Code != wire.NotOwner {
			t.Fatalf("after Kill: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll not ended by Kill")
	}
}

func TestFetchServerOutOfRange(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, 1)
	e.produce("a", 2, 0)
	e.awaitCommitted(2)
	e.produce("b", 2, 0)
	e.awaitCommitted(4)
	removed, err := e.reg.DeleteSegmentsBefore(testCtx(t), registry.PartitionID{Tenant: e.id.Tenant, Topic: e.id.Topic}, registry.AnyEpoch, 2)
	if err != nil || len(removed.Segments) != 1 {
		t.Fatalf("retention: %+v, %v", removed, err)
	}
	for _, off := range []int64{0, 1} {
		r := e.fetch(off, 0, 0)
		if r.Code != wire.OutOfRange || r.LogStartOffset != 2 || r.HighWatermark != 4 || len(r.Records) != 0 {
			t.Fatalf("fetch %d after retention: %+v", off, r)
		}
	}
	checkOK(t, e.fetch(2, 0, 0), "2=b0 3=b1", 4, 4)
	if r := e.fetch(5, 0, 0); r.Code != wire.OutOfRange {
		t.Fatalf("fetch past the high watermark: %+v", r)
	}
}

func TestFetchServerRefuses(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, 0)
	ctx := testCtx(t)
	for _, c := range []struct {
		req  wire.FetchRequest
		code wire.Code
	}{
		{wire.FetchRequest{TenantID: e.id.Tenant, TopicID: e.id.Topic, Partition: 1}, wire.NotOwner},
		{wire.FetchRequest{TenantID: e.id.Tenant, TopicID: e.id.Topic, Partition: -1}, wire.Invalid},
		{wire.FetchRequest{TenantID: e.id.Tenant, TopicID: e.id.Topic, Offset: -1}, wire.Invalid},
	} {
		if r := e.srv.Serve(ctx, &c.req); r.Code != c.code {
			t.Fatalf("%+v: %v, want %v", c.req, r.Err(), c.code)
		}
	}
}

// The whole path over NATS: NATSFetcher → FetchSubject → HandleMsg.
func TestFetchOverNATS(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, 0)
	srv := startNATS(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cell := testCellName()
	client, err := NewNATSFetcher(NATSFetcherConfig{Conn: nc, Cell: cell, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	req := &wire.FetchRequest{TenantID: e.id.Tenant, TopicID: e.id.Topic, MaxWaitMs: 10_000}

	// No agent serves the partition yet: retried until ctx ends, NotOwner.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = client.Fetch(short, req)
	cancel()
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.NotOwner {
		t.Fatalf("fetch with no responder: %v", err)
	}

	// The owner subscribes while the router is retrying.
	e.produce("a", 2, 0)
	go func() {
		time.Sleep(30 * time.Millisecond)
		sub, err := nc.Subscribe(FetchSubject(cell, e.id), e.srv.HandleMsg)
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}()
	r, err := client.Fetch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	checkOK(t, r, "0=a0 1=a1", 2, 2)

	// Two long polls at once on one subscription: neither holds up the
	// other, and a produce wakes both.
	done := make(chan *wire.FetchResponse, 2)
	for range 2 {
		go func() {
			r, err := client.Fetch(ctx, &wire.FetchRequest{TenantID: e.id.Tenant, TopicID: e.id.Topic, Offset: 2, MaxWaitMs: 10_000})
			if err != nil {
				t.Error(err)
			}
			done <- r
		}()
	}
	time.Sleep(50 * time.Millisecond)
	e.produce("b", 1, 0)
	for range 2 {
		if r := <-done; r != nil {
			checkOK(t, r, "2=b0", 3, 3)
		}
	}

	// A coded error comes back as the answer's code.
	r, err = client.Fetch(ctx, &wire.FetchRequest{TenantID: e.id.Tenant, TopicID: e.id.Topic, Offset: 9})
	if err != nil || r.Code != wire.OutOfRange {
		t.Fatalf("fetch past the end: %+v, %v", r, err)
	}
	// A request that does not decode gets Invalid.
	msg, err := nc.RequestWithContext(ctx, FetchSubject(cell, e.id), []byte{0xff})
	if err != nil {
		t.Fatal(err)
	}
	var bad wire.FetchResponse
	if err := bad.Decode(msg.Data); err != nil || bad.Code != wire.Invalid {
		t.Fatalf("garbage request: %+v, %v", bad, err)
	}
}

// Past MaxInFlight HandleMsg answers Busy at once; Close ends the long
// polls it serves (Unavailable) and refuses new requests.
func TestFetchServerInFlightAndClose(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, 0)
	srv, err := NewFetchServer(FetchServerConfig{Lookup: e.srv.cfg.Lookup, Fetcher: e.srv.cfg.Fetcher, MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	ns := startNATS(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cell := testCellName()
	if _, err := nc.Subscribe(FetchSubject(cell, e.id), srv.HandleMsg); err != nil {
		t.Fatal(err)
	}
	client, err := NewNATSFetcher(NATSFetcherConfig{Conn: nc, Cell: cell})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	poll := &wire.FetchRequest{TenantID: e.id.Tenant, TopicID: e.id.Topic, MaxWaitMs: 20_000}
	first := make(chan *wire.FetchResponse, 1)
	go func() {
		r, err := client.Fetch(ctx, poll)
		if err != nil {
			t.Error(err)
		}
		first <- r
	}()
	// Wait until the first long poll holds the only slot.
	for len(srv.slots) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the long poll never started")
		case <-time.After(time.Millisecond):
		}
	}
	if r, err := client.Fetch(ctx, poll); err != nil || r.Code != wire.Busy {
		t.Fatalf("second fetch: %+v, %v; want Busy", r, err)
	}
	srv.Close()
	if r := <-first; r == nil || r.Code != wire.Unavailable {
		t.Fatalf("long poll after Close: %+v", r)
	}
	if r, err := client.Fetch(ctx, poll); err != nil || r.Code != wire.Unavailable {
		t.Fatalf("fetch after Close: %+v, %v; want Unavailable", r, err)
	}
}
