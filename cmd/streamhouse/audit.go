package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

// auditLog is router.Auditor over the registry's audit log. A failed write
// is logged, never failed back: the change it records is already made.
type auditLog struct {
	reg registry.Accounts
	log *slog.Logger
}

func (a auditLog) Audit(ctx context.Context, tenant int64, actor, action, target, detail string) {
	// The request's context may end with its answer; the write gets its own
	// short deadline so that a slow registry does not hold the request.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := a.reg.AppendAudit(ctx, registry.AuditEvent{Tenant: tenant, Actor: actor, Action: action, Target: target, Detail: detail})
	if err != nil {
		a.log.Error("audit log: write failed", "tenant", tenant, "actor", actor, "action", action, "target", target, "err", err)
	}
}
