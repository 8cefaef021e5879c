package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	streamhousev1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// groupSessionMs is the members' session timeout: the coordinator's
// minimum (6 s), so that a member heartbeats (and notices a rebalance)
// every 2 s.
const groupSessionMs = 6000

// groupFetchBytes bounds a member's batches (about 1000 records), so that
// a partition takes many batches and commits.
const groupFetchBytes = 64 << 10

// assignment is one Assignment a member received.
type assignment struct {
	gen   int32
	parts []int32 // sorted
	at    time.Time
}

func (a assignment) has(p int32) bool { return slices.Contains(a.parts, p) }

// memberBatch is one RecordBatch a member received.
type memberBatch struct {
	gen       int32
	partition int32
	recs      []readRecord
}

// groupMember is one Subscribe stream, on a gRPC connection of its own.
type groupMember struct {
	name   string
	conn   *grpc.ClientConn
	client streamhousev1.ConsumerServiceClient

	mu      sync.Mutex
	id      string
	assigns []assignment
	batches []memberBatch
	records int
	commits int
	// commitsEarlyRefused counts commits refused (ABORTED) before the group
	// was stable: a rebalance had begun.
	commitsEarlyRefused int
	earlyRefusal        string // the last one's message
	// commitErrs counts refused commits by status code.
	commitErrs map[string]int
	err        error // how the stream ended, unless canceled
}

func (m *groupMember) latest() (assignment, string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.assigns) == 0 {
		return assignment{}, "", false
	}
	return m.assigns[len(m.assigns)-1], m.id, true
}

// holding is a run of consecutive assignments of one member that all hold
// one partition, and the records of it the member read meanwhile: the
// server reads such a run on from where it was, and begins a run at the
// group's committed offset (none: the earliest).
type holding struct {
	member   *groupMember
	from, to int32 // generations
	recs     []readRecord
}

// holdings returns the member's holdings of partition p, in order. Callers
// hold m.mu.
func (m *groupMember) holdings(p int32) []holding {
	var out []holding
	for i := 0; i < len(m.assigns); i++ {
		if !m.assigns[i].has(p) {
			continue
		}
		h := holding{member: m, from: m.assigns[i].gen}
		for i < len(m.assigns) && m.assigns[i].has(p) {
			h.to = m.assigns[i].gen
			i++
		}
		for _, b := range m.batches {
			if b.partition == p && b.gen >= h.from && b.gen <= h.to {
				h.recs = append(h.recs, b.recs...)
			}
		}
		out = append(out, h)
	}
	return out
}

// position is the next offset the member has to read of partition p: its
// current holding's last offset + 1, or -1 if it read nothing in it (or
// does not hold p).
func (m *groupMember) position(p int32) int64 {
	hs := m.holdings(p)
	if len(hs) == 0 || len(m.assigns) == 0 || hs[len(hs)-1].to != m.assigns[len(m.assigns)-1].gen {
		return -1
	}
	recs := hs[len(hs)-1].recs
	if len(recs) == 0 {
		return -1
	}
	return recs[len(recs)-1].offset + 1
}

// commit commits offsets as the member of generation gen.
func (m *groupMember) commit(ctx context.Context, group, topic, id string, gen int32, offs map[int32]int64, early bool) {
	req := &streamhousev1.CommitOffsetsRequest{Group: group, MemberId: id, Generation: gen}
	parts := make([]int32, 0, len(offs))
	for p := range offs {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		req.Offsets = append(req.Offsets, &streamhousev1.PartitionOffset{Topic: topic, Partition: p, Offset: offs[p], Metadata: m.name})
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := m.client.CommitOffsets(cctx, req)
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err != nil && early && status.Code(err) == codes.Aborted:
		m.commitsEarlyRefused++
		m.earlyRefusal = status.Convert(err).Message()
		return
	case err != nil:
		if ctx.Err() == nil {
			m.commitErrs[status.Code(err).String()+": "+status.Convert(err).Message()]++
		}
		return
	}
	m.commits++
}

