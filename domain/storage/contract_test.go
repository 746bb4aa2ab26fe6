package storage_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/tenancy"
)

// The repository contract: every domain.Tx and domain.Admin method, on both stores.

func TestContractPeople(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		err := db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetPerson(w.person.ID)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, w.person) {
				t.Errorf("GetPerson = %+v, want %+v", got, w.person)
			}
			if _, err := tx.GetPerson(newID()); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("GetPerson(unknown) = %v, want ErrNotFound", err)
			}
			if _, err := tx.GetPerson("not-a-uuid"); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("GetPerson(malformed) = %v, want ErrNotFound", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		dups := []struct {
			name    string
			edit    func(p *domain.Person)
			wantKey string
		}{
			{"employee id", func(p *domain.Person) { p.EmployeeID = "E-1" }, "employeeId"},
			{"email, other case", func(p *domain.Person) { p.Email = "ADA@Example.com" }, "email"},
		}
		for _, d := range dups {
			t.Run("duplicate "+d.name, func(t *testing.T) {
				p := &domain.Person{ID: newID(), EmployeeID: "E-" + newID(), Name: "Other", Email: newID() + "@example.com",
					Status: domain.PersonActive, Version: 1, CreatedAt: at, UpdatedAt: at}
				d.edit(p)
				err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreatePerson(p) })
				var dup *domain.DuplicateError
				if !errors.As(err, &dup) || dup.Key != d.wantKey {
					t.Fatalf("CreatePerson = %v, want DuplicateError{%s}", err, d.wantKey)
				}
			})
		}

		// Optimistic update: v1 -> v2 succeeds, a second writer still at v1 loses.
		p := *w.person
		p.Name, p.Version, p.UpdatedAt = "Ada King", 2, at.Add(time.Hour)
		w.update(t, func(tx domain.Tx) error { return tx.UpdatePerson(&p) })
		stale := *w.person
		stale.Name, stale.Version = "Stale", 2
		err = db.Update(w.ctx, func(tx domain.Tx) error { return tx.UpdatePerson(&stale) })
		if !errors.Is(err, domain.ErrConcurrentModification) {
			t.Fatalf("stale UpdatePerson = %v, want ErrConcurrentModification", err)
		}
		missing := p
		missing.ID = newID()
		if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.UpdatePerson(&missing) }); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("UpdatePerson(missing) = %v, want ErrNotFound", err)
		}

		// A second person, then the batch loader and the list.
		bob := &domain.Person{ID: newID(), EmployeeID: "E-2", Name: "Bob 100%_Sure", Email: "bob@example.com",
			Status: domain.PersonTerminated, Version: 1, CreatedAt: at, UpdatedAt: at}
		w.update(t, func(tx domain.Tx) error { return tx.CreatePerson(bob) })
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetPerson(p.ID)
			if err != nil || got.Name != "Ada King" || got.Version != 2 || !got.UpdatedAt.Equal(p.UpdatedAt) {
				t.Errorf("after update GetPerson = %+v, %v", got, err)
			}
			batch, err := tx.GetPeople([]string{bob.ID, p.ID, newID(), "junk", strings.ToUpper(bob.ID)})
			if err != nil || len(batch) != 2 {
				t.Errorf("GetPeople = %d people, %v; want 2", len(batch), err)
			}
			lists := []struct {
				name string
				f    domain.PersonFilter
				page domain.PageRequest
				want []string
			}{
				{"all", domain.PersonFilter{}, domain.PageRequest{First: 10}, []string{p.ID, bob.ID}},
				{"first 1", domain.PersonFilter{}, domain.PageRequest{First: 1}, []string{p.ID}},
				{"after first", domain.PersonFilter{}, domain.PageRequest{First: 10, After: p.ID}, []string{bob.ID}},
				{"status", domain.PersonFilter{Status: domain.PersonTerminated}, domain.PageRequest{First: 10}, []string{bob.ID}},
				{"search name", domain.PersonFilter{Search: "ada k"}, domain.PageRequest{First: 10}, []string{p.ID}},
				{"search email", domain.PersonFilter{Search: "BOB@"}, domain.PageRequest{First: 10}, []string{bob.ID}},
				{"search employee id", domain.PersonFilter{Search: "e-2"}, domain.PageRequest{First: 10}, []string{bob.ID}},
				{"search literal %", domain.PersonFilter{Search: "100%_"}, domain.PageRequest{First: 10}, []string{bob.ID}},
				{"search % is no wildcard", domain.PersonFilter{Search: "%"}, domain.PageRequest{First: 10}, []string{bob.ID}},
				{"search _ is no wildcard", domain.PersonFilter{Search: "a_a"}, domain.PageRequest{First: 10}, nil},
			}
			for _, l := range lists {
				got, err := tx.ListPeople(l.f, l.page)
				if err != nil {
					t.Errorf("ListPeople %s: %v", l.name, err)
					continue
				}
				if ids := personIDs(got); !slices.Equal(ids, l.want) {
					t.Errorf("ListPeople %s = %v, want %v", l.name, ids, l.want)
				}
			}
			_, err = tx.ListPeople(domain.PersonFilter{}, domain.PageRequest{First: 10, After: "garbage"})
			var arg *domain.ArgumentError
			if !errors.As(err, &arg) {
				t.Errorf("ListPeople(bad cursor) = %v, want ArgumentError", err)
			}
			return nil
		})
	})
}

