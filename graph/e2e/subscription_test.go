package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/server"
)

// TestHRSubscribesAndResumes is the README's HR integration: HR opens a
// case, subscribes, sees each return arrive live, disconnects, and resumes
// from its last cursor without missing or repeating anything.
func TestHRSubscribesAndResumes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deployed(t, e.a, "HS", 3)
		c := e.openCase(t, e.a, d.person)
		hr := e.a.tokens[domain.RoleHR]

		sub := connect(t, e.url, hr)
		sub.subscribe("hr", subscribeDoc, map[string]any{"filter": map[string]any{"caseId": c.ID}, "after": 0})
		opened := sub.event("hr")
		if opened.Type != "OFFBOARDING_OPENED" || opened.OffboardingCase == nil || opened.OffboardingCase.ID != c.ID {
			t.Fatalf("first event of the case = %+v, want its OFFBOARDING_OPENED (replayed)", opened)
		}

		e.returnAsset(t, e.a, map[string]any{"serial": d.serials[0], "location": "Dock", "condition": "GOOD"})
		live := sub.event("hr")
		if live.Type != "RETURN_RECEIVED" || live.Asset == nil || live.Asset.ID != d.assets[0] || live.Seq <= opened.Seq {
			t.Fatalf("live return = %+v", live)
		}
		last := live.Seq
		sub.close()

		// While HR is away: two more returns; the second completes the case.
		e.returnAsset(t, e.a, map[string]any{"serial": d.serials[1], "location": "Dock", "condition": "WORN"})
		e.returnAsset(t, e.a, map[string]any{"serial": d.serials[2], "location": "Dock", "condition": "GOOD"})

		again := connect(t, e.url, hr)
		again.subscribe("hr2", subscribeDoc, map[string]any{"filter": map[string]any{"caseId": c.ID}, "after": last})
		var got []wsEvent
		for range 3 {
			got = append(got, again.event("hr2"))
		}
		want := []string{"RETURN_RECEIVED", "RETURN_RECEIVED", "OFFBOARDING_COMPLETED"}
		for i, ev := range got {
			if ev.Type != want[i] || ev.Seq <= last {
				t.Fatalf("resumed events = %+v, want %v after seq %d", got, want, last)
			}
			last = ev.Seq
		}
		if got[0].Asset.ID != d.assets[1] || got[1].Asset.ID != d.assets[2] {
			t.Fatalf("resumed returns are for %s and %s, want %s and %s", got[0].Asset.ID, got[1].Asset.ID, d.assets[1], d.assets[2])
		}

		// Live after the replay: a new person's parcel and hand-off are
		// custody events HR does not hear; their off-boarding case is.
		other := e.deployed(t, e.a, "HS2", 1)
		c2 := e.openCase(t, e.a, other.person)
		again.subscribe("all", subscribeDoc, map[string]any{"after": last})
		ev := again.event("all")
		if ev.Type != "OFFBOARDING_OPENED" || ev.OffboardingCase.ID != c2.ID {
			t.Fatalf("HR's next event after the first case = %+v, want the second case's opening (custody events of the new hand-off are not HR's)", ev)
		}
	})
}

// TestSubscriptionTopicsByRole: each role hears only its topics, and a
// tenant never hears another's. Order makes the checks exact: an event a role
// must not hear was committed before one it must, so hearing the second
// first proves the first was withheld.
func TestSubscriptionTopicsByRole(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deployed(t, e.a, "TR", 1)
		var start struct{ Ledger struct{ Size int64 } }
		e.ok(t, e.a.tokens[domain.RoleAdmin], `{ ledger { size } }`, nil, &start)

		subs := map[domain.Role]*wsClient{}
		for _, role := range domain.AllRoles {
			subs[role] = connect(t, e.url, e.a.tokens[role])
			subs[role].subscribe("s", subscribeDoc, map[string]any{"after": start.Ledger.Size})
		}
		other := connect(t, e.url, e.b.tokens[domain.RoleAdmin])
		var bStart struct{ Ledger struct{ Size int64 } }
		e.ok(t, e.b.tokens[domain.RoleAdmin], `{ ledger { size } }`, nil, &bStart)
		other.subscribe("s", subscribeDoc, map[string]any{"after": bStart.Ledger.Size})

		c := e.openCase(t, e.a, d.person)                                                                      // offboarding
		e.returnAsset(t, e.a, map[string]any{"serial": d.serials[0], "location": "Dock", "condition": "GOOD"}) // returns+custody+offboarding, then OFFBOARDING_COMPLETED
		fresh := e.deliver(t, e.a, "TR2", 1)                                                                   // custody only
		_ = fresh

		first := map[domain.Role]string{
			domain.RoleAdmin: "OFFBOARDING_OPENED", domain.RoleAuditor: "OFFBOARDING_OPENED", domain.RoleHR: "OFFBOARDING_OPENED",
			domain.RoleIT: "RETURN_RECEIVED", domain.RoleMailroom: "RETURN_RECEIVED",
		}
		for role, want := range first {
			if ev := subs[role].event("s"); ev.Type != want {
				t.Errorf("%s's first event = %s, want %s", role, ev.Type, want)
			}
		}
		// HR hears the case complete next, never the new parcel's custody events.
		if ev := subs[domain.RoleHR].event("s"); ev.Type != "RETURN_RECEIVED" {
			t.Errorf("HR's second event = %s, want RETURN_RECEIVED", ev.Type)
		}
		if ev := subs[domain.RoleHR].event("s"); ev.Type != "OFFBOARDING_COMPLETED" || ev.OffboardingCase.ID != c.ID {
			t.Errorf("HR's third event = %+v, want OFFBOARDING_COMPLETED", ev)
		}
		// IT hears the new parcel (custody) but not the case completing.
		if ev := subs[domain.RoleIT].event("s"); ev.Type != "PARCEL_RECEIVED" {
			t.Errorf("IT's second event = %s, want PARCEL_RECEIVED (not OFFBOARDING_COMPLETED)", ev.Type)
		}

		// Tenant B, and the vendor, heard nothing of all this: B's own next
		// event is the first B hears.
		e.createPerson(t, e.b, "B-ONLY")
		bParcel := e.deliver(t, e.b, "BONLY", 1)
		_ = bParcel
		if ev := other.event("s"); ev.Type != "PARCEL_RECEIVED" {
			t.Errorf("tenant B's first event = %+v, want its own PARCEL_RECEIVED", ev)
		}
		vendor := subs[domain.RoleITADVendor]
		done := make(chan wsMessage, 1)
		go func() {
			m, err := vendor.readMessage()
			if err == nil {
				done <- m
			}
		}()
		select {
		case m := <-done:
			if m.Type == "next" {
				t.Errorf("the ITAD vendor heard %s", m.Payload)
			}
		case <-time.After(time.Second):
			// Every other subscriber has had its events; the vendor none.
		}
	})
}

