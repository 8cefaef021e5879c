package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/streamhouse/streamhouse/account"
	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router"
	"github.com/streamhouse/streamhouse/schema"
	"github.com/streamhouse/streamhouse/wire"
)

// alpha's data, as it appears in answers: none of these may reach beta.
// (Names beta puts in its own requests, such as the topic's, may come back
// in an error message that echoes the request; these never do.)
var alphaMarkers = []string{
	"alpha-secret-",       // record values
	"org-alpha",           // the organization's slug
	"alice@alpha.example", // its owner
	"amy@alpha.example",   // its viewer
	"alpha-key-name",      // its API key's name
	"alphaField",          // its schema's field
}

// TestIsolation is issue 7's isolation test: organization beta, with its
// owner's access token and with an owner API key of its own, tries every
// endpoint of the cell (HTTP API, WebSocket, gRPC, schema registry,
// account API, console) on organization alpha's resources. Every attempt is
// refused (404, or 403) or answers with beta's own (empty) data; no answer
// carries any of alpha's data; and afterwards alpha's topic, records,
// offsets, schema, key and members are as they were. A route or RPC added
// without a case here fails the test.
func TestIsolation(t *testing.T) {
	cell := startDevWith(t, t.TempDir(), "--auth")
	base := cell.http
	conn := dialGRPC(t, cell.grpcAddr)
	consumer, admin := shv1.NewConsumerServiceClient(conn), shv1.NewAdminServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Alpha's resources.
	alpha := signUp(t, base, "alice@alpha.example", "org-alpha")
	must(t, http.StatusCreated, "POST", base+"/api/v1/topics", alpha.token, `{"name":"a-orders","partitions":2}`)
	must(t, http.StatusOK, "POST", base+"/api/v1/topics/a-orders/records", alpha.token, records("alpha-secret", 5))
	if _, err := consumer.CommitOffsets(bearerCtx(ctx, alpha.token), &shv1.CommitOffsetsRequest{Group: "a-group",
		Offsets: []*shv1.PartitionOffset{{Topic: "a-orders", Partition: 0, Offset: 1}}}); err != nil {
		t.Fatalf("alpha commits offsets: %v", err)
	}
	out := must(t, http.StatusOK, "POST", cell.schemas+"/subjects/a-orders-value/versions", alpha.token,
		`{"schema":"{\"type\":\"record\",\"name\":\"Alpha\",\"fields\":[{\"name\":\"alphaField\",\"type\":\"string\"}]}"}`)
	var reg struct{ ID int }
	if err := json.Unmarshal(out, &reg); err != nil || reg.ID == 0 {
		t.Fatalf("register: %s %v", out, err)
	}
	must(t, http.StatusOK, "PUT", cell.schemas+"/validation/a-orders-value", alpha.token, `{"validation":"STRICT"}`)
	alphaKey, _ := alpha.newKey(t, base, "alpha-key-name", "admin")
	out = must(t, http.StatusCreated, "POST", base+"/api/v1/members", alpha.token,
		`{"email":"amy@alpha.example","role":"viewer","password":"amy's long password"}`)
	var amy struct{ User int64 }
	if err := json.Unmarshal(out, &amy); err != nil || amy.User == 0 {
		t.Fatalf("add member: %s %v", out, err)
	}
	alphaBefore := alphaState(t, cell, alpha.token)

	// Beta, with an owner's token and an owner key.
	beta := signUp(t, base, "bob@beta.example", "org-beta")
	_, betaKey := beta.newKey(t, base, "beta-key", "owner")

	A := func(s string) string {
		return strings.NewReplacer("{key}", alphaKey, "{amy}", fmt.Sprint(amy.User), "{id}", fmt.Sprint(reg.ID)).Replace(s)
	}
	type httpCase struct {
		method, url, body string
		// ok are the statuses allowed besides 404 and 403: 200 for a list
		// (of beta's own, checked for alpha's markers) or an idempotent
		// delete of nothing.
		ok []int
	}
	api, sr := base+"/api/v1", cell.schemas
	httpCases := map[string]httpCase{
		// router (router.Routes)
		"GET /api/v1/topics":                                        {"GET", api + "/topics", "", []int{200}},
		"GET /api/v1/topics/{topic}":                                {"GET", api + "/topics/a-orders", "", nil},
		"DELETE /api/v1/topics/{topic}":                             {"DELETE", api + "/topics/a-orders", "", nil},
		"POST /api/v1/topics/{topic}/records":                       {"POST", api + "/topics/a-orders/records", records("beta", 1), nil},
		"POST /api/v1/topics/{topic}/partitions":                    {"POST", api + "/topics/a-orders/partitions", `{"partitions":4}`, nil},
		"GET /api/v1/topics/{topic}/partitions/{partition}/records": {"GET", api + "/topics/a-orders/partitions/0/records?offset=0", "", nil},
		"GET /api/v1/agents":                                        {"GET", api + "/agents", "", []int{200}},
		"GET /api/v1/groups":                                        {"GET", api + "/groups", "", []int{200}},
		"GET /api/v1/groups/{group}":                                {"GET", api + "/groups/a-group", "", nil},
		"POST /api/v1/groups/{group}/reset":                         {"POST", api + "/groups/a-group/reset", `{"topic":"a-orders","to":"earliest"}`, nil},
		"DELETE /api/v1/groups/{group}":                             {"DELETE", api + "/groups/a-group", "", []int{204}},
		// account API (account.Routes)
		"GET /api/v1/auth/me":                   {"GET", api + "/auth/me", "", []int{200}},
		"GET /api/v1/org":                       {"GET", api + "/org", "", []int{200}},
		"GET /api/v1/keys":                      {"GET", api + "/keys", "", []int{200}},
		"DELETE /api/v1/keys/{id}":              {"DELETE", api + A("/keys/{key}"), "", nil},
		"GET /api/v1/members":                   {"GET", api + "/members", "", []int{200}},
		"PATCH /api/v1/members/{user}":          {"PATCH", api + A("/members/{amy}"), `{"role":"admin"}`, nil},
		"DELETE /api/v1/members/{user}":         {"DELETE", api + A("/members/{amy}"), "", nil},
		"GET /api/v1/audit":                     {"GET", api + "/audit", "", []int{200}},
		"GET /api/v1/billing/usage":             {"GET", api + "/billing/usage", "", []int{200}},
		"GET /api/v1/billing/invoice":           {"GET", api + "/billing/invoice", "", []int{200}},
		"GET /api/v1/billing/plans":             {"GET", api + "/billing/plans", "", []int{200}},
		"GET /metrics":                          {"GET", base + "/metrics", "", []int{401}}, // the operator's token only
		"GET /schema-api/subjects":              {"GET", base + "/schema-api/subjects", "", []int{200}},
		"GET /schema-api/subjects/{s}/versions": {"GET", base + "/schema-api/subjects/a-orders-value/versions", "", nil},
		// schema registry (schema.Routes)
		"GET /schemas/ids/{id}":                                     {"GET", sr + A("/schemas/ids/{id}"), "", nil},
		"GET /schemas/ids/{id}/schema":                              {"GET", sr + A("/schemas/ids/{id}/schema"), "", nil},
		"GET /schemas/ids/{id}/versions":                            {"GET", sr + A("/schemas/ids/{id}/versions"), "", nil},
		"GET /schemas/ids/{id}/subjects":                            {"GET", sr + A("/schemas/ids/{id}/subjects"), "", nil},
		"GET /schemas/types":                                        {"GET", sr + "/schemas/types", "", []int{200}},
		"GET /subjects":                                             {"GET", sr + "/subjects", "", []int{200}},
		"POST /subjects/{subject}":                                  {"POST", sr + "/subjects/a-orders-value", `{"schema":"\"string\""}`, nil},
		"DELETE /subjects/{subject}":                                {"DELETE", sr + "/subjects/a-orders-value", "", nil},
		"GET /subjects/{subject}/versions":                          {"GET", sr + "/subjects/a-orders-value/versions", "", nil},
		"GET /subjects/{subject}/versions/{version}":                {"GET", sr + "/subjects/a-orders-value/versions/1", "", nil},
		"GET /subjects/{subject}/versions/{version}/schema":         {"GET", sr + "/subjects/a-orders-value/versions/1/schema", "", nil},
		"DELETE /subjects/{subject}/versions/{version}":             {"DELETE", sr + "/subjects/a-orders-value/versions/1", "", nil},
		"POST /compatibility/subjects/{subject}/versions/{version}": {"POST", sr + "/compatibility/subjects/a-orders-value/versions/1", `{"schema":"\"string\""}`, nil},
		"GET /config":                                               {"GET", sr + "/config", "", []int{200}},
		"GET /config/{subject}":                                     {"GET", sr + "/config/a-orders-value", "", nil},
		"DELETE /config/{subject}":                                  {"DELETE", sr + "/config/a-orders-value", "", nil},
		"GET /mode":                                                 {"GET", sr + "/mode", "", []int{200}},
		"GET /mode/{subject}":                                       {"GET", sr + "/mode/a-orders-value", "", nil},
		"DELETE /mode/{subject}":                                    {"DELETE", sr + "/mode/a-orders-value", "", nil},
		"GET /validation/{subject}":                                 {"GET", sr + "/validation/a-orders-value", "", []int{200}}, // beta's own, unset: NONE
		"DELETE /validation/{subject}":                              {"DELETE", sr + "/validation/a-orders-value", "", []int{200}},
	}
	// Routes that act only in the caller's own namespace (creating a topic
	// or a schema of that name makes beta's own) or on the caller itself
	// (sign-up, login, logout, its own organization's settings and plan):
	// there is no alpha resource to name. They are run last, and alpha's
	// state is checked after them.
	ownOnly := []string{
		"POST /api/v1/topics", "POST /api/v1/auth/signup", "POST /api/v1/auth/login", "POST /api/v1/auth/refresh",
		"POST /api/v1/auth/logout", "PATCH /api/v1/org", "PUT /api/v1/org/plan", "POST /api/v1/keys", "POST /api/v1/members",
		"POST /subjects/{subject}/versions", "POST /compatibility/subjects/{subject}/versions",
		"PUT /config", "PUT /config/{subject}", "PUT /mode", "PUT /mode/{subject}", "PUT /validation/{subject}",
		"GET /ws/produce", "GET /ws/consume", // tried below, over WebSocket
	}
	for _, r := range allRoutes(t) {
		if _, ok := httpCases[r]; !ok && !slices.Contains(ownOnly, r) {
			t.Errorf("route %s has no isolation case", r)
		}
	}

	leaks := func(what string, body []byte) {
		t.Helper()
		for _, m := range alphaMarkers {
			if strings.Contains(string(body), m) {
				t.Errorf("%s: the answer carries alpha's %q: %s", what, m, body)
			}
		}
	}
	creds := map[string]string{"beta's access token": beta.token, "beta's API key": betaKey}
	for credName, cred := range creds {
		for name, c := range httpCases {
			status, body := call(t, c.method, c.url, cred, c.body)
			what := fmt.Sprintf("%s with %s", name, credName)
			if status != http.StatusNotFound && status != http.StatusForbidden && !slices.Contains(c.ok, status) {
				t.Errorf("%s: %d %s, want 404 or 403%v", what, status, body, c.ok)
			}
			leaks(what, body)
		}
		// Without any credential everything is 401 (sign-up and login
		// aside); with a forged one too.
		for name, c := range httpCases {
			for _, bad := range []string{"", "shk_000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa000000", alpha.token + "x"} {
				status, body := call(t, c.method, c.url, bad, c.body)
				if status != http.StatusUnauthorized && !(name == "GET /schemas/types" && status == 200) {
					t.Errorf("%s with credential %.12q: %d %s, want 401", name, bad, status, body)
				}
				leaks(name, body)
			}
		}

		// WebSocket: produce and consume on alpha's topic.
		for _, path := range []string{"/ws/produce?topic=a-orders", "/ws/consume?topic=a-orders&partition=0&offset=earliest"} {
			what := fmt.Sprintf("%s with %s", path, credName)
			hdr := http.Header{"Authorization": {"Bearer " + cred}}
			ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+path, hdr)
			if err != nil {
				t.Fatalf("%s: dial: %v", what, err)
			}
			_ = ws.WriteJSON(map[string]any{"id": "x", "value": "beta"})
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			var frames []string
			for {
				_, msg, err := ws.ReadMessage()
				if err != nil {
					if !websocket.IsCloseError(err, 4404, 4403) {
						t.Errorf("%s: closed with %v, want 4404 or 4403", what, err)
					}
					break
				}
				frames = append(frames, string(msg))
			}
			ws.Close()
			for _, f := range frames {
				if strings.Contains(f, `"offsets"`) || strings.Contains(f, `"records"`) {
					t.Errorf("%s: frame %s, want only an error", what, f)
				}
				leaks(what, []byte(f))
			}
		}
		// The console's live view.
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/console?access_token="+cred,
			http.Header{"Origin": {base}})
		if err != nil {
			t.Fatalf("console with %s: %v", credName, err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for range 2 {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("console with %s: %v", credName, err)
			}
			if strings.Contains(string(msg), "a-orders") {
				t.Errorf("console with %s shows alpha's topic: %.300s", credName, msg)
			}
			leaks("console", msg)
		}
		ws.Close()

		// gRPC: every method of both services.
		gctx := bearerCtx(ctx, cred)
		grpcCases := map[string]func() (proto.Message, error){
			"/streamhouse.v1.ConsumerService/Fetch": func() (proto.Message, error) {
				return consumer.Fetch(gctx, &shv1.FetchRequest{Topic: "a-orders", Partition: 0})
			},
			"/streamhouse.v1.ConsumerService/CommitOffsets": func() (proto.Message, error) {
				return consumer.CommitOffsets(gctx, &shv1.CommitOffsetsRequest{Group: "a-group",
					Offsets: []*shv1.PartitionOffset{{Topic: "a-orders", Partition: 0, Offset: 4}}})
			},
			"/streamhouse.v1.ConsumerService/FetchOffsets": func() (proto.Message, error) {
				r, err := consumer.FetchOffsets(gctx, &shv1.FetchOffsetsRequest{Group: "a-group"})
				if err == nil && len(r.Offsets) > 0 {
					t.Errorf("FetchOffsets with %s: alpha's offsets %v", credName, r.Offsets)
				}
				return r, err
			},
			"/streamhouse.v1.ConsumerService/Subscribe": func() (proto.Message, error) {
				s, err := consumer.Subscribe(gctx, &shv1.SubscribeRequest{Group: "a-group", Topics: []string{"a-orders"}})
				if err != nil {
					return nil, err
				}
				return s.Recv()
			},
			"/streamhouse.v1.AdminService/CreateTopic": nil, // beta's own namespace
			"/streamhouse.v1.AdminService/ListTopics": func() (proto.Message, error) {
				r, err := admin.ListTopics(gctx, &shv1.ListTopicsRequest{})
				if err == nil && len(r.Topics) > 0 {
					t.Errorf("ListTopics with %s: %v", credName, r.Topics)
				}
				return r, err
			},
			"/streamhouse.v1.AdminService/DescribeTopic": func() (proto.Message, error) {
				return admin.DescribeTopic(gctx, &shv1.DescribeTopicRequest{Topic: "a-orders"})
			},
			"/streamhouse.v1.AdminService/AddPartitions": func() (proto.Message, error) {
				return admin.AddPartitions(gctx, &shv1.AddPartitionsRequest{Topic: "a-orders", Partitions: 4})
			},
			"/streamhouse.v1.AdminService/DeleteTopic": func() (proto.Message, error) {
				return admin.DeleteTopic(gctx, &shv1.DeleteTopicRequest{Topic: "a-orders"})
			},
			"/streamhouse.v1.AdminService/ListAgents": func() (proto.Message, error) {
				return admin.ListAgents(gctx, &shv1.ListAgentsRequest{})
			},
			"/streamhouse.v1.AdminService/ListGroups": func() (proto.Message, error) {
				r, err := admin.ListGroups(gctx, &shv1.ListGroupsRequest{})
				if err == nil && len(r.Groups) > 0 {
					t.Errorf("ListGroups with %s: %v", credName, r.Groups)
				}
				return r, err
			},
			"/streamhouse.v1.AdminService/DescribeGroup": func() (proto.Message, error) {
				return admin.DescribeGroup(gctx, &shv1.DescribeGroupRequest{Group: "a-group"})
			},
			"/streamhouse.v1.AdminService/ResetGroupOffsets": func() (proto.Message, error) {
				return admin.ResetGroupOffsets(gctx, &shv1.ResetGroupOffsetsRequest{Group: "a-group", Topic: "a-orders", To: "earliest"})
			},
			"/streamhouse.v1.AdminService/DeleteGroup": func() (proto.Message, error) {
				return admin.DeleteGroup(gctx, &shv1.DeleteGroupRequest{Group: "a-group"})
			},
		}
		for _, sd := range []struct {
			name    string
			methods []string
		}{{shv1.ConsumerService_ServiceDesc.ServiceName, grpcMethods(shv1.ConsumerService_ServiceDesc)},
			{shv1.AdminService_ServiceDesc.ServiceName, grpcMethods(shv1.AdminService_ServiceDesc)}} {
			for _, m := range sd.methods {
				full := "/" + sd.name + "/" + m
				run, ok := grpcCases[full]
				if !ok {
					t.Errorf("gRPC method %s has no isolation case", full)
					continue
				}
				if run == nil {
					continue
				}
				resp, err := run()
				code := status.Code(err)
				if err == nil && (strings.HasSuffix(m, "Fetch") || strings.HasSuffix(m, "Subscribe") || strings.HasSuffix(m, "Describe"+"Topic")) {
					t.Errorf("%s with %s: answered %v, want NotFound", full, credName, resp)
				}
				if err != nil && code != codes.NotFound && code != codes.PermissionDenied {
					t.Errorf("%s with %s: %v, want NotFound or PermissionDenied", full, credName, err)
				}
				if resp != nil {
					leaks(full, []byte(fmt.Sprint(resp)))
				}
				leaks(full, []byte(fmt.Sprint(err)))
			}
		}
	}

	// The own-namespace routes, run by beta with alpha's names: they make
	// beta's own things.
	must(t, http.StatusCreated, "POST", api+"/topics", beta.token, `{"name":"a-orders","partitions":1}`)
	must(t, http.StatusOK, "POST", sr+"/subjects/a-orders-value/versions", beta.token, `{"schema":"\"string\""}`)
	must(t, http.StatusOK, "PUT", sr+"/config/a-orders-value", beta.token, `{"compatibility":"NONE"}`)

	// Alpha is as it was.
	if after := alphaState(t, cell, alpha.token); after != alphaBefore {
		t.Errorf("alpha changed:\nbefore %s\nafter  %s", alphaBefore, after)
	}
}

