package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/ledger"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/graph/server"
)

// ledgerServer is a running embedded server with one tenant and its admin token.
type ledgerServer struct {
	run     *server.Running
	dataDir string
	slug    string
	admin   string
}

// startLedgerServer starts a server on a fresh data directory, the way
// `custody serve` does, and creates tenant slug with an admin token.
func startLedgerServer(t *testing.T, slug string) *ledgerServer {
	t.Helper()
	dir := t.TempDir()
	run, err := server.Start(context.Background(), server.StartConfig{Addr: "127.0.0.1:0", DataDir: dir, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &ledgerServer{run: run, dataDir: dir, slug: slug}
	t.Cleanup(func() { s.stop(t) })
	tn := domain.Tenant{ID: uuid.Must(uuid.NewV7()).String(), Slug: slug, Name: "Acme Corp", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := run.Store.CreateTenant(context.Background(), &tn); err != nil {
		t.Fatal(err)
	}
	issued, err := server.CreateMemberToken(context.Background(), run.Store, tn.ID, domain.MemberPerson, "Admin", domain.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	s.admin = issued.Plaintext
	return s
}

// stop shuts the server down (its final checkpoint flush included).
func (s *ledgerServer) stop(t *testing.T) {
	t.Helper()
	if s.run == nil {
		return
	}
	if err := s.run.Shutdown(context.Background()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	s.run = nil
}

// env is the CLI environment that points at the server's data directory.
func (s *ledgerServer) env() map[string]string {
	return map[string]string{"CUSTODY_DATA_DIR": s.dataDir}
}

// get fetches a path with the admin token and fails unless it answers 200.
func (s *ledgerServer) get(t *testing.T, path string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.run.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", path, res.StatusCode, raw)
	}
	return raw
}

// graphQL runs an operation as admin and decodes its data into out.
func (s *ledgerServer) graphQL(t *testing.T, query string, vars map[string]any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.run.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var r struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) > 0 || bytes.Contains(r.Data, []byte(`"userErrors":[{`)) {
		t.Fatalf("GraphQL %.60q: %s", query, raw)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// handOff walks a laptop from the dock to a signed hand-off and returns its
// custody events (global id and seq), in log order.
func (s *ledgerServer) handOff(t *testing.T, serial string) []struct {
	ID   string
	Seq  int64
	Type string
} {
	t.Helper()
	var p struct {
		PersonCreate struct{ Person struct{ ID string } }
	}
	s.graphQL(t, `mutation($in: PersonCreateInput!) { personCreate(input: $in) { person { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"employeeId": "E-" + serial, "name": "Ada Lovelace", "email": serial + "@example.com"}}, &p)
	var r struct {
		ParcelReceive struct{ Parcel struct{ ID string } }
	}
	s.graphQL(t, `mutation($in: ParcelReceiveInput!) { parcelReceive(input: $in) { parcel { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"carrier": "UPS", "trackingNumber": "1Z" + serial, "sender": "Dell",
			"recipientId": p.PersonCreate.Person.ID, "location": "Dock A"}}, &r)
	var a struct {
		ParcelSerialize struct{ Assets []struct{ ID string } }
	}
	s.graphQL(t, `mutation($in: ParcelSerializeInput!) { parcelSerialize(input: $in) { assets { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"parcelId": r.ParcelReceive.Parcel.ID, "assets": []map[string]any{{
			"serial": serial, "assetTag": "IT-" + serial, "make": "Dell", "model": "Latitude", "category": "LAPTOP", "bearsData": true}}}}, &a)
	asset := a.ParcelSerialize.Assets[0].ID
	s.graphQL(t, `mutation($in: RecipientNotifyInput!) { recipientNotify(input: $in) { userErrors { message } } }`,
		map[string]any{"in": map[string]any{"parcelId": r.ParcelReceive.Parcel.ID}}, nil)
	s.graphQL(t, `mutation($in: AssetHandOffInput!) { assetHandOff(input: $in) { userErrors { message } } }`,
		map[string]any{"in": map[string]any{"assetIds": []string{asset}, "recipientId": p.PersonCreate.Person.ID,
			"signature": map[string]any{"typedName": "Ada Lovelace", "imageFormat": "SVG",
				"imageBase64":    base64.StdEncoding.EncodeToString([]byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40"><path d="M2 30 C 20 2, 40 38, 60 20" stroke="black" fill="none"/></svg>`)),
				"consentText":    "I received the equipment listed.",
				"consentVersion": "2026-01", "method": "DRAWN_ON_DEVICE"}}}, nil)
	var h struct {
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
	s.graphQL(t, `query($id: ID!) { asset(id: $id) { history(first: 50) { edges { node { id seq type } } } } }`, map[string]any{"id": asset}, &h)
	var out []struct {
		ID   string
		Seq  int64
		Type string
	}
	for _, e := range h.Asset.History.Edges {
		out = append(out, e.Node)
	}
	if len(out) == 0 || out[len(out)-1].Type != "HANDED_OFF" {
		t.Fatalf("history = %+v", out)
	}
	return out
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerifyReceiptCommand(t *testing.T) {
	s := startLedgerServer(t, "acme")
	events := s.handOff(t, "CN0X7Y8Z")
	handed := events[len(events)-1]
	dir := t.TempDir()
	receipt := write(t, dir, "receipt.json", s.get(t, graph.ReceiptPath(handed.ID)))
	keysJSON := write(t, dir, "keys.json", s.get(t, "/ledger/keys"))

	// key list prints a key file; --out writes one file per key.
	code, listed, stderr := runCLI(t, s.env(), "key", "list", "--tenant", "acme", "--out", filepath.Join(dir, "keys"))
	if code != exitOK {
		t.Fatalf("key list = %d %s", code, stderr)
	}
	keysTxt := write(t, dir, "keys.txt", []byte(listed))
	perKey, _ := filepath.Glob(filepath.Join(dir, "keys", "acme-*.key"))
	if len(perKey) != 1 {
		t.Fatalf("key list --out wrote %v, want one file", perKey)
	}

	for name, key := range map[string]string{"/ledger/keys JSON": keysJSON, "key list output": keysTxt, "one key file": perKey[0]} {
		t.Run("valid with "+name, func(t *testing.T) {
			code, out, stderr := runCLI(t, nil, "verify", receipt, "--key", key)
			if code != exitOK || !strings.HasPrefix(out, "VALID: ") {
				t.Fatalf("verify = %d\n%s%s", code, out, stderr)
			}
			for _, want := range []string{"HANDED_OFF", "seq " + itoa(handed.Seq), "drawn image re-hashed", "consent text re-hashed", "✓ inclusion proof"} {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q:\n%s", want, out)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		code, out, _ := runCLI(t, nil, "verify", "--json", receipt, "--key", keysJSON)
		var v struct {
			Valid  bool
			Report ledger.ReceiptReport
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || code != exitOK || !v.Valid || v.Report.Seq != handed.Seq || len(v.Report.Checks) == 0 {
			t.Fatalf("verify --json = %d %s (%v)", code, out, err)
		}
	})

	original, _ := os.ReadFile(receipt)
	tampered := []struct {
		name, from, to, want string
	}{
		{"a changed byte in the event shown", `"location": "Dock A"`, `"location": "Dock B"`, "leaf was modified"},
		{"another leaf index", `"leafIndex": ` + itoa(handed.Seq-1), `"leafIndex": ` + itoa(handed.Seq-2), "inclusion proof does not match"},
		{"a changed image hash", `"imageSha256": "`, `"imageSha256": "0`, "signature evidence does not match"},
	}
	for _, tt := range tampered {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(original, []byte(tt.from)) {
				t.Fatalf("the receipt has no %s:\n%s", tt.from, original)
			}
			bad := write(t, t.TempDir(), "bad.json", bytes.Replace(original, []byte(tt.from), []byte(tt.to), 1))
			code, out, _ := runCLI(t, nil, "verify", bad, "--key", keysJSON)
			if code != exitError || !strings.HasPrefix(out, "INVALID: ") || !strings.Contains(out, tt.want) {
				t.Fatalf("verify = %d %q, want exit 1 with INVALID naming %q", code, out, tt.want)
			}
		})
	}
	t.Run("one changed byte in the leaf", func(t *testing.T) {
		var doc map[string]any
		if err := json.Unmarshal(original, &doc); err != nil {
			t.Fatal(err)
		}
		leaf, _ := base64.StdEncoding.DecodeString(doc["leaf"].(string))
		leaf = bytes.Replace(leaf, []byte("Dock A"), []byte("Dock B"), 1)
		doc["leaf"] = base64.StdEncoding.EncodeToString(leaf)
		raw, _ := json.Marshal(doc)
		code, out, _ := runCLI(t, nil, "verify", write(t, t.TempDir(), "bad.json", raw), "--key", keysJSON)
		if code != exitError || !strings.Contains(out, "INVALID: ") || !strings.Contains(out, "leaf 3 is not in the checkpoint's tree") {
			t.Fatalf("verify = %d %q", code, out)
		}
	})
	t.Run("another tenant's key", func(t *testing.T) {
		_, other, _ := ledger.GenerateKey(nil, uuid.NewString())
		code, out, _ := runCLI(t, nil, "verify", receipt, "--key", write(t, t.TempDir(), "other.txt", []byte(other+"\n")))
		if code != exitError || !strings.Contains(out, "unknown key") {
			t.Fatalf("verify = %d %q", code, out)
		}
	})
	t.Run("json verdict of an invalid receipt", func(t *testing.T) {
		bad := write(t, t.TempDir(), "bad.json", bytes.Replace(original, []byte(`"Dock A"`), []byte(`"Dock B"`), 1))
		code, out, _ := runCLI(t, nil, "verify", bad, "--key", keysJSON, "--json")
		var v struct {
			Valid bool
			Error string
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || code != exitError || v.Valid || !strings.Contains(v.Error, "leaf was modified") {
			t.Fatalf("verify --json = %d %s", code, out)
		}
	})

	// A rotation keeps old receipts verifying against the key history.
	if code, out, stderr := runCLI(t, s.env(), "key", "rotate", "--tenant", "acme", "--reason", "scheduled rotation"); code != exitOK || !strings.Contains(out, "now active") {
		t.Fatalf("key rotate = %d %s %s", code, out, stderr)
	}
	_, listed, _ = runCLI(t, s.env(), "key", "list", "--tenant", "acme")
	if n := strings.Count(listed, "\ncustody.log/"); n != 2 || !strings.Contains(listed, "retired") {
		t.Fatalf("after rotation key list shows %d keys:\n%s", n, listed)
	}
	if code, out, _ := runCLI(t, nil, "verify", receipt, "--key", write(t, dir, "rotated.txt", []byte(listed))); code != exitOK {
		t.Fatalf("the pre-rotation receipt with the key history = %d %s", code, out)
	}
	after := s.handOff(t, "CN0X7Y9A")
	newest := write(t, dir, "newest.json", s.get(t, graph.ReceiptPath(after[len(after)-1].ID)))
	if code, out, _ := runCLI(t, nil, "verify", newest, "--key", perKey[0]); code != exitError || !strings.Contains(out, "unknown key") {
		t.Fatalf("a post-rotation receipt with only the retired key = %d %s", code, out)
	}
}

func TestVerifyTenantCommand(t *testing.T) {
	s := startLedgerServer(t, "acme")
	s.handOff(t, "CN0X7Y8Z")
	s.stop(t) // its final flush checkpoints the log

	code, out, stderr := runCLI(t, s.env(), "verify", "--tenant", "acme")
	if code != exitOK || !strings.HasPrefix(out, "VALID: ") || !strings.Contains(out, "4 events re-encoded") {
		t.Fatalf("verify --tenant = %d\n%s%s", code, out, stderr)
	}
	if code, out, _ := runCLI(t, s.env(), "verify", "--tenant", "nope"); code != exitError || strings.Contains(out, "VALID") {
		t.Fatalf("verify --tenant for a missing tenant = %d %s", code, out)
	}

	// Someone with the database file edits the hand-off's location.
	db := storagetest.OwnerConn(t, server.StartConfig{DataDir: s.dataDir}.StorageConfig())
	if _, err := db.Exec(`DROP TRIGGER custody_events_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE custody_events SET location = 'Dock B' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	code, out, _ = runCLI(t, s.env(), "verify", "--tenant", "acme")
	if code != exitError || !strings.HasPrefix(out, "INVALID: ") || !strings.Contains(out, "first bad event: seq 2") {
		t.Fatalf("verify --tenant of a tampered log = %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, s.env(), "verify", "--tenant", "acme", "--json")
	var v struct {
		Valid       bool
		FirstBadSeq int64
		Problem     string
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != exitError || v.Valid || v.FirstBadSeq != 2 || v.Problem == "" {
		t.Fatalf("verify --tenant --json = %d %s", code, out)
	}
}

func TestVerifyConsistencyCommand(t *testing.T) {
	s := startLedgerServer(t, "acme")
	events := s.handOff(t, "CN0X7Y8Z")
	dir := t.TempDir()
	s.get(t, graph.ReceiptPath(events[len(events)-1].ID)) // signs a checkpoint at the log's size
	var head struct {
		Ledger struct{ LatestCheckpoint struct{ TreeSize int64 } }
	}
	s.graphQL(t, `{ ledger { latestCheckpoint { treeSize } } }`, nil, &head)
	var kept struct {
		Ledger struct{ LatestCheckpoint struct{ Note string } }
	}
	s.graphQL(t, `{ ledger { latestCheckpoint { note } } }`, nil, &kept)
	// Saved with jq -r, the note gains a newline; that must not matter.
	keptFile := write(t, dir, "kept.txt", []byte(kept.Ledger.LatestCheckpoint.Note+"\n"))

	more := s.handOff(t, "CN0X7Y9A")
	s.get(t, graph.ReceiptPath(more[len(more)-1].ID))
	keys := write(t, dir, "keys.json", s.get(t, "/ledger/keys"))
	body, _ := json.Marshal(map[string]any{"query": `query($n: Int!) { ledgerConsistency(oldSize: $n) { oldCheckpoint newCheckpoint oldSize newSize proof } }`,
		"variables": map[string]any{"n": head.Ledger.LatestCheckpoint.TreeSize}})
	req, _ := http.NewRequest(http.MethodPost, s.run.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	proof := write(t, dir, "consistency.json", answer)

	oldSize, newSize := head.Ledger.LatestCheckpoint.TreeSize, more[len(more)-1].Seq
	code, out, stderr := runCLI(t, nil, "verify", "--consistency", proof, "--checkpoint", keptFile, "--key", keys)
	if code != exitOK || !strings.HasPrefix(out, "VALID: ") || !strings.Contains(out, "at "+itoa(oldSize)+" events") ||
		!strings.Contains(out, "is a prefix of the log at "+itoa(newSize)+" events") {
		t.Fatalf("verify --consistency = %d\n%s%s", code, out, stderr)
	}

	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal(answer, &doc); err != nil {
		t.Fatal(err)
	}
	hashes := doc["data"]["ledgerConsistency"]["proof"].([]any)
	if len(hashes) == 0 {
		t.Fatalf("the proof from %d to %d leaves is empty: %s", oldSize, newSize, answer)
	}
	h, _ := base64.StdEncoding.DecodeString(hashes[0].(string))
	h[0] ^= 1
	hashes[0] = base64.StdEncoding.EncodeToString(h)
	forged, _ := json.Marshal(doc)
	code, out, _ = runCLI(t, nil, "verify", "--consistency", write(t, dir, "forged.json", forged), "--checkpoint", keptFile, "--key", keys)
	if code != exitError || !strings.HasPrefix(out, "INVALID: ") || !strings.Contains(out, "not consistent") {
		t.Fatalf("verify --consistency with a changed proof hash = %d %s", code, out)
	}

	// An operator holding the master key signs another tree of the same
	// size (a fork) and serves it as the old checkpoint: the kept one wins.
	ctx := context.Background()
	var tenantID string
	var sealed []byte
	conn := storagetest.OwnerConn(t, server.StartConfig{DataDir: s.dataDir}.StorageConfig())
	if err := conn.QueryRowContext(ctx, `SELECT tenant_id, sealed_signer FROM ledger_keys`).Scan(&tenantID, &sealed); err != nil {
		t.Fatal(err)
	}
	master, err := server.ReadMasterKeyFile(filepath.Join(s.dataDir, server.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.Unseal(master, tenantID, sealed)
	if err != nil {
		t.Fatal(err)
	}
	fork, err := ledger.SignCheckpoint(signer, ledger.Origin(tenantID), oldSize, tlog.Hash{1})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(answer, &doc); err != nil {
		t.Fatal(err)
	}
	doc["data"]["ledgerConsistency"]["oldCheckpoint"] = string(fork)
	forked, _ := json.Marshal(doc)
	code, out, _ = runCLI(t, nil, "verify", "--consistency", write(t, dir, "forked.json", forked), "--checkpoint", keptFile, "--key", keys)
	if code != exitError || !strings.Contains(out, "is not the one you kept") || !strings.Contains(out, "different roots") {
		t.Fatalf("verify --consistency with a forked old checkpoint = %d %s", code, out)
	}
	doc["data"]["ledgerConsistency"]["oldSize"] = oldSize + 1
	wrongSize, _ := json.Marshal(doc)
	code, out, _ = runCLI(t, nil, "verify", "--consistency", write(t, dir, "size.json", wrongSize), "--checkpoint", keptFile, "--key", keys)
	if code != exitError || !strings.Contains(out, "ask for ledgerConsistency(oldSize: "+itoa(oldSize)+")") {
		t.Fatalf("verify --consistency from another size = %d %s", code, out)
	}
}

func TestKeyGenerateMaster(t *testing.T) {
	code, out, _ := runCLI(t, nil, "key", "generate-master")
	if _, err := ledger.ParseMasterKey(out); code != exitOK || err != nil {
		t.Fatalf("generate-master = %d %q (%v)", code, out, err)
	}
	if code, again, _ := runCLI(t, nil, "key", "generate-master"); code != exitOK || again == out {
		t.Fatal("two generated master keys are equal")
	}

	path := filepath.Join(t.TempDir(), "master.key")
	if code, _, stderr := runCLI(t, nil, "key", "generate-master", "--out", path); code != exitOK {
		t.Fatalf("generate-master --out = %d %s", code, stderr)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, mode %v, want 0600", err, info.Mode())
	}
	first, _ := os.ReadFile(path)
	if code, _, stderr := runCLI(t, nil, "key", "generate-master", "--out", path); code != exitError || !strings.Contains(stderr, "refusing to overwrite") {
		t.Fatalf("generate-master over an existing file = %d %s", code, stderr)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, first) {
		t.Fatal("an existing master key file was overwritten")
	}
	if _, err := server.ReadMasterKeyFile(path); err != nil {
		t.Fatalf("the written file is not a master key file: %v", err)
	}
}

// TestMasterKeySettings: on PostgreSQL serve refuses to start without a
// master key and says how to make one; a bad key is refused without being
// echoed.
func TestMasterKeySettings(t *testing.T) {
	pg := storagetest.PostgresConfig(t)
	env := map[string]string{"DATABASE_URL": pg.DatabaseURL, "MIGRATION_DATABASE_URL": pg.MigrationURL, "CUSTODY_ADDR": "127.0.0.1:0"}
	code, _, stderr := runCLI(t, env, "serve")
	if code != exitError || !strings.Contains(stderr, "no master key configured") || !strings.Contains(stderr, "custody key generate-master") ||
		!strings.Contains(stderr, "CUSTODY_MASTER_KEY_FILE") {
		t.Fatalf("serve on PostgreSQL without a master key = %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, env, "key", "rotate", "--tenant", "acme", "--reason", "x"); code != exitError || !strings.Contains(stderr, "no master key configured") {
		t.Fatalf("key rotate on PostgreSQL without a master key = %d\n%s", code, stderr)
	}

	secret := "c2VjcmV0LXRoYXQtaXMtbm90LTMyLWJ5dGVz" // base64, but not 32 bytes
	env["CUSTODY_MASTER_KEY"] = secret
	code, _, stderr = runCLI(t, env, "serve")
	if code != exitError || !strings.Contains(stderr, "want 32") || strings.Contains(stderr, secret) {
		t.Fatalf("serve with a short master key = %d\n%s", code, stderr)
	}
	code, _, stderr = runCLI(t, env, "serve", "--master-key-file", "/nonexistent")
	if code != exitUsage || !strings.Contains(stderr, "not both") || strings.Contains(stderr, secret) {
		t.Fatalf("serve with two master keys = %d\n%s", code, stderr)
	}
	delete(env, "CUSTODY_MASTER_KEY")
	if code, _, stderr := runCLI(t, env, "serve", "--master-key-file", "/nonexistent/master.key"); code != exitError || !strings.Contains(stderr, "master key file") {
		t.Fatalf("serve with a missing key file = %d\n%s", code, stderr)
	}
}

func TestVerifyUsage(t *testing.T) {
	dir := t.TempDir()
	receipt := write(t, dir, "r.json", []byte("{}"))
	key := write(t, dir, "k.txt", []byte("not a key\n"))
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"nothing to verify", []string{"verify"}, exitUsage, "give a receipt file"},
		{"no key", []string{"verify", receipt}, exitUsage, "--key"},
		{"two receipts", []string{"verify", receipt, receipt, "--key", key}, exitUsage, "one receipt at a time"},
		{"receipt and tenant", []string{"verify", receipt, "--tenant", "acme"}, exitUsage, "one thing at a time"},
		{"consistency without checkpoint", []string{"verify", "--consistency", receipt, "--key", key}, exitUsage, "--checkpoint"},
		{"malformed key file", []string{"verify", receipt, "--key", key}, exitError, "not a verifier key"},
		{"missing receipt", []string{"verify", filepath.Join(dir, "none.json"), "--key", write(t, dir, "ok.txt", []byte(mustVerifierKey(t)))}, exitError, "read receipt"},
		{"rotate without reason", []string{"key", "rotate", "--tenant", "acme"}, exitUsage, "--reason"},
		{"list without tenant", []string{"key", "list"}, exitUsage, "--tenant"},
		{"generate-master takes no store setting", []string{"key", "generate-master", "--data-dir", dir}, exitUsage, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.msg) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d mentioning %q", code, stderr, tt.code, tt.msg)
			}
		})
	}
	// Not a receipt at all is a verdict, not a usage error.
	code, out, _ := runCLI(t, nil, "verify", receipt, "--key", write(t, dir, "ok2.txt", []byte(mustVerifierKey(t))))
	if code != exitError || !regexp.MustCompile(`^INVALID: .*malformed receipt`).MatchString(out) {
		t.Fatalf("verify {} = %d %q", code, out)
	}
}

func mustVerifierKey(t *testing.T) string {
	t.Helper()
	_, v, err := ledger.GenerateKey(nil, uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	return v + "\n"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
