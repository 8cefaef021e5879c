package partition

import (
	"fmt"
	"strconv"
)

// ID identifies a partition across the project: the registry's tenant and
// topic ids (positive) and the partition number (from 0).
type ID struct {
	Tenant, Topic int64
	Partition     int32
}

// String formats the id as "tenant/topic/partition", e.g. "1/7/3".
func (id ID) String() string {
	b := make([]byte, 0, 24)
	b = strconv.AppendInt(b, id.Tenant, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, id.Topic, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(id.Partition), 10)
	return string(b)
}

// Validate refuses a non-positive tenant or topic and a negative partition.
func (id ID) Validate() error {
	if id.Tenant <= 0 || id.Topic <= 0 || id.Partition < 0 {
		return fmt.Errorf("invalid partition id %s: tenant and topic must be positive, partition non-negative", id)
	}
	return nil
}
