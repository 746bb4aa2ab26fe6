package storage_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// The ITAD pickup part of the repository contract, on both stores: orders,
// their manifest lines and the scans against them.

// pickupDay is the default date of a test order.
var pickupDay = day(2025, 4, 2)

// newOrder returns an unsaved open order of vendor v, created by w's member.
func (w *world) newOrder(v *domain.Vendor) *domain.PickupOrder {
	return &domain.PickupOrder{ID: newID(), VendorID: v.ID, ScheduledOn: pickupDay, State: domain.PickupOpen,
		Note: "dock B", CreatedByID: w.member.ID, CreatedAt: at, UpdatedAt: at, Version: 1}
}

// createOrder saves newOrder(v).
func (w *world) createOrder(t testing.TB, v *domain.Vendor) *domain.PickupOrder {
	t.Helper()
	o := w.newOrder(v)
	w.update(t, func(tx domain.Tx) error { return tx.CreatePickupOrder(o) })
	return o
}

// newLine returns an unsaved staged line of asset a on order o, staged at
// at plus offset.
func (w *world) newLine(o *domain.PickupOrder, a *domain.Asset, offset time.Duration) *domain.PickupLine {
	return &domain.PickupLine{OrderID: o.ID, AssetID: a.ID, Serial: a.Serial, AssetTag: a.AssetTag, Make: a.Make,
		Model: a.Model, Category: domain.AssetCategory(a.Category), BearsData: a.BearsData, Status: domain.LineStaged,
		StagedAt: at.Add(offset), StagedByID: w.member.ID}
}

// putLines stages lines in one transaction.
func (w *world) putLines(t testing.TB, lines ...*domain.PickupLine) {
	t.Helper()
	w.update(t, func(tx domain.Tx) error { return tx.PutPickupLines(lines) })
}

// newScan returns an unsaved count scan of order o with the result given
// and the line of asset line ("" for none).
func (w *world) newScan(o *domain.PickupOrder, serial, tag string, result domain.ScanResult, line string) *domain.PickupScan {
	return &domain.PickupScan{OrderID: o.ID, Phase: domain.PhaseCount, Serial: serial, AssetTag: tag, Model: "ThinkPad X1",
		Result: result, LineAssetID: line, ScannedByID: w.member.ID, ScannedAt: at}
}

// sameRecords is reflect.DeepEqual, but an empty list equals nil.
func sameRecords[T any](got, want []T) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return reflect.DeepEqual(got, want)
}

func orderIDs(os []*domain.PickupOrder) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.ID)
	}
	return out
}

// lineKeys names lines as "order/asset" prefixes, readable in failures.
func lineKeys(ls []*domain.PickupLine) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.OrderID[len(l.OrderID)-4:]+"/"+l.AssetID)
	}
	return out
}

