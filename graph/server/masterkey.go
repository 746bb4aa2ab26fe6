package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/custody-dev/custody/domain/ledger"
)

// MasterKeyFile is the embedded default master key's file name inside the
// data directory.
const MasterKeyFile = "master.key"

// masterKeySize is the size of an AES-256 master key (ledger.ParseMasterKey).
const masterKeySize = 32

// ErrMasterKeyRequired refuses a PostgreSQL deployment without a configured
// master key: every instance must seal and unseal the tenants' signing keys
// with the same key, so none may invent its own.
var ErrMasterKeyRequired = errors.New("no master key configured: with DATABASE_URL (PostgreSQL) " +
	"every server instance must use the same key to seal the tenants' ledger signing keys. " +
	"Create one with `custody key generate-master --out master.key`, keep it in your secret store, " +
	"and give it to every instance as CUSTODY_MASTER_KEY_FILE (--master-key-file) or CUSTODY_MASTER_KEY (--master-key)")

// ReadMasterKeyFile reads a master key file: base64 of 32 bytes, surrounding
// white space ignored. Errors name the file, never its content.
func ReadMasterKeyFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read master key file: %w", err)
	}
	key, err := ledger.ParseMasterKey(string(raw))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return key, nil
}

// MasterKey returns the master key a configuration implies: cfg.MasterKey
// when set; else, on the embedded store, the key in <DataDir>/master.key,
// created (mode 0600) on first use; else ErrMasterKeyRequired. created
// reports that the file was just written, so the caller can tell the
// operator to back it up.
func MasterKey(cfg StartConfig) (key []byte, created bool, err error) {
	if len(cfg.MasterKey) > 0 {
		if len(cfg.MasterKey) != masterKeySize {
			return nil, false, fmt.Errorf("master key: %d bytes, want %d", len(cfg.MasterKey), masterKeySize)
		}
		return cfg.MasterKey, false, nil
	}
	if !cfg.Embedded() {
		return nil, false, ErrMasterKeyRequired
	}
	return embeddedMasterKey(filepath.Join(cfg.DataDir, MasterKeyFile))
}

// embeddedMasterKey reads the key at path, or creates it. The new key is
// written to a temporary file and linked into place, so a concurrent start
// either wins or reads the winner's complete key, never a partial one.
func embeddedMasterKey(path string) ([]byte, bool, error) {
	key, err := ReadMasterKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master.key-*")
	if err != nil {
		return nil, false, fmt.Errorf("create master key: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	// CreateTemp makes the file 0600 already; Chmod makes it explicit.
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return nil, false, fmt.Errorf("create master key: %w", err)
	}
	if _, err := tmp.WriteString(ledger.NewMasterKey(nil) + "\n"); err != nil {
		_ = tmp.Close()
		return nil, false, fmt.Errorf("write master key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return nil, false, fmt.Errorf("write master key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("write master key: %w", err)
	}
	created := true
	if err := os.Link(tmp.Name(), path); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, fmt.Errorf("create master key %s: %w", path, err)
		}
		created = false // another process created it first: use theirs
	}
	key, err = ReadMasterKeyFile(path)
	return key, created, err
}
