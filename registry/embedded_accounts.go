package registry

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The embedded store's Accounts. bbolt runs one write transaction at a
// time, so the last-owner rule needs no lock of its own.

// optMicros stores a time that may be unset: 0 for the zero time.
func optMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func fromOptMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

// TenantSettings implements Accounts.
func (e *Embedded) TenantSettings(ctx context.Context, tenant int64) (TenantSettings, error) {
	var s TenantSettings
	err := e.view(ctx, func(tx *bolt.Tx) error {
		var err error
		s, err = getTenantSettings(tx, tenant)
		return err
	})
	if err != nil {
		return TenantSettings{}, fmt.Errorf("settings of tenant %d: %w", tenant, err)
	}
	return s, nil
}

func getTenantSettings(tx *bolt.Tx, tenant int64) (TenantSettings, error) {
	t, err := getTenant(tx, tenant)
	if err != nil {
		return TenantSettings{}, err
	}
	var r tenantSettingsRec
	ok, err := getJSON(tx.Bucket(bktTenantSettings), be64(tenant), &r)
	if err != nil || !ok {
		return TenantSettings{DisplayName: t.Name, Plan: DefaultPlan, Status: TenantActive}, err
	}
	return TenantSettings{DisplayName: r.DisplayName, Plan: r.Plan, Status: TenantStatus(r.Status)}, nil
}

// SetTenantSettings implements Accounts.
func (e *Embedded) SetTenantSettings(ctx context.Context, tenant int64, s TenantSettings) (TenantSettings, error) {
	err := e.update(ctx, func(tx *bolt.Tx) error {
		t, err := getTenant(tx, tenant)
		if err != nil {
			return err
		}
		if s, err = tenantSettingsWithDefaults(t.Name, s); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bktTenantSettings), be64(tenant), tenantSettingsRec{
			DisplayName: s.DisplayName, Plan: s.Plan, Status: string(s.Status), Updated: micros(e.now())})
	})
	if err != nil {
		return TenantSettings{}, fmt.Errorf("set settings of tenant %d: %w", tenant, err)
	}
	return s, nil
}

// CreateUser implements Accounts.
func (e *Embedded) CreateUser(ctx context.Context, email, passwordHash string) (User, error) {
	if err := ValidateEmail(email); err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	if err := validatePasswordHash(passwordHash); err != nil {
		return User{}, fmt.Errorf("create user %q: %w", email, err)
	}
	u := User{Email: email, PasswordHash: passwordHash, CreatedAt: e.now()}
	err := e.update(ctx, func(tx *bolt.Tx) error {
		emails := tx.Bucket(bktUserEmails)
		key := []byte(emailKey(email))
		if emails.Get(key) != nil {
			return exists("user with email %q", email)
		}
		users := tx.Bucket(bktUsers)
		seq, err := users.NextSequence()
		if err != nil {
			return err
		}
		u.ID = int64(seq)
		if err := emails.Put(key, be64(u.ID)); err != nil {
			return err
		}
		return putJSON(users, be64(u.ID), userRec{Email: email, PasswordHash: passwordHash, Created: micros(u.CreatedAt)})
	})
	if err != nil {
		return User{}, fmt.Errorf("create user %q: %w", email, err)
	}
	return u, nil
}

// User implements Accounts.
func (e *Embedded) User(ctx context.Context, id int64) (User, error) {
	var u User
	err := e.view(ctx, func(tx *bolt.Tx) error {
		var err error
		u, err = getUser(tx, id)
		return err
	})
	return u, err
}

// UserByEmail implements Accounts.
func (e *Embedded) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := e.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bktUserEmails).Get([]byte(emailKey(email)))
		if id == nil {
			return notFound("user with email %q", email)
		}
		var err error
		u, err = getUser(tx, readBE64(id))
		return err
	})
	return u, err
}

