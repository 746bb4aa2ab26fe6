-- Custody schema, PostgreSQL. Run as the table owner (custody migrate,
-- Config.MigrationURL); the server connects as custody_app, which owns nothing
-- and cannot bypass row-level security.
--
-- Conventions: every tenant-owned table leads its primary key and every index
-- with tenant_id (ready for sharding by tenant); foreign keys include tenant_id
-- so a row can never point into another tenant; absent optional references
-- and identifiers are NULL, never ''.

-- +goose Up

-- The application role. Roles are cluster-wide, so another database of the
-- same cluster may have created it already, possibly at this very moment.
-- It gets no password here: operators set one (ALTER ROLE custody_app PASSWORD ...).
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'custody_app') THEN
        BEGIN
            CREATE ROLE custody_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE tenants (
    id         uuid        NOT NULL,
    slug       text        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_slug_key UNIQUE (slug),
    CONSTRAINT tenants_slug_check CHECK (slug <> '')
);

-- The size of each tenant's custody log: the last sequence number handed out.
-- AppendEvent increments it under its row lock, which serialises the appends
-- of one tenant and keeps the sequence gapless (a rollback undoes the increment).
CREATE TABLE ledger_heads (
    tenant_id uuid   NOT NULL,
    size      bigint NOT NULL DEFAULT 0,
    CONSTRAINT ledger_heads_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT ledger_heads_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT ledger_heads_size_check CHECK (size >= 0)
);

CREATE TABLE members (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    kind       text        NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT members_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT members_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

CREATE TABLE member_roles (
    tenant_id uuid NOT NULL,
    member_id uuid NOT NULL,
    role      text NOT NULL,
    CONSTRAINT member_roles_pkey PRIMARY KEY (tenant_id, member_id, role),
    CONSTRAINT member_roles_member_fkey FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);

CREATE TABLE api_tokens (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    member_id  uuid        NOT NULL,
    name       text        NOT NULL,
    token_hash bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_tokens_hash_key UNIQUE (tenant_id, token_hash),
    CONSTRAINT api_tokens_member_fkey FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id),
    CONSTRAINT api_tokens_hash_check CHECK (length(token_hash) = 32)
);

CREATE TABLE people (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    employee_id text        NOT NULL,
    name        text        NOT NULL,
    email       text        NOT NULL,
    department  text        NOT NULL,
    status      text        NOT NULL,
    version     integer     NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT people_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT people_employee_id_key UNIQUE (tenant_id, employee_id),
    CONSTRAINT people_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);
CREATE UNIQUE INDEX people_email_key ON people (tenant_id, lower(email));
CREATE INDEX people_status_idx ON people (tenant_id, status, id);

