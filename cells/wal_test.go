package cells

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/partition/waltest"
)

// startNATSWith starts an embedded server with cfg in its own temporary
// folder, stopped when the test or benchmark ends.
func startNATSWith(tb testing.TB, cfg EmbeddedNATSConfig) *EmbeddedNATS {
	tb.Helper()
	if cfg.Dir == "" {
		cfg.Dir = tb.TempDir()
	}
	srv, err := StartEmbeddedNATS(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
	return srv
}

// connectJSOpts connects to url over TCP with JetStream options, closed when
// the test or benchmark ends.
func connectJSOpts(tb testing.TB, url string, opts ...jetstream.JetStreamOpt) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(url, nats.Name(tb.Name()))
	if err != nil {
		tb.Fatalf("connect %s: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

func openTestWAL(tb testing.TB, js jetstream.JetStream, cfg WALConfig) *WALStream {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w, err := OpenWAL(ctx, js, cfg)
	if err != nil {
		tb.Fatalf("open wal of cell %s: %v", cfg.Cell, err)
	}
	return w
}

var walPartSeq atomic.Int32

// newPartitionID is a partition id unique within the test binary.
func newPartitionID() partition.ID {
	return partition.ID{Tenant: 1, Topic: 7, Partition: walPartSeq.Add(1)}
}

func mustAppend(t *testing.T, w partition.WAL, expected uint64, entry []byte) uint64 {
	t.Helper()
	seq, err := w.Append(testCtx(t), expected, entry)
	if err != nil {
		t.Fatalf("append %d bytes after %d: %v", len(entry), expected, err)
	}
	return seq
}

func mustLastSeq(t *testing.T, w partition.WAL) uint64 {
	t.Helper()
	seq, err := w.LastSeq(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

type walEntry struct {
	seq  uint64
	data string
}

func replayAll(t *testing.T, w partition.WAL, after, upTo uint64) []walEntry {
	t.Helper()
	var got []walEntry
	err := w.Replay(testCtx(t), after, upTo, func(seq uint64, e []byte) error {
		got = append(got, walEntry{seq, string(e)})
		return nil
	})
	if err != nil {
		t.Fatalf("replay (%d, %d]: %v", after, upTo, err)
	}
	return got
}

func mustBeFenced(t *testing.T, err error, expected, actual uint64) {
	t.Helper()
	var fe *partition.WALFencedError
	if !errors.Is(err, partition.ErrWALFenced) || !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *WALFencedError", err)
	}
	if fe.Expected != expected || fe.Actual != actual {
		t.Fatalf("fenced with expected %d, actual %d; want %d, %d", fe.Expected, fe.Actual, expected, actual)
	}
}

// TestWALContract runs the partition.WAL contract suite. The two handles of
// each case come from two WALStreams on two connections, as two agents hold
// them; the cases share one server, so their sequences interleave.
func TestWALContract(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	cell := testCellName()
	wa := openTestWAL(t, connectJS(t, srv.ClientURL()), WALConfig{Cell: cell})
	wb := openTestWAL(t, connectJS(t, srv.ClientURL()), WALConfig{Cell: cell})
	waltest.Run(t, func(t *testing.T) (a, b partition.WAL) {
		id := newPartitionID()
		return wa.Partition(id), wb.Partition(id)
	})
}

// TestJetStreamExpectedSubjectSequence records the JetStream semantics the
// WAL is built on, straight on the client API: an expected last subject
// sequence of 0 means "the subject has no message", and a mismatch is API
// error 10071 whose description carries the subject's last sequence.
func TestJetStreamExpectedSubjectSequence(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "s", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.other", nil); err != nil { // the stream's sequence moves
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, "s.a", []byte("1"), jetstream.WithExpectLastSequencePerSubject(0))
	if err != nil {
		t.Fatalf("expected 0 on an empty subject: %v", err)
	}
	if ack.Sequence != 2 {
		t.Fatalf("sequence %d, want 2", ack.Sequence)
	}
	for _, expected := range []uint64{0, 1, 3} {
		_, err = js.Publish(ctx, "s.a", []byte("2"), jetstream.WithExpectLastSequencePerSubject(expected))
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.Description != "wrong last sequence: 2" {
			t.Fatalf("expected %d on a subject whose last is 2: %v, want API error 10071 \"wrong last sequence: 2\"", expected, err)
		}
	}
	if _, err := js.Publish(ctx, "s.b", nil, jetstream.WithExpectLastSequencePerSubject(2)); err == nil {
		t.Fatal("expected 2 on an empty subject succeeded")
	}
}

func TestOpenWALStreamConfig(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	js := connectJS(t, srv.ClientURL())
	w := openTestWAL(t, js, WALConfig{Cell: "eu-west_1"})
	if w.Name() != "sh_eu-west_1_wal" || w.MaxEntrySize() != DefaultWALMaxEntrySize {
		t.Errorf("Name() = %q, MaxEntrySize() = %d", w.Name(), w.MaxEntrySize())
	}
	if got := w.Partition(partition.ID{Tenant: 3, Topic: 42, Partition: 0}).Subject(); got != "sh.eu-west_1.wal.3.42.0" {
		t.Errorf("subject %q, want sh.eu-west_1.wal.3.42.0", got)
	}
	info, err := w.stream.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if len(c.Subjects) != 1 || c.Subjects[0] != "sh.eu-west_1.wal.>" || c.Storage != jetstream.FileStorage ||
		c.Retention != jetstream.LimitsPolicy || c.Discard != jetstream.DiscardOld || c.Replicas != 1 ||
		c.MaxAge != 0 || c.MaxMsgs != -1 || c.MaxBytes != -1 || c.MaxMsgsPerSubject != -1 ||
		c.MaxMsgSize != DefaultWALMaxEntrySize+walHeaderRoom || c.AllowDirect || c.AllowAtomicPublish || c.DenyPurge {
		t.Errorf("stream config %+v", c)
	}
	// Opening again, as every agent of the cell does, shares the stream.
	openTestWAL(t, connectJS(t, srv.ClientURL()), WALConfig{Cell: "eu-west_1"})
	openTestWAL(t, js, WALConfig{Cell: "eu-west_1"})
}

func TestOpenWALValidates(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]WALConfig{
		"no cell":        {},
		"dot in cell":    {Cell: "a.b"},
		"wildcard cell":  {Cell: "a>"},
		"many replicas":  {Cell: "dev", Replicas: 7},
		"negative repls": {Cell: "dev", Replicas: -1},
		"negative entry": {Cell: "dev", MaxEntrySize: -1},
		"huge entry":     {Cell: "dev", MaxEntrySize: 16 << 20},
	} {
		// Validation comes before any use of the connection.
		if _, err := OpenWAL(t.Context(), nil, cfg); err == nil {
			t.Errorf("%s: OpenWAL(%+v) succeeded", name, cfg)
		}
	}
}

// TestOpenWALRefusesIncompatibleStream: a stream made by hand with settings
// that break the WAL's contract is refused, each setting named; harmless
// differences pass.
func TestOpenWALRefusesIncompatibleStream(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)

	bad := testCellName()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        walStream(bad),
		Subjects:    []string{walSubjectPrefix(bad) + ">"},
		MaxAge:      time.Hour,
		MaxMsgSize:  1 << 20,
		AllowDirect: true,
		DenyPurge:   true,
		Storage:     jetstream.MemoryStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenWAL(ctx, js, WALConfig{Cell: bad})
	if err == nil {
		t.Fatal("OpenWAL accepted a stream with an age limit, small messages, direct gets, no purges, in memory")
	}
	for _, want := range []string{"MaxAge", "MaxMsgSize", "AllowDirect", "DenyPurge", "storage"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}

	good := testCellName()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        walStream(good),
		Description: "made by an operator",
		Subjects:    []string{walSubjectPrefix(good) + ">"},
		MaxMsgSize:  32 << 20,
		Compression: jetstream.S2Compression,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	openTestWAL(t, js, WALConfig{Cell: good})
}

// TestOpenWALChecksMaxPayload: nats-server's default max_payload, 1 MiB,
// cannot carry a WAL entry of a full request; OpenWAL says so up front.
func TestOpenWALChecksMaxPayload(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATSWith(t, EmbeddedNATSConfig{MaxPayload: 1 << 20}).ClientURL())
	_, err := OpenWAL(testCtx(t), js, WALConfig{Cell: testCellName()})
	if err == nil || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("OpenWAL on a server with a 1 MiB max_payload: %v, want an error naming max_payload", err)
	}
	w := openTestWAL(t, js, WALConfig{Cell: testCellName(), MaxEntrySize: 1<<20 - walHeaderRoom})
	p := w.Partition(newPartitionID())
	mustAppend(t, p, 0, make([]byte, w.MaxEntrySize()))
}

