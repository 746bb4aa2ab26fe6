package storage_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/google/uuid"
)

// world is one tenant of a test store with the records most tests need.
type world struct {
	db     *storage.DB
	ctx    context.Context
	tenant *domain.Tenant
	member *domain.Member
	person *domain.Person
	parcel *domain.Parcel
}

// at is a fixed, microsecond-precise UTC instant, so stored times compare with ==.
var at = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// newWorld creates a tenant with an admin member, one person and one parcel.
func newWorld(t testing.TB, db *storage.DB, slug string) *world {
	t.Helper()
	ctx, tenant, member := storagetest.NewTenant(t, db, slug)
	w := &world{db: db, ctx: ctx, tenant: tenant, member: member}
	w.person = &domain.Person{ID: newID(), EmployeeID: "E-1", Name: "Ada Lovelace", Email: "ada@example.com",
		Department: "R&D", Status: domain.PersonActive, Version: 1, CreatedAt: at, UpdatedAt: at}
	w.parcel = &domain.Parcel{ID: newID(), Carrier: "UPS", TrackingNumber: "1Z999", Sender: "Dell",
		Location: "Dock A", State: domain.ParcelReceived, ReceivedAt: at, Version: 1}
	w.update(t, func(tx domain.Tx) error {
		if err := tx.CreatePerson(w.person); err != nil {
			return err
		}
		w.parcel.RecipientID, w.parcel.ReceivedByID = w.person.ID, member.ID
		return tx.CreateParcel(w.parcel)
	})
	return w
}

func (w *world) update(t testing.TB, fn func(tx domain.Tx) error) {
	t.Helper()
	if err := w.db.Update(w.ctx, fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

// newAsset returns an unsaved asset of w's parcel.
func (w *world) newAsset(serial, tag string) *domain.Asset {
	return &domain.Asset{ID: newID(), ParcelID: w.parcel.ID, Serial: serial, AssetTag: tag, Make: "Lenovo",
		Model: "ThinkPad X1", Category: string(domain.CategoryLaptop), BearsData: true, State: domain.StateSerialized,
		Custodian: domain.Custodian{Kind: domain.CustodianLocation, Ref: "Dock A"}, IntendedRecipientID: w.person.ID,
		Version: 1, CreatedAt: at, UpdatedAt: at}
}

// createAsset saves a new asset.
func (w *world) createAsset(t testing.TB, serial, tag string) *domain.Asset {
	t.Helper()
	a := w.newAsset(serial, tag)
	w.update(t, func(tx domain.Tx) error { return tx.CreateAsset(a) })
	return a
}

// event returns an unsaved event of asset a.
func (w *world) event(a *domain.Asset, typ domain.EventType) *domain.CustodyEvent {
	return &domain.CustodyEvent{ID: newID(), AssetID: a.ID, ParcelID: a.ParcelID, Type: typ,
		FromState: domain.StateSerialized, ToState: domain.StateAwaitingCollection,
		FromCustodian: a.Custodian, ToCustodian: a.Custodian, ActorID: w.member.ID, Location: "Dock A",
		RecordedAt: at, Details: map[string]string{"note": fmt.Sprint(typ)}}
}

// appendEvents appends n events to a, one transaction each.
func (w *world) appendEvents(t testing.TB, a *domain.Asset, n int) []*domain.CustodyEvent {
	t.Helper()
	out := make([]*domain.CustodyEvent, n)
	for i := range out {
		out[i] = w.event(a, domain.EventRecipientNotified)
		w.update(t, func(tx domain.Tx) error { return tx.AppendEvent(out[i]) })
	}
	return out
}

// counted reopens cfg's store with a QueryHook that counts the statements
// sent with a context marked by countCtx.
func counted(t testing.TB, cfg storage.Config) (*storage.DB, func(context.Context) (context.Context, *atomic.Int64)) {
	t.Helper()
	type key struct{}
	cfg.QueryHook = func(ctx context.Context, _ string) {
		if n, ok := ctx.Value(key{}).(*atomic.Int64); ok {
			n.Add(1)
		}
	}
	db, err := storage.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open with query hook: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, func(ctx context.Context) (context.Context, *atomic.Int64) {
		n := new(atomic.Int64)
		return context.WithValue(ctx, key{}, n), n
	}
}
