package partition

import (
	"encoding/binary"
	"fmt"
)

// WAL entry format, written by the partition actor and read back on
// takeover. It is a wire and storage format: ONLY ADD TO THE END — new entry
// types get new type bytes, and a reader refuses a type it does not know
// rather than skipping it.
//
//	byte 0     type (walEntry*)
//	bytes 1-8  the writer's partition epoch, int64 little-endian
//	bytes 9-   per type:
//	  walEntryData:     one or more encoded batches (Encoder), back to back,
//	                    with contiguous offsets: one group commit of several
//	                    producers' requests, each request its own batch so
//	                    that its header keeps the producer id and sequence
//	  walEntryMarker:   nothing; the epoch marker a new owner appends before
//	                    replaying (DESIGN.md, The partition actor)
//	  walEntryProducers: a snapshot of the idempotent producers' state
//	                    (encodeProducerSnapshot), appended after a segment
//	                    commit and before the WAL is trimmed, so that the
//	                    state outlives the trimmed entries
const (
	walEntryData      byte = 1
	walEntryMarker    byte = 2
	walEntryProducers byte = 3

	walEntryHeaderLen = 9
)

// appendWALHeader appends an entry header of type typ and epoch to dst.
func appendWALHeader(dst []byte, typ byte, epoch int64) []byte {
	dst = append(dst, typ)
	return binary.LittleEndian.AppendUint64(dst, uint64(epoch))
}

// parseWALEntry splits an entry into its type, epoch and body (aliasing
// entry). An unknown type or a short entry is corruption.
func parseWALEntry(entry []byte) (typ byte, epoch int64, body []byte, err error) {
	if len(entry) < walEntryHeaderLen {
		return 0, 0, nil, corruptf(0, "wal entry of %d bytes, header needs %d", len(entry), walEntryHeaderLen)
	}
	typ = entry[0]
	switch typ {
	case walEntryData, walEntryMarker, walEntryProducers:
	default:
		return 0, 0, nil, corruptf(0, "unknown wal entry type %d", typ)
	}
	return typ, int64(binary.LittleEndian.Uint64(entry[1:])), entry[walEntryHeaderLen:], nil
}

// decodeWALBatches decodes the batches of a data entry's body with dec and
// calls fn for each, in order. Batches alias dec's memory (and body).
func decodeWALBatches(dec *Decoder, body []byte, fn func(b *Batch) error) error {
	for p := 0; p < len(body); {
		b, n, err := dec.DecodeBatch(body[p:])
		if err != nil {
			return fmt.Errorf("wal entry batch at byte %d: %w", walEntryHeaderLen+p, err)
		}
		if err := fn(&b); err != nil {
			return err
		}
		p += n
	}
	return nil
}
