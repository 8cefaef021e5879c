-- Accounts: tenants' settings, users, memberships, API keys, refresh-token
-- sessions and the audit log (registry/accounts.go). The store validates
-- every field; the checks here are a second line.

-- Audit ids are per tenant and never reused, like schema ids.
ALTER TABLE tenants ADD COLUMN last_audit_id bigint NOT NULL DEFAULT 0;

CREATE TABLE tenant_settings (
    tenant_id    bigint      PRIMARY KEY REFERENCES tenants (id),
    display_name text        NOT NULL,
    plan         text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('active', 'suspended')),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Users are global: one person may belong to several tenants.
CREATE TABLE users (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL,        -- as given
    email_key     text        NOT NULL UNIQUE, -- lowercased by the store, not by lower(): one rule for both stores
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    tenant_id  bigint      NOT NULL REFERENCES tenants (id),
    user_id    bigint      NOT NULL REFERENCES users (id),
    role       text        NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

CREATE INDEX memberships_user ON memberships (user_id);

-- Keys and sessions are found by their public id alone (the authenticator
-- learns the tenant from the row); listing is by tenant.
CREATE TABLE api_keys (
    id           text        PRIMARY KEY,
    tenant_id    bigint      NOT NULL REFERENCES tenants (id),
    name         text        NOT NULL,
    role         text        NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    secret_hash  bytea       NOT NULL CHECK (length(secret_hash) = 32),
    expires_at   timestamptz,                   -- NULL: never
    created_by   bigint      REFERENCES users (id), -- NULL: provisioned, not by a user
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE sessions (
    id         text        PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id),
    tenant_id  bigint      NOT NULL REFERENCES tenants (id),
    token_hash bytea       NOT NULL CHECK (length(token_hash) = 32),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE audit_events (
    tenant_id bigint      NOT NULL REFERENCES tenants (id),
    id        bigint      NOT NULL CHECK (id > 0),
    at        timestamptz NOT NULL,
    actor     text        NOT NULL,
    action    text        NOT NULL,
    target    text        NOT NULL DEFAULT '',
    detail    text        NOT NULL DEFAULT '' CHECK (octet_length(detail) <= 4096),
    PRIMARY KEY (tenant_id, id)
);
