package storage_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/certpdf"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/tenancy"
)

// The ITAD disposition use cases on both stores: the dock pickup with its
// discrepancies and their resolution, the two-signature confirmation, the
// receipt, sanitization, outcomes, the sealed certificate and the write-back.

// dispEnv is a tenant with a certified vendor, one of its technicians and a
// pickup order of retired assets.
type dispEnv struct {
	*obEnv
	vendor *domain.Vendor
	tech   *domain.Member
	// vctx acts as the technician (itad_vendor of vendor).
	vctx  context.Context
	order *domain.PickupOrder
}

// dispLaptop is a data-bearing laptop with a serial and a tag.
func dispLaptop(n string) domain.NewAsset {
	return domain.NewAsset{Serial: "S" + n, AssetTag: "T" + n, Make: "Lenovo", Model: "X1", Category: domain.CategoryLaptop, BearsData: true}
}

// newDispEnv engages a vendor, makes its technician and retires assets.
func newDispEnv(t *testing.T, db *storage.DB, slug string) *dispEnv {
	t.Helper()
	e := &dispEnv{obEnv: newOBEnv(t, db, slug, nil)}
	var err error
	e.vendor, err = e.svc.EngageVendor(e.ctx, domain.VendorInput{Name: "GreenCycle " + slug, ContactEmail: "ops@greencycle.example",
		Certifications: []domain.Certification{{Scheme: domain.SchemeR2v3, Number: "R2-1001", ExpiresOn: obStart.AddDate(2, 0, 0)}}})
	if err != nil {
		t.Fatalf("engage vendor: %v", err)
	}
	e.tech, e.vctx = e.vendorMember(e.vendor, "Tomás Técnico")
	e.order, err = e.svc.CreatePickupOrder(e.ctx, domain.PickupOrderInput{VendorID: e.vendor.ID, ScheduledOn: obStart})
	if err != nil {
		t.Fatalf("create pickup order: %v", err)
	}
	return e
}

// vendorMember creates an itad_vendor member of v and a context acting as it.
func (e *dispEnv) vendorMember(v *domain.Vendor, name string) (*domain.Member, context.Context) {
	e.t.Helper()
	p, _ := tenancy.PrincipalFrom(e.ctx)
	m := &domain.Member{TenantID: p.TenantID, Name: name, Kind: domain.MemberPerson, Roles: []domain.Role{domain.RoleITADVendor}, VendorID: v.ID}
	if err := e.db.CreateMember(context.Background(), m); err != nil {
		e.t.Fatalf("create vendor member: %v", err)
	}
	return m, tenancy.WithPrincipal(context.Background(), tenancy.Principal{TenantID: p.TenantID, TenantSlug: p.TenantSlug,
		TenantName: p.TenantName, MemberID: m.ID, MemberName: m.Name, Roles: []string{string(domain.RoleITADVendor)}, VendorID: v.ID})
}

// retired serializes items out of a parcel and retires them.
func (e *dispEnv) retired(items ...domain.NewAsset) []*domain.Asset {
	e.t.Helper()
	who := e.person("Ada" + items[0].Serial + items[0].AssetTag)
	p, err := e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "UPS", TrackingNumber: "1Z" + items[0].Serial + items[0].AssetTag,
		Sender: "Lenovo", RecipientID: who.ID, Location: "Dock A"})
	if err != nil {
		e.t.Fatalf("receive parcel: %v", err)
	}
	_, assets, err := e.svc.SerializeParcel(e.ctx, domain.SerializeParcelInput{ParcelID: p.ID, Assets: items})
	if err != nil {
		e.t.Fatalf("serialize parcel: %v", err)
	}
	for i, a := range assets {
		if assets[i], err = e.svc.Retire(e.ctx, domain.DispositionInput{AssetID: a.ID, Reason: "end of life", Location: "Cage 3"}); err != nil {
			e.t.Fatalf("retire %s: %v", a.Serial, err)
		}
	}
	return assets
}

// stage puts assets on the env's order.
func (e *dispEnv) stage(assets ...*domain.Asset) {
	e.t.Helper()
	ids := make([]string, len(assets))
	for i, a := range assets {
		ids[i] = a.ID
	}
	if _, err := e.svc.StageAssets(e.ctx, domain.StageInput{OrderID: e.order.ID, AssetIDs: ids}); err != nil {
		e.t.Fatalf("stage: %v", err)
	}
}

// dock scans at the dock as the technician and checks the result.
func (e *dispEnv) dock(serial, tag string, want domain.ScanResult) *domain.PickupScan {
	e.t.Helper()
	sc, err := e.svc.DockScan(e.vctx, e.order.ID, domain.ScanInput{Serial: serial, AssetTag: tag})
	if err != nil {
		e.t.Fatalf("dock scan %s/%s: %v", serial, tag, err)
	}
	if sc.Result != want {
		e.t.Errorf("dock scan %s/%s = %s (%s), want %s", serial, tag, sc.Result, sc.Detail, want)
	}
	return sc
}

