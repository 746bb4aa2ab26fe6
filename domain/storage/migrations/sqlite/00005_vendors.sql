-- ITAD vendors, embedded SQLite: the same table, keys and rules as
-- migrations/postgres/00005_vendors.sql (which explains them).
-- certifications is JSON text.
--
-- members.vendor_id needs the foreign key (tenant_id, vendor_id), so that a
-- member can never name another tenant's vendor. ALTER TABLE ADD COLUMN
-- takes only a column constraint, whose REFERENCES names a single child
-- column, so members is rebuilt instead (the documented procedure, as in
-- 00004: foreign keys off, copy, swap, check, foreign keys on), which cannot
-- run inside a transaction.

-- +goose NO TRANSACTION
-- +goose Up
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE vendors (
    tenant_id      TEXT    NOT NULL REFERENCES tenants (id),
    id             TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    contact_email  TEXT    NOT NULL,
    certifications TEXT    NOT NULL,
    engaged_at     TEXT    NOT NULL,
    engaged_by_id  TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, engaged_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT vendors_name_check CHECK (name <> ''),
    CONSTRAINT vendors_certifications_check CHECK (json_valid(certifications) AND json_type(certifications) = 'array')
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX vendors_name_key ON vendors (tenant_id, lower(name));

CREATE TABLE members_new (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    vendor_id  TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id)
) STRICT, WITHOUT ROWID;
INSERT INTO members_new (tenant_id, id, name, kind, created_at)
SELECT tenant_id, id, name, kind, created_at FROM members;
DROP TABLE members;
ALTER TABLE members_new RENAME TO members;
CREATE INDEX members_vendor_idx ON members (tenant_id, vendor_id, id) WHERE vendor_id IS NOT NULL;
COMMIT;
PRAGMA foreign_key_check;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE members_old (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;
INSERT INTO members_old SELECT tenant_id, id, name, kind, created_at FROM members;
DROP TABLE members;
ALTER TABLE members_old RENAME TO members;
DROP TABLE IF EXISTS vendors;
COMMIT;
PRAGMA foreign_keys = ON;