func TestEmbeddedNATSMaxPayload(t *testing.T) {
	t.Parallel()
	nc := connectJS(t, startNATS(t).ClientURL()).Conn()
	if got := nc.MaxPayload(); got != DefaultEmbeddedMaxPayload {
		t.Errorf("max payload %d, want the default %d", got, DefaultEmbeddedMaxPayload)
	}
	for _, mp := range []int{-1, 65 << 20} {
		if srv, err := StartEmbeddedNATS(EmbeddedNATSConfig{Dir: t.TempDir(), MaxPayload: mp}); err == nil {
			srv.Shutdown()
			t.Errorf("StartEmbeddedNATS with MaxPayload %d succeeded", mp)
		}
	}
}

// TestWALFencesDeposedOwner walks a takeover between two agents on two
// connections: the new owner appends a marker on the last sequence it read;
// the deposed owner's next append fails with ErrWALFenced naming the marker,
// and nothing of it lands.
func TestWALFencesDeposedOwner(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	cell := testCellName()
	id := newPartitionID()
	a := openTestWAL(t, connectJS(t, srv.ClientURL()), WALConfig{Cell: cell}).Partition(id)
	b := openTestWAL(t, connectJS(t, srv.ClientURL()), WALConfig{Cell: cell}).Partition(id)

	s1 := mustAppend(t, a, 0, []byte("a1"))
	s2 := mustAppend(t, a, s1, []byte("a2"))
	last := mustLastSeq(t, b)
	if last != s2 {
		t.Fatalf("new owner reads last %d, want %d", last, s2)
	}
	marker := mustAppend(t, b, last, []byte("marker"))

	_, err := a.Append(testCtx(t), s2, []byte("a3-late"))
	mustBeFenced(t, err, s2, marker)
	_, err = a.Append(testCtx(t), s2, []byte("a3-retry"))
	mustBeFenced(t, err, s2, marker)

	want := []walEntry{{s1, "a1"}, {s2, "a2"}, {marker, "marker"}}
	if got := replayAll(t, b, 0, math.MaxUint64); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log after takeover %v, want %v", got, want)
	}
	mustAppend(t, b, marker, []byte("b1"))
}

