package schema

import "fmt"

// Level is a compatibility level: which earlier versions a new version is
// checked against, and in which direction.
type Level string

const (
	Backward           Level = "BACKWARD" // the new schema reads data written with the latest
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD" // the latest schema reads data written with the new
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL" // both
	FullTransitive     Level = "FULL_TRANSITIVE"
	None               Level = "NONE"
)

// DefaultLevel is the level of a tenant that set none, as in Confluent's
// registry.
const DefaultLevel = Backward

// ParseLevel checks s names a level.
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive, None:
		return l, nil
	}
	return "", fmt.Errorf("compatibility level %q: must be one of BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE", s)
}

func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}

func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}

func (l Level) transitive() bool {
	return l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive
}

// Mode says whether a subject (or the tenant) takes new versions.
type Mode string

const (
	ReadWrite Mode = "READWRITE"
	ReadOnly  Mode = "READONLY" // registrations and deletions are refused
)

// DefaultMode is the mode of a tenant that set none.
const DefaultMode = ReadWrite

// ParseMode checks s names a supported mode. Confluent's IMPORT (registering
// with given ids) is not supported.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ReadWrite, ReadOnly:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: must be READWRITE or READONLY", s)
}
