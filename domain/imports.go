package domain

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/custody-dev/custody/tenancy"
)

// ImportBatchSize is how many records an import applies per transaction:
// large enough that a 100,000-record file is a few hundred transactions,
// small enough that none holds the tenant's log lock for long.
const ImportBatchSize = 500

// Every record of an import touches its own rows: an identifier (serial,
// asset tag, employee id, email) or an existing asset named by two records
// of one import refuses the later record, whatever batch each falls in.
// Records therefore never depend on each other, so a dry run (which writes
// nothing, and so cannot see its own earlier batches) decides every record
// exactly as the real run that follows it. The parser refuses in-file
// duplicates too; the service does not rely on it. Memory is a few tens of
// bytes per distinct identifier, like the parser's.

// ImportAssets applies the asset records read yields (from an ITAM file),
// ImportBatchSize per transaction, and reports what it did: each record
// creates an asset, updates one, leaves one unchanged, or is refused with
// a problem. read calls yield once per record, in file order, and stops
// when yield returns an error. Between batches opts.Progress, if set, is
// told how many records were processed so far.
//
// A record names an asset by serial and/or asset tag (normalised as at the
// dock). When it matches one, the import updates only the catalogue facts
// (make, model, category, ITAM reference; a missing serial or tag is
// filled in; an asset is marked data-bearing but never unmarked, since that
// would let it reach an outcome without a sanitization record) and appends
// no custody event: the log records custody, not catalogue data. It never
// changes an asset's state or custodian, whatever the ITAM system says of
// its assignee: Custody, not the ITAM system, is the source of truth for
// physical movement. A record that matches nothing creates the asset with
// an IMPORTED event: IN_STOCK at the location "imported from <source>", or
// DEPLOYED to the person its assignee names (an email address or an
// employee id of the tenant's people; import them first) without a
// signature, joining that person's open off-boarding case if they are
// leaving. A record that matches nothing and whose Inactive is set is
// refused instead (see AssetRecord), in a dry run as in a real one.
//
// With opts.DryRun nothing is written: each batch is decided in a
// read-only transaction and the report says what a real run would do.
//
// It returns an error only for a fault (the database, a cancelled ctx, an
// error of read itself), together with the report so far: the batches
// before the failing one stay applied and are counted, the failing one is
// rolled back whole and is not. Re-running the same records changes
// nothing and appends no event. Vendors may not import.
func (s *Service) ImportAssets(ctx context.Context, opts ImportOptions, read func(yield func(AssetRecord) error) error) (*ImportReport, error) {
	who, err := importer(ctx)
	if err != nil {
		return nil, fmt.Errorf("import assets: %w", err)
	}
	im := &assetImport{s: s, who: who, dry: opts.DryRun, source: importSource(opts.Source, "itam"),
		serials: map[string]int{}, tags: map[string]int{}, assets: map[string]int{}}
	rep, err := runImport(ctx, s, opts, read, im.batch)
	if err != nil {
		return rep, fmt.Errorf("import assets: %w", err)
	}
	return rep, nil
}

// ImportPeople upserts the people read yields (from an HRIS file) by
// employee id, ImportBatchSize per transaction, as ImportAssets does
// assets: a new employee id creates a person (status ACTIVE unless given),
// a known one updates the fields that differ (an empty department or status
// leaves the stored one), and an email that belongs to another person, in
// the tenant or earlier in the import, refuses the record. No custody event
// is appended: people are HR data. Faults, dry runs and re-runs behave as
// in ImportAssets.
func (s *Service) ImportPeople(ctx context.Context, opts ImportOptions, read func(yield func(PersonRecord) error) error) (*ImportReport, error) {
	if _, err := importer(ctx); err != nil {
		return nil, fmt.Errorf("import people: %w", err)
	}
	im := &personImport{s: s, dry: opts.DryRun, employees: map[string]int{}, emails: map[string]emailClaim{}}
	rep, err := runImport(ctx, s, opts, read, im.batch)
	if err != nil {
		return rep, fmt.Errorf("import people: %w", err)
	}
	return rep, nil
}

