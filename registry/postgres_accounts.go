package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL's Accounts. Membership changes lock the tenant's row first, so
// that two concurrent ones cannot each see another owner and together leave
// none.

// pgNow is the clock for times the caller leaves zero and for expiry checks.
func pgNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// TenantSettings implements Accounts.
func (p *Postgres) TenantSettings(ctx context.Context, tenant int64) (TenantSettings, error) {
	var name string
	var display, plan, status *string
	err := p.pool.QueryRow(ctx, `SELECT t.name, s.display_name, s.plan, s.status
		FROM tenants t LEFT JOIN tenant_settings s ON s.tenant_id = t.id WHERE t.id = $1`, tenant).
		Scan(&name, &display, &plan, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		err = notFound("tenant %d", tenant)
	}
	if err != nil {
		return TenantSettings{}, fmt.Errorf("settings of tenant %d: %w", tenant, err)
	}
	if display == nil {
		return TenantSettings{DisplayName: name, Plan: DefaultPlan, Status: TenantActive}, nil
	}
	return TenantSettings{DisplayName: *display, Plan: *plan, Status: TenantStatus(*status)}, nil
}

// SetTenantSettings implements Accounts.
func (p *Postgres) SetTenantSettings(ctx context.Context, tenant int64, s TenantSettings) (TenantSettings, error) {
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, "SELECT name FROM tenants WHERE id = $1", tenant).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("tenant %d", tenant)
		}
		if err != nil {
			return err
		}
		set, err := tenantSettingsWithDefaults(name, s)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO tenant_settings (tenant_id, display_name, plan, status) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant_id) DO UPDATE SET display_name = EXCLUDED.display_name, plan = EXCLUDED.plan,
			status = EXCLUDED.status, updated_at = now()`, tenant, set.DisplayName, set.Plan, string(set.Status))
		s = set
		return mapPgError(err)
	})
	if err != nil {
		return TenantSettings{}, fmt.Errorf("set settings of tenant %d: %w", tenant, err)
	}
	return s, nil
}

// CreateUser implements Accounts.
func (p *Postgres) CreateUser(ctx context.Context, email, passwordHash string) (User, error) {
	if err := ValidateEmail(email); err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	if err := validatePasswordHash(passwordHash); err != nil {
		return User{}, fmt.Errorf("create user %q: %w", email, err)
	}
	u := User{Email: email, PasswordHash: passwordHash}
	err := p.pool.QueryRow(ctx, `INSERT INTO users (email, email_key, password_hash) VALUES ($1, $2, $3)
		RETURNING id, created_at`, email, emailKey(email), passwordHash).Scan(&u.ID, &u.CreatedAt)
	if pgCode(err) == pgUniqueViolation {
		err = exists("user with email %q", email)
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %q: %w", email, mapPgError(err))
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

const userColumns = "id, email, password_hash, created_at"

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.CreatedAt)
	u.CreatedAt = u.CreatedAt.UTC()
	return u, err
}

// User implements Accounts.
func (p *Postgres) User(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(p.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, notFound("user %d", id)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	return u, nil
}

// UserByEmail implements Accounts.
func (p *Postgres) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(p.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE email_key = $1", emailKey(email)))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, notFound("user with email %q", email)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %q: %w", email, err)
	}
	return u, nil
}

// SetPasswordHash implements Accounts.
func (p *Postgres) SetPasswordHash(ctx context.Context, id int64, passwordHash string) error {
	if err := validatePasswordHash(passwordHash); err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	tag, err := p.pool.Exec(ctx, "UPDATE users SET password_hash = $2 WHERE id = $1", id, passwordHash)
	if err == nil && tag.RowsAffected() == 0 {
		err = notFound("user %d", id)
	}
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	return nil
}

const memberSelect = `SELECT m.tenant_id, m.user_id, u.email, m.role, m.created_at
	FROM memberships m JOIN users u ON u.id = m.user_id `

func scanMember(row pgx.Row) (Member, error) {
	var m Member
	var role string
	err := row.Scan(&m.Tenant, &m.User, &m.Email, &role, &m.CreatedAt)
	m.Role, m.CreatedAt = Role(role), m.CreatedAt.UTC()
	return m, err
}

// lockTenant locks the tenant's row for membership changes (FOR NO KEY
// UPDATE, so inserts that only reference the tenant are not held up), or
// gives ErrNotFound.
func lockTenant(ctx context.Context, tx pgx.Tx, tenant int64) error {
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE", tenant).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("tenant %d", tenant)
	}
	return err
}

// memberForChange locks the tenant and reads the membership; if it is an
// owner's and would stop being one, another owner must be left.
func memberForChange(ctx context.Context, tx pgx.Tx, tenant, user int64, losesOwner bool) (Member, error) {
	if err := lockTenant(ctx, tx, tenant); err != nil {
		return Member{}, err
	}
	m, err := scanMember(tx.QueryRow(ctx, memberSelect+"WHERE m.tenant_id = $1 AND m.user_id = $2", tenant, user))
	if errors.Is(err, pgx.ErrNoRows) {
		return Member{}, notFound("user %d in tenant %d", user, tenant)
	}
	if err != nil || m.Role != RoleOwner || !losesOwner {
		return m, err
	}
	var others bool
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id <> $2 AND role = 'owner')`,
		tenant, user).Scan(&others)
	if err == nil && !others {
		err = lastOwnerError(tenant, user)
	}
	return m, err
}