func scanIDs(ss []*domain.PickupScan) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func TestContractPickupOrders(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		v := w.createVendor(t, "GreenCycle ITAD")
		b := newWorld(t, db, "beta")
		foreignVendor := b.createVendor(t, "Elsewhere")

		o := w.newOrder(v)
		o.TenantID, o.ID, o.VendorID = "ignored", strings.ToUpper(o.ID), strings.ToUpper(o.VendorID)
		// A date late in the day east of UTC is still that calendar date.
		o.ScheduledOn = time.Date(2025, 4, 2, 23, 30, 0, 0, time.FixedZone("+05", 5*3600))
		o.CreatedAt = at.Add(123 * time.Nanosecond) // below the stored precision
		w.update(t, func(tx domain.Tx) error { return tx.CreatePickupOrder(o) })
		if o.TenantID != w.tenant.ID || o.ID != strings.ToLower(o.ID) || o.VendorID != v.ID ||
			!o.ScheduledOn.Equal(pickupDay) || o.ScheduledOn.Location() != time.UTC || !o.CreatedAt.Equal(at) {
			t.Fatalf("CreatePickupOrder left %+v; want the tenant, canonical ids, %v and %v", o, pickupDay, at)
		}
		fresh := w.newOrder(v)
		fresh.ID = ""
		w.update(t, func(tx domain.Tx) error { return tx.CreatePickupOrder(fresh) })
		if fresh.ID == "" {
			t.Error("CreatePickupOrder gave no id to an order without one")
		}

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetPickupOrder(strings.ToUpper(o.ID))
			if err != nil || !reflect.DeepEqual(got, o) {
				t.Errorf("GetPickupOrder = %+v, %v; want %+v", got, err, o)
			}
			for _, id := range []string{newID(), "not-a-uuid", ""} {
				if _, err := tx.GetPickupOrder(id); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("GetPickupOrder(%q) = %v, want ErrNotFound", id, err)
				}
			}
			return nil
		})

		for _, c := range []struct {
			name string
			edit func(o *domain.PickupOrder)
			want func(error) bool
		}{
			{"same id", func(n *domain.PickupOrder) { n.ID = o.ID }, func(err error) bool { return isDuplicate(err, "id") }},
			{"unknown vendor", func(n *domain.PickupOrder) { n.VendorID = newID() }, isNotFound},
			{"another tenant's vendor", func(n *domain.PickupOrder) { n.VendorID = foreignVendor.ID }, isNotFound},
			{"malformed vendor", func(n *domain.PickupOrder) { n.VendorID = "greencycle" }, isNotFound},
			{"no vendor", func(n *domain.PickupOrder) { n.VendorID = "" }, isNotFound},
			{"unknown creator", func(n *domain.PickupOrder) { n.CreatedByID = newID() }, isNotFound},
			{"malformed id", func(n *domain.PickupOrder) { n.ID = "order-1" }, isFault},
			{"unknown state", func(n *domain.PickupOrder) { n.State = "LOST" }, isFault},
		} {
			t.Run("create "+c.name, func(t *testing.T) {
				n := w.newOrder(v)
				c.edit(n)
				if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreatePickupOrder(n) }); !c.want(err) {
					t.Errorf("CreatePickupOrder = %v", err)
				}
			})
		}

		// Optimistic update: v1 -> v2 succeeds, a writer still at v1 loses;
		// vendor and creation are never rewritten.
		other := w.createVendor(t, "Shred Co")
		upd := *o
		upd.ScheduledOn, upd.Note, upd.UpdatedAt, upd.Version = day(2025, 4, 9).Add(15*time.Hour), "moved", at.Add(time.Hour), 2
		sneaky := upd
		sneaky.VendorID, sneaky.CreatedByID, sneaky.CreatedAt = other.ID, newID(), at.Add(-time.Hour)
		w.update(t, func(tx domain.Tx) error { return tx.UpdatePickupOrder(&sneaky) })
		if !sneaky.ScheduledOn.Equal(day(2025, 4, 9)) || sneaky.TenantID != w.tenant.ID {
			t.Errorf("UpdatePickupOrder left %+v; want the date at midnight UTC and the tenant", sneaky)
		}
		upd.ScheduledOn = day(2025, 4, 9)
		for _, c := range []struct {
			name string
			edit func(o *domain.PickupOrder)
			want func(error) bool
		}{
			{"stale version", func(n *domain.PickupOrder) { n.Note = "stale" },
				func(err error) bool { return errors.Is(err, domain.ErrConcurrentModification) }},
			{"unknown id", func(n *domain.PickupOrder) { n.ID, n.Version = newID(), 3 }, isNotFound},
			{"malformed id", func(n *domain.PickupOrder) { n.ID, n.Version = "junk", 3 }, isNotFound},
			{"unknown state", func(n *domain.PickupOrder) { n.State, n.Version = "LOST", 3 }, isFault},
		} {
			t.Run("update "+c.name, func(t *testing.T) {
				n := upd
				c.edit(&n)
				if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.UpdatePickupOrder(&n) }); !c.want(err) {
					t.Errorf("UpdatePickupOrder = %v", err)
				}
			})
		}

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetPickupOrder(o.ID)
			if err != nil || !reflect.DeepEqual(got, &upd) {
				t.Errorf("GetPickupOrder after update = %+v, %v; want %+v", got, err, &upd)
			}
			batch, err := tx.GetPickupOrders([]string{fresh.ID, o.ID, newID(), "junk", strings.ToUpper(o.ID)})
			if err != nil || !reflect.DeepEqual(batch, []*domain.PickupOrder{&upd, fresh}) {
				t.Errorf("GetPickupOrders = %v, %v; want %v", orderIDs(batch), err, []string{o.ID, fresh.ID})
			}
			for _, ids := range [][]string{nil, {"junk"}, {newID()}} {
				if batch, err := tx.GetPickupOrders(ids); err != nil || len(batch) != 0 {
					t.Errorf("GetPickupOrders(%v) = %v, %v; want none", ids, orderIDs(batch), err)
				}
			}
			return nil
		})
	})
}

func TestContractPickupLocks(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		o := w.createOrder(t, w.createVendor(t, "GreenCycle ITAD"))
		w.update(t, func(tx domain.Tx) error {
			for _, l := range []struct {
				name string
				id   string
				want *domain.PickupOrder
			}{
				{"known", o.ID, o},
				{"upper case", strings.ToUpper(o.ID), o},
				{"unknown", newID(), nil},
				{"malformed", "order-1", nil},
				{"empty", "", nil},
			} {
				got, err := tx.LockPickupOrder(l.id)
				switch {
				case l.want == nil && !errors.Is(err, domain.ErrNotFound):
					t.Errorf("LockPickupOrder %s = %+v, %v; want ErrNotFound", l.name, got, err)
				case l.want != nil && (err != nil || !reflect.DeepEqual(got, l.want)):
					t.Errorf("LockPickupOrder %s = %+v, %v; want %+v", l.name, got, err, l.want)
				}
			}
			return nil
		})

		// A second locker waits for the first (on Postgres, provably on its
		// row lock) and then sees what the first committed.
		locked, release := make(chan struct{}), make(chan struct{})
		firstDone := make(chan error, 1)
		go func() {
			firstDone <- db.Update(w.ctx, func(tx domain.Tx) error {
				held, err := tx.LockPickupOrder(o.ID)
				close(locked)
				if err != nil {
					return err
				}
				<-release
				held.Note, held.Version = "changed under lock", held.Version+1
				return tx.UpdatePickupOrder(held)
			})
		}()
		await(t, locked, "the first transaction's lock")
		type result struct {
			o   *domain.PickupOrder
			err error
		}
		secondDone := make(chan result, 1)
		go func() {
			var r result
			err := db.Update(w.ctx, func(tx domain.Tx) error {
				r.o, r.err = tx.LockPickupOrder(o.ID)
				return nil
			})
			if r.err == nil {
				r.err = err
			}
			secondDone <- r
		}()
		if cfg.DatabaseURL != "" {
			waitForLockWaiter(t, cfg)
		}
		close(release)
		select {
		case err := <-firstDone:
			if err != nil {
				t.Fatalf("first transaction: %v", err)
			}
		case <-time.After(patience):
			t.Fatal("the first transaction hangs")
		}
		select {
		case r := <-secondDone:
			if r.err != nil || r.o.Version != 2 || r.o.Note != "changed under lock" {
				t.Errorf("second LockPickupOrder = %+v, %v; want version 2 as the first committed it", r.o, r.err)
			}
		case <-time.After(patience):
			t.Fatal("the second transaction hangs")
		}
	})
}