// importer returns the principal running an import, refusing vendors: an
// import reads and writes the tenant's whole register.
func importer(ctx context.Context) (tenancy.Principal, error) {
	who, err := actor(ctx)
	if err != nil {
		return who, err
	}
	if _, restricted := vendorScope(ctx); restricted {
		return who, ErrForbidden
	}
	return who, nil
}

// importSource returns the source recorded on imported assets, printable
// and bounded, since it lands in custody events and a location's name.
func importSource(source, fallback string) string {
	s := strings.TrimSpace(source)
	if s == "" || !printable(s) {
		return fallback
	}
	return truncate(s, 100)
}

// runImport reads records into batches and applies each with apply, in
// its own transaction (read-only for a dry run), merging a batch's counts
// and problems into the report only once it committed.
func runImport[R any](ctx context.Context, s *Service, opts ImportOptions, read func(yield func(R) error) error,
	apply func(tx Tx, batch []R, rep *ImportReport) ([]Message, error)) (*ImportReport, error) {
	rep := &ImportReport{DryRun: opts.DryRun}
	batch := make([]R, 0, ImportBatchSize)
	// failed is the fault that stopped the import, kept apart from what
	// read returns so that a reader that swallows yield's error cannot turn
	// a failed batch into a success.
	var failed error
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			failed = err
			return err
		}
		var res ImportReport
		var msgs []Message
		run := func(tx Tx) error {
			res, msgs = ImportReport{}, nil
			var err error
			msgs, err = apply(tx, batch, &res)
			return err
		}
		var err error
		if opts.DryRun {
			err = s.store.View(ctx, run)
		} else {
			err = s.store.Update(ctx, run)
		}
		if err != nil {
			failed = fmt.Errorf("batch of lines %d to %d: %w", importLine(batch[0]), importLine(batch[len(batch)-1]), err)
			return failed
		}
		s.publish(ctx, msgs)
		rep.Records += len(batch)
		rep.Created += res.Created
		rep.Updated += res.Updated
		rep.Unchanged += res.Unchanged
		for _, p := range res.Problems {
			rep.AddProblem(p)
		}
		rep.ProblemsTruncated += res.ProblemsTruncated
		batch = batch[:0]
		if opts.Progress != nil {
			opts.Progress(rep.Records)
		}
		return nil
	}
	err := read(func(r R) error {
		if failed != nil {
			return failed
		}
		batch = append(batch, r)
		if len(batch) == ImportBatchSize {
			return flush()
		}
		return nil
	})
	if failed == nil && err == nil {
		err = flush()
	}
	if failed != nil {
		return rep, failed
	}
	if err != nil {
		return rep, fmt.Errorf("read records: %w", err)
	}
	return rep, nil
}

// importLine returns a record's line, for fault messages.
func importLine(r any) int {
	switch r := r.(type) {
	case AssetRecord:
		return r.Line
	case PersonRecord:
		return r.Line
	}
	return 0
}

// problems turns validation errors of one record into report problems,
// each naming the record's field at fault.
func problems(rep *ImportReport, line int, errs UserErrors) {
	for _, e := range errs {
		col := ""
		if len(e.Field) > 0 {
			col = e.Field[len(e.Field)-1]
		}
		rep.AddProblem(ImportProblem{Line: line, Column: col, Message: e.Message})
	}
}

// assetImport is the state of one ImportAssets run across its batches.
type assetImport struct {
	s      *Service
	who    tenancy.Principal
	dry    bool
	source string
	// serials and tags map each identifier seen in this run, and assets
	// each existing asset a record matched, to the line that named it.
	serials, tags, assets map[string]int
}

// assetPlan is one valid record of a batch and what it matched.
type assetPlan struct {
	rec   AssetRecord // normalised
	match *Asset
}

