// Package partition holds what one partition of a topic needs: the segment
// format that stores its log in object storage, the read path over it
// (Fetcher and its byte-bounded Cache), and the partition actor (StartActor)
// that alone assigns offsets, writes the WAL, flushes segments and keeps
// idempotent producers' state.
//
// The actor sees an epoch and a WAL, never a lease: takeover bumps the epoch
// in the registry, appends an epoch marker to the WAL on the last sequence it
// read, and replays the WAL from the last committed segment up to the marker.
// A fenced WAL append or a fenced segment commit stops it at once.
//
// A segment is one object of record batches of one or more partitions, a
// footer indexing each partition's byte range by offset and by time, and a
// fixed trailer; FORMAT.md gives the byte layout. Write one with
// SegmentWriter, name it with SegmentKey, and read it with OpenSegment and
// (*Segment).ReadFrom or OffsetForTime, which fetch only the byte ranges
// they need. Encoder and Decoder work on single batches and reuse their
// memory, so decoding does not allocate per record.
package partition
