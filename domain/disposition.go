package domain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custody-dev/custody/tenancy"
)

// The dock pickup and the vendor's receipt: the vendor scans against the
// manifest, IT resolves every discrepancy, and a confirmation moves custody
// of exactly the scanned assets (dock: with both parties' signatures).

// DockScan records one scan by the vendor's technician as an item leaves the
// dock (phase PICKUP, order OPEN). A discrepancy is published live to IT.
func (s *Service) DockScan(ctx context.Context, orderID string, in ScanInput) (*PickupScan, error) {
	return first(s.scanPhase(ctx, PhasePickup, orderID, []ScanInput{in}, false))
}

// BulkDockScan records many dock scans at once.
func (s *Service) BulkDockScan(ctx context.Context, orderID string, in []ScanInput) ([]*PickupScan, error) {
	return s.scanPhase(ctx, PhasePickup, orderID, in, true)
}

// ReceiptScan records one scan at the vendor's facility (phase RECEIPT,
// order PICKED_UP), against what was picked up.
func (s *Service) ReceiptScan(ctx context.Context, orderID string, in ScanInput) (*PickupScan, error) {
	return first(s.scanPhase(ctx, PhaseReceipt, orderID, []ScanInput{in}, false))
}

// BulkReceiptScan records many receipt scans at once.
func (s *Service) BulkReceiptScan(ctx context.Context, orderID string, in []ScanInput) ([]*PickupScan, error) {
	return s.scanPhase(ctx, PhaseReceipt, orderID, in, true)
}

// CountReport compares an order's manifest with the scans of one phase.
type CountReport struct {
	Phase ScanPhase
	// Lines is how many lines the phase expects; Counted how many of them
	// a scan matched or an accepted discrepancy accounts for.
	Lines   int
	Counted int
	// Missing are the expected lines neither scanned nor resolved.
	Missing []*PickupLine
	// Discrepancies are the scans that did not match and are not resolved.
	Discrepancies []*PickupScan
	// Resolutions are IT's decisions so far, in order.
	Resolutions []*Resolution
}

// phaseState is where one scanning phase of an order stands.
type phaseState struct {
	lines  []*PickupLine
	scans  map[string]*PickupScan
	report *CountReport
	// accounted are the expected lines a scan matched or an acceptance covers.
	accounted map[string]bool
}

// loadPhase reads an order's lines, the phase's scans and resolutions, and
// works out what is accounted for and what is still open.
func loadPhase(tx Tx, orderID string, phase ScanPhase) (*phaseState, error) {
	lines, err := tx.ListPickupLines([]string{orderID})
	if err != nil {
		return nil, fmt.Errorf("load manifest: %w", err)
	}
	scans, err := tx.ListPickupScans(orderID, phase)
	if err != nil {
		return nil, fmt.Errorf("load scans: %w", err)
	}
	var res []*Resolution
	if phase != PhaseCount {
		if res, err = tx.ListResolutions(orderID, phase); err != nil {
			return nil, fmt.Errorf("load resolutions: %w", err)
		}
	}
	byScan, byLine := map[string]*Resolution{}, map[string]*Resolution{}
	for _, r := range res {
		if r.ScanID != "" {
			byScan[r.ScanID] = r
		} else {
			byLine[r.AssetID] = r
		}
	}
	settled := map[string]bool{}
	for _, l := range lines {
		if l.Status == LineRemoved || (l.Status == LineLost && byLine[l.AssetID] == nil) {
			settled[l.AssetID] = true
		}
	}
	ps := &phaseState{lines: lines, scans: map[string]*PickupScan{}, accounted: map[string]bool{},
		report: &CountReport{Phase: phase, Resolutions: res}}
	for _, sc := range scans {
		ps.scans[sc.ID] = sc
		r := byScan[sc.ID]
		switch {
		case sc.Result == ScanMatched:
			ps.accounted[sc.LineAssetID] = true
		case r != nil:
			if r.Action == ResolveAccept && r.AssetID != "" {
				ps.accounted[r.AssetID] = true
			}
		case sc.LineAssetID != "" && settled[sc.LineAssetID]:
			// About a line taken off the order (or lost) since: settled.
		default:
			ps.report.Discrepancies = append(ps.report.Discrepancies, sc)
		}
	}
	// A line an open substitution names is that discrepancy, not also a
	// missing line.
	substituted := map[string]bool{}
	for _, sc := range ps.report.Discrepancies {
		if sc.Result == ScanSubstituted {
			substituted[sc.LineAssetID] = true
		}
	}
	for _, l := range lines {
		if !expectedIn(l, phase) && byLine[l.AssetID] == nil {
			continue
		}
		ps.report.Lines++
		switch {
		case ps.accounted[l.AssetID]:
			ps.report.Counted++
		case byLine[l.AssetID] == nil && !substituted[l.AssetID]:
			ps.report.Missing = append(ps.report.Missing, l)
		}
	}
	return ps, nil
}

