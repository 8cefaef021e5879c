package registry

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers for the accounts tests.

func mustUser(t *testing.T, s Store, email string) User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), email, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

func mustMember(t *testing.T, s Store, tenant, user int64, role Role) Member {
	t.Helper()
	m, err := s.AddMember(t.Context(), tenant, user, role)
	if err != nil {
		t.Fatalf("AddMember(%d, %d, %s): %v", tenant, user, role, err)
	}
	return m
}

func secretHash(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// sameTime compares times by instant; both zero counts as equal.
func sameTime(a, b time.Time) bool { return a.Equal(b) }

func sameAPIKey(a, b APIKey) bool {
	return a.ID == b.ID && a.Tenant == b.Tenant && a.Name == b.Name && a.Role == b.Role && a.Hash == b.Hash &&
		a.CreatedBy == b.CreatedBy && sameTime(a.ExpiresAt, b.ExpiresAt) && sameTime(a.CreatedAt, b.CreatedAt) &&
		sameTime(a.RevokedAt, b.RevokedAt) && sameTime(a.LastUsedAt, b.LastUsedAt)
}

func sameSession(a, b Session) bool {
	return a.ID == b.ID && a.User == b.User && a.Tenant == b.Tenant && a.Hash == b.Hash &&
		sameTime(a.ExpiresAt, b.ExpiresAt) && sameTime(a.CreatedAt, b.CreatedAt) && sameTime(a.RevokedAt, b.RevokedAt)
}

func memberIDs(ms []Member) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d/%d:%s:%s ", m.Tenant, m.User, m.Role, m.Email)
	}
	return b.String()
}

func testTenantSettings(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "acme")
	defaults := TenantSettings{DisplayName: "acme", Plan: "free", Status: TenantActive}
	got, err := s.TenantSettings(ctx, tn.ID)
	noErr(t, "TenantSettings", err)
	if got != defaults {
		t.Errorf("TenantSettings of a new tenant = %+v, want %+v", got, defaults)
	}
	want := TenantSettings{DisplayName: "Acme Ünited, Inc.", Plan: "pro", Status: TenantSuspended}
	got, err = s.SetTenantSettings(ctx, tn.ID, want)
	noErr(t, "SetTenantSettings", err)
	if got != want {
		t.Errorf("SetTenantSettings = %+v, want %+v", got, want)
	}
	if got, err = s.TenantSettings(ctx, tn.ID); err != nil || got != want {
		t.Errorf("TenantSettings = %+v, %v; want %+v", got, err, want)
	}

	for _, bad := range []struct {
		s        TenantSettings
		mentions string
	}{
		{TenantSettings{Plan: "Pro"}, "plan"},
		{TenantSettings{Plan: "pro plan"}, "byte 3"},
		{TenantSettings{Plan: "1pro"}, "start with a-z"},
		{TenantSettings{Plan: "p" + strings.Repeat("x", MaxPlanLen)}, "limit is 32"},
		{TenantSettings{DisplayName: strings.Repeat("x", MaxDisplayNameLen+1)}, "limit is 128"},
		{TenantSettings{DisplayName: "a\nb"}, "control character"},
		{TenantSettings{DisplayName: "\xff"}, "UTF-8"},
		{TenantSettings{Status: "deleted"}, `"active" or "suspended"`},
	} {
		_, err := s.SetTenantSettings(ctx, tn.ID, bad.s)
		wantErr(t, fmt.Sprintf("SetTenantSettings(%+v)", bad.s), err, ErrInvalid, bad.mentions)
	}
	if got, _ := s.TenantSettings(ctx, tn.ID); got != want {
		t.Errorf("refused settings changed them: %+v", got)
	}
	// Limits themselves are allowed.
	edge := TenantSettings{DisplayName: strings.Repeat("é", MaxDisplayNameLen/2), Plan: "p" + strings.Repeat("-", MaxPlanLen-1), Status: TenantActive}
	got, err = s.SetTenantSettings(ctx, tn.ID, edge)
	if err != nil || got != edge {
		t.Errorf("SetTenantSettings at the limits = %+v, %v", got, err)
	}
	// Zero fields take the defaults.
	got, err = s.SetTenantSettings(ctx, tn.ID, TenantSettings{})
	if err != nil || got != defaults {
		t.Errorf("SetTenantSettings({}) = %+v, %v; want %+v", got, err, defaults)
	}
	if got, _ := s.TenantSettings(ctx, tn.ID); got != defaults {
		t.Errorf("TenantSettings after reset = %+v", got)
	}

	_, err = s.TenantSettings(ctx, tn.ID+100)
	wantErr(t, "TenantSettings unknown", err, ErrNotFound, "tenant")
	_, err = s.SetTenantSettings(ctx, tn.ID+100, want)
	wantErr(t, "SetTenantSettings unknown", err, ErrNotFound, "tenant")
}

