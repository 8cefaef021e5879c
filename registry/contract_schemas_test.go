package registry

import (
	"slices"
	"strings"
	"testing"
)

const (
	avroA = `{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}`
	avroB = `{"type":"record","name":"B","fields":[{"name":"y","type":"string"}]}`
)

func testSchemas(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	register := func(subject string, spec SchemaSpec) SubjectVersion {
		t.Helper()
		sv, err := s.RegisterSchema(ctx, tn.ID, subject, spec)
		noErr(t, "RegisterSchema "+subject, err)
		return sv
	}
	a := SchemaSpec{Type: SchemaAvro, Text: avroA}
	b := SchemaSpec{Type: SchemaAvro, Text: avroB}

	a1 := register("orders-value", a)
	if a1.Subject != "orders-value" || a1.Version != 1 || a1.Deleted || a1.Schema.ID <= 0 ||
		a1.Schema.Text != avroA || a1.Schema.Canonical != avroA || a1.Schema.Type != SchemaAvro ||
		a1.Schema.TenantID != tn.ID || len(a1.Schema.References) != 0 {
		t.Fatalf("first registration = %+v", a1)
	}
	if again := register("orders-value", a); again.Version != 1 || again.Schema.ID != a1.Schema.ID {
		t.Errorf("same schema again = %+v, want version 1 id %d", again, a1.Schema.ID)
	}
	// The same canonical form with other text is the same schema; the text
	// first registered is kept.
	if spaced := register("orders-value", SchemaSpec{Type: SchemaAvro, Text: " " + avroA + "\n", Canonical: avroA}); spaced.Version != 1 ||
		spaced.Schema.ID != a1.Schema.ID {
		t.Errorf("same canonical form = %+v, want version 1", spaced)
	}
	b2 := register("orders-value", b)
	if b2.Version != 2 || b2.Schema.ID == a1.Schema.ID {
		t.Errorf("second schema = %+v, want version 2 and a new id", b2)
	}
	a3 := register("orders-value", a) // a is still live as version 1
	if a3.Version != 1 {
		t.Errorf("re-registering a = %+v, want version 1", a3)
	}
	other := register("payments-value", a)
	if other.Version != 1 || other.Schema.ID != a1.Schema.ID {
		t.Errorf("a under another subject = %+v, want version 1 with id %d", other, a1.Schema.ID)
	}
	asJSON := register("payments-value", SchemaSpec{Type: SchemaJSON, Text: avroA})
	if asJSON.Schema.ID == a1.Schema.ID || asJSON.Version != 2 {
		t.Errorf("same text as JSON = %+v, want a new id (type is part of identity)", asJSON)
	}
	proto := register("proto", SchemaSpec{Type: SchemaProtobuf, Text: `syntax = "proto3"; message M {}`})

	got, err := s.SchemaByID(ctx, tn.ID, b2.Schema.ID)
	noErr(t, "SchemaByID", err)
	if got.Text != avroB || got.ID != b2.Schema.ID || got.Type != SchemaAvro {
		t.Errorf("SchemaByID = %+v", got)
	}
	_, err = s.SchemaByID(ctx, tn.ID, proto.Schema.ID+100)
	wantErr(t, "SchemaByID unknown", err, ErrNotFound)

	latest, err := s.SubjectVersion(ctx, tn.ID, "orders-value", LatestVersion, false)
	noErr(t, "SubjectVersion latest", err)
	if latest.Version != 2 || latest.Schema.ID != b2.Schema.ID {
		t.Errorf("latest = %+v, want version 2", latest)
	}
	v1, err := s.SubjectVersion(ctx, tn.ID, "orders-value", 1, false)
	noErr(t, "SubjectVersion 1", err)
	if v1.Schema.Text != avroA {
		t.Errorf("version 1 = %+v", v1)
	}
	for _, v := range []int{0, -2, 3, 1 << 32, 1<<32 + 1} {
		_, err = s.SubjectVersion(ctx, tn.ID, "orders-value", v, true)
		wantErr(t, "SubjectVersion of a missing version", err, ErrNotFound)
	}
	_, err = s.SubjectVersion(ctx, tn.ID, "nope", LatestVersion, true)
	wantErr(t, "SubjectVersion unknown subject", err, ErrNotFound)

	found, err := s.LookupSchema(ctx, tn.ID, "orders-value", b)
	noErr(t, "LookupSchema", err)
	if found.Version != 2 {
		t.Errorf("LookupSchema(b) = %+v, want version 2", found)
	}
	_, err = s.LookupSchema(ctx, tn.ID, "proto", b)
	wantErr(t, "LookupSchema absent", err, ErrNotFound)

	subjects, err := s.ListSubjects(ctx, tn.ID, false)
	noErr(t, "ListSubjects", err)
	if !slices.Equal(subjects, []string{"orders-value", "payments-value", "proto"}) {
		t.Errorf("ListSubjects = %q", subjects)
	}
	versions, err := s.ListVersions(ctx, tn.ID, "orders-value", false)
	noErr(t, "ListVersions", err)
	if !slices.Equal(versions, []int{1, 2}) {
		t.Errorf("ListVersions = %v", versions)
	}
	_, err = s.ListVersions(ctx, tn.ID, "nope", true)
	wantErr(t, "ListVersions unknown", err, ErrNotFound)

	_, err = s.RegisterSchema(ctx, tn.ID+100, "x", a)
	wantErr(t, "RegisterSchema unknown tenant", err, ErrNotFound)
	for name, spec := range map[string]SchemaSpec{
		"type":  {Type: "XML", Text: "<a/>"},
		"empty": {Type: SchemaAvro},
		"ref":   {Type: SchemaAvro, Text: avroA, References: []SchemaReference{{Name: "", Subject: "s", Version: 1}}},
		"refv":  {Type: SchemaAvro, Text: avroA, References: []SchemaReference{{Name: "n", Subject: "s", Version: 0}}},
	} {
		_, err := s.RegisterSchema(ctx, tn.ID, "x", spec)
		wantErr(t, "RegisterSchema invalid "+name, err, ErrInvalid)
	}
	for _, subject := range []string{"", "a\x00b", "a\tb"} {
		_, err := s.RegisterSchema(ctx, tn.ID, subject, a)
		wantErr(t, "RegisterSchema bad subject", err, ErrInvalid, "subject")
	}
	t.Run("UsagesAndSettings", func(t *testing.T) { testSchemaUsagesAndSettings(t, s) })
	t.Run("IfLatest", func(t *testing.T) { testSchemaIfLatest(t, s) })
}

