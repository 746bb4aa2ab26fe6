package storage_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/tenancy"
)

// The storage reads of the exports (export.go), on both stores.

// logEvent returns an unsaved event of a (of w's parcel when a is nil)
// recorded at rec.
func (w *world) logEvent(a *domain.Asset, typ domain.EventType, from, to domain.Custodian, location string,
	rec time.Time) *domain.CustodyEvent {
	e := &domain.CustodyEvent{ID: newID(), ParcelID: w.parcel.ID, Type: typ, FromCustodian: from, ToCustodian: to,
		ActorID: w.member.ID, Location: location, RecordedAt: rec, Details: map[string]string{"type": string(typ)}}
	if a != nil {
		e.AssetID = a.ID
	}
	return e
}

// exportLog is a small custody log of one tenant whose events differ in
// every field an EventFilter reads, each recorded an hour after the last.
type exportLog struct {
	ada, bob *domain.Person
	a1, a2   *domain.Asset
	// events are in log order: events[i].Seq == i+1.
	events []*domain.CustodyEvent
}

// logTime(i) is when the i-th event of an exportLog (from 0) was recorded.
func logTime(i int) time.Time { return at.Add(time.Duration(i) * time.Hour) }

func newExportLog(t *testing.T, w *world) *exportLog {
	t.Helper()
	l := &exportLog{ada: w.person}
	l.bob = &domain.Person{ID: newID(), EmployeeID: "E-2", Name: "Bob", Email: "bob@example.com",
		Status: domain.PersonActive, Version: 1, CreatedAt: at, UpdatedAt: at}
	w.update(t, func(tx domain.Tx) error { return tx.CreatePerson(l.bob) })
	l.a1, l.a2 = w.createAsset(t, "SN-1", "TAG-1"), w.createAsset(t, "SN-2", "TAG-2")
	loc := func(ref string) domain.Custodian { return domain.Custodian{Kind: domain.CustodianLocation, Ref: ref} }
	person := func(p *domain.Person) domain.Custodian {
		return domain.Custodian{Kind: domain.CustodianPerson, Ref: p.ID}
	}
	none := domain.Custodian{Kind: domain.CustodianNone}
	l.events = []*domain.CustodyEvent{
		// 1: the parcel's receipt, of no asset.
		w.logEvent(nil, domain.EventParcelReceived, none, loc("Dock A"), "Dock A", logTime(0)),
		// 2
		w.logEvent(l.a1, domain.EventSerialized, loc("Dock A"), loc("Dock A"), "Dock A", logTime(1)),
		// 3: Ada receives a1.
		w.logEvent(l.a1, domain.EventHandedOff, loc("Dock A"), person(l.ada), "Dock A", logTime(2)),
		// 4: Bob receives a2.
		w.logEvent(l.a2, domain.EventHandedOff, loc("HQ"), person(l.bob), "HQ", logTime(3)),
		// 5: Ada returns a1.
		w.logEvent(l.a1, domain.EventReturnReceived, person(l.ada), loc("HQ"), "HQ", logTime(4)),
		// 6: Bob receives a1.
		w.logEvent(l.a1, domain.EventHandedOff, loc("HQ"), person(l.bob), "HQ", logTime(5)),
		// 7: Bob hands a2 to a location whose name is Ada's id: not Ada.
		w.logEvent(l.a2, domain.EventRestocked, person(l.bob), loc(l.ada.ID), "Dock B", logTime(6)),
		// 8: a correction from Ada to Ada: hers once, not twice.
		w.logEvent(l.a1, domain.EventCorrection, person(l.ada), person(l.ada), "Dock A", logTime(7)),
		// 9
		w.logEvent(l.a2, domain.EventRetired, loc("Dock B"), none, "Dock B", logTime(8)),
	}
	for _, e := range l.events {
		w.update(t, func(tx domain.Tx) error { return tx.AppendEvent(e) })
	}
	for i, e := range l.events {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	return l
}

// seqs returns the events' seqs, for messages and comparisons.
func seqs(events []*domain.CustodyEvent) []int64 {
	out := make([]int64, 0, len(events))
	for _, e := range events {
		out = append(out, e.Seq)
	}
	return out
}

// listAll pages through the events matching f, limit a page, as an export
// does, checking each page's size; it stops after the first short page.
func listAll(tx domain.Tx, f domain.EventFilter, limit int) ([]*domain.CustodyEvent, error) {
	var out []*domain.CustodyEvent
	var after int64
	for range 100 {
		page, err := tx.ListEvents(f, after, limit)
		if err != nil {
			return nil, err
		}
		if len(page) > limit {
			return nil, fmt.Errorf("page after %d has %d events, limit %d", after, len(page), limit)
		}
		out = append(out, page...)
		if len(page) < limit {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
	return nil, errors.New("no short page after 100 pages")
}

func TestContractListEvents(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		w := newWorld(t, db, "acme")
		l := newExportLog(t, w)
		// Another tenant's log: same locations and types, its own people.
		o := newWorld(t, db, "other")
		oAsset := o.createAsset(t, "SN-1", "TAG-1")
		oPerson := domain.Custodian{Kind: domain.CustodianPerson, Ref: o.person.ID}
		oEvents := []*domain.CustodyEvent{
			o.logEvent(oAsset, domain.EventHandedOff, domain.Custodian{Kind: domain.CustodianLocation, Ref: "HQ"}, oPerson, "HQ", logTime(3)),
			o.logEvent(oAsset, domain.EventReturnReceived, oPerson, domain.Custodian{Kind: domain.CustodianLocation, Ref: "Dock A"}, "Dock A", logTime(4)),
		}
		for _, e := range oEvents {
			o.update(t, func(tx domain.Tx) error { return tx.AppendEvent(e) })
		}

		ev := func(seqs ...int) []*domain.CustodyEvent {
			out := make([]*domain.CustodyEvent, len(seqs))
			for i, s := range seqs {
				out[i] = l.events[s-1]
			}
			return out
		}
		ptr := func(t time.Time) *time.Time { return &t }
		types := func(ts ...domain.EventType) []domain.EventType { return ts }
		cases := []struct {
			name string
			f    domain.EventFilter
			want []*domain.CustodyEvent
		}{
			{"no filter", domain.EventFilter{}, ev(1, 2, 3, 4, 5, 6, 7, 8, 9)},
			{"from is inclusive", domain.EventFilter{From: ptr(logTime(2))}, ev(3, 4, 5, 6, 7, 8, 9)},
			{"to is exclusive", domain.EventFilter{To: ptr(logTime(4))}, ev(1, 2, 3, 4)},
			{"from and to", domain.EventFilter{From: ptr(logTime(2)), To: ptr(logTime(5))}, ev(3, 4, 5)},
			{"from and to equal", domain.EventFilter{From: ptr(logTime(2)), To: ptr(logTime(2))}, nil},
			{"to before from", domain.EventFilter{From: ptr(logTime(5)), To: ptr(logTime(2))}, nil},
			// Stored times are whole microseconds: a bound a nanosecond
			// after an event keeps its meaning, not its truncation's.
			{"from a nanosecond after an event", domain.EventFilter{From: ptr(logTime(2).Add(time.Nanosecond))}, ev(4, 5, 6, 7, 8, 9)},
			{"to a nanosecond after an event", domain.EventFilter{To: ptr(logTime(4).Add(time.Nanosecond))}, ev(1, 2, 3, 4, 5)},
			{"bounds in another time zone", domain.EventFilter{From: ptr(logTime(2).In(time.FixedZone("X", -7*3600))),
				To: ptr(logTime(5).In(time.FixedZone("Y", 9*3600)))}, ev(3, 4, 5)},
			{"one type", domain.EventFilter{Types: types(domain.EventHandedOff)}, ev(3, 4, 6)},
			{"two types", domain.EventFilter{Types: types(domain.EventHandedOff, domain.EventReturnReceived)}, ev(3, 4, 5, 6)},
			{"a type with no event", domain.EventFilter{Types: types(domain.EventSanitized)}, nil},
			{"empty types filter nothing", domain.EventFilter{Types: []domain.EventType{}}, ev(1, 2, 3, 4, 5, 6, 7, 8, 9)},
			{"asset", domain.EventFilter{AssetID: l.a1.ID}, ev(2, 3, 5, 6, 8)},
			{"asset in upper case", domain.EventFilter{AssetID: strings.ToUpper(l.a2.ID)}, ev(4, 7, 9)},
			{"another tenant's asset", domain.EventFilter{AssetID: oAsset.ID}, nil},
			{"unknown asset", domain.EventFilter{AssetID: newID()}, nil},
			{"malformed asset", domain.EventFilter{AssetID: "SN-1"}, nil},
			// Ada received (3), sent (5), both (8, once); a location named
			// with her id (7) is not her.
			{"person", domain.EventFilter{PersonID: l.ada.ID}, ev(3, 5, 8)},
			{"other person", domain.EventFilter{PersonID: l.bob.ID}, ev(4, 6, 7)},
			{"person in upper case", domain.EventFilter{PersonID: strings.ToUpper(l.ada.ID)}, ev(3, 5, 8)},
			{"another tenant's person", domain.EventFilter{PersonID: o.person.ID}, nil},
			{"malformed person", domain.EventFilter{PersonID: "Ada"}, nil},
			{"location", domain.EventFilter{Location: "HQ"}, ev(4, 5, 6)},
			{"location is exact", domain.EventFilter{Location: "hq"}, nil},
			{"location is not a prefix", domain.EventFilter{Location: "Dock"}, nil},
			{"location %", domain.EventFilter{Location: "%"}, nil},
			{"type and person", domain.EventFilter{Types: types(domain.EventHandedOff), PersonID: l.bob.ID}, ev(4, 6)},
			{"person and range", domain.EventFilter{PersonID: l.ada.ID, From: ptr(logTime(3)), To: ptr(logTime(7))}, ev(5)},
			{"person and location", domain.EventFilter{PersonID: l.ada.ID, Location: "Dock A"}, ev(3, 8)},
			{"asset and type", domain.EventFilter{AssetID: l.a1.ID, Types: types(domain.EventHandedOff, domain.EventCorrection)}, ev(3, 6, 8)},
			{"location and range", domain.EventFilter{Location: "Dock A", From: ptr(logTime(1)), To: ptr(logTime(7))}, ev(2, 3)},
			{"every field", domain.EventFilter{From: ptr(logTime(3)), To: ptr(logTime(9)), Types: types(domain.EventHandedOff),
				AssetID: l.a1.ID, PersonID: l.bob.ID, Location: "HQ"}, ev(6)},
			{"every field, none matching", domain.EventFilter{From: ptr(logTime(3)), To: ptr(logTime(9)),
				Types: types(domain.EventHandedOff), AssetID: l.a2.ID, PersonID: l.ada.ID, Location: "HQ"}, nil},
		}
		err := db.View(w.ctx, func(tx domain.Tx) error {
			for _, c := range cases {
				// A page larger than the log, then pages of 1, 2 and 3:
				// the same events, each once, in log order.
				for _, limit := range []int{100, 1, 2, 3} {
					got, err := listAll(tx, c.f, limit)
					if err != nil {
						t.Errorf("%s, limit %d: %v", c.name, limit, err)
						continue
					}
					if !reflect.DeepEqual(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
						t.Errorf("%s, limit %d: seqs %v, want %v", c.name, limit, seqs(got), seqs(c.want))
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		err = db.View(w.ctx, func(tx domain.Tx) error {
			for _, p := range []struct {
				name  string
				f     domain.EventFilter
				after int64
				limit int
				want  []int64
			}{
				{"after the middle", domain.EventFilter{}, 4, 3, []int64{5, 6, 7}},
				{"after a seq the filter skips", domain.EventFilter{Types: types(domain.EventHandedOff)}, 4, 10, []int64{6}},
				{"person after the middle", domain.EventFilter{PersonID: l.ada.ID}, 3, 1, []int64{5}},
				{"after the end", domain.EventFilter{}, 9, 10, nil},
				{"negative after", domain.EventFilter{}, -5, 2, []int64{1, 2}},
				{"limit 0", domain.EventFilter{}, 0, 0, nil},
				{"negative limit", domain.EventFilter{}, 0, -1, nil},
			} {
				got, err := tx.ListEvents(p.f, p.after, p.limit)
				if err != nil || !slices.Equal(seqs(got), p.want) {
					t.Errorf("ListEvents %s = %v, %v; want %v", p.name, seqs(got), err, p.want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// The other tenant sees its own log only, through every filter.
		err = db.View(o.ctx, func(tx domain.Tx) error {
			for _, c := range []struct {
				name string
				f    domain.EventFilter
				want []*domain.CustodyEvent
			}{
				{"no filter", domain.EventFilter{}, oEvents},
				{"location", domain.EventFilter{Location: "HQ"}, oEvents[:1]},
				{"type", domain.EventFilter{Types: types(domain.EventHandedOff, domain.EventSerialized)}, oEvents[:1]},
				{"range", domain.EventFilter{From: ptr(logTime(0)), To: ptr(logTime(9))}, oEvents},
				{"its person", domain.EventFilter{PersonID: o.person.ID}, oEvents},
				{"the first tenant's person", domain.EventFilter{PersonID: l.ada.ID}, nil},
				{"the first tenant's asset", domain.EventFilter{AssetID: l.a1.ID}, nil},
			} {
				got, err := listAll(tx, c.f, 1)
				if err != nil || !reflect.DeepEqual(got, c.want) && len(got)+len(c.want) > 0 {
					t.Errorf("other tenant, %s: seqs %v, %v; want %v", c.name, seqs(got), err, seqs(c.want))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// capturing reopens cfg's store with a QueryHook that records the
// statements sent with a context marked by the returned function.
func capturing(t *testing.T, cfg storage.Config) (*storage.DB, func(context.Context) (context.Context, func() []string)) {
	t.Helper()
	type key struct{}
	type log struct {
		mu  sync.Mutex
		sql []string
	}
	cfg.QueryHook = func(ctx context.Context, sql string) {
		if l, ok := ctx.Value(key{}).(*log); ok {
			l.mu.Lock()
			l.sql = append(l.sql, sql)
			l.mu.Unlock()
		}
	}
	db, err := storage.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open with query hook: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, func(ctx context.Context) (context.Context, func() []string) {
		l := &log{}
		return context.WithValue(ctx, key{}, l), func() []string {
			l.mu.Lock()
			defer l.mu.Unlock()
			return slices.Clone(l.sql)
		}
	}
}

// bulkColumn matches a statement that reads a signature's image or consent
// text: the column names as words (image_type and image_sha256 are other
// words), or every column.
var bulkColumn = regexp.MustCompile(`\b(image|consent_text)\b|\*`)

func TestContractGetSignatureFacts(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, cfg storage.Config) {
		w := newWorld(t, db, "acme")
		o := newWorld(t, db, "other")
		dt := at.Add(-3 * time.Second)
		signature := func(w *world, image string) *domain.Signature {
			return &domain.Signature{ID: newID(), SignerID: w.person.ID, TypedName: w.person.Name,
				ImageType: domain.ImageSVG, Image: []byte(image), ImageSHA256: "ab" + image[:2], ConsentText: "I accept\nliability.",
				ConsentVersion: "v1", ConsentSHA256: "cd", Method: domain.SignatureDrawnOnDevice, DeviceID: "tab-1",
				IPAddress: "192.0.2.1", UserAgent: "UA", DeviceTime: &dt, SignedAt: at, CapturedByID: w.member.ID}
		}
		big, small := signature(w, strings.Repeat("<svg/>", 20000)), signature(w, "<svg/>")
		for _, s := range []*domain.Signature{big, small} {
			w.update(t, func(tx domain.Tx) error { return tx.CreateSignature(s) })
		}
		foreign := signature(o, "<svg/>")
		o.update(t, func(tx domain.Tx) error { return tx.CreateSignature(foreign) })
		facts := func(s *domain.Signature) *domain.Signature {
			f := *s
			f.Image, f.ConsentText = nil, ""
			return &f
		}
		byID := func(ss ...*domain.Signature) []*domain.Signature {
			return slices.SortedFunc(slices.Values(ss), func(a, b *domain.Signature) int { return strings.Compare(a.ID, b.ID) })
		}

		hooked, mark := capturing(t, cfg)
		for _, c := range []struct {
			name string
			ids  []string
			want []*domain.Signature
		}{
			{"both", []string{small.ID, big.ID}, byID(facts(small), facts(big))},
			{"one, named twice and in upper case", []string{big.ID, strings.ToUpper(big.ID)}, byID(facts(big))},
			{"unknown and malformed ids", []string{newID(), "junk", small.ID}, byID(facts(small))},
			{"another tenant's", []string{foreign.ID}, nil},
			{"none", nil, nil},
		} {
			ctx, statements := mark(w.ctx)
			err := hooked.View(ctx, func(tx domain.Tx) error {
				got, err := tx.GetSignatureFacts(c.ids)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, c.want) && len(got)+len(c.want) > 0 {
					t.Errorf("GetSignatureFacts %s = %+v, want %+v", c.name, got, c.want)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("GetSignatureFacts %s: %v", c.name, err)
			}
			for _, s := range statements() {
				if bulkColumn.MatchString(s) {
					t.Errorf("GetSignatureFacts %s sent %q, which reads the image or consent text", c.name, s)
				}
			}
		}
		// GetSignatures still reads them: the hook would have seen it.
		ctx, statements := mark(w.ctx)
		_ = hooked.View(ctx, func(tx domain.Tx) error {
			got, err := tx.GetSignatures([]string{big.ID})
			if err != nil || len(got) != 1 || len(got[0].Image) != len(big.Image) {
				t.Errorf("GetSignatures = %v, %v", got, err)
			}
			return nil
		})
		if !slices.ContainsFunc(statements(), bulkColumn.MatchString) {
			t.Errorf("the pattern misses GetSignatures' statements %q", statements())
		}
	})
}

func TestContractAuthenticateTokenID(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		ctx := context.Background()
		_, acme, _ := storagetest.NewTenant(t, db, "acme")
		_, other, _ := storagetest.NewTenant(t, db, "other")
		clerk := &domain.Member{TenantID: acme.ID, Name: "Clerk", Kind: domain.MemberPerson,
			Roles: []domain.Role{domain.RoleMailroom, domain.RoleAuditor}}
		if err := db.CreateMember(ctx, clerk); err != nil {
			t.Fatal(err)
		}
		issue := func(tenant *domain.Tenant, memberID string) (*domain.APIToken, []byte) {
			_, hash, err := tenancy.NewToken(tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			tok := &domain.APIToken{TenantID: tenant.ID, MemberID: memberID, Name: "link", Hash: hash}
			if err := db.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			return tok, hash
		}
		tok, hash := issue(acme, clerk.ID)
		revoked, _ := issue(acme, clerk.ID)
		if err := db.RevokeToken(ctx, acme.ID, revoked.ID, at); err != nil {
			t.Fatal(err)
		}

		// The same credential as the token's hash resolves to.
		want, err := db.Authenticate(ctx, acme.ID, hash)
		if err != nil {
			t.Fatal(err)
		}
		if want.TokenID != tok.ID || len(want.Member.Roles) != 2 {
			t.Fatalf("Authenticate = %+v", want)
		}
		for _, id := range []string{tok.ID, strings.ToUpper(tok.ID)} {
			got, err := db.AuthenticateTokenID(ctx, acme.ID, id)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("AuthenticateTokenID(%s) = %+v, %v; want %+v", id, got, err, want)
			}
		}
		for _, c := range []struct {
			name, tenant, token string
		}{
			{"revoked", acme.ID, revoked.ID},
			{"unknown", acme.ID, newID()},
			{"other tenant", other.ID, tok.ID},
			{"malformed token id", acme.ID, "link"},
			{"empty token id", acme.ID, ""},
			{"malformed tenant", "acme", tok.ID},
			{"unknown tenant", newID(), tok.ID},
		} {
			if got, err := db.AuthenticateTokenID(ctx, c.tenant, c.token); !errors.Is(err, domain.ErrUnauthenticated) {
				t.Errorf("AuthenticateTokenID %s = %+v, %v; want ErrUnauthenticated", c.name, got, err)
			}
		}
	})
}