func testUsers(t *testing.T, s Store) {
	ctx := t.Context()
	u := mustUser(t, s, "Alice@Example.com")
	if u.ID <= 0 || u.CreatedAt.IsZero() || u.Email != "Alice@Example.com" {
		t.Fatalf("CreateUser = %+v", u)
	}
	got, err := s.UserByEmail(ctx, "alice@example.COM")
	noErr(t, "UserByEmail", err)
	if got.ID != u.ID || got.Email != "Alice@Example.com" || got.PasswordHash != u.PasswordHash || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("UserByEmail = %+v, want %+v", got, u)
	}
	if got, err = s.User(ctx, u.ID); err != nil || got.Email != u.Email {
		t.Errorf("User = %+v, %v", got, err)
	}
	_, err = s.CreateUser(ctx, "ALICE@example.com", "h")
	wantErr(t, "CreateUser taken in another case", err, ErrExists, "ALICE@example.com")
	v := mustUser(t, s, "Ünïcode@Example.com")
	_, err = s.CreateUser(ctx, "ünïcode@example.com", "h")
	wantErr(t, "CreateUser taken, non-ASCII case", err, ErrExists)
	if got, err := s.UserByEmail(ctx, "ÜNÏCODE@EXAMPLE.COM"); err != nil || got.ID != v.ID {
		t.Errorf("UserByEmail non-ASCII = %+v, %v", got, err)
	}
	if v.ID <= u.ID {
		t.Errorf("user ids %d then %d: want increasing", u.ID, v.ID)
	}

	noErr(t, "SetPasswordHash", s.SetPasswordHash(ctx, u.ID, "new-hash"))
	if got, _ := s.User(ctx, u.ID); got.PasswordHash != "new-hash" {
		t.Errorf("password hash after set = %q", got.PasswordHash)
	}
	wantErr(t, "SetPasswordHash unknown", s.SetPasswordHash(ctx, u.ID+v.ID+10, "h"), ErrNotFound, "user")
	wantErr(t, "SetPasswordHash empty", s.SetPasswordHash(ctx, u.ID, ""), ErrInvalid, "password hash", "empty")
	_, err = s.User(ctx, u.ID+v.ID+10)
	wantErr(t, "User unknown", err, ErrNotFound, "user")
	_, err = s.UserByEmail(ctx, "bob@example.com")
	wantErr(t, "UserByEmail unknown", err, ErrNotFound, "bob@example.com")

	// Limits: an email of 254 bytes and a hash of 512 are taken, one more is not.
	const domain = "@example.com"
	long := strings.Repeat("a", MaxEmailLen-len(domain)) + domain
	mustUser(t, s, long)
	_, err = s.CreateUser(ctx, "a"+long, "h")
	wantErr(t, "CreateUser 255-byte email", err, ErrInvalid, "limit is 254")
	_, err = s.CreateUser(ctx, "hash@example.com", strings.Repeat("h", MaxPasswordHashLen))
	noErr(t, "CreateUser 512-byte hash", err)
	for _, bad := range []struct{ email, hash, mentions string }{
		{"", "h", "empty"},
		{"no-at.example.com", "h", "no '@'"},
		{"a@b@example.com", "h", "more than one '@'"},
		{"@example.com", "h", "both sides"},
		{"a@", "h", "both sides"},
		{"a b@example.com", "h", "space"},
		{"a\x00@example.com", "h", "control character"},
		{"\xff@example.com", "h", "UTF-8"},
		{"ok@example.com", "", "empty"},
		{"ok@example.com", strings.Repeat("h", MaxPasswordHashLen+1), "limit is 512"},
		{"ok@example.com", "has space", "printable ASCII"},
	} {
		_, err := s.CreateUser(ctx, bad.email, bad.hash)
		wantErr(t, fmt.Sprintf("CreateUser(%q, %.10q)", bad.email, bad.hash), err, ErrInvalid, bad.mentions)
	}
	_, err = s.UserByEmail(ctx, "ok@example.com")
	wantErr(t, "refused user stored", err, ErrNotFound)
}

