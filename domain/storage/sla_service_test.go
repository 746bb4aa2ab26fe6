package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/eventbus"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// Time-bound triggers (SLA) driven through the domain service over both
// stores: the policy, the sweep that raises breaches, the sweeper over every
// tenant and the reconciliation report.

// ssStart is the origin of the SLA tests' clock: a Monday morning, so the
// calendar days below are easy to follow.
var ssStart = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

// ssDay is 24 hours: the clock runs in UTC, where every day is that long.
const ssDay = 24 * time.Hour

// ssClock is a settable test clock that moves one millisecond per reading,
// so events get distinct, increasing times.
type ssClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *ssClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// set jumps to t (forward only, as time goes).
func (c *ssClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// ssEnv is one tenant of a fresh store with a service on a settable clock.
type ssEnv struct {
	*obEnv
	clock  *ssClock
	tenant *domain.Tenant
	holder *domain.Person
	vendor *domain.Vendor
	n      int
}

func newSSEnv(t *testing.T, db *storage.DB, slug string, bus domain.Bus) *ssEnv {
	t.Helper()
	ctx, tenant, member := storagetest.NewTenant(t, db, slug)
	clock := &ssClock{t: ssStart}
	svc := domain.NewService(db, bus, domain.WithClock(clock.now))
	return &ssEnv{obEnv: &obEnv{t: t, db: db, ctx: ctx, member: member, svc: svc}, clock: clock, tenant: tenant}
}

// other returns another tenant of the same store, served by the same
// service on the same clock.
func (e *ssEnv) other(slug string) *ssEnv {
	e.t.Helper()
	ctx, tenant, member := storagetest.NewTenant(e.t, e.db, slug)
	return &ssEnv{obEnv: &obEnv{t: e.t, db: e.db, ctx: ctx, member: member, svc: e.svc}, clock: e.clock, tenant: tenant}
}

// at moves the clock to ssStart + d.
func (e *ssEnv) at(d time.Duration) { e.clock.set(ssStart.Add(d)) }

// serialized receives a parcel and serializes one laptop per serial.
func (e *ssEnv) serialized(serials ...string) []*domain.Asset {
	e.t.Helper()
	if e.holder == nil {
		e.holder = e.person("holder")
	}
	e.n++
	p, err := e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "UPS", TrackingNumber: fmt.Sprintf("1ZSLA%d", e.n),
		Sender: "Dell", RecipientID: e.holder.ID, Location: "Dock A"})
	if err != nil {
		e.t.Fatalf("receive parcel: %v", err)
	}
	items := make([]domain.NewAsset, len(serials))
	for i, s := range serials {
		items[i] = obLaptop(s)
	}
	_, assets, err := e.svc.SerializeParcel(e.ctx, domain.SerializeParcelInput{ParcelID: p.ID, Assets: items})
	if err != nil {
		e.t.Fatalf("serialize parcel: %v", err)
	}
	return assets
}

// retire retires assets now.
func (e *ssEnv) retire(assets ...*domain.Asset) {
	e.t.Helper()
	for _, a := range assets {
		if _, err := e.svc.Retire(e.ctx, domain.DispositionInput{AssetID: a.ID, Reason: "end of life"}); err != nil {
			e.t.Fatalf("retire %s: %v", a.Serial, err)
		}
	}
}

// retired serializes and retires one laptop per serial.
func (e *ssEnv) retired(serials ...string) []*domain.Asset {
	e.t.Helper()
	assets := e.serialized(serials...)
	e.retire(assets...)
	return assets
}

// order creates a pickup order (the tenant's vendor, next week) and stages assets on it.
func (e *ssEnv) order(assets ...*domain.Asset) *domain.PickupOrder {
	e.t.Helper()
	if e.vendor == nil {
		v, err := e.svc.EngageVendor(e.ctx, domain.VendorInput{Name: "Shred Co", ContactEmail: "ops@shred.example",
			Certifications: []domain.Certification{{Scheme: domain.SchemeR2v3, Number: "R2-1", ExpiresOn: day(2030, 1, 1)}}})
		if err != nil {
			e.t.Fatalf("engage vendor: %v", err)
		}
		e.vendor = v
	}
	o, err := e.svc.CreatePickupOrder(e.ctx, domain.PickupOrderInput{VendorID: e.vendor.ID, ScheduledOn: e.svc.Today().AddDate(0, 0, 7)})
	if err != nil {
		e.t.Fatalf("create pickup order: %v", err)
	}
	if len(assets) > 0 {
		ids := make([]string, len(assets))
		for i, a := range assets {
			ids[i] = a.ID
		}
		if _, err := e.svc.StageAssets(e.ctx, domain.StageInput{OrderID: o.ID, AssetIDs: ids}); err != nil {
			e.t.Fatalf("stage assets: %v", err)
		}
	}
	return o
}

