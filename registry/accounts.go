package registry

import (
	"context"
	"time"
)

// Accounts stores who may do what: tenants' settings (a tenant is an
// organization), users, memberships with roles, API keys, refresh-token
// sessions and the audit log. It keeps hashes only; password hashing, key
// formats and tokens belong to the router's auth layer, plan semantics to
// billing.
//
// Users are global (one person may belong to several tenants); everything
// else is tenant-scoped, except that an API key and a session are found by
// their public id alone, because that is all an authenticator has before it
// knows the tenant. Times given by the caller are kept to the microsecond, in
// UTC; a zero `at` means the store's now.
type Accounts interface {
	// TenantSettings returns the tenant's settings; a tenant never given any
	// reads as {DisplayName: its name, Plan: DefaultPlan, Status:
	// TenantActive}. Unknown tenant: ErrNotFound.
	TenantSettings(ctx context.Context, tenant int64) (TenantSettings, error)
	// SetTenantSettings replaces the tenant's settings and returns them as
	// stored. Zero fields take the defaults above; a display name over
	// MaxDisplayNameLen, a plan that is not a short lowercase name
	// (ValidatePlan) or an unknown status gives ErrInvalid. Unknown tenant:
	// ErrNotFound.
	SetTenantSettings(ctx context.Context, tenant int64, s TenantSettings) (TenantSettings, error)

	// CreateUser creates a user. The email is stored as given and compared
	// lowercased: an email taken in any case gives ErrExists. An invalid
	// email (ValidateEmail) or password hash (1 to MaxPasswordHashLen
	// printable ASCII bytes) gives ErrInvalid.
	CreateUser(ctx context.Context, email, passwordHash string) (User, error)
	// User returns the user with the id, or ErrNotFound.
	User(ctx context.Context, id int64) (User, error)
	// UserByEmail returns the user whose email equals email in any case, or
	// ErrNotFound.
	UserByEmail(ctx context.Context, email string) (User, error)
	// SetPasswordHash replaces the user's password hash (validated as in
	// CreateUser). It does not revoke sessions: the caller decides, with
	// RevokeUserSessions. Unknown user: ErrNotFound.
	SetPasswordHash(ctx context.Context, id int64, passwordHash string) error

	// AddMember makes the user a member of the tenant with the role. Already
	// a member: ErrExists; unknown tenant or user: ErrNotFound; unknown role:
	// ErrInvalid.
	AddMember(ctx context.Context, tenant, user int64, role Role) (Member, error)
	// SetMemberRole changes a member's role and returns the member. Demoting
	// the tenant's last owner gives ErrInvalid naming the rule (a tenant
	// keeps an owner once it has one). Not a member: ErrNotFound.
	SetMemberRole(ctx context.Context, tenant, user int64, role Role) (Member, error)
	// RemoveMember removes the user from the tenant and, in the same
	// transaction, revokes the user's sessions in the tenant. Removing the
	// last owner gives ErrInvalid naming the rule. Not a member: ErrNotFound.
	RemoveMember(ctx context.Context, tenant, user int64) error
	// Members returns the tenant's members, with their emails, sorted by
	// user id (none for an unknown tenant).
	Members(ctx context.Context, tenant int64) ([]Member, error)
	// Memberships returns the user's memberships, with the user's email,
	// sorted by tenant id (none for an unknown user).
	Memberships(ctx context.Context, user int64) ([]Member, error)

	// CreateAPIKey stores a key and returns it with CreatedAt set (RevokedAt
	// and LastUsedAt are ignored). The caller supplies the public ID (see
	// ValidateTokenID), unique across all tenants: a taken one gives
	// ErrExists. Invalid fields (name, role, an all-zero hash, an expiry not
	// in the future) give ErrInvalid; an unknown tenant or creator
	// ErrNotFound.
	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error)
	// APIKey returns the key with the public id, whatever its tenant, or
	// ErrNotFound. It is deliberately not tenant-scoped: the authenticator
	// learns the key's tenant from it, and must then check the hash, the
	// expiry and the revocation itself.
	APIKey(ctx context.Context, id string) (APIKey, error)
	// ListAPIKeys returns the tenant's keys, revoked ones included, oldest
	// first (ties by id); never another tenant's.
	ListAPIKeys(ctx context.Context, tenant int64) ([]APIKey, error)
	// RevokeAPIKey marks the tenant's key revoked at at; a key already
	// revoked keeps its first revocation time. A key of another tenant gives
	// ErrNotFound, as an unknown one does, so nothing leaks.
	RevokeAPIKey(ctx context.Context, tenant int64, id string, at time.Time) error
	// TouchAPIKey records that the key was used at at; LastUsedAt never
	// moves backward. It writes on every call: the caller throttles.
	// Unknown key: ErrNotFound.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error

	// CreateSession stores a refresh-token session and returns it with
	// CreatedAt set (RevokedAt is ignored). The ID is the caller's (see
	// ValidateTokenID), unique: a taken one gives ErrExists. The user must be
	// a member of the tenant (else ErrNotFound); an all-zero hash or an
	// expiry not in the future gives ErrInvalid.
	CreateSession(ctx context.Context, s Session) (Session, error)
	// Session returns the session with the id, whatever its tenant, or
	// ErrNotFound; the caller checks hash, expiry and revocation.
	Session(ctx context.Context, id string) (Session, error)
	// RevokeSession marks the session revoked at at (a revoked one keeps its
	// first time). Unknown session: ErrNotFound.
	RevokeSession(ctx context.Context, id string, at time.Time) error
	// RevokeUserSessions revokes all the user's live sessions in every
	// tenant (logout everywhere) and returns how many it revoked.
	RevokeUserSessions(ctx context.Context, user int64, at time.Time) (int, error)

	// AppendAudit adds an event to the tenant's audit log and returns it
	// with its ID (per tenant, increasing from 1, never reused) and At (the
	// store's now if zero). Invalid fields (see AuditEvent) give ErrInvalid,
	// an unknown tenant ErrNotFound.
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	// ListAudit returns up to limit (1 to MaxAuditPage, else ErrInvalid) of
	// the tenant's events with ID < beforeID (beforeID 0: from the newest),
	// newest first. The next page starts before the last ID returned.
	ListAudit(ctx context.Context, tenant, beforeID int64, limit int) ([]AuditEvent, error)
}

