// Package wire holds the messages between the router and the agents (NATS
// request/reply on sh.<cell>.produce.<tenant>.<topic>.<partition>), their
// binary encoding, and the error codes every edge shares (Code). It imports
// nothing of the project, so both sides and any client can use it.
//
// # Encoding
//
// Every message starts with one tag byte naming its kind and format version.
// Integers are varints (encoding/binary): "varint" is zig-zag signed,
// "uvarint" unsigned. "bytes" is a varint length then that many bytes, with
// length -1 meaning nil, so nil and empty are kept apart (as Kafka does);
// "string" is a uvarint length then UTF-8 bytes.
//
//	ProduceRequest  = 0x01 header records
//	ProduceResponse = 0x02 uvarint(len) { varint base_offset, uvarint code, string message }
//	Records         = 0x03 records              (the body of application/vnd.streamhouse.batch)
//
//	header  = uvarint(len) { varint tenant_id, varint topic_id, varint partition,
//	                         varint producer_id, varint producer_epoch, varint base_sequence }
//	records = uvarint(count) record*
//	record  = uvarint(len) { varint timestamp_ms, bytes key, bytes value,
//	                         uvarint(header_count) (string header_key, bytes header_value)* }
//
// The format is append-only. ONLY ADD TO THE END: a new field goes at the end
// of its length-prefixed group ({...}), a new group at the end of a message;
// never remove, reorder or change the meaning of a field. Decoders skip the
// unread rest of a group and ignore bytes after the last group they know, so
// an old reader accepts a newer writer's messages. A change that cannot be
// made that way takes a new tag byte.
//
// Decoding bounds every length and count by the bytes actually present (a
// count can never make it allocate more than the input's size) and never
// panics (see the fuzz tests). Decoded keys, values and header values alias
// the input buffer.
package wire
