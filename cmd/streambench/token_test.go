package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestTokenSent: with a token, every HTTP request carries it as a bearer
// credential and every gRPC call as the authorization metadata; without
// one, nothing is sent.
func TestTokenSent(t *testing.T) {
	var mu sync.Mutex
	var httpAuth, grpcAuth []string
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		httpAuth = append(httpAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":7}`))
	}))
	defer web.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		mu.Lock()
		grpcAuth = append(grpcAuth, strings.Join(md.Get("authorization"), ","))
		mu.Unlock()
		return status.Error(codes.Unauthenticated, "checked by the test")
	}))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() { srv.Stop(); <-served }()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, token := range []string{"shk_bench", ""} {
		a, err := newAPI(web.URL, ln.Addr().String(), token, 4)
		if err != nil {
			t.Fatal(err)
		}
		if id, err := a.createTopic(ctx, "orders", 1, "wal"); err != nil || id != 7 {
			t.Fatalf("token %q: createTopic = %d, %v; want 7", token, id, err)
		}
		if err := a.produce(ctx, "orders", 0, []byte("batch")); err != nil {
			t.Fatalf("token %q: produce: %v", token, err)
		}
		if _, err := a.fetch(ctx, "orders", 0, 0, 1<<20, 0); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("token %q: fetch error %v, want the test server's Unauthenticated", token, err)
		}
		a.close()
	}

	mu.Lock()
	defer mu.Unlock()
	wantHTTP := []string{"Bearer shk_bench", "Bearer shk_bench", "", ""}
	if strings.Join(httpAuth, "|") != strings.Join(wantHTTP, "|") {
		t.Errorf("HTTP Authorization headers %q, want %q", httpAuth, wantHTTP)
	}
	wantGRPC := []string{"Bearer shk_bench", ""}
	if strings.Join(grpcAuth, "|") != strings.Join(wantGRPC, "|") {
		t.Errorf("gRPC authorization metadata %q, want %q", grpcAuth, wantGRPC)
	}
}

// TestTokenFlag: --token wins over $STREAMHOUSE_TOKEN, which is the
// default; both are for a running cell only: an explicit --token without
// --http is refused, the variable alone is ignored.
func TestTokenFlag(t *testing.T) {
	t.Setenv(tokenEnv, "shk_env")
	cell := []string{"--http", "http://127.0.0.1:1", "--grpc", "127.0.0.1:2", "--nats", "nats://127.0.0.1:3"}

	c, err := parseFlags(cell, io.Discard)
	if err != nil || c.token != "shk_env" {
		t.Fatalf("from the environment: token %q, %v; want shk_env", c.token, err)
	}
	c, err = parseFlags(append(cell, "--token", "shk_flag"), io.Discard)
	if err != nil || c.token != "shk_flag" {
		t.Fatalf("--token: token %q, %v; want shk_flag", c.token, err)
	}
	c, err = parseFlags(nil, io.Discard)
	if err != nil || c.token != "" {
		t.Fatalf("own cells: token %q, %v; want none (they run without authentication)", c.token, err)
	}
	if _, err := parseFlags([]string{"--token", "shk_flag"}, io.Discard); err == nil || !strings.Contains(err.Error(), "--token") {
		t.Fatalf("--token without --http: error %v, want one naming --token", err)
	}
}
