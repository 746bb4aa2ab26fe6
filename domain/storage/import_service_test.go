package storage_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/importcsv"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/tenancy"
)

// ITAM and HRIS imports driven through the domain service over both stores.
// Every case of the rule tables runs three times: dry, real, and again
// real; the dry run must write nothing and report exactly what the real
// run then does, and the second real run must change nothing.

// impEnv is a tenant with two people and three assets on record: x
// (serial SX1, tag TX1) deployed to Ada; y (serial SY1) and z (tag TZ1),
// both awaiting collection by Bob.
type impEnv struct {
	*obEnv
	ada, bob *domain.Person
	x, y, z  *domain.Asset
}

func newImpEnv(t *testing.T, db *storage.DB, slug string) *impEnv {
	t.Helper()
	e := &impEnv{obEnv: newOBEnv(t, db, slug, nil)}
	e.ada, e.bob = e.person("ada"), e.person("bob")
	x := obLaptop("SX1")
	x.AssetTag = "TX1"
	e.x = e.deploy(e.ada, x)[0]
	yz := e.deliver(e.bob, obLaptop("SY1"), obMonitor("TZ1"))
	// As stored now, after the notification that followed serialization.
	e.x, e.y, e.z = e.asset(e.x.ID), e.asset(yz[0].ID), e.asset(yz[1].ID)
	return e
}

