// Package storagetest gives tests fresh, migrated Custody stores: a SQLite
// file in a temporary directory and a throwaway Postgres database opened as
// the application role, so tests run under row-level security exactly like
// the server.
//
// Postgres is found through CUSTODY_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), a role that
// may create databases and roles. When it is unreachable the Postgres tests
// are skipped, unless CI=true, where they fail.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/tenancy"

	// database/sql drivers for the raw connections: "pgx" and "sqlite".
	_ "github.com/glebarez/go-sqlite"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// DefaultPostgresURL is the owner connection used when
// CUSTODY_TEST_POSTGRES_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresURL returns the owner URL tests create their databases with.
func PostgresURL() string {
	if u := os.Getenv("CUSTODY_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// unavailable skips the test, or fails it under CI=true where the real
// servers are required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Postgres creates a fresh database custody_test_<random>, migrates it as the
// owner and opens it as custody_app (password from
// CUSTODY_TEST_APP_PASSWORD, if any). The database is dropped when the test
// ends. cfg.MigrationURL is the owner's URL for the new database.
func Postgres(t testing.TB) (*storage.DB, storage.Config) {
	t.Helper()
	cfg := PostgresConfig(t)
	db, err := storage.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open postgres as %s: %v", storage.AppRole, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, cfg
}

// PostgresConfig creates and migrates a fresh database like Postgres but
// does not open it, for tests of Open itself.
func PostgresConfig(t testing.TB) storage.Config {
	t.Helper()
	ownerURL := PostgresURL()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", ownerURL)
	if err != nil {
		unavailable(t, "postgres: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	pingCtx, cancelPing := context.WithTimeout(ctx, 3*time.Second)
	defer cancelPing()
	if err := admin.PingContext(pingCtx); err != nil {
		unavailable(t, "postgres unreachable at %s: %v", redact(ownerURL), err)
	}
	name := "custody_test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	owner, err := url.Parse(ownerURL)
	if err != nil {
		t.Fatalf("parse CUSTODY_TEST_POSTGRES_URL: %v", err)
	}
	owner.Path = "/" + name
	app := *owner
	if pw := os.Getenv("CUSTODY_TEST_APP_PASSWORD"); pw != "" {
		app.User = url.UserPassword(storage.AppRole, pw)
	} else {
		app.User = url.User(storage.AppRole)
	}
	cfg := storage.Config{DatabaseURL: app.String(), MigrationURL: owner.String(), MaxOpenConns: 10}
	if _, err := storage.Migrate(ctx, cfg); err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	return cfg
}

// SQLite returns a freshly migrated store in a file under t.TempDir().
func SQLite(t testing.TB) (*storage.DB, storage.Config) {
	t.Helper()
	cfg := storage.Config{SQLitePath: filepath.Join(t.TempDir(), "custody.db")}
	ctx := context.Background()
	if _, err := storage.Migrate(ctx, cfg); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	db, err := storage.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, cfg
}

// Each runs fn as the subtests "sqlite" and "postgres", each on a fresh store.
func Each(t *testing.T, fn func(t *testing.T, db *storage.DB, cfg storage.Config)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		db, cfg := SQLite(t)
		fn(t, db, cfg)
	})
	t.Run("postgres", func(t *testing.T) {
		db, cfg := Postgres(t)
		fn(t, db, cfg)
	})
}

// NewTenant creates a tenant with this slug and an admin member, and returns
// a context carrying that member as principal.
func NewTenant(t testing.TB, db *storage.DB, slug string) (context.Context, *domain.Tenant, *domain.Member) {
	t.Helper()
	ctx := context.Background()
	tenant := &domain.Tenant{Slug: slug, Name: "Tenant " + slug}
	if err := db.CreateTenant(ctx, tenant); err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	member := &domain.Member{TenantID: tenant.ID, Name: slug + " admin", Kind: domain.MemberPerson,
		Roles: []domain.Role{domain.RoleAdmin}}
	if err := db.CreateMember(ctx, member); err != nil {
		t.Fatalf("create member in %s: %v", slug, err)
	}
	return tenancy.WithPrincipal(ctx, tenancy.Principal{
		TenantID: tenant.ID, TenantSlug: tenant.Slug, MemberID: member.ID, MemberName: member.Name,
		Roles: []string{string(domain.RoleAdmin)},
	}), tenant, member
}

// OwnerConn returns a raw connection that bypasses the adapter: the table
// owner's on Postgres (cfg.MigrationURL), the database file itself on
// SQLite. Tests use it to tamper with data and to probe the database's own
// defences (triggers, RLS).
func OwnerConn(t testing.TB, cfg storage.Config) *sql.DB {
	t.Helper()
	var (
		db  *sql.DB
		err error
	)
	if cfg.DatabaseURL == "" {
		db, err = sql.Open("sqlite", cfg.SQLitePath+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	} else {
		u := cfg.MigrationURL
		if u == "" {
			u = cfg.DatabaseURL
		}
		db, err = sql.Open("pgx", u)
	}
	if err != nil {
		t.Fatalf("owner connection: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
