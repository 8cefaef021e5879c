package cells

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/wire"
)

// Defaults of NATSFetcherConfig.
const (
	DefaultFetchReplyMargin  = 5 * time.Second
	DefaultFetchRetryBackoff = 20 * time.Millisecond
	DefaultFetchMaxBackoff   = time.Second
)

// NATSFetcherConfig configures a NATSFetcher. Conn and Cell are required.
type NATSFetcherConfig struct {
	// Conn is the connection to the cell's NATS.
	Conn *nats.Conn
	// Cell is the cell's name (ValidateCellName).
	Cell string
	// ReplyMargin is added to a request's long-poll wait to make the time
	// allowed for the owner's answer. The default is 5 s.
	ReplyMargin time.Duration
	// RetryBackoff is the first pause before asking again when no agent
	// serves the partition (ownership is moving); it doubles up to
	// MaxBackoff. Defaults: 20 ms and 1 s.
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
}

// NATSFetcher carries fetch requests from the router to partition owners
// over NATS request/reply on sh.<cell>.fetch.<tenant>.<topic>.<partition>
// (FetchSubject). It is the router's fetch backend; safe for concurrent use.
type NATSFetcher struct {
	cfg NATSFetcherConfig
}

// NewNATSFetcher returns a NATSFetcher; it fails if Conn is missing or Cell
// is invalid.
func NewNATSFetcher(cfg NATSFetcherConfig) (*NATSFetcher, error) {
	if cfg.Conn == nil {
		return nil, errors.New("new nats fetcher: Conn is required")
	}
	if err := ValidateCellName(cfg.Cell); err != nil {
		return nil, fmt.Errorf("new nats fetcher: %w", err)
	}
	if cfg.ReplyMargin <= 0 {
		cfg.ReplyMargin = DefaultFetchReplyMargin
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultFetchRetryBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultFetchMaxBackoff
	}
	return &NATSFetcher{cfg: cfg}, nil
}

// Fetch sends req to the partition's owner and returns its answer, whose
// Code may be an error (OutOfRange, NotOwner, ...). Each attempt waits up
// to the request's MaxWaitMs plus ReplyMargin, and no longer than ctx
// allows. While no agent serves the partition (no responders) it asks
// again after a backoff until ctx ends, then returns a *wire.Error with
// NotOwner; an attempt that times out returns one with Unavailable, as
// do ctx's end and a closed connection. An answer that does not decode is
// an error wrapping wire.ErrMalformed. The answer's records alias memory of this call only.
func (f *NATSFetcher) Fetch(ctx context.Context, req *wire.FetchRequest) (*wire.FetchResponse, error) {
	id := partition.ID{Tenant: req.TenantID, Topic: req.TopicID, Partition: req.Partition}
	subject := FetchSubject(f.cfg.Cell, id)
	data, _ := req.AppendBinary(nil)
	timeout := time.Duration(max(req.MaxWaitMs, 0))*time.Millisecond + f.cfg.ReplyMargin
	backoff := f.cfg.RetryBackoff
	for {
		actx, cancel := context.WithTimeout(ctx, timeout)
		msg, err := f.cfg.Conn.RequestWithContext(actx, subject, data)
		cancel()
		switch {
		case err == nil:
			resp := new(wire.FetchResponse)
			if err := resp.Decode(msg.Data); err != nil {
				return nil, fmt.Errorf("fetch %s: answer: %w", id, err)
			}
			return resp, nil
		case errors.Is(err, nats.ErrNoResponders):
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, wire.Errorf(wire.NotOwner, "partition %s: no agent serves it (%v)", id, context.Cause(ctx))
			}
			backoff = min(2*backoff, f.cfg.MaxBackoff)
		case ctx.Err() != nil:
			return nil, wire.Errorf(wire.Unavailable, "partition %s: fetch abandoned: %v", id, context.Cause(ctx))
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			return nil, wire.Errorf(wire.Unavailable, "partition %s: the owner did not answer within %v", id, timeout)
		default: // the connection is closed or draining
			return nil, wire.Errorf(wire.Unavailable, "partition %s: %v", id, err)
		}
	}
}
