-- ITAD disposition, embedded SQLite: the same tables, keys, indexes and
-- rules as migrations/postgres/00007_disposition.sql (which explains them).
--
-- SQLite cannot alter a CHECK, so pickup_orders, pickup_lines and
-- pickup_scans are rebuilt with the wider ones and their new columns (the
-- documented procedure, as in 00004 and 00005: foreign keys off, create,
-- copy, drop, rename, recreate the indexes, check, foreign keys on), which
-- cannot run inside a transaction. The new tables reference the final
-- names, so they are right once the old tables are dropped and the new ones
-- renamed. The digest CHECK is the regular expression of Postgres without
-- one: 64 characters, none outside [0-9a-f].

-- +goose NO TRANSACTION
-- +goose Up
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE pickup_orders_new (
    tenant_id     TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    vendor_id     TEXT    NOT NULL,
    scheduled_on  TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    note          TEXT    NOT NULL,
    created_by_id TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    picked_up_at  TEXT,
    received_at   TEXT,
    certified_at  TEXT,
    closed_at     TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_orders_state_check CHECK (state IN ('OPEN', 'PICKED_UP', 'RECEIVED', 'CERTIFIED', 'CLOSED')),
    CONSTRAINT pickup_orders_scheduled_on_check CHECK (substr(scheduled_on, 11) = 'T00:00:00.000000Z')
) STRICT, WITHOUT ROWID;
INSERT INTO pickup_orders_new (tenant_id, id, vendor_id, scheduled_on, state, note, created_by_id, created_at,
                               updated_at, version)
SELECT tenant_id, id, vendor_id, scheduled_on, state, note, created_by_id, created_at, updated_at, version
FROM pickup_orders;

