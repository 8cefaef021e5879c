package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v3"

	"github.com/streamhouse/streamhouse/cells"
	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// Defaults of Config, filled in by EnsureDefaults.
const (
	DefaultCell       = "default"
	DefaultNATSURL    = nats.DefaultURL // nats://127.0.0.1:4222
	DefaultS3Region   = "us-east-1"
	DefaultHTTPAddr   = "127.0.0.1:8080"
	DefaultGRPCAddr   = "127.0.0.1:50051"
	DefaultHealthAddr = "127.0.0.1:8090"
	DefaultSchemaAddr = "127.0.0.1:8081" // Confluent's Schema Registry port

	DefaultMeterInterval = time.Minute
)

// envPrefix starts the environment variable of every setting: the setting
// --lease-ttl is read from STREAMHOUSE_LEASE_TTL.
const envPrefix = "STREAMHOUSE_"

// Config configures `streamhouse agent` and `streamhouse router`: the parts
// of a cell run as separate processes against an external NATS cluster,
// PostgreSQL and S3.
//
// Every field is a setting with one name, used as the flag (--lease-ttl),
// the environment variable (STREAMHOUSE_LEASE_TTL) and the config file's
// key (lease-ttl). Precedence: flags, then the environment, then the config
// file (--config FILE or STREAMHOUSE_CONFIG, YAML or JSON, a flat map of
// setting names to values), then the defaults of EnsureDefaults. A zero
// value means "the default".
type Config struct {
	// Cell names the cell (cells.ValidateCellName): every agent and router
	// of a cell must use one name. Setting "cell"; the default is "default".
	Cell string

	// NATSURL is the NATS cluster's URL, or several separated by commas
	// (nats.Connect's form). Setting "nats-url"; the default is
	// nats://127.0.0.1:4222. In a config file it may also be a list.
	NATSURL string

	// NATSCreds is a NATS credentials file (JWT and nkey seed), if the
	// cluster wants one. Setting "nats-creds"; empty connects without.
	NATSCreds string

	// Registry is the catalogue: "postgres://..." (or "postgresql://...", a
	// URL that registry.OpenPostgres takes; production), or "embedded:PATH",
	// the embedded catalogue file, which only one process can hold open at a
	// time. Setting "registry"; required, no default.
	Registry string

	// ObjectStore holds the segments: "s3://BUCKET" or "s3://BUCKET/PREFIX"
	// (production, configured by the S3* fields), or "file:PATH", a local
	// folder. Setting "object-store"; required by the agent. The router
	// uses it only to delete the objects of deleted topics; without it they
	// are left to the garbage collector.
	ObjectStore string

	// S3Endpoint is the base URL of an S3-compatible server
	// ("http://127.0.0.1:9000"); empty uses AWS's endpoint for S3Region.
	// Setting "s3-endpoint".
	S3Endpoint string

	// S3Region is the bucket's region. Setting "s3-region"; the default is
	// us-east-1.
	S3Region string

	// S3PathStyle addresses the bucket in the URL's path rather than its
	// host name; most S3-compatible servers want it. Setting
	// "s3-path-style"; the default is false.
	S3PathStyle bool

	// S3AccessKeyID and S3SecretAccessKey are static credentials, both or
	// neither. Without them the AWS SDK's standard chain is used
	// (AWS_ACCESS_KEY_ID, shared config files, web identity, instance
	// roles). Settings "s3-access-key-id" and "s3-secret-access-key"; prefer
	// the environment or a file to a flag for the secret.
	S3AccessKeyID     string
	S3SecretAccessKey string

	// HTTPAddr is where the router serves the HTTP API and its health
	// endpoints. Setting "http"; the default is 127.0.0.1:8080.
	HTTPAddr string

	// GRPCAddr is where the router serves gRPC. Setting "grpc"; the default
	// is 127.0.0.1:50051.
	GRPCAddr string

	// SchemaRegistryAddr is where the router serves the schema registry
	// (Confluent's REST API). Setting "schema-registry"; the default is
	// 127.0.0.1:8081.
	SchemaRegistryAddr string

	// HealthAddr is where the agent serves /live, /ready and /health for
	// orchestration. Setting "health-addr"; the default is 127.0.0.1:8090.
	HealthAddr string

	// LeaseTTL is the partition leases' TTL (cells.AgentConfig.LeaseTTL):
	// a crashed agent's partitions move after about this long. Every agent
	// of a cell must use one value; at least 1 s. Setting "lease-ttl"; the
	// default is cells.DefaultLeaseTTL (3 s).
	LeaseTTL time.Duration

	// AgentID names the agent (1 to 64 of [a-zA-Z0-9_-]), unique among the
	// running agents of the cell; a pod name is a good one. Setting
	// "agent-id"; empty gives "agent-" and 16 random hex digits per start.
	AgentID string

	// Auth is "on" (the default: every request of the router carries an
	// access token or an API key, and plans' quotas apply) or "off" (every
	// request acts as the owner of tenant "default"; no quotas: only for a
	// trusted network). Setting "auth".
	Auth string

	// TokenKey signs access tokens (base64, at least 32 bytes decoded) and
	// KeyPepper keys the API-key hashes (base64, at least 32 bytes); every
	// router of a cell needs the same two, and changing the pepper
	// invalidates every API key. Required when Auth is on. Settings
	// "token-key" and "key-pepper"; prefer the environment
	// (STREAMHOUSE_TOKEN_KEY, STREAMHOUSE_KEY_PEPPER) to a flag.
	TokenKey  string
	KeyPepper string

	// MetricsToken is the bearer token Prometheus sends for /metrics when
	// Auth is on (its series name every organization's topics); empty: no
	// one reads /metrics then. Setting "metrics-token"; prefer the
	// environment.
	MetricsToken string

	// Pricing is a pricing file (billing's pricing.json format); empty uses
	// the one built in. Setting "pricing".
	Pricing string

	// MeterInterval is how often the router books its metered usage in the
	// registry; a crash loses at most this much (an undercount, never a
	// double count). Setting "meter-interval"; the default is 1m.
	MeterInterval time.Duration

	// BillingExportURL is the payment provider's API (Stripe's dialect,
	// https://api.stripe.com) to which the router pushes each
	// organization's customer record and closed hours of usage; empty (the
	// default) exports nothing. Setting "billing-export-url".
	// BillingExportKey is its secret API key, required with the URL.
	// Setting "billing-export-key"; prefer the environment
	// (STREAMHOUSE_BILLING_EXPORT_KEY) to a flag.
	BillingExportURL string
	BillingExportKey string

	// LogLevel is debug, info, warn or error. Setting "log-level"; the
	// default is info.
	LogLevel slog.Level
}