// impRead yields recs in order, as a parser does.
func impRead[R any](recs []R) func(yield func(R) error) error {
	return func(yield func(R) error) error {
		for _, r := range recs {
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// impLaptop is a record of a laptop exactly as obLaptop delivers it.
func impLaptop(line int, serial, tag string) domain.AssetRecord {
	return domain.AssetRecord{Line: line, Serial: serial, AssetTag: tag, Make: "Lenovo", Model: "X1",
		Category: domain.CategoryLaptop, BearsData: true}
}

// impMonitor is a record of a monitor exactly as obMonitor delivers it.
func impMonitor(line int, tag string) domain.AssetRecord {
	return domain.AssetRecord{Line: line, AssetTag: tag, Make: "Dell", Model: "U27", Category: domain.CategoryMonitor}
}

// impProblem is an expected problem: its line, column, and a part of its message.
type impProblem struct {
	line            int
	column, message string
}

// checkProblems compares a report's problems with want, by line then column.
func checkProblems(t *testing.T, got []domain.ImportProblem, want []impProblem) {
	t.Helper()
	got = slices.Clone(got)
	slices.SortStableFunc(got, func(a, b domain.ImportProblem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	want = slices.Clone(want)
	slices.SortStableFunc(want, func(a, b impProblem) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.column, b.column))
	})
	if len(got) != len(want) {
		t.Fatalf("problems %+v; want %+v", got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line || g.Column != w.column || !strings.Contains(g.Message, w.message) {
			t.Errorf("problem %d = %+v; want line %d, column %s, message containing %q", i, g, w.line, w.column, w.message)
		}
	}
}

// impState is what an import may change: every asset's and person's
// version, and the log's size.
type impState struct {
	assets, people map[string]int
	log            int64
}

func (e *impEnv) state() impState {
	e.t.Helper()
	s := impState{assets: map[string]int{}, people: map[string]int{}}
	err := e.db.View(e.ctx, func(tx domain.Tx) error {
		for after := ""; ; {
			page, err := tx.ListAssets(domain.AssetFilter{}, domain.PageRequest{First: domain.MaxPageSize, After: after})
			if err != nil {
				return err
			}
			for _, a := range page {
				s.assets[a.ID] = a.Version
			}
			if len(page) < domain.MaxPageSize {
				break
			}
			after = page[len(page)-1].ID
		}
		for after := ""; ; {
			page, err := tx.ListPeople(domain.PersonFilter{}, domain.PageRequest{First: domain.MaxPageSize, After: after})
			if err != nil {
				return err
			}
			for _, p := range page {
				s.people[p.ID] = p.Version
			}
			if len(page) < domain.MaxPageSize {
				break
			}
			after = page[len(page)-1].ID
		}
		var err error
		s.log, err = tx.LedgerSize()
		return err
	})
	if err != nil {
		e.t.Fatalf("read state: %v", err)
	}
	return s
}

func (e *impEnv) bySerial(serial string) *domain.Asset {
	e.t.Helper()
	a, err := e.svc.AssetBySerial(e.ctx, serial)
	if err != nil {
		e.t.Fatalf("AssetBySerial(%s): %v", serial, err)
	}
	return a
}

func (e *impEnv) byTag(tag string) *domain.Asset {
	e.t.Helper()
	a, err := e.svc.AssetByTag(e.ctx, tag)
	if err != nil {
		e.t.Fatalf("AssetByTag(%s): %v", tag, err)
	}
	return a
}

func (e *impEnv) history(assetID string) []*domain.CustodyEvent {
	e.t.Helper()
	page, err := e.svc.AssetHistory(e.ctx, assetID, nil, "")
	if err != nil {
		e.t.Fatalf("AssetHistory(%s): %v", assetID, err)
	}
	return page.Items
}

func (e *impEnv) personByEmployeeID(id string) *domain.Person {
	e.t.Helper()
	var p *domain.Person
	err := e.db.View(e.ctx, func(tx domain.Tx) error {
		found, err := tx.FindPeople([]string{id}, nil)
		if len(found) == 1 {
			p = found[0]
		}
		return err
	})
	if err != nil {
		e.t.Fatalf("FindPeople(%s): %v", id, err)
	}
	return p
}

// impCounts are a report's counts.
type impCounts struct{ records, created, updated, unchanged int }

func countsOf(r *domain.ImportReport) impCounts {
	return impCounts{r.Records, r.Created, r.Updated, r.Unchanged}
}

// threeRuns imports with run dry, for real, and for real again, checking
// that the dry run wrote nothing and foretold the real run, and that the
// second real run changed nothing. An asset import logs one event per
// created asset (logged), a people import none. It returns the first real
// run's report.
func threeRuns(t *testing.T, e *impEnv, logged bool, run func(opts domain.ImportOptions) (*domain.ImportReport, error)) *domain.ImportReport {
	t.Helper()
	before := e.state()
	dry, err := run(domain.ImportOptions{DryRun: true, Source: "servicenow"})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if !dry.DryRun {
		t.Error("the dry run's report does not say it was dry")
	}
	if after := e.state(); !impStateEqual(before, after) {
		t.Fatalf("the dry run wrote: %+v became %+v", before, after)
	}
	real, err := run(domain.ImportOptions{Source: "servicenow"})
	if err != nil {
		t.Fatalf("real run: %v", err)
	}
	if real.DryRun {
		t.Error("the real run's report says it was dry")
	}
	if countsOf(dry) != countsOf(real) {
		t.Errorf("dry run counted %+v; the real run %+v", countsOf(dry), countsOf(real))
	}
	if !slices.Equal(dry.Problems, real.Problems) {
		t.Errorf("dry run found %+v; the real run %+v", dry.Problems, real.Problems)
	}
	applied := e.state()
	want := int64(0)
	if logged {
		want = int64(real.Created)
	}
	if got := applied.log - before.log; got != want {
		t.Errorf("the log grew by %d events; want %d", got, want)
	}
	again, err := run(domain.ImportOptions{Source: "servicenow"})
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	rerun := impCounts{records: real.Records, unchanged: real.Created + real.Updated + real.Unchanged}
	if countsOf(again) != rerun {
		t.Errorf("re-run counted %+v; want %+v", countsOf(again), rerun)
	}
	if !slices.Equal(again.Problems, real.Problems) {
		t.Errorf("re-run found %+v; the first run %+v", again.Problems, real.Problems)
	}
	if after := e.state(); !impStateEqual(applied, after) {
		t.Errorf("the re-run wrote: %+v became %+v", applied, after)
	}
	return real
}

func impStateEqual(a, b impState) bool {
	return a.log == b.log && maps.Equal(a.assets, b.assets) && maps.Equal(a.people, b.people)
}

func TestImportAssets(t *testing.T) {
	long := strings.Repeat("9", 101)
	tests := []struct {
		name    string
		setup   func(e *impEnv) // optional, before the records are built
		records func(e *impEnv) []domain.AssetRecord
		want    impCounts
		// problems are the refused records'; records counts every record.
		problems []impProblem
		check    func(t *testing.T, e *impEnv)
	}{
		{
			name: "an unknown asset is created in stock with an IMPORTED event",
			records: func(*impEnv) []domain.AssetRecord {
				return []domain.AssetRecord{{Line: 2, Serial: " sn-new 1 ", Make: "HP", Model: "EliteBook 840",
					Category: domain.CategoryLaptop, BearsData: true, ITAMRef: "sys-1"}}
			},
			want: impCounts{records: 1, created: 1},
			check: func(t *testing.T, e *impEnv) {
				a := e.bySerial("SN-NEW1")
				if a == nil {
					t.Fatal("no asset with the normalised serial SN-NEW1")
				}
				wantHolder := domain.Custodian{Kind: domain.CustodianLocation, Ref: "imported from servicenow"}
				if a.State != domain.StateInStock || a.Custodian != wantHolder || a.ParcelID != "" || a.ITAMRef != "sys-1" ||
					a.Make != "HP" || !a.BearsData || a.DeployedAt != nil {
					t.Errorf("created asset = %+v", a)
				}
				h := e.history(a.ID)
				if len(h) != 1 {
					t.Fatalf("history has %d events; want the IMPORTED one", len(h))
				}
				ev := h[0]
				if ev.Type != domain.EventImported || ev.FromState != "" || ev.ToState != domain.StateInStock ||
					ev.FromCustodian.Kind != domain.CustodianNone || ev.ToCustodian != wantHolder ||
					ev.ActorID != e.member.ID || ev.ID != a.LastEventID || ev.SignatureID != "" {
					t.Errorf("event = %+v", ev)
				}
				for k, v := range map[string]string{"source": "servicenow", "itamRef": "sys-1", "serial": "SN-NEW1",
					"make": "HP", "category": "LAPTOP", "bearsData": "true"} {
					if ev.Details[k] != v {
						t.Errorf("details[%s] = %q; want %q (details %v)", k, ev.Details[k], v, ev.Details)
					}
				}
				if _, ok := ev.Details["assignedInITAM"]; ok {
					t.Errorf("an asset in stock says it was assigned: %v", ev.Details)
				}
			},
		},
		{
			name: "an assignee named by email, in any case, holds the new asset",
			records: func(*impEnv) []domain.AssetRecord {
				r := impLaptop(2, "SN-ADA", "")
				r.Assignee = "ADA@Example.com"
				return []domain.AssetRecord{r}
			},
			want: impCounts{records: 1, created: 1},
			check: func(t *testing.T, e *impEnv) {
				a := e.bySerial("SN-ADA")
				holder := domain.Custodian{Kind: domain.CustodianPerson, Ref: e.ada.ID}
				if a == nil || a.State != domain.StateDeployed || a.Custodian != holder || a.DeployedAt != nil {
					t.Fatalf("asset = %+v; want DEPLOYED to Ada, no signed deployment date", a)
				}
				ev := e.history(a.ID)[0]
				if ev.ToState != domain.StateDeployed || ev.ToCustodian != holder || ev.Details["assignedInITAM"] != "true" ||
					ev.SignatureID != "" || ev.Details["case"] != "" {
					t.Errorf("event = %+v", ev)
				}
			},
		},
		{
			name: "an assignee named by employee id holds the new asset",
			records: func(*impEnv) []domain.AssetRecord {
				r := impMonitor(5, "TN-BOB")
				r.Assignee = "E-bob"
				return []domain.AssetRecord{r}
			},
			want: impCounts{records: 1, created: 1},
			check: func(t *testing.T, e *impEnv) {
				a := e.byTag("TN-BOB")
				if a == nil || a.State != domain.StateDeployed || a.HolderID() != e.bob.ID {
					t.Fatalf("asset = %+v; want DEPLOYED to Bob", a)
				}
			},
		},
		{
			name:  "an asset assigned to someone leaving joins their open case",
			setup: func(e *impEnv) { e.openCase(e.ada, obDueDate) },
			records: func(*impEnv) []domain.AssetRecord {
				r := impLaptop(2, "SN-LEAVE", "")
				r.Assignee = "E-ada"
				return []domain.AssetRecord{r}
			},
			want: impCounts{records: 1, created: 1},
			check: func(t *testing.T, e *impEnv) {
				a := e.bySerial("SN-LEAVE")
				ev := e.history(a.ID)[0]
				c, err := e.svc.Cases(e.ctx, "", e.ada.ID, nil, "")
				if err != nil || len(c.Items) != 1 {
					t.Fatalf("Ada's cases = %+v, %v", c, err)
				}
				if ev.Details["case"] != c.Items[0].ID {
					t.Errorf("event details %v; want case %s", ev.Details, c.Items[0].ID)
				}
				if it := e.items(c.Items[0].ID)[a.ID]; it == nil || !it.Expected || it.Status != domain.ItemOutstanding {
					t.Errorf("case item of the imported asset = %+v; want expected and outstanding", it)
				}
			},
		},
		{
			name: "an assignee who is not a person of the tenant refuses the record",
			records: func(*impEnv) []domain.AssetRecord {
				r1, r2 := impLaptop(2, "SN-C1", ""), impLaptop(3, "SN-C2", "")
				r1.Assignee, r2.Assignee = "carol@example.com", "E-carol"
				return []domain.AssetRecord{r1, r2}
			},
			want: impCounts{records: 2},
			problems: []impProblem{
				{2, "assignee", "assignee carol@example.com is not a person of this tenant: import people first"},
				{3, "assignee", "assignee E-carol is not a person of this tenant"},
			},
			check: func(t *testing.T, e *impEnv) {
				if e.bySerial("SN-C1") != nil || e.bySerial("SN-C2") != nil {
					t.Error("an asset of an unknown assignee was created")
				}
			},
		},
		{
			name: "records that say what Custody has change nothing",
			records: func(*impEnv) []domain.AssetRecord {
				return []domain.AssetRecord{impLaptop(2, "sy1", ""), impMonitor(3, "tz 1")}
			},
			want: impCounts{records: 2, unchanged: 2},
		},
		{
			name: "catalogue facts are updated, a missing tag filled in, and nothing is logged or moved",
			records: func(*impEnv) []domain.AssetRecord {
				r := impLaptop(2, "SY1", "ty-1")
				r.Model, r.ITAMRef = "X1 Carbon", "sys-9"
				return []domain.AssetRecord{r}
			},
			want: impCounts{records: 1, updated: 1},
			check: func(t *testing.T, e *impEnv) {
				a := e.asset(e.y.ID)
				if a.AssetTag != "TY-1" || a.Model != "X1 Carbon" || a.ITAMRef != "sys-9" || a.Version != e.y.Version+1 {
					t.Errorf("updated asset = %+v", a)
				}
				if a.State != e.y.State || a.Custodian != e.y.Custodian || a.LastEventID != e.y.LastEventID {
					t.Errorf("the update moved the asset: %+v, was %+v", a, e.y)
				}
			},
		},
		{
			name: "the ITAM system's assignee never moves an asset Custody holds",
			records: func(*impEnv) []domain.AssetRecord {
				r := impLaptop(2, "SX1", "TX1")
				r.Assignee, r.Model = "E-bob", "X1 Yoga"
				return []domain.AssetRecord{r}
			},
			want: impCounts{records: 1, updated: 1},
			check: func(t *testing.T, e *impEnv) {
				a := e.asset(e.x.ID)
				if a.Model != "X1 Yoga" || a.State != domain.StateDeployed || a.HolderID() != e.ada.ID {
					t.Errorf("asset = %+v; want the new model, still DEPLOYED to Ada", a)
				}
			},
		},
		{
			name: "an import never unmarks a data-bearing asset",
			records: func(*impEnv) []domain.AssetRecord {
				r := impLaptop(2, "SX1", "")
				r.BearsData = false
				return []domain.AssetRecord{r}
			},
			want: impCounts{records: 1, unchanged: 1},
			check: func(t *testing.T, e *impEnv) {
				if !e.asset(e.x.ID).BearsData {
					t.Error("the asset no longer bears data")
				}
			},
		},
		{
			name: "an import marks an asset data-bearing",
			records: func(*impEnv) []domain.AssetRecord {
				r := impMonitor(2, "TZ1")
				r.BearsData = true
				return []domain.AssetRecord{r}
			},
			want: impCounts{records: 1, updated: 1},
			check: func(t *testing.T, e *impEnv) {
				if !e.asset(e.z.ID).BearsData {
					t.Error("the asset still bears no data")
				}
			},
		},
		{
			name: "a serial of one asset and a tag of another",
			records: func(*impEnv) []domain.AssetRecord {
				return []domain.AssetRecord{impLaptop(2, "SY1", "TZ1")}
			},
			want:     impCounts{records: 1},
			problems: []impProblem{{2, "serial", "serial SY1 is asset "}},
			check: func(t *testing.T, e *impEnv) {
				if a := e.asset(e.y.ID); a.AssetTag != "" || a.Version != e.y.Version {
					t.Errorf("asset y changed: %+v", a)
				}
			},
		},
		{
			name: "a serial whose asset has another tag",
			records: func(*impEnv) []domain.AssetRecord {
				return []domain.AssetRecord{impLaptop(2, "SX1", "T-OTHER")}
			},
			want:     impCounts{records: 1},
			problems: []impProblem{{2, "serial", "serial SX1 belongs to another asset (tag TX1)"}},
		},
		{
			name: "a tag whose asset has another serial",
			records: func(*impEnv) []domain.AssetRecord {
				return []domain.AssetRecord{impLaptop(4, "S-OTHER", "TX1")}
			},
			want:     impCounts{records: 1},
			problems: []impProblem{{4, "assetTag", "tag TX1 belongs to another asset (serial SX1)"}},
		},
		{
			name: "an identifier given twice in one import refuses the later record",
			records: func(*impEnv) []domain.AssetRecord {
				return []domain.AssetRecord{impLaptop(2, "SN-D", "TN-D"), impLaptop(3, "SN-D", "TN-E"),
					impLaptop(4, "SN-F", "tn-d")}
			},
			want: impCounts{records: 3, created: 1},
			problems: []impProblem{{3, "serial", "serial SN-D is also on line 2"},
				{4, "assetTag", "asset tag TN-D is also on line 2"}},
		},
		{
			name: "one asset named by its serial and, on another line, by its tag",
			records: func(*impEnv) []domain.AssetRecord {
				return []domain.AssetRecord{impLaptop(2, "SX1", ""), impLaptop(3, "", "TX1")}
			},
			want:     impCounts{records: 2, unchanged: 1},
			problems: []impProblem{{3, "assetTag", "is also on line 2"}},
		},
		{
			name: "invalid records are refused, each for every reason",
			records: func(*impEnv) []domain.AssetRecord {
				noID := impLaptop(2, "", "")
				badCategory := impLaptop(3, "SN-G", "")
				badCategory.Category = "GADGET"
				nul := impLaptop(4, "SN\x00H", "")
				tooLong := impLaptop(5, long, "")
				bare := domain.AssetRecord{Line: 6, Serial: "SN-BARE"}
				badText := impLaptop(7, "SN-I", "")
				badText.Make = "Len\xffovo"
				return []domain.AssetRecord{noID, badCategory, nul, tooLong, bare, badText}
			},
			want: impCounts{records: 6},
			problems: []impProblem{
				{2, "serial", "a manufacturer serial or a company asset tag is required"},
				{3, "category", "unknown category"},
				{4, "serial", "valid UTF-8 text without NUL"},
				{5, "serial", "at most 100 characters"},
				{6, "category", "is required to create an asset"},
				{6, "make", "is required to create an asset"},
				{6, "model", "is required to create an asset"},
				{7, "make", "valid UTF-8"},
			},
		},
		{
			name: "a record the file shows out of use creates nothing, whoever its assignee",
			records: func(*impEnv) []domain.AssetRecord {
				retired := impLaptop(2, "SN-RET", "")
				retired.Assignee, retired.Inactive, retired.InactiveColumn = "ada@example.com", "install_status 7 (Retired)", "install_status"
				closed := impMonitor(3, "TN-CLOSED")
				closed.Inactive = "state CLOSED" // no column: the problem names the status
				return []domain.AssetRecord{retired, closed}
			},
			want: impCounts{records: 2},
			problems: []impProblem{
				{2, "install_status", "the file says the asset is out of use (install_status 7 (Retired)): Custody only creates assets that are in use or in stock"},
				{3, "status", "(state CLOSED)"},
			},
			check: func(t *testing.T, e *impEnv) {
				if e.bySerial("SN-RET") != nil || e.byTag("TN-CLOSED") != nil {
					t.Error("an asset the file shows out of use was created")
				}
			},
		},
		{
			name: "a record of a known asset is applied whatever status the file gives",
			records: func(*impEnv) []domain.AssetRecord {
				r := impLaptop(2, "SX1", "TX1")
				r.Model, r.Assignee, r.Inactive, r.InactiveColumn = "X1 Yoga", "E-bob", "install_status 7 (Retired)", "install_status"
				same := impMonitor(3, "TZ1")
				same.Inactive = "state LOST"
				return []domain.AssetRecord{r, same}
			},
			want: impCounts{records: 2, updated: 1, unchanged: 1},
			check: func(t *testing.T, e *impEnv) {
				a := e.asset(e.x.ID)
				if a.Model != "X1 Yoga" || a.State != domain.StateDeployed || a.HolderID() != e.ada.ID {
					t.Errorf("asset = %+v; want the new model, still DEPLOYED to Ada", a)
				}
				if z := e.asset(e.z.ID); z.State != e.z.State || z.Version != e.z.Version {
					t.Errorf("asset z = %+v; want it as it was", z)
				}
			},
		},
		{
			name: "a bare record updates a known asset: facts it leaves empty are kept",
			records: func(*impEnv) []domain.AssetRecord {
				return []domain.AssetRecord{{Line: 2, Serial: "SY1"}}
			},
			want: impCounts{records: 1, unchanged: 1},
		},
	}
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := newImpEnv(t, db, fmt.Sprintf("imp-assets-%d", i))
				if tt.setup != nil {
					tt.setup(e)
				}
				recs := tt.records(e)
				rep := threeRuns(t, e, true, func(opts domain.ImportOptions) (*domain.ImportReport, error) {
					return e.svc.ImportAssets(e.ctx, opts, impRead(recs))
				})
				if countsOf(rep) != tt.want {
					t.Errorf("counts %+v; want %+v", countsOf(rep), tt.want)
				}
				checkProblems(t, rep.Problems, tt.problems)
				if tt.check != nil {
					tt.check(t, e)
				}
			})
		}
	})
}