// TestWALExpectedZero: 0 means "the partition has no entry": it succeeds on
// an empty subject even though the stream's sequence has moved, and is fenced
// on a subject with entries.
func TestWALExpectedZero(t *testing.T) {
	t.Parallel()
	w := openTestWAL(t, connectJS(t, startNATS(t).ClientURL()), WALConfig{Cell: testCellName()})
	p0, p1 := w.Partition(newPartitionID()), w.Partition(newPartitionID())
	s0 := mustAppend(t, p0, 0, []byte("p0"))
	s1 := mustAppend(t, p1, 0, []byte("p1"))
	if s1 <= s0 {
		t.Fatalf("sequences %d then %d", s0, s1)
	}
	_, err := p1.Append(testCtx(t), 0, []byte("again"))
	mustBeFenced(t, err, 0, s1)
	_, err = p1.Append(testCtx(t), s1+10, []byte("future"))
	mustBeFenced(t, err, s1+10, s1)
	// A handle that never saw the subject gets the same answers.
	fresh := openTestWAL(t, connectJS(t, startNATS(t).ClientURL()), WALConfig{Cell: testCellName()}).Partition(newPartitionID())
	_, err = fresh.Append(testCtx(t), 5, []byte("x"))
	mustBeFenced(t, err, 5, 0)
}