func testSchemaDeletion(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	a := SchemaSpec{Type: SchemaAvro, Text: avroA}
	b := SchemaSpec{Type: SchemaAvro, Text: avroB}
	a1, err := s.RegisterSchema(ctx, tn.ID, "s", a)
	noErr(t, "register a", err)
	b2, err := s.RegisterSchema(ctx, tn.ID, "s", b)
	noErr(t, "register b", err)
	_, err = s.RegisterSchema(ctx, tn.ID, "other", a)
	noErr(t, "register a under other", err)

	wantErr(t, "permanent delete of a live version", s.DeleteSchemaVersion(ctx, tn.ID, "s", 1, true), ErrInvalid, "soft")
	noErr(t, "soft delete v1", s.DeleteSchemaVersion(ctx, tn.ID, "s", 1, false))
	wantErr(t, "soft delete v1 again", s.DeleteSchemaVersion(ctx, tn.ID, "s", 1, false), ErrNotFound)
	wantErr(t, "delete unknown version", s.DeleteSchemaVersion(ctx, tn.ID, "s", 9, false), ErrNotFound)
	wantErr(t, "delete version 0", s.DeleteSchemaVersion(ctx, tn.ID, "s", 0, false), ErrInvalid)
	wantErr(t, "delete version 2^32+1", s.DeleteSchemaVersion(ctx, tn.ID, "s", 1<<32+1, false), ErrInvalid)

	_, err = s.SubjectVersion(ctx, tn.ID, "s", 1, false)
	wantErr(t, "soft-deleted version hidden", err, ErrNotFound)
	v1, err := s.SubjectVersion(ctx, tn.ID, "s", 1, true)
	noErr(t, "soft-deleted version when asked", err)
	if !v1.Deleted || v1.Schema.ID != a1.Schema.ID {
		t.Errorf("soft-deleted version = %+v", v1)
	}
	if v, _ := s.ListVersions(ctx, tn.ID, "s", false); !slices.Equal(v, []int{2}) {
		t.Errorf("live versions = %v, want [2]", v)
	}
	if v, _ := s.ListVersions(ctx, tn.ID, "s", true); !slices.Equal(v, []int{1, 2}) {
		t.Errorf("all versions = %v, want [1 2]", v)
	}
	// Registering a again gives a new version: soft-deleted numbers are not
	// reused, the id is.
	a3, err := s.RegisterSchema(ctx, tn.ID, "s", a)
	noErr(t, "re-register a", err)
	if a3.Version != 3 || a3.Schema.ID != a1.Schema.ID {
		t.Errorf("re-registered a = %+v, want version 3 id %d", a3, a1.Schema.ID)
	}

	deleted, err := s.DeleteSubject(ctx, tn.ID, "s", false)
	noErr(t, "soft delete subject", err)
	if !slices.Equal(deleted, []int{2, 3}) {
		t.Errorf("soft delete subject deleted %v, want [2 3]", deleted)
	}
	_, err = s.DeleteSubject(ctx, tn.ID, "s", false)
	wantErr(t, "soft delete subject again", err, ErrNotFound)
	if l, _ := s.ListSubjects(ctx, tn.ID, false); !slices.Equal(l, []string{"other"}) {
		t.Errorf("live subjects = %q", l)
	}
	if l, _ := s.ListSubjects(ctx, tn.ID, true); !slices.Equal(l, []string{"other", "s"}) {
		t.Errorf("all subjects = %q", l)
	}
	_, err = s.SubjectVersion(ctx, tn.ID, "s", LatestVersion, false)
	wantErr(t, "latest of soft-deleted subject", err, ErrNotFound)
	if sv, err := s.SubjectVersion(ctx, tn.ID, "s", LatestVersion, true); err != nil || sv.Version != 3 {
		t.Errorf("latest of soft-deleted subject, asked = %+v, %v", sv, err)
	}
	if _, err := s.SchemaByID(ctx, tn.ID, b2.Schema.ID); err != nil {
		t.Errorf("schema of soft-deleted version gone: %v", err)
	}

	deleted, err = s.DeleteSubject(ctx, tn.ID, "s", true)
	noErr(t, "permanent delete subject", err)
	if !slices.Equal(deleted, []int{1, 2, 3}) {
		t.Errorf("permanent delete deleted %v, want [1 2 3]", deleted)
	}
	if l, _ := s.ListSubjects(ctx, tn.ID, true); !slices.Equal(l, []string{"other"}) {
		t.Errorf("subjects after permanent delete = %q", l)
	}
	_, err = s.DeleteSubject(ctx, tn.ID, "s", true)
	wantErr(t, "permanent delete again", err, ErrNotFound)
	_, err = s.SchemaByID(ctx, tn.ID, b2.Schema.ID)
	wantErr(t, "schema used by nothing", err, ErrNotFound)
	if _, err := s.SchemaByID(ctx, tn.ID, a1.Schema.ID); err != nil {
		t.Errorf("schema still used by other gone: %v", err)
	}
	// Ids are not reused, and a fresh subject starts at version 1.
	b1, err := s.RegisterSchema(ctx, tn.ID, "s", b)
	noErr(t, "register b after permanent delete", err)
	if b1.Version != 1 || b1.Schema.ID <= b2.Schema.ID {
		t.Errorf("b after permanent delete = %+v, want version 1 and an id above %d", b1, b2.Schema.ID)
	}

	// A permanent delete of a subject with a live version is refused whole.
	_, err = s.DeleteSubject(ctx, tn.ID, "other", true)
	wantErr(t, "permanent delete with live version", err, ErrInvalid)
	noErr(t, "soft delete other v1", s.DeleteSchemaVersion(ctx, tn.ID, "other", 1, false))
	noErr(t, "permanent delete other v1", s.DeleteSchemaVersion(ctx, tn.ID, "other", 1, true))
	wantErr(t, "permanent delete other v1 again", s.DeleteSchemaVersion(ctx, tn.ID, "other", 1, true), ErrNotFound)
	_, err = s.SchemaByID(ctx, tn.ID, a1.Schema.ID)
	wantErr(t, "schema a after its last version went", err, ErrNotFound)
}

