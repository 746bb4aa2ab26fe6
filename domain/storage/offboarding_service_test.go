package storage_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/eventbus"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// Off-boarding, returns and the live feed, driven through the domain
// services over both stores: the adapters must satisfy them exactly.

var (
	// obStart is the test clock's origin, far from the case dates below so
	// that nothing depends on the machine's clock.
	obStart   = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	obLastDay = time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	obDueDate = time.Date(2025, 7, 14, 0, 0, 0, 0, time.UTC)
	// obHandSVG signs hand-offs, obReturnSVG returns: distinct images, so a
	// return's event cannot pass by quoting the hand-off's hash.
	obHandSVG   = []byte(`<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L9 9"/></svg>`)
	obReturnSVG = []byte(`<svg xmlns="http://www.w3.org/2000/svg"><path d="M1 8L8 1"/></svg>`)
)

// obPatience turns a hang into a failure; nothing waits for it to pass. The
// feed without a bus polls every second, well within it.
const obPatience = 30 * time.Second

// obAllTopics may hear everything (an admin).
func obAllTopics(domain.Topic) bool { return true }

// obClock moves one millisecond per reading: events get distinct,
// increasing times, and a test never crosses a calendar day by accident.
type obClock struct{ ticks atomic.Int64 }

func (c *obClock) now() time.Time {
	return obStart.Add(time.Duration(c.ticks.Add(1)) * time.Millisecond)
}

// obEnv is one tenant of a fresh store and a service over it.
type obEnv struct {
	t      *testing.T
	db     *storage.DB
	ctx    context.Context
	member *domain.Member
	svc    *domain.Service
}

func newOBEnv(t *testing.T, db *storage.DB, slug string, bus domain.Bus) *obEnv {
	t.Helper()
	ctx, _, member := storagetest.NewTenant(t, db, slug)
	clock := &obClock{}
	return &obEnv{t: t, db: db, ctx: ctx, member: member, svc: domain.NewService(db, bus, domain.WithClock(clock.now))}
}

// tenant returns another tenant of the same store, served by the same service.
func (e *obEnv) tenant(slug string) *obEnv {
	e.t.Helper()
	ctx, _, member := storagetest.NewTenant(e.t, e.db, slug)
	return &obEnv{t: e.t, db: e.db, ctx: ctx, member: member, svc: e.svc}
}

func (e *obEnv) person(name string) *domain.Person {
	e.t.Helper()
	p, err := e.svc.CreatePerson(e.ctx, domain.PersonInput{EmployeeID: "E-" + name, Name: name, Email: name + "@example.com"})
	if err != nil {
		e.t.Fatalf("create person %s: %v", name, err)
	}
	return p
}

func obLaptop(serial string) domain.NewAsset {
	return domain.NewAsset{Serial: serial, Make: "Lenovo", Model: "X1", Category: domain.CategoryLaptop, BearsData: true}
}

func obMonitor(tag string) domain.NewAsset {
	return domain.NewAsset{AssetTag: tag, Make: "Dell", Model: "U27", Category: domain.CategoryMonitor}
}

func obSignature(name string, svg []byte) domain.SignatureInput {
	return domain.SignatureInput{TypedName: name, ImageFormat: domain.ImageSVG,
		ImageBase64: base64.StdEncoding.EncodeToString(svg), ConsentText: "I accept.", ConsentVersion: "v1",
		Method: domain.SignatureDrawnOnDevice}
}

// deliver receives a parcel for to, serializes it into items and notifies
// to: the assets await collection.
func (e *obEnv) deliver(to *domain.Person, items ...domain.NewAsset) []*domain.Asset {
	e.t.Helper()
	p, err := e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "UPS", TrackingNumber: "1Z" + items[0].Serial + items[0].AssetTag,
		Sender: "Dell", RecipientID: to.ID, Location: "Dock A"})
	if err != nil {
		e.t.Fatalf("receive parcel: %v", err)
	}
	_, assets, err := e.svc.SerializeParcel(e.ctx, domain.SerializeParcelInput{ParcelID: p.ID, Assets: items})
	if err != nil {
		e.t.Fatalf("serialize parcel: %v", err)
	}
	if _, err := e.svc.NotifyRecipient(e.ctx, domain.NotifyRecipientInput{ParcelID: p.ID}); err != nil {
		e.t.Fatalf("notify recipient: %v", err)
	}
	return assets
}

// deploy delivers items to to and hands them off, signed: they are DEPLOYED
// to to.
func (e *obEnv) deploy(to *domain.Person, items ...domain.NewAsset) []*domain.Asset {
	e.t.Helper()
	assets := e.deliver(to, items...)
	ids := make([]string, len(assets))
	for i, a := range assets {
		ids[i] = a.ID
	}
	res, err := e.svc.HandOff(e.ctx, domain.HandOffInput{AssetIDs: ids, RecipientID: to.ID, Signature: obSignature(to.Name, obHandSVG)})
	if err != nil {
		e.t.Fatalf("hand off: %v", err)
	}
	return res.Assets
}

func (e *obEnv) openCase(p *domain.Person, due time.Time) *domain.OffboardingCase {
	e.t.Helper()
	c, err := e.svc.OpenCase(e.ctx, domain.OpenCaseInput{PersonID: p.ID, LastDay: obLastDay, DueDate: due})
	if err != nil {
		e.t.Fatalf("open case for %s: %v", p.Name, err)
	}
	return c
}

// returnAt records a successful return at the IT desk, in good condition
// unless in says otherwise.
func (e *obEnv) returnAt(in domain.ReturnInput) *domain.ReturnResult {
	e.t.Helper()
	if in.Location == "" {
		in.Location = "IT desk"
	}
	if in.Condition == "" {
		in.Condition = domain.ConditionGood
	}
	res, err := e.svc.ReturnAsset(e.ctx, in)
	if err != nil {
		e.t.Fatalf("return %s%s: %v", in.Serial, in.AssetTag, err)
	}
	return res
}

func (e *obEnv) asset(id string) *domain.Asset {
	e.t.Helper()
	a, err := e.svc.Asset(e.ctx, id)
	if err != nil || a == nil {
		e.t.Fatalf("Asset(%s) = %v, %v", id, a, err)
	}
	return a
}

func (e *obEnv) caseOf(id string) *domain.OffboardingCase {
	e.t.Helper()
	c, err := e.svc.Case(e.ctx, id)
	if err != nil || c == nil {
		e.t.Fatalf("Case(%s) = %v, %v", id, c, err)
	}
	return c
}

func (e *obEnv) event(id string) *domain.CustodyEvent {
	e.t.Helper()
	ev, err := e.svc.Event(e.ctx, id)
	if err != nil || ev == nil {
		e.t.Fatalf("Event(%s) = %v, %v", id, ev, err)
	}
	return ev
}

