-- ITAD vendors: the organisations a tenant engages to pick up, sanitize and
-- certify the disposal of retired assets, and the link from a vendor's staff
-- (members with the itad_vendor role) to their vendor. Same conventions as
-- 00001: tenant_id leads every key and index, foreign keys carry tenant_id,
-- RLS on every table.
--
-- certifications is the list the tenant verified, sorted by scheme:
-- [{"scheme": "R2V3", "number": "R2-0042", "expiresOn": "2027-06-30"}, ...],
-- expiresOn a calendar date. It is only ever read and written whole, with
-- its vendor, so it is a column rather than a table.

-- +goose Up
CREATE TABLE vendors (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL,
    name           text        NOT NULL,
    contact_email  text        NOT NULL,
    certifications jsonb       NOT NULL,
    engaged_at     timestamptz NOT NULL,
    engaged_by_id  uuid        NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        integer     NOT NULL,
    CONSTRAINT vendors_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT vendors_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT vendors_engaged_by_fkey FOREIGN KEY (tenant_id, engaged_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT vendors_name_check CHECK (name <> ''),
    CONSTRAINT vendors_certifications_check CHECK (jsonb_typeof(certifications) = 'array')
);
-- One record per vendor and tenant, whatever the case of its name
-- (CreateVendor, UpdateVendor: DuplicateError "name").
CREATE UNIQUE INDEX vendors_name_key ON vendors (tenant_id, lower(name));

-- The vendor an itad_vendor member works for; NULL for everyone else.
-- Written once, with the member.
ALTER TABLE members ADD COLUMN vendor_id uuid;
ALTER TABLE members ADD CONSTRAINT members_vendor_fkey
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id);
CREATE INDEX members_vendor_idx ON members (tenant_id, vendor_id, id) WHERE vendor_id IS NOT NULL;

ALTER TABLE vendors ENABLE ROW LEVEL SECURITY;
ALTER TABLE vendors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON vendors
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

-- Vendors change (certification renewals) but are never deleted: pickups
-- and certificates will refer to them.
GRANT SELECT, INSERT, UPDATE ON vendors TO custody_app;

-- +goose Down
DROP INDEX IF EXISTS members_vendor_idx;
ALTER TABLE members DROP CONSTRAINT IF EXISTS members_vendor_fkey;
ALTER TABLE members DROP COLUMN IF EXISTS vendor_id;
DROP TABLE IF EXISTS vendors;
