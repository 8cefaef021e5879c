package router

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/registry"
)

func TestCreateTopic(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	w := h.do("POST", "/api/v1/topics", "application/json",
		[]byte(`{"name":"orders","partitions":4,"durability":"wal","retention_ms":604800000}`))
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var got topicJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "orders" || got.Partitions != 4 || got.Durability != "wal" || got.RetentionMs != 604800000 ||
		got.RetentionBytes != -1 || got.CleanupPolicy != "delete" || got.ID <= 0 || got.CreatedAt.IsZero() || got.PartitionInfo != nil {
		t.Fatalf("topic %+v", got)
	}
	if loc := w.Header().Get("Location"); loc != "/api/v1/topics/orders" {
		t.Fatalf("Location %q", loc)
	}
	// What the registry holds agrees.
	reg, err := h.reg.Topic(context.Background(), h.tenant.ID, "orders")
	if err != nil || reg.ID != got.ID || reg.Partitions != 4 {
		t.Fatalf("registry: %+v %v", reg, err)
	}
}

func TestCreateTopicDefaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	w := h.do("POST", "/api/v1/topics", "", []byte(`{"name":"plain"}`))
	var got topicJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 201 {
		t.Fatalf("%d %s %v", w.Code, w.Body, err)
	}
	if got.Partitions != 1 || got.Durability != "wal" || got.RetentionMs != registry.DefaultRetentionMs ||
		got.RetentionBytes != registry.Unlimited || got.CleanupPolicy != "delete" {
		t.Fatalf("defaults: %+v", got)
	}
	w = h.do("POST", "/api/v1/topics", "", []byte(
		`{"name":"kept","partitions":2,"durability":"object","retention_ms":-1,"retention_bytes":1024,"cleanup_policy":"compact"}`))
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 201 {
		t.Fatalf("%d %s %v", w.Code, w.Body, err)
	}
	if got.Durability != "object" || got.RetentionMs != -1 || got.RetentionBytes != 1024 || got.CleanupPolicy != "compact" {
		t.Fatalf("explicit: %+v", got)
	}
}

func TestCreateTopicErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.createTopic("dup", 1)
	name249 := strings.Repeat("a", 249)
	cases := []struct {
		name   string
		body   string
		status int
		code   string
		want   string
	}{
		{"bad JSON", `{"name":`, 400, "invalid", "truncated JSON"},
		{"not JSON", `name=orders`, 400, "invalid", "invalid JSON at byte 2"},
		{"empty body", ``, 400, "invalid", "empty"},
		{"data after the object", `{"name":"x"} {}`, 400, "invalid", "data after"},
		{"unknown field", `{"name":"x","partitons":3}`, 400, "invalid", `unknown field "partitons"`},
		{"wrong type", `{"name":"x","partitions":"4"}`, 400, "invalid", "partitions: JSON string where an integer was expected"},
		{"array", `[]`, 400, "invalid", "an object"},
		{"empty name", `{"name":""}`, 400, "invalid", "empty"},
		{"no name", `{"partitions":1}`, 400, "invalid", "topic name: empty"},
		{"dot", `{"name":"."}`, 400, "invalid", `"." and ".." are reserved`},
		{"dot dot", `{"name":".."}`, 400, "invalid", `"." and ".." are reserved`},
		{"slash", `{"name":"a/b"}`, 400, "invalid", `contains '/' at byte 1`},
		{"space", `{"name":"a b"}`, 400, "invalid", `contains ' '`},
		{"non-ASCII", `{"name":"zürich"}`, 400, "invalid", `contains 'ü'`},
		{"250 chars", `{"name":"` + strings.Repeat("a", 250) + `"}`, 400, "invalid", "250 bytes long, the limit is 249"},
		{"zero partitions", `{"name":"x","partitions":0}`, 400, "invalid", "partitions 0: must be 1 to 10000"},
		{"too many partitions", `{"name":"x","partitions":10001}`, 400, "invalid", "must be 1 to 10000"},
		{"bad durability", `{"name":"x","durability":"disk"}`, 400, "invalid", `durability "disk"`},
		{"bad cleanup", `{"name":"x","cleanup_policy":"shred"}`, 400, "invalid", "cleanup policy"},
		{"zero retention", `{"name":"x","retention_ms":0}`, 400, "invalid", "retention_ms 0"},
		{"negative retention", `{"name":"x","retention_ms":-5}`, 400, "invalid", "retention ms -5"},
		{"zero retention bytes", `{"name":"x","retention_bytes":0}`, 400, "invalid", "retention_bytes 0"},
		{"duplicate", `{"name":"dup","partitions":3}`, 409, "exists", `topic "dup" already exists`},
		{"body too large", `{"name":"` + strings.Repeat("a", maxAdminBody) + `"}`, 413, "too_large", "65536-byte limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, h.do("POST", "/api/v1/topics", "application/json", []byte(c.body)), c.status, c.code, c.want)
		})
	}
	// None of them left a topic behind; a 249-character name is fine.
	h.createTopic(name249, 1)
	topics, err := h.reg.ListTopics(context.Background(), h.tenant.ID)
	if err != nil || len(topics) != 2 {
		t.Fatalf("topics after the refused creates: %v %v", topics, err)
	}
}

