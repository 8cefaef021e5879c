package partition_test

import (
	"testing"

	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/partition/waltest"
)

func TestMemWALContract(t *testing.T) {
	waltest.Run(t, func(t *testing.T) (a, b partition.WAL) {
		w := &partition.MemWAL{Step: 3}
		return w, w
	})
}
