package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/schema"
)

// schemaRegistry is the schema registry's handler (Confluent's REST API);
// tenant authenticates each request and checks its role (managed's
// schemaTenant).
func schemaRegistry(log *slog.Logger, store registry.Schemas, tenant func(*http.Request) (int64, error)) (http.Handler, error) {
	h, err := schema.NewHandler(schema.Config{
		Store:  store,
		Tenant: tenant,
		Logger: log.With("component", "schema-registry"),
	})
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	return h, nil
}

// serveSchemaRegistry adds to g the server of h on ln (nil: none). When gctx
// ends it stops taking requests and waits up to 10 s for those under way.
func serveSchemaRegistry(g *errgroup.Group, gctx context.Context, ln net.Listener, h http.Handler) {
	if ln == nil {
		return
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve schema registry: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
}

// listenSchemaRegistry listens on addr; "" listens nowhere (nil), which
// turns the registry off.
func listenSchemaRegistry(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("schema registry: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// schemaBanner is the banner line of the registry's address.
func schemaBanner(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return "http://" + ln.Addr().String() + "  (Confluent Schema Registry API)"
}
