package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/tenancy"
)

// TestTenantIsolation: tenant B cannot see, find, change or reference A's rows,
// and identifiers are unique per tenant, not globally.
func TestTenantIsolation(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		a := newWorld(t, db, "alpha")
		b := newWorld(t, db, "beta")
		asset := a.createAsset(t, "SN-SHARED", "TAG-SHARED")
		ev := a.appendEvents(t, asset, 1)[0]
		sig := &domain.Signature{ID: newID(), SignerID: a.person.ID, TypedName: "A", ImageType: domain.ImagePNG,
			Image: []byte{1}, Method: domain.SignatureStylusPad, SignedAt: at, CapturedByID: a.member.ID}
		a.update(t, func(tx domain.Tx) error {
			if _, err := tx.ClaimIdempotency("op", "key", "hash-a"); err != nil {
				return err
			}
			return tx.CreateSignature(sig)
		})

		err := db.View(b.ctx, func(tx domain.Tx) error {
			notFound := map[string]func() error{
				"GetAsset":         func() error { _, err := tx.GetAsset(asset.ID); return err },
				"GetAssetBySerial": func() error { _, err := tx.GetAssetBySerial("SN-SHARED"); return err },
				"GetAssetByTag":    func() error { _, err := tx.GetAssetByTag("TAG-SHARED"); return err },
				"GetPerson":        func() error { _, err := tx.GetPerson(a.person.ID); return err },
				"GetParcel":        func() error { _, err := tx.GetParcel(a.parcel.ID); return err },
				"GetEvent":         func() error { _, err := tx.GetEvent(ev.ID); return err },
				"GetSignature":     func() error { _, err := tx.GetSignature(sig.ID); return err },
			}
			for name, get := range notFound {
				if err := get(); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("B %s(A's) = %v, want ErrNotFound", name, err)
				}
			}
			empty := map[string]func() (int, error){
				"GetAssets":     func() (int, error) { r, err := tx.GetAssets([]string{asset.ID}); return len(r), err },
				"GetPeople":     func() (int, error) { r, err := tx.GetPeople([]string{a.person.ID}); return len(r), err },
				"GetParcels":    func() (int, error) { r, err := tx.GetParcels([]string{a.parcel.ID}); return len(r), err },
				"GetSignatures": func() (int, error) { r, err := tx.GetSignatures([]string{sig.ID}); return len(r), err },
				"GetMembers":    func() (int, error) { r, err := tx.GetMembers([]string{a.member.ID}); return len(r), err },
				"ListAssets": func() (int, error) {
					r, err := tx.ListAssets(domain.AssetFilter{Search: "SHARED"}, domain.PageRequest{First: 10})
					return len(r), err
				},
				"ListAssets by parcel": func() (int, error) {
					r, err := tx.ListAssets(domain.AssetFilter{ParcelID: a.parcel.ID}, domain.PageRequest{First: 10})
					return len(r), err
				},
				"ListAssetEvents": func() (int, error) {
					r, err := tx.ListAssetEvents(asset.ID, domain.PageRequest{First: 10})
					return len(r), err
				},
				"LastAssetEvents": func() (int, error) {
					r, err := tx.LastAssetEvents([]string{asset.ID}, 5)
					return len(r), err
				},
				"ListParcels by recipient": func() (int, error) {
					r, err := tx.ListParcels(domain.ParcelFilter{RecipientID: a.person.ID}, domain.PageRequest{First: 10})
					return len(r), err
				},
			}
			for name, list := range empty {
				if n, err := list(); err != nil || n != 0 {
					t.Errorf("B %s(A's) = %d rows, %v; want none", name, n, err)
				}
			}
			people, err := tx.ListPeople(domain.PersonFilter{}, domain.PageRequest{First: 10})
			if err != nil || len(people) != 1 || people[0].ID != b.person.ID {
				t.Errorf("B ListPeople = %v, %v; want only B's person", people, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// Writes: B cannot update A's asset, nor point at A's person.
		stolen := *asset
		stolen.State, stolen.Version = domain.StateStolen, 2
		if err := db.Update(b.ctx, func(tx domain.Tx) error { return tx.UpdateAsset(&stolen) }); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("B UpdateAsset(A's) = %v, want ErrNotFound", err)
		}
		cross := *b.parcel
		cross.ID, cross.RecipientID = newID(), a.person.ID
		if err := db.Update(b.ctx, func(tx domain.Tx) error { return tx.CreateParcel(&cross) }); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("B CreateParcel(for A's person) = %v, want ErrNotFound", err)
		}
		if got, err := getAsset(a, asset.ID); err != nil || got.State != domain.StateSerialized || got.Version != 1 {
			t.Errorf("A's asset after B's attempts = %+v, %v; want unchanged", got, err)
		}

		// The same serial, tag, employee id and idempotency key are free in B.
		b.createAsset(t, "SN-SHARED", "TAG-SHARED")
		p := &domain.Person{ID: newID(), EmployeeID: "E-1", Name: "x", Email: "other@example.com",
			Status: domain.PersonActive, Version: 1, CreatedAt: at, UpdatedAt: at}
		if err := db.Update(b.ctx, func(tx domain.Tx) error { return tx.CreatePerson(p) }); !isDuplicate(err, "employeeId") {
			t.Errorf("B CreatePerson(employee id B already has) = %v, want DuplicateError", err) // the fixture's own person
		}
		b.update(t, func(tx domain.Tx) error {
			rec, err := tx.ClaimIdempotency("op", "key", "hash-b")
			if err != nil || rec != nil {
				t.Errorf("B claim of A's key = %+v, %v; want a fresh claim", rec, err)
			}
			return nil
		})
		// ...and B's sequence starts at 1 whatever A's log holds.
		evB := b.appendEvents(t, b.createAsset(t, "SN-B", ""), 1)[0]
		if evB.Seq != 1 {
			t.Errorf("B's first event seq = %d, want 1", evB.Seq)
		}
		// In A, a second asset with the same serial is refused.
		dup := a.newAsset("SN-SHARED", "")
		if err := db.Update(a.ctx, func(tx domain.Tx) error { return tx.CreateAsset(dup) }); !isDuplicate(err, "serial") {
			t.Errorf("A CreateAsset(same serial) = %v, want DuplicateError{serial}", err)
		}
	})
}

