package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// The off-boarding part of the repository contract: cases, case items and
// returns, on both stores.

// The default dates of a test case.
var (
	lastDay = time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC)
	dueDate = time.Date(2025, 4, 7, 0, 0, 0, 0, time.UTC)
)

// patience turns a hang into a failure; nothing waits for it to pass.
const patience = 30 * time.Second

// newCase returns an unsaved open case of personID.
func (w *world) newCase(personID string) *domain.OffboardingCase {
	return &domain.OffboardingCase{ID: newID(), PersonID: personID, LastDay: lastDay, DueDate: dueDate,
		Note: "leaving", State: domain.CaseOpen, OpenedByID: w.member.ID, OpenedAt: at, Version: 1}
}

// createCase saves an open case of personID due on due.
func (w *world) createCase(t testing.TB, personID string, due time.Time) *domain.OffboardingCase {
	t.Helper()
	c := w.newCase(personID)
	c.LastDay, c.DueDate = due, due
	w.update(t, func(tx domain.Tx) error { return tx.CreateCase(c) })
	return c
}

// completeCase stores c as completed.
func (w *world) completeCase(t testing.TB, c *domain.OffboardingCase) {
	t.Helper()
	done := at.Add(time.Hour)
	c.State, c.CompletedAt, c.Version = domain.CaseCompleted, &done, c.Version+1
	w.update(t, func(tx domain.Tx) error { return tx.UpdateCase(c) })
}

// createPerson saves another person of w, with this id when id is not empty.
func (w *world) createPerson(t testing.TB, id string) *domain.Person {
	t.Helper()
	if id == "" {
		id = newID()
	}
	p := &domain.Person{ID: id, EmployeeID: "E-" + id, Name: "Person " + id[:8], Email: id + "@example.com",
		Status: domain.PersonActive, Version: 1, CreatedAt: at, UpdatedAt: at}
	w.update(t, func(tx domain.Tx) error { return tx.CreatePerson(p) })
	return p
}

// newReturn returns an unsaved return of a (with a fresh event of it),
// counted toward c, or unmatched when c is nil.
func (w *world) newReturn(t testing.TB, a *domain.Asset, c *domain.OffboardingCase) *domain.Return {
	t.Helper()
	ev := w.appendEvents(t, a, 1)[0]
	r := &domain.Return{ID: newID(), AssetID: a.ID, EventID: ev.ID, FromPersonID: w.person.ID,
		ReceivedByID: w.member.ID, Location: "Dock A", Condition: domain.ConditionGood, RecordedAt: at, Unmatched: true}
	if c != nil {
		r.CaseID, r.Unmatched = c.ID, false
	}
	return r
}

// createReturn saves newReturn(a, c).
func (w *world) createReturn(t testing.TB, a *domain.Asset, c *domain.OffboardingCase) *domain.Return {
	t.Helper()
	r := w.newReturn(t, a, c)
	w.update(t, func(tx domain.Tx) error { return tx.CreateReturn(r) })
	return r
}

// offboarding gives w an open case of its person with one outstanding and
// one returned item, and that return.
func (w *world) offboarding(t testing.TB, serial string) (*domain.OffboardingCase, *domain.Return) {
	t.Helper()
	c := w.createCase(t, w.person.ID, dueDate)
	kept, back := w.createAsset(t, serial+"-1", ""), w.createAsset(t, serial+"-2", "")
	r := w.createReturn(t, back, c)
	w.update(t, func(tx domain.Tx) error {
		if err := tx.PutCaseItem(&domain.CaseItem{CaseID: c.ID, AssetID: kept.ID, Expected: true,
			Status: domain.ItemOutstanding, AddedAt: at}); err != nil {
			return err
		}
		return tx.PutCaseItem(returnedItem(c, r, w.member.ID))
	})
	return c, r
}

// returnedItem is r's item of c, resolved by member.
func returnedItem(c *domain.OffboardingCase, r *domain.Return, member string) *domain.CaseItem {
	resolved := r.RecordedAt
	return &domain.CaseItem{CaseID: c.ID, AssetID: r.AssetID, Expected: true, Status: domain.ItemReturned,
		AddedAt: at, ReturnID: r.ID, EventID: r.EventID, ResolvedAt: &resolved, ResolvedByID: member}
}

