package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// adminCore is the administration API's logic, shared by the HTTP handlers
// (topics.go, admin.go, admin_groups.go) and the gRPC AdminService
// (grpc_admin.go): each edge authorizes the call (authz.go) and decodes its
// request, calls a method here with the principal's tenant (or, for the
// changes that are quota-checked and audited, the principal), and encodes
// the result or the error (through the one error table) its own way.
type adminCore struct {
	deps *Deps
	log  *slog.Logger
}

func (rt *Router) admin() adminCore { return adminCore{deps: &rt.deps, log: rt.log} }

// createTopic creates the topic req describes (the defaults and the refusal
// of an explicit 0 are createTopicRequest's) if the quotas admit it, then
// calls Deps.TopicCreated and audits.
func (a adminCore) createTopic(ctx context.Context, p auth.Principal, req createTopicRequest) (registry.Topic, error) {
	tenant := p.Tenant
	spec := registry.TopicSpec{
		Name: req.Name, Partitions: 1,
		Durability: registry.Durability(req.Durability), CleanupPolicy: registry.CleanupPolicy(req.CleanupPolicy),
	}
	if req.Partitions != nil {
		spec.Partitions = *req.Partitions
	}
	for _, f := range []struct {
		name string
		v    *int64
		dst  *int64
	}{{"retention_ms", req.RetentionMs, &spec.RetentionMs}, {"retention_bytes", req.RetentionBytes, &spec.RetentionBytes}} {
		if f.v == nil {
			continue
		}
		if *f.v == 0 {
			return registry.Topic{}, wire.Errorf(wire.Invalid, "%s 0: must be positive or -1 (unlimited); omit it for the default", f.name)
		}
		*f.dst = *f.v
	}
	if a.deps.Quotas != nil {
		if err := a.deps.Quotas.AdmitTopic(ctx, tenant, spec.Partitions); err != nil {
			return registry.Topic{}, err
		}
	}
	t, err := a.deps.Topics.CreateTopic(ctx, tenant, spec)
	if errors.Is(err, registry.ErrExists) {
		err = wire.Errorf(wire.Exists, "topic %q already exists", spec.Name)
	}
	if err != nil {
		return registry.Topic{}, err
	}
	a.forget(tenant, t.Name) // a miss is not cached, but a deleted namesake may be
	a.deps.accounting().record(ctx, p, auditTopicCreate, t.Name, fmt.Sprintf("partitions=%d", t.Partitions))
	if a.deps.TopicCreated != nil {
		a.deps.TopicCreated(t)
	}
	return t, nil
}

// listTopics returns the tenant's topics.
func (a adminCore) listTopics(ctx context.Context, tenant int64) ([]registry.Topic, error) {
	return a.deps.Topics.ListTopics(ctx, tenant)
}

// lookupTopic checks a topic name against the naming rule (so that "a/b" is
// invalid, naming the '/', not not found) and resolves it, through
// Deps.TopicCache when cached and one is set.
func (a adminCore) lookupTopic(ctx context.Context, tenant int64, name string, cached bool) (registry.Topic, error) {
	if err := registry.ValidateName(name); err != nil {
		var ve *registry.ValidationError
		if errors.As(err, &ve) { // say which name: "invalid topic name ..."
			named := *ve
			named.Field = "topic name"
			return registry.Topic{}, &named
		}
		return registry.Topic{}, err
	}
	cache := a.deps.TopicCache
	if !cached {
		cache = nil
	}
	t, err := topicVia(ctx, cache, a.deps.Topics, tenant, name)
	if errors.Is(err, registry.ErrNotFound) {
		err = topicNotFound(name)
	}
	return t, err
}

// forget drops a topic from Deps.TopicCache after it was created, grown or
// deleted here.
func (a adminCore) forget(tenant int64, name string) {
	if c := a.deps.TopicCache; c != nil {
		c.Invalidate(tenant, name)
	}
}