// expectedIn reports whether a phase's scans should find line l: the count
// and the dock expect every line still on the order; the receipt every line
// that was picked up.
func expectedIn(l *PickupLine, phase ScanPhase) bool {
	switch phase {
	case PhaseReceipt:
		return l.Status == LinePickedUp || l.Status == LineReceived || l.Status == LineWrittenBack
	default:
		return l.Status != LineRemoved && l.Status != LineLost
	}
}

// unresolved words every open discrepancy of a phase as a user error.
func (ps *phaseState) unresolved() error {
	var errs UserErrors
	for _, sc := range ps.report.Discrepancies {
		what := string(sc.Result)
		if sc.Detail != "" {
			what += ": " + sc.Detail
		}
		errs.Add(CodeUnresolvedDiscrepancy, fmt.Sprintf("scan %s (%s) is not resolved: %s", sc.ID, identifiers(sc.Serial, sc.AssetTag), what), "input", "orderId")
	}
	// At receipt a missing asset left the dock in the vendor's custody: it
	// can only be lost, not taken off the order.
	remedy := "scan it, or resolve it as removed or lost"
	if ps.report.Phase == PhaseReceipt {
		remedy = "scan it, or resolve it as lost"
	}
	for _, l := range ps.report.Missing {
		errs.Add(CodeUnresolvedDiscrepancy, fmt.Sprintf("%s was not scanned: %s", identifiers(l.Serial, l.AssetTag), remedy), "input", "orderId")
	}
	return errs.Err()
}

// identifiers words a serial and tag for messages.
func identifiers(serial, tag string) string {
	switch {
	case serial != "" && tag != "":
		return "serial " + serial + ", tag " + tag
	case serial != "":
		return "serial " + serial
	default:
		return "tag " + tag
	}
}

// ScanReport compares an order's manifest with one phase's scans: the
// physical count, the dock pickup or the receipt.
func (s *Service) ScanReport(ctx context.Context, orderID string, phase ScanPhase) (*CountReport, error) {
	var r *CountReport
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := s.visibleOrder(ctx, tx, orderID); err != nil {
			return err
		}
		ps, err := loadPhase(tx, orderID, phase)
		if err != nil {
			return err
		}
		ps.report.Missing = VisibleLines(ctx, ps.report.Missing)
		r = ps.report
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s report: %w", strings.ToLower(string(phase)), err)
	}
	return r, nil
}

// PickupCountReport lists the differences between an order's manifest and
// its physical count so far.
func (s *Service) PickupCountReport(ctx context.Context, orderID string) (*CountReport, error) {
	return s.ScanReport(ctx, orderID, PhaseCount)
}

// ResolveInput is IT's decision about one discrepancy: a scan (ScanID) or a
// missing line (AssetID).
type ResolveInput struct {
	OrderID string
	Phase   ScanPhase
	ScanID  string
	AssetID string
	Action  ResolutionAction
	Reason  string
}