func (e *dispEnv) resolve(in domain.ResolveInput) *domain.Resolution {
	e.t.Helper()
	in.OrderID = e.order.ID
	if in.Phase == "" {
		in.Phase = domain.PhasePickup
	}
	if in.Reason == "" {
		in.Reason = "checked on the dock"
	}
	r, err := e.svc.ResolveDiscrepancy(e.ctx, in)
	if err != nil {
		e.t.Fatalf("resolve %+v: %v", in, err)
	}
	return r
}

// confirm confirms the dock pickup; on success e.order is the confirmed order.
func (e *dispEnv) confirm() (*domain.PickupOrder, error) {
	o, err := e.svc.ConfirmPickup(e.ctx, domain.ConfirmPickupInput{OrderID: e.order.ID, TechnicianMemberID: e.tech.ID,
		TechnicianSignature: obSignature(e.tech.Name, obHandSVG), StaffSignature: obSignature("Ines IT", obReturnSVG)})
	if err == nil {
		e.order = o
	}
	return o, err
}

// afterPickup is a time just after the confirmed pickup (the test clock
// moves a millisecond per reading, so it is not in the future).
func (e *dispEnv) afterPickup(d time.Duration) time.Time {
	return e.order.PickedUpAt.Add(d)
}

// sanitize records a passed sanitization of serial as the technician.
func (e *dispEnv) sanitize(serial string, method domain.SanitizationMethod) (*domain.SanitizationRecord, error) {
	done := e.afterPickup(time.Microsecond)
	return e.svc.RecordSanitization(e.vctx, domain.SanitizationInput{OrderID: e.order.ID, Serial: serial, Method: method,
		Technique: "ATA Secure Erase", Tool: "Blancco Drive Eraser", ToolVersion: "7.9", VerificationMethod: "full read-back",
		VerificationResult: domain.VerificationPassed, PerformedAt: done, TechnicianName: "Tomás Técnico", TechnicianAttests: true,
		ValidatorName: "Vera Validator", ValidatedAt: done.Add(time.Microsecond)})
}

func (e *dispEnv) outcome(in domain.OutcomeInput) (*domain.PickupLine, error) {
	in.OrderID = e.order.ID
	return e.svc.RecordOutcome(e.vctx, in)
}

// codes lists the codes of a user error, or fails.
func codes(t *testing.T, err error) []domain.Code {
	t.Helper()
	var ue domain.UserErrors
	if !errors.As(err, &ue) {
		t.Fatalf("error = %v; want user errors", err)
	}
	out := make([]domain.Code, len(ue))
	for i, u := range ue {
		out[i] = u.Code
	}
	return out
}

// countTypes counts the log's events by type.
func countTypes(log []*domain.CustodyEvent) map[domain.EventType]int {
	out := map[domain.EventType]int{}
	for _, ev := range log {
		out[ev.Type]++
	}
	return out
}

