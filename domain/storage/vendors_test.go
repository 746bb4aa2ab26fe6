package storage_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// The ITAD vendor part of the repository contract, on both stores: vendors,
// and the vendor of an itad_vendor member.

// day returns the calendar date y-m-d as stored: midnight UTC.
func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// newVendor returns an unsaved vendor named name, engaged by w's member,
// holding one certification.
func (w *world) newVendor(name string) *domain.Vendor {
	return &domain.Vendor{ID: newID(), Name: name, ContactEmail: "ops@" + strings.ToLower(strings.ReplaceAll(name, " ", "")) + ".example",
		Certifications: []domain.Certification{{Scheme: domain.SchemeR2v3, Number: "R2-0042", ExpiresOn: day(2027, 6, 30)}},
		EngagedAt:      at, EngagedByID: w.member.ID, UpdatedAt: at, Version: 1}
}

// createVendor saves newVendor(name).
func (w *world) createVendor(t testing.TB, name string) *domain.Vendor {
	t.Helper()
	v := w.newVendor(name)
	w.update(t, func(tx domain.Tx) error { return tx.CreateVendor(v) })
	return v
}

func vendorIDs(vs []*domain.Vendor) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

func TestContractVendors(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		v := w.newVendor("GreenCycle ITAD")
		v.TenantID = "ignored"
		v.ID = strings.ToUpper(v.ID)
		v.EngagedByID = strings.ToUpper(v.EngagedByID)
		v.EngagedAt = at.Add(123 * time.Nanosecond) // below the stored precision
		w.update(t, func(tx domain.Tx) error { return tx.CreateVendor(v) })
		if v.TenantID != w.tenant.ID || v.ID != strings.ToLower(v.ID) || v.EngagedByID != w.member.ID || !v.EngagedAt.Equal(at) {
			t.Fatalf("CreateVendor left %s, %s, %s, %v; want the tenant, canonical ids and %v", v.TenantID, v.ID,
				v.EngagedByID, v.EngagedAt, at)
		}

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetVendor(strings.ToUpper(v.ID))
			if err != nil || !reflect.DeepEqual(got, v) {
				t.Errorf("GetVendor = %+v, %v; want %+v", got, err, v)
			}
			for _, id := range []string{newID(), "not-a-uuid", ""} {
				if _, err := tx.GetVendor(id); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("GetVendor(%q) = %v, want ErrNotFound", id, err)
				}
			}
			return nil
		})

		for _, r := range []struct {
			name string
			edit func(v *domain.Vendor)
			want func(error) bool
		}{
			{"same name", func(v *domain.Vendor) { v.Name = "GreenCycle ITAD" },
				func(err error) bool { return isDuplicate(err, "name") && errors.Is(err, domain.ErrDuplicate) }},
			{"same name, other case", func(v *domain.Vendor) { v.Name = "greencycle itad" },
				func(err error) bool { return isDuplicate(err, "name") }},
			{"same id", func(*domain.Vendor) {}, func(err error) bool { return isDuplicate(err, "id") }},
			{"unknown engager", func(v *domain.Vendor) { v.EngagedByID = newID() }, isNotFound},
			{"malformed engager", func(v *domain.Vendor) { v.EngagedByID = "ada" }, isNotFound},
			{"no engager", func(v *domain.Vendor) { v.EngagedByID = "" }, isNotFound},
			{"malformed id", func(v *domain.Vendor) { v.ID = "vendor-1" }, isFault},
			{"no name", func(v *domain.Vendor) { v.Name = "" }, isFault},
			{"unknown scheme", func(v *domain.Vendor) { v.Certifications[0].Scheme = "ISO_9001" }, isFault},
		} {
			t.Run(r.name, func(t *testing.T) {
				other := w.newVendor("Other " + newID())
				if r.name == "same id" {
					other.ID = v.ID
				}
				r.edit(other)
				if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreateVendor(other) }); !r.want(err) {
					t.Errorf("CreateVendor = %v", err)
				}
			})
		}

		// The name is unique per tenant only.
		b := newWorld(t, db, "beta")
		twin := b.createVendor(t, "GREENCYCLE ITAD")

		// Optimistic update: v1 -> v2 succeeds, a second writer still at v1
		// loses; the engagement is never rewritten.
		second := w.createVendor(t, "Shred Co")
		upd := *v
		upd.Name, upd.ContactEmail, upd.Version = "GreenCycle ITAD Ltd", "", 2
		upd.Certifications = []domain.Certification{
			{Scheme: domain.SchemeR2v3, Number: "R2-0043", ExpiresOn: day(2028, 6, 30)},
			{Scheme: domain.SchemeEStewards, Number: "E-7", ExpiresOn: day(2026, 1, 31)},
		}
		upd.UpdatedAt = at.Add(time.Hour)
		sneaky := upd
		sneaky.EngagedAt, sneaky.EngagedByID = at.Add(-time.Hour), newID()
		w.update(t, func(tx domain.Tx) error { return tx.UpdateVendor(&sneaky) })
		if sneaky.Certifications[0].Scheme != domain.SchemeEStewards || sneaky.TenantID != w.tenant.ID {
			t.Errorf("UpdateVendor left %+v; want certifications sorted by scheme, the tenant", sneaky)
		}
		upd.Certifications = sneaky.Certifications
		upd.TenantID = w.tenant.ID
		for _, r := range []struct {
			name string
			edit func(v *domain.Vendor)
			want func(error) bool
		}{
			{"stale version", func(v *domain.Vendor) { v.Name, v.Version = "stale", 2 },
				func(err error) bool { return errors.Is(err, domain.ErrConcurrentModification) }},
			{"unknown id", func(v *domain.Vendor) { v.ID, v.Version = newID(), 3 }, isNotFound},
			{"malformed id", func(v *domain.Vendor) { v.ID, v.Version = "junk", 3 }, isNotFound},
			{"another vendor's name", func(v *domain.Vendor) { v.Name, v.Version = "SHRED CO", 3 },
				func(err error) bool { return isDuplicate(err, "name") }},
			{"unknown scheme", func(v *domain.Vendor) {
				v.Version = 3
				v.Certifications = []domain.Certification{{Scheme: "ISO_9001", Number: "1", ExpiresOn: day(2027, 1, 1)}}
			}, isFault},
		} {
			t.Run("update "+r.name, func(t *testing.T) {
				other := upd
				r.edit(&other)
				if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.UpdateVendor(&other) }); !r.want(err) {
					t.Errorf("UpdateVendor = %v", err)
				}
			})
		}

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetVendor(v.ID)
			if err != nil || !reflect.DeepEqual(got, &upd) {
				t.Errorf("GetVendor after update = %+v, %v; want %+v", got, err, &upd)
			}
			batch, err := tx.GetVendors([]string{second.ID, v.ID, newID(), "junk", strings.ToUpper(v.ID), twin.ID})
			if err != nil || !reflect.DeepEqual(batch, []*domain.Vendor{&upd, second}) {
				t.Errorf("GetVendors = %v, %v; want %v", vendorIDs(batch), err, []string{v.ID, second.ID})
			}
			for _, ids := range [][]string{nil, {"junk"}, {twin.ID}} {
				if batch, err := tx.GetVendors(ids); err != nil || len(batch) != 0 {
					t.Errorf("GetVendors(%v) = %v, %v; want none", ids, batch, err)
				}
			}
			return nil
		})
	})
}