// partitionSizer is the part of registry.SegmentIndex that describeTopic
// uses when Deps.Topics has it (registry.Store does).
type partitionSizer interface {
	PartitionSizes(ctx context.Context, tenant, topic int64) (map[int32]registry.PartitionSize, error)
}

// describeTopic returns t with its partitions, their committed sizes (if
// Deps.Topics is a partitionSizer; the unflushed tail is not counted),
// their owners and live high watermarks (addOwners).
func (a adminCore) describeTopic(ctx context.Context, tenant int64, t registry.Topic) (topicJSON, error) {
	parts, err := a.deps.Topics.ListPartitions(ctx, tenant, t.ID)
	var sizes map[int32]registry.PartitionSize
	if sizer, ok := a.deps.Topics.(partitionSizer); ok && err == nil {
		sizes, err = sizer.PartitionSizes(ctx, tenant, t.ID)
	}
	if errors.Is(err, registry.ErrNotFound) { // deleted since the look-up
		err = topicNotFound(t.Name)
	}
	if err != nil {
		return topicJSON{}, err
	}
	out := topicOut(t)
	out.PartitionInfo = make([]partitionJSON, len(parts))
	for i, p := range parts {
		pj := partitionJSON{Partition: p.ID.Partition, Epoch: p.Epoch,
			HighWatermark: p.HighWatermark, LogStartOffset: p.LogStartOffset}
		if sizes != nil {
			size := sizes[p.ID.Partition] // a partition added between the two reads: zeros
			pj.SizeBytes, pj.Segments = &size.Bytes, &size.Segments
		}
		out.PartitionInfo[i] = pj
	}
	a.addOwners(ctx, tenant, t, out.PartitionInfo)
	return out, nil
}

// addOwners fills the partitions' owners from Deps.Cluster and, for owned
// partitions, their live high watermarks from Deps.Fetch. Both are best
// effort: a failure is logged and leaves the fields out, the registry's
// view still answers.
func (a adminCore) addOwners(ctx context.Context, tenant int64, t registry.Topic, parts []partitionJSON) {
	if a.deps.Cluster == nil {
		return
	}
	owners, err := a.deps.Cluster.Owners(ctx, tenant, t.ID)
	if err != nil {
		a.log.WarnContext(ctx, "describe topic: read partition owners", "topic", t.Name, "err", err)
		return
	}
	for i := range parts {
		parts[i].Owner = owners[parts[i].Partition]
	}
	if a.deps.Fetch == nil {
		return
	}
	hwCtx, cancel := context.WithTimeout(ctx, liveHWTimeout)
	defer cancel()
	sem := make(chan struct{}, liveHWConcurrency)
	var wg sync.WaitGroup
	for i := range parts {
		if parts[i].Owner == "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := &parts[i]
			resp, err := a.deps.Fetch.Fetch(hwCtx, &wire.FetchRequest{TenantID: tenant, TopicID: t.ID,
				Partition: p.Partition, Offset: p.HighWatermark, MaxBytes: 1})
			if err == nil && resp.Code == wire.OK {
				hw := resp.HighWatermark
				p.LiveHighWatermark = &hw
			}
		})
	}
	wg.Wait()
}

// addPartitions grows t to n partitions if the quotas admit it, then tells
// the agents (Deps.TopicChanged, else Deps.TopicCreated) so they take the
// new partitions at once, and audits.
func (a adminCore) addPartitions(ctx context.Context, p auth.Principal, t registry.Topic, n int32) (registry.Topic, error) {
	tenant := p.Tenant
	if a.deps.Quotas != nil && n > t.Partitions { // not growing: the registry's 400
		if err := a.deps.Quotas.AdmitPartitions(ctx, tenant, n); err != nil {
			return registry.Topic{}, err
		}
	}
	grown, err := a.deps.Topics.AddPartitions(ctx, tenant, t.ID, n)
	if errors.Is(err, registry.ErrNotFound) {
		err = topicNotFound(t.Name)
	}
	if err != nil {
		return registry.Topic{}, err
	}
	a.forget(tenant, t.Name)
	a.deps.accounting().record(ctx, p, auditTopicPartitions, t.Name, fmt.Sprintf("partitions=%d->%d", t.Partitions, grown.Partitions))
	switch {
	case a.deps.TopicChanged != nil:
		a.deps.TopicChanged(grown)
	case a.deps.TopicCreated != nil:
		a.deps.TopicCreated(grown)
	}
	return grown, nil
}

