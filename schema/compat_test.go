package schema

import (
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/registry"
)

func mustParse(t *testing.T, typ registry.SchemaType, text string, refs ...Reference) *Parsed {
	t.Helper()
	p, err := Parse(Source{Type: typ, Text: text, References: refs})
	if err != nil {
		t.Fatalf("parse %s %s: %v", typ, text, err)
	}
	return p
}

// pairCase is one reader/writer pair: whether reader reads writer's data,
// and a word the refusal must name.
type pairCase struct {
	name           string
	reader, writer string
	ok             bool
	reason         string
}

func runPairs(t *testing.T, typ registry.SchemaType, cases []pairCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, w := mustParse(t, typ, c.reader), mustParse(t, typ, c.writer)
			reasons := Compatible(r, w)
			if (len(reasons) == 0) != c.ok {
				t.Fatalf("Compatible = %q, want ok=%v", reasons, c.ok)
			}
			if !c.ok && !strings.Contains(strings.Join(reasons, "; "), c.reason) {
				t.Errorf("reasons %q do not mention %q", reasons, c.reason)
			}
		})
	}
}

const (
	avroV1        = `{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}`
	avroV2Default = `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string","default":""}]}`
	avroV2NoDef   = `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]}`
	avroV3Drop    = `{"type":"record","name":"User","fields":[{"name":"email","type":"string","default":""}]}`
)

func TestAvroCompatible(t *testing.T) {
	runPairs(t, registry.SchemaAvro, []pairCase{
		{"same", avroV1, avroV1, true, ""},
		{"field added with default", avroV2Default, avroV1, true, ""},
		{"field added without default", avroV2NoDef, avroV1, false, "email"},
		{"field removed", avroV1, avroV2Default, true, ""},
		{"int promoted to long", `{"type":"record","name":"R","fields":[{"name":"n","type":"long"}]}`,
			`{"type":"record","name":"R","fields":[{"name":"n","type":"int"}]}`, true, ""},
		{"long narrowed to int", `{"type":"record","name":"R","fields":[{"name":"n","type":"int"}]}`,
			`{"type":"record","name":"R","fields":[{"name":"n","type":"long"}]}`, false, "n"},
		{"enum symbol removed", `{"type":"enum","name":"E","symbols":["A"]}`, `{"type":"enum","name":"E","symbols":["A","B"]}`, false, "B"},
		{"record renamed", `{"type":"record","name":"Other","fields":[{"name":"id","type":"long"}]}`, avroV1, false, "name"},
	})
}

func TestJSONCompatible(t *testing.T) {
	const (
		open1   = `{"type":"object","properties":{"id":{"type":"integer"}}}`
		closed1 = `{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}`
		closed2 = `{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"additionalProperties":false}`
	)
	runPairs(t, registry.SchemaJSON, []pairCase{
		{"same", open1, open1, true, ""},
		{"optional property added to a closed writer", closed2, closed1, true, ""},
		{"property added to an open writer", `{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}}}`, open1, false, "open content model"},
		{"property removed from a closed reader", closed1, closed2, false, "closed content model"},
		{"property removed, reader open", open1, closed2, true, ""},
		{"property became required", `{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}`, open1, false, "became required"},
		{"integer widened to number", `{"type":"number"}`, `{"type":"integer"}`, true, ""},
		{"number narrowed to integer", `{"type":"integer"}`, `{"type":"number"}`, false, "type number"},
		{"type added to a typeless writer", `{"type":"string"}`, `{}`, false, "restricted"},
		{"enum widened", `{"enum":["a","b"]}`, `{"enum":["a"]}`, true, ""},
		{"enum narrowed", `{"enum":["a"]}`, `{"enum":["a","b"]}`, false, `"b"`},
		{"maxLength narrowed", `{"type":"string","maxLength":5}`, `{"type":"string","maxLength":10}`, false, "maxLength"},
		{"maxLength widened", `{"type":"string","maxLength":10}`, `{"type":"string","maxLength":5}`, true, ""},
		{"minimum raised", `{"type":"number","minimum":1}`, `{"type":"number","minimum":0}`, false, "minimum"},
		{"items narrowed", `{"type":"array","items":{"type":"integer"}}`, `{"type":"array","items":{"type":"number"}}`, false, "/items"},
		{"additionalProperties closed", closed1, open1, false, "additionalProperties"},
		{"oneOf changed is compared literally", `{"oneOf":[{"type":"string"}]}`, `{"oneOf":[{"type":"integer"}]}`, false, "oneOf changed"},
		{"local $ref followed", `{"definitions":{"n":{"type":"number"}},"type":"object","properties":{"x":{"$ref":"#/definitions/n"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"x":{"type":"integer"}},"additionalProperties":false}`, true, ""},
		{"local $ref narrowed", `{"definitions":{"n":{"type":"integer"}},"type":"object","properties":{"x":{"$ref":"#/definitions/n"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"x":{"type":"number"}},"additionalProperties":false}`, false, "/properties/x"},
		{"recursive schema ends", `{"type":"object","properties":{"next":{"$ref":"#"}}}`, `{"type":"object","properties":{"next":{"$ref":"#"}}}`, true, ""},
	})
}

