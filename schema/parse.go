package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/streamhouse/streamhouse/registry"
)

// Limits on what one schema may pull in through references; a registration
// over them is refused as an invalid schema.
const (
	// MaxReferenceDepth is how deep references may nest (a references b
	// references c is depth 2).
	MaxReferenceDepth = 16
	// MaxReferences is how many references one schema may pull in, counted
	// over the whole tree.
	MaxReferences = 256
)

// Source is a schema as registered: its type, text and resolved references.
type Source struct {
	Type       registry.SchemaType
	Text       string
	References []Reference
}

// Reference is a resolved reference: the name the referring schema imports
// it by (an Avro type name, a JSON Schema $ref, a .proto import path) and the
// referenced schema.
type Reference struct {
	Name   string
	Schema Source
}

// Parsed is a schema its library accepted, with its canonical form: two
// schemas with the same type, canonical form and references are one schema
// and share an id.
type Parsed struct {
	Type      registry.SchemaType
	Canonical string

	avro  avroSchema
	json  *jsonDoc
	proto protoFile
}

// InvalidError says why a schema is refused (Confluent's 42201).
type InvalidError struct {
	Type   registry.SchemaType
	Reason string
}

func (e *InvalidError) Error() string { return fmt.Sprintf("invalid %s schema: %s", e.Type, e.Reason) }

// Parse checks src with its type's library and computes its canonical form.
// An empty type is AVRO, as in Confluent's API.
func Parse(src Source) (*Parsed, error) {
	if src.Type == "" {
		src.Type = registry.SchemaAvro
	}
	if err := checkReferences(src, 0, new(int)); err != nil {
		return nil, err
	}
	switch src.Type {
	case registry.SchemaAvro:
		return parseAvro(src)
	case registry.SchemaJSON:
		return parseJSONSchema(src)
	case registry.SchemaProtobuf:
		return parseProtobuf(src)
	}
	return nil, &InvalidError{Type: src.Type, Reason: "unknown schema type: must be AVRO, JSON or PROTOBUF"}
}

// checkReferences enforces the limits and that references are of the
// referring schema's type.
func checkReferences(src Source, depth int, count *int) error {
	if len(src.References) > 0 && depth >= MaxReferenceDepth {
		return &InvalidError{Type: src.Type, Reason: fmt.Sprintf("references nest deeper than %d", MaxReferenceDepth)}
	}
	for _, r := range src.References {
		*count++
		if *count > MaxReferences {
			return &InvalidError{Type: src.Type, Reason: fmt.Sprintf("more than %d references in all", MaxReferences)}
		}
		if r.Schema.Type != src.Type {
			return &InvalidError{Type: src.Type, Reason: fmt.Sprintf("reference %q is a %s schema, not %s", r.Name, r.Schema.Type, src.Type)}
		}
		if err := checkReferences(r.Schema, depth+1, count); err != nil {
			return err
		}
	}
	return nil
}

// canonicalJSON decodes one JSON value (numbers kept as written) and
// re-encodes it compactly with object keys sorted: whitespace and key order
// do not make a schema new, array order (Avro fields) does.
func canonicalJSON(text string) (string, any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", nil, errors.New("not JSON: more after the first value")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", nil, fmt.Errorf("re-encode: %w", err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), v, nil
}