// TestWALPartitionsIndependent: appends on one partition move the stream's
// sequence but fence no other partition.
func TestWALPartitionsIndependent(t *testing.T) {
	t.Parallel()
	w := openTestWAL(t, connectJS(t, startNATS(t).ClientURL()), WALConfig{Cell: testCellName()})
	ids := []partition.ID{
		{Tenant: 1, Topic: 1, Partition: 0},
		{Tenant: 1, Topic: 1, Partition: 1},
		{Tenant: 1, Topic: 2, Partition: 0},
		{Tenant: 2, Topic: 1, Partition: 0},
		{Tenant: 1, Topic: 11, Partition: 0}, // "1.11.0" next to "1.1.10"
		{Tenant: 1, Topic: 1, Partition: 10},
	}
	last := make([]uint64, len(ids))
	want := make([][]walEntry, len(ids))
	for round := range 5 {
		for i, id := range ids {
			data := fmt.Sprintf("%s#%d", id, round)
			last[i] = mustAppend(t, w.Partition(id), last[i], []byte(data))
			want[i] = append(want[i], walEntry{last[i], data})
		}
	}
	for i, id := range ids {
		p := w.Partition(id)
		if got := mustLastSeq(t, p); got != last[i] {
			t.Errorf("%s: last %d, want %d", id, got, last[i])
		}
		if got := replayAll(t, p, 0, math.MaxUint64); fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("%s: replay %v, want %v", id, got, want[i])
		}
	}
}

// TestWALEntrySize: an entry of a full 8 MiB request, and one of exactly
// MaxEntrySize, are stored and replayed intact; larger ones are refused with
// a *WALEntryTooLargeError and write nothing. The server backs the limit.
func TestWALEntrySize(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	w := openTestWAL(t, js, WALConfig{Cell: testCellName()})
	p := w.Partition(newPartitionID())

	mib8 := bytes.Repeat([]byte("0123456789abcdef"), 8<<20/16)
	full := bytes.Repeat([]byte{0xa5}, w.MaxEntrySize())
	s1 := mustAppend(t, p, 0, mib8)
	s2 := mustAppend(t, p, s1, full)

	for _, size := range []int{w.MaxEntrySize() + 1, 17 << 20} {
		_, err := p.Append(testCtx(t), s2, make([]byte, size))
		var tooLarge *WALEntryTooLargeError
		if !errors.As(err, &tooLarge) || tooLarge.Size != size || tooLarge.Limit != DefaultWALMaxEntrySize {
			t.Fatalf("append of %d bytes: %v, want a *WALEntryTooLargeError", size, err)
		}
		if !strings.Contains(err.Error(), "MaxEntrySize") {
			t.Errorf("error %q does not name the limit", err)
		}
	}
	if got := mustLastSeq(t, p); got != s2 {
		t.Fatalf("refused appends moved the last sequence to %d, want %d", got, s2)
	}
	var sizes []int
	err := p.Replay(testCtx(t), 0, s2, func(seq uint64, e []byte) error {
		if (seq == s1 && !bytes.Equal(e, mib8)) || (seq == s2 && !bytes.Equal(e, full)) {
			return fmt.Errorf("entry %d of %d bytes differs from what was appended", seq, len(e))
		}
		sizes = append(sizes, len(e))
		return nil
	})
	if err != nil || len(sizes) != 2 {
		t.Fatalf("replay of the large entries: %v, sizes %v", err, sizes)
	}

	// Past the WAL's own check, the stream and the server refuse too.
	_, err = js.Publish(testCtx(t), p.Subject(), make([]byte, w.MaxEntrySize()+walHeaderRoom+1))
	if !errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
		t.Errorf("raw publish over the stream's MaxMsgSize: %v, want %v", err, jetstream.ErrStreamMessageExceedsMaximum)
	}
	_, err = js.Publish(testCtx(t), p.Subject(), make([]byte, 17<<20))
	if !errors.Is(err, nats.ErrMaxPayload) {
		t.Errorf("raw publish of 17 MiB: %v, want %v", err, nats.ErrMaxPayload)
	}
}

