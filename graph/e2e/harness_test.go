package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/graph/server"
)

// env is one running server with two tenants, A and B, each with a token per role.
type env struct {
	url     string
	run     *server.Running
	a, b    *tenant
	queries atomic.Int64 // SQL statements seen by the store
	// storage is the store's configuration, for tests that reach under the API.
	storage storage.Config
	client  *http.Client
}

// tenant is a tenant of the test server with one token per role.
type tenant struct {
	id     string
	slug   string
	tokens map[domain.Role]string
}

// eachStore runs fn against a fresh server on the embedded store and on Postgres.
func eachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) {
		e := &env{}
		start(t, e, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
		fn(t, e)
	})
	t.Run("postgres", func(t *testing.T) {
		_, cfg := storagetest.Postgres(t)
		e := &env{}
		start(t, e, server.StartConfig{DatabaseURL: cfg.DatabaseURL, MigrationURL: cfg.MigrationURL})
		fn(t, e)
	})
}

func start(t *testing.T, e *env, cfg server.StartConfig) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.Introspection = true
	cfg.QueryHook = func(context.Context, string) { e.queries.Add(1) }
	if cfg.MasterKey == nil {
		cfg.MasterKey = make([]byte, 32)
		if _, err := rand.Read(cfg.MasterKey); err != nil {
			t.Fatal(err)
		}
	}
	e.storage = cfg.StorageConfig()
	ctx := context.Background()
	run, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := run.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	e.run, e.url = run, run.URL
	e.client = &http.Client{Timeout: 30 * time.Second}
	e.a = newTenant(t, run, "acme")
	e.b = newTenant(t, run, "globex")
}

// newTenant creates a tenant with one member and token per role.
func newTenant(t testing.TB, run *server.Running, slug string) *tenant {
	t.Helper()
	ctx := context.Background()
	tn := domain.Tenant{ID: mustUUID(), Slug: slug, Name: strings.ToUpper(slug[:1]) + slug[1:], CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := run.Store.CreateTenant(ctx, &tn); err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	out := &tenant{id: tn.ID, slug: slug, tokens: map[domain.Role]string{}}
	for _, r := range domain.AllRoles {
		tok, err := server.CreateMemberToken(ctx, run.Store, tn.ID, domain.MemberPerson, slug+" "+string(r), r)
		if err != nil {
			t.Fatalf("token for %s/%s: %v", slug, r, err)
		}
		out.tokens[r] = tok.Plaintext
	}
	return out
}

// gqlError is one top-level GraphQL error.
type gqlError struct {
	Message    string                `json:"message"`
	Path       []any                 `json:"path"`
	Extensions struct{ Code string } `json:"extensions"`
}

// response is a GraphQL response with its HTTP status.
type response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	raw    []byte
}

// codes lists the extensions.code of every top-level error.
func (r *response) codes() []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, e.Extensions.Code)
	}
	return out
}

// hasCode reports whether a top-level error carries code.
func (r *response) hasCode(code string) bool {
	for _, c := range r.codes() {
		if c == code {
			return true
		}
	}
	return false
}

// do posts a GraphQL request with token (none when empty).
func (e *env) do(t testing.TB, token, query string, vars map[string]any) *response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return e.post(t, token, body)
}

func (e *env) post(t testing.TB, token string, body []byte) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "custody-e2e/1.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := &response{Status: res.StatusCode, raw: raw}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("decode response (status %d): %v: %s", res.StatusCode, err, raw)
	}
	return out
}

// ok runs a request that must succeed without any top-level error and
// decodes its data into out.
func (e *env) ok(t testing.TB, token, query string, vars map[string]any, out any) {
	t.Helper()
	r := e.do(t, token, query, vars)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("request failed (status %d): %s\nquery: %s", r.Status, r.raw, query)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("decode data: %v: %s", err, r.Data)
		}
	}
}

// userError is a mutation payload's userErrors entry.
type userError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
	Code    string   `json:"code"`
}

func mustUUID() string { return uuid.Must(uuid.NewV7()).String() }

// signatureSVG is a minimal drawn signature.
const signatureSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40"><path d="M2 30 C 20 2, 40 38, 60 20 S 100 5, 118 30" stroke="black" fill="none"/></svg>`

// signature returns a valid SignatureInput for typedName.
func signature(typedName string) map[string]any {
	return map[string]any{
		"typedName":      typedName,
		"imageFormat":    "SVG",
		"imageBase64":    base64.StdEncoding.EncodeToString([]byte(signatureSVG)),
		"consentText":    "I confirm I received the equipment listed and accept responsibility for it under the IT asset policy.",
		"consentVersion": "2026-01",
		"method":         "DRAWN_ON_DEVICE",
		"deviceId":       "desk-tablet-3",
	}
}