func TestContractListVendors(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		var all []string
		for _, name := range []string{"Delta", "alpha", "Charlie", "bravo"} {
			all = append(all, w.createVendor(t, name).ID) // ids in creation order
		}
		b := newWorld(t, db, "beta")
		b.createVendor(t, "Alpha")

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			for _, c := range []struct {
				name string
				page domain.PageRequest
				want []string
			}{
				{"all", domain.PageRequest{First: 10}, all},
				{"first page", domain.PageRequest{First: 2}, all[:2]},
				{"second page", domain.PageRequest{First: 2, After: all[1]}, all[2:]},
				{"cursor in upper case", domain.PageRequest{First: 1, After: strings.ToUpper(all[0])}, all[1:2]},
				{"after the last", domain.PageRequest{First: 2, After: all[3]}, nil},
				{"none asked", domain.PageRequest{First: 0}, nil},
				{"negative", domain.PageRequest{First: -1}, nil},
			} {
				got, err := tx.ListVendors(c.page)
				if ids := vendorIDs(got); err != nil || !slices.Equal(ids, c.want) {
					t.Errorf("ListVendors %s = %v, %v; want %v", c.name, ids, err, c.want)
				}
			}
			var arg *domain.ArgumentError
			if _, err := tx.ListVendors(domain.PageRequest{First: 1, After: "garbage"}); !errors.As(err, &arg) {
				t.Errorf("ListVendors(bad cursor) = %v, want ArgumentError", err)
			}
			return nil
		})
	})
}

