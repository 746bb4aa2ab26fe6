-- ITAD pickup orders, embedded SQLite: the same tables, keys, indexes and
-- rules as migrations/postgres/00006_pickups.sql (which explains them).
-- Dates are stamps at midnight UTC; booleans are 0/1.
--
-- The enum CHECKs hold the values of today. SQLite cannot alter a CHECK, so
-- the migration that widens one (the states and phases of the pickup, the
-- receipt and the certificate) must rebuild the table, the documented way
-- 00005 rebuilds members: foreign keys off, create the new table, copy,
-- drop, rename, recreate the indexes, foreign_key_check, foreign keys on,
-- outside goose's transaction. Rebuild pickup_scans before (or with)
-- pickup_lines and pickup_orders, which it references.

-- +goose Up
CREATE TABLE pickup_orders (
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
CREATE INDEX pickup_orders_vendor_idx ON pickup_orders (tenant_id, vendor_id, id);
CREATE INDEX pickup_orders_state_idx ON pickup_orders (tenant_id, state, id);

CREATE TABLE pickup_lines (
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
CREATE INDEX pickup_lines_serial_idx ON pickup_lines (tenant_id, order_id, serial) WHERE serial IS NOT NULL;
CREATE INDEX pickup_lines_asset_tag_idx ON pickup_lines (tenant_id, order_id, asset_tag) WHERE asset_tag IS NOT NULL;
CREATE INDEX pickup_lines_asset_idx ON pickup_lines (tenant_id, asset_id, order_id);

CREATE TABLE pickup_scans (
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
CREATE INDEX pickup_scans_order_idx ON pickup_scans (tenant_id, order_id, phase, scanned_at, id);
CREATE INDEX pickup_scans_matched_idx ON pickup_scans (tenant_id, order_id, phase, line_asset_id)
    WHERE result = 'MATCHED';

-- +goose Down
DROP TABLE IF EXISTS pickup_scans;
DROP TABLE IF EXISTS pickup_lines;
DROP TABLE IF EXISTS pickup_orders;
