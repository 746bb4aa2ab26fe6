package storage_test

import (
	"cmp"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// The disposition and SLA part of the repository contract, on both stores:
// resolutions, pickup signatures, sanitization records, outcomes,
// certificates, the disposition report, the SLA policy and breaches, the
// clocks of assets, the platform's tenant list and service members, and
// the exclusive runner.

// dpScene is one tenant with a vendor, an order and two assets staged on it.
type dpScene struct {
	*world
	vendor *domain.Vendor
	order  *domain.PickupOrder
	a1, a2 *domain.Asset
}

// newDPScene creates a dpScene in a new tenant of db.
func newDPScene(t *testing.T, db *storage.DB, slug string) *dpScene {
	t.Helper()
	w := newWorld(t, db, slug)
	s := &dpScene{world: w, vendor: w.createVendor(t, "GreenCycle ITAD")}
	s.order = w.createOrder(t, s.vendor)
	s.a1, s.a2 = w.createAsset(t, "SN-1", "TAG-1"), w.createAsset(t, "SN-2", "TAG-2")
	w.putLines(t, w.newLine(s.order, s.a1, 0), w.newLine(s.order, s.a2, time.Second))
	return s
}

// dpEvent appends an event of asset a recorded at when and returns it.
func (s *dpScene) dpEvent(t *testing.T, a *domain.Asset, typ domain.EventType, to domain.AssetState, when time.Time) *domain.CustodyEvent {
	t.Helper()
	e := s.event(a, typ)
	e.ToState, e.RecordedAt = to, when
	s.update(t, func(tx domain.Tx) error { return tx.AppendEvent(e) })
	return e
}

// dpSignature returns an unsaved pickup signature of order o.
func (s *dpScene) dpSignature(o *domain.PickupOrder, role domain.SignerRole, signedAt time.Time) *domain.PickupSignature {
	device := signedAt.Add(-time.Minute)
	return &domain.PickupSignature{
		Signature: domain.Signature{TypedName: "Sam " + string(role), ImageType: "image/png", Image: []byte{0x89, 'P', 'N', 'G'},
			ImageSHA256: strings.Repeat("ab", 32), ConsentText: "I release these assets.", ConsentVersion: "pickup-1",
			ConsentSHA256: strings.Repeat("cd", 32), Method: domain.SignatureDrawnOnDevice, DeviceID: "tablet-7",
			IPAddress: "203.0.113.9", UserAgent: "dock/1.0", DeviceTime: &device, SignedAt: signedAt,
			CapturedByID: s.member.ID},
		OrderID: o.ID, Role: role, SignerMemberID: s.member.ID,
	}
}

// dpSanitization returns an unsaved record of asset a on order o, for event e.
func (s *dpScene) dpSanitization(o *domain.PickupOrder, a *domain.Asset, e *domain.CustodyEvent) *domain.SanitizationRecord {
	return &domain.SanitizationRecord{OrderID: o.ID, AssetID: a.ID, Method: domain.SanitizePurge,
		Technique: "ATA Sanitize Block Erase", Tool: "WipeKit", ToolVersion: "4.2", VerificationMethod: "full read-back",
		VerificationResult: domain.VerificationPassed, PerformedAt: at.Add(time.Hour), TechnicianName: "Tess",
		AttestedAt: at.Add(2 * time.Hour), ValidatorName: "Val", ValidatedAt: at.Add(3 * time.Hour),
		RecordedByID: s.member.ID, RecordedAt: at.Add(4 * time.Hour), EventID: e.ID}
}

// dpCertificate returns an unsaved certificate of order o numbered number, for event e.
func (s *dpScene) dpCertificate(o *domain.PickupOrder, number string, e *domain.CustodyEvent) *domain.Certificate {
	return &domain.Certificate{OrderID: o.ID, VendorID: o.VendorID, Number: number, IssuedAt: at.Add(5 * time.Hour),
		IssuedByID: s.member.ID, Digest: strings.Repeat("0f", 32), EventID: e.ID,
		Document: []byte(`{"Number":"` + number + `","Lines":[{"Serial":"SN-1"}]}`)}
}

// withoutDocument is c as certificates read in bulk return it.
func withoutDocument(cs ...*domain.Certificate) []*domain.Certificate {
	out := make([]*domain.Certificate, len(cs))
	for i, c := range cs {
		d := *c
		d.Document = nil
		out[i] = &d
	}
	return out
}

// dpOutcome returns an outcome recorded by s's member at when.
func (s *dpScene) dpOutcome(kind domain.OutcomeKind, when time.Time) *domain.Outcome {
	return &domain.Outcome{Kind: kind, Buyer: "Refurb Ltd", BuyerCountry: "DE", DownstreamVendor: "Metals Inc",
		DownstreamCertification: "R2v3 #42", Note: "batch 7", RecordedAt: when, RecordedByID: s.member.ID}
}

func TestContractPickupLineDisposition(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		s := newDPScene(t, db, "acme")

		// The order's later states and their times round-trip.
		o := *s.order
		picked, received := at.Add(time.Hour), at.Add(2*time.Hour+123*time.Nanosecond)
		o.State, o.PickedUpAt, o.ReceivedAt, o.Version = domain.PickupReceived, &picked, &received, 2
		s.update(t, func(tx domain.Tx) error { return tx.UpdatePickupOrder(&o) })
		if !o.ReceivedAt.Equal(at.Add(2 * time.Hour)) {
			t.Errorf("UpdatePickupOrder left ReceivedAt %v; want it at microsecond precision", o.ReceivedAt)
		}
		_ = db.View(s.ctx, func(tx domain.Tx) error {
			got, err := tx.GetPickupOrder(o.ID)
			if err != nil || !reflect.DeepEqual(got, &o) {
				t.Errorf("GetPickupOrder = %+v, %v; want %+v", got, err, &o)
			}
			return nil
		})
		for _, state := range []domain.PickupState{domain.PickupPickedUp, domain.PickupCertified, domain.PickupClosed, "SHIPPED"} {
			n := s.newOrder(s.vendor)
			n.State = state
			err := db.Update(s.ctx, func(tx domain.Tx) error { return tx.CreatePickupOrder(n) })
			if want := state != "SHIPPED"; (err == nil) != want {
				t.Errorf("CreatePickupOrder in state %s = %v; want accepted %v", state, err, want)
			}
		}

		// A line with every new column, through the upsert and the bulk insert.
		written := at.Add(6 * time.Hour)
		full := s.newLine(s.order, s.a1, 0)
		full.Status, full.StatusReason = domain.LineWrittenBack, "written back"
		full.Outcome = s.dpOutcome(domain.OutcomeExported, at.Add(3*time.Hour+999*time.Nanosecond))
		full.WrittenBackAt, full.WrittenBackByID = &written, strings.ToUpper(s.member.ID)
		s.update(t, func(tx domain.Tx) error { return tx.PutPickupLine(full) })
		if !full.Outcome.RecordedAt.Equal(at.Add(3*time.Hour)) || full.WrittenBackByID != s.member.ID {
			t.Errorf("PutPickupLine left %+v, outcome %+v; want stored times and ids", full, full.Outcome)
		}
		o2 := s.createOrder(t, s.vendor)
		bulk := s.newLine(o2, s.a2, 0)
		bulk.Status, bulk.StatusReason = domain.LineLost, "not on the truck"
		bulk.Outcome = s.dpOutcome(domain.OutcomeRecycled, at)
		s.putLines(t, bulk)
		_ = db.View(s.ctx, func(tx domain.Tx) error {
			got, err := tx.ListPickupLines([]string{s.order.ID, o2.ID})
			if err != nil || len(got) != 3 || !reflect.DeepEqual(got[0], full) || got[1].Outcome != nil ||
				!reflect.DeepEqual(got[2], bulk) {
				t.Errorf("ListPickupLines = %v, %v; want the full line, a2's without outcome, the bulk line", lineKeys(got), err)
			}
			return nil
		})

		// The upsert replaces the new columns too: no outcome reads back nil.
		cleared := *full
		cleared.Status, cleared.StatusReason, cleared.Outcome, cleared.WrittenBackAt, cleared.WrittenBackByID =
			domain.LineReceived, "", nil, nil, ""
		s.update(t, func(tx domain.Tx) error { return tx.PutPickupLine(&cleared) })
		_ = db.View(s.ctx, func(tx domain.Tx) error {
			if got := s.linesOf(t, tx, s.order.ID)[0]; !reflect.DeepEqual(got, &cleared) {
				t.Errorf("after clearing, line = %+v; want %+v", got, &cleared)
			}
			return nil
		})

		for _, c := range []struct {
			name string
			edit func(l *domain.PickupLine)
			want func(error) bool
		}{
			{"outcome without a recorder", func(l *domain.PickupLine) { l.Outcome.RecordedByID = "" }, isNotFound},
			{"outcome by an unknown member", func(l *domain.PickupLine) { l.Outcome.RecordedByID = newID() }, isNotFound},
			{"unknown outcome", func(l *domain.PickupLine) { l.Outcome.Kind = "BURIED" }, isFault},
			{"outcome without a kind", func(l *domain.PickupLine) { l.Outcome.Kind = "" }, isFault},
			{"written back by no one", func(l *domain.PickupLine) { l.WrittenBackByID = "" }, isFault},
			{"written back by an unknown member", func(l *domain.PickupLine) { l.WrittenBackByID = newID() }, isNotFound},
			{"written back at no time", func(l *domain.PickupLine) { l.WrittenBackAt = nil }, isFault},
			{"unknown status", func(l *domain.PickupLine) { l.Status = "MISPLACED" }, isFault},
		} {
			t.Run("put "+c.name, func(t *testing.T) {
				l := s.newLine(s.order, s.a2, 0)
				l.Outcome = s.dpOutcome(domain.OutcomeReused, at)
				l.WrittenBackAt, l.WrittenBackByID = &written, s.member.ID
				c.edit(l)
				if err := db.Update(s.ctx, func(tx domain.Tx) error { return tx.PutPickupLine(l) }); !c.want(err) {
					t.Errorf("PutPickupLine = %v", err)
				}
			})
		}

		// The dock and receipt phases are scan phases now.
		for _, c := range []struct {
			phase domain.ScanPhase
			want  func(error) bool
		}{
			{domain.PhasePickup, func(err error) bool { return err == nil }},
			{domain.PhaseReceipt, func(err error) bool { return err == nil }},
			{"AUDIT", isFault},
		} {
			scan := s.newScan(s.order, "SN-1", "", domain.ScanMatched, s.a1.ID)
			scan.Phase = c.phase
			err := db.Update(s.ctx, func(tx domain.Tx) error { return tx.CreatePickupScans([]*domain.PickupScan{scan}) })
			if !c.want(err) {
				t.Errorf("CreatePickupScans in phase %s = %v", c.phase, err)
			}
		}
	})
}

