package e2e_test

import (
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/ledger"
)

const (
	caseOpenDoc = `mutation($in: OffboardingCaseOpenInput!) { offboardingCaseOpen(input: $in) {
		offboardingCase { id status lastDay dueDate outstandingCount person { id }
			items { asset { id serial } expected status } }
		userErrors { field message code } } }`
	returnDoc = `mutation($in: AssetReturnReceiveInput!) { assetReturnReceive(input: $in) {
		assetReturn { id unmatched condition location from { id } receivedBy { name } event { id seq type } signature { id }
			offboardingCase { id } }
		asset { id state custodian { kind ref } }
		offboardingCase { id status outstandingCount items { asset { id } expected status } }
		userErrors { field message code } } }`
	caseDoc = `query($id: ID!) { offboardingCase(id: $id) { id status completedAt outstandingCount
		items { asset { id } expected status writeOff writeOffReason approvedBy return { id } event { type } resolvedBy { name } } } }`
)

type caseView struct {
	ID               string
	Status           string
	LastDay          string
	DueDate          string
	CompletedAt      *string
	OutstandingCount int
	Person           *struct{ ID string }
	Items            []struct {
		Asset struct {
			ID     string
			Serial string
		}
		Expected       bool
		Status         string
		WriteOff       *string
		WriteOffReason *string
		ApprovedBy     *string
		Return         *struct{ ID string }
		Event          *struct{ Type string }
		ResolvedBy     *struct{ Name string }
	}
}

type returnPayload struct {
	AssetReturnReceive struct {
		AssetReturn *struct {
			ID, Condition, Location string
			Unmatched               bool
			From                    *struct{ ID string }
			ReceivedBy              *struct{ Name string }
			Event                   struct {
				ID   string
				Seq  int64
				Type string
			}
			Signature       *struct{ ID string }
			OffboardingCase *struct{ ID string }
		}
		Asset *struct {
			ID, State string
			Custodian struct{ Kind, Ref string }
		}
		OffboardingCase *caseView
		UserErrors      []userError
	}
}

// openCase opens an off-boarding case as HR and returns it.
func (e *env) openCase(t *testing.T, tn *tenant, person string) caseView {
	t.Helper()
	var out struct {
		OffboardingCaseOpen struct {
			OffboardingCase *caseView
			UserErrors      []userError
		}
	}
	e.ok(t, tn.tokens[domain.RoleHR], caseOpenDoc, map[string]any{"in": map[string]any{
		"personId": person, "lastDay": "2026-11-30", "dueDate": "2026-12-07", "note": "leaves for a competitor"}}, &out)
	if p := out.OffboardingCaseOpen; len(p.UserErrors) > 0 || p.OffboardingCase == nil {
		t.Fatalf("offboardingCaseOpen: %+v", p)
	}
	return *out.OffboardingCaseOpen.OffboardingCase
}

// returnAsset scans an asset back in as the mailroom.
func (e *env) returnAsset(t *testing.T, tn *tenant, in map[string]any) returnPayload {
	t.Helper()
	var out returnPayload
	e.ok(t, tn.tokens[domain.RoleMailroom], returnDoc, map[string]any{"in": in}, &out)
	return out
}

// deployed delivers n assets to a new person and hands them over.
func (e *env) deployed(t *testing.T, tn *tenant, prefix string, n int) delivered {
	t.Helper()
	d := e.deliver(t, tn, prefix, n)
	var ho handOffPayload
	e.ok(t, tn.tokens[domain.RoleMailroom], assetHandOffDoc, map[string]any{"in": handOffInput(d.assets, d.person, "")}, &ho)
	if len(ho.AssetHandOff.UserErrors) > 0 {
		t.Fatalf("hand-off: %+v", ho.AssetHandOff.UserErrors)
	}
	return d
}

