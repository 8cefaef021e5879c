package router

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
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

// groupParam authorizes the request for act and returns the {group} path
// parameter.
func (rt *Router) groupParam(r *http.Request, act auth.Action) (auth.Principal, string, error) {
	p, err := rt.authorize(r, act)
	if err != nil {
		return auth.Principal{}, "", err
	}
	if rt.deps.Offsets == nil {
		return auth.Principal{}, "", errNoGroups()
	}
	name := chi.URLParam(r, "group")
	if r.URL.RawPath != "" {
		if name, err = url.PathUnescape(name); err != nil {
			return auth.Principal{}, "", wire.Errorf(wire.Invalid, "group name in path: %v", err)
		}
	}
	if err := rt.admin().checkGroup(name); err != nil {
		return auth.Principal{}, "", err
	}
	return p, name, nil
}

func (rt *Router) listGroups(w http.ResponseWriter, r *http.Request) {
	p, err := rt.authorize(r, auth.ActRead)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	groups, err := rt.admin().listGroups(r.Context(), p.Tenant)
	if err != nil {
		rt.writeError(w, r, err)
		return
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
	p, name, err := rt.groupParam(r, auth.ActRead)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	out, err := rt.admin().describeGroup(r.Context(), p.Tenant, name)
	if err != nil {
		rt.writeError(w, r, err)
		return
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
	p, name, err := rt.groupParam(r, auth.ActManageGroups)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	var req resetGroupRequest
	if err := decodeJSONBody(w, r, maxAdminBody, &req); err != nil {
		rt.writeError(w, r, err)
		return
	}
	shown, err := rt.admin().resetGroup(r.Context(), p, name, req)
	if err != nil {
		rt.writeError(w, r, err)
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

// deleteGroup removes the group's committed offsets; 409 while it has
// members.
func (rt *Router) deleteGroup(w http.ResponseWriter, r *http.Request) {
	p, name, err := rt.groupParam(r, auth.ActManageGroups)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	if err := rt.admin().deleteGroup(r.Context(), p, name); err != nil {
		rt.writeError(w, r, err)
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
