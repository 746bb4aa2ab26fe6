package domain

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custody-dev/custody/tenancy"
)

// Limits on one pickup mutation, so a request cannot hold a transaction for
// long: staging appends one custody event per asset; a bulk count only
// writes scans.
const (
	MaxStagePerCall     = 500
	MaxBulkScansPerCall = 10000
)

// PickupOrderInput creates a pickup order.
type PickupOrderInput struct {
	VendorID       string
	ScheduledOn    time.Time
	Note           string
	IdempotencyKey string `json:"-"`
}

// CreatePickupOrder plans a pickup by one ITAD vendor on a date. The vendor
// must be certified on that date: it holds at least one certification and
// none has expired by then.
func (s *Service) CreatePickupOrder(ctx context.Context, in PickupOrderInput) (*PickupOrder, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("create pickup order: %w", err)
	}
	var errs UserErrors
	vendorID := text(&errs, in.VendorID, true, 100, "input", "vendorId")
	day := calendarDate(&errs, in.ScheduledOn, "input", "scheduledOn")
	note := text(&errs, in.Note, false, 2000, "input", "note")
	if !day.IsZero() && day.Before(s.today()) {
		errs.Add(CodeInvalid, "the pickup date is in the past", "input", "scheduledOn")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	o := &PickupOrder{ScheduledOn: day, State: PickupOpen, Note: note, CreatedByID: who.MemberID, Version: 1}
	err = s.store.Update(ctx, func(tx Tx) error {
		return idempotent(tx, who, "createPickupOrder", in.IdempotencyKey, in, func() (any, error) {
			v, err := tx.GetVendor(vendorID)
			if err != nil {
				return nil, notFoundAs(err, "vendor", "input", "vendorId")
			}
			if err := certifiedFor(v, day); err != nil {
				return nil, err
			}
			o.ID, o.VendorID = NewID(), v.ID
			o.CreatedAt = s.timestamp()
			o.UpdatedAt = o.CreatedAt
			if err := tx.CreatePickupOrder(o); err != nil {
				return nil, fmt.Errorf("create pickup order: %w", err)
			}
			return o.ID, nil
		}, func(stored []byte) error {
			return replayID(stored, "pickup order", func(id string) (err error) { o, err = tx.GetPickupOrder(id); return err })
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create pickup order: %w", err)
	}
	return o, nil
}

// certifiedFor refuses a vendor that is not certified on day, naming why.
func certifiedFor(v *Vendor, day time.Time) error {
	if len(v.Certifications) == 0 {
		return userError(CodeCertificationExpired, "the vendor holds no certification; record its R2v3, e-Stewards or NAID AAA certificate first", "input", "vendorId")
	}
	if expired := ExpiredCertifications(v, day); len(expired) > 0 {
		names := make([]string, len(expired))
		for i, c := range expired {
			names[i] = fmt.Sprintf("%s %s (expires %s)", c.Scheme, c.Number, c.ExpiresOn.Format(time.DateOnly))
		}
		return userError(CodeCertificationExpired, "the vendor's certification is not valid on the pickup date: "+strings.Join(names, ", "), "input", "vendorId")
	}
	return nil
}

// StageInput puts retired assets on a pickup order.
type StageInput struct {
	OrderID        string
	AssetIDs       []string
	IdempotencyKey string `json:"-"`
}

// StageAssets puts RETIRED assets on an OPEN order's manifest: each becomes
// STAGED (custody event STAGED naming the order and the vendor) and gets a
// manifest line with the identifiers and description the vendor works from.
// Any problem refuses the whole call.
func (s *Service) StageAssets(ctx context.Context, in StageInput) ([]*PickupLine, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("stage assets: %w", err)
	}
	var errs UserErrors
	orderID := text(&errs, in.OrderID, true, 100, "input", "orderId")
	switch {
	case len(in.AssetIDs) == 0:
		errs.Add(CodeRequired, "at least one asset is required", "input", "assetIds")
	case len(in.AssetIDs) > MaxStagePerCall:
		errs.Add(CodeInvalid, fmt.Sprintf("at most %d assets per call", MaxStagePerCall), "input", "assetIds")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var lines []*PickupLine
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		return idempotent(tx, who, "stageAssets", in.IdempotencyKey, in, func() (any, error) {
			o, err := s.openOrder(tx, orderID)
			if err != nil {
				return nil, err
			}
			assets, field, err := s.targetAssets(tx, in.AssetIDs, "")
			if err != nil {
				return nil, err
			}
			existing, err := tx.ListPickupLines([]string{o.ID})
			if err != nil {
				return nil, fmt.Errorf("load manifest: %w", err)
			}
			for i, a := range assets {
				for _, l := range existing {
					if l.AssetID == a.ID {
						// Its earlier scans would count for it again: a
						// removed asset goes on another order instead.
						return nil, userError(CodeIllegalTransition,
							"this asset was taken off this order; stage it on another order", append(field, strconv.Itoa(i))...)
					}
				}
			}
			now := s.timestamp()
			lines = make([]*PickupLine, len(assets))
			for i, a := range assets {
				m, err := s.transition(tx, a, EventStaged, transitionFacts{actorID: who.MemberID, at: now,
					location: locationOf(a), custodian: a.Custodian,
					details: map[string]string{"order": o.ID, "vendor": o.VendorID}}, append(field, strconv.Itoa(i))...)
				if err != nil {
					return nil, err
				}
				msgs = append(msgs, m)
				lines[i] = &PickupLine{OrderID: o.ID, AssetID: a.ID, Serial: a.Serial, AssetTag: a.AssetTag,
					Make: a.Make, Model: a.Model, Category: AssetCategory(a.Category), BearsData: a.BearsData,
					Status: LineStaged, StagedAt: now, StagedByID: who.MemberID}
			}
			if err := tx.PutPickupLines(lines); err != nil {
				return nil, fmt.Errorf("add manifest lines: %w", err)
			}
			return in.AssetIDs, nil
		}, func([]byte) error {
			all, err := tx.ListPickupLines([]string{orderID})
			if err != nil {
				return fmt.Errorf("load stored manifest: %w", err)
			}
			for _, l := range all {
				if slices.Contains(in.AssetIDs, l.AssetID) {
					lines = append(lines, l)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("stage assets: %w", err)
	}
	s.publish(ctx, msgs)
	return lines, nil
}

// UnstageInput takes an asset off an order's manifest.
type UnstageInput struct {
	OrderID string
	AssetID string
	Reason  string
}

// UnstageAsset takes a STAGED asset off an OPEN order: the line is REMOVED
// and the asset is RETIRED again (custody event UNSTAGED with the reason).
func (s *Service) UnstageAsset(ctx context.Context, in UnstageInput) (*PickupLine, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("unstage asset: %w", err)
	}
	var errs UserErrors
	orderID := text(&errs, in.OrderID, true, 100, "input", "orderId")
	assetID := text(&errs, in.AssetID, true, 100, "input", "assetId")
	reason := text(&errs, in.Reason, true, 2000, "input", "reason")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var line *PickupLine
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		o, err := s.openOrder(tx, orderID)
		if err != nil {
			return err
		}
		all, err := tx.ListPickupLines([]string{o.ID})
		if err != nil {
			return fmt.Errorf("load manifest: %w", err)
		}
		for _, l := range all {
			if strings.EqualFold(l.AssetID, assetID) {
				line = l
			}
		}
		if line == nil || line.Status != LineStaged {
			return userError(CodeNotFound, "the asset is not staged on this order", "input", "assetId")
		}
		a, err := tx.GetAsset(line.AssetID)
		if err != nil {
			return fmt.Errorf("load staged asset: %w", err)
		}
		m, err := s.transition(tx, a, EventUnstaged, transitionFacts{actorID: who.MemberID, at: s.timestamp(),
			location: locationOf(a), custodian: a.Custodian,
			details: map[string]string{"order": o.ID, "vendor": o.VendorID, "reason": reason}}, "input", "assetId")
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		line.Status = LineRemoved
		return tx.PutPickupLine(line)
	})
	if err != nil {
		return nil, fmt.Errorf("unstage asset: %w", err)
	}
	s.publish(ctx, msgs)
	return line, nil
}

// openOrder loads and locks an order that may still change (OPEN).
func (s *Service) openOrder(tx Tx, orderID string) (*PickupOrder, error) {
	o, err := tx.LockPickupOrder(orderID)
	if err != nil {
		return nil, notFoundAs(err, "pickup order", "input", "orderId")
	}
	if o.State != PickupOpen {
		return nil, userError(CodeIllegalTransition, "the pickup order is "+string(o.State)+", no longer OPEN", "input", "orderId")
	}
	return o, nil
}

// locationOf is the place an asset held by a location is kept, or "".
func locationOf(a *Asset) string {
	if a.Custodian.Kind == CustodianLocation {
		return a.Custodian.Ref
	}
	return ""
}

// ScanInput is one item scanned against a manifest.
type ScanInput struct {
	Serial     string
	AssetTag   string
	Model      string
	DeviceTime *time.Time
}

// CountScan records one scan of IT's physical count of an OPEN order's
// staged assets and says at once how it compares with the manifest.
func (s *Service) CountScan(ctx context.Context, orderID string, in ScanInput) (*PickupScan, error) {
	return first(s.scanPhase(ctx, PhaseCount, orderID, []ScanInput{in}, false))
}

// BulkCountScan records many scans of a physical count at once (a reader
// that collected a whole shelf), each compared with the manifest and with
// the scans before it.
func (s *Service) BulkCountScan(ctx context.Context, orderID string, in []ScanInput) ([]*PickupScan, error) {
	return s.scanPhase(ctx, PhaseCount, orderID, in, true)
}

// first returns the only scan of a single-scan call.
func first(scans []*PickupScan, err error) (*PickupScan, error) {
	if err != nil {
		return nil, err
	}
	return scans[0], nil
}

// scanPhase records scans of one phase against the lines that phase
// expects (phase.ExpectedLineStatus) of an order in the state the phase
// needs. A scan of the dock or the receipt that does not match appends a
// PICKUP_DISCREPANCY event, so IT hears it at once.
func (s *Service) scanPhase(ctx context.Context, phase ScanPhase, orderID string, in []ScanInput, bulk bool) ([]*PickupScan, error) {
	op := strings.ToLower(string(phase)) + " scan"
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var errs UserErrors
	orderID = text(&errs, orderID, true, 100, "input", "orderId")
	if len(in) == 0 || len(in) > MaxBulkScansPerCall {
		errs.Add(CodeInvalid, fmt.Sprintf("between 1 and %d scans per call", MaxBulkScansPerCall), "input", "scans")
	}
	scans := make([]*PickupScan, len(in))
	for i, sc := range in {
		field := []string{"input", "scan"}
		if bulk {
			field = []string{"input", "scans", strconv.Itoa(i)}
		}
		p := &PickupScan{Phase: phase, ScannedByID: who.MemberID}
		p.Serial = normalizeIdentifier(text(&errs, sc.Serial, false, 200, append(field, "serial")...))
		p.AssetTag = normalizeIdentifier(text(&errs, sc.AssetTag, false, 200, append(field, "assetTag")...))
		p.Model = text(&errs, sc.Model, false, 200, append(field, "model")...)
		p.DeviceTime = deviceTime(&errs, sc.DeviceTime, append(field, "deviceTime")...)
		if p.Serial == "" && p.AssetTag == "" {
			errs.Add(CodeRequired, "a serial or an asset tag is required", append(field, "serial")...)
		}
		scans[i] = p
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		o, err := s.orderIn(ctx, tx, orderID, phaseOrderState(phase))
		if err != nil {
			return err
		}
		var m *manifest
		if bulk {
			if m, err = loadManifest(tx, o.ID, phase); err != nil {
				return err
			}
		} else if m, err = lookupManifest(tx, o.ID, phase, scans[0]); err != nil {
			return err
		}
		if err := m.lookUpOwners(tx, scans); err != nil {
			return err
		}
		now := s.timestamp()
		for _, p := range scans {
			p.ID, p.OrderID, p.ScannedAt = NewID(), o.ID, now
			m.classify(p)
		}
		if err := tx.CreatePickupScans(scans); err != nil {
			return fmt.Errorf("store scans: %w", err)
		}
		if phase == PhaseCount {
			return nil
		}
		for _, p := range scans {
			if p.Result == ScanMatched {
				continue
			}
			msg, err := appendEvent(tx, orderEvent(o, EventPickupDiscrepancy, who.MemberID, now, map[string]string{
				"phase": string(phase), "result": string(p.Result), "scan": p.ID, "serial": p.Serial,
				"assetTag": p.AssetTag, "detail": p.Detail}), "")
			if err != nil {
				return err
			}
			msgs = append(msgs, msg)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	s.publish(ctx, msgs)
	return scans, nil
}

// phaseOrderState is the state an order must be in to be scanned in phase.
func phaseOrderState(phase ScanPhase) PickupState {
	if phase == PhaseReceipt {
		return PickupPickedUp
	}
	return PickupOpen
}

// orderIn loads and locks an order the caller may see (a vendor: its own;
// another vendor's order is not found) that is in state want.
func (s *Service) orderIn(ctx context.Context, tx Tx, orderID string, want PickupState) (*PickupOrder, error) {
	o, err := tx.LockPickupOrder(orderID)
	if err == nil && !mayActOn(ctx, o) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, notFoundAs(err, "pickup order", "input", "orderId")
	}
	if o.State != want {
		return nil, userError(CodeIllegalTransition, fmt.Sprintf("the pickup order is %s; this needs it %s", o.State, want), "input", "orderId")
	}
	return o, nil
}

// mayActOn reports whether the caller may see order o: vendor staff only
// their own organisation's.
func mayActOn(ctx context.Context, o *PickupOrder) bool {
	vendorID, restricted := vendorScope(ctx)
	return !restricted || (vendorID != "" && o.VendorID == vendorID)
}

// orderEvent is an order-level custody event (no asset): it names the order
// and its vendor, so it is on the pickups topic.
func orderEvent(o *PickupOrder, t EventType, actorID string, at time.Time, details map[string]string) *CustodyEvent {
	if details == nil {
		details = map[string]string{}
	}
	details = compact(details)
	details["order"], details["vendor"] = o.ID, o.VendorID
	none := Custodian{Kind: CustodianNone}
	return &CustodyEvent{TenantID: o.TenantID, Type: t, FromCustodian: none, ToCustodian: none,
		ActorID: actorID, RecordedAt: at, Details: details}
}

// manifest indexes an order's lines by identifier for one phase's scans,
// remembering which lines are already matched in it.
type manifest struct {
	bySerial map[string]*PickupLine
	byTag    map[string]*PickupLine
	matched  map[string]bool
	// serialOwner and tagOwner name the tenant's asset that carries a
	// scanned identifier the manifest does not know: a line recorded with a
	// tag only, scanned with another asset's serial, is a substitution.
	serialOwner map[string]string
	tagOwner    map[string]string
}

// lookUpOwners finds, in one statement, the assets that carry the scanned
// identifiers no manifest line has.
func (m *manifest) lookUpOwners(tx Tx, scans []*PickupScan) error {
	var serials, tags []string
	for _, p := range scans {
		if p.Serial != "" && m.bySerial[p.Serial] == nil {
			serials = append(serials, p.Serial)
		}
		if p.AssetTag != "" && m.byTag[p.AssetTag] == nil {
			tags = append(tags, p.AssetTag)
		}
	}
	if len(serials) == 0 && len(tags) == 0 {
		return nil
	}
	owners, err := tx.FindAssetsByIdentifiers(serials, tags)
	if err != nil {
		return fmt.Errorf("find scanned assets: %w", err)
	}
	for _, a := range owners {
		if a.Serial != "" {
			m.serialOwner[a.Serial] = a.ID
		}
		if a.AssetTag != "" {
			m.tagOwner[a.AssetTag] = a.ID
		}
	}
	return nil
}

// loadManifest reads a whole order (bulk scans: one read, then memory).
func loadManifest(tx Tx, orderID string, phase ScanPhase) (*manifest, error) {
	lines, err := tx.ListPickupLines([]string{orderID})
	if err != nil {
		return nil, fmt.Errorf("load manifest: %w", err)
	}
	matched, err := tx.MatchedLines(orderID, phase)
	if err != nil {
		return nil, fmt.Errorf("load earlier matches: %w", err)
	}
	m := newManifest(lines, phase)
	for _, id := range matched {
		m.matched[id] = true
	}
	return m, nil
}

// lookupManifest reads only the lines one scan names (a single scan answers
// in a few indexed reads, however long the manifest).
func lookupManifest(tx Tx, orderID string, phase ScanPhase, scan *PickupScan) (*manifest, error) {
	lines, err := tx.FindPickupLines(orderID, scan.Serial, scan.AssetTag)
	if err != nil {
		return nil, fmt.Errorf("find manifest lines: %w", err)
	}
	m := newManifest(lines, phase)
	for _, l := range lines {
		done, err := tx.MatchedInPhase(orderID, phase, l.AssetID)
		if err != nil {
			return nil, fmt.Errorf("check earlier scans: %w", err)
		}
		m.matched[l.AssetID] = done
	}
	return m, nil
}

func newManifest(lines []*PickupLine, phase ScanPhase) *manifest {
	m := &manifest{bySerial: map[string]*PickupLine{}, byTag: map[string]*PickupLine{}, matched: map[string]bool{},
		serialOwner: map[string]string{}, tagOwner: map[string]string{}}
	for _, l := range lines {
		if l.Status != phase.ExpectedLineStatus() {
			continue
		}
		if l.Serial != "" {
			m.bySerial[l.Serial] = l
		}
		if l.AssetTag != "" {
			m.byTag[l.AssetTag] = l
		}
	}
	return m
}

// classify sets the scan's result, line and detail, and counts a match.
func (m *manifest) classify(p *PickupScan) {
	bySerial, byTag := m.bySerial[p.Serial], m.byTag[p.AssetTag]
	line := bySerial
	if line == nil {
		line = byTag
	}
	result, detail := ScanMatched, ""
	switch {
	case line == nil:
		result = ScanUnexpected
	case bySerial != nil && byTag != nil && bySerial.AssetID != byTag.AssetID:
		result, detail = ScanSubstituted, "the serial is on one manifest line and the asset tag on another"
	case bySerial == nil && p.Serial != "" && line.Serial != "":
		result, detail = ScanSubstituted, fmt.Sprintf("the asset tag matches but the serial differs (manifest %s, scanned %s)", line.Serial, p.Serial)
	case byTag == nil && p.AssetTag != "" && line.AssetTag != "":
		result, detail = ScanSubstituted, fmt.Sprintf("the serial matches but the asset tag differs (manifest %s, scanned %s)", line.AssetTag, p.AssetTag)
	// The detail never says the scanned identifier belongs to another
	// asset: vendor staff read it, and must not learn the inventory.
	case bySerial == nil && p.Serial != "" && m.serialOwner[p.Serial] != "" && m.serialOwner[p.Serial] != line.AssetID:
		result, detail = ScanSubstituted, "the asset tag matches but the serial differs from the manifest line's"
	case byTag == nil && p.AssetTag != "" && m.tagOwner[p.AssetTag] != "" && m.tagOwner[p.AssetTag] != line.AssetID:
		result, detail = ScanSubstituted, "the serial matches but the asset tag differs from the manifest line's"
	case p.Model != "" && !strings.EqualFold(strings.TrimSpace(p.Model), line.Model):
		result, detail = ScanSubstituted, fmt.Sprintf("the model differs (manifest %s, scanned %s)", line.Model, p.Model)
	case m.matched[line.AssetID]:
		result = ScanDuplicate
	}
	p.Result, p.Detail = result, detail
	if line != nil {
		p.LineAssetID = line.AssetID
	}
	if result == ScanMatched {
		m.matched[line.AssetID] = true
	}
}

// vendorScope returns the vendor whose orders alone the caller may see, and
// whether such a restriction applies: vendor staff (the itad_vendor role
// without a tenant-wide reading role) see only their own organisation's
// orders; a vendor member linked to no vendor sees none.
func vendorScope(ctx context.Context) (vendorID string, restricted bool) {
	p, ok := tenancy.PrincipalFrom(ctx)
	if !ok {
		return "", true
	}
	vendor := false
	for _, r := range p.Roles {
		switch Role(r) {
		case RoleAdmin, RoleIT, RoleAuditor:
			return "", false
		case RoleITADVendor:
			vendor = true
		}
	}
	if !vendor {
		return "", false
	}
	return p.VendorID, true
}

// visibleOrder loads an order the caller may see; another vendor's order is
// not found, exactly like a missing one.
func (s *Service) visibleOrder(ctx context.Context, tx Tx, id string) (*PickupOrder, error) {
	o, err := tx.GetPickupOrder(id)
	if err != nil {
		return nil, err
	}
	if !mayActOn(ctx, o) {
		return nil, ErrNotFound
	}
	return o, nil
}

// PickupOrdersByID loads the orders among ids that the caller may see, in
// one statement (dataloaders); the others are left out.
func (s *Service) PickupOrdersByID(ctx context.Context, ids []string) ([]*PickupOrder, error) {
	return batch(ctx, s.store, "pickup orders", func(tx Tx) ([]*PickupOrder, error) {
		os, err := tx.GetPickupOrders(ids)
		return slices.DeleteFunc(os, func(o *PickupOrder) bool { return !mayActOn(ctx, o) }), err
	})
}

// PickupOrder returns an order the caller may see, or nil.
func (s *Service) PickupOrder(ctx context.Context, id string) (*PickupOrder, error) {
	return get(ctx, s.store, "pickup order", func(tx Tx) (*PickupOrder, error) { return s.visibleOrder(ctx, tx, id) })
}

// PickupOrders lists the orders the caller may see (a vendor: its own).
func (s *Service) PickupOrders(ctx context.Context, f PickupFilter, first *int, after string) (Page[*PickupOrder], error) {
	if vendorID, restricted := vendorScope(ctx); restricted {
		if vendorID == "" || (f.VendorID != "" && f.VendorID != vendorID) {
			_, err := PageSize(first)
			return Page[*PickupOrder]{}, err
		}
		f.VendorID = vendorID
	}
	return list(ctx, s.store, "pickup orders", first, after, func(tx Tx, p PageRequest) ([]*PickupOrder, error) {
		return tx.ListPickupOrders(f, p)
	})
}

// VisibleLines keeps the manifest lines the caller may see: vendor staff do
// not see REMOVED lines (an asset taken off the order may be bound for
// another vendor).
func VisibleLines(ctx context.Context, lines []*PickupLine) []*PickupLine {
	if _, restricted := vendorScope(ctx); !restricted {
		return lines
	}
	out := make([]*PickupLine, 0, len(lines))
	for _, l := range lines {
		if l.Status != LineRemoved {
			out = append(out, l)
		}
	}
	return out
}

// PickupLines loads the manifests of many orders in one statement
// (dataloaders); the orders were checked visible when they were loaded.
func (s *Service) PickupLines(ctx context.Context, orderIDs []string) ([]*PickupLine, error) {
	return batch(ctx, s.store, "pickup lines", func(tx Tx) ([]*PickupLine, error) { return tx.ListPickupLines(orderIDs) })
}
