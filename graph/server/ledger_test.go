package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/ledger"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/graph/server"
	"github.com/custody-dev/custody/tenancy"
)

// signatureSVG is a drawn signature the hand-off accepts.
const signatureSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40"><path d="M2 30 C 20 2, 40 38, 60 20 S 100 5, 118 30" stroke="black" fill="none"/></svg>`

// mustGraphQL runs a GraphQL operation with variables and decodes data into
// out, failing on any error or non-empty userErrors.
func mustGraphQL(t *testing.T, url, token, query string, vars map[string]any, out any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	status, raw := graphQL(t, url, token, string(body))
	var res struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || status != http.StatusOK || len(res.Errors) > 0 {
		t.Fatalf("GraphQL %.60q = %d %s", query, status, raw)
	}
	if bytes.Contains(res.Data, []byte(`"userErrors":[{`)) {
		t.Fatalf("GraphQL %.60q: user errors: %s", query, raw)
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			t.Fatalf("decode %s: %v", res.Data, err)
		}
	}
}

// loggedEvent is a custody event as the asset history shows it.
type loggedEvent struct {
	ID   string `json:"id"`
	Seq  int64  `json:"seq"`
	Type string `json:"type"`
}

// handOff walks one laptop from the dock to a signed hand-off with an admin
// token and returns the asset's global id and its custody events in log order.
func handOff(t *testing.T, url, admin, serial string) (asset string, events []loggedEvent) {
	t.Helper()
	var person struct {
		PersonCreate struct{ Person struct{ ID string } }
	}
	mustGraphQL(t, url, admin, `mutation($in: PersonCreateInput!) { personCreate(input: $in) { person { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"employeeId": "E-" + serial, "name": "Ada Lovelace", "email": serial + "@example.com"}}, &person)
	var parcel struct {
		ParcelReceive struct{ Parcel struct{ ID string } }
	}
	mustGraphQL(t, url, admin, `mutation($in: ParcelReceiveInput!) { parcelReceive(input: $in) { parcel { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"carrier": "UPS", "trackingNumber": "1Z" + serial, "sender": "Dell",
			"recipientId": person.PersonCreate.Person.ID, "location": "Dock A"}}, &parcel)
	var serialized struct {
		ParcelSerialize struct{ Assets []struct{ ID string } }
	}
	mustGraphQL(t, url, admin, `mutation($in: ParcelSerializeInput!) { parcelSerialize(input: $in) { assets { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"parcelId": parcel.ParcelReceive.Parcel.ID, "assets": []map[string]any{{
			"serial": serial, "assetTag": "IT-" + serial, "make": "Dell", "model": "Latitude 7440", "category": "LAPTOP", "bearsData": true}}}}, &serialized)
	asset = serialized.ParcelSerialize.Assets[0].ID
	mustGraphQL(t, url, admin, `mutation($in: RecipientNotifyInput!) { recipientNotify(input: $in) { userErrors { message } } }`,
		map[string]any{"in": map[string]any{"parcelId": parcel.ParcelReceive.Parcel.ID}}, nil)
	mustGraphQL(t, url, admin, `mutation($in: AssetHandOffInput!) { assetHandOff(input: $in) { signature { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"assetIds": []string{asset}, "recipientId": person.PersonCreate.Person.ID,
			"signature": map[string]any{"typedName": "Ada Lovelace", "imageFormat": "SVG",
				"imageBase64":    base64.StdEncoding.EncodeToString([]byte(signatureSVG)),
				"consentText":    "I received the equipment listed and accept responsibility for it.",
				"consentVersion": "2026-01", "method": "DRAWN_ON_DEVICE"}}}, nil)
	var history struct {
		Asset struct {
			History struct {
				Edges []struct{ Node loggedEvent }
			}
		}
	}
	mustGraphQL(t, url, admin, `query($id: ID!) { asset(id: $id) { history(first: 50) { edges { node { id seq type } } } } }`,
		map[string]any{"id": asset}, &history)
	for _, e := range history.Asset.History.Edges {
		events = append(events, e.Node)
	}
	if len(events) == 0 || events[len(events)-1].Type != "HANDED_OFF" {
		t.Fatalf("asset history = %+v, want it to end with HANDED_OFF", events)
	}
	return asset, events
}

// fetch GETs url with a bearer token (none when empty).
func fetch(t *testing.T, url, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, raw
}

// keysDoc is the body of GET /ledger/keys.
type keysDoc struct {
	Origin string `json:"origin"`
	Keys   []struct {
		ID          string     `json:"id"`
		VerifierKey string     `json:"verifierKey"`
		CreatedAt   time.Time  `json:"createdAt"`
		RetiredAt   *time.Time `json:"retiredAt"`
		Active      bool       `json:"active"`
	} `json:"keys"`
}

// verifierKeys fetches the tenant's key history over HTTP.
func verifierKeys(t *testing.T, url, token string) (keysDoc, []string) {
	t.Helper()
	res, raw := fetch(t, url+"/ledger/keys", token)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /ledger/keys = %d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), raw)
	}
	var doc keysDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("decode keys %s: %v", raw, err)
	}
	keys := make([]string, len(doc.Keys))
	for i, k := range doc.Keys {
		keys[i] = k.VerifierKey
	}
	return doc, keys
}