// AddMember implements Accounts.
func (p *Postgres) AddMember(ctx context.Context, tenant, user int64, role Role) (Member, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Member{}, fmt.Errorf("add user %d to tenant %d: %w", user, tenant, err)
	}
	var m Member
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockTenant(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		m, err = scanMember(tx.QueryRow(ctx, `WITH m AS (
			INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)
			RETURNING tenant_id, user_id, role, created_at)
			SELECT m.tenant_id, m.user_id, u.email, m.role, m.created_at FROM m JOIN users u ON u.id = m.user_id`,
			tenant, user, string(role)))
		switch pgCode(err) {
		case pgUniqueViolation:
			return exists("member")
		case pgForeignKeyViolation:
			return notFound("user %d", user)
		}
		return err
	})
	if err != nil {
		return Member{}, fmt.Errorf("add user %d to tenant %d: %w", user, tenant, err)
	}
	return m, nil
}

// SetMemberRole implements Accounts.
func (p *Postgres) SetMemberRole(ctx context.Context, tenant, user int64, role Role) (Member, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Member{}, fmt.Errorf("set role of user %d in tenant %d: %w", user, tenant, err)
	}
	var m Member
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if m, err = memberForChange(ctx, tx, tenant, user, role != RoleOwner); err != nil {
			return err
		}
		m.Role = role
		_, err = tx.Exec(ctx, "UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2", tenant, user, string(role))
		return err
	})
	if err != nil {
		return Member{}, fmt.Errorf("set role of user %d in tenant %d: %w", user, tenant, err)
	}
	return m, nil
}

// RemoveMember implements Accounts.
func (p *Postgres) RemoveMember(ctx context.Context, tenant, user int64) error {
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := memberForChange(ctx, tx, tenant, user, true); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2", tenant, user); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND tenant_id = $2 AND revoked_at IS NULL`,
			user, tenant, pgNow())
		return err
	})
	if err != nil {
		return fmt.Errorf("remove user %d from tenant %d: %w", user, tenant, err)
	}
	return nil
}

// Members implements Accounts.
func (p *Postgres) Members(ctx context.Context, tenant int64) ([]Member, error) {
	return p.listMembers(ctx, "m.tenant_id = $1 ORDER BY m.user_id", tenant, fmt.Sprintf("members of tenant %d", tenant))
}

// Memberships implements Accounts.
func (p *Postgres) Memberships(ctx context.Context, user int64) ([]Member, error) {
	return p.listMembers(ctx, "m.user_id = $1 ORDER BY m.tenant_id", user, fmt.Sprintf("memberships of user %d", user))
}