func testMemberships(t *testing.T, s Store) {
	ctx := t.Context()
	tn, tn2 := mustTenant(t, s, "t"), mustTenant(t, s, "t2")
	a, b := mustUser(t, s, "a@example.com"), mustUser(t, s, "B@example.com")

	m := mustMember(t, s, tn.ID, a.ID, RoleOwner)
	if m.Tenant != tn.ID || m.User != a.ID || m.Email != a.Email || m.Role != RoleOwner || m.CreatedAt.IsZero() {
		t.Errorf("AddMember = %+v", m)
	}
	mustMember(t, s, tn.ID, b.ID, RoleViewer)
	mustMember(t, s, tn2.ID, a.ID, RoleMember)
	_, err := s.AddMember(ctx, tn.ID, a.ID, RoleAdmin)
	wantErr(t, "AddMember twice", err, ErrExists)
	_, err = s.AddMember(ctx, tn.ID, a.ID+b.ID+10, RoleAdmin)
	wantErr(t, "AddMember unknown user", err, ErrNotFound, "user")
	_, err = s.AddMember(ctx, tn.ID+tn2.ID+10, a.ID, RoleAdmin)
	wantErr(t, "AddMember unknown tenant", err, ErrNotFound, "tenant")
	_, err = s.AddMember(ctx, tn.ID, a.ID, "root")
	wantErr(t, "AddMember bad role", err, ErrInvalid, "role", "owner, admin, member or viewer")

	ms, err := s.Members(ctx, tn.ID)
	noErr(t, "Members", err)
	if len(ms) != 2 || ms[0].User != a.ID || ms[0].Role != RoleOwner || ms[1].User != b.ID || ms[1].Email != "B@example.com" || ms[1].Role != RoleViewer {
		t.Errorf("Members = %s", memberIDs(ms))
	}
	ms, err = s.Memberships(ctx, a.ID)
	noErr(t, "Memberships", err)
	if len(ms) != 2 || ms[0].Tenant != tn.ID || ms[0].Role != RoleOwner || ms[1].Tenant != tn2.ID || ms[1].Role != RoleMember || ms[1].Email != a.Email {
		t.Errorf("Memberships = %s", memberIDs(ms))
	}

	// The last owner stays.
	_, err = s.SetMemberRole(ctx, tn.ID, a.ID, RoleAdmin)
	wantErr(t, "demote the last owner", err, ErrInvalid, "last owner")
	wantErr(t, "remove the last owner", s.RemoveMember(ctx, tn.ID, a.ID), ErrInvalid, "last owner")
	m, err = s.SetMemberRole(ctx, tn.ID, b.ID, RoleOwner)
	noErr(t, "promote b", err)
	if m.Role != RoleOwner || m.Email != b.Email {
		t.Errorf("SetMemberRole = %+v", m)
	}
	_, err = s.SetMemberRole(ctx, tn.ID, a.ID, RoleAdmin)
	noErr(t, "demote a, b owns", err)
	wantErr(t, "remove b, the last owner now", s.RemoveMember(ctx, tn.ID, b.ID), ErrInvalid, "last owner")
	_, err = s.SetMemberRole(ctx, tn.ID, b.ID, RoleOwner)
	noErr(t, "owner to owner", err)
	_, err = s.SetMemberRole(ctx, tn.ID, b.ID, "superuser")
	wantErr(t, "SetMemberRole bad role", err, ErrInvalid, "role")

	noErr(t, "RemoveMember a", s.RemoveMember(ctx, tn.ID, a.ID))
	wantErr(t, "RemoveMember again", s.RemoveMember(ctx, tn.ID, a.ID), ErrNotFound)
	_, err = s.SetMemberRole(ctx, tn.ID, a.ID, RoleViewer)
	wantErr(t, "SetMemberRole of a non-member", err, ErrNotFound)
	if ms, _ := s.Members(ctx, tn.ID); len(ms) != 1 || ms[0].User != b.ID || ms[0].Role != RoleOwner {
		t.Errorf("Members after removal = %s", memberIDs(ms))
	}
	if ms, _ := s.Memberships(ctx, a.ID); len(ms) != 1 || ms[0].Tenant != tn2.ID {
		t.Errorf("Memberships after removal = %s", memberIDs(ms))
	}
	// A tenant without owners (tn2) may lose its other members.
	noErr(t, "RemoveMember from an ownerless tenant", s.RemoveMember(ctx, tn2.ID, a.ID))
	// And a removed member can come back.
	mustMember(t, s, tn.ID, a.ID, RoleMember)

	if ms, err := s.Members(ctx, tn.ID+tn2.ID+10); err != nil || len(ms) != 0 {
		t.Errorf("Members of an unknown tenant = %v, %v", ms, err)
	}
	if ms, err := s.Memberships(ctx, a.ID+b.ID+10); err != nil || len(ms) != 0 {
		t.Errorf("Memberships of an unknown user = %v, %v", ms, err)
	}
}

