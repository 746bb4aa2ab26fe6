package e2e_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/custody-dev/custody/domain"
)

// TestIdempotency: a retried scan or hand-off with the same key returns the
// first result and writes nothing; the same key with another request is refused.
func TestIdempotency(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deliver(t, e.a, "ID", 2)
		mail := e.a.tokens[domain.RoleMailroom]

		first := e.receive(t, e.a, d.person, "dock-scan-42")
		second := e.receive(t, e.a, d.person, "dock-scan-42")
		if first != second {
			t.Fatalf("retry created a second parcel: %s != %s", first, second)
		}
		var parcels struct{ Parcels struct{ Edges []struct{} } }
		e.ok(t, mail, `{ parcels(first: 100) { edges { cursor } } }`, nil, &parcels)
		if len(parcels.Parcels.Edges) != 2 { // deliver's parcel and this one
			t.Fatalf("%d parcels, want 2", len(parcels.Parcels.Edges))
		}
		in := receiveInput(d.person, "dock-scan-42")
		in["trackingNumber"] = "DIFFERENT"
		var reused receivePayload
		e.ok(t, mail, parcelReceiveDoc, map[string]any{"in": in}, &reused)
		if ue := reused.ParcelReceive.UserErrors; len(ue) != 1 || ue[0].Code != "IDEMPOTENCY_KEY_REUSED" {
			t.Fatalf("key reuse: %+v", reused.ParcelReceive)
		}

		// Keys belong to the member who sent them: another member's scan with
		// the same key is a new scan, never a replay of someone else's result.
		var other receivePayload
		e.ok(t, e.a.tokens[domain.RoleAdmin], parcelReceiveDoc, map[string]any{"in": receiveInput(d.person, "dock-scan-42")}, &other)
		if p := other.ParcelReceive; len(p.UserErrors) > 0 || p.Parcel == nil || p.Parcel.ID == first {
			t.Fatalf("admin reusing mailroom's key: %+v (mailroom's parcel %s)", p, first)
		}

		var h1, h2 handOffPayload
		e.ok(t, mail, assetHandOffDoc, map[string]any{"in": handOffInput(d.assets, d.person, "sig-7")}, &h1)
		e.ok(t, mail, assetHandOffDoc, map[string]any{"in": handOffInput(d.assets, d.person, "sig-7")}, &h2)
		if h1.AssetHandOff.Signature == nil || h2.AssetHandOff.Signature == nil ||
			h1.AssetHandOff.Signature.ID != h2.AssetHandOff.Signature.ID || len(h2.AssetHandOff.UserErrors) > 0 {
			t.Fatalf("retried hand-off: %+v then %+v", h1.AssetHandOff, h2.AssetHandOff)
		}
		if _, types := e.history(t, e.a, d.assets[0]); len(types) != 4 {
			t.Fatalf("retried hand-off appended events: %v", types)
		}
	})
}

// TestConcurrentHandOff: many simultaneous hand-offs of one asset, exactly one wins.
func TestConcurrentHandOff(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deliver(t, e.a, "CC", 1)
		const n = 8
		var wg sync.WaitGroup
		results := make([]handOffPayload, n)
		for i := range n {
			wg.Go(func() {
				r := e.do(t, e.a.tokens[domain.RoleMailroom], assetHandOffDoc,
					map[string]any{"in": handOffInput(d.assets, d.person, fmt.Sprintf("race-%d", i))})
				if r.Status != 200 || len(r.Errors) > 0 {
					t.Errorf("hand-off %d: %s", i, r.raw)
					return
				}
				if err := json.Unmarshal(r.Data, &results[i]); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		wins := 0
		for i, r := range results {
			switch {
			case len(r.AssetHandOff.UserErrors) == 0 && r.AssetHandOff.Signature != nil:
				wins++
			case len(r.AssetHandOff.UserErrors) == 1 && (r.AssetHandOff.UserErrors[0].Code == "ILLEGAL_TRANSITION" ||
				r.AssetHandOff.UserErrors[0].Code == "CONCURRENT_UPDATE"):
			default:
				t.Errorf("hand-off %d: unexpected %+v", i, r.AssetHandOff)
			}
		}
		if wins != 1 {
			t.Fatalf("%d hand-offs succeeded, want exactly 1", wins)
		}
		state, types := e.history(t, e.a, d.assets[0])
		handOffs := 0
		for _, ty := range types {
			if ty == "HANDED_OFF" {
				handOffs++
			}
		}
		if state != "DEPLOYED" || handOffs != 1 {
			t.Fatalf("state %s with %d HANDED_OFF events", state, handOffs)
		}
	})
}