// linesOf lists one order's lines.
func (s *dpScene) linesOf(t *testing.T, tx domain.Tx, orderID string) []*domain.PickupLine {
	t.Helper()
	ls, err := tx.ListPickupLines([]string{orderID})
	if err != nil {
		t.Fatalf("ListPickupLines: %v", err)
	}
	return ls
}

func TestContractResolutions(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		s := newDPScene(t, db, "acme")
		unexpected := s.newScan(s.order, "SN-X", "", domain.ScanUnexpected, "")
		substituted := s.newScan(s.order, "SN-1", "TAG-2", domain.ScanSubstituted, s.a1.ID)
		unexpected.Phase, substituted.Phase = domain.PhasePickup, domain.PhasePickup
		s.update(t, func(tx domain.Tx) error {
			return tx.CreatePickupScans([]*domain.PickupScan{unexpected, substituted})
		})
		_ = db.View(s.ctx, func(tx domain.Tx) error {
			got, err := tx.GetPickupScan(strings.ToUpper(substituted.ID))
			if err != nil || !reflect.DeepEqual(got, substituted) {
				t.Errorf("GetPickupScan = %+v, %v; want %+v", got, err, substituted)
			}
			for _, id := range []string{newID(), "scan-1", ""} {
				if _, err := tx.GetPickupScan(id); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("GetPickupScan(%q) = %v, want ErrNotFound", id, err)
				}
			}
			return nil
		})

		// Resolutions of the unexpected scan, the substitution and the
		// missing line, recorded in one call with one time, then a later one.
		r1 := &domain.Resolution{OrderID: s.order.ID, Phase: domain.PhasePickup, ScanID: unexpected.ID,
			Action: domain.ResolveAccept, Reason: "vendor's spare", ResolvedByID: s.member.ID, ResolvedAt: at, TenantID: "ignored"}
		r2 := &domain.Resolution{OrderID: strings.ToUpper(s.order.ID), Phase: domain.PhasePickup, ScanID: substituted.ID,
			AssetID: s.a1.ID, Action: domain.ResolveRemove, Reason: "kept back", ResolvedByID: s.member.ID, ResolvedAt: at}
		r3 := &domain.Resolution{OrderID: s.order.ID, Phase: domain.PhasePickup, AssetID: s.a2.ID,
			Action: domain.ResolveLost, Reason: "not found", ResolvedByID: s.member.ID,
			ResolvedAt: at.Add(time.Minute + 7*time.Nanosecond)}
		s.update(t, func(tx domain.Tx) error {
			for _, r := range []*domain.Resolution{r1, r2, r3} {
				if err := tx.CreateResolution(r); err != nil {
					return err
				}
			}
			return nil
		})
		if r1.ID == "" || r1.TenantID != s.tenant.ID || r2.OrderID != s.order.ID || !r3.ResolvedAt.Equal(at.Add(time.Minute)) {
			t.Fatalf("CreateResolution left %+v, %+v, %+v; want ids, the tenant and stored times", r1, r2, r3)
		}
		// The same line missing at receipt is another discrepancy.
		r4 := *r3
		r4.ID, r4.Phase = "", domain.PhaseReceipt
		s.update(t, func(tx domain.Tx) error { return tx.CreateResolution(&r4) })
		_ = db.View(s.ctx, func(tx domain.Tx) error {
			got, err := tx.ListResolutions(strings.ToUpper(s.order.ID), domain.PhasePickup)
			if err != nil || !reflect.DeepEqual(got, []*domain.Resolution{r1, r2, r3}) {
				t.Errorf("ListResolutions(pickup) = %+v, %v; want r1, r2, r3", got, err)
			}
			got, err = tx.ListResolutions(s.order.ID, domain.PhaseReceipt)
			if err != nil || !reflect.DeepEqual(got, []*domain.Resolution{&r4}) {
				t.Errorf("ListResolutions(receipt) = %+v, %v; want r4", got, err)
			}
			for _, id := range []string{newID(), "junk"} {
				if got, err := tx.ListResolutions(id, domain.PhasePickup); err != nil || len(got) != 0 {
					t.Errorf("ListResolutions(%q) = %v, %v; want none", id, got, err)
				}
			}
			return nil
		})

		other := s.createOrder(t, s.vendor)
		for _, c := range []struct {
			name string
			edit func(r *domain.Resolution)
			want func(error) bool
		}{
			{"scan again", func(r *domain.Resolution) { r.ScanID = unexpected.ID },
				func(err error) bool { return isDuplicate(err, "resolution") }},
			{"scan again, other action", func(r *domain.Resolution) {
				r.ScanID, r.AssetID, r.Action = substituted.ID, s.a1.ID, domain.ResolveAccept
			}, func(err error) bool { return isDuplicate(err, "resolution") }},
			{"missing line again", func(r *domain.Resolution) { r.AssetID = s.a2.ID },
				func(err error) bool { return isDuplicate(err, "resolution") }},
			{"same id", func(r *domain.Resolution) { r.ID, r.AssetID = r1.ID, s.a1.ID },
				func(err error) bool { return isDuplicate(err, "id") }},
			{"unknown order", func(r *domain.Resolution) { r.OrderID = newID() }, isNotFound},
			{"line of another order", func(r *domain.Resolution) { r.OrderID = other.ID }, isNotFound},
			{"unknown scan", func(r *domain.Resolution) { r.ScanID = newID() }, isNotFound},
			{"malformed scan", func(r *domain.Resolution) { r.ScanID = "scan-1" }, isNotFound},
			{"unknown resolver", func(r *domain.Resolution) { r.ResolvedByID = newID() }, isNotFound},
			{"no resolver", func(r *domain.Resolution) { r.ResolvedByID = "" }, isNotFound},
			{"neither scan nor line", func(r *domain.Resolution) { r.AssetID = "" }, isFault},
			{"unknown action", func(r *domain.Resolution) { r.Action = "IGNORE" }, isFault},
			{"unknown phase", func(r *domain.Resolution) { r.Phase = "AUDIT" }, isFault},
		} {
			t.Run("create "+c.name, func(t *testing.T) {
				r := &domain.Resolution{OrderID: s.order.ID, Phase: domain.PhasePickup, AssetID: s.a1.ID,
					Action: domain.ResolveLost, Reason: "x", ResolvedByID: s.member.ID, ResolvedAt: at}
				c.edit(r)
				if err := db.Update(s.ctx, func(tx domain.Tx) error { return tx.CreateResolution(r) }); !c.want(err) {
					t.Errorf("CreateResolution = %v", err)
				}
			})
		}
	})
}

