package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// below is the role just under each role (none under viewer).
var below = map[registry.Role]registry.Role{
	registry.RoleMember: registry.RoleViewer,
	registry.RoleAdmin:  registry.RoleMember,
	registry.RoleOwner:  registry.RoleAdmin,
}

// wantForbidden checks a 403 whose message names the role.
func wantForbidden(t *testing.T, what string, status int, body string, role registry.Role) {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || status != http.StatusForbidden || e.Error.Code != "forbidden" ||
		!strings.HasPrefix(e.Error.Message, "role "+string(role)+" may not ") {
		t.Errorf("%s as %s: %d %s, want 403 forbidden naming the role", what, role, status, body)
	}
}

func wantUnauthenticated(t *testing.T, what string, status int, hdr http.Header, body string) {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || status != http.StatusUnauthorized ||
		e.Error.Code != "unauthenticated" || !strings.Contains(e.Error.Message, "no bearer credential") {
		t.Errorf("%s without a credential: %d %s, want 401 unauthenticated", what, status, body)
	}
	if got := hdr.Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("%s without a credential: WWW-Authenticate %q, want Bearer", what, got)
	}
}

// TestAuthzHTTPRoutes tries every HTTP and WebSocket route without a
// credential (401), with the role just below the one it needs (403), and
// with the one it needs (passes); the refused attempts change nothing (the
// passing one would fail otherwise: a created topic would exist, a deleted
// one be gone).
func TestAuthzHTTPRoutes(t *testing.T) {
	t.Parallel()
	h := newAuthHarness(t, nil)
	h.mkTopic("del-me", 1)
	h.mkTopic("grow", 1)
	h.commit("g", 1)
	h.commit("gdel", 1)
	viewer, member, admin := registry.RoleViewer, registry.RoleMember, registry.RoleAdmin
	routes := []struct {
		method, path, body string
		role               registry.Role
		want               int
	}{
		{"POST", "/api/v1/topics", `{"name":"new1","partitions":1}`, admin, 201},
		{"GET", "/api/v1/topics", "", viewer, 200},
		{"GET", "/api/v1/topics/t", "", viewer, 200},
		{"DELETE", "/api/v1/topics/del-me", "", admin, 204},
		{"POST", "/api/v1/topics/t/records", `{"records":[{"value":"x"}]}`, member, 200},
		{"POST", "/api/v1/topics/grow/partitions", `{"partitions":2}`, admin, 200},
		{"GET", "/api/v1/topics/t/partitions/0/records?offset=0", "", member, 200},
		{"GET", "/api/v1/agents", "", viewer, 200},
		{"GET", "/api/v1/groups", "", viewer, 200},
		{"GET", "/api/v1/groups/g", "", viewer, 200},
		{"POST", "/api/v1/groups/g/reset", `{"to":"earliest"}`, member, 200},
		{"DELETE", "/api/v1/groups/gdel", "", member, 204},
	}
	for _, rt := range routes {
		what := rt.method + " " + rt.path
		st, hdr, body := h.call(rt.method, rt.path, "", rt.body)
		wantUnauthenticated(t, what, st, hdr, body)
		st, _, body = h.call(rt.method, rt.path, "Bearer nonsense", rt.body)
		if st != http.StatusUnauthorized || !strings.Contains(body, "malformed credential") {
			t.Errorf("%s with a bad credential: %d %s", what, st, body)
		}
		if lower, ok := below[rt.role]; ok {
			st, _, body = h.call(rt.method, rt.path, testCredential(h.a, lower), rt.body)
			wantForbidden(t, what, st, body, lower)
		}
		if st, _, body = h.call(rt.method, rt.path, testCredential(h.a, rt.role), rt.body); st != rt.want {
			t.Errorf("%s as %s: %d %s, want %d", what, rt.role, st, body, rt.want)
		}
	}
	if n := len(h.prod.calls()); n != 1 {
		t.Errorf("%d produce calls, want the one of the member", n)
	}

	// WebSocket: refused at the handshake, before any connection.
	for _, path := range []string{"/ws/produce?topic=t", "/ws/consume?topic=t"} {
		if _, st, body := h.dial(path, ""); st != http.StatusUnauthorized || !strings.Contains(body, `"unauthenticated"`) {
			t.Errorf("%s without a credential: %d %s", path, st, body)
		}
		if _, st, body := h.dial(path, testCredential(h.a, viewer)); st != http.StatusForbidden {
			t.Errorf("%s as viewer: %d %s", path, st, body)
		} else {
			wantForbidden(t, path, st, body, viewer)
		}
	}
	c, st, body := h.dial("/ws/produce?topic=t", testCredential(h.a, member))
	if c == nil {
		t.Fatalf("ws produce as member: %d %s", st, body)
	}
	send(t, c, `{"id":1,"value":"w"}`)
	if a := readAck(t, c); a.Error != nil || len(a.Offsets) != 1 || a.Offsets[0].Offset == nil {
		t.Fatalf("ws produce as member: %+v", a)
	}
	c, st, body = h.dial("/ws/consume?topic=t&offset=earliest", testCredential(h.a, member))
	if c == nil {
		t.Fatalf("ws consume as member: %d %s", st, body)
	}
	var rec struct {
		Value string `json:"value"`
	}
	if err := c.ReadJSON(&rec); err != nil || rec.Value != "hello" {
		t.Fatalf("ws consume as member: %+v %v", rec, err)
	}
}