// TestDispositionFullPickup carries an order through the dock with one
// substitution, one missing and two unexpected items (one a retired asset of
// the tenant, one unknown) and a duplicate, to CLOSED.
func TestDispositionFullPickup(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newDispEnv(t, db, "acme")
		a := e.retired(dispLaptop("1"), dispLaptop("2"), domain.NewAsset{Serial: "S3", AssetTag: "T3", Make: "Dell",
			Model: "U27", Category: domain.CategoryMonitor}, dispLaptop("4"), dispLaptop("9"))
		e.stage(a[0], a[1], a[2], a[3])

		e.dock("S1", "T1", domain.ScanMatched)
		sub := e.dock("S2X", "T2", domain.ScanSubstituted)
		known := e.dock("S9", "", domain.ScanUnexpected)
		unknown := e.dock("ZZZ-404", "", domain.ScanUnexpected)
		e.dock("S3", "T3", domain.ScanMatched)
		dup := e.dock("S1", "", domain.ScanDuplicate)

		// Every open discrepancy is named, and nothing is written.
		before := e.size()
		_, err := e.confirm()
		got := codes(t, err)
		if len(got) != 5 {
			t.Fatalf("confirm refused with %v; want 5 UNRESOLVED_DISCREPANCY (4 scans, 1 missing line)", err)
		}
		for _, c := range got {
			if c != domain.CodeUnresolvedDiscrepancy {
				t.Errorf("code %s, want UNRESOLVED_DISCREPANCY", c)
			}
		}
		if !strings.Contains(err.Error(), "S4") {
			t.Errorf("refusal %v does not name the missing serial S4", err)
		}
		if e.size() != before {
			t.Error("a refused confirmation wrote to the log")
		}

		// Refused resolutions.
		for _, c := range []struct {
			name string
			in   domain.ResolveInput
			want domain.Code
		}{
			{"lost is for lines", domain.ResolveInput{ScanID: sub.ID, Action: domain.ResolveLost}, domain.CodeInvalid},
			{"accept a missing line", domain.ResolveInput{AssetID: a[3].ID, Action: domain.ResolveAccept}, domain.CodeInvalid},
			{"a scanned line is not missing", domain.ResolveInput{AssetID: a[0].ID, Action: domain.ResolveLost}, domain.CodeNotOutstanding},
			{"no reason", domain.ResolveInput{ScanID: sub.ID, Action: domain.ResolveAccept, Reason: " "}, domain.CodeRequired},
			{"both targets", domain.ResolveInput{ScanID: sub.ID, AssetID: a[3].ID, Action: domain.ResolveAccept}, domain.CodeRequired},
			{"count phase", domain.ResolveInput{ScanID: sub.ID, Phase: domain.PhaseCount, Action: domain.ResolveAccept}, domain.CodeInvalid},
		} {
			in := c.in
			in.OrderID, in.Reason = e.order.ID, "x"
			if c.in.Reason != "" {
				in.Reason = c.in.Reason
			}
			if in.Phase == "" {
				in.Phase = domain.PhasePickup
			}
			_, err := e.svc.ResolveDiscrepancy(e.ctx, in)
			if !checkCode(t, err, c.want) {
				t.Errorf("%s: %v", c.name, err)
			}
		}

		e.resolve(domain.ResolveInput{ScanID: sub.ID, Action: domain.ResolveAccept, Reason: "tag reprinted; serial on the base is S2X"})
		if r := e.resolve(domain.ResolveInput{ScanID: known.ID, Action: domain.ResolveAccept}); r.AssetID != a[4].ID {
			t.Errorf("accepting the retired S9 resolved to asset %q, want %s", r.AssetID, a[4].ID)
		}
		e.resolve(domain.ResolveInput{ScanID: unknown.ID, Action: domain.ResolveRemove, Reason: "not ours; stays on the dock"})
		e.resolve(domain.ResolveInput{ScanID: dup.ID, Action: domain.ResolveAccept, Reason: "scanned twice"})
		e.resolve(domain.ResolveInput{AssetID: a[3].ID, Action: domain.ResolveLost, Reason: "not in the cage"})
		_, err = e.svc.ResolveDiscrepancy(e.ctx, domain.ResolveInput{OrderID: e.order.ID, Phase: domain.PhasePickup, ScanID: sub.ID,
			Action: domain.ResolveAccept, Reason: "again"})
		checkCode(t, err, domain.CodeDuplicate)
		if st := e.asset(a[3].ID).State; st != domain.StateLost {
			t.Errorf("the missing asset is %s, want LOST", st)
		}
		if st := e.asset(a[4].ID).State; st != domain.StateStaged {
			t.Errorf("the accepted unexpected asset is %s, want STAGED", st)
		}

		o, err := e.confirm()
		if err != nil {
			t.Fatalf("confirm: %v", err)
		}
		if o.State != domain.PickupPickedUp || o.PickedUpAt == nil {
			t.Errorf("order after confirmation = %s (%v), want PICKED_UP", o.State, o.PickedUpAt)
		}
		for _, x := range []*domain.Asset{a[0], a[1], a[2], a[4]} {
			got := e.asset(x.ID)
			if got.State != domain.StatePickedUp || got.Custodian != (domain.Custodian{Kind: domain.CustodianVendor, Ref: e.vendor.ID}) {
				t.Errorf("%s after pickup: %s held by %+v; want PICKED_UP held by the vendor", x.Serial, got.State, got.Custodian)
			}
		}
		types := countTypes(e.log())
		if types[domain.EventPickupDiscrepancy] != 4 || types[domain.EventDiscrepancyResolved] != 5 || types[domain.EventPickedUp] != 4 {
			t.Errorf("log counts %v; want 4 PICKUP_DISCREPANCY, 5 DISCREPANCY_RESOLVED, 4 PICKED_UP", types)
		}
		for _, ev := range e.log() {
			if ev.Type == domain.EventPickupDiscrepancy && !contains(domain.Topics(ev), domain.TopicPickups) {
				t.Errorf("discrepancy event %d is not on the pickups topic: %v", ev.Seq, domain.Topics(ev))
			}
		}

		// Receipt at the facility: the substituted line is found by its tag.
		for _, sc := range []domain.ScanInput{{Serial: "S1"}, {AssetTag: "T2"}, {Serial: "S3"}, {Serial: "S9"}} {
			r, err := e.svc.ReceiptScan(e.vctx, e.order.ID, sc)
			if err != nil || r.Result != domain.ScanMatched {
				t.Fatalf("receipt scan %+v = %+v, %v; want MATCHED", sc, r, err)
			}
		}
		if o, err = e.svc.ConfirmReceipt(e.vctx, e.order.ID); err != nil || o.State != domain.PickupReceived {
			t.Fatalf("confirm receipt = %+v, %v", o, err)
		}
		if st := e.asset(a[0].ID).State; st != domain.StateAtVendor {
			t.Errorf("received asset is %s, want AT_VENDOR", st)
		}

		// A data-bearing asset needs its sanitization before an outcome.
		_, err = e.outcome(domain.OutcomeInput{Serial: "S1", Kind: domain.OutcomeRemarketed, Buyer: "Refurb GmbH"})
		checkCode(t, err, domain.CodeSanitizationRequired)
		_, err = e.svc.IssueCertificate(e.vctx, e.order.ID)
		if got := codes(t, err); len(got) != 4 || got[0] != domain.CodeUnprocessedLines {
			t.Errorf("certificate before outcomes refused with %v; want 4 UNPROCESSED_LINES", err)
		}

		if _, err := e.sanitize("S1", domain.SanitizePurge); err != nil {
			t.Fatalf("sanitize S1: %v", err)
		}
		if _, err := e.sanitize("S1", domain.SanitizePurge); err == nil {
			t.Error("a second sanitization of S1 was recorded")
		}
		if _, err := e.sanitize("S2", domain.SanitizeDestroy); err != nil {
			t.Fatalf("destroy S2: %v", err)
		}
		if _, err := e.sanitize("S9", domain.SanitizeClear); err != nil {
			t.Fatalf("clear S9: %v", err)
		}
		for _, c := range []struct {
			in   domain.OutcomeInput
			want string
		}{
			{domain.OutcomeInput{Serial: "S1", Kind: domain.OutcomeRemarketed, Buyer: "Refurb GmbH"}, "REMARKETED"},
			{domain.OutcomeInput{Serial: "S9", Kind: domain.OutcomeRecycled, DownstreamVendor: "MetalWorks", DownstreamCertification: "e-Stewards 77"}, "RECYCLED"},
			{domain.OutcomeInput{AssetTag: "T3", Kind: domain.OutcomeExported, Buyer: "Second Life Ltd", BuyerCountry: "gh"}, "REMARKETED"},
		} {
			l, err := e.outcome(c.in)
			if err != nil {
				t.Fatalf("outcome %+v: %v", c.in, err)
			}
			if st := e.asset(l.AssetID).State; string(st) != c.want {
				t.Errorf("after outcome %s the asset is %s, want %s", c.in.Kind, st, c.want)
			}
		}

		// Vendor isolation: another vendor's technician finds nothing.
		other, _ := e.svc.EngageVendor(e.ctx, domain.VendorInput{Name: "Other ITAD", Certifications: []domain.Certification{
			{Scheme: domain.SchemeNAIDAAA, Number: "N-1", ExpiresOn: obStart.AddDate(1, 0, 0)}}})
		_, octx := e.vendorMember(other, "Otto Other")
		if _, err := e.svc.IssueCertificate(octx, e.order.ID); !checkCode(t, err, domain.CodeNotFound) {
			t.Errorf("another vendor issued a certificate for this order: %v", err)
		}
		if o, err := e.svc.PickupOrder(octx, e.order.ID); o != nil || err != nil {
			t.Errorf("another vendor read the order: %v, %v", o, err)
		}

		c, err := e.svc.IssueCertificate(e.vctx, e.order.ID)
		if err != nil {
			t.Fatalf("issue certificate: %v", err)
		}
		doc, err := e.svc.CertificateDocument(e.vctx, c.ID)
		if err != nil {
			t.Fatalf("certificate document: %v", err)
		}
		if len(doc.Lines) != 4 || doc.Digest != c.Digest || doc.Seal.EventID != c.EventID || doc.Seal.EventSeq == 0 {
			t.Errorf("document: %d lines, digest %s (cert %s), seal %+v", len(doc.Lines), doc.Digest, c.Digest, doc.Seal)
		}
		if ev := e.event(c.EventID); ev.Type != domain.EventCertificateIssued || ev.Details["digest"] != c.Digest || ev.Details["number"] != c.Number {
			t.Errorf("sealing event %+v", ev)
		}
		names := map[domain.SignerRole]string{}
		for _, s := range doc.Signatures {
			names[s.Role] = s.Name
		}
		if names[domain.SignerTechnician] != "Tomás Técnico" || names[domain.SignerStaff] != "Ines IT" {
			t.Errorf("document signatures %v", names)
		}

		o, err = e.svc.WriteBack(e.ctx, domain.WriteBackInput{OrderID: e.order.ID})
		if err != nil || o.State != domain.PickupClosed {
			t.Fatalf("write back = %+v, %v; want CLOSED", o, err)
		}
		for _, x := range []*domain.Asset{a[0], a[1], a[2], a[4]} {
			if st := e.asset(x.ID).State; st != domain.StateClosed {
				t.Errorf("%s after write-back is %s, want CLOSED", x.Serial, st)
			}
		}
		var rows []domain.DispositionRow
		err = e.svc.DispositionRows(e.ctx, domain.DispositionFilter{OrderID: e.order.ID}, func(r domain.DispositionRow) error {
			rows = append(rows, r)
			return nil
		})
		if err != nil || len(rows) != 4 {
			t.Fatalf("disposition rows = %d, %v; want 4", len(rows), err)
		}
		for _, r := range rows {
			if r.Certificate == nil || r.Certificate.Number != c.Number || r.Line.WrittenBackAt == nil {
				t.Errorf("row %s: certificate %+v, written back %v", r.Line.Serial, r.Certificate, r.Line.WrittenBackAt)
			}
		}
		// The document still verifies after the write-back changed the lines' status.
		if _, err := e.svc.CertificateDocument(e.ctx, c.ID); err != nil {
			t.Errorf("certificate document after write-back: %v", err)
		}
	})
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestDispositionRefusals covers the bad input the issue names, one by one.
func TestDispositionRefusals(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newDispEnv(t, db, "acme")
		a := e.retired(dispLaptop("1"), dispLaptop("2"))
		e.stage(a...)

		// Scanning another vendor's pickup: not found.
		other, _ := e.svc.EngageVendor(e.ctx, domain.VendorInput{Name: "Other ITAD", Certifications: []domain.Certification{
			{Scheme: domain.SchemeNAIDAAA, Number: "N-1", ExpiresOn: obStart.AddDate(1, 0, 0)}}})
		_, octx := e.vendorMember(other, "Otto Other")
		_, err := e.svc.DockScan(octx, e.order.ID, domain.ScanInput{Serial: "S1"})
		checkCode(t, err, domain.CodeNotFound)
		// Another tenant's vendor too.
		b := newDispEnv(t, db, "beta")
		_, err = e.svc.DockScan(b.vctx, e.order.ID, domain.ScanInput{Serial: "S1"})
		checkCode(t, err, domain.CodeNotFound)

		// The receipt waits for the pickup; the certificate for the receipt.
		_, err = e.svc.ReceiptScan(e.vctx, e.order.ID, domain.ScanInput{Serial: "S1"})
		checkCode(t, err, domain.CodeIllegalTransition)
		_, err = e.svc.IssueCertificate(e.vctx, e.order.ID)
		checkCode(t, err, domain.CodeIllegalTransition)

		// The technician must be the order's vendor's.
		e.dock("S1", "T1", domain.ScanMatched)
		e.dock("S2", "T2", domain.ScanMatched)
		_, err = e.svc.ConfirmPickup(e.ctx, domain.ConfirmPickupInput{OrderID: e.order.ID, TechnicianMemberID: e.member.ID,
			TechnicianSignature: obSignature("x", obHandSVG), StaffSignature: obSignature("y", obReturnSVG)})
		checkCode(t, err, domain.CodeNotFound)
		// Both signatures are required.
		_, err = e.svc.ConfirmPickup(e.ctx, domain.ConfirmPickupInput{OrderID: e.order.ID, TechnicianMemberID: e.tech.ID,
			StaffSignature: obSignature("y", obReturnSVG)})
		checkCode(t, err, domain.CodeRequired)
		if _, err := e.confirm(); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		// Missing at receipt: only LOST resolves it; then the receipt confirms.
		if _, err := e.svc.ReceiptScan(e.vctx, e.order.ID, domain.ScanInput{Serial: "S1"}); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.ConfirmReceipt(e.vctx, e.order.ID)
		checkCode(t, err, domain.CodeUnresolvedDiscrepancy)
		_, err = e.svc.ResolveDiscrepancy(e.ctx, domain.ResolveInput{OrderID: e.order.ID, Phase: domain.PhaseReceipt, AssetID: a[1].ID,
			Action: domain.ResolveRemove, Reason: "x"})
		checkCode(t, err, domain.CodeIllegalTransition)
		e.resolve(domain.ResolveInput{Phase: domain.PhaseReceipt, AssetID: a[1].ID, Action: domain.ResolveLost, Reason: "fell off the truck"})
		if _, err := e.svc.ConfirmReceipt(e.vctx, e.order.ID); err != nil {
			t.Fatalf("confirm receipt: %v", err)
		}
		if st := e.asset(a[1].ID); st.State != domain.StateLost || st.Custodian.Kind != domain.CustodianVendor {
			t.Errorf("asset lost in transit: %s held by %+v; want LOST, liability with the vendor", st.State, st.Custodian)
		}

		// Sanitization input rules.
		base := domain.SanitizationInput{OrderID: e.order.ID, Serial: "S1", Method: domain.SanitizePurge, Technique: "crypto erase",
			Tool: "Blancco", ToolVersion: "7", VerificationMethod: "sampling", VerificationResult: domain.VerificationPassed,
			PerformedAt: e.afterPickup(time.Microsecond), TechnicianName: "Tom", TechnicianAttests: true, ValidatorName: "Vera",
			ValidatedAt: e.afterPickup(2 * time.Microsecond)}
		for _, c := range []struct {
			name string
			edit func(in *domain.SanitizationInput)
			want domain.Code
		}{
			{"failed verification", func(in *domain.SanitizationInput) { in.VerificationResult = domain.VerificationFailed }, domain.CodeInvalid},
			{"validator is the technician", func(in *domain.SanitizationInput) { in.ValidatorName = "TOM" }, domain.CodeInvalid},
			{"no attestation", func(in *domain.SanitizationInput) { in.TechnicianAttests = false }, domain.CodeRequired},
			{"unknown method", func(in *domain.SanitizationInput) { in.Method = "WIPE" }, domain.CodeInvalid},
			{"validated before performed", func(in *domain.SanitizationInput) { in.ValidatedAt = obStart }, domain.CodeInvalid},
			{"in the future", func(in *domain.SanitizationInput) { in.PerformedAt = obStart.AddDate(1, 0, 0) }, domain.CodeInvalid},
			{"before the pickup", func(in *domain.SanitizationInput) {
				in.PerformedAt, in.ValidatedAt = obStart.Add(-time.Hour), obStart.Add(-time.Minute)
			}, domain.CodeInvalid},
			{"a lost line", func(in *domain.SanitizationInput) { in.Serial = "S2" }, domain.CodeNotFound},
			{"no identifier", func(in *domain.SanitizationInput) { in.Serial = "" }, domain.CodeRequired},
		} {
			in := base
			c.edit(&in)
			if _, err := e.svc.RecordSanitization(e.vctx, in); !checkCode(t, err, c.want) {
				t.Errorf("%s: %v", c.name, err)
			}
		}
		for _, c := range []struct {
			name string
			in   domain.OutcomeInput
			want domain.Code
		}{
			{"remarketed without buyer", domain.OutcomeInput{Serial: "S1", Kind: domain.OutcomeRemarketed}, domain.CodeRequired},
			{"export without country", domain.OutcomeInput{Serial: "S1", Kind: domain.OutcomeExported, Buyer: "B"}, domain.CodeRequired},
			{"bad country", domain.OutcomeInput{Serial: "S1", Kind: domain.OutcomeExported, Buyer: "B", BuyerCountry: "1X"}, domain.CodeInvalid},
			{"recycled without recycler", domain.OutcomeInput{Serial: "S1", Kind: domain.OutcomeRecycled}, domain.CodeRequired},
			{"unknown outcome", domain.OutcomeInput{Serial: "S1", Kind: "BURIED"}, domain.CodeInvalid},
		} {
			if _, err := e.outcome(c.in); !checkCode(t, err, c.want) {
				t.Errorf("%s: %v", c.name, err)
			}
		}
		// Write-back waits for the certificate.
		_, err = e.svc.WriteBack(e.ctx, domain.WriteBackInput{OrderID: e.order.ID})
		checkCode(t, err, domain.CodeIllegalTransition)
	})
}