// advanceOrder moves an order straight to state in the store, stamping each
// state it passes at the clock's time: the sweep only reads what the
// disposition flow records.
func (e *ssEnv) advanceOrder(id string, state domain.PickupState) *domain.PickupOrder {
	e.t.Helper()
	var o *domain.PickupOrder
	err := e.db.Update(e.ctx, func(tx domain.Tx) error {
		var err error
		if o, err = tx.GetPickupOrder(id); err != nil {
			return err
		}
		now := e.clock.now().Truncate(time.Microsecond)
		stamps := []struct {
			state domain.PickupState
			at    **time.Time
		}{{domain.PickupPickedUp, &o.PickedUpAt}, {domain.PickupReceived, &o.ReceivedAt},
			{domain.PickupCertified, &o.CertifiedAt}, {domain.PickupClosed, &o.ClosedAt}}
		for _, s := range stamps {
			if *s.at == nil {
				t := now
				*s.at = &t
			}
			if s.state == state {
				break
			}
		}
		o.State, o.UpdatedAt = state, now
		o.Version++
		return tx.UpdatePickupOrder(o)
	})
	if err != nil {
		e.t.Fatalf("move order to %s: %v", state, err)
	}
	return o
}

// moveAsset records event on an asset straight in the store (the vendor's
// steps the disposition flow records).
func (e *ssEnv) moveAsset(a *domain.Asset, event domain.EventType) {
	e.t.Helper()
	err := e.db.Update(e.ctx, func(tx domain.Tx) error {
		cur, err := tx.GetAsset(a.ID)
		if err != nil {
			return err
		}
		to, err := domain.Next(cur.State, event)
		if err != nil {
			return err
		}
		now := e.clock.now().Truncate(time.Microsecond)
		ev := &domain.CustodyEvent{ID: domain.NewID(), AssetID: cur.ID, ParcelID: cur.ParcelID, Type: event,
			FromState: cur.State, ToState: to, FromCustodian: cur.Custodian, ToCustodian: cur.Custodian,
			ActorID: e.member.ID, RecordedAt: now}
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		cur.State, cur.LastEventID, cur.UpdatedAt = to, ev.ID, now
		cur.Version++
		return tx.UpdateAsset(cur)
	})
	if err != nil {
		e.t.Fatalf("move %s by %s: %v", a.Serial, event, err)
	}
}

func (e *ssEnv) sweep() int {
	e.t.Helper()
	n, err := e.svc.Sweep(e.ctx)
	if err != nil {
		e.t.Fatalf("sweep: %v", err)
	}
	return n
}

// breaches lists every breach of the tenant through the service.
func (e *ssEnv) breaches(f domain.BreachFilter) []*domain.Breach {
	e.t.Helper()
	var out []*domain.Breach
	first, after := 2, ""
	for {
		page, err := e.svc.Breaches(e.ctx, f, &first, after)
		if err != nil {
			e.t.Fatalf("breaches: %v", err)
		}
		out = append(out, page.Items...)
		if !page.HasNext {
			return out
		}
		after = page.Items[len(page.Items)-1].ID
	}
}

// breachKeys names breaches "STAGE subject", sorted.
func ssBreachKeys(bs []*domain.Breach) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b.Stage) + " " + b.SubjectID
	}
	sort.Strings(out)
	return out
}

// slaEvents returns the SLA_BREACHED events of a log.
func slaEvents(log []*domain.CustodyEvent) []*domain.CustodyEvent {
	var out []*domain.CustodyEvent
	for _, ev := range log {
		if ev.Type == domain.EventSLABreached {
			out = append(out, ev)
		}
	}
	return out
}

func ssPolicyInput(days int) domain.SLAPolicyInput {
	return domain.SLAPolicyInput{RetiredToStagedDays: days, StagedToPickedUpDays: days, PickedUpToCertificateDays: days,
		CertificateToWriteBackDays: days, OffboardingDueDays: days}
}