func testAPIKeys(t *testing.T, s Store) {
	ctx := t.Context()
	tn, tn2 := mustTenant(t, s, "t"), mustTenant(t, s, "t2")
	u := mustUser(t, s, "u@example.com")
	mustMember(t, s, tn.ID, u.ID, RoleAdmin)
	exp := time.Now().Add(time.Hour)

	k1, err := s.CreateAPIKey(ctx, APIKey{ID: "k1", Tenant: tn.ID, Name: "ci", Role: RoleMember, Hash: secretHash("s1"),
		ExpiresAt: exp, CreatedBy: u.ID, RevokedAt: exp, LastUsedAt: exp})
	noErr(t, "CreateAPIKey", err)
	if k1.CreatedAt.IsZero() || !k1.ExpiresAt.Equal(exp.Truncate(time.Microsecond)) || !k1.RevokedAt.IsZero() || !k1.LastUsedAt.IsZero() {
		t.Errorf("CreateAPIKey = %+v", k1)
	}
	got, err := s.APIKey(ctx, "k1")
	noErr(t, "APIKey", err)
	if !sameAPIKey(got, k1) {
		t.Errorf("APIKey = %+v, want %+v", got, k1)
	}
	k2, err := s.CreateAPIKey(ctx, APIKey{ID: "K2_-x", Tenant: tn.ID, Name: "provisioned", Role: RoleViewer, Hash: secretHash("s2")})
	noErr(t, "CreateAPIKey without expiry or creator", err)
	if got, _ := s.APIKey(ctx, "K2_-x"); !sameAPIKey(got, k2) || !got.ExpiresAt.IsZero() || got.CreatedBy != 0 {
		t.Errorf("APIKey(K2_-x) = %+v, want %+v", got, k2)
	}
	_, err = s.CreateAPIKey(ctx, APIKey{ID: "k1", Tenant: tn2.ID, Name: "other", Role: RoleAdmin, Hash: secretHash("s3")})
	wantErr(t, "CreateAPIKey id taken in another tenant", err, ErrExists, "k1")

	// Limits: a 64-byte id and a 128-byte name are taken.
	edge := APIKey{ID: strings.Repeat("z", MaxTokenIDLen), Tenant: tn.ID, Name: strings.Repeat("n", MaxAPIKeyNameLen), Role: RoleOwner, Hash: secretHash("s4")}
	edge.ExpiresAt = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	_, err = s.CreateAPIKey(ctx, edge)
	noErr(t, "CreateAPIKey at the limits", err)
	if got, err := s.APIKey(ctx, edge.ID); err != nil || !got.ExpiresAt.Equal(edge.ExpiresAt) {
		t.Errorf("latest expiry read back as %v, %v; want %v", got.ExpiresAt, err, edge.ExpiresAt)
	}
	valid := APIKey{ID: "ok", Tenant: tn.ID, Name: "n", Role: RoleMember, Hash: secretHash("s5")}
	for _, bad := range []struct {
		edit     func(k *APIKey)
		target   error
		mentions string
	}{
		{func(k *APIKey) { k.ID = "" }, ErrInvalid, "token id"},
		{func(k *APIKey) { k.ID = strings.Repeat("z", MaxTokenIDLen+1) }, ErrInvalid, "limit is 64"},
		{func(k *APIKey) { k.ID = "a.b" }, ErrInvalid, "byte 1"},
		{func(k *APIKey) { k.Name = "" }, ErrInvalid, "API key name"},
		{func(k *APIKey) { k.Name = strings.Repeat("n", MaxAPIKeyNameLen+1) }, ErrInvalid, "limit is 128"},
		{func(k *APIKey) { k.Name = "a\tb" }, ErrInvalid, "control character"},
		{func(k *APIKey) { k.Role = "" }, ErrInvalid, "role"},
		{func(k *APIKey) { k.Hash = [32]byte{} }, ErrInvalid, "all zero"},
		{func(k *APIKey) { k.ExpiresAt = time.Now().Add(-time.Second) }, ErrInvalid, "not in the future"},
		{func(k *APIKey) { k.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrInvalid, "year 10000"},
		{func(k *APIKey) { k.CreatedBy = -1 }, ErrInvalid, "creator"},
		{func(k *APIKey) { k.Tenant = 0 }, ErrInvalid, "tenant id"},
		{func(k *APIKey) { k.CreatedBy = u.ID + 100 }, ErrNotFound, "user"},
		{func(k *APIKey) { k.Tenant = tn.ID + tn2.ID + 10 }, ErrNotFound, "tenant"},
	} {
		k := valid
		bad.edit(&k)
		_, err := s.CreateAPIKey(ctx, k)
		wantErr(t, fmt.Sprintf("CreateAPIKey(%s)", bad.mentions), err, bad.target, bad.mentions)
	}
	_, err = s.APIKey(ctx, "ok")
	wantErr(t, "refused key stored", err, ErrNotFound)

	keys, err := s.ListAPIKeys(ctx, tn.ID)
	noErr(t, "ListAPIKeys", err)
	if len(keys) != 3 || !sameAPIKey(keys[0], k1) || !sameAPIKey(keys[1], k2) || keys[2].ID != edge.ID {
		t.Errorf("ListAPIKeys = %+v", keys)
	}
	if keys, err := s.ListAPIKeys(ctx, tn2.ID); err != nil || len(keys) != 0 {
		t.Errorf("ListAPIKeys of t2 = %+v, %v", keys, err)
	}

	// Last use never moves backward.
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	noErr(t, "TouchAPIKey", s.TouchAPIKey(ctx, "k1", t1))
	noErr(t, "TouchAPIKey earlier", s.TouchAPIKey(ctx, "k1", t1.Add(-time.Hour)))
	if got, _ := s.APIKey(ctx, "k1"); !got.LastUsedAt.Equal(t1.Truncate(time.Microsecond)) {
		t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, t1)
	}
	noErr(t, "TouchAPIKey now", s.TouchAPIKey(ctx, "k1", time.Time{}))
	if got, _ := s.APIKey(ctx, "k1"); !got.LastUsedAt.After(t1) {
		t.Errorf("LastUsedAt after a touch now = %v, want after %v", got.LastUsedAt, t1)
	}
	wantErr(t, "TouchAPIKey unknown", s.TouchAPIKey(ctx, "nope", t1), ErrNotFound, "nope")
	wantErr(t, "TouchAPIKey at the epoch", s.TouchAPIKey(ctx, "k1", time.Unix(0, 0)), ErrInvalid, "last use time", "1970")

	// Revocation keeps its first time.
	r1 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	noErr(t, "RevokeAPIKey", s.RevokeAPIKey(ctx, tn.ID, "k1", r1))
	noErr(t, "RevokeAPIKey again", s.RevokeAPIKey(ctx, tn.ID, "k1", r1.Add(time.Hour)))
	if got, _ := s.APIKey(ctx, "k1"); !got.RevokedAt.Equal(r1) {
		t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, r1)
	}
	noErr(t, "RevokeAPIKey now", s.RevokeAPIKey(ctx, tn.ID, "K2_-x", time.Time{}))
	if got, _ := s.APIKey(ctx, "K2_-x"); got.RevokedAt.IsZero() {
		t.Error("RevokeAPIKey with a zero time did not revoke")
	}
	wantErr(t, "RevokeAPIKey unknown", s.RevokeAPIKey(ctx, tn.ID, "nope", r1), ErrNotFound, "nope")
	wantErr(t, "RevokeAPIKey in the year 10000", s.RevokeAPIKey(ctx, tn.ID, "k1", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)),
		ErrInvalid, "revocation time")
	if keys, _ := s.ListAPIKeys(ctx, tn.ID); len(keys) != 3 || !keys[0].RevokedAt.Equal(r1) {
		t.Errorf("ListAPIKeys after revocation = %+v", keys)
	}
}