// items returns a case's items by asset id.
func (e *obEnv) items(caseID string) map[string]*domain.CaseItem {
	e.t.Helper()
	its, err := e.svc.CaseItems(e.ctx, []string{caseID})
	if err != nil {
		e.t.Fatalf("CaseItems(%s): %v", caseID, err)
	}
	out := make(map[string]*domain.CaseItem, len(its))
	for _, it := range its {
		out[it.AssetID] = it
	}
	return out
}

// log reads the tenant's whole custody log straight from the store.
func (e *obEnv) log() []*domain.CustodyEvent {
	e.t.Helper()
	var out []*domain.CustodyEvent
	err := e.db.View(e.ctx, func(tx domain.Tx) error {
		return tx.ScanEvents(0, func(ev *domain.CustodyEvent) error {
			out = append(out, ev)
			return nil
		})
	})
	if err != nil {
		e.t.Fatalf("scan custody log: %v", err)
	}
	return out
}

func (e *obEnv) size() int64 {
	e.t.Helper()
	h, err := e.svc.LedgerHead(e.ctx)
	if err != nil {
		e.t.Fatalf("ledger head: %v", err)
	}
	return h.Size
}

// caseEvents lists the types of the log's events bound to a case, in order.
func caseEvents(log []*domain.CustodyEvent, caseID string) []domain.EventType {
	var out []domain.EventType
	for _, ev := range log {
		if ev.Details["case"] == caseID {
			out = append(out, ev.Type)
		}
	}
	return out
}

// checkCode reports whether err is a user error with code want, failing the
// test (without stopping it) when it is not.
func checkCode(t *testing.T, err error, want domain.Code) bool {
	t.Helper()
	var ue domain.UserErrors
	if !errors.As(err, &ue) {
		t.Errorf("error = %v; want a user error %s", err, want)
		return false
	}
	for _, u := range ue {
		if u.Code == want {
			return true
		}
	}
	t.Errorf("user errors %v; want code %s", ue, want)
	return false
}

func obSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestOffboardingOpenCase(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		ada, bob, cy := e.person("ada"), e.person("bob"), e.person("cy")
		held := e.deploy(ada, obLaptop("OC-1"), obMonitor("OC-T2"))
		e.deliver(ada, obLaptop("OC-3"))         // awaiting collection: not hers yet
		others := e.deploy(cy, obLaptop("OC-4")) // someone else's

		// The last day given late in the evening at UTC+2: its own calendar
		// day is the one stored.
		lastDay := time.Date(2025, 6, 30, 23, 30, 0, 0, time.FixedZone("UTC+2", 2*3600))
		c, err := e.svc.OpenCase(e.ctx, domain.OpenCaseInput{PersonID: ada.ID, LastDay: lastDay, DueDate: obDueDate, Note: "moving abroad"})
		if err != nil {
			t.Fatal(err)
		}
		if c.State != domain.CaseOpen || c.CompletedAt != nil || c.PersonID != ada.ID || c.OpenedByID != e.member.ID ||
			!c.LastDay.Equal(obLastDay) || !c.DueDate.Equal(obDueDate) || c.Note != "moving abroad" {
			t.Errorf("OpenCase = %+v; want open for Ada, last day %s, due %s", c, obLastDay, obDueDate)
		}
		if got := e.caseOf(c.ID); got.State != domain.CaseOpen || !got.LastDay.Equal(obLastDay) || !got.DueDate.Equal(obDueDate) {
			t.Errorf("stored case = %+v; want as opened", got)
		}
		items := e.items(c.ID)
		if len(items) != len(held) {
			t.Errorf("case items = %d; want the %d assets deployed to Ada", len(items), len(held))
		}
		for _, a := range held {
			if it := items[a.ID]; it == nil || !it.Expected || it.Status != domain.ItemOutstanding || it.ReturnID != "" {
				t.Errorf("item for %s = %+v; want expected and OUTSTANDING", a.ID, it)
			}
		}
		if items[others[0].ID] != nil {
			t.Errorf("Cy's asset is an item of Ada's case")
		}

		// Someone holding nothing has nothing to give back.
		empty, err := e.svc.OpenCase(e.ctx, domain.OpenCaseInput{PersonID: bob.ID, LastDay: obLastDay, DueDate: obDueDate})
		if err != nil {
			t.Fatal(err)
		}
		if empty.State != domain.CaseCompleted || empty.CompletedAt == nil {
			t.Errorf("case of someone holding nothing = %+v; want COMPLETED at once", empty)
		}
		if got := e.caseOf(empty.ID); got.State != domain.CaseCompleted || got.CompletedAt == nil {
			t.Errorf("stored case = %+v; want COMPLETED", got)
		}
		if n := len(e.items(empty.ID)); n != 0 {
			t.Errorf("empty case has %d items", n)
		}
		// A completed case does not stand in the way of a new one.
		if again, err := e.svc.OpenCase(e.ctx, domain.OpenCaseInput{PersonID: bob.ID, LastDay: obLastDay, DueDate: obDueDate}); err != nil || again.ID == empty.ID {
			t.Errorf("second case after a completed one = %+v, %v; want a new case", again, err)
		}

		log := e.log()
		if got, want := caseEvents(log, c.ID), []domain.EventType{domain.EventOffboardingOpened}; !slices.Equal(got, want) {
			t.Errorf("events of Ada's case = %v; want %v", got, want)
		}
		if got, want := caseEvents(log, empty.ID), []domain.EventType{domain.EventOffboardingOpened, domain.EventOffboardingCompleted}; !slices.Equal(got, want) {
			t.Errorf("events of Bob's case = %v; want %v", got, want)
		}
		for _, ev := range log {
			if ev.Type == domain.EventOffboardingOpened && ev.Details["case"] == c.ID {
				want := map[string]string{"person": ada.ID, "lastDay": "2025-06-30", "dueDate": "2025-07-14", "expectedItems": "2"}
				for k, v := range want {
					if ev.Details[k] != v {
						t.Errorf("OFFBOARDING_OPENED details[%s] = %q; want %q", k, ev.Details[k], v)
					}
				}
				if ev.AssetID != "" || ev.ActorID != e.member.ID {
					t.Errorf("OFFBOARDING_OPENED = %+v; want a case-level event by the member", ev)
				}
			}
		}

		// Refusals write nothing.
		before := e.size()
		tests := []struct {
			name string
			in   domain.OpenCaseInput
			code domain.Code
		}{
			{"second open case", domain.OpenCaseInput{PersonID: ada.ID, LastDay: obLastDay, DueDate: obDueDate}, domain.CodeDuplicate},
			{"due before last day", domain.OpenCaseInput{PersonID: cy.ID, LastDay: obDueDate, DueDate: obLastDay}, domain.CodeInvalid},
			{"no last day", domain.OpenCaseInput{PersonID: cy.ID, DueDate: obDueDate}, domain.CodeRequired},
			{"last day out of range", domain.OpenCaseInput{PersonID: cy.ID, LastDay: time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), DueDate: obDueDate}, domain.CodeInvalid},
			{"no person", domain.OpenCaseInput{LastDay: obLastDay, DueDate: obDueDate}, domain.CodeRequired},
			{"unknown person", domain.OpenCaseInput{PersonID: domain.NewID(), LastDay: obLastDay, DueDate: obDueDate}, domain.CodeNotFound},
			{"not a person id", domain.OpenCaseInput{PersonID: "nobody", LastDay: obLastDay, DueDate: obDueDate}, domain.CodeNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, err := e.svc.OpenCase(e.ctx, tc.in)
				if c != nil {
					t.Errorf("OpenCase returned a case %+v", c)
				}
				checkCode(t, err, tc.code)
			})
		}
		if after := e.size(); after != before {
			t.Errorf("refused OpenCase calls appended %d events", after-before)
		}
		if page, err := e.svc.Cases(e.ctx, "", cy.ID, nil, ""); err != nil || len(page.Items) != 0 {
			t.Errorf("Cy's cases = %d, %v; want none", len(page.Items), err)
		}
	})
}