// certifiedOrder carries e's order through the dock, the receipt,
// sanitization and outcomes of laptops serials, and issues its certificate.
func (e *dispEnv) certifiedOrder(serials ...string) *domain.Certificate {
	e.t.Helper()
	items := make([]domain.NewAsset, len(serials))
	for i, s := range serials {
		items[i] = dispLaptop(s)
	}
	assets := e.retired(items...)
	e.stage(assets...)
	for _, a := range assets {
		e.dock(a.Serial, a.AssetTag, domain.ScanMatched)
	}
	if _, err := e.confirm(); err != nil {
		e.t.Fatalf("confirm: %v", err)
	}
	for _, a := range assets {
		if _, err := e.svc.ReceiptScan(e.vctx, e.order.ID, domain.ScanInput{Serial: a.Serial}); err != nil {
			e.t.Fatalf("receipt scan %s: %v", a.Serial, err)
		}
	}
	if _, err := e.svc.ConfirmReceipt(e.vctx, e.order.ID); err != nil {
		e.t.Fatalf("confirm receipt: %v", err)
	}
	for _, a := range assets {
		if _, err := e.sanitize(a.Serial, domain.SanitizePurge); err != nil {
			e.t.Fatalf("sanitize %s: %v", a.Serial, err)
		}
		if _, err := e.outcome(domain.OutcomeInput{Serial: a.Serial, Kind: domain.OutcomeRecycled, DownstreamVendor: "MetalWorks", DownstreamCertification: "e-Stewards 77"}); err != nil {
			e.t.Fatalf("outcome %s: %v", a.Serial, err)
		}
	}
	c, err := e.svc.IssueCertificate(e.vctx, e.order.ID)
	if err != nil {
		e.t.Fatalf("issue certificate: %v", err)
	}
	return c
}