func testSessions(t *testing.T, s Store) {
	ctx := t.Context()
	tn, tn2 := mustTenant(t, s, "t"), mustTenant(t, s, "t2")
	u, v := mustUser(t, s, "u@example.com"), mustUser(t, s, "v@example.com")
	mustMember(t, s, tn.ID, u.ID, RoleOwner)
	mustMember(t, s, tn2.ID, u.ID, RoleViewer)
	exp := time.Now().Add(time.Hour)
	newSession := func(id string, tenant int64) Session {
		return Session{ID: id, User: u.ID, Tenant: tenant, Hash: secretHash(id), ExpiresAt: exp}
	}

	s1, err := s.CreateSession(ctx, newSession("s1", tn.ID))
	noErr(t, "CreateSession", err)
	if s1.CreatedAt.IsZero() || !s1.RevokedAt.IsZero() || !s1.ExpiresAt.Equal(exp.Truncate(time.Microsecond)) {
		t.Errorf("CreateSession = %+v", s1)
	}
	if got, err := s.Session(ctx, "s1"); err != nil || !sameSession(got, s1) {
		t.Errorf("Session = %+v, %v; want %+v", got, err, s1)
	}
	_, err = s.CreateSession(ctx, newSession("s1", tn2.ID))
	wantErr(t, "CreateSession id taken", err, ErrExists)
	for _, bad := range []struct {
		edit     func(s *Session)
		target   error
		mentions string
	}{
		{func(s *Session) { s.User = v.ID }, ErrNotFound, "in tenant"},
		{func(s *Session) { s.Tenant = tn.ID + tn2.ID + 10 }, ErrNotFound, "in tenant"},
		{func(s *Session) { s.ID = "" }, ErrInvalid, "token id"},
		{func(s *Session) { s.ID = strings.Repeat("s", MaxTokenIDLen+1) }, ErrInvalid, "limit is 64"},
		{func(s *Session) { s.Hash = [32]byte{} }, ErrInvalid, "all zero"},
		{func(s *Session) { s.ExpiresAt = time.Time{} }, ErrInvalid, "not in the future"},
		{func(s *Session) { s.ExpiresAt = time.Now().Add(-time.Minute) }, ErrInvalid, "not in the future"},
		{func(s *Session) { s.User = 0 }, ErrInvalid, "user id"},
	} {
		ss := newSession("bad", tn.ID)
		bad.edit(&ss)
		_, err := s.CreateSession(ctx, ss)
		wantErr(t, fmt.Sprintf("CreateSession(%s)", bad.mentions), err, bad.target, bad.mentions)
	}
	_, err = s.Session(ctx, "bad")
	wantErr(t, "refused session stored", err, ErrNotFound)

	r1 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	noErr(t, "RevokeSession", s.RevokeSession(ctx, "s1", r1))
	noErr(t, "RevokeSession again", s.RevokeSession(ctx, "s1", r1.Add(time.Hour)))
	if got, _ := s.Session(ctx, "s1"); !got.RevokedAt.Equal(r1) {
		t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, r1)
	}
	wantErr(t, "RevokeSession unknown", s.RevokeSession(ctx, "nope", r1), ErrNotFound)
	wantErr(t, "RevokeSession before 1970", s.RevokeSession(ctx, "s1", time.Unix(-1, 0)), ErrInvalid, "revocation time")
	_, err = s.RevokeUserSessions(ctx, u.ID, time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC))
	wantErr(t, "RevokeUserSessions after 9999", err, ErrInvalid, "year 10000")

	// Logout everywhere: both tenants, not the session revoked before.
	for _, ss := range []Session{newSession("s2", tn.ID), newSession("s3", tn2.ID)} {
		_, err := s.CreateSession(ctx, ss)
		noErr(t, "CreateSession "+ss.ID, err)
	}
	r2 := r1.Add(24 * time.Hour)
	n, err := s.RevokeUserSessions(ctx, u.ID, r2)
	noErr(t, "RevokeUserSessions", err)
	if n != 2 {
		t.Errorf("RevokeUserSessions revoked %d, want 2", n)
	}
	for id, want := range map[string]time.Time{"s1": r1, "s2": r2, "s3": r2} {
		if got, _ := s.Session(ctx, id); !got.RevokedAt.Equal(want) {
			t.Errorf("session %s revoked at %v, want %v", id, got.RevokedAt, want)
		}
	}
	if n, err := s.RevokeUserSessions(ctx, u.ID, r2); err != nil || n != 0 {
		t.Errorf("RevokeUserSessions again = %d, %v; want 0", n, err)
	}

	// Leaving a tenant ends the sessions in it, and only those.
	for _, ss := range []Session{newSession("s4", tn.ID), newSession("s5", tn2.ID)} {
		_, err := s.CreateSession(ctx, ss)
		noErr(t, "CreateSession "+ss.ID, err)
	}
	noErr(t, "RemoveMember", s.RemoveMember(ctx, tn2.ID, u.ID))
	if got, _ := s.Session(ctx, "s5"); got.RevokedAt.IsZero() {
		t.Error("session in the tenant left is not revoked")
	}
	if got, _ := s.Session(ctx, "s4"); !got.RevokedAt.IsZero() {
		t.Error("session in another tenant was revoked")
	}
	_, err = s.CreateSession(ctx, newSession("s6", tn2.ID))
	wantErr(t, "CreateSession after leaving", err, ErrNotFound)
}