func TestOffboardingHandOffJoinsOpenCase(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		ada, bob := e.person("ada"), e.person("bob")
		first := e.deploy(ada, obLaptop("HJ-1"))[0]
		c := e.openCase(ada, obDueDate)
		late := e.deploy(ada, obLaptop("HJ-2"))[0] // handed over while she is leaving
		e.deploy(bob, obLaptop("HJ-3"))            // to someone else

		items := e.items(c.ID)
		if len(items) != 2 {
			t.Fatalf("case items = %d; want the held laptop and the one handed off since", len(items))
		}
		for _, a := range []*domain.Asset{first, late} {
			if it := items[a.ID]; it == nil || !it.Expected || it.Status != domain.ItemOutstanding {
				t.Errorf("item for %s = %+v; want expected and OUTSTANDING", a.Serial, it)
			}
		}

		// Both back: the case completes, and a later hand-off does not touch it.
		e.returnAt(domain.ReturnInput{Serial: "HJ-1"})
		if res := e.returnAt(domain.ReturnInput{Serial: "HJ-2"}); res.Case == nil || res.Case.State != domain.CaseCompleted {
			t.Fatalf("last return's case = %+v; want COMPLETED", res.Case)
		}
		e.deploy(ada, obLaptop("HJ-4"))
		if n := len(e.items(c.ID)); n != 2 {
			t.Errorf("completed case has %d items after a new hand-off; want 2", n)
		}
	})
}

