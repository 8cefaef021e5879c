package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// Consumer group administration (HTTP), DESIGN.md "Consumer groups":
// committed offsets and lag come from the registry (Deps.Offsets); members,
// assignments and the guard that a group being reset or deleted has no
// members come from the group's coordinator (Deps.Groups), when there is
// one.

// GroupAdmin reaches consumer groups' coordinators (cells.NATSGroups).
type GroupAdmin interface {
	// DescribeGroup returns the group's membership as its coordinator sees
	// it (a group nobody coordinates has none).
	DescribeGroup(ctx context.Context, tenant int64, group string) (GroupInfo, error)
	// SetGroupOffsets writes offsets as the group's committed offsets, in
	// one registry transaction, unless the group has members: then nothing
	// is written and the error wraps ErrGroupNotEmpty.
	SetGroupOffsets(ctx context.Context, tenant int64, group string, offsets []registry.GroupOffset) error
	// DeleteGroup removes the group's committed offsets unless it has
	// members (ErrGroupNotEmpty); a group without offsets: registry.ErrNotFound
	// or a NotFound *wire.Error.
	DeleteGroup(ctx context.Context, tenant int64, group string) error
}

// ErrGroupNotEmpty is wrapped by GroupAdmin's errors when a group with
// members refused a reset or a delete; the API answers 409.
var ErrGroupNotEmpty = errors.New("group has active members")

// GroupInfo is a group's membership as its coordinator reports it.
type GroupInfo struct {
	State      string // "Empty", "Stable" or "Resetting"
	Generation int32
	Strategy   string
	Members    []wire.GroupMemberInfo
}

// groupDescribeTimeout bounds the wait for a group's coordinator in a
// describe; past it the group is described from the registry alone (state
// "Unknown", no members).
const groupDescribeTimeout = 3 * time.Second

// maxGroupNameLen is registry.MaxFreeNameLen: the longest group id.
const maxGroupNameLen = registry.MaxFreeNameLen

type groupMemberJSON struct {
	ID               string          `json:"id"`
	ClientID         string          `json:"client_id"`
	SessionTimeoutMs int64           `json:"session_timeout_ms"`
	Assignment       []agentPartJSON `json:"assignment"`
}

type groupOffsetJSON struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	Committed      int64  `json:"committed"` // -1: none
	HighWatermark  int64  `json:"high_watermark"`
	LogStartOffset int64  `json:"log_start_offset"`
	Lag            int64  `json:"lag"`
	Member         string `json:"member,omitempty"`
}

type groupJSON struct {
	Group      string            `json:"group"`
	State      string            `json:"state"`
	Generation int32             `json:"generation"`
	Strategy   string            `json:"strategy,omitempty"`
	Members    []groupMemberJSON `json:"members"`
	Offsets    []groupOffsetJSON `json:"offsets"`
}

// groupParam resolves the tenant and the {group} path parameter.
func (rt *Router) groupParam(r *http.Request) (int64, string, error) {
	tenant, err := rt.cfg.Tenant(r)
	if err != nil {
		return 0, "", err
	}
	if rt.deps.Offsets == nil {
		return 0, "", wire.Errorf(wire.NotFound, "consumer groups are not served here")
	}
	name := chi.URLParam(r, "group")
	if r.URL.RawPath != "" {
		if name, err = url.PathUnescape(name); err != nil {
			return 0, "", wire.Errorf(wire.Invalid, "group name in path: %v", err)
		}
	}
	if name == "" || len(name) > maxGroupNameLen || !utf8.ValidString(name) {
		return 0, "", wire.Errorf(wire.Invalid, "invalid group name: want 1 to %d bytes of UTF-8", maxGroupNameLen)
	}
	return tenant, name, nil
}

func (rt *Router) listGroups(w http.ResponseWriter, r *http.Request) {
	tenant, err := rt.cfg.Tenant(r)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	if rt.deps.Offsets == nil {
		rt.writeError(w, r, wire.Errorf(wire.NotFound, "consumer groups are not served here"))
		return
	}
	groups, err := rt.deps.Offsets.ListGroups(r.Context(), tenant)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	if groups == nil {
		groups = []string{}
	}
	writeJSON(w, http.StatusOK, struct {
		Groups []string `json:"groups"`
	}{groups})
}