func getAsset(w *world, id string) (*domain.Asset, error) {
	var out *domain.Asset
	err := w.db.View(w.ctx, func(tx domain.Tx) error {
		var err error
		out, err = tx.GetAsset(id)
		return err
	})
	return out, err
}

// TestFailClosed: without a tenant in the context, nothing reaches the database.
func TestFailClosed(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, _ *storage.DB, cfg storage.Config) {
		db, mark := counted(t, cfg)
		for name, ctx := range map[string]context.Context{
			"no principal":     context.Background(),
			"empty tenant":     tenancy.WithPrincipal(context.Background(), tenancy.Principal{MemberID: newID()}),
			"malformed tenant": tenancy.WithPrincipal(context.Background(), tenancy.Principal{TenantID: "acme"}),
		} {
			ctx, n := mark(ctx)
			called := false
			fn := func(domain.Tx) error { called = true; return nil }
			for op, run := range map[string]func(context.Context, func(domain.Tx) error) error{"Update": db.Update, "View": db.View} {
				if err := run(ctx, fn); !errors.Is(err, tenancy.ErrNoTenant) {
					t.Errorf("%s %s = %v, want ErrNoTenant", name, op, err)
				}
			}
			if called || n.Load() != 0 {
				t.Errorf("%s: fn called=%v, %d statements sent; want neither", name, called, n.Load())
			}
		}
	})
}

