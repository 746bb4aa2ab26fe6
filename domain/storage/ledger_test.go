package storage_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"golang.org/x/mod/sumdb/tlog"
)

// TestAppendEventConcurrent: appends racing on several connections get the
// sequence 1..N with no gap and no repeat, and a rolled-back append leaves no gap.
func TestAppendEventConcurrent(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		const workers = 20
		w := newWorld(t, db, "acme")
		other := newWorld(t, db, "other")
		a := w.createAsset(t, "SN-1", "")
		b := other.createAsset(t, "SN-1", "")
		// One append that rolls back must not consume a number.
		rollback := errors.New("rollback")
		if err := db.Update(w.ctx, func(tx domain.Tx) error {
			if err := tx.AppendEvent(w.event(a, domain.EventRecipientNotified)); err != nil {
				return err
			}
			return rollback
		}); !errors.Is(err, rollback) {
			t.Fatalf("Update = %v", err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 2*workers)
		for i := range 2 * workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// A second tenant appending at the same time has a log of its own.
				target, asset := w, a
				if i%2 == 1 {
					target, asset = other, b
				}
				e := target.event(asset, domain.EventRecipientNotified)
				errs <- db.Update(target.ctx, func(tx domain.Tx) error { return tx.AppendEvent(e) })
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent AppendEvent: %v", err)
			}
		}
		want := make([]int64, workers)
		for i := range want {
			want[i] = int64(i + 1)
		}
		for _, c := range []struct {
			w     *world
			asset *domain.Asset
		}{{w, a}, {other, b}} {
			_ = db.View(c.w.ctx, func(tx domain.Tx) error {
				evs, err := tx.ListAssetEvents(c.asset.ID, domain.PageRequest{First: 100})
				if err != nil {
					t.Fatal(err)
				}
				var seqs []int64
				for _, e := range evs {
					seqs = append(seqs, e.Seq)
				}
				if !slices.Equal(seqs, want) {
					t.Errorf("%s seqs = %v, want 1..%d contiguous", c.w.tenant.Slug, seqs, workers)
				}
				return nil
			})
		}
	})
}

// TestConcurrentStateChange: two transactions that read an asset and move it
// out of the same state at the same time: exactly one succeeds (the other
// either sees the first's commit or loses the optimistic version check).
func TestConcurrentStateChange(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		for round := range 5 {
			a := w.createAsset(t, fmt.Sprintf("SN-%d", round), "")
			var wg sync.WaitGroup
			results := make(chan error, 2)
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results <- db.Update(w.ctx, func(tx domain.Tx) error {
						got, err := tx.GetAsset(a.ID)
						if err != nil {
							return err
						}
						time.Sleep(20 * time.Millisecond) // let the other transaction read too, where it can
						if got.State != domain.StateSerialized {
							return errIllegal
						}
						got.State, got.Version = domain.StateAwaitingCollection, got.Version+1
						if err := tx.AppendEvent(w.event(got, domain.EventRecipientNotified)); err != nil {
							return err
						}
						return tx.UpdateAsset(got)
					})
				}()
			}
			wg.Wait()
			close(results)
			var ok, refused int
			for err := range results {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, errIllegal), errors.Is(err, domain.ErrConcurrentModification):
					refused++
				default:
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if ok != 1 || refused != 1 {
				t.Fatalf("round %d: %d succeeded, %d refused; want exactly one each", round, ok, refused)
			}
			got, err := getAsset(w, a.ID)
			if err != nil || got.Version != 2 {
				t.Fatalf("asset after race = %+v, %v; want version 2", got, err)
			}
		}
	})
}

var errIllegal = errors.New("illegal transition")

// TestConcurrentIdempotencyClaim: a retry arriving while the first attempt
// is still running waits for it and replays its result.
func TestConcurrentIdempotencyClaim(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		claimed := make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- db.Update(w.ctx, func(tx domain.Tx) error {
				if rec, err := tx.ClaimIdempotency("handOff", "k", "h"); err != nil || rec != nil {
					return fmt.Errorf("first claim = %+v, %v", rec, err)
				}
				close(claimed)
				time.Sleep(100 * time.Millisecond) // the retry arrives meanwhile
				return tx.CompleteIdempotency("handOff", "k", []byte(`"done"`))
			})
		}()
		<-claimed
		var rec *domain.Idempotency
		err := db.Update(w.ctx, func(tx domain.Tx) error {
			var err error
			rec, err = tx.ClaimIdempotency("handOff", "k", "h")
			return err
		})
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err != nil || rec == nil || string(rec.Result) != `"done"` {
			t.Fatalf("retry claim = %+v, %v; want the first attempt's result", rec, err)
		}
	})
}