// groupResult is what a consumer group of two members read of one topic.
type groupResult struct {
	members []*groupMember
	stable  assignment // the generation the check is made in (parts unused)
	// read is, per partition, the union of what the group read,
	// de-duplicated across the rebalance only: what earlier holders read
	// below the offset the owner (in the stable generation) began at, then
	// what the owner read, in the order it arrived.
	read map[int32][]readRecord
	// startedAt is, per partition, "p:s": the offset s the owner began at.
	startedAt []string
	// redelivered counts records read by an earlier holder of a partition
	// after its last commit, and so read again by the owner: at-least-once
	// across the rebalance.
	redelivered int
	// mismatched lists offsets read with two values.
	mismatched []string
	committed  map[int32]int64 // FetchOffsets after the members left
	problems   []string
	stableIn   time.Duration // from the first Subscribe to a stable assignment
	took       time.Duration // from the first Subscribe to every partition read
}

func (g *groupResult) problem(format string, args ...any) {
	if len(g.problems) < 20 {
		g.problems = append(g.problems, fmt.Sprintf(format, args...))
	}
}

// consumeGroup runs a consumer group of two Subscribe members of topic,
// each on its own gRPC connection, until together they have read every
// partition up to hws (the high watermarks after production ended).
//
// Each member commits after every batch (CommitOffsets with its member id
// and the batch's generation). The first member to join holds every
// partition until the second joins and the group rebalances: a commit
// meeting the rebalance is refused (ABORTED, expected), and the new holder
// of a partition begins at its committed offset, so records read after the
// last commit are read again (at-least-once across the rebalance). Once
// the group is stable (both members hold an assignment of one generation,
// disjoint, covering every partition) no rebalance is expected, and every
// commit must succeed. The check: each holding of a partition reads in
// offset order without a gap or a repeat; the union of what was read,
// de-duplicated across the rebalance only, is the log (groupResult.read).
func consumeGroup(ctx context.Context, addr, topic, group string, hws map[int32]int64) *groupResult {
	res := &groupResult{read: map[int32][]readRecord{}, committed: map[int32]int64{}}
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	var stableGen atomic.Int32 // 0 until stable
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 2 {
		m := &groupMember{name: fmt.Sprintf("%s-m%d", group, i+1), commitErrs: map[string]int{}}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			res.problem("%s: connect: %v", m.name, err)
			return res
		}
		defer conn.Close()
		m.conn, m.client = conn, streamhousev1.NewConsumerServiceClient(conn)
		res.members = append(res.members, m)
	}
	sctx, stop := context.WithCancel(ctx)
	// The second member joins once the first has committed a little, so
	// that the partitions moving to it begin at a committed offset.
	first := res.members[0]
	wg.Go(func() { first.run(sctx, topic, group, &stableGen) })
	waitForSoft(5*time.Second, func() bool {
		first.mu.Lock()
		defer first.mu.Unlock()
		return first.commits >= 2 || first.err != nil
	})
	wg.Go(func() { res.members[1].run(sctx, topic, group, &stableGen) })

	// Wait for a stable assignment.
	parts := make([]int32, 0, len(hws))
	for p := range hws {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last string
	for stableGen.Load() == 0 {
		var as []assignment
		var s []string
		for _, m := range res.members {
			a, id, ok := m.latest()
			if ok {
				as = append(as, a)
				s = append(s, fmt.Sprintf("%s gen %d %v", id, a.gen, a.parts))
			}
		}
		last = strings.Join(s, "; ")
		if len(as) == 2 && as[0].gen == as[1].gen {
			all := slices.Sorted(slices.Values(append(slices.Clone(as[0].parts), as[1].parts...)))
			if slices.Equal(all, parts) {
				res.stable = assignment{gen: as[0].gen}
				res.stableIn = time.Since(start)
				stableGen.Store(as[0].gen)
				break
			}
		}
		select {
		case <-ctx.Done():
			res.problem("%s: no stable assignment within the deadline (last: %s)", group, last)
			stop()
			wg.Wait()
			res.collectErrs()
			return res
		case <-tick.C:
		}
	}

	// Read until every partition's owner reached its high watermark.
	owner := func(p int32) *groupMember {
		for _, m := range res.members {
			if a, _, _ := m.latest(); a.gen == res.stable.gen && a.has(p) {
				return m
			}
		}
		return nil
	}
	committed := func() map[int32]int64 {
		fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
		defer fcancel()
		offs, err := res.members[0].client.FetchOffsets(fctx, &streamhousev1.FetchOffsetsRequest{Group: group, Topic: topic})
		out := map[int32]int64{}
		if err != nil {
			return out
		}
		for _, o := range offs.GetOffsets() {
			out[o.GetPartition()] = o.GetOffset()
		}
		return out
	}
	done := func() (bool, string) {
		var behind []string
		var co map[int32]int64
		for _, p := range parts {
			m := owner(p)
			if m == nil {
				return false, fmt.Sprintf("partition %d has no owner in generation %d", p, res.stable.gen)
			}
			m.mu.Lock()
			pos := m.position(p)
			m.mu.Unlock()
			if pos < 0 { // nothing read yet: done if the group committed the end
				if co == nil {
					co = committed()
				}
				pos = co[p]
			}
			if pos < hws[p] {
				behind = append(behind, fmt.Sprintf("%d at %d/%d", p, pos, hws[p]))
			}
		}
		return len(behind) == 0, strings.Join(behind, ", ")
	}
	for {
		ok, report := done()
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			res.problem("%s: not read to the high watermarks within the deadline (behind: %s)", group, report)
			stop()
			wg.Wait()
			res.collectErrs()
			return res
		case <-tick.C:
		}
	}
	res.took = time.Since(start)
	// A last commit of each member's partitions: one it read to the end
	// before the group was stable has no batch of the stable generation
	// to commit after.
	for _, m := range res.members {
		a, id, _ := m.latest()
		offs := map[int32]int64{}
		m.mu.Lock()
		for _, p := range a.parts {
			if pos := m.position(p); pos >= 0 {
				offs[p] = pos
			}
		}
		m.mu.Unlock()
		if len(offs) > 0 {
			m.commit(ctx, group, topic, id, a.gen, offs, false)
		}
	}
	stop() // the members leave the group
	wg.Wait()
	res.collectErrs()
	for _, m := range res.members {
		m.mu.Lock()
		for _, a := range m.assigns {
			if a.gen > res.stable.gen {
				res.problem("%s: a rebalance after the stable generation %d: assignment of generation %d %v", m.name, res.stable.gen, a.gen, a.parts)
			}
		}
		m.mu.Unlock()
	}

	// Per partition: each holding read in offset order without a gap or a
	// repeat; the owner's (last) holding from its first offset s to the
	// high watermark; the earlier holdings together every offset below s.
	// Records they read at s or above were read again by the owner:
	// re-delivered after the last commit, across the rebalance.
	for _, p := range parts {
		m := owner(p)
		if m == nil {
			res.problem("partition %d: no owner in the stable generation", p)
			continue
		}
		var hs []holding
		for _, o := range res.members {
			o.mu.Lock()
			hs = append(hs, o.holdings(p)...)
			o.mu.Unlock()
		}
		var last holding
		earlier := map[int64]string{}
		for _, h := range hs {
			for i, r := range h.recs {
				if i > 0 && r.offset != h.recs[i-1].offset+1 {
					res.problem("%s/%d: %s (generations %d-%d) read offset %d after %d", topic, p, h.member.name, h.from, h.to, r.offset, h.recs[i-1].offset)
				}
			}
			if h.member == m && h.to == res.stable.gen {
				last = h
				continue
			}
			if h.to >= res.stable.gen {
				res.problem("%s/%d: %s read it in generation %d though %s owns it", topic, p, h.member.name, h.to, m.name)
			}
			for _, r := range h.recs {
				if v, ok := earlier[r.offset]; ok && v != r.value && len(res.mismatched) < 10 {
					res.mismatched = append(res.mismatched, fmt.Sprintf("%s/%d@%d: read as %q and as %q", topic, p, r.offset, v, r.value))
				}
				earlier[r.offset] = r.value
			}
		}
		s := hws[p]
		if len(last.recs) > 0 {
			s = last.recs[0].offset
		}
		res.startedAt = append(res.startedAt, fmt.Sprintf("%d:%d", p, s))
		var recs []readRecord
		for off := int64(0); off < s; off++ {
			v, ok := earlier[off]
			if !ok {
				res.problem("%s/%d: the owner %s began at %d, but offset %d was read by no earlier holder (lost across the rebalance)", topic, p, m.name, s, off)
				break
			}
			recs = append(recs, readRecord{off, v})
		}
		for off, v := range earlier {
			if off >= s {
				res.redelivered++
				if i := off - s; i < int64(len(last.recs)) && last.recs[i].value != v && len(res.mismatched) < 10 {
					res.mismatched = append(res.mismatched, fmt.Sprintf("%s/%d@%d: read as %q before the rebalance, %q by the owner", topic, p, off, v, last.recs[i].value))
				}
			}
		}
		res.read[p] = append(recs, last.recs...)
	}

	// The committed offsets: every partition at its high watermark.
	res.committed = committed()
	for _, p := range parts {
		if got, ok := res.committed[p]; !ok || got < hws[p] {
			res.problem("%s/%d: committed offset %d (found %v), want the high watermark %d", topic, p, got, ok, hws[p])
		}
	}
	return res
}

