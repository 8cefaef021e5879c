package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// devTenant is the tenant a dev cell serves when authentication is off.
const devTenant = "default"

// runDev runs a dev cell until ctx is cancelled. Today the cell is the
// storage spine: the embedded registry and the local object store under the
// data folder, and the health endpoints. The data path (agents, router,
// console) is the next piece of work.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", ".streamhouse", "folder that keeps all of the cell's data")
	httpAddr := fs.String("http", "127.0.0.1:8080", "address of the HTTP API, console and health endpoints")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	reg, err := registry.OpenEmbedded(filepath.Join(*dataDir, "registry.db"))
	if err != nil {
		return fmt.Errorf("open registry: %w", err)
	}
	defer reg.Close()
	store, err := objectstore.NewFS(filepath.Join(*dataDir, "objects"))
	if err != nil {
		return fmt.Errorf("open object store: %w", err)
	}
	tenant, err := ensureTenant(ctx, reg, devTenant)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *httpAddr, err)
	}
	srv := &http.Server{Handler: healthMux(reg, store), ReadHeaderTimeout: 10 * time.Second}

	abs, _ := filepath.Abs(*dataDir)
	fmt.Fprintf(stdout, "StreamHouse dev cell (storage spine)\n"+
		"  data:      %s\n  registry:  embedded (%s)\n  objects:   local files (%s)\n"+
		"  tenant:    %s (id %d)\n  health:    http://%s/health\n"+
		"Produce and consume arrive with the running cell; stop with Ctrl-C.\n",
		abs, filepath.Join(abs, "registry.db"), filepath.Join(abs, "objects"),
		tenant.Name, tenant.ID, ln.Addr())

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }() // owned here: Shutdown below ends it
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// ensureTenant returns the named tenant, creating it on the first start.
func ensureTenant(ctx context.Context, reg registry.Store, name string) (registry.Tenant, error) {
	t, err := reg.TenantByName(ctx, name)
	if errors.Is(err, registry.ErrNotFound) {
		t, err = reg.CreateTenant(ctx, name)
	}
	if err != nil {
		return registry.Tenant{}, fmt.Errorf("tenant %s: %w", name, err)
	}
	return t, nil
}

// healthMux serves /live (the process answers), /ready and /health (the
// registry and the object store answer, with a JSON report per component).
func healthMux(reg registry.Store, store objectstore.Store) *http.ServeMux {
	check := func(r *http.Request) (map[string]string, bool) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		report, ok := map[string]string{}, true
		if _, err := reg.ListTenants(ctx); err != nil {
			report["registry"], ok = err.Error(), false
		} else {
			report["registry"] = "ok"
		}
		if _, err := store.List(ctx, "health/"); err != nil {
			report["objectstore"], ok = err.Error(), false
		} else {
			report["objectstore"] = "ok"
		}
		return report, ok
	}
	reply := func(w http.ResponseWriter, r *http.Request) {
		report, ok := check(r)
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(report)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /ready", reply)
	mux.HandleFunc("GET /health", reply)
	return mux
}