func TestContractPickupSignatures(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		s := newDPScene(t, db, "acme")
		o2 := s.createOrder(t, s.vendor)
		staff := s.dpSignature(s.order, domain.SignerStaff, at.Add(time.Minute))
		tech := s.dpSignature(s.order, domain.SignerTechnician, at.Add(123*time.Nanosecond))
		tech.SignerID = newID() // not stored: the signer is a member
		tech.OrderID = strings.ToUpper(tech.OrderID)
		late := s.dpSignature(o2, domain.SignerTechnician, at)
		late.DeviceTime = nil
		s.update(t, func(tx domain.Tx) error {
			for _, sig := range []*domain.PickupSignature{staff, tech, late} {
				if err := tx.CreatePickupSignature(sig); err != nil {
					return err
				}
			}
			return nil
		})
		if tech.ID == "" || tech.TenantID != s.tenant.ID || tech.SignerID != "" || tech.OrderID != s.order.ID ||
			!tech.SignedAt.Equal(at) {
			t.Fatalf("CreatePickupSignature left %+v; want an id, the tenant, no SignerID, stored ids and times", tech)
		}

		hooked, mark := counted(t, cfg)
		ctx, statements := mark(s.ctx)
		_ = hooked.View(ctx, func(tx domain.Tx) error {
			before := statements.Load()
			got, err := tx.ListPickupSignatures([]string{o2.ID, "junk", s.order.ID, newID(), strings.ToUpper(o2.ID)})
			if n := statements.Load() - before; n != 1 {
				t.Errorf("ListPickupSignatures sent %d statements, want 1", n)
			}
			want := []*domain.PickupSignature{tech, staff, late}
			if o2.ID < s.order.ID {
				want = []*domain.PickupSignature{late, tech, staff}
			}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("ListPickupSignatures = %+v, %v; want %+v", got, err, want)
			}
			for _, ids := range [][]string{nil, {"junk"}, {newID()}} {
				if got, err := tx.ListPickupSignatures(ids); err != nil || len(got) != 0 {
					t.Errorf("ListPickupSignatures(%v) = %v, %v; want none", ids, got, err)
				}
			}
			return nil
		})

		for _, c := range []struct {
			name string
			edit func(p *domain.PickupSignature)
			want func(error) bool
		}{
			{"same role again", func(*domain.PickupSignature) {}, func(err error) bool { return isDuplicate(err, "signature") }},
			{"same id", func(p *domain.PickupSignature) { p.ID, p.OrderID = staff.ID, o2.ID },
				func(err error) bool { return isDuplicate(err, "id") }},
			{"unknown order", func(p *domain.PickupSignature) { p.OrderID = newID() }, isNotFound},
			{"unknown signer", func(p *domain.PickupSignature) { p.OrderID, p.SignerMemberID = o2.ID, newID() }, isNotFound},
			{"no signer", func(p *domain.PickupSignature) { p.OrderID, p.SignerMemberID = o2.ID, "" }, isNotFound},
			{"unknown capturer", func(p *domain.PickupSignature) { p.OrderID, p.CapturedByID = o2.ID, newID() }, isNotFound},
			{"unknown role", func(p *domain.PickupSignature) { p.OrderID, p.Role = o2.ID, "WITNESS" }, isFault},
		} {
			t.Run("create "+c.name, func(t *testing.T) {
				p := s.dpSignature(s.order, domain.SignerStaff, at)
				c.edit(p)
				if err := db.Update(s.ctx, func(tx domain.Tx) error { return tx.CreatePickupSignature(p) }); !c.want(err) {
					t.Errorf("CreatePickupSignature = %v", err)
				}
			})
		}
	})
}

func TestContractSanitizations(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		s := newDPScene(t, db, "acme")
		o2 := s.createOrder(t, s.vendor)
		a3 := s.createAsset(t, "SN-3", "")
		a4 := s.createAsset(t, "SN-4", "") // on the order, never sanitized
		s.putLines(t, s.newLine(o2, a3, 0), s.newLine(s.order, a4, 0))
		e1 := s.dpEvent(t, s.a1, domain.EventSanitized, domain.StateSanitized, at)
		e2 := s.dpEvent(t, s.a2, domain.EventDestroyed, domain.StateDestroyed, at)
		e3 := s.dpEvent(t, a3, domain.EventSanitized, domain.StateSanitized, at)
		r1, r2, r3 := s.dpSanitization(s.order, s.a1, e1), s.dpSanitization(s.order, s.a2, e2), s.dpSanitization(o2, a3, e3)
		r2.Method, r2.Technique, r2.VerificationResult = domain.SanitizeDestroy, "shred to 2 mm", domain.VerificationFailed
		r3.PerformedAt = at.Add(999 * time.Nanosecond)
		r3.OrderID, r3.TenantID = strings.ToUpper(r3.OrderID), "ignored"
		s.update(t, func(tx domain.Tx) error {
			for _, r := range []*domain.SanitizationRecord{r3, r2, r1} {
				if err := tx.CreateSanitization(r); err != nil {
					return err
				}
			}
			return nil
		})
		if r3.TenantID != s.tenant.ID || r3.OrderID != o2.ID || !r3.PerformedAt.Equal(at) {
			t.Fatalf("CreateSanitization left %+v; want the tenant, canonical ids and stored times", r3)
		}

		hooked, mark := counted(t, cfg)
		ctx, statements := mark(s.ctx)
		_ = hooked.View(ctx, func(tx domain.Tx) error {
			before := statements.Load()
			got, err := tx.ListSanitizations([]string{o2.ID, s.order.ID, "junk", newID()})
			if n := statements.Load() - before; n != 1 {
				t.Errorf("ListSanitizations sent %d statements, want 1", n)
			}
			want := []*domain.SanitizationRecord{r1, r2, r3}
			if o2.ID < s.order.ID {
				want = []*domain.SanitizationRecord{r3, r1, r2}
			}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("ListSanitizations = %+v, %v; want %+v", got, err, want)
			}
			if got, err := tx.ListSanitizations(nil); err != nil || len(got) != 0 {
				t.Errorf("ListSanitizations(nil) = %v, %v; want none", got, err)
			}
			return nil
		})

		for _, c := range []struct {
			name string
			edit func(r *domain.SanitizationRecord)
			want func(error) bool
		}{
			{"same line again", func(r *domain.SanitizationRecord) { r.AssetID = s.a1.ID },
				func(err error) bool { return isDuplicate(err, "sanitization") }},
			{"line not on the order", func(r *domain.SanitizationRecord) { r.OrderID = o2.ID }, isNotFound},
			{"unknown event", func(r *domain.SanitizationRecord) { r.EventID = newID() }, isNotFound},
			{"no event", func(r *domain.SanitizationRecord) { r.EventID = "" }, isNotFound},
			{"unknown recorder", func(r *domain.SanitizationRecord) { r.RecordedByID = newID() }, isNotFound},
			{"malformed asset", func(r *domain.SanitizationRecord) { r.AssetID = "laptop" }, isNotFound},
			{"unknown method", func(r *domain.SanitizationRecord) { r.Method = "WIPE" }, isFault},
			{"unknown result", func(r *domain.SanitizationRecord) { r.VerificationResult = "MAYBE" }, isFault},
		} {
			t.Run("create "+c.name, func(t *testing.T) {
				r := s.dpSanitization(s.order, a4, e1)
				c.edit(r)
				if err := db.Update(s.ctx, func(tx domain.Tx) error { return tx.CreateSanitization(r) }); !c.want(err) {
					t.Errorf("CreateSanitization = %v", err)
				}
			})
		}
	})
}

func TestContractCertificates(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		s := newDPScene(t, db, "acme")
		v2 := s.createVendor(t, "Shred Co")
		o2, o3 := s.createOrder(t, v2), s.createOrder(t, s.vendor)
		e := s.dpEvent(t, s.a1, domain.EventCertificateIssued, "", at)
		c1 := s.dpCertificate(s.order, "CERT-1", e)
		c1.TenantID, c1.IssuedAt = "ignored", at.Add(5*time.Hour+1)
		c2 := s.dpCertificate(o2, "CERT-2", e)
		c2.VendorID = strings.ToUpper(v2.ID)
		s.update(t, func(tx domain.Tx) error {
			if err := tx.CreateCertificate(c1); err != nil {
				return err
			}
			return tx.CreateCertificate(c2)
		})
		if c1.ID == "" || c1.TenantID != s.tenant.ID || !c1.IssuedAt.Equal(at.Add(5*time.Hour)) || c2.VendorID != v2.ID {
			t.Fatalf("CreateCertificate left %+v, %+v; want ids, the tenant and stored forms", c1, c2)
		}

		hooked, mark := counted(t, cfg)
		ctx, statements := mark(s.ctx)
		_ = hooked.View(ctx, func(tx domain.Tx) error {
			got, err := tx.GetCertificate(strings.ToUpper(c1.ID))
			if err != nil || !reflect.DeepEqual(got, c1) {
				t.Errorf("GetCertificate = %+v, %v; want %+v", got, err, c1)
			}
			for _, id := range []string{newID(), "cert-1", ""} {
				if _, err := tx.GetCertificate(id); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("GetCertificate(%q) = %v, want ErrNotFound", id, err)
				}
			}
			measure := func(name string, fn func() ([]*domain.Certificate, error), want []*domain.Certificate) {
				before := statements.Load()
				got, err := fn()
				if n := statements.Load() - before; n != 1 {
					t.Errorf("%s sent %d statements, want 1", name, n)
				}
				if err != nil || !sameRecords(got, want) {
					t.Errorf("%s = %+v, %v; want %+v", name, got, err, want)
				}
			}
			measure("GetCertificates", func() ([]*domain.Certificate, error) {
				return tx.GetCertificates([]string{c2.ID, "junk", c1.ID, newID(), strings.ToUpper(c2.ID)})
			}, withoutDocument(c1, c2))
			measure("CertificatesOfOrders", func() ([]*domain.Certificate, error) {
				return tx.CertificatesOfOrders([]string{o3.ID, o2.ID, s.order.ID, "junk"})
			}, withoutDocument(c1, c2))
			measure("CertificatesOfOrders (none)", func() ([]*domain.Certificate, error) {
				return tx.CertificatesOfOrders([]string{o3.ID})
			}, nil)
			for _, l := range []struct {
				name   string
				vendor string
				page   domain.PageRequest
				want   []*domain.Certificate
			}{
				{"all", "", domain.PageRequest{First: 10}, withoutDocument(c1, c2)},
				{"first 1", "", domain.PageRequest{First: 1}, withoutDocument(c1)},
				{"after c1", "", domain.PageRequest{First: 10, After: c1.ID}, withoutDocument(c2)},
				{"vendor", strings.ToUpper(v2.ID), domain.PageRequest{First: 10}, withoutDocument(c2)},
				{"unknown vendor", newID(), domain.PageRequest{First: 10}, nil},
				{"malformed vendor", "shred", domain.PageRequest{First: 10}, nil},
			} {
				got, err := tx.ListCertificates(l.vendor, l.page)
				if err != nil || !sameRecords(got, l.want) {
					t.Errorf("ListCertificates %s = %+v, %v; want %+v", l.name, got, err, l.want)
				}
			}
			var arg *domain.ArgumentError
			if _, err := tx.ListCertificates("", domain.PageRequest{First: 10, After: "junk"}); !errors.As(err, &arg) {
				t.Errorf("ListCertificates(bad cursor) = %v, want ArgumentError", err)
			}
			return nil
		})

		for _, c := range []struct {
			name string
			edit func(c *domain.Certificate)
			want func(error) bool
		}{
			{"second of an order", func(c *domain.Certificate) { c.OrderID = s.order.ID },
				func(err error) bool { return isDuplicate(err, "certificate") }},
			{"number taken", func(c *domain.Certificate) { c.Number = "CERT-2" },
				func(err error) bool { return isDuplicate(err, "certificate") }},
			{"same id", func(c *domain.Certificate) { c.ID = c1.ID }, func(err error) bool { return isDuplicate(err, "id") }},
			{"unknown order", func(c *domain.Certificate) { c.OrderID = newID() }, isNotFound},
			{"unknown vendor", func(c *domain.Certificate) { c.VendorID = newID() }, isNotFound},
			{"unknown issuer", func(c *domain.Certificate) { c.IssuedByID = newID() }, isNotFound},
			{"unknown event", func(c *domain.Certificate) { c.EventID = newID() }, isNotFound},
			{"no number", func(c *domain.Certificate) { c.Number = "" }, isFault},
			{"digest not hex", func(c *domain.Certificate) { c.Digest = strings.Repeat("zz", 32) }, isFault},
			{"digest in upper case", func(c *domain.Certificate) { c.Digest = strings.Repeat("0F", 32) }, isFault},
			{"digest too short", func(c *domain.Certificate) { c.Digest = "0f" }, isFault},
			{"no document", func(c *domain.Certificate) { c.Document = nil }, isFault},
		} {
			t.Run("create "+c.name, func(t *testing.T) {
				n := s.dpCertificate(o3, "CERT-3", e)
				c.edit(n)
				if err := db.Update(s.ctx, func(tx domain.Tx) error { return tx.CreateCertificate(n) }); !c.want(err) {
					t.Errorf("CreateCertificate = %v", err)
				}
			})
		}
	})
}

