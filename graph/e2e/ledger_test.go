package e2e_test

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/ledger"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// eventsOf returns an asset's history as (global id, seq, type).
func (e *env) eventsOf(t *testing.T, asset string) []struct {
	ID   string
	Seq  int64
	Type string
} {
	t.Helper()
	var out struct {
		Asset struct {
			History struct {
				Edges []struct {
					Node struct {
						ID   string
						Seq  int64
						Type string
					}
				}
			}
		}
	}
	e.ok(t, e.a.tokens[domain.RoleAuditor], `query($id: ID!) { asset(id: $id) { history(first: 100) { edges { node { id seq type } } } } }`,
		map[string]any{"id": asset}, &out)
	var evs []struct {
		ID   string
		Seq  int64
		Type string
	}
	for _, ed := range out.Asset.History.Edges {
		evs = append(evs, ed.Node)
	}
	return evs
}

// receipt fetches an event's receipt document through GraphQL.
func (e *env) receipt(t *testing.T, eventID string) *ledger.Receipt {
	t.Helper()
	var out struct {
		Receipt *struct{ JSON, DownloadPath string }
	}
	e.ok(t, e.a.tokens[domain.RoleAuditor], `query($id: ID!) { receipt(eventId: $id) { json downloadPath } }`, map[string]any{"id": eventID}, &out)
	if out.Receipt == nil {
		t.Fatalf("no receipt for %s", eventID)
	}
	r, err := ledger.ParseReceipt([]byte(out.Receipt.JSON))
	if err != nil {
		t.Fatalf("parse receipt: %v\n%s", err, out.Receipt.JSON)
	}
	return r
}

// verifierKeys fetches the tenant's key history through GraphQL.
func (e *env) verifierKeys(t *testing.T) []string {
	t.Helper()
	var out struct {
		Ledger struct {
			Keys []struct {
				VerifierKey string
				Active      bool
			}
		}
	}
	e.ok(t, e.a.tokens[domain.RoleAuditor], `{ ledger { keys { verifierKey active } } }`, nil, &out)
	var keys []string
	for _, k := range out.Ledger.Keys {
		keys = append(keys, k.VerifierKey)
	}
	return keys
}

type verification struct {
	LedgerVerification struct {
		OK            bool
		TreeSize      int64
		EventsChecked int64
		FirstBadSeq   *int64
		Problem       *string
	}
}