func caseIDs(cs []*domain.OffboardingCase) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func returnIDs(rs []*domain.Return) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestContractCases(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		// Dates keep their own calendar day, stored at midnight UTC.
		c := w.newCase(w.person.ID)
		c.TenantID = "ignored"
		c.LastDay = time.Date(2025, 3, 31, 22, 30, 0, 0, time.FixedZone("PST", -8*3600))
		c.DueDate = time.Date(2025, 4, 7, 0, 30, 0, 0, time.FixedZone("CEST", 2*3600))
		w.update(t, func(tx domain.Tx) error { return tx.CreateCase(c) })
		if c.TenantID != w.tenant.ID || !c.LastDay.Equal(lastDay) || !c.DueDate.Equal(dueDate) {
			t.Fatalf("CreateCase left %s, %v, %v; want the tenant, %v, %v", c.TenantID, c.LastDay, c.DueDate, lastDay, dueDate)
		}

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetCase(strings.ToUpper(c.ID))
			if err != nil || !reflect.DeepEqual(got, c) {
				t.Errorf("GetCase = %+v, %v; want %+v", got, err, c)
			}
			for _, id := range []string{newID(), "not-a-uuid", ""} {
				if _, err := tx.GetCase(id); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("GetCase(%q) = %v, want ErrNotFound", id, err)
				}
			}
			return nil
		})

		// Refused creations, for a person without a case unless the point is
		// that the person has one (Postgres checks the unique index before
		// the foreign keys).
		fresh := w.createPerson(t, "")
		for _, r := range []struct {
			name string
			edit func(c *domain.OffboardingCase)
			want func(error) bool
		}{
			{"second open case", func(c *domain.OffboardingCase) { c.PersonID = w.person.ID },
				func(err error) bool { return isDuplicate(err, "person") && errors.Is(err, domain.ErrDuplicate) }},
			{"unknown person", func(c *domain.OffboardingCase) { c.PersonID = newID() }, isNotFound},
			{"malformed person", func(c *domain.OffboardingCase) { c.PersonID = "ada" }, isNotFound},
			{"unknown opener", func(c *domain.OffboardingCase) { c.OpenedByID = newID() }, isNotFound},
			{"no opener", func(c *domain.OffboardingCase) { c.OpenedByID = "" }, isNotFound},
			{"due before last day", func(c *domain.OffboardingCase) { c.DueDate = lastDay.AddDate(0, 0, -1) }, isFault},
			{"unknown state", func(c *domain.OffboardingCase) { c.State = "PAUSED" }, isFault},
			{"completed without a time", func(c *domain.OffboardingCase) { c.State = domain.CaseCompleted }, isFault},
		} {
			t.Run(r.name, func(t *testing.T) {
				other := w.newCase(fresh.ID)
				r.edit(other)
				if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreateCase(other) }); !r.want(err) {
					t.Errorf("CreateCase = %v", err)
				}
			})
		}

		// Optimistic update: v1 -> v2 succeeds, a second writer still at v1 loses.
		upd := *c
		upd.Note, upd.DueDate, upd.Version = "extended", dueDate.AddDate(0, 0, 7), 2
		w.update(t, func(tx domain.Tx) error { return tx.UpdateCase(&upd) })
		stale := *c
		stale.Note, stale.Version = "stale", 2
		if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.UpdateCase(&stale) }); !errors.Is(err, domain.ErrConcurrentModification) {
			t.Errorf("stale UpdateCase = %v, want ErrConcurrentModification", err)
		}
		for _, id := range []string{newID(), "junk"} {
			missing := upd
			missing.ID, missing.Version = id, 3
			if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.UpdateCase(&missing) }); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("UpdateCase(%q) = %v, want ErrNotFound", id, err)
			}
		}

		// Completing the case frees the person for a new one.
		w.completeCase(t, &upd)
		again := w.createCase(t, w.person.ID, dueDate)

		// Another tenant's person may even share the id: the rule is per tenant.
		b := newWorld(t, db, "beta")
		twin := b.createPerson(t, w.person.ID)
		b.createCase(t, twin.ID, dueDate)

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetCase(c.ID)
			if err != nil || !reflect.DeepEqual(got, &upd) {
				t.Errorf("GetCase after completion = %+v, %v; want %+v", got, err, &upd)
			}
			batch, err := tx.GetCases([]string{again.ID, c.ID, newID(), "junk", strings.ToUpper(c.ID)})
			if ids := caseIDs(batch); err != nil || !slices.Equal(ids, []string{c.ID, again.ID}) {
				t.Errorf("GetCases = %v, %v; want %v", ids, err, []string{c.ID, again.ID})
			}
			if batch, err := tx.GetCases([]string{"junk"}); err != nil || len(batch) != 0 {
				t.Errorf("GetCases(junk) = %v, %v; want none", batch, err)
			}
			return nil
		})
	})
}

func isNotFound(err error) bool { return errors.Is(err, domain.ErrNotFound) }

// isFault: refused, but neither as a duplicate nor as a missing record
// (a CHECK constraint: the domain should never have sent it).
func isFault(err error) bool {
	return err != nil && !errors.Is(err, domain.ErrDuplicate) && !errors.Is(err, domain.ErrNotFound)
}

