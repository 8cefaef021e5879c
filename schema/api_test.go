package schema

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// store is what the registry needs and what the tests set up with.
type store interface {
	registry.Schemas
	CreateTenant(ctx context.Context, name string) (registry.Tenant, error)
	TenantByName(ctx context.Context, name string) (registry.Tenant, error)
}

func openEmbedded(t *testing.T) store {
	t.Helper()
	s, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openPostgres(t *testing.T) store {
	t.Helper()
	s, err := registry.OpenPostgres(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// serve starts the registry API on 127.0.0.1:0 for a fresh tenant of s and
// returns its URL.
func serve(t *testing.T, s store, tenantName string, cfg Config) string {
	t.Helper()
	tn, err := s.CreateTenant(t.Context(), tenantName)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = s
	cfg.Tenant = func(*http.Request) (int64, error) { return tn.ID, nil }
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // 127.0.0.1, port 0
	t.Cleanup(srv.Close)
	return srv.URL
}

func newClient(t *testing.T, url string) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// transcript records a scenario's answers, one line per step; steps marked
// fakeDiffers are where pkg/sr's fake registry is known not to behave as
// Confluent's (it never checks compatibility), and are left out of the
// comparison with it.
type transcript struct {
	lines       []string
	fakeDiffers map[int]bool
}

func (tr *transcript) add(step string, v any, err error) {
	tr.lines = append(tr.lines, step+" => "+answer(v, err))
}

func (tr *transcript) addFakeDiffers(step string, v any, err error) {
	if tr.fakeDiffers == nil {
		tr.fakeDiffers = map[int]bool{}
	}
	tr.fakeDiffers[len(tr.lines)] = true
	tr.add(step, v, err)
}

func answer(v any, err error) string {
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) {
			name := "?"
			if se := re.SchemaError(); se != nil {
				name = se.Name
			}
			return fmt.Sprintf("error %d %s (HTTP %d)", re.ErrorCode, name, re.StatusCode)
		}
		return "error " + err.Error()
	}
	return fmt.Sprintf("%v", v)
}

const (
	scenarioAvro1     = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}`
	scenarioAvro1Wide = "{\n  \"type\": \"record\",\n  \"name\": \"Order\",\n  \"namespace\": \"shop\",\n  \"fields\": [ { \"name\": \"id\", \"type\": \"long\" } ]\n}\n"
	scenarioAvro2     = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`
	scenarioAvroBad   = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"total","type":"double"}]}`
	scenarioProtoDep  = `syntax = "proto3"; package common; message Money { int64 cents = 1; }`
	scenarioProto     = `syntax = "proto3"; package shop; import "common.proto"; message Payment { string id = 1; common.Money amount = 2; }`
	scenarioJSON      = `{"type":"object","properties":{"sku":{"type":"string"}},"additionalProperties":false}`
)

// scenario is the one test body run against every registry: franz-go's
// client, no adapter between.
func scenario(t *testing.T, cl *sr.Client) *transcript {
	ctx := t.Context()
	tr := &transcript{}
	types, err := cl.SupportedTypes(ctx)
	tr.addFakeDiffers("supported types", types, err)
	set := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward})
	tr.add("set global compatibility", set[0].Level, set[0].Err)

	ss, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: scenarioAvro1})
	tr.add("register v1", fmt.Sprintf("%s v%d id %d", ss.Subject, ss.Version, ss.ID), err)
	id1 := ss.ID
	again, err := cl.RegisterSchema(ctx, "orders-value", sr.Schema{Schema: scenarioAvro1Wide}, -1, -1)
	tr.addFakeDiffers("register v1 with whitespace: same id", again == id1, err)
	byID, err := cl.SchemaByID(ctx, id1)
	tr.add("schema by id", byID.Schema == scenarioAvro1 && byID.Type == sr.TypeAvro, err)
	latest, err := cl.SchemaByVersion(ctx, "orders-value", -1)
	tr.add("latest", fmt.Sprintf("v%d id %d", latest.Version, latest.ID), err)
	text, err := cl.SchemaTextByVersion(ctx, "orders-value", 1)
	tr.addFakeDiffers("raw text of v1", text, err) // the fake answers the text as a JSON string

	ok, err := cl.CheckCompatibility(ctx, "orders-value", -1, sr.Schema{Schema: scenarioAvro2})
	tr.add("compatible: field with default", ok.Is, err)
	bad, err := cl.CheckCompatibility(ctx, "orders-value", -1, sr.Schema{Schema: scenarioAvroBad})
	tr.addFakeDiffers("compatible: field without default", bad.Is, err)
	verbose, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "orders-value", -1, sr.Schema{Schema: scenarioAvroBad})
	tr.addFakeDiffers("verbose reasons name the field", len(verbose.Messages) > 0 && strings.Contains(verbose.Messages[0], "total"), err)
	// Refusals go to a subject of their own: the fake accepts them, and its
	// extra versions must not shift the answers compared afterwards.
	_, err = cl.RegisterSchema(ctx, "strict-value", sr.Schema{Schema: scenarioAvro1}, -1, -1)
	tr.add("register strict v1", nil, err)
	_, err = cl.RegisterSchema(ctx, "strict-value", sr.Schema{Schema: scenarioAvroBad}, -1, -1)
	tr.addFakeDiffers("register incompatible", errors.Is(asSchemaError(err), sr.ErrIncompatibleSchema), nil)
	tr.addFakeDiffers("register incompatible answer", nil, err)
	_, err = cl.CreateSchema(ctx, "strict-value", sr.Schema{Schema: `{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}`})
	tr.addFakeDiffers("register invalid", nil, err)
	ss2, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: scenarioAvro2})
	tr.add("register v2", fmt.Sprintf("v%d new id %v", ss2.Version, ss2.ID != id1), err)

	subjects, err := cl.Subjects(ctx)
	tr.add("subjects", subjects, err)
	versions, err := cl.SubjectVersions(ctx, "orders-value")
	tr.add("versions", versions, err)
	found, err := cl.LookupSchema(ctx, "orders-value", sr.Schema{Schema: scenarioAvro1Wide})
	tr.addFakeDiffers("look up v1 by its spaced text", fmt.Sprintf("v%d same id %v", found.Version, found.ID == id1), err)
	usedBy, err := cl.SchemaVersionsByID(ctx, id1)
	// The fake lists from a map, in any order; ours are sorted.
	slices.SortFunc(usedBy, func(a, b sr.SubjectVersion) int { return strings.Compare(a.Subject, b.Subject) })
	tr.add("versions of id 1", usedBy, err)

	dep, err := cl.CreateSchema(ctx, "common", sr.Schema{Schema: scenarioProtoDep, Type: sr.TypeProtobuf})
	tr.add("register proto dependency", fmt.Sprintf("v%d", dep.Version), err)
	pay, err := cl.CreateSchema(ctx, "payments-value", sr.Schema{Schema: scenarioProto, Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "common.proto", Subject: "common", Version: 1}}})
	tr.add("register proto with reference", fmt.Sprintf("v%d refs %v", pay.Version, pay.References), err)
	js, err := cl.CreateSchema(ctx, "items-value", sr.Schema{Schema: scenarioJSON, Type: sr.TypeJSON})
	tr.add("register JSON", fmt.Sprintf("v%d %s", js.Version, js.Type), err)

	subSet := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "orders-value")
	tr.add("set subject compatibility", subSet[0].Level, subSet[0].Err)
	subGet := cl.Compatibility(ctx, "orders-value")
	tr.add("subject compatibility", subGet[0].Level, subGet[0].Err)
	gl := cl.Compatibility(ctx)
	tr.add("global compatibility", gl[0].Level, gl[0].Err)

	err = cl.DeleteSchema(ctx, "orders-value", 1, sr.SoftDelete)
	tr.add("soft delete v1", nil, err)
	versions, err = cl.SubjectVersions(ctx, "orders-value")
	tr.add("versions after soft delete", versions, err)
	err = cl.DeleteSchema(ctx, "orders-value", 1, sr.HardDelete)
	tr.add("hard delete v1", nil, err)
	deleted, err := cl.DeleteSubject(ctx, "orders-value", sr.SoftDelete)
	tr.add("soft delete subject", deleted, err)
	deleted, err = cl.DeleteSubject(ctx, "orders-value", sr.HardDelete)
	tr.add("hard delete subject", deleted, err)
	subjects, err = cl.Subjects(ctx)
	tr.add("subjects after delete", subjects, err)

	_, err = cl.SchemaByID(ctx, 9999)
	tr.add("unknown id", nil, err)
	_, err = cl.SchemaByVersion(ctx, "nobody", 1)
	tr.addFakeDiffers("unknown subject", nil, err)
	_, err = cl.SchemaByVersion(ctx, "items-value", 7)
	tr.add("unknown version", nil, err)
	return tr
}

func asSchemaError(err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.SchemaError()
	}
	return err
}

// TestFranzGoClient is the done-when test: franz-go's pkg/sr client against
// the registry on the embedded store and on PostgreSQL, and the same body
// against pkg/sr's own fake; the answers are compared.
func TestFranzGoClient(t *testing.T) {
	t.Parallel()
	emb := scenario(t, newClient(t, serve(t, openEmbedded(t), "default", Config{})))
	pg := scenario(t, newClient(t, serve(t, openPostgres(t), "default", Config{})))
	fake := srfake.New()
	t.Cleanup(fake.Close)
	fk := scenario(t, newClient(t, fake.URL()))

	want := []string{
		"supported types => [AVRO PROTOBUF JSON]",
		"set global compatibility => BACKWARD",
		"register v1 => orders-value v1 id 1",
		"register v1 with whitespace: same id => true",
		"schema by id => true",
		"latest => v1 id 1",
		"raw text of v1 => " + scenarioAvro1,
		"compatible: field with default => true",
		"compatible: field without default => false",
		"verbose reasons name the field => true",
		"register strict v1 => <nil>",
		"register incompatible => true",
		"register incompatible answer => error 409 INCOMPATIBLE_SCHEMA (HTTP 409)",
		"register invalid => error 42201 INVALID_SCHEMA (HTTP 422)",
		"register v2 => v2 new id true",
		"subjects => [orders-value strict-value]",
		"versions => [1 2]",
		"look up v1 by its spaced text => v1 same id true",
		"versions of id 1 => [{orders-value 1} {strict-value 1}]",
		"register proto dependency => v1",
		"register proto with reference => v1 refs [{common.proto common 1}]",
		"register JSON => v1 JSON",
		"set subject compatibility => NONE",
		"subject compatibility => NONE",
		"global compatibility => BACKWARD",
		"soft delete v1 => <nil>",
		"versions after soft delete => [2]",
		"hard delete v1 => <nil>",
		"soft delete subject => [2]",
		"hard delete subject => [2]",
		"subjects after delete => [common items-value payments-value strict-value]",
		"unknown id => error 40403 SCHEMA_NOT_FOUND (HTTP 404)",
		"unknown subject => error 40401 SUBJECT_NOT_FOUND (HTTP 404)",
		"unknown version => error 40402 VERSION_NOT_FOUND (HTTP 404)",
	}
	if !slices.Equal(emb.lines, want) {
		t.Errorf("embedded store answers:\n%s\nwant:\n%s", strings.Join(emb.lines, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(pg.lines, emb.lines) {
		t.Errorf("PostgreSQL answers differ from the embedded store's:\n%s", strings.Join(pg.lines, "\n"))
	}
	if len(fk.lines) != len(emb.lines) {
		t.Fatalf("the fake gave %d answers, the registry %d", len(fk.lines), len(emb.lines))
	}
	same := 0
	for i := range emb.lines {
		if emb.fakeDiffers[i] {
			t.Logf("fake differs by design: ours %q, fake %q", emb.lines[i], fk.lines[i])
			continue
		}
		if fk.lines[i] != emb.lines[i] {
			t.Errorf("fake registry answered %q, ours %q", fk.lines[i], emb.lines[i])
		}
		same++
	}
	t.Logf("%d of %d answers compared equal with pkg/sr/srfake", same, len(emb.lines))
}

func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