func testAudit(t *testing.T, s Store) {
	ctx := t.Context()
	tn, tn2 := mustTenant(t, s, "t"), mustTenant(t, s, "t2")
	given := time.Date(2026, 4, 5, 6, 7, 8, 9999, time.UTC)
	var appended []AuditEvent
	for i := 1; i <= 5; i++ {
		ev := AuditEvent{Tenant: tn.ID, Actor: fmt.Sprintf("user:%d", i), Action: "topic.create", Target: fmt.Sprintf("topic-%d", i),
			Detail: "partitions: 3\nretention: 7 días"}
		if i == 3 {
			ev.At, ev.Target, ev.Detail = given, "", ""
		}
		got, err := s.AppendAudit(ctx, ev)
		noErr(t, "AppendAudit", err)
		if got.ID != int64(i) || got.At.IsZero() {
			t.Fatalf("AppendAudit #%d = %+v: want id %d and a time", i, got, i)
		}
		appended = append(appended, got)
	}
	if !appended[2].At.Equal(given.Truncate(time.Microsecond)) {
		t.Errorf("given time %v stored as %v", given, appended[2].At)
	}
	other, err := s.AppendAudit(ctx, AuditEvent{Tenant: tn2.ID, Actor: "key:abc", Action: "key.revoke"})
	noErr(t, "AppendAudit t2", err)
	if other.ID != 1 {
		t.Errorf("first event of t2 has id %d, want 1 (ids are per tenant)", other.ID)
	}

	page := func(before int64, limit int) string {
		t.Helper()
		evs, err := s.ListAudit(ctx, tn.ID, before, limit)
		noErr(t, "ListAudit", err)
		var ids []string
		for _, e := range evs {
			ids = append(ids, fmt.Sprint(e.ID))
			want := appended[e.ID-1]
			if e.Tenant != want.Tenant || e.Actor != want.Actor || e.Action != want.Action || e.Target != want.Target ||
				e.Detail != want.Detail || !e.At.Equal(want.At) {
				t.Errorf("event %d = %+v, want %+v", e.ID, e, want)
			}
		}
		return strings.Join(ids, ",")
	}
	for _, tc := range []struct {
		before int64
		limit  int
		want   string
	}{{0, 2, "5,4"}, {4, 2, "3,2"}, {2, 10, "1"}, {1, 10, ""}, {100, MaxAuditPage, "5,4,3,2,1"}, {0, 1, "5"}} {
		if got := page(tc.before, tc.limit); got != tc.want {
			t.Errorf("ListAudit(before %d, limit %d) = [%s], want [%s]", tc.before, tc.limit, got, tc.want)
		}
	}
	for _, bad := range []struct {
		before   int64
		limit    int
		mentions string
	}{{0, 0, "1 to 1000"}, {0, MaxAuditPage + 1, "1 to 1000"}, {0, -1, "audit limit"}, {-1, 10, "audit before id"}} {
		_, err := s.ListAudit(ctx, tn.ID, bad.before, bad.limit)
		wantErr(t, fmt.Sprintf("ListAudit(%d, %d)", bad.before, bad.limit), err, ErrInvalid, bad.mentions)
	}
	if evs, err := s.ListAudit(ctx, tn.ID+tn2.ID+10, 0, 10); err != nil || len(evs) != 0 {
		t.Errorf("ListAudit of an unknown tenant = %v, %v", evs, err)
	}

	// Limits: the largest of each field is taken.
	_, err = s.AppendAudit(ctx, AuditEvent{Tenant: tn.ID, Actor: strings.Repeat("a", MaxAuditActorLen),
		Action: strings.Repeat("x", MaxAuditActionLen), Target: strings.Repeat("t", MaxAuditTargetLen), Detail: strings.Repeat("d", MaxAuditDetailLen)})
	noErr(t, "AppendAudit at the limits", err)
	valid := AuditEvent{Tenant: tn.ID, Actor: "user:1", Action: "member.add"}
	for _, bad := range []struct {
		edit     func(e *AuditEvent)
		target   error
		mentions string
	}{
		{func(e *AuditEvent) { e.Detail = strings.Repeat("d", MaxAuditDetailLen+1) }, ErrInvalid, "limit is 4096"},
		{func(e *AuditEvent) { e.Detail = "a\x00b" }, ErrInvalid, "NUL"},
		{func(e *AuditEvent) { e.Detail = "\xff" }, ErrInvalid, "UTF-8"},
		{func(e *AuditEvent) { e.Actor = "" }, ErrInvalid, "audit actor"},
		{func(e *AuditEvent) { e.Actor = strings.Repeat("a", MaxAuditActorLen+1) }, ErrInvalid, "limit is 128"},
		{func(e *AuditEvent) { e.Action = "" }, ErrInvalid, "audit action"},
		{func(e *AuditEvent) { e.Action = "Topic.Create" }, ErrInvalid, "byte 0"},
		{func(e *AuditEvent) { e.Action = strings.Repeat("x", MaxAuditActionLen+1) }, ErrInvalid, "limit is 64"},
		{func(e *AuditEvent) { e.Target = strings.Repeat("t", MaxAuditTargetLen+1) }, ErrInvalid, "limit is 255"},
		{func(e *AuditEvent) { e.Target = "a\nb" }, ErrInvalid, "control character"},
		{func(e *AuditEvent) { e.Tenant = 0 }, ErrInvalid, "tenant id"},
		{func(e *AuditEvent) { e.At = time.Unix(0, 0) }, ErrInvalid, "audit time"},
		{func(e *AuditEvent) { e.Tenant = tn.ID + tn2.ID + 10 }, ErrNotFound, "tenant"},
	} {
		e := valid
		bad.edit(&e)
		_, err := s.AppendAudit(ctx, e)
		wantErr(t, fmt.Sprintf("AppendAudit(%s)", bad.mentions), err, bad.target, bad.mentions)
	}
	// Refused events take no id.
	got, err := s.AppendAudit(ctx, valid)
	noErr(t, "AppendAudit after refusals", err)
	if got.ID != 7 {
		t.Errorf("id after refusals = %d, want 7", got.ID)
	}
}