// TestWALReplayMany: 20,000 entries, interleaved with another partition's,
// replay complete and in order, in full and in part. The server syncs every
// minute so that filling the log stays quick; the replay does not care.
func TestWALReplayMany(t *testing.T) {
	t.Parallel()
	const n = 20000
	js := connectJS(t, startNATSWith(t, EmbeddedNATSConfig{SyncInterval: time.Minute}).ClientURL())
	w := openTestWAL(t, js, WALConfig{Cell: testCellName()})
	p, other := w.Partition(newPartitionID()), w.Partition(newPartitionID())

	// Fill with raw asynchronous publishes, 1000 at a time (below the
	// client's limit on unacknowledged ones): n round trips would be slow.
	for i := range n {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		if _, err := js.PublishAsync(p.Subject(), b[:]); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if _, err := js.PublishAsync(other.Subject(), []byte("noise")); err != nil {
				t.Fatal(err)
			}
		}
		if i%800 == 799 || i == n-1 {
			select {
			case <-js.PublishAsyncComplete():
			case <-testCtx(t).Done():
				t.Fatal("publishes not acknowledged in time")
			}
		}
	}
	if got := mustLastSeq(t, other); got == 0 {
		t.Fatal("the other partition is empty")
	}
	last := mustLastSeq(t, p)

	check := func(after, upTo uint64, wantFirst, wantCount int) {
		t.Helper()
		start := time.Now()
		count, prev := 0, after
		err := p.Replay(testCtx(t), after, upTo, func(seq uint64, e []byte) error {
			if seq <= prev || seq > upTo {
				return fmt.Errorf("sequence %d after %d, outside (%d, %d]", seq, prev, after, upTo)
			}
			if got := binary.BigEndian.Uint64(e); got != uint64(wantFirst+count) {
				return fmt.Errorf("entry %d at sequence %d, want entry %d", got, seq, wantFirst+count)
			}
			prev = seq
			count++
			return nil
		})
		if err != nil {
			t.Fatalf("replay (%d, %d]: %v", after, upTo, err)
		}
		if count != wantCount {
			t.Fatalf("replay (%d, %d] gave %d entries, want %d", after, upTo, count, wantCount)
		}
		t.Logf("replayed %d entries in %s", count, time.Since(start))
	}
	check(0, last, 0, n)
	check(0, math.MaxUint64, 0, n)

	// The middle: find the sequences of entries 10,000 and 15,000.
	var s10k, s15k uint64
	i := 0
	err := p.Replay(testCtx(t), 0, last, func(seq uint64, _ []byte) error {
		switch i {
		case 10000:
			s10k = seq
		case 15000:
			s15k = seq
			return errStopReplay
		}
		i++
		return nil
	})
	if !errors.Is(err, errStopReplay) {
		t.Fatalf("replay stopped with %v, want the callback's error", err)
	}
	check(s10k, s15k, 10001, 5000)
}

var errStopReplay = errors.New("stop replay")

// TestWALReplayLargeEntries: entries of a few MiB, several to a pull and
// some refused by a pull's byte budget, replay complete and in order.
func TestWALReplayLargeEntries(t *testing.T) {
	t.Parallel()
	w := openTestWAL(t, connectJS(t, startNATS(t).ClientURL()), WALConfig{Cell: testCellName()})
	p := w.Partition(newPartitionID())
	var want [][]byte
	var last uint64
	for i := range 16 {
		size := 1<<20 + i*300<<10 // 1 MiB to about 5.4 MiB
		if i == 15 {
			size = w.MaxEntrySize()
		}
		e := bytes.Repeat([]byte{byte(i)}, size)
		last = mustAppend(t, p, last, e)
		want = append(want, e)
	}
	i := 0
	err := p.Replay(testCtx(t), 0, last, func(_ uint64, e []byte) error {
		if i >= len(want) || !bytes.Equal(e, want[i]) {
			return fmt.Errorf("entry %d of %d bytes is not the one appended", i, len(e))
		}
		i++
		return nil
	})
	if err != nil || i != len(want) {
		t.Fatalf("replay: %v after %d of %d entries", err, i, len(want))
	}
}

