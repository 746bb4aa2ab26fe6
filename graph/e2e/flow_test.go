package e2e_test

import (
	"fmt"
	"testing"

	"github.com/custody-dev/custody/domain"
)

// GraphQL documents shared by the tests.
const (
	personCreateDoc = `mutation($in: PersonCreateInput!) { personCreate(input: $in) {
		person { id name status } userErrors { field message code } } }`
	parcelReceiveDoc = `mutation($in: ParcelReceiveInput!) { parcelReceive(input: $in) {
		parcel { id state carrier trackingNumber recipient { id name } receivedBy { name } receivedAt }
		userErrors { field message code } } }`
	parcelSerializeDoc = `mutation($in: ParcelSerializeInput!) { parcelSerialize(input: $in) {
		parcel { id state } assets { id serial assetTag state custodian { kind ref } }
		userErrors { field message code } } }`
	recipientNotifyDoc = `mutation($in: RecipientNotifyInput!) { recipientNotify(input: $in) {
		assets { id state } userErrors { field message code } } }`
	assetHandOffDoc = `mutation($in: AssetHandOffInput!) { assetHandOff(input: $in) {
		signature { id typedName signedAt consentSha256 image { format sha256 } signer { id } ipAddress userAgent }
		assets { id state deployedAt holder { id name } custodian { kind } }
		userErrors { field message code } } }`
	assetBySerialDoc = `query($s: String!) { assetBySerial(serial: $s) { id serial state deployedAt
		holder { id name } recentEvents(last: 10) { seq type }
		history(first: 50) { edges { node { seq type fromState toState actor { name } signature { id } } } pageInfo { hasNextPage } } } }`
)

type personPayload struct {
	PersonCreate struct {
		Person     *struct{ ID, Name, Status string } `json:"person"`
		UserErrors []userError                        `json:"userErrors"`
	} `json:"personCreate"`
}

type receivePayload struct {
	ParcelReceive struct {
		Parcel *struct {
			ID, State, Carrier, TrackingNumber, ReceivedAt string
			Recipient                                      struct{ ID, Name string }
			ReceivedBy                                     struct{ Name string }
		} `json:"parcel"`
		UserErrors []userError `json:"userErrors"`
	} `json:"parcelReceive"`
}

type assetRef struct {
	ID, Serial, AssetTag, State string
	DeployedAt                  *string
	Custodian                   struct{ Kind, Ref string }
	Holder                      *struct{ ID, Name string }
}

type serializePayload struct {
	ParcelSerialize struct {
		Parcel     *struct{ ID, State string } `json:"parcel"`
		Assets     []assetRef                  `json:"assets"`
		UserErrors []userError                 `json:"userErrors"`
	} `json:"parcelSerialize"`
}

type notifyPayload struct {
	RecipientNotify struct {
		Assets     []assetRef  `json:"assets"`
		UserErrors []userError `json:"userErrors"`
	} `json:"recipientNotify"`
}

type handOffPayload struct {
	AssetHandOff struct {
		Signature *struct {
			ID, TypedName, SignedAt, ConsentSha256, IPAddress, UserAgent string
			Image                                                        struct{ Format, Sha256 string }
			Signer                                                       struct{ ID string }
		} `json:"signature"`
		Assets     []assetRef  `json:"assets"`
		UserErrors []userError `json:"userErrors"`
	} `json:"assetHandOff"`
}

// createPerson creates an ACTIVE person through hr and returns its id.
func (e *env) createPerson(t *testing.T, tn *tenant, employeeID string) string {
	t.Helper()
	var out personPayload
	e.ok(t, tn.tokens[domain.RoleHR], personCreateDoc, map[string]any{"in": map[string]any{
		"employeeId": employeeID, "name": "Employee " + employeeID, "email": employeeID + "@" + tn.slug + ".example", "department": "Engineering"}}, &out)
	if p := out.PersonCreate; len(p.UserErrors) > 0 || p.Person == nil {
		t.Fatalf("personCreate: %+v", p.UserErrors)
	}
	return out.PersonCreate.Person.ID
}

// receive records a parcel for recipient through mailroom.
func (e *env) receive(t *testing.T, tn *tenant, recipient, key string) string {
	t.Helper()
	var out receivePayload
	e.ok(t, tn.tokens[domain.RoleMailroom], parcelReceiveDoc, map[string]any{"in": receiveInput(recipient, key)}, &out)
	if p := out.ParcelReceive; len(p.UserErrors) > 0 || p.Parcel == nil {
		t.Fatalf("parcelReceive: %+v", p.UserErrors)
	}
	return out.ParcelReceive.Parcel.ID
}

