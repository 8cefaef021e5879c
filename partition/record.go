package partition

// NoProducer is the ProducerID, ProducerEpoch and BaseSequence of a batch
// written without an idempotent producer.
const NoProducer = -1

// Header is one record header. Header keys are strings, values bytes; a nil
// Value and an empty one are kept apart.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record of a partition.
//
// Key and Value keep nil apart from empty: a nil Key is "no key". Headers
// are ordered; no headers decode as a nil slice (nil and empty are not kept
// apart). Decoded records alias the decoder's memory (see Decoder).
type Record struct {
	Offset    int64 // set by decoding; encoding assigns BaseOffset+i and ignores this field
	Timestamp int64 // milliseconds since the Unix epoch
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Batch is a run of records with dense offsets from BaseOffset, the unit of
// encoding, compression and CRC.
type Batch struct {
	BaseOffset int64
	// FirstTimestamp and MaxTimestamp are the first record's timestamp and
	// the largest one. Decoding sets them; encoding derives them from Records
	// and ignores these fields.
	FirstTimestamp int64
	MaxTimestamp   int64
	ProducerID     int64 // NoProducer when none
	ProducerEpoch  int16 // NoProducer when none
	BaseSequence   int32 // sequence of the first record; NoProducer when none
	Records        []Record
}

// LastOffset is the offset of the batch's last record.
func (b *Batch) LastOffset() int64 { return b.BaseOffset + int64(len(b.Records)) - 1 }