func TestContractDispositionLines(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		s := &dpScene{world: w, vendor: w.createVendor(t, "GreenCycle ITAD")}
		o1, o2 := w.createOrder(t, s.vendor), w.createOrder(t, s.vendor)
		var assets []*domain.Asset
		for _, serial := range []string{"SN-1", "SN-2", "SN-3", "SN-4", "SN-5", "SN-6", "SN-7"} {
			assets = append(assets, w.createAsset(t, serial, ""))
		}
		// Outcomes on 1 May 10:00, 3 May, none, 2 May and 5 May (three
		// lines, two orders: ties broken by order then asset).
		when := []*time.Time{ptr(day(2025, 5, 1).Add(10 * time.Hour)), ptr(day(2025, 5, 3)), nil,
			ptr(day(2025, 5, 2)), ptr(day(2025, 5, 5)), ptr(day(2025, 5, 5)), ptr(day(2025, 5, 5))}
		var lines []*domain.PickupLine
		for i, a := range assets {
			o := o1
			if i >= 3 && i != 5 {
				o = o2
			}
			l := w.newLine(o, a, 0)
			if when[i] != nil {
				l.Status, l.Outcome = domain.LineReceived, s.dpOutcome(domain.OutcomeDestroyed, *when[i])
			}
			lines = append(lines, l)
		}
		w.putLines(t, lines...)
		l1, l2, l4 := lines[0], lines[1], lines[3]
		// The 5 May lines in (order, asset) order, whatever ids they drew.
		may5 := []*domain.PickupLine{lines[4], lines[5], lines[6]}
		slices.SortFunc(may5, func(a, b *domain.PickupLine) int {
			return cmp.Or(strings.Compare(a.OrderID, b.OrderID), strings.Compare(a.AssetID, b.AssetID))
		})
		byOrder := func(ls ...*domain.PickupLine) []*domain.PickupLine {
			out := slices.Clone(ls)
			slices.SortFunc(out, func(a, b *domain.PickupLine) int {
				return cmp.Or(strings.Compare(a.OrderID, b.OrderID), strings.Compare(a.AssetID, b.AssetID))
			})
			return out
		}
		byTime := append([]*domain.PickupLine{l1, l4, l2}, may5...)
		key := func(l *domain.PickupLine) string { return domain.DispositionCursor(domain.DispositionFilter{}, l) }
		okey := func(l *domain.PickupLine) string { return l.OrderID + "/" + l.AssetID }
		one := func(o *domain.PickupOrder) domain.DispositionFilter { return domain.DispositionFilter{OrderID: o.ID} }

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			for _, c := range []struct {
				name string
				f    domain.DispositionFilter
				page domain.PageRequest
				want []*domain.PickupLine
			}{
				{"all, by outcome time", domain.DispositionFilter{}, domain.PageRequest{First: 10}, byTime},
				{"one order, by asset", domain.DispositionFilter{OrderID: strings.ToUpper(o1.ID)}, domain.PageRequest{First: 10},
					byOrder(l1, l2, lines[5])},
				{"unknown order", domain.DispositionFilter{OrderID: newID()}, domain.PageRequest{First: 10}, nil},
				{"malformed order", domain.DispositionFilter{OrderID: "o1"}, domain.PageRequest{First: 10}, nil},
				{"2 to 5 May", domain.DispositionFilter{From: ptr(day(2025, 5, 2)), To: ptr(day(2025, 5, 5))},
					domain.PageRequest{First: 10}, []*domain.PickupLine{l4, l2}},
				{"a From's time of day does not count", domain.DispositionFilter{From: ptr(day(2025, 5, 1).Add(15 * time.Hour))},
					domain.PageRequest{First: 10}, byTime},
				{"To excludes its day", domain.DispositionFilter{To: ptr(day(2025, 5, 3))},
					domain.PageRequest{First: 10}, []*domain.PickupLine{l1, l4}},
				{"order and dates", domain.DispositionFilter{OrderID: o2.ID, From: ptr(day(2025, 5, 3))},
					domain.PageRequest{First: 10}, byOrder(lines[4], lines[6])},
				{"first page", domain.DispositionFilter{}, domain.PageRequest{First: 2}, []*domain.PickupLine{l1, l4}},
				{"next page", domain.DispositionFilter{}, domain.PageRequest{First: 2, After: key(l4)},
					[]*domain.PickupLine{l2, may5[0]}},
				{"inside a tie", domain.DispositionFilter{}, domain.PageRequest{First: 10, After: key(may5[0])}, may5[1:]},
				{"cursor ids in upper case", domain.DispositionFilter{}, domain.PageRequest{First: 2, After: strings.ToUpper(key(l1))},
					[]*domain.PickupLine{l4, l2}},
				{"cursor between outcome times", domain.DispositionFilter{},
					domain.PageRequest{First: 10, After: day(2025, 5, 2).Add(time.Hour).Format(time.RFC3339) + "/" + okey(l1)},
					append([]*domain.PickupLine{l2}, may5...)},
				{"last page", domain.DispositionFilter{}, domain.PageRequest{First: 2, After: key(may5[2])}, nil},
				{"range, paged", domain.DispositionFilter{From: ptr(day(2025, 5, 2))}, domain.PageRequest{First: 1, After: key(l4)},
					[]*domain.PickupLine{l2}},
				{"a cursor before From does not widen the range", domain.DispositionFilter{From: ptr(day(2025, 5, 2))},
					domain.PageRequest{First: 10, After: key(l1)}, append([]*domain.PickupLine{l4, l2}, may5...)},
				{"one order, paged", one(o1), domain.PageRequest{First: 10, After: okey(byOrder(l1, l2, lines[5])[0])},
					byOrder(l1, l2, lines[5])[1:]},
			} {
				got, err := tx.ListDispositionLines(c.f, c.page)
				if err != nil || !sameRecords(got, c.want) {
					t.Errorf("ListDispositionLines %s = %v, %v; want %v", c.name, lineKeys(got), err, lineKeys(c.want))
				}
			}

			// Paging through a range a line at a time, or two, or three,
			// returns every line once, in order.
			for size := 1; size <= 3; size++ {
				var got []*domain.PickupLine
				f, after := domain.DispositionFilter{From: ptr(day(2025, 5, 1)), To: ptr(day(2025, 5, 6))}, ""
				for range len(byTime) + 1 {
					page, err := tx.ListDispositionLines(f, domain.PageRequest{First: size, After: after})
					if err != nil {
						t.Fatalf("page of %d after %q: %v", size, after, err)
					}
					got = append(got, page...)
					if len(page) < size {
						break
					}
					after = domain.DispositionCursor(f, page[len(page)-1])
				}
				if !sameRecords(got, byTime) {
					t.Errorf("paging by %d = %v; want %v", size, lineKeys(got), lineKeys(byTime))
				}
			}

			for _, bad := range []struct {
				f     domain.DispositionFilter
				after string
			}{
				{domain.DispositionFilter{}, "junk"},
				{domain.DispositionFilter{}, okey(l1)},
				{domain.DispositionFilter{}, "2025-05-01/" + okey(l1)},
				{domain.DispositionFilter{}, key(l1) + "/x"},
				{domain.DispositionFilter{}, "/" + okey(l1)},
				{domain.DispositionFilter{}, day(2025, 5, 1).Format(time.RFC3339) + "/o1/" + l1.AssetID},
				{one(o1), "junk"},
				{one(o1), o1.ID},
				{one(o1), o1.ID + "/"},
				{one(o1), "/" + l1.AssetID},
				{one(o1), "o1/" + l1.AssetID},
				{one(o1), key(l1)},
			} {
				_, err := tx.ListDispositionLines(bad.f, domain.PageRequest{First: 10, After: bad.after})
				var arg *domain.ArgumentError
				if !errors.As(err, &arg) {
					t.Errorf("ListDispositionLines(%+v, after %q) = %v, want ArgumentError", bad.f, bad.after, err)
				}
			}
			return nil
		})
	})
}