// batch decides and (unless dry) applies one batch of asset records.
func (im *assetImport) batch(tx Tx, batch []AssetRecord, rep *ImportReport) ([]Message, error) {
	// Like every writer that decides from what it reads, the batch takes
	// the tenant's log lock first: its appends then cannot deadlock with a
	// hand-off or a return that locked the log and then an asset.
	if !im.dry {
		if err := tx.LockLog(); err != nil {
			return nil, fmt.Errorf("lock the custody log: %w", err)
		}
	}
	plans := make([]*assetPlan, 0, len(batch))
	for _, r := range batch {
		rec, errs := validateAssetRecord(r)
		if len(errs) > 0 {
			problems(rep, r.Line, errs)
			continue
		}
		if msg, col := im.claimIdentifiers(rec); msg != "" {
			rep.AddProblem(ImportProblem{Line: rec.Line, Column: col, Message: msg})
			continue
		}
		plans = append(plans, &assetPlan{rec: rec})
	}
	serials, tags := make([]string, 0, len(plans)), make([]string, 0, len(plans))
	for _, p := range plans {
		serials, tags = append(serials, p.rec.Serial), append(tags, p.rec.AssetTag)
	}
	found, err := tx.FindAssetsByIdentifiers(serials, tags)
	if err != nil {
		return nil, fmt.Errorf("look up identifiers: %w", err)
	}
	bySerial, byTag := make(map[string]*Asset, len(found)), make(map[string]*Asset, len(found))
	for _, a := range found {
		if a.Serial != "" {
			bySerial[a.Serial] = a
		}
		if a.AssetTag != "" {
			byTag[a.AssetTag] = a
		}
	}
	var assignees []string
	kept := plans[:0]
	for _, p := range plans {
		match, msg, col := matchAsset(p.rec, bySerial[p.rec.Serial], byTag[p.rec.AssetTag])
		if msg == "" && match != nil {
			if line, dup := im.assets[match.ID]; dup {
				msg, col = fmt.Sprintf("asset %s is also on line %d (named by its other identifier)", describeAsset(match), line), "serial"
				if p.rec.Serial == "" {
					col = "assetTag"
				}
			} else {
				im.assets[match.ID] = p.rec.Line
			}
		}
		if msg == "" && match == nil {
			errs := creatable(p.rec)
			if len(errs) > 0 {
				problems(rep, p.rec.Line, errs)
				continue
			}
			if p.rec.Assignee != "" {
				assignees = append(assignees, p.rec.Assignee)
			}
		}
		if msg != "" {
			rep.AddProblem(ImportProblem{Line: p.rec.Line, Column: col, Message: msg})
			continue
		}
		p.match = match
		kept = append(kept, p)
	}
	people, err := findAssignees(tx, assignees)
	if err != nil {
		return nil, err
	}
	now := im.s.timestamp()
	var msgs []Message
	// leaving caches, per person, their open off-boarding case (or nil).
	leaving := map[string]*OffboardingCase{}
	for _, p := range kept {
		if p.match != nil {
			changed := updateFacts(p.match, p.rec)
			if !changed {
				rep.Unchanged++
				continue
			}
			if !im.dry {
				p.match.Version++
				p.match.UpdatedAt = now
				if err := tx.UpdateAsset(p.match); err != nil {
					return nil, fmt.Errorf("line %d: update asset %s: %w", p.rec.Line, p.match.ID, err)
				}
			}
			rep.Updated++
			continue
		}
		var holder *Person
		if p.rec.Assignee != "" {
			if holder = people.find(p.rec.Assignee); holder == nil {
				rep.AddProblem(ImportProblem{Line: p.rec.Line, Column: "assignee",
					Message: "assignee " + p.rec.Assignee + " is not a person of this tenant: import people first"})
				continue
			}
		}
		if !im.dry {
			m, err := im.create(tx, p.rec, holder, now, leaving)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", p.rec.Line, err)
			}
			msgs = append(msgs, m)
		}
		rep.Created++
	}
	return msgs, nil
}