func TestContractListPickupOrders(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		green, shred, idle := w.createVendor(t, "GreenCycle"), w.createVendor(t, "Shred Co"), w.createVendor(t, "Idle")
		var all []string
		for _, v := range []*domain.Vendor{green, shred, green, shred, green} {
			all = append(all, w.createOrder(t, v).ID) // ids in creation order
		}
		greens := []string{all[0], all[2], all[4]}
		b := newWorld(t, db, "beta")
		b.createOrder(t, b.createVendor(t, "GreenCycle"))

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			for _, c := range []struct {
				name string
				f    domain.PickupFilter
				page domain.PageRequest
				want []string
			}{
				{"all", domain.PickupFilter{}, domain.PageRequest{First: 10}, all},
				{"first page", domain.PickupFilter{}, domain.PageRequest{First: 2}, all[:2]},
				{"second page", domain.PickupFilter{}, domain.PageRequest{First: 2, After: all[1]}, all[2:4]},
				{"cursor in upper case", domain.PickupFilter{}, domain.PageRequest{First: 1, After: strings.ToUpper(all[0])}, all[1:2]},
				{"after the last", domain.PickupFilter{}, domain.PageRequest{First: 2, After: all[4]}, nil},
				{"none asked", domain.PickupFilter{}, domain.PageRequest{First: 0}, nil},
				{"negative", domain.PickupFilter{}, domain.PageRequest{First: -1}, nil},
				{"vendor", domain.PickupFilter{VendorID: green.ID}, domain.PageRequest{First: 10}, greens},
				{"vendor, paged", domain.PickupFilter{VendorID: green.ID}, domain.PageRequest{First: 1, After: all[0]}, greens[1:2]},
				{"vendor in upper case", domain.PickupFilter{VendorID: strings.ToUpper(shred.ID)}, domain.PageRequest{First: 10}, []string{all[1], all[3]}},
				{"vendor without orders", domain.PickupFilter{VendorID: idle.ID}, domain.PageRequest{First: 10}, nil},
				{"unknown vendor", domain.PickupFilter{VendorID: newID()}, domain.PageRequest{First: 10}, nil},
				{"malformed vendor", domain.PickupFilter{VendorID: "green"}, domain.PageRequest{First: 10}, nil},
				{"state", domain.PickupFilter{State: domain.PickupOpen}, domain.PageRequest{First: 10}, all},
				{"state without orders", domain.PickupFilter{State: "PICKED_UP"}, domain.PageRequest{First: 10}, nil},
				{"vendor and state", domain.PickupFilter{VendorID: green.ID, State: domain.PickupOpen}, domain.PageRequest{First: 2}, greens[:2]},
				{"vendor and other state", domain.PickupFilter{VendorID: green.ID, State: "PICKED_UP"}, domain.PageRequest{First: 10}, nil},
			} {
				got, err := tx.ListPickupOrders(c.f, c.page)
				if ids := orderIDs(got); err != nil || !slices.Equal(ids, c.want) {
					t.Errorf("ListPickupOrders %s = %v, %v; want %v", c.name, ids, err, c.want)
				}
			}
			var arg *domain.ArgumentError
			if _, err := tx.ListPickupOrders(domain.PickupFilter{}, domain.PageRequest{First: 1, After: "garbage"}); !errors.As(err, &arg) {
				t.Errorf("ListPickupOrders(bad cursor) = %v, want ArgumentError", err)
			}
			return nil
		})
	})
}

