package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/graph/server"
)

const pickupScanDoc = `mutation($in: PickupCountScanInput!) { pickupCountScan(input: $in) {
	scan { result detail serial assetTag line { serial } } userErrors { field code message } } }`

type scanOut struct {
	PickupCountScan struct {
		Scan *struct {
			Result string
			Detail *string
			Line   *struct{ Serial *string }
		}
		UserErrors []userError
	}
}

// retiredAssets serializes n laptops and retires them: ready for a pickup.
func (e *env) retiredAssets(t *testing.T, tn *tenant, prefix string, n int) (ids, serials []string) {
	t.Helper()
	person := e.createPerson(t, tn, prefix+"-E")
	parcel := e.receive(t, tn, person, "")
	for i := range n {
		serials = append(serials, fmt.Sprintf("%s-SN%03d", prefix, i))
	}
	ids = e.serialize(t, tn, parcel, serials...)
	for _, id := range ids {
		var out struct {
			AssetRetire struct{ UserErrors []userError }
		}
		e.ok(t, tn.tokens[domain.RoleIT], `mutation($in: AssetRetireInput!) { assetRetire(input: $in) { userErrors { code message } } }`,
			map[string]any{"in": map[string]any{"assetId": id, "reason": "end of life"}}, &out)
		if len(out.AssetRetire.UserErrors) > 0 {
			t.Fatalf("retire: %+v", out.AssetRetire.UserErrors)
		}
	}
	return ids, serials
}

// engageVendor engages a vendor with the given certificate expiry dates.
func (e *env) engageVendor(t *testing.T, tn *tenant, name string, expires ...string) string {
	t.Helper()
	var certs []map[string]any
	schemes := []string{"R2V3", "NAID_AAA", "E_STEWARDS"}
	for i, exp := range expires {
		certs = append(certs, map[string]any{"scheme": schemes[i], "number": fmt.Sprintf("C-%d", i), "expiresOn": exp})
	}
	var out vendorEngageOut
	e.ok(t, tn.tokens[domain.RoleAdmin], vendorEngageDoc, map[string]any{"in": map[string]any{"name": name, "certifications": certs}}, &out)
	if out.VendorEngage.Vendor == nil {
		t.Fatalf("vendorEngage: %+v", out.VendorEngage.UserErrors)
	}
	return out.VendorEngage.Vendor.ID
}

// vendorToken issues a token for a member of the vendor's staff.
func (e *env) vendorToken(t *testing.T, tn *tenant, vendorGID string) string {
	t.Helper()
	_, id, ok := graph.DecodeID(vendorGID)
	if !ok {
		t.Fatalf("bad vendor id %s", vendorGID)
	}
	issued, err := server.CreateVendorStaffToken(context.Background(), e.run.Store, tn.id, id, domain.MemberPerson, "technician "+mustUUID()[:8])
	if err != nil {
		t.Fatal(err)
	}
	return issued.Plaintext
}

