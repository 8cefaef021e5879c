-- Schema registry settings: a compatibility level, a mode and a produce-time
-- validation per subject, and tenant-wide ones under the subject '' (the
-- Confluent API's /config and /mode). Values are checked by the schema
-- registry, not here.
CREATE TABLE schema_settings (
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    subject   text   NOT NULL,
    kind      text   NOT NULL CHECK (kind IN ('compatibility', 'mode', 'validation')),
    value     text   NOT NULL,
    PRIMARY KEY (tenant_id, kind, subject)
);
