-- The tamper-evident ledger, embedded SQLite: the same tables, keys and
-- rules as migrations/postgres/00002_ledger.sql (which explains them).
-- Hashes are 32-byte BLOBs.

-- +goose Up
CREATE TABLE ledger_hashes (
    tenant_id TEXT    NOT NULL REFERENCES tenants (id),
    idx       INTEGER NOT NULL CHECK (idx >= 0),
    hash      BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant_id, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE ledger_keys (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    id            TEXT NOT NULL,
    verifier_key  TEXT NOT NULL,
    sealed_signer BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    retired_at    TEXT,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX ledger_keys_active_key ON ledger_keys (tenant_id) WHERE retired_at IS NULL;

CREATE TABLE ledger_checkpoints (
    tenant_id  TEXT    NOT NULL,
    tree_size  INTEGER NOT NULL CHECK (tree_size > 0),
    root_hash  BLOB    NOT NULL CHECK (length(root_hash) = 32),
    note       TEXT    NOT NULL,
    key_id     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, tree_size),
    FOREIGN KEY (tenant_id, key_id) REFERENCES ledger_keys (tenant_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX ledger_checkpoints_key_idx ON ledger_checkpoints (tenant_id, key_id);

-- +goose StatementBegin
CREATE TRIGGER ledger_hashes_no_update BEFORE UPDATE ON ledger_hashes
BEGIN
    SELECT RAISE(ABORT, 'ledger_hashes is append-only: UPDATE refused');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER ledger_hashes_no_delete BEFORE DELETE ON ledger_hashes
BEGIN
    SELECT RAISE(ABORT, 'ledger_hashes is append-only: DELETE refused');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER ledger_checkpoints_no_update BEFORE UPDATE ON ledger_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'ledger_checkpoints is append-only: UPDATE refused');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER ledger_checkpoints_no_delete BEFORE DELETE ON ledger_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'ledger_checkpoints is append-only: DELETE refused');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER ledger_keys_no_delete BEFORE DELETE ON ledger_keys
BEGIN
    SELECT RAISE(ABORT, 'ledger_keys is append-only: DELETE refused');
END;
-- +goose StatementEnd
-- A key may only be retired, once.
-- +goose StatementBegin
CREATE TRIGGER ledger_keys_retire_only BEFORE UPDATE ON ledger_keys
WHEN OLD.retired_at IS NOT NULL OR NEW.retired_at IS NULL
    OR NEW.tenant_id IS NOT OLD.tenant_id OR NEW.id IS NOT OLD.id
    OR NEW.verifier_key IS NOT OLD.verifier_key OR NEW.sealed_signer IS NOT OLD.sealed_signer
    OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'ledger_keys is append-only: a key can only be retired, once');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE IF EXISTS ledger_checkpoints;
DROP TABLE IF EXISTS ledger_keys;
DROP TABLE IF EXISTS ledger_hashes;
