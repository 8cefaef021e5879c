package cells

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/wire"
)

// Defaults of NATSProducerConfig.
const (
	DefaultProducerMinBackoff = 20 * time.Millisecond
	DefaultProducerMaxBackoff = 500 * time.Millisecond
	DefaultProducerTimeout    = 30 * time.Second
)

// NATSProducerConfig configures a NATSProducer.
type NATSProducerConfig struct {
	// Cell names the cell whose produce subjects the producer requests.
	// Required.
	Cell string
	// Conn is the NATS connection (required); the producer never closes it.
	Conn *nats.Conn
	// MinBackoff and MaxBackoff bound the pause between retries while a
	// partition has no owner: it starts at MinBackoff and doubles up to
	// MaxBackoff, with jitter. Defaults: 20 ms and 500 ms.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds a Produce whose ctx has no deadline. The default is
	// 30 s.
	Timeout time.Duration
	// AttemptTimeout, if set, bounds each attempt of an idempotent
	// producer's request (ProducerID >= 0), which is then retried after a
	// timeout: the partition deduplicates a batch written twice. Plain
	// requests are never retried after a timeout. Zero (the default) lets
	// one attempt take all of ctx's time.
	AttemptTimeout time.Duration
}

// EnsureDefaults fills in the zero fields that have a default.
func (c *NATSProducerConfig) EnsureDefaults() {
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultProducerMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultProducerMaxBackoff
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultProducerTimeout
	}
}

// NATSProducer carries produce requests to partition owners over NATS
// request/reply on sh.<cell>.produce.<tenant>.<topic>.<partition>; it
// implements the router's Producer. It is safe for concurrent use.
type NATSProducer struct {
	cfg NATSProducerConfig
}

// NewNATSProducer returns a producer configured by cfg.
func NewNATSProducer(cfg NATSProducerConfig) (*NATSProducer, error) {
	cfg.EnsureDefaults()
	if err := ValidateCellName(cfg.Cell); err != nil {
		return nil, fmt.Errorf("new nats producer: %w", err)
	}
	switch {
	case cfg.Conn == nil:
		return nil, errors.New("new nats producer: Conn is required")
	case cfg.MinBackoff < 0 || cfg.MaxBackoff < cfg.MinBackoff || cfg.Timeout < 0 || cfg.AttemptTimeout < 0:
		return nil, errors.New("new nats producer: negative or inverted durations")
	}
	return &NATSProducer{cfg: cfg}, nil
}

// Produce sends req to its partition's owner and returns the owner's answer,
// a response whose Code may say the request failed (busy, sequence_gap, ...).
// It encodes req before sending, so req's memory is the caller's again when
// Produce returns.
//
// While the partition has no owner (no responder: between leases) or its
// agent answers not_owner (it is handing the partition over, or was deposed),
// nothing was written: agents take produce requests in one queue group, so
// the agent that answered was the only one to get the request. Produce
// retries with a bounded backoff until ctx's deadline;
// then it returns a *wire.Error with code Unavailable (503). A request that
// reached an owner but got no answer in time has an unknown outcome: it may
// have been written, so it is not retried, since a blind retry could write
// the records twice; Produce returns a *wire.Error with code Unavailable. An
// idempotent producer's request (ProducerID >= 0) is the exception when
// AttemptTimeout is set: the partition recognises a batch it already wrote
// and answers with the first write's offsets, so a retry cannot duplicate.
func (p *NATSProducer) Produce(ctx context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
	}
	data, _ := req.AppendBinary(nil) // never fails
	id := partition.ID{Tenant: req.TenantID, Topic: req.TopicID, Partition: req.Partition}
	subject := ProduceSubject(p.cfg.Cell, id)
	retryTimeouts := req.ProducerID >= 0 && p.cfg.AttemptTimeout > 0 // deduplicated: see above

	backoff := p.cfg.MinBackoff
	var last error // why the last attempt did not get an answer
	for {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if retryTimeouts {
			actx, cancel = context.WithTimeout(ctx, p.cfg.AttemptTimeout)
		}
		msg, err := p.cfg.Conn.RequestWithContext(actx, subject, data)
		cancel()
		switch {
		case err == nil:
			resp := new(wire.ProduceResponse)
			if err := resp.Decode(msg.Data); err != nil {
				return nil, fmt.Errorf("produce to %s: answer: %w", id, err)
			}
			if resp.Code != wire.NotOwner {
				return resp, nil
			}
			last = resp.Err()
		case errors.Is(err, nats.ErrNoResponders):
			last = fmt.Errorf("no owner: %w", err)
		case retryTimeouts && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)):
			last = err // safe to retry: the partition deduplicates
		case ctx.Err() != nil || errors.Is(err, nats.ErrTimeout):
			if last != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				err = errors.Join(err, last)
			}
			return nil, wire.Errorf(wire.Unavailable, "partition %s: no answer in time, the records may or may not be written: %v", id, err)
		default: // connection closed, or the like: nothing was sent or the outcome is unknown
			return nil, wire.Errorf(wire.Unavailable, "partition %s: %v", id, err)
		}
		// Nothing was written: wait and try again, within ctx.
		pause := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, p.cfg.MaxBackoff)
		if dl, _ := ctx.Deadline(); time.Until(dl) < pause {
			return nil, wire.Errorf(wire.Unavailable, "partition %s has no owner: %v", id, last)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, wire.Errorf(wire.Unavailable, "partition %s has no owner: %v", id, last)
		case <-t.C:
		}
	}
}