// alphaState summarises what the isolation test must find unchanged in an
// organization: its topic's partitions and records, its group's offsets,
// its schema, its keys and its members.
func alphaState(t *testing.T, cell *devCell, token string) string {
	t.Helper()
	api := cell.http + "/api/v1"
	var b strings.Builder
	var topic struct {
		Partitions int `json:"partitions"`
	}
	_ = json.Unmarshal(must(t, http.StatusOK, "GET", api+"/topics/a-orders", token, ""), &topic)
	fmt.Fprintf(&b, "partitions=%d ", topic.Partitions)
	for p := range 2 {
		b.Write(must(t, http.StatusOK, "GET", api+fmt.Sprintf("/topics/a-orders/partitions/%d/records?offset=0", p), token, ""))
	}
	// The group's committed offsets (not its lag: the high watermark it
	// is measured against moves when segments are flushed).
	var group struct {
		Offsets []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Committed int64  `json:"committed"`
		} `json:"offsets"`
	}
	_ = json.Unmarshal(must(t, http.StatusOK, "GET", api+"/groups/a-group", token, ""), &group)
	fmt.Fprintf(&b, " offsets=%+v ", group.Offsets)
	b.Write(must(t, http.StatusOK, "GET", cell.schemas+"/subjects/a-orders-value/versions/1", token, ""))
	b.Write(must(t, http.StatusOK, "GET", cell.schemas+"/validation/a-orders-value", token, ""))
	var keys struct {
		Keys []struct {
			ID        string  `json:"id"`
			RevokedAt *string `json:"revoked_at"`
		} `json:"keys"`
	}
	_ = json.Unmarshal(must(t, http.StatusOK, "GET", api+"/keys", token, ""), &keys)
	fmt.Fprintf(&b, " keys=%+v ", keys.Keys)
	var members struct {
		Members []struct {
			User int64  `json:"user"`
			Role string `json:"role"`
		} `json:"members"`
	}
	_ = json.Unmarshal(must(t, http.StatusOK, "GET", api+"/members", token, ""), &members)
	fmt.Fprintf(&b, "members=%+v", members.Members)
	return b.String()
}