func getUser(tx *bolt.Tx, id int64) (User, error) {
	var r userRec
	ok, err := getJSON(tx.Bucket(bktUsers), be64(id), &r)
	if err != nil {
		return User{}, fmt.Errorf("user %d: %w", id, err)
	}
	if !ok {
		return User{}, notFound("user %d", id)
	}
	return User{ID: id, Email: r.Email, PasswordHash: r.PasswordHash, CreatedAt: fromMicros(r.Created)}, nil
}

// SetPasswordHash implements Accounts.
func (e *Embedded) SetPasswordHash(ctx context.Context, id int64, passwordHash string) error {
	if err := validatePasswordHash(passwordHash); err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	err := e.update(ctx, func(tx *bolt.Tx) error {
		var r userRec
		ok, err := getJSON(tx.Bucket(bktUsers), be64(id), &r)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("user %d", id)
		}
		r.PasswordHash = passwordHash
		return putJSON(tx.Bucket(bktUsers), be64(id), r)
	})
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	return nil
}

func memberKey(tenant, user int64) []byte { return cat(be64(tenant), be64(user)) }

// AddMember implements Accounts.
func (e *Embedded) AddMember(ctx context.Context, tenant, user int64, role Role) (Member, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Member{}, fmt.Errorf("add user %d to tenant %d: %w", user, tenant, err)
	}
	m := Member{Tenant: tenant, User: user, Role: role, CreatedAt: e.now()}
	err := e.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getTenant(tx, tenant); err != nil {
			return err
		}
		u, err := getUser(tx, user)
		if err != nil {
			return err
		}
		m.Email = u.Email
		members := tx.Bucket(bktMembers)
		if members.Get(memberKey(tenant, user)) != nil {
			return exists("member")
		}
		if err := tx.Bucket(bktUserTenants).Put(memberKey(user, tenant), []byte{}); err != nil {
			return err
		}
		return putJSON(members, memberKey(tenant, user), memberRec{Role: string(role), Created: micros(m.CreatedAt)})
	})
	if err != nil {
		return Member{}, fmt.Errorf("add user %d to tenant %d: %w", user, tenant, err)
	}
	return m, nil
}

// getMember reads a membership, or ErrNotFound.
func getMember(tx *bolt.Tx, tenant, user int64) (Member, error) {
	var r memberRec
	ok, err := getJSON(tx.Bucket(bktMembers), memberKey(tenant, user), &r)
	if err != nil {
		return Member{}, err
	}
	if !ok {
		return Member{}, notFound("user %d in tenant %d", user, tenant)
	}
	u, err := getUser(tx, user)
	if err != nil {
		return Member{}, err
	}
	return Member{Tenant: tenant, User: user, Email: u.Email, Role: Role(r.Role), CreatedAt: fromMicros(r.Created)}, nil
}

// checkNotLastOwner refuses to take away m's ownership if no other owner is
// left.
func checkNotLastOwner(tx *bolt.Tx, m Member) error {
	if m.Role != RoleOwner {
		return nil
	}
	others := false
	err := prefixScan(tx.Bucket(bktMembers), be64(m.Tenant), func(k, v []byte) (bool, error) {
		var r memberRec
		if err := decodeValue(v, &r); err != nil {
			return false, err
		}
		others = Role(r.Role) == RoleOwner && readBE64(k[8:]) != m.User
		return !others, nil
	})
	if err != nil {
		return err
	}
	if !others {
		return lastOwnerError(m.Tenant, m.User)
	}
	return nil
}

// SetMemberRole implements Accounts.
func (e *Embedded) SetMemberRole(ctx context.Context, tenant, user int64, role Role) (Member, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Member{}, fmt.Errorf("set role of user %d in tenant %d: %w", user, tenant, err)
	}
	var m Member
	err := e.update(ctx, func(tx *bolt.Tx) error {
		var err error
		if m, err = getMember(tx, tenant, user); err != nil {
			return err
		}
		if role != RoleOwner {
			if err := checkNotLastOwner(tx, m); err != nil {
				return err
			}
		}
		m.Role = role
		return putJSON(tx.Bucket(bktMembers), memberKey(tenant, user), memberRec{Role: string(role), Created: micros(m.CreatedAt)})
	})
	if err != nil {
		return Member{}, fmt.Errorf("set role of user %d in tenant %d: %w", user, tenant, err)
	}
	return m, nil
}