// testAccountsIsolation: nothing of tenant a is seen or changed through
// tenant b.
func testAccountsIsolation(t *testing.T, s Store) {
	ctx := t.Context()
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	ua, ub := mustUser(t, s, "ua@example.com"), mustUser(t, s, "ub@example.com")
	mustMember(t, s, a.ID, ua.ID, RoleOwner)
	mustMember(t, s, a.ID, ub.ID, RoleViewer)
	mustMember(t, s, b.ID, ub.ID, RoleOwner)
	_, err := s.CreateAPIKey(ctx, APIKey{ID: "ka", Tenant: a.ID, Name: "a's", Role: RoleAdmin, Hash: secretHash("ka")})
	noErr(t, "CreateAPIKey", err)
	_, err = s.CreateSession(ctx, Session{ID: "sa", User: ua.ID, Tenant: a.ID, Hash: secretHash("sa"), ExpiresAt: time.Now().Add(time.Hour)})
	noErr(t, "CreateSession", err)
	_, err = s.AppendAudit(ctx, AuditEvent{Tenant: a.ID, Actor: "user:1", Action: "topic.delete", Target: "secret-topic"})
	noErr(t, "AppendAudit", err)
	_, err = s.SetTenantSettings(ctx, a.ID, TenantSettings{DisplayName: "A", Plan: "enterprise"})
	noErr(t, "SetTenantSettings", err)

	if keys, err := s.ListAPIKeys(ctx, b.ID); err != nil || len(keys) != 0 {
		t.Errorf("b: ListAPIKeys = %+v, %v", keys, err)
	}
	wantErr(t, "b: RevokeAPIKey of a's key", s.RevokeAPIKey(ctx, b.ID, "ka", time.Time{}), ErrNotFound)
	if k, err := s.APIKey(ctx, "ka"); err != nil || k.Tenant != a.ID || !k.RevokedAt.IsZero() {
		t.Errorf("a's key after b's attempt = %+v, %v; want tenant a, not revoked", k, err)
	}
	if ms, err := s.Members(ctx, b.ID); err != nil || len(ms) != 1 || ms[0].User != ub.ID {
		t.Errorf("b: Members = %s, %v", memberIDs(ms), err)
	}
	_, err = s.SetMemberRole(ctx, b.ID, ua.ID, RoleOwner)
	wantErr(t, "b: SetMemberRole of a's member", err, ErrNotFound)
	wantErr(t, "b: RemoveMember of a's member", s.RemoveMember(ctx, b.ID, ua.ID), ErrNotFound)
	if ms, _ := s.Members(ctx, a.ID); len(ms) != 2 || ms[0].Role != RoleOwner || ms[1].Role != RoleViewer {
		t.Errorf("a's members after b's attempts = %s", memberIDs(ms))
	}
	_, err = s.CreateSession(ctx, Session{ID: "sb", User: ua.ID, Tenant: b.ID, Hash: secretHash("sb"), ExpiresAt: time.Now().Add(time.Hour)})
	wantErr(t, "b: session for a's user", err, ErrNotFound)
	if sa, err := s.Session(ctx, "sa"); err != nil || sa.Tenant != a.ID {
		t.Errorf("Session(sa) = %+v, %v; want tenant a", sa, err)
	}
	if evs, err := s.ListAudit(ctx, b.ID, 0, MaxAuditPage); err != nil || len(evs) != 0 {
		t.Errorf("b: ListAudit = %+v, %v", evs, err)
	}
	if st, err := s.TenantSettings(ctx, b.ID); err != nil || st.DisplayName != "b" || st.Plan != "free" {
		t.Errorf("b: TenantSettings = %+v, %v", st, err)
	}
	// ub's removal from a (where ub is a viewer) leaves b untouched.
	noErr(t, "a: RemoveMember ub", s.RemoveMember(ctx, a.ID, ub.ID))
	if ms, _ := s.Memberships(ctx, ub.ID); len(ms) != 1 || ms[0].Tenant != b.ID || ms[0].Role != RoleOwner {
		t.Errorf("ub's memberships = %s", memberIDs(ms))
	}
}