func ptr[T any](v T) *T { return &v }

func TestContractEarliestStagedAt(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		v := w.createVendor(t, "GreenCycle ITAD")
		o1, o2, o3 := w.createOrder(t, v), w.createOrder(t, v), w.createOrder(t, v)
		var lines []*domain.PickupLine
		for i, c := range []struct {
			order  *domain.PickupOrder
			offset time.Duration
			status domain.LineStatus
		}{
			{o1, 2 * time.Hour, domain.LineStaged},
			{o1, 0, domain.LineRemoved}, // earlier, but no longer staged
			{o1, time.Hour, domain.LineStaged},
			{o1, 30 * time.Minute, domain.LinePickedUp},
			{o2, 0, domain.LineRemoved},
		} {
			l := w.newLine(c.order, w.createAsset(t, "SN-"+string(rune('A'+i)), ""), c.offset)
			l.Status = c.status
			lines = append(lines, l)
		}
		w.putLines(t, lines...)

		hooked, mark := counted(t, cfg)
		ctx, statements := mark(w.ctx)
		_ = hooked.View(ctx, func(tx domain.Tx) error {
			before := statements.Load()
			got, err := tx.EarliestStagedAt([]string{o3.ID, strings.ToUpper(o1.ID), o2.ID, "junk", newID()})
			if n := statements.Load() - before; n != 1 {
				t.Errorf("EarliestStagedAt sent %d statements, want 1", n)
			}
			want := map[string]time.Time{o1.ID: at.Add(time.Hour)}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("EarliestStagedAt = %v, %v; want %v", got, err, want)
			}
			if got, err := tx.EarliestStagedAt(nil); err != nil || len(got) != 0 {
				t.Errorf("EarliestStagedAt(nil) = %v, %v; want none", got, err)
			}
			return nil
		})
	})
}

func TestContractSLAPolicy(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		b := newWorld(t, db, "beta")
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			if _, err := tx.GetSLAPolicy(); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("GetSLAPolicy before any = %v, want ErrNotFound", err)
			}
			return nil
		})
		p := domain.DefaultSLAPolicy
		p.TenantID, p.UpdatedAt, p.UpdatedByID, p.Version = "ignored", at.Add(7), strings.ToUpper(w.member.ID), 1
		w.update(t, func(tx domain.Tx) error { return tx.PutSLAPolicy(&p) })
		if p.TenantID != w.tenant.ID || !p.UpdatedAt.Equal(at) || p.UpdatedByID != w.member.ID {
			t.Fatalf("PutSLAPolicy left %+v; want the tenant and stored forms", p)
		}
		get := func(ctx context.Context) (*domain.SLAPolicy, error) {
			var got *domain.SLAPolicy
			err := db.View(ctx, func(tx domain.Tx) (err error) {
				got, err = tx.GetSLAPolicy()
				return err
			})
			return got, err
		}
		if got, err := get(w.ctx); err != nil || !reflect.DeepEqual(got, &p) {
			t.Fatalf("GetSLAPolicy = %+v, %v; want %+v", got, err, &p)
		}
		// Another tenant has none, and sets its own.
		if _, err := get(b.ctx); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("B GetSLAPolicy = %v, want ErrNotFound", err)
		}
		bp := domain.DefaultSLAPolicy
		bp.RetiredToStagedDays, bp.UpdatedAt, bp.UpdatedByID, bp.Version = 90, at, b.member.ID, 1
		b.update(t, func(tx domain.Tx) error { return tx.PutSLAPolicy(&bp) })

		v2 := p
		v2.RetiredToStagedDays, v2.OffboardingDueDays, v2.UpdatedAt, v2.Version = 45, 3650, at.Add(time.Hour), 2
		w.update(t, func(tx domain.Tx) error { return tx.PutSLAPolicy(&v2) })
		for _, c := range []struct {
			name string
			edit func(p *domain.SLAPolicy)
			want func(error) bool
		}{
			{"first version again", func(p *domain.SLAPolicy) { p.Version = 1 },
				func(err error) bool { return errors.Is(err, domain.ErrConcurrentModification) }},
			{"stale version", func(p *domain.SLAPolicy) { p.Version = 2 },
				func(err error) bool { return errors.Is(err, domain.ErrConcurrentModification) }},
			{"version from the future", func(p *domain.SLAPolicy) { p.Version = 4 },
				func(err error) bool { return errors.Is(err, domain.ErrConcurrentModification) }},
			{"version 0", func(p *domain.SLAPolicy) { p.Version = 0 }, isFault},
			{"zero days", func(p *domain.SLAPolicy) { p.StagedToPickedUpDays = 0 }, isFault},
			{"ten years and a day", func(p *domain.SLAPolicy) { p.CertificateToWriteBackDays = 3651 }, isFault},
			{"negative days", func(p *domain.SLAPolicy) { p.PickedUpToCertificateDays = -1 }, isFault},
			{"unknown editor", func(p *domain.SLAPolicy) { p.UpdatedByID = newID() }, isNotFound},
			{"no editor", func(p *domain.SLAPolicy) { p.UpdatedByID = "" }, isNotFound},
		} {
			t.Run("put "+c.name, func(t *testing.T) {
				n := v2
				n.Version = 3
				c.edit(&n)
				if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.PutSLAPolicy(&n) }); !c.want(err) {
					t.Errorf("PutSLAPolicy = %v", err)
				}
			})
		}
		if got, err := get(w.ctx); err != nil || !reflect.DeepEqual(got, &v2) {
			t.Errorf("GetSLAPolicy after refusals = %+v, %v; want %+v", got, err, &v2)
		}
		if got, err := get(b.ctx); err != nil || !reflect.DeepEqual(got, &bp) {
			t.Errorf("B GetSLAPolicy = %+v, %v; want its own %+v", got, err, &bp)
		}

		// Concurrent first writes of a new tenant: one wins, the others lose
		// with ErrConcurrentModification.
		c := newWorld(t, db, "gamma")
		const writers = 6
		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				n := domain.DefaultSLAPolicy
				n.RetiredToStagedDays, n.UpdatedAt, n.UpdatedByID, n.Version = 10+i, at, c.member.ID, 1
				errs <- db.Update(c.ctx, func(tx domain.Tx) error { return tx.PutSLAPolicy(&n) })
			})
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, domain.ErrConcurrentModification):
				t.Errorf("concurrent first PutSLAPolicy = %v, want nil or ErrConcurrentModification", err)
			}
		}
		if won != 1 {
			t.Errorf("%d concurrent first writes won, want 1", won)
		}
	})
}

