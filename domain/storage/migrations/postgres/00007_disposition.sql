-- ITAD disposition: the dock pickup and the vendor's receipt (the scans of
-- those phases, IT's resolutions of their discrepancies, the two pickup
-- signatures), the vendor's per-serial sanitization records and outcomes,
-- its certificate, the ITAM write-back, and the tenant's time-bound
-- triggers (SLA policy and the breaches it raises). Same conventions as
-- 00001: tenant_id leads every key and index, foreign keys carry tenant_id,
-- RLS on every table.
--
-- The CHECKs of 00006 are widened in place (they were named for this).
-- Outcomes live on their manifest line: there is one per line, read with
-- it, so it is columns rather than a table. outcome_kind is NULL until the
-- vendor records one, and then the time and the member are set too.

-- +goose Up
ALTER TABLE pickup_orders
    DROP CONSTRAINT pickup_orders_state_check,
    ADD CONSTRAINT pickup_orders_state_check CHECK (state IN ('OPEN', 'PICKED_UP', 'RECEIVED', 'CERTIFIED', 'CLOSED')),
    ADD COLUMN picked_up_at timestamptz,
    ADD COLUMN received_at  timestamptz,
    ADD COLUMN certified_at timestamptz,
    ADD COLUMN closed_at    timestamptz;

ALTER TABLE pickup_lines
    DROP CONSTRAINT pickup_lines_status_check,
    ADD CONSTRAINT pickup_lines_status_check
        CHECK (status IN ('STAGED', 'REMOVED', 'PICKED_UP', 'RECEIVED', 'LOST', 'WRITTEN_BACK')),
    ADD COLUMN status_reason                    text NOT NULL DEFAULT '',
    ADD COLUMN outcome_kind                     text,
    ADD COLUMN outcome_buyer                    text NOT NULL DEFAULT '',
    ADD COLUMN outcome_buyer_country            text NOT NULL DEFAULT '',
    ADD COLUMN outcome_downstream_vendor        text NOT NULL DEFAULT '',
    ADD COLUMN outcome_downstream_certification text NOT NULL DEFAULT '',
    ADD COLUMN outcome_note                     text NOT NULL DEFAULT '',
    ADD COLUMN outcome_at                       timestamptz,
    ADD COLUMN outcome_by_id                    uuid,
    ADD COLUMN written_back_at                  timestamptz,
    ADD COLUMN written_back_by_id               uuid,
    ADD CONSTRAINT pickup_lines_outcome_by_fkey FOREIGN KEY (tenant_id, outcome_by_id) REFERENCES members (tenant_id, id),
    ADD CONSTRAINT pickup_lines_written_back_by_fkey
        FOREIGN KEY (tenant_id, written_back_by_id) REFERENCES members (tenant_id, id),
    ADD CONSTRAINT pickup_lines_outcome_kind_check
        CHECK (outcome_kind IN ('REUSED', 'REMARKETED', 'EXPORTED', 'RECYCLED', 'DESTROYED')),
    ADD CONSTRAINT pickup_lines_outcome_check
        CHECK ((outcome_kind IS NULL) = (outcome_at IS NULL) AND (outcome_kind IS NULL) = (outcome_by_id IS NULL)),
    ADD CONSTRAINT pickup_lines_written_back_check CHECK ((written_back_at IS NULL) = (written_back_by_id IS NULL));
-- ListDispositionLines: the lines with an outcome recorded in a date range.
CREATE INDEX pickup_lines_outcome_idx ON pickup_lines (tenant_id, outcome_at, order_id, asset_id)
    WHERE outcome_kind IS NOT NULL;

ALTER TABLE pickup_scans
    DROP CONSTRAINT pickup_scans_phase_check,
    ADD CONSTRAINT pickup_scans_phase_check CHECK (phase IN ('COUNT', 'PICKUP', 'RECEIPT'));