// claimIdentifiers records rec's serial and tag as seen in this run, or
// says which one an earlier record of the run already named.
func (im *assetImport) claimIdentifiers(rec AssetRecord) (msg, column string) {
	if line, dup := im.serials[rec.Serial]; dup && rec.Serial != "" {
		return fmt.Sprintf("serial %s is also on line %d", rec.Serial, line), "serial"
	}
	if line, dup := im.tags[rec.AssetTag]; dup && rec.AssetTag != "" {
		return fmt.Sprintf("asset tag %s is also on line %d", rec.AssetTag, line), "assetTag"
	}
	if rec.Serial != "" {
		im.serials[rec.Serial] = rec.Line
	}
	if rec.AssetTag != "" {
		im.tags[rec.AssetTag] = rec.Line
	}
	return "", ""
}

// validateAssetRecord normalises a record as the dock would (identifiers
// without spaces, upper case; texts trimmed) and checks what every record
// needs; creatable checks what creating an asset needs besides.
func validateAssetRecord(r AssetRecord) (AssetRecord, UserErrors) {
	var errs UserErrors
	out := AssetRecord{Line: r.Line, Serial: normalizeIdentifier(r.Serial), AssetTag: normalizeIdentifier(r.AssetTag),
		Category: r.Category, BearsData: r.BearsData}
	// The status's words only reach the report: bounded, not refused for
	// their length, which a long header name could give every record.
	out.Inactive = truncate(strings.TrimSpace(r.Inactive), 300)
	out.InactiveColumn = truncate(strings.TrimSpace(r.InactiveColumn), 200)
	if !printable(out.Inactive) || !printable(out.InactiveColumn) {
		errs.Add(CodeInvalid, "the status must be valid UTF-8 text without NUL characters", "status")
	}
	for _, id := range []struct{ field, v string }{{"serial", out.Serial}, {"assetTag", out.AssetTag}} {
		switch {
		case !printable(id.v):
			errs.Add(CodeInvalid, "must be valid UTF-8 text without NUL characters", id.field)
		case len(id.v) > 100:
			errs.Add(CodeInvalid, "must be at most 100 characters", id.field)
		}
	}
	if out.Serial == "" && out.AssetTag == "" {
		errs.Add(CodeRequired, "a manufacturer serial or a company asset tag is required", "serial")
	}
	out.Make = text(&errs, r.Make, false, 100, "make")
	out.Model = text(&errs, r.Model, false, 200, "model")
	if out.Category != "" && !out.Category.Valid() {
		errs.Add(CodeInvalid, "unknown category "+strconv.Quote(truncate(string(out.Category), 50)), "category")
	}
	out.ITAMRef = text(&errs, r.ITAMRef, false, 200, "itamRef")
	out.Assignee = text(&errs, r.Assignee, false, 320, "assignee")
	return out, errs
}

// creatable checks the facts a new asset needs that an update may omit,
// and that the file shows it in use or in stock.
func creatable(rec AssetRecord) UserErrors {
	var errs UserErrors
	if rec.Inactive != "" {
		col := rec.InactiveColumn
		if col == "" {
			col = "status"
		}
		errs.Add(CodeInvalid, "the file says the asset is out of use ("+rec.Inactive+"): Custody only creates assets that are "+
			"in use or in stock; import it as in stock and retire it in Custody, or leave it out", col)
	}
	if rec.Make == "" {
		errs.Add(CodeRequired, "is required to create an asset", "make")
	}
	if rec.Model == "" {
		errs.Add(CodeRequired, "is required to create an asset", "model")
	}
	if rec.Category == "" {
		errs.Add(CodeRequired, "is required to create an asset", "category")
	}
	return errs
}

