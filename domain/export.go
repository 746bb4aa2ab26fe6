package domain

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// This file streams exports: the custody and hand-off logs, the asset
// register, off-boarding cases and certificates, page by page from the
// database, each export recorded in the tenant's custody log first.

// exportPage is how many records an export reads per statement: enough
// that round trips do not dominate, few enough that a page with the records
// it refers to stays a few megabytes whatever the export's size.
const exportPage = 1000

// maxExportTypes bounds an event filter's list of types.
const maxExportTypes = 50

// ValidateExport checks an export request and returns it normalised: the
// default profile when none is given, and the hand-off log's event type.
// Problems are UserErrors naming the request's fields.
func ValidateExport(req ExportRequest) (ExportRequest, error) {
	var errs UserErrors
	if !slices.Contains(AllExportKinds, req.Kind) {
		errs.Add(CodeInvalid, fmt.Sprintf("unknown export %q", req.Kind), "kind")
	}
	if req.Profile == "" {
		req.Profile = ProfileDefault
	}
	kinds, known := ProfileKinds[req.Profile]
	switch {
	case !known:
		errs.Add(CodeInvalid, fmt.Sprintf("unknown profile %q", req.Profile), "profile")
	case len(errs) == 0 && !slices.Contains(kinds, req.Kind):
		errs.Add(CodeInvalid, fmt.Sprintf("the %s profile does not shape %s exports (it shapes %s)", req.Profile, req.Kind, kindList(kinds)), "profile")
	}
	f := &req.Filter
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		errs.Add(CodeInvalid, "from must be before to", "to")
	}
	if len(f.Types) > maxExportTypes {
		errs.Add(CodeInvalid, fmt.Sprintf("at most %d event types", maxExportTypes), "type")
	}
	for _, t := range f.Types {
		if !t.Valid() {
			errs.Add(CodeInvalid, fmt.Sprintf("unknown event type %q", t), "type")
		}
	}
	f.AssetID = text(&errs, f.AssetID, false, 100, "asset")
	f.PersonID = text(&errs, f.PersonID, false, 100, "person")
	f.Location = text(&errs, f.Location, false, 200, "location")
	// A filter an export cannot apply is refused, never ignored: ignoring
	// it would silently export more than was asked for.
	switch req.Kind {
	case ExportAssets:
		if f.From != nil || f.To != nil || len(f.Types) > 0 || f.AssetID != "" || f.PersonID != "" || f.Location != "" {
			errs.Add(CodeInvalid, "the asset register is exported whole: it takes no filter", "kind")
		}
	case ExportCertificates:
		if len(f.Types) > 0 || f.AssetID != "" || f.PersonID != "" || f.Location != "" {
			errs.Add(CodeInvalid, "certificates are filtered by a date range of issue only", "kind")
		}
	case ExportOffboarding:
		if len(f.Types) > 0 || f.AssetID != "" || f.Location != "" {
			errs.Add(CodeInvalid, "off-boarding cases are filtered by a date range of opening and a person only", "kind")
		}
	}
	if req.Kind == ExportHandOffs {
		if len(f.Types) > 0 && !slices.Equal(f.Types, []EventType{EventHandedOff}) {
			errs.Add(CodeInvalid, "the hand-off log holds HANDED_OFF events only", "type")
		}
		f.Types = []EventType{EventHandedOff}
	}
	if err := errs.Err(); err != nil {
		return req, err
	}
	return req, nil
}

func kindList(kinds []ExportKind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Export validates req, records it in the tenant's custody log (an
// EXPORTED event: who exported what, with which filter, before a single row
// leaves, so an export that fails half way is on record too), then streams
// its rows to fn page by page. Each page is read in its own short
// transaction and handed to fn outside it, so a slow reader holds no
// database resources; memory is one page whatever the export's size. It
// returns how many rows fn took.
func (s *Service) Export(ctx context.Context, req ExportRequest, fn func(ExportRow) error) (int64, error) {
	req, err := ValidateExport(req)
	if err != nil {
		return 0, err
	}
	// The policy gives vendors no export; should it ever, they would still
	// not get the tenant's records.
	if _, restricted := vendorScope(ctx); restricted {
		return 0, fmt.Errorf("export %s: %w", req.Kind, ErrForbidden)
	}
	if err := s.recordExport(ctx, req); err != nil {
		return 0, err
	}
	var page func(tx Tx, after string) ([]ExportRow, string, error)
	switch req.Kind {
	case ExportCustodyLog, ExportHandOffs:
		page = func(tx Tx, after string) ([]ExportRow, string, error) { return eventRows(tx, req.Filter, after) }
	case ExportAssets:
		page = assetRows
	case ExportOffboarding:
		page = func(tx Tx, after string) ([]ExportRow, string, error) { return caseRows(tx, req.Filter, after) }
	case ExportCertificates:
		page = func(tx Tx, after string) ([]ExportRow, string, error) { return certificateRows(tx, req.Filter, after) }
	}
	var n int64
	for after := ""; ; {
		var rows []ExportRow
		var next string
		err := s.store.View(ctx, func(tx Tx) error {
			var err error
			rows, next, err = page(tx, after)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("export %s: %w", req.Kind, err)
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return n, err
			}
			n++
		}
		if next == "" {
			return n, nil
		}
		after = next
	}
}

// recordExport appends the EXPORTED event of req.
func (s *Service) recordExport(ctx context.Context, req ExportRequest) error {
	who, err := actor(ctx)
	if err != nil {
		return err
	}
	d := map[string]string{"export": string(req.Kind), "profile": string(req.Profile)}
	f := req.Filter
	if f.From != nil {
		d["from"] = f.From.UTC().Format(time.RFC3339)
	}
	if f.To != nil {
		d["to"] = f.To.UTC().Format(time.RFC3339)
	}
	if len(f.Types) > 0 && req.Kind == ExportCustodyLog {
		types := make([]string, len(f.Types))
		for i, t := range f.Types {
			types[i] = string(t)
		}
		d["types"] = strings.Join(types, ",")
	}
	d["asset"], d["person"], d["location"] = f.AssetID, f.PersonID, f.Location
	none := Custodian{Kind: CustodianNone}
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		msg, err := appendEvent(tx, &CustodyEvent{TenantID: who.TenantID, Type: EventExported, FromCustodian: none, ToCustodian: none,
			ActorID: who.MemberID, RecordedAt: s.timestamp(), Details: compact(d)}, "")
		msgs = append(msgs, msg)
		return err
	})
	if err != nil {
		return fmt.Errorf("record export: %w", err)
	}
	s.publish(ctx, msgs)
	return nil
}

