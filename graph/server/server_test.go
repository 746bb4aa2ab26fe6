package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/ledger"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/graph/server"
	"github.com/custody-dev/custody/tenancy"
)

// eachStore runs fn with a migrated store configuration for the embedded
// store and for PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, cfg server.StartConfig)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
	})
	t.Run("postgres", func(t *testing.T) {
		pg := storagetest.PostgresConfig(t)
		fn(t, server.StartConfig{DatabaseURL: pg.DatabaseURL, MigrationURL: pg.MigrationURL, MasterKey: newMasterKey(t)})
	})
}

// newMasterKey returns a fresh 32-byte master key, as an operator
// configures one for PostgreSQL.
func newMasterKey(t *testing.T) []byte {
	t.Helper()
	key, err := ledger.ParseMasterKey(ledger.NewMasterKey(nil))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// openStore opens (migrating first when asked) the store cfg selects.
func openStore(t *testing.T, cfg server.StartConfig) *storage.DB {
	t.Helper()
	ctx := context.Background()
	if cfg.Migrate {
		if _, err := storage.Migrate(ctx, cfg.StorageConfig()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	db, err := storage.Open(ctx, cfg.StorageConfig())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// member is a tenant member with a token.
type member struct {
	tenant domain.Tenant
	issued *server.IssuedToken
}

// newMember creates a tenant and a member holding role, with a token.
func newMember(t *testing.T, admin domain.Admin, role domain.Role) member {
	t.Helper()
	ctx := context.Background()
	tn := domain.Tenant{ID: uuid.Must(uuid.NewV7()).String(), Slug: "t-" + uuid.NewString()[:8], Name: "Test",
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := admin.CreateTenant(ctx, &tn); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	issued, err := server.CreateMemberToken(ctx, admin, tn.ID, domain.MemberService, "scanner "+string(role), role)
	if err != nil {
		t.Fatalf("create member token: %v", err)
	}
	return member{tenant: tn, issued: issued}
}

// seen is what the probe handler observed of an authenticated request.
type seen struct {
	Principal  tenancy.Principal
	Client     tenancy.ClientInfo
	BodyLength int
}

// probe stands in for the GraphQL handler: it echoes what the middleware
// chain put into the request, so the tests see exactly what GraphQL would.
var probe = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p, _ := tenancy.PrincipalFrom(r.Context())
	_ = json.NewEncoder(w).Encode(seen{Principal: p, Client: tenancy.ClientInfoFrom(r.Context()), BodyLength: len(body)})
})

// errorBody is the GraphQL-shaped error body of HTTP-level refusals.
type errorBody struct {
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
}

func post(t *testing.T, url, authorization string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scanner-fleet/2.1")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	return res
}

func decode[T any](t *testing.T, res *http.Response) T {
	t.Helper()
	var v T
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %d response: %v: %s", res.StatusCode, err, raw)
	}
	return v
}

func TestAuthentication(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg server.StartConfig) {
		db := openStore(t, cfg)
		m := newMember(t, db, domain.RoleMailroom)
		revoked, err := server.CreateMemberToken(context.Background(), db, m.tenant.ID, domain.MemberPerson, "leaver", domain.RoleHR)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(context.Background(), m.tenant.ID, revoked.Token.ID, time.Now()); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		other := newMember(t, db, domain.RoleAdmin)
		unknown, _, _ := tenancy.NewToken(m.tenant.ID)
		noTenant, _, _ := tenancy.NewToken(uuid.NewString())
		// A real token with its tenant part swapped: the lookup runs in
		// the other tenant, where the hash must not match.
		swapped := strings.Replace(m.issued.Plaintext,
			strings.ReplaceAll(m.tenant.ID, "-", ""), strings.ReplaceAll(other.tenant.ID, "-", ""), 1)

		ts := httptest.NewServer(server.New(server.Config{GraphQL: probe, Authenticator: db}))
		defer ts.Close()

		refused := []struct {
			name, authorization, challenge string
		}{
			{"missing", "", `Bearer realm="custody"`},
			{"empty bearer", "Bearer ", `Bearer realm="custody"`},
			{"other scheme", "Basic " + m.issued.Plaintext, `Bearer realm="custody", error="invalid_token"`},
			{"malformed", "Bearer not-a-token", `Bearer realm="custody", error="invalid_token"`},
			{"unknown", "Bearer " + unknown, `Bearer realm="custody", error="invalid_token"`},
			{"unknown tenant", "Bearer " + noTenant, `Bearer realm="custody", error="invalid_token"`},
			{"tenant swapped", "Bearer " + swapped, `Bearer realm="custody", error="invalid_token"`},
			{"revoked", "Bearer " + revoked.Plaintext, `Bearer realm="custody", error="invalid_token"`},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				res := post(t, ts.URL+"/graphql", tt.authorization, strings.NewReader(`{"query":"{ viewer { tenant { slug } } }"}`))
				if res.StatusCode != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401", res.StatusCode)
				}
				if got := res.Header.Get("WWW-Authenticate"); got != tt.challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
				}
				body := decode[errorBody](t, res)
				if len(body.Errors) != 1 || body.Errors[0].Extensions.Code != "UNAUTHENTICATED" || body.Errors[0].Message == "" {
					t.Fatalf("body = %+v, want one UNAUTHENTICATED error", body)
				}
			})
		}

		t.Run("valid", func(t *testing.T) {
			res := post(t, ts.URL+"/graphql", "bearer "+m.issued.Plaintext, strings.NewReader(`{}`))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			got := decode[seen](t, res)
			want := tenancy.Principal{
				TenantID:   m.tenant.ID,
				TenantSlug: m.tenant.Slug,
				MemberID:   m.issued.Member.ID,
				MemberName: m.issued.Member.Name,
				Roles:      []string{"mailroom"},
				TokenID:    m.issued.Token.ID,
			}
			if !equalPrincipal(got.Principal, want) {
				t.Fatalf("principal = %+v, want %+v", got.Principal, want)
			}
			if got.Client.IPAddress != "127.0.0.1" || got.Client.UserAgent != "scanner-fleet/2.1" {
				t.Fatalf("client info = %+v", got.Client)
			}
		})
	})
}