func receiveInput(recipient, key string) map[string]any {
	in := map[string]any{"carrier": "UPS", "trackingNumber": "1Z999AA10123456784", "sender": "Apple Inc.",
		"recipientId": recipient, "location": "HQ mailroom, dock 2", "note": "box slightly dented"}
	if key != "" {
		in["idempotencyKey"] = key
	}
	return in
}

// serialize turns a parcel into one laptop per serial.
func (e *env) serialize(t *testing.T, tn *tenant, parcel string, serials ...string) []string {
	t.Helper()
	var out serializePayload
	e.ok(t, tn.tokens[domain.RoleMailroom], parcelSerializeDoc, map[string]any{"in": serializeInput(parcel, serials...)}, &out)
	p := out.ParcelSerialize
	if len(p.UserErrors) > 0 || len(p.Assets) != len(serials) {
		t.Fatalf("parcelSerialize: %+v", p.UserErrors)
	}
	ids := make([]string, len(p.Assets))
	for i, a := range p.Assets {
		ids[i] = a.ID
	}
	return ids
}

func serializeInput(parcel string, serials ...string) map[string]any {
	assets := make([]map[string]any, len(serials))
	for i, s := range serials {
		assets[i] = map[string]any{"serial": s, "assetTag": "TAG-" + s, "make": "Apple", "model": "MacBook Pro 14",
			"category": "LAPTOP", "bearsData": true}
	}
	return map[string]any{"parcelId": parcel, "assets": assets}
}

// notify announces all of a parcel's assets.
func (e *env) notify(t *testing.T, tn *tenant, parcel string) {
	t.Helper()
	var out notifyPayload
	e.ok(t, tn.tokens[domain.RoleMailroom], recipientNotifyDoc, map[string]any{"in": map[string]any{"parcelId": parcel}}, &out)
	if len(out.RecipientNotify.UserErrors) > 0 {
		t.Fatalf("recipientNotify: %+v", out.RecipientNotify.UserErrors)
	}
}

// delivered is the state of a parcel brought to AWAITING_COLLECTION.
type delivered struct {
	person, parcel string
	assets         []string
	serials        []string
}

// deliver runs receive → serialize → notify for n laptops; prefix keeps serials unique.
func (e *env) deliver(t *testing.T, tn *tenant, prefix string, n int) delivered {
	t.Helper()
	d := delivered{person: e.createPerson(t, tn, prefix+"-E")}
	d.parcel = e.receive(t, tn, d.person, "")
	for i := range n {
		d.serials = append(d.serials, fmt.Sprintf("%s-SN%03d", prefix, i))
	}
	d.assets = e.serialize(t, tn, d.parcel, d.serials...)
	e.notify(t, tn, d.parcel)
	return d
}

func handOffInput(assets []string, recipient, key string) map[string]any {
	in := map[string]any{"assetIds": assets, "recipientId": recipient, "signature": signature("Employee"), "location": "HQ front desk"}
	if key != "" {
		in["idempotencyKey"] = key
	}
	return in
}