func TestSLAPolicy(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newSSEnv(t, db, "acme", nil)
		other := e.other("beta")

		p, err := e.svc.SLAPolicy(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := domain.DefaultSLAPolicy
		want.TenantID = e.tenant.ID
		if *p != want {
			t.Errorf("policy of a tenant that set none = %+v; want the default %+v", p, want)
		}

		in := domain.SLAPolicyInput{RetiredToStagedDays: 10, StagedToPickedUpDays: 5, PickedUpToCertificateDays: 20,
			CertificateToWriteBackDays: 3, OffboardingDueDays: 14}
		set, err := e.svc.SetSLAPolicy(e.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if set.Version != 1 || set.UpdatedByID != e.member.ID || set.TenantID != e.tenant.ID || set.UpdatedAt.IsZero() {
			t.Errorf("first SetSLAPolicy = %+v; want version 1 by the member", set)
		}
		got, err := e.svc.SLAPolicy(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.RetiredToStagedDays != 10 || got.StagedToPickedUpDays != 5 || got.PickedUpToCertificateDays != 20 ||
			got.CertificateToWriteBackDays != 3 || got.OffboardingDueDays != 14 || got.Version != 1 ||
			!got.UpdatedAt.Equal(set.UpdatedAt) || got.UpdatedByID != e.member.ID {
			t.Errorf("stored policy = %+v; want %+v", got, set)
		}
		if again, err := e.svc.SetSLAPolicy(e.ctx, ssPolicyInput(30)); err != nil || again.Version != 2 {
			t.Errorf("second SetSLAPolicy = %+v, %v; want version 2", again, err)
		}
		if p, err := other.svc.SLAPolicy(other.ctx); err != nil || p.Version != 0 || p.RetiredToStagedDays != domain.DefaultSLAPolicy.RetiredToStagedDays || p.TenantID != other.tenant.ID {
			t.Errorf("another tenant's policy = %+v, %v; want its default", p, err)
		}

		tests := []struct {
			name   string
			in     domain.SLAPolicyInput
			fields []string // the invalid ones; none: accepted
		}{
			{"shortest windows", ssPolicyInput(1), nil},
			{"longest windows", ssPolicyInput(3650), nil},
			{"all zero", domain.SLAPolicyInput{}, []string{"retiredToStagedDays", "stagedToPickedUpDays",
				"pickedUpToCertificateDays", "certificateToWriteBackDays", "offboardingDueDays"}},
			{"retired to staged too long", func() domain.SLAPolicyInput { i := ssPolicyInput(7); i.RetiredToStagedDays = 3651; return i }(),
				[]string{"retiredToStagedDays"}},
			{"staged to picked up negative", func() domain.SLAPolicyInput { i := ssPolicyInput(7); i.StagedToPickedUpDays = -1; return i }(),
				[]string{"stagedToPickedUpDays"}},
			{"picked up to certificate zero", func() domain.SLAPolicyInput { i := ssPolicyInput(7); i.PickedUpToCertificateDays = 0; return i }(),
				[]string{"pickedUpToCertificateDays"}},
			{"certificate to write-back too long", func() domain.SLAPolicyInput {
				i := ssPolicyInput(7)
				i.CertificateToWriteBackDays = 100000
				return i
			}(), []string{"certificateToWriteBackDays"}},
			{"off-boarding due zero", func() domain.SLAPolicyInput { i := ssPolicyInput(7); i.OffboardingDueDays = 0; return i }(),
				[]string{"offboardingDueDays"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before, err := e.svc.SLAPolicy(e.ctx)
				if err != nil {
					t.Fatal(err)
				}
				p, err := e.svc.SetSLAPolicy(e.ctx, tc.in)
				if len(tc.fields) == 0 {
					if err != nil || p.RetiredToStagedDays != tc.in.RetiredToStagedDays || p.Version != before.Version+1 {
						t.Errorf("SetSLAPolicy(%+v) = %+v, %v; want it stored as version %d", tc.in, p, err, before.Version+1)
					}
					return
				}
				var ue domain.UserErrors
				if !errors.As(err, &ue) || p != nil {
					t.Fatalf("SetSLAPolicy(%+v) = %+v, %v; want user errors", tc.in, p, err)
				}
				var fields []string
				for _, u := range ue {
					if u.Code != domain.CodeInvalid || len(u.Field) != 2 || u.Field[0] != "input" {
						t.Errorf("user error %+v; want INVALID on input.<field>", u)
						continue
					}
					fields = append(fields, u.Field[1])
				}
				if !slices.Equal(fields, tc.fields) {
					t.Errorf("invalid fields = %v; want %v", fields, tc.fields)
				}
				if after, err := e.svc.SLAPolicy(e.ctx); err != nil || after.Version != before.Version {
					t.Errorf("a refused policy changed the stored one: %+v, %v", after, err)
				}
			})
		}

		// Concurrent writers: each either wins or is told of the conflict;
		// none is lost silently.
		start, err := e.svc.SLAPolicy(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		const writers = 6
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.svc.SetSLAPolicy(e.ctx, ssPolicyInput(40+i))
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				checkCode(t, err, domain.CodeConcurrentUpdate)
			}
		}
		if end, err := e.svc.SLAPolicy(e.ctx); err != nil || won == 0 || end.Version != start.Version+won {
			t.Errorf("after %d concurrent writes (%d won) the policy is %+v, %v; want version %d", writers, won, end, err, start.Version+won)
		}
	})
}