// downloadReceipt fetches a receipt file and checks its headers.
func downloadReceipt(t *testing.T, url, token string, ev loggedEvent) []byte {
	t.Helper()
	res, raw := fetch(t, url+graph.ReceiptPath(ev.ID), token)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET receipt of seq %d = %d: %s", ev.Seq, res.StatusCode, raw)
	}
	if got := res.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	want := fmt.Sprintf(`attachment; filename="custody-receipt-%d.json"`, ev.Seq)
	if got := res.Header.Get("Content-Disposition"); got != want {
		t.Errorf("Content-Disposition = %q, want %q", got, want)
	}
	return raw
}

// checkReceipt verifies a receipt document with keys and returns the report.
func checkReceipt(t *testing.T, doc []byte, keys []string) *ledger.ReceiptReport {
	t.Helper()
	r, err := ledger.ParseReceipt(doc)
	if err != nil {
		t.Fatalf("parse receipt: %v\n%s", err, doc)
	}
	rep, err := ledger.VerifyReceipt(r, keys...)
	if err != nil {
		t.Fatalf("verify receipt: %v", err)
	}
	return rep
}

func TestReceiptDownload(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg server.StartConfig) {
		run := start(t, cfg)
		a := newMember(t, run.Store, domain.RoleAdmin)
		b := newMember(t, run.Store, domain.RoleAdmin)
		ctx := context.Background()
		token := func(role domain.Role) string {
			issued, err := server.CreateMemberToken(ctx, run.Store, a.tenant.ID, domain.MemberPerson, "member "+string(role), role)
			if err != nil {
				t.Fatal(err)
			}
			return issued.Plaintext
		}
		admin := a.issued.Plaintext
		asset, events := handOff(t, run.URL, admin, "CN0X7Y8Z")
		handed := events[len(events)-1]

		// The first receipt signs a checkpoint if the checkpointer has not
		// yet, creating the tenant's first key; then the keys are fetched.
		body := downloadReceipt(t, run.URL, admin, handed)
		doc, keys := verifierKeys(t, run.URL, admin)
		if doc.Origin != ledger.Origin(a.tenant.ID) || len(doc.Keys) != 1 || !doc.Keys[0].Active || doc.Keys[0].RetiredAt != nil || doc.Keys[0].ID == "" {
			t.Fatalf("keys = %+v, want one active key of %s", doc, ledger.Origin(a.tenant.ID))
		}
		rep := checkReceipt(t, body, keys)
		if rep.EventType != "HANDED_OFF" || rep.Seq != handed.Seq || rep.Tenant != a.tenant.ID ||
			!rep.SignatureChecked || !rep.ImageChecked || !rep.ConsentChecked {
			t.Fatalf("report = %+v, want the verified hand-off seq %d with its signature re-hashed", rep, handed.Seq)
		}

		// The download is the document GraphQL serves.
		var viaGraphQL struct {
			Receipt struct {
				JSON         string `json:"json"`
				DownloadPath string `json:"downloadPath"`
			}
		}
		mustGraphQL(t, run.URL, admin, `query($id: ID!) { receipt(eventId: $id) { json downloadPath } }`, map[string]any{"id": handed.ID}, &viaGraphQL)
		if viaGraphQL.Receipt.JSON != string(body) || viaGraphQL.Receipt.DownloadPath != graph.ReceiptPath(handed.ID) {
			t.Fatalf("GraphQL receipt differs from the download:\n%s\n---\n%s", viaGraphQL.Receipt.JSON, body)
		}

		// A correction is a new event with its own receipt; the original's
		// receipt is untouched.
		var corrected struct {
			CustodyEventCorrect struct{ Event loggedEvent }
		}
		mustGraphQL(t, run.URL, admin, `mutation($in: CustodyEventCorrectInput!) { custodyEventCorrect(input: $in) { event { id seq type } userErrors { message } } }`,
			map[string]any{"in": map[string]any{"eventId": handed.ID, "reason": "handed over at the front desk",
				"facts": []map[string]any{{"key": "location", "value": "HQ front desk"}}}}, &corrected)
		correction := corrected.CustodyEventCorrect.Event
		if correction.Type != "CORRECTION" || correction.Seq != handed.Seq+1 {
			t.Fatalf("correction = %+v", correction)
		}
		if rep := checkReceipt(t, downloadReceipt(t, run.URL, admin, correction), keys); rep.EventType != "CORRECTION" {
			t.Fatalf("correction receipt report = %+v", rep)
		}
		if again := downloadReceipt(t, run.URL, admin, handed); !bytes.Equal(again, body) {
			t.Fatal("the corrected event's receipt changed")
		}

		// Every event of the log has a receipt, not only hand-offs.
		for _, ev := range events[:len(events)-1] {
			if rep := checkReceipt(t, downloadReceipt(t, run.URL, admin, ev), keys); rep.Seq != ev.Seq || rep.SignatureChecked {
				t.Fatalf("receipt of %s seq %d: report %+v", ev.Type, ev.Seq, rep)
			}
		}

		_, assetID, _ := graph.DecodeID(asset)
		refused := []struct {
			name, path, token string
			status            int
			code              string
		}{
			{"another tenant's event", graph.ReceiptPath(handed.ID), b.issued.Plaintext, http.StatusNotFound, "NOT_FOUND"},
			{"garbage id", "/receipts/not-an-id", admin, http.StatusNotFound, "NOT_FOUND"},
			{"an asset's id", graph.ReceiptPath(graph.EncodeID("Asset", assetID)), admin, http.StatusNotFound, "NOT_FOUND"},
			{"unknown event", graph.ReceiptPath(graph.EncodeID("CustodyEvent", uuid.Must(uuid.NewV7()).String())), admin, http.StatusNotFound, "NOT_FOUND"},
			{"receipt without token", graph.ReceiptPath(handed.ID), "", http.StatusUnauthorized, "UNAUTHENTICATED"},
			{"keys without token", "/ledger/keys", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
			{"receipt as hr", graph.ReceiptPath(handed.ID), token(domain.RoleHR), http.StatusForbidden, "FORBIDDEN"},
			{"keys as hr", "/ledger/keys", token(domain.RoleHR), http.StatusForbidden, "FORBIDDEN"},
			{"keys as mailroom", "/ledger/keys", token(domain.RoleMailroom), http.StatusForbidden, "FORBIDDEN"},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				res, raw := fetch(t, run.URL+tt.path, tt.token)
				if res.StatusCode != tt.status {
					t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.status, raw)
				}
				var body errorBody
				if err := json.Unmarshal(raw, &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Extensions.Code != tt.code {
					t.Fatalf("body %s, want one %s error", raw, tt.code)
				}
				if bytes.Contains(raw, []byte(a.tenant.ID)) || bytes.Contains(raw, []byte("HANDED_OFF")) {
					t.Fatalf("a refusal leaks the receipt: %s", raw)
				}
			})
		}

		// The roles the policy grants Query.receipt (and not Query.ledger) download it.
		for _, role := range []domain.Role{domain.RoleMailroom, domain.RoleIT, domain.RoleAuditor} {
			checkReceipt(t, downloadReceipt(t, run.URL, token(role), handed), keys)
		}
		if _, keysB := verifierKeys(t, run.URL, b.issued.Plaintext); len(keysB) != 0 {
			t.Fatalf("tenant B, which logged nothing, has keys %v", keysB)
		}
	})
}