func TestProtobufCompatible(t *testing.T) {
	const base = `syntax = "proto3"; package shop; message Order { int32 id = 1; string note = 2; }`
	runPairs(t, registry.SchemaProtobuf, []pairCase{
		{"same", base, base, true, ""},
		{"field added", `syntax = "proto3"; package shop; message Order { int32 id = 1; string note = 2; bytes extra = 3; }`, base, true, ""},
		{"field removed", `syntax = "proto3"; package shop; message Order { int32 id = 1; }`, base, true, ""},
		{"int32 to int64 (same wire type)", `syntax = "proto3"; package shop; message Order { int64 id = 1; string note = 2; }`, base, true, ""},
		{"string to bytes", `syntax = "proto3"; package shop; message Order { int32 id = 1; bytes note = 2; }`, base, true, ""},
		{"int32 to string", `syntax = "proto3"; package shop; message Order { string id = 1; string note = 2; }`, base, false, "kind changed"},
		{"int32 to sint32", `syntax = "proto3"; package shop; message Order { sint32 id = 1; string note = 2; }`, base, false, "kind changed"},
		{"made repeated", `syntax = "proto3"; package shop; message Order { repeated int32 id = 1; string note = 2; }`, base, false, "repeated"},
		{"package changed", `syntax = "proto3"; package store; message Order { int32 id = 1; string note = 2; }`, base, false, "package"},
		{"first message removed", `syntax = "proto3"; package shop; message Other { int32 id = 1; }`, base, false, "shop.Order removed"},
		{"message type changed", `syntax = "proto3"; package shop; message A {} message B {} message Order { B a = 1; }`,
			`syntax = "proto3"; package shop; message A {} message B {} message Order { A a = 1; }`, false, "message type changed"},
		{"moved into an existing oneof", `syntax = "proto3"; package shop; message Order { oneof k { int32 id = 1; string note = 2; } }`, base, false, "oneof"},
		{"proto2 required added", `syntax = "proto2"; message M { optional int32 a = 1; required int32 b = 2; }`,
			`syntax = "proto2"; message M { optional int32 a = 1; }`, false, "required field added"},
		{"comments and layout do not matter", "syntax = \"proto3\";\n// orders\npackage shop;\nmessage Order {\n  int32 id = 1;\n  string note = 2;\n}\n", base, true, ""},
	})
}

// TestCheckLevels runs each level over a subject's history v1, v2, with a
// candidate that is compatible with v2 in some directions and not with v1.
func TestCheckLevels(t *testing.T) {
	// v1: id. v2: id, email (default). Candidates:
	//   addDefault: id, email, phone(default): backward and forward with v2 and v1.
	//   dropID: email only (default): reads v1 and v2 data (backward ok);
	//     v2 reads its data (email, id missing... id has no default): forward refused.
	//   requireNew: id, email, phone (no default): backward refused; forward ok.
	//   dropEmailDefault: id, email (no default): backward with v2 ok, with v1
	//     refused (v1 has no email): only the transitive level sees it.
	v1 := mustParse(t, registry.SchemaAvro, avroV1)
	v2 := mustParse(t, registry.SchemaAvro, avroV2Default)
	history := []Version{{1, v1}, {2, v2}}
	cands := map[string]*Parsed{
		"addDefault":       mustParse(t, registry.SchemaAvro, `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string","default":""},{"name":"phone","type":"string","default":""}]}`),
		"dropID":           mustParse(t, registry.SchemaAvro, avroV3Drop),
		"requireNew":       mustParse(t, registry.SchemaAvro, `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string","default":""},{"name":"phone","type":"string"}]}`),
		"dropEmailDefault": mustParse(t, registry.SchemaAvro, avroV2NoDef),
	}
	cases := []struct {
		level Level
		cand  string
		ok    bool
		names string // version the refusal names
	}{
		{None, "requireNew", true, ""},
		{None, "dropID", true, ""},
		{Backward, "addDefault", true, ""},
		{Backward, "dropID", true, ""},
		{Backward, "requireNew", false, "version 2"},
		{Backward, "dropEmailDefault", true, ""},
		{BackwardTransitive, "dropEmailDefault", false, "version 1"},
		{BackwardTransitive, "addDefault", true, ""},
		{Forward, "requireNew", true, ""},
		{Forward, "dropID", false, "version 2 cannot read"},
		{ForwardTransitive, "dropID", false, "version 1 cannot read"},
		{ForwardTransitive, "addDefault", true, ""},
		{Full, "addDefault", true, ""},
		{Full, "requireNew", false, "new schema cannot read data written with version 2"},
		{Full, "dropID", false, "version 2 cannot read"},
		{Full, "dropEmailDefault", true, ""},
		{FullTransitive, "dropEmailDefault", false, "version 1"},
		{FullTransitive, "addDefault", true, ""},
	}
	for _, c := range cases {
		t.Run(string(c.level)+"/"+c.cand, func(t *testing.T) {
			reasons := Check(c.level, cands[c.cand], history)
			if (len(reasons) == 0) != c.ok {
				t.Fatalf("Check = %q, want ok=%v", reasons, c.ok)
			}
			if !c.ok && !strings.Contains(strings.Join(reasons, "; "), c.names) {
				t.Errorf("reasons %q do not name %q", reasons, c.names)
			}
		})
	}
	if r := Check(FullTransitive, cands["requireNew"], nil); r != nil {
		t.Errorf("first version refused: %q", r)
	}
}