func TestContractPickupLines(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		v := w.createVendor(t, "GreenCycle ITAD")
		o1, o2 := w.createOrder(t, v), w.createOrder(t, v)
		a1, a2, a3 := w.createAsset(t, "SN-1", "TAG-1"), w.createAsset(t, "SN-2", ""), w.createAsset(t, "", "TAG-3")
		b := newWorld(t, db, "beta")
		foreignAsset := b.createAsset(t, "SN-B", "")
		foreignOrder := b.createOrder(t, b.createVendor(t, "Elsewhere"))

		// Staged out of order: the list orders by order, time, then asset.
		l3 := w.newLine(o1, a3, 2*time.Minute)
		l2 := w.newLine(o1, a2, time.Minute)
		l1 := w.newLine(o1, a1, time.Minute)
		again := w.newLine(o2, a1, 0) // the same asset on another order
		l2.OrderID, l2.AssetID, l2.StagedByID = strings.ToUpper(l2.OrderID), strings.ToUpper(l2.AssetID), strings.ToUpper(l2.StagedByID)
		l2.TenantID = "ignored"
		l2.StagedAt = l2.StagedAt.Add(321 * time.Nanosecond)
		w.putLines(t, l3, l2)
		w.update(t, func(tx domain.Tx) error {
			if err := tx.PutPickupLine(l1); err != nil {
				return err
			}
			return tx.PutPickupLine(again)
		})
		if l2.TenantID != w.tenant.ID || l2.OrderID != o1.ID || l2.AssetID != a2.ID || l2.StagedByID != w.member.ID ||
			!l2.StagedAt.Equal(at.Add(time.Minute)) {
			t.Errorf("PutPickupLines left %+v; want the tenant, canonical ids, the stored time", l2)
		}
		if l1.TenantID != w.tenant.ID {
			t.Errorf("PutPickupLine left tenant %q", l1.TenantID)
		}
		// Ids are UUIDv7: o1 < o2 and a1 < a2, as created.
		byOrder := []*domain.PickupLine{l1, l2, l3, again}

		list := func(t *testing.T, ids []string) []*domain.PickupLine {
			t.Helper()
			var got []*domain.PickupLine
			_ = db.View(w.ctx, func(tx domain.Tx) error {
				var err error
				if got, err = tx.ListPickupLines(ids); err != nil {
					t.Errorf("ListPickupLines(%v) = %v", ids, err)
				}
				return nil
			})
			return got
		}
		for _, c := range []struct {
			name string
			ids  []string
			want []*domain.PickupLine
		}{
			{"one order", []string{o1.ID}, []*domain.PickupLine{l1, l2, l3}},
			{"two orders", []string{o2.ID, strings.ToUpper(o1.ID), o1.ID, "junk", newID()}, byOrder},
			{"none", nil, nil},
			{"only junk", []string{"junk"}, nil},
			{"another tenant's order", []string{foreignOrder.ID}, nil},
		} {
			if got := list(t, c.ids); !sameRecords(got, c.want) {
				t.Errorf("ListPickupLines %s = %v; want %v", c.name, lineKeys(got), lineKeys(c.want))
			}
		}

		// The upsert replaces every column but the key, including clearing
		// an identifier.
		removed := *l1
		removed.Status, removed.AssetTag, removed.Model, removed.BearsData = domain.LineRemoved, "", "X1 Carbon", false
		removed.StagedAt = at.Add(time.Hour)
		w.update(t, func(tx domain.Tx) error { return tx.PutPickupLine(&removed) })
		if got := list(t, []string{o1.ID}); !reflect.DeepEqual(got, []*domain.PickupLine{l2, l3, &removed}) {
			t.Errorf("after the upsert, lines = %+v; want l2, l3 and the replaced l1", got)
		}

		for _, c := range []struct {
			name string
			edit func(l *domain.PickupLine)
			want func(error) bool
		}{
			{"unknown order", func(l *domain.PickupLine) { l.OrderID = newID() }, isNotFound},
			{"another tenant's order", func(l *domain.PickupLine) { l.OrderID = foreignOrder.ID }, isNotFound},
			{"malformed order", func(l *domain.PickupLine) { l.OrderID = "order-1" }, isNotFound},
			{"unknown asset", func(l *domain.PickupLine) { l.AssetID = newID() }, isNotFound},
			{"another tenant's asset", func(l *domain.PickupLine) { l.AssetID = foreignAsset.ID }, isNotFound},
			{"no asset", func(l *domain.PickupLine) { l.AssetID = "" }, isNotFound},
			{"unknown stager", func(l *domain.PickupLine) { l.StagedByID = newID() }, isNotFound},
			{"unknown status", func(l *domain.PickupLine) { l.Status = "MISPLACED" }, isFault},
		} {
			t.Run("put "+c.name, func(t *testing.T) {
				for name, put := range map[string]func(tx domain.Tx, l *domain.PickupLine) error{
					"PutPickupLine":  func(tx domain.Tx, l *domain.PickupLine) error { return tx.PutPickupLine(l) },
					"PutPickupLines": func(tx domain.Tx, l *domain.PickupLine) error { return tx.PutPickupLines([]*domain.PickupLine{l}) },
				} {
					l := w.newLine(o2, a2, 0)
					c.edit(l)
					if err := db.Update(w.ctx, func(tx domain.Tx) error { return put(tx, l) }); !c.want(err) {
						t.Errorf("%s = %v", name, err)
					}
				}
			})
		}

		// PutPickupLines inserts only: a line already on the order fails the
		// call, and the transaction stores none of its lines.
		newcomer := w.newLine(o2, w.createAsset(t, "SN-4", ""), 0)
		err := db.Update(w.ctx, func(tx domain.Tx) error {
			return tx.PutPickupLines([]*domain.PickupLine{newcomer, w.newLine(o2, a1, 0)})
		})
		if !isDuplicate(err, "id") {
			t.Errorf("PutPickupLines with a line already on the order = %v, want DuplicateError id", err)
		}
		if got := list(t, []string{o2.ID}); !reflect.DeepEqual(got, []*domain.PickupLine{again}) {
			t.Errorf("after the refused call, o2's lines = %v; want only %v", lineKeys(got), lineKeys([]*domain.PickupLine{again}))
		}
		if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.PutPickupLines(nil) }); err != nil {
			t.Errorf("PutPickupLines(nil) = %v", err)
		}
	})
}

