package cells

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhouse/streamhouse/partition"
)

// DefaultWALMaxEntrySize is WALConfig.MaxEntrySize's default: a produce
// request of up to 8 MiB (DESIGN.md, Data model) encoded as one entry, with
// 1 MiB of room for batch headers and for LZ4 expanding data that does not
// compress (at most 0.4 % and a few bytes).
const DefaultWALMaxEntrySize = 9 << 20

// walHeaderRoom is what the WAL allows for a message's headers above the
// entry itself (the expected-sequence header takes about 70 bytes), and for
// its subject and reply subject when a consumer delivers it.
const walHeaderRoom = 4 << 10

// maxWALEntrySize bounds WALConfig.MaxEntrySize: a message of it fits the
// embedded server's default max_payload, and the two pulls a replay may have
// outstanding stay well below the 64 MiB a client subscription buffers
// before it drops messages as a slow consumer.
const maxWALEntrySize = DefaultEmbeddedMaxPayload - walHeaderRoom

// Replay's flow control: each pull asks for at most walReplayBatch messages
// and one maximal message's bytes; the ordered consumer of a replay that
// could not delete it goes away after walReplayInactive.
const (
	walReplayBatch    = 1000
	walReplayInactive = 30 * time.Second
	walCleanupTimeout = 5 * time.Second
)

// WALConfig configures a cell's WAL stream.
type WALConfig struct {
	// Cell names the cell; its WAL is the stream sh_<cell>_wal on the
	// subjects sh.<cell>.wal.>. Required, see ValidateCellName.
	Cell string

	// Replicas is the stream's replica count: 1 (the default) for the dev
	// cell, 3 on a NATS cluster. OpenWAL refuses a stream that exists with
	// fewer.
	Replicas int

	// MaxEntrySize is the largest entry Append takes, in bytes; larger ones
	// are refused with a *WALEntryTooLargeError before anything is sent. The
	// stream's MaxMsgSize is this plus 4 KiB for headers, and the server's
	// max_payload must be at least that (EmbeddedNATSConfig.MaxPayload; an
	// external server's max_payload setting, whose default is 1 MiB). The
	// default is DefaultWALMaxEntrySize, 9 MiB; at most 16 MiB less 4 KiB.
	MaxEntrySize int
}

// EnsureDefaults fills in the zero fields that have a default.
func (c *WALConfig) EnsureDefaults() {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxEntrySize == 0 {
		c.MaxEntrySize = DefaultWALMaxEntrySize
	}
}

func (c *WALConfig) validate() error {
	if err := ValidateCellName(c.Cell); err != nil {
		return err
	}
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("wal stream replicas %d out of range 1..5", c.Replicas)
	case c.MaxEntrySize < 1 || c.MaxEntrySize > maxWALEntrySize:
		return fmt.Errorf("wal max entry size %d out of range 1..%d", c.MaxEntrySize, maxWALEntrySize)
	}
	return nil
}

// walStream names a cell's WAL stream, and walSubjectPrefix its subjects
// (DESIGN.md, NATS subjects and buckets). The cell name must be valid.
func walStream(cell string) string        { return "sh_" + cell + "_wal" }
func walSubjectPrefix(cell string) string { return "sh." + cell + ".wal." }

// WALEntryTooLargeError is returned by Append for an entry above the WAL's
// MaxEntrySize. Nothing was written.
type WALEntryTooLargeError struct {
	Size, Limit int
}

func (e *WALEntryTooLargeError) Error() string {
	return fmt.Sprintf("wal entry of %d bytes is over the limit of %d bytes (WALConfig.MaxEntrySize)", e.Size, e.Limit)
}

// WALStream is a cell's write-ahead log: one JetStream stream, sh_<cell>_wal,
// with one subject per partition, sh.<cell>.wal.<tenant id>.<topic id>.<partition>
// (DESIGN.md, The partition actor). Partition hands out the per-partition
// logs. It is safe for concurrent use.
//
// An acknowledged append survives what the server's sync setting lets it
// survive (EmbeddedNATSConfig.SyncInterval): the embedded server fsyncs every
// write by default; an external one must be set to sync_interval: always for
// the same guarantee.
//
// The stream keeps everything until the partitions trim it: file storage, no
// age, count or size limit (a limit would drop entries not yet in a segment),
// discard old. Two settings are deliberately off:
//
//   - AllowDirect: direct gets may be answered by a replica that lags the
//     leader, and LastSeq must read the leader (Replay relies on it to know
//     where to stop). LastSeq is called at takeover, not per append, so the
//     faster read buys little.
//   - AllowAtomicPublish: only needed once the WAL packs several partitions
//     into one atomic batch (DESIGN.md); it is a stream update then, and an
//     existing stream with it on is accepted.
type WALStream struct {
	js       jetstream.JetStream
	stream   jetstream.Stream
	name     string
	prefix   string
	maxEntry int
}

