package storage_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"golang.org/x/mod/sumdb/tlog"
)

// memTree is a tlog tree built in memory, the reference the stored one is
// checked against.
type memTree []tlog.Hash

func (m *memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx < 0 || idx >= int64(len(*m)) {
			return nil, fmt.Errorf("memTree: no hash at %d", idx)
		}
		out[i] = (*m)[idx]
	}
	return out, nil
}

// add appends leaf n (n must be the tree's size) with data.
func (m *memTree) add(t testing.TB, n int64, data []byte) {
	t.Helper()
	hashes, err := tlog.StoredHashes(n, data, m)
	if err != nil {
		t.Fatalf("memTree add %d: %v", n, err)
	}
	if got := tlog.StoredHashIndex(0, n); got != int64(len(*m)) {
		t.Fatalf("memTree add %d: would store at %d, tree has %d hashes", n, got, len(*m))
	}
	*m = append(*m, hashes...)
}

func canonical(t testing.TB, e *domain.CustodyEvent) []byte {
	t.Helper()
	b, err := domain.CanonicalEvent(e)
	if err != nil {
		t.Fatalf("CanonicalEvent(%d): %v", e.Seq, err)
	}
	return b
}

// storedTree is the tenant's tree as a tlog.HashReader over tx.
func storedTree(tx domain.Tx) tlog.HashReader { return tlog.HashReaderFunc(tx.ReadHashes) }