// ResolveDiscrepancy records IT's decision about a dock or receipt
// discrepancy and carries it out (see ResolutionAction). Each discrepancy is
// resolved once.
func (s *Service) ResolveDiscrepancy(ctx context.Context, in ResolveInput) (*Resolution, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve discrepancy: %w", err)
	}
	var errs UserErrors
	orderID := text(&errs, in.OrderID, true, 100, "input", "orderId")
	scanID := text(&errs, in.ScanID, false, 100, "input", "scanId")
	assetID := text(&errs, in.AssetID, false, 100, "input", "assetId")
	reason := text(&errs, in.Reason, true, 2000, "input", "reason")
	if in.Phase != PhasePickup && in.Phase != PhaseReceipt {
		errs.Add(CodeInvalid, "only dock (PICKUP) and RECEIPT discrepancies are resolved", "input", "phase")
	}
	if !in.Action.Valid() {
		errs.Add(CodeInvalid, "unknown action", "input", "action")
	}
	if (scanID == "") == (assetID == "") {
		errs.Add(CodeRequired, "give either the discrepant scan or the missing line's asset", "input", "scanId")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	r := &Resolution{Phase: in.Phase, ScanID: scanID, AssetID: assetID, Action: in.Action, Reason: reason, ResolvedByID: who.MemberID}
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		o, err := s.orderIn(ctx, tx, orderID, phaseOrderState(in.Phase))
		if err != nil {
			return err
		}
		ps, err := loadPhase(tx, o.ID, in.Phase)
		if err != nil {
			return err
		}
		r.ID, r.OrderID, r.ResolvedAt = NewID(), o.ID, s.timestamp()
		act := &resolution{s: s, tx: tx, o: o, ps: ps, r: r, who: who.MemberID}
		if scanID != "" {
			err = act.scan()
		} else {
			err = act.missingLine()
		}
		if err != nil {
			return err
		}
		if err := tx.CreateResolution(r); err != nil {
			if errors.Is(err, ErrDuplicate) {
				return userError(CodeDuplicate, "this discrepancy is already resolved", "input", "scanId")
			}
			return fmt.Errorf("store resolution: %w", err)
		}
		m, err := appendEvent(tx, orderEvent(o, EventDiscrepancyResolved, who.MemberID, r.ResolvedAt, map[string]string{
			"phase": string(r.Phase), "scan": r.ScanID, "line": r.AssetID, "action": string(r.Action), "reason": r.Reason}), "")
		if err != nil {
			return err
		}
		msgs = append(act.msgs, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resolve discrepancy: %w", err)
	}
	s.publish(ctx, msgs)
	return r, nil
}

// resolution carries out one decision inside its transaction.
type resolution struct {
	s    *Service
	tx   Tx
	o    *PickupOrder
	ps   *phaseState
	r    *Resolution
	who  string
	msgs []Message
}

// scan resolves a discrepant scan.
func (a *resolution) scan() error {
	sc := a.ps.scans[a.r.ScanID]
	if sc == nil || sc.Result == ScanMatched {
		return userError(CodeNotFound, "no discrepant scan of this order and phase has this id", "input", "scanId")
	}
	open := false
	for _, d := range a.ps.report.Discrepancies {
		open = open || d.ID == sc.ID
	}
	if !open {
		return userError(CodeDuplicate, "this discrepancy is already resolved", "input", "scanId")
	}
	a.r.AssetID = sc.LineAssetID
	switch {
	case a.r.Action == ResolveLost:
		return userError(CodeInvalid, "LOST resolves a missing line; accept or remove a scanned item", "input", "action")
	case a.r.Action == ResolveAccept && sc.Result == ScanUnexpected:
		return a.acceptUnexpected(sc)
	case a.r.Action == ResolveAccept && sc.Result == ScanSubstituted:
		return a.acceptSubstitute(sc)
	case a.r.Action == ResolveRemove && sc.Result == ScanSubstituted:
		if a.r.Phase == PhaseReceipt {
			return userError(CodeIllegalTransition, "a picked-up asset cannot be taken off the order: accept the substitution, or resolve its line as lost", "input", "action")
		}
		if a.ps.accounted[sc.LineAssetID] {
			// The line's own item was scanned too: only the substitute
			// stays behind, the line goes.
			return nil
		}
		return a.unstage(a.line(sc.LineAssetID))
	}
	// Accepting a substitution counts its line; accepting a duplicate, or
	// keeping back an unexpected or duplicate item, changes no record.
	return nil
}

// scannedAssets finds the tenant's assets that carry a scan's serial or tag.
func (a *resolution) scannedAssets(sc *PickupScan) ([]*Asset, error) {
	var serials, tags []string
	if sc.Serial != "" {
		serials = []string{sc.Serial}
	}
	if sc.AssetTag != "" {
		tags = []string{sc.AssetTag}
	}
	owners, err := a.tx.FindAssetsByIdentifiers(serials, tags)
	if err != nil {
		return nil, fmt.Errorf("find scanned asset: %w", err)
	}
	return owners, nil
}