// TestMailroomFlow walks one parcel from the dock to a signed hand-off and
// reads the whole custody history back.
func TestMailroomFlow(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		a := e.a
		person := e.createPerson(t, a, "E-1001")

		var rec receivePayload
		e.ok(t, a.tokens[domain.RoleMailroom], parcelReceiveDoc, map[string]any{"in": receiveInput(person, "scan-1")}, &rec)
		parcel := rec.ParcelReceive.Parcel
		if parcel == nil || parcel.State != "RECEIVED" || parcel.Recipient.ID != person || parcel.ReceivedBy.Name != "acme mailroom" {
			t.Fatalf("parcelReceive = %+v", rec.ParcelReceive)
		}

		var ser serializePayload
		in := serializeInput(parcel.ID, "C02XG0FDH7JY", "C02XG0FDH7JZ")
		in["assets"].([]map[string]any)[1]["serial"] = " c02x g0fd h7jz " // scanned with spaces, lower case
		e.ok(t, a.tokens[domain.RoleMailroom], parcelSerializeDoc, map[string]any{"in": in}, &ser)
		if s := ser.ParcelSerialize; len(s.UserErrors) > 0 || s.Parcel.State != "SERIALIZED" || len(s.Assets) != 2 ||
			s.Assets[1].Serial != "C02XG0FDH7JZ" || s.Assets[0].State != "SERIALIZED" || s.Assets[0].Custodian.Kind != "LOCATION" {
			t.Fatalf("parcelSerialize = %+v", s)
		}
		assets := []string{ser.ParcelSerialize.Assets[0].ID, ser.ParcelSerialize.Assets[1].ID}

		var not notifyPayload
		e.ok(t, a.tokens[domain.RoleMailroom], recipientNotifyDoc, map[string]any{"in": map[string]any{"assetIds": assets}}, &not)
		if n := not.RecipientNotify; len(n.UserErrors) > 0 || len(n.Assets) != 2 || n.Assets[0].State != "AWAITING_COLLECTION" {
			t.Fatalf("recipientNotify = %+v", n)
		}

		var ho handOffPayload
		e.ok(t, a.tokens[domain.RoleMailroom], assetHandOffDoc, map[string]any{"in": handOffInput(assets, person, "sign-1")}, &ho)
		h := ho.AssetHandOff
		if len(h.UserErrors) > 0 || h.Signature == nil || len(h.Assets) != 2 {
			t.Fatalf("assetHandOff = %+v", h)
		}
		for _, as := range h.Assets {
			if as.State != "DEPLOYED" || as.Holder == nil || as.Holder.ID != person || as.Custodian.Kind != "PERSON" {
				t.Fatalf("handed-off asset = %+v", as)
			}
			if as.DeployedAt == nil || *as.DeployedAt != h.Signature.SignedAt {
				t.Fatalf("deployedAt %v != signature time %s", as.DeployedAt, h.Signature.SignedAt)
			}
		}
		if h.Signature.Signer.ID != person || h.Signature.Image.Format != "SVG" || len(h.Signature.Image.Sha256) != 64 ||
			h.Signature.UserAgent != "custody-e2e/1.0" || h.Signature.IPAddress != "127.0.0.1" {
			t.Fatalf("signature = %+v", h.Signature)
		}

		var got struct {
			AssetBySerial *struct {
				ID, Serial, State string
				Holder            struct{ ID string }
				RecentEvents      []struct {
					Seq  int
					Type string
				}
				History struct {
					Edges []struct {
						Node struct {
							Seq                      int
							Type, FromState, ToState string
							Actor                    struct{ Name string }
							Signature                *struct{ ID string }
						}
					}
				}
			}
		}
		e.ok(t, a.tokens[domain.RoleAuditor], assetBySerialDoc, map[string]any{"s": "c02xg0fdh7jy"}, &got)
		as := got.AssetBySerial
		if as == nil || as.ID != assets[0] || as.State != "DEPLOYED" || as.Holder.ID != person {
			t.Fatalf("assetBySerial = %+v", as)
		}
		// The history starts where custody began: the parcel at the dock.
		wantTypes := []string{"PARCEL_RECEIVED", "SERIALIZED", "RECIPIENT_NOTIFIED", "HANDED_OFF"}
		if len(as.History.Edges) != len(wantTypes) {
			t.Fatalf("history has %d events, want %d", len(as.History.Edges), len(wantTypes))
		}
		prev := 0
		for i, ed := range as.History.Edges {
			n := ed.Node
			if n.Type != wantTypes[i] || n.Seq <= prev {
				t.Fatalf("history[%d] = %+v (previous seq %d)", i, n, prev)
			}
			prev = n.Seq
		}
		last := as.History.Edges[3].Node
		if last.FromState != "AWAITING_COLLECTION" || last.ToState != "DEPLOYED" || last.Signature == nil ||
			last.Signature.ID != h.Signature.ID || last.Actor.Name != "acme mailroom" {
			t.Fatalf("hand-off event = %+v", last)
		}
		if len(as.RecentEvents) != 4 || as.RecentEvents[0].Type != "HANDED_OFF" {
			t.Fatalf("recentEvents = %+v, want newest first", as.RecentEvents)
		}

		var sig struct {
			Signature *struct {
				ConsentText string
				Image       struct{ Format, Base64 string }
			}
		}
		e.ok(t, a.tokens[domain.RoleAuditor], `query($id: ID!) { signature(id: $id) { consentText image { format base64 } } }`,
			map[string]any{"id": h.Signature.ID}, &sig)
		if sig.Signature == nil || sig.Signature.Image.Base64 != signature("x")["imageBase64"] ||
			sig.Signature.ConsentText != signature("x")["consentText"] {
			t.Fatalf("signature read back = %+v", sig.Signature)
		}

		// The parcel, the people list and node(id) agree.
		var nodes struct {
			Node    *struct{ ID, State string }
			Parcels struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		e.ok(t, a.tokens[domain.RoleAdmin], `query($id: ID!) { node(id: $id) { id ... on Parcel { state } }
			parcels(first: 10) { edges { node { id } } } }`, map[string]any{"id": parcel.ID}, &nodes)
		if nodes.Node == nil || nodes.Node.State != "SERIALIZED" || len(nodes.Parcels.Edges) != 1 {
			t.Fatalf("node/parcels = %+v", nodes)
		}
	})
}
