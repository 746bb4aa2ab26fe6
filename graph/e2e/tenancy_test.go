package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph"
)

// TestTenantBoundary: every query and mutation from tenant B that names
// tenant A's records answers exactly as if they did not exist.
func TestTenantBoundary(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deliver(t, e.a, "TB", 2)
		var ho handOffPayload
		e.ok(t, e.a.tokens[domain.RoleMailroom], assetHandOffDoc, map[string]any{"in": handOffInput(d.assets[:1], d.person, "")}, &ho)
		sig := ho.AssetHandOff.Signature.ID
		var ev struct {
			Asset struct{ LastEvent struct{ ID string } }
		}
		e.ok(t, e.a.tokens[domain.RoleAdmin], `query($id: ID!) { asset(id: $id) { lastEvent { id } } }`, map[string]any{"id": d.assets[0]}, &ev)

		// An off-boarding case of tenant A, and the return that completed it.
		c := e.openCase(t, e.a, d.person)
		ret := e.returnAsset(t, e.a, map[string]any{"serial": d.serials[0], "location": "Dock", "condition": "GOOD"}).AssetReturnReceive.AssetReturn
		if ret == nil {
			t.Fatal("tenant A's return failed")
		}

		// Tenant B's own records, and ids that exist nowhere to compare answers byte for byte.
		other := e.deliver(t, e.b, "TBB", 1)
		b := e.b.tokens[domain.RoleAdmin]

		queries := []struct {
			name, doc string
			foreign   any
			missing   any
		}{
			{"asset", `query($v: ID!) { asset(id: $v) { id } }`, d.assets[0], graph.EncodeID("Asset", mustUUID())},
			{"assetBySerial", `query($v: String!) { assetBySerial(serial: $v) { id } }`, d.serials[0], "NO-SUCH-SERIAL"},
			{"assetByTag", `query($v: String!) { assetByTag(tag: $v) { id } }`, "TAG-" + d.serials[0], "NO-SUCH-TAG"},
			{"parcel", `query($v: ID!) { parcel(id: $v) { id } }`, d.parcel, graph.EncodeID("Parcel", mustUUID())},
			{"person", `query($v: ID!) { person(id: $v) { id } }`, d.person, graph.EncodeID("Person", mustUUID())},
			{"signature", `query($v: ID!) { signature(id: $v) { id } }`, sig, graph.EncodeID("Signature", mustUUID())},
			{"node asset", `query($v: ID!) { node(id: $v) { id } }`, d.assets[0], graph.EncodeID("Asset", mustUUID())},
			{"node person", `query($v: ID!) { node(id: $v) { id } }`, d.person, graph.EncodeID("Person", mustUUID())},
			{"node event", `query($v: ID!) { node(id: $v) { id } }`, ev.Asset.LastEvent.ID, graph.EncodeID("CustodyEvent", mustUUID())},
			{"receipt", `query($v: ID!) { receipt(eventId: $v) { json } }`, ev.Asset.LastEvent.ID, graph.EncodeID("CustodyEvent", mustUUID())},
			{"node signature", `query($v: ID!) { node(id: $v) { id } }`, sig, graph.EncodeID("Signature", mustUUID())},
			{"offboardingCase", `query($v: ID!) { offboardingCase(id: $v) { id } }`, c.ID, graph.EncodeID("OffboardingCase", mustUUID())},
			{"node case", `query($v: ID!) { node(id: $v) { id } }`, c.ID, graph.EncodeID("OffboardingCase", mustUUID())},
			{"assetReturn", `query($v: ID!) { assetReturn(id: $v) { id } }`, ret.ID, graph.EncodeID("AssetReturn", mustUUID())},
			{"node return", `query($v: ID!) { node(id: $v) { id } }`, ret.ID, graph.EncodeID("AssetReturn", mustUUID())},
			{"receipt of a return", `query($v: ID!) { receipt(eventId: $v) { json } }`, ret.Event.ID, graph.EncodeID("CustodyEvent", mustUUID())},
		}
		for _, q := range queries {
			t.Run(q.name, func(t *testing.T) {
				foreign := e.do(t, b, q.doc, map[string]any{"v": q.foreign})
				missing := e.do(t, b, q.doc, map[string]any{"v": q.missing})
				if foreign.Status != 200 || len(foreign.Errors) > 0 || string(foreign.Data) != string(missing.Data) {
					t.Fatalf("foreign answer %s differs from missing answer %s", foreign.raw, missing.raw)
				}
				// Sanity: the owner does see it.
				own := e.do(t, e.a.tokens[domain.RoleAdmin], q.doc, map[string]any{"v": q.foreign})
				if string(own.Data) == string(foreign.Data) {
					t.Fatalf("tenant A cannot see its own record either: %s", own.raw)
				}
			})
		}

		lists := []struct{ name, doc string }{
			{"assets", `{ assets(first: 100) { edges { node { id } } } }`},
			{"assets search", `{ assets(first: 100, filter: {search: "TB-"}) { edges { node { id } } } }`},
			{"parcels", `{ parcels(first: 100) { edges { node { id } } } }`},
			{"people", `{ people(first: 100) { edges { node { id } } } }`},
			{"offboardingCases", `{ offboardingCases(first: 100) { edges { node { id } } } }`},
			{"assetReturns", `{ assetReturns(first: 100) { edges { node { id } } } }`},
		}
		for _, l := range lists {
			t.Run(l.name, func(t *testing.T) {
				r := e.do(t, b, l.doc, nil)
				for _, id := range append([]string{d.person, d.parcel, c.ID, ret.ID}, d.assets...) {
					if strings.Contains(string(r.raw), id) {
						t.Fatalf("tenant B's list holds tenant A's %s: %s", id, r.raw)
					}
				}
			})
		}

		mutations := []struct {
			name, doc string
			in        map[string]any
		}{
			{"personUpdate", `mutation($in: PersonUpdateInput!) { personUpdate(input: $in) { person { id } userErrors { field code } } }`,
				map[string]any{"id": d.person, "name": "Hijacked"}},
			{"parcelReceive", parcelReceiveDoc, receiveInput(d.person, "")},
			{"parcelSerialize", parcelSerializeDoc, serializeInput(d.parcel, "TB-FOREIGN-1")},
			{"recipientNotify by assets", recipientNotifyDoc, map[string]any{"assetIds": d.assets[1:]}},
			{"recipientNotify by parcel", recipientNotifyDoc, map[string]any{"parcelId": d.parcel}},
			{"assetHandOff", assetHandOffDoc, handOffInput(d.assets[1:], d.person, "")},
			{"custodyEventCorrect", `mutation($in: CustodyEventCorrectInput!) { custodyEventCorrect(input: $in) { event { id } userErrors { field code } } }`,
				map[string]any{"eventId": ev.Asset.LastEvent.ID, "reason": "hostile"}},
			{"assetHandOff own person foreign asset", assetHandOffDoc, handOffInput(d.assets[1:], other.person, "")},
			{"offboardingCaseOpen", caseOpenDoc, map[string]any{"personId": d.person, "lastDay": "2026-12-01", "dueDate": "2026-12-02"}},
			{"offboardingItemWriteOff", `mutation($in: OffboardingItemWriteOffInput!) { offboardingItemWriteOff(input: $in) { offboardingCase { id } userErrors { field code } } }`,
				map[string]any{"caseId": c.ID, "assetId": d.assets[0], "kind": "LOST", "reason": "hostile"}},
			{"assetReturnReceive", returnDoc, map[string]any{"serial": d.serials[1], "location": "Dock", "condition": "GOOD"}},
			{"assetRestock", `mutation($in: AssetRestockInput!) { assetRestock(input: $in) { asset { id } userErrors { field code } } }`,
				map[string]any{"assetId": d.assets[0]}},
			{"assetRetire", `mutation($in: AssetRetireInput!) { assetRetire(input: $in) { asset { id } userErrors { field code } } }`,
				map[string]any{"assetId": d.assets[0], "reason": "hostile"}},
			{"parcelReceive for a foreign case", parcelReceiveDoc, map[string]any{"carrier": "UPS", "trackingNumber": "1Z", "sender": "x",
				"returnCaseId": c.ID, "location": "Dock"}},
		}
		for _, m := range mutations {
			t.Run(m.name, func(t *testing.T) {
				r := e.do(t, b, m.doc, map[string]any{"in": m.in})
				if r.Status != 200 || len(r.Errors) > 0 {
					t.Fatalf("unexpected top-level error: %s", r.raw)
				}
				var payload map[string]struct {
					UserErrors []userError `json:"userErrors"`
				}
				if err := json.Unmarshal(r.Data, &payload); err != nil {
					t.Fatal(err)
				}
				for _, p := range payload {
					if len(p.UserErrors) == 0 || p.UserErrors[0].Code != "NOT_FOUND" {
						t.Fatalf("want NOT_FOUND, got %s", r.raw)
					}
				}
			})
		}

		// Nothing of A changed.
		var after struct {
			Asset struct {
				State   string
				History struct{ Edges []struct{} }
			}
			Person struct{ Name string }
		}
		e.ok(t, e.a.tokens[domain.RoleAdmin], `query($a: ID!, $p: ID!) { asset(id: $a) { state history(first: 50) { edges { cursor } } } person(id: $p) { name } }`,
			map[string]any{"a": d.assets[1], "p": d.person}, &after)
		if after.Asset.State != "AWAITING_COLLECTION" || len(after.Asset.History.Edges) != 3 || after.Person.Name == "Hijacked" {
			t.Fatalf("tenant A was changed from tenant B: %+v", after)
		}

		// The same serial in another tenant is fine.
		p := e.receive(t, e.b, other.person, "")
		e.serialize(t, e.b, p, d.serials[0])
	})
}