func TestContractCaseLocks(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		done := w.createCase(t, w.person.ID, dueDate)
		w.completeCase(t, done)
		open := w.createCase(t, w.person.ID, dueDate)
		idle := w.createPerson(t, "")
		w.update(t, func(tx domain.Tx) error {
			for _, l := range []struct {
				name string
				lock func() (*domain.OffboardingCase, error)
				want *domain.OffboardingCase
			}{
				{"LockCase open", func() (*domain.OffboardingCase, error) { return tx.LockCase(open.ID) }, open},
				{"LockCase completed", func() (*domain.OffboardingCase, error) { return tx.LockCase(strings.ToUpper(done.ID)) }, done},
				{"LockCase unknown", func() (*domain.OffboardingCase, error) { return tx.LockCase(newID()) }, nil},
				{"LockCase malformed", func() (*domain.OffboardingCase, error) { return tx.LockCase("case-1") }, nil},
				{"LockOpenCaseOf", func() (*domain.OffboardingCase, error) { return tx.LockOpenCaseOf(w.person.ID) }, open},
				{"LockOpenCaseOf upper case", func() (*domain.OffboardingCase, error) { return tx.LockOpenCaseOf(strings.ToUpper(w.person.ID)) }, open},
				{"LockOpenCaseOf without one", func() (*domain.OffboardingCase, error) { return tx.LockOpenCaseOf(idle.ID) }, nil},
				{"LockOpenCaseOf malformed", func() (*domain.OffboardingCase, error) { return tx.LockOpenCaseOf("ada") }, nil},
			} {
				got, err := l.lock()
				switch {
				case l.want == nil && !errors.Is(err, domain.ErrNotFound):
					t.Errorf("%s = %+v, %v; want ErrNotFound", l.name, got, err)
				case l.want != nil && (err != nil || !reflect.DeepEqual(got, l.want)):
					t.Errorf("%s = %+v, %v; want %+v", l.name, got, err, l.want)
				}
			}
			return nil
		})
	})
}

// TestCaseLocksSerialise: a transaction that locks a case waits for the one
// holding its lock, then sees what that one committed. On Postgres that is
// SELECT ... FOR UPDATE (the test checks the second one really waits on a
// lock); on SQLite, write transactions run one at a time anyway.
func TestCaseLocksSerialise(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		for _, s := range []struct {
			name string
			// first changes the case it holds locked.
			first func(tx domain.Tx, c *domain.OffboardingCase) error
			// second locks the case; check judges what it got.
			second func(tx domain.Tx, c *domain.OffboardingCase) (*domain.OffboardingCase, error)
			check  func(t *testing.T, got *domain.OffboardingCase, err error)
		}{
			{
				name: "LockCase sees the committed change",
				first: func(tx domain.Tx, c *domain.OffboardingCase) error {
					c.Note, c.Version = "changed under lock", c.Version+1
					return tx.UpdateCase(c)
				},
				second: func(tx domain.Tx, c *domain.OffboardingCase) (*domain.OffboardingCase, error) {
					return tx.LockCase(c.ID)
				},
				check: func(t *testing.T, got *domain.OffboardingCase, err error) {
					if err != nil || got.Version != 2 || got.Note != "changed under lock" {
						t.Errorf("second LockCase = %+v, %v; want version 2 as the first committed it", got, err)
					}
				},
			},
			{
				name: "LockOpenCaseOf misses the case completed meanwhile",
				first: func(tx domain.Tx, c *domain.OffboardingCase) error {
					completed := at.Add(time.Hour)
					c.State, c.CompletedAt, c.Version = domain.CaseCompleted, &completed, c.Version+1
					return tx.UpdateCase(c)
				},
				second: func(tx domain.Tx, c *domain.OffboardingCase) (*domain.OffboardingCase, error) {
					return tx.LockOpenCaseOf(c.PersonID)
				},
				check: func(t *testing.T, got *domain.OffboardingCase, err error) {
					if !errors.Is(err, domain.ErrNotFound) {
						t.Errorf("second LockOpenCaseOf = %+v, %v; want ErrNotFound (the case is completed now)", got, err)
					}
				},
			},
		} {
			t.Run(s.name, func(t *testing.T) {
				c := w.createCase(t, w.createPerson(t, "").ID, dueDate)
				locked, release := make(chan struct{}), make(chan struct{})
				firstDone := make(chan error, 1)
				go func() {
					firstDone <- db.Update(w.ctx, func(tx domain.Tx) error {
						held, err := tx.LockOpenCaseOf(c.PersonID)
						close(locked)
						if err != nil {
							return err
						}
						<-release
						return s.first(tx, held)
					})
				}()
				await(t, locked, "the first transaction's lock")
				type result struct {
					c   *domain.OffboardingCase
					err error
				}
				secondDone := make(chan result, 1)
				go func() {
					var r result
					err := db.Update(w.ctx, func(tx domain.Tx) error {
						r.c, r.err = s.second(tx, c)
						return nil
					})
					if r.err == nil {
						r.err = err
					}
					secondDone <- r
				}()
				if cfg.DatabaseURL != "" {
					waitForLockWaiter(t, cfg)
				}
				close(release)
				select {
				case err := <-firstDone:
					if err != nil {
						t.Fatalf("first transaction: %v", err)
					}
				case <-time.After(patience):
					t.Fatal("the first transaction hangs")
				}
				select {
				case r := <-secondDone:
					s.check(t, r.c, r.err)
				case <-time.After(patience):
					t.Fatal("the second transaction hangs")
				}
			})
		}
	})
}

// await waits for ch to close, failing the test after patience.
func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(patience):
		t.Fatalf("gave up waiting for %s", what)
	}
}

