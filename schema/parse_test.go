package schema

import (
	"errors"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/registry"
)

func TestCanonicalIgnoresLayout(t *testing.T) {
	cases := []struct {
		typ            registry.SchemaType
		compact, loose string
	}{
		{registry.SchemaAvro, avroV1, "{\n  \"fields\": [ {\"type\": \"long\", \"name\": \"id\"} ],\n  \"name\": \"User\", \"type\": \"record\"\n}\n"},
		{registry.SchemaJSON, `{"type":"object","properties":{"a":{"type":"number","maximum":1.50}}}`,
			"{ \"properties\": { \"a\": { \"maximum\": 1.50, \"type\": \"number\" } },\n \"type\": \"object\" }"},
		{registry.SchemaProtobuf, `syntax = "proto3"; message M { int32 a = 1; }`, "syntax = \"proto3\";\n\n// a comment\nmessage M {\n    int32 a = 1;   // trailing\n}\n"},
	}
	for _, c := range cases {
		a, b := mustParse(t, c.typ, c.compact), mustParse(t, c.typ, c.loose)
		if a.Canonical != b.Canonical {
			t.Errorf("%s: canonical forms differ:\n%s\n%s", c.typ, a.Canonical, b.Canonical)
		}
	}
	// A default is part of the schema: not the same canonical form.
	if a, b := mustParse(t, registry.SchemaAvro, avroV2Default), mustParse(t, registry.SchemaAvro, avroV2NoDef); a.Canonical == b.Canonical {
		t.Error("Avro schemas differing in a default share a canonical form")
	}
	if a, b := mustParse(t, registry.SchemaProtobuf, `syntax = "proto3"; message M { int32 a = 1; }`),
		mustParse(t, registry.SchemaProtobuf, `syntax = "proto3"; message M { int64 a = 1; }`); a.Canonical == b.Canonical {
		t.Error("different Protobuf schemas share a canonical form")
	}
}

func TestParseRefusesInvalid(t *testing.T) {
	cases := []struct {
		name string
		src  Source
		want string
	}{
		{"avro not json", Source{Type: registry.SchemaAvro, Text: `{"type":`}, "not JSON"},
		{"avro unknown type", Source{Type: registry.SchemaAvro, Text: `{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}`}, "Nope"},
		{"avro trailing data", Source{Type: registry.SchemaAvro, Text: `"string" "int"`}, "more after"},
		{"json not a schema", Source{Type: registry.SchemaJSON, Text: `{"type":"nonsense"}`}, "JSON"},
		{"json a number", Source{Type: registry.SchemaJSON, Text: `42`}, "object or a boolean"},
		{"json remote ref", Source{Type: registry.SchemaJSON, Text: `{"$ref":"file:///etc/passwd"}`}, "not among the schema's references"},
		{"proto syntax", Source{Type: registry.SchemaProtobuf, Text: `message {`}, "PROTOBUF"},
		{"proto missing import", Source{Type: registry.SchemaProtobuf, Text: `syntax = "proto3"; import "other.proto"; message M {}`}, "other.proto"},
		{"unknown type", Source{Type: "XML", Text: `<a/>`}, "unknown schema type"},
		{"reference of another type", Source{Type: registry.SchemaAvro, Text: `"string"`,
			References: []Reference{{Name: "x", Schema: Source{Type: registry.SchemaJSON, Text: `{}`}}}}, "not AVRO"},
	}
	for _, c := range cases {
		_, err := Parse(c.src)
		var ie *InvalidError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Parse = %v, want an InvalidError mentioning %q", c.name, err, c.want)
		}
	}
}

func TestParseReferences(t *testing.T) {
	addr := Source{Type: registry.SchemaAvro, Text: `{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}`}
	user := mustParse(t, registry.SchemaAvro, `{"type":"record","name":"User","namespace":"shop","fields":[{"name":"home","type":"Address"}]}`,
		Reference{Name: "shop.Address", Schema: addr})
	if user.avro == nil {
		t.Fatal("no Avro schema")
	}
	// Without the reference the type is unknown; the library's global cache
	// must not have kept it.
	if _, err := Parse(Source{Type: registry.SchemaAvro, Text: `{"type":"record","name":"User","namespace":"shop","fields":[{"name":"home","type":"Address"}]}`}); err == nil {
		t.Error("Avro type from another parse's reference leaked")
	}

	money := Source{Type: registry.SchemaJSON, Text: `{"type":"object","properties":{"cents":{"type":"integer"}},"additionalProperties":false}`}
	j1 := mustParse(t, registry.SchemaJSON, `{"type":"object","properties":{"price":{"$ref":"money.json"}},"additionalProperties":false}`,
		Reference{Name: "money.json", Schema: money})
	money2 := Source{Type: registry.SchemaJSON, Text: `{"type":"object","properties":{"cents":{"type":"integer","maximum":100}},"additionalProperties":false}`}
	j2 := mustParse(t, registry.SchemaJSON, `{"type":"object","properties":{"price":{"$ref":"money.json"}},"additionalProperties":false}`,
		Reference{Name: "money.json", Schema: money2})
	if r := Compatible(j2, j1); len(r) == 0 || !strings.Contains(r[0], "maximum") {
		t.Errorf("JSON reference narrowed = %q, want the referenced maximum refused", r)
	}
	if r := Compatible(j1, j2); r != nil {
		t.Errorf("JSON reference widened = %q", r)
	}

	common := Source{Type: registry.SchemaProtobuf, Text: `syntax = "proto3"; package common; message Money { int64 cents = 1; }`}
	p := mustParse(t, registry.SchemaProtobuf, `syntax = "proto3"; import "common.proto"; import "google/protobuf/timestamp.proto";
		message Order { common.Money total = 1; google.protobuf.Timestamp at = 2; }`, Reference{Name: "common.proto", Schema: common})
	if p.proto.Messages().ByName("Order") == nil {
		t.Error("Order not compiled")
	}
}

func TestParseReferenceLimits(t *testing.T) {
	leaf := Source{Type: registry.SchemaJSON, Text: `{}`}
	deep := leaf
	for i := range MaxReferenceDepth + 1 {
		deep = Source{Type: registry.SchemaJSON, Text: `{}`, References: []Reference{{Name: strings.Repeat("x", i+1) + ".json", Schema: deep}}}
	}
	if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "deeper than 16") {
		t.Errorf("references %d deep: %v, want refused", MaxReferenceDepth+1, err)
	}
	ok := leaf
	for i := range MaxReferenceDepth {
		ok = Source{Type: registry.SchemaJSON, Text: `{}`, References: []Reference{{Name: strings.Repeat("x", i+1) + ".json", Schema: ok}}}
	}
	if _, err := Parse(ok); err != nil {
		t.Errorf("references %d deep: %v", MaxReferenceDepth, err)
	}
	wide := Source{Type: registry.SchemaJSON, Text: `{}`}
	for i := range MaxReferences + 1 {
		wide.References = append(wide.References, Reference{Name: strings.Repeat("y", i+1), Schema: leaf})
	}
	if _, err := Parse(wide); err == nil || !strings.Contains(err.Error(), "more than 256") {
		t.Errorf("%d references: %v, want refused", MaxReferences+1, err)
	}
}