// EnsureDefaults fills in the zero fields that have a default; Registry,
// ObjectStore, the S3 credentials and AgentID have none.
func (c *Config) EnsureDefaults() {
	if c.Cell == "" {
		c.Cell = DefaultCell
	}
	if c.NATSURL == "" {
		c.NATSURL = DefaultNATSURL
	}
	if c.S3Region == "" {
		c.S3Region = DefaultS3Region
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.GRPCAddr == "" {
		c.GRPCAddr = DefaultGRPCAddr
	}
	if c.HealthAddr == "" {
		c.HealthAddr = DefaultHealthAddr
	}
	if c.SchemaRegistryAddr == "" {
		c.SchemaRegistryAddr = DefaultSchemaAddr
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = cells.DefaultLeaseTTL
	}
	if c.Auth == "" {
		c.Auth = "on"
	}
	if c.MeterInterval == 0 {
		c.MeterInterval = DefaultMeterInterval
	}
}

// role is the subcommand a Config is read for: each reads the settings it
// uses, and a config file may hold those of the other too.
type role uint8

const (
	roleAgent role = 1 << iota
	roleRouter
	roleBoth = roleAgent | roleRouter
)

// ConfigError is an invalid setting: its name and the value given.
type ConfigError struct {
	Setting string // the setting's name, as its flag: "registry"
	Value   string // the value given ("" if missing)
	Reason  string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("config: %s %q: %s", e.Setting, e.Value, e.Reason)
}

// bindFlags registers the settings of r on fs, bound to c's fields, and the
// --config flag on path.
func (c *Config) bindFlags(fs *flag.FlagSet, r role, path *string) {
	on := func(want role) bool { return r&want != 0 }
	fs.StringVar(path, "config", "", "config file, YAML or JSON: a flat map of these settings' names to values (env "+envPrefix+"CONFIG)")
	fs.StringVar(&c.Cell, "cell", "", "name of the cell (default "+DefaultCell+")")
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS URL(s), comma-separated (default "+DefaultNATSURL+")")
	fs.StringVar(&c.NATSCreds, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&c.Registry, "registry", "", "registry: postgres://URL, or embedded:PATH (required)")
	store := "object store: s3://BUCKET[/PREFIX] or file:PATH (required)"
	if !on(roleAgent) {
		store = "object store, to delete a deleted topic's objects: s3://BUCKET[/PREFIX] or file:PATH (empty: left to garbage collection)"
	}
	fs.StringVar(&c.ObjectStore, "object-store", "", store)
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", "", "S3-compatible endpoint URL (default: AWS)")
	fs.StringVar(&c.S3Region, "s3-region", "", "S3 region (default "+DefaultS3Region+")")
	fs.BoolVar(&c.S3PathStyle, "s3-path-style", false, "path-style S3 addressing (most S3-compatible servers)")
	fs.StringVar(&c.S3AccessKeyID, "s3-access-key-id", "", "S3 access key id (default: the AWS SDK's standard chain)")
	fs.StringVar(&c.S3SecretAccessKey, "s3-secret-access-key", "", "S3 secret access key; prefer the environment")
	if on(roleRouter) {
		fs.StringVar(&c.HTTPAddr, "http", "", "address of the HTTP API and health endpoints (default "+DefaultHTTPAddr+")")
		fs.StringVar(&c.GRPCAddr, "grpc", "", "address of the gRPC API (default "+DefaultGRPCAddr+")")
		fs.StringVar(&c.SchemaRegistryAddr, "schema-registry", "", "address of the schema registry, Confluent's REST API (default "+DefaultSchemaAddr+")")
		fs.StringVar(&c.Auth, "auth", "", "authentication and quotas: on or off (off: every request acts as tenant default's owner; trusted networks only) (default on)")
		fs.StringVar(&c.TokenKey, "token-key", "", "base64 key (32+ bytes) signing access tokens, the same on every router; prefer the environment")
		fs.StringVar(&c.KeyPepper, "key-pepper", "", "base64 key (32+ bytes) of the API-key hashes, the same on every router; prefer the environment")
		fs.StringVar(&c.MetricsToken, "metrics-token", "", "bearer token of /metrics when auth is on (empty: /metrics refused); prefer the environment")
		fs.StringVar(&c.Pricing, "pricing", "", "pricing file of the plans (default: the built-in one)")
		fs.DurationVar(&c.MeterInterval, "meter-interval", 0, "how often metered usage is booked in the registry (default 1m)")
		fs.StringVar(&c.BillingExportURL, "billing-export-url", "", "payment provider API receiving customers and hourly usage, Stripe's dialect (https://api.stripe.com; empty: no export)")
		fs.StringVar(&c.BillingExportKey, "billing-export-key", "", "secret API key of billing-export-url; prefer the environment")
	}
	if on(roleAgent) {
		fs.StringVar(&c.HealthAddr, "health-addr", "", "address of /live, /ready and /health (default "+DefaultHealthAddr+")")
		fs.DurationVar(&c.LeaseTTL, "lease-ttl", 0, fmt.Sprintf("partition lease TTL, the same for every agent of the cell (default %s)", cells.DefaultLeaseTTL))
		fs.StringVar(&c.AgentID, "agent-id", "", "agent id, unique in the cell (default: random)")
	}
	fs.TextVar(&c.LogLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
}

// settingNames are the names of every setting of any role: the keys a config
// file may hold.
func settingNames() map[string]bool {
	var c Config
	var path string
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c.bindFlags(fs, roleBoth, &path)
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	delete(names, "config")
	return names
}

// envName is the environment variable of a setting.
func envName(setting string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(setting, "-", "_"))
}

// loadConfig reads the Config of role r from args, getenv and the config
// file, in that precedence, fills in the defaults and validates it. Usage
// goes to stderr.
func loadConfig(name string, r role, args []string, getenv func(string) string, stderr io.Writer, usage string) (Config, error) {
	var c Config
	var path string
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.bindFlags(fs, r, &path)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	if path == "" {
		path = getenv(envPrefix + "CONFIG")
	}

	if path != "" {
		values, err := readConfigFile(path)
		if err != nil {
			return Config{}, err
		}
		for _, k := range slices.Sorted(maps.Keys(values)) {
			if fs.Lookup(k) == nil || onCommandLine[k] {
				continue // another role's setting, or overridden by a flag
			}
			if err := fs.Set(k, values[k]); err != nil {
				return Config{}, fmt.Errorf("config file %s: %s %q: %w", path, k, values[k], err)
			}
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" || onCommandLine[f.Name] || envErr != nil {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("environment %s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return Config{}, envErr
	}
	c.EnsureDefaults()
	if err := c.validate(r); err != nil {
		return Config{}, err
	}
	return c, nil
}

// readConfigFile reads a YAML or JSON file (JSON is YAML) holding a flat map
// of setting names to scalars; nats-url may also be a list. Unknown names
// are refused, so that a typo does not silently fall back to a default.
func readConfigFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	known := settingNames()
	values := make(map[string]string, len(raw))
	for k, v := range raw {
		if !known[k] {
			return nil, fmt.Errorf("config file %s: unknown setting %q", path, k)
		}
		switch v := v.(type) {
		case nil:
			continue
		case []any:
			if k != "nats-url" {
				return nil, fmt.Errorf("config file %s: %s: want a single value, not a list", path, k)
			}
			urls := make([]string, len(v))
			for i, u := range v {
				urls[i] = fmt.Sprint(u)
			}
			values[k] = strings.Join(urls, ",")
		case map[string]any:
			return nil, fmt.Errorf("config file %s: %s: want a single value, not a map", path, k)
		default:
			values[k] = fmt.Sprint(v)
		}
	}
	return values, nil
}

// validate checks the settings of role r, after EnsureDefaults.
func (c *Config) validate(r role) error {
	if err := cells.ValidateCellName(c.Cell); err != nil {
		return &ConfigError{"cell", c.Cell, err.Error()}
	}
	if _, err := registryKind(c.Registry); err != nil {
		return err
	}
	if c.ObjectStore == "" && r&roleAgent != 0 {
		return &ConfigError{"object-store", "", "required: s3://BUCKET[/PREFIX] or file:PATH"}
	}
	if c.ObjectStore != "" {
		if _, _, err := c.s3Location(); err != nil {
			return err
		}
	}
	if (c.S3AccessKeyID == "") != (c.S3SecretAccessKey == "") {
		return &ConfigError{"s3-access-key-id", c.S3AccessKeyID, "set with s3-secret-access-key, or neither"}
	}
	addrs := []struct{ name, addr string }{{"health-addr", c.HealthAddr}}
	if r&roleRouter != 0 {
		addrs = []struct{ name, addr string }{{"http", c.HTTPAddr}, {"grpc", c.GRPCAddr}, {"schema-registry", c.SchemaRegistryAddr}}
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return &ConfigError{a.name, a.addr, "want HOST:PORT"}
		}
	}
	if r&roleRouter != 0 {
		if err := c.validateManaged(); err != nil {
			return err
		}
		if err := c.validateBillingExport(); err != nil {
			return err
		}
	}
	if r&roleAgent != 0 && c.LeaseTTL < time.Second {
		return &ConfigError{"lease-ttl", c.LeaseTTL.String(), "must be at least 1s"}
	}
	return nil
}

