package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// maxAdminBody bounds the body of topic administration calls.
const maxAdminBody = 64 << 10

// createTopicRequest is the body of POST /api/v1/topics. Omitted fields take
// the registry's defaults, except partitions, which defaults to 1 (Kafka's
// num.partitions). Unknown fields are refused: a misspelt "partitons" must
// not silently create a one-partition topic. An explicit 0 is refused where
// 0 would otherwise mean "default", so that it cannot be mistaken for "none".
type createTopicRequest struct {
	Name           string `json:"name"`
	Partitions     *int32 `json:"partitions"`
	Durability     string `json:"durability"`      // "wal" (default) or "object"
	RetentionMs    *int64 `json:"retention_ms"`    // > 0 or -1 (forever); default 7 days
	RetentionBytes *int64 `json:"retention_bytes"` // per partition, > 0 or -1; default -1
	CleanupPolicy  string `json:"cleanup_policy"`  // "delete" (default) or "compact"
}

// topicJSON is a topic as the API shows it. PartitionInfo is only in a
// describe (GET /api/v1/topics/{topic}).
type topicJSON struct {
	Name           string          `json:"name"`
	ID             int64           `json:"id"`
	Partitions     int32           `json:"partitions"`
	Durability     string          `json:"durability"`
	RetentionMs    int64           `json:"retention_ms"`
	RetentionBytes int64           `json:"retention_bytes"`
	CleanupPolicy  string          `json:"cleanup_policy"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	PartitionInfo  []partitionJSON `json:"partition_info,omitempty"`
}

type partitionJSON struct {
	Partition      int32 `json:"partition"`
	Epoch          int64 `json:"epoch"`
	HighWatermark  int64 `json:"high_watermark"`
	LogStartOffset int64 `json:"log_start_offset"`
	// Owner is the agent holding the partition's lease (admin.go), if any;
	// LiveHighWatermark the owner's high watermark, ahead of the registry's
	// (which moves when a segment is committed).
	Owner             string `json:"owner,omitempty"`
	LiveHighWatermark *int64 `json:"live_high_watermark,omitempty"`
	// SizeBytes and Segments are the partition's committed segments' bytes
	// (the sum of their lengths) and count (registry.SegmentIndex's
	// PartitionSizes); the unflushed tail is not in them. Absent when the
	// router's registry does not tell sizes.
	SizeBytes *int64 `json:"size_bytes,omitempty"`
	Segments  *int   `json:"segments,omitempty"`
}

func topicOut(t registry.Topic) topicJSON {
	return topicJSON{
		Name: t.Name, ID: t.ID, Partitions: t.Partitions, Durability: string(t.Durability),
		RetentionMs: t.RetentionMs, RetentionBytes: t.RetentionBytes, CleanupPolicy: string(t.CleanupPolicy),
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
}

func (rt *Router) createTopic(w http.ResponseWriter, r *http.Request) {
	p, err := rt.authorize(r, auth.ActManageTopics)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	var req createTopicRequest
	if err := decodeJSONBody(w, r, maxAdminBody, &req); err != nil {
		rt.writeError(w, r, err)
		return
	}
	t, err := rt.admin().createTopic(r.Context(), p, req)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/topics/"+url.PathEscape(t.Name))
	writeJSON(w, http.StatusCreated, topicOut(t))
}

func (rt *Router) listTopics(w http.ResponseWriter, r *http.Request) {
	p, err := rt.authorize(r, auth.ActRead)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	topics, err := rt.admin().listTopics(r.Context(), p.Tenant)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	out := make([]topicJSON, len(topics))
	for i, t := range topics {
		out[i] = topicOut(t)
	}
	writeJSON(w, http.StatusOK, struct {
		Topics []topicJSON `json:"topics"`
	}{out})
}

func (rt *Router) describeTopic(w http.ResponseWriter, r *http.Request) {
	p, t, err := rt.topic(r, auth.ActRead)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	out, err := rt.admin().describeTopic(r.Context(), p.Tenant, t)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteTopic removes the topic (adminCore.deleteTopic).
func (rt *Router) deleteTopic(w http.ResponseWriter, r *http.Request) {
	p, t, err := rt.topic(r, auth.ActManageTopics)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	if err := rt.admin().deleteTopic(r.Context(), p, t); err != nil {
		rt.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// topic authorizes the request for act and resolves its {topic} path
// parameter from the registry, in the principal's tenant.
func (rt *Router) topic(r *http.Request, act auth.Action) (auth.Principal, registry.Topic, error) {
	return rt.resolveTopic(r, act, false)
}

// dataTopic is topic for the data path: through Deps.TopicCache if set.
func (rt *Router) dataTopic(r *http.Request, act auth.Action) (auth.Principal, registry.Topic, error) {
	return rt.resolveTopic(r, act, true)
}

func (rt *Router) resolveTopic(r *http.Request, act auth.Action, cached bool) (auth.Principal, registry.Topic, error) {
	p, err := rt.authorize(r, act)
	if err != nil {
		return auth.Principal{}, registry.Topic{}, err
	}
	name, err := topicParam(r)
	if err != nil {
		return auth.Principal{}, registry.Topic{}, err
	}
	t, err := rt.admin().lookupTopic(r.Context(), p.Tenant, name, cached)
	return p, t, err
}

// topicParam returns the {topic} path parameter, unescaped; rt.topic checks
// it against the naming rule so that "a%2Fb" is a 400 naming the '/', not a
// 404.
func topicParam(r *http.Request) (string, error) {
	name := chi.URLParam(r, "topic")
	if r.URL.RawPath != "" { // chi routed on the escaped path
		n, err := url.PathUnescape(name)
		if err != nil {
			return "", wire.Errorf(wire.Invalid, "topic name in path: %v", err)
		}
		name = n
	}
	return name, nil
}

func topicNotFound(name string) error { return wire.Errorf(wire.NotFound, "topic %q not found", name) }

// decodeJSONBody reads a JSON object of at most limit bytes into v, refusing
// unknown fields and anything after the object.
func decodeJSONBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return wire.Errorf(wire.Invalid, "request body: %v", jsonMessage(err))
	}
	if dec.More() {
		return wire.Errorf(wire.Invalid, "request body: data after the JSON object")
	}
	return nil
}

// jsonMessage rewords encoding/json's errors for an API client.
func jsonMessage(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "empty, want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return fmt.Sprintf("%s: JSON %s where %s was expected", field, typ.Value, typeName(typ.Type.Kind().String()))
	}
	return err.Error() // e.g. json: unknown field "x"
}

func typeName(kind string) string {
	switch kind {
	case "int8", "int16", "int32", "int64", "int", "uint8", "uint16", "uint32", "uint64", "uint":
		return "an integer"
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "string":
		return "a string"
	}
	return "a " + kind
}