// TestLedgerTree: 100 events appended from 10 goroutines build, in the
// database, exactly the Merkle tree that re-encoding the stored events gives,
// hash for hash, and its proofs verify against its root.
func TestLedgerTree(t *testing.T) {
	defer storage.SetScanBatch(7)() // cross many batch boundaries
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		const workers, perWorker = 10, 10
		const size = workers * perWorker
		w := newWorld(t, db, "acme")
		a := w.createAsset(t, "SN-1", "")
		var wg sync.WaitGroup
		errs := make(chan error, size)
		for g := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					e := w.event(a, domain.EventRecipientNotified)
					e.Details = map[string]string{"worker": fmt.Sprint(g), "i": fmt.Sprint(i)}
					errs <- db.Update(w.ctx, func(tx domain.Tx) error { return tx.AppendEvent(e) })
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent AppendEvent: %v", err)
			}
		}

		hooked, mark := counted(t, cfg)
		ctx, statements := mark(w.ctx)
		err := hooked.View(ctx, func(tx domain.Tx) error {
			if n, err := tx.LedgerSize(); err != nil || n != size {
				t.Fatalf("LedgerSize = %d, %v; want %d", n, err, size)
			}
			// The reference tree, from the events as read back.
			var mem memTree
			var leaves [][]byte
			before := statements.Load()
			err := tx.ScanEvents(0, func(e *domain.CustodyEvent) error {
				if e.Seq != int64(len(leaves))+1 {
					return fmt.Errorf("ScanEvents gave seq %d after %d events", e.Seq, len(leaves))
				}
				data := canonical(t, e)
				mem.add(t, e.Seq-1, data)
				leaves = append(leaves, data)
				return nil
			})
			if err != nil || len(leaves) != size {
				t.Fatalf("ScanEvents: %d events, %v; want %d", len(leaves), err, size)
			}
			if got, want := statements.Load()-before, int64(size/7+1); got != want {
				t.Errorf("ScanEvents of %d events in batches of 7 sent %d statements, want %d", size, got, want)
			}
			if int64(len(mem)) != tlog.StoredHashCount(size) {
				t.Fatalf("reference tree has %d hashes, want %d", len(mem), tlog.StoredHashCount(size))
			}

			root, err := tlog.TreeHash(size, storedTree(tx))
			if err != nil {
				t.Fatalf("TreeHash over the store: %v", err)
			}
			want, _ := tlog.TreeHash(size, &mem)
			if root != want {
				t.Fatalf("stored root %v, want %v (recomputed from the events)", root, want)
			}

			var indexes []int64
			err = tx.ScanHashes(0, func(idx int64, h tlog.Hash) error {
				if idx != int64(len(indexes)) {
					return fmt.Errorf("ScanHashes gave index %d after %d hashes", idx, len(indexes))
				}
				if h != mem[idx] {
					t.Errorf("stored hash %d = %v, want %v", idx, h, mem[idx])
				}
				indexes = append(indexes, idx)
				return nil
			})
			if err != nil || len(indexes) != len(mem) {
				t.Fatalf("ScanHashes: %d hashes, %v; want %d", len(indexes), err, len(mem))
			}
			// Resuming mid-way, and stopping early.
			var tail []int64
			_ = tx.ScanHashes(150, func(idx int64, _ tlog.Hash) error { tail = append(tail, idx); return nil })
			if !slices.Equal(tail, indexes[150:]) {
				t.Errorf("ScanHashes(150) = %v, want %v", tail, indexes[150:])
			}
			// fn may use the transaction: here, to check each leaf as it goes.
			var seqs []int64
			err = tx.ScanEvents(90, func(e *domain.CustodyEvent) error {
				seqs = append(seqs, e.Seq)
				leaf, err := tx.ReadHashes([]int64{tlog.StoredHashIndex(0, e.Seq-1)})
				if err == nil && leaf[0] != tlog.RecordHash(canonical(t, e)) {
					t.Errorf("stored leaf of event %d does not match it", e.Seq)
				}
				return err
			})
			if err != nil || !slices.Equal(seqs, []int64{91, 92, 93, 94, 95, 96, 97, 98, 99, 100}) {
				t.Errorf("ScanEvents(90) = %v, %v; want 91..100", seqs, err)
			}
			stop := errors.New("stop")
			calls := 0
			if err := tx.ScanEvents(0, func(*domain.CustodyEvent) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
				t.Errorf("ScanEvents stopped by fn = %v after %d calls, want fn's error after 1", err, calls)
			}
			if err := tx.ScanHashes(0, func(int64, tlog.Hash) error { calls++; return stop }); !errors.Is(err, stop) || calls != 2 {
				t.Errorf("ScanHashes stopped by fn = %v, want fn's error", err)
			}

			// Inclusion proofs from the store verify against the root.
			for _, leaf := range []int64{0, 1, 37, 64, size - 1} {
				proof, err := tlog.ProveRecord(size, leaf, storedTree(tx))
				if err != nil {
					t.Fatalf("ProveRecord(%d): %v", leaf, err)
				}
				h := tlog.RecordHash(leaves[leaf])
				if err := tlog.CheckRecord(proof, size, root, leaf, h); err != nil {
					t.Errorf("CheckRecord(%d): %v", leaf, err)
				}
				if err := tlog.CheckRecord(proof, size, root, (leaf+1)%size, h); err == nil {
					t.Errorf("proof of leaf %d accepted for leaf %d", leaf, (leaf+1)%size)
				}
			}
			// And an older tree is a prefix of this one.
			old, _ := tlog.TreeHash(60, storedTree(tx))
			proof, err := tlog.ProveTree(size, 60, storedTree(tx))
			if err != nil || tlog.CheckTree(proof, size, root, 60, old) != nil {
				t.Errorf("consistency proof 60 -> %d: %v", size, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestLedgerStatements: the ledger costs an append at most two statements
// (the hash insert, and a read of earlier hashes for every other leaf), and
// ReadHashes is one statement.
func TestLedgerStatements(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		a := w.createAsset(t, "SN-1", "")
		hooked, mark := counted(t, cfg)
		for seq := int64(1); seq <= 8; seq++ {
			ctx, n := mark(w.ctx)
			e := w.event(a, domain.EventRecipientNotified)
			if err := hooked.Update(ctx, func(tx domain.Tx) error { return tx.AppendEvent(e) }); err != nil {
				t.Fatal(err)
			}
			// set_config (Postgres) + head + event + hashes, + a read when the leaf completes a subtree.
			want := int64(3)
			if cfg.DatabaseURL != "" {
				want++
			}
			if seq%2 == 0 {
				want++
			}
			if got := n.Load(); got != want {
				t.Errorf("append of seq %d sent %d statements, want %d", seq, got, want)
			}
		}
		ctx, n := mark(w.ctx)
		err := hooked.View(ctx, func(tx domain.Tx) error {
			before := n.Load()
			hs, err := tx.ReadHashes([]int64{14, 0, 3, 3, 7})
			if err != nil || len(hs) != 5 || hs[2] != hs[3] {
				t.Errorf("ReadHashes = %v, %v", hs, err)
			}
			if got := n.Load() - before; got != 1 {
				t.Errorf("ReadHashes sent %d statements, want 1", got)
			}
			// 8 leaves store 15 hashes: index 15 does not exist yet.
			if _, err := tx.ReadHashes([]int64{0, 15}); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("ReadHashes(missing) = %v, want ErrNotFound", err)
			}
			if hs, err := tx.ReadHashes(nil); err != nil || len(hs) != 0 {
				t.Errorf("ReadHashes(nil) = %v, %v", hs, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestLedgerLeafRoundTrip: the leaf hashed at append time is the canonical
// encoding of the event exactly as it is read back, whatever zone, precision
// or id case it came in with.
func TestLedgerLeafRoundTrip(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		a := w.createAsset(t, "SN-1", "")
		zone := time.FixedZone("UTC-3:30", -(3*3600 + 1800))
		device := time.Date(2024, 2, 29, 23, 59, 59, 999999999, zone)
		odd := w.event(a, domain.EventHandedOff)
		odd.AssetID, odd.ActorID = strings.ToUpper(a.ID), strings.ToUpper(w.member.ID)
		odd.RecordedAt, odd.DeviceTime = time.Date(2025, 1, 2, 3, 4, 5, 123456789, zone), &device
		odd.Location = `Dock "A" <&> 🚚 \ é`
		odd.Details = map[string]string{"z": "", "a": "<b>&amp;</b>", "\u2028": "line\nsep\t", "ключ": "значение"}
		parcelLevel := &domain.CustodyEvent{ParcelID: w.parcel.ID, Type: domain.EventParcelReceived,
			FromCustodian: domain.Custodian{Kind: domain.CustodianNone},
			ToCustodian:   domain.Custodian{Kind: domain.CustodianLocation, Ref: "Dock A"},
			ActorID:       w.member.ID, RecordedAt: time.Date(1999, 12, 31, 23, 59, 59, 1500, time.Local),
			Details: map[string]string{}}
		appended := []*domain.CustodyEvent{odd, parcelLevel}
		atAppend := make([][]byte, len(appended))
		for i, e := range appended {
			w.update(t, func(tx domain.Tx) error { return tx.AppendEvent(e) })
			atAppend[i] = canonical(t, e)
		}
		if odd.AssetID != a.ID || odd.ActorID != w.member.ID {
			t.Errorf("AppendEvent left ids %s, %s; want them as stored (lowercase)", odd.AssetID, odd.ActorID)
		}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			var scanned [][]byte
			if err := tx.ScanEvents(0, func(e *domain.CustodyEvent) error {
				scanned = append(scanned, canonical(t, e))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for i, e := range appended {
				got, err := tx.GetEvent(e.ID)
				if err != nil {
					t.Fatal(err)
				}
				stored, err := tx.ReadHashes([]int64{tlog.StoredHashIndex(0, e.Seq-1)})
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case !bytes.Equal(canonical(t, got), atAppend[i]):
					t.Errorf("event %d re-encodes as\n%s\nbut was hashed as\n%s", e.Seq, canonical(t, got), atAppend[i])
				case !bytes.Equal(scanned[i], atAppend[i]):
					t.Errorf("ScanEvents' event %d re-encodes as\n%s\nwant\n%s", e.Seq, scanned[i], atAppend[i])
				case stored[0] != tlog.RecordHash(atAppend[i]):
					t.Errorf("stored leaf %d = %v, want the hash of its canonical encoding", e.Seq, stored[0])
				}
			}
			return nil
		})
		// The leaf binds the stored bytes: text the encoding would replace is refused.
		for _, edit := range []func(e *domain.CustodyEvent){
			func(e *domain.CustodyEvent) { e.Location = "Dock \xff" },
			func(e *domain.CustodyEvent) { e.Details = map[string]string{"note": "bad \xc3"} },
			func(e *domain.CustodyEvent) { e.Details = map[string]string{"\xfe": "key"} },
		} {
			e := w.event(a, domain.EventRecipientNotified)
			edit(e)
			err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.AppendEvent(e) })
			var arg *domain.ArgumentError
			if !errors.As(err, &arg) {
				t.Errorf("AppendEvent(invalid UTF-8) = %v, want ArgumentError", err)
			}
		}
		bad := w.event(a, domain.EventRecipientNotified)
		bad.AssetID = "not-an-id"
		if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.AppendEvent(bad) }); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("AppendEvent(malformed asset id) = %v, want ErrNotFound", err)
		}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			if n, err := tx.LedgerSize(); err != nil || n != 2 {
				t.Errorf("LedgerSize after refused appends = %d, %v; want 2", n, err)
			}
			return nil
		})
	})
}

