package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/server"
)

// start runs a full server on cfg and shuts it down at the end of the test.
func start(t *testing.T, cfg server.StartConfig) *server.Running {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	run, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := run.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return run
}

// graphQL posts a GraphQL request and returns the status and raw body.
func graphQL(t *testing.T, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/graphql", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, raw
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

func TestStartServesTheWholeStack(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg server.StartConfig) {
		run := start(t, cfg)
		m := newMember(t, run.Store, domain.RoleMailroom)
		vendor, err := server.CreateMemberToken(context.Background(), run.Store, m.tenant.ID,
			domain.MemberService, "vendor portal", domain.RoleITADVendor)
		if err != nil {
			t.Fatal(err)
		}

		status, raw := graphQL(t, run.URL, m.issued.Plaintext,
			`{"query":"query Viewer { viewer { tenant { slug } } }","operationName":"Viewer"}`)
		var viewer struct {
			Data struct {
				Viewer struct{ Tenant struct{ Slug string } }
			}
			Errors []json.RawMessage
		}
		if err := json.Unmarshal(raw, &viewer); err != nil || status != http.StatusOK || len(viewer.Errors) > 0 {
			t.Fatalf("viewer query = %d %s (%v)", status, raw, err)
		}
		if viewer.Data.Viewer.Tenant.Slug != m.tenant.Slug {
			t.Fatalf("viewer tenant = %q, want %q", viewer.Data.Viewer.Tenant.Slug, m.tenant.Slug)
		}

		// A denial is an error of the operation; a missing token never reaches GraphQL.
		status, raw = graphQL(t, run.URL, vendor.Plaintext,
			`{"query":"query Assets { assets { edges { node { id } } } }","operationName":"Assets"}`)
		if status != http.StatusOK || !bytes.Contains(raw, []byte("FORBIDDEN")) {
			t.Fatalf("vendor listing assets = %d %s, want a FORBIDDEN error", status, raw)
		}
		if status, _ := graphQL(t, run.URL, "", `{"query":"{ viewer { tenant { slug } } }"}`); status != http.StatusUnauthorized {
			t.Fatalf("no token = %d, want 401", status)
		}

		status, metrics := get(t, run.URL+"/metrics")
		if status != http.StatusOK {
			t.Fatalf("/metrics = %d", status)
		}
		for _, want := range []string{
			`custody_graphql_operations_total{operation="query viewer",outcome="ok"} 1`,
			`custody_graphql_operations_total{operation="query assets",outcome="error"} 1`,
			`custody_graphql_errors_total{operation="query assets"} 1`,
			`custody_graphql_operation_duration_seconds_count{operation="query viewer"} 1`,
			`custody_http_requests_total{code="200",route="/graphql"} 2`,
			`custody_http_requests_total{code="401",route="/graphql"} 1`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if status, _ := get(t, run.URL+"/readyz"); status != http.StatusOK {
			t.Fatalf("/readyz = %d", status)
		}
	})
}

func TestStartLimitsBodiesToOneMiBByDefault(t *testing.T) {
	run := start(t, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
	m := newMember(t, run.Store, domain.RoleMailroom)
	big := `{"query":"{ viewer { tenant { slug } } }","variables":{"pad":"` + strings.Repeat("x", int(server.DefaultMaxBodyBytes)) + `"}}`
	if status, _ := graphQL(t, run.URL, m.issued.Plaintext, big); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over 1 MiB = %d, want 413", status)
	}
}

func TestShutdownClosesStoreAndListener(t *testing.T) {
	run, err := server.Start(context.Background(), server.StartConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := run.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	select {
	case <-run.Done():
	default:
		t.Fatal("Done not closed after Shutdown")
	}
	if err := run.Err(); err != nil {
		t.Fatalf("Err after Shutdown = %v", err)
	}
	if err := run.Store.Ping(context.Background()); err == nil {
		t.Fatal("the store still answers after Shutdown")
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(run.URL, "http://"), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("the listener still accepts after Shutdown")
	}
}

func TestStartCreatesTheDataDirectory(t *testing.T) {
	dir := t.TempDir() + "/nested/custody-data"
	start(t, server.StartConfig{DataDir: dir, Migrate: true})
	if _, err := os.Stat(dir + "/" + server.SQLiteFile); err != nil {
		t.Fatalf("SQLite file not created: %v", err)
	}
}

func TestStartRefusesBadConfiguration(t *testing.T) {
	tests := map[string]server.StartConfig{
		"not migrated":        {DataDir: t.TempDir()},
		"redis URL malformed": {DataDir: t.TempDir(), Migrate: true, RedisURL: "http://nope"},
		"redis unreachable":   {DataDir: t.TempDir(), Migrate: true, RedisURL: "redis://127.0.0.1:1/0"},
		"address invalid":     {DataDir: t.TempDir(), Migrate: true, Addr: "256.0.0.1:80"},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if cfg.Addr == "" {
				cfg.Addr = "127.0.0.1:0"
			}
			run, err := server.Start(context.Background(), cfg)
			if err == nil {
				_ = run.Shutdown(context.Background())
				t.Fatal("Start succeeded")
			}
		})
	}
}

// TestStartWiresTheEventBus checks that committed custody events reach the
// bus Start chose: in-process by default, Redis when REDIS_URL is set.
func TestStartWiresTheEventBus(t *testing.T) {
	buses := map[string]string{"in-process": "", "redis": "redis://127.0.0.1:6379/0"}
	for name, redisURL := range buses {
		t.Run(name, func(t *testing.T) {
			if redisURL != "" {
				if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err != nil {
					if os.Getenv("CI") == "true" {
						t.Fatalf("Redis is required in CI: %v", err)
					}
					t.Skipf("Redis unreachable: %v", err)
				} else {
					_ = c.Close()
				}
			}
			run := start(t, server.StartConfig{DataDir: t.TempDir(), Migrate: true, RedisURL: redisURL})
			m := newMember(t, run.Store, domain.RoleAdmin)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			msgs, unsubscribe, err := run.Bus.Subscribe(ctx, m.tenant.ID)
			if err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			defer unsubscribe()

			_, raw := graphQL(t, run.URL, m.issued.Plaintext, `{"query":"mutation { personCreate(input: {employeeId: \"E1\", name: \"Ada\", email: \"ada@example.com\"}) { person { id } } }"}`)
			var created struct {
				Data struct {
					PersonCreate struct{ Person struct{ ID string } }
				}
			}
			if err := json.Unmarshal(raw, &created); err != nil || created.Data.PersonCreate.Person.ID == "" {
				t.Fatalf("personCreate: %s", raw)
			}
			body, _ := json.Marshal(map[string]any{
				"query": `mutation($in: ParcelReceiveInput!) { parcelReceive(input: $in) { parcel { id } userErrors { message } } }`,
				"variables": map[string]any{"in": map[string]any{"carrier": "UPS", "trackingNumber": "1Z1", "sender": "Dell",
					"recipientId": created.Data.PersonCreate.Person.ID, "location": "Dock A"}},
			})
			if status, raw := graphQL(t, run.URL, m.issued.Plaintext, string(body)); status != http.StatusOK || !strings.Contains(string(raw), `"userErrors":[]`) {
				t.Fatalf("parcelReceive = %d %s", status, raw)
			}
			select {
			case msg := <-msgs:
				if msg.TenantID != m.tenant.ID || msg.Type != domain.EventParcelReceived || msg.ParcelID == "" {
					t.Fatalf("bus message = %+v", msg)
				}
			case <-ctx.Done():
				t.Fatal("no bus message for the committed parcelReceive")
			}
		})
	}
}
