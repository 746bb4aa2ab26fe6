-- The tamper-evident ledger: each tenant's custody log as an RFC 6962 Merkle
-- tree (golang.org/x/mod/sumdb/tlog), its signed checkpoints and the keys
-- that sign them. Same conventions as 00001: tenant_id leads every key and
-- index, foreign keys carry tenant_id, RLS on every table.
--
-- The migration assumes the tenants' logs are empty (no custody event was
-- recorded before it): earlier events would have no stored hashes, and
-- appending after them would fail.

-- +goose Up

-- The stored hashes of each tenant's tree, at the dense index of
-- tlog.StoredHashIndex: AppendEvent writes the leaf hash of event seq at
-- StoredHashIndex(0, seq-1) and the hashes of the subtrees it completes right
-- after it, in the event's own transaction. Append-only like the log itself.
CREATE TABLE ledger_hashes (
    tenant_id uuid   NOT NULL,
    idx       bigint NOT NULL,
    hash      bytea  NOT NULL,
    CONSTRAINT ledger_hashes_pkey PRIMARY KEY (tenant_id, idx),
    CONSTRAINT ledger_hashes_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT ledger_hashes_idx_check CHECK (idx >= 0),
    CONSTRAINT ledger_hashes_hash_check CHECK (length(hash) = 32)
);

-- Checkpoint signing keys (Ed25519, note format). The private half is sealed
-- under the server's master key. A key is never deleted, and only ever
-- changes once: when it is retired. Its public half must outlive it, or the
-- receipts it signed could no longer be verified. At most one key per
-- tenant is active (not retired).
CREATE TABLE ledger_keys (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    verifier_key  text        NOT NULL,
    sealed_signer bytea       NOT NULL,
    created_at    timestamptz NOT NULL,
    retired_at    timestamptz,
    CONSTRAINT ledger_keys_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT ledger_keys_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);
CREATE UNIQUE INDEX ledger_keys_active_key ON ledger_keys (tenant_id) WHERE retired_at IS NULL;

-- Signed checkpoints: a tree size, its root and the signed note stating
-- both. One per tree size; append-only.
CREATE TABLE ledger_checkpoints (
    tenant_id  uuid        NOT NULL,
    tree_size  bigint      NOT NULL,
    root_hash  bytea       NOT NULL,
    note       text        NOT NULL,
    key_id     uuid        NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT ledger_checkpoints_pkey PRIMARY KEY (tenant_id, tree_size),
    CONSTRAINT ledger_checkpoints_key_fkey FOREIGN KEY (tenant_id, key_id) REFERENCES ledger_keys (tenant_id, id),
    CONSTRAINT ledger_checkpoints_size_check CHECK (tree_size > 0),
    CONSTRAINT ledger_checkpoints_root_check CHECK (length(root_hash) = 32)
);
CREATE INDEX ledger_checkpoints_key_idx ON ledger_checkpoints (tenant_id, key_id);

-- +goose StatementBegin
CREATE FUNCTION ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER ledger_hashes_no_update_delete
    BEFORE UPDATE OR DELETE ON ledger_hashes
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_hashes_no_truncate
    BEFORE TRUNCATE ON ledger_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_checkpoints_no_truncate
    BEFORE TRUNCATE ON ledger_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_keys_no_delete
    BEFORE DELETE ON ledger_keys
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_keys_no_truncate
    BEFORE TRUNCATE ON ledger_keys
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- The one change a key may see, whoever makes it: retirement, once.
-- +goose StatementBegin
CREATE FUNCTION ledger_keys_retire_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.retired_at IS NOT NULL OR NEW.retired_at IS NULL
       OR (NEW.tenant_id, NEW.id, NEW.verifier_key, NEW.sealed_signer, NEW.created_at)
          IS DISTINCT FROM (OLD.tenant_id, OLD.id, OLD.verifier_key, OLD.sealed_signer, OLD.created_at) THEN
        RAISE EXCEPTION 'ledger_keys is append-only: a key can only be retired, once'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER ledger_keys_retire_only
    BEFORE UPDATE ON ledger_keys
    FOR EACH ROW EXECUTE FUNCTION ledger_keys_retire_only();

ALTER TABLE ledger_hashes ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_hashes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ledger_hashes
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE ledger_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ledger_keys
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE ledger_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ledger_checkpoints
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT ON ledger_hashes, ledger_checkpoints, ledger_keys TO custody_app;
GRANT UPDATE (retired_at) ON ledger_keys TO custody_app;

-- +goose Down
DROP TABLE IF EXISTS ledger_checkpoints, ledger_keys, ledger_hashes;
DROP FUNCTION IF EXISTS ledger_keys_retire_only();
DROP FUNCTION IF EXISTS ledger_append_only();