// registryKind returns "postgres" or "embedded" for a valid Registry.
func registryKind(spec string) (string, error) {
	switch {
	case spec == "":
		return "", &ConfigError{"registry", spec, "required: postgres://URL or embedded:PATH"}
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return "postgres", nil
	case strings.HasPrefix(spec, "embedded:") && len(spec) > len("embedded:"):
		return "embedded", nil
	}
	return "", &ConfigError{"registry", redactURL(spec), "want postgres://URL or embedded:PATH"}
}

// s3Location parses ObjectStore: for s3://BUCKET/PREFIX the bucket and the
// prefix; for file:PATH "" and the path.
func (c *Config) s3Location() (bucket, rest string, err error) {
	switch {
	case strings.HasPrefix(c.ObjectStore, "s3://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(c.ObjectStore, "s3://"), "/")
		if bucket == "" {
			return "", "", &ConfigError{"object-store", c.ObjectStore, "no bucket: want s3://BUCKET[/PREFIX]"}
		}
		return bucket, strings.Trim(prefix, "/"), nil
	case strings.HasPrefix(c.ObjectStore, "file:") && len(c.ObjectStore) > len("file:"):
		return "", strings.TrimPrefix(c.ObjectStore, "file:"), nil
	}
	return "", "", &ConfigError{"object-store", c.ObjectStore, "want s3://BUCKET[/PREFIX] or file:PATH"}
}

// redactURL hides a password in a URL shown in an error.
func redactURL(s string) string {
	if at := strings.LastIndex(s, "@"); at > 0 {
		if scheme := strings.Index(s, "://"); scheme >= 0 && scheme < at {
			if colon := strings.Index(s[scheme+3:at], ":"); colon >= 0 {
				return s[:scheme+3+colon] + ":xxxxx" + s[at:]
			}
		}
	}
	return s
}

// newLogger is the process's logger, text on w.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// connectNATS connects to the cell's NATS cluster. The connection reconnects
// for ever; the agent and the router both ride out an outage.
func connectNATS(c Config, name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1)}
	if c.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(c.NATSCreds))
	}
	nc, err := nats.Connect(c.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", c.NATSURL, err)
	}
	return nc, nil
}