func personIDs(ps []*domain.Person) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestContractParcels(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		second := &domain.Parcel{ID: newID(), Carrier: "FedEx", TrackingNumber: "77", Sender: "Apple",
			RecipientID: w.person.ID, Location: "Dock B", Note: "dented", State: domain.ParcelReceived,
			ReceivedByID: w.member.ID, ReceivedAt: at, Version: 1, TenantID: "ignored"}
		w.update(t, func(tx domain.Tx) error { return tx.CreateParcel(second) })
		if second.TenantID != w.tenant.ID {
			t.Fatalf("CreateParcel left TenantID %q, want the transaction's %q", second.TenantID, w.tenant.ID)
		}
		upd := *second
		upd.State, upd.Version = domain.ParcelSerialized, 2
		w.update(t, func(tx domain.Tx) error { return tx.UpdateParcel(&upd) })
		err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.UpdateParcel(second) }) // still version 1
		if !errors.Is(err, domain.ErrConcurrentModification) {
			t.Fatalf("stale UpdateParcel = %v, want ErrConcurrentModification", err)
		}
		// A parcel for a person the tenant does not have is refused by the foreign key.
		orphan := *second
		orphan.ID, orphan.RecipientID = newID(), newID()
		if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreateParcel(&orphan) }); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("CreateParcel(unknown recipient) = %v, want ErrNotFound", err)
		}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetParcel(second.ID)
			if err != nil || !reflect.DeepEqual(got, &upd) {
				t.Errorf("GetParcel = %+v, %v; want %+v", got, err, &upd)
			}
			batch, err := tx.GetParcels([]string{w.parcel.ID, second.ID, newID()})
			if err != nil || len(batch) != 2 {
				t.Errorf("GetParcels = %d, %v; want 2", len(batch), err)
			}
			for _, l := range []struct {
				name string
				f    domain.ParcelFilter
				want []string
			}{
				{"all", domain.ParcelFilter{}, []string{w.parcel.ID, second.ID}},
				{"state", domain.ParcelFilter{State: domain.ParcelSerialized}, []string{second.ID}},
				{"recipient", domain.ParcelFilter{RecipientID: w.person.ID}, []string{w.parcel.ID, second.ID}},
				{"other recipient", domain.ParcelFilter{RecipientID: newID()}, nil},
				{"malformed recipient", domain.ParcelFilter{RecipientID: "x"}, nil},
			} {
				got, err := tx.ListParcels(l.f, domain.PageRequest{First: 10})
				var ids []string
				for _, p := range got {
					ids = append(ids, p.ID)
				}
				if err != nil || !slices.Equal(ids, l.want) {
					t.Errorf("ListParcels %s = %v, %v; want %v", l.name, ids, err, l.want)
				}
			}
			return nil
		})
	})
}