// TestLedgerAppendOnly: the database refuses to change or remove stored
// hashes, checkpoints and keys, even for the table owner; a key may only be
// retired, once.
func TestLedgerAppendOnly(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		w.appendEvents(t, w.createAsset(t, "SN-1", ""), 3)
		old, current := w.rotateKey(t, at), w.rotateKey(t, at.Add(time.Hour))
		w.putCheckpoint(t, 3, current.ID)
		raw := storagetest.OwnerConn(t, cfg)
		stmts := []string{
			"UPDATE ledger_hashes SET hash = hash",
			"UPDATE ledger_hashes SET idx = idx + 100",
			"DELETE FROM ledger_hashes",
			"DELETE FROM ledger_hashes WHERE idx = 3",
			"UPDATE ledger_checkpoints SET note = 'forged'",
			"DELETE FROM ledger_checkpoints",
			"DELETE FROM ledger_keys WHERE retired_at IS NOT NULL",
			"UPDATE ledger_keys SET verifier_key = 'forged'",
			"UPDATE ledger_keys SET retired_at = NULL",                                                         // un-retiring
			"UPDATE ledger_keys SET retired_at = created_at WHERE retired_at IS NOT NULL",                      // re-dating a retirement
			"UPDATE ledger_keys SET retired_at = created_at, verifier_key = 'forged' WHERE retired_at IS NULL", // retiring, and more
		}
		if cfg.DatabaseURL != "" {
			stmts = append(stmts, "UPDATE ledger_keys SET retired_at = created_at, sealed_signer = '\\x00'::bytea WHERE retired_at IS NULL",
				"TRUNCATE ledger_hashes", "TRUNCATE ledger_checkpoints", "TRUNCATE ledger_keys CASCADE")
		} else {
			stmts = append(stmts, "UPDATE ledger_keys SET retired_at = created_at, sealed_signer = x'00' WHERE retired_at IS NULL")
		}
		for _, s := range stmts {
			if _, err := raw.Exec(s); err == nil {
				t.Errorf("%s: accepted", s)
			} else if !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want an append-only trigger", s, err)
			}
		}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			retiredOld := *old
			retiredOld.RetiredAt = &current.CreatedAt
			keys, err := tx.ListSigningKeys()
			if err != nil || !reflect.DeepEqual(keys, []*domain.SigningKey{&retiredOld, current}) {
				t.Errorf("keys after tampering = %v, %v; want unchanged", keys, err)
			}
			var n int
			err = tx.ScanHashes(0, func(int64, tlog.Hash) error { n++; return nil })
			if err != nil || int64(n) != tlog.StoredHashCount(3) {
				t.Errorf("hashes after tampering: %d, %v; want %d", n, err, tlog.StoredHashCount(3))
			}
			if c, err := tx.LatestCheckpoint(); err != nil || string(c.Note) != "note 3" {
				t.Errorf("checkpoint after tampering = %+v, %v", c, err)
			}
			return nil
		})
	})
}

