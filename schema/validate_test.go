package schema

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// framed puts payload in the wire format: magic byte 0, 4-byte id, payload.
func framed(id uint32, payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{0}, id), payload...)
}

func TestValidator(t *testing.T) {
	t.Parallel()
	s := openEmbedded(t)
	u := serve(t, s, "default", Config{})
	tenant := int64(1)
	// ids: 1 orders-value (avro), 2 other-value, 3 items-value (json), 4 pay-value (protobuf)
	wantCall(t, u, "POST", "/subjects/orders-value/versions", avroBody(avroV1), 200, `"id":1`)
	wantCall(t, u, "POST", "/subjects/other-value/versions", avroBody(`"string"`), 200, `"id":2`)
	wantCall(t, u, "POST", "/subjects/items-value/versions",
		typedBody("JSON", `{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`), 200, `"id":3`)
	wantCall(t, u, "POST", "/subjects/pay-value/versions",
		typedBody("PROTOBUF", `syntax = "proto3"; message A { int64 n = 1; message Inner { string s = 1; } } message B { string s = 1; }`), 200, `"id":4`)
	wantCall(t, u, "POST", "/subjects/orders-key/versions", avroBody(`"string"`), 200, `"id":2`)

	v := NewValidator(s)
	clock := time.Unix(1e9, 0)
	v.now = func() time.Time { return clock }
	check, err := v.RecordCheck(t.Context(), tenant, "orders")
	if err != nil || check != nil {
		t.Fatalf("no validation set: check %v, err %v", check != nil, err)
	}
	wantCall(t, u, "GET", "/validation/orders-value", "", 200, `{"validation":"NONE"}`)
	wantCall(t, u, "PUT", "/validation/orders-value", `{"validation":"LOOSE"}`, 422, `must be ID or STRICT`)
	wantCall(t, u, "PUT", "/validation/orders-value", `{"validation":"ID"}`, 200, `{"validation":"ID"}`)
	wantCall(t, u, "GET", "/validation/orders-value", "", 200, `{"validation":"ID"}`)
	// The rules read are trusted for RuleTTL: the change shows after it.
	if check, _ := v.RecordCheck(t.Context(), tenant, "orders"); check != nil {
		t.Fatal("a validation set within RuleTTL of the last read applied at once: the cache is not used")
	}
	clock = clock.Add(RuleTTL)

	avroRec, err := avro.Marshal(mustParse(t, "AVRO", avroV1).avro, map[string]any{"id": int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		name       string
		key, value []byte
		want       string // "" accepted
	}
	run := func(topic string, recs []rec) {
		t.Helper()
		check, err := v.RecordCheck(t.Context(), tenant, topic)
		if err != nil || check == nil {
			t.Fatalf("RecordCheck(%s) = %v, %v", topic, check != nil, err)
		}
		for _, r := range recs {
			err := check(r.key, r.value)
			switch {
			case r.want == "" && err != nil:
				t.Errorf("%s: refused: %v", r.name, err)
			case r.want != "" && (err == nil || !strings.Contains(err.Error(), r.want)):
				t.Errorf("%s: %v, want an error naming %q", r.name, err, r.want)
			}
		}
	}
	run("orders", []rec{
		{"valid id", nil, framed(1, avroRec), ""},
		{"id mode does not decode", nil, framed(1, []byte("junk")), ""},
		{"null value", nil, nil, ""},
		{"key unchecked", []byte("k"), framed(1, avroRec), ""},
		{"plain bytes", nil, []byte("hello"), "value: not in the schema registry's wire format"},
		{"short", nil, []byte{0, 0, 0}, "wire format"},
		{"unknown id", nil, framed(99, avroRec), "schema id 99 is not registered"},
		{"id of another subject", nil, framed(2, avroRec), `schema id 2 is not registered under subject "orders-value"`},
	})

	wantCall(t, u, "PUT", "/validation/orders-value", `{"validation":"STRICT"}`, 200, `STRICT`)
	wantCall(t, u, "PUT", "/validation/orders-key", `{"validation":"ID"}`, 200, `ID`)
	clock = clock.Add(RuleTTL)
	run("orders", []rec{
		{"valid record", framed(2, []byte("x")), framed(1, avroRec), ""},
		{"truncated avro", framed(2, nil), framed(1, nil), "value: does not decode as schema id 1"},
		{"avro with bytes left over", framed(2, nil), framed(1, append(avroRec, 1)), "left over"},
		{"key without wire format", []byte("k"), framed(1, avroRec), "key: not in the schema registry's wire format"},
	})

	wantCall(t, u, "PUT", "/validation/items-value", `{"validation":"STRICT"}`, 200, `STRICT`)
	clock = clock.Add(RuleTTL)
	run("items", []rec{
		{"valid json", nil, framed(3, []byte(`{"n":1}`)), ""},
		{"json missing required", nil, framed(3, []byte(`{"m":1}`)), "does not decode as schema id 3"},
		{"not json", nil, framed(3, []byte(`{`)), "json"},
	})

	wantCall(t, u, "PUT", "/validation/pay-value", `{"validation":"STRICT"}`, 200, `STRICT`)
	clock = clock.Add(RuleTTL)
	msgA := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 42)
	msgInner := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "s")
	idx := func(path ...int64) []byte {
		if len(path) == 1 && path[0] == 0 {
			return []byte{0}
		}
		b := protowire.AppendVarint(nil, protowire.EncodeZigZag(int64(len(path))))
		for _, i := range path {
			b = protowire.AppendVarint(b, protowire.EncodeZigZag(i))
		}
		return b
	}
	run("pay", []rec{
		{"first message", nil, framed(4, append(idx(0), msgA...)), ""},
		{"second message", nil, framed(4, append(idx(1), msgInner...)), ""},
		{"nested message", nil, framed(4, append(idx(0, 0), msgInner...)), ""},
		{"index out of range", nil, framed(4, append(idx(5), msgA...)), "message index 5"},
		{"truncated message", nil, framed(4, append(idx(0), 0x0a, 0x05, 'a')), "protobuf A"},
	})

	// A version deleted stops its id passing once RuleTTL has passed.
	wantCall(t, u, "DELETE", "/subjects/pay-value/versions/1", "", 200, `1`)
	run("pay", []rec{{"id still trusted", nil, framed(4, append(idx(0), msgA...)), ""}})
	clock = clock.Add(RuleTTL)
	run("pay", []rec{{"id of a deleted version", nil, framed(4, append(idx(0), msgA...)), "schema id 4 is not registered"}})

	wantCall(t, u, "DELETE", "/validation/pay-value", "", 200, `NONE`)
	clock = clock.Add(RuleTTL)
	if check, err := v.RecordCheck(t.Context(), tenant, "pay"); err != nil || check != nil {
		t.Errorf("validation removed: check %v, err %v", check != nil, err)
	}
}