// TestPickupLinesBulk: 2,000 lines are staged in four INSERTs (batches of
// 500) and come back exactly as stored.
func TestPickupLinesBulk(t *testing.T) {
	const n = 2000
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		o := w.createOrder(t, w.createVendor(t, "GreenCycle ITAD"))
		assets := make([]*domain.Asset, n)
		w.update(t, func(tx domain.Tx) error {
			for i := range assets {
				tag := fmt.Sprintf("TAG-%05d", i)
				if i%10 == 0 {
					tag = "" // some without a tag: NULLs in bulk too
				}
				assets[i] = w.newAsset(fmt.Sprintf("SN-%05d", i), tag)
				if err := tx.CreateAsset(assets[i]); err != nil {
					return err
				}
			}
			return nil
		})
		lines := make([]*domain.PickupLine, n)
		for i, a := range assets {
			lines[i] = w.newLine(o, a, 0)
		}

		counting, mark := counted(t, cfg)
		statements := func(fn func(tx domain.Tx) error) int64 {
			t.Helper()
			ctx, count := mark(w.ctx)
			if err := counting.Update(ctx, fn); err != nil {
				t.Fatalf("update: %v", err)
			}
			return count.Load()
		}
		base := statements(func(domain.Tx) error { return nil })
		if got := statements(func(tx domain.Tx) error { return tx.PutPickupLines(lines) }) - base; got != n/500 {
			t.Errorf("PutPickupLines(%d lines) took %d statements, want %d", n, got, n/500)
		}

		want := slices.Clone(lines)
		slices.SortFunc(want, func(a, b *domain.PickupLine) int { return strings.Compare(a.AssetID, b.AssetID) })
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.ListPickupLines([]string{o.ID})
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("ListPickupLines = %d lines, %v; want the %d staged", len(got), err, n)
			}
			found, err := tx.FindPickupLines(o.ID, "SN-01234", "TAG-01999")
			if err != nil || !reflect.DeepEqual(found, []*domain.PickupLine{lines[1234], lines[1999]}) {
				t.Errorf("FindPickupLines in the bulk = %v, %v", lineKeys(found), err)
			}
			return nil
		})
	})
}

func TestContractFindPickupLines(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		v := w.createVendor(t, "GreenCycle ITAD")
		o, other := w.createOrder(t, v), w.createOrder(t, v)
		both := w.newLine(o, w.createAsset(t, "SN-1", "TAG-1"), 0)
		serialOnly := w.newLine(o, w.createAsset(t, "SN-2", ""), time.Second)
		tagOnly := w.newLine(o, w.createAsset(t, "", "TAG-3"), 2*time.Second)
		elsewhere := w.newLine(other, w.createAsset(t, "SN-9", "TAG-9"), 0)
		w.putLines(t, both, serialOnly, tagOnly, elsewhere)
		b := newWorld(t, db, "beta")
		bo := b.createOrder(t, b.createVendor(t, "Elsewhere"))
		b.putLines(t, b.newLine(bo, b.createAsset(t, "SN-1", "TAG-1"), 0))

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			for _, c := range []struct {
				name, order, serial, tag string
				want                     []*domain.PickupLine
			}{
				{"serial", o.ID, "SN-1", "", []*domain.PickupLine{both}},
				{"tag", o.ID, "", "TAG-1", []*domain.PickupLine{both}},
				{"serial and tag of one line", o.ID, "SN-1", "TAG-1", []*domain.PickupLine{both}},
				{"serial and tag of two lines", o.ID, "SN-2", "TAG-3", []*domain.PickupLine{serialOnly, tagOnly}},
				{"tag of one, serial of none", o.ID, "SN-404", "TAG-3", []*domain.PickupLine{tagOnly}},
				// An empty identifier matches no line, not the lines without one.
				{"empty serial", o.ID, "", "TAG-404", nil},
				{"empty tag", o.ID, "SN-404", "", nil},
				{"none", o.ID, "", "", nil},
				{"unknown identifiers", o.ID, "SN-404", "TAG-404", nil},
				{"another order's line", o.ID, "SN-9", "TAG-9", nil},
				{"the other order", strings.ToUpper(other.ID), "SN-9", "", []*domain.PickupLine{elsewhere}},
				{"identifiers are exact", o.ID, "sn-1", "tag-1", nil},
				{"unknown order", newID(), "SN-1", "TAG-1", nil},
				{"malformed order", "order-1", "SN-1", "TAG-1", nil},
				{"another tenant's order", bo.ID, "SN-1", "TAG-1", nil},
			} {
				got, err := tx.FindPickupLines(c.order, c.serial, c.tag)
				if err != nil || !sameRecords(got, c.want) {
					t.Errorf("FindPickupLines %s = %v, %v; want %v", c.name, lineKeys(got), err, lineKeys(c.want))
				}
			}
			return nil
		})
	})
}

