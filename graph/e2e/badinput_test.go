package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/server"
	"github.com/custody-dev/custody/tenancy"
)

// TestCredentials: a missing, malformed, unknown or revoked token is a 401.
func TestCredentials(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		unknown, _, err := tenancy.NewToken(e.a.id)
		if err != nil {
			t.Fatal(err)
		}
		revoked, err := server.CreateMemberToken(ctx, e.run.Store, e.a.id, domain.MemberService, "leaver", domain.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if r := e.do(t, revoked.Plaintext, `{ viewer { member { name } } }`, nil); r.Status != http.StatusOK {
			t.Fatalf("fresh token refused: %s", r.raw)
		}
		if err := e.run.Store.RevokeToken(ctx, e.a.id, revoked.Token.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		// A token naming tenant B but holding tenant A's secret must not work either.
		crossed := "cst_" + strings.ReplaceAll(e.b.id, "-", "") + e.a.tokens[domain.RoleAdmin][36:]

		for name, tok := range map[string]string{
			"missing": "", "malformed": "not-a-token", "unknown": unknown,
			"revoked": revoked.Plaintext, "other tenant prefix": crossed,
		} {
			t.Run(name, func(t *testing.T) {
				r := e.do(t, tok, `{ viewer { tenant { slug } } }`, nil)
				if r.Status != http.StatusUnauthorized || !r.hasCode("UNAUTHENTICATED") || r.Data != nil && string(r.Data) != "null" {
					t.Fatalf("want 401 UNAUTHENTICATED without data, got %d %s", r.Status, r.raw)
				}
			})
		}
	})
}

// history returns an asset's state and the types of its custody events.
func (e *env) history(t *testing.T, tn *tenant, asset string) (string, []string) {
	t.Helper()
	var out struct {
		Asset struct {
			State   string
			History struct {
				Edges []struct{ Node struct{ Type string } }
			}
		}
	}
	e.ok(t, tn.tokens[domain.RoleAuditor], `query($id: ID!) { asset(id: $id) { state history(first: 100) { edges { node { type } } } } }`,
		map[string]any{"id": asset}, &out)
	var types []string
	for _, ed := range out.Asset.History.Edges {
		types = append(types, ed.Node.Type)
	}
	return out.Asset.State, types
}