// acceptSubstitute counts a substituted item as its line, unless the item
// is another asset of the tenant: custody would then move for the line's
// asset while another one left, so the substitute must be kept back
// (REMOVE) and its own asset staged.
func (a *resolution) acceptSubstitute(sc *PickupScan) error {
	owners, err := a.scannedAssets(sc)
	if err != nil {
		return err
	}
	for _, o := range owners {
		if o.ID != sc.LineAssetID {
			return userError(CodeIllegalTransition, fmt.Sprintf("the scanned item carries an identifier of another asset of yours (%s): remove this discrepancy (the item stays), then stage that asset or resolve the line", identifiers(o.Serial, o.AssetTag)), "input", "action")
		}
	}
	return nil
}

// acceptUnexpected lets an item that is not on the manifest go with the
// vendor: a RETIRED asset of the tenant joins the order; an item the tenant
// does not know is noted in the log.
func (a *resolution) acceptUnexpected(sc *PickupScan) error {
	owners, err := a.scannedAssets(sc)
	if err != nil {
		return err
	}
	switch {
	case len(owners) == 0:
		return nil
	case len(owners) > 1:
		return userError(CodeInvalid, "the scanned serial and tag belong to two different assets; keep the item back (REMOVE)", "input", "action")
	case a.r.Phase == PhaseReceipt:
		return userError(CodeIllegalTransition, "this asset was not picked up on this order; keep it apart (REMOVE) and return it", "input", "action")
	}
	asset := owners[0]
	if a.line(asset.ID) != nil {
		return userError(CodeIllegalTransition, "this asset was taken off this order; keep it back (REMOVE)", "input", "action")
	}
	if asset.State != StateRetired {
		return userError(CodeIllegalTransition, fmt.Sprintf("this asset is %s, not RETIRED: keep it back (REMOVE), or retire it and stage it first", asset.State), "input", "action")
	}
	now := a.r.ResolvedAt
	m, err := a.s.transition(a.tx, asset, EventStaged, transitionFacts{actorID: a.who, at: now,
		location: locationOf(asset), custodian: asset.Custodian,
		details: map[string]string{"order": a.o.ID, "vendor": a.o.VendorID, "reason": a.r.Reason}}, "input", "scanId")
	if err != nil {
		return err
	}
	a.msgs = append(a.msgs, m)
	a.r.AssetID = asset.ID
	line := &PickupLine{OrderID: a.o.ID, AssetID: asset.ID, Serial: asset.Serial, AssetTag: asset.AssetTag,
		Make: asset.Make, Model: asset.Model, Category: AssetCategory(asset.Category), BearsData: asset.BearsData,
		Status: LineStaged, StagedAt: now, StagedByID: a.who}
	if err := a.tx.PutPickupLine(line); err != nil {
		return fmt.Errorf("add accepted asset to manifest: %w", err)
	}
	return nil
}

// missingLine resolves a line no scan of the phase accounts for.
func (a *resolution) missingLine() error {
	var l *PickupLine
	for _, m := range a.ps.report.Missing {
		if strings.EqualFold(m.AssetID, a.r.AssetID) {
			l = m
		}
	}
	if l == nil {
		return userError(CodeNotOutstanding, "no line of this order is missing in this phase for this asset", "input", "assetId")
	}
	a.r.AssetID = l.AssetID
	switch {
	case a.r.Action == ResolveAccept:
		return userError(CodeInvalid, "a missing asset cannot be accepted: scan it, or resolve it as removed or lost", "input", "action")
	case a.r.Action == ResolveRemove && a.r.Phase == PhaseReceipt:
		return userError(CodeIllegalTransition, "a picked-up asset cannot be taken off the order; resolve it as lost", "input", "action")
	case a.r.Action == ResolveRemove:
		return a.unstage(l)
	}
	asset, err := a.tx.GetAsset(l.AssetID)
	if err != nil {
		return fmt.Errorf("load missing asset: %w", err)
	}
	m, err := a.s.transition(a.tx, asset, EventReportedLost, transitionFacts{actorID: a.who, at: a.r.ResolvedAt,
		location: locationOf(asset), custodian: asset.Custodian,
		details: map[string]string{"order": a.o.ID, "vendor": a.o.VendorID, "phase": string(a.r.Phase), "reason": a.r.Reason}}, "input", "assetId")
	if err != nil {
		return err
	}
	a.msgs = append(a.msgs, m)
	l.Status, l.StatusReason = LineLost, a.r.Reason
	return a.tx.PutPickupLine(l)
}

// line returns the order's line for an asset, or nil.
func (a *resolution) line(assetID string) *PickupLine {
	for _, l := range a.ps.lines {
		if l.AssetID == assetID {
			return l
		}
	}
	return nil
}