// openRegistry opens c.Registry, applying PostgreSQL's migrations.
func openRegistry(ctx context.Context, c Config) (registry.Store, error) {
	kind, err := registryKind(c.Registry)
	if err != nil {
		return nil, err
	}
	if kind == "embedded" {
		reg, err := registry.OpenEmbedded(strings.TrimPrefix(c.Registry, "embedded:"))
		if err != nil {
			return nil, fmt.Errorf("open registry: %w", err)
		}
		return reg, nil
	}
	reg, err := registry.OpenPostgres(ctx, c.Registry)
	if err != nil {
		return nil, fmt.Errorf("open registry %s: %w", redactURL(c.Registry), err)
	}
	return reg, nil
}

// openObjectStore opens c.ObjectStore, or returns nil if it is empty.
func openObjectStore(ctx context.Context, c Config) (objectstore.Store, error) {
	if c.ObjectStore == "" {
		return nil, nil
	}
	bucket, rest, err := c.s3Location()
	if err != nil {
		return nil, err
	}
	if bucket == "" {
		store, err := objectstore.NewFS(rest)
		if err != nil {
			return nil, fmt.Errorf("open object store: %w", err)
		}
		return store, nil
	}
	store, err := objectstore.NewS3(ctx, objectstore.S3Config{
		Bucket: bucket, Prefix: rest, Endpoint: c.S3Endpoint, Region: c.S3Region,
		UsePathStyle: c.S3PathStyle, AccessKeyID: c.S3AccessKeyID, SecretAccessKey: c.S3SecretAccessKey,
	})
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", c.ObjectStore, err)
	}
	return store, nil
}