// TestEventsAppendOnly: the database itself refuses to change the log, even
// for the table owner.
func TestEventsAppendOnly(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		ev := w.appendEvents(t, w.createAsset(t, "SN-1", ""), 1)[0]
		raw := storagetest.OwnerConn(t, cfg)
		stmts := []string{
			"UPDATE custody_events SET location = 'elsewhere'",
			"UPDATE custody_events SET seq = seq + 100",
			"DELETE FROM custody_events",
		}
		if cfg.DatabaseURL != "" {
			// (A plain TRUNCATE is already refused by the foreign keys.)
			stmts = append(stmts, "TRUNCATE custody_events CASCADE")
		}
		for _, s := range stmts {
			if _, err := raw.Exec(s); err == nil {
				t.Errorf("%s: accepted", s)
			} else if !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want the append-only trigger", s, err)
			}
		}
		got, err := eventByID(w, ev.ID)
		if err != nil || !reflect.DeepEqual(got, ev) {
			t.Errorf("event after tampering = %+v, %v; want unchanged %+v", got, err, ev)
		}
	})
}

func eventByID(w *world, id string) (*domain.CustodyEvent, error) {
	var out *domain.CustodyEvent
	err := w.db.View(w.ctx, func(tx domain.Tx) error {
		var err error
		out, err = tx.GetEvent(id)
		return err
	})
	return out, err
}

// TestTimestampRoundTrip: times are stored as UTC microseconds and read back
// exactly (==, not just Equal), whatever zone and precision they came in.
func TestTimestampRoundTrip(t *testing.T) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	inputs := []time.Time{
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, zone), // truncated, not rounded, to .999999
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),         // no fraction
		time.Date(2030, 6, 15, 12, 0, 0, 1000, time.Local),  // one microsecond
		time.Date(1999, 12, 31, 23, 59, 59, 500, time.UTC),  // below a microsecond: dropped
	}
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		a := w.createAsset(t, "SN-1", "")
		for i, in := range inputs {
			want := in.UTC().Truncate(time.Microsecond)
			device := in
			e := w.event(a, domain.EventRecipientNotified)
			e.RecordedAt, e.DeviceTime = in, &device
			w.update(t, func(tx domain.Tx) error { return tx.AppendEvent(e) })
			if e.RecordedAt != want || *e.DeviceTime != want {
				t.Errorf("%d: AppendEvent left RecordedAt %v, want the stored value %v", i, e.RecordedAt, want)
			}
			got, err := eventByID(w, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.RecordedAt != want || got.DeviceTime == nil || *got.DeviceTime != want {
				t.Errorf("%d: read back %v / %v, want exactly %v", i, got.RecordedAt, got.DeviceTime, want)
			}
		}
		// The stored form itself, as the ledger will hash it.
		var stored string
		q := "SELECT recorded_at FROM custody_events ORDER BY seq LIMIT 1"
		if cfg.DatabaseURL != "" {
			q = "SELECT to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM custody_events ORDER BY seq LIMIT 1"
		}
		if err := storagetest.OwnerConn(t, cfg).QueryRow(q).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if want := "2024-02-29T18:29:59.999999Z"; stored != want {
			t.Errorf("stored recorded_at = %q, want %q", stored, want)
		}
	})
}

// TestLastAssetEvents: the newest n events of each asset, newest first, in
// one statement whatever the number of assets; the batch loaders likewise.
func TestLastAssetEvents(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		busy, quiet, silent := w.createAsset(t, "SN-1", ""), w.createAsset(t, "SN-2", ""), w.createAsset(t, "SN-3", "")
		busyEvents := w.appendEvents(t, busy, 5)
		quietEvents := w.appendEvents(t, quiet, 1)
		w.appendEvents(t, busy, 0)

		hooked, mark := counted(t, cfg)
		ctx, n := mark(w.ctx)
		var statements = map[string]int64{}
		err := hooked.View(ctx, func(tx domain.Tx) error {
			measure := func(name string, fn func() error) {
				before := n.Load()
				if err := fn(); err != nil {
					t.Errorf("%s: %v", name, err)
				}
				statements[name] = n.Load() - before
			}
			var got map[string][]*domain.CustodyEvent
			measure("LastAssetEvents", func() (err error) {
				got, err = tx.LastAssetEvents([]string{busy.ID, quiet.ID, silent.ID, newID()}, 3)
				return err
			})
			want := map[string][]*domain.CustodyEvent{
				busy.ID:  {busyEvents[4], busyEvents[3], busyEvents[2]},
				quiet.ID: {quietEvents[0]},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("LastAssetEvents = %v, want %v", seqsOf(got), seqsOf(want))
			}
			ids := []string{busy.ID, quiet.ID, silent.ID}
			measure("GetAssets", func() error { _, err := tx.GetAssets(ids); return err })
			measure("GetPeople", func() error { _, err := tx.GetPeople([]string{w.person.ID, newID()}); return err })
			measure("GetParcels", func() error { _, err := tx.GetParcels([]string{w.parcel.ID}); return err })
			measure("GetSignatures", func() error { _, err := tx.GetSignatures([]string{newID(), newID()}); return err })
			measure("GetMembers", func() error { _, err := tx.GetMembers([]string{w.member.ID, newID()}); return err })
			measure("ListAssets", func() error {
				_, err := tx.ListAssets(domain.AssetFilter{Search: "sn"}, domain.PageRequest{First: 50})
				return err
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for name, got := range statements {
			if got != 1 {
				t.Errorf("%s sent %d statements, want 1", name, got)
			}
		}
		if len(statements) != 7 {
			t.Errorf("measured %d calls, want 7 (is the hook wired?)", len(statements))
		}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			if got, err := tx.LastAssetEvents([]string{busy.ID}, 0); err != nil || len(got) != 0 {
				t.Errorf("LastAssetEvents(n=0) = %v, %v; want empty", got, err)
			}
			return nil
		})
	})
}