func TestImportPeople(t *testing.T) {
	person := func(line int, id, name, email string) domain.PersonRecord {
		return domain.PersonRecord{Line: line, EmployeeID: id, Name: name, Email: email}
	}
	tests := []struct {
		name     string
		setup    func(e *impEnv)
		records  []domain.PersonRecord
		want     impCounts
		problems []impProblem
		check    func(t *testing.T, e *impEnv)
	}{
		{
			name:    "a new employee id creates an ACTIVE person",
			records: []domain.PersonRecord{{Line: 2, EmployeeID: " E-carol ", Name: "Carol", Email: "carol@example.com", Department: "Ops"}},
			want:    impCounts{records: 1, created: 1},
			check: func(t *testing.T, e *impEnv) {
				p := e.personByEmployeeID("E-carol")
				if p == nil || p.Name != "Carol" || p.Email != "carol@example.com" || p.Department != "Ops" ||
					p.Status != domain.PersonActive || p.Version != 1 {
					t.Errorf("person = %+v", p)
				}
			},
		},
		{
			name:    "a new person with a status",
			records: []domain.PersonRecord{{Line: 2, EmployeeID: "E-dan", Name: "Dan", Email: "dan@example.com", Status: domain.PersonOnLeave}},
			want:    impCounts{records: 1, created: 1},
			check: func(t *testing.T, e *impEnv) {
				if p := e.personByEmployeeID("E-dan"); p == nil || p.Status != domain.PersonOnLeave {
					t.Errorf("person = %+v; want ON_LEAVE", p)
				}
			},
		},
		{
			name:    "a record that says what Custody has changes nothing",
			records: []domain.PersonRecord{person(2, "E-ada", "ada", "ada@example.com"), person(3, "E-bob", "bob", "bob@example.com")},
			want:    impCounts{records: 2, unchanged: 2},
		},
		{
			name: "a known employee id updates what differs",
			records: []domain.PersonRecord{{Line: 2, EmployeeID: "E-ada", Name: "Ada Lovelace", Email: "ADA@example.com",
				Department: "R&D", Status: domain.PersonTerminated}},
			want: impCounts{records: 1, updated: 1},
			check: func(t *testing.T, e *impEnv) {
				p := e.personByEmployeeID("E-ada")
				if p.ID != e.ada.ID || p.Name != "Ada Lovelace" || p.Email != "ADA@example.com" || p.Department != "R&D" ||
					p.Status != domain.PersonTerminated || p.Version != e.ada.Version+1 {
					t.Errorf("person = %+v", p)
				}
			},
		},
		{
			name: "an empty department or status keeps the stored one",
			setup: func(e *impEnv) {
				dept, status := "R&D", domain.PersonOnLeave
				if _, err := e.svc.UpdatePerson(e.ctx, domain.PersonPatch{ID: e.ada.ID, Department: &dept, Status: &status}); err != nil {
					t.Fatal(err)
				}
			},
			records: []domain.PersonRecord{person(2, "E-ada", "ada", "ada@example.com")},
			want:    impCounts{records: 1, unchanged: 1},
			check: func(t *testing.T, e *impEnv) {
				if p := e.personByEmployeeID("E-ada"); p.Department != "R&D" || p.Status != domain.PersonOnLeave {
					t.Errorf("person = %+v", p)
				}
			},
		},
		{
			name: "an email of another person of the tenant",
			records: []domain.PersonRecord{person(2, "E-ada", "ada", "bob@example.com"),
				person(3, "E-new", "New", "BOB@EXAMPLE.COM")},
			want: impCounts{records: 2},
			problems: []impProblem{{2, "email", "email bob@example.com belongs to another person (employee id E-bob)"},
				{3, "email", "belongs to another person (employee id E-bob)"}},
		},
		{
			name: "an email given twice in one import refuses the later record",
			records: []domain.PersonRecord{person(2, "E-c1", "C1", "c@example.com"),
				person(3, "E-c2", "C2", "C@example.com")},
			want:     impCounts{records: 2, created: 1},
			problems: []impProblem{{3, "email", "email C@example.com is also on line 2 (employee id E-c1)"}},
		},
		{
			name: "an employee id given twice in one import refuses the later record",
			records: []domain.PersonRecord{person(2, "E-c", "C", "c@example.com"),
				person(3, "E-c", "C", "c2@example.com")},
			want:     impCounts{records: 2, created: 1},
			problems: []impProblem{{3, "employeeId", "employee id E-c is also on line 2"}},
		},
		{
			// Ada's old address is free once line 2 is applied, even in a
			// later batch: the dry run must decide as the real run does.
			name: "an email freed by an earlier record, in a later batch",
			records: func() []domain.PersonRecord {
				recs := []domain.PersonRecord{person(2, "E-ada", "ada", "ada.l@example.com")}
				for i := range domain.ImportBatchSize {
					recs = append(recs, person(3+i, fmt.Sprintf("E-F%d", i), "Filler", fmt.Sprintf("f%d@example.com", i)))
				}
				return append(recs, person(3+domain.ImportBatchSize, "E-new", "New", "ada@example.com"))
			}(),
			want: impCounts{records: domain.ImportBatchSize + 2, created: domain.ImportBatchSize + 1, updated: 1},
			check: func(t *testing.T, e *impEnv) {
				if p := e.personByEmployeeID("E-new"); p == nil || p.Email != "ada@example.com" {
					t.Errorf("new person = %+v", p)
				}
			},
		},
		{
			name: "invalid records are refused",
			records: []domain.PersonRecord{person(2, "", "Nobody", "nobody@example.com"), person(3, "E-x", "", "x@example.com"),
				person(4, "E-y", "Y", "not an email"), {Line: 5, EmployeeID: "E-z", Name: "Z", Email: "z@example.com", Status: "RETIRED"}},
			want: impCounts{records: 4},
			problems: []impProblem{{2, "employeeId", "is required"}, {3, "name", "is required"},
				{4, "email", "is not an email address"}, {5, "status", "unknown status"}},
		},
	}
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := &impEnv{obEnv: newOBEnv(t, db, fmt.Sprintf("imp-people-%d", i), nil)}
				e.ada, e.bob = e.person("ada"), e.person("bob")
				if tt.setup != nil {
					tt.setup(e)
					e.ada = e.personByEmployeeID("E-ada")
				}
				rep := threeRuns(t, e, false, func(opts domain.ImportOptions) (*domain.ImportReport, error) {
					return e.svc.ImportPeople(e.ctx, opts, impRead(tt.records))
				})
				if countsOf(rep) != tt.want {
					t.Errorf("counts %+v; want %+v", countsOf(rep), tt.want)
				}
				checkProblems(t, rep.Problems, tt.problems)
				if tt.check != nil {
					tt.check(t, e)
				}
			})
		}
	})
}