// unstage takes a STAGED line off the order: the asset is RETIRED again.
func (a *resolution) unstage(l *PickupLine) error {
	if l == nil || l.Status != LineStaged {
		return userError(CodeIllegalTransition, "the line is no longer staged on this order", "input", "action")
	}
	asset, err := a.tx.GetAsset(l.AssetID)
	if err != nil {
		return fmt.Errorf("load staged asset: %w", err)
	}
	m, err := a.s.transition(a.tx, asset, EventUnstaged, transitionFacts{actorID: a.who, at: a.r.ResolvedAt,
		location: locationOf(asset), custodian: asset.Custodian,
		details: map[string]string{"order": a.o.ID, "vendor": a.o.VendorID, "reason": a.r.Reason}}, "input", "action")
	if err != nil {
		return err
	}
	a.msgs = append(a.msgs, m)
	l.Status, l.StatusReason = LineRemoved, a.r.Reason
	return a.tx.PutPickupLine(l)
}

// ConfirmPickupInput confirms a dock pickup with both parties' signatures.
// The caller is the tenant's staff member who releases the assets.
type ConfirmPickupInput struct {
	OrderID string
	// TechnicianMemberID is the vendor's technician (an itad_vendor member
	// of the order's vendor) who takes the assets.
	TechnicianMemberID  string
	TechnicianSignature SignatureInput
	StaffSignature      SignatureInput
}

// ConfirmPickup confirms an OPEN order's dock pickup once every discrepancy
// is resolved and every line is scanned or resolved: exactly the scanned
// assets become PICKED_UP in the vendor's custody (one PICKED_UP event each,
// bound to both signatures), and the order is PICKED_UP. A refusal lists
// every open discrepancy and writes nothing.
func (s *Service) ConfirmPickup(ctx context.Context, in ConfirmPickupInput) (*PickupOrder, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("confirm pickup: %w", err)
	}
	var errs UserErrors
	orderID := text(&errs, in.OrderID, true, 100, "input", "orderId")
	techID := text(&errs, in.TechnicianMemberID, true, 100, "input", "technicianMemberId")
	client := tenancy.ClientInfoFrom(ctx)
	techSig := validateSignatureAt(&errs, in.TechnicianSignature, client, "input", "technicianSignature")
	staffSig := validateSignatureAt(&errs, in.StaffSignature, client, "input", "staffSignature")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var o *PickupOrder
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		if o, err = s.orderIn(ctx, tx, orderID, PickupOpen); err != nil {
			return err
		}
		if err := technicianOf(tx, o, techID); err != nil {
			return err
		}
		ps, err := loadPhase(tx, o.ID, PhasePickup)
		if err != nil {
			return err
		}
		if err := ps.unresolved(); err != nil {
			return err
		}
		var picked []*PickupLine
		for _, l := range ps.lines {
			if l.Status == LineStaged && ps.accounted[l.AssetID] {
				picked = append(picked, l)
			}
		}
		if len(picked) == 0 {
			return userError(CodeInvalid, "no staged asset was scanned out at the dock", "input", "orderId")
		}
		now := s.timestamp()
		sigs := []*PickupSignature{
			{Signature: *techSig, OrderID: o.ID, Role: SignerTechnician, SignerMemberID: techID},
			{Signature: *staffSig, OrderID: o.ID, Role: SignerStaff, SignerMemberID: who.MemberID},
		}
		for _, sg := range sigs {
			sg.ID, sg.CapturedByID, sg.SignedAt = NewID(), who.MemberID, now
			if err := tx.CreatePickupSignature(sg); err != nil {
				return fmt.Errorf("store pickup signature: %w", err)
			}
		}
		vendor := Custodian{Kind: CustodianVendor, Ref: o.VendorID}
		details := map[string]string{"order": o.ID, "vendor": o.VendorID,
			"technicianSignatureImageSha256": techSig.ImageSHA256, "staffSignatureImageSha256": staffSig.ImageSHA256,
			"consentSha256": staffSig.ConsentSHA256}
		ms, err := s.moveLines(tx, picked, EventPickedUp, LinePickedUp, vendor, who.MemberID, now, details)
		if err != nil {
			return err
		}
		msgs = ms
		o.State, o.PickedUpAt = PickupPickedUp, &now
		return s.saveOrder(tx, o, now)
	})
	if err != nil {
		return nil, fmt.Errorf("confirm pickup: %w", err)
	}
	s.publish(ctx, msgs)
	return o, nil
}