// matchAsset decides which existing asset rec names, given the asset
// holding its serial (bySerial) and the one holding its tag (byTag): nil
// for none, or a problem when the two identifiers point at different
// assets.
func matchAsset(rec AssetRecord, bySerial, byTag *Asset) (match *Asset, msg, column string) {
	switch {
	case bySerial != nil && byTag != nil && bySerial.ID != byTag.ID:
		return nil, fmt.Sprintf("serial %s is asset %s's but tag %s is asset %s's",
			rec.Serial, describeAsset(bySerial), rec.AssetTag, describeAsset(byTag)), "serial"
	case bySerial != nil && rec.AssetTag != "" && bySerial.AssetTag != "" && bySerial.AssetTag != rec.AssetTag:
		return nil, fmt.Sprintf("serial %s belongs to another asset (tag %s)", rec.Serial, bySerial.AssetTag), "serial"
	case byTag != nil && rec.Serial != "" && byTag.Serial != "" && byTag.Serial != rec.Serial:
		return nil, fmt.Sprintf("tag %s belongs to another asset (serial %s)", rec.AssetTag, byTag.Serial), "assetTag"
	case bySerial != nil:
		return bySerial, "", ""
	}
	return byTag, "", ""
}

// describeAsset names an asset in a problem by its id and identifiers.
func describeAsset(a *Asset) string {
	ids := make([]string, 0, 2)
	if a.Serial != "" {
		ids = append(ids, "serial "+a.Serial)
	}
	if a.AssetTag != "" {
		ids = append(ids, "tag "+a.AssetTag)
	}
	return a.ID + " (" + strings.Join(ids, ", ") + ")"
}

// updateFacts applies the catalogue facts rec states to a and reports
// whether any changed. An empty fact is one the file does not state, so it
// leaves the stored one; state and custodian are never touched.
func updateFacts(a *Asset, rec AssetRecord) bool {
	changed := false
	set := func(dst *string, v string) {
		if v != "" && *dst != v {
			*dst, changed = v, true
		}
	}
	if a.Serial == "" {
		set(&a.Serial, rec.Serial)
	}
	if a.AssetTag == "" {
		set(&a.AssetTag, rec.AssetTag)
	}
	set(&a.Make, rec.Make)
	set(&a.Model, rec.Model)
	set(&a.Category, string(rec.Category))
	set(&a.ITAMRef, rec.ITAMRef)
	if rec.BearsData && !a.BearsData {
		a.BearsData, changed = true, true
	}
	return changed
}

// create inserts the asset rec describes with its IMPORTED event, held by
// holder (nil: in stock at the source's location).
func (im *assetImport) create(tx Tx, rec AssetRecord, holder *Person, now time.Time, leaving map[string]*OffboardingCase) (Message, error) {
	a := &Asset{ID: NewID(), Serial: rec.Serial, AssetTag: rec.AssetTag, Make: rec.Make, Model: rec.Model,
		Category: string(rec.Category), BearsData: rec.BearsData, ITAMRef: rec.ITAMRef,
		State: StateInStock, Custodian: Custodian{Kind: CustodianLocation, Ref: "imported from " + im.source},
		Version: 1, CreatedAt: now, UpdatedAt: now}
	details := assetFacts(a)
	details["source"] = im.source
	if a.ITAMRef != "" {
		details["itamRef"] = a.ITAMRef
	}
	location, personID := a.Custodian.Ref, ""
	var c *OffboardingCase
	if holder != nil {
		a.State, a.Custodian = StateDeployed, Custodian{Kind: CustodianPerson, Ref: holder.ID}
		location, personID = "", holder.ID
		// No one signed for it: the event says the ITAM system assigned it.
		details["assignedInITAM"] = "true"
		var err error
		if c, err = openCaseCached(tx, holder.ID, leaving); err != nil {
			return Message{}, err
		}
		if c != nil {
			details["case"] = c.ID
		}
	}
	if err := tx.CreateAsset(a); err != nil {
		return Message{}, fmt.Errorf("create asset: %w", err)
	}
	m, err := appendEvent(tx, &CustodyEvent{
		TenantID: a.TenantID, AssetID: a.ID, Type: EventImported, ToState: a.State,
		FromCustodian: Custodian{Kind: CustodianNone}, ToCustodian: a.Custodian,
		ActorID: im.who.MemberID, Location: location, RecordedAt: now, Details: details,
	}, personID)
	if err != nil {
		return Message{}, err
	}
	a.LastEventID = m.EventID
	a.Version++
	if err := tx.UpdateAsset(a); err != nil {
		return Message{}, fmt.Errorf("link asset to its event: %w", err)
	}
	if err := addToCase(tx, c, []*Asset{a}, now); err != nil {
		return Message{}, err
	}
	return m, nil
}