// TestWALReplayReturnsAtOnce: nothing to replay returns without waiting, and
// nothing is asked of the server when after >= upTo.
func TestWALReplayReturnsAtOnce(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	w := openTestWAL(t, js, WALConfig{Cell: testCellName()})
	p := w.Partition(newPartitionID())
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	called := func(uint64, []byte) error { return errors.New("called") }
	if err := p.Replay(ctx, 0, math.MaxUint64, called); err != nil {
		t.Fatalf("replay of an empty partition: %v", err)
	}
	s1 := mustAppend(t, p, 0, []byte("one"))
	if err := p.Replay(ctx, s1, math.MaxUint64, called); err != nil {
		t.Fatalf("replay past the last entry: %v", err)
	}
	if got := replayAll(t, p, 0, math.MaxUint64); len(got) != 1 {
		t.Fatalf("replay gave %v", got)
	}
	// Replays leave no consumer behind.
	info, err := w.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Errorf("%d consumers left after replays", info.State.Consumers)
	}

	js.Conn().Close()
	if err := p.Replay(ctx, 5, 5, called); err != nil {
		t.Fatalf("empty range on a closed connection: %v", err)
	}
}

// TestWALTrim: trimming purges one partition's entries below a sequence,
// keeps its last entry whatever is asked, leaves other partitions alone, and
// the owner appends on after trimming everything but the last.
func TestWALTrim(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	cell := testCellName()
	w := openTestWAL(t, connectJS(t, srv.ClientURL()), WALConfig{Cell: cell})
	id := newPartitionID()
	p, other := w.Partition(id), w.Partition(newPartitionID())
	var seqs []uint64
	var last, otherLast uint64
	for i := range 6 {
		last = mustAppend(t, p, last, fmt.Appendf(nil, "e%d", i))
		seqs = append(seqs, last)
		otherLast = mustAppend(t, other, otherLast, []byte("other"))
	}
	ctx := testCtx(t)
	for _, below := range []uint64{0, 1} {
		if err := p.Trim(ctx, below); err != nil {
			t.Fatalf("trim below %d: %v", below, err)
		}
	}
	if got := replayAll(t, p, 0, last); len(got) != 6 {
		t.Fatalf("trims below 0 and 1 removed entries: %v", got)
	}
	if err := p.Trim(ctx, seqs[2]); err != nil {
		t.Fatal(err)
	}
	if got := replayAll(t, p, 0, last); len(got) != 4 || got[0].seq != seqs[2] {
		t.Fatalf("after trim below %d: %v", seqs[2], got)
	}
	// A handle that has seen nothing reads the last sequence first.
	fresh := openTestWAL(t, connectJS(t, srv.ClientURL()), WALConfig{Cell: cell}).Partition(id)
	if err := fresh.Trim(ctx, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	if got := replayAll(t, p, 0, math.MaxUint64); len(got) != 1 || got[0] != (walEntry{last, "e5"}) {
		t.Fatalf("after trimming everything: %v, want only the last entry", got)
	}
	if got := mustLastSeq(t, fresh); got != last {
		t.Fatalf("last sequence after trimming %d, want %d", got, last)
	}
	next := mustAppend(t, p, last, []byte("after-trim"))
	if got := replayAll(t, fresh, 0, math.MaxUint64); len(got) != 2 || got[1] != (walEntry{next, "after-trim"}) {
		t.Fatalf("after appending on the trimmed log: %v", got)
	}
	if got := replayAll(t, other, 0, math.MaxUint64); len(got) != 6 {
		t.Fatalf("trimming one partition left %d of another's 6 entries", len(got))
	}
}

// TestWALSurvivesRestart: with sync always (the embedded default), what
// Append acknowledged is there after the server restarts on its folder, and
// the owner carries on from its last sequence.
func TestWALSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cell := testCellName()
	id := newPartitionID()
	srv := startNATSWith(t, EmbeddedNATSConfig{Dir: dir})
	p := openTestWAL(t, connectJS(t, srv.ClientURL()), WALConfig{Cell: cell}).Partition(id)
	var want []walEntry
	var last uint64
	for i := range 50 {
		data := fmt.Sprintf("entry-%d", i)
		last = mustAppend(t, p, last, []byte(data))
		want = append(want, walEntry{last, data})
	}
	if err := p.Trim(testCtx(t), want[10].seq); err != nil {
		t.Fatal(err)
	}
	want = want[10:]
	srv.Shutdown()

	srv = startNATSWith(t, EmbeddedNATSConfig{Dir: dir})
	p = openTestWAL(t, connectJS(t, srv.ClientURL()), WALConfig{Cell: cell}).Partition(id)
	if got := mustLastSeq(t, p); got != last {
		t.Fatalf("last sequence after restart %d, want %d", got, last)
	}
	if got := replayAll(t, p, 0, last); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after restart the log holds %v, want %v", got, want)
	}
	mustAppend(t, p, last, []byte("after-restart"))
}