// TestVendorCertificationsRoundTrip: what CreateVendor leaves in the vendor
// is exactly what GetVendor returns, and the column holds the documented
// JSON: [{scheme, number, expiresOn "YYYY-MM-DD"}] sorted by scheme.
func TestVendorCertificationsRoundTrip(t *testing.T) {
	pst, cest := time.FixedZone("PST", -8*3600), time.FixedZone("CEST", 2*3600)
	type cert = domain.Certification
	cases := []struct {
		name string
		in   []cert
		want []cert
		json string
	}{
		{"none", nil, nil, `[]`},
		{"empty", []cert{}, nil, `[]`},
		{"one", []cert{{Scheme: domain.SchemeNAIDAAA, Number: "AAA-77", ExpiresOn: day(2027, 1, 31)}},
			[]cert{{Scheme: domain.SchemeNAIDAAA, Number: "AAA-77", ExpiresOn: day(2027, 1, 31)}},
			`[{"scheme":"NAID_AAA","number":"AAA-77","expiresOn":"2027-01-31"}]`},
		{"sorted by scheme, dates in their own zone", []cert{
			{Scheme: domain.SchemeR2v3, Number: "R2-0042", ExpiresOn: time.Date(2027, 6, 30, 23, 30, 0, 0, pst)},
			{Scheme: domain.SchemeNAIDAAA, Number: "AAA-77", ExpiresOn: time.Date(2027, 1, 31, 0, 30, 0, 0, cest)},
			{Scheme: domain.SchemeEStewards, Number: `E "7" / ünïcode`, ExpiresOn: day(2026, 2, 28)},
		}, []cert{
			{Scheme: domain.SchemeEStewards, Number: `E "7" / ünïcode`, ExpiresOn: day(2026, 2, 28)},
			{Scheme: domain.SchemeNAIDAAA, Number: "AAA-77", ExpiresOn: day(2027, 1, 31)},
			{Scheme: domain.SchemeR2v3, Number: "R2-0042", ExpiresOn: day(2027, 6, 30)},
		}, `[{"scheme":"E_STEWARDS","number":"E \"7\" / ünïcode","expiresOn":"2026-02-28"},` +
			`{"scheme":"NAID_AAA","number":"AAA-77","expiresOn":"2027-01-31"},` +
			`{"scheme":"R2V3","number":"R2-0042","expiresOn":"2027-06-30"}]`},
	}
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		owner := storagetest.OwnerConn(t, cfg)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				v := w.newVendor(c.name)
				v.Certifications = slices.Clone(c.in)
				w.update(t, func(tx domain.Tx) error { return tx.CreateVendor(v) })
				if !reflect.DeepEqual(v.Certifications, c.want) {
					t.Errorf("CreateVendor left %+v, want %+v", v.Certifications, c.want)
				}
				_ = db.View(w.ctx, func(tx domain.Tx) error {
					got, err := tx.GetVendor(v.ID)
					if err != nil || !reflect.DeepEqual(got, v) {
						t.Errorf("GetVendor = %+v, %v; want %+v", got, err, v)
					}
					return nil
				})
				// Postgres normalises jsonb's text, so compare as JSON values.
				stored := rawVendorColumn(t, owner, cfg, w.tenant.ID, v.ID, "certifications")
				var got, want []map[string]string
				if err := json.Unmarshal([]byte(stored), &got); err != nil {
					t.Fatalf("stored certifications %q: %v", stored, err)
				}
				if err := json.Unmarshal([]byte(c.json), &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("stored certifications = %s, want %s", stored, c.json)
				}
			})
		}
	})
}