// TestLedgerRowLevelSecurity: on Postgres, the application role sees only
// the scoped tenant's ledger rows even without a WHERE, and cannot change
// what it may only append.
func TestLedgerRowLevelSecurity(t *testing.T) {
	db, cfg := storagetest.Postgres(t)
	a, b := newWorld(t, db, "alpha"), newWorld(t, db, "beta")
	a.appendEvents(t, a.createAsset(t, "SN-A", ""), 1)
	b.appendEvents(t, b.createAsset(t, "SN-B", ""), 4)
	a.putCheckpoint(t, 1, a.rotateKey(t, at).ID)
	bKey := b.rotateKey(t, at)
	b.putCheckpoint(t, 2, bKey.ID)
	b.putCheckpoint(t, 4, bKey.ID)

	app, err := sql.Open("pgx", cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx := context.Background()
	// scopedTo runs fn in a transaction of the app role scoped to tenant, rolled back after.
	scopedTo := func(tenant string, fn func(tx *sql.Tx)) {
		t.Helper()
		tx, err := app.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.Exec("SELECT set_config('custody.tenant_id', $1, true)", tenant); err != nil {
			t.Fatal(err)
		}
		fn(tx)
	}
	for _, c := range []struct {
		w    *world
		want map[string]int
	}{
		{a, map[string]int{"ledger_hashes": 1, "ledger_keys": 1, "ledger_checkpoints": 1}},
		{b, map[string]int{"ledger_hashes": int(tlog.StoredHashCount(4)), "ledger_keys": 1, "ledger_checkpoints": 2}},
	} {
		scopedTo(c.w.tenant.ID, func(tx *sql.Tx) {
			for table, want := range c.want {
				var n int
				var tenants string
				// No WHERE: only RLS keeps the other tenant out.
				err := tx.QueryRow("SELECT count(*), coalesce(string_agg(DISTINCT tenant_id::text, ','), '') FROM "+table).Scan(&n, &tenants)
				if err != nil || n != want || tenants != c.w.tenant.ID {
					t.Errorf("%s as %s: %d rows of tenants %q, %v; want %d of its own", table, c.w.tenant.Slug, n, tenants, err, want)
				}
			}
		})
	}
	// WITH CHECK: scoped to A, rows claiming B are refused.
	for _, stmt := range []string{
		"INSERT INTO ledger_hashes (tenant_id, idx, hash) VALUES ($1, 1000, decode(repeat('00', 32), 'hex'))",
		"INSERT INTO ledger_keys (tenant_id, id, verifier_key, sealed_signer, created_at) VALUES ($1, gen_random_uuid(), 'k', '\\x00', now())",
	} {
		scopedTo(a.tenant.ID, func(tx *sql.Tx) {
			if _, err := tx.Exec(stmt, b.tenant.ID); err == nil || !strings.Contains(err.Error(), "row-level security") {
				t.Errorf("%s for B while scoped to A = %v, want a row-level security violation", stmt, err)
			}
		})
	}
	// Grants: no UPDATE or DELETE of hashes and checkpoints, keys only retired.
	for _, stmt := range []string{
		"UPDATE ledger_hashes SET hash = hash", "DELETE FROM ledger_hashes",
		"UPDATE ledger_checkpoints SET note = 'x'", "DELETE FROM ledger_checkpoints",
		"UPDATE ledger_keys SET verifier_key = 'x'", "DELETE FROM ledger_keys",
	} {
		scopedTo(b.tenant.ID, func(tx *sql.Tx) {
			if _, err := tx.Exec(stmt); err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("app role %q = %v, want permission denied", stmt, err)
			}
		})
	}
	scopedTo(b.tenant.ID, func(tx *sql.Tx) {
		if _, err := tx.Exec("UPDATE ledger_keys SET retired_at = now() WHERE retired_at IS NULL"); err != nil {
			t.Errorf("app role retiring its key: %v", err)
		}
	})
}