func TestReturnAsset(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		ada, bob, cy, dan, eve := e.person("ada"), e.person("bob"), e.person("cy"), e.person("dan"), e.person("eve")
		adas := e.deploy(ada, obLaptop("SN 100 A"), obMonitor("TAG-200"))
		bobs := e.deploy(bob, obLaptop("BOB-1"))
		e.deploy(cy, obLaptop("CY-1"), obMonitor("CY-T2"))
		e.deploy(dan, obLaptop("DAN-1"))
		eves := e.deploy(eve, obLaptop("EVE-1"))
		globex := e.tenant("globex")
		foreign := globex.deploy(globex.person("zed"), obLaptop("FOREIGN-1"))[0]
		adaCase, danCase := e.openCase(ada, obDueDate), e.openCase(dan, obDueDate)

		// By serial, as scanned: lower case, with spaces.
		r1, err := e.svc.ReturnAsset(e.ctx, domain.ReturnInput{Serial: " sn100 a ", Location: "IT desk",
			Condition: domain.ConditionWorn, Note: "scratched lid"})
		if err != nil {
			t.Fatal(err)
		}
		ret := r1.Return
		if ret.AssetID != adas[0].ID || ret.FromPersonID != ada.ID || ret.ReceivedByID != e.member.ID ||
			ret.CaseID != adaCase.ID || ret.Unmatched || ret.Condition != domain.ConditionWorn ||
			ret.Location != "IT desk" || ret.Note != "scratched lid" || ret.EventID == "" || ret.SignatureID != "" {
			t.Errorf("Return = %+v; want from Ada (the holder), toward her case", ret)
		}
		if stored, err := e.svc.Return(e.ctx, ret.ID); err != nil || stored == nil || stored.EventID != ret.EventID ||
			stored.CaseID != adaCase.ID || stored.Condition != domain.ConditionWorn || stored.FromPersonID != ada.ID {
			t.Errorf("stored Return = %+v, %v; want as recorded", stored, err)
		}
		want := domain.Custodian{Kind: domain.CustodianLocation, Ref: "IT desk"}
		for _, a := range []*domain.Asset{r1.Asset, e.asset(adas[0].ID)} {
			if a.State != domain.StateReturnReceived || a.Custodian != want || a.Condition != "WORN" || a.LastEventID != ret.EventID {
				t.Errorf("returned asset = %+v; want RETURN_RECEIVED at the IT desk, WORN", a)
			}
		}
		if r1.Case == nil || r1.Case.ID != adaCase.ID || r1.Case.State != domain.CaseOpen {
			t.Errorf("return's case = %+v; want Ada's, still open", r1.Case)
		}
		it := e.items(adaCase.ID)[adas[0].ID]
		if it == nil || it.Status != domain.ItemReturned || it.ReturnID != ret.ID || it.EventID != ret.EventID ||
			it.ResolvedAt == nil || it.ResolvedByID != e.member.ID || !it.Expected {
			t.Errorf("returned item = %+v; want RETURNED by %s", it, ret.ID)
		}
		ev := e.event(ret.EventID)
		if ev.Type != domain.EventReturnReceived || ev.AssetID != adas[0].ID || ev.FromState != domain.StateDeployed ||
			ev.ToState != domain.StateReturnReceived || ev.FromCustodian != (domain.Custodian{Kind: domain.CustodianPerson, Ref: ada.ID}) ||
			ev.ToCustodian != want || ev.Location != "IT desk" || ev.Details["case"] != adaCase.ID ||
			ev.Details["fromPerson"] != ada.ID || ev.Details["condition"] != "WORN" || ev.Details["unmatched"] != "" {
			t.Errorf("return event = %+v; want RETURN_RECEIVED from Ada bound to her case", ev)
		}

		// By tag, as scanned, signed: the last item completes the case.
		sig := obSignature("Ada", obReturnSVG)
		r2, err := e.svc.ReturnAsset(e.ctx, domain.ReturnInput{AssetTag: " tag- 200", Location: "IT desk",
			Condition: domain.ConditionGood, Signature: &sig})
		if err != nil {
			t.Fatal(err)
		}
		if r2.Return.AssetID != adas[1].ID || r2.Return.SignatureID == "" {
			t.Fatalf("signed return = %+v; want Ada's monitor, with a signature", r2.Return)
		}
		stored, err := e.svc.Signature(e.ctx, r2.Return.SignatureID)
		if err != nil || stored == nil || stored.SignerID != ada.ID || stored.ImageSHA256 != obSHA256(obReturnSVG) {
			t.Errorf("return signature = %+v, %v; want Ada's, of the return image", stored, err)
		}
		ev = e.event(r2.Return.EventID)
		if ev.SignatureID != r2.Return.SignatureID || ev.Details["signatureImageSha256"] != obSHA256(obReturnSVG) {
			t.Errorf("signed return event = %+v; want the signature bound into it", ev)
		}
		if r2.Case == nil || r2.Case.State != domain.CaseCompleted || r2.Case.CompletedAt == nil {
			t.Errorf("case after the last return = %+v; want COMPLETED", r2.Case)
		}
		if got := e.caseOf(adaCase.ID); got.State != domain.CaseCompleted || got.CompletedAt == nil {
			t.Errorf("stored case = %+v; want COMPLETED", got)
		}
		log := e.log()
		if got, want := caseEvents(log, adaCase.ID), []domain.EventType{domain.EventOffboardingOpened,
			domain.EventReturnReceived, domain.EventReturnReceived, domain.EventOffboardingCompleted}; !slices.Equal(got, want) {
			t.Errorf("events of Ada's case = %v; want %v", got, want)
		}

		// No case expects anything from Bob: recorded all the same, flagged.
		r3 := e.returnAt(domain.ReturnInput{Serial: "BOB-1"})
		if !r3.Return.Unmatched || r3.Return.CaseID != "" || r3.Case != nil || r3.Return.FromPersonID != bob.ID ||
			e.asset(bobs[0].ID).State != domain.StateReturnReceived {
			t.Errorf("unmatched return = %+v (case %+v); want flagged, recorded", r3.Return, r3.Case)
		}
		if ev := e.event(r3.Return.EventID); ev.Details["unmatched"] == "" || ev.Details["case"] != "" {
			t.Errorf("unmatched return's details = %v; want flagged, no case", ev.Details)
		}
		if page, err := e.svc.Returns(e.ctx, domain.ReturnFilter{UnmatchedOnly: true}, nil, ""); err != nil ||
			len(page.Items) != 1 || page.Items[0].ID != r3.Return.ID {
			t.Errorf("unmatched returns = %v, %v; want Bob's only", page.Items, err)
		}

		// Dan, leaving, brings back Eve's laptop: it joins his case as unexpected.
		r4 := e.returnAt(domain.ReturnInput{Serial: "EVE-1", FromPersonID: dan.ID})
		if r4.Return.CaseID != danCase.ID || r4.Return.Unmatched || r4.Return.FromPersonID != dan.ID {
			t.Errorf("unexpected return = %+v; want toward Dan's case", r4.Return)
		}
		danItems := e.items(danCase.ID)
		if it := danItems[eves[0].ID]; it == nil || it.Expected || it.Status != domain.ItemReturned || it.ReturnID != r4.Return.ID {
			t.Errorf("Eve's laptop in Dan's case = %+v; want unexpected, RETURNED", it)
		}
		if len(danItems) != 2 || e.caseOf(danCase.ID).State != domain.CaseOpen {
			t.Errorf("Dan's case: %d items, %s; want 2 items, still open (his own laptop is out)", len(danItems), e.caseOf(danCase.ID).State)
		}

		// Refusals write nothing.
		before := e.size()
		tests := []struct {
			name string
			in   domain.ReturnInput
			code domain.Code
		}{
			{"another tenant's serial", domain.ReturnInput{Serial: "FOREIGN-1"}, domain.CodeNotFound},
			{"unknown tag", domain.ReturnInput{AssetTag: "NO-SUCH-TAG"}, domain.CodeNotFound},
			{"serial and tag of different assets", domain.ReturnInput{Serial: "CY-1", AssetTag: "CY-T2"}, domain.CodeInvalid},
			{"not deployed", domain.ReturnInput{Serial: "SN100A", FromPersonID: ada.ID}, domain.CodeIllegalTransition},
			{"not deployed and held by no one: the state is refused first", domain.ReturnInput{Serial: "SN100A"}, domain.CodeIllegalTransition},
			{"no identifier", domain.ReturnInput{}, domain.CodeRequired},
			{"unknown returner", domain.ReturnInput{Serial: "CY-1", FromPersonID: domain.NewID()}, domain.CodeNotFound},
			{"unknown condition", domain.ReturnInput{Serial: "CY-1", Condition: "MINT"}, domain.CodeInvalid},
			{"unknown parcel", domain.ReturnInput{Serial: "CY-1", ParcelID: domain.NewID()}, domain.CodeNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				in := tc.in
				in.Location = "IT desk"
				if in.Condition == "" {
					in.Condition = domain.ConditionGood
				}
				res, err := e.svc.ReturnAsset(e.ctx, in)
				if res != nil {
					t.Errorf("ReturnAsset returned %+v", res)
				}
				checkCode(t, err, tc.code)
			})
		}
		t.Run("no location", func(t *testing.T) {
			_, err := e.svc.ReturnAsset(e.ctx, domain.ReturnInput{Serial: "CY-1", Condition: domain.ConditionGood})
			checkCode(t, err, domain.CodeRequired)
		})
		if after := e.size(); after != before {
			t.Errorf("refused returns appended %d events", after-before)
		}
		if a, err := globex.svc.Asset(globex.ctx, foreign.ID); err != nil || a == nil || a.State != domain.StateDeployed {
			t.Errorf("the other tenant's asset = %+v, %v; want untouched, DEPLOYED", a, err)
		}
		if page, err := e.svc.Returns(e.ctx, domain.ReturnFilter{}, nil, ""); err != nil || len(page.Items) != 4 {
			t.Errorf("returns = %d, %v; want the 4 recorded", len(page.Items), err)
		}
	})
}