// TestRefusedMutationsWriteNothing covers the bad inputs of the mailroom flow:
// each is a user error naming its field, and nothing is written.
func TestRefusedMutationsWriteNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deliver(t, e.a, "BI", 1)
		mail := e.a.tokens[domain.RoleMailroom]
		stranger := e.createPerson(t, e.a, "BI-STRANGER")

		// A second parcel whose assets were never announced to the recipient.
		p2 := e.receive(t, e.a, d.person, "")
		unannounced := e.serialize(t, e.a, p2, "BI-UNANNOUNCED")
		p3 := e.receive(t, e.a, d.person, "")

		sig := func(mut func(map[string]any)) map[string]any {
			in := handOffInput(d.assets, d.person, "")
			s := signature("Employee")
			mut(s)
			in["signature"] = s
			return in
		}
		cases := []struct {
			name  string
			doc   string
			in    map[string]any
			field string
			code  string
		}{
			{"hand-off of an asset never announced", assetHandOffDoc, handOffInput(unannounced, d.person, ""), "input.assetIds.0", "ILLEGAL_TRANSITION"},
			{"hand-off to someone else", assetHandOffDoc, handOffInput(d.assets, stranger, ""), "input.assetIds.0", "RECIPIENT_MISMATCH"},
			{"signature without typed name", assetHandOffDoc, sig(func(s map[string]any) { s["typedName"] = " " }), "input.signature.typedName", "REQUIRED"},
			{"signature without consent text", assetHandOffDoc, sig(func(s map[string]any) { s["consentText"] = "" }), "input.signature.consentText", "REQUIRED"},
			{"signature without consent version", assetHandOffDoc, sig(func(s map[string]any) { s["consentVersion"] = "" }), "input.signature.consentVersion", "REQUIRED"},
			{"signature image not base64", assetHandOffDoc, sig(func(s map[string]any) { s["imageBase64"] = "@@@" }), "input.signature.imageBase64", "INVALID_SIGNATURE"},
			{"signature image empty", assetHandOffDoc, sig(func(s map[string]any) { s["imageBase64"] = "" }), "input.signature.imageBase64", "INVALID_SIGNATURE"},
			{"signature PNG that is not a PNG", assetHandOffDoc, sig(func(s map[string]any) { s["imageFormat"] = "PNG" }), "input.signature.imageBase64", "INVALID_SIGNATURE"},
			{"hand-off of no asset", assetHandOffDoc, handOffInput([]string{}, d.person, ""), "input.assetIds", "REQUIRED"},
			{"hand-off of a malformed id", assetHandOffDoc, handOffInput([]string{"bogus"}, d.person, ""), "input.assetIds.0", "NOT_FOUND"},
			{"duplicate serial in the tenant", parcelSerializeDoc, serializeInput(p3, "BI-SN000"), "input.assets.0.serial", "DUPLICATE_SERIAL"},
			{"serialize an already serialized parcel", parcelSerializeDoc, serializeInput(d.parcel, "BI-NEW"), "input.parcelId", "ILLEGAL_TRANSITION"},
			{"receive for an unknown person", parcelReceiveDoc, receiveInput("bogus", ""), "input.recipientId", "NOT_FOUND"},
			{"receive without carrier", parcelReceiveDoc, func() map[string]any { in := receiveInput(d.person, ""); in["carrier"] = ""; return in }(), "input.carrier", "REQUIRED"},
			{"receive with a NUL in the note", parcelReceiveDoc, func() map[string]any { in := receiveInput(d.person, ""); in["note"] = "a\x00b"; return in }(), "input.note", "INVALID"},
			{"receive with a device clock in year 1", parcelReceiveDoc, func() map[string]any {
				in := receiveInput(d.person, "")
				in["deviceTime"] = "0001-01-01T00:00:00+01:00"
				return in
			}(), "input.deviceTime", "INVALID"},
			{"serialize a serial with a NUL", parcelSerializeDoc, serializeInput(p3, "BI-\x00"), "input.assets.0.serial", "INVALID"},
			{"notify twice", recipientNotifyDoc, map[string]any{"assetIds": d.assets}, "input.assetIds.0", "ILLEGAL_TRANSITION"},
			{"person with a bad email", personCreateDoc, map[string]any{"employeeId": "X1", "name": "X", "email": "not-an-email"}, "input.email", "INVALID"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tok := mail
				if c.doc == personCreateDoc {
					tok = e.a.tokens[domain.RoleHR]
				}
				r := e.do(t, tok, c.doc, map[string]any{"in": c.in})
				if r.Status != 200 || len(r.Errors) > 0 {
					t.Fatalf("want user errors, got top-level: %s", r.raw)
				}
				var payload map[string]struct {
					UserErrors []userError `json:"userErrors"`
				}
				if err := json.Unmarshal(r.Data, &payload); err != nil {
					t.Fatal(err)
				}
				for _, p := range payload {
					found := false
					for _, ue := range p.UserErrors {
						if strings.Join(ue.Field, ".") == c.field && ue.Code == c.code && ue.Message != "" {
							found = true
						}
					}
					if !found {
						t.Fatalf("want %s on %s, got %s", c.code, c.field, r.raw)
					}
				}
			})
		}

		// Nothing moved.
		if state, types := e.history(t, e.a, d.assets[0]); state != "AWAITING_COLLECTION" || len(types) != 3 {
			t.Fatalf("announced asset changed: %s %v", state, types)
		}
		if state, types := e.history(t, e.a, unannounced[0]); state != "SERIALIZED" || len(types) != 2 {
			t.Fatalf("unannounced asset changed: %s %v", state, types)
		}
		var signatures struct{ Assets struct{ Edges []struct{} } }
		e.ok(t, e.a.tokens[domain.RoleAuditor], `{ assets(first: 100, filter: {states: [DEPLOYED]}) { edges { cursor } } }`, nil, &signatures)
		if len(signatures.Assets.Edges) != 0 {
			t.Fatalf("a refused hand-off deployed %d assets", len(signatures.Assets.Edges))
		}
	})
}
