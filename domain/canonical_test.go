package domain

import (
	"testing"
	"time"
)

func TestCanonicalEvent(t *testing.T) {
	at := time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.FixedZone("CET", 3600))
	e := &CustodyEvent{TenantID: "t", Seq: 7, ID: "e", Type: EventHandedOff, AssetID: "a", ParcelID: "p",
		FromState: StateAwaitingCollection, ToState: StateDeployed,
		FromCustodian: Custodian{CustodianLocation, "Dock <A>"}, ToCustodian: Custodian{CustodianPerson, "u"},
		ActorID: "m", Location: "Desk", RecordedAt: at, SignatureID: "s", Details: map[string]string{"z": "1", "a": "&"}}
	got, err := CanonicalEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"tenant":"t","seq":7,"id":"e","type":"HANDED_OFF","asset":"a","parcel":"p",` +
		`"fromState":"AWAITING_COLLECTION","toState":"DEPLOYED","fromCustodian":["LOCATION","Dock <A>"],` +
		`"toCustodian":["PERSON","u"],"actor":"m","location":"Desk","deviceTime":"",` +
		`"recordedAt":"2026-03-14T08:26:53.589793Z","signature":"s","details":{"a":"&","z":"1"}}`
	if string(got) != want {
		t.Fatalf("CanonicalEvent =\n%s\nwant\n%s", got, want)
	}
	// Every field is bound: changing any of them changes the bytes.
	mutations := map[string]func(*CustodyEvent){
		"seq":        func(e *CustodyEvent) { e.Seq++ },
		"tenant":     func(e *CustodyEvent) { e.TenantID = "u" },
		"type":       func(e *CustodyEvent) { e.Type = EventReturnReceived },
		"custodian":  func(e *CustodyEvent) { e.ToCustodian.Ref = "v" },
		"time":       func(e *CustodyEvent) { e.RecordedAt = e.RecordedAt.Add(time.Microsecond) },
		"deviceTime": func(e *CustodyEvent) { d := at; e.DeviceTime = &d },
		"details":    func(e *CustodyEvent) { e.Details = map[string]string{"a": "&"} },
		"signature":  func(e *CustodyEvent) { e.SignatureID = "" },
	}
	for name, m := range mutations {
		c := *e
		m(&c)
		if b, _ := CanonicalEvent(&c); string(b) == string(got) {
			t.Errorf("changing %s did not change the encoding", name)
		}
	}
	// Sub-microsecond noise is not part of the stored event.
	c := *e
	c.RecordedAt = at.Add(300 * time.Nanosecond)
	if b, _ := CanonicalEvent(&c); string(b) != string(got) {
		t.Error("nanoseconds leaked into the encoding")
	}
}