// TestLedger: a hand-off's receipt verifies offline with the public key; key
// rotation keeps old receipts verifying; consistency proofs link checkpoints;
// a single edited row makes the full verification fail and name that event.
func TestLedger(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deliver(t, e.a, "LG", 2)
		var ho handOffPayload
		e.ok(t, e.a.tokens[domain.RoleMailroom], assetHandOffDoc, map[string]any{"in": handOffInput(d.assets[:1], d.person, "")}, &ho)
		evs := e.eventsOf(t, d.assets[0])
		handOff := evs[len(evs)-1]
		if handOff.Type != "HANDED_OFF" {
			t.Fatalf("last event %+v", handOff)
		}

		r := e.receipt(t, handOff.ID)
		keys := e.verifierKeys(t)
		report, err := ledger.VerifyReceipt(r, keys...)
		if err != nil {
			t.Fatalf("receipt does not verify: %v", err)
		}
		if report.Seq != handOff.Seq || !report.SignatureChecked || !report.ImageChecked || !report.ConsentChecked {
			t.Fatalf("report = %+v", report)
		}
		// A changed byte anywhere is refused.
		forged := *r
		forged.Leaf = []byte(strings.Replace(string(r.Leaf), "HANDED_OFF", "RETURN_RECEIVED", 1))
		forged.Event = forged.Leaf
		if _, err := ledger.VerifyReceipt(&forged, keys...); err == nil {
			t.Fatal("a forged event verified")
		}

		// Rotate the key, log more, and fetch a receipt signed by the new key.
		var rot struct {
			LedgerKeyRotate struct {
				Key        *struct{ ID string }
				UserErrors []userError
			}
		}
		e.ok(t, e.a.tokens[domain.RoleAdmin], `mutation { ledgerKeyRotate(input: {reason: "scheduled"}) { key { id } userErrors { code } } }`, nil, &rot)
		if rot.LedgerKeyRotate.Key == nil {
			t.Fatalf("rotate: %+v", rot)
		}
		e.ok(t, e.a.tokens[domain.RoleMailroom], assetHandOffDoc, map[string]any{"in": handOffInput(d.assets[1:], d.person, "")}, &ho)
		evs2 := e.eventsOf(t, d.assets[1])
		r2 := e.receipt(t, evs2[len(evs2)-1].ID)
		keys = e.verifierKeys(t)
		if len(keys) != 2 {
			t.Fatalf("key history has %d keys, want 2", len(keys))
		}
		for i, rec := range []*ledger.Receipt{r, r2} {
			if _, err := ledger.VerifyReceipt(rec, keys...); err != nil {
				t.Fatalf("receipt %d after rotation: %v", i, err)
			}
		}
		if _, err := ledger.VerifyReceipt(r2, keys[0]); err == nil {
			t.Fatal("a receipt signed by the new key verified with the old key only")
		}

		// The auditor kept the first checkpoint: the log only grew since.
		var cons struct {
			LedgerConsistency struct {
				OldCheckpoint, NewCheckpoint string
				Proof                        []string
			}
		}
		e.ok(t, e.a.tokens[domain.RoleAuditor], `query($n: Int!) { ledgerConsistency(oldSize: $n) { oldCheckpoint newCheckpoint proof } }`,
			map[string]any{"n": r.TreeSize}, &cons)
		proof, err := decodeProof(cons.LedgerConsistency.Proof)
		if err != nil {
			t.Fatal(err)
		}
		if err := ledger.VerifyConsistency([]byte(r.Checkpoint), []byte(cons.LedgerConsistency.NewCheckpoint), r.Origin, proof, keys...); err != nil {
			t.Fatalf("consistency: %v", err)
		}

		var v verification
		e.ok(t, e.a.tokens[domain.RoleAuditor], `{ ledgerVerification { ok treeSize eventsChecked firstBadSeq problem } }`, nil, &v)
		if lv := v.LedgerVerification; !lv.OK || lv.EventsChecked != lv.TreeSize || lv.TreeSize != 7 {
			t.Fatalf("clean log: %+v", lv)
		}

		// Edit one row under the application, as an intruder with database access would.
		tamperEvent(t, e, handOff.Seq)
		e.ok(t, e.a.tokens[domain.RoleAuditor], `{ ledgerVerification { ok treeSize eventsChecked firstBadSeq problem } }`, nil, &v)
		lv := v.LedgerVerification
		if lv.OK || lv.FirstBadSeq == nil || *lv.FirstBadSeq != handOff.Seq || lv.Problem == nil {
			t.Fatalf("tampered log: %+v (edited seq %d)", lv, handOff.Seq)
		}
		t.Logf("verification of the tampered log: %s", *lv.Problem)
		// The receipt the holder kept still proves what was logged.
		if _, err := ledger.VerifyReceipt(r, keys...); err != nil {
			t.Fatalf("kept receipt: %v", err)
		}
		// Tenant B's log is untouched.
		e.ok(t, e.b.tokens[domain.RoleAuditor], `{ ledgerVerification { ok treeSize eventsChecked firstBadSeq problem } }`, nil, &v)
		if !v.LedgerVerification.OK {
			t.Fatalf("tenant B: %+v", v.LedgerVerification)
		}
	})
}