// TenantStatus says whether a tenant may use the service.
type TenantStatus string

const (
	TenantActive    TenantStatus = "active"
	TenantSuspended TenantStatus = "suspended"
)

// DefaultPlan is the plan of a tenant never given settings.
const DefaultPlan = "free"

// Limits of the account fields, in bytes.
const (
	MaxDisplayNameLen  = 128
	MaxPlanLen         = 32
	MaxEmailLen        = 254 // RFC 5321's path limit less the angle brackets
	MaxPasswordHashLen = 512 // an argon2id PHC string is about 100
	MaxTokenIDLen      = 64  // public ids of API keys and sessions
	MaxAPIKeyNameLen   = 128
	MaxAuditActorLen   = 128
	MaxAuditActionLen  = 64
	MaxAuditTargetLen  = 255
	MaxAuditDetailLen  = 4096
	// MaxAuditPage is the most events one ListAudit call returns.
	MaxAuditPage = 1000
)

// TenantSettings are an organization's own settings.
type TenantSettings struct {
	DisplayName string // shown in the console; default: the tenant's name
	Plan        string // a plan name; billing owns what it means
	Status      TenantStatus
}

// User is a person who logs in; memberships give access to tenants.
type User struct {
	ID           int64  // positive, assigned by the store, never reused
	Email        string // as given at creation
	PasswordHash string // opaque to the store (an argon2id PHC string)
	CreatedAt    time.Time
}

// Member is a user's membership of a tenant.
type Member struct {
	Tenant    int64
	User      int64
	Email     string // the user's
	Role      Role
	CreatedAt time.Time
}

// APIKey is a program's credential, scoped to one tenant and a role. The
// store keeps only a hash of the secret.
type APIKey struct {
	ID     string // public, caller-generated, unique across tenants
	Tenant int64
	Name   string // 1 to MaxAPIKeyNameLen bytes, shown in lists
	Role   Role
	// Hash is the SHA-256 (or keyed HMAC) of the secret; never all zero.
	Hash      [32]byte
	ExpiresAt time.Time // zero: never expires
	CreatedBy int64     // the user who made it; 0: none (provisioned)
	CreatedAt time.Time // set by the store
	RevokedAt time.Time // zero while not revoked
	// LastUsedAt is the latest TouchAPIKey time; zero if never touched.
	LastUsedAt time.Time
}

// Session is a refresh-token session of a user in a tenant.
type Session struct {
	ID        string // public, caller-generated, unique
	User      int64
	Tenant    int64
	Hash      [32]byte  // of the refresh token; never all zero
	ExpiresAt time.Time // required, in the future at creation
	CreatedAt time.Time // set by the store
	RevokedAt time.Time // zero while not revoked
}

// AuditEvent is one entry of a tenant's audit log.
type AuditEvent struct {
	Tenant int64
	ID     int64     // assigned by the store, increasing per tenant
	At     time.Time // the store's now if zero
	// Actor says who: "user:12", "key:abc"; 1 to MaxAuditActorLen bytes.
	Actor string
	// Action says what: "topic.create"; 1 to MaxAuditActionLen bytes of
	// a-z 0-9 . _ -.
	Action string
	// Target names what it was done to; up to MaxAuditTargetLen bytes.
	Target string
	// Detail is free text, up to MaxAuditDetailLen bytes of UTF-8 without
	// NUL.
	Detail string
}