// rawVendorColumn reads a column of a vendor through the owner's connection
// (scoped to tenant on Postgres, where RLS is forced on the owner too).
func rawVendorColumn(t *testing.T, owner *sql.DB, cfg storage.Config, tenant, id, column string) string {
	t.Helper()
	ctx := context.Background()
	tx, err := owner.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	q := "SELECT " + column + " FROM vendors WHERE tenant_id = ? AND id = ?"
	if cfg.DatabaseURL != "" {
		if _, err := tx.Exec("SELECT set_config('custody.tenant_id', $1, true)", tenant); err != nil {
			t.Fatal(err)
		}
		q = "SELECT " + column + "::text FROM vendors WHERE tenant_id = $1 AND id = $2"
	}
	var out string
	if err := tx.QueryRow(q, tenant, id).Scan(&out); err != nil {
		t.Fatalf("read vendors.%s: %v", column, err)
	}
	return out
}

// TestMemberVendor: a member's vendor is stored with it and comes back from
// Authenticate; an unknown vendor is refused as not found.
func TestMemberVendor(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		ctx := context.Background()
		w := newWorld(t, db, "acme")
		v := w.createVendor(t, "GreenCycle ITAD")
		b := newWorld(t, db, "beta")
		foreign := b.createVendor(t, "Elsewhere")

		for _, c := range []struct {
			name, vendorID, want string
		}{
			{"no vendor", "", ""},
			{"vendor", v.ID, v.ID},
			{"vendor id in upper case", strings.ToUpper(v.ID), v.ID},
		} {
			t.Run(c.name, func(t *testing.T) {
				m := &domain.Member{TenantID: w.tenant.ID, Name: "Tech " + c.name, Kind: domain.MemberPerson,
					Roles: []domain.Role{domain.RoleITADVendor}, VendorID: c.vendorID}
				if err := db.CreateMember(ctx, m); err != nil {
					t.Fatalf("CreateMember = %v", err)
				}
				if m.VendorID != c.want {
					t.Errorf("CreateMember left VendorID %q, want %q", m.VendorID, c.want)
				}
				hash := sha256.Sum256([]byte("token of " + m.ID))
				if err := db.CreateToken(ctx, &domain.APIToken{TenantID: w.tenant.ID, MemberID: m.ID, Name: m.Name, Hash: hash[:]}); err != nil {
					t.Fatal(err)
				}
				cred, err := db.Authenticate(ctx, w.tenant.ID, hash[:])
				if err != nil || cred.Member.ID != m.ID || cred.Member.VendorID != c.want ||
					!slices.Equal(cred.Member.Roles, []domain.Role{domain.RoleITADVendor}) {
					t.Errorf("Authenticate = %+v, %v; want member %s of vendor %q", cred, err, m.ID, c.want)
				}
			})
		}

		for _, c := range []struct{ name, vendorID string }{
			{"unknown vendor", newID()},
			{"malformed vendor id", "greencycle"},
			{"another tenant's vendor", foreign.ID},
		} {
			t.Run(c.name, func(t *testing.T) {
				m := &domain.Member{TenantID: w.tenant.ID, Name: "Tech", Kind: domain.MemberPerson,
					Roles: []domain.Role{domain.RoleITADVendor}, VendorID: c.vendorID}
				if err := db.CreateMember(ctx, m); !errors.Is(err, domain.ErrNotFound) {
					t.Fatalf("CreateMember = %v, want ErrNotFound", err)
				}
				_ = db.View(w.ctx, func(tx domain.Tx) error {
					if got, err := tx.GetMembers([]string{m.ID}); err != nil || len(got) != 0 {
						t.Errorf("refused member stored anyway: %+v, %v", got, err)
					}
					return nil
				})
			})
		}
	})
}