// waitForLockWaiter returns once a session of cfg's database waits on a row
// lock taken by SELECT ... FOR UPDATE, failing the test after patience.
func waitForLockWaiter(t *testing.T, cfg storage.Config) {
	t.Helper()
	owner := storagetest.OwnerConn(t, cfg)
	deadline := time.Now().Add(patience)
	for {
		var n int
		err := owner.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'`).Scan(&n)
		if err != nil {
			t.Fatalf("probe lock waits: %v", err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the second transaction never waited for the case's row lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestContractListCases(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		p2, p3 := w.createPerson(t, ""), w.createPerson(t, "")
		apr := func(day int) time.Time { return time.Date(2025, 4, day, 0, 0, 0, 0, time.UTC) }
		c1 := w.createCase(t, w.person.ID, apr(7))
		w.completeCase(t, c1)
		c2 := w.createCase(t, w.person.ID, apr(1))
		c3 := w.createCase(t, p2.ID, apr(10))
		c4 := w.createCase(t, p3.ID, apr(1).AddDate(0, 0, -1))
		all := []string{c1.ID, c2.ID, c3.ID, c4.ID}
		cutoff, lateInTheDay := apr(7), time.Date(2025, 4, 7, 23, 0, 0, 0, time.FixedZone("+05", 5*3600))
		first := apr(1)
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			for _, l := range []struct {
				name string
				f    domain.CaseFilter
				page domain.PageRequest
				want []string
			}{
				{"all", domain.CaseFilter{}, domain.PageRequest{First: 10}, all},
				{"first 2", domain.CaseFilter{}, domain.PageRequest{First: 2}, all[:2]},
				{"after the second", domain.CaseFilter{}, domain.PageRequest{First: 2, After: c2.ID}, all[2:]},
				{"after the last", domain.CaseFilter{}, domain.PageRequest{First: 2, After: c4.ID}, nil},
				{"first 0", domain.CaseFilter{}, domain.PageRequest{First: 0}, nil},
				{"open", domain.CaseFilter{State: domain.CaseOpen}, domain.PageRequest{First: 10}, all[1:]},
				{"open, paged", domain.CaseFilter{State: domain.CaseOpen}, domain.PageRequest{First: 1, After: c2.ID}, all[2:3]},
				{"completed", domain.CaseFilter{State: domain.CaseCompleted}, domain.PageRequest{First: 10}, all[:1]},
				{"person", domain.CaseFilter{PersonID: w.person.ID}, domain.PageRequest{First: 10}, all[:2]},
				{"person, upper case", domain.CaseFilter{PersonID: strings.ToUpper(p2.ID)}, domain.PageRequest{First: 10}, all[2:3]},
				{"person and state", domain.CaseFilter{PersonID: w.person.ID, State: domain.CaseOpen}, domain.PageRequest{First: 10}, all[1:2]},
				{"unknown person", domain.CaseFilter{PersonID: newID()}, domain.PageRequest{First: 10}, nil},
				{"malformed person", domain.CaseFilter{PersonID: "ada"}, domain.PageRequest{First: 10}, nil},
				{"overdue", domain.CaseFilter{State: domain.CaseOpen, DueBefore: &cutoff}, domain.PageRequest{First: 10}, []string{c2.ID, c4.ID}},
				{"overdue, the date counts", domain.CaseFilter{State: domain.CaseOpen, DueBefore: &lateInTheDay}, domain.PageRequest{First: 10}, []string{c2.ID, c4.ID}},
				{"due strictly before", domain.CaseFilter{DueBefore: &first}, domain.PageRequest{First: 10}, []string{c4.ID}},
				{"overdue, paged", domain.CaseFilter{State: domain.CaseOpen, DueBefore: &cutoff}, domain.PageRequest{First: 1, After: c2.ID}, []string{c4.ID}},
			} {
				got, err := tx.ListCases(l.f, l.page)
				if ids := caseIDs(got); err != nil || !slices.Equal(ids, l.want) {
					t.Errorf("ListCases %s = %v, %v; want %v", l.name, ids, err, l.want)
				}
			}
			var arg *domain.ArgumentError
			if _, err := tx.ListCases(domain.CaseFilter{}, domain.PageRequest{First: 1, After: "garbage"}); !errors.As(err, &arg) {
				t.Errorf("ListCases(bad cursor) = %v, want ArgumentError", err)
			}
			got, err := tx.ListCases(domain.CaseFilter{State: domain.CaseCompleted}, domain.PageRequest{First: 1})
			if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], c1) {
				t.Errorf("ListCases completed = %+v, %v; want %+v", got, err, c1)
			}
			return nil
		})
	})
}