// tamperEvent changes the location of event seq of tenant A directly in the
// database, getting past the append-only trigger as the table owner could.
func tamperEvent(t *testing.T, e *env, seq int64) {
	t.Helper()
	db := storagetest.OwnerConn(t, e.storage)
	var stmts []string
	if e.storage.DatabaseURL == "" {
		stmts = []string{
			`DROP TRIGGER custody_events_no_update`,
			`UPDATE custody_events SET location = 'Forged' WHERE tenant_id = '` + e.a.id + `' AND seq = ` + itoa(seq),
		}
	} else {
		stmts = []string{
			`ALTER TABLE custody_events DISABLE TRIGGER custody_events_no_update_delete`,
			`UPDATE custody_events SET location = 'Forged' WHERE tenant_id = '` + e.a.id + `' AND seq = ` + itoa(seq),
			`ALTER TABLE custody_events ENABLE TRIGGER custody_events_no_update_delete`,
		}
	}
	for _, s := range stmts {
		res, err := db.Exec(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if strings.HasPrefix(s, "UPDATE") {
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("%s changed %d rows", s, n)
			}
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// decodeProof turns base64 proof hashes into a tlog.TreeProof.
func decodeProof(in []string) (tlog.TreeProof, error) {
	out := make(tlog.TreeProof, len(in))
	for i, s := range in {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %d is not a base64 hash", i)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// TestCorrection: a mistake is corrected by a new event that points at the
// original; the original stays, and the log still verifies.
func TestCorrection(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deliver(t, e.a, "CO", 1)
		evs := e.eventsOf(t, d.assets[0])
		wrong := evs[len(evs)-1]
		doc := `mutation($in: CustodyEventCorrectInput!) { custodyEventCorrect(input: $in) {
			event { id type seq details { key value } } userErrors { field code } } }`
		var out struct {
			CustodyEventCorrect struct {
				Event *struct {
					ID, Type string
					Seq      int64
					Details  []struct{ Key, Value string }
				}
				UserErrors []userError
			}
		}
		in := map[string]any{"eventId": wrong.ID, "reason": "scanned at the wrong dock",
			"facts": []map[string]any{{"key": "location", "value": "Dock B"}}, "idempotencyKey": "fix-1"}
		e.ok(t, e.a.tokens[domain.RoleIT], doc, map[string]any{"in": in}, &out)
		c := out.CustodyEventCorrect.Event
		if c == nil || c.Type != "CORRECTION" || c.Seq <= wrong.Seq {
			t.Fatalf("correction = %+v", out.CustodyEventCorrect)
		}
		facts := map[string]string{}
		for _, kv := range c.Details {
			facts[kv.Key] = kv.Value
		}
		if facts["location"] != "Dock B" || facts["reason"] != "scanned at the wrong dock" || facts["corrects"] == "" {
			t.Fatalf("correction details = %v", facts)
		}
		after := e.eventsOf(t, d.assets[0])
		if len(after) != len(evs)+1 || after[len(evs)-1].ID != wrong.ID || after[len(evs)].Type != "CORRECTION" {
			t.Fatalf("history after correction = %+v", after)
		}
		if state, _ := e.history(t, e.a, d.assets[0]); state != "AWAITING_COLLECTION" {
			t.Fatalf("a correction changed the state to %s", state)
		}
		// Retried with its key: the same event, nothing new.
		e.ok(t, e.a.tokens[domain.RoleIT], doc, map[string]any{"in": in}, &out)
		if out.CustodyEventCorrect.Event == nil || out.CustodyEventCorrect.Event.ID != c.ID || len(e.eventsOf(t, d.assets[0])) != len(after) {
			t.Fatalf("retried correction wrote again: %+v", out.CustodyEventCorrect)
		}
		in["reason"], in["idempotencyKey"] = " ", "fix-2"
		e.ok(t, e.a.tokens[domain.RoleIT], doc, map[string]any{"in": in}, &out)
		if ue := out.CustodyEventCorrect.UserErrors; len(ue) != 1 || ue[0].Code != "REQUIRED" {
			t.Fatalf("correction without a reason: %+v", out.CustodyEventCorrect)
		}
		var v verification
		e.ok(t, e.a.tokens[domain.RoleAuditor], `{ ledgerVerification { ok treeSize eventsChecked firstBadSeq problem } }`, nil, &v)
		if !v.LedgerVerification.OK {
			t.Fatalf("log with a correction: %+v", v.LedgerVerification)
		}
	})
}
