package billing

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Customer is an organization as a payment provider sees it.
type Customer struct {
	Org   int64
	Name  string
	Email string // the billing contact, usually the owner
	Plan  string
}

// Exporter hands customers and usage to a payment provider, which charges
// them. Every method is idempotent: calling it again with the same
// arguments, after a timeout or a crash, has the effect of one call.
type Exporter interface {
	// UpsertCustomer creates the organization's customer, or updates its
	// name, email and plan, and returns the provider's customer id.
	UpsertCustomer(ctx context.Context, c Customer) (string, error)
	// PushUsage reports one closed hour of an organization's usage for the
	// customer. The provider keeps one report per (customer, hour, kind of
	// usage): push an hour once it has ended and its usage is complete in
	// the registry, since a second push of the same hour is ignored.
	PushUsage(ctx context.Context, customerID string, org int64, hour time.Time, u Usage) error
}

// PushClosedHours pushes, oldest first, the hours that ended at or before
// closedBy; pass now minus a grace period longer than a Meter's flush
// interval, so an hour is complete in the registry before it goes out. It
// returns how many hours were pushed and stops at the first error; every
// push is idempotent, so calling it again with the same hours resumes.
func PushClosedHours(ctx context.Context, e Exporter, customerID string, org int64, hours []HourUsage, closedBy time.Time) (int, error) {
	sorted := slices.Clone(hours)
	slices.SortFunc(sorted, func(a, b HourUsage) int { return a.Hour.Compare(b.Hour) })
	n := 0
	for _, h := range sorted {
		if h.Hour.Add(time.Hour).After(closedBy) {
			break
		}
		if h.Usage == (Usage{}) {
			continue
		}
		if err := e.PushUsage(ctx, customerID, org, h.Hour, h.Usage); err != nil {
			return n, fmt.Errorf("push closed hours of org %d: %w", org, err)
		}
		n++
	}
	return n, nil
}