func TestContractAssets(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		laptop := w.createAsset(t, "SN-1", "TAG-1")
		serialOnly := w.createAsset(t, "SN-2", "")
		tagOnly := w.createAsset(t, "", "TAG-3")
		tagOnly2 := w.newAsset("", "TAG-4") // a second asset without serial: NULLs do not collide
		tagOnly2.Make, tagOnly2.Model = "Apple", "MacBook_Pro 100%"
		w.update(t, func(tx domain.Tx) error { return tx.CreateAsset(tagOnly2) })

		for _, d := range []struct {
			serial, tag, key string
		}{{"SN-1", "", "serial"}, {"", "TAG-1", "assetTag"}, {"SN-9", "TAG-3", "assetTag"}} {
			a := w.newAsset(d.serial, d.tag)
			err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreateAsset(a) })
			var dup *domain.DuplicateError
			if !errors.As(err, &dup) || dup.Key != d.key || !errors.Is(err, domain.ErrDuplicate) {
				t.Errorf("CreateAsset(%q,%q) = %v, want DuplicateError{%s}", d.serial, d.tag, err, d.key)
			}
		}

		// Hand-off: custodian, deployment time, last event and version change together.
		deployed := *laptop
		deployedAt := at.Add(time.Minute)
		deployed.State, deployed.Custodian = domain.StateDeployed, domain.Custodian{Kind: domain.CustodianPerson, Ref: w.person.ID}
		deployed.DeployedAt, deployed.Version, deployed.UpdatedAt = &deployedAt, 2, deployedAt
		e := w.event(laptop, domain.EventHandedOff)
		w.update(t, func(tx domain.Tx) error {
			if err := tx.AppendEvent(e); err != nil {
				return err
			}
			deployed.LastEventID = e.ID
			return tx.UpdateAsset(&deployed)
		})
		if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.UpdateAsset(laptop) }); !errors.Is(err, domain.ErrConcurrentModification) {
			t.Fatalf("stale UpdateAsset = %v, want ErrConcurrentModification", err)
		}

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			for _, g := range []struct {
				name string
				get  func() (*domain.Asset, error)
				want *domain.Asset
			}{
				{"by id", func() (*domain.Asset, error) { return tx.GetAsset(laptop.ID) }, &deployed},
				{"by serial", func() (*domain.Asset, error) { return tx.GetAssetBySerial("SN-2") }, serialOnly},
				{"by tag", func() (*domain.Asset, error) { return tx.GetAssetByTag("TAG-3") }, tagOnly},
			} {
				got, err := g.get()
				if err != nil || !reflect.DeepEqual(got, g.want) {
					t.Errorf("GetAsset %s = %+v, %v; want %+v", g.name, got, err, g.want)
				}
			}
			for name, get := range map[string]func() (*domain.Asset, error){
				"unknown id":      func() (*domain.Asset, error) { return tx.GetAsset(newID()) },
				"unknown serial":  func() (*domain.Asset, error) { return tx.GetAssetBySerial("SN-404") },
				"empty serial":    func() (*domain.Asset, error) { return tx.GetAssetBySerial("") },
				"serial is exact": func() (*domain.Asset, error) { return tx.GetAssetBySerial("sn-1") },
				"empty tag":       func() (*domain.Asset, error) { return tx.GetAssetByTag("") },
			} {
				if _, err := get(); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("GetAsset %s = %v, want ErrNotFound", name, err)
				}
			}
			batch, err := tx.GetAssets([]string{laptop.ID, tagOnly.ID, newID(), laptop.ID})
			if err != nil || len(batch) != 2 {
				t.Errorf("GetAssets = %d, %v; want 2", len(batch), err)
			}
			all := []string{laptop.ID, serialOnly.ID, tagOnly.ID, tagOnly2.ID}
			for _, l := range []struct {
				name string
				f    domain.AssetFilter
				page domain.PageRequest
				want []string
			}{
				{"all", domain.AssetFilter{}, domain.PageRequest{First: 10}, all},
				{"page", domain.AssetFilter{}, domain.PageRequest{First: 2, After: serialOnly.ID}, all[2:]},
				{"states", domain.AssetFilter{States: []domain.AssetState{domain.StateDeployed, domain.StateLost}}, domain.PageRequest{First: 10}, all[:1]},
				{"serialized", domain.AssetFilter{States: []domain.AssetState{domain.StateSerialized}}, domain.PageRequest{First: 10}, all[1:]},
				{"holder", domain.AssetFilter{HolderID: w.person.ID}, domain.PageRequest{First: 10}, all[:1]},
				{"holder is a person", domain.AssetFilter{HolderID: "Dock A"}, domain.PageRequest{First: 10}, nil},
				{"parcel", domain.AssetFilter{ParcelID: w.parcel.ID}, domain.PageRequest{First: 10}, all},
				{"other parcel", domain.AssetFilter{ParcelID: newID()}, domain.PageRequest{First: 10}, nil},
				{"search serial", domain.AssetFilter{Search: "sn-"}, domain.PageRequest{First: 10}, all[:2]},
				{"search tag", domain.AssetFilter{Search: "tag-3"}, domain.PageRequest{First: 10}, all[2:3]},
				{"search make", domain.AssetFilter{Search: "APPLE"}, domain.PageRequest{First: 10}, all[3:]},
				{"search model", domain.AssetFilter{Search: "thinkpad"}, domain.PageRequest{First: 10}, all[:3]},
				{"search escapes %", domain.AssetFilter{Search: "100%"}, domain.PageRequest{First: 10}, all[3:]},
				{"search escapes _", domain.AssetFilter{Search: "k_pad"}, domain.PageRequest{First: 10}, nil},
				{"search backslash", domain.AssetFilter{Search: `\`}, domain.PageRequest{First: 10}, nil},
				{"combined", domain.AssetFilter{States: []domain.AssetState{domain.StateSerialized}, ParcelID: w.parcel.ID, Search: "tag"}, domain.PageRequest{First: 1}, all[2:3]},
				{"first 0", domain.AssetFilter{}, domain.PageRequest{First: 0}, nil},
				{"first negative", domain.AssetFilter{}, domain.PageRequest{First: -1}, nil},
			} {
				got, err := tx.ListAssets(l.f, l.page)
				var ids []string
				for _, a := range got {
					ids = append(ids, a.ID)
				}
				if err != nil || !slices.Equal(ids, l.want) {
					t.Errorf("ListAssets %s = %v, %v; want %v", l.name, ids, err, l.want)
				}
			}
			return nil
		})
	})
}

func TestContractEvents(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		a := w.createAsset(t, "SN-1", "")
		// A parcel-level event: no asset, no states, no details.
		parcelEvent := &domain.CustodyEvent{ID: newID(), ParcelID: w.parcel.ID, Type: domain.EventParcelReceived,
			FromCustodian: domain.Custodian{Kind: domain.CustodianNone}, ToCustodian: domain.Custodian{Kind: domain.CustodianLocation, Ref: "Dock A"},
			ActorID: w.member.ID, Location: "Dock A", RecordedAt: at}
		w.update(t, func(tx domain.Tx) error { return tx.AppendEvent(parcelEvent) })
		evs := w.appendEvents(t, a, 4)
		deviceTime := at.Add(-time.Second)
		full := w.event(a, domain.EventHandedOff)
		full.DeviceTime = &deviceTime
		full.Details = map[string]string{"z": "last", "a": "first", "quote": `"<&>"`}
		w.update(t, func(tx domain.Tx) error { return tx.AppendEvent(full) })

		if parcelEvent.Seq != 1 || evs[0].Seq != 2 || evs[3].Seq != 5 || full.Seq != 6 {
			t.Fatalf("seqs = %d %d..%d %d, want 1 2..5 6", parcelEvent.Seq, evs[0].Seq, evs[3].Seq, full.Seq)
		}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			for _, want := range []*domain.CustodyEvent{parcelEvent, full} {
				got, err := tx.GetEvent(want.ID)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("GetEvent = %+v, %v; want %+v", got, err, want)
				}
			}
			if _, err := tx.GetEvent(newID()); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("GetEvent(unknown) = %v, want ErrNotFound", err)
			}
			for _, l := range []struct {
				page domain.PageRequest
				want []int64
			}{
				// The parcel's receipt (seq 1) opens the asset's history.
				{domain.PageRequest{First: 10}, []int64{1, 2, 3, 4, 5, 6}},
				{domain.PageRequest{First: 2}, []int64{1, 2}},
				{domain.PageRequest{First: 2, After: "3"}, []int64{4, 5}},
				{domain.PageRequest{First: 10, After: "6"}, nil},
			} {
				got, err := tx.ListAssetEvents(a.ID, l.page)
				var seqs []int64
				for _, e := range got {
					seqs = append(seqs, e.Seq)
				}
				if err != nil || !slices.Equal(seqs, l.want) {
					t.Errorf("ListAssetEvents(%+v) = %v, %v; want %v", l.page, seqs, err, l.want)
				}
			}
			last, err := tx.LastAssetEvents([]string{a.ID}, 10)
			var lastSeqs []int64
			for _, e := range last[a.ID] {
				lastSeqs = append(lastSeqs, e.Seq)
			}
			if err != nil || !slices.Equal(lastSeqs, []int64{6, 5, 4, 3, 2, 1}) {
				t.Errorf("LastAssetEvents = %v, %v; want 6..1 with the parcel's receipt", lastSeqs, err)
			}
			first, err := tx.FirstAssetEvents([]string{a.ID, newID()}, 3)
			var firstSeqs []int64
			for _, e := range first[a.ID] {
				firstSeqs = append(firstSeqs, e.Seq)
			}
			if err != nil || !slices.Equal(firstSeqs, []int64{1, 2, 3}) || len(first) != 1 {
				t.Errorf("FirstAssetEvents = %v (%d assets), %v; want 1 2 3 for one asset", firstSeqs, len(first), err)
			}
			var arg *domain.ArgumentError
			if _, err := tx.ListAssetEvents(a.ID, domain.PageRequest{First: 1, After: "x"}); !errors.As(err, &arg) {
				t.Errorf("ListAssetEvents(bad cursor) = %v, want ArgumentError", err)
			}
			return nil
		})
	})
}

func TestContractSignaturesAndMembers(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		dt := at.Add(-3 * time.Second)
		sig := &domain.Signature{ID: newID(), SignerID: w.person.ID, TypedName: "Ada Lovelace", ImageType: domain.ImageSVG,
			Image: []byte("<svg><path d='M0 0L1 1'/></svg>"), ImageSHA256: "ab", ConsentText: "I accept\nliability.  ",
			ConsentVersion: "v1", ConsentSHA256: "cd", Method: domain.SignatureDrawnOnDevice, DeviceID: "tab-1",
			IPAddress: "192.0.2.1", UserAgent: "UA", DeviceTime: &dt, SignedAt: at, CapturedByID: w.member.ID}
		w.update(t, func(tx domain.Tx) error { return tx.CreateSignature(sig) })
		clerk := &domain.Member{TenantID: w.tenant.ID, Name: "Clerk", Kind: domain.MemberService,
			Roles: []domain.Role{domain.RoleMailroom, domain.RoleAuditor, domain.RoleMailroom}}
		if err := db.CreateMember(context.Background(), clerk); err != nil {
			t.Fatal(err)
		}
		bad := &domain.Member{TenantID: w.tenant.ID, Name: "x", Kind: domain.MemberPerson, Roles: []domain.Role{"root"}}
		if err := db.CreateMember(context.Background(), bad); err == nil {
			t.Error("CreateMember accepted an unknown role")
		}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetSignature(sig.ID)
			if err != nil || !reflect.DeepEqual(got, sig) {
				t.Errorf("GetSignature = %+v, %v; want %+v", got, err, sig)
			}
			batch, err := tx.GetSignatures([]string{sig.ID, newID()})
			if err != nil || len(batch) != 1 || !bytes.Equal(batch[0].Image, sig.Image) {
				t.Errorf("GetSignatures = %v, %v", batch, err)
			}
			if _, err := tx.GetSignature(newID()); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("GetSignature(unknown) = %v", err)
			}
			members, err := tx.GetMembers([]string{w.member.ID, clerk.ID, newID()})
			if err != nil || len(members) != 2 {
				t.Fatalf("GetMembers = %v, %v; want 2", members, err)
			}
			byID := map[string]*domain.Member{members[0].ID: members[0], members[1].ID: members[1]}
			if m := byID[clerk.ID]; m == nil || m.Name != "Clerk" || m.Kind != domain.MemberService ||
				!slices.Equal(m.Roles, []domain.Role{domain.RoleAuditor, domain.RoleMailroom}) || !m.CreatedAt.Equal(clerk.CreatedAt) {
				t.Errorf("GetMembers clerk = %+v", m)
			}
			if m := byID[w.member.ID]; m == nil || !slices.Equal(m.Roles, []domain.Role{domain.RoleAdmin}) {
				t.Errorf("GetMembers admin = %+v", m)
			}
			return nil
		})
	})
}

func TestContractIdempotency(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		w.update(t, func(tx domain.Tx) error {
			rec, err := tx.ClaimIdempotency("handOff", "k1", "h1")
			if err != nil || rec != nil {
				t.Fatalf("first claim = %+v, %v; want nil, nil", rec, err)
			}
			// Claimed in this very transaction, not completed yet.
			rec, err = tx.ClaimIdempotency("handOff", "k1", "h1")
			if err != nil || rec == nil || rec.Result != nil || rec.RequestHash != "h1" {
				t.Fatalf("second claim in tx = %+v, %v; want record without result", rec, err)
			}
			return tx.CompleteIdempotency("handOff", "k1", []byte(`{"id":"x"}`))
		})
		w.update(t, func(tx domain.Tx) error {
			rec, err := tx.ClaimIdempotency("handOff", "k1", "h2")
			want := &domain.Idempotency{Operation: "handOff", Key: "k1", RequestHash: "h1", Result: []byte(`{"id":"x"}`)}
			if err != nil || !reflect.DeepEqual(rec, want) {
				t.Fatalf("replay claim = %+v, %v; want %+v", rec, err, want)
			}
			// The same key under another operation is a different claim.
			if rec, err := tx.ClaimIdempotency("receiveParcel", "k1", "h1"); err != nil || rec != nil {
				t.Fatalf("other operation claim = %+v, %v", rec, err)
			}
			if err := tx.CompleteIdempotency("handOff", "nope", []byte("1")); !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("CompleteIdempotency(unknown) = %v, want ErrNotFound", err)
			}
			return nil
		})
		// A rolled-back claim leaves nothing behind.
		boom := errors.New("boom")
		err := db.Update(w.ctx, func(tx domain.Tx) error {
			if _, err := tx.ClaimIdempotency("handOff", "k2", "h"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want fn's error", err)
		}
		w.update(t, func(tx domain.Tx) error {
			if rec, err := tx.ClaimIdempotency("handOff", "k2", "h"); err != nil || rec != nil {
				t.Fatalf("claim after rollback = %+v, %v; want a fresh claim", rec, err)
			}
			return nil
		})
	})
}

func TestContractTenantsAndTokens(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		ctx := context.Background()
		_, acme, admin := storagetest.NewTenant(t, db, "acme")
		_, other, _ := storagetest.NewTenant(t, db, "other")
		if err := db.CreateTenant(ctx, &domain.Tenant{Slug: "acme", Name: "Again"}); !isDuplicate(err, "slug") {
			t.Fatalf("CreateTenant(taken slug) = %v, want DuplicateError{slug}", err)
		}
		for _, key := range []string{acme.ID, strings.ToUpper(acme.ID), "acme"} {
			got, err := db.GetTenant(ctx, key)
			if err != nil || !reflect.DeepEqual(got, acme) {
				t.Errorf("GetTenant(%q) = %+v, %v; want %+v", key, got, err, acme)
			}
		}
		for _, key := range []string{newID(), "nope", ""} {
			if _, err := db.GetTenant(ctx, key); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("GetTenant(%q) = %v, want ErrNotFound", key, err)
			}
		}

		plain, hash, err := tenancy.NewToken(acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		tok := &domain.APIToken{TenantID: acme.ID, MemberID: admin.ID, Name: "ci", Hash: hash}
		if err := db.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		tenantID, parsedHash, err := tenancy.ParseToken(plain)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := db.Authenticate(ctx, tenantID, parsedHash)
		if err != nil {
			t.Fatalf("Authenticate = %v", err)
		}
		if cred.TokenID != tok.ID || !reflect.DeepEqual(cred.Tenant, *acme) || cred.Member.ID != admin.ID ||
			!slices.Equal(cred.Member.Roles, []domain.Role{domain.RoleAdmin}) || cred.Member.TenantID != acme.ID {
			t.Errorf("Authenticate = %+v", cred)
		}
		_, otherHash, _ := tenancy.NewToken(acme.ID)
		for name, try := range map[string]func() (*domain.Credential, error){
			"unknown hash":     func() (*domain.Credential, error) { return db.Authenticate(ctx, acme.ID, otherHash) },
			"other tenant":     func() (*domain.Credential, error) { return db.Authenticate(ctx, other.ID, parsedHash) },
			"malformed tenant": func() (*domain.Credential, error) { return db.Authenticate(ctx, "acme", parsedHash) },
			"no hash":          func() (*domain.Credential, error) { return db.Authenticate(ctx, acme.ID, nil) },
		} {
			if c, err := try(); !errors.Is(err, domain.ErrUnauthenticated) {
				t.Errorf("Authenticate %s = %+v, %v; want ErrUnauthenticated", name, c, err)
			}
		}
		if err := db.RevokeToken(ctx, other.ID, tok.ID, at); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("RevokeToken from another tenant = %v, want ErrNotFound", err)
		}
		if err := db.RevokeToken(ctx, acme.ID, tok.ID, at); err != nil {
			t.Fatalf("RevokeToken = %v", err)
		}
		if err := db.RevokeToken(ctx, acme.ID, tok.ID, at.Add(time.Hour)); err != nil {
			t.Errorf("RevokeToken again = %v, want nil", err)
		}
		if err := db.RevokeToken(ctx, acme.ID, newID(), at); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("RevokeToken(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := db.Authenticate(ctx, tenantID, parsedHash); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Errorf("Authenticate(revoked) = %v, want ErrUnauthenticated", err)
		}
		tokens, err := db.ListTokens(ctx, acme.ID)
		if err != nil || len(tokens) != 1 {
			t.Fatalf("ListTokens = %v, %v", tokens, err)
		}
		if got := tokens[0]; got.ID != tok.ID || got.RevokedAt == nil || !got.RevokedAt.Equal(at) || !bytes.Equal(got.Hash, hash) {
			t.Errorf("ListTokens[0] = %+v; want revoked at %v (the first revocation)", got, at)
		}
		if tokens, err := db.ListTokens(ctx, other.ID); err != nil || len(tokens) != 0 {
			t.Errorf("ListTokens(other) = %v, %v; want none", tokens, err)
		}
	})
}

func isDuplicate(err error, key string) bool {
	var dup *domain.DuplicateError
	return errors.As(err, &dup) && dup.Key == key
}

func TestOpenAndPing(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		ctx := context.Background()
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("Ping = %v", err)
		}
		want := storage.DialectSQLite
		if cfg.DatabaseURL != "" {
			want = storage.DialectPostgres
		}
		if db.Dialect() != want {
			t.Errorf("Dialect = %q, want %q", db.Dialect(), want)
		}
		// Migrating a current schema applies nothing.
		if applied, err := storage.Migrate(ctx, cfg); err != nil || len(applied) != 0 {
			t.Errorf("Migrate again = %v, %v; want nothing applied", applied, err)
		}
	})
	t.Run("unmigrated sqlite", func(t *testing.T) {
		_, err := storage.Open(context.Background(), storage.Config{SQLitePath: t.TempDir() + "/empty.db"})
		if err == nil || !strings.Contains(err.Error(), "migrate") {
			t.Fatalf("Open(unmigrated) = %v, want an error telling to migrate", err)
		}
	})
	t.Run("bad url", func(t *testing.T) {
		if _, err := storage.Open(context.Background(), storage.Config{DatabaseURL: "mysql://x"}); err == nil {
			t.Fatal("Open accepted a mysql URL")
		}
	})
}