// eventRows reads one page of a log export with the assets, people,
// actors and signature facts its events refer to.
func eventRows(tx Tx, f EventFilter, after string) ([]ExportRow, string, error) {
	var afterSeq int64
	if after != "" {
		if _, err := fmt.Sscan(after, &afterSeq); err != nil {
			return nil, "", fmt.Errorf("export cursor %q: %w", after, err)
		}
	}
	events, err := tx.ListEvents(f, afterSeq, exportPage)
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	var assetIDs, personIDs, actorIDs, sigIDs idSet
	for _, e := range events {
		assetIDs.add(e.AssetID)
		personIDs.add(personOf(e))
		actorIDs.add(e.ActorID)
		sigIDs.add(e.SignatureID)
	}
	assets, err := byID(tx.GetAssets, assetIDs.ids, func(a *Asset) string { return a.ID })
	if err != nil {
		return nil, "", fmt.Errorf("load assets: %w", err)
	}
	people, err := byID(tx.GetPeople, personIDs.ids, func(p *Person) string { return p.ID })
	if err != nil {
		return nil, "", fmt.Errorf("load people: %w", err)
	}
	actors, err := byID(tx.GetMembers, actorIDs.ids, func(m *Member) string { return m.ID })
	if err != nil {
		return nil, "", fmt.Errorf("load actors: %w", err)
	}
	sigs, err := byID(tx.GetSignatureFacts, sigIDs.ids, func(s *Signature) string { return s.ID })
	if err != nil {
		return nil, "", fmt.Errorf("load signatures: %w", err)
	}
	rows := make([]ExportRow, len(events))
	for i, e := range events {
		rows[i] = ExportRow{Event: e, Asset: assets[e.AssetID], Person: people[personOf(e)], Actor: actors[e.ActorID], Signature: sigs[e.SignatureID]}
	}
	return rows, nextCursor(len(events), func() string { return fmt.Sprint(events[len(events)-1].Seq) }), nil
}

// personOf is the person an event concerns: who received custody, else
// who gave it up.
func personOf(e *CustodyEvent) string {
	switch {
	case e.ToCustodian.Kind == CustodianPerson:
		return e.ToCustodian.Ref
	case e.FromCustodian.Kind == CustodianPerson:
		return e.FromCustodian.Ref
	}
	return ""
}

// assetRows reads one page of the asset register with the holders.
func assetRows(tx Tx, after string) ([]ExportRow, string, error) {
	assets, err := tx.ListAssets(AssetFilter{}, PageRequest{First: exportPage, After: after})
	if err != nil {
		return nil, "", fmt.Errorf("list assets: %w", err)
	}
	var holderIDs idSet
	for _, a := range assets {
		holderIDs.add(a.HolderID())
	}
	people, err := byID(tx.GetPeople, holderIDs.ids, func(p *Person) string { return p.ID })
	if err != nil {
		return nil, "", fmt.Errorf("load holders: %w", err)
	}
	rows := make([]ExportRow, len(assets))
	for i, a := range assets {
		rows[i] = ExportRow{Asset: a, Person: people[a.HolderID()]}
	}
	return rows, nextCursor(len(assets), func() string { return assets[len(assets)-1].ID }), nil
}