// OpenWAL opens the cell's WAL stream, creating it if it does not exist. It
// fails if the server's max_payload is below the stream's largest message
// (MaxEntrySize plus 4 KiB), or if the stream exists with a configuration
// that would break the WAL's contract: other subjects, another retention,
// any age, count or size limit, a smaller MaxMsgSize, memory storage, fewer
// replicas, asynchronous persistence, purges denied, direct gets, subject
// delete markers, and the like. It blocks on the server, bounded by ctx.
func OpenWAL(ctx context.Context, js jetstream.JetStream, cfg WALConfig) (*WALStream, error) {
	cfg.EnsureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("open wal: %w", err)
	}
	name := walStream(cfg.Cell)
	maxMsg := cfg.MaxEntrySize + walHeaderRoom
	if mp := js.Conn().MaxPayload(); mp < int64(maxMsg) {
		return nil, fmt.Errorf("open wal stream %s: the server's max_payload is %d bytes, below the WAL's largest message of %d bytes (max entry %d + headers); raise max_payload (EmbeddedNATSConfig.MaxPayload)",
			name, mp, maxMsg, cfg.MaxEntrySize)
	}
	want := jetstream.StreamConfig{
		Name:        name,
		Description: "StreamHouse write-ahead log of cell " + cfg.Cell + ": subject sh." + cfg.Cell + ".wal.<tenant id>.<topic id>.<partition>, appends fenced by the expected last subject sequence, trimmed by the partitions",
		Subjects:    []string{walSubjectPrefix(cfg.Cell) + ">"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxMsgSize:  int32(maxMsg),
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	}
	stream, err := js.CreateStream(ctx, want)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		stream, err = js.Stream(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("open wal stream %s: %w", name, err)
	}
	if err := checkWALStreamConfig(stream.CachedInfo().Config, want); err != nil {
		return nil, fmt.Errorf("open wal stream %s: %w", name, err)
	}
	return &WALStream{
		js:       js,
		stream:   stream,
		name:     name,
		prefix:   walSubjectPrefix(cfg.Cell),
		maxEntry: cfg.MaxEntrySize,
	}, nil
}