// TestPickupOrderAndCount: IT plans a pickup with a certified vendor, stages
// retired assets, counts them with single and bulk scans (matched, duplicate,
// substituted, unexpected) and reads the differences; the vendor's staff see
// their own order's manifest and nothing else.
func TestPickupOrderAndCount(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		it := e.a.tokens[domain.RoleIT]
		tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
		certified := e.engageVendor(t, e.a, "GreenCycle", "2099-12-31", "2099-06-30")
		lapsed := e.engageVendor(t, e.a, "OldCycle", "2099-12-31", "2020-01-01")
		uncertified := e.engageVendor(t, e.a, "NoCycle")

		create := `mutation($in: PickupOrderCreateInput!) { pickupOrderCreate(input: $in) {
			pickupOrder { id state scheduledOn vendor { name } } userErrors { field code message } } }`
		type createOut struct {
			PickupOrderCreate struct {
				PickupOrder *struct{ ID, State, ScheduledOn string }
				UserErrors  []userError
			}
		}
		for _, v := range []string{lapsed, uncertified} {
			var bad createOut
			e.ok(t, it, create, map[string]any{"in": map[string]any{"vendorId": v, "scheduledOn": tomorrow}}, &bad)
			if errs := bad.PickupOrderCreate.UserErrors; len(errs) != 1 || errs[0].Code != "CERTIFICATION_EXPIRED" {
				t.Fatalf("order for an uncertified vendor: %+v", errs)
			}
		}
		var past createOut
		e.ok(t, it, create, map[string]any{"in": map[string]any{"vendorId": certified, "scheduledOn": "2020-01-01"}}, &past)
		if errs := past.PickupOrderCreate.UserErrors; len(errs) != 1 || errs[0].Code != "INVALID" {
			t.Fatalf("order in the past: %+v", errs)
		}
		var created createOut
		e.ok(t, it, create, map[string]any{"in": map[string]any{"vendorId": certified, "scheduledOn": tomorrow, "note": "dock 2"}}, &created)
		order := created.PickupOrderCreate.PickupOrder
		if order == nil || order.State != "OPEN" || order.ScheduledOn != tomorrow {
			t.Fatalf("pickupOrderCreate = %+v", created.PickupOrderCreate)
		}

		ids, serials := e.retiredAssets(t, e.a, "PK", 4)
		deployed := e.deployed(t, e.a, "PKD", 1)
		stage := `mutation($in: PickupOrderStageInput!) { pickupOrderStage(input: $in) {
			lines { serial assetTag model status } userErrors { field code message } } }`
		var notRetired struct {
			PickupOrderStage struct{ UserErrors []userError }
		}
		e.ok(t, it, stage, map[string]any{"in": map[string]any{"orderId": order.ID, "assetIds": []string{ids[0], deployed.assets[0]}}}, &notRetired)
		if errs := notRetired.PickupOrderStage.UserErrors; len(errs) != 1 || errs[0].Code != "ILLEGAL_TRANSITION" {
			t.Fatalf("staging a deployed asset: %+v", errs)
		}
		var staged struct {
			PickupOrderStage struct {
				Lines []struct {
					Serial, AssetTag *string
					Model, Status    string
				}
				UserErrors []userError
			}
		}
		e.ok(t, it, stage, map[string]any{"in": map[string]any{"orderId": order.ID, "assetIds": ids}}, &staged)
		if s := staged.PickupOrderStage; len(s.UserErrors) > 0 || len(s.Lines) != 4 || s.Lines[0].Status != "STAGED" {
			t.Fatalf("pickupOrderStage = %+v", s)
		}

		scan := func(in map[string]any) scanOut {
			var out scanOut
			e.ok(t, it, pickupScanDoc, map[string]any{"in": map[string]any{"orderId": order.ID, "scan": in}}, &out)
			return out
		}
		for _, tc := range []struct {
			name   string
			in     map[string]any
			result string
		}{
			{"a staged laptop", map[string]any{"serial": strings.ToLower(serials[0])}, "MATCHED"},
			{"the same again", map[string]any{"assetTag": "TAG-" + serials[0]}, "DUPLICATE"},
			{"serial of one, tag of another", map[string]any{"serial": serials[1], "assetTag": "TAG-" + serials[2]}, "SUBSTITUTED"},
			{"right serial, wrong tag", map[string]any{"serial": serials[1], "assetTag": "TAG-OTHER"}, "SUBSTITUTED"},
			{"not on the manifest", map[string]any{"serial": "STRAY-1"}, "UNEXPECTED"},
		} {
			if got := scan(tc.in).PickupCountScan; got.Scan == nil || got.Scan.Result != tc.result {
				t.Errorf("%s: %+v, want %s", tc.name, got, tc.result)
			}
		}
		if got := scan(map[string]any{}).PickupCountScan; len(got.UserErrors) == 0 || got.UserErrors[0].Code != "REQUIRED" {
			t.Errorf("a scan of nothing: %+v", got)
		}

		var bulk struct {
			PickupCountScanBulk struct {
				Matched       int
				Discrepancies []struct{ Result string }
				UserErrors    []userError
			}
		}
		e.ok(t, it, `mutation($in: PickupCountScanBulkInput!) { pickupCountScanBulk(input: $in) {
			matched discrepancies { result } userErrors { code } } }`,
			map[string]any{"in": map[string]any{"orderId": order.ID, "scans": []map[string]any{
				{"serial": serials[2]}, {"serial": serials[3], "model": "ThinkPad T14"}}}}, &bulk)
		if b := bulk.PickupCountScanBulk; b.Matched != 1 || len(b.Discrepancies) != 1 || b.Discrepancies[0].Result != "SUBSTITUTED" {
			t.Fatalf("bulk scan = %+v", b)
		}

		report := `query($id: ID!) { pickupOrder(id: $id) { count { lines counted missing { serial } discrepancies { result } } } }`
		var rep struct {
			PickupOrder struct {
				Count struct {
					Lines, Counted int
					Missing        []struct{ Serial string }
					Discrepancies  []struct{ Result string }
				}
			}
		}
		e.ok(t, it, report, map[string]any{"id": order.ID}, &rep)
		c := rep.PickupOrder.Count
		// The two unmatched lines are each named by an open substitution, so
		// they are listed there and not also as missing.
		if c.Lines != 4 || c.Counted != 2 || len(c.Missing) != 0 || len(c.Discrepancies) != 5 {
			t.Fatalf("count report = %+v", c)
		}

		var un struct {
			PickupOrderUnstage struct {
				Line       *struct{ Status string }
				UserErrors []userError
			}
		}
		e.ok(t, it, `mutation($in: PickupOrderUnstageInput!) { pickupOrderUnstage(input: $in) { line { status } userErrors { code } } }`,
			map[string]any{"in": map[string]any{"orderId": order.ID, "assetId": ids[3], "reason": "kept as a spare"}}, &un)
		if un.PickupOrderUnstage.Line == nil || un.PickupOrderUnstage.Line.Status != "REMOVED" {
			t.Fatalf("unstage = %+v", un.PickupOrderUnstage)
		}
		var state struct{ Asset struct{ State string } }
		e.ok(t, it, `query($id: ID!) { asset(id: $id) { state } }`, map[string]any{"id": ids[3]}, &state)
		if state.Asset.State != "RETIRED" {
			t.Fatalf("unstaged asset is %s, want RETIRED", state.Asset.State)
		}
		var again struct {
			PickupOrderStage struct{ UserErrors []userError }
		}
		e.ok(t, it, stage, map[string]any{"in": map[string]any{"orderId": order.ID, "assetIds": []string{ids[3]}}}, &again)
		if errs := again.PickupOrderStage.UserErrors; len(errs) != 1 || errs[0].Code != "ILLEGAL_TRANSITION" {
			t.Fatalf("re-staging a removed asset on the same order: %+v", errs)
		}
		e.ok(t, it, report, map[string]any{"id": order.ID}, &rep)
		// The line of serials[1] is still named by its open substitutions.
		if c := rep.PickupOrder.Count; c.Lines != 3 || len(c.Missing) != 0 || len(c.Discrepancies) != 4 {
			t.Fatalf("count after removing a line = %+v (its substitution is settled)", c)
		}

		// The vendor's staff: their order's manifest, never an asset record.
		tech := e.vendorToken(t, e.a, certified)
		var mine struct {
			PickupOrders struct {
				Edges []struct {
					Node struct {
						ID    string
						Lines []struct {
							Serial    *string
							BearsData bool
						}
					}
				}
			}
		}
		e.ok(t, tech, `{ pickupOrders { edges { node { id lines(status: STAGED) { serial bearsData } } } } }`, nil, &mine)
		if len(mine.PickupOrders.Edges) != 1 || mine.PickupOrders.Edges[0].Node.ID != order.ID || len(mine.PickupOrders.Edges[0].Node.Lines) != 3 {
			t.Fatalf("vendor's orders = %+v", mine.PickupOrders)
		}
		if r := e.do(t, tech, `query($id: ID!) { pickupOrder(id: $id) { lines { asset { id holder { name } } } } }`, map[string]any{"id": order.ID}); !r.hasCode("FORBIDDEN") {
			t.Fatalf("a vendor reached an asset record: %s", r.raw)
		}
		if r := e.do(t, tech, `query($id: ID!) { pickupOrder(id: $id) { count { discrepancies { serial } } } }`, map[string]any{"id": order.ID}); !r.hasCode("FORBIDDEN") {
			t.Fatalf("a vendor read IT's shelf count: %s", r.raw)
		}
		var all struct {
			PickupOrder struct{ Lines []struct{ Status string } }
		}
		e.ok(t, tech, `query($id: ID!) { pickupOrder(id: $id) { lines { status } } }`, map[string]any{"id": order.ID}, &all)
		if len(all.PickupOrder.Lines) != 3 {
			t.Fatalf("the vendor sees %d lines, want the 3 staged ones (not the removed one)", len(all.PickupOrder.Lines))
		}
		other := e.vendorToken(t, e.a, lapsed)
		for _, tok := range []string{other, e.a.tokens[domain.RoleITADVendor], e.b.tokens[domain.RoleAdmin]} {
			var none struct {
				PickupOrder  *struct{ ID string }
				PickupOrders struct{ Edges []struct{} }
			}
			e.ok(t, tok, `query($id: ID!) { pickupOrder(id: $id) { id } pickupOrders { edges { cursor } } }`, map[string]any{"id": order.ID}, &none)
			if none.PickupOrder != nil || len(none.PickupOrders.Edges) != 0 {
				t.Fatalf("another vendor, an unlinked vendor member or another tenant sees the order: %+v", none)
			}
		}
		if r := e.do(t, tech, pickupScanDoc, map[string]any{"in": map[string]any{"orderId": order.ID, "scan": map[string]any{"serial": serials[0]}}}); !r.hasCode("FORBIDDEN") {
			t.Fatalf("a vendor counted IT's stock: %s", r.raw)
		}
	})
}