func (g *groupResult) collectErrs() {
	for _, m := range g.members {
		m.mu.Lock()
		if m.err != nil {
			g.problem("%s: stream: %v", m.name, m.err)
		}
		for e, n := range m.commitErrs {
			g.problem("%s: %d commits refused: %s", m.name, n, e)
		}
		m.mu.Unlock()
	}
}

// run is the member's stream: it records the assignments and batches and,
// once the group is stable, commits after each batch.
func (m *groupMember) run(ctx context.Context, topic, group string, stableGen *atomic.Int32) {
	stream, err := m.client.Subscribe(ctx, &streamhousev1.SubscribeRequest{
		Group: group, Topics: []string{topic}, ClientId: m.name, SessionTimeoutMs: groupSessionMs, MaxWaitMs: 500,
		MaxBytes: groupFetchBytes,
	})
	if err != nil {
		m.fail(ctx, err)
		return
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			m.fail(ctx, err)
			return
		}
		switch e := ev.GetEvent().(type) {
		case *streamhousev1.SubscribeResponse_Assignment:
			a := assignment{gen: e.Assignment.GetGeneration(), at: time.Now()}
			for _, tp := range e.Assignment.GetPartitions() {
				if tp.GetTopic() != topic {
					m.fail(ctx, fmt.Errorf("assigned a partition of topic %q", tp.GetTopic()))
					return
				}
				a.parts = append(a.parts, tp.GetPartitions()...)
			}
			slices.Sort(a.parts)
			m.mu.Lock()
			m.id = e.Assignment.GetMemberId()
			m.assigns = append(m.assigns, a)
			m.mu.Unlock()
		case *streamhousev1.SubscribeResponse_Records:
			b := e.Records
			mb := memberBatch{gen: b.GetGeneration(), partition: b.GetPartition(), recs: make([]readRecord, len(b.GetRecords()))}
			for i, r := range b.GetRecords() {
				mb.recs[i] = readRecord{r.GetOffset(), string(r.GetValue())}
			}
			m.mu.Lock()
			m.batches = append(m.batches, mb)
			m.records += len(mb.recs)
			id := m.id
			m.mu.Unlock()
			if len(mb.recs) > 0 && b.GetTopic() == topic {
				// Before the group is stable a commit may meet a rebalance
				// (ABORTED): expected, and counted apart.
				m.commit(ctx, group, topic, id, mb.gen, map[int32]int64{mb.partition: mb.recs[len(mb.recs)-1].offset + 1}, mb.gen < stableGen.Load() || stableGen.Load() == 0)
			}
		}
	}
}