// TestContractCheckpoints: storing (idempotently), finding and listing checkpoints.
func TestContractCheckpoints(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			for name, get := range map[string]func() (*domain.Checkpoint, error){
				"LatestCheckpoint":   tx.LatestCheckpoint,
				"CheckpointCovering": func() (*domain.Checkpoint, error) { return tx.CheckpointCovering(1) },
			} {
				if _, err := get(); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("%s with none = %v, want ErrNotFound", name, err)
				}
			}
			if list, err := tx.ListCheckpoints(domain.PageRequest{First: 10}); err != nil || len(list) != 0 {
				t.Errorf("ListCheckpoints with none = %v, %v", list, err)
			}
			return nil
		})
		key := w.rotateKey(t, at)
		bySize := map[int64]*domain.Checkpoint{}
		for _, size := range []int64{5, 3, 10} {
			bySize[size] = w.putCheckpoint(t, size, strings.ToUpper(key.ID))
		}
		if c := bySize[5]; c.TenantID != w.tenant.ID || c.KeyID != key.ID {
			t.Errorf("PutCheckpoint left tenant %q key %q, want them as stored", c.TenantID, c.KeyID)
		}
		// A second checkpoint of a size already signed changes nothing.
		again := &domain.Checkpoint{TreeSize: 5, RootHash: tlog.Hash{9}, Note: []byte("other"), KeyID: key.ID, CreatedAt: at.Add(time.Hour)}
		w.update(t, func(tx domain.Tx) error { return tx.PutCheckpoint(again) })
		if again.TenantID != "" || !again.CreatedAt.Equal(at.Add(time.Hour)) {
			t.Errorf("PutCheckpoint of a checkpointed size changed its argument: %+v", again)
		}
		for name, bad := range map[string]*domain.Checkpoint{
			"unknown key":   {TreeSize: 11, KeyID: newID(), Note: []byte("n"), CreatedAt: at},
			"malformed key": {TreeSize: 11, KeyID: "key", Note: []byte("n"), CreatedAt: at},
		} {
			if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.PutCheckpoint(bad) }); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("PutCheckpoint(%s) = %v, want ErrNotFound", name, err)
			}
		}
		if err := db.Update(w.ctx, func(tx domain.Tx) error {
			return tx.PutCheckpoint(&domain.Checkpoint{TreeSize: 0, KeyID: key.ID, CreatedAt: at})
		}); err == nil {
			t.Error("PutCheckpoint(empty tree) accepted")
		}

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			latest, err := tx.LatestCheckpoint()
			if err != nil || !reflect.DeepEqual(latest, bySize[10]) {
				t.Errorf("LatestCheckpoint = %+v, %v; want %+v", latest, err, bySize[10])
			}
			for _, c := range []struct {
				size int64
				want int64 // 0: none
			}{{1, 3}, {3, 3}, {4, 5}, {5, 5}, {6, 10}, {10, 10}, {11, 0}} {
				got, err := tx.CheckpointCovering(c.size)
				switch {
				case c.want == 0 && !errors.Is(err, domain.ErrNotFound):
					t.Errorf("CheckpointCovering(%d) = %+v, %v; want ErrNotFound", c.size, got, err)
				case c.want != 0 && (err != nil || !reflect.DeepEqual(got, bySize[c.want])):
					t.Errorf("CheckpointCovering(%d) = %+v, %v; want %+v", c.size, got, err, bySize[c.want])
				}
			}
			for _, l := range []struct {
				page domain.PageRequest
				want []int64
			}{
				{domain.PageRequest{First: 10}, []int64{3, 5, 10}},
				{domain.PageRequest{First: 2}, []int64{3, 5}},
				{domain.PageRequest{First: 10, After: "3"}, []int64{5, 10}},
				{domain.PageRequest{First: 10, After: "4"}, []int64{5, 10}},
				{domain.PageRequest{First: 10, After: "10"}, nil},
				{domain.PageRequest{First: 0}, nil},
			} {
				got, err := tx.ListCheckpoints(l.page)
				var sizes []int64
				for _, c := range got {
					sizes = append(sizes, c.TreeSize)
					if !reflect.DeepEqual(c, bySize[c.TreeSize]) {
						t.Errorf("listed checkpoint %+v, want %+v", c, bySize[c.TreeSize])
					}
				}
				if err != nil || !slices.Equal(sizes, l.want) {
					t.Errorf("ListCheckpoints(%+v) = %v, %v; want %v", l.page, sizes, err, l.want)
				}
			}
			for _, after := range []string{"x", "1.5", "0x10"} {
				var arg *domain.ArgumentError
				if _, err := tx.ListCheckpoints(domain.PageRequest{First: 1, After: after}); !errors.As(err, &arg) {
					t.Errorf("ListCheckpoints(after %q) = %v, want ArgumentError", after, err)
				}
			}
			return nil
		})
	})
}

