package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// tenantSource is a cell of several organizations: each principal sees its
// own organization's topics only, as the router's tenant-scoped lookups do.
type tenantSource struct {
	mu     sync.Mutex
	topics map[int64][]Topic
}

func (s *tenantSource) Topics(_ context.Context, p auth.Principal) ([]Topic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Tenant == 0 {
		return nil, errors.New("the source was read without a principal")
	}
	return append([]Topic(nil), s.topics[p.Tenant]...), nil
}

func (s *tenantSource) Groups(_ context.Context, p auth.Principal) ([]Group, error) {
	return []Group{{Group: fmt.Sprintf("group-of-%d", p.Tenant)}}, nil
}

func (s *tenantSource) Agents(context.Context, auth.Principal) ([]Agent, error) { return nil, nil }

func (s *tenantSource) Health(context.Context, auth.Principal) (map[string]string, error) {
	return map[string]string{"registry": "ok"}, nil
}

func (s *tenantSource) setHW(tenant int64, hw int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.topics[tenant][0].PartitionInfo[0].HighWatermark = hw
}

// tokens is an authenticator over a table of access tokens that the test
// can revoke, as a logout does.
type tokens struct {
	mu   sync.Mutex
	byID map[string]auth.Principal
	down bool // the registry is unreachable
	// refusedDown counts the calls answered while down.
	refusedDown int
}

func (k *tokens) authenticate(r *http.Request) (auth.Principal, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down {
		k.refusedDown++
		return auth.Principal{}, errors.New("registry unreachable")
	}
	tok := r.URL.Query().Get("access_token")
	p, ok := k.byID[tok]
	if !ok {
		return auth.Principal{}, fmt.Errorf("access token %q: %w", tok, auth.ErrUnauthenticated)
	}
	return p, nil
}

func (k *tokens) revoke(tok string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.byID, tok)
}

func (k *tokens) downCalls() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refusedDown
}

func (k *tokens) setDown(down bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.down = down
}

func dialAs(t *testing.T, url, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+WSPath+"?access_token="+token, nil)
	if err == nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

// TestConsoleSnapshotsPerOrganization: two organizations, each with a
// topic of the same name, two browsers: each sees only its own
// organization's topics, groups and throughput, never the other's, and no
// process metrics; a logout ends its feed, the other goes on.
func TestConsoleSnapshotsPerOrganization(t *testing.T) {
	t.Parallel()
	src := &tenantSource{topics: map[int64][]Topic{
		1: {{Name: "orders", Partitions: 1, PartitionInfo: []Partition{{HighWatermark: 100}}}, {Name: "only-in-one", Partitions: 1, PartitionInfo: []Partition{{}}}},
		2: {{Name: "orders", Partitions: 1, PartitionInfo: []Partition{{HighWatermark: 5}}}},
	}}
	keys := &tokens{byID: map[string]auth.Principal{
		"tok-a": {Tenant: 1, Role: registry.RoleOwner, User: 11, Session: "s1"},
		"tok-b": {Tenant: 2, Role: registry.RoleViewer, User: 22, Session: "s2"},
		"key-b": {Tenant: 2, Role: registry.RoleAdmin, KeyID: "k2"},
	}}
	reg := prometheus.NewRegistry()
	produced := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamhouse_produce_records_total"}, []string{"topic"})
	reg.MustRegister(produced)
	produced.WithLabelValues("orders").Add(7)
	srv, _, _ := startConsole(t, Config{Source: src, Gatherer: reg, Authenticate: keys.authenticate,
		MetricsVisible: func(p auth.Principal) bool { return p.User == 0 && p.KeyID == "" },
		MinRefresh:     50 * time.Millisecond, DefaultRefresh: 50 * time.Millisecond, Reauthenticate: 100 * time.Millisecond})

	// Without a credential, or with a wrong one: 401 before any upgrade.
	for _, tok := range []string{"", "forged"} {
		_, resp, err := dialAs(t, srv.URL, tok)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Fatalf("token %q: %v %v", tok, err, resp)
		}
	}

	a, _, err := dialAs(t, srv.URL, "tok-a")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := dialAs(t, srv.URL, "tok-b")
	if err != nil {
		t.Fatal(err)
	}
	b2, _, err := dialAs(t, srv.URL, "key-b") // a second browser of org 2, through a key
	if err != nil {
		t.Fatal(err)
	}
	src.setHW(1, 1100) // org 1 grows; org 2's same-named topic does not
	sawRate := false
	for range 10 {
		sa, sb, sb2 := next(t, a, "snapshot"), next(t, b, "snapshot"), next(t, b2, "snapshot")
		if len(sa.Topics) != 2 || sa.Topics[0].Name != "only-in-one" || sa.Topics[1].Name != "orders" || sa.Groups[0].Group.Group != "group-of-1" {
			t.Fatalf("org 1 saw %+v %+v", sa.Topics, sa.Groups)
		}
		for _, s := range []event{sb, sb2} {
			if len(s.Topics) != 1 || s.Topics[0].Name != "orders" || s.Topics[0].Records != 5 || s.Topics[0].RecordsPerSec != 0 || s.Groups[0].Group.Group != "group-of-2" {
				t.Fatalf("org 2 saw %+v %+v", s.Topics, s.Groups)
			}
		}
		for _, s := range []event{sa, sb, sb2} {
			if len(s.Metrics) != 0 {
				t.Fatalf("an authenticated organization saw the process's metrics: %v", s.Metrics)
			}
		}
		sawRate = sawRate || sa.Topics[1].RecordsPerSec > 0
	}
	if !sawRate {
		t.Fatal("org 1's throughput stayed 0")
	}

	// An outage of the authenticator keeps the feeds.
	keys.setDown(true)
	for deadline := time.Now().Add(10 * time.Second); keys.downCalls() < 6; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connections were not reauthenticated")
		}
	}
	next(t, a, "snapshot")
	keys.setDown(false)

	// A logout of org 2's user ends its feed with 1008; the key's goes on.
	keys.revoke("tok-b")
	for {
		_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := b.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
				t.Fatalf("closed with %v, want 1008", err)
			}
			break
		}
	}
	for range 3 {
		if s := next(t, b2, "snapshot"); len(s.Topics) != 1 {
			t.Fatalf("org 2's other browser: %+v", s.Topics)
		}
	}

	// An authenticator that cannot answer refuses new connections with 503.
	keys.setDown(true)
	if _, resp, err := dialAs(t, srv.URL, "tok-a"); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("authenticator down: %v %v", err, resp)
	}
}