func (m *groupMember) fail(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, io.EOF) && ctx.Err() != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// describe is a member's line of the consumer table.
func (m *groupMember) describe() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var gens []string
	for _, a := range m.assigns {
		gens = append(gens, fmt.Sprintf("g%d%v", a.gen, a.parts))
	}
	return fmt.Sprintf("%-20s assignments %-26s records %-6d batches %-4d commits %d (refused while rebalancing %d %q)", m.name, strings.Join(gens, " "), m.records, len(m.batches), m.commits, m.commitsEarlyRefused, m.earlyRefusal)
}

// sameRecords compares a consumer's reads of each partition with the
// Fetch checker's, up to the high watermark the latter read to.
func sameRecords(topic string, got, want map[int32][]readRecord) []string {
	var out []string
	parts := make([]int32, 0, len(want))
	for p := range want {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		g, w := got[p], want[p]
		if len(g) < len(w) {
			out = append(out, fmt.Sprintf("%s/%d: the group read %d records, Fetch %d", topic, p, len(g), len(w)))
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				out = append(out, fmt.Sprintf("%s/%d: record %d: the group read %d %q, Fetch %d %q", topic, p, i, g[i].offset, g[i].value, w[i].offset, w[i].value))
				break
			}
		}
	}
	return out
}