func (p *Postgres) listMembers(ctx context.Context, where string, id int64, what string) ([]Member, error) {
	rows, err := p.pool.Query(ctx, memberSelect+"WHERE "+where, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Member, error) { return scanMember(r) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// CreateAPIKey implements Accounts.
func (p *Postgres) CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	k, err := prepareAPIKey(k, pgNow())
	if err != nil {
		return APIKey{}, fmt.Errorf("create API key: %w", err)
	}
	var createdBy *int64
	if k.CreatedBy != 0 {
		createdBy = &k.CreatedBy
	}
	err = p.pool.QueryRow(ctx, `INSERT INTO api_keys (id, tenant_id, name, role, secret_hash, expires_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`,
		k.ID, k.Tenant, k.Name, string(k.Role), k.Hash[:], nullTime(k.ExpiresAt), createdBy).Scan(&k.CreatedAt)
	if pgCode(err) == pgUniqueViolation {
		err = exists("API key id")
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("create API key %q in tenant %d: %w", k.ID, k.Tenant, mapPgError(err))
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

const apiKeyColumns = "id, tenant_id, name, role, secret_hash, expires_at, created_by, created_at, revoked_at, last_used_at"

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	var role string
	var hash []byte
	var expires, revoked, lastUsed *time.Time
	var createdBy *int64
	err := row.Scan(&k.ID, &k.Tenant, &k.Name, &role, &hash, &expires, &createdBy, &k.CreatedAt, &revoked, &lastUsed)
	if err != nil {
		return APIKey{}, err
	}
	k.Role, k.CreatedAt = Role(role), k.CreatedAt.UTC()
	copy(k.Hash[:], hash)
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = fromNullTime(expires), fromNullTime(revoked), fromNullTime(lastUsed)
	if createdBy != nil {
		k.CreatedBy = *createdBy
	}
	return k, nil
}

// APIKey implements Accounts.
func (p *Postgres) APIKey(ctx context.Context, id string) (APIKey, error) {
	k, err := scanAPIKey(p.pool.QueryRow(ctx, "SELECT "+apiKeyColumns+" FROM api_keys WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, notFound("API key %q", id)
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("get API key %q: %w", id, err)
	}
	return k, nil
}

// ListAPIKeys implements Accounts.
func (p *Postgres) ListAPIKeys(ctx context.Context, tenant int64) ([]APIKey, error) {
	rows, err := p.pool.Query(ctx, "SELECT "+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1
		ORDER BY created_at, id COLLATE "C"`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list API keys of tenant %d: %w", tenant, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, fmt.Errorf("list API keys of tenant %d: %w", tenant, err)
	}
	return out, nil
}

// RevokeAPIKey implements Accounts.
func (p *Postgres) RevokeAPIKey(ctx context.Context, tenant int64, id string, at time.Time) error {
	at, err := atOrNow("revocation time", at, pgNow)
	if err != nil {
		return fmt.Errorf("revoke API key in tenant %d: %w", tenant, err)
	}
	// COALESCE keeps the first revocation; the row counts as found either way.
	tag, err := p.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)
		WHERE tenant_id = $1 AND id = $2`, tenant, id, at)
	if err == nil && tag.RowsAffected() == 0 {
		err = notFound("API key %q", id)
	}
	if err != nil {
		return fmt.Errorf("revoke API key in tenant %d: %w", tenant, err)
	}
	return nil
}

// TouchAPIKey implements Accounts.
func (p *Postgres) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	at, err := atOrNow("last use time", at, pgNow)
	if err != nil {
		return fmt.Errorf("touch API key: %w", err)
	}
	tag, err := p.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = GREATEST(last_used_at, $2) WHERE id = $1`, id, at)
	if err == nil && tag.RowsAffected() == 0 {
		err = notFound("API key %q", id)
	}
	if err != nil {
		return fmt.Errorf("touch API key: %w", err)
	}
	return nil
}

// CreateSession implements Accounts.
func (p *Postgres) CreateSession(ctx context.Context, s Session) (Session, error) {
	s, err := prepareSession(s, pgNow())
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	// Inserted only if the user is a member of the tenant. The key-share
	// lock on the membership orders this against a concurrent RemoveMember:
	// either the removal waits and then revokes this session too, or this
	// waits and finds no membership.
	err = p.pool.QueryRow(ctx, `INSERT INTO sessions (id, user_id, tenant_id, token_hash, expires_at)
		SELECT $1, user_id, tenant_id, $4, $5 FROM memberships WHERE user_id = $2 AND tenant_id = $3 FOR KEY SHARE
		RETURNING created_at`, s.ID, s.User, s.Tenant, s.Hash[:], s.ExpiresAt).Scan(&s.CreatedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = notFound("user %d in tenant %d", s.User, s.Tenant)
	case pgCode(err) == pgUniqueViolation:
		err = exists("session id")
	}
	if err != nil {
		return Session{}, fmt.Errorf("create session of user %d in tenant %d: %w", s.User, s.Tenant, mapPgError(err))
	}
	s.CreatedAt = s.CreatedAt.UTC()
	return s, nil
}

// Session implements Accounts.
func (p *Postgres) Session(ctx context.Context, id string) (Session, error) {
	var s Session
	var hash []byte
	var revoked *time.Time
	err := p.pool.QueryRow(ctx, `SELECT id, user_id, tenant_id, token_hash, expires_at, created_at, revoked_at
		FROM sessions WHERE id = $1`, id).Scan(&s.ID, &s.User, &s.Tenant, &hash, &s.ExpiresAt, &s.CreatedAt, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, notFound("session")
	}
	if err != nil {
		return Session{}, fmt.Errorf("get session: %w", err)
	}
	copy(s.Hash[:], hash)
	s.ExpiresAt, s.CreatedAt, s.RevokedAt = s.ExpiresAt.UTC(), s.CreatedAt.UTC(), fromNullTime(revoked)
	return s, nil
}

// RevokeSession implements Accounts.
func (p *Postgres) RevokeSession(ctx context.Context, id string, at time.Time) error {
	at, err := atOrNow("revocation time", at, pgNow)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	tag, err := p.pool.Exec(ctx, "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1", id, at)
	if err == nil && tag.RowsAffected() == 0 {
		err = notFound("session")
	}
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeUserSessions implements Accounts.
func (p *Postgres) RevokeUserSessions(ctx context.Context, user int64, at time.Time) (int, error) {
	at, err := atOrNow("revocation time", at, pgNow)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user %d: %w", user, err)
	}
	tag, err := p.pool.Exec(ctx, "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL", user, at)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user %d: %w", user, err)
	}
	return int(tag.RowsAffected()), nil
}

// AppendAudit implements Accounts.
func (p *Postgres) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	e, err := prepareAudit(e, pgNow)
	if err != nil {
		return AuditEvent{}, fmt.Errorf("append audit event: %w", err)
	}
	err = p.inTx(ctx, func(tx pgx.Tx) error {
		// The tenant's row lock orders concurrent appends, so ids are dense.
		err := tx.QueryRow(ctx, "UPDATE tenants SET last_audit_id = last_audit_id + 1 WHERE id = $1 RETURNING last_audit_id",
			e.Tenant).Scan(&e.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("tenant %d", e.Tenant)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_events (tenant_id, id, at, actor, action, target, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.Tenant, e.ID, e.At, e.Actor, e.Action, e.Target, e.Detail)
		return mapPgError(err)
	})
	if err != nil {
		return AuditEvent{}, fmt.Errorf("append audit event %q to tenant %d: %w", e.Action, e.Tenant, err)
	}
	return e, nil
}

// ListAudit implements Accounts.
func (p *Postgres) ListAudit(ctx context.Context, tenant, beforeID int64, limit int) ([]AuditEvent, error) {
	if err := validateAuditPage(beforeID, limit); err != nil {
		return nil, fmt.Errorf("list audit of tenant %d: %w", tenant, err)
	}
	rows, err := p.pool.Query(ctx, `SELECT tenant_id, id, at, actor, action, target, detail FROM audit_events
		WHERE tenant_id = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, tenant, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit of tenant %d: %w", tenant, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEvent, error) {
		var e AuditEvent
		err := r.Scan(&e.Tenant, &e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.Detail)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit of tenant %d: %w", tenant, err)
	}
	return out, nil
}