// TestSLASweepStages: each stage breaches once its window has passed, and
// not a moment before; records that moved on or never entered a stage never
// breach. The breaches are announced in the log and on the bus.
func TestSLASweepStages(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		bus := eventbus.NewInProcess()
		t.Cleanup(func() { _ = bus.Close() })
		e := newSSEnv(t, db, "acme", bus)
		msgs, cancel, err := bus.Subscribe(context.Background(), e.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			heard []domain.Message
			done  = make(chan struct{})
		)
		go func() {
			defer close(done)
			for m := range msgs {
				if m.Type == domain.EventSLABreached {
					mu.Lock()
					heard = append(heard, m)
					mu.Unlock()
				}
			}
		}()

		retired := e.retired("ST-A", "ST-B")
		a, b := retired[0], retired[1]
		o1 := e.order(b) // B waits on an open order: the order's clock runs, not B's
		e.order()        // an open order with nothing staged never breaches
		o2 := e.advanceOrder(e.order().ID, domain.PickupPickedUp)
		o3 := e.advanceOrder(e.order().ID, domain.PickupReceived)
		o4 := e.advanceOrder(e.order().ID, domain.PickupCertified)
		e.advanceOrder(e.order().ID, domain.PickupClosed) // done: never breaches
		ada, bob, cy := e.person("ada"), e.person("bob"), e.person("cy")
		e.deploy(ada, obLaptop("ST-C"))
		e.deploy(bob, obLaptop("ST-D"))
		late, err := e.svc.OpenCase(e.ctx, domain.OpenCaseInput{PersonID: ada.ID, LastDay: day(2025, 6, 2), DueDate: day(2025, 6, 5)})
		if err != nil { // overdue from June 6
			t.Fatal(err)
		}
		if _, err := e.svc.OpenCase(e.ctx, domain.OpenCaseInput{PersonID: bob.ID, LastDay: day(2025, 6, 30), DueDate: day(2025, 9, 30)}); err != nil {
			t.Fatal(err) // due long after the test ends
		}
		done0, err := e.svc.OpenCase(e.ctx, domain.OpenCaseInput{PersonID: cy.ID, LastDay: day(2025, 6, 2), DueDate: day(2025, 6, 3)})
		if err != nil || done0.State != domain.CaseCompleted {
			t.Fatalf("case of someone holding nothing = %+v, %v; want completed", done0, err)
		}

		var want []string
		steps := []struct {
			name string
			at   time.Time
			adds []string // breaches this sweep raises
		}{
			{"nothing due yet", ssStart.Add(3 * ssDay), nil},
			{"the due day still counts", day(2025, 6, 5).Add(ssDay - time.Second), nil},
			{"a case is overdue the day after its due date", day(2025, 6, 6).Add(time.Second),
				[]string{"OFFBOARDING_DUE " + late.ID}},
			{"certificate window not yet passed", ssStart.Add(7*ssDay - time.Minute), nil},
			{"certificate window passed", ssStart.Add(7*ssDay + time.Minute), []string{"CERTIFICATE_TO_WRITE_BACK " + o4.ID}},
			{"staged window not yet passed", ssStart.Add(14*ssDay - time.Minute), nil},
			{"staged window passed", ssStart.Add(14*ssDay + time.Minute), []string{"STAGED_TO_PICKED_UP " + o1.ID}},
			{"30-day windows not yet passed", ssStart.Add(30*ssDay - time.Minute), nil},
			{"30-day windows passed", ssStart.Add(30*ssDay + time.Minute), []string{"RETIRED_TO_STAGED " + a.ID,
				"PICKED_UP_TO_CERTIFICATE " + o2.ID, "PICKED_UP_TO_CERTIFICATE " + o3.ID}},
			{"raised once only", ssStart.Add(60 * ssDay), nil},
		}
		for _, st := range steps {
			e.clock.set(st.at)
			if n := e.sweep(); n != len(st.adds) {
				t.Errorf("%s: sweep raised %d; want %d (%v)", st.name, n, len(st.adds), st.adds)
			}
			want = append(want, st.adds...)
			sort.Strings(want)
			if got := ssBreachKeys(e.breaches(domain.BreachFilter{})); !slices.Equal(got, want) {
				t.Fatalf("%s: breaches = %v; want %v", st.name, got, want)
			}
		}

		// What each breach says.
		policy := domain.DefaultSLAPolicy
		windows := map[domain.SLAStage]int{domain.StageRetiredToStaged: policy.RetiredToStagedDays,
			domain.StageStagedToPickedUp: policy.StagedToPickedUpDays, domain.StagePickedUpToCertificate: policy.PickedUpToCertificateDays,
			domain.StageCertificateToWriteBack: policy.CertificateToWriteBackDays}
		all := e.breaches(domain.BreachFilter{})
		log := e.log()
		events := map[string]*domain.CustodyEvent{}
		for _, ev := range slaEvents(log) {
			events[ev.ID] = ev
		}
		if len(events) != len(all) {
			t.Errorf("%d SLA_BREACHED events for %d breaches", len(events), len(all))
		}
		for _, br := range all {
			kind := domain.SubjectPickupOrder
			switch br.Stage {
			case domain.StageRetiredToStaged:
				kind = domain.SubjectAsset
			case domain.StageOffboardingDue:
				kind = domain.SubjectCase
			}
			if br.ID == "" || br.TenantID != e.tenant.ID || br.SubjectKind != kind || br.RaisedAt.IsZero() || br.EventID == "" {
				t.Errorf("breach %+v; want id, tenant, kind %s, raise time and event", br, kind)
			}
			if br.Stage == domain.StageOffboardingDue {
				if !br.Since.Equal(late.OpenedAt) || !br.DueAt.Equal(day(2025, 6, 6)) {
					t.Errorf("case breach since %s due %s; want since opened (%s), due the day after its due date", br.Since, br.DueAt, late.OpenedAt)
				}
			} else {
				if br.Since.Before(ssStart) || br.Since.After(ssStart.Add(time.Minute)) ||
					!br.DueAt.Equal(br.Since.AddDate(0, 0, windows[br.Stage])) {
					t.Errorf("breach %s since %s due %s; want since the start, due %d days later", br.Stage, br.Since, br.DueAt, windows[br.Stage])
				}
			}
			ev := events[br.EventID]
			if ev == nil {
				t.Errorf("breach %s %s names event %s, not an SLA_BREACHED event of the log", br.Stage, br.SubjectID, br.EventID)
				continue
			}
			wantDetails := map[string]string{"stage": string(br.Stage), "subjectKind": string(kind), "subject": br.SubjectID,
				"since": br.Since.Format(time.RFC3339), "dueAt": br.DueAt.Format(time.RFC3339)}
			wantTopics := []domain.Topic{domain.TopicSLA}
			if kind == domain.SubjectCase {
				wantDetails["case"], wantDetails["person"] = late.ID, ada.ID
				wantTopics = []domain.Topic{domain.TopicOffboarding, domain.TopicSLA}
			}
			if len(ev.Details) != len(wantDetails) {
				t.Errorf("event of %s details = %v; want %v", br.Stage, ev.Details, wantDetails)
			}
			for k, v := range wantDetails {
				if ev.Details[k] != v {
					t.Errorf("event of %s details[%s] = %q; want %q", br.Stage, k, ev.Details[k], v)
				}
			}
			if ev.AssetID != "" || ev.ParcelID != "" || ev.ActorID != e.member.ID || !ev.RecordedAt.Equal(br.RaisedAt) {
				t.Errorf("event %+v; want a subject-level event by the sweeping member at the raise time", ev)
			}
			if got := domain.Topics(ev); !slices.Equal(got, wantTopics) {
				t.Errorf("topics of the %s breach = %v; want %v", br.Stage, got, wantTopics)
			}
		}

		// Filters.
		if got := e.breaches(domain.BreachFilter{Stage: domain.StagePickedUpToCertificate}); len(got) != 2 {
			t.Errorf("breaches of one stage = %v; want the two picked-up orders", ssBreachKeys(got))
		}
		if got := e.breaches(domain.BreachFilter{SubjectKind: domain.SubjectAsset, SubjectID: a.ID}); len(got) != 1 || got[0].SubjectID != a.ID {
			t.Errorf("breaches of asset A = %v; want one", ssBreachKeys(got))
		}
		for _, f := range []domain.BreachFilter{{Stage: "LATE"}, {SubjectKind: "PARCEL"}} {
			var ae *domain.ArgumentError
			if _, err := e.svc.Breaches(e.ctx, f, nil, ""); !errors.As(err, &ae) {
				t.Errorf("Breaches(%+v) error = %v; want an argument error", f, err)
			}
		}

		// The bus heard each breach once, the case's naming the person.
		deadline := time.Now().Add(obPatience)
		for {
			mu.Lock()
			n := len(heard)
			mu.Unlock()
			if n >= len(all) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		if len(heard) != len(all) {
			t.Errorf("bus carried %d SLA_BREACHED messages; want %d", len(heard), len(all))
		}
		for _, m := range heard {
			ev := events[m.EventID]
			if ev == nil {
				t.Errorf("message %+v names no breach event", m)
				continue
			}
			wantPerson := ""
			if ev.Details["case"] != "" {
				wantPerson = ada.ID
			}
			if m.PersonID != wantPerson || m.Seq != ev.Seq || m.AssetID != "" {
				t.Errorf("message %+v; want seq %d, person %q", m, ev.Seq, wantPerson)
			}
		}
	})
}