// impMany returns n new laptop records, every fourth assigned to Ada.
func impMany(prefix string, n int) []domain.AssetRecord {
	recs := make([]domain.AssetRecord, n)
	for i := range recs {
		recs[i] = impLaptop(i+2, fmt.Sprintf("%s-%06d", prefix, i), "")
		if i%4 == 0 {
			recs[i].Assignee = "ada@example.com"
		}
	}
	return recs
}

// Records are applied in batches, each reported to Progress once applied.
func TestImportAssetsBatches(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newImpEnv(t, db, "imp-batches")
		recs := impMany("SN", 1200)
		recs[1100].Category = "GADGET" // a problem in the last batch keeps its line
		for _, dry := range []bool{true, false} {
			var progress []int
			before := e.size()
			rep, err := e.svc.ImportAssets(e.ctx, domain.ImportOptions{DryRun: dry, Source: "lansweeper",
				Progress: func(n int) { progress = append(progress, n) }}, impRead(recs))
			if err != nil {
				t.Fatalf("import (dry %v): %v", dry, err)
			}
			if want := []int{500, 1000, 1200}; !slices.Equal(progress, want) {
				t.Errorf("progress (dry %v) = %v; want %v", dry, progress, want)
			}
			if got := countsOf(rep); got != (impCounts{records: 1200, created: 1199}) {
				t.Errorf("counts (dry %v) = %+v", dry, got)
			}
			checkProblems(t, rep.Problems, []impProblem{{1102, "category", "unknown category"}})
			grown := e.size() - before
			if want := map[bool]int64{true: 0, false: 1199}[dry]; grown != want {
				t.Errorf("the log grew by %d events (dry %v); want %d", grown, dry, want)
			}
		}
		if a := e.bySerial("SN-000000"); a == nil || a.HolderID() != e.ada.ID {
			t.Errorf("first record's asset = %+v; want it DEPLOYED to Ada", a)
		}
	})
}