func TestContractPickupScans(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		v := w.createVendor(t, "GreenCycle ITAD")
		o, other := w.createOrder(t, v), w.createOrder(t, v)
		a1, a2 := w.createAsset(t, "SN-1", "TAG-1"), w.createAsset(t, "SN-2", "TAG-2")
		unstaged := w.createAsset(t, "SN-3", "")
		w.putLines(t, w.newLine(o, a1, 0), w.newLine(o, a2, 0), w.newLine(other, a1, 0))
		b := newWorld(t, db, "beta")
		bo := b.createOrder(t, b.createVendor(t, "Elsewhere"))

		single := w.newScan(o, "SN-1", "", domain.ScanMatched, strings.ToUpper(a1.ID))
		single.OrderID, single.TenantID = strings.ToUpper(single.OrderID), "ignored"
		device := at.Add(-time.Minute + 7*time.Nanosecond)
		single.DeviceTime = &device
		w.update(t, func(tx domain.Tx) error { return tx.CreatePickupScans([]*domain.PickupScan{single}) })
		wantDevice := at.Add(-time.Minute)
		if single.ID == "" || single.TenantID != w.tenant.ID || single.OrderID != o.ID || single.LineAssetID != a1.ID ||
			single.DeviceTime == nil || !single.DeviceTime.Equal(wantDevice) {
			t.Errorf("CreatePickupScans left %+v; want an id, the tenant, canonical ids, the stored device time", single)
		}

		// A bulk call: the scans share their time and list in the order given.
		later := at.Add(time.Second)
		bulk := []*domain.PickupScan{
			w.newScan(o, "SN-1", "TAG-1", domain.ScanDuplicate, a1.ID),
			w.newScan(o, "SN-404", "", domain.ScanUnexpected, ""),
			w.newScan(o, "SN-2", "TAG-1", domain.ScanSubstituted, a2.ID),
			w.newScan(o, "", "TAG-2", domain.ScanMatched, a2.ID),
		}
		for _, s := range bulk {
			s.ID, s.ScannedAt = newID(), later
		}
		bulk[2].Detail = "the serial is on one manifest line and the asset tag on another"
		elsewhere := w.newScan(other, "SN-1", "", domain.ScanMatched, a1.ID)
		w.update(t, func(tx domain.Tx) error {
			if err := tx.CreatePickupScans(bulk); err != nil {
				return err
			}
			return tx.CreatePickupScans([]*domain.PickupScan{elsewhere})
		})

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			for _, c := range []struct {
				name, order string
				phase       domain.ScanPhase
				want        []*domain.PickupScan
			}{
				{"order", o.ID, domain.PhaseCount, append([]*domain.PickupScan{single}, bulk...)},
				{"order in upper case", strings.ToUpper(other.ID), domain.PhaseCount, []*domain.PickupScan{elsewhere}},
				{"another phase", o.ID, "RECEIPT", nil},
				{"unknown order", newID(), domain.PhaseCount, nil},
				{"malformed order", "order-1", domain.PhaseCount, nil},
				{"another tenant's order", bo.ID, domain.PhaseCount, nil},
			} {
				got, err := tx.ListPickupScans(c.order, c.phase)
				if err != nil || !sameRecords(got, c.want) {
					t.Errorf("ListPickupScans %s = %v, %v; want %v", c.name, scanIDs(got), err, scanIDs(c.want))
				}
			}

			for _, c := range []struct {
				name, order string
				phase       domain.ScanPhase
				asset       string
				want        bool
			}{
				{"matched", o.ID, domain.PhaseCount, a1.ID, true},
				{"matched by tag", o.ID, domain.PhaseCount, a2.ID, true},
				{"ids in upper case", strings.ToUpper(o.ID), domain.PhaseCount, strings.ToUpper(a1.ID), true},
				{"another phase", o.ID, "RECEIPT", a1.ID, false},
				{"line of another order", other.ID, domain.PhaseCount, a2.ID, false},
				{"matched on another order", other.ID, domain.PhaseCount, a1.ID, true},
				{"not on the manifest", o.ID, domain.PhaseCount, unstaged.ID, false},
				{"unknown order", newID(), domain.PhaseCount, a1.ID, false},
				{"malformed order", "order-1", domain.PhaseCount, a1.ID, false},
				{"malformed asset", o.ID, domain.PhaseCount, "asset-1", false},
				{"another tenant's order", bo.ID, domain.PhaseCount, a1.ID, false},
			} {
				if got, err := tx.MatchedInPhase(c.order, c.phase, c.asset); err != nil || got != c.want {
					t.Errorf("MatchedInPhase %s = %v, %v; want %v", c.name, got, err, c.want)
				}
			}
			for _, c := range []struct {
				name, order string
				phase       domain.ScanPhase
				want        []string
			}{
				{"order", o.ID, domain.PhaseCount, []string{a1.ID, a2.ID}},
				{"another order", other.ID, domain.PhaseCount, []string{a1.ID}},
				{"another phase", o.ID, "RECEIPT", nil},
				{"malformed order", "order-1", domain.PhaseCount, nil},
				{"another tenant's order", bo.ID, domain.PhaseCount, nil},
			} {
				got, err := tx.MatchedLines(c.order, c.phase)
				slices.Sort(got)
				want := slices.Sorted(slices.Values(c.want))
				if err != nil || !slices.Equal(got, want) {
					t.Errorf("MatchedLines %s = %v, %v; want %v", c.name, got, err, want)
				}
			}
			return nil
		})

		// Only a substitution or a duplicate of a line: not matched.
		o3 := w.createOrder(t, v)
		w.putLines(t, w.newLine(o3, a1, 0))
		w.update(t, func(tx domain.Tx) error {
			return tx.CreatePickupScans([]*domain.PickupScan{
				w.newScan(o3, "SN-1", "TAG-X", domain.ScanSubstituted, a1.ID),
				w.newScan(o3, "SN-1", "", domain.ScanDuplicate, a1.ID),
			})
		})
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			if got, err := tx.MatchedInPhase(o3.ID, domain.PhaseCount, a1.ID); err != nil || got {
				t.Errorf("MatchedInPhase without a MATCHED scan = %v, %v; want false", got, err)
			}
			return nil
		})

		for _, c := range []struct {
			name string
			edit func(s *domain.PickupScan)
			want func(error) bool
		}{
			{"same id", func(s *domain.PickupScan) { s.ID = single.ID }, func(err error) bool { return isDuplicate(err, "id") }},
			{"unknown order", func(s *domain.PickupScan) { s.OrderID = newID() }, isNotFound},
			{"another tenant's order", func(s *domain.PickupScan) { s.OrderID = bo.ID }, isNotFound},
			{"malformed order", func(s *domain.PickupScan) { s.OrderID = "order-1" }, isNotFound},
			{"line not on the order", func(s *domain.PickupScan) { s.LineAssetID = unstaged.ID }, isNotFound},
			{"line of another order only", func(s *domain.PickupScan) { s.OrderID = o3.ID; s.LineAssetID = a2.ID }, isNotFound},
			{"malformed line", func(s *domain.PickupScan) { s.LineAssetID = "asset-1" }, isNotFound},
			{"unknown scanner", func(s *domain.PickupScan) { s.ScannedByID = newID() }, isNotFound},
			{"malformed id", func(s *domain.PickupScan) { s.ID = "scan-1" }, isFault},
			{"matched without a line", func(s *domain.PickupScan) { s.LineAssetID = "" }, isFault},
			{"unexpected with a line", func(s *domain.PickupScan) { s.Result = domain.ScanUnexpected }, isFault},
			{"unknown result", func(s *domain.PickupScan) { s.Result = "MAYBE" }, isFault},
			{"unknown phase", func(s *domain.PickupScan) { s.Phase = "AUDIT" }, isFault},
			{"no identifier", func(s *domain.PickupScan) { s.Serial, s.AssetTag = "", "" }, isFault},
		} {
			t.Run("create "+c.name, func(t *testing.T) {
				s := w.newScan(o, "SN-1", "TAG-1", domain.ScanMatched, a1.ID)
				c.edit(s)
				ok := w.newScan(o, "SN-2", "", domain.ScanDuplicate, a2.ID)
				err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreatePickupScans([]*domain.PickupScan{ok, s}) })
				if !c.want(err) {
					t.Errorf("CreatePickupScans = %v", err)
				}
				_ = db.View(w.ctx, func(tx domain.Tx) error {
					if got, err := tx.ListPickupScans(o.ID, domain.PhaseCount); err != nil || len(got) != 5 {
						t.Errorf("after the refused call, %d scans, %v; want the 5 before", len(got), err)
					}
					return nil
				})
			})
		}
		if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreatePickupScans(nil) }); err != nil {
			t.Errorf("CreatePickupScans(nil) = %v", err)
		}
	})
}