func TestCheckLevelsJSONAndProtobuf(t *testing.T) {
	// JSON: a closed v1, v2 adds an optional property, the candidate
	// removes it again: fine backward (reader open? no: closed), and the
	// transitive forward check against v1 and v2.
	j1 := mustParse(t, registry.SchemaJSON, `{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}`)
	j2 := mustParse(t, registry.SchemaJSON, `{"type":"object","properties":{"id":{"type":"integer"},"n":{"type":"string"}},"additionalProperties":false}`)
	narrowID := mustParse(t, registry.SchemaJSON, `{"type":"object","properties":{"id":{"type":"integer","maximum":10},"n":{"type":"string"}},"additionalProperties":false}`)
	jh := []Version{{1, j1}, {2, j2}}
	if r := Check(Backward, narrowID, jh); len(r) == 0 || !strings.Contains(r[0], "maximum") {
		t.Errorf("JSON BACKWARD with a narrowed maximum = %q, want refused", r)
	}
	if r := Check(Forward, narrowID, jh); r != nil {
		t.Errorf("JSON FORWARD with a narrowed maximum = %q, want ok", r)
	}
	if r := Check(ForwardTransitive, narrowID, jh); len(r) == 0 || !strings.Contains(strings.Join(r, ";"), "version 1") {
		t.Errorf("JSON FORWARD_TRANSITIVE = %q, want version 1 refused (closed, n unknown)", r)
	}
	// Protobuf: a kind change is refused in both directions.
	p1 := mustParse(t, registry.SchemaProtobuf, `syntax = "proto3"; message M { int32 a = 1; }`)
	p2 := mustParse(t, registry.SchemaProtobuf, `syntax = "proto3"; message M { int32 a = 1; string b = 2; }`)
	bad := mustParse(t, registry.SchemaProtobuf, `syntax = "proto3"; message M { double a = 1; string b = 2; }`)
	ph := []Version{{1, p1}, {2, p2}}
	for _, l := range []Level{Backward, Forward, Full, BackwardTransitive, ForwardTransitive, FullTransitive} {
		if r := Check(l, bad, ph); len(r) == 0 {
			t.Errorf("Protobuf %s with a kind change: accepted", l)
		}
		if r := Check(l, p2, ph[:1]); r != nil {
			t.Errorf("Protobuf %s with a field added: %q", l, r)
		}
	}
}

func TestParseLevelAndMode(t *testing.T) {
	for _, s := range []string{"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"} {
		if l, err := ParseLevel(s); err != nil || string(l) != s {
			t.Errorf("ParseLevel(%q) = %q, %v", s, l, err)
		}
	}
	for _, s := range []string{"", "backward", "SIDEWAYS"} {
		if _, err := ParseLevel(s); err == nil || !strings.Contains(err.Error(), "must be one of") {
			t.Errorf("ParseLevel(%q) = %v, want refused", s, err)
		}
	}
	if _, err := ParseMode("IMPORT"); err == nil {
		t.Error("ParseMode(IMPORT) accepted: import mode is not supported")
	}
}
