package registry

import "errors"

// ErrLatestMoved: RegisterSchema was given SchemaSpec.IfLatest and the
// subject's highest live version is another one (a version was added or
// deleted since the caller looked). Check again and retry.
var ErrLatestMoved = errors.New("registry: the subject's latest version moved")

// lastOr0 is the last of ascending versions, or 0 for none.
func lastOr0(versions []int) int {
	if len(versions) == 0 {
		return 0
	}
	return versions[len(versions)-1]
}