// TestCertificateStatesIssueDay: a certificate states the records of its
// issue day. Renewing the vendor's certifications, renaming the vendor and
// the tenant afterwards neither breaks its document (the PDF) nor changes
// what it states; altering the stored document is caught by the seal.
func TestCertificateStatesIssueDay(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		e := newDispEnv(t, db, "acme")
		c := e.certifiedOrder("1", "2")
		issued, err := e.svc.CertificateDocument(e.vctx, c.ID)
		if err != nil {
			t.Fatalf("certificate document at issue: %v", err)
		}
		wantCerts := e.vendor.Certifications
		wantVendor, wantTenant := e.vendor.Name, issued.TenantName

		// The day after: a renewal under a new number, another scheme, a
		// new vendor name and a new tenant name.
		renewed := []domain.Certification{{Scheme: domain.SchemeR2v3, Number: "R2-2002", ExpiresOn: obStart.AddDate(3, 0, 0)},
			{Scheme: domain.SchemeNAIDAAA, Number: "NAID-77", ExpiresOn: obStart.AddDate(1, 0, 0)}}
		v, err := e.svc.SetVendorCertifications(e.ctx, e.vendor.ID, renewed)
		if err != nil {
			t.Fatalf("renew certifications: %v", err)
		}
		v.Name, v.ContactEmail, v.Version = "GreenCycle Renamed", "new@greencycle.example", v.Version+1
		if err := db.Update(e.ctx, func(tx domain.Tx) error { return tx.UpdateVendor(v) }); err != nil {
			t.Fatalf("rename vendor: %v", err)
		}
		p, _ := tenancy.PrincipalFrom(e.vctx)
		p.TenantName = "Acme Renamed"
		renamedCtx := tenancy.WithPrincipal(context.Background(), p)

		for _, c2 := range []struct {
			name string
			ctx  context.Context
		}{{"vendor", e.vctx}, {"vendor in a renamed tenant", renamedCtx}, {"tenant admin", e.ctx}} {
			doc, err := e.svc.CertificateDocument(c2.ctx, c.ID)
			if err != nil {
				t.Fatalf("%s: certificate document after the changes: %v", c2.name, err)
			}
			if !reflect.DeepEqual(doc.Vendor.Certifications, wantCerts) || doc.Vendor.Name != wantVendor || doc.TenantName != wantTenant {
				t.Errorf("%s: document states vendor %q %+v in %q; want the issue day's %q %+v in %q", c2.name,
					doc.Vendor.Name, doc.Vendor.Certifications, doc.TenantName, wantVendor, wantCerts, wantTenant)
			}
			if doc.Digest != c.Digest || domain.CertificateDigest(doc) != c.Digest || doc.Seal != issued.Seal {
				t.Errorf("%s: digest %s (recomputed %s), seal %+v; want %s, %+v", c2.name, doc.Digest,
					domain.CertificateDigest(doc), doc.Seal, c.Digest, issued.Seal)
			}
			if !reflect.DeepEqual(doc, issued) {
				t.Errorf("%s: document changed since issue:\n%+v\nwant\n%+v", c2.name, doc, issued)
			}
			var pdf bytes.Buffer
			if err := certpdf.Render(&pdf, doc); err != nil || pdf.Len() == 0 {
				t.Errorf("%s: render: %d bytes, %v", c2.name, pdf.Len(), err)
			}
		}

		// A stored document that no longer hashes to the seal was altered.
		owner := storagetest.OwnerConn(t, cfg)
		res, err := owner.Exec(fmt.Sprintf("UPDATE certificates SET document = replace(document, 'R2-1001', 'R2-1002') WHERE id = '%s'", c.ID))
		if err != nil {
			t.Fatalf("alter the stored document: %v", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("altering the stored document changed %d rows, want 1", n)
		}
		if doc, err := e.svc.CertificateDocument(e.vctx, c.ID); err == nil || !strings.Contains(err.Error(), "does not match the sealed digest") {
			t.Errorf("altered document = %+v, %v; want a seal mismatch", doc, err)
		}
	})
}