// deleteTopic removes t from the registry, then calls Deps.TopicDeleted
// (whose error is logged: the topic is gone either way). The name was
// looked up, then the id is deleted: a topic deleted and re-created in
// between is the new one, and is deleted.
func (a adminCore) deleteTopic(ctx context.Context, p auth.Principal, t registry.Topic) error {
	tenant := p.Tenant
	removed, err := a.deps.Topics.DeleteTopic(ctx, tenant, t.ID)
	if errors.Is(err, registry.ErrNotFound) {
		err = topicNotFound(t.Name)
	}
	if err != nil {
		return err
	}
	a.forget(tenant, t.Name)
	a.deps.accounting().record(ctx, p, auditTopicDelete, t.Name, fmt.Sprintf("id=%d", t.ID))
	if a.deps.TopicDeleted != nil {
		if err := a.deps.TopicDeleted(ctx, t, removed); err != nil {
			a.log.ErrorContext(ctx, "clean up after topic delete", "topic", t.Name, "topic_id", t.ID, "err", err)
		}
	}
	return nil
}

// listAgents returns the cell's agents, each with the partitions it owns of
// the tenant (topic names resolved in the registry; a partition of a topic
// deleted meanwhile is left out).
func (a adminCore) listAgents(ctx context.Context, tenant int64) ([]agentJSON, error) {
	if a.deps.Cluster == nil {
		return nil, wire.Errorf(wire.Unavailable, "this router does not see the cell's agents")
	}
	agents, err := a.deps.Cluster.Agents(ctx)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	out := make([]agentJSON, 0, len(agents))
	for _, ag := range agents {
		aj := agentJSON{ID: ag.ID, Live: ag.Live, Partitions: []agentPartJSON{}}
		for _, p := range ag.Partitions {
			if p.Tenant != tenant {
				continue
			}
			name, ok := names[p.Topic]
			if !ok {
				t, err := a.deps.Topics.TopicByID(ctx, tenant, p.Topic)
				if err != nil && !errors.Is(err, registry.ErrNotFound) {
					return nil, err
				}
				name = t.Name // "" when deleted
				names[p.Topic] = name
			}
			if name != "" {
				aj.Partitions = append(aj.Partitions, agentPartJSON{Topic: name, Partition: p.Partition})
			}
		}
		sort.Slice(aj.Partitions, func(i, j int) bool {
			a, b := aj.Partitions[i], aj.Partitions[j]
			return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
		})
		out = append(out, aj)
	}
	return out, nil
}

// errNoGroups answers group calls on a router without Deps.Offsets.
func errNoGroups() error { return wire.Errorf(wire.NotFound, "consumer groups are not served here") }

// checkGroup checks that groups are served and that name is a group id.
func (a adminCore) checkGroup(name string) error {
	if a.deps.Offsets == nil {
		return errNoGroups()
	}
	if name == "" || len(name) > maxGroupNameLen || !utf8.ValidString(name) {
		return wire.Errorf(wire.Invalid, "invalid group name: want 1 to %d bytes of UTF-8", maxGroupNameLen)
	}
	return nil
}