// TestContractSigningKeys: creating a key retires the one before it; the
// whole history stays, in order.
func TestContractSigningKeys(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			if _, err := tx.ActiveSigningKey(); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("ActiveSigningKey with none = %v, want ErrNotFound", err)
			}
			if keys, err := tx.ListSigningKeys(); err != nil || len(keys) != 0 {
				t.Errorf("ListSigningKeys with none = %v, %v", keys, err)
			}
			return nil
		})
		first := w.rotateKey(t, at.Add(500*time.Nanosecond)) // stored at microseconds
		if first.TenantID != w.tenant.ID || first.ID == "" || first.CreatedAt != at || first.RetiredAt != nil {
			t.Fatalf("CreateSigningKey left %+v", first)
		}
		second := w.rotateKey(t, at.Add(time.Hour))
		third := w.rotateKey(t, at.Add(2*time.Hour))
		retired := func(k domain.SigningKey, when time.Time) *domain.SigningKey { k.RetiredAt = &when; return &k }
		want := []*domain.SigningKey{retired(*first, second.CreatedAt), retired(*second, third.CreatedAt), third}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			active, err := tx.ActiveSigningKey()
			if err != nil || !reflect.DeepEqual(active, third) {
				t.Errorf("ActiveSigningKey = %+v, %v; want %+v", active, err, third)
			}
			keys, err := tx.ListSigningKeys()
			if err != nil || !reflect.DeepEqual(keys, want) {
				t.Errorf("ListSigningKeys = %+v, %v; want %+v", keys, err, want)
			}
			return nil
		})
		preRetired := &domain.SigningKey{VerifierKey: "v", SealedSigner: []byte{1}, CreatedAt: at, RetiredAt: &at}
		if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreateSigningKey(preRetired) }); err == nil {
			t.Error("CreateSigningKey(already retired) accepted")
		}

		// Keys created at the same moment: never two active ones.
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := &domain.SigningKey{VerifierKey: "v", SealedSigner: []byte{2}, CreatedAt: at.Add(3 * time.Hour)}
				errs <- db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreateSigningKey(k) })
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil && !isDuplicate(err, "activeSigningKey") {
				t.Errorf("concurrent CreateSigningKey = %v, want success or DuplicateError{activeSigningKey}", err)
			}
		}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			keys, err := tx.ListSigningKeys()
			active := 0
			for _, k := range keys {
				if k.RetiredAt == nil {
					active++
				}
			}
			if err != nil || active != 1 {
				t.Errorf("after concurrent rotations: %d active keys of %d, %v; want 1", active, len(keys), err)
			}
			return nil
		})
	})
}