func TestContractCaseItems(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		cA := w.createCase(t, w.person.ID, dueDate)
		cB := w.createCase(t, w.createPerson(t, "").ID, dueDate)
		a1, a2, a3 := w.createAsset(t, "SN-1", ""), w.createAsset(t, "SN-2", ""), w.createAsset(t, "SN-3", "")
		item := func(c *domain.OffboardingCase, a *domain.Asset, added time.Time) *domain.CaseItem {
			return &domain.CaseItem{CaseID: c.ID, AssetID: a.ID, Expected: true, Status: domain.ItemOutstanding, AddedAt: added}
		}
		// Inserted out of order: cA has a1 added last, a2 and a3 together.
		put := []*domain.CaseItem{item(cB, a1, at), item(cA, a3, at.Add(time.Hour)), item(cA, a1, at.Add(2*time.Hour)),
			item(cA, a2, at.Add(time.Hour))}
		put[0].TenantID = "ignored"
		w.update(t, func(tx domain.Tx) error {
			for _, it := range put {
				if err := tx.PutCaseItem(it); err != nil {
					return err
				}
			}
			return nil
		})
		if put[0].TenantID != w.tenant.ID {
			t.Errorf("PutCaseItem left TenantID %q, want the transaction's", put[0].TenantID)
		}
		list := func(ids ...string) []*domain.CaseItem {
			t.Helper()
			var out []*domain.CaseItem
			err := db.View(w.ctx, func(tx domain.Tx) error {
				var err error
				out, err = tx.ListCaseItems(ids)
				return err
			})
			if err != nil {
				t.Fatalf("ListCaseItems: %v", err)
			}
			return out
		}
		got := list(cB.ID, "junk", strings.ToUpper(cA.ID), newID(), cA.ID)
		want := []*domain.CaseItem{put[3], put[1], put[2], put[0]} // case id, then added at, then asset id
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ListCaseItems = %+v\nwant %+v", got, want)
		}
		if got := list(); len(got) != 0 {
			t.Errorf("ListCaseItems() = %+v, want none", got)
		}

		// Replace: a2 comes back, then (say, handed over again) is outstanding anew.
		r := w.createReturn(t, a2, cA)
		returned := returnedItem(cA, r, strings.ToUpper(w.member.ID))
		returned.AddedAt = put[3].AddedAt
		w.update(t, func(tx domain.Tx) error { return tx.PutCaseItem(returned) })
		if returned.ResolvedByID != w.member.ID {
			t.Errorf("PutCaseItem left ResolvedByID %q, want the stored form %q", returned.ResolvedByID, w.member.ID)
		}
		reason := "left in a taxi"
		lost := &domain.CaseItem{CaseID: cA.ID, AssetID: a1.ID, Expected: false, Status: domain.ItemWrittenOff,
			AddedAt: put[2].AddedAt, WriteOff: domain.WriteOffLost, WriteOffReason: reason, ApprovedBy: "CFO",
			EventID: w.appendEvents(t, a1, 1)[0].ID, ResolvedAt: returned.ResolvedAt, ResolvedByID: w.member.ID}
		w.update(t, func(tx domain.Tx) error { return tx.PutCaseItem(lost) })
		got = list(cA.ID)
		if want := []*domain.CaseItem{returned, put[1], lost}; !reflect.DeepEqual(got, want) {
			t.Errorf("after replacing, ListCaseItems = %+v\nwant %+v", got, want)
		}
		again := item(cA, a2, at.Add(3*time.Hour))
		w.update(t, func(tx domain.Tx) error { return tx.PutCaseItem(again) })
		got = list(cA.ID)
		if want := []*domain.CaseItem{put[1], lost, again}; !reflect.DeepEqual(got, want) {
			t.Errorf("after replacing back, ListCaseItems = %+v\nwant %+v (no return, no resolution left)", got, want)
		}

		otherReturn := w.createReturn(t, a1, cB)
		for _, r := range []struct {
			name string
			it   *domain.CaseItem
			want func(error) bool
		}{
			{"unknown case", item(&domain.OffboardingCase{ID: newID()}, a1, at), isNotFound},
			{"malformed case", item(&domain.OffboardingCase{ID: "case"}, a1, at), isNotFound},
			{"no case", item(&domain.OffboardingCase{}, a1, at), isNotFound},
			{"unknown asset", item(cA, &domain.Asset{ID: newID()}, at), isNotFound},
			{"malformed asset", item(cA, &domain.Asset{ID: "SN-1"}, at), isNotFound},
			{"return of another case", returnedItem(cA, otherReturn, w.member.ID), isNotFound},
			{"unknown return", func() *domain.CaseItem { it := returnedItem(cA, r, w.member.ID); it.ReturnID = newID(); return it }(), isNotFound},
			{"malformed event", func() *domain.CaseItem { it := returnedItem(cA, r, w.member.ID); it.EventID = "e1"; return it }(), isNotFound},
			{"unknown resolver", func() *domain.CaseItem { it := returnedItem(cA, r, w.member.ID); it.ResolvedByID = newID(); return it }(), isNotFound},
			{"returned without a return", func() *domain.CaseItem { it := returnedItem(cA, r, w.member.ID); it.ReturnID = ""; return it }(), isFault},
			{"written off without a kind", func() *domain.CaseItem {
				it := returnedItem(cA, r, w.member.ID)
				it.Status = domain.ItemWrittenOff
				return it
			}(), isFault},
			{"unknown write-off kind", func() *domain.CaseItem { it := *lost; it.WriteOff = "SOLD"; return &it }(), isFault},
			{"unknown status", func() *domain.CaseItem { it := item(cA, a3, at); it.Status = "MISSING"; return it }(), isFault},
			{"outstanding but resolved", func() *domain.CaseItem { it := item(cA, a3, at); it.ResolvedAt = &at; return it }(), isFault},
		} {
			if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.PutCaseItem(r.it) }); !r.want(err) {
				t.Errorf("PutCaseItem %s = %v", r.name, err)
			}
		}
		if got := list(cA.ID, cB.ID); len(got) != 4 {
			t.Errorf("after refused puts, %d items; want the 4 stored", len(got))
		}
	})
}