// technicianOf checks that techID is an itad_vendor member of o's vendor.
func technicianOf(tx Tx, o *PickupOrder, techID string) error {
	ms, err := tx.GetMembers([]string{techID})
	if err != nil {
		return fmt.Errorf("load technician: %w", err)
	}
	for _, m := range ms {
		for _, r := range m.Roles {
			if r == RoleITADVendor && m.VendorID == o.VendorID {
				return nil
			}
		}
	}
	return userError(CodeNotFound, "no technician of this order's vendor has this id", "input", "technicianMemberId")
}

// moveLines applies one event to the assets of lines (loaded in one
// statement) and sets the lines' status.
func (s *Service) moveLines(tx Tx, lines []*PickupLine, event EventType, status LineStatus, custodian Custodian, actorID string, at time.Time, details map[string]string) ([]Message, error) {
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i] = l.AssetID
	}
	assets, err := loadInOrder(tx, ids)
	if err != nil {
		return nil, err
	}
	msgs := make([]Message, 0, len(lines))
	for i, a := range assets {
		c := custodian
		if c.Kind == "" {
			c = a.Custodian
		}
		m, err := s.transition(tx, a, event, transitionFacts{actorID: actorID, at: at, custodian: c, details: details}, "input", "orderId")
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
		lines[i].Status = status
		if err := tx.PutPickupLine(lines[i]); err != nil {
			return nil, fmt.Errorf("update line: %w", err)
		}
	}
	return msgs, nil
}

// saveOrder writes an order's new state.
func (s *Service) saveOrder(tx Tx, o *PickupOrder, at time.Time) error {
	o.UpdatedAt = at
	o.Version++
	if err := tx.UpdatePickupOrder(o); err != nil {
		if errors.Is(err, ErrConcurrentModification) {
			return userError(CodeConcurrentUpdate, "the pickup order was changed by another request at the same moment; reload it and try again", "input", "orderId")
		}
		return fmt.Errorf("update pickup order: %w", err)
	}
	return nil
}

// ConfirmReceipt records that a PICKED_UP order arrived at the vendor's
// facility, once every receipt discrepancy is resolved and every picked-up
// line is scanned or resolved: the received assets are AT_VENDOR (event
// ARRIVED_AT_VENDOR) and the order RECEIVED.
func (s *Service) ConfirmReceipt(ctx context.Context, orderID string) (*PickupOrder, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("confirm receipt: %w", err)
	}
	var errs UserErrors
	orderID = text(&errs, orderID, true, 100, "input", "orderId")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var o *PickupOrder
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		if o, err = s.orderIn(ctx, tx, orderID, PickupPickedUp); err != nil {
			return err
		}
		ps, err := loadPhase(tx, o.ID, PhaseReceipt)
		if err != nil {
			return err
		}
		if err := ps.unresolved(); err != nil {
			return err
		}
		var received []*PickupLine
		for _, l := range ps.lines {
			if l.Status == LinePickedUp && ps.accounted[l.AssetID] {
				received = append(received, l)
			}
		}
		now := s.timestamp()
		ms, err := s.moveLines(tx, received, EventArrivedAtVendor, LineReceived, Custodian{}, who.MemberID, now,
			map[string]string{"order": o.ID, "vendor": o.VendorID})
		if err != nil {
			return err
		}
		msgs = ms
		o.State, o.ReceivedAt = PickupReceived, &now
		if len(received) == 0 {
			// Nothing arrived (every line was lost on the way): there is
			// nothing to certify or write back, and the order would
			// otherwise wait, and breach, forever.
			o.State, o.ClosedAt = PickupClosed, &now
		}
		return s.saveOrder(tx, o, now)
	})
	if err != nil {
		return nil, fmt.Errorf("confirm receipt: %w", err)
	}
	s.publish(ctx, msgs)
	return o, nil
}

// PickupSignatures loads the confirmation signatures of many orders in one
// statement (dataloaders); the orders were checked visible when loaded.
func (s *Service) PickupSignatures(ctx context.Context, orderIDs []string) ([]*PickupSignature, error) {
	return batch(ctx, s.store, "pickup signatures", func(tx Tx) ([]*PickupSignature, error) {
		return tx.ListPickupSignatures(orderIDs)
	})
}