func TestWALInvalidPartition(t *testing.T) {
	t.Parallel()
	w := openTestWAL(t, connectJS(t, startNATS(t).ClientURL()), WALConfig{Cell: testCellName()})
	p := w.Partition(partition.ID{Tenant: 0, Topic: 1, Partition: 0})
	ctx := testCtx(t)
	if _, err := p.Append(ctx, 0, nil); err == nil {
		t.Error("Append on an invalid partition succeeded")
	}
	if _, err := p.LastSeq(ctx); err == nil {
		t.Error("LastSeq on an invalid partition succeeded")
	}
	if err := p.Replay(ctx, 0, 10, func(uint64, []byte) error { return nil }); err == nil {
		t.Error("Replay on an invalid partition succeeded")
	}
	if err := p.Trim(ctx, 10); err == nil {
		t.Error("Trim on an invalid partition succeeded")
	}
}

// BenchmarkWALAppend: sequential expected-sequence appends of 64 KiB, each
// waiting for its acknowledgement, as a partition actor writes; next to
// them, raw asynchronous publishes of the same bytes (at most 256 in flight),
// the stream's ceiling without fencing or waiting. Both under sync always
// (the embedded default) and syncing every minute.
func BenchmarkWALAppend(b *testing.B) {
	entry := bytes.Repeat([]byte("streamhouse wal "), 64<<10/16)
	for _, sync := range []struct {
		name     string
		interval time.Duration
	}{{"sync=always", 0}, {"sync=1m", time.Minute}} {
		b.Run(sync.name+"/wal", func(b *testing.B) {
			js := connectJSOpts(b, startNATSWith(b, EmbeddedNATSConfig{SyncInterval: sync.interval}).ClientURL())
			p := openTestWAL(b, js, WALConfig{Cell: "bench"}).Partition(partition.ID{Tenant: 1, Topic: 1, Partition: 0})
			ctx := context.Background()
			var last uint64
			b.SetBytes(int64(len(entry)))
			b.ResetTimer()
			for range b.N {
				seq, err := p.Append(ctx, last, entry)
				if err != nil {
					b.Fatal(err)
				}
				last = seq
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
		b.Run(sync.name+"/raw-async", func(b *testing.B) {
			var failed atomic.Int64
			js := connectJSOpts(b, startNATSWith(b, EmbeddedNATSConfig{SyncInterval: sync.interval}).ClientURL(),
				jetstream.WithPublishAsyncMaxPending(256),
				jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
			w := openTestWAL(b, js, WALConfig{Cell: "bench"})
			subject := w.Subject(partition.ID{Tenant: 1, Topic: 1, Partition: 0})
			b.SetBytes(int64(len(entry)))
			b.ResetTimer()
			for range b.N {
				if _, err := js.PublishAsync(subject, entry, jetstream.WithStallWait(time.Minute)); err != nil {
					b.Fatal(err)
				}
			}
			<-js.PublishAsyncComplete() // timed: the last acknowledgement ends the run
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d asynchronous publishes failed", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}