// Messages of created assets are published once committed; updates publish none.
func TestImportAssetsPublishes(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		bus := obNewBus(t)
		e := &impEnv{obEnv: newOBEnv(t, db, "imp-bus", bus)}
		e.ada = e.person("ada")
		p, _ := tenancy.PrincipalFrom(e.ctx)
		ctx, cancel := context.WithTimeout(context.Background(), obPatience)
		defer cancel()
		msgs, stop, err := bus.Subscribe(ctx, p.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		next := func() domain.Message {
			t.Helper()
			select {
			case m := <-msgs:
				return m
			case <-ctx.Done():
				t.Fatal("no message")
			}
			return domain.Message{}
		}
		recs := impMany("PUB", 2) // the first assigned to Ada
		if _, err := e.svc.ImportAssets(e.ctx, domain.ImportOptions{Source: "servicenow"}, impRead(recs)); err != nil {
			t.Fatal(err)
		}
		for i, want := range []struct{ serial, person string }{{"PUB-000000", e.ada.ID}, {"PUB-000001", ""}} {
			m := next()
			if a := e.bySerial(want.serial); m.Type != domain.EventImported || m.AssetID != a.ID || m.PersonID != want.person ||
				m.EventID != a.LastEventID {
				t.Errorf("message %d = %+v; want IMPORTED of %s, person %q", i, m, a.ID, want.person)
			}
		}
		// An update publishes nothing: the next message is the next creation's.
		recs[1].Model = "X1 Carbon"
		later := impLaptop(9, "PUB-LATER", "")
		if _, err := e.svc.ImportAssets(e.ctx, domain.ImportOptions{}, impRead([]domain.AssetRecord{recs[1], later})); err != nil {
			t.Fatal(err)
		}
		if m, a := next(), e.bySerial("PUB-LATER"); m.AssetID != a.ID {
			t.Errorf("next message = %+v; want the creation of %s", m, a.ID)
		}
	})
}