func TestContractReturns(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		cA := w.createCase(t, w.person.ID, dueDate)
		cB := w.createCase(t, w.createPerson(t, "").ID, dueDate)
		a1, a2, a3 := w.createAsset(t, "SN-1", ""), w.createAsset(t, "SN-2", ""), w.createAsset(t, "SN-3", "")
		sig := &domain.Signature{ID: newID(), SignerID: w.person.ID, TypedName: "Ada", ImageType: domain.ImagePNG,
			Image: []byte{1}, Method: domain.SignatureStylusPad, SignedAt: at, CapturedByID: w.member.ID}
		w.update(t, func(tx domain.Tx) error { return tx.CreateSignature(sig) })

		r1 := w.createReturn(t, a2, cA)
		r2 := w.createReturn(t, a1, cB)
		r3 := w.newReturn(t, a1, nil)
		dt := at.Add(-time.Minute)
		r3.TenantID, r3.SignatureID, r3.ParcelID, r3.DeviceTime = "ignored", sig.ID, strings.ToUpper(w.parcel.ID), &dt
		r3.Condition, r3.Note, r3.Location = domain.ConditionDamaged, "cracked screen", "Front desk"
		w.update(t, func(tx domain.Tx) error { return tx.CreateReturn(r3) })
		if r3.TenantID != w.tenant.ID || r3.ParcelID != w.parcel.ID {
			t.Errorf("CreateReturn left %q, parcel %q; want the tenant and the stored parcel id", r3.TenantID, r3.ParcelID)
		}
		r4 := w.createReturn(t, a3, nil)
		all := []string{r1.ID, r2.ID, r3.ID, r4.ID}

		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.GetReturns([]string{r3.ID, "junk", newID(), strings.ToUpper(r1.ID), r3.ID})
			if err != nil || len(got) != 2 || !reflect.DeepEqual(got[1], r3) || !reflect.DeepEqual(got[0], r1) {
				t.Errorf("GetReturns = %+v, %v; want %+v and %+v", got, err, r1, r3)
			}
			if got, err := tx.GetReturns(nil); err != nil || len(got) != 0 {
				t.Errorf("GetReturns(nil) = %v, %v; want none", got, err)
			}
			for _, l := range []struct {
				name string
				f    domain.ReturnFilter
				page domain.PageRequest
				want []string
			}{
				{"all", domain.ReturnFilter{}, domain.PageRequest{First: 10}, all},
				{"first 2", domain.ReturnFilter{}, domain.PageRequest{First: 2}, all[:2]},
				{"after the first", domain.ReturnFilter{}, domain.PageRequest{First: 2, After: r1.ID}, all[1:3]},
				{"after the last", domain.ReturnFilter{}, domain.PageRequest{First: 2, After: r4.ID}, nil},
				{"first -1", domain.ReturnFilter{}, domain.PageRequest{First: -1}, nil},
				{"case", domain.ReturnFilter{CaseID: cA.ID}, domain.PageRequest{First: 10}, all[:1]},
				{"case, upper case", domain.ReturnFilter{CaseID: strings.ToUpper(cB.ID)}, domain.PageRequest{First: 10}, all[1:2]},
				{"unknown case", domain.ReturnFilter{CaseID: newID()}, domain.PageRequest{First: 10}, nil},
				{"malformed case", domain.ReturnFilter{CaseID: "c"}, domain.PageRequest{First: 10}, nil},
				{"asset", domain.ReturnFilter{AssetID: a1.ID}, domain.PageRequest{First: 10}, all[1:3]},
				{"asset, paged", domain.ReturnFilter{AssetID: a1.ID}, domain.PageRequest{First: 10, After: r2.ID}, all[2:3]},
				{"malformed asset", domain.ReturnFilter{AssetID: "SN-1"}, domain.PageRequest{First: 10}, nil},
				{"unmatched", domain.ReturnFilter{UnmatchedOnly: true}, domain.PageRequest{First: 10}, all[2:]},
				{"unmatched, paged", domain.ReturnFilter{UnmatchedOnly: true}, domain.PageRequest{First: 1, After: r3.ID}, all[3:]},
				{"unmatched of an asset", domain.ReturnFilter{UnmatchedOnly: true, AssetID: a1.ID}, domain.PageRequest{First: 10}, all[2:3]},
				{"unmatched of a case", domain.ReturnFilter{UnmatchedOnly: true, CaseID: cA.ID}, domain.PageRequest{First: 10}, nil},
				{"case and asset", domain.ReturnFilter{CaseID: cB.ID, AssetID: a1.ID}, domain.PageRequest{First: 10}, all[1:2]},
			} {
				got, err := tx.ListReturns(l.f, l.page)
				if ids := returnIDs(got); err != nil || !slices.Equal(ids, l.want) {
					t.Errorf("ListReturns %s = %v, %v; want %v", l.name, ids, err, l.want)
				}
			}
			var arg *domain.ArgumentError
			if _, err := tx.ListReturns(domain.ReturnFilter{}, domain.PageRequest{First: 1, After: "x"}); !errors.As(err, &arg) {
				t.Errorf("ListReturns(bad cursor) = %v, want ArgumentError", err)
			}
			return nil
		})

		for _, r := range []struct {
			name string
			edit func(r *domain.Return)
			want func(error) bool
		}{
			{"unknown asset", func(r *domain.Return) { r.AssetID = newID() }, isNotFound},
			{"malformed asset", func(r *domain.Return) { r.AssetID = "SN-1" }, isNotFound},
			{"no event", func(r *domain.Return) { r.EventID = "" }, isNotFound},
			{"unknown event", func(r *domain.Return) { r.EventID = newID() }, isNotFound},
			{"unknown person", func(r *domain.Return) { r.FromPersonID = newID() }, isNotFound},
			{"malformed receiver", func(r *domain.Return) { r.ReceivedByID = "clerk" }, isNotFound},
			{"unknown signature", func(r *domain.Return) { r.SignatureID = newID() }, isNotFound},
			{"unknown parcel", func(r *domain.Return) { r.ParcelID = newID() }, isNotFound},
			{"unknown case", func(r *domain.Return) { r.CaseID, r.Unmatched = newID(), false }, isNotFound},
			{"malformed id", func(r *domain.Return) { r.ID = "return-1" }, isFault},
			{"same id", func(r *domain.Return) { r.ID = r1.ID }, func(err error) bool { return isDuplicate(err, "id") }},
			{"unmatched with a case", func(r *domain.Return) { r.CaseID = cA.ID }, isFault},
			{"matched without a case", func(r *domain.Return) { r.Unmatched = false }, isFault},
			{"unknown condition", func(r *domain.Return) { r.Condition = "MINT" }, isFault},
		} {
			t.Run(r.name, func(t *testing.T) {
				ret := w.newReturn(t, a3, nil)
				r.edit(ret)
				if err := db.Update(w.ctx, func(tx domain.Tx) error { return tx.CreateReturn(ret) }); !r.want(err) {
					t.Errorf("CreateReturn = %v", err)
				}
			})
		}
		_ = db.View(w.ctx, func(tx domain.Tx) error {
			got, err := tx.ListReturns(domain.ReturnFilter{}, domain.PageRequest{First: 100})
			if ids := returnIDs(got); err != nil || !slices.Equal(ids, all) {
				t.Errorf("after refused creations, ListReturns = %v, %v; want %v", ids, err, all)
			}
			return nil
		})
	})
}

