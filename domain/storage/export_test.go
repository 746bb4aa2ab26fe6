package storage

import (
	"context"

	"github.com/custody-dev/custody/domain"
)

// SetScanBatch makes ScanEvents and ScanHashes load n rows per statement
// until restore is called, so small test logs cross batch boundaries.
func SetScanBatch(n int) (restore func()) {
	old := scanBatch
	scanBatch = n
	return func() { scanBatch = old }
}

// InsertEventPlain inserts e, whose Seq the caller chose, the way AppendEvent
// inserts an event (same transaction, tenant scoping and row) but with no
// ledger work: no head increment, no Merkle hashes. It is the baseline that
// BenchmarkAppendEventPlainInsert compares AppendEvent against.
func InsertEventPlain(ctx context.Context, db *DB, e *domain.CustodyEvent) error {
	return db.Update(ctx, func(tx domain.Tx) error {
		t := tx.(*txn)
		if err := newRecordID(&e.ID); err != nil {
			return err
		}
		r, err := eventRowOf(e)
		if err != nil {
			return err
		}
		return dbError("insert event", insert(t.g, t.tenant, "custody_events", r).Error)
	})
}