// A fault stops the import: earlier batches stay applied and are reported,
// the failing one is not.
func TestImportAssetsFaults(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newImpEnv(t, db, "imp-faults")
		start := e.size()
		disk := errors.New("disk unreadable")
		recs := impMany("F", 700)
		rep, err := e.svc.ImportAssets(e.ctx, domain.ImportOptions{}, func(yield func(domain.AssetRecord) error) error {
			if err := impRead(recs)(yield); err != nil {
				return err
			}
			return disk
		})
		if !errors.Is(err, disk) {
			t.Fatalf("error = %v; want the reader's", err)
		}
		if rep == nil || countsOf(rep) != (impCounts{records: 500, created: 500}) {
			t.Fatalf("report = %+v; want the first batch's", rep)
		}
		if grown := e.size() - start; grown != 500 {
			t.Errorf("the log grew by %d; want the first batch's 500", grown)
		}
		if e.bySerial("F-000499") == nil || e.bySerial("F-000500") != nil {
			t.Error("want the first batch applied and nothing of the second")
		}

		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		rep, err = e.svc.ImportAssets(ctx, domain.ImportOptions{Progress: func(int) { cancel() }}, impRead(impMany("C", 1200)))
		if !errors.Is(err, context.Canceled) || rep == nil || countsOf(rep) != (impCounts{records: 500, created: 500}) {
			t.Fatalf("cancelled import = %+v, %v; want the first batch and context.Canceled", rep, err)
		}
		if e.bySerial("C-000500") != nil {
			t.Error("a batch after the cancellation was applied")
		}
	})
}