// seedOutcomes stores n lines with an outcome, round robin over orders
// orders (each order one page apart in its line's times), three lines per
// outcome time from 1 May 2025 a minute apart, and returns the world and the
// lines in report order for a range: (outcome time, order, asset).
func seedOutcomes(tb testing.TB, db *storage.DB, slug string, n, orders int) (*world, []*domain.PickupLine) {
	tb.Helper()
	w := newWorld(tb, db, slug)
	v := w.createVendor(tb, "Range ITAD")
	os := make([]*domain.PickupOrder, orders)
	for i := range os {
		os[i] = w.createOrder(tb, v)
	}
	lines := make([]*domain.PickupLine, n)
	w.update(tb, func(tx domain.Tx) error {
		for i := range lines {
			a := w.newAsset(fmt.Sprintf("RANGE%06d", i), "")
			if err := tx.CreateAsset(a); err != nil {
				return err
			}
			l := w.newLine(os[i%orders], a, 0)
			l.Status = domain.LineReceived
			l.Outcome = &domain.Outcome{Kind: domain.OutcomeDestroyed, RecordedByID: w.member.ID,
				RecordedAt: day(2025, 5, 1).Add(time.Duration(i/3) * time.Minute)}
			lines[i] = l
		}
		return tx.PutPickupLines(lines)
	})
	slices.SortFunc(lines, func(a, b *domain.PickupLine) int {
		return cmp.Or(a.Outcome.RecordedAt.Compare(b.Outcome.RecordedAt), strings.Compare(a.OrderID, b.OrderID),
			strings.Compare(a.AssetID, b.AssetID))
	})
	return w, lines
}