func TestValidatorLimits(t *testing.T) {
	t.Parallel()
	s := openEmbedded(t)
	tn, err := s.CreateTenant(t.Context(), "default")
	if err != nil {
		t.Fatal(err)
	}
	v := NewValidator(s)
	for i := range maxCached + 10 {
		if _, err := v.RecordCheck(t.Context(), tn.ID, fmt.Sprintf("topic-%d", i)); err != nil {
			t.Fatal(err)
		}
		if n := len(v.mu.rules); n > maxCached {
			t.Fatalf("rules cache holds %d topics, the limit is %d", n, maxCached)
		}
	}

	p := mustParse(t, "PROTOBUF", `syntax = "proto3"; message A { message B {} }`)
	deep := protowire.AppendVarint(nil, protowire.EncodeZigZag(maxMessageIndexes+1))
	if err := p.Decode(deep); err == nil || !strings.Contains(err.Error(), "want 0 to 32") {
		t.Errorf("%d message indexes: %v", maxMessageIndexes+1, err)
	}
	if err := p.Decode([]byte{0x80}); err == nil || !strings.Contains(err.Error(), "bad varint") {
		t.Errorf("truncated varint: %v", err)
	}
	if err := p.Decode(append(protowire.AppendVarint(nil, protowire.EncodeZigZag(2)), 0, 0)); err != nil {
		t.Errorf("nested message A.B: %v", err)
	}
}
