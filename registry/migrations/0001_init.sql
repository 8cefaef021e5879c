-- StreamHouse registry, initial schema. Applied once, in a transaction, by
-- registry.OpenPostgres. Never edit an applied migration: add the next file.
--
-- Every row carries tenant_id first, so every lookup is tenant-scoped by its
-- key. Text ordering in queries uses COLLATE "C" (bytewise), as the embedded
-- store does.

CREATE TABLE tenants (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text        NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_schema_id bigint      NOT NULL DEFAULT 0 -- schema ids are per tenant and never reused
);

CREATE TABLE topics (
    tenant_id       bigint      NOT NULL REFERENCES tenants (id),
    id              bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    name            text        NOT NULL,
    partitions      integer     NOT NULL CHECK (partitions > 0),
    durability      text        NOT NULL CHECK (durability IN ('wal', 'object')),
    retention_ms    bigint      NOT NULL CHECK (retention_ms > 0 OR retention_ms = -1),
    retention_bytes bigint      NOT NULL CHECK (retention_bytes > 0 OR retention_bytes = -1),
    cleanup_policy  text        NOT NULL CHECK (cleanup_policy IN ('delete', 'compact')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE partitions (
    tenant_id        bigint  NOT NULL,
    topic_id         bigint  NOT NULL,
    partition        integer NOT NULL CHECK (partition >= 0),
    epoch            bigint  NOT NULL DEFAULT 0,
    high_watermark   bigint  NOT NULL DEFAULT 0,
    log_start_offset bigint  NOT NULL DEFAULT 0,
    last_wal_seq     bigint  NOT NULL DEFAULT 0, -- highest segments.wal_seq committed
    PRIMARY KEY (tenant_id, topic_id, partition),
    FOREIGN KEY (tenant_id, topic_id) REFERENCES topics (tenant_id, id) ON DELETE CASCADE,
    CHECK (0 <= log_start_offset AND log_start_offset <= high_watermark)
);

CREATE TABLE segments (
    tenant_id     bigint      NOT NULL,
    topic_id      bigint      NOT NULL,
    partition     integer     NOT NULL,
    first_offset  bigint      NOT NULL,
    last_offset   bigint      NOT NULL,
    epoch         bigint      NOT NULL,
    object_key    text        NOT NULL,
    position      bigint      NOT NULL,
    length        bigint      NOT NULL,
    object_size   bigint      NOT NULL,
    min_timestamp bigint      NOT NULL,
    max_timestamp bigint      NOT NULL,
    record_count  bigint      NOT NULL,
    wal_seq       bigint      NOT NULL DEFAULT 0, -- a uint64 JetStream sequence, below 2^63
    committed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, topic_id, partition, first_offset),
    FOREIGN KEY (tenant_id, topic_id, partition) REFERENCES partitions ON DELETE CASCADE,
    CHECK (first_offset <= last_offset)
);

-- The garbage collector asks whether an object is still referenced.
CREATE INDEX segments_object_key ON segments (object_key);

CREATE TABLE group_offsets (
    tenant_id        bigint      NOT NULL REFERENCES tenants (id),
    group_id         text        NOT NULL,
    topic_id         bigint      NOT NULL,
    partition        integer     NOT NULL,
    committed_offset bigint      NOT NULL CHECK (committed_offset >= 0),
    metadata         text        NOT NULL DEFAULT '',
    committed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, group_id, topic_id, partition),
    FOREIGN KEY (tenant_id, topic_id, partition) REFERENCES partitions ON DELETE CASCADE
);

-- For the cascade when a topic goes.
CREATE INDEX group_offsets_partition ON group_offsets (tenant_id, topic_id, partition);

CREATE TABLE schemas (
    tenant_id   bigint      NOT NULL REFERENCES tenants (id),
    id          bigint      NOT NULL,
    schema_type text        NOT NULL CHECK (schema_type IN ('AVRO', 'JSON', 'PROTOBUF')),
    schema_text text        NOT NULL,
    canonical   text        NOT NULL,
    fingerprint text        NOT NULL, -- sha256 of type, canonical form and references
    refs        jsonb       NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, fingerprint)
);

CREATE TABLE subject_versions (
    tenant_id  bigint      NOT NULL,
    subject    text        NOT NULL,
    version    integer     NOT NULL CHECK (version > 0),
    schema_id  bigint      NOT NULL,
    deleted    boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subject, version),
    FOREIGN KEY (tenant_id, schema_id) REFERENCES schemas (tenant_id, id)
);

CREATE INDEX subject_versions_schema ON subject_versions (tenant_id, schema_id);