func seqsOf(m map[string][]*domain.CustodyEvent) map[string][]int64 {
	out := map[string][]int64{}
	for k, evs := range m {
		for _, e := range evs {
			out[k] = append(out[k], e.Seq)
		}
	}
	return out
}

// benchStores are the stores the benchmarks run on.
var benchStores = []struct {
	name string
	open func(testing.TB) (*storage.DB, storage.Config)
}{{"postgres", storagetest.Postgres}, {"sqlite", storagetest.SQLite}}

// BenchmarkAppendEvent measures appending one custody event per transaction
// to one tenant's log, ledger included (head increment, insert, Merkle
// hashes), serially and from parallel goroutines contending for the
// tenant's ledger head. BenchmarkAppendEventPlainInsert is its baseline.
func BenchmarkAppendEvent(b *testing.B) {
	for _, store := range benchStores {
		b.Run(store.name, func(b *testing.B) {
			db, _ := store.open(b)
			w := newWorld(b, db, "bench")
			a := w.createAsset(b, "SN-BENCH", "")
			benchSerialAndParallel(b, func() error {
				e := w.event(a, domain.EventHandedOff)
				return db.Update(w.ctx, func(tx domain.Tx) error { return tx.AppendEvent(e) })
			})
		})
	}
}

// BenchmarkAppendEventPlainInsert inserts the same event row as
// BenchmarkAppendEvent, in the same kind of transaction on the same store,
// with no ledger work at all: the sequence number comes from an in-process
// counter, there is no head row to lock and no hash to compute or store.
// The ratio of the two is the cost of the tamper-evident ledger.
func BenchmarkAppendEventPlainInsert(b *testing.B) {
	for _, store := range benchStores {
		b.Run(store.name, func(b *testing.B) {
			db, _ := store.open(b)
			w := newWorld(b, db, "bench")
			a := w.createAsset(b, "SN-BENCH", "")
			var seq atomic.Int64
			benchSerialAndParallel(b, func() error {
				e := w.event(a, domain.EventHandedOff)
				e.Seq = seq.Add(1)
				return storage.InsertEventPlain(w.ctx, db, e)
			})
		})
	}
}

func benchSerialAndParallel(b *testing.B, op func() error) {
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkScanEvents measures reading a whole log back for verification:
// ScanEvents plus the canonical encoding and leaf hash of every event,
// reported per event (a million-event log takes a million times that).
func BenchmarkScanEvents(b *testing.B) {
	const events, perTx = 20000, 500
	for _, store := range benchStores {
		b.Run(store.name, func(b *testing.B) {
			db, _ := store.open(b)
			w := newWorld(b, db, "bench")
			a := w.createAsset(b, "SN-BENCH", "")
			for range events / perTx {
				w.update(b, func(tx domain.Tx) error {
					for range perTx {
						if err := tx.AppendEvent(w.event(a, domain.EventHandedOff)); err != nil {
							return err
						}
					}
					return nil
				})
			}
			for b.Loop() {
				n := 0
				err := db.View(w.ctx, func(tx domain.Tx) error {
					return tx.ScanEvents(0, func(e *domain.CustodyEvent) error {
						data, err := domain.CanonicalEvent(e)
						_ = tlog.RecordHash(data)
						n++
						return err
					})
				})
				if err != nil || n != events {
					b.Fatalf("scanned %d events, %v; want %d", n, err, events)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
		})
	}
}
