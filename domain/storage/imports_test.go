package storage_test

import (
	"slices"
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// FindPeople: the one-statement lookup of an import batch.
func TestFindPeople(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme") // Ada: E-1, ada@example.com
		bob := &domain.Person{ID: newID(), EmployeeID: "E-2", Name: "Bob", Email: "Bob.Smith@Example.com",
			Status: domain.PersonActive, Version: 1, CreatedAt: at, UpdatedAt: at}
		w.update(t, func(tx domain.Tx) error { return tx.CreatePerson(bob) })
		// Another tenant's people share Ada's employee id and email: they
		// must never be found.
		newWorld(t, db, "globex")

		tests := []struct {
			name   string
			ids    []string
			emails []string
			want   []string // employee ids found
		}{
			{"nothing asked", nil, nil, nil},
			{"empty strings match nothing", []string{""}, []string{""}, nil},
			{"by employee id", []string{"E-1"}, nil, []string{"E-1"}},
			{"employee ids match exactly", []string{"e-1"}, nil, nil},
			{"by email, ignoring case", nil, []string{"bob.smith@example.COM"}, []string{"E-2"}},
			{"by both at once", []string{"E-1"}, []string{"BOB.SMITH@EXAMPLE.COM"}, []string{"E-1", "E-2"}},
			{"one person named twice is found once", []string{"E-2"}, []string{"bob.smith@example.com"}, []string{"E-2"}},
			{"unknown ones are absent", []string{"E-9", "E-1"}, []string{"nobody@example.com"}, []string{"E-1"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got []string
				err := db.View(w.ctx, func(tx domain.Tx) error {
					people, err := tx.FindPeople(tt.ids, tt.emails)
					for _, p := range people {
						if p.TenantID != w.tenant.ID {
							t.Errorf("person %s of tenant %s found in %s", p.ID, p.TenantID, w.tenant.ID)
						}
						got = append(got, p.EmployeeID)
					}
					return err
				})
				if err != nil {
					t.Fatalf("FindPeople: %v", err)
				}
				slices.Sort(got)
				if !slices.Equal(got, tt.want) {
					t.Fatalf("FindPeople(%q, %q) = %q; want %q", tt.ids, tt.emails, got, tt.want)
				}
			})
		}

		t.Run("one statement for a batch", func(t *testing.T) {
			cdb, mark := counted(t, cfg)
			ids, emails := make([]string, 500), make([]string, 500)
			for i := range ids {
				ids[i], emails[i] = "E-"+newID(), newID()+"@example.com"
			}
			ids[7], emails[9] = "E-1", "BOB.SMITH@example.com"
			ctx, n := mark(w.ctx)
			var found []*domain.Person
			err := cdb.View(ctx, func(tx domain.Tx) error {
				n.Store(0) // the tenant's set_config, not the lookup's
				var err error
				found, err = tx.FindPeople(ids, emails)
				return err
			})
			if err != nil {
				t.Fatalf("FindPeople: %v", err)
			}
			if len(found) != 2 || n.Load() != 1 {
				t.Fatalf("found %d people in %d statements; want 2 in 1", len(found), n.Load())
			}
		})
	})
}
