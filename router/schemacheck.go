package router

import (
	"context"

	"github.com/streamhouse/streamhouse/wire"
)

// SchemaValidator checks produced records against the schema registry's
// per-topic rules (schema.Validator: the wire format's schema id must be
// registered under <topic>-key or <topic>-value, and with strict
// validation the record must decode against it).
type SchemaValidator interface {
	// RecordCheck returns the check of one request's records to topic, or
	// nil when the topic has no rule. The check is used by one goroutine.
	RecordCheck(ctx context.Context, tenant int64, topic string) (func(key, value []byte) error, error)
}

// checkSchemas applies the topic's schema rules to every record of b before
// anything is sent: one record refused refuses the request whole (400,
// naming the record and the reason).
func (rt *Router) checkSchemas(ctx context.Context, tenant int64, topic string, b batch) error {
	if rt.cfg.Schemas == nil {
		return nil
	}
	check, err := rt.cfg.Schemas.RecordCheck(ctx, tenant, topic)
	if err != nil || check == nil {
		return err
	}
	for i := range b.recs {
		if err := check(b.recs[i].Key, b.recs[i].Value); err != nil {
			return wire.Errorf(wire.Invalid, "record %d: %v", i, err)
		}
	}
	return nil
}
