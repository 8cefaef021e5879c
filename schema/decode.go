package schema

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/hamba/avro/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/streamhouse/streamhouse/registry"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// maxMessageIndexes bounds the message-index path of a Protobuf payload
// (nesting depth of the message named).
const maxMessageIndexes = 32

// Decode checks that payload, a record's bytes after the wire format's
// magic byte and schema id, decodes against the schema: Avro binary
// encoding, a JSON document valid under the JSON schema, or Confluent's
// Protobuf framing (message indexes, then the message).
func (p *Parsed) Decode(payload []byte) error {
	switch p.Type {
	case registry.SchemaAvro:
		// A Reader of its own rather than avro.Unmarshal, which takes
		// running out of bytes for success: a truncated record is an error
		// here, and so are bytes left over.
		r := avro.NewReader(nil, 0).Reset(payload)
		var v any
		r.ReadVal(p.avro, &v)
		if r.Error != nil {
			return fmt.Errorf("avro: %w", r.Error)
		}
		if r.Peek(); r.Error == nil {
			return errors.New("avro: bytes left over after the record")
		}
		return nil
	case registry.SchemaJSON:
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("json: %w", err)
		}
		if err := p.json.compiled.Validate(v); err != nil {
			return fmt.Errorf("json: %w", err)
		}
		return nil
	case registry.SchemaProtobuf:
		md, msg, err := protoMessage(p.proto, payload)
		if err != nil {
			return fmt.Errorf("protobuf: %w", err)
		}
		if err := proto.Unmarshal(msg, dynamicpb.NewMessage(md)); err != nil {
			return fmt.Errorf("protobuf %s: %w", md.FullName(), err)
		}
		return nil
	}
	return fmt.Errorf("unknown schema type %s", p.Type)
}

// protoMessage reads Confluent's message indexes (a zigzag varint count,
// then that many zigzag varint indexes; count 0 means the first message)
// and returns the message they name and the bytes after them.
func protoMessage(fd protoreflect.FileDescriptor, payload []byte) (protoreflect.MessageDescriptor, []byte, error) {
	next := func() (int64, error) {
		v, n := protowire.ConsumeVarint(payload)
		if n < 0 {
			return 0, errors.New("message indexes: bad varint")
		}
		payload = payload[n:]
		return protowire.DecodeZigZag(v), nil
	}
	count, err := next()
	if err != nil {
		return nil, nil, err
	}
	if count < 0 || count > maxMessageIndexes {
		return nil, nil, fmt.Errorf("message indexes: count %d, want 0 to %d", count, maxMessageIndexes)
	}
	msgs := fd.Messages()
	if count == 0 {
		if msgs.Len() == 0 {
			return nil, nil, errors.New("the schema has no message")
		}
		return msgs.Get(0), payload, nil
	}
	var md protoreflect.MessageDescriptor
	for range count {
		i, err := next()
		if err != nil {
			return nil, nil, err
		}
		if i < 0 || i >= int64(msgs.Len()) {
			return nil, nil, fmt.Errorf("message index %d: the schema has %d messages there", i, msgs.Len())
		}
		md = msgs.Get(int(i))
		msgs = md.Messages()
	}
	return md, payload, nil
}
