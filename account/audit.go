package account

import (
	"net/http"
	"strconv"
	"time"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// DefaultAuditPage is the page size of GET /api/v1/audit without limit.
const DefaultAuditPage = 100

type auditJSON struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
}

// GET /api/v1/audit?before=&limit=: newest first; next_before is the
// before of the next page, 0 when this one is the last.
func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	before, limit := int64(0), DefaultAuditPage
	if s := q.Get("before"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return invalid("invalid before %q: want an event id, 0 or more", s)
		}
		before = v
	}
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > registry.MaxAuditPage {
			return invalid("invalid limit %q: want 1 to %d", s, registry.MaxAuditPage)
		}
		limit = v
	}
	evs, err := h.cfg.Store.ListAudit(r.Context(), p.Tenant, before, limit)
	if err != nil {
		return err
	}
	out := make([]auditJSON, len(evs))
	for i, e := range evs {
		out[i] = auditJSON{e.ID, e.At, e.Actor, e.Action, e.Target, e.Detail}
	}
	next := int64(0)
	if len(evs) == limit && evs[len(evs)-1].ID > 1 {
		next = evs[len(evs)-1].ID
	}
	writeJSON(w, http.StatusOK, struct {
		Events     []auditJSON `json:"events"`
		NextBefore int64       `json:"next_before"`
	}{out, next})
	return nil
}