func TestContractBreaches(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		s := newDPScene(t, db, "acme")
		b := newWorld(t, db, "beta")
		e := s.dpEvent(t, s.a1, domain.EventSLABreached, "", at)
		newBreach := func(stage domain.SLAStage, kind domain.SubjectKind, subject string) *domain.Breach {
			return &domain.Breach{Stage: stage, SubjectKind: kind, SubjectID: subject, Since: at,
				DueAt: at.Add(24 * time.Hour), RaisedAt: at.Add(25*time.Hour + 5*time.Nanosecond)}
		}
		create := func(ctx context.Context, br *domain.Breach) (bool, error) {
			var created bool
			err := db.Update(ctx, func(tx domain.Tx) (err error) {
				created, err = tx.CreateBreach(br)
				return err
			})
			return created, err
		}

		b1 := newBreach(domain.StageRetiredToStaged, domain.SubjectAsset, strings.ToUpper(s.a1.ID))
		b1.EventID, b1.TenantID = e.ID, "ignored"
		b2 := newBreach(domain.StageStagedToPickedUp, domain.SubjectPickupOrder, s.order.ID)
		b3 := newBreach(domain.StageRetiredToStaged, domain.SubjectAsset, s.a2.ID)
		for _, br := range []*domain.Breach{b1, b2, b3} {
			if created, err := create(s.ctx, br); err != nil || !created {
				t.Fatalf("CreateBreach(%s %s) = %v, %v; want created", br.Stage, br.SubjectID, created, err)
			}
		}
		if b1.ID == "" || b1.TenantID != s.tenant.ID || b1.SubjectID != s.a1.ID || !b1.RaisedAt.Equal(at.Add(25*time.Hour)) {
			t.Fatalf("CreateBreach left %+v; want an id, the tenant and stored forms", b1)
		}
		// Raised once per (subject, stage), whatever the id or times.
		again := newBreach(domain.StageRetiredToStaged, domain.SubjectAsset, s.a1.ID)
		again.DueAt = at.Add(48 * time.Hour)
		if created, err := create(s.ctx, again); err != nil || created {
			t.Errorf("CreateBreach again = %v, %v; want not created", created, err)
		}
		// Another tenant's breach of the same subject and stage is its own.
		if created, err := create(b.ctx, newBreach(domain.StageRetiredToStaged, domain.SubjectAsset, s.a1.ID)); err != nil || !created {
			t.Errorf("B CreateBreach of the same subject = %v, %v; want created", created, err)
		}

		// Concurrent sweeps raise a breach once.
		const sweeps = 6
		results := make(chan bool, sweeps)
		subject := newID()
		var wg sync.WaitGroup
		for range sweeps {
			wg.Go(func() {
				created, err := create(s.ctx, newBreach(domain.StageOffboardingDue, domain.SubjectCase, subject))
				if err != nil {
					t.Errorf("concurrent CreateBreach: %v", err)
				}
				results <- created
			})
		}
		wg.Wait()
		close(results)
		raised := 0
		for created := range results {
			if created {
				raised++
			}
		}
		if raised != 1 {
			t.Errorf("%d concurrent CreateBreach calls created, want 1", raised)
		}

		for _, c := range []struct {
			name string
			edit func(br *domain.Breach)
			want func(error) bool
		}{
			{"same id", func(br *domain.Breach) { br.ID = b2.ID }, func(err error) bool { return isDuplicate(err, "id") }},
			{"unknown event", func(br *domain.Breach) { br.EventID = newID() }, isNotFound},
			{"malformed subject", func(br *domain.Breach) { br.SubjectID = "laptop" }, isNotFound},
			{"no subject", func(br *domain.Breach) { br.SubjectID = "" }, isNotFound},
			{"unknown stage", func(br *domain.Breach) { br.Stage = "LATE" }, isFault},
			{"unknown subject kind", func(br *domain.Breach) { br.SubjectKind = "PARCEL" }, isFault},
		} {
			t.Run("create "+c.name, func(t *testing.T) {
				br := newBreach(domain.StageCertificateToWriteBack, domain.SubjectPickupOrder, newID())
				c.edit(br)
				if _, err := create(s.ctx, br); !c.want(err) {
					t.Errorf("CreateBreach = %v", err)
				}
			})
		}

		_ = db.View(s.ctx, func(tx domain.Tx) error {
			all, err := tx.ListBreaches(domain.BreachFilter{}, domain.PageRequest{First: 10})
			if err != nil || len(all) != 4 || !reflect.DeepEqual(all[:3], []*domain.Breach{b1, b2, b3}) {
				t.Fatalf("ListBreaches = %+v, %v; want b1, b2, b3 and the concurrent one", all, err)
			}
			for _, l := range []struct {
				name string
				f    domain.BreachFilter
				page domain.PageRequest
				want []*domain.Breach
			}{
				{"stage", domain.BreachFilter{Stage: domain.StageRetiredToStaged}, domain.PageRequest{First: 10},
					[]*domain.Breach{b1, b3}},
				{"kind", domain.BreachFilter{SubjectKind: domain.SubjectPickupOrder}, domain.PageRequest{First: 10},
					[]*domain.Breach{b2}},
				{"subject", domain.BreachFilter{SubjectID: strings.ToUpper(s.a2.ID)}, domain.PageRequest{First: 10},
					[]*domain.Breach{b3}},
				{"subject and kind", domain.BreachFilter{SubjectKind: domain.SubjectCase, SubjectID: subject},
					domain.PageRequest{First: 10}, all[3:]},
				{"malformed subject", domain.BreachFilter{SubjectID: "laptop"}, domain.PageRequest{First: 10}, nil},
				{"first 2", domain.BreachFilter{}, domain.PageRequest{First: 2}, []*domain.Breach{b1, b2}},
				{"after b1, stage", domain.BreachFilter{Stage: domain.StageRetiredToStaged}, domain.PageRequest{First: 10, After: b1.ID},
					[]*domain.Breach{b3}},
			} {
				got, err := tx.ListBreaches(l.f, l.page)
				if err != nil || !sameRecords(got, l.want) {
					t.Errorf("ListBreaches %s = %+v, %v; want %+v", l.name, got, err, l.want)
				}
			}
			var arg *domain.ArgumentError
			if _, err := tx.ListBreaches(domain.BreachFilter{}, domain.PageRequest{First: 10, After: "b1"}); !errors.As(err, &arg) {
				t.Errorf("ListBreaches(bad cursor) = %v, want ArgumentError", err)
			}
			return nil
		})
	})
}

func TestContractAssetsInStates(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		s := newDPScene(t, db, "acme")
		b := newWorld(t, db, "beta")
		t0, t1, t2 := at.Add(-time.Hour), at.Add(time.Hour), at.Add(2*time.Hour)
		// move puts a in state, entered at when through an event of that
		// time, or (no event) through its last update.
		move := func(w *world, a *domain.Asset, state domain.AssetState, when time.Time, withEvent bool) {
			t.Helper()
			if withEvent {
				e := w.event(a, domain.EventRetired)
				e.ToState, e.RecordedAt = state, when
				w.update(t, func(tx domain.Tx) error { return tx.AppendEvent(e) })
				a.LastEventID = e.ID
			}
			a.State, a.UpdatedAt, a.Version = state, when, a.Version+1
			w.update(t, func(tx domain.Tx) error { return tx.UpdateAsset(a) })
		}
		a1, a2 := s.a1, s.a2
		a3, a4 := s.createAsset(t, "SN-3", ""), s.createAsset(t, "", "TAG-4")
		move(s.world, a1, domain.StateRetired, t1, true)
		move(s.world, a2, domain.StateRetired, t2, true)
		move(s.world, a3, domain.StateInStock, t1, true)
		move(s.world, a4, domain.StateRetired, t0, false)
		// The event decides, not the asset's later updates.
		a1.Condition, a1.UpdatedAt, a1.Version = "scratched", t2.Add(time.Hour), a1.Version+1
		s.update(t, func(tx domain.Tx) error { return tx.UpdateAsset(a1) })
		bAsset := b.createAsset(t, "SN-1", "")
		move(b, bAsset, domain.StateRetired, t0, true)

		clock := func(a *domain.Asset, since time.Time) *domain.AssetClock {
			return &domain.AssetClock{AssetID: a.ID, Serial: a.Serial, AssetTag: a.AssetTag, State: a.State, Since: since}
		}
		c1, c2, c3, c4 := clock(a1, t1), clock(a2, t2), clock(a3, t1), clock(a4, t0)
		retired := []domain.AssetState{domain.StateRetired}
		_ = db.View(s.ctx, func(tx domain.Tx) error {
			for _, c := range []struct {
				name   string
				states []domain.AssetState
				before *time.Time
				page   domain.PageRequest
				want   []*domain.AssetClock
			}{
				{"retired", retired, nil, domain.PageRequest{First: 10}, []*domain.AssetClock{c1, c2, c4}},
				{"retired or in stock", []domain.AssetState{domain.StateInStock, domain.StateRetired}, nil,
					domain.PageRequest{First: 10}, []*domain.AssetClock{c1, c2, c3, c4}},
				{"entered before t2 (strictly)", retired, &t2, domain.PageRequest{First: 10}, []*domain.AssetClock{c1, c4}},
				{"entered before t1", retired, &t1, domain.PageRequest{First: 10}, []*domain.AssetClock{c4}},
				{"entered before t0", retired, &t0, domain.PageRequest{First: 10}, nil},
				{"first 1", retired, nil, domain.PageRequest{First: 1}, []*domain.AssetClock{c1}},
				{"after a1", retired, nil, domain.PageRequest{First: 10, After: a1.ID}, []*domain.AssetClock{c2, c4}},
				{"after a1, before t2", retired, &t2, domain.PageRequest{First: 10, After: a1.ID}, []*domain.AssetClock{c4}},
				{"no states", nil, nil, domain.PageRequest{First: 10}, nil},
				{"nobody staged", []domain.AssetState{domain.StateStaged}, nil, domain.PageRequest{First: 10}, nil},
			} {
				got, err := tx.AssetsInStates(c.states, c.before, c.page)
				if err != nil || !sameRecords(got, c.want) {
					t.Errorf("AssetsInStates %s = %+v, %v; want %+v", c.name, got, err, c.want)
				}
			}
			var arg *domain.ArgumentError
			if _, err := tx.AssetsInStates(retired, nil, domain.PageRequest{First: 10, After: "a1"}); !errors.As(err, &arg) {
				t.Errorf("AssetsInStates(bad cursor) = %v, want ArgumentError", err)
			}
			return nil
		})
		_ = db.View(b.ctx, func(tx domain.Tx) error {
			got, err := tx.AssetsInStates(retired, nil, domain.PageRequest{First: 10})
			if err != nil || !sameRecords(got, []*domain.AssetClock{clock(bAsset, t0)}) {
				t.Errorf("B AssetsInStates = %+v, %v; want only its own asset", got, err)
			}
			return nil
		})
	})
}