// TestVendorTenantIsolation: another tenant can neither see, change nor
// reference a tenant's vendors, through the adapter or (the composite
// foreign key) in plain SQL.
func TestVendorTenantIsolation(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		a := newWorld(t, db, "alpha")
		b := newWorld(t, db, "beta")
		v := a.createVendor(t, "GreenCycle ITAD")
		bv := b.createVendor(t, "Shred Co")

		_ = db.View(b.ctx, func(tx domain.Tx) error {
			if _, err := tx.GetVendor(v.ID); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("B GetVendor(A's) = %v, want ErrNotFound", err)
			}
			if got, err := tx.GetVendors([]string{v.ID}); err != nil || len(got) != 0 {
				t.Errorf("B GetVendors(A's) = %v, %v; want none", vendorIDs(got), err)
			}
			got, err := tx.ListVendors(domain.PageRequest{First: 10})
			if ids := vendorIDs(got); err != nil || !slices.Equal(ids, []string{bv.ID}) {
				t.Errorf("B ListVendors = %v, %v; want only B's", ids, err)
			}
			return nil
		})

		writes := map[string]func(tx domain.Tx) error{
			"UpdateVendor": func(tx domain.Tx) error {
				stolen := *v
				stolen.Name, stolen.Version = "stolen", v.Version+1
				return tx.UpdateVendor(&stolen)
			},
			"CreateVendor engaged by A's member": func(tx domain.Tx) error {
				other := b.newVendor("Other")
				other.EngagedByID = a.member.ID
				return tx.CreateVendor(other)
			},
		}
		for name, write := range writes {
			if err := db.Update(b.ctx, write); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("B %s = %v, want ErrNotFound", name, err)
			}
		}
		if err := db.CreateMember(context.Background(), &domain.Member{TenantID: b.tenant.ID, Name: "Tech",
			Kind: domain.MemberPerson, VendorID: v.ID}); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("CreateMember in B with A's vendor = %v, want ErrNotFound", err)
		}

		// The database's own wall: a member row of B naming A's vendor.
		ctx := context.Background()
		tx, err := storagetest.OwnerConn(t, cfg).BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		insert := "INSERT INTO members (tenant_id, id, name, kind, created_at, vendor_id) VALUES (?, ?, 'Tech', 'PERSON', ?, ?)"
		if cfg.DatabaseURL != "" {
			if _, err := tx.Exec("SELECT set_config('custody.tenant_id', $1, true)", b.tenant.ID); err != nil {
				t.Fatal(err)
			}
			insert = "INSERT INTO members (tenant_id, id, name, kind, created_at, vendor_id) VALUES ($1, $2, 'Tech', 'PERSON', $3, $4)"
		}
		_, err = tx.Exec(insert, b.tenant.ID, newID(), at.Format("2006-01-02T15:04:05.000000Z"), v.ID)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "foreign key") {
			t.Errorf("owner insert of B's member with A's vendor = %v, want a foreign key violation", err)
		}

		_ = db.View(a.ctx, func(tx domain.Tx) error {
			got, err := tx.GetVendor(v.ID)
			if err != nil || !reflect.DeepEqual(got, v) {
				t.Errorf("A's vendor = %+v, %v; want %+v", got, err, v)
			}
			return nil
		})
	})
}