// RemoveMember implements Accounts.
func (e *Embedded) RemoveMember(ctx context.Context, tenant, user int64) error {
	err := e.update(ctx, func(tx *bolt.Tx) error {
		m, err := getMember(tx, tenant, user)
		if err != nil {
			return err
		}
		if err := checkNotLastOwner(tx, m); err != nil {
			return err
		}
		if err := tx.Bucket(bktMembers).Delete(memberKey(tenant, user)); err != nil {
			return err
		}
		if err := tx.Bucket(bktUserTenants).Delete(memberKey(user, tenant)); err != nil {
			return err
		}
		_, err = revokeUserSessions(tx, user, tenant, e.now())
		return err
	})
	if err != nil {
		return fmt.Errorf("remove user %d from tenant %d: %w", user, tenant, err)
	}
	return nil
}

// Members implements Accounts.
func (e *Embedded) Members(ctx context.Context, tenant int64) ([]Member, error) {
	out := []Member{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		return prefixScan(tx.Bucket(bktMembers), be64(tenant), func(k, _ []byte) (bool, error) {
			m, err := getMember(tx, tenant, readBE64(k[8:]))
			out = append(out, m)
			return err == nil, err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("members of tenant %d: %w", tenant, err)
	}
	return out, nil
}

// Memberships implements Accounts.
func (e *Embedded) Memberships(ctx context.Context, user int64) ([]Member, error) {
	out := []Member{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		return prefixScan(tx.Bucket(bktUserTenants), be64(user), func(k, _ []byte) (bool, error) {
			m, err := getMember(tx, readBE64(k[8:]), user)
			out = append(out, m)
			return err == nil, err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("memberships of user %d: %w", user, err)
	}
	return out, nil
}

// CreateAPIKey implements Accounts.
func (e *Embedded) CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	k, err := prepareAPIKey(k, e.now())
	if err != nil {
		return APIKey{}, fmt.Errorf("create API key: %w", err)
	}
	err = e.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getTenant(tx, k.Tenant); err != nil {
			return err
		}
		if k.CreatedBy != 0 {
			if _, err := getUser(tx, k.CreatedBy); err != nil {
				return err
			}
		}
		keys := tx.Bucket(bktAPIKeys)
		if keys.Get([]byte(k.ID)) != nil {
			return exists("API key id")
		}
		if err := tx.Bucket(bktTenantAPIKeys).Put(cat(be64(k.Tenant), []byte(k.ID)), []byte{}); err != nil {
			return err
		}
		return putJSON(keys, []byte(k.ID), apiKeyRec{Tenant: k.Tenant, Name: k.Name, Role: string(k.Role),
			Hash: k.Hash[:], Expires: optMicros(k.ExpiresAt), CreatedBy: k.CreatedBy, Created: micros(k.CreatedAt)})
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("create API key %q in tenant %d: %w", k.ID, k.Tenant, err)
	}
	return k, nil
}

// getAPIKey reads a key and its record (for rewriting), or ErrNotFound.
func getAPIKey(tx *bolt.Tx, id string) (APIKey, apiKeyRec, error) {
	var r apiKeyRec
	ok, err := getJSON(tx.Bucket(bktAPIKeys), []byte(id), &r)
	if err != nil {
		return APIKey{}, r, err
	}
	if !ok {
		return APIKey{}, r, notFound("API key %q", id)
	}
	k := APIKey{ID: id, Tenant: r.Tenant, Name: r.Name, Role: Role(r.Role), ExpiresAt: fromOptMicros(r.Expires),
		CreatedBy: r.CreatedBy, CreatedAt: fromMicros(r.Created), RevokedAt: fromOptMicros(r.Revoked),
		LastUsedAt: fromOptMicros(r.LastUsed)}
	copy(k.Hash[:], r.Hash)
	return k, r, nil
}

// APIKey implements Accounts.
func (e *Embedded) APIKey(ctx context.Context, id string) (APIKey, error) {
	var k APIKey
	err := e.view(ctx, func(tx *bolt.Tx) error {
		var err error
		k, _, err = getAPIKey(tx, id)
		return err
	})
	return k, err
}

// ListAPIKeys implements Accounts.
func (e *Embedded) ListAPIKeys(ctx context.Context, tenant int64) ([]APIKey, error) {
	out := []APIKey{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		return prefixScan(tx.Bucket(bktTenantAPIKeys), be64(tenant), func(k, _ []byte) (bool, error) {
			key, _, err := getAPIKey(tx, string(k[8:]))
			out = append(out, key)
			return err == nil, err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list API keys of tenant %d: %w", tenant, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// RevokeAPIKey implements Accounts.
func (e *Embedded) RevokeAPIKey(ctx context.Context, tenant int64, id string, at time.Time) error {
	at, err := atOrNow("revocation time", at, e.now)
	if err != nil {
		return fmt.Errorf("revoke API key in tenant %d: %w", tenant, err)
	}
	err = e.update(ctx, func(tx *bolt.Tx) error {
		k, r, err := getAPIKey(tx, id)
		if err == nil && k.Tenant != tenant {
			err = notFound("API key %q", id)
		}
		if err != nil || r.Revoked != 0 {
			return err
		}
		r.Revoked = micros(at)
		return putJSON(tx.Bucket(bktAPIKeys), []byte(id), r)
	})
	if err != nil {
		return fmt.Errorf("revoke API key in tenant %d: %w", tenant, err)
	}
	return nil
}

// TouchAPIKey implements Accounts.
func (e *Embedded) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	at, err := atOrNow("last use time", at, e.now)
	if err != nil {
		return fmt.Errorf("touch API key: %w", err)
	}
	err = e.update(ctx, func(tx *bolt.Tx) error {
		_, r, err := getAPIKey(tx, id)
		if err != nil {
			return err
		}
		if us := micros(at); us > r.LastUsed {
			r.LastUsed = us
			return putJSON(tx.Bucket(bktAPIKeys), []byte(id), r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch API key: %w", err)
	}
	return nil
}

// CreateSession implements Accounts.
func (e *Embedded) CreateSession(ctx context.Context, s Session) (Session, error) {
	s, err := prepareSession(s, e.now())
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	err = e.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getMember(tx, s.Tenant, s.User); err != nil {
			return err
		}
		sessions := tx.Bucket(bktSessions)
		if sessions.Get([]byte(s.ID)) != nil {
			return exists("session id")
		}
		if err := tx.Bucket(bktUserSessions).Put(cat(be64(s.User), []byte(s.ID)), []byte{}); err != nil {
			return err
		}
		return putJSON(sessions, []byte(s.ID), sessionRec{User: s.User, Tenant: s.Tenant, Hash: s.Hash[:],
			Expires: micros(s.ExpiresAt), Created: micros(s.CreatedAt)})
	})
	if err != nil {
		return Session{}, fmt.Errorf("create session of user %d in tenant %d: %w", s.User, s.Tenant, err)
	}
	return s, nil
}

func getSession(tx *bolt.Tx, id string) (Session, sessionRec, error) {
	var r sessionRec
	ok, err := getJSON(tx.Bucket(bktSessions), []byte(id), &r)
	if err != nil {
		return Session{}, r, err
	}
	if !ok {
		return Session{}, r, notFound("session")
	}
	s := Session{ID: id, User: r.User, Tenant: r.Tenant, ExpiresAt: fromMicros(r.Expires),
		CreatedAt: fromMicros(r.Created), RevokedAt: fromOptMicros(r.Revoked)}
	copy(s.Hash[:], r.Hash)
	return s, r, nil
}

// Session implements Accounts.
func (e *Embedded) Session(ctx context.Context, id string) (Session, error) {
	var s Session
	err := e.view(ctx, func(tx *bolt.Tx) error {
		var err error
		s, _, err = getSession(tx, id)
		return err
	})
	return s, err
}

// RevokeSession implements Accounts.
func (e *Embedded) RevokeSession(ctx context.Context, id string, at time.Time) error {
	at, err := atOrNow("revocation time", at, e.now)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	err = e.update(ctx, func(tx *bolt.Tx) error {
		_, r, err := getSession(tx, id)
		if err != nil || r.Revoked != 0 {
			return err
		}
		r.Revoked = micros(at)
		return putJSON(tx.Bucket(bktSessions), []byte(id), r)
	})
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeUserSessions implements Accounts.
func (e *Embedded) RevokeUserSessions(ctx context.Context, user int64, at time.Time) (int, error) {
	at, err := atOrNow("revocation time", at, e.now)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user %d: %w", user, err)
	}
	var n int
	err = e.update(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = revokeUserSessions(tx, user, 0, at)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user %d: %w", user, err)
	}
	return n, nil
}

// revokeUserSessions revokes the user's live sessions in tenant (0: in
// every tenant) and counts them.
func revokeUserSessions(tx *bolt.Tx, user, tenant int64, at time.Time) (int, error) {
	var ids [][]byte
	err := prefixScan(tx.Bucket(bktUserSessions), be64(user), func(k, _ []byte) (bool, error) {
		ids = append(ids, bytes.Clone(k[8:]))
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		_, r, err := getSession(tx, string(id))
		if err != nil {
			return n, err
		}
		if r.Revoked != 0 || (tenant != 0 && r.Tenant != tenant) {
			continue
		}
		r.Revoked = micros(at)
		if err := putJSON(tx.Bucket(bktSessions), id, r); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// AppendAudit implements Accounts.
func (e *Embedded) AppendAudit(ctx context.Context, ev AuditEvent) (AuditEvent, error) {
	ev, err := prepareAudit(ev, e.now)
	if err != nil {
		return AuditEvent{}, fmt.Errorf("append audit event: %w", err)
	}
	err = e.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getTenant(tx, ev.Tenant); err != nil {
			return err
		}
		ids := tx.Bucket(bktAuditIDs)
		ev.ID = 1
		if last := ids.Get(be64(ev.Tenant)); last != nil {
			ev.ID = readBE64(last) + 1
		}
		if err := ids.Put(be64(ev.Tenant), be64(ev.ID)); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bktAudit), cat(be64(ev.Tenant), be64(ev.ID)), auditRec{
			At: micros(ev.At), Actor: ev.Actor, Action: ev.Action, Target: ev.Target, Detail: ev.Detail})
	})
	if err != nil {
		return AuditEvent{}, fmt.Errorf("append audit event %q to tenant %d: %w", ev.Action, ev.Tenant, err)
	}
	return ev, nil
}

// ListAudit implements Accounts.
func (e *Embedded) ListAudit(ctx context.Context, tenant, beforeID int64, limit int) ([]AuditEvent, error) {
	if err := validateAuditPage(beforeID, limit); err != nil {
		return nil, fmt.Errorf("list audit of tenant %d: %w", tenant, err)
	}
	out := []AuditEvent{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktAudit).Cursor()
		prefix := be64(tenant)
		// Start at the first key at or after the bound, then step back.
		var k, v []byte
		if beforeID == 0 {
			k, _ = c.Seek(be64(tenant + 1))
		} else {
			k, _ = c.Seek(cat(prefix, be64(beforeID)))
		}
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && hasPrefix(k, prefix) && len(out) < limit; k, v = c.Prev() {
			var r auditRec
			if err := decodeValue(v, &r); err != nil {
				return err
			}
			out = append(out, AuditEvent{Tenant: tenant, ID: readBE64(k[8:]), At: fromMicros(r.At),
				Actor: r.Actor, Action: r.Action, Target: r.Target, Detail: r.Detail})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list audit of tenant %d: %w", tenant, err)
	}
	return out, nil
}