func TestReturnParcels(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		ada, bob := e.person("ada"), e.person("bob")
		adas := e.deploy(ada, obLaptop("RP-1"), obLaptop("RP-2"))
		bobs := e.deploy(bob, obLaptop("RP-B"))
		c := e.openCase(ada, obDueDate)

		parcel, err := e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "DHL", TrackingNumber: "JD01",
			Sender: "Ada", ReturnCaseID: c.ID, Location: "Dock A"})
		if err != nil {
			t.Fatal(err)
		}
		if parcel.ReturnCaseID != c.ID || parcel.RecipientID != "" || parcel.State != domain.ParcelReceived {
			t.Errorf("return parcel = %+v; want linked to the case, no recipient", parcel)
		}
		var received *domain.CustodyEvent
		for _, ev := range e.log() {
			if ev.ParcelID == parcel.ID && ev.Type == domain.EventParcelReceived {
				received = ev
			}
		}
		if received == nil || received.Details["case"] != c.ID {
			t.Errorf("return parcel's PARCEL_RECEIVED = %+v; want bound to the case", received)
		}

		res := e.returnAt(domain.ReturnInput{Serial: "RP-1", ParcelID: parcel.ID})
		if res.Return.ParcelID != parcel.ID || res.Return.CaseID != c.ID || res.Return.Unmatched {
			t.Errorf("return from the parcel = %+v; want toward the parcel's case", res.Return)
		}
		if ev := e.event(res.Return.EventID); ev.Details["returnParcel"] != parcel.ID || ev.Details["case"] != c.ID {
			t.Errorf("return event details = %v; want the parcel and the case", ev.Details)
		}
		if it := e.items(c.ID)[adas[0].ID]; it == nil || it.Status != domain.ItemReturned {
			t.Errorf("item = %+v; want RETURNED", it)
		}

		// Refusals write nothing.
		before := e.size()
		tests := []struct {
			name string
			call func() error
			code domain.Code
		}{
			{"return with an ordinary parcel", func() error {
				_, err := e.svc.ReturnAsset(e.ctx, domain.ReturnInput{Serial: "RP-2", ParcelID: bobs[0].ParcelID,
					Location: "IT desk", Condition: domain.ConditionGood})
				return err
			}, domain.CodeInvalid},
			{"serialize a return parcel", func() error {
				_, _, err := e.svc.SerializeParcel(e.ctx, domain.SerializeParcelInput{ParcelID: parcel.ID,
					Assets: []domain.NewAsset{obLaptop("RP-NEW")}})
				return err
			}, domain.CodeIllegalTransition},
			{"receive with recipient and case", func() error {
				_, err := e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "DHL", TrackingNumber: "JD02",
					Sender: "Ada", RecipientID: bob.ID, ReturnCaseID: c.ID, Location: "Dock A"})
				return err
			}, domain.CodeInvalid},
			{"receive for an unknown case", func() error {
				_, err := e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "DHL", TrackingNumber: "JD03",
					Sender: "Ada", ReturnCaseID: domain.NewID(), Location: "Dock A"})
				return err
			}, domain.CodeNotFound},
			{"receive with neither recipient nor case", func() error {
				_, err := e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "DHL", TrackingNumber: "JD04",
					Sender: "Ada", Location: "Dock A"})
				return err
			}, domain.CodeRequired},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { checkCode(t, tc.call(), tc.code) })
		}
		if after := e.size(); after != before {
			t.Errorf("refused calls appended %d events", after-before)
		}

		if res := e.returnAt(domain.ReturnInput{Serial: "RP-2", ParcelID: parcel.ID}); res.Case == nil || res.Case.State != domain.CaseCompleted {
			t.Fatalf("case after the parcel's last item = %+v; want COMPLETED", res.Case)
		}
		_, err = e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "DHL", TrackingNumber: "JD05",
			Sender: "Ada", ReturnCaseID: c.ID, Location: "Dock A"})
		checkCode(t, err, domain.CodeCaseNotOpen)
		// A parcel of a completed case no longer decides: Bob's laptop found
		// in it is an ordinary, unmatched return.
		if res := e.returnAt(domain.ReturnInput{Serial: "RP-B", ParcelID: parcel.ID}); res.Case != nil || !res.Return.Unmatched {
			t.Errorf("return via a completed case's parcel = %+v (case %+v); want unmatched", res.Return, res.Case)
		}
	})
}

func TestWriteOffItem(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		ada, bob := e.person("ada"), e.person("bob")
		adas := e.deploy(ada, obLaptop("WO-1"), obLaptop("WO-2"), obLaptop("WO-3"))
		bobs := e.deploy(bob, obLaptop("WO-B"))
		c := e.openCase(ada, obDueDate)

		before := e.size()
		refusals := []struct {
			name string
			in   domain.WriteOffInput
			code domain.Code
		}{
			{"kept without approval", domain.WriteOffInput{CaseID: c.ID, AssetID: adas[1].ID, Kind: domain.WriteOffKept, Reason: "home office"}, domain.CodeRequired},
			{"unknown kind", domain.WriteOffInput{CaseID: c.ID, AssetID: adas[1].ID, Kind: "BURNT", Reason: "fire"}, domain.CodeInvalid},
			{"no reason", domain.WriteOffInput{CaseID: c.ID, AssetID: adas[1].ID, Kind: domain.WriteOffLost}, domain.CodeRequired},
			{"not an item of the case", domain.WriteOffInput{CaseID: c.ID, AssetID: bobs[0].ID, Kind: domain.WriteOffLost, Reason: "gone"}, domain.CodeNotFound},
			{"unknown case", domain.WriteOffInput{CaseID: domain.NewID(), AssetID: adas[1].ID, Kind: domain.WriteOffLost, Reason: "gone"}, domain.CodeNotFound},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.svc.WriteOffItem(e.ctx, tc.in)
				checkCode(t, err, tc.code)
			})
		}
		if after := e.size(); after != before {
			t.Errorf("refused write-offs appended %d events", after-before)
		}

		// Lost: the asset becomes LOST, still recorded with Ada.
		got, err := e.svc.WriteOffItem(e.ctx, domain.WriteOffInput{CaseID: c.ID, AssetID: adas[0].ID, Kind: domain.WriteOffLost, Reason: "left on a train"})
		if err != nil {
			t.Fatal(err)
		}
		if got.State != domain.CaseOpen {
			t.Errorf("case = %s; want still open", got.State)
		}
		lost := e.asset(adas[0].ID)
		if lost.State != domain.StateLost || lost.HolderID() != ada.ID {
			t.Errorf("lost asset = %+v; want LOST, liability still with Ada", lost)
		}
		it := e.items(c.ID)[adas[0].ID]
		if it == nil || it.Status != domain.ItemWrittenOff || it.WriteOff != domain.WriteOffLost || it.WriteOffReason != "left on a train" ||
			it.EventID != lost.LastEventID || it.ResolvedAt == nil || it.ResolvedByID != e.member.ID {
			t.Errorf("lost item = %+v; want WRITTEN_OFF by event %s", it, lost.LastEventID)
		}
		if ev := e.event(lost.LastEventID); ev.Type != domain.EventReportedLost || ev.Details["case"] != c.ID ||
			ev.Details["writeOff"] != "LOST" || ev.Details["reason"] != "left on a train" {
			t.Errorf("write-off event = %+v; want REPORTED_LOST bound to the case", ev)
		}
		_, err = e.svc.WriteOffItem(e.ctx, domain.WriteOffInput{CaseID: c.ID, AssetID: adas[0].ID, Kind: domain.WriteOffLost, Reason: "again"})
		checkCode(t, err, domain.CodeNotOutstanding)

		e.returnAt(domain.ReturnInput{Serial: "WO-3"})
		if e.caseOf(c.ID).State != domain.CaseOpen {
			t.Fatalf("case completed with WO-2 outstanding")
		}

		// Kept with approval, the last outstanding item: the case completes.
		got, err = e.svc.WriteOffItem(e.ctx, domain.WriteOffInput{CaseID: c.ID, AssetID: adas[1].ID, Kind: domain.WriteOffKept,
			Reason: "home office", ApprovedBy: "CFO"})
		if err != nil {
			t.Fatal(err)
		}
		if got.State != domain.CaseCompleted || got.CompletedAt == nil {
			t.Errorf("case after the last write-off = %+v; want COMPLETED", got)
		}
		kept := e.asset(adas[1].ID)
		if kept.State != domain.StateDeployed || kept.HolderID() != ada.ID {
			t.Errorf("kept asset = %+v; want still DEPLOYED to Ada", kept)
		}
		ev := e.event(kept.LastEventID)
		if ev.Type != domain.EventRetentionApproved || ev.FromState != domain.StateDeployed || ev.ToState != domain.StateDeployed ||
			ev.Details["approvedBy"] != "CFO" || ev.Details["case"] != c.ID || ev.Location != "" {
			t.Errorf("retention event = %+v; want RETENTION_APPROVED by the CFO, no state change", ev)
		}
		if it := e.items(c.ID)[adas[1].ID]; it == nil || it.Status != domain.ItemWrittenOff || it.WriteOff != domain.WriteOffKept ||
			it.ApprovedBy != "CFO" || it.EventID != ev.ID {
			t.Errorf("kept item = %+v; want WRITTEN_OFF, approved by the CFO", it)
		}
		log := e.log()
		if last := log[len(log)-1]; last.Type != domain.EventOffboardingCompleted || last.Details["case"] != c.ID {
			t.Errorf("last event = %+v; want OFFBOARDING_COMPLETED of the case", last)
		}

		_, err = e.svc.WriteOffItem(e.ctx, domain.WriteOffInput{CaseID: c.ID, AssetID: adas[1].ID, Kind: domain.WriteOffLost, Reason: "late"})
		checkCode(t, err, domain.CodeCaseNotOpen)

		// The lost laptop turns up after all: received like any return.
		found := e.returnAt(domain.ReturnInput{Serial: "WO-1"})
		if found.Asset.State != domain.StateReturnReceived || found.Return.FromPersonID != ada.ID || e.event(found.Return.EventID).FromState != domain.StateLost {
			t.Errorf("return of the lost laptop = %+v, %+v; want LOST → RETURN_RECEIVED from Ada", found.Return, found.Asset)
		}
	})
}