// TestDispositionTenantIsolation: another tenant can neither see nor
// reference a tenant's resolutions, signatures, sanitization records,
// outcomes, certificates and breaches.
func TestDispositionTenantIsolation(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		a := newDPScene(t, db, "alpha")
		b := newDPScene(t, db, "beta")
		scan := a.newScan(a.order, "SN-X", "", domain.ScanUnexpected, "")
		scan.Phase = domain.PhasePickup
		a.update(t, func(tx domain.Tx) error { return tx.CreatePickupScans([]*domain.PickupScan{scan}) })
		e := a.dpEvent(t, a.a1, domain.EventSanitized, domain.StateSanitized, at)
		line := a.newLine(a.order, a.a1, 0)
		line.Status, line.Outcome = domain.LineReceived, a.dpOutcome(domain.OutcomeRecycled, at)
		cert := a.dpCertificate(a.order, "CERT-1", e)
		a.update(t, func(tx domain.Tx) error {
			errs := []error{
				tx.CreateResolution(&domain.Resolution{OrderID: a.order.ID, Phase: domain.PhasePickup, ScanID: scan.ID,
					Action: domain.ResolveAccept, Reason: "spare", ResolvedByID: a.member.ID, ResolvedAt: at}),
				tx.CreatePickupSignature(a.dpSignature(a.order, domain.SignerStaff, at)),
				tx.CreateSanitization(a.dpSanitization(a.order, a.a1, e)),
				tx.PutPickupLine(line),
				tx.CreateCertificate(cert),
			}
			_, err := tx.CreateBreach(&domain.Breach{Stage: domain.StageStagedToPickedUp, SubjectKind: domain.SubjectPickupOrder,
				SubjectID: a.order.ID, Since: at, DueAt: at, RaisedAt: at, EventID: e.ID})
			return errors.Join(append(errs, err)...)
		})
		// B's records of the same shape, so every list has something to leak into.
		be := b.dpEvent(t, b.a1, domain.EventSanitized, domain.StateSanitized, at)
		b.update(t, func(tx domain.Tx) error { return tx.CreateCertificate(b.dpCertificate(b.order, "CERT-1", be)) })

		_ = db.View(b.ctx, func(tx domain.Tx) error {
			notFound := map[string]func() error{
				"GetPickupScan":  func() error { _, err := tx.GetPickupScan(scan.ID); return err },
				"GetCertificate": func() error { _, err := tx.GetCertificate(cert.ID); return err },
				"GetSLAPolicy":   func() error { _, err := tx.GetSLAPolicy(); return err },
			}
			for name, get := range notFound {
				if err := get(); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("B %s(A's) = %v, want ErrNotFound", name, err)
				}
			}
			empty := map[string]func() (int, error){
				"ListResolutions": func() (int, error) {
					got, err := tx.ListResolutions(a.order.ID, domain.PhasePickup)
					return len(got), err
				},
				"ListPickupSignatures": func() (int, error) {
					got, err := tx.ListPickupSignatures([]string{a.order.ID})
					return len(got), err
				},
				"ListSanitizations": func() (int, error) {
					got, err := tx.ListSanitizations([]string{a.order.ID})
					return len(got), err
				},
				"GetCertificates": func() (int, error) { got, err := tx.GetCertificates([]string{cert.ID}); return len(got), err },
				"CertificatesOfOrders": func() (int, error) {
					got, err := tx.CertificatesOfOrders([]string{a.order.ID})
					return len(got), err
				},
				"ListCertificates of A's vendor": func() (int, error) {
					got, err := tx.ListCertificates(a.vendor.ID, domain.PageRequest{First: 10})
					return len(got), err
				},
				"ListDispositionLines": func() (int, error) {
					got, err := tx.ListDispositionLines(domain.DispositionFilter{}, domain.PageRequest{First: 10})
					return len(got), err
				},
				"ListDispositionLines of A's order": func() (int, error) {
					got, err := tx.ListDispositionLines(domain.DispositionFilter{OrderID: a.order.ID}, domain.PageRequest{First: 10})
					return len(got), err
				},
				"EarliestStagedAt": func() (int, error) {
					got, err := tx.EarliestStagedAt([]string{a.order.ID})
					return len(got), err
				},
				"ListBreaches": func() (int, error) {
					got, err := tx.ListBreaches(domain.BreachFilter{}, domain.PageRequest{First: 10})
					return len(got), err
				},
			}
			for name, list := range empty {
				if n, err := list(); err != nil || n != 0 {
					t.Errorf("B %s(A's) = %d rows, %v; want none", name, n, err)
				}
			}
			got, err := tx.ListCertificates("", domain.PageRequest{First: 10})
			if err != nil || len(got) != 1 || got[0].TenantID != b.tenant.ID {
				t.Errorf("B ListCertificates = %+v, %v; want only B's", got, err)
			}
			return nil
		})

		bOther := b.createOrder(t, b.vendor) // without a certificate
		writes := map[string]func(tx domain.Tx) error{
			"CreateResolution of A's scan": func(tx domain.Tx) error {
				return tx.CreateResolution(&domain.Resolution{OrderID: b.order.ID, Phase: domain.PhasePickup, ScanID: scan.ID,
					Action: domain.ResolveAccept, ResolvedByID: b.member.ID, ResolvedAt: at})
			},
			"CreateResolution on A's order": func(tx domain.Tx) error {
				return tx.CreateResolution(&domain.Resolution{OrderID: a.order.ID, Phase: domain.PhasePickup, AssetID: a.a2.ID,
					Action: domain.ResolveLost, ResolvedByID: b.member.ID, ResolvedAt: at})
			},
			"CreatePickupSignature on A's order": func(tx domain.Tx) error {
				return tx.CreatePickupSignature(b.dpSignature(a.order, domain.SignerTechnician, at))
			},
			"CreatePickupSignature by A's member": func(tx domain.Tx) error {
				sig := b.dpSignature(b.order, domain.SignerTechnician, at)
				sig.SignerMemberID = a.member.ID
				return tx.CreatePickupSignature(sig)
			},
			"CreateSanitization of A's line": func(tx domain.Tx) error {
				return tx.CreateSanitization(b.dpSanitization(a.order, a.a2, be))
			},
			"CreateSanitization for A's event": func(tx domain.Tx) error {
				return tx.CreateSanitization(b.dpSanitization(b.order, b.a2, e))
			},
			"CreateCertificate of A's order": func(tx domain.Tx) error {
				return tx.CreateCertificate(b.dpCertificate(a.order, "CERT-9", be))
			},
			"CreateCertificate for A's vendor": func(tx domain.Tx) error {
				c := b.dpCertificate(bOther, "CERT-9", be)
				c.VendorID = a.vendor.ID
				return tx.CreateCertificate(c)
			},
			"CreateBreach for A's event": func(tx domain.Tx) error {
				_, err := tx.CreateBreach(&domain.Breach{Stage: domain.StageRetiredToStaged, SubjectKind: domain.SubjectAsset,
					SubjectID: b.a1.ID, Since: at, DueAt: at, RaisedAt: at, EventID: e.ID})
				return err
			},
			"PutSLAPolicy by A's member": func(tx domain.Tx) error {
				p := domain.DefaultSLAPolicy
				p.UpdatedAt, p.UpdatedByID, p.Version = at, a.member.ID, 1
				return tx.PutSLAPolicy(&p)
			},
			"PutPickupLine with an outcome by A's member": func(tx domain.Tx) error {
				l := b.newLine(b.order, b.a1, 0)
				l.Outcome = b.dpOutcome(domain.OutcomeReused, at)
				l.Outcome.RecordedByID = a.member.ID
				return tx.PutPickupLine(l)
			},
		}
		for name, write := range writes {
			if err := db.Update(b.ctx, write); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("B %s = %v, want ErrNotFound", name, err)
			}
		}
	})
}

func TestAdminListTenants(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		ctx := context.Background()
		if got, err := db.ListTenants(ctx); err != nil || len(got) != 0 {
			t.Fatalf("ListTenants on an empty store = %v, %v; want none", got, err)
		}
		_, acme, _ := storagetest.NewTenant(t, db, "acme")
		_, beta, _ := storagetest.NewTenant(t, db, "beta")
		got, err := db.ListTenants(ctx)
		if err != nil || !reflect.DeepEqual(got, []*domain.Tenant{acme, beta}) {
			t.Errorf("ListTenants = %+v, %v; want %+v, %+v", got, err, acme, beta)
		}
	})
}

