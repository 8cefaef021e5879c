package cells

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownMember says the member id is not (or no longer) in the
	// group: it never joined, it left, or its session expired. The client
	// drops its partitions without committing and joins again with an empty
	// member id (Kafka's UNKNOWN_MEMBER_ID).
	ErrUnknownMember = errors.New("unknown group member")

	// ErrRebalance says the group moved to a newer generation: the member
	// keeps its session but must fetch its new assignment (Assignment with
	// the generation carried by the *GenerationError) before consuming or
	// committing again (Kafka's REBALANCE_IN_PROGRESS).
	ErrRebalance = errors.New("group rebalanced")

	// ErrIllegalGeneration says a request carried a generation other than
	// the group's: a commit from a member that has not caught up with a
	// rebalance, or a generation the group never had (Kafka's
	// ILLEGAL_GENERATION). Nothing was written.
	ErrIllegalGeneration = errors.New("illegal group generation")

	// ErrNotAssigned says a member committed an offset for a partition that
	// is not in its assignment of the current generation. Nothing was
	// written.
	ErrNotAssigned = errors.New("partition not assigned to member")

	// ErrGroupNotEmpty says an operation needs a group without active
	// members (an offset reset, as in Kafka).
	ErrGroupNotEmpty = errors.New("group has active members")

	// ErrResetInProgress says an offset reset of the group is being written;
	// joins are refused until it ends. Retriable.
	ErrResetInProgress = errors.New("group offset reset in progress")

	// ErrInconsistentStrategy says a member asked for an assignment strategy
	// other than the one the group's members use (Kafka's
	// INCONSISTENT_GROUP_PROTOCOL).
	ErrInconsistentStrategy = errors.New("inconsistent group assignment strategy")

	// ErrUnknownStrategy says an assignment strategy name is not one of
	// StrategyRange, StrategyRoundRobin, StrategySticky.
	ErrUnknownStrategy = errors.New("unknown assignment strategy")

	// ErrInvalidSessionTimeout says a session timeout lies outside the
	// group's bounds (GroupConfig.MinSessionTimeout, MaxSessionTimeout).
	ErrInvalidSessionTimeout = errors.New("invalid session timeout")

	// ErrUnknownTopic says a member subscribed to a topic whose partition
	// count the group does not know (UpdateTopics first).
	ErrUnknownTopic = errors.New("unknown topic")
)

// GenerationError is returned when a request carries a generation other than
// the group's current one. Err is ErrRebalance (from Heartbeat and
// Assignment: the member is alive, its view is old) or ErrIllegalGeneration
// (from CommitOffsets, and for a generation newer than the group's); it
// matches Err with errors.Is.
type GenerationError struct {
	Group   string
	Member  string
	Got     int32 // the generation the request carried
	Current int32 // the group's generation
	Err     error
}

func (e *GenerationError) Error() string {
	return fmt.Sprintf("group %q member %q: generation %d, the group is at %d: %v",
		e.Group, e.Member, e.Got, e.Current, e.Err)
}

func (e *GenerationError) Unwrap() error { return e.Err }

// NotAssignedError names the partition a member committed without owning it
// in the current generation. It matches ErrNotAssigned.
type NotAssignedError struct {
	Group      string
	Member     string
	Generation int32
	Partition  TopicPartition
}

func (e *NotAssignedError) Error() string {
	return fmt.Sprintf("group %q member %q generation %d: partition %s: %v",
		e.Group, e.Member, e.Generation, e.Partition, ErrNotAssigned)
}

func (e *NotAssignedError) Unwrap() error { return ErrNotAssigned }

// GroupNotEmptyError is returned by ResetOffsets while the group has
// members. It matches ErrGroupNotEmpty.
type GroupNotEmptyError struct {
	Group   string
	Members int
}

func (e *GroupNotEmptyError) Error() string {
	return fmt.Sprintf("group %q: %d active members: %v", e.Group, e.Members, ErrGroupNotEmpty)
}

func (e *GroupNotEmptyError) Unwrap() error { return ErrGroupNotEmpty }
