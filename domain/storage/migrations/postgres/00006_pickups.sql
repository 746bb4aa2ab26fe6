-- ITAD pickup orders: a planned collection of retired assets by one vendor,
-- its manifest (the lines: the assets staged onto it, with the identifiers
-- and description the vendor works from, copied when staged) and the scans
-- taken against that manifest. Same conventions as 00001: tenant_id leads
-- every key and index, foreign keys carry tenant_id, RLS on every table.
--
-- The enum CHECKs hold the values of today (state OPEN; phase COUNT); the
-- dock pickup, the vendor's receipt and the certificate will add more. Each
-- is a named constraint so that their migration can replace it in place:
--   ALTER TABLE pickup_orders DROP CONSTRAINT pickup_orders_state_check,
--       ADD CONSTRAINT pickup_orders_state_check CHECK (state IN (...));
-- (SQLite cannot, and rebuilds the table: see sqlite/00006_pickups.sql.)
--
-- scheduled_on is a calendar date stored as midnight UTC, as in 00003.

-- +goose Up
CREATE TABLE pickup_orders (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    vendor_id     uuid        NOT NULL,
    scheduled_on  timestamptz NOT NULL,
    state         text        NOT NULL,
    note          text        NOT NULL,
    created_by_id uuid        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       integer     NOT NULL,
    CONSTRAINT pickup_orders_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT pickup_orders_vendor_fkey FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id),
    CONSTRAINT pickup_orders_created_by_fkey FOREIGN KEY (tenant_id, created_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_orders_state_check CHECK (state IN ('OPEN')),
    CONSTRAINT pickup_orders_scheduled_on_check CHECK (scheduled_on = date_trunc('day', scheduled_on, 'UTC'))
);
-- ListPickupOrders: by vendor (a vendor's staff see only theirs) or by
-- state, in id order for the keyset.
CREATE INDEX pickup_orders_vendor_idx ON pickup_orders (tenant_id, vendor_id, id);
CREATE INDEX pickup_orders_state_idx ON pickup_orders (tenant_id, state, id);

-- One asset on an order's manifest. PutPickupLine upserts on the key; a
-- line taken off the order stays, REMOVED. serial and asset_tag are NULL
-- when the asset has none, so that the identifier indexes hold only real
-- identifiers and an empty one can never match.
CREATE TABLE pickup_lines (
    tenant_id    uuid        NOT NULL,
    order_id     uuid        NOT NULL,
    asset_id     uuid        NOT NULL,
    serial       text,
    asset_tag    text,
    make         text        NOT NULL,
    model        text        NOT NULL,
    category     text        NOT NULL,
    bears_data   boolean     NOT NULL,
    status       text        NOT NULL,
    staged_at    timestamptz NOT NULL,
    staged_by_id uuid        NOT NULL,
    CONSTRAINT pickup_lines_pkey PRIMARY KEY (tenant_id, order_id, asset_id),
    CONSTRAINT pickup_lines_order_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    CONSTRAINT pickup_lines_asset_fkey FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id),
    CONSTRAINT pickup_lines_staged_by_fkey FOREIGN KEY (tenant_id, staged_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_lines_status_check CHECK (status IN ('STAGED', 'REMOVED')),
    CONSTRAINT pickup_lines_identifiers_check CHECK (serial <> '' AND asset_tag <> '')
);
-- FindPickupLines: a scan names a line by serial or by tag.
CREATE INDEX pickup_lines_serial_idx ON pickup_lines (tenant_id, order_id, serial) WHERE serial IS NOT NULL;
CREATE INDEX pickup_lines_asset_tag_idx ON pickup_lines (tenant_id, order_id, asset_tag) WHERE asset_tag IS NOT NULL;
-- The orders an asset was staged on (and the asset foreign key's checks).
CREATE INDEX pickup_lines_asset_idx ON pickup_lines (tenant_id, asset_id, order_id);

-- One scan of an item against an order's manifest, written once.
-- line_asset_id is the manifest line the scan matched or was taken for:
-- always a line of the same order (the foreign key to pickup_lines), and
-- absent exactly when nothing scanned is on the manifest (UNEXPECTED).
CREATE TABLE pickup_scans (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    order_id      uuid        NOT NULL,
    phase         text        NOT NULL,
    serial        text,
    asset_tag     text,
    model         text        NOT NULL,
    result        text        NOT NULL,
    line_asset_id uuid,
    detail        text        NOT NULL,
    scanned_by_id uuid        NOT NULL,
    scanned_at    timestamptz NOT NULL,
    device_time   timestamptz,
    CONSTRAINT pickup_scans_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT pickup_scans_order_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    CONSTRAINT pickup_scans_line_fkey FOREIGN KEY (tenant_id, order_id, line_asset_id)
        REFERENCES pickup_lines (tenant_id, order_id, asset_id),
    CONSTRAINT pickup_scans_scanned_by_fkey FOREIGN KEY (tenant_id, scanned_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_scans_phase_check CHECK (phase IN ('COUNT')),
    CONSTRAINT pickup_scans_result_check CHECK (result IN ('MATCHED', 'UNEXPECTED', 'SUBSTITUTED', 'DUPLICATE')),
    CONSTRAINT pickup_scans_line_check CHECK ((result = 'UNEXPECTED') = (line_asset_id IS NULL)),
    CONSTRAINT pickup_scans_identifiers_check CHECK (
        serial <> '' AND asset_tag <> '' AND (serial IS NOT NULL OR asset_tag IS NOT NULL))
);
-- ListPickupScans: an order's scans of one phase in scan order.
CREATE INDEX pickup_scans_order_idx ON pickup_scans (tenant_id, order_id, phase, scanned_at, id);
-- MatchedInPhase: whether a line is already counted. Only matches are
-- asked about, so a partial index.
CREATE INDEX pickup_scans_matched_idx ON pickup_scans (tenant_id, order_id, phase, line_asset_id)
    WHERE result = 'MATCHED';

ALTER TABLE pickup_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE pickup_orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pickup_orders
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE pickup_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE pickup_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pickup_lines
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE pickup_scans ENABLE ROW LEVEL SECURITY;
ALTER TABLE pickup_scans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pickup_scans
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

-- Scans are written once; orders change state and lines their status. No
-- DELETE: a removed line stays, REMOVED. SELECT ... FOR UPDATE
-- (LockPickupOrder) and the lines' upsert need UPDATE.
GRANT SELECT, INSERT ON pickup_scans TO custody_app;
GRANT SELECT, INSERT, UPDATE ON pickup_orders, pickup_lines TO custody_app;

-- +goose Down
DROP TABLE IF EXISTS pickup_scans, pickup_lines, pickup_orders;