func TestAdminServiceMember(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		ctx := context.Background()
		w := newWorld(t, db, "acme")
		b := newWorld(t, db, "beta")
		// A member issued a token for an integration is SERVICE too, but
		// holds a role: it is not the server's own.
		integration := &domain.Member{TenantID: w.tenant.ID, Name: "custody-sla", Kind: domain.MemberService,
			Roles: []domain.Role{domain.RoleIT}}
		if err := db.CreateMember(ctx, integration); err != nil {
			t.Fatal(err)
		}

		// Concurrent first calls get one member.
		const callers = 8
		got := make([]*domain.Member, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				m, err := db.ServiceMember(ctx, w.tenant.ID, "custody-sla")
				if err != nil {
					t.Errorf("ServiceMember: %v", err)
				}
				got[i] = m
			})
		}
		wg.Wait()
		first := got[0]
		if first == nil || first.ID == integration.ID || first.Name != "custody-sla" || first.Kind != domain.MemberService ||
			len(first.Roles) != 0 || first.VendorID != "" || first.TenantID != w.tenant.ID || first.CreatedAt.IsZero() {
			t.Fatalf("ServiceMember = %+v; want a new role-less SERVICE member of the tenant", first)
		}
		for _, m := range got {
			if m == nil || !reflect.DeepEqual(m, first) {
				t.Errorf("concurrent ServiceMember = %+v, want %+v", m, first)
			}
		}
		if again, err := db.ServiceMember(ctx, strings.ToUpper(w.tenant.ID), "custody-sla"); err != nil || !reflect.DeepEqual(again, first) {
			t.Errorf("ServiceMember again = %+v, %v; want %+v", again, err, first)
		}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			ms, err := tx.GetMembers([]string{first.ID})
			if err != nil || len(ms) != 1 || !reflect.DeepEqual(ms[0], first) {
				t.Errorf("GetMembers(service member) = %+v, %v; want %+v", ms, err, first)
			}
			return nil
		})

		for _, c := range []struct {
			name, tenant, member string
			want                 func(m *domain.Member, err error) bool
		}{
			{"another name", w.tenant.ID, "custody-sweeper", func(m *domain.Member, err error) bool {
				return err == nil && m.ID != first.ID && m.Name == "custody-sweeper"
			}},
			{"another case", w.tenant.ID, "Custody-SLA", func(m *domain.Member, err error) bool {
				return err == nil && m.ID != first.ID && m.Name == "Custody-SLA"
			}},
			{"another tenant", b.tenant.ID, "custody-sla", func(m *domain.Member, err error) bool {
				return err == nil && m.ID != first.ID && m.TenantID == b.tenant.ID
			}},
			{"unknown tenant", newID(), "custody-sla", func(_ *domain.Member, err error) bool {
				return errors.Is(err, domain.ErrNotFound)
			}},
			{"malformed tenant", "acme", "custody-sla", func(_ *domain.Member, err error) bool { return err != nil }},
			{"no name", w.tenant.ID, "", func(_ *domain.Member, err error) bool { return err != nil }},
		} {
			t.Run(c.name, func(t *testing.T) {
				if m, err := db.ServiceMember(ctx, c.tenant, c.member); !c.want(m, err) {
					t.Errorf("ServiceMember(%q, %q) = %+v, %v", c.tenant, c.member, m, err)
				}
			})
		}
	})
}

// TestTryRun: a job runs on one instance at a time. On Postgres the second
// instance is another *storage.DB on the same database, so the lock is
// proven to hold across connections and pools.
func TestTryRun(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		ctx := context.Background()
		instances := []*storage.DB{db}
		if db.Dialect() == storage.DialectPostgres {
			other, err := storage.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = other.Close() })
			instances = append(instances, other)
		}
		mustNotRun := func(context.Context) error {
			t.Error("a job ran while another held its lock")
			return nil
		}

		started, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			ran, err := db.TryRun(ctx, "sla-sweep", func(context.Context) error {
				close(started)
				<-release
				return nil
			})
			if !ran && err == nil {
				err = errors.New("the first TryRun did not run")
			}
			done <- err
		}()
		<-started
		for i, inst := range instances {
			if ran, err := inst.TryRun(ctx, "sla-sweep", mustNotRun); ran || err != nil {
				t.Errorf("instance %d: TryRun while held = %v, %v; want false, nil", i, ran, err)
			}
			ranOther := false
			if ran, err := inst.TryRun(ctx, "ledger-checkpoint", func(context.Context) error { ranOther = true; return nil }); !ran || err != nil || !ranOther {
				t.Errorf("instance %d: TryRun of another job = %v, %v (ran %v); want it run", i, ran, err, ranOther)
			}
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("first TryRun: %v", err)
		}

		// Released: every instance runs it again, one after the other.
		for i, inst := range instances {
			ranAgain := false
			if ran, err := inst.TryRun(ctx, "sla-sweep", func(context.Context) error { ranAgain = true; return nil }); !ran || err != nil || !ranAgain {
				t.Errorf("instance %d: TryRun after release = %v, %v (ran %v); want it run", i, ran, err, ranAgain)
			}
		}

		// The job's error comes back with true, and the lock is released.
		boom := errors.New("boom")
		if ran, err := db.TryRun(ctx, "sla-sweep", func(context.Context) error { return boom }); !ran || !errors.Is(err, boom) {
			t.Errorf("TryRun of a failing job = %v, %v; want true, boom", ran, err)
		}
		// So is it when the job panics.
		func() {
			defer func() { _ = recover() }()
			_, _ = db.TryRun(ctx, "sla-sweep", func(context.Context) error { panic("job panicked") })
		}()
		for i, inst := range instances {
			if ran, err := inst.TryRun(ctx, "sla-sweep", func(context.Context) error { return nil }); !ran || err != nil {
				t.Errorf("instance %d: TryRun after a failed and a panicked job = %v, %v; want it run", i, ran, err)
			}
		}
		if _, err := db.TryRun(ctx, "sla-sweep", nil); err == nil {
			t.Error("TryRun(nil job) succeeded")
		}
	})
}

// TestDispositionMigration: migration 00007 keeps the orders, lines and
// scans of a store created before it (SQLite rebuilds their tables); its
// Down section restores the previous schema with them, and refuses (rather
// than lose them) rows in the states it added.
func TestDispositionMigration(t *testing.T) {
	for _, c := range []struct {
		name    string
		dialect goose.Dialect
		dir     string
		config  func(t *testing.T) storage.Config
	}{
		{"sqlite", goose.DialectSQLite3, "migrations/sqlite", func(t *testing.T) storage.Config {
			cfg := storage.Config{SQLitePath: t.TempDir() + "/custody.db"}
			if _, err := storage.Migrate(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			return cfg
		}},
		{"postgres", goose.DialectPostgres, "migrations/postgres", func(t *testing.T) storage.Config {
			return storagetest.PostgresConfig(t)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := c.config(t)
			open := func() *storage.DB {
				t.Helper()
				db, err := storage.Open(ctx, cfg)
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				return db
			}
			// The pickup records of 00006, written before stepping down.
			db := open()
			s := newDPScene(t, db, "acme")
			s.update(t, func(tx domain.Tx) error {
				return tx.CreatePickupScans([]*domain.PickupScan{
					s.newScan(s.order, "SN-1", "TAG-1", domain.ScanMatched, s.a1.ID),
					s.newScan(s.order, "SN-X", "", domain.ScanUnexpected, ""),
				})
			})
			snapshot := func(db *storage.DB) (o *domain.PickupOrder, ls []*domain.PickupLine, ss []*domain.PickupScan) {
				t.Helper()
				ctx := s.ctx
				err := db.View(ctx, func(tx domain.Tx) (err error) {
					if o, err = tx.GetPickupOrder(s.order.ID); err != nil {
						return err
					}
					if ls, err = tx.ListPickupLines([]string{s.order.ID}); err != nil {
						return err
					}
					ss, err = tx.ListPickupScans(s.order.ID, domain.PhaseCount)
					return err
				})
				if err != nil {
					t.Fatalf("read pickup records: %v", err)
				}
				return o, ls, ss
			}
			wantOrder, wantLines, wantScans := snapshot(db)
			_ = db.Close()

			step := func(name string, fn func(p *goose.Provider) error) error {
				// A provider per step: its connection (and, on SQLite, a
				// failed step's open transaction) ends with the subtest.
				var err error
				t.Run(name, func(t *testing.T) { err = fn(vendorMigrationProvider(t, cfg, c.dialect, c.dir)) })
				return err
			}
			down := func(p *goose.Provider) error { _, err := p.DownTo(ctx, 6); return err }
			if err := step("down", down); err != nil {
				t.Fatalf("migrate down to 6: %v", err)
			}
			if db, err := storage.Open(ctx, cfg); err == nil {
				_ = db.Close()
				t.Fatal("Open accepted a schema without the disposition tables")
			}
			if _, err := storage.Migrate(ctx, cfg); err != nil {
				t.Fatalf("migrate up again: %v", err)
			}
			if c.dialect == goose.DialectSQLite3 {
				rows, err := storagetest.OwnerConn(t, cfg).Query("PRAGMA foreign_key_check")
				if err != nil {
					t.Fatal(err)
				}
				if rows.Next() {
					t.Error("foreign_key_check reports violations after 00007")
				}
				_ = rows.Close()
			}
			db = open()
			o, ls, ss := snapshot(db)
			if !reflect.DeepEqual(o, wantOrder) || !reflect.DeepEqual(ls, wantLines) || !reflect.DeepEqual(ss, wantScans) {
				t.Errorf("after down and up: order %+v, lines %v, scans %v; want %+v, %v, %v",
					o, lineKeys(ls), scanIDs(ss), wantOrder, lineKeys(wantLines), scanIDs(wantScans))
			}

			// An order in a state of 00007 cannot go down.
			picked := *o
			now := at.Add(time.Hour)
			picked.State, picked.PickedUpAt, picked.Version = domain.PickupPickedUp, &now, o.Version+1
			s.world.db = db
			s.update(t, func(tx domain.Tx) error { return tx.UpdatePickupOrder(&picked) })
			_ = db.Close()
			if err := step("down refused", down); err == nil {
				t.Fatal("migrating down to 6 dropped an order in state PICKED_UP")
			}
			db = open()
			defer db.Close()
			if got, _, _ := snapshot(db); !reflect.DeepEqual(got, &picked) {
				t.Errorf("after the refused down, order = %+v; want %+v", got, &picked)
			}
		})
	}
}

// Compile-time: the adapter is the server's exclusive runner.
var _ domain.Exclusive = (*storage.DB)(nil)