// TestOffboardingFlow: HR opens a case for an employee holding two assets;
// the mailroom scans them back (one signed, one by tag); the case shows what
// is back and what is outstanding and completes with the last return; the
// return has a receipt that verifies offline.
func TestOffboardingFlow(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deployed(t, e.a, "OB", 2)
		c := e.openCase(t, e.a, d.person)
		if c.Status != "OPEN" || c.OutstandingCount != 2 || len(c.Items) != 2 || c.LastDay != "2026-11-30" || c.DueDate != "2026-12-07" {
			t.Fatalf("opened case = %+v", c)
		}
		for _, it := range c.Items {
			if !it.Expected || it.Status != "OUTSTANDING" {
				t.Fatalf("item %+v, want expected and outstanding", it)
			}
		}
		var dup struct {
			OffboardingCaseOpen struct{ UserErrors []userError }
		}
		e.ok(t, e.a.tokens[domain.RoleHR], caseOpenDoc, map[string]any{"in": map[string]any{
			"personId": d.person, "lastDay": "2026-11-30", "dueDate": "2026-12-07"}}, &dup)
		if errs := dup.OffboardingCaseOpen.UserErrors; len(errs) != 1 || errs[0].Code != "DUPLICATE" {
			t.Fatalf("second open case for one person: %+v", errs)
		}

		in := map[string]any{"serial": " " + d.serials[0] + " ", "location": "Mailroom, 2nd floor", "condition": "DAMAGED",
			"note": "cracked hinge", "signature": signature("Departing Employee"), "idempotencyKey": "ret-1"}
		first := e.returnAsset(t, e.a, in)
		r := first.AssetReturnReceive
		if len(r.UserErrors) > 0 || r.AssetReturn == nil || r.AssetReturn.Unmatched || r.AssetReturn.From.ID != d.person ||
			r.AssetReturn.ReceivedBy.Name != "acme mailroom" || r.AssetReturn.Signature == nil || r.AssetReturn.Event.Type != "RETURN_RECEIVED" ||
			r.Asset.State != "RETURN_RECEIVED" || r.Asset.Custodian.Kind != "LOCATION" || r.Asset.Custodian.Ref != "Mailroom, 2nd floor" ||
			r.OffboardingCase == nil || r.OffboardingCase.Status != "OPEN" || r.OffboardingCase.OutstandingCount != 1 {
			t.Fatalf("first return = %+v", r)
		}
		again := e.returnAsset(t, e.a, in)
		if again.AssetReturnReceive.AssetReturn == nil || again.AssetReturnReceive.AssetReturn.ID != r.AssetReturn.ID {
			t.Fatalf("retried return = %+v, want the first %s", again.AssetReturnReceive, r.AssetReturn.ID)
		}

		// The return's receipt proves the returning person's signature.
		rc := e.receipt(t, r.AssetReturn.Event.ID)
		report, err := ledger.VerifyReceipt(rc, e.verifierKeys(t)...)
		if err != nil || report == nil {
			t.Fatalf("return receipt does not verify: %v", err)
		}
		if rc.Signature == nil {
			t.Fatal("the return receipt does not carry the signature's hashes")
		}

		second := e.returnAsset(t, e.a, map[string]any{"assetTag": "tag-" + d.serials[1], "location": "Mailroom", "condition": "GOOD"})
		r2 := second.AssetReturnReceive
		if len(r2.UserErrors) > 0 || r2.OffboardingCase == nil || r2.OffboardingCase.Status != "COMPLETED" || r2.OffboardingCase.OutstandingCount != 0 {
			t.Fatalf("last return = %+v", r2)
		}
		var got struct{ OffboardingCase caseView }
		e.ok(t, e.a.tokens[domain.RoleHR], caseDoc, map[string]any{"id": c.ID}, &got)
		if got.OffboardingCase.Status != "COMPLETED" || got.OffboardingCase.CompletedAt == nil {
			t.Fatalf("case after both returns = %+v", got.OffboardingCase)
		}
		for _, it := range got.OffboardingCase.Items {
			if it.Status != "RETURNED" || it.Return == nil || it.Event == nil || it.Event.Type != "RETURN_RECEIVED" || it.ResolvedBy == nil {
				t.Fatalf("item after return = %+v", it)
			}
		}

		// IT moves the returned assets on.
		var rs struct {
			AssetRestock struct {
				Asset      *struct{ State string }
				UserErrors []userError
			}
		}
		e.ok(t, e.a.tokens[domain.RoleIT], `mutation($in: AssetRestockInput!) { assetRestock(input: $in) { asset { state } userErrors { code message } } }`,
			map[string]any{"in": map[string]any{"assetId": d.assets[1], "location": "IT storage"}}, &rs)
		if rs.AssetRestock.Asset == nil || rs.AssetRestock.Asset.State != "IN_STOCK" {
			t.Fatalf("assetRestock = %+v", rs.AssetRestock)
		}
		var rt struct {
			AssetRetire struct {
				Asset      *struct{ State string }
				UserErrors []userError
			}
		}
		e.ok(t, e.a.tokens[domain.RoleIT], `mutation($in: AssetRetireInput!) { assetRetire(input: $in) { asset { state } userErrors { code message } } }`,
			map[string]any{"in": map[string]any{"assetId": d.assets[0], "reason": "cracked hinge, beyond repair"}}, &rt)
		if rt.AssetRetire.Asset == nil || rt.AssetRetire.Asset.State != "RETIRED" {
			t.Fatalf("assetRetire = %+v", rt.AssetRetire)
		}
	})
}

