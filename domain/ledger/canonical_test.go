package ledger_test

import (
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/ledger"
)

// domainEvent is encoded by domain.CanonicalEvent itself, so the receipts
// below are checked against the real leaf encoding, not a copy of it.
var domainEvent = &domain.CustodyEvent{TenantID: "t", Seq: 7, ID: "e", Type: domain.EventHandedOff,
	AssetID: "a", ParcelID: "p", FromState: domain.StateAwaitingCollection, ToState: domain.StateDeployed,
	FromCustodian: domain.Custodian{Kind: domain.CustodianLocation, Ref: "Dock <A>"},
	ToCustodian:   domain.Custodian{Kind: domain.CustodianPerson, Ref: "u"},
	ActorID:       "m", Location: "Desk", SignatureID: "s", Details: map[string]string{"z": "1", "a": "&"},
	RecordedAt: time.Date(2026, 3, 14, 8, 26, 53, 589793000, time.UTC)}

func TestDomainCanonicalLeaf(t *testing.T) {
	raw, err := domain.CanonicalEvent(domainEvent)
	if err != nil {
		t.Fatal(err)
	}
	domainLeaf := string(raw)
	// The test's own encoder mirrors domain's byte for byte.
	got := encode(t, canonical{V: 1, Tenant: "t", Seq: 7, ID: "e", Type: "HANDED_OFF", Asset: "a", Parcel: "p",
		FromState: "AWAITING_COLLECTION", ToState: "DEPLOYED", FromCustodian: [2]string{"LOCATION", "Dock <A>"},
		ToCustodian: [2]string{"PERSON", "u"}, Actor: "m", Location: "Desk", RecordedAt: "2026-03-14T08:26:53.589793Z",
		Signature: "s", Details: map[string]string{"z": "1", "a": "&"}})
	if string(got) != domainLeaf {
		t.Fatalf("test encoder drifted from domain.CanonicalEvent:\n%s\n%s", got, domainLeaf)
	}

	l := &memLog{tenant: "t"}
	for seq := int64(1); seq <= 9; seq++ {
		leaf := event(t, "t", seq)
		if seq == 7 {
			leaf = []byte(domainLeaf)
		}
		l.append(t, leaf)
	}
	k := newKey(t, "t", 1)
	r, err := ledger.BuildReceipt(6, []byte(domainLeaf), 9, l.prove(t, 9, 6), sign(t, k, l, 9), ledger.Origin("t"), k.verifier, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.VerifyReceipt(r, k.verifier)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Seq != 7 || rep.EventID != "e" || rep.EventType != "HANDED_OFF" || rep.Asset != "a" || rep.Parcel != "p" ||
		rep.RecordedAt != "2026-03-14T08:26:53.589793Z" || rep.DeviceTime != "" || rep.Tenant != "t" {
		t.Errorf("report %+v", rep)
	}
}