CREATE TABLE pickup_lines_new (
    tenant_id                        TEXT    NOT NULL,
    order_id                         TEXT    NOT NULL,
    asset_id                         TEXT    NOT NULL,
    serial                           TEXT,
    asset_tag                        TEXT,
    make                             TEXT    NOT NULL,
    model                            TEXT    NOT NULL,
    category                         TEXT    NOT NULL,
    bears_data                       INTEGER NOT NULL CHECK (bears_data IN (0, 1)),
    status                           TEXT    NOT NULL,
    staged_at                        TEXT    NOT NULL,
    staged_by_id                     TEXT    NOT NULL,
    status_reason                    TEXT    NOT NULL DEFAULT '',
    outcome_kind                     TEXT,
    outcome_buyer                    TEXT    NOT NULL DEFAULT '',
    outcome_buyer_country            TEXT    NOT NULL DEFAULT '',
    outcome_downstream_vendor        TEXT    NOT NULL DEFAULT '',
    outcome_downstream_certification TEXT    NOT NULL DEFAULT '',
    outcome_note                     TEXT    NOT NULL DEFAULT '',
    outcome_at                       TEXT,
    outcome_by_id                    TEXT,
    written_back_at                  TEXT,
    written_back_by_id               TEXT,
    PRIMARY KEY (tenant_id, order_id, asset_id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id),
    FOREIGN KEY (tenant_id, staged_by_id) REFERENCES members (tenant_id, id),
    FOREIGN KEY (tenant_id, outcome_by_id) REFERENCES members (tenant_id, id),
    FOREIGN KEY (tenant_id, written_back_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_lines_status_check
        CHECK (status IN ('STAGED', 'REMOVED', 'PICKED_UP', 'RECEIVED', 'LOST', 'WRITTEN_BACK')),
    CONSTRAINT pickup_lines_identifiers_check CHECK (serial <> '' AND asset_tag <> ''),
    CONSTRAINT pickup_lines_outcome_kind_check
        CHECK (outcome_kind IN ('REUSED', 'REMARKETED', 'EXPORTED', 'RECYCLED', 'DESTROYED')),
    CONSTRAINT pickup_lines_outcome_check
        CHECK ((outcome_kind IS NULL) = (outcome_at IS NULL) AND (outcome_kind IS NULL) = (outcome_by_id IS NULL)),
    CONSTRAINT pickup_lines_written_back_check CHECK ((written_back_at IS NULL) = (written_back_by_id IS NULL))
) STRICT, WITHOUT ROWID;
INSERT INTO pickup_lines_new (tenant_id, order_id, asset_id, serial, asset_tag, make, model, category, bears_data,
                              status, staged_at, staged_by_id)
SELECT tenant_id, order_id, asset_id, serial, asset_tag, make, model, category, bears_data,
       status, staged_at, staged_by_id
FROM pickup_lines;

CREATE TABLE pickup_scans_new (
    tenant_id     TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    order_id      TEXT    NOT NULL,
    phase         TEXT    NOT NULL,
    serial        TEXT,
    asset_tag     TEXT,
    model         TEXT    NOT NULL,
    result        TEXT    NOT NULL,
    line_asset_id TEXT,
    detail        TEXT    NOT NULL,
    scanned_by_id TEXT    NOT NULL,
    scanned_at    TEXT    NOT NULL,
    device_time   TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id, line_asset_id) REFERENCES pickup_lines (tenant_id, order_id, asset_id),
    FOREIGN KEY (tenant_id, scanned_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_scans_phase_check CHECK (phase IN ('COUNT', 'PICKUP', 'RECEIPT')),
    CONSTRAINT pickup_scans_result_check CHECK (result IN ('MATCHED', 'UNEXPECTED', 'SUBSTITUTED', 'DUPLICATE')),
    CONSTRAINT pickup_scans_line_check CHECK ((result = 'UNEXPECTED') = (line_asset_id IS NULL)),
    CONSTRAINT pickup_scans_identifiers_check CHECK (
        serial <> '' AND asset_tag <> '' AND (serial IS NOT NULL OR asset_tag IS NOT NULL))
) STRICT, WITHOUT ROWID;
INSERT INTO pickup_scans_new SELECT * FROM pickup_scans;

DROP TABLE pickup_scans;
DROP TABLE pickup_lines;
DROP TABLE pickup_orders;
ALTER TABLE pickup_orders_new RENAME TO pickup_orders;
ALTER TABLE pickup_lines_new RENAME TO pickup_lines;
ALTER TABLE pickup_scans_new RENAME TO pickup_scans;
CREATE INDEX pickup_orders_vendor_idx ON pickup_orders (tenant_id, vendor_id, id);
CREATE INDEX pickup_orders_state_idx ON pickup_orders (tenant_id, state, id);
CREATE INDEX pickup_lines_serial_idx ON pickup_lines (tenant_id, order_id, serial) WHERE serial IS NOT NULL;
CREATE INDEX pickup_lines_asset_tag_idx ON pickup_lines (tenant_id, order_id, asset_tag) WHERE asset_tag IS NOT NULL;
CREATE INDEX pickup_lines_asset_idx ON pickup_lines (tenant_id, asset_id, order_id);
CREATE INDEX pickup_lines_outcome_idx ON pickup_lines (tenant_id, outcome_at, order_id, asset_id)
    WHERE outcome_kind IS NOT NULL;
CREATE INDEX pickup_scans_order_idx ON pickup_scans (tenant_id, order_id, phase, scanned_at, id);
CREATE INDEX pickup_scans_matched_idx ON pickup_scans (tenant_id, order_id, phase, line_asset_id)
    WHERE result = 'MATCHED';

CREATE TABLE pickup_resolutions (
    tenant_id      TEXT NOT NULL,
    id             TEXT NOT NULL,
    order_id       TEXT NOT NULL,
    phase          TEXT NOT NULL,
    scan_id        TEXT,
    asset_id       TEXT,
    action         TEXT NOT NULL,
    reason         TEXT NOT NULL,
    resolved_by_id TEXT NOT NULL,
    resolved_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    FOREIGN KEY (tenant_id, scan_id) REFERENCES pickup_scans (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id, asset_id) REFERENCES pickup_lines (tenant_id, order_id, asset_id),
    FOREIGN KEY (tenant_id, resolved_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_resolutions_phase_check CHECK (phase IN ('COUNT', 'PICKUP', 'RECEIPT')),
    CONSTRAINT pickup_resolutions_action_check CHECK (action IN ('ACCEPT', 'REMOVE', 'LOST')),
    CONSTRAINT pickup_resolutions_subject_check CHECK (scan_id IS NOT NULL OR asset_id IS NOT NULL)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX pickup_resolutions_scan_key ON pickup_resolutions (tenant_id, scan_id) WHERE scan_id IS NOT NULL;
CREATE UNIQUE INDEX pickup_resolutions_line_key ON pickup_resolutions (tenant_id, order_id, phase, asset_id)
    WHERE scan_id IS NULL;
CREATE INDEX pickup_resolutions_order_idx ON pickup_resolutions (tenant_id, order_id, phase, resolved_at, id);

CREATE TABLE pickup_signatures (
    tenant_id        TEXT NOT NULL,
    id               TEXT NOT NULL,
    order_id         TEXT NOT NULL,
    role             TEXT NOT NULL,
    signer_member_id TEXT NOT NULL,
    typed_name       TEXT NOT NULL,
    image_type       TEXT NOT NULL,
    image            BLOB NOT NULL,
    image_sha256     TEXT NOT NULL,
    consent_text     TEXT NOT NULL,
    consent_version  TEXT NOT NULL,
    consent_sha256   TEXT NOT NULL,
    method           TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    ip_address       TEXT NOT NULL,
    user_agent       TEXT NOT NULL,
    device_time      TEXT,
    signed_at        TEXT NOT NULL,
    captured_by_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT pickup_signatures_role_key UNIQUE (tenant_id, order_id, role),
    FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    FOREIGN KEY (tenant_id, signer_member_id) REFERENCES members (tenant_id, id),
    FOREIGN KEY (tenant_id, captured_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_signatures_role_check CHECK (role IN ('TECHNICIAN', 'STAFF'))
) STRICT, WITHOUT ROWID;

CREATE TABLE sanitization_records (
    tenant_id           TEXT NOT NULL,
    order_id            TEXT NOT NULL,
    asset_id            TEXT NOT NULL,
    method              TEXT NOT NULL,
    technique           TEXT NOT NULL,
    tool                TEXT NOT NULL,
    tool_version        TEXT NOT NULL,
    verification_method TEXT NOT NULL,
    verification_result TEXT NOT NULL,
    performed_at        TEXT NOT NULL,
    technician_name     TEXT NOT NULL,
    attested_at         TEXT NOT NULL,
    validator_name      TEXT NOT NULL,
    validated_at        TEXT NOT NULL,
    recorded_by_id      TEXT NOT NULL,
    recorded_at         TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    PRIMARY KEY (tenant_id, order_id, asset_id),
    FOREIGN KEY (tenant_id, order_id, asset_id) REFERENCES pickup_lines (tenant_id, order_id, asset_id),
    FOREIGN KEY (tenant_id, recorded_by_id) REFERENCES members (tenant_id, id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES custody_events (tenant_id, id),
    CONSTRAINT sanitization_records_method_check CHECK (method IN ('CLEAR', 'PURGE', 'DESTROY')),
    CONSTRAINT sanitization_records_result_check CHECK (verification_result IN ('PASSED', 'FAILED'))
) STRICT, WITHOUT ROWID;

CREATE TABLE certificates (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    order_id     TEXT NOT NULL,
    vendor_id    TEXT NOT NULL,
    number       TEXT NOT NULL,
    issued_at    TEXT NOT NULL,
    issued_by_id TEXT NOT NULL,
    digest       TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    -- The certificate document as issued, the bytes its digest hashes.
    document     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT certificates_order_key UNIQUE (tenant_id, order_id),
    CONSTRAINT certificates_number_key UNIQUE (tenant_id, number),
    FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id),
    FOREIGN KEY (tenant_id, issued_by_id) REFERENCES members (tenant_id, id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES custody_events (tenant_id, id),
    CONSTRAINT certificates_number_check CHECK (number <> ''),
    CONSTRAINT certificates_digest_check CHECK (length(digest) = 64 AND digest NOT GLOB '*[^0-9a-f]*'),
    CONSTRAINT certificates_document_check CHECK (document <> '')
) STRICT, WITHOUT ROWID;
CREATE INDEX certificates_vendor_idx ON certificates (tenant_id, vendor_id, id);

CREATE TABLE sla_policies (
    tenant_id                      TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id),
    retired_to_staged_days         INTEGER NOT NULL,
    staged_to_picked_up_days       INTEGER NOT NULL,
    picked_up_to_certificate_days  INTEGER NOT NULL,
    certificate_to_write_back_days INTEGER NOT NULL,
    offboarding_due_days           INTEGER NOT NULL,
    updated_at                     TEXT    NOT NULL,
    updated_by_id                  TEXT    NOT NULL,
    version                        INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, updated_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT sla_policies_days_check CHECK (
        retired_to_staged_days BETWEEN 1 AND 3650 AND staged_to_picked_up_days BETWEEN 1 AND 3650
        AND picked_up_to_certificate_days BETWEEN 1 AND 3650 AND certificate_to_write_back_days BETWEEN 1 AND 3650
        AND offboarding_due_days BETWEEN 1 AND 3650),
    CONSTRAINT sla_policies_version_check CHECK (version >= 1)
) STRICT, WITHOUT ROWID;

CREATE TABLE sla_breaches (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    stage        TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    since        TEXT NOT NULL,
    due_at       TEXT NOT NULL,
    raised_at    TEXT NOT NULL,
    event_id     TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES custody_events (tenant_id, id),
    CONSTRAINT sla_breaches_stage_check CHECK (stage IN ('RETIRED_TO_STAGED', 'STAGED_TO_PICKED_UP',
        'PICKED_UP_TO_CERTIFICATE', 'CERTIFICATE_TO_WRITE_BACK', 'OFFBOARDING_DUE')),
    CONSTRAINT sla_breaches_subject_kind_check CHECK (subject_kind IN ('ASSET', 'PICKUP_ORDER', 'OFFBOARDING_CASE'))
) STRICT, WITHOUT ROWID;
-- The unique key is an index of its own rather than a table constraint,
-- so that ListBreaches can name it (INDEXED BY).
CREATE UNIQUE INDEX sla_breaches_subject_key ON sla_breaches (tenant_id, subject_kind, subject_id, stage);
CREATE INDEX sla_breaches_stage_idx ON sla_breaches (tenant_id, stage, id);

CREATE INDEX members_service_name_idx ON members (tenant_id, name) WHERE kind = 'SERVICE';
COMMIT;
PRAGMA foreign_key_check;
PRAGMA foreign_keys = ON;

-- +goose Down
-- Fails, rather than loses data, when orders, lines or scans have reached
-- the states this migration added (the copies into the narrower tables
-- violate their CHECKs).
PRAGMA foreign_keys = OFF;
BEGIN;
DROP INDEX IF EXISTS members_service_name_idx;
DROP TABLE IF EXISTS sla_breaches;
DROP TABLE IF EXISTS sla_policies;
DROP TABLE IF EXISTS certificates;
DROP TABLE IF EXISTS sanitization_records;
DROP TABLE IF EXISTS pickup_signatures;
DROP TABLE IF EXISTS pickup_resolutions;

CREATE TABLE pickup_orders_old (
    tenant_id     TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    vendor_id     TEXT    NOT NULL,
    scheduled_on  TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    note          TEXT    NOT NULL,
    created_by_id TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_orders_state_check CHECK (state IN ('OPEN')),
    CONSTRAINT pickup_orders_scheduled_on_check CHECK (substr(scheduled_on, 11) = 'T00:00:00.000000Z')
) STRICT, WITHOUT ROWID;
INSERT INTO pickup_orders_old
SELECT tenant_id, id, vendor_id, scheduled_on, state, note, created_by_id, created_at, updated_at, version
FROM pickup_orders;

CREATE TABLE pickup_lines_old (
    tenant_id    TEXT    NOT NULL,
    order_id     TEXT    NOT NULL,
    asset_id     TEXT    NOT NULL,
    serial       TEXT,
    asset_tag    TEXT,
    make         TEXT    NOT NULL,
    model        TEXT    NOT NULL,
    category     TEXT    NOT NULL,
    bears_data   INTEGER NOT NULL CHECK (bears_data IN (0, 1)),
    status       TEXT    NOT NULL,
    staged_at    TEXT    NOT NULL,
    staged_by_id TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, order_id, asset_id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id),
    FOREIGN KEY (tenant_id, staged_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_lines_status_check CHECK (status IN ('STAGED', 'REMOVED')),
    CONSTRAINT pickup_lines_identifiers_check CHECK (serial <> '' AND asset_tag <> '')
) STRICT, WITHOUT ROWID;
INSERT INTO pickup_lines_old
SELECT tenant_id, order_id, asset_id, serial, asset_tag, make, model, category, bears_data, status, staged_at,
       staged_by_id
FROM pickup_lines;

CREATE TABLE pickup_scans_old (
    tenant_id     TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    order_id      TEXT    NOT NULL,
    phase         TEXT    NOT NULL,
    serial        TEXT,
    asset_tag     TEXT,
    model         TEXT    NOT NULL,
    result        TEXT    NOT NULL,
    line_asset_id TEXT,
    detail        TEXT    NOT NULL,
    scanned_by_id TEXT    NOT NULL,
    scanned_at    TEXT    NOT NULL,
    device_time   TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id, line_asset_id) REFERENCES pickup_lines (tenant_id, order_id, asset_id),
    FOREIGN KEY (tenant_id, scanned_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_scans_phase_check CHECK (phase IN ('COUNT')),
    CONSTRAINT pickup_scans_result_check CHECK (result IN ('MATCHED', 'UNEXPECTED', 'SUBSTITUTED', 'DUPLICATE')),
    CONSTRAINT pickup_scans_line_check CHECK ((result = 'UNEXPECTED') = (line_asset_id IS NULL)),
    CONSTRAINT pickup_scans_identifiers_check CHECK (
        serial <> '' AND asset_tag <> '' AND (serial IS NOT NULL OR asset_tag IS NOT NULL))
) STRICT, WITHOUT ROWID;
INSERT INTO pickup_scans_old SELECT * FROM pickup_scans;

DROP TABLE pickup_scans;
DROP TABLE pickup_lines;
DROP TABLE pickup_orders;
ALTER TABLE pickup_orders_old RENAME TO pickup_orders;
ALTER TABLE pickup_lines_old RENAME TO pickup_lines;
ALTER TABLE pickup_scans_old RENAME TO pickup_scans;
CREATE INDEX pickup_orders_vendor_idx ON pickup_orders (tenant_id, vendor_id, id);
CREATE INDEX pickup_orders_state_idx ON pickup_orders (tenant_id, state, id);
CREATE INDEX pickup_lines_serial_idx ON pickup_lines (tenant_id, order_id, serial) WHERE serial IS NOT NULL;
CREATE INDEX pickup_lines_asset_tag_idx ON pickup_lines (tenant_id, order_id, asset_tag) WHERE asset_tag IS NOT NULL;
CREATE INDEX pickup_lines_asset_idx ON pickup_lines (tenant_id, asset_id, order_id);
CREATE INDEX pickup_scans_order_idx ON pickup_scans (tenant_id, order_id, phase, scanned_at, id);
CREATE INDEX pickup_scans_matched_idx ON pickup_scans (tenant_id, order_id, phase, line_asset_id)
    WHERE result = 'MATCHED';
COMMIT;
PRAGMA foreign_keys = ON;