func TestRestockAndRetire(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		ada := e.person("ada")
		adas := e.deploy(ada, obLaptop("RS-1"), obLaptop("RS-2"), obLaptop("RS-3"))
		e.returnAt(domain.ReturnInput{Serial: "RS-1"})
		e.returnAt(domain.ReturnInput{Serial: "RS-2"})
		restock, retire := e.svc.Restock, e.svc.Retire
		steps := []struct {
			name  string
			op    func(context.Context, domain.DispositionInput) (*domain.Asset, error)
			in    domain.DispositionInput
			code  domain.Code // "" for success
			state domain.AssetState
			place string
		}{
			{"restock a deployed asset", restock, domain.DispositionInput{AssetID: adas[2].ID}, domain.CodeIllegalTransition, "", ""},
			{"retire a deployed asset", retire, domain.DispositionInput{AssetID: adas[2].ID, Reason: "old"}, domain.CodeIllegalTransition, "", ""},
			{"restock an unknown asset", restock, domain.DispositionInput{AssetID: domain.NewID()}, domain.CodeNotFound, "", ""},
			{"retire without a reason", retire, domain.DispositionInput{AssetID: adas[0].ID}, domain.CodeRequired, "", ""},
			{"restock to a shelf", restock, domain.DispositionInput{AssetID: adas[0].ID, Location: "Shelf 3"}, "", domain.StateInStock, "Shelf 3"},
			{"restock twice", restock, domain.DispositionInput{AssetID: adas[0].ID}, domain.CodeIllegalTransition, "", ""},
			{"retire from stock", retire, domain.DispositionInput{AssetID: adas[0].ID, Reason: "end of life"}, "", domain.StateRetired, "Shelf 3"},
			{"retire twice", retire, domain.DispositionInput{AssetID: adas[0].ID, Reason: "again"}, domain.CodeIllegalTransition, "", ""},
			{"restock where it was returned", restock, domain.DispositionInput{AssetID: adas[1].ID}, "", domain.StateInStock, "IT desk"},
		}
		for _, st := range steps {
			before := e.size()
			a, err := st.op(e.ctx, st.in)
			if st.code != "" {
				if checkCode(t, err, st.code) && e.size() != before {
					t.Errorf("%s: refused, yet appended events", st.name)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			stored := e.asset(a.ID)
			if a.State != st.state || stored.State != st.state || stored.Custodian != (domain.Custodian{Kind: domain.CustodianLocation, Ref: st.place}) {
				t.Errorf("%s: asset = %+v; want %s at %s", st.name, stored, st.state, st.place)
			}
			ev := e.event(stored.LastEventID)
			if ev.ToState != st.state || ev.Location != st.place || ev.Details["reason"] != st.in.Reason || e.size() != before+1 {
				t.Errorf("%s: event = %+v; want one event to %s with reason %q", st.name, ev, st.state, st.in.Reason)
			}
		}
	})
}

func TestCasesByStatus(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		ada, bob, cy := e.person("ada"), e.person("bob"), e.person("cy")
		e.deploy(ada, obLaptop("CS-1"))
		e.deploy(cy, obLaptop("CS-2"))
		adaCase := e.openCase(ada, obDueDate)
		bobCase := e.openCase(bob, obDueDate) // holds nothing: completed
		cyCase := e.openCase(cy, time.Date(2025, 8, 29, 0, 0, 0, 0, time.UTC))

		dueDayEnd := obDueDate.Add(24*time.Hour - time.Nanosecond)
		dayAfter := obDueDate.Add(24 * time.Hour)
		tests := []struct {
			name      string
			now       time.Time
			status    domain.CaseStatus
			want      []string
			adaStatus domain.CaseStatus
		}{
			{"open, on the due day", dueDayEnd, domain.CaseStatusOpen, []string{adaCase.ID, cyCase.ID}, domain.CaseStatusOpen},
			{"none overdue on the due day", dueDayEnd, domain.CaseStatusOverdue, nil, domain.CaseStatusOpen},
			{"overdue the day after", dayAfter, domain.CaseStatusOverdue, []string{adaCase.ID}, domain.CaseStatusOverdue},
			{"overdue long after", time.Date(2025, 9, 1, 12, 0, 0, 0, time.UTC), domain.CaseStatusOverdue, []string{adaCase.ID, cyCase.ID}, domain.CaseStatusOverdue},
			{"completed", dayAfter, domain.CaseStatusCompleted, []string{bobCase.ID}, domain.CaseStatusOverdue},
			{"any", dayAfter, "", []string{adaCase.ID, bobCase.ID, cyCase.ID}, domain.CaseStatusOverdue},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				svc := domain.NewService(db, nil, domain.WithClock(func() time.Time { return tc.now }))
				page, err := svc.Cases(e.ctx, tc.status, "", nil, "")
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, c := range page.Items {
					got = append(got, c.ID)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("Cases(%q) at %s = %v; want %v", tc.status, tc.now, got, tc.want)
				}
				if s := svc.CaseStatus(adaCase); s != tc.adaStatus {
					t.Errorf("CaseStatus(Ada's) at %s = %s; want %s", tc.now, s, tc.adaStatus)
				}
				if s := adaCase.Status(tc.now); s != tc.adaStatus {
					t.Errorf("Status(%s) = %s; want %s", tc.now, s, tc.adaStatus)
				}
			})
		}
		if page, err := e.svc.Cases(e.ctx, "", bob.ID, nil, ""); err != nil || len(page.Items) != 1 || page.Items[0].ID != bobCase.ID {
			t.Errorf("Bob's cases = %v, %v; want his one", page.Items, err)
		}
		var arg *domain.ArgumentError
		if _, err := e.svc.Cases(e.ctx, "STALLED", "", nil, ""); !errors.As(err, &arg) {
			t.Errorf("Cases(unknown status) = %v; want an argument error", err)
		}
	})
}