// openCaseCached is openCaseOf, asked once per person per batch.
func openCaseCached(tx Tx, personID string, cache map[string]*OffboardingCase) (*OffboardingCase, error) {
	if c, ok := cache[personID]; ok {
		return c, nil
	}
	c, err := openCaseOf(tx, personID)
	if err != nil {
		return nil, err
	}
	cache[personID] = c
	return c, nil
}

// assigneeIndex finds people by employee id or (ignoring case) email.
type assigneeIndex struct {
	byEmployeeID, byEmail map[string]*Person
}

// isEmail tells an assignee's email address from an employee id: employee
// ids carry no '@'.
func isEmail(assignee string) bool { return strings.Contains(assignee, "@") }

// findAssignees looks a batch's assignees up in one statement.
func findAssignees(tx Tx, assignees []string) (assigneeIndex, error) {
	idx := assigneeIndex{byEmployeeID: map[string]*Person{}, byEmail: map[string]*Person{}}
	if len(assignees) == 0 {
		return idx, nil
	}
	var ids, emails []string
	for _, a := range assignees {
		if isEmail(a) {
			emails = append(emails, a)
		} else {
			ids = append(ids, a)
		}
	}
	people, err := tx.FindPeople(ids, emails)
	if err != nil {
		return idx, fmt.Errorf("look up assignees: %w", err)
	}
	for _, p := range people {
		idx.byEmployeeID[p.EmployeeID] = p
		idx.byEmail[strings.ToLower(p.Email)] = p
	}
	return idx, nil
}

// find returns the person an assignee names, or nil.
func (idx assigneeIndex) find(assignee string) *Person {
	if isEmail(assignee) {
		return idx.byEmail[strings.ToLower(assignee)]
	}
	return idx.byEmployeeID[assignee]
}

// personImport is the state of one ImportPeople run across its batches.
type personImport struct {
	s   *Service
	dry bool
	// employees maps each employee id seen in this run to its line.
	employees map[string]int
	// emails maps each email (lower case) a record of this run claimed, or
	// that a record took away from the person who had it, to its claim:
	// what the database will say of it once the run is applied, so a dry
	// run decides later batches as the real run does.
	emails map[string]emailClaim
}

// emailClaim is who holds an email after this run's earlier records.
type emailClaim struct {
	employeeID string // "" when the run freed it
	line       int
}