// listGroups returns the tenant's groups with committed offsets, never nil.
func (a adminCore) listGroups(ctx context.Context, tenant int64) ([]string, error) {
	if a.deps.Offsets == nil {
		return nil, errNoGroups()
	}
	groups, err := a.deps.Offsets.ListGroups(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if groups == nil {
		groups = []string{}
	}
	return groups, nil
}

// describeGroup returns the group's members (from its coordinator, if
// Deps.Groups is set and answers) and, for every partition of each topic
// the group has an offset on or a member is assigned, the committed offset
// and lag (high watermark − committed, or − log start without a commit).
// A group with neither offsets nor members is not found. name is checked
// (checkGroup).
func (a adminCore) describeGroup(ctx context.Context, tenant int64, name string) (groupJSON, error) {
	info := GroupInfo{State: "Unknown"}
	if a.deps.Groups != nil {
		dctx, cancel := context.WithTimeout(ctx, groupDescribeTimeout)
		var err error
		info, err = a.deps.Groups.DescribeGroup(dctx, tenant, name)
		cancel()
		if err != nil {
			a.log.WarnContext(ctx, "describe group: coordinator", "group", name, "err", err)
			info = GroupInfo{State: "Unknown"}
		}
	}
	committed, err := a.deps.Offsets.FetchOffsets(ctx, tenant, name)
	if err != nil {
		return groupJSON{}, err
	}
	if len(committed) == 0 && len(info.Members) == 0 {
		return groupJSON{}, wire.Errorf(wire.NotFound, "group %q not found", name)
	}
	type tp struct {
		topic int64
		part  int32
	}
	offsets := map[tp]int64{}
	owner := map[tp]string{}
	var topics []int64
	for _, o := range committed {
		offsets[tp{o.Topic, o.Partition}] = o.Offset
		topics = append(topics, o.Topic)
	}
	for _, m := range info.Members {
		for _, as := range m.Assignment {
			owner[tp{as.TopicID, as.Partition}] = m.MemberID
			topics = append(topics, as.TopicID)
		}
	}
	slices.Sort(topics)
	names := map[int64]string{}
	out := groupJSON{Group: name, State: info.State, Generation: info.Generation, Strategy: info.Strategy,
		Members: []groupMemberJSON{}, Offsets: []groupOffsetJSON{}}
	for _, id := range slices.Compact(topics) {
		t, err := a.deps.Topics.TopicByID(ctx, tenant, id)
		if errors.Is(err, registry.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return groupJSON{}, err
		}
		names[id] = t.Name
		parts, err := a.deps.Topics.ListPartitions(ctx, tenant, id)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return groupJSON{}, err
		}
		for _, p := range parts {
			k := tp{id, p.ID.Partition}
			o := groupOffsetJSON{Topic: t.Name, Partition: k.part, Committed: -1, HighWatermark: p.HighWatermark,
				LogStartOffset: p.LogStartOffset, Member: owner[k]}
			from := p.LogStartOffset
			if c, ok := offsets[k]; ok {
				o.Committed, from = c, c
			}
			o.Lag = max(0, p.HighWatermark-from)
			out.Offsets = append(out.Offsets, o)
		}
	}
	sort.SliceStable(out.Offsets, func(i, j int) bool {
		a, b := out.Offsets[i], out.Offsets[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	for _, m := range info.Members {
		mj := groupMemberJSON{ID: m.MemberID, ClientID: m.ClientID, SessionTimeoutMs: m.SessionTimeoutMs,
			Assignment: []agentPartJSON{}}
		for _, as := range m.Assignment {
			if n, ok := names[as.TopicID]; ok {
				mj.Assignment = append(mj.Assignment, agentPartJSON{Topic: n, Partition: as.Partition})
			}
		}
		out.Members = append(out.Members, mj)
	}
	return out, nil
}

// resetGroup moves the group's committed offsets of every partition of the
// topic (or of all its topics), each clamped into [log start, high
// watermark] as Kafka's tool does, in one registry transaction; refused
// (group_not_empty) while the group has members (checked by its
// coordinator, which keeps members out while it writes). name is checked
// (checkGroup).
func (a adminCore) resetGroup(ctx context.Context, p auth.Principal, name string, req resetGroupRequest) ([]resetOffsetJSON, error) {
	tenant := p.Tenant
	if err := checkReset(req); err != nil {
		return nil, err
	}
	if req.To == "timestamp" && a.deps.OffsetForTime == nil {
		return nil, wire.Errorf(wire.Unavailable, "reset to a timestamp is not available on this router")
	}
	var topics []registry.Topic
	if req.Topic != "" {
		if err := registry.ValidateName(req.Topic); err != nil {
			return nil, wire.Errorf(wire.Invalid, "topic: %s", trimSentinel(err, registry.ErrInvalid))
		}
		t, err := a.deps.Topics.Topic(ctx, tenant, req.Topic)
		if errors.Is(err, registry.ErrNotFound) {
			err = topicNotFound(req.Topic)
		}
		if err != nil {
			return nil, err
		}
		topics = append(topics, t)
	} else {
		committed, err := a.deps.Offsets.FetchOffsets(ctx, tenant, name)
		if err != nil {
			return nil, err
		}
		seen := map[int64]bool{}
		for _, o := range committed {
			if seen[o.Topic] {
				continue
			}
			seen[o.Topic] = true
			t, err := a.deps.Topics.TopicByID(ctx, tenant, o.Topic)
			if errors.Is(err, registry.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			topics = append(topics, t)
		}
		if len(topics) == 0 {
			return nil, wire.Errorf(wire.NotFound, "group %q has no offsets to reset; name a topic", name)
		}
	}
	var offs []registry.GroupOffset
	var shown []resetOffsetJSON
	names := make([]string, 0, len(topics))
	for _, t := range topics {
		names = append(names, t.Name)
		parts, err := a.deps.Topics.ListPartitions(ctx, tenant, t.ID)
		if errors.Is(err, registry.ErrNotFound) {
			err = topicNotFound(t.Name)
		}
		if err != nil {
			return nil, err
		}
		for _, part := range parts {
			off, err := a.resetTarget(ctx, req, part)
			if err != nil {
				return nil, err
			}
			offs = append(offs, registry.GroupOffset{Topic: t.ID, Partition: part.ID.Partition, Offset: off,
				Metadata: "reset to " + req.To})
			shown = append(shown, resetOffsetJSON{Topic: t.Name, Partition: part.ID.Partition, Offset: off})
		}
	}
	var err error
	if a.deps.Groups != nil {
		err = a.deps.Groups.SetGroupOffsets(ctx, tenant, name, offs)
	} else {
		err = a.deps.Offsets.CommitOffsets(ctx, tenant, name, offs)
	}
	if err != nil {
		return nil, groupNotEmpty(name, err)
	}
	a.deps.accounting().record(ctx, p, auditGroupReset, name, fmt.Sprintf("to=%s topics=%s", req.To, strings.Join(names, ",")))
	return shown, nil
}

// resetTarget is the offset a reset moves partition p to, clamped into
// [log start, high watermark].
func (a adminCore) resetTarget(ctx context.Context, req resetGroupRequest, p registry.Partition) (int64, error) {
	var off int64
	switch req.To {
	case "earliest":
		off = p.LogStartOffset
	case "latest":
		off = p.HighWatermark
	case "offset":
		off = *req.Offset
	case "timestamp":
		var err error
		if off, err = a.deps.OffsetForTime(ctx, p.ID, *req.TimestampMs); err != nil {
			return 0, fmt.Errorf("offset for time of %s: %w", p.ID, err)
		}
	}
	return min(max(off, p.LogStartOffset), p.HighWatermark), nil
}

// deleteGroup removes the group's committed offsets; group_not_empty while
// it has members. name is checked (checkGroup).
func (a adminCore) deleteGroup(ctx context.Context, p auth.Principal, name string) error {
	tenant := p.Tenant
	var err error
	if a.deps.Groups != nil {
		err = a.deps.Groups.DeleteGroup(ctx, tenant, name)
	} else {
		err = a.deps.Offsets.DeleteGroup(ctx, tenant, name)
	}
	var we *wire.Error
	if errors.Is(err, registry.ErrNotFound) || errors.As(err, &we) && we.Code == wire.NotFound {
		err = wire.Errorf(wire.NotFound, "group %q not found", name)
	}
	if err != nil {
		return groupNotEmpty(name, err)
	}
	a.deps.accounting().record(ctx, p, auditGroupDelete, name, "")
	return nil
}
