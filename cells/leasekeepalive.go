package cells

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// minRenewRetry is the shortest wait between renewal attempts after a
// transient error.
const minRenewRetry = 50 * time.Millisecond

// KeepAlive renews the lease every TTL/3 until ctx ends, the lease is
// released, or it is lost. It blocks: run it in a goroutine the caller owns
// (the partition actor's group) and cancel ctx to stop it.
//
// It returns nil when ctx ends (the lease is then left to expire after the
// TTL; Release hands it back at once) or when the lease is released. It
// returns an error wrapping ErrLeaseLost when a renewal finds the revision
// moved or the key gone, or when no renewal succeeded before ValidUntil
// (NATS unreachable): the holder must then stop its work at once; Lost is
// closed too. Transient renewal errors are retried, every TTL/15, until
// ValidUntil.
func (ls *Lease) KeepAlive(ctx context.Context) error {
	ttl := ls.leases.ttl
	interval := ttl / 3
	retry := max(ttl/15, minRenewRetry)

	// The first renewal is due one interval after the lease was last written.
	timer := time.NewTimer(time.Until(ls.ValidUntil().Add(interval - ttl)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ls.done:
			if err := ls.endErr(); err != nil {
				return fmt.Errorf("keep lease %s alive: %w", ls.key, err)
			}
			return nil
		case <-timer.C:
		}
		remaining := time.Until(ls.ValidUntil())
		if remaining <= 0 {
			return fmt.Errorf("keep lease %s alive: %w", ls.key,
				ls.markLost(fmt.Errorf("not renewed within its TTL of %s: %w", ttl, ErrLeaseLost)))
		}
		// Bound the attempt by the lease's validity, so that a hung request
		// cannot outlive the lease.
		actx, cancel := context.WithTimeout(ctx, remaining)
		err := ls.Renew(actx)
		cancel()
		switch {
		case err == nil:
			timer.Reset(interval)
		case errors.Is(err, ErrLeaseReleased):
			return nil
		case errors.Is(err, ErrLeaseLost):
			return fmt.Errorf("keep lease %s alive: %w", ls.key, ls.endErr())
		case ctx.Err() != nil:
			return nil
		default:
			ls.leases.log.Warn("lease renewal failed; retrying", "key", ls.k, "err", err, "valid_for", time.Until(ls.ValidUntil()))
			timer.Reset(min(retry, max(time.Until(ls.ValidUntil()), 0)))
		}
	}
}

// endErr is nil for a released lease and the reason for a lost one.
func (ls *Lease) endErr() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.mu.state == leaseLost {
		return ls.mu.lostErr
	}
	return nil
}
