package storage

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/custody-dev/custody/domain"
	"golang.org/x/mod/sumdb/tlog"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The ledger: each tenant's custody log as an RFC 6962 Merkle tree. The
// tree lives in ledger_hashes at tlog's dense stored-hash indexes, written
// by AppendEvent in the event's own transaction, so the log and its tree
// commit (or roll back) together; checkpoints and signing keys are plain
// tenant rows next to it.

// scanBatch is how many rows ScanEvents and ScanHashes load per statement:
// memory stays bounded whatever the log's size, and a million-event log
// costs only a few hundred round trips.
var scanBatch = 5000 // a variable so tests can cross batch boundaries

// readHashesChunk bounds the indexes bound in one ReadHashes statement,
// well under both drivers' parameter limits. tlog asks for O(log n) hashes
// at a time, so in practice a call is one statement.
const readHashesChunk = 5000

// storableEvent puts e's record references in their stored (canonical UUID)
// form and refuses text that is not valid UTF-8, which the canonical JSON
// encoding would silently replace: the leaf must stand for exactly the bytes
// stored, on both dialects.
func storableEvent(e *domain.CustodyEvent) error {
	for _, ref := range []struct {
		name string
		id   *string
	}{{"assetId", &e.AssetID}, {"parcelId", &e.ParcelID}, {"actorId", &e.ActorID}, {"signatureId", &e.SignatureID}} {
		if *ref.id == "" {
			continue
		}
		c, ok := canonicalID(*ref.id)
		if !ok {
			return fmt.Errorf("%s %q is not a record id: %w", ref.name, *ref.id, domain.ErrNotFound)
		}
		*ref.id = c
	}
	texts := []struct{ name, s string }{
		{"type", string(e.Type)}, {"fromState", string(e.FromState)}, {"toState", string(e.ToState)},
		{"fromCustodian", string(e.FromCustodian.Kind)}, {"fromCustodian", e.FromCustodian.Ref},
		{"toCustodian", string(e.ToCustodian.Kind)}, {"toCustodian", e.ToCustodian.Ref},
		{"location", e.Location},
	}
	for k, v := range e.Details {
		texts = append(texts, struct{ name, s string }{"details", k}, struct{ name, s string }{"details", v})
	}
	for _, t := range texts {
		if !utf8.ValidString(t.s) {
			return &domain.ArgumentError{Argument: t.name, Message: "is not valid UTF-8 text"}
		}
	}
	return nil
}

// appendLeaf stores the hashes that event e, just inserted and exactly as
// stored, adds to the tenant's tree: its leaf hash (of domain.CanonicalEvent)
// at StoredHashIndex(0, Seq-1), then those of the subtrees it completes. It
// reads the earlier hashes it needs in one statement (none for every other
// leaf) and writes the new ones in one more.
func (t *txn) appendLeaf(e *domain.CustodyEvent) error {
	data, err := domain.CanonicalEvent(e)
	if err != nil {
		return err
	}
	leaf := e.Seq - 1
	hashes, err := tlog.StoredHashes(leaf, data, tlog.HashReaderFunc(t.ReadHashes))
	if err != nil {
		return fmt.Errorf("ledger hashes: %w", err)
	}
	first := tlog.StoredHashIndex(0, leaf)
	rows := make([]*ledgerHashRow, len(hashes))
	for i := range hashes {
		rows[i] = &ledgerHashRow{Idx: first + int64(i), Hash: hashes[i][:]}
	}
	return dbError("store ledger hashes", insert(t.g, t.tenant, "ledger_hashes", rows...).Error)
}

// LedgerSize implements domain.Tx: the size of the tenant's ledger head.
func (t *txn) LedgerSize() (int64, error) {
	var head ledgerHeadRow
	res := t.scoped("ledger_heads").Limit(1).Find(&head)
	if res.Error != nil {
		return 0, dbError("ledger size", res.Error)
	}
	if res.RowsAffected == 0 {
		return 0, fmt.Errorf("ledger size: tenant %s has no ledger head: %w", t.tenant, domain.ErrNotFound)
	}
	return head.Size, nil
}

// LockLog implements domain.Tx: it locks the tenant's ledger head row, the
// same row every append locks, so a use case that takes it first holds the
// tenant's write lock from its first read (see locking for SQLite).
func (t *txn) LockLog() error {
	var head ledgerHeadRow
	if err := t.lockOne("lock log", t.scoped("ledger_heads"), &head); err != nil {
		return fmt.Errorf("lock log: tenant %s: %w", t.tenant, err)
	}
	return nil
}