// TestDispositionRowsRange streams a date range of more than two report
// pages (500 lines each), with outcome times shared across orders at the
// page boundaries: every line comes once, in (outcome time, order, asset)
// order, and the range's bounds hold.
func TestDispositionRowsRange(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w, lines := seedOutcomes(t, db, "range", 1234, 7)
		svc := domain.NewService(db, nil)
		for _, c := range []struct {
			name     string
			from, to time.Time
			want     []*domain.PickupLine
		}{
			{"all", day(2025, 5, 1), day(2025, 6, 1), lines},
			// The 1,234 lines take 412 minutes of 1 May: To is exclusive.
			{"first day", day(2025, 5, 1), day(2025, 5, 2), lines},
			{"before", day(2025, 4, 1), day(2025, 5, 1), nil},
		} {
			var got []string
			err := svc.DispositionRows(w.ctx, domain.DispositionFilter{From: &c.from, To: &c.to}, func(r domain.DispositionRow) error {
				if r.Order == nil || r.Order.ID != r.Line.OrderID || r.VendorName != "Range ITAD" {
					t.Errorf("%s: row %s has order %+v, vendor %q", c.name, r.Line.AssetID, r.Order, r.VendorName)
				}
				got = append(got, r.Line.OrderID+"/"+r.Line.AssetID)
				return nil
			})
			if err != nil {
				t.Fatalf("%s: disposition rows: %v", c.name, err)
			}
			want := make([]string, len(c.want))
			for i, l := range c.want {
				want[i] = l.OrderID + "/" + l.AssetID
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: %d rows, want %d in (outcome time, order, asset) order", c.name, len(got), len(want))
			}
		}
	})
}

// BenchmarkDispositionRange streams the disposition report of a date range
// of 40,000 lines (80 pages), the CSV download's read path.
//
//	CI=true go test ./domain/storage -run '^$' -bench DispositionRange -benchtime 3x
func BenchmarkDispositionRange(b *testing.B) {
	const n = 40000
	stores := []struct {
		name string
		open func(testing.TB) (*storage.DB, storage.Config)
	}{{"sqlite", storagetest.SQLite}, {"postgres", storagetest.Postgres}}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			db, _ := st.open(b)
			w, _ := seedOutcomes(b, db, "bench-range", n, 40)
			svc := domain.NewService(db, nil)
			from, to := day(2025, 5, 1), day(2025, 6, 1)
			for b.Loop() {
				rows := 0
				err := svc.DispositionRows(w.ctx, domain.DispositionFilter{From: &from, To: &to}, func(domain.DispositionRow) error {
					rows++
					return nil
				})
				if err != nil || rows != n {
					b.Fatalf("disposition rows: %d, %v; want %d", rows, err, n)
				}
			}
		})
	}
}