// TestCaseTenantIsolation: another tenant can neither see, lock, change
// nor reference a tenant's cases, items and returns, through any method.
func TestCaseTenantIsolation(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		a := newWorld(t, db, "alpha")
		b := newWorld(t, db, "beta")
		c, r := a.offboarding(t, "SN-A")
		// B holds records of its own with the same shape (so every list has
		// something to leak into) and a person sharing A's person's id.
		bCase, bReturn := b.offboarding(t, "SN-B")
		twin := b.createPerson(t, a.person.ID)
		aOnly := a.createPerson(t, "")

		err := db.Update(b.ctx, func(tx domain.Tx) error {
			notFound := map[string]func() error{
				"GetCase":        func() error { _, err := tx.GetCase(c.ID); return err },
				"LockCase":       func() error { _, err := tx.LockCase(c.ID); return err },
				"LockOpenCaseOf": func() error { _, err := tx.LockOpenCaseOf(twin.ID); return err },
			}
			for name, get := range notFound {
				if err := get(); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("B %s(A's) = %v, want ErrNotFound", name, err)
				}
			}
			empty := map[string]func() (int, error){
				"GetCases":      func() (int, error) { got, err := tx.GetCases([]string{c.ID}); return len(got), err },
				"ListCaseItems": func() (int, error) { got, err := tx.ListCaseItems([]string{c.ID}); return len(got), err },
				"GetReturns":    func() (int, error) { got, err := tx.GetReturns([]string{r.ID}); return len(got), err },
				"ListCases by person": func() (int, error) {
					got, err := tx.ListCases(domain.CaseFilter{PersonID: twin.ID}, domain.PageRequest{First: 10})
					return len(got), err
				},
				"ListReturns by case": func() (int, error) {
					got, err := tx.ListReturns(domain.ReturnFilter{CaseID: c.ID}, domain.PageRequest{First: 10})
					return len(got), err
				},
				"ListReturns by asset": func() (int, error) {
					got, err := tx.ListReturns(domain.ReturnFilter{AssetID: r.AssetID}, domain.PageRequest{First: 10})
					return len(got), err
				},
			}
			for name, list := range empty {
				if n, err := list(); err != nil || n != 0 {
					t.Errorf("B %s(A's) = %d rows, %v; want none", name, n, err)
				}
			}
			cases, err := tx.ListCases(domain.CaseFilter{}, domain.PageRequest{First: 10})
			if ids := caseIDs(cases); err != nil || !slices.Equal(ids, []string{bCase.ID}) {
				t.Errorf("B ListCases = %v, %v; want only B's", ids, err)
			}
			returns, err := tx.ListReturns(domain.ReturnFilter{}, domain.PageRequest{First: 10})
			if ids := returnIDs(returns); err != nil || !slices.Equal(ids, []string{bReturn.ID}) {
				t.Errorf("B ListReturns = %v, %v; want only B's", ids, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// Writes: each in its own transaction, since a refused statement
		// aborts a Postgres transaction.
		writes := map[string]func(tx domain.Tx) error{
			"UpdateCase": func(tx domain.Tx) error {
				stolen := *c
				stolen.Note, stolen.Version = "stolen", c.Version+1
				return tx.UpdateCase(&stolen)
			},
			"PutCaseItem into A's case": func(tx domain.Tx) error {
				return tx.PutCaseItem(&domain.CaseItem{CaseID: c.ID, AssetID: bReturn.AssetID, Expected: true,
					Status: domain.ItemOutstanding, AddedAt: at})
			},
			"PutCaseItem of A's asset": func(tx domain.Tx) error {
				return tx.PutCaseItem(&domain.CaseItem{CaseID: bCase.ID, AssetID: r.AssetID, Expected: true,
					Status: domain.ItemOutstanding, AddedAt: at})
			},
			"PutCaseItem with A's return": func(tx domain.Tx) error {
				it := returnedItem(bCase, r, b.member.ID)
				it.AssetID = bReturn.AssetID
				return tx.PutCaseItem(it)
			},
			"CreateCase for A's person": func(tx domain.Tx) error { return tx.CreateCase(b.newCase(aOnly.ID)) },
			"CreateReturn toward A's case": func(tx domain.Tx) error {
				ret := *bReturn
				ret.ID, ret.CaseID = newID(), c.ID
				return tx.CreateReturn(&ret)
			},
			"CreateReturn of A's asset": func(tx domain.Tx) error {
				ret := *bReturn
				ret.ID, ret.AssetID, ret.CaseID, ret.Unmatched = newID(), r.AssetID, "", true
				return tx.CreateReturn(&ret)
			},
		}
		for name, write := range writes {
			if err := db.Update(b.ctx, write); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("B %s = %v, want ErrNotFound", name, err)
			}
		}

		// A's records are as A left them.
		_ = db.View(a.ctx, func(tx domain.Tx) error {
			got, err := tx.GetCase(c.ID)
			if err != nil || !reflect.DeepEqual(got, c) {
				t.Errorf("A's case = %+v, %v; want %+v", got, err, c)
			}
			items, err := tx.ListCaseItems([]string{c.ID})
			if err != nil || len(items) != 2 {
				t.Errorf("A's items = %+v, %v; want its 2", items, err)
			}
			returns, err := tx.ListReturns(domain.ReturnFilter{}, domain.PageRequest{First: 10})
			if ids := returnIDs(returns); err != nil || !slices.Equal(ids, []string{r.ID}) {
				t.Errorf("A's returns = %v, %v; want %v", ids, err, []string{r.ID})
			}
			return nil
		})
	})
}