func testSchemaReferences(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	_, err := s.RegisterSchema(ctx, tn.ID, "common", SchemaSpec{Type: SchemaProtobuf, Text: `message C {}`})
	noErr(t, "register common", err)
	ref := []SchemaReference{{Name: "common.proto", Subject: "common", Version: 1}}
	withRef := SchemaSpec{Type: SchemaProtobuf, Text: `import "common.proto"; message M { C c = 1; }`, References: ref}
	m, err := s.RegisterSchema(ctx, tn.ID, "m", withRef)
	noErr(t, "register with reference", err)
	if !slices.Equal(m.Schema.References, ref) {
		t.Errorf("references = %+v, want %+v", m.Schema.References, ref)
	}
	got, err := s.SchemaByID(ctx, tn.ID, m.Schema.ID)
	noErr(t, "SchemaByID", err)
	if !slices.Equal(got.References, ref) {
		t.Errorf("stored references = %+v", got.References)
	}
	// References are part of identity.
	noRef := withRef
	noRef.References = nil
	other, err := s.RegisterSchema(ctx, tn.ID, "m", noRef)
	noErr(t, "register without reference", err)
	if other.Schema.ID == m.Schema.ID || other.Version != 2 {
		t.Errorf("same text without references = %+v, want a new id and version 2", other)
	}
	_, err = s.RegisterSchema(ctx, tn.ID, "n", SchemaSpec{Type: SchemaProtobuf, Text: "x",
		References: []SchemaReference{{Name: "missing.proto", Subject: "common", Version: 2}}})
	wantErr(t, "register with a dangling reference", err, ErrNotFound, "missing.proto")
	if l, _ := s.ListSubjects(ctx, tn.ID, true); !slices.Equal(l, []string{"common", "m"}) {
		t.Errorf("refused registration left subjects %q", l)
	}
}