// TestAuthzGRPCMethods is TestAuthzHTTPRoutes for every method of the
// ConsumerService and the AdminService.
func TestAuthzGRPCMethods(t *testing.T) {
	t.Parallel()
	h := newAuthHarness(t, nil)
	h.mkTopic("del-grpc", 1)
	h.mkTopic("grow-grpc", 1)
	h.commit("g", 1)
	h.commit("gdel-grpc", 1)
	viewer, member, admin := registry.RoleViewer, registry.RoleMember, registry.RoleAdmin
	methods := []struct {
		name string
		role registry.Role
		call func(ctx context.Context) error
		want codes.Code // of the needed role
	}{
		{"Fetch", member, func(ctx context.Context) error {
			_, err := h.consumer.Fetch(ctx, &shv1.FetchRequest{Topic: "t"})
			return err
		}, codes.OK},
		{"CommitOffsets", member, func(ctx context.Context) error {
			_, err := h.consumer.CommitOffsets(ctx, &shv1.CommitOffsetsRequest{Group: "gc",
				Offsets: []*shv1.PartitionOffset{{Topic: "t", Partition: 0, Offset: 1}}})
			return err
		}, codes.OK},
		{"FetchOffsets", member, func(ctx context.Context) error {
			_, err := h.consumer.FetchOffsets(ctx, &shv1.FetchOffsetsRequest{Group: "g"})
			return err
		}, codes.OK},
		{"Subscribe", member, func(ctx context.Context) error {
			s, err := h.consumer.Subscribe(ctx, &shv1.SubscribeRequest{Group: "g", Topics: []string{"t"}})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}, codes.Unimplemented}, // this server has no group service: past the check
		{"CreateTopic", admin, func(ctx context.Context) error {
			_, err := h.admin.CreateTopic(ctx, &shv1.CreateTopicRequest{Name: "new-grpc"})
			return err
		}, codes.OK},
		{"ListTopics", viewer, func(ctx context.Context) error {
			_, err := h.admin.ListTopics(ctx, &shv1.ListTopicsRequest{})
			return err
		}, codes.OK},
		{"DescribeTopic", viewer, func(ctx context.Context) error {
			_, err := h.admin.DescribeTopic(ctx, &shv1.DescribeTopicRequest{Topic: "t"})
			return err
		}, codes.OK},
		{"AddPartitions", admin, func(ctx context.Context) error {
			_, err := h.admin.AddPartitions(ctx, &shv1.AddPartitionsRequest{Topic: "grow-grpc", Partitions: 2})
			return err
		}, codes.OK},
		{"DeleteTopic", admin, func(ctx context.Context) error {
			_, err := h.admin.DeleteTopic(ctx, &shv1.DeleteTopicRequest{Topic: "del-grpc"})
			return err
		}, codes.OK},
		{"ListAgents", viewer, func(ctx context.Context) error {
			_, err := h.admin.ListAgents(ctx, &shv1.ListAgentsRequest{})
			return err
		}, codes.OK},
		{"ListGroups", viewer, func(ctx context.Context) error {
			_, err := h.admin.ListGroups(ctx, &shv1.ListGroupsRequest{})
			return err
		}, codes.OK},
		{"DescribeGroup", viewer, func(ctx context.Context) error {
			_, err := h.admin.DescribeGroup(ctx, &shv1.DescribeGroupRequest{Group: "g"})
			return err
		}, codes.OK},
		{"ResetGroupOffsets", member, func(ctx context.Context) error {
			_, err := h.admin.ResetGroupOffsets(ctx, &shv1.ResetGroupOffsetsRequest{Group: "g", To: "earliest"})
			return err
		}, codes.OK},
		{"DeleteGroup", member, func(ctx context.Context) error {
			_, err := h.admin.DeleteGroup(ctx, &shv1.DeleteGroupRequest{Group: "gdel-grpc"})
			return err
		}, codes.OK},
	}
	for _, m := range methods {
		err := m.call(grpcAs(t, ""))
		if st := status.Convert(err); st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "no bearer credential") {
			t.Errorf("%s without a credential: %v", m.name, err)
		}
		if lower, ok := below[m.role]; ok {
			err = m.call(grpcAs(t, testCredential(h.a, lower)))
			if st := status.Convert(err); st.Code() != codes.PermissionDenied || !strings.HasPrefix(st.Message(), "role "+string(lower)+" may not") {
				t.Errorf("%s as %s: %v", m.name, lower, err)
			}
		}
		if err = m.call(grpcAs(t, testCredential(h.a, m.role))); status.Code(err) != m.want {
			t.Errorf("%s as %s: %v, want %v", m.name, m.role, err, m.want)
		}
	}
}

