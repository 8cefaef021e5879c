package cells

import (
	"fmt"
	"regexp"
)

// maxCellNameLen bounds a cell name so that the bucket and stream names built
// from it (KV_sh_<cell>_leases) stay short.
const maxCellNameLen = 64

var cellNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// ValidateCellName reports whether name may name a cell. A cell name goes into
// NATS bucket names and subjects, so it is 1 to 64 of [a-zA-Z0-9_-]; anything
// else is refused, never mangled.
func ValidateCellName(name string) error {
	if len(name) > maxCellNameLen || !cellNameRE.MatchString(name) {
		return fmt.Errorf("invalid cell name %q: want 1 to %d characters of [a-zA-Z0-9_-]", name, maxCellNameLen)
	}
	return nil
}

// leaseBucket names a cell's lease bucket (DESIGN.md, NATS subjects and
// buckets). The cell name must be valid.
func leaseBucket(cell string) string { return "sh_" + cell + "_leases" }