// checkWALStreamConfig refuses a stream whose configuration would break the
// WAL's contract, naming every problem. Differences that do not (description,
// compression, more replicas, a larger MaxMsgSize) pass.
func checkWALStreamConfig(got, want jetstream.StreamConfig) error {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if len(got.Subjects) != 1 || got.Subjects[0] != want.Subjects[0] {
		add("subjects %q, want [%q]", got.Subjects, want.Subjects[0])
	}
	if got.Retention != jetstream.LimitsPolicy {
		add("retention %s, want limits (entries stay until trimmed)", got.Retention)
	}
	if got.MaxAge != 0 {
		add("MaxAge %s, want none (an age limit drops entries not yet in a segment)", got.MaxAge)
	}
	if got.MaxMsgs > 0 || got.MaxBytes > 0 || got.MaxMsgsPerSubject > 0 {
		add("MaxMsgs %d, MaxBytes %d, MaxMsgsPerSubject %d, want no limit (a limit drops entries not yet in a segment)",
			got.MaxMsgs, got.MaxBytes, got.MaxMsgsPerSubject)
	}
	if got.MaxMsgSize >= 0 && got.MaxMsgSize < want.MaxMsgSize {
		add("MaxMsgSize %d, want at least %d", got.MaxMsgSize, want.MaxMsgSize)
	}
	if got.Storage != jetstream.FileStorage {
		add("storage %s, want file", got.Storage)
	}
	if got.Replicas < want.Replicas {
		add("%d replicas, want at least %d", got.Replicas, want.Replicas)
	}
	if got.PersistMode != jetstream.DefaultPersistMode {
		add("persist mode %s, want default (asynchronous persistence acknowledges before writing)", got.PersistMode)
	}
	if got.NoAck {
		add("NoAck set, want acknowledged appends")
	}
	if got.Sealed {
		add("sealed")
	}
	if got.DenyPurge {
		add("DenyPurge set, want purges allowed (Trim purges)")
	}
	if got.AllowDirect {
		add("AllowDirect set, want off (a lagging replica may answer a direct get; the last sequence must come from the leader)")
	}
	if got.SubjectDeleteMarkerTTL != 0 {
		add("SubjectDeleteMarkerTTL %s, want none (a marker moves a subject's last sequence)", got.SubjectDeleteMarkerTTL)
	}
	if got.AllowMsgCounter {
		add("AllowMsgCounter set, want off")
	}
	if got.Mirror != nil || len(got.Sources) > 0 || got.SubjectTransform != nil {
		add("mirror, sources or subject transform set, want none")
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("stream exists with a configuration the WAL cannot use: %s", strings.Join(bad, "; "))
}

// Name is the stream's name, sh_<cell>_wal.
func (w *WALStream) Name() string { return w.name }

// MaxEntrySize is the largest entry Append takes, in bytes.
func (w *WALStream) MaxEntrySize() int { return w.maxEntry }

// Subject is the partition's subject, sh.<cell>.wal.<tenant id>.<topic id>.<partition>.
// It is a storage format: append-only, never reinterpreted.
func (w *WALStream) Subject(id partition.ID) string {
	b := make([]byte, 0, len(w.prefix)+32)
	b = append(b, w.prefix...)
	b = strconv.AppendInt(b, id.Tenant, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, id.Topic, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(id.Partition), 10)
	return string(b)
}

// Partition returns the log of one partition. Handles are cheap and
// independent: two handles on one partition fence each other exactly as two
// agents do. An invalid id gives a handle whose every call fails.
func (w *WALStream) Partition(id partition.ID) *WALPartition {
	p := &WALPartition{w: w, id: id, subject: w.Subject(id)}
	if err := id.Validate(); err != nil {
		p.err = err
	}
	return p
}

// WALPartition is one partition's write-ahead log on its subject of the
// cell's WAL stream; it implements partition.WAL. Sequences are the stream's:
// increasing, not dense. It is safe for concurrent use, though a partition
// has one writer at a time by design.
type WALPartition struct {
	w       *WALStream
	id      partition.ID
	subject string
	err     error // an invalid id

	// known is a sequence this handle has seen on the subject (appended,
	// read as the last, or reported by a refused append), 0 if none. The
	// subject's last sequence is at least known, since sequences only grow
	// and trimming keeps the last entry; Trim and Replay use it to spare a
	// read.
	known atomic.Uint64
}

var _ partition.WAL = (*WALPartition)(nil)

// Subject is the partition's subject in the WAL stream.
func (p *WALPartition) Subject() string { return p.subject }

func (p *WALPartition) see(seq uint64) {
	for {
		old := p.known.Load()
		if seq <= old || p.known.CompareAndSwap(old, seq) {
			return
		}
	}
}

// Append publishes entry on the partition's subject with the header
// Nats-Expected-Last-Subject-Sequence set to expectedLast, and returns the
// entry's stream sequence once JetStream has stored it (and, on a server
// that syncs always, fsynced it). JetStream checks the header atomically: if
// the subject's last sequence is not expectedLast (0: the subject has no
// entry), nothing is written and Append returns a *partition.WALFencedError.
// Its Actual is the subject's last sequence as the server reported it; on a
// replicated stream, which may refuse without saying (error code 10164, also
// given when another append on the subject was in flight), it is read
// afterwards and may even equal Expected.
//
// An entry over MaxEntrySize is refused with a *WALEntryTooLargeError before
// anything is sent. Any other error leaves the outcome unknown: the entry
// may have been written (ctx ended after the server had it, say). It blocks
// until JetStream acknowledges, bounded by ctx. The entry is not retained.
func (p *WALPartition) Append(ctx context.Context, expectedLast uint64, entry []byte) (uint64, error) {
	if p.err != nil {
		return 0, fmt.Errorf("append to wal: %w", p.err)
	}
	if len(entry) > p.w.maxEntry {
		return 0, &WALEntryTooLargeError{Size: len(entry), Limit: p.w.maxEntry}
	}
	ack, err := p.w.js.Publish(ctx, p.subject, entry, jetstream.WithExpectLastSequencePerSubject(expectedLast))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			switch apiErr.ErrorCode {
			case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
				return 0, p.fenced(ctx, expectedLast, apiErr)
			case jetstream.JSErrCodeStreamMessageExceedsMaximum:
				return 0, fmt.Errorf("append to wal %s: %d bytes: %w (the stream's MaxMsgSize is below this WAL's MaxEntrySize)", p.subject, len(entry), err)
			}
		}
		return 0, fmt.Errorf("append to wal %s after %d: %w", p.subject, expectedLast, err)
	}
	if ack.Stream != p.w.name {
		return 0, fmt.Errorf("append to wal %s: stored in stream %q, want %q", p.subject, ack.Stream, p.w.name)
	}
	p.see(ack.Sequence)
	return ack.Sequence, nil
}

// fenced builds the error for a refused append. JetStream reports the
// subject's last sequence as "wrong last sequence: N" (code 10071); when it
// does not (10164), the last sequence is read, and left 0 if that fails.
func (p *WALPartition) fenced(ctx context.Context, expected uint64, apiErr *jetstream.APIError) error {
	actual, ok := parseWrongLastSequence(apiErr.Description)
	if !ok {
		if last, err := p.lastSeq(ctx); err == nil {
			actual = last
		}
	}
	p.see(actual)
	return &partition.WALFencedError{Expected: expected, Actual: actual}
}