// TestConsoleMetricsForAnonymous: the single-tenant cell (no
// authentication) shows its metrics.
func TestConsoleMetricsForAnonymous(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "streamhouse_x_total"})
	reg.MustRegister(c)
	srv, _, _ := startConsole(t, Config{Source: &fakeSource{}, Gatherer: reg,
		Authenticate:   func(*http.Request) (auth.Principal, error) { return auth.Anonymous(1), nil },
		MetricsVisible: func(p auth.Principal) bool { return p.User == 0 && p.KeyID == "" }})
	if s := next(t, dialConsole(t, srv), "snapshot"); s.Metrics["streamhouse_x_total"].Type != "counter" {
		t.Fatalf("metrics %v", s.Metrics)
	}
}

// TestConsoleClientsPerOrganization: one organization cannot take every
// connection: past MaxClientsPerTenant it gets 429, others still connect,
// and a slot freed is its again.
func TestConsoleClientsPerOrganization(t *testing.T) {
	t.Parallel()
	keys := &tokens{byID: map[string]auth.Principal{
		"tok-a": {Tenant: 1, Role: registry.RoleOwner, User: 11},
		"tok-b": {Tenant: 2, Role: registry.RoleOwner, User: 22},
	}}
	src := &tenantSource{topics: map[int64][]Topic{1: nil, 2: nil}}
	srv, _, _ := startConsole(t, Config{Source: src, Authenticate: keys.authenticate, MaxClientsPerTenant: 1})
	a, _, err := dialAs(t, srv.URL, "tok-a")
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := dialAs(t, srv.URL, "tok-a")
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second connection of org 1: %v %v, want 429", err, resp)
	}
	body := make([]byte, 200)
	n, _ := resp.Body.Read(body)
	if !strings.Contains(string(body[:n]), "too many console connections for this organization (at most 1)") {
		t.Fatalf("body %q", body[:n])
	}
	if _, _, err := dialAs(t, srv.URL, "tok-b"); err != nil {
		t.Fatalf("org 2 was refused: %v", err)
	}
	a.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, _, err := dialAs(t, srv.URL, "tok-a"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("org 1's slot was not freed")
		}
	}
}
