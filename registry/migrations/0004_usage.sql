-- Usage metering (registry/usage.go): hourly counters per tenant, which the
-- billing meter adds to, and the keys of the additions already applied, so a
-- retried flush counts once. Keys are pruned once no meter may retry them.
CREATE TABLE usage_hours (
    tenant_id          bigint      NOT NULL REFERENCES tenants (id),
    hour               timestamptz NOT NULL CHECK (date_trunc('hour', hour AT TIME ZONE 'UTC') = hour AT TIME ZONE 'UTC'),
    records_produced   bigint      NOT NULL DEFAULT 0 CHECK (records_produced >= 0),
    bytes_produced     bigint      NOT NULL DEFAULT 0 CHECK (bytes_produced >= 0),
    records_consumed   bigint      NOT NULL DEFAULT 0 CHECK (records_consumed >= 0),
    bytes_consumed     bigint      NOT NULL DEFAULT 0 CHECK (bytes_consumed >= 0),
    storage_byte_hours bigint      NOT NULL DEFAULT 0 CHECK (storage_byte_hours >= 0),
    PRIMARY KEY (tenant_id, hour)
);

CREATE TABLE usage_keys (
    tenant_id   bigint      NOT NULL REFERENCES tenants (id),
    key         text        NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 200),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

CREATE INDEX usage_keys_recorded ON usage_keys (recorded_at);