// TestPickupTenantIsolation: another tenant can neither see, find, lock,
// change nor reference a tenant's orders, lines and scans, through any
// method of the adapter or (the composite foreign keys) in plain SQL.
func TestPickupTenantIsolation(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		a := newWorld(t, db, "alpha")
		b := newWorld(t, db, "beta")
		av := a.createVendor(t, "GreenCycle ITAD")
		ao := a.createOrder(t, av)
		asset := a.createAsset(t, "SN-SHARED", "TAG-SHARED")
		a.putLines(t, a.newLine(ao, asset, 0))
		a.update(t, func(tx domain.Tx) error {
			return tx.CreatePickupScans([]*domain.PickupScan{a.newScan(ao, "SN-SHARED", "", domain.ScanMatched, asset.ID)})
		})
		// B has records of the same shape, so every list has something to leak into.
		bv := b.createVendor(t, "GreenCycle ITAD")
		bo := b.createOrder(t, bv)
		bAsset := b.createAsset(t, "SN-SHARED", "TAG-SHARED")
		b.putLines(t, b.newLine(bo, bAsset, 0))

		err := db.Update(b.ctx, func(tx domain.Tx) error {
			notFound := map[string]func() error{
				"GetPickupOrder":  func() error { _, err := tx.GetPickupOrder(ao.ID); return err },
				"LockPickupOrder": func() error { _, err := tx.LockPickupOrder(ao.ID); return err },
			}
			for name, get := range notFound {
				if err := get(); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("B %s(A's) = %v, want ErrNotFound", name, err)
				}
			}
			empty := map[string]func() (int, error){
				"GetPickupOrders": func() (int, error) { got, err := tx.GetPickupOrders([]string{ao.ID}); return len(got), err },
				"ListPickupOrders by vendor": func() (int, error) {
					got, err := tx.ListPickupOrders(domain.PickupFilter{VendorID: av.ID}, domain.PageRequest{First: 10})
					return len(got), err
				},
				"ListPickupLines": func() (int, error) { got, err := tx.ListPickupLines([]string{ao.ID}); return len(got), err },
				"FindPickupLines": func() (int, error) {
					got, err := tx.FindPickupLines(ao.ID, "SN-SHARED", "TAG-SHARED")
					return len(got), err
				},
				"ListPickupScans": func() (int, error) {
					got, err := tx.ListPickupScans(ao.ID, domain.PhaseCount)
					return len(got), err
				},
			}
			for name, list := range empty {
				if n, err := list(); err != nil || n != 0 {
					t.Errorf("B %s(A's) = %d rows, %v; want none", name, n, err)
				}
			}
			if matched, err := tx.MatchedInPhase(ao.ID, domain.PhaseCount, asset.ID); err != nil || matched {
				t.Errorf("B MatchedInPhase(A's) = %v, %v; want false", matched, err)
			}
			got, err := tx.ListPickupOrders(domain.PickupFilter{}, domain.PageRequest{First: 10})
			if ids := orderIDs(got); err != nil || !slices.Equal(ids, []string{bo.ID}) {
				t.Errorf("B ListPickupOrders = %v, %v; want only B's", ids, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		writes := map[string]func(tx domain.Tx) error{
			"UpdatePickupOrder": func(tx domain.Tx) error {
				stolen := *ao
				stolen.Note, stolen.Version = "stolen", ao.Version+1
				return tx.UpdatePickupOrder(&stolen)
			},
			"CreatePickupOrder for A's vendor": func(tx domain.Tx) error { return tx.CreatePickupOrder(b.newOrder(av)) },
			"CreatePickupOrder by A's member": func(tx domain.Tx) error {
				o := b.newOrder(bv)
				o.CreatedByID = a.member.ID
				return tx.CreatePickupOrder(o)
			},
			"PutPickupLine on A's order": func(tx domain.Tx) error { return tx.PutPickupLine(b.newLine(ao, bAsset, 0)) },
			"PutPickupLine of A's asset": func(tx domain.Tx) error { return tx.PutPickupLine(b.newLine(bo, asset, 0)) },
			"PutPickupLines on A's order": func(tx domain.Tx) error {
				return tx.PutPickupLines([]*domain.PickupLine{b.newLine(ao, bAsset, 0)})
			},
			"PutPickupLines of A's asset": func(tx domain.Tx) error {
				return tx.PutPickupLines([]*domain.PickupLine{b.newLine(bo, asset, time.Second)})
			},
			"CreatePickupScans on A's order": func(tx domain.Tx) error {
				return tx.CreatePickupScans([]*domain.PickupScan{b.newScan(ao, "SN-SHARED", "", domain.ScanUnexpected, "")})
			},
			"CreatePickupScans of A's line": func(tx domain.Tx) error {
				return tx.CreatePickupScans([]*domain.PickupScan{b.newScan(bo, "SN-SHARED", "", domain.ScanMatched, asset.ID)})
			},
		}
		for name, write := range writes {
			if err := db.Update(b.ctx, write); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("B %s = %v, want ErrNotFound", name, err)
			}
		}

		// The database's own wall: rows of B naming A's order or line.
		ctx := context.Background()
		stamp := at.Format("2006-01-02T15:04:05.000000Z")
		for _, c := range []struct {
			name, sql string
			args      []any
		}{
			{"line on A's order", "INSERT INTO pickup_lines (tenant_id, order_id, asset_id, make, model, category, " +
				"bears_data, status, staged_at, staged_by_id) VALUES (?, ?, ?, 'Dell', 'X', 'LAPTOP', true, 'STAGED', ?, ?)",
				[]any{b.tenant.ID, ao.ID, bAsset.ID, stamp, b.member.ID}},
			{"scan of A's line", "INSERT INTO pickup_scans (tenant_id, id, order_id, phase, serial, model, result, " +
				"line_asset_id, detail, scanned_by_id, scanned_at) VALUES (?, ?, ?, 'COUNT', 'SN', '', 'MATCHED', ?, '', ?, ?)",
				[]any{b.tenant.ID, newID(), bo.ID, asset.ID, b.member.ID, stamp}},
		} {
			t.Run("owner "+c.name, func(t *testing.T) {
				tx, err := storagetest.OwnerConn(t, cfg).BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = tx.Rollback() }()
				q := c.sql
				if cfg.DatabaseURL != "" {
					if _, err := tx.Exec("SELECT set_config('custody.tenant_id', $1, true)", b.tenant.ID); err != nil {
						t.Fatal(err)
					}
					q = sqlPlaceholders(q)
				} else {
					q = strings.ReplaceAll(q, "true", "1")
				}
				_, err = tx.Exec(q, c.args...)
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), "foreign key") {
					t.Errorf("owner insert of B's %s = %v, want a foreign key violation", c.name, err)
				}
			})
		}

		_ = db.View(a.ctx, func(tx domain.Tx) error {
			got, err := tx.GetPickupOrder(ao.ID)
			if err != nil || !reflect.DeepEqual(got, ao) {
				t.Errorf("A's order = %+v, %v; want %+v", got, err, ao)
			}
			if lines, err := tx.ListPickupLines([]string{ao.ID}); err != nil || len(lines) != 1 {
				t.Errorf("A's lines = %v, %v; want its one line", lineKeys(lines), err)
			}
			return nil
		})
	})
}