func equalPrincipal(a, b tenancy.Principal) bool {
	return a.TenantID == b.TenantID && a.TenantSlug == b.TenantSlug && a.MemberID == b.MemberID &&
		a.MemberName == b.MemberName && a.TokenID == b.TokenID && strings.Join(a.Roles, ",") == strings.Join(b.Roles, ",")
}

// chunked hides a reader's length, so the request carries no Content-Length
// and the limit must be enforced while reading.
type chunked struct{ io.Reader }

func TestBodyLimit(t *testing.T) {
	db := openStore(t, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
	m := newMember(t, db, domain.RoleMailroom)
	ts := httptest.NewServer(server.New(server.Config{GraphQL: probe, Authenticator: db, MaxBodyBytes: 1024}))
	defer ts.Close()
	auth := "Bearer " + m.issued.Plaintext

	tests := []struct {
		name   string
		body   io.Reader
		status int
	}{
		{"at the limit", bytes.NewReader(make([]byte, 1024)), http.StatusOK},
		{"declared over the limit", bytes.NewReader(make([]byte, 1025)), http.StatusRequestEntityTooLarge},
		{"streamed over the limit", chunked{bytes.NewReader(make([]byte, 4096))}, http.StatusRequestEntityTooLarge},
		{"streamed under the limit", chunked{bytes.NewReader(make([]byte, 100))}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := post(t, ts.URL+"/graphql", auth, tt.body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if tt.status == http.StatusRequestEntityTooLarge {
				body := decode[errorBody](t, res)
				if len(body.Errors) != 1 || body.Errors[0].Extensions.Code != "PAYLOAD_TOO_LARGE" {
					t.Fatalf("body = %+v", body)
				}
			}
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg server.StartConfig) {
		db := openStore(t, cfg)
		ts := httptest.NewServer(server.New(server.Config{GraphQL: probe, Authenticator: db, Ready: db.Ping}))
		defer ts.Close()

		status := func(path string) int {
			res, err := http.Get(ts.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			return res.StatusCode
		}
		if got := status("/healthz"); got != http.StatusOK {
			t.Fatalf("/healthz = %d", got)
		}
		if got := status("/readyz"); got != http.StatusOK {
			t.Fatalf("/readyz = %d with the database up", got)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if got := status("/readyz"); got != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d with the database closed, want 503", got)
		}
		if got := status("/healthz"); got != http.StatusOK {
			t.Fatalf("/healthz = %d with the database closed: the process is still alive", got)
		}
	})
}

func TestGraphiQLOnlyInDevelopment(t *testing.T) {
	for _, dev := range []bool{true, false} {
		ts := httptest.NewServer(server.New(server.Config{GraphQL: probe, Development: dev}))
		res, err := http.Get(ts.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		ts.Close()
		if dev && (res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("graphiql")) || !bytes.Contains(body, []byte("/graphql"))) {
			t.Errorf("development: GET / = %d, want the GraphiQL page for /graphql", res.StatusCode)
		}
		if !dev && res.StatusCode != http.StatusNotFound {
			t.Errorf("production: GET / = %d, want 404", res.StatusCode)
		}
	}
}

func TestPanicRecovery(t *testing.T) {
	db := openStore(t, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
	m := newMember(t, db, domain.RoleAdmin)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("pq: relation \"assets\" does not exist")
	})
	ts := httptest.NewServer(server.New(server.Config{GraphQL: boom, Authenticator: db, Logger: logger}))
	defer ts.Close()

	res := post(t, ts.URL+"/graphql", "Bearer "+m.issued.Plaintext, strings.NewReader(`{}`))
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", res.StatusCode)
	}
	if bytes.Contains(raw, []byte("relation")) || bytes.Contains(raw, []byte("goroutine")) {
		t.Fatalf("the client saw the panic: %s", raw)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "panic serving request") || !strings.Contains(logs.String(), `relation`) {
		t.Fatalf("panic not logged: %s", logs.String())
	}
}

func TestAccessLogNeverHoldsTheToken(t *testing.T) {
	db := openStore(t, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
	m := newMember(t, db, domain.RoleAdmin)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	ts := httptest.NewServer(server.New(server.Config{GraphQL: probe, Authenticator: db, Logger: logger}))
	defer ts.Close()

	post(t, ts.URL+"/graphql?token="+m.issued.Plaintext, "Bearer "+m.issued.Plaintext,
		strings.NewReader(`{"query":"query Viewer { viewer { tenant { slug } } }","operationName":"Viewer"}`))
	post(t, ts.URL+"/graphql", "Bearer "+m.issued.Plaintext[:20], strings.NewReader(`{}`))

	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	if strings.Contains(out, m.issued.Plaintext[:20]) {
		t.Fatalf("a log line holds the token: %s", out)
	}
	var line struct {
		Method, Path, Route, Operation, Tenant string
		Status                                 int
	}
	first, _, _ := strings.Cut(out, "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("decode log line %q: %v", first, err)
	}
	if line.Method != "POST" || line.Path != "/graphql" || line.Route != "/graphql" || line.Status != 200 ||
		line.Operation != "Viewer" || line.Tenant != m.tenant.ID {
		t.Fatalf("log line = %+v", line)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestGracefulShutdownDrainsInFlightRequests(t *testing.T) {
	db := openStore(t, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
	m := newMember(t, db, domain.RoleMailroom)
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, `{"data":{"slow":true}}`)
	})
	srv := server.New(server.Config{GraphQL: slow, Authenticator: db})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()

	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url+"/graphql", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+m.issued.Plaintext)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		inflight <- result{status: res.StatusCode, body: string(body), err: err}
	}()
	<-entered

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- srv.Shutdown(ctx)
	}()

	// New connections are refused once shutdown has begun...
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts connections during shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}

	// ...while the request in flight completes normally.
	close(release)
	r := <-inflight
	if r.err != nil || r.status != http.StatusOK || r.body != `{"data":{"slow":true}}` {
		t.Fatalf("in-flight request = %d %q %v, want 200 with its body", r.status, r.body, r.err)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestShutdownTimeoutCutsStuckRequests(t *testing.T) {
	db := openStore(t, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
	m := newMember(t, db, domain.RoleMailroom)
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	stuck := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	})
	srv := server.New(server.Config{GraphQL: stuck, Authenticator: db})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/graphql", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+m.issued.Plaintext)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(res.Body)
			_ = res.Body.Close()
		}
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline error", err)
	}
	if err := <-done; err == nil {
		t.Fatal("the stuck request's connection survived the shutdown timeout")
	}
}
