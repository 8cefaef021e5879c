package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/streamhouse/streamhouse/account"
	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router"
	"github.com/streamhouse/streamhouse/router/auth"
)

// Access tokens: short-lived (RFC 8725 practice; the refresh token renews
// them), for this service only.
const (
	tokenTTL      = 15 * time.Minute
	tokenIssuer   = "streamhouse"
	tokenAudience = "streamhouse-api"
)

// managedConfig configures a router's managed-service layer.
type managedConfig struct {
	reg registry.Store
	log *slog.Logger
	// authOn: every request authenticates and quotas apply. Off: every
	// request is the owner of tenant, and nothing is limited.
	authOn        bool
	tenant        int64
	secrets       secrets // with authOn
	pricingFile   string  // "" for the built-in pricing
	meterInterval time.Duration
	metricsToken  string
	metrics       prometheus.Registerer // nil: none
}

// managed is a router's managed-service layer: who a request is
// (authentication), what its organization may still do (quotas), what it
// used (metering), what it changed (audit), and the account API.
type managed struct {
	cfg      managedConfig
	authn    *auth.Authenticator // nil with auth off
	tokens   *auth.Tokens        // nil with auth off
	pricing  *billing.Pricing
	meter    *billing.Meter
	limiters *billing.Limiters // nil with auth off
	quotas   *quotas           // nil with auth off
	audit    auditLog
	accounts http.Handler
}

func newManaged(cfg managedConfig) (*managed, error) {
	m := &managed{cfg: cfg, audit: auditLog{reg: cfg.reg, log: cfg.log.With("component", "audit")}}
	var err error
	if cfg.pricingFile != "" {
		m.pricing, err = billing.LoadPricing(cfg.pricingFile)
	} else {
		m.pricing, err = billing.DefaultPricing()
	}
	if err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	bm, err := billing.NewMetrics(cfg.metrics)
	if err != nil {
		return nil, err
	}
	if m.meter, err = newMeter(cfg.reg, cfg.meterInterval, cfg.log.With("component", "meter"), bm); err != nil {
		return nil, fmt.Errorf("meter: %w", err)
	}
	if cfg.authOn {
		if m.tokens, err = auth.NewTokens(cfg.secrets.TokenKey, tokenIssuer, tokenAudience, tokenTTL); err != nil {
			return nil, err
		}
		m.authn, err = auth.NewAuthenticator(auth.AuthenticatorConfig{Accounts: cfg.reg, Tokens: m.tokens,
			Pepper: cfg.secrets.KeyPepper, Logger: cfg.log.With("component", "auth")})
		if err != nil {
			return nil, err
		}
		if m.limiters, err = billing.NewLimiters(billing.LimitersConfig{Metrics: bm}); err != nil {
			return nil, err
		}
		if m.quotas, err = newQuotas(quotasConfig{reg: cfg.reg, pricing: m.pricing, limiters: m.limiters, log: cfg.log.With("component", "quotas")}); err != nil {
			return nil, fmt.Errorf("quotas: %w", err)
		}
	}
	m.accounts, err = account.New(account.Config{
		Store: cfg.reg, Tokens: m.tokens, Pepper: cfg.secrets.KeyPepper, Pricing: m.pricing,
		Authenticate: m.httpAuth, AuthEnabled: cfg.authOn, Logger: cfg.log.With("component", "account"),
	})
	if err != nil {
		return nil, fmt.Errorf("account api: %w", err)
	}
	return m, nil
}

// httpAuth is the principal of an HTTP request: the console's in-process
// requests carry theirs (withPrincipal), others authenticate; with auth
// off, everyone is the default tenant's owner.
func (m *managed) httpAuth(r *http.Request) (auth.Principal, error) {
	if p, ok := principalFrom(r.Context()); ok {
		return p, nil
	}
	if m.authn == nil {
		return auth.Anonymous(m.cfg.tenant), nil
	}
	return m.authn.HTTP(r)
}

// grpcAuth is httpAuth for a gRPC call.
func (m *managed) grpcAuth(ctx context.Context) (auth.Principal, error) {
	if m.authn == nil {
		return auth.Anonymous(m.cfg.tenant), nil
	}
	return m.authn.GRPC(ctx)
}

// schemaTenant authenticates a schema registry request and checks its
// role: reads and compatibility checks are a viewer's, everything else
// manages schemas (an admin's).
func (m *managed) schemaTenant(r *http.Request) (int64, error) {
	p, err := m.httpAuth(r)
	if err != nil {
		return 0, err
	}
	act := auth.ActManageSchemas
	if r.Method == http.MethodGet || r.Method == http.MethodHead || isCompatibilityCheck(r) {
		act = auth.ActRead
	}
	if err := p.Can(act); err != nil {
		return 0, err
	}
	return p.Tenant, nil
}

// isCompatibilityCheck: POST /compatibility/... and POST /subjects/{s}
// (is this schema registered?) read, they change nothing.
func isCompatibilityCheck(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	p := r.URL.Path
	if len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	if len(p) >= len("compatibility/") && p[:len("compatibility/")] == "compatibility/" {
		return true
	}
	// subjects/{subject} without a further segment: the lookup.
	const subj = "subjects/"
	if len(p) > len(subj) && p[:len(subj)] == subj {
		for _, c := range p[len(subj):] {
			if c == '/' {
				return false
			}
		}
		return true
	}
	return false
}

// routerDeps sets the router's and the gRPC server's managed hooks.
func (m *managed) routerDeps(cfg *router.Config, deps *router.Deps, g *router.GRPCConfig) {
	cfg.Authenticate = m.httpAuth
	g.Authenticate = m.grpcAuth
	deps.Usage, deps.Audit = m.meter, m.audit
	g.Usage = m.meter
	if m.quotas != nil {
		deps.Quotas, g.Quotas = m.quotas, m.quotas
	}
}

// mount serves the account API and guards /metrics on the process's mux.
func (m *managed) mount(mux *http.ServeMux) {
	for _, p := range account.Prefixes {
		mux.Handle(p, m.accounts)
	}
}

// metricsGuard is the guard of /metrics: none with auth off.
func (m *managed) metricsGuard() func(http.Handler) http.Handler {
	if !m.cfg.authOn {
		return nil
	}
	return func(h http.Handler) http.Handler { return guardMetrics(h, m.cfg.metricsToken) }
}

// run adds the rate limiters' sweeper and the quotas' refresher to the run
// group and starts the meter, which must outlive the APIs (requests
// finishing during the shutdown are metered too): call the returned stop
// after the group has ended; it books what is left and waits.
func (m *managed) run(g *errgroup.Group, gctx context.Context) (stop func() error) {
	if m.limiters != nil {
		g.Go(func() error { return m.limiters.Run(gctx) })
	}
	if m.quotas != nil {
		g.Go(func() error { return m.quotas.Run(gctx) })
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(gctx))
	done := make(chan error, 1)
	go func() { done <- m.meter.Run(ctx) }()
	return func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("meter: last flush: %w", err)
		}
		return nil
	}
}