// batch decides and (unless dry) applies one batch of person records.
func (im *personImport) batch(tx Tx, batch []PersonRecord, rep *ImportReport) ([]Message, error) {
	recs := make([]PersonRecord, 0, len(batch))
	for _, r := range batch {
		rec, errs := validatePersonRecord(r)
		if len(errs) > 0 {
			problems(rep, r.Line, errs)
			continue
		}
		if line, dup := im.employees[rec.EmployeeID]; dup {
			rep.AddProblem(ImportProblem{Line: rec.Line, Column: "employeeId",
				Message: fmt.Sprintf("employee id %s is also on line %d", rec.EmployeeID, line)})
			continue
		}
		im.employees[rec.EmployeeID] = rec.Line
		recs = append(recs, rec)
	}
	ids, emails := make([]string, len(recs)), make([]string, len(recs))
	for i, r := range recs {
		ids[i], emails[i] = r.EmployeeID, r.Email
	}
	found, err := tx.FindPeople(ids, emails)
	if err != nil {
		return nil, fmt.Errorf("look up people: %w", err)
	}
	byID, byEmail := make(map[string]*Person, len(found)), make(map[string]*Person, len(found))
	for _, p := range found {
		byID[p.EmployeeID], byEmail[strings.ToLower(p.Email)] = p, p
	}
	now := im.s.timestamp()
	for _, rec := range recs {
		email := strings.ToLower(rec.Email)
		owner, line := "", 0
		if c, ok := im.emails[email]; ok {
			owner, line = c.employeeID, c.line
		} else if p := byEmail[email]; p != nil {
			owner = p.EmployeeID
		}
		if owner != "" && owner != rec.EmployeeID {
			msg := fmt.Sprintf("email %s belongs to another person (employee id %s)", rec.Email, owner)
			if line != 0 {
				msg = fmt.Sprintf("email %s is also on line %d (employee id %s)", rec.Email, line, owner)
			}
			rep.AddProblem(ImportProblem{Line: rec.Line, Column: "email", Message: msg})
			continue
		}
		p := byID[rec.EmployeeID]
		if p == nil {
			status := rec.Status
			if status == "" {
				status = PersonActive
			}
			p = &Person{ID: NewID(), EmployeeID: rec.EmployeeID, Name: rec.Name, Email: rec.Email,
				Department: rec.Department, Status: status, Version: 1, CreatedAt: now, UpdatedAt: now}
			if !im.dry {
				if err := tx.CreatePerson(p); err != nil {
					return nil, fmt.Errorf("line %d: create person: %w", rec.Line, err)
				}
			}
			rep.Created++
		} else {
			old := strings.ToLower(p.Email)
			if !updatePerson(p, rec) {
				rep.Unchanged++
			} else {
				if !im.dry {
					p.Version++
					p.UpdatedAt = now
					if err := tx.UpdatePerson(p); err != nil {
						return nil, fmt.Errorf("line %d: update person %s: %w", rec.Line, p.ID, err)
					}
				}
				rep.Updated++
			}
			if old != email {
				if _, claimed := im.emails[old]; !claimed {
					im.emails[old] = emailClaim{}
				}
			}
		}
		im.emails[email] = emailClaim{employeeID: rec.EmployeeID, line: rec.Line}
	}
	return nil, nil
}

// validatePersonRecord checks a record as CreatePerson checks its input
// and returns it trimmed.
func validatePersonRecord(r PersonRecord) (PersonRecord, UserErrors) {
	var errs UserErrors
	out := PersonRecord{Line: r.Line, Status: r.Status}
	out.EmployeeID = text(&errs, r.EmployeeID, true, 100, "employeeId")
	out.Name = text(&errs, r.Name, true, 200, "name")
	out.Email = validEmail(&errs, r.Email, "email")
	out.Department = text(&errs, r.Department, false, 200, "department")
	if out.Status != "" && !out.Status.Valid() {
		errs.Add(CodeInvalid, "unknown status "+strconv.Quote(truncate(string(out.Status), 50)), "status")
	}
	return out, errs
}

// updatePerson applies rec to p and reports whether anything changed; an
// empty department or status is one the file does not state.
func updatePerson(p *Person, rec PersonRecord) bool {
	changed := false
	set := func(dst *string, v string) {
		if *dst != v {
			*dst, changed = v, true
		}
	}
	set(&p.Name, rec.Name)
	set(&p.Email, rec.Email)
	if rec.Department != "" {
		set(&p.Department, rec.Department)
	}
	if rec.Status != "" && p.Status != rec.Status {
		p.Status, changed = rec.Status, true
	}
	return changed
}