// TestOffboardingEdgeCases: a person with no assets, write-offs, unexpected
// and unmatched returns, return parcels and bad input.
func TestOffboardingEdgeCases(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		hr := e.a.tokens[domain.RoleHR]
		nobody := e.createPerson(t, e.a, "EMPTY-1")
		if c := e.openCase(t, e.a, nobody); c.Status != "COMPLETED" || len(c.Items) != 0 {
			t.Fatalf("case of a person holding nothing = %+v, want COMPLETED at once", c)
		}

		d := e.deployed(t, e.a, "WO", 3)
		c := e.openCase(t, e.a, d.person)
		writeOff := `mutation($in: OffboardingItemWriteOffInput!) { offboardingItemWriteOff(input: $in) {
			offboardingCase { status outstandingCount } userErrors { field code message } } }`
		type writeOffOut struct {
			OffboardingItemWriteOff struct {
				OffboardingCase *struct {
					Status           string
					OutstandingCount int
				}
				UserErrors []userError
			}
		}
		var wo writeOffOut
		e.ok(t, hr, writeOff, map[string]any{"in": map[string]any{"caseId": c.ID, "assetId": d.assets[0], "kind": "KEPT_WITH_APPROVAL", "reason": "keeps the phone"}}, &wo)
		if errs := wo.OffboardingItemWriteOff.UserErrors; len(errs) != 1 || errs[0].Code != "REQUIRED" {
			t.Fatalf("kept without approver: %+v", errs)
		}
		wo = writeOffOut{}
		e.ok(t, hr, writeOff, map[string]any{"in": map[string]any{"caseId": c.ID, "assetId": d.assets[0], "kind": "KEPT_WITH_APPROVAL",
			"reason": "keeps the phone", "approvedBy": "CFO"}}, &wo)
		if p := wo.OffboardingItemWriteOff; len(p.UserErrors) > 0 || p.OffboardingCase.OutstandingCount != 2 {
			t.Fatalf("kept with approval: %+v", p)
		}
		wo = writeOffOut{}
		e.ok(t, hr, writeOff, map[string]any{"in": map[string]any{"caseId": c.ID, "assetId": d.assets[0], "kind": "LOST", "reason": "again"}}, &wo)
		if errs := wo.OffboardingItemWriteOff.UserErrors; len(errs) != 1 || errs[0].Code != "NOT_OUTSTANDING" {
			t.Fatalf("write-off of a resolved item: %+v", errs)
		}
		wo = writeOffOut{}
		e.ok(t, hr, writeOff, map[string]any{"in": map[string]any{"caseId": c.ID, "assetId": d.assets[1], "kind": "LOST", "reason": "left in a taxi"}}, &wo)
		if p := wo.OffboardingItemWriteOff; len(p.UserErrors) > 0 || p.OffboardingCase.OutstandingCount != 1 {
			t.Fatalf("lost: %+v", p)
		}
		var lost struct{ Asset struct{ State string } }
		e.ok(t, hr, `query($id: ID!) { asset(id: $id) { state } }`, map[string]any{"id": d.assets[1]}, &lost)
		if lost.Asset.State != "LOST" {
			t.Fatalf("written-off LOST asset is %s", lost.Asset.State)
		}

		// An asset held by someone else, handed back by the departing person:
		// counted on their case as an unexpected return.
		other := e.deployed(t, e.a, "UX", 1)
		un := e.returnAsset(t, e.a, map[string]any{"serial": other.serials[0], "fromPersonId": d.person, "location": "Desk", "condition": "GOOD"})
		if r := un.AssetReturnReceive; len(r.UserErrors) > 0 || r.AssetReturn.Unmatched || r.OffboardingCase == nil || r.OffboardingCase.ID != c.ID {
			t.Fatalf("unexpected return = %+v", r)
		}
		var got struct{ OffboardingCase caseView }
		e.ok(t, hr, `query($id: ID!) { offboardingCase(id: $id) { items(expected: false) { asset { id } expected status } } }`, map[string]any{"id": c.ID}, &got)
		if items := got.OffboardingCase.Items; len(items) != 1 || items[0].Asset.ID != other.assets[0] || items[0].Status != "RETURNED" {
			t.Fatalf("unexpected items = %+v", items)
		}

		// The last outstanding item comes back in a parcel shipped by the employee.
		var pr struct {
			ParcelReceive struct {
				Parcel *struct {
					ID         string
					Recipient  *struct{ ID string }
					ReturnCase *struct{ ID string }
				}
				UserErrors []userError
			}
		}
		e.ok(t, e.a.tokens[domain.RoleMailroom], `mutation($in: ParcelReceiveInput!) { parcelReceive(input: $in) {
			parcel { id recipient { id } returnCase { id } } userErrors { field code message } } }`,
			map[string]any{"in": map[string]any{"carrier": "UPS", "trackingNumber": "1ZRET", "sender": "Departing employee",
				"returnCaseId": c.ID, "location": "Dock"}}, &pr)
		p := pr.ParcelReceive.Parcel
		if len(pr.ParcelReceive.UserErrors) > 0 || p == nil || p.Recipient != nil || p.ReturnCase == nil || p.ReturnCase.ID != c.ID {
			t.Fatalf("return parcel = %+v", pr.ParcelReceive)
		}
		viaParcel := e.returnAsset(t, e.a, map[string]any{"serial": d.serials[2], "parcelId": p.ID, "location": "Dock", "condition": "WORN"})
		if r := viaParcel.AssetReturnReceive; len(r.UserErrors) > 0 || r.OffboardingCase == nil || r.OffboardingCase.Status != "COMPLETED" {
			t.Fatalf("return via parcel = %+v", r)
		}

		// No open case: recorded and flagged.
		stray := e.deployed(t, e.a, "ST", 1)
		flagged := e.returnAsset(t, e.a, map[string]any{"serial": stray.serials[0], "location": "Dock", "condition": "GOOD"})
		if r := flagged.AssetReturnReceive; len(r.UserErrors) > 0 || !r.AssetReturn.Unmatched || r.AssetReturn.OffboardingCase != nil || r.Asset.State != "RETURN_RECEIVED" {
			t.Fatalf("unmatched return = %+v", r)
		}
		var list struct {
			AssetReturns struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		e.ok(t, hr, `{ assetReturns(first: 10, filter: {unmatchedOnly: true}) { edges { node { id } } } }`, nil, &list)
		if len(list.AssetReturns.Edges) != 1 || list.AssetReturns.Edges[0].Node.ID != flagged.AssetReturnReceive.AssetReturn.ID {
			t.Fatalf("flagged returns = %+v", list.AssetReturns.Edges)
		}

		// Bad input: nothing written, a clear user error.
		bTenant := e.deployed(t, e.b, "BX", 1)
		held := e.deployed(t, e.a, "PX", 1)
		for _, tc := range []struct {
			name string
			in   map[string]any
			code string
		}{
			{"an asset of another tenant", map[string]any{"serial": bTenant.serials[0], "location": "Dock", "condition": "GOOD"}, "NOT_FOUND"},
			{"no identifier", map[string]any{"location": "Dock", "condition": "GOOD"}, "REQUIRED"},
			{"no location", map[string]any{"serial": stray.serials[0], "location": " ", "condition": "GOOD"}, "REQUIRED"},
			{"not deployed any more", map[string]any{"serial": stray.serials[0], "location": "Dock", "condition": "GOOD"}, "ILLEGAL_TRANSITION"},
			{"a parcel that is no return", map[string]any{"serial": held.serials[0], "location": "Dock", "condition": "GOOD", "parcelId": held.parcel}, "INVALID"},
			{"serial and tag of two assets", map[string]any{"serial": held.serials[0], "assetTag": "TAG-" + stray.serials[0], "location": "Dock", "condition": "GOOD"}, "INVALID"},
		} {
			r := e.returnAsset(t, e.a, tc.in).AssetReturnReceive
			if len(r.UserErrors) == 0 || r.UserErrors[0].Code != tc.code || r.AssetReturn != nil {
				t.Errorf("%s: %+v, want %s", tc.name, r, tc.code)
			}
		}
		var bad struct {
			OffboardingCaseOpen struct{ UserErrors []userError }
		}
		e.ok(t, hr, caseOpenDoc, map[string]any{"in": map[string]any{"personId": held.person, "lastDay": "2026-11-30", "dueDate": "2026-11-01"}}, &bad)
		if errs := bad.OffboardingCaseOpen.UserErrors; len(errs) != 1 || errs[0].Code != "INVALID" || errs[0].Field[1] != "dueDate" {
			t.Fatalf("due before the last day: %+v", errs)
		}
		bad.OffboardingCaseOpen.UserErrors = nil
		e.ok(t, hr, caseOpenDoc, map[string]any{"in": map[string]any{"personId": bTenant.person, "lastDay": "2026-11-30", "dueDate": "2026-12-01"}}, &bad)
		if errs := bad.OffboardingCaseOpen.UserErrors; len(errs) != 1 || errs[0].Code != "NOT_FOUND" {
			t.Fatalf("case for another tenant's person: %+v", errs)
		}
		if r := e.do(t, hr, caseOpenDoc, map[string]any{"in": map[string]any{"personId": nobody, "lastDay": "30/11/2026", "dueDate": "2026-12-01"}}); !r.hasCode("BAD_USER_INPUT") {
			t.Fatalf("malformed date: %s", r.raw)
		}
	})
}