func TestReturnIdempotency(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		ada := e.person("ada")
		adas := e.deploy(ada, obLaptop("IK-1"), obLaptop("IK-2"))
		c := e.openCase(ada, obDueDate)

		in := domain.ReturnInput{Serial: "IK-1", Location: "IT desk", Condition: domain.ConditionGood, IdempotencyKey: "scan-42"}
		before := e.size()
		first, err := e.svc.ReturnAsset(e.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.svc.ReturnAsset(e.ctx, in)
		if err != nil {
			t.Fatalf("retried return: %v", err)
		}
		if again.Return.ID != first.Return.ID || again.Return.EventID != first.Return.EventID ||
			again.Asset == nil || again.Asset.State != domain.StateReturnReceived ||
			again.Case == nil || again.Case.ID != c.ID {
			t.Errorf("retried return = %+v (asset %+v, case %+v); want the first, %+v", again.Return, again.Asset, again.Case, first.Return)
		}
		if after := e.size(); after != before+1 {
			t.Errorf("a return and its retry appended %d events; want 1", after-before)
		}
		if page, err := e.svc.Returns(e.ctx, domain.ReturnFilter{AssetID: adas[0].ID}, nil, ""); err != nil || len(page.Items) != 1 {
			t.Errorf("returns of the laptop = %d, %v; want 1", len(page.Items), err)
		}

		// The same key for another request is refused, not replayed.
		other := in
		other.Condition = domain.ConditionDamaged
		_, err = e.svc.ReturnAsset(e.ctx, other)
		checkCode(t, err, domain.CodeIdempotencyKeyReused)
		if after := e.size(); after != before+1 {
			t.Errorf("refused reuse of a key appended events")
		}
	})
}

// obRecv returns the next event of a feed, failing the test if none comes
// within obPatience or the feed closes.
func obRecv(t *testing.T, ch <-chan *domain.CustodyEvent) *domain.CustodyEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("feed closed")
		}
		return ev
	case <-time.After(obPatience):
		t.Fatalf("no event within %s", obPatience)
	}
	return nil
}

// obExpect checks that ch delivers exactly want next, in order.
func obExpect(t *testing.T, name string, ch <-chan *domain.CustodyEvent, want []*domain.CustodyEvent) {
	t.Helper()
	for i, w := range want {
		got := obRecv(t, ch)
		if got.ID != w.ID || got.Seq != w.Seq || got.Type != w.Type {
			t.Fatalf("%s: event %d = seq %d %s; want seq %d %s", name, i, got.Seq, got.Type, w.Seq, w.Type)
		}
	}
}

// follow subscribes to e's tenant's log and, when the test ends, cancels
// the subscription and waits for the feed to close, so that it never reads
// a store being closed.
func (e *obEnv) follow(f domain.FollowFilter) <-chan *domain.CustodyEvent {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	ch, err := e.svc.Follow(ctx, f)
	if err != nil {
		cancel()
		e.t.Fatalf("Follow: %v", err)
	}
	e.t.Cleanup(func() {
		cancel()
		deadline := time.After(obPatience)
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			case <-deadline:
				e.t.Errorf("feed still open %s after its context ended", obPatience)
				return
			}
		}
	})
	return ch
}

func obNewBus(t *testing.T) *eventbus.InProcess {
	bus := eventbus.NewInProcess()
	t.Cleanup(func() { _ = bus.Close() })
	return bus
}

func TestFollowReplayThenLive(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", obNewBus(t))
		ada := e.person("ada")
		e.deploy(ada, obLaptop("FL-1"), obLaptop("FL-2"))
		past := e.log()
		if len(past) != 7 {
			t.Fatalf("log holds %d events; want 7 (parcel, 2 serialized, 2 notified, 2 handed off)", len(past))
		}
		mid := int64(3)
		replaying := e.follow(domain.FollowFilter{After: &mid, May: obAllTopics})
		fromEnd := e.follow(domain.FollowFilter{May: obAllTopics})
		obExpect(t, "replay", replaying, past[mid:])

		e.openCase(ada, obDueDate)
		e.returnAt(domain.ReturnInput{Serial: "FL-1"})
		e.returnAt(domain.ReturnInput{Serial: "FL-2"})
		live := e.log()[len(past):]
		if len(live) != 4 {
			t.Fatalf("%d new events; want 4 (opened, 2 returns, completed)", len(live))
		}
		for i, ev := range live {
			if ev.Seq != int64(len(past)+i+1) {
				t.Fatalf("log seqs are not consecutive: %d at %d", ev.Seq, len(past)+i)
			}
		}
		obExpect(t, "replaying subscriber, live", replaying, live)
		obExpect(t, "subscriber from the end", fromEnd, live)
	})
}

func TestFollowTopicFilter(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", obNewBus(t))
		ada, bob := e.person("ada"), e.person("bob")
		adas := e.deploy(ada, obLaptop("TF-1"), obLaptop("TF-2"))
		bobs := e.deploy(bob, obLaptop("TF-B"))
		zero := int64(0)
		hr := e.follow(domain.FollowFilter{After: &zero,
			May: func(t domain.Topic) bool { return t == domain.TopicOffboarding }})

		c := e.openCase(ada, obDueDate)
		parcel, err := e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "DHL", TrackingNumber: "TF01",
			Sender: "Ada", ReturnCaseID: c.ID, Location: "Dock A"})
		if err != nil {
			t.Fatal(err)
		}
		e.returnAt(domain.ReturnInput{Serial: "TF-1", ParcelID: parcel.ID})
		e.deliver(bob, obLaptop("TF-B2")) // parcel, serialized, notified: none of HR's business
		e.returnAt(domain.ReturnInput{Serial: "TF-B"})
		if _, err := e.svc.WriteOffItem(e.ctx, domain.WriteOffInput{CaseID: c.ID, AssetID: adas[1].ID,
			Kind: domain.WriteOffLost, Reason: "stolen from car"}); err != nil {
			t.Fatal(err)
		}

		var want []*domain.CustodyEvent
		var types []domain.EventType
		for _, ev := range e.log() {
			if ev.Details["case"] == c.ID {
				want = append(want, ev)
				types = append(types, ev.Type)
			}
		}
		if wantTypes := []domain.EventType{domain.EventOffboardingOpened, domain.EventParcelReceived, domain.EventReturnReceived,
			domain.EventReportedLost, domain.EventOffboardingCompleted}; !slices.Equal(types, wantTypes) {
			t.Fatalf("case-bound events = %v; want %v", types, wantTypes)
		}
		// The feed is in log order, so receiving exactly these up to the
		// last event of the log proves nothing else was let through.
		for i, w := range want {
			got := obRecv(t, hr)
			if got.Type == domain.EventSerialized || (got.Type == domain.EventParcelReceived && got.Details["case"] == "") ||
				got.AssetID == bobs[0].ID {
				t.Fatalf("HR heard %s (seq %d, details %v)", got.Type, got.Seq, got.Details)
			}
			if got.ID != w.ID {
				t.Fatalf("event %d = seq %d %s; want seq %d %s", i, got.Seq, got.Type, w.Seq, w.Type)
			}
		}
	})
}