// TestSLASweepMovedOn: a record that leaves its stage in time never
// breaches, and the tenant's own windows apply.
func TestSLASweepMovedOn(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newSSEnv(t, db, "acme", nil)
		if _, err := e.svc.SetSLAPolicy(e.ctx, domain.SLAPolicyInput{RetiredToStagedDays: 2, StagedToPickedUpDays: 3,
			PickedUpToCertificateDays: 30, CertificateToWriteBackDays: 7, OffboardingDueDays: 7}); err != nil {
			t.Fatal(err)
		}
		assets := e.retired("MO-1", "MO-2", "MO-3")
		e.at(ssDay)
		o := e.order(assets[0]) // staged after one day: RETIRED stage left in time
		emptied := e.order(assets[2])
		e.at(ssDay + time.Hour)
		// Taken off again: the order holds nothing staged, and MO-3's
		// RETIRED clock starts over.
		if _, err := e.svc.UnstageAsset(e.ctx, domain.UnstageInput{OrderID: emptied.ID, AssetID: assets[2].ID, Reason: "kept as spare"}); err != nil {
			t.Fatal(err)
		}
		e.at(2*ssDay + time.Hour)
		if n := e.sweep(); n != 1 {
			t.Errorf("sweep after two days raised %d; want 1 (MO-2 retired since the start)", n)
		}
		e.advanceOrder(o.ID, domain.PickupPickedUp) // picked up after 2 days on the order: in time
		e.at(10 * ssDay)
		if n := e.sweep(); n != 1 {
			t.Errorf("sweep after ten days raised %d; want 1 (MO-3, retired again since day 1)", n)
		}
		got := e.breaches(domain.BreachFilter{})
		if want := []string{"RETIRED_TO_STAGED " + assets[1].ID, "RETIRED_TO_STAGED " + assets[2].ID}; !slices.Equal(ssBreachKeys(got), want) {
			t.Errorf("breaches = %v; want %v", ssBreachKeys(got), want)
		}
		for _, b := range got {
			if b.SubjectID == assets[2].ID && !b.Since.After(ssStart.Add(ssDay+time.Hour)) {
				t.Errorf("MO-3's breach since %s; want since it was taken off the order", b.Since)
			}
		}
	})
}

