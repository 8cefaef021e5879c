// Package partition holds what one partition of a topic needs: the segment
// format that stores its log in object storage, and the read path over it
// (the partition actor and producer dedup are to come).
//
// A segment is one object of record batches of one or more partitions, a
// footer indexing each partition's byte range by offset and by time, and a
// fixed trailer; FORMAT.md gives the byte layout. Write one with
// SegmentWriter, name it with SegmentKey, and read it with OpenSegment and
// (*Segment).ReadFrom or OffsetForTime, which fetch only the byte ranges
// they need. Encoder and Decoder work on single batches and reuse their
// memory, so decoding does not allocate per record.
package partition