// caseRows reads one page of off-boarding cases (those opened in the
// filter's range, of its person) with their items, people and assets.
func caseRows(tx Tx, f EventFilter, after string) ([]ExportRow, string, error) {
	cases, err := tx.ListCases(CaseFilter{PersonID: f.PersonID}, PageRequest{First: exportPage, After: after})
	if err != nil {
		return nil, "", fmt.Errorf("list cases: %w", err)
	}
	next := nextCursor(len(cases), func() string { return cases[len(cases)-1].ID })
	cases = slices.DeleteFunc(cases, func(c *OffboardingCase) bool { return !inRange(c.OpenedAt, f) })
	caseIDs := make([]string, len(cases))
	var personIDs, assetIDs idSet
	for i, c := range cases {
		caseIDs[i] = c.ID
		personIDs.add(c.PersonID)
	}
	var items []*CaseItem
	if len(caseIDs) > 0 {
		if items, err = tx.ListCaseItems(caseIDs); err != nil {
			return nil, "", fmt.Errorf("list case items: %w", err)
		}
	}
	itemsOf := map[string][]*CaseItem{}
	for _, it := range items {
		itemsOf[it.CaseID] = append(itemsOf[it.CaseID], it)
		assetIDs.add(it.AssetID)
	}
	people, err := byID(tx.GetPeople, personIDs.ids, func(p *Person) string { return p.ID })
	if err != nil {
		return nil, "", fmt.Errorf("load people: %w", err)
	}
	assets, err := byID(tx.GetAssets, assetIDs.ids, func(a *Asset) string { return a.ID })
	if err != nil {
		return nil, "", fmt.Errorf("load assets: %w", err)
	}
	var rows []ExportRow
	for _, c := range cases {
		if len(itemsOf[c.ID]) == 0 {
			rows = append(rows, ExportRow{Case: c, Person: people[c.PersonID]})
		}
		for _, it := range itemsOf[c.ID] {
			rows = append(rows, ExportRow{Case: c, Item: it, Person: people[c.PersonID], Asset: assets[it.AssetID]})
		}
	}
	return rows, next, nil
}

// certificateRows reads one page of certificates (issued in the filter's
// range) with their certified lines, sanitization records, orders and
// vendors, lines in serial order within a certificate as on its PDF.
func certificateRows(tx Tx, f EventFilter, after string) ([]ExportRow, string, error) {
	certs, err := tx.ListCertificates("", PageRequest{First: exportPage, After: after})
	if err != nil {
		return nil, "", fmt.Errorf("list certificates: %w", err)
	}
	next := nextCursor(len(certs), func() string { return certs[len(certs)-1].ID })
	certs = slices.DeleteFunc(certs, func(c *Certificate) bool { return !inRange(c.IssuedAt, f) })
	if len(certs) == 0 {
		return nil, next, nil
	}
	orderIDs := make([]string, len(certs))
	for i, c := range certs {
		orderIDs[i] = c.OrderID
	}
	lines, err := tx.ListPickupLines(orderIDs)
	if err != nil {
		return nil, "", fmt.Errorf("list certified lines: %w", err)
	}
	lines = slices.DeleteFunc(lines, func(l *PickupLine) bool {
		return l.Outcome == nil || (l.Status != LineReceived && l.Status != LineWrittenBack)
	})
	orders, vendors, recs := map[string]*PickupOrder{}, map[string]string{}, map[string]*SanitizationRecord{}
	if err := loadDispositionContext(tx, lines, orders, map[string]*Certificate{}, vendors, recs); err != nil {
		return nil, "", err
	}
	linesOf := map[string][]*PickupLine{}
	for _, l := range lines {
		linesOf[l.OrderID] = append(linesOf[l.OrderID], l)
	}
	var rows []ExportRow
	for _, c := range certs {
		ls := linesOf[c.OrderID]
		sort.Slice(ls, func(i, j int) bool {
			if ls[i].Serial != ls[j].Serial {
				return ls[i].Serial < ls[j].Serial
			}
			return ls[i].AssetTag < ls[j].AssetTag
		})
		o := orders[c.OrderID]
		vendor := ""
		if o != nil {
			vendor = vendors[o.VendorID]
		}
		for _, l := range ls {
			rows = append(rows, ExportRow{Certificate: c, Order: o, VendorName: vendor, Line: l, Sanitization: recs[l.OrderID+"/"+l.AssetID]})
		}
	}
	return rows, next, nil
}

// inRange reports whether t is within the filter's [From, To).
func inRange(t time.Time, f EventFilter) bool {
	return (f.From == nil || !t.Before(*f.From)) && (f.To == nil || t.Before(*f.To))
}

// nextCursor is the cursor after a full page (last names it), or "" when
// the page was the last.
func nextCursor(n int, last func() string) string {
	if n < exportPage {
		return ""
	}
	return last()
}

// idSet collects the distinct non-empty ids a page refers to, in first
// appearance order.
type idSet struct {
	ids  []string
	seen map[string]bool
}

func (s *idSet) add(id string) {
	if id == "" || s.seen[id] {
		return
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[id] = true
	s.ids = append(s.ids, id)
}

// byID loads records by id (none when ids is empty) and indexes them.
func byID[T any](load func([]string) ([]T, error), ids []string, key func(T) string) (map[string]T, error) {
	out := make(map[string]T, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	recs, err := load(ids)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		out[key(r)] = r
	}
	return out, nil
}
