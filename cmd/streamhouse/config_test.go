package main

import (
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/cells"
)

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestConfigPrecedence: flags win over the environment, which wins over the
// config file, which wins over the defaults; each layer only sets what it
// holds.
func TestConfigPrecedence(t *testing.T) {
	yamlFile := writeFile(t, "agent.yaml", `
cell: from-file
nats-url: [nats://a:4222, nats://b:4222]
registry: postgres://sh@db/sh
object-store: s3://bucket/cell-1/
s3-path-style: true
lease-ttl: 2s
log-level: debug
agent-id: file-agent
http: 127.0.0.1:1   # the router's: ignored by the agent
`)
	jsonFile := writeFile(t, "agent.json", `{"cell": "from-file", "nats-url": "nats://a:4222,nats://b:4222",
 "registry": "postgres://sh@db/sh", "object-store": "s3://bucket/cell-1/", "s3-path-style": true,
 "lease-ttl": "2s", "log-level": "debug", "agent-id": "file-agent", "http": "127.0.0.1:1"}`)
	for _, file := range []string{yamlFile, jsonFile} {
		t.Run(filepath.Ext(file), func(t *testing.T) {
			env := map[string]string{
				"STREAMHOUSE_CELL":      "from-env",
				"STREAMHOUSE_LEASE_TTL": "3s",
				"STREAMHOUSE_AGENT_ID":  "env-agent",
			}
			args := []string{"--config", file, "--agent-id", "flag-agent"}
			c, err := loadConfig("agent", roleAgent, args, envOf(env), io.Discard, "")
			if err != nil {
				t.Fatal(err)
			}
			want := Config{
				Cell:               "from-env",                    // env over file
				NATSURL:            "nats://a:4222,nats://b:4222", // file (a list in YAML)
				Registry:           "postgres://sh@db/sh",
				ObjectStore:        "s3://bucket/cell-1/",
				S3Region:           DefaultS3Region, // default
				S3PathStyle:        true,
				HTTPAddr:           DefaultHTTPAddr, // the file's http is the router's
				GRPCAddr:           DefaultGRPCAddr,
				HealthAddr:         DefaultHealthAddr,
				SchemaRegistryAddr: DefaultSchemaAddr,
				LeaseTTL:           3 * time.Second, // env over file
				AgentID:            "flag-agent",    // flag over env over file
				LogLevel:           slog.LevelDebug,
				Auth:               "on",
				MeterInterval:      DefaultMeterInterval,
			}
			if c != want {
				t.Fatalf("config\n got %+v\nwant %+v", c, want)
			}
			bucket, prefix, err := c.s3Location()
			if bucket != "bucket" || prefix != "cell-1" || err != nil {
				t.Fatalf("s3Location = %q, %q, %v", bucket, prefix, err)
			}
		})
	}

	t.Run("config from env, defaults", func(t *testing.T) {
		file := writeFile(t, "router.yaml", "registry: embedded:/x/registry.db\nlease-ttl: 9s\nauth: off\n")
		c, err := loadConfig("router", roleRouter, nil, envOf(map[string]string{"STREAMHOUSE_CONFIG": file}), io.Discard, "")
		if err != nil {
			t.Fatal(err)
		}
		want := Config{
			Cell: DefaultCell, NATSURL: DefaultNATSURL, Registry: "embedded:/x/registry.db",
			S3Region: DefaultS3Region, HTTPAddr: DefaultHTTPAddr, GRPCAddr: DefaultGRPCAddr,
			HealthAddr: DefaultHealthAddr, LeaseTTL: cells.DefaultLeaseTTL, LogLevel: slog.LevelInfo,
			SchemaRegistryAddr: DefaultSchemaAddr, Auth: "off", MeterInterval: DefaultMeterInterval,
		}
		if c != want {
			t.Fatalf("config\n got %+v\nwant %+v", c, want)
		}
	})
}