// Imports act for a principal of the tenant, never for a vendor.
func TestImportRefusals(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newImpEnv(t, db, "imp-refusals")
		p, _ := tenancy.PrincipalFrom(e.ctx)
		p.Roles, p.VendorID = []string{string(domain.RoleITADVendor)}, domain.NewID()
		vendor := tenancy.WithPrincipal(context.Background(), p)
		nobody := context.Background()
		assets := impRead([]domain.AssetRecord{impLaptop(2, "SN-V", "")})
		people := impRead([]domain.PersonRecord{{Line: 2, EmployeeID: "E-v", Name: "V", Email: "v@example.com"}})
		before := e.state()
		for _, tt := range []struct {
			name string
			ctx  context.Context
			want error
		}{{"vendor", vendor, domain.ErrForbidden}, {"no principal", nobody, tenancy.ErrNoTenant}} {
			if rep, err := e.svc.ImportAssets(tt.ctx, domain.ImportOptions{}, assets); !errors.Is(err, tt.want) || rep != nil {
				t.Errorf("%s: ImportAssets = %+v, %v; want %v", tt.name, rep, err, tt.want)
			}
			if rep, err := e.svc.ImportPeople(tt.ctx, domain.ImportOptions{}, people); !errors.Is(err, tt.want) || rep != nil {
				t.Errorf("%s: ImportPeople = %+v, %v; want %v", tt.name, rep, err, tt.want)
			}
		}
		if !impStateEqual(before, e.state()) {
			t.Error("a refused import wrote")
		}
	})
}

// BenchmarkImportAssets imports 100,000 new asset records (a quarter
// assigned to one of 1,000 people) into a tenant that already holds the
// people, and reports records per second.
func BenchmarkImportAssets(b *testing.B) {
	const records, people = 100_000, 1_000
	for _, store := range []struct {
		name string
		open func(testing.TB) (*storage.DB, storage.Config)
	}{{"sqlite", storagetest.SQLite}, {"postgres", storagetest.Postgres}} {
		b.Run(store.name, func(b *testing.B) {
			db, _ := store.open(b)
			ctx, _, _ := storagetest.NewTenant(b, db, "bench")
			svc := domain.NewService(db, nil)
			staff := make([]domain.PersonRecord, people)
			for i := range staff {
				staff[i] = domain.PersonRecord{Line: i + 2, EmployeeID: fmt.Sprintf("E%04d", i), Name: "Staff",
					Email: fmt.Sprintf("staff%04d@example.com", i)}
			}
			if _, err := svc.ImportPeople(ctx, domain.ImportOptions{}, impRead(staff)); err != nil {
				b.Fatal(err)
			}
			var took time.Duration
			for i := 0; b.Loop(); i++ {
				recs := make([]domain.AssetRecord, records)
				for j := range recs {
					recs[j] = domain.AssetRecord{Line: j + 2, Serial: fmt.Sprintf("B%d-%07d", i, j), Make: "Lenovo", Model: "X1",
						Category: domain.CategoryLaptop, BearsData: true, ITAMRef: fmt.Sprintf("sys-%d-%d", i, j)}
					if j%4 == 0 {
						recs[j].Assignee = staff[j%people].Email
					}
				}
				startedAt := time.Now()
				rep, err := svc.ImportAssets(ctx, domain.ImportOptions{Source: "bench"}, impRead(recs))
				took += time.Since(startedAt)
				if err != nil || rep.Created != records {
					b.Fatalf("import = %+v, %v", rep, err)
				}
			}
			b.ReportMetric(float64(records*b.N)/took.Seconds(), "records/s")
		})
	}
}

// csvAssets is a ServiceNow file of n in-use laptops, serials prefix-0..,
// then tail (lines of its own, each ending in a line feed).
func csvAssets(prefix string, n int, tail string) []byte {
	var b bytes.Buffer
	b.WriteString("serial_number,manufacturer,model_id,model_category,install_status,assigned_to\n")
	for i := range n {
		fmt.Fprintf(&b, "%s-%06d,Lenovo,Lenovo X1,Laptop,1,\n", prefix, i)
	}
	b.WriteString(tail)
	return b.Bytes()
}