// describeGroup answers with the group's members (from its coordinator, if
// Deps.Groups is set and answers) and, for every partition of each topic
// the group has an offset on or a member is assigned, the committed offset
// and lag (high watermark − committed, or − log start without a commit).
// A group with neither offsets nor members is not found.
func (rt *Router) describeGroup(w http.ResponseWriter, r *http.Request) {
	tenant, name, err := rt.groupParam(r)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	info := GroupInfo{State: "Unknown"}
	if rt.deps.Groups != nil {
		ctx, cancel := context.WithTimeout(r.Context(), groupDescribeTimeout)
		info, err = rt.deps.Groups.DescribeGroup(ctx, tenant, name)
		cancel()
		if err != nil {
			rt.log.WarnContext(r.Context(), "describe group: coordinator", "group", name, "err", err)
			info = GroupInfo{State: "Unknown"}
		}
	}
	committed, err := rt.deps.Offsets.FetchOffsets(r.Context(), tenant, name)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	if len(committed) == 0 && len(info.Members) == 0 {
		rt.writeError(w, r, wire.Errorf(wire.NotFound, "group %q not found", name))
		return
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
		for _, a := range m.Assignment {
			owner[tp{a.TopicID, a.Partition}] = m.MemberID
			topics = append(topics, a.TopicID)
		}
	}
	slices.Sort(topics)
	names := map[int64]string{}
	out := groupJSON{Group: name, State: info.State, Generation: info.Generation, Strategy: info.Strategy,
		Members: []groupMemberJSON{}, Offsets: []groupOffsetJSON{}}
	for _, id := range slices.Compact(topics) {
		t, err := rt.deps.Topics.TopicByID(r.Context(), tenant, id)
		if errors.Is(err, registry.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			rt.writeError(w, r, err)
			return
		}
		names[id] = t.Name
		parts, err := rt.deps.Topics.ListPartitions(r.Context(), tenant, id)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			rt.writeError(w, r, err)
			return
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
		for _, a := range m.Assignment {
			if n, ok := names[a.TopicID]; ok {
				mj.Assignment = append(mj.Assignment, agentPartJSON{Topic: n, Partition: a.Partition})
			}
		}
		out.Members = append(out.Members, mj)
	}
	writeJSON(w, http.StatusOK, out)
}

// resetGroupRequest is the body of POST /api/v1/groups/{group}/reset.
// Topic empty resets every topic the group has offsets on.
type resetGroupRequest struct {
	Topic       string `json:"topic"`
	To          string `json:"to"` // earliest, latest, offset, timestamp
	Offset      *int64 `json:"offset"`
	TimestampMs *int64 `json:"timestamp_ms"`
}

type resetOffsetJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// resetGroup moves the group's committed offsets of every partition of the
// topic (or of all its topics), each clamped into [log start, high
// watermark] as Kafka's tool does, in one registry transaction; refused
// with 409 while the group has members (checked by its coordinator, which
// keeps members out while it writes).
func (rt *Router) resetGroup(w http.ResponseWriter, r *http.Request) {
	tenant, name, err := rt.groupParam(r)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	var req resetGroupRequest
	if err := decodeJSONBody(w, r, maxAdminBody, &req); err != nil {
		rt.writeError(w, r, err)
		return
	}
	if err := checkReset(req); err != nil {
		rt.writeError(w, r, err)
		return
	}
	if req.To == "timestamp" && rt.deps.OffsetForTime == nil {
		rt.writeError(w, r, wire.Errorf(wire.Unavailable, "reset to a timestamp is not available on this router"))
		return
	}
	var topics []registry.Topic
	if req.Topic != "" {
		if err := registry.ValidateName(req.Topic); err != nil {
			rt.writeError(w, r, wire.Errorf(wire.Invalid, "topic: %s", trimSentinel(err, registry.ErrInvalid)))
			return
		}
		t, err := rt.deps.Topics.Topic(r.Context(), tenant, req.Topic)
		if errors.Is(err, registry.ErrNotFound) {
			err = topicNotFound(req.Topic)
		}
		if err != nil {
			rt.writeError(w, r, err)
			return
		}
		topics = append(topics, t)
	} else {
		committed, err := rt.deps.Offsets.FetchOffsets(r.Context(), tenant, name)
		if err != nil {
			rt.writeError(w, r, err)
			return
		}
		seen := map[int64]bool{}
		for _, o := range committed {
			if seen[o.Topic] {
				continue
			}
			seen[o.Topic] = true
			t, err := rt.deps.Topics.TopicByID(r.Context(), tenant, o.Topic)
			if errors.Is(err, registry.ErrNotFound) {
				continue
			}
			if err != nil {
				rt.writeError(w, r, err)
				return
			}
			topics = append(topics, t)
		}
		if len(topics) == 0 {
			rt.writeError(w, r, wire.Errorf(wire.NotFound, "group %q has no offsets to reset; name a topic", name))
			return
		}
	}
	var offs []registry.GroupOffset
	var shown []resetOffsetJSON
	for _, t := range topics {
		parts, err := rt.deps.Topics.ListPartitions(r.Context(), tenant, t.ID)
		if errors.Is(err, registry.ErrNotFound) {
			err = topicNotFound(t.Name)
		}
		if err != nil {
			rt.writeError(w, r, err)
			return
		}
		for _, p := range parts {
			off, err := rt.resetTarget(r.Context(), req, p)
			if err != nil {
				rt.writeError(w, r, err)
				return
			}
			offs = append(offs, registry.GroupOffset{Topic: t.ID, Partition: p.ID.Partition, Offset: off,
				Metadata: "reset to " + req.To})
			shown = append(shown, resetOffsetJSON{Topic: t.Name, Partition: p.ID.Partition, Offset: off})
		}
	}
	if rt.deps.Groups != nil {
		err = rt.deps.Groups.SetGroupOffsets(r.Context(), tenant, name, offs)
	} else {
		err = rt.deps.Offsets.CommitOffsets(r.Context(), tenant, name, offs)
	}
	if err != nil {
		rt.writeError(w, r, groupNotEmpty(name, err))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Offsets []resetOffsetJSON `json:"offsets"`
	}{shown})
}

func checkReset(req resetGroupRequest) error {
	switch req.To {
	case "earliest", "latest":
	case "offset":
		if req.Offset == nil || *req.Offset < 0 {
			return wire.Errorf(wire.Invalid, `reset to "offset" needs "offset" >= 0`)
		}
	case "timestamp":
		if req.TimestampMs == nil {
			return wire.Errorf(wire.Invalid, `reset to "timestamp" needs "timestamp_ms"`)
		}
	default:
		return wire.Errorf(wire.Invalid, `"to" is %q, want "earliest", "latest", "offset" or "timestamp"`, req.To)
	}
	return nil
}

// resetTarget is the offset a reset moves partition p to, clamped into
// [log start, high watermark].
func (rt *Router) resetTarget(ctx context.Context, req resetGroupRequest, p registry.Partition) (int64, error) {
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
		if off, err = rt.deps.OffsetForTime(ctx, p.ID, *req.TimestampMs); err != nil {
			return 0, fmt.Errorf("offset for time of %s: %w", p.ID, err)
		}
	}
	return min(max(off, p.LogStartOffset), p.HighWatermark), nil
}

// deleteGroup removes the group's committed offsets; 409 while it has
// members.
func (rt *Router) deleteGroup(w http.ResponseWriter, r *http.Request) {
	tenant, name, err := rt.groupParam(r)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	if rt.deps.Groups != nil {
		err = rt.deps.Groups.DeleteGroup(r.Context(), tenant, name)
	} else {
		err = rt.deps.Offsets.DeleteGroup(r.Context(), tenant, name)
	}
	var we *wire.Error
	if errors.Is(err, registry.ErrNotFound) || errors.As(err, &we) && we.Code == wire.NotFound {
		err = wire.Errorf(wire.NotFound, "group %q not found", name)
	}
	if err != nil {
		rt.writeError(w, r, groupNotEmpty(name, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// groupNotEmpty turns ErrGroupNotEmpty into a 409 group_not_empty: the call
// succeeds once the members have left.
func groupNotEmpty(name string, err error) error {
	if errors.Is(err, ErrGroupNotEmpty) {
		return wire.Errorf(wire.GroupNotEmpty, "group %q has active members; stop its consumers first (%v)", name, err)
	}
	return err
}
