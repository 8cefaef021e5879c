package partition

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// actorEnv is one partition's world: a real embedded registry, an in-memory
// object store and WAL, shared by every actor started on it.
type actorEnv struct {
	t     testing.TB
	reg   *registry.Embedded
	store *objectstore.Mem
	wal   *MemWAL
	id    ID
	pid   registry.PartitionID
}

func newActorEnv(t testing.TB, durability registry.Durability) *actorEnv {
	t.Helper()
	reg, err := registry.OpenEmbedded(t.TempDir() + "/r.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	ctx := context.Background()
	ten, err := reg.CreateTenant(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	top, err := reg.CreateTopic(ctx, ten.ID, registry.TopicSpec{Name: "orders", Partitions: 1, Durability: durability})
	if err != nil {
		t.Fatal(err)
	}
	id := ID{Tenant: ten.ID, Topic: top.ID, Partition: 0}
	return &actorEnv{
		t: t, reg: reg, store: objectstore.NewMem(), wal: &MemWAL{Step: 3}, id: id,
		pid: registry.PartitionID{Tenant: id.Tenant, Topic: id.Topic, Partition: 0},
	}
}

// config returns a configuration that flushes only when told (Stop) unless
// the test changes it.
func (e *actorEnv) config(durability registry.Durability) ActorConfig {
	cfg := ActorConfig{
		ID: e.id, Durability: durability, Store: e.store, Registry: e.reg,
		KeyPrefix: "seg", FlushBytes: 1 << 30, FlushAge: 1 << 40,
	}
	if durability == registry.DurabilityWAL {
		cfg.WAL = e.wal
	}
	return cfg
}

func (e *actorEnv) start(cfg ActorConfig) *Actor {
	e.t.Helper()
	a, err := StartActor(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(a.Kill)
	return a
}

// committed reads every committed record of the partition from the object
// store, by offset.
func (e *actorEnv) committed() map[int64]string {
	e.t.Helper()
	ctx := context.Background()
	segs, err := e.reg.ListSegments(ctx, e.pid, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make(map[int64]string)
	for _, sg := range segs {
		seg, err := OpenSegment(ctx, e.store, sg.ObjectKey, sg.ObjectSize)
		if err != nil {
			e.t.Fatal(err)
		}
		for off := sg.FirstOffset; off <= sg.LastOffset; {
			bs, next, err := seg.ReadFrom(ctx, e.id, off, 1<<20, nil)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, b := range bs {
				for _, r := range b.Records {
					if _, dup := out[r.Offset]; dup {
						e.t.Fatalf("offset %d twice in segments", r.Offset)
					}
					out[r.Offset] = string(r.Value)
				}
			}
			off = next
		}
	}
	return out
}

// walEntries lists the WAL's entries as "seq:type".
func (e *actorEnv) walEntries() []string {
	e.t.Helper()
	var out []string
	err := e.wal.Replay(context.Background(), 0, 1<<62, func(seq uint64, entry []byte) error {
		typ, _, _, err := parseWALEntry(entry)
		out = append(out, fmt.Sprintf("%d:%s", seq, walEntryTypeName(typ)))
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func walEntryTypeName(typ byte) string {
	switch typ {
	case walEntryData:
		return "data"
	case walEntryMarker:
		return "marker"
	case walEntryProducers:
		return "producers"
	}
	return "?"
}

func actorRecords(values ...string) []Record {
	rs := make([]Record, len(values))
	for i, v := range values {
		rs[i] = Record{Value: []byte(v), Timestamp: 1000}
	}
	return rs
}

func plainReq(values ...string) ProduceRequest {
	return ProduceRequest{Records: actorRecords(values...), ProducerID: NoProducer}
}

// stepJournal records the durable steps of the decorators below, in order.
type stepJournal struct {
	mu    sync.Mutex
	steps []string
}

func (j *stepJournal) add(format string, args ...any) {
	j.mu.Lock()
	j.steps = append(j.steps, fmt.Sprintf(format, args...))
	j.mu.Unlock()
}

func (j *stepJournal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return strings.Join(j.steps, "\n") + "\n"
}

// journalWAL records appends (with the entry's type) and trims.
type journalWAL struct {
	WAL
	j       *stepJournal
	appends atomic.Int64
}

func (w *journalWAL) Append(ctx context.Context, expected uint64, entry []byte) (uint64, error) {
	seq, err := w.WAL.Append(ctx, expected, entry)
	w.appends.Add(1)
	if w.j != nil {
		typ, _, _, _ := parseWALEntry(entry)
		w.j.add("wal append %s expected=%d -> seq=%d err=%v", walEntryTypeName(typ), expected, seq, err)
	}
	return seq, err
}

func (w *journalWAL) Trim(ctx context.Context, below uint64) error {
	err := w.WAL.Trim(ctx, below)
	if w.j != nil {
		w.j.add("wal trim below=%d err=%v", below, err)
	}
	return err
}

// journalStore records PUTs.
type journalStore struct {
	objectstore.Store
	j *stepJournal
}

func (s *journalStore) Put(ctx context.Context, key string, data []byte) error {
	err := s.Store.Put(ctx, key, data)
	s.j.add("put %s err=%v", key, err)
	return err
}

// journalRegistry records commits of the real registry it wraps.
type journalRegistry struct {
	ActorRegistry
	j *stepJournal
}

func (r *journalRegistry) CommitSegment(ctx context.Context, s registry.Segment) error {
	err := r.ActorRegistry.CommitSegment(ctx, s)
	r.j.add("commit %s offsets=%d-%d epoch=%d wal_seq=%d err=%v", s.ObjectKey, s.FirstOffset, s.LastOffset, s.Epoch, s.WALSeq, err)
	return err
}

// gateWAL blocks every Append until the test sends on gate (if gate is set).
type gateWAL struct {
	WAL
	gate    chan struct{}
	appends atomic.Int64
}

func (w *gateWAL) Append(ctx context.Context, expected uint64, entry []byte) (uint64, error) {
	if typ, _, _, _ := parseWALEntry(entry); typ == walEntryData {
		select {
		case <-w.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	w.appends.Add(1)
	return w.WAL.Append(ctx, expected, entry)
}

// flakyWAL makes chosen data appends fail with an error of unknown outcome:
// lost (not written) or landed (written, reply lost).
type flakyWAL struct {
	WAL
	mu     sync.Mutex
	faults []string // per data append, in order: "", "lost", "landed"
}

func (w *flakyWAL) Append(ctx context.Context, expected uint64, entry []byte) (uint64, error) {
	fault := ""
	if typ, _, _, _ := parseWALEntry(entry); typ == walEntryData {
		w.mu.Lock()
		if len(w.faults) > 0 {
			fault, w.faults = w.faults[0], w.faults[1:]
		}
		w.mu.Unlock()
	}
	switch fault {
	case "lost":
		return 0, errors.New("connection reset")
	case "landed":
		if _, err := w.WAL.Append(ctx, expected, entry); err != nil {
			return 0, err
		}
		return 0, errors.New("timeout waiting for ack")
	}
	return w.WAL.Append(ctx, expected, entry)
}

// lostReplyRegistry commits the first segment and then reports an error, as
// a lost reply would.
type lostReplyRegistry struct {
	ActorRegistry
	once sync.Once
}

func (r *lostReplyRegistry) CommitSegment(ctx context.Context, s registry.Segment) error {
	err := r.ActorRegistry.CommitSegment(ctx, s)
	lost := false
	r.once.Do(func() { lost = err == nil })
	if lost {
		return errors.New("connection closed before the reply")
	}
	return err
}