func TestFollowBadCursor(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		e.deploy(e.person("ada"), obLaptop("BC-1"))
		size := e.size()
		beyond, negative := size+1, int64(-1)
		tests := []struct {
			name string
			ctx  context.Context
			f    domain.FollowFilter
			arg  bool // an *ArgumentError on "after"
		}{
			{"after beyond the end", e.ctx, domain.FollowFilter{After: &beyond, May: obAllTopics}, true},
			{"negative after", e.ctx, domain.FollowFilter{After: &negative, May: obAllTopics}, true},
			{"no topic permission", e.ctx, domain.FollowFilter{}, false},
			{"no tenant", context.Background(), domain.FollowFilter{May: obAllTopics}, false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ch, err := e.svc.Follow(tc.ctx, tc.f)
				if err == nil || ch != nil {
					t.Fatalf("Follow = %v, %v; want refused", ch, err)
				}
				var arg *domain.ArgumentError
				if isArg := errors.As(err, &arg); isArg != tc.arg || (isArg && arg.Argument != "after") {
					t.Errorf("Follow error = %#v; want an argument error on after: %v", err, tc.arg)
				}
			})
		}
		// The end of the log itself is a valid cursor.
		e.follow(domain.FollowFilter{After: &size, May: obAllTopics})
	})
}

// TestFollowCursorJustCommitted subscribes from the seq a mutation just
// committed while another subscriber keeps the tenant's feed running: the
// cursor is valid although the shared feed (woken by no bus here) may not
// have read that far yet.
func TestFollowCursorJustCommitted(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		ada := e.person("ada")
		e.follow(domain.FollowFilter{May: obAllTopics})
		receive := func(tracking string) *domain.Parcel {
			t.Helper()
			p, err := e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "UPS", TrackingNumber: tracking,
				Sender: "Dell", RecipientID: ada.ID, Location: "Dock A"})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		for i := range 2 {
			receive(fmt.Sprintf("JC-%d", i))
			size := e.size()
			ch := e.follow(domain.FollowFilter{After: &size, May: obAllTopics})
			next := receive(fmt.Sprintf("JC-%d-next", i))
			if got := obRecv(t, ch); got.ParcelID != next.ID || got.Seq != size+1 {
				t.Errorf("first event after cursor %d = seq %d of parcel %s; want seq %d of %s", size, got.Seq, got.ParcelID, size+1, next.ID)
			}
		}
	})
}

func TestFollowConcurrentWriters(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", obNewBus(t))
		ada := e.person("ada")
		start := e.size()
		const subscribers, writers, perWriter = 2, 4, 15
		const total = writers * perWriter

		type seen struct {
			seqs []int64
			err  error
		}
		results := make(chan seen, subscribers)
		for range subscribers {
			ch := e.follow(domain.FollowFilter{After: &start, May: obAllTopics})
			go func() {
				var s seen
				deadline := time.After(obPatience)
				for len(s.seqs) < total && s.err == nil {
					select {
					case ev, ok := <-ch:
						if !ok {
							s.err = errors.New("feed closed")
							break
						}
						s.seqs = append(s.seqs, ev.Seq)
					case <-deadline:
						s.err = fmt.Errorf("%d of %d events within %s", len(s.seqs), total, obPatience)
					}
				}
				results <- s
			}()
		}

		var wg sync.WaitGroup
		errs := make(chan error, total)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					_, err := e.svc.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "UPS",
						TrackingNumber: fmt.Sprintf("CW-%d-%d", w, i), Sender: "Dell", RecipientID: ada.ID, Location: "Dock A"})
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("ReceiveParcel: %v", err)
		}
		if end := e.size(); end != start+total {
			t.Fatalf("log grew by %d; want %d", end-start, total)
		}
		want := make([]int64, total)
		for i := range want {
			want[i] = start + int64(i) + 1
		}
		for range subscribers {
			s := <-results
			if s.err != nil {
				t.Errorf("subscriber: %v (saw %v)", s.err, s.seqs)
			} else if !slices.Equal(s.seqs, want) {
				t.Errorf("subscriber saw seqs %v; want each of %d..%d once, in order", s.seqs, start+1, start+total)
			}
		}
	})
}

func TestFollowWithoutBus(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", nil)
		ada := e.person("ada")
		ch := e.follow(domain.FollowFilter{May: obAllTopics})
		// Written by another instance, with no bus between them: only the
		// database can tell the feed.
		other := domain.NewService(db, nil)
		for i := range 2 {
			p, err := other.ReceiveParcel(e.ctx, domain.ReceiveParcelInput{Carrier: "UPS", TrackingNumber: fmt.Sprintf("NB-%d", i),
				Sender: "Dell", RecipientID: ada.ID, Location: "Dock A"})
			if err != nil {
				t.Fatal(err)
			}
			if got := obRecv(t, ch); got.Type != domain.EventParcelReceived || got.ParcelID != p.ID || got.Seq != int64(i+1) {
				t.Errorf("event = seq %d %s of parcel %s; want seq %d PARCEL_RECEIVED of %s", got.Seq, got.Type, got.ParcelID, i+1, p.ID)
			}
		}
	})
}

func TestFollowClosesOnCancel(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newOBEnv(t, db, "acme", obNewBus(t))
		ada := e.person("ada")
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		zero := int64(0)
		ch, err := e.svc.Follow(ctx, domain.FollowFilter{After: &zero, May: obAllTopics})
		if err != nil {
			t.Fatal(err)
		}
		// Left unread, so the feed is blocked sending when it is cancelled.
		e.deliver(ada, obLaptop("CC-1"))
		cancel()
		deadline := time.After(obPatience)
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			case <-deadline:
				t.Fatalf("feed still open %s after its context ended", obPatience)
			}
		}
	})
}
