package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestTokenSent: --token (or STREAMHOUSE_TOKEN) goes with every HTTP
// request as a bearer credential and with every gRPC call as the
// authorization metadata; without it, nothing is sent.
func TestTokenSent(t *testing.T) {
	var mu sync.Mutex
	var httpAuth, grpcAuth []string
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		httpAuth = append(httpAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"topics":[]}`))
	}))
	defer web.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		mu.Lock()
		grpcAuth = append(grpcAuth, md.Get("authorization")...)
		mu.Unlock()
		return status.Error(codes.Unauthenticated, "checked by the test")
	}))
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	runWith(t, env{}, "--server", web.URL, "--token", "shk_flag", "topic", "list").must(t, exitOK)
	runWith(t, env{getenv: func(k string) string {
		if k == tokenEnv {
			return "shk_env"
		}
		return ""
	}}, "--server", web.URL, "topic", "list").must(t, exitOK)
	runWith(t, env{}, "--server", web.URL, "topic", "list").must(t, exitOK)
	runWith(t, env{}, "--grpc", ln.Addr().String(), "--token", "shk_grpc", "consume", "orders", "--partition", "0").must(t, exitServer)

	mu.Lock()
	defer mu.Unlock()
	if len(httpAuth) != 3 || httpAuth[0] != "Bearer shk_flag" || httpAuth[1] != "Bearer shk_env" || httpAuth[2] != "" {
		t.Fatalf("HTTP Authorization headers %q, want the flag's, the environment's, none", httpAuth)
	}
	if len(grpcAuth) == 0 || grpcAuth[0] != "Bearer shk_grpc" {
		t.Fatalf("gRPC authorization metadata %q, want Bearer shk_grpc", grpcAuth)
	}
}