// TestMasterKeyFileSurvivesRestart: the embedded default creates
// <data dir>/master.key once and reuses it, so the signing key sealed under
// it still opens after a restart, and receipts keep verifying across a
// restart and a key rotation.
func TestMasterKeyFileSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, server.MasterKeyFile)
	cfg := server.StartConfig{Addr: "127.0.0.1:0", DataDir: dir, Migrate: true}

	first, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := newMember(t, first.Store, domain.RoleAdmin)
	_, events := handOff(t, first.URL, m.issued.Plaintext, "SN-BEFORE")
	before := downloadReceipt(t, first.URL, m.issued.Plaintext, events[len(events)-1])
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("master key file: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("master key file mode %o, want 600", perm)
	}
	keyBefore, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.ParseMasterKey(string(keyBefore)); err != nil {
		t.Fatalf("master key file does not hold a key: %v", err)
	}

	second := start(t, cfg)
	if keyAfter, _ := os.ReadFile(keyPath); !bytes.Equal(keyAfter, keyBefore) {
		t.Fatal("the master key file changed on restart")
	}
	admin := m.issued.Plaintext
	// A new receipt needs a new checkpoint, signed with the key unsealed
	// under the reused master key.
	_, after := handOff(t, second.URL, admin, "SN-AFTER")
	_, keys := verifierKeys(t, second.URL, admin)
	checkReceipt(t, before, keys)
	checkReceipt(t, downloadReceipt(t, second.URL, admin, after[len(after)-1]), keys)

	var rotated struct {
		LedgerKeyRotate struct{ Key struct{ ID string } }
	}
	mustGraphQL(t, second.URL, admin, `mutation($in: LedgerKeyRotateInput!) { ledgerKeyRotate(input: $in) { key { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"reason": "scheduled rotation"}}, &rotated)
	_, last := handOff(t, second.URL, admin, "SN-ROTATED")
	doc, keys := verifierKeys(t, second.URL, admin)
	if len(doc.Keys) != 2 || doc.Keys[0].Active || doc.Keys[0].RetiredAt == nil || !doc.Keys[1].Active || doc.Keys[1].ID != rotated.LedgerKeyRotate.Key.ID {
		t.Fatalf("key history after rotation = %+v", doc.Keys)
	}
	checkReceipt(t, before, keys)
	newest := checkReceipt(t, downloadReceipt(t, second.URL, admin, last[len(last)-1]), keys)
	if oldKeyID, _ := ledger.KeyID(doc.Keys[0].VerifierKey); newest.KeyID == oldKeyID {
		t.Fatalf("a checkpoint signed after the rotation names the retired key %s", oldKeyID)
	}
	if _, err := ledger.VerifyReceipt(mustParse(t, before), keys[1]); !errors.Is(err, ledger.ErrUnknownKey) {
		t.Fatalf("the pre-rotation receipt with only the new key: %v, want ErrUnknownKey", err)
	}
}

func mustParse(t *testing.T, doc []byte) *ledger.Receipt {
	t.Helper()
	r, err := ledger.ParseReceipt(doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMasterKeyConfiguration(t *testing.T) {
	t.Run("postgres without a master key refuses to start", func(t *testing.T) {
		pg := storagetest.PostgresConfig(t)
		run, err := server.Start(context.Background(), server.StartConfig{Addr: "127.0.0.1:0",
			DatabaseURL: pg.DatabaseURL, MigrationURL: pg.MigrationURL})
		if err == nil {
			_ = run.Shutdown(context.Background())
			t.Fatal("Start succeeded on PostgreSQL without a master key")
		}
		if !errors.Is(err, server.ErrMasterKeyRequired) || !strings.Contains(err.Error(), "CUSTODY_MASTER_KEY") ||
			!strings.Contains(err.Error(), "custody key generate-master") {
			t.Fatalf("error %q does not explain how to configure the master key", err)
		}
	})
	t.Run("a configured key is used and no file is written", func(t *testing.T) {
		dir := t.TempDir()
		key, _ := ledger.ParseMasterKey(ledger.NewMasterKey(nil))
		got, created, err := server.MasterKey(server.StartConfig{DataDir: dir, MasterKey: key})
		if err != nil || created || !bytes.Equal(got, key) {
			t.Fatalf("MasterKey = %x %v %v", got, created, err)
		}
		if _, err := os.Stat(filepath.Join(dir, server.MasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a master key file was written although a key was configured: %v", err)
		}
	})
	t.Run("a short key is refused", func(t *testing.T) {
		if _, _, err := server.MasterKey(server.StartConfig{DataDir: t.TempDir(), MasterKey: []byte("short")}); err == nil {
			t.Fatal("a 5-byte master key was accepted")
		}
	})
	t.Run("a corrupt key file is refused, not replaced", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, server.MasterKeyFile)
		if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := server.MasterKey(server.StartConfig{DataDir: dir})
		if err == nil || strings.Contains(err.Error(), "not a key") {
			t.Fatalf("err = %v, want a refusal that does not echo the file", err)
		}
		if raw, _ := os.ReadFile(path); string(raw) != "not a key\n" {
			t.Fatal("the corrupt key file was overwritten")
		}
	})
	t.Run("the embedded key is created once", func(t *testing.T) {
		cfg := server.StartConfig{DataDir: t.TempDir()}
		k1, created1, err1 := server.MasterKey(cfg)
		k2, created2, err2 := server.MasterKey(cfg)
		if err1 != nil || err2 != nil || !created1 || created2 || !bytes.Equal(k1, k2) || len(k1) != 32 {
			t.Fatalf("first %v %v, second %v %v: want one 32-byte key created once", created1, err1, created2, err2)
		}
	})
}

// TestShutdownSignsPendingCheckpoints: appends made just before a shutdown
// are checkpointed by the checkpointer's final flush, before the store closes.
func TestShutdownSignsPendingCheckpoints(t *testing.T) {
	dir := t.TempDir()
	run, err := server.Start(context.Background(), server.StartConfig{Addr: "127.0.0.1:0", DataDir: dir, Migrate: true,
		CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m := newMember(t, run.Store, domain.RoleAdmin)
	_, events := handOff(t, run.URL, m.issued.Plaintext, "SN-FLUSH")
	if err := run.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	db, err := storage.Open(context.Background(), server.StartConfig{DataDir: dir}.StorageConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := tenancy.WithPrincipal(context.Background(), tenancy.Principal{TenantID: m.tenant.ID})
	head, err := domain.NewService(db, nil).LedgerHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1].Seq
	if head.Size != last || head.Checkpoint == nil || head.Checkpoint.TreeSize != last {
		t.Fatalf("after shutdown the log has %d events and checkpoint %+v, want one covering seq %d", head.Size, head.Checkpoint, last)
	}
}

// TestCheckpointerSignsAfterAppends: without any receipt being asked for,
// the log is checkpointed shortly after it grows.
func TestCheckpointerSignsAfterAppends(t *testing.T) {
	run := start(t, server.StartConfig{DataDir: t.TempDir(), Migrate: true, CheckpointInterval: 10 * time.Millisecond})
	m := newMember(t, run.Store, domain.RoleAdmin)
	_, events := handOff(t, run.URL, m.issued.Plaintext, "SN-TICK")
	ctx := tenancy.WithPrincipal(context.Background(), tenancy.Principal{TenantID: m.tenant.ID})
	last := events[len(events)-1].Seq
	deadline := time.Now().Add(10 * time.Second)
	for {
		head, err := run.Service.LedgerHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head.Checkpoint != nil && head.Checkpoint.TreeSize == last {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covering seq %d 10s after the appends (head %+v)", last, head)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWrongMasterKeyRecoveredByRotation: a server started with another
// master key cannot unseal the tenant's signing key, so it cannot sign (a
// receipt that needs a new checkpoint fails) until the key is rotated under
// the new master key; receipts signed before keep verifying.
func TestWrongMasterKeyRecoveredByRotation(t *testing.T) {
	dir := t.TempDir()
	cfg := server.StartConfig{Addr: "127.0.0.1:0", DataDir: dir, Migrate: true, MasterKey: newMasterKey(t)}
	first, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := newMember(t, first.Store, domain.RoleAdmin)
	admin := m.issued.Plaintext
	_, events := handOff(t, first.URL, admin, "SN-A")
	before := downloadReceipt(t, first.URL, admin, events[len(events)-1])
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	cfg.MasterKey = newMasterKey(t)
	second := start(t, cfg)
	_, events = handOff(t, second.URL, admin, "SN-B")
	if res, raw := fetch(t, second.URL+graph.ReceiptPath(events[len(events)-1].ID), admin); res.StatusCode != http.StatusInternalServerError ||
		bytes.Contains(raw, []byte("unseal")) {
		t.Fatalf("a receipt that needs a signature under the wrong master key = %d %s, want a bare 500", res.StatusCode, raw)
	}
	mustGraphQL(t, second.URL, admin, `mutation { ledgerKeyRotate(input: {reason: "master key replaced"}) { key { id } userErrors { message } } }`, nil, nil)
	after := downloadReceipt(t, second.URL, admin, events[len(events)-1])
	_, keys := verifierKeys(t, second.URL, admin)
	checkReceipt(t, before, keys)
	checkReceipt(t, after, keys)
}