// TestConfigErrors: every refusal names the setting (and where it came
// from) and the value.
func TestConfigErrors(t *testing.T) {
	const reg = "--registry=postgres://db/sh"
	const store = "--object-store=file:/tmp/x"
	tests := []struct {
		name string
		r    role
		args []string
		env  map[string]string
		file string // config file contents, YAML
		want string
	}{
		{"no registry", roleAgent, []string{store}, nil, "", `config: registry "": required`},
		{"bad registry", roleAgent, []string{"--registry", "mysql://u:secret@h/db", store}, nil, "",
			`config: registry "mysql://u:xxxxx@h/db": want postgres://URL or embedded:PATH`},
		{"no store for agent", roleAgent, []string{reg}, nil, "", `config: object-store "": required`},
		{"bad store", roleRouter, []string{reg, "--object-store", "gs://b"}, nil, "", `config: object-store "gs://b": want s3://BUCKET[/PREFIX] or file:PATH`},
		{"no bucket", roleAgent, []string{reg, "--object-store", "s3:///p"}, nil, "", `config: object-store "s3:///p": no bucket`},
		{"bad cell", roleAgent, []string{reg, store, "--cell", "a.b"}, nil, "", `config: cell "a.b": `},
		{"short lease", roleAgent, []string{reg, store, "--lease-ttl", "500ms"}, nil, "", `config: lease-ttl "500ms": must be at least 1s`},
		{"bad address", roleRouter, []string{reg, "--grpc", "50051"}, nil, "", `config: grpc "50051": want HOST:PORT`},
		{"half credentials", roleAgent, []string{reg, store}, map[string]string{"STREAMHOUSE_S3_ACCESS_KEY_ID": "AK"}, "",
			`config: s3-access-key-id "AK": set with s3-secret-access-key, or neither`},
		{"bad env", roleAgent, []string{reg, store}, map[string]string{"STREAMHOUSE_LEASE_TTL": "soon"}, "",
			`environment STREAMHOUSE_LEASE_TTL="soon": `},
		{"bad env level", roleRouter, []string{reg}, map[string]string{"STREAMHOUSE_LOG_LEVEL": "loud"}, "",
			`environment STREAMHOUSE_LOG_LEVEL="loud": `},
		{"auth without keys", roleRouter, []string{reg}, nil, "", `config: token-key "": required with auth on`},
		{"short token key", roleRouter, []string{reg, "--token-key", "c2hvcnQ="}, nil, "", `config: token-key "(hidden)": 5 bytes decoded; at least 32 required`},
		{"bad pepper", roleRouter, []string{reg}, map[string]string{"STREAMHOUSE_TOKEN_KEY": key32, "STREAMHOUSE_KEY_PEPPER": "not base64!"}, "",
			`config: key-pepper "(hidden)": not base64`},
		{"bad auth", roleRouter, []string{reg, "--auth", "maybe"}, nil, "", `config: auth "maybe": want on or off`},
		{"short meter interval", roleRouter, []string{reg, "--auth", "off", "--meter-interval", "10ms"}, nil, "", `config: meter-interval "10ms": must be at least 1s`},
		{"export url without key", roleRouter, []string{reg, "--auth", "off", "--billing-export-url", "https://api.stripe.com"}, nil, "",
			`config: billing-export-key "": required with billing-export-url`},
		{"export key without url", roleRouter, []string{reg, "--auth", "off"}, map[string]string{"STREAMHOUSE_BILLING_EXPORT_KEY": "sk_live_x"}, "",
			`config: billing-export-url "": required with billing-export-key`},
		{"bad export url", roleRouter, []string{reg, "--auth", "off", "--billing-export-url", "https://u:pw@api.stripe.com", "--billing-export-key", "sk_live_x"}, nil, "",
			`config: billing-export-url "https://u:xxxxx@api.stripe.com": want https://HOST`},
		{"export over http", roleRouter, []string{reg, "--auth", "off", "--billing-export-url", "http://api.stripe.com", "--billing-export-key", "sk_live_x"}, nil, "",
			`config: billing-export-url "http://api.stripe.com": http sends the key in clear`},
		{"bad export key", roleRouter, []string{reg, "--auth", "off", "--billing-export-url", "https://api.stripe.com"}, map[string]string{"STREAMHOUSE_BILLING_EXPORT_KEY": "sk_live secret"}, "",
			`config: billing-export-key "(hidden)": must be printable ASCII without spaces`},
		{"long export key", roleRouter, []string{reg, "--auth", "off", "--billing-export-url", "http://127.0.0.1:12111"}, map[string]string{"STREAMHOUSE_BILLING_EXPORT_KEY": strings.Repeat("k", 1025)}, "",
			`config: billing-export-key "(hidden)": 1025 bytes; at most 1024`},
		{"bad flag", roleAgent, []string{reg, store, "--lease-ttl", "soon"}, nil, "", `invalid value "soon" for flag -lease-ttl`},
		{"unknown flag", roleRouter, []string{reg, "--agent-id", "a"}, nil, "", `flag provided but not defined: -agent-id`},
		{"unknown key", roleAgent, nil, nil, "lease_ttl: 2s\n", `unknown setting "lease_ttl"`},
		{"bad file value", roleAgent, nil, nil, "lease-ttl: soon\n", `: lease-ttl "soon": `},
		{"list for scalar", roleAgent, nil, nil, "cell: [a, b]\n", `: cell: want a single value, not a list`},
		{"not a map", roleAgent, nil, nil, "- a\n", `config file `},
		{"missing file", roleAgent, []string{"--config", "/nonexistent/sh.yaml"}, nil, "", `config file: open /nonexistent/sh.yaml`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, "c.yaml", tt.file)}, args...)
			}
			_, err := loadConfig("test", tt.r, args, envOf(tt.env), io.Discard, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestConfigRouterOptionalStore: a router runs without an object store.
func TestConfigRouterOptionalStore(t *testing.T) {
	c, err := loadConfig("router", roleRouter, []string{"--registry", "postgres://db/sh", "--auth", "off"}, envOf(nil), io.Discard, "")
	if err != nil || c.ObjectStore != "" {
		t.Fatalf("config %+v, %v", c, err)
	}
}

// key32 is a base64 key of 32 bytes.
var key32 = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))