// A file that turns out late to be unreadable as a whole (a record over
// importcsv.MaxRecordBytes, a quote never closed), after more rows than a
// batch, is refused with nothing applied, dry or real: the parser checks
// the whole file before the service sees a row.
func TestImportCSVFileErrorAppliesNothing(t *testing.T) {
	huge := strings.Repeat("x", 2<<20)
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newImpEnv(t, db, "imp-csv-whole")
		for _, tc := range []struct {
			name    string
			assets  bool
			in      []byte
			fileErr string
		}{
			{"assets, a record over 1 MiB", true, csvAssets("HUGE", 1200, "LAST,Lenovo,"+huge+",Laptop,1,\n"),
				"is longer than 1048576 bytes"},
			{"assets, a quote never closed", true, csvAssets("QUOTE", 1200, "Q1,\"Lenovo,Lenovo X1,Laptop,1,\nQ2,Lenovo,Lenovo X1,Laptop,1,\n"),
				"a quote opened on line 1202 is never closed"},
			{"people, a record over 1 MiB", false, csvPeople(1200, "E-LAST,"+huge+",last@example.com\n"),
				"is longer than 1048576 bytes"},
		} {
			for _, dry := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/dry=%v", tc.name, dry), func(t *testing.T) {
					before := e.state()
					opts := domain.ImportOptions{DryRun: dry, Source: "servicenow"}
					var rep *domain.ImportReport
					var err error
					if tc.assets {
						rep, err = importcsv.ImportAssets(e.ctx, e.svc, bytes.NewReader(tc.in), importcsv.ProfileServiceNow, nil, opts)
					} else {
						rep, err = importcsv.ImportPeople(e.ctx, e.svc, bytes.NewReader(tc.in), opts)
					}
					var fe *importcsv.FileError
					if !errors.As(err, &fe) || !strings.Contains(fe.Error(), tc.fileErr) {
						t.Fatalf("error = %v; want a FileError containing %q", err, tc.fileErr)
					}
					if rep == nil || countsOf(rep) != (impCounts{}) {
						t.Errorf("report = %+v; want nothing counted", rep)
					}
					if after := e.state(); !impStateEqual(before, after) {
						t.Errorf("the refused file wrote: %d assets, %d people, %d events became %d, %d, %d",
							len(before.assets), len(before.people), before.log, len(after.assets), len(after.people), after.log)
					}
				})
			}
		}
		// The same file without its last record imports: the check pass
		// rewound it.
		rep, err := importcsv.ImportAssets(e.ctx, e.svc, bytes.NewReader(csvAssets("GOOD", 1200, "")), importcsv.ProfileServiceNow, nil,
			domain.ImportOptions{Source: "servicenow"})
		if err != nil || countsOf(rep) != (impCounts{records: 1200, created: 1200}) {
			t.Fatalf("good file = %+v, %v; want 1200 created", rep, err)
		}
	})
}

// csvPeople is an HRIS file of n people, then tail.
func csvPeople(n int, tail string) []byte {
	var b bytes.Buffer
	b.WriteString("employee_id,name,email\n")
	for i := range n {
		fmt.Fprintf(&b, "E-%06d,Person %d,p%d@example.com\n", i, i, i)
	}
	b.WriteString(tail)
	return b.Bytes()
}

// A ServiceNow record retired in ServiceNow, still assigned to someone,
// creates nothing through the parser and the service, dry or real; the
// same status on a record of an asset Custody holds updates its facts as
// any record does and moves nothing.
func TestImportCSVRetiredServiceNowRecord(t *testing.T) {
	const header = "serial_number,asset_tag,manufacturer,model_id,model_category,install_status,assigned_to,u_custody_state\n"
	for _, tc := range []struct {
		name     string
		rows     string
		want     impCounts
		problems []impProblem
		check    func(t *testing.T, e *impEnv)
	}{
		{
			name: "a new asset retired in ServiceNow, assigned to Ada",
			rows: "SN-RET,,Lenovo,Lenovo X1,Laptop,7,ada@example.com,\nSN-GONE,,Lenovo,Lenovo X1,Laptop,Missing,,\n" +
				"SN-OK,,Lenovo,Lenovo X1,Laptop,1,ada@example.com,\n",
			want: impCounts{records: 3, created: 1},
			problems: []impProblem{
				{2, "install_status", "the file says the asset is out of use (install_status 7 (Retired))"},
				{3, "install_status", "(install_status 8 (Missing))"},
			},
			check: func(t *testing.T, e *impEnv) {
				if e.bySerial("SN-RET") != nil || e.bySerial("SN-GONE") != nil {
					t.Error("a retired or missing asset was created")
				}
				if a := e.bySerial("SN-OK"); a == nil || a.State != domain.StateDeployed || a.HolderID() != e.ada.ID {
					t.Errorf("in-use asset = %+v; want it DEPLOYED to Ada", a)
				}
			},
		},
		{
			name:     "Custody's state, from a re-imported export, refuses too",
			rows:     "SN-RE,,Lenovo,Lenovo X1,Laptop,6,,RETIRED\n",
			want:     impCounts{records: 1},
			problems: []impProblem{{2, "u_custody_state", "(u_custody_state RETIRED)"}},
		},
		{
			name: "a known asset retired in ServiceNow: facts updated, custody untouched",
			rows: "SX1,TX1,Lenovo,Lenovo X1 Yoga,Laptop,7,bob@example.com,\nSY1,,Lenovo,Lenovo X1,Laptop,7,,\n",
			want: impCounts{records: 2, updated: 1, unchanged: 1},
			check: func(t *testing.T, e *impEnv) {
				a := e.asset(e.x.ID)
				if a.Model != "X1 Yoga" || a.State != domain.StateDeployed || a.HolderID() != e.ada.ID {
					t.Errorf("asset = %+v; want the new model, still DEPLOYED to Ada", a)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
				e := newImpEnv(t, db, "imp-csv-retired")
				in := []byte(header + tc.rows)
				rep := threeRuns(t, e, true, func(opts domain.ImportOptions) (*domain.ImportReport, error) {
					return importcsv.ImportAssets(e.ctx, e.svc, bytes.NewReader(in), importcsv.ProfileServiceNow, nil, opts)
				})
				if countsOf(rep) != tc.want || rep.Refused != len(tc.problems) {
					t.Errorf("counts %+v, %d refused; want %+v, %d refused", countsOf(rep), rep.Refused, tc.want, len(tc.problems))
				}
				checkProblems(t, rep.Problems, tc.problems)
				if tc.check != nil {
					tc.check(t, e)
				}
			})
		})
	}
}
