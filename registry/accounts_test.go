package registry

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/internal/pgtest"
)

func TestRoleAtLeast(t *testing.T) {
	t.Parallel()
	order := []Role{RoleViewer, RoleMember, RoleAdmin, RoleOwner}
	for i, r := range order {
		for j, min := range order {
			if got, want := r.AtLeast(min), i >= j; got != want {
				t.Errorf("%s.AtLeast(%s) = %v, want %v", r, min, got, want)
			}
		}
		if Role("root").AtLeast(r) || r.AtLeast("root") || r.AtLeast("") {
			t.Errorf("an unknown role compared with %s as granted", r)
		}
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%s) = %q, %v", r, got, err)
		}
	}
	for _, bad := range []string{"", "Owner", "root", "owner "} {
		_, err := ParseRole(bad)
		wantErr(t, "ParseRole "+bad, err, ErrInvalid, "owner, admin, member or viewer")
	}
}

// accountsSample is what writeAccounts wrote.
type accountsSample struct {
	tenant Tenant
	user   User
	key    APIKey
	sess   Session
	event  AuditEvent
}

func writeAccounts(t *testing.T, s Store) accountsSample {
	ctx := t.Context()
	tn := mustTenant(t, s, "acme")
	u := mustUser(t, s, "Owner@Acme.example")
	mustMember(t, s, tn.ID, u.ID, RoleOwner)
	_, err := s.SetTenantSettings(ctx, tn.ID, TenantSettings{DisplayName: "Acme", Plan: "starter"})
	noErr(t, "SetTenantSettings", err)
	k, err := s.CreateAPIKey(ctx, APIKey{ID: "k1", Tenant: tn.ID, Name: "ci", Role: RoleMember, Hash: secretHash("k1"),
		ExpiresAt: time.Now().Add(time.Hour), CreatedBy: u.ID})
	noErr(t, "CreateAPIKey", err)
	sess, err := s.CreateSession(ctx, Session{ID: "s1", User: u.ID, Tenant: tn.ID, Hash: secretHash("s1"), ExpiresAt: time.Now().Add(time.Hour)})
	noErr(t, "CreateSession", err)
	ev, err := s.AppendAudit(ctx, AuditEvent{Tenant: tn.ID, Actor: "user:1", Action: "key.create", Target: "k1", Detail: "d"})
	noErr(t, "AppendAudit", err)
	return accountsSample{tn, u, k, sess, ev}
}

func checkAccounts(t *testing.T, s Store, w accountsSample) {
	ctx := t.Context()
	st, err := s.TenantSettings(ctx, w.tenant.ID)
	if err != nil || st != (TenantSettings{DisplayName: "Acme", Plan: "starter", Status: TenantActive}) {
		t.Errorf("TenantSettings = %+v, %v", st, err)
	}
	u, err := s.UserByEmail(ctx, "owner@acme.example")
	if err != nil || u.ID != w.user.ID || u.Email != w.user.Email || u.PasswordHash != w.user.PasswordHash || !u.CreatedAt.Equal(w.user.CreatedAt) {
		t.Errorf("UserByEmail = %+v, %v; want %+v", u, err, w.user)
	}
	if ms, err := s.Members(ctx, w.tenant.ID); err != nil || len(ms) != 1 || ms[0].Role != RoleOwner || ms[0].Email != u.Email {
		t.Errorf("Members = %s, %v", memberIDs(ms), err)
	}
	if k, err := s.APIKey(ctx, "k1"); err != nil || !sameAPIKey(k, w.key) {
		t.Errorf("APIKey = %+v, %v; want %+v", k, err, w.key)
	}
	if ss, err := s.Session(ctx, "s1"); err != nil || !sameSession(ss, w.sess) {
		t.Errorf("Session = %+v, %v; want %+v", ss, err, w.sess)
	}
	evs, err := s.ListAudit(ctx, w.tenant.ID, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].ID != w.event.ID || !evs[0].At.Equal(w.event.At) || evs[0].Detail != "d" {
		t.Errorf("ListAudit = %+v, %v; want [%+v]", evs, err, w.event)
	}
	// Sequences go on.
	u2 := mustUser(t, s, "second@acme.example")
	ev2, err := s.AppendAudit(ctx, AuditEvent{Tenant: w.tenant.ID, Actor: "user:2", Action: "login"})
	noErr(t, "AppendAudit", err)
	if u2.ID <= u.ID || ev2.ID != w.event.ID+1 {
		t.Errorf("after reopen: user id %d (before %d), audit id %d (before %d)", u2.ID, u.ID, ev2.ID, w.event.ID)
	}
}

// TestEmbeddedAccountsReopen: accounts survive a close and reopen.
func TestEmbeddedAccountsReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := OpenEmbedded(path)
	noErr(t, "open", err)
	w := writeAccounts(t, s)
	noErr(t, "close", s.Close())
	s, err = OpenEmbedded(path)
	noErr(t, "reopen", err)
	defer s.Close()
	checkAccounts(t, s, w)
}

// TestPostgresAccountsUpgrade: 0003_accounts applies to a database that
// already has tenants, which then read with default settings and start their
// audit ids at 1; the data survives a reopen.
func TestPostgresAccountsUpgrade(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	ms, err := loadMigrations()
	noErr(t, "loadMigrations", err)
	var before []migration
	for _, m := range ms {
		if m.version < 3 {
			before = append(before, m)
		}
	}
	old := openPostgres(t, url) // the whole schema, to borrow its pool ...
	noErr(t, "reset", func() error {
		// ... then rebuilt as it was before accounts existed.
		_, err := old.pool.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
		return err
	}())
	noErr(t, "old migrations", applyMigrations(ctx, old.pool, before))
	var id int64
	noErr(t, "old tenant", old.pool.QueryRow(ctx, "INSERT INTO tenants (name) VALUES ('legacy') RETURNING id").Scan(&id))
	old.Close()

	s := openPostgres(t, url)
	st, err := s.TenantSettings(ctx, id)
	if err != nil || st != (TenantSettings{DisplayName: "legacy", Plan: DefaultPlan, Status: TenantActive}) {
		t.Errorf("TenantSettings of a tenant from before = %+v, %v", st, err)
	}
	ev, err := s.AppendAudit(ctx, AuditEvent{Tenant: id, Actor: "system", Action: "upgrade"})
	if err != nil || ev.ID != 1 {
		t.Errorf("first audit event = %+v, %v; want id 1", ev, err)
	}
	w := writeAccounts(t, s)
	noErr(t, "close", s.Close())

	s = openPostgres(t, url)
	defer s.Close()
	checkAccounts(t, s, w)
}