// parseWrongLastSequence reads N from nats-server's "wrong last sequence: N".
func parseWrongLastSequence(desc string) (uint64, bool) {
	_, n, ok := strings.Cut(desc, "wrong last sequence: ")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(strings.TrimSpace(n), 10, 64)
	return seq, err == nil
}

// LastSeq returns the sequence of the partition's last entry, 0 if it has
// none. It reads the stream leader (never a replica that may lag), which
// sends the whole last entry along: one round trip, at takeover. It blocks on
// the server, bounded by ctx.
func (p *WALPartition) LastSeq(ctx context.Context) (uint64, error) {
	if p.err != nil {
		return 0, fmt.Errorf("read wal last sequence: %w", p.err)
	}
	return p.lastSeq(ctx)
}

func (p *WALPartition) lastSeq(ctx context.Context) (uint64, error) {
	m, err := p.w.stream.GetLastMsgForSubject(ctx, p.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read wal last sequence of %s: %w", p.subject, err)
	}
	p.see(m.Sequence)
	return m.Sequence, nil
}

// Replay calls fn, in order, for each entry with after < seq <= upTo, and
// returns at once when after >= upTo or when the partition has nothing past
// after. It streams the entries through an ordered consumer filtered to the
// partition's subject (flow-controlled: each pull asks for at most 1000
// entries or one maximal entry's bytes), which it deletes when done. It knows where to stop from
// the leader's last sequence of the subject (read unless upTo is at or below
// a sequence this handle has seen), so it neither waits for entries that
// will not come nor stops early when the consumer runs on a replica that
// lags.
//
// fn must not keep entry after it returns; an error from fn stops the replay
// and is returned as is. Replay blocks on the server and on fn, bounded by
// ctx; entries trimmed while it runs may be skipped.
func (p *WALPartition) Replay(ctx context.Context, after, upTo uint64, fn func(seq uint64, entry []byte) error) error {
	if p.err != nil {
		return fmt.Errorf("replay wal: %w", p.err)
	}
	if after >= upTo {
		return nil
	}
	// stopAt is the first sequence at which the replay may stop: upTo, or
	// the subject's last sequence if that is lower. Either way an entry at
	// or past stopAt exists, so the consumer reaches one.
	stopAt := upTo
	if upTo > p.known.Load() {
		last, err := p.lastSeq(ctx)
		if err != nil {
			return fmt.Errorf("replay wal %s: %w", p.subject, err)
		}
		stopAt = min(upTo, last)
	}
	if after >= stopAt {
		return nil
	}

	cons, err := p.w.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{p.subject},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		InactiveThreshold: walReplayInactive,
	})
	if err != nil {
		return fmt.Errorf("replay wal %s: create consumer: %w", p.subject, err)
	}
	defer p.deleteConsumer(ctx, cons)
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(walReplayBatch, p.w.maxEntry+2*walHeaderRoom))
	if err != nil {
		return fmt.Errorf("replay wal %s: %w", p.subject, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("replay wal %s (%d, %d]: %w", p.subject, after, upTo, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("replay wal %s: %w", p.subject, err)
		}
		seq := meta.Sequence.Stream
		if seq > upTo {
			return nil
		}
		if err := fn(seq, msg.Data()); err != nil {
			return err
		}
		if seq >= stopAt {
			return nil
		}
	}
}

// deleteConsumer removes a replay's ordered consumer rather than leave it to
// its inactivity threshold. It is best effort and skipped once ctx has ended.
func (p *WALPartition) deleteConsumer(ctx context.Context, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil || ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, walCleanupTimeout)
	defer cancel()
	_ = p.w.stream.DeleteConsumer(ctx, info.Name)
}

// Trim purges the partition's entries below seq `below`, always keeping its
// last entry: it purges below min(below, last), reading the last sequence
// unless below is at or under a sequence this handle has seen. Trimming what
// is gone already, or an empty partition, is not an error. It blocks on the
// server, bounded by ctx.
func (p *WALPartition) Trim(ctx context.Context, below uint64) error {
	if p.err != nil {
		return fmt.Errorf("trim wal: %w", p.err)
	}
	if below > p.known.Load() {
		last, err := p.lastSeq(ctx)
		if err != nil {
			return fmt.Errorf("trim wal %s below %d: %w", p.subject, below, err)
		}
		below = min(below, last)
	}
	if below <= 1 { // nothing lies below the first sequence; 0 would purge all
		return nil
	}
	if err := p.w.stream.Purge(ctx, jetstream.WithPurgeSubject(p.subject), jetstream.WithPurgeSequence(below)); err != nil {
		return fmt.Errorf("trim wal %s below %d: %w", p.subject, below, err)
	}
	return nil
}