// TestSubscriptionFieldsAreFresh: each event of a long-lived subscription
// resolves its fields anew, so the asset's state is the state after that
// event, not one cached from an earlier event.
func TestSubscriptionFieldsAreFresh(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deployed(t, e.a, "FR", 1)
		var size struct{ Ledger struct{ Size int64 } }
		e.ok(t, e.a.tokens[domain.RoleIT], `{ ledger { size } }`, nil, &size)
		sub := connect(t, e.url, e.a.tokens[domain.RoleIT])
		// With a cursor, nothing committed after it can be missed, however
		// late the server starts the stream.
		sub.subscribe("it", subscribeDoc, map[string]any{"filter": map[string]any{"assetId": d.assets[0]}, "after": size.Ledger.Size})
		// A query on the same socket meanwhile.
		sub.send(wsMessage{Type: "subscribe", ID: "q", Payload: mustJSON(t, map[string]any{"query": `{ viewer { member { name } } }`})})
		if m := sub.read(); m.Type != "next" || m.ID != "q" {
			t.Fatalf("query over the socket: %+v", m)
		}
		if m := sub.read(); m.Type != "complete" || m.ID != "q" {
			t.Fatalf("query over the socket did not complete: %+v", m)
		}
		e.returnAsset(t, e.a, map[string]any{"serial": d.serials[0], "location": "Dock", "condition": "GOOD"})
		if ev := sub.event("it"); ev.Type != "RETURN_RECEIVED" || ev.Asset.State != "RETURN_RECEIVED" {
			t.Fatalf("first event = %+v", ev)
		}
		e.ok(t, e.a.tokens[domain.RoleIT], `mutation($in: AssetRestockInput!) { assetRestock(input: $in) { asset { state } } }`,
			map[string]any{"in": map[string]any{"assetId": d.assets[0]}}, nil)
		if ev := sub.event("it"); ev.Type != "RESTOCKED" || ev.Asset.State != "IN_STOCK" {
			t.Fatalf("second event = %+v, want the asset IN_STOCK", ev)
		}
	})
}

// TestSubscriptionRefusals: bad credentials and bad cursors are refused with
// the protocol's codes and typed errors; a shutdown closes streams with 1001.
func TestSubscriptionRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		bad := dialWS(t, e.url)
		bad.send(wsMessage{Type: "connection_init", Payload: mustJSON(t, map[string]any{"authorization": "Bearer cst_nope"})})
		if code := bad.closeCode(); code != 4403 {
			t.Fatalf("bad token closed with %d, want 4403", code)
		}
		early := dialWS(t, e.url)
		early.subscribe("x", subscribeDoc, nil)
		if code := early.closeCode(); code != 4401 {
			t.Fatalf("subscribe before init closed with %d, want 4401", code)
		}

		sub := connect(t, e.url, e.a.tokens[domain.RoleHR])
		sub.subscribe("future", subscribeDoc, map[string]any{"after": 1 << 30})
		m := sub.read()
		if m.Type != "error" && m.Type != "next" {
			t.Fatalf("cursor ahead of the log: %+v", m)
		}
		if !strings.Contains(string(m.Payload), "ahead of the custody log") {
			t.Fatalf("cursor ahead of the log: %s", m.Payload)
		}
	})
}

// TestShutdownClosesSubscriptions: a draining server closes live streams
// with 1001 Going Away (clients reconnect elsewhere and resume).
func TestShutdownClosesSubscriptions(t *testing.T) {
	e := &env{}
	start(t, e, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
	sub := connect(t, e.url, e.a.tokens[domain.RoleHR])
	sub.subscribe("s", subscribeDoc, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.run.Shutdown(ctx) }()
	if code := sub.closeCode(); code != websocket.StatusGoingAway {
		t.Fatalf("shutdown closed the stream with %d, want 1001", code)
	}
	sub.close()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