// TestSLABreachRaisedOnce: repeated and concurrent sweeps raise each breach
// once, with one event each, and leave the log gapless.
func TestSLABreachRaisedOnce(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newSSEnv(t, db, "acme", nil)
		const n = 8
		serials := make([]string, n)
		for i := range serials {
			serials[i] = fmt.Sprintf("RO-%d", i)
		}
		e.retired(serials...)
		e.at(31 * ssDay)

		const sweeps = 4
		var wg sync.WaitGroup
		raised := make([]int, sweeps)
		errs := make([]error, sweeps)
		for i := range sweeps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				raised[i], errs[i] = e.svc.Sweep(e.ctx)
			}()
		}
		wg.Wait()
		total := 0
		for i := range sweeps {
			if errs[i] != nil {
				t.Errorf("concurrent sweep %d: %v", i, errs[i])
			}
			total += raised[i]
		}
		if total != n {
			t.Errorf("concurrent sweeps raised %d in all (%v); want %d", total, raised, n)
		}
		for range 2 {
			if again := e.sweep(); again != 0 {
				t.Errorf("a later sweep raised %d again", again)
			}
		}
		if got := e.breaches(domain.BreachFilter{}); len(got) != n {
			t.Errorf("%d breaches; want %d", len(got), n)
		}
		log := e.log()
		if got := len(slaEvents(log)); got != n {
			t.Errorf("%d SLA_BREACHED events; want %d (a losing sweep must leave none)", got, n)
		}
		for i, ev := range log {
			if ev.Seq != int64(i+1) {
				t.Fatalf("log event %d has seq %d: the log has a gap", i, ev.Seq)
			}
		}
	})
}

// ssAdmin is the store's Admin with a tenant whose service member cannot
// be had: the sweeper must log it and go on.
type ssAdmin struct {
	domain.Admin
	ghost *domain.Tenant
}

func (a ssAdmin) ListTenants(ctx context.Context) ([]*domain.Tenant, error) {
	ts, err := a.Admin.ListTenants(ctx)
	return append([]*domain.Tenant{a.ghost}, ts...), err
}

func (a ssAdmin) ServiceMember(ctx context.Context, tenantID, name string) (*domain.Member, error) {
	if tenantID == a.ghost.ID {
		return nil, errors.New("ghost tenant has no members")
	}
	return a.Admin.ServiceMember(ctx, tenantID, name)
}

// ssLog is a logger writing to a buffer safe for concurrent use.
type ssLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *ssLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *ssLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestSLASweepAll(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		acme := newSSEnv(t, db, "acme", nil)
		beta := acme.other("beta")
		acme.retired("SA-1")
		beta.retired("SB-1", "SB-2")
		acme.at(31 * ssDay)

		out := &ssLog{}
		log := slog.New(slog.NewTextHandler(out, nil))
		admin := ssAdmin{Admin: db, ghost: &domain.Tenant{ID: domain.NewID(), Slug: "ghost", Name: "Ghost"}}
		sw := domain.NewSweeper(acme.svc, admin, db, time.Hour, log)
		n, err := sw.SweepAll(context.Background())
		if err != nil || n != 3 {
			t.Fatalf("SweepAll = %d, %v; want 3 over both tenants", n, err)
		}
		if !strings.Contains(out.String(), "ghost") {
			t.Errorf("the failing tenant was not logged:\n%s", out)
		}
		for _, e := range []*ssEnv{acme, beta} {
			evs := slaEvents(e.log())
			if len(evs) != len(e.breaches(domain.BreachFilter{})) || len(evs) == 0 {
				t.Fatalf("%s: %d events for %d breaches", e.tenant.Slug, len(evs), len(e.breaches(domain.BreachFilter{})))
			}
			var actors []*domain.Member
			err := db.View(e.ctx, func(tx domain.Tx) (err error) {
				actors, err = tx.GetMembers([]string{evs[0].ActorID})
				return err
			})
			if err != nil || len(actors) != 1 || actors[0].Name != domain.SLASweeperName || actors[0].Kind != domain.MemberService ||
				len(actors[0].Roles) != 0 {
				t.Errorf("%s: breach actor = %+v, %v; want the tenant's SLA sweeper service member without roles", e.tenant.Slug, actors, err)
			}
		}
		if n, err := sw.SweepAll(context.Background()); err != nil || n != 0 {
			t.Errorf("second SweepAll = %d, %v; want nothing new", n, err)
		}

		// While another instance holds the lock, a sweep does not run.
		acme.retired("SA-2")
		acme.at(62 * ssDay)
		held, release, finished := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			ran, err := db.TryRun(context.Background(), domain.SLASweepLock, func(context.Context) error {
				close(held)
				<-release
				return nil
			})
			if err == nil && !ran {
				err = errors.New("the holder did not get the lock")
			}
			finished <- err
		}()
		select {
		case <-held:
		case err := <-finished:
			t.Fatalf("holding the sweep lock: %v", err)
		case <-time.After(obPatience):
			t.Fatal("the sweep lock was never taken")
		}
		if n, err := sw.SweepAll(context.Background()); err != nil || n != 0 {
			t.Errorf("SweepAll while another holds the lock = %d, %v; want it skipped", n, err)
		}
		if got := len(acme.breaches(domain.BreachFilter{})); got != 1 {
			t.Errorf("acme has %d breaches while the lock was held; want 1", got)
		}
		close(release)
		if err := <-finished; err != nil {
			t.Fatal(err)
		}
		if n, err := sw.SweepAll(context.Background()); err != nil || n != 1 {
			t.Errorf("SweepAll after the lock is released = %d, %v; want 1", n, err)
		}

		// Run sweeps on its own every interval until stopped.
		acme.retired("SA-3")
		acme.at(93 * ssDay)
		ctx, stop := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() {
			defer close(ran)
			domain.NewSweeper(acme.svc, db, db, 10*time.Millisecond, log).Run(ctx)
		}()
		deadline := time.Now().Add(obPatience)
		for len(acme.breaches(domain.BreachFilter{})) < 3 {
			if time.Now().After(deadline) {
				t.Fatal("Run never swept")
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		select {
		case <-ran:
		case <-time.After(obPatience):
			t.Fatal("Run did not stop with its context")
		}
		// A zero interval disables the sweeper.
		disabled := make(chan struct{})
		go func() {
			defer close(disabled)
			domain.NewSweeper(acme.svc, db, db, 0, log).Run(context.Background())
		}()
		select {
		case <-disabled:
		case <-time.After(obPatience):
			t.Fatal("Run with interval 0 did not return")
		}
	})
}