-- IT's decision about one discrepancy of a phase, written once: about a
-- scan that did not match (scan_id), or about a line no scan matched
-- (scan_id NULL, asset_id the line). asset_id is the line concerned, if
-- any: always a line of the same order (the foreign key to pickup_lines).
CREATE TABLE pickup_resolutions (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL,
    order_id       uuid        NOT NULL,
    phase          text        NOT NULL,
    scan_id        uuid,
    asset_id       uuid,
    action         text        NOT NULL,
    reason         text        NOT NULL,
    resolved_by_id uuid        NOT NULL,
    resolved_at    timestamptz NOT NULL,
    CONSTRAINT pickup_resolutions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT pickup_resolutions_order_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    CONSTRAINT pickup_resolutions_scan_fkey FOREIGN KEY (tenant_id, scan_id) REFERENCES pickup_scans (tenant_id, id),
    CONSTRAINT pickup_resolutions_line_fkey FOREIGN KEY (tenant_id, order_id, asset_id)
        REFERENCES pickup_lines (tenant_id, order_id, asset_id),
    CONSTRAINT pickup_resolutions_resolved_by_fkey
        FOREIGN KEY (tenant_id, resolved_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_resolutions_phase_check CHECK (phase IN ('COUNT', 'PICKUP', 'RECEIPT')),
    CONSTRAINT pickup_resolutions_action_check CHECK (action IN ('ACCEPT', 'REMOVE', 'LOST')),
    CONSTRAINT pickup_resolutions_subject_check CHECK (scan_id IS NOT NULL OR asset_id IS NOT NULL)
);
-- One resolution per discrepancy (CreateResolution: DuplicateError
-- "resolution"), even from concurrent transactions: per scan, or per
-- missing line and phase.
CREATE UNIQUE INDEX pickup_resolutions_scan_key ON pickup_resolutions (tenant_id, scan_id) WHERE scan_id IS NOT NULL;
CREATE UNIQUE INDEX pickup_resolutions_line_key ON pickup_resolutions (tenant_id, order_id, phase, asset_id)
    WHERE scan_id IS NULL;
-- ListResolutions: an order's resolutions of one phase in resolution order.
CREATE INDEX pickup_resolutions_order_idx ON pickup_resolutions (tenant_id, order_id, phase, resolved_at, id);

-- The two signatures that confirm a pickup, one per role: the columns of
-- signatures (00001), but the signer is a member, not an employee.
CREATE TABLE pickup_signatures (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    order_id         uuid        NOT NULL,
    role             text        NOT NULL,
    signer_member_id uuid        NOT NULL,
    typed_name       text        NOT NULL,
    image_type       text        NOT NULL,
    image            bytea       NOT NULL,
    image_sha256     text        NOT NULL,
    consent_text     text        NOT NULL,
    consent_version  text        NOT NULL,
    consent_sha256   text        NOT NULL,
    method           text        NOT NULL,
    device_id        text        NOT NULL,
    ip_address       text        NOT NULL,
    user_agent       text        NOT NULL,
    device_time      timestamptz,
    signed_at        timestamptz NOT NULL,
    captured_by_id   uuid        NOT NULL,
    CONSTRAINT pickup_signatures_pkey PRIMARY KEY (tenant_id, id),
    -- One signature per role and order (DuplicateError "signature"); also
    -- ListPickupSignatures' index.
    CONSTRAINT pickup_signatures_role_key UNIQUE (tenant_id, order_id, role),
    CONSTRAINT pickup_signatures_order_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    CONSTRAINT pickup_signatures_signer_fkey FOREIGN KEY (tenant_id, signer_member_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_signatures_captured_by_fkey
        FOREIGN KEY (tenant_id, captured_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT pickup_signatures_role_check CHECK (role IN ('TECHNICIAN', 'STAFF'))
);

-- The vendor's record of how one asset's media were sanitized (NIST SP
-- 800-88), one per manifest line, written once (DuplicateError
-- "sanitization"), with the custody event it produced.
CREATE TABLE sanitization_records (
    tenant_id           uuid        NOT NULL,
    order_id            uuid        NOT NULL,
    asset_id            uuid        NOT NULL,
    method              text        NOT NULL,
    technique           text        NOT NULL,
    tool                text        NOT NULL,
    tool_version        text        NOT NULL,
    verification_method text        NOT NULL,
    verification_result text        NOT NULL,
    performed_at        timestamptz NOT NULL,
    technician_name     text        NOT NULL,
    attested_at         timestamptz NOT NULL,
    validator_name      text        NOT NULL,
    validated_at        timestamptz NOT NULL,
    recorded_by_id      uuid        NOT NULL,
    recorded_at         timestamptz NOT NULL,
    event_id            uuid        NOT NULL,
    CONSTRAINT sanitization_records_pkey PRIMARY KEY (tenant_id, order_id, asset_id),
    CONSTRAINT sanitization_records_line_fkey FOREIGN KEY (tenant_id, order_id, asset_id)
        REFERENCES pickup_lines (tenant_id, order_id, asset_id),
    CONSTRAINT sanitization_records_recorded_by_fkey
        FOREIGN KEY (tenant_id, recorded_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT sanitization_records_event_fkey FOREIGN KEY (tenant_id, event_id) REFERENCES custody_events (tenant_id, id),
    CONSTRAINT sanitization_records_method_check CHECK (method IN ('CLEAR', 'PURGE', 'DESTROY')),
    CONSTRAINT sanitization_records_result_check CHECK (verification_result IN ('PASSED', 'FAILED'))
);

-- A vendor's certificate of sanitization and destruction, one per order,
-- its number unique in the tenant (DuplicateError "certificate"). digest is
-- the hex SHA-256 of the certificate document, sealed by the event; document
-- is that document as issued (canonical JSON, the very bytes hashed: text,
-- not jsonb, which would rewrite them), so that later changes to the vendor
-- or to names do not change what the certificate states.
CREATE TABLE certificates (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    order_id     uuid        NOT NULL,
    vendor_id    uuid        NOT NULL,
    number       text        NOT NULL,
    issued_at    timestamptz NOT NULL,
    issued_by_id uuid        NOT NULL,
    digest       text        NOT NULL,
    event_id     uuid        NOT NULL,
    document     text        NOT NULL,
    CONSTRAINT certificates_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT certificates_order_key UNIQUE (tenant_id, order_id),
    CONSTRAINT certificates_number_key UNIQUE (tenant_id, number),
    CONSTRAINT certificates_order_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES pickup_orders (tenant_id, id),
    CONSTRAINT certificates_vendor_fkey FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id),
    CONSTRAINT certificates_issued_by_fkey FOREIGN KEY (tenant_id, issued_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT certificates_event_fkey FOREIGN KEY (tenant_id, event_id) REFERENCES custody_events (tenant_id, id),
    CONSTRAINT certificates_number_check CHECK (number <> ''),
    CONSTRAINT certificates_digest_check CHECK (digest ~ '^[0-9a-f]{64}$'),
    CONSTRAINT certificates_document_check CHECK (document <> '')
);
-- ListCertificates of one vendor, in id order for the keyset.
CREATE INDEX certificates_vendor_idx ON certificates (tenant_id, vendor_id, id);

-- A tenant's time-bound triggers, in days; absent until the tenant sets
-- them (the defaults apply). Optimistic updates on version.
CREATE TABLE sla_policies (
    tenant_id                      uuid        NOT NULL,
    retired_to_staged_days         integer     NOT NULL,
    staged_to_picked_up_days       integer     NOT NULL,
    picked_up_to_certificate_days  integer     NOT NULL,
    certificate_to_write_back_days integer     NOT NULL,
    offboarding_due_days           integer     NOT NULL,
    updated_at                     timestamptz NOT NULL,
    updated_by_id                  uuid        NOT NULL,
    version                        integer     NOT NULL,
    CONSTRAINT sla_policies_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT sla_policies_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT sla_policies_updated_by_fkey FOREIGN KEY (tenant_id, updated_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT sla_policies_days_check CHECK (
        retired_to_staged_days BETWEEN 1 AND 3650 AND staged_to_picked_up_days BETWEEN 1 AND 3650
        AND picked_up_to_certificate_days BETWEEN 1 AND 3650 AND certificate_to_write_back_days BETWEEN 1 AND 3650
        AND offboarding_due_days BETWEEN 1 AND 3650),
    CONSTRAINT sla_policies_version_check CHECK (version >= 1)
);

-- One record overstayed one stage's window, raised at most once per
-- (subject, stage): the unique key is what CreateBreach's
-- ON CONFLICT DO NOTHING relies on, so concurrent sweeps raise it once.
-- subject_id names an asset, a pickup order or an off-boarding case
-- (subject_kind), so it has no foreign key.
CREATE TABLE sla_breaches (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    stage        text        NOT NULL,
    subject_kind text        NOT NULL,
    subject_id   uuid        NOT NULL,
    since        timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    raised_at    timestamptz NOT NULL,
    event_id     uuid,
    CONSTRAINT sla_breaches_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT sla_breaches_subject_key UNIQUE (tenant_id, subject_kind, subject_id, stage),
    CONSTRAINT sla_breaches_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT sla_breaches_event_fkey FOREIGN KEY (tenant_id, event_id) REFERENCES custody_events (tenant_id, id),
    CONSTRAINT sla_breaches_stage_check CHECK (stage IN ('RETIRED_TO_STAGED', 'STAGED_TO_PICKED_UP',
        'PICKED_UP_TO_CERTIFICATE', 'CERTIFICATE_TO_WRITE_BACK', 'OFFBOARDING_DUE')),
    CONSTRAINT sla_breaches_subject_kind_check CHECK (subject_kind IN ('ASSET', 'PICKUP_ORDER', 'OFFBOARDING_CASE'))
);
-- ListBreaches of one stage, in id order for the keyset (by subject: the
-- unique key).
CREATE INDEX sla_breaches_stage_idx ON sla_breaches (tenant_id, stage, id);

-- ServiceMember finds the server's own service member of a tenant by name.
CREATE INDEX members_service_name_idx ON members (tenant_id, name) WHERE kind = 'SERVICE';

ALTER TABLE pickup_resolutions ENABLE ROW LEVEL SECURITY;
ALTER TABLE pickup_resolutions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pickup_resolutions
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE pickup_signatures ENABLE ROW LEVEL SECURITY;
ALTER TABLE pickup_signatures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pickup_signatures
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE sanitization_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE sanitization_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sanitization_records
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE certificates ENABLE ROW LEVEL SECURITY;
ALTER TABLE certificates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON certificates
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE sla_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE sla_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sla_policies
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE sla_breaches ENABLE ROW LEVEL SECURITY;
ALTER TABLE sla_breaches FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sla_breaches
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

-- Every tenant, for the SLA sweeper (ListTenants), which visits each before
-- any tenant is in scope: SECURITY DEFINER, like custody_tenant_by_slug
-- (00001), whose owner-only policy on tenants it relies on.
-- +goose StatementBegin
DO $do$
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION custody_tenants()
        RETURNS TABLE (id uuid, slug text, name text, created_at timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = %I, pg_temp
        AS $body$
            SELECT t.id, t.slug, t.name, t.created_at FROM tenants t
        $body$
    $f$, current_schema());
END
$do$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION custody_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION custody_tenants() TO custody_app;

-- Resolutions, signatures, sanitization records, certificates and breaches
-- are written once; the policy changes. No DELETE anywhere.
GRANT SELECT, INSERT ON pickup_resolutions, pickup_signatures, sanitization_records, certificates, sla_breaches
    TO custody_app;
GRANT SELECT, INSERT, UPDATE ON sla_policies TO custody_app;

-- +goose Down
-- Fails, rather than loses data, when orders, lines or scans have reached
-- the states this migration added.
DROP FUNCTION IF EXISTS custody_tenants();
DROP INDEX IF EXISTS members_service_name_idx;
DROP TABLE IF EXISTS sla_breaches, sla_policies, certificates, sanitization_records, pickup_signatures,
    pickup_resolutions;
ALTER TABLE pickup_scans
    DROP CONSTRAINT pickup_scans_phase_check,
    ADD CONSTRAINT pickup_scans_phase_check CHECK (phase IN ('COUNT'));
DROP INDEX IF EXISTS pickup_lines_outcome_idx;
ALTER TABLE pickup_lines
    DROP CONSTRAINT pickup_lines_status_check,
    ADD CONSTRAINT pickup_lines_status_check CHECK (status IN ('STAGED', 'REMOVED')),
    DROP COLUMN status_reason,
    DROP COLUMN outcome_kind,
    DROP COLUMN outcome_buyer,
    DROP COLUMN outcome_buyer_country,
    DROP COLUMN outcome_downstream_vendor,
    DROP COLUMN outcome_downstream_certification,
    DROP COLUMN outcome_note,
    DROP COLUMN outcome_at,
    DROP COLUMN outcome_by_id,
    DROP COLUMN written_back_at,
    DROP COLUMN written_back_by_id;
ALTER TABLE pickup_orders
    DROP CONSTRAINT pickup_orders_state_check,
    ADD CONSTRAINT pickup_orders_state_check CHECK (state IN ('OPEN')),
    DROP COLUMN picked_up_at,
    DROP COLUMN received_at,
    DROP COLUMN certified_at,
    DROP COLUMN closed_at;