// testSchemaUsagesAndSettings runs inside testSchemas (on its own tenant):
// which subject versions hold an id, and the per-subject and tenant-wide
// settings behind /config and /mode.
func testSchemaUsagesAndSettings(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "settings")
	a := SchemaSpec{Type: SchemaAvro, Text: avroA}
	a1, err := s.RegisterSchema(ctx, tn.ID, "s", a)
	noErr(t, "register a", err)
	_, err = s.RegisterSchema(ctx, tn.ID, "r", a)
	noErr(t, "register a under r", err)
	_, err = s.RegisterSchema(ctx, tn.ID, "s", SchemaSpec{Type: SchemaAvro, Text: avroB})
	noErr(t, "register b", err)
	_, err = s.RegisterSchema(ctx, tn.ID, "s", a)
	noErr(t, "register a again", err)

	usages, err := s.SchemaUsages(ctx, tn.ID, a1.Schema.ID, false)
	noErr(t, "SchemaUsages", err)
	if want := []SchemaUsage{{"r", 1, false}, {"s", 1, false}}; !slices.Equal(usages, want) {
		t.Errorf("SchemaUsages = %+v, want %+v", usages, want)
	}
	noErr(t, "soft delete s v1", s.DeleteSchemaVersion(ctx, tn.ID, "s", 1, false))
	usages, err = s.SchemaUsages(ctx, tn.ID, a1.Schema.ID, false)
	noErr(t, "SchemaUsages after soft delete", err)
	if want := []SchemaUsage{{"r", 1, false}}; !slices.Equal(usages, want) {
		t.Errorf("live SchemaUsages = %+v, want %+v", usages, want)
	}
	usages, err = s.SchemaUsages(ctx, tn.ID, a1.Schema.ID, true)
	noErr(t, "SchemaUsages with deleted", err)
	if want := []SchemaUsage{{"r", 1, false}, {"s", 1, true}}; !slices.Equal(usages, want) {
		t.Errorf("all SchemaUsages = %+v, want %+v", usages, want)
	}
	_, err = s.SchemaUsages(ctx, tn.ID, a1.Schema.ID+100, true)
	wantErr(t, "SchemaUsages unknown id", err, ErrNotFound)

	_, err = s.SchemaSetting(ctx, tn.ID, "", SchemaCompatibilitySetting)
	wantErr(t, "unset global setting", err, ErrNotFound)
	noErr(t, "set global", s.SetSchemaSetting(ctx, tn.ID, "", SchemaCompatibilitySetting, "FULL"))
	noErr(t, "set subject", s.SetSchemaSetting(ctx, tn.ID, "s", SchemaCompatibilitySetting, "NONE"))
	noErr(t, "set subject mode", s.SetSchemaSetting(ctx, tn.ID, "s", SchemaModeSetting, "READONLY"))
	noErr(t, "set subject validation", s.SetSchemaSetting(ctx, tn.ID, "s", SchemaValidationSetting, "STRICT"))
	noErr(t, "overwrite global", s.SetSchemaSetting(ctx, tn.ID, "", SchemaCompatibilitySetting, "FORWARD"))
	for _, c := range []struct {
		subject string
		kind    SchemaSettingKind
		want    string
	}{{"", SchemaCompatibilitySetting, "FORWARD"}, {"s", SchemaCompatibilitySetting, "NONE"}, {"s", SchemaModeSetting, "READONLY"},
		{"s", SchemaValidationSetting, "STRICT"}} {
		got, err := s.SchemaSetting(ctx, tn.ID, c.subject, c.kind)
		noErr(t, "SchemaSetting", err)
		if got != c.want {
			t.Errorf("%s of %q = %q, want %q", c.kind, c.subject, got, c.want)
		}
	}
	_, err = s.SchemaSetting(ctx, tn.ID, "r", SchemaCompatibilitySetting)
	wantErr(t, "unset subject setting", err, ErrNotFound)
	other := mustTenant(t, s, "settings-other")
	_, err = s.SchemaSetting(ctx, other.ID, "", SchemaCompatibilitySetting)
	wantErr(t, "settings are per tenant", err, ErrNotFound)

	noErr(t, "remove subject setting", s.SetSchemaSetting(ctx, tn.ID, "s", SchemaCompatibilitySetting, ""))
	_, err = s.SchemaSetting(ctx, tn.ID, "s", SchemaCompatibilitySetting)
	wantErr(t, "removed setting", err, ErrNotFound)
	wantErr(t, "remove again", s.SetSchemaSetting(ctx, tn.ID, "s", SchemaCompatibilitySetting, ""), ErrNotFound)
	if got, _ := s.SchemaSetting(ctx, tn.ID, "s", SchemaModeSetting); got != "READONLY" {
		t.Errorf("mode after removing compatibility = %q", got)
	}

	wantErr(t, "unknown tenant", s.SetSchemaSetting(ctx, tn.ID+100, "", SchemaModeSetting, "READONLY"), ErrNotFound)
	wantErr(t, "unknown kind", s.SetSchemaSetting(ctx, tn.ID, "", "colour", "red"), ErrInvalid, "schema setting")
	wantErr(t, "long value", s.SetSchemaSetting(ctx, tn.ID, "", SchemaModeSetting, strings.Repeat("X", MaxSchemaSettingLen+1)),
		ErrInvalid, "limit is 64")
	wantErr(t, "space in value", s.SetSchemaSetting(ctx, tn.ID, "", SchemaModeSetting, "READ ONLY"), ErrInvalid, "printable")
	wantErr(t, "bad subject", s.SetSchemaSetting(ctx, tn.ID, "a\x00b", SchemaModeSetting, "READONLY"), ErrInvalid, "subject")
}

