-- Return parcels: a departing employee who works remotely ships equipment
-- back. Such a parcel has no recipient; it links to the sender's off-boarding
-- case instead, and every parcel has exactly one of the two.
--
-- SQLite cannot drop a NOT NULL constraint, so the table is rebuilt (the
-- documented procedure: foreign keys off, copy, swap, check, foreign keys
-- on), which cannot run inside a transaction.

-- +goose NO TRANSACTION
-- +goose Up
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE parcels_new (
    tenant_id       TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    carrier         TEXT    NOT NULL,
    tracking_number TEXT    NOT NULL,
    sender          TEXT    NOT NULL,
    recipient_id    TEXT,
    return_case_id  TEXT,
    location        TEXT    NOT NULL,
    note            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    received_by_id  TEXT    NOT NULL,
    received_at     TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, recipient_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, return_case_id) REFERENCES offboarding_cases (tenant_id, id),
    FOREIGN KEY (tenant_id, received_by_id) REFERENCES members (tenant_id, id),
    CHECK ((recipient_id IS NULL) <> (return_case_id IS NULL))
) STRICT, WITHOUT ROWID;
INSERT INTO parcels_new (tenant_id, id, carrier, tracking_number, sender, recipient_id, location, note,
                         state, received_by_id, received_at, version)
SELECT tenant_id, id, carrier, tracking_number, sender, recipient_id, location, note,
       state, received_by_id, received_at, version FROM parcels;
DROP TABLE parcels;
ALTER TABLE parcels_new RENAME TO parcels;
CREATE INDEX parcels_state_idx ON parcels (tenant_id, state, id);
CREATE INDEX parcels_recipient_idx ON parcels (tenant_id, recipient_id, id);
CREATE INDEX parcels_return_case_idx ON parcels (tenant_id, return_case_id, id) WHERE return_case_id IS NOT NULL;
COMMIT;
PRAGMA foreign_key_check;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE parcels_old (
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
INSERT INTO parcels_old SELECT tenant_id, id, carrier, tracking_number, sender, recipient_id, location, note,
       state, received_by_id, received_at, version FROM parcels WHERE recipient_id IS NOT NULL;
DROP TABLE parcels;
ALTER TABLE parcels_old RENAME TO parcels;
CREATE INDEX parcels_state_idx ON parcels (tenant_id, state, id);
CREATE INDEX parcels_recipient_idx ON parcels (tenant_id, recipient_id, id);
COMMIT;
PRAGMA foreign_keys = ON;