// TestVendorMigration: migration 00005 keeps the members and tokens of a
// store created before it (on SQLite it rebuilds members), and its Down
// section restores the previous schema with them, after which Up works again.
func TestVendorMigration(t *testing.T) {
	for _, c := range []struct {
		name    string
		dialect goose.Dialect
		dir     string
		config  func(t *testing.T) storage.Config
	}{
		{"sqlite", goose.DialectSQLite3, "migrations/sqlite", func(t *testing.T) storage.Config {
			return storage.Config{SQLitePath: t.TempDir() + "/custody.db"}
		}},
		{"postgres", goose.DialectPostgres, "migrations/postgres", func(t *testing.T) storage.Config {
			// PostgresConfig migrates fully; step back below 00005 first.
			cfg := storagetest.PostgresConfig(t)
			p := vendorMigrationProvider(t, cfg, goose.DialectPostgres, "migrations/postgres")
			if _, err := p.DownTo(context.Background(), 4); err != nil {
				t.Fatalf("migrate down to 4: %v", err)
			}
			return cfg
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := c.config(t)
			p := vendorMigrationProvider(t, cfg, c.dialect, c.dir)
			if _, err := p.UpTo(ctx, 4); err != nil {
				t.Fatalf("migrate up to 4: %v", err)
			}
			if _, err := storage.Open(ctx, cfg); err == nil {
				t.Fatal("Open accepted a schema without vendors")
			}
			// A tenant, member, role and token written at version 4.
			owner := storagetest.OwnerConn(t, cfg)
			tenant, member, token := newID(), newID(), newID()
			hash := sha256.Sum256([]byte(token))
			ph := func(s string) string { return s }
			if c.dialect == goose.DialectPostgres {
				ph = sqlPlaceholders
			}
			stamp := at.Format("2006-01-02T15:04:05.000000Z")
			seed := []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO tenants (id, slug, name, created_at) VALUES (?, 'old', 'Old', ?)", []any{tenant, stamp}},
				{"INSERT INTO ledger_heads (tenant_id, size) VALUES (?, 0)", []any{tenant}},
				{"INSERT INTO members (tenant_id, id, name, kind, created_at) VALUES (?, ?, 'Ada', 'PERSON', ?)", []any{tenant, member, stamp}},
				{"INSERT INTO member_roles (tenant_id, member_id, role) VALUES (?, ?, 'admin')", []any{tenant, member}},
				{"INSERT INTO api_tokens (tenant_id, id, member_id, name, token_hash, created_at) VALUES (?, ?, ?, 'old', ?, ?)",
					[]any{tenant, token, member, hash[:], stamp}},
			}
			tx, err := owner.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.dialect == goose.DialectPostgres {
				if _, err := tx.Exec("SELECT set_config('custody.tenant_id', $1, true)", tenant); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range seed {
				if _, err := tx.Exec(ph(s.sql), s.args...); err != nil {
					_ = tx.Rollback()
					t.Fatalf("%s: %v", s.sql, err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}

			// authenticates checks the seeded token still resolves.
			authenticates := func(step string) {
				t.Helper()
				if _, err := storage.Migrate(ctx, cfg); err != nil {
					t.Fatalf("%s: migrate: %v", step, err)
				}
				db, err := storage.Open(ctx, cfg)
				if err != nil {
					t.Fatalf("%s: open: %v", step, err)
				}
				defer db.Close()
				cred, err := db.Authenticate(ctx, tenant, hash[:])
				if err != nil || cred.Member.ID != member || cred.Member.VendorID != "" ||
					!slices.Equal(cred.Member.Roles, []domain.Role{domain.RoleAdmin}) {
					t.Fatalf("%s: Authenticate = %+v, %v; want the seeded member", step, cred, err)
				}
			}
			authenticates("up")
			if c.dialect == goose.DialectSQLite3 {
				rows, err := owner.Query("PRAGMA foreign_key_check")
				if err != nil {
					t.Fatal(err)
				}
				if rows.Next() {
					t.Error("foreign_key_check reports violations after 00005")
				}
				_ = rows.Close()
			}
			if _, err := p.DownTo(ctx, 4); err != nil {
				t.Fatalf("migrate down to 4: %v", err)
			}
			var n int
			q := "SELECT count(*) FROM members WHERE id = ?"
			if c.dialect == goose.DialectPostgres {
				q = "SELECT count(*) FROM members WHERE id = $1" // FORCE RLS: the owner sees none unscoped
				tx, err := owner.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = tx.Exec("SELECT set_config('custody.tenant_id', $1, true)", tenant)
				err = tx.QueryRow(q, member).Scan(&n)
				_ = tx.Rollback()
				if err != nil || n != 1 {
					t.Fatalf("after Down, member rows = %d, %v; want 1", n, err)
				}
			} else if err := owner.QueryRow(q, member).Scan(&n); err != nil || n != 1 {
				t.Fatalf("after Down, member rows = %d, %v; want 1", n, err)
			}
			authenticates("up again")
		})
	}
}

// vendorMigrationProvider is a goose provider over the migration files of
// one dialect, on cfg's owner connection, for stepping through versions.
func vendorMigrationProvider(t *testing.T, cfg storage.Config, dialect goose.Dialect, dir string) *goose.Provider {
	t.Helper()
	var (
		db  *sql.DB
		err error
	)
	if dialect == goose.DialectSQLite3 {
		db, err = sql.Open("sqlite", cfg.SQLitePath+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
		if err == nil {
			db.SetMaxOpenConns(1) // the PRAGMAs of 00004 and 00005 hold per connection
		}
	} else {
		db, err = sql.Open("pgx", cfg.MigrationURL)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	p, err := goose.NewProvider(dialect, db, os.DirFS(dir), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sqlPlaceholders numbers the ? placeholders of s for Postgres ($1, $2, ...).
func sqlPlaceholders(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