CREATE TABLE parcels (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    carrier         text        NOT NULL,
    tracking_number text        NOT NULL,
    sender          text        NOT NULL,
    recipient_id    uuid        NOT NULL,
    location        text        NOT NULL,
    note            text        NOT NULL,
    state           text        NOT NULL,
    received_by_id  uuid        NOT NULL,
    received_at     timestamptz NOT NULL,
    version         integer     NOT NULL,
    CONSTRAINT parcels_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT parcels_recipient_fkey FOREIGN KEY (tenant_id, recipient_id) REFERENCES people (tenant_id, id),
    CONSTRAINT parcels_received_by_fkey FOREIGN KEY (tenant_id, received_by_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX parcels_state_idx ON parcels (tenant_id, state, id);
CREATE INDEX parcels_recipient_idx ON parcels (tenant_id, recipient_id, id);

CREATE TABLE assets (
    tenant_id             uuid        NOT NULL,
    id                    uuid        NOT NULL,
    parcel_id             uuid,
    serial                text,
    asset_tag             text,
    make                  text        NOT NULL,
    model                 text        NOT NULL,
    category              text        NOT NULL,
    bears_data            boolean     NOT NULL,
    itam_ref              text        NOT NULL,
    condition             text        NOT NULL,
    state                 text        NOT NULL,
    custodian_kind        text        NOT NULL,
    custodian_ref         text        NOT NULL,
    intended_recipient_id uuid,
    deployed_at           timestamptz,
    last_event_id         uuid,
    version               integer     NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    CONSTRAINT assets_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT assets_serial_key UNIQUE (tenant_id, serial),
    CONSTRAINT assets_asset_tag_key UNIQUE (tenant_id, asset_tag),
    CONSTRAINT assets_identifier_check CHECK (serial IS NOT NULL OR asset_tag IS NOT NULL),
    CONSTRAINT assets_parcel_fkey FOREIGN KEY (tenant_id, parcel_id) REFERENCES parcels (tenant_id, id),
    CONSTRAINT assets_intended_recipient_fkey FOREIGN KEY (tenant_id, intended_recipient_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX assets_state_idx ON assets (tenant_id, state, id);
CREATE INDEX assets_custodian_idx ON assets (tenant_id, custodian_kind, custodian_ref, id);
CREATE INDEX assets_parcel_idx ON assets (tenant_id, parcel_id, id);

CREATE TABLE signatures (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    signer_id       uuid        NOT NULL,
    typed_name      text        NOT NULL,
    image_type      text        NOT NULL,
    image           bytea       NOT NULL,
    image_sha256    text        NOT NULL,
    consent_text    text        NOT NULL,
    consent_version text        NOT NULL,
    consent_sha256  text        NOT NULL,
    method          text        NOT NULL,
    device_id       text        NOT NULL,
    ip_address      text        NOT NULL,
    user_agent      text        NOT NULL,
    device_time     timestamptz,
    signed_at       timestamptz NOT NULL,
    captured_by_id  uuid        NOT NULL,
    CONSTRAINT signatures_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT signatures_signer_fkey FOREIGN KEY (tenant_id, signer_id) REFERENCES people (tenant_id, id),
    CONSTRAINT signatures_captured_by_fkey FOREIGN KEY (tenant_id, captured_by_id) REFERENCES members (tenant_id, id)
);

-- The custody log. Append-only: the triggers below refuse UPDATE, DELETE and
-- TRUNCATE for everyone, and custody_app is granted only SELECT and INSERT.
-- details is canonical JSON text (sorted keys), kept as text rather than jsonb
-- so the stored bytes are exactly the ones the ledger hashes.
CREATE TABLE custody_events (
    tenant_id           uuid        NOT NULL,
    id                  uuid        NOT NULL,
    seq                 bigint      NOT NULL,
    asset_id            uuid,
    parcel_id           uuid,
    type                text        NOT NULL,
    from_state          text,
    to_state            text,
    from_custodian_kind text        NOT NULL,
    from_custodian_ref  text        NOT NULL,
    to_custodian_kind   text        NOT NULL,
    to_custodian_ref    text        NOT NULL,
    actor_id            uuid        NOT NULL,
    location            text        NOT NULL,
    device_time         timestamptz,
    recorded_at         timestamptz NOT NULL,
    signature_id        uuid,
    details             text        NOT NULL,
    CONSTRAINT custody_events_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT custody_events_seq_key UNIQUE (tenant_id, seq),
    CONSTRAINT custody_events_seq_check CHECK (seq > 0),
    CONSTRAINT custody_events_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT custody_events_asset_fkey FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id),
    CONSTRAINT custody_events_parcel_fkey FOREIGN KEY (tenant_id, parcel_id) REFERENCES parcels (tenant_id, id),
    CONSTRAINT custody_events_actor_fkey FOREIGN KEY (tenant_id, actor_id) REFERENCES members (tenant_id, id),
    CONSTRAINT custody_events_signature_fkey FOREIGN KEY (tenant_id, signature_id) REFERENCES signatures (tenant_id, id)
);
CREATE INDEX custody_events_asset_idx ON custody_events (tenant_id, asset_id, seq);
-- An asset's history starts with its parcel's receipt at the dock.
CREATE INDEX custody_events_parcel_idx ON custody_events (tenant_id, parcel_id, seq);

ALTER TABLE assets ADD CONSTRAINT assets_last_event_fkey
    FOREIGN KEY (tenant_id, last_event_id) REFERENCES custody_events (tenant_id, id);

-- +goose StatementBegin
CREATE FUNCTION custody_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'custody events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER custody_events_no_update_delete
    BEFORE UPDATE OR DELETE ON custody_events
    FOR EACH ROW EXECUTE FUNCTION custody_events_append_only();
CREATE TRIGGER custody_events_no_truncate
    BEFORE TRUNCATE ON custody_events
    FOR EACH STATEMENT EXECUTE FUNCTION custody_events_append_only();

-- Stored results of idempotent mutations; result is NULL until the first
-- attempt completes.
CREATE TABLE idempotency_keys (
    tenant_id       uuid        NOT NULL,
    operation       text        NOT NULL,
    idempotency_key text        NOT NULL,
    request_hash    text        NOT NULL,
    result          bytea,
    created_at      timestamptz NOT NULL,
    completed_at    timestamptz,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant_id, operation, idempotency_key),
    CONSTRAINT idempotency_keys_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

-- Row-level security, the second wall behind the application's own scoping.
-- Each transaction of the adapter first runs
--   SELECT set_config('custody.tenant_id', <tenant>, true)
-- and every policy compares against that setting. NULLIF: once a session has
-- set the variable, it reads '' (not NULL) after the transaction, which must
-- mean "no tenant" (no rows), not a cast error. FORCE applies the policies to
-- the table owner too.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);
-- The owner (the role running this migration) reads every tenant: that is
-- what lets the SECURITY DEFINER lookup by slug below work under FORCE.
CREATE POLICY tenants_owner_lookup ON tenants FOR SELECT TO CURRENT_USER USING (true);

ALTER TABLE ledger_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ledger_heads
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE members ENABLE ROW LEVEL SECURITY;
ALTER TABLE members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON members
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE member_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE member_roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON member_roles
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_tokens
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE people ENABLE ROW LEVEL SECURITY;
ALTER TABLE people FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON people
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE parcels ENABLE ROW LEVEL SECURITY;
ALTER TABLE parcels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON parcels
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE assets ENABLE ROW LEVEL SECURITY;
ALTER TABLE assets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON assets
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE signatures ENABLE ROW LEVEL SECURITY;
ALTER TABLE signatures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON signatures
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE custody_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE custody_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON custody_events
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

-- Resolves a tenant by slug before any tenant is known (the CLI's
-- --tenant <slug>). SECURITY DEFINER runs it as the owner; search_path is
-- pinned to this schema (pg_temp last) so callers cannot shadow tenants.
-- +goose StatementBegin
DO $do$
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION custody_tenant_by_slug(p_slug text)
        RETURNS TABLE (id uuid, slug text, name text, created_at timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = %I, pg_temp
        AS $body$
            SELECT t.id, t.slug, t.name, t.created_at FROM tenants t WHERE t.slug = p_slug
        $body$
    $f$, current_schema());
END
$do$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION custody_tenant_by_slug(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION custody_tenant_by_slug(text) TO custody_app;

-- Least privilege for the application role: no DELETE anywhere, no UPDATE
-- of what is written once (tenants, members, roles, signatures, events).
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO custody_app', current_schema());
END
$$;
-- +goose StatementEnd
GRANT SELECT, INSERT ON tenants, members, member_roles, signatures, custody_events TO custody_app;
GRANT SELECT, INSERT, UPDATE ON ledger_heads, api_tokens, people, parcels, assets, idempotency_keys TO custody_app;

-- +goose Down
DROP FUNCTION IF EXISTS custody_tenant_by_slug(text);
DROP TABLE IF EXISTS idempotency_keys, custody_events, signatures, assets, parcels, people,
    api_tokens, member_roles, members, ledger_heads, tenants CASCADE;
DROP FUNCTION IF EXISTS custody_events_append_only();
-- The role custody_app is cluster-wide and may serve other databases: it is kept.