// TestPickupMigrationDown: migration 00006's Down section removes its
// tables, after which Open refuses the schema and Up restores it.
func TestPickupMigrationDown(t *testing.T) {
	for _, c := range []struct {
		name    string
		dialect goose.Dialect
		dir     string
		config  func(t *testing.T) storage.Config
	}{
		{"sqlite", goose.DialectSQLite3, "migrations/sqlite", func(t *testing.T) storage.Config {
			_, cfg := storagetest.SQLite(t)
			return cfg
		}},
		{"postgres", goose.DialectPostgres, "migrations/postgres", func(t *testing.T) storage.Config {
			return storagetest.PostgresConfig(t)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := c.config(t)
			p := vendorMigrationProvider(t, cfg, c.dialect, c.dir)
			if _, err := p.DownTo(ctx, 5); err != nil {
				t.Fatalf("migrate down to 5: %v", err)
			}
			if db, err := storage.Open(ctx, cfg); err == nil {
				_ = db.Close()
				t.Fatal("Open accepted a schema without the pickup tables")
			}
			if _, err := storage.Migrate(ctx, cfg); err != nil {
				t.Fatalf("migrate up again: %v", err)
			}
			db, err := storage.Open(ctx, cfg)
			if err != nil {
				t.Fatalf("open after up again: %v", err)
			}
			defer db.Close()
			w := newWorld(t, db, "acme")
			w.createOrder(t, w.createVendor(t, "GreenCycle ITAD"))
		})
	}
}