// ReadHashes implements domain.Tx in one statement (per readHashesChunk
// indexes); it is the tlog.HashReader of the tenant's tree.
func (t *txn) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	const op = "read ledger hashes"
	if len(indexes) == 0 {
		return nil, nil
	}
	found := make(map[int64]tlog.Hash, len(indexes))
	for chunk := range slices.Chunk(indexes, readHashesChunk) {
		var rows []ledgerHashRow
		err := t.scoped("ledger_hashes").Select("ledger_hashes.idx, ledger_hashes.hash").
			Where("ledger_hashes.idx IN ?", chunk).Find(&rows).Error
		if err != nil {
			return nil, dbError(op, err)
		}
		for i := range rows {
			h, err := rows[i].hash()
			if err != nil {
				return nil, err
			}
			found[rows[i].Idx] = h
		}
	}
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := found[idx]
		if !ok {
			return nil, fmt.Errorf("%s: no hash at index %d: %w", op, idx, domain.ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

// ScanEvents implements domain.Tx, scanBatch events per statement (keyset
// on seq). fn runs between statements, so it may use the transaction; its
// error stops the scan and is returned as is.
func (t *txn) ScanEvents(after int64, fn func(*domain.CustodyEvent) error) error {
	batch := make([]eventRow, 0, min(scanBatch, 1024))
	for {
		q := t.scoped("custody_events").Select(eventColumns).Where("custody_events.seq > ?", after).
			Order("custody_events.seq").Limit(scanBatch)
		var err error
		if batch, err = readRows(q, "scan events", batch[:0], (*eventRow).scanDest); err != nil {
			return err
		}
		for i := range batch {
			e, err := batch[i].domain()
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < scanBatch {
			return nil
		}
		after = batch[len(batch)-1].Seq
	}
}

// ScanHashes implements domain.Tx like ScanEvents, keyset on the index.
func (t *txn) ScanHashes(from int64, fn func(index int64, h tlog.Hash) error) error {
	batch := make([]ledgerHashRow, 0, min(scanBatch, 1024))
	for {
		q := t.scoped("ledger_hashes").Select("ledger_hashes.idx, ledger_hashes.hash").
			Where("ledger_hashes.idx >= ?", from).Order("ledger_hashes.idx").Limit(scanBatch)
		var err error
		if batch, err = readRows(q, "scan ledger hashes", batch[:0], (*ledgerHashRow).scanDest); err != nil {
			return err
		}
		for i := range batch {
			h, err := batch[i].hash()
			if err != nil {
				return err
			}
			if err := fn(batch[i].Idx, h); err != nil {
				return err
			}
		}
		if len(batch) < scanBatch {
			return nil
		}
		from = batch[len(batch)-1].Idx + 1
	}
}

// readRows runs q and appends its rows to batch, scanning each into the
// fields dest lists (in q's column order) with database/sql directly: a
// full verification reads every row of the log, and gorm's per-row
// reflection would cost more than the database does.
func readRows[R any](q *gorm.DB, op string, batch []R, dest func(*R) []any) ([]R, error) {
	rows, err := q.Rows()
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r R
		if err := rows.Scan(dest(&r)...); err != nil {
			return nil, dbError(op, err)
		}
		batch = append(batch, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(op, err)
	}
	return batch, nil
}

// PutCheckpoint implements domain.Tx. c.KeyID must name one of the tenant's
// signing keys (else ErrNotFound). When c is stored, its TenantID, KeyID and
// CreatedAt are left as stored; when its tree size was already
// checkpointed, nothing is written and c is left as it was.
func (t *txn) PutCheckpoint(c *domain.Checkpoint) error {
	const op = "put checkpoint"
	if c == nil {
		return errors.New(op + ": nil checkpoint")
	}
	if c.TreeSize <= 0 {
		return fmt.Errorf("%s: tree size %d: a checkpoint covers at least one event", op, c.TreeSize)
	}
	key, ok := canonicalID(c.KeyID)
	if !ok {
		return fmt.Errorf("%s: signing key %q: %w", op, c.KeyID, domain.ErrNotFound)
	}
	r := checkpointRowOf(c)
	r.KeyID = key
	onConflict := clause.OnConflict{Columns: []clause.Column{{Name: "tenant_id"}, {Name: "tree_size"}}, DoNothing: true}
	res := insert(t.g.Clauses(onConflict), t.tenant, "ledger_checkpoints", r)
	if res.Error != nil {
		return dbError(op, res.Error)
	}
	if res.RowsAffected == 1 {
		c.TenantID, c.KeyID, c.CreatedAt = t.tenant, key, r.CreatedAt.Time
	}
	return nil
}

// LatestCheckpoint implements domain.Tx.
func (t *txn) LatestCheckpoint() (*domain.Checkpoint, error) {
	return t.checkpoint("latest checkpoint",
		t.scoped("ledger_checkpoints").Order("ledger_checkpoints.tree_size DESC"))
}

// CheckpointCovering implements domain.Tx.
func (t *txn) CheckpointCovering(size int64) (*domain.Checkpoint, error) {
	return t.checkpoint("checkpoint covering",
		t.scoped("ledger_checkpoints").Where("ledger_checkpoints.tree_size >= ?", size).
			Order("ledger_checkpoints.tree_size"))
}

// checkpoint loads the first checkpoint q finds; ErrNotFound if none.
func (t *txn) checkpoint(op string, q *gorm.DB) (*domain.Checkpoint, error) {
	var r checkpointRow
	res := q.Limit(1).Find(&r)
	if res.Error != nil {
		return nil, dbError(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, domain.ErrNotFound
	}
	return r.domain()
}

// ListCheckpoints implements domain.Tx; a page.After that is not a decimal
// tree size gives a *domain.ArgumentError.
func (t *txn) ListCheckpoints(p domain.PageRequest) ([]*domain.Checkpoint, error) {
	q := t.scoped("ledger_checkpoints")
	if p.After != "" {
		after, err := strconv.ParseInt(p.After, 10, 64)
		if err != nil {
			return nil, errBadCursor
		}
		q = q.Where("ledger_checkpoints.tree_size > ?", after)
	}
	var rows []checkpointRow
	if err := q.Order("ledger_checkpoints.tree_size").Limit(limit(p)).Find(&rows).Error; err != nil {
		return nil, dbError("list checkpoints", err)
	}
	out := make([]*domain.Checkpoint, len(rows))
	for i := range rows {
		c, err := rows[i].domain()
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// CreateSigningKey implements domain.Tx: the active key (if any) is retired
// at k.CreatedAt, then k is inserted. An empty k.ID gets a fresh UUIDv7; k is
// left as stored. At most one key of a tenant is active (a partial unique
// index): should two transactions create keys at once, the second to commit
// fails with a *domain.DuplicateError (Key "activeSigningKey").
func (t *txn) CreateSigningKey(k *domain.SigningKey) error {
	const op = "create signing key"
	if k == nil {
		return errors.New(op + ": nil key")
	}
	if k.RetiredAt != nil {
		return errors.New(op + ": a new key cannot be retired already")
	}
	if err := newRecordID(&k.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := &signingKeyRow{ID: k.ID, VerifierKey: k.VerifierKey, SealedSigner: k.SealedSigner,
		CreatedAt: newStamp(k.CreatedAt)}
	if r.SealedSigner == nil {
		r.SealedSigner = []byte{} // NOT NULL; an empty key is the domain's to refuse
	}
	err := t.scoped("ledger_keys").Where("ledger_keys.retired_at IS NULL").Update("retired_at", r.CreatedAt).Error
	if err != nil {
		return dbError(op, err)
	}
	if err := insert(t.g, t.tenant, "ledger_keys", r).Error; err != nil {
		return dbError(op, err)
	}
	k.TenantID, k.CreatedAt = t.tenant, r.CreatedAt.Time
	return nil
}

// ActiveSigningKey implements domain.Tx.
func (t *txn) ActiveSigningKey() (*domain.SigningKey, error) {
	var r signingKeyRow
	if err := t.getOne("active signing key", "ledger_keys", &r, "ledger_keys.retired_at IS NULL"); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// ListSigningKeys implements domain.Tx: every key, oldest first.
func (t *txn) ListSigningKeys() ([]*domain.SigningKey, error) {
	var rows []signingKeyRow
	err := t.scoped("ledger_keys").Order("ledger_keys.created_at, ledger_keys.id").Find(&rows).Error
	if err != nil {
		return nil, dbError("list signing keys", err)
	}
	return mapRows(rows, (*signingKeyRow).domain), nil
}