// allRoutes lists the routes of the router's API, the account API and the
// schema registry, as "METHOD /pattern", from the handlers themselves.
func allRoutes(t *testing.T) []string {
	t.Helper()
	reg, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "routes.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	api, err := router.New(router.Config{Authenticate: router.Anonymous(1)}, router.Deps{Topics: reg, Producer: noProducer{}})
	if err != nil {
		t.Fatal(err)
	}
	routes := api.Routes()
	sr, err := schema.NewHandler(schema.Config{Store: reg, Tenant: func(*http.Request) (int64, error) { return 1, nil }})
	if err != nil {
		t.Fatal(err)
	}
	routes = append(routes, chiRoutes(t, sr)...)
	return append(routes, account.Routes()...)
}

// chiRoutes lists a chi router's routes.
func chiRoutes(t *testing.T, h http.Handler) []string {
	t.Helper()
	r, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("%T is not a chi router", h)
	}
	var out []string
	_ = chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+route)
		return nil
	})
	return out
}

// noProducer is a Producer for a router that only lists its routes.
type noProducer struct{}

func (noProducer) Produce(context.Context, *wire.ProduceRequest) (*wire.ProduceResponse, error) {
	return nil, errors.New("not for produce")
}

// grpcMethods lists a service's unary methods and streams.
func grpcMethods(sd grpc.ServiceDesc) []string {
	var out []string
	for _, m := range sd.Methods {
		out = append(out, m.MethodName)
	}
	for _, st := range sd.Streams {
		out = append(out, st.StreamName)
	}
	return out
}