// testAccountsRace: concurrent changes keep a tenant's last owner and give
// dense audit ids.
func testAccountsRace(t *testing.T, s Store) {
	ctx := t.Context()
	const owners, rounds = 4, 3
	for r := range rounds {
		tn := mustTenant(t, s, fmt.Sprintf("t%d", r))
		users := make([]User, owners)
		for i := range users {
			users[i] = mustUser(t, s, fmt.Sprintf("o%d-%d@example.com", r, i))
			mustMember(t, s, tn.ID, users[i].ID, RoleOwner)
		}
		errs := make([]error, owners)
		var wg sync.WaitGroup
		for i := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					errs[i] = s.RemoveMember(ctx, tn.ID, users[i].ID)
				} else {
					_, errs[i] = s.SetMemberRole(ctx, tn.ID, users[i].ID, RoleAdmin)
				}
			}()
		}
		wg.Wait()
		refused := 0
		for i, err := range errs {
			if err != nil {
				wantErr(t, fmt.Sprintf("round %d, owner %d", r, i), err, ErrInvalid, "last owner")
				refused++
			}
		}
		ms, err := s.Members(ctx, tn.ID)
		noErr(t, "Members", err)
		left := 0
		for _, m := range ms {
			if m.Role == RoleOwner {
				left++
			}
		}
		if refused != 1 || left != 1 {
			t.Errorf("round %d: %d refused, %d owners left; want 1 and 1 (%s)", r, refused, left, memberIDs(ms))
		}
	}

	// A session created while its user is removed ends revoked or never
	// exists.
	st := mustTenant(t, s, "sessions")
	for r := range 10 {
		u := mustUser(t, s, fmt.Sprintf("m%d@example.com", r))
		mustMember(t, s, st.ID, u.ID, RoleMember)
		id := fmt.Sprintf("race-%d", r)
		var createErr, removeErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, createErr = s.CreateSession(ctx, Session{ID: id, User: u.ID, Tenant: st.ID, Hash: secretHash(id), ExpiresAt: time.Now().Add(time.Hour)})
		}()
		go func() {
			defer wg.Done()
			removeErr = s.RemoveMember(ctx, st.ID, u.ID)
		}()
		wg.Wait()
		noErr(t, "RemoveMember", removeErr)
		if createErr != nil {
			wantErr(t, "CreateSession racing a removal", createErr, ErrNotFound)
			continue
		}
		if got, err := s.Session(ctx, id); err != nil || got.RevokedAt.IsZero() {
			t.Errorf("round %d: session of a removed member = %+v, %v; want revoked", r, got, err)
		}
	}

	tn := mustTenant(t, s, "audit")
	const writers, each = 4, 10
	ids := make(chan int64, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ev, err := s.AppendAudit(ctx, AuditEvent{Tenant: tn.ID, Actor: fmt.Sprintf("key:%d", w), Action: "record.produce"})
				if err != nil {
					t.Errorf("AppendAudit: %v", err)
					return
				}
				ids <- ev.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] || id < 1 || id > writers*each {
			t.Errorf("audit id %d repeated or out of 1..%d", id, writers*each)
		}
		seen[id] = true
	}
	if len(seen) != writers*each {
		t.Errorf("%d distinct audit ids, want %d", len(seen), writers*each)
	}
}