// TestCaseRowLevelSecurity: on Postgres the database alone keeps the
// off-boarding tables of tenants apart, for SQL without any tenant_id.
func TestCaseRowLevelSecurity(t *testing.T) {
	db, cfg := storagetest.Postgres(t)
	a := newWorld(t, db, "alpha")
	b := newWorld(t, db, "beta")
	a.offboarding(t, "SN-A")
	b.offboarding(t, "SN-B")
	tables := map[string]int{"offboarding_cases": 1, "offboarding_case_items": 2, "asset_returns": 1} // rows per tenant

	owner := storagetest.OwnerConn(t, cfg)
	for table, n := range tables {
		var all int
		if err := owner.QueryRow("SELECT count(*) FROM " + table).Scan(&all); err != nil || all != 2*n {
			t.Fatalf("owner count of %s = %d, %v; want %d", table, all, err, 2*n)
		}
	}

	app, err := sql.Open("pgx", cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx := context.Background()
	conn, err := app.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// tenantsOf returns the tenant of each row of table the app role sees
	// in a transaction scoped to tenant ("" for none).
	tenantsOf := func(tenant, table string) []string {
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
		rows, err := tx.Query("SELECT tenant_id::text FROM " + table) // no WHERE: RLS only
		if err != nil {
			t.Fatalf("select %s as app: %v", table, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	for table, n := range tables {
		for _, w := range []*world{a, b} {
			got := tenantsOf(w.tenant.ID, table)
			if len(got) != n || slices.ContainsFunc(got, func(id string) bool { return id != w.tenant.ID }) {
				t.Errorf("%s as %s: rows of %v; want %d of its own", table, w.tenant.Slug, got, n)
			}
		}
		if got := tenantsOf("", table); len(got) != 0 {
			t.Errorf("%s with no tenant set: %d rows; want none", table, len(got))
		}
	}

	// WITH CHECK: scoped to A, a case claiming B is refused.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tx.Exec("SELECT set_config('custody.tenant_id', $1, true)", a.tenant.ID)
	_, err = tx.Exec(`INSERT INTO offboarding_cases (tenant_id, id, person_id, last_day, due_date, note, state,
		opened_by_id, opened_at, version) VALUES ($1, $2, $3, $4, $4, '', 'OPEN', $5, now(), 1)`,
		b.tenant.ID, newID(), b.person.ID, lastDay, b.member.ID)
	_ = tx.Rollback()
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Errorf("insert of B's case while scoped to A = %v, want a row-level security violation", err)
	}
	// And the app role deletes nothing.
	for table := range tables {
		if _, err := conn.ExecContext(ctx, "DELETE FROM "+table); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("app role DELETE FROM %s = %v, want permission denied", table, err)
		}
	}
}