// TestLedgerTenantIsolation: every ledger method sees only the transaction's tenant.
func TestLedgerTenantIsolation(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		a, b := newWorld(t, db, "alpha"), newWorld(t, db, "beta")
		a.appendEvents(t, a.createAsset(t, "SN-A", ""), 5)
		aKey := a.rotateKey(t, at)
		a.putCheckpoint(t, 5, aKey.ID)
		bEvents := b.appendEvents(t, b.createAsset(t, "SN-B", ""), 2)

		_ = db.View(b.ctx, func(tx domain.Tx) error {
			if n, err := tx.LedgerSize(); err != nil || n != 2 {
				t.Errorf("B LedgerSize = %d, %v; want its own 2", n, err)
			}
			// A's tree has index 7; B's (2 leaves, 3 hashes) does not.
			if _, err := tx.ReadHashes([]int64{7}); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("B ReadHashes(A's index) = %v, want ErrNotFound", err)
			}
			var seqs []int64
			_ = tx.ScanEvents(0, func(e *domain.CustodyEvent) error { seqs = append(seqs, e.Seq); return nil })
			if !slices.Equal(seqs, []int64{1, 2}) {
				t.Errorf("B ScanEvents = %v, want its own 1, 2", seqs)
			}
			var n int
			_ = tx.ScanHashes(0, func(int64, tlog.Hash) error { n++; return nil })
			if n != 3 {
				t.Errorf("B ScanHashes: %d hashes, want its own 3", n)
			}
			root, _ := tlog.TreeHash(2, storedTree(tx))
			var mem memTree
			for i, e := range bEvents {
				mem.add(t, int64(i), canonical(t, e))
			}
			if want, _ := tlog.TreeHash(2, &mem); root != want {
				t.Errorf("B's root %v, want %v from B's events alone", root, want)
			}
			for name, get := range map[string]func() error{
				"LatestCheckpoint":   func() error { _, err := tx.LatestCheckpoint(); return err },
				"CheckpointCovering": func() error { _, err := tx.CheckpointCovering(1); return err },
				"ActiveSigningKey":   func() error { _, err := tx.ActiveSigningKey(); return err },
			} {
				if err := get(); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("B %s = %v, want ErrNotFound", name, err)
				}
			}
			if cs, err := tx.ListCheckpoints(domain.PageRequest{First: 10}); err != nil || len(cs) != 0 {
				t.Errorf("B ListCheckpoints = %v, %v; want none", cs, err)
			}
			if ks, err := tx.ListSigningKeys(); err != nil || len(ks) != 0 {
				t.Errorf("B ListSigningKeys = %v, %v; want none", ks, err)
			}
			return nil
		})
		// B cannot sign with A's key, and creating B's key leaves A's active.
		stolen := &domain.Checkpoint{TreeSize: 2, KeyID: aKey.ID, Note: []byte("n"), CreatedAt: at}
		if err := db.Update(b.ctx, func(tx domain.Tx) error { return tx.PutCheckpoint(stolen) }); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("B PutCheckpoint(A's key) = %v, want ErrNotFound", err)
		}
		b.rotateKey(t, at.Add(time.Hour))
		_ = db.View(a.ctx, func(tx domain.Tx) error {
			if k, err := tx.ActiveSigningKey(); err != nil || k.ID != aKey.ID || k.RetiredAt != nil {
				t.Errorf("A's key after B's rotation = %+v, %v; want still active", k, err)
			}
			return nil
		})
	})
}

// rotateKey creates a signing key created at when (so retiring the active one).
func (w *world) rotateKey(t testing.TB, when time.Time) *domain.SigningKey {
	t.Helper()
	k := &domain.SigningKey{VerifierKey: w.tenant.Slug + "+0123abcd+" + newID(), SealedSigner: []byte("sealed " + newID()),
		CreatedAt: when}
	w.update(t, func(tx domain.Tx) error { return tx.CreateSigningKey(k) })
	return k
}

// putCheckpoint stores a checkpoint of size signed by keyID, with a root
// and note derived from size.
func (w *world) putCheckpoint(t testing.TB, size int64, keyID string) *domain.Checkpoint {
	t.Helper()
	c := &domain.Checkpoint{TreeSize: size, RootHash: tlog.RecordHash([]byte(fmt.Sprint(size))),
		Note: []byte(fmt.Sprintf("note %d", size)), KeyID: keyID, CreatedAt: at.Add(time.Duration(size) * time.Second)}
	w.update(t, func(tx domain.Tx) error { return tx.PutCheckpoint(c) })
	return c
}