func TestSLAReconciliationReport(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newSSEnv(t, db, "acme", nil)
		// X is created before Y but retired a day after it: the report goes
		// by age, not by id.
		xy := e.serialized("RC-X", "RC-Y")
		x, y := xy[0], xy[1]
		e.retire(y)
		e.at(ssDay)
		e.retire(x)
		zwv := e.retired("RC-Z", "RC-W", "RC-V")
		z, w, v := zwv[0], zwv[1], zwv[2]
		o1 := e.order(z)
		e.at(2 * ssDay)
		o2 := e.order(w, v)
		e.moveAsset(w, domain.EventPickedUp)
		e.moveAsset(v, domain.EventPickedUp)
		o2 = e.advanceOrder(o2.ID, domain.PickupPickedUp)
		o3 := e.advanceOrder(e.order().ID, domain.PickupCertified)
		e.advanceOrder(e.order().ID, domain.PickupClosed)
		ada, bob := e.person("ada"), e.person("bob")
		e.deploy(ada, obLaptop("RC-D"))
		c, err := e.svc.OpenCase(e.ctx, domain.OpenCaseInput{PersonID: ada.ID, LastDay: day(2025, 6, 30), DueDate: day(2025, 12, 31)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.OpenCase(e.ctx, domain.OpenCaseInput{PersonID: bob.ID, LastDay: day(2025, 6, 30), DueDate: day(2025, 7, 1)}); err != nil {
			t.Fatal(err)
		}
		e.at(40 * ssDay)
		if n := e.sweep(); n != 5 {
			t.Fatalf("sweep raised %d; want 5 (X, Y, O1, O2, O3)", n)
		}
		u := e.retired("RC-U")[0] // fresh: not breached
		e.at(40*ssDay + time.Hour)

		rep, err := e.svc.ReconciliationReport(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Truncated || rep.GeneratedAt.Before(ssStart.Add(40*ssDay+time.Hour)) {
			t.Errorf("report truncated %v generated %s", rep.Truncated, rep.GeneratedAt)
		}

		type stageWant struct {
			kind     domain.SubjectKind
			stage    string
			count    int
			breached int
		}
		wantStages := []stageWant{
			{domain.SubjectAsset, "RETIRED", 3, 2}, {domain.SubjectAsset, "STAGED", 1, 0}, {domain.SubjectAsset, "PICKED_UP", 2, 0},
			{domain.SubjectAsset, "AT_VENDOR", 0, 0}, {domain.SubjectAsset, "SANITIZED", 0, 0}, {domain.SubjectAsset, "DESTROYED", 0, 0},
			{domain.SubjectAsset, "REMARKETED", 0, 0}, {domain.SubjectAsset, "RECYCLED", 0, 0},
			{domain.SubjectPickupOrder, "OPEN", 1, 1}, {domain.SubjectPickupOrder, "PICKED_UP", 1, 1},
			{domain.SubjectPickupOrder, "RECEIVED", 0, 0}, {domain.SubjectPickupOrder, "CERTIFIED", 1, 1},
			{domain.SubjectCase, "OPEN", 1, 0},
		}
		if len(rep.Stages) != len(wantStages) {
			t.Fatalf("report stages = %+v; want %d", rep.Stages, len(wantStages))
		}
		for i, ws := range wantStages {
			got := rep.Stages[i]
			if got.Kind != ws.kind || got.Stage != ws.stage || got.Count != ws.count || got.Breached != ws.breached ||
				got.OldestSince.IsZero() != (ws.count == 0) {
				t.Errorf("stage %d = %+v; want %+v", i, got, ws)
			}
		}

		type itemWant struct {
			kind     domain.SubjectKind
			id       string
			stage    string
			order    string
			breached bool
		}
		wantItems := []itemWant{
			{domain.SubjectAsset, y.ID, "RETIRED", "", true}, {domain.SubjectAsset, x.ID, "RETIRED", "", true},
			{domain.SubjectAsset, u.ID, "RETIRED", "", false},
			{domain.SubjectAsset, z.ID, "STAGED", o1.ID, false},
			{domain.SubjectAsset, w.ID, "PICKED_UP", o2.ID, false}, {domain.SubjectAsset, v.ID, "PICKED_UP", o2.ID, false},
			{domain.SubjectPickupOrder, o1.ID, "OPEN", o1.ID, true}, {domain.SubjectPickupOrder, o2.ID, "PICKED_UP", o2.ID, true},
			{domain.SubjectPickupOrder, o3.ID, "CERTIFIED", o3.ID, true},
			{domain.SubjectCase, c.ID, "OPEN", "", false},
		}
		if len(rep.Items) != len(wantItems) {
			for _, it := range rep.Items {
				t.Logf("item %+v", it)
			}
			t.Fatalf("report has %d items; want %d", len(rep.Items), len(wantItems))
		}
		for i, wi := range wantItems {
			got := rep.Items[i]
			if got.Kind != wi.kind || got.ID != wi.id || got.Stage != wi.stage || got.OrderID != wi.order || got.Breached != wi.breached {
				t.Errorf("item %d = %+v; want %+v", i, got, wi)
			}
		}
		byID := map[string]domain.ReconciliationItem{}
		for _, it := range rep.Items {
			byID[it.ID] = it
		}
		if it := byID[y.ID]; it.Serial != "RC-Y" || it.AgeDays != 40 || it.Since.Before(ssStart) || it.Since.After(ssStart.Add(time.Minute)) {
			t.Errorf("item Y = %+v; want serial RC-Y, retired at the start, 40 days old", it)
		}
		if it := byID[u.ID]; it.AgeDays != 0 {
			t.Errorf("item U = %+v; want 0 days old", it)
		}
		if it := byID[o2.ID]; !it.Since.Equal(*o2.PickedUpAt) || it.AgeDays != 38 {
			t.Errorf("item O2 = %+v; want since its pickup (%s), 38 days old", it, o2.PickedUpAt)
		}
		if it := byID[o1.ID]; !it.Since.Equal(o1.CreatedAt) {
			t.Errorf("item O1 = %+v; want since its creation (%s)", it, o1.CreatedAt)
		}
		if it := byID[o3.ID]; o3.CertifiedAt == nil || !it.Since.Equal(*o3.CertifiedAt) {
			t.Errorf("item O3 = %+v; want since its certificate", it)
		}
		if it := byID[c.ID]; !it.Since.Equal(c.OpenedAt) || it.AgeDays != 38 {
			t.Errorf("case item = %+v; want since opened (%s), 38 days old", it, c.OpenedAt)
		}
		if st := rep.Stages[0]; !st.OldestSince.Equal(byID[y.ID].Since) {
			t.Errorf("RETIRED oldest since %s; want Y's %s", st.OldestSince, byID[y.ID].Since)
		}
	})
}

// TestOpenCaseDefaultDueDate: without a due date a case is due the
// tenant's policy number of days after the last day.
func TestOpenCaseDefaultDueDate(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newSSEnv(t, db, "acme", nil)
		tests := []struct {
			name   string
			policy int // 0: the default policy
			due    time.Time
			want   time.Time
		}{
			{"default policy", 0, time.Time{}, day(2025, 7, 7)},
			{"explicit due date", 0, day(2025, 7, 31), day(2025, 7, 31)},
			{"tenant policy", 21, time.Time{}, day(2025, 7, 21)},
			{"explicit beats policy", 21, day(2025, 7, 2), day(2025, 7, 2)},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if tc.policy != 0 {
					in := ssPolicyInput(30)
					in.OffboardingDueDays = tc.policy
					if _, err := e.svc.SetSLAPolicy(e.ctx, in); err != nil {
						t.Fatal(err)
					}
				}
				p := e.person(fmt.Sprintf("leaver%d", i))
				e.deploy(p, obLaptop(fmt.Sprintf("DD-%d", i)))
				c, err := e.svc.OpenCase(e.ctx, domain.OpenCaseInput{PersonID: p.ID, LastDay: day(2025, 6, 30), DueDate: tc.due})
				if err != nil {
					t.Fatal(err)
				}
				if !c.DueDate.Equal(tc.want) || !e.caseOf(c.ID).DueDate.Equal(tc.want) {
					t.Errorf("due date = %s; want %s", c.DueDate, tc.want)
				}
				for _, ev := range e.log() {
					if ev.Type == domain.EventOffboardingOpened && ev.Details["case"] == c.ID && ev.Details["dueDate"] != tc.want.Format(time.DateOnly) {
						t.Errorf("OFFBOARDING_OPENED dueDate = %q; want %s", ev.Details["dueDate"], tc.want.Format(time.DateOnly))
					}
				}
			})
		}
	})
}
