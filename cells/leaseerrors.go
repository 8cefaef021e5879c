package cells

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrLeaseHeld says that another holder has the lease. Acquire returns
	// it as a *LeaseHeldError, which names the holder.
	ErrLeaseHeld = errors.New("lease held")

	// ErrLeaseLost says that a lease is no longer this holder's: its
	// revision moved (it expired and someone may have taken it), its key is
	// gone, or it was not renewed within its TTL. The holder must stop the
	// work the lease guarded at once.
	ErrLeaseLost = errors.New("lease lost")

	// ErrLeaseReleased says that the lease was released by its holder.
	ErrLeaseReleased = errors.New("lease released")

	// ErrLeaseWatchStopped says that a LeaseWatcher was stopped, or its
	// connection closed.
	ErrLeaseWatchStopped = errors.New("lease watch stopped")
)

// LeaseHeldError is the error Acquire returns when the lease is held. It
// matches ErrLeaseHeld with errors.Is.
type LeaseHeldError struct {
	Key LeaseKey
	// Holder is the agent id holding the lease; empty when the lease changed
	// hands faster than it could be read.
	Holder string
	// Revision is the holder's revision of the key, 0 when Holder is empty.
	Revision uint64
}

func (e *LeaseHeldError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("lease %s is held (contended: the holder changed while it was read)", e.Key)
	}
	return fmt.Sprintf("lease %s is held by agent %q", e.Key, e.Holder)
}

// Is makes errors.Is(err, ErrLeaseHeld) true.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

// isRevisionConflict reports whether err is JetStream refusing a write because
// the key's last revision was not the one expected: a Create on a live key, or
// an Update or Delete on a moved one. Replicated streams report code 10164
// instead of 10071, and a Create that found a delete marker returns the raw
// API error, so all forms are checked.
func isRevisionConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
