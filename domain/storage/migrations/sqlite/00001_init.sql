-- Custody schema, embedded SQLite. The same tables, keys and indexes as the
-- PostgreSQL schema (see migrations/postgres): ids are canonical lowercase
-- UUID text, timestamps are fixed-width UTC text (2006-01-02T15:04:05.000000Z)
-- so they sort and round-trip exactly, booleans are 0/1. Tables are STRICT so
-- a value of the wrong type is refused rather than silently stored, and
-- WITHOUT ROWID so rows are clustered by their (tenant_id, ...) key.

-- +goose Up
CREATE TABLE tenants (
    id         TEXT NOT NULL PRIMARY KEY,
    slug       TEXT NOT NULL CONSTRAINT tenants_slug_check CHECK (slug <> ''),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT tenants_slug_key UNIQUE (slug)
) STRICT, WITHOUT ROWID;

CREATE TABLE ledger_heads (
    tenant_id TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id),
    size      INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0)
) STRICT, WITHOUT ROWID;

CREATE TABLE members (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE member_roles (
    tenant_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    role      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, member_id, role),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE api_tokens (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    token_hash BLOB NOT NULL CHECK (length(token_hash) = 32),
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_tokens_hash_key UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE people (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    id          TEXT    NOT NULL,
    employee_id TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    email       TEXT    NOT NULL,
    department  TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT people_employee_id_key UNIQUE (tenant_id, employee_id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX people_email_key ON people (tenant_id, lower(email));
CREATE INDEX people_status_idx ON people (tenant_id, status, id);

CREATE TABLE parcels (
    tenant_id       TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    carrier         TEXT    NOT NULL,
    tracking_number TEXT    NOT NULL,
    sender          TEXT    NOT NULL,
    recipient_id    TEXT    NOT NULL,
    location        TEXT    NOT NULL,
    note            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    received_by_id  TEXT    NOT NULL,
    received_at     TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, recipient_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, received_by_id) REFERENCES members (tenant_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX parcels_state_idx ON parcels (tenant_id, state, id);
CREATE INDEX parcels_recipient_idx ON parcels (tenant_id, recipient_id, id);

CREATE TABLE assets (
    tenant_id             TEXT    NOT NULL,
    id                    TEXT    NOT NULL,
    parcel_id             TEXT,
    serial                TEXT,
    asset_tag             TEXT,
    make                  TEXT    NOT NULL,
    model                 TEXT    NOT NULL,
    category              TEXT    NOT NULL,
    bears_data            INTEGER NOT NULL CHECK (bears_data IN (0, 1)),
    itam_ref              TEXT    NOT NULL,
    condition             TEXT    NOT NULL,
    state                 TEXT    NOT NULL,
    custodian_kind        TEXT    NOT NULL,
    custodian_ref         TEXT    NOT NULL,
    intended_recipient_id TEXT,
    deployed_at           TEXT,
    last_event_id         TEXT,
    version               INTEGER NOT NULL,
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT assets_serial_key UNIQUE (tenant_id, serial),
    CONSTRAINT assets_asset_tag_key UNIQUE (tenant_id, asset_tag),
    CONSTRAINT assets_identifier_check CHECK (serial IS NOT NULL OR asset_tag IS NOT NULL),
    FOREIGN KEY (tenant_id, parcel_id) REFERENCES parcels (tenant_id, id),
    FOREIGN KEY (tenant_id, intended_recipient_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, last_event_id) REFERENCES custody_events (tenant_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX assets_state_idx ON assets (tenant_id, state, id);
CREATE INDEX assets_custodian_idx ON assets (tenant_id, custodian_kind, custodian_ref, id);
CREATE INDEX assets_parcel_idx ON assets (tenant_id, parcel_id, id);

CREATE TABLE signatures (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL,
    signer_id       TEXT NOT NULL,
    typed_name      TEXT NOT NULL,
    image_type      TEXT NOT NULL,
    image           BLOB NOT NULL,
    image_sha256    TEXT NOT NULL,
    consent_text    TEXT NOT NULL,
    consent_version TEXT NOT NULL,
    consent_sha256  TEXT NOT NULL,
    method          TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    ip_address      TEXT NOT NULL,
    user_agent      TEXT NOT NULL,
    device_time     TEXT,
    signed_at       TEXT NOT NULL,
    captured_by_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, signer_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, captured_by_id) REFERENCES members (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE custody_events (
    tenant_id           TEXT    NOT NULL REFERENCES tenants (id),
    id                  TEXT    NOT NULL,
    seq                 INTEGER NOT NULL CHECK (seq > 0),
    asset_id            TEXT,
    parcel_id           TEXT,
    type                TEXT    NOT NULL,
    from_state          TEXT,
    to_state            TEXT,
    from_custodian_kind TEXT    NOT NULL,
    from_custodian_ref  TEXT    NOT NULL,
    to_custodian_kind   TEXT    NOT NULL,
    to_custodian_ref    TEXT    NOT NULL,
    actor_id            TEXT    NOT NULL,
    location            TEXT    NOT NULL,
    device_time         TEXT,
    recorded_at         TEXT    NOT NULL,
    signature_id        TEXT,
    details             TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT custody_events_seq_key UNIQUE (tenant_id, seq),
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id),
    FOREIGN KEY (tenant_id, parcel_id) REFERENCES parcels (tenant_id, id),
    FOREIGN KEY (tenant_id, actor_id) REFERENCES members (tenant_id, id),
    FOREIGN KEY (tenant_id, signature_id) REFERENCES signatures (tenant_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX custody_events_asset_idx ON custody_events (tenant_id, asset_id, seq);
-- An asset's history starts with its parcel's receipt at the dock.
CREATE INDEX custody_events_parcel_idx ON custody_events (tenant_id, parcel_id, seq);

-- The custody log is append-only.
-- +goose StatementBegin
CREATE TRIGGER custody_events_no_update BEFORE UPDATE ON custody_events
BEGIN
    SELECT RAISE(ABORT, 'custody events are append-only: UPDATE refused');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER custody_events_no_delete BEFORE DELETE ON custody_events
BEGIN
    SELECT RAISE(ABORT, 'custody events are append-only: DELETE refused');
END;
-- +goose StatementEnd

CREATE TABLE idempotency_keys (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    operation       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    result          BLOB,
    created_at      TEXT NOT NULL,
    completed_at    TEXT,
    PRIMARY KEY (tenant_id, operation, idempotency_key)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS custody_events;
DROP TABLE IF EXISTS signatures;
DROP TABLE IF EXISTS assets;
DROP TABLE IF EXISTS parcels;
DROP TABLE IF EXISTS people;
DROP TABLE IF EXISTS api_tokens;
DROP TABLE IF EXISTS member_roles;
DROP TABLE IF EXISTS members;
DROP TABLE IF EXISTS ledger_heads;
DROP TABLE IF EXISTS tenants;