// TestRowLevelSecurity: on Postgres the database alone keeps tenants apart,
// even for SQL that forgets tenant_id entirely.
func TestRowLevelSecurity(t *testing.T) {
	db, cfg := storagetest.Postgres(t)
	a := newWorld(t, db, "alpha")
	b := newWorld(t, db, "beta")
	a.createAsset(t, "SN-A", "")
	b.createAsset(t, "SN-B1", "")
	b.createAsset(t, "SN-B2", "")

	// The owner (a superuser here) sees everything: the rows exist.
	var all int
	if err := storagetest.OwnerConn(t, cfg).QueryRow("SELECT count(*) FROM assets").Scan(&all); err != nil || all != 3 {
		t.Fatalf("owner count = %d, %v; want 3", all, err)
	}

	app, err := sql.Open("pgx", cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx := context.Background()
	conn, err := app.Conn(ctx) // one session throughout, as a pooled connection would be
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	countAs := func(tenant string) (n int, tenants []string) {
		t.Helper()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if tenant != "" {
			if _, err := tx.Exec("SELECT set_config('custody.tenant_id', $1, true)", tenant); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := tx.Query("SELECT tenant_id::text FROM assets") // no WHERE: RLS only
		if err != nil {
			t.Fatalf("select as app: %v", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			tenants = append(tenants, id)
		}
		return len(tenants), tenants
	}
	if n, tenants := countAs(a.tenant.ID); n != 1 || tenants[0] != a.tenant.ID {
		t.Errorf("as A: %d rows of %v; want A's 1", n, tenants)
	}
	if n, _ := countAs(b.tenant.ID); n != 2 {
		t.Errorf("as B: %d rows; want 2", n)
	}
	if n, _ := countAs(""); n != 0 {
		t.Errorf("no tenant set (after a set one expired in this session): %d rows; want 0", n)
	}

	// WITH CHECK: scoped to A, a row claiming B is refused.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tx.Exec("SELECT set_config('custody.tenant_id', $1, true)", a.tenant.ID)
	_, err = tx.Exec(`INSERT INTO members (tenant_id, id, name, kind, created_at) VALUES ($1, $2, 'intruder', 'PERSON', now())`,
		b.tenant.ID, newID())
	_ = tx.Rollback()
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Errorf("insert into B while scoped to A = %v, want a row-level security violation", err)
	}

	// Tenants: B's row is invisible to A, but the slug lookup function works for the app role.
	tx, _ = conn.BeginTx(ctx, nil)
	_, _ = tx.Exec("SELECT set_config('custody.tenant_id', $1, true)", a.tenant.ID)
	var visible int
	err = tx.QueryRow("SELECT count(*) FROM tenants").Scan(&visible)
	_ = tx.Rollback()
	if err != nil || visible != 1 {
		t.Errorf("tenants visible to A = %d, %v; want 1", visible, err)
	}
	var id string
	if err := conn.QueryRowContext(ctx, "SELECT id::text FROM custody_tenant_by_slug('beta')").Scan(&id); err != nil || id != b.tenant.ID {
		t.Errorf("custody_tenant_by_slug('beta') = %q, %v; want %s", id, err, b.tenant.ID)
	}

	// The app role has no UPDATE or DELETE on the custody log, nor DELETE anywhere.
	for _, stmt := range []string{"UPDATE custody_events SET location = 'x'", "DELETE FROM custody_events", "DELETE FROM assets"} {
		if _, err := conn.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("app role %q = %v, want permission denied", stmt, err)
		}
	}
}

// TestOpenRefusesPrivilegedRoles: the server must not run as a role that RLS
// does not bind.
func TestOpenRefusesPrivilegedRoles(t *testing.T) {
	cfg := storagetest.PostgresConfig(t)
	owner := storagetest.OwnerConn(t, cfg)
	ctx := context.Background()
	suffix := strings.ReplaceAll(newID()[24:], "-", "")
	cases := []struct {
		name  string
		setup []string // run as the owner; {r} is the role name
		url   func(role string) string
		want  string
	}{
		{name: "superuser", url: func(string) string { return cfg.MigrationURL }, want: "superuser"},
		{name: "bypassrls", setup: []string{"CREATE ROLE {r} LOGIN BYPASSRLS"}, want: "BYPASSRLS"},
		{name: "table owner", setup: []string{"CREATE ROLE {r} LOGIN", "ALTER TABLE people OWNER TO {r}"}, want: "owns"},
		{name: "member of the owner", setup: []string{"CREATE ROLE {r}_o NOLOGIN", "CREATE ROLE {r} LOGIN IN ROLE {r}_o",
			"ALTER TABLE assets OWNER TO {r}_o"}, want: "owns"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			role := "custody_test_" + strings.ReplaceAll(c.name, " ", "_") + "_" + suffix
			for _, s := range c.setup {
				if _, err := owner.ExecContext(ctx, strings.ReplaceAll(s, "{r}", role)); err != nil {
					t.Fatalf("setup %q: %v", s, err)
				}
			}
			t.Cleanup(func() {
				_, _ = owner.ExecContext(ctx, "ALTER TABLE people OWNER TO CURRENT_USER")
				_, _ = owner.ExecContext(ctx, "ALTER TABLE assets OWNER TO CURRENT_USER")
				_, _ = owner.ExecContext(ctx, "DROP ROLE IF EXISTS "+role)
				_, _ = owner.ExecContext(ctx, "DROP ROLE IF EXISTS "+role+"_o")
			})
			c2 := cfg
			if c.url != nil {
				c2.DatabaseURL = c.url(role)
			} else {
				c2.DatabaseURL = strings.Replace(cfg.DatabaseURL, storage.AppRole+"@", role+"@", 1)
			}
			db, err := storage.Open(ctx, c2)
			if err == nil {
				_ = db.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, storage.AppRole) || !strings.Contains(msg, "migration") {
				t.Errorf("Open error %q: want it to say %q, name %s and the migration URL", msg, c.want, storage.AppRole)
			}
		})
	}
	// And the application role itself is accepted.
	db, err := storage.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open as %s = %v", storage.AppRole, err)
	}
	_ = db.Close()
}