// TestAuthzTenantIsolation acts as the owner of tenant B on everything of
// tenant A: every look-up is not found or empty, and A's data is intact.
func TestAuthzTenantIsolation(t *testing.T) {
	t.Parallel()
	h := newAuthHarness(t, nil)
	h.commit("g", 1)
	asB := testCredential(h.b, registry.RoleOwner)

	for _, c := range []struct{ method, path, body, want string }{
		{"GET", "/api/v1/topics", "", `{"topics":[]}`},
		{"GET", "/api/v1/groups", "", `{"groups":[]}`},
		{"GET", "/api/v1/agents", "", `{"agents":[{"id":"agent-1","live":true,"partitions":[]}]}`},
	} {
		if st, _, body := h.call(c.method, c.path, asB, c.body); st != 200 || strings.TrimSpace(body) != c.want {
			t.Errorf("B: %s %s: %d %s, want %s", c.method, c.path, st, body, c.want)
		}
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/topics/t", ""},
		{"DELETE", "/api/v1/topics/t", ""},
		{"POST", "/api/v1/topics/t/records", `{"records":[{"value":"x"}]}`},
		{"POST", "/api/v1/topics/t/partitions", `{"partitions":5}`},
		{"GET", "/api/v1/topics/t/partitions/0/records?offset=0", ""},
		{"GET", "/api/v1/groups/g", ""},
		{"POST", "/api/v1/groups/g/reset", `{"to":"earliest"}`},
		{"POST", "/api/v1/groups/g/reset", `{"to":"earliest","topic":"t"}`},
		{"DELETE", "/api/v1/groups/g", ""},
	} {
		st, _, body := h.call(c.method, c.path, asB, c.body)
		var e errorBody
		if err := json.Unmarshal([]byte(body), &e); err != nil || st != http.StatusNotFound || e.Error.Code != "not_found" {
			t.Errorf("B: %s %s: %d %s, want 404", c.method, c.path, st, body)
		}
	}
	for _, path := range []string{"/ws/produce?topic=t", "/ws/consume?topic=t&offset=earliest"} {
		c, st, body := h.dial(path, asB)
		if c == nil {
			t.Fatalf("B: %s: %d %s", path, st, body)
		}
		wantClose(t, c, 4404, `topic "t" not found`)
	}

	ctx := grpcAs(t, asB)
	notFound := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.NotFound {
			t.Errorf("B: %s: %v, want NotFound", what, err)
		}
	}
	_, err := h.consumer.Fetch(ctx, &shv1.FetchRequest{Topic: "t"})
	notFound("Fetch", err)
	_, err = h.consumer.CommitOffsets(ctx, &shv1.CommitOffsetsRequest{Group: "g", Offsets: []*shv1.PartitionOffset{{Topic: "t"}}})
	notFound("CommitOffsets", err)
	_, err = h.admin.DescribeTopic(ctx, &shv1.DescribeTopicRequest{Topic: "t"})
	notFound("DescribeTopic", err)
	_, err = h.admin.AddPartitions(ctx, &shv1.AddPartitionsRequest{Topic: "t", Partitions: 5})
	notFound("AddPartitions", err)
	_, err = h.admin.DeleteTopic(ctx, &shv1.DeleteTopicRequest{Topic: "t"})
	notFound("DeleteTopic", err)
	_, err = h.admin.DescribeGroup(ctx, &shv1.DescribeGroupRequest{Group: "g"})
	notFound("DescribeGroup", err)
	_, err = h.admin.ResetGroupOffsets(ctx, &shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "t", To: "earliest"})
	notFound("ResetGroupOffsets", err)
	_, err = h.admin.DeleteGroup(ctx, &shv1.DeleteGroupRequest{Group: "g"})
	notFound("DeleteGroup", err)
	if offs, err := h.consumer.FetchOffsets(ctx, &shv1.FetchOffsetsRequest{Group: "g"}); err != nil || len(offs.GetOffsets()) != 0 {
		t.Errorf("B: FetchOffsets: %v %v", offs, err)
	}
	if tl, err := h.admin.ListTopics(ctx, &shv1.ListTopicsRequest{}); err != nil || len(tl.GetTopics()) != 0 {
		t.Errorf("B: ListTopics: %v %v", tl, err)
	}
	if gl, err := h.admin.ListGroups(ctx, &shv1.ListGroupsRequest{}); err != nil || len(gl.GetGroups()) != 0 {
		t.Errorf("B: ListGroups: %v %v", gl, err)
	}
	if al, err := h.admin.ListAgents(ctx, &shv1.ListAgentsRequest{}); err != nil || len(al.GetAgents()) != 1 || len(al.GetAgents()[0].GetPartitions()) != 0 {
		t.Errorf("B: ListAgents: %v %v", al, err)
	}
	_, err = h.admin.CreateTopic(ctx, &shv1.CreateTopicRequest{Name: "t", Partitions: proto.Int32(1)})
	if err != nil {
		t.Errorf("B: CreateTopic of its own t: %v", err)
	}

	// A's data is untouched.
	if n := len(h.prod.calls()); n != 0 {
		t.Errorf("%d produce calls reached an owner", n)
	}
	tp, err := h.reg.Topic(context.Background(), h.a, "t")
	if err != nil || tp.Partitions != 2 || tp.ID != h.topic.ID {
		t.Errorf("A's topic: %+v %v", tp, err)
	}
	if offs, err := h.reg.FetchOffsets(context.Background(), h.a, "g"); err != nil || len(offs) != 1 || offs[0].Offset != 1 {
		t.Errorf("A's group: %+v %v", offs, err)
	}
}

// TestAuthzErrorMapping checks the error table's rows for authentication
// and permission, and that a registry that cannot be reached while
// authenticating stays a 503.
func TestAuthzErrorMapping(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Authenticate: func(r *http.Request) (auth.Principal, error) {
		return auth.Principal{}, fmt.Errorf("look up api key: %w", &pgconn.PgError{Code: "57P01"}) // PostgreSQL restarting
	}})
	w := h.do("GET", "/api/v1/topics", "", nil)
	wantError(t, w, http.StatusServiceUnavailable, "unavailable", "registry is unreachable")
	if w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("a 503 with WWW-Authenticate")
	}
	code, msg, internal := codeOf(&auth.ForbiddenError{Role: registry.RoleViewer, Action: auth.ActManageTopics})
	if code.String() != "forbidden" || msg != "role viewer may not manage-topics" || internal {
		t.Errorf("forbidden: %s %q %v", code, msg, internal)
	}
	if err := toGRPC(context.Background(), h.rt.log, "x", &auth.ForbiddenError{Role: registry.RoleViewer}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("forbidden over gRPC: %v", err)
	}
}