// testSchemaIfLatest: a registration conditioned on the subject's latest
// live version, which makes check-then-register safe across processes.
func testSchemaIfLatest(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "if-latest")
	at := func(v int) *int { return &v }
	a := SchemaSpec{Type: SchemaAvro, Text: avroA}
	b := SchemaSpec{Type: SchemaAvro, Text: avroB}
	_, err := s.RegisterSchema(ctx, tn.ID, "s", SchemaSpec{Type: SchemaAvro, Text: avroA, IfLatest: at(1)})
	wantErr(t, "first version expecting latest 1", err, ErrLatestMoved, "is 0, not 1")
	a.IfLatest = at(0)
	a1, err := s.RegisterSchema(ctx, tn.ID, "s", a)
	noErr(t, "first version expecting none", err)
	// A schema already held comes back whatever IfLatest says.
	if again, err := s.RegisterSchema(ctx, tn.ID, "s", a); err != nil || again.Version != 1 || again.Schema.ID != a1.Schema.ID {
		t.Errorf("re-register with a stale IfLatest = %+v, %v", again, err)
	}
	b.IfLatest = at(0)
	_, err = s.RegisterSchema(ctx, tn.ID, "s", b)
	wantErr(t, "stale IfLatest", err, ErrLatestMoved)
	if v, _ := s.ListVersions(ctx, tn.ID, "s", true); !slices.Equal(v, []int{1}) {
		t.Errorf("refused registration left versions %v", v)
	}
	b.IfLatest = at(1)
	b2, err := s.RegisterSchema(ctx, tn.ID, "s", b)
	noErr(t, "IfLatest 1", err)
	if b2.Version != 2 {
		t.Errorf("b = %+v, want version 2", b2)
	}
	// Soft-deleted versions do not count as the latest.
	noErr(t, "soft delete v2", s.DeleteSchemaVersion(ctx, tn.ID, "s", 2, false))
	c := SchemaSpec{Type: SchemaJSON, Text: `{}`, IfLatest: at(1)}
	c3, err := s.RegisterSchema(ctx, tn.ID, "s", c)
	noErr(t, "IfLatest after a soft delete", err)
	if c3.Version != 3 {
		t.Errorf("c = %+v, want version 3", c3)
	}
}