// TestUnprivilegedOwner runs the production setup: the schema migrated by an
// ordinary role that owns the database (no superuser, so FORCE row-level
// security binds it too), the server connected as custody_app.
func TestUnprivilegedOwner(t *testing.T) {
	ctx := context.Background()
	admin, err := sql.Open("pgx", storagetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres unreachable: %v", err)
		}
		t.Skipf("postgres unreachable: %v", err)
	}
	// The cluster-wide custody_app role is created by a privileged first
	// migration (an unprivileged owner cannot create roles): make sure one ran,
	// whatever test runs first on a fresh cluster.
	storagetest.PostgresConfig(t)
	suffix := strings.ReplaceAll(newID()[24:], "-", "")
	role, dbName := "custody_test_owner_"+suffix, "custody_test_"+suffix
	for _, s := range []string{"CREATE ROLE " + role + " LOGIN NOSUPERUSER NOCREATEROLE", "CREATE DATABASE " + dbName + " OWNER " + role} {
		if _, err := admin.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)")
		_, _ = admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+role)
	})
	base, err := url.Parse(storagetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	base.Path = "/" + dbName
	ownerURL, appURL := *base, *base
	ownerURL.User, appURL.User = url.User(role), url.User(storage.AppRole)
	cfg := storage.Config{DatabaseURL: appURL.String(), MigrationURL: ownerURL.String()}
	if applied, err := storage.Migrate(ctx, cfg); err != nil || len(applied) == 0 {
		t.Fatalf("Migrate as unprivileged owner = %v, %v", applied, err)
	}
	asOwner := cfg
	asOwner.DatabaseURL = ownerURL.String()
	if db, err := storage.Open(ctx, asOwner); err == nil || !strings.Contains(err.Error(), "owns") {
		if db != nil {
			_ = db.Close()
		}
		t.Fatalf("Open as the owner = %v, want refusal", err)
	}
	db, err := storage.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open as %s = %v", storage.AppRole, err)
	}
	defer db.Close()
	w := newWorld(t, db, "acme")
	w.appendEvents(t, w.createAsset(t, "SN-1", ""), 2)
	// The slug lookup (SECURITY DEFINER, run as the owner under FORCE RLS) still finds it.
	if got, err := db.GetTenant(ctx, "acme"); err != nil || got.ID != w.tenant.ID {
		t.Fatalf("GetTenant(slug) = %+v, %v", got, err)
	}
}

// TestRowLevelSecurityEveryTable: on Postgres every table of the schema
// (those of later migrations too) has row-level security enabled and forced
// under the one tenant_isolation policy, and the app role may delete from
// none of them.
func TestRowLevelSecurityEveryTable(t *testing.T) {
	_, cfg := storagetest.Postgres(t)
	rows, err := storagetest.OwnerConn(t, cfg).Query(`
		SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
		       COALESCE(pg_get_expr(p.polqual, p.polrelid), ''), COALESCE(pg_get_expr(p.polwithcheck, p.polrelid), ''),
		       has_table_privilege($1, c.oid, 'DELETE') OR has_table_privilege($1, c.oid, 'TRUNCATE')
		FROM pg_catalog.pg_class c
		LEFT JOIN pg_catalog.pg_policy p ON p.polrelid = c.oid AND p.polname = 'tenant_isolation'
		WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace AND c.relname <> 'goose_db_version'
		ORDER BY c.relname`, storage.AppRole)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var (
			name, using, check     string
			enabled, forced, wipes bool
		)
		if err := rows.Scan(&name, &enabled, &forced, &using, &check, &wipes); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
		const setting = "current_setting('custody.tenant_id'"
		if !enabled || !forced || !strings.Contains(using, setting) || !strings.Contains(check, setting) {
			t.Errorf("table %s: RLS enabled=%v forced=%v, tenant_isolation USING %q WITH CHECK %q; want both on, "+
				"comparing with custody.tenant_id", name, enabled, forced, using, check)
		}
		if wipes {
			t.Errorf("table %s: %s may DELETE or TRUNCATE", name, storage.AppRole)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// The query must have seen the tables, or the loop proves nothing.
	for _, want := range []string{"tenants", "assets", "custody_events", "ledger_hashes",
		"offboarding_cases", "offboarding_case_items", "asset_returns", "vendors",
		"pickup_orders", "pickup_lines", "pickup_scans"} {
		if !slices.Contains(tables, want) {
			t.Errorf("table %s missing from the schema's tables %v", want, tables)
		}
	}
}
