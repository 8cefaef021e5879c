package router

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc/metadata"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// noTokenGRPC is an authenticator that finds no credential.
func noTokenGRPC(context.Context) (auth.Principal, error) {
	return auth.Principal{}, fmt.Errorf("%w: no token", auth.ErrUnauthenticated)
}

// testCredential is the tests' credential: "Bearer <tenant>:<role>", user 7.
// (router/auth has the real ones; the router sees only the Principal.)
func testCredential(tenant int64, role registry.Role) string {
	return fmt.Sprintf("Bearer %d:%s", tenant, role)
}

func testPrincipal(header string) (auth.Principal, error) {
	cred, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return auth.Principal{}, fmt.Errorf("%w: no bearer credential", auth.ErrUnauthenticated)
	}
	ts, role, ok := strings.Cut(cred, ":")
	tenant, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return auth.Principal{}, fmt.Errorf("%w: malformed credential", auth.ErrUnauthenticated)
	}
	return auth.Principal{Tenant: tenant, Role: registry.Role(role), User: 7}, nil
}

func testAuthHTTP(r *http.Request) (auth.Principal, error) {
	return testPrincipal(r.Header.Get("Authorization"))
}

func testAuthGRPC(ctx context.Context) (auth.Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		return testPrincipal(v[0])
	}
	return testPrincipal("")
}

// authHarness serves the HTTP, WebSocket and gRPC APIs (consumer and
// admin) on 127.0.0.1:0 over a real embedded registry with two tenants:
// A ("default", with data) and B ("other", empty). The fetcher is a log of
// three records.
type authHarness struct {
	t        *testing.T
	reg      *registry.Embedded
	a, b     int64
	topic    registry.Topic // A's "t", 2 partitions
	prod     *fakeProducer
	log      *fakeLog
	fetches  atomic.Int64 // fetches that reached the log
	srv      *httptest.Server
	consumer shv1.ConsumerServiceClient
	admin    shv1.AdminServiceClient
}

// newAuthHarness builds the harness; set may add to the Deps and the
// GRPCConfig (quotas, usage, audit) before the servers start.
func newAuthHarness(t *testing.T, set func(d *Deps, g *GRPCConfig)) *authHarness {
	t.Helper()
	ctx := context.Background()
	reg, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	a, err := reg.CreateTenant(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	b, err := reg.CreateTenant(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	h := &authHarness{t: t, reg: reg, a: a.ID, b: b.ID, prod: &fakeProducer{}, log: &fakeLog{}}
	h.log.append(wire.FetchedRecord{Key: []byte("k0"), Value: []byte("hello"), Headers: []wire.Header{{Key: "h", Value: []byte("v")}}},
		wire.FetchedRecord{Value: []byte("world!")}, wire.FetchedRecord{Key: []byte("k2"), Value: []byte("x")})
	if h.topic, err = reg.CreateTopic(ctx, a.ID, registry.TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	cluster := &fakeCluster{agents: []AgentInfo{{ID: "agent-1", Live: true,
		Partitions: []registry.PartitionID{{Tenant: a.ID, Topic: h.topic.ID, Partition: 0}}}}}
	fetch := countingFetch{h.log, &h.fetches}
	d := Deps{Topics: reg, Producer: h.prod, Offsets: reg, Fetch: fetch, Cluster: cluster}
	g := GRPCConfig{Authenticate: testAuthGRPC, Topics: reg, Fetch: fetch}
	if set != nil {
		set(&d, &g)
	}
	g.Admin = &d
	rt, err := New(Config{Authenticate: testAuthHTTP}, d)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(rt)
	t.Cleanup(h.srv.Close)
	gs, err := NewGRPCServer(g)
	if err != nil {
		t.Fatal(err)
	}
	conn := serveGRPC(t, gs)
	h.consumer, h.admin = shv1.NewConsumerServiceClient(conn), shv1.NewAdminServiceClient(conn)
	return h
}

// countingFetch counts the fetches that reach f.
type countingFetch struct {
	f Fetcher
	n *atomic.Int64
}

func (c countingFetch) Fetch(ctx context.Context, req *wire.FetchRequest) (*wire.FetchResponse, error) {
	c.n.Add(1)
	return c.f.Fetch(ctx, req)
}

// mkTopic creates a topic of tenant A.
func (h *authHarness) mkTopic(name string, partitions int32) registry.Topic {
	h.t.Helper()
	tp, err := h.reg.CreateTopic(context.Background(), h.a, registry.TopicSpec{Name: name, Partitions: partitions})
	if err != nil {
		h.t.Fatal(err)
	}
	return tp
}

// commit commits an offset of A's "t" partition 0 for group.
func (h *authHarness) commit(group string, off int64) {
	h.t.Helper()
	err := h.reg.CommitOffsets(context.Background(), h.a, group, []registry.GroupOffset{{Topic: h.topic.ID, Partition: 0, Offset: off}})
	if err != nil {
		h.t.Fatal(err)
	}
}

// call makes an HTTP request with the credential (none if "").
func (h *authHarness) call(method, path, cred, body string) (int, http.Header, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if cred != "" {
		req.Header.Set("Authorization", cred)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// dial opens a WebSocket with the credential; resp is the handshake's
// answer (its body read) when it was refused.
func (h *authHarness) dial(path, cred string) (*websocket.Conn, int, string) {
	h.t.Helper()
	hdr := http.Header{}
	if cred != "" {
		hdr.Set("Authorization", cred)
	}
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.srv.URL, "http")+path, hdr)
	if err != nil {
		if resp == nil {
			h.t.Fatalf("dial %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, resp.StatusCode, string(b)
	}
	h.t.Cleanup(func() { _ = c.Close() })
	return c, http.StatusSwitchingProtocols, ""
}

// grpcAs is a call context carrying the credential (none if "").
func grpcAs(t *testing.T, cred string) context.Context {
	ctx := grpcCtx(t)
	if cred == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", cred)
}
