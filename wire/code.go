package wire

import (
	"fmt"
	"strconv"
)

// Code is an error code shared by the agents and every edge of the router
// (HTTP, WebSocket, gRPC). Agents put it in replies (ProduceResponse.Code);
// the router maps it to each protocol's status in one table
// (router/errors.go).
//
// The numbers travel on the wire and the names appear in public APIs (the
// "code" of an HTTP error body): both are append-only. ONLY ADD TO THE END;
// never renumber, rename or reuse a code. A peer that receives a number it
// does not know treats it as Internal.
type Code uint16

const (
	// OK: no error.
	OK Code = iota
	// Invalid: the request breaks a rule; the message names the rule.
	Invalid
	// NotFound: the tenant, topic or partition does not exist.
	NotFound
	// Exists: a topic (or other named thing) of that name already exists.
	Exists
	// TooLarge: a record or request is over a limit; the message names it.
	TooLarge
	// Busy: back-pressure. The partition's inbox (or a quota) is full and the
	// request was refused without being written; retry after a pause.
	Busy
	// NotOwner: the agent that got the request does not own the partition
	// (any more). Nothing was written; retry once ownership has settled.
	NotOwner
	// Fenced: the partition owner's epoch was stale; it has stopped and wrote
	// nothing of this request. Retry: the new owner will take it.
	Fenced
	// SequenceGap: an idempotent producer's sequence skips ahead of the one
	// the partition expects (records were lost between producer and agent).
	SequenceGap
	// Unavailable: no owner answered in time, or a service the request needs
	// is down. The request may or may not have been written.
	Unavailable
	// Internal: a bug or an unexpected failure; the message is for operators.
	Internal
	// Unauthenticated: the request carries no valid credentials.
	Unauthenticated
	// Forbidden: the credentials do not allow the request.
	Forbidden
	// ProducerFenced: an idempotent producer's epoch is older than one the
	// partition has seen: a newer instance of the producer has taken over.
	// Fatal for the producer (Kafka's ProducerFencedException); nothing was
	// written. Not to be confused with Fenced (the partition's owner).
	ProducerFenced
	// OutOfRange: a fetch asked for an offset below the partition's log
	// start offset (retention removed it) or past its high watermark; the
	// consumer must reset its position (Kafka's OFFSET_OUT_OF_RANGE).
	OutOfRange
	// RebalanceInProgress: the consumer group moved to a newer generation;
	// the member must fetch its new assignment (rejoin) before consuming or
	// committing again (Kafka's REBALANCE_IN_PROGRESS).
	RebalanceInProgress
	// IllegalGeneration: a group request carried a generation other than
	// the group's (a commit from a member that has not caught up with a
	// rebalance); nothing was written (Kafka's ILLEGAL_GENERATION).
	IllegalGeneration
	// UnknownMember: the member is not (or no longer) in the group: it left,
	// its session expired, or the group's coordinator moved. The member
	// drops its partitions and joins again without a member id (Kafka's
	// UNKNOWN_MEMBER_ID).
	UnknownMember
	// GroupNotEmpty: an admin change of a consumer group (offset reset,
	// delete) was refused because the group has active members; stop its
	// consumers first (Kafka's NON_EMPTY_GROUP).
	GroupNotEmpty

	numCodes // keep last
)

// codeNames is the one table of names, indexed by code.
var codeNames = [numCodes]string{
	OK:              "ok",
	Invalid:         "invalid",
	NotFound:        "not_found",
	Exists:          "exists",
	TooLarge:        "too_large",
	Busy:            "busy",
	NotOwner:        "not_owner",
	Fenced:          "fenced",
	SequenceGap:     "sequence_gap",
	Unavailable:     "unavailable",
	Internal:        "internal",
	Unauthenticated: "unauthenticated",
	Forbidden:       "forbidden",
	ProducerFenced:  "producer_fenced",
	OutOfRange:      "out_of_range",

	RebalanceInProgress: "rebalance_in_progress",
	IllegalGeneration:   "illegal_generation",
	UnknownMember:       "unknown_member",
	GroupNotEmpty:       "group_not_empty",
}

// String returns the code's API name, e.g. "not_found"; a code this build
// does not know reads "code_<n>".
func (c Code) String() string {
	if c.Known() {
		return codeNames[c]
	}
	return "code_" + strconv.Itoa(int(c))
}

// Known reports whether this build knows the code.
func (c Code) Known() bool { return c < numCodes }

// ParseCode returns the code with the API name s.
func ParseCode(s string) (Code, bool) {
	for c, name := range codeNames {
		if name == s {
			return Code(c), true
		}
	}
	return 0, false
}

// Error is a coded error, as agents report it and edges translate it. A
// Producer returns it for failures it can classify (a full inbox is Busy, no
// responder NotOwner); the router passes Code and Message to the client.
type Error struct {
	Code    Code
	Message string // for people; names the problem (the limit, the rule, the partition)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Message }