// TestConfigSecrets: a router with auth on reads its two keys from the
// environment, in any base64 alphabet, and the error never shows a key.
func TestConfigSecrets(t *testing.T) {
	raw := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("p", 40)))
	c, err := loadConfig("router", roleRouter, []string{"--registry", "postgres://db/sh"},
		envOf(map[string]string{"STREAMHOUSE_TOKEN_KEY": key32, "STREAMHOUSE_KEY_PEPPER": raw}), io.Discard, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.secrets()
	if err != nil || string(s.TokenKey) != strings.Repeat("k", 32) || string(s.KeyPepper) != strings.Repeat("p", 40) {
		t.Fatalf("secrets %q %q, %v", s.TokenKey, s.KeyPepper, err)
	}
	_, err = loadConfig("router", roleRouter, []string{"--registry", "postgres://db/sh", "--key-pepper", "c2hvcnQ="},
		envOf(map[string]string{"STREAMHOUSE_TOKEN_KEY": key32}), io.Discard, "")
	if err == nil || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("short pepper: %v, want an error that hides it", err)
	}
}

// TestDevSecrets: the dev cell makes its keys once and finds them again.
func TestDevSecrets(t *testing.T) {
	dir := t.TempDir()
	a, err := devSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := devSecrets(dir)
	if err != nil || string(a.TokenKey) != string(b.TokenKey) || string(a.KeyPepper) != string(b.KeyPepper) || len(a.TokenKey) != minSecretLen {
		t.Fatalf("second read %v, %v; want the first's keys", b, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.json: %v, %v; want mode 0600", fi, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets.json"), []byte(`{"token_key":"c2hvcnQ="}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := devSecrets(dir); err == nil || !strings.Contains(err.Error(), "shorter than 32 bytes") {
		t.Fatalf("short keys: %v", err)
	}
}
