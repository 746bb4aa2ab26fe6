package storage_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// BenchmarkPickupCount measures reconciling scans against a 10,000-line
// manifest through the domain service: a bulk count of all 10,000 scans in
// one call (read the manifest once, classify in memory, insert in batches),
// and a single scan (a few indexed reads and one insert).
//
//	CI=true go test ./domain/storage -run '^$' -bench PickupCount -benchtime 5x
func BenchmarkPickupCount(b *testing.B) {
	stores := []struct {
		name string
		open func(testing.TB) (*storage.DB, storage.Config)
	}{{"sqlite", storagetest.SQLite}, {"postgres", storagetest.Postgres}}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			db, _ := st.open(b)
			benchPickupCount(b, db)
		})
	}
}

func benchPickupCount(b *testing.B, db *storage.DB) {
	const lines = 10000
	{
		w := newWorld(b, db, "bench-pickup")
		svc := domain.NewService(db, nil)
		vendor := &domain.Vendor{ID: newID(), Name: "Bench ITAD", Version: 1, EngagedAt: at, UpdatedAt: at, EngagedByID: w.member.ID,
			Certifications: []domain.Certification{{Scheme: domain.SchemeR2v3, Number: "R2", ExpiresOn: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}}}
		order := &domain.PickupOrder{ID: newID(), State: domain.PickupOpen, ScheduledOn: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
			CreatedByID: w.member.ID, CreatedAt: at, UpdatedAt: at, Version: 1}
		scans := make([]domain.ScanInput, lines)
		w.update(b, func(tx domain.Tx) error {
			if err := tx.CreateVendor(vendor); err != nil {
				return err
			}
			order.VendorID = vendor.ID
			if err := tx.CreatePickupOrder(order); err != nil {
				return err
			}
			manifest := make([]*domain.PickupLine, lines)
			for i := range lines {
				serial := fmt.Sprintf("BENCH%06d", i)
				a := w.newAsset(serial, "T"+serial)
				a.State = domain.StateStaged
				if err := tx.CreateAsset(a); err != nil {
					return err
				}
				manifest[i] = &domain.PickupLine{OrderID: order.ID, AssetID: a.ID, Serial: a.Serial, AssetTag: a.AssetTag,
					Make: a.Make, Model: a.Model, Category: domain.CategoryLaptop, BearsData: true,
					Status: domain.LineStaged, StagedAt: at, StagedByID: w.member.ID}
				scans[i] = domain.ScanInput{Serial: serial, AssetTag: "T" + serial}
			}
			return tx.PutPickupLines(manifest)
		})
		b.Run("bulk-10000", func(b *testing.B) {
			for b.Loop() {
				got, err := svc.BulkCountScan(w.ctx, order.ID, scans)
				if err != nil || len(got) != lines {
					b.Fatalf("bulk count: %d scans, %v", len(got), err)
				}
			}
		})
		b.Run("single", func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := svc.CountScan(w.ctx, order.ID, scans[i%lines]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkPickupDock measures the vendor's dock scans against a fresh
// 10,000-line manifest: all of them in one bulk call, and single scans (each
// a first match). Unlike a count, a dock scan that does not match appends a
// custody event, so every bulk iteration gets a manifest of its own.
//
//	CI=true go test ./domain/storage -run '^$' -bench PickupDock -benchtime 3x
func BenchmarkPickupDock(b *testing.B) {
	stores := []struct {
		name string
		open func(testing.TB) (*storage.DB, storage.Config)
	}{{"sqlite", storagetest.SQLite}, {"postgres", storagetest.Postgres}}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			db, _ := st.open(b)
			w := newWorld(b, db, "bench-dock")
			svc := domain.NewService(db, nil)
			round := 0
			b.Run("bulk-10000", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					round++
					order, scans := benchManifest(b, w, fmt.Sprintf("R%d-", round), 10000)
					b.StartTimer()
					got, err := svc.BulkDockScan(w.ctx, order.ID, scans)
					if err != nil || len(got) != len(scans) || got[len(got)-1].Result != domain.ScanMatched {
						b.Fatalf("bulk dock scan: %d scans, %v", len(got), err)
					}
				}
			})
			round++
			order, scans := benchManifest(b, w, fmt.Sprintf("R%d-", round), 10000)
			b.Run("single", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if _, err := svc.DockScan(w.ctx, order.ID, scans[i%len(scans)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}

// benchManifest creates an open order of a new vendor with n staged lines
// whose serials start with prefix, and the scans that match them.
func benchManifest(b *testing.B, w *world, prefix string, n int) (*domain.PickupOrder, []domain.ScanInput) {
	b.Helper()
	vendor := &domain.Vendor{ID: newID(), Name: "Bench ITAD " + prefix, Version: 1, EngagedAt: at, UpdatedAt: at, EngagedByID: w.member.ID,
		Certifications: []domain.Certification{{Scheme: domain.SchemeR2v3, Number: "R2", ExpiresOn: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}}}
	order := &domain.PickupOrder{ID: newID(), State: domain.PickupOpen, ScheduledOn: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		CreatedByID: w.member.ID, CreatedAt: at, UpdatedAt: at, Version: 1}
	scans := make([]domain.ScanInput, n)
	w.update(b, func(tx domain.Tx) error {
		if err := tx.CreateVendor(vendor); err != nil {
			return err
		}
		order.VendorID = vendor.ID
		if err := tx.CreatePickupOrder(order); err != nil {
			return err
		}
		manifest := make([]*domain.PickupLine, n)
		for i := range n {
			serial := fmt.Sprintf("%s%06d", prefix, i)
			a := w.newAsset(serial, "T"+serial)
			a.State = domain.StateStaged
			if err := tx.CreateAsset(a); err != nil {
				return err
			}
			manifest[i] = &domain.PickupLine{OrderID: order.ID, AssetID: a.ID, Serial: a.Serial, AssetTag: a.AssetTag,
				Make: a.Make, Model: a.Model, Category: domain.CategoryLaptop, BearsData: true,
				Status: domain.LineStaged, StagedAt: at, StagedByID: w.member.ID}
			scans[i] = domain.ScanInput{Serial: serial, AssetTag: "T" + serial}
		}
		return tx.PutPickupLines(manifest)
	})
	return order, scans
}