func TestListTopics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	w := h.do("GET", "/api/v1/topics", "", nil)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"topics":[]}` {
		t.Fatalf("empty list: %d %s", w.Code, w.Body)
	}
	h.createTopic("payments", 2)
	h.createTopic("orders", 4)
	var got struct{ Topics []topicJSON }
	w = h.do("GET", "/api/v1/topics/", "", nil)
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("%d %s %v", w.Code, w.Body, err)
	}
	if len(got.Topics) != 2 || got.Topics[0].Name != "orders" || got.Topics[1].Name != "payments" ||
		got.Topics[0].Partitions != 4 || got.Topics[0].PartitionInfo != nil {
		t.Fatalf("list: %+v", got)
	}
}

func TestDescribeTopic(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.createTopic("orders", 3)
	topic, err := h.reg.Topic(context.Background(), h.tenant.ID, "orders")
	if err != nil {
		t.Fatal(err)
	}
	// Partition 1 changes owner once and gets a segment: the describe shows
	// its epoch and watermark.
	p1 := registry.PartitionID{Tenant: h.tenant.ID, Topic: topic.ID, Partition: 1}
	if _, err := h.reg.BumpEpoch(context.Background(), p1, 0); err != nil {
		t.Fatal(err)
	}
	err = h.reg.CommitSegment(context.Background(), registry.Segment{Partition: p1, Epoch: 1, ObjectKey: "k",
		Length: 10, ObjectSize: 10, FirstOffset: 0, LastOffset: 9, RecordCount: 10})
	if err != nil {
		t.Fatal(err)
	}
	w := h.do("GET", "/api/v1/topics/orders", "", nil)
	var got topicJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("%d %s %v", w.Code, w.Body, err)
	}
	want := []partitionJSON{{Partition: 0}, {Partition: 1, Epoch: 1, HighWatermark: 10}, {Partition: 2}}
	wantSizes := []registry.PartitionSize{{}, {Bytes: 10, Segments: 1}, {}}
	if got.Name != "orders" || got.Partitions != 3 || len(got.PartitionInfo) != 3 {
		t.Fatalf("describe: %+v", got)
	}
	for i := range want {
		p := got.PartitionInfo[i]
		if p.SizeBytes == nil || p.Segments == nil ||
			(registry.PartitionSize{Bytes: *p.SizeBytes, Segments: *p.Segments}) != wantSizes[i] {
			t.Errorf("partition %d: size %v, segments %v, want %+v", i, p.SizeBytes, p.Segments, wantSizes[i])
		}
		p.SizeBytes, p.Segments = nil, nil
		if p != want[i] {
			t.Fatalf("partition %d: %+v, want %+v", i, p, want[i])
		}
	}
	if !strings.Contains(w.Body.String(), `"partition_info":[{"partition":0,"epoch":0,"high_watermark":0,"log_start_offset":0,"size_bytes":0,"segments":0}`) {
		t.Fatalf("JSON field names: %s", w.Body)
	}
}

func TestTopicPathErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	cases := []struct {
		name, method, path string
		status             int
		code, want         string
	}{
		{"unknown", "GET", "/api/v1/topics/nope", 404, "not_found", `topic "nope" not found`},
		{"unknown delete", "DELETE", "/api/v1/topics/nope", 404, "not_found", `topic "nope" not found`},
		{"escaped slash", "GET", "/api/v1/topics/a%2Fb", 400, "invalid", `invalid topic name "a/b": contains '/'`},
		{"escaped slash delete", "DELETE", "/api/v1/topics/a%2Fb", 400, "invalid", `contains '/'`},
		{"dot dot", "GET", "/api/v1/topics/..", 400, "invalid", `"." and ".." are reserved`},
		{"escaped dot dot", "GET", "/api/v1/topics/%2E%2E", 400, "invalid", `"." and ".." are reserved`},
		{"escaped percent", "GET", "/api/v1/topics/a%2541", 400, "invalid", `contains '%'`},
		{"250 chars", "GET", "/api/v1/topics/" + strings.Repeat("x", 250), 400, "invalid", "250 bytes long"},
		{"space", "GET", "/api/v1/topics/a%20b", 400, "invalid", `contains ' '`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, h.do(c.method, c.path, "", nil), c.status, c.code, c.want)
		})
	}
}

func TestDeleteTopic(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	var created, deleted []string
	h.rt.deps.TopicCreated = func(topic registry.Topic) { created = append(created, topic.Name) }
	h.rt.deps.TopicDeleted = func(_ context.Context, topic registry.Topic, removed registry.Removed) error {
		if removed.Segments == nil || removed.UnreferencedObjects == nil {
			t.Errorf("removed: %+v", removed)
		}
		deleted = append(deleted, topic.Name)
		return nil
	}
	h.createTopic("orders", 2)
	h.createTopic("keep", 1)
	w := h.do("DELETE", "/api/v1/topics/orders", "", nil)
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if len(deleted) != 1 || deleted[0] != "orders" {
		t.Fatalf("TopicDeleted calls: %v", deleted)
	}
	if len(created) != 2 || created[0] != "orders" || created[1] != "keep" {
		t.Fatalf("TopicCreated calls: %v", created)
	}
	wantError(t, h.do("GET", "/api/v1/topics/orders", "", nil), 404, "not_found", "orders")
	wantError(t, h.do("DELETE", "/api/v1/topics/orders", "", nil), 404, "not_found", "orders")
	if w := h.do("GET", "/api/v1/topics/keep", "", nil); w.Code != 200 {
		t.Fatalf("the other topic: %d", w.Code)
	}
	// The name is free again.
	h.createTopic("orders", 5)
}
