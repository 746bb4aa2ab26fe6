package domain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/custody-dev/custody/tenancy"
)

// Bounds of the SLA machinery.
const (
	// MinSLAWindowDays and MaxSLAWindowDays bound every window of a policy:
	// a day is the clock's resolution, ten years the longest a record may
	// reasonably wait.
	MinSLAWindowDays = 1
	MaxSLAWindowDays = 3650
	// MaxReconciliationItems bounds the items of one reconciliation report;
	// the stage totals stay exact beyond it.
	MaxReconciliationItems = 50000
	// SLASweeperName is the service member the sweeper records breaches as.
	SLASweeperName = "SLA sweeper"
	// SLASweepLock names the Exclusive lock that keeps sweeps on one instance.
	SLASweepLock = "sla-sweep"
	// slaScanPage is how many rows one read of a sweep or a report fetches:
	// large enough to keep round trips few, small enough to keep each
	// transaction short.
	slaScanPage = 500
	// maxSweepErrors bounds the per-record failures one sweep reports.
	maxSweepErrors = 10
)

// Sentinels that roll back a breach's transaction, taking its custody event
// with it: errAlreadyBreached when another sweep raised it first,
// errMovedOn when the record left the stage since the scan.
var (
	errAlreadyBreached = errors.New("breach already raised")
	errMovedOn         = errors.New("record left the stage")
)

// SLAPolicyInput sets every window of the tenant's SLA policy, in days.
type SLAPolicyInput struct {
	RetiredToStagedDays        int
	StagedToPickedUpDays       int
	PickedUpToCertificateDays  int
	CertificateToWriteBackDays int
	OffboardingDueDays         int
}

// SLAPolicy returns the tenant's policy, or the default one when it never
// set its own.
func (s *Service) SLAPolicy(ctx context.Context) (*SLAPolicy, error) {
	var p *SLAPolicy
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		p, err = slaPolicy(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get SLA policy: %w", err)
	}
	return p, nil
}

// slaPolicy reads the tenant's policy in tx, falling back to the default.
func slaPolicy(ctx context.Context, tx Tx) (*SLAPolicy, error) {
	p, err := tx.GetSLAPolicy()
	if errors.Is(err, ErrNotFound) {
		tenantID, err := tenancy.TenantID(ctx)
		if err != nil {
			return nil, err
		}
		d := DefaultSLAPolicy
		d.TenantID = tenantID
		return &d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read SLA policy: %w", err)
	}
	return p, nil
}

// SetSLAPolicy replaces the tenant's windows. A change made by someone else
// between the read and the write is refused with CONCURRENT_UPDATE rather
// than silently overwritten.
func (s *Service) SetSLAPolicy(ctx context.Context, in SLAPolicyInput) (*SLAPolicy, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("set SLA policy: %w", err)
	}
	var errs UserErrors
	windows := []struct {
		days  int
		field string
	}{
		{in.RetiredToStagedDays, "retiredToStagedDays"},
		{in.StagedToPickedUpDays, "stagedToPickedUpDays"},
		{in.PickedUpToCertificateDays, "pickedUpToCertificateDays"},
		{in.CertificateToWriteBackDays, "certificateToWriteBackDays"},
		{in.OffboardingDueDays, "offboardingDueDays"},
	}
	for _, w := range windows {
		if w.days < MinSLAWindowDays || w.days > MaxSLAWindowDays {
			errs.Add(CodeInvalid, fmt.Sprintf("must be between %d and %d days", MinSLAWindowDays, MaxSLAWindowDays), "input", w.field)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var p *SLAPolicy
	err = s.store.Update(ctx, func(tx Tx) error {
		current, err := slaPolicy(ctx, tx)
		if err != nil {
			return err
		}
		// The default is never stored: its version 0 makes the first write version 1.
		p = &SLAPolicy{TenantID: who.TenantID, RetiredToStagedDays: in.RetiredToStagedDays,
			StagedToPickedUpDays: in.StagedToPickedUpDays, PickedUpToCertificateDays: in.PickedUpToCertificateDays,
			CertificateToWriteBackDays: in.CertificateToWriteBackDays, OffboardingDueDays: in.OffboardingDueDays,
			UpdatedAt: s.timestamp(), UpdatedByID: who.MemberID, Version: current.Version + 1}
		if err := tx.PutSLAPolicy(p); err != nil {
			if errors.Is(err, ErrConcurrentModification) {
				return userError(CodeConcurrentUpdate, "the SLA policy was changed by another request at the same moment; reload it and try again")
			}
			return fmt.Errorf("write SLA policy: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set SLA policy: %w", err)
	}
	return p, nil
}

// validStage reports whether st is a known stage.
func validStage(st SLAStage) bool { return slices.Contains(AllSLAStages, st) }

// validSubjectKind reports whether k is a known subject kind.
func validSubjectKind(k SubjectKind) bool {
	return k == SubjectAsset || k == SubjectPickupOrder || k == SubjectCase
}

// Breaches lists the tenant's breaches matching f in the order they were raised.
func (s *Service) Breaches(ctx context.Context, f BreachFilter, first *int, after string) (Page[*Breach], error) {
	if f.Stage != "" && !validStage(f.Stage) {
		return Page[*Breach]{}, &ArgumentError{Argument: "filter.stage", Message: "unknown stage " + string(f.Stage)}
	}
	if f.SubjectKind != "" && !validSubjectKind(f.SubjectKind) {
		return Page[*Breach]{}, &ArgumentError{Argument: "filter.subjectKind", Message: "unknown subject kind " + string(f.SubjectKind)}
	}
	return list(ctx, s.store, "SLA breaches", first, after, func(tx Tx, p PageRequest) ([]*Breach, error) {
		return tx.ListBreaches(f, p)
	})
}

// overdue is one record found past its stage's window: the breach to raise
// and the event details that name it.
type overdue struct {
	breach   Breach
	details  map[string]string
	personID string
	// still re-reads the record inside the raising transaction and reports
	// whether it is still in the stage, so a record that moved on between
	// the scan and the raise is not reported.
	still func(tx Tx) (bool, error)
}

// breachKey identifies a breach: raised at most once per subject and stage.
func breachKey(kind SubjectKind, id string, stage SLAStage) string {
	return string(kind) + "/" + id + "/" + string(stage)
}

// Sweep raises a breach, announced by an SLA_BREACHED custody event, for
// every record of the tenant in ctx past its stage's window, once per record
// and stage however often and however concurrently sweeps run. The caller's
// principal is the events' actor. A record that fails to raise does not stop
// the others; its error is returned with the count of those raised.
func (s *Service) Sweep(ctx context.Context) (raised int, err error) {
	who, err := actor(ctx)
	if err != nil {
		return 0, fmt.Errorf("SLA sweep: %w", err)
	}
	var (
		policy *SLAPolicy
		known  map[string]bool
	)
	err = s.store.View(ctx, func(tx Tx) error {
		var err error
		if policy, err = slaPolicy(ctx, tx); err != nil {
			return err
		}
		known, err = breachKeys(tx, func(b *Breach) string { return breachKey(b.SubjectKind, b.SubjectID, b.Stage) })
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("SLA sweep: %w", err)
	}
	sw := &sweep{svc: s, who: who, known: known, now: s.timestamp()}
	defer func() { s.publish(ctx, sw.msgs) }()
	scans := []func(context.Context, *SLAPolicy) error{sw.retiredAssets, sw.openOrders, sw.pickedUpOrders,
		sw.certifiedOrders, sw.overdueCases}
	for _, scan := range scans {
		if err := scan(ctx, policy); err != nil {
			return sw.raised, fmt.Errorf("SLA sweep: %w", errors.Join(append(sw.errs, err)...))
		}
	}
	if err := ctx.Err(); err != nil {
		// Stopped part-way: what was raised stays raised; the rest waits for the next sweep.
		sw.errs = append(sw.errs, err)
	}
	if len(sw.errs) > 0 {
		return sw.raised, fmt.Errorf("SLA sweep: %w", errors.Join(sw.errs...))
	}
	return sw.raised, nil
}

// breachKeys pages through every breach of the tenant once and returns the
// set of key(b): the sweep skips what is already raised without a write
// transaction per record, and the report marks breached records without a
// query per item.
func breachKeys(tx Tx, key func(*Breach) string) (map[string]bool, error) {
	out := map[string]bool{}
	after := ""
	for {
		page, err := tx.ListBreaches(BreachFilter{}, PageRequest{First: slaScanPage, After: after})
		if err != nil {
			return nil, fmt.Errorf("list breaches: %w", err)
		}
		for _, b := range page {
			out[key(b)] = true
		}
		if len(page) < slaScanPage {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// sweep is one run of Sweep over one tenant.
type sweep struct {
	svc    *Service
	who    tenancy.Principal
	known  map[string]bool
	now    time.Time
	raised int
	msgs   []Message
	errs   []error
}

// cutoff is the instant before which a record that entered a stage with a
// window of days has overstayed it.
func (sw *sweep) cutoff(days int) time.Time { return sw.now.AddDate(0, 0, -days) }

// view runs a read of the sweep's scan.
func (sw *sweep) view(ctx context.Context, fn func(tx Tx) error) error {
	return sw.svc.store.View(ctx, fn)
}

// retiredAssets: assets RETIRED for longer than the window, not yet staged.
func (sw *sweep) retiredAssets(ctx context.Context, p *SLAPolicy) error {
	days := p.RetiredToStagedDays
	before := sw.cutoff(days)
	after := ""
	for {
		var page []*AssetClock
		err := sw.view(ctx, func(tx Tx) (err error) {
			page, err = tx.AssetsInStates([]AssetState{StateRetired}, &before, PageRequest{First: slaScanPage, After: after})
			return err
		})
		if err != nil {
			return fmt.Errorf("list retired assets: %w", err)
		}
		for _, a := range page {
			id, since := a.AssetID, a.Since
			sw.raise(ctx, overdue{breach: Breach{Stage: StageRetiredToStaged, SubjectKind: SubjectAsset, SubjectID: id,
				Since: since, DueAt: since.AddDate(0, 0, days)},
				still: func(tx Tx) (bool, error) {
					cur, err := tx.GetAsset(id)
					if err != nil {
						return false, fmt.Errorf("re-read asset: %w", err)
					}
					return cur.State == StateRetired, nil
				}})
		}
		if len(page) < slaScanPage {
			return nil
		}
		after = page[len(page)-1].AssetID
	}
}

// ordersIn pages through the tenant's orders in state, calling fn with each
// page inside the page's read transaction.
func (sw *sweep) ordersIn(ctx context.Context, state PickupState, fn func(tx Tx, page []*PickupOrder) error) error {
	after := ""
	for {
		var page []*PickupOrder
		err := sw.view(ctx, func(tx Tx) error {
			var err error
			if page, err = tx.ListPickupOrders(PickupFilter{State: state}, PageRequest{First: slaScanPage, After: after}); err != nil {
				return fmt.Errorf("list %s pickup orders: %w", state, err)
			}
			return fn(tx, page)
		})
		if err != nil {
			return err
		}
		if len(page) < slaScanPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// orderStill re-reads an order and reports whether it is in one of states.
func orderStill(id string, states ...PickupState) func(tx Tx) (bool, error) {
	return func(tx Tx) (bool, error) {
		o, err := tx.GetPickupOrder(id)
		if err != nil {
			return false, fmt.Errorf("re-read pickup order: %w", err)
		}
		return slices.Contains(states, o.State), nil
	}
}

// openOrders: OPEN orders whose earliest staged asset waits longer than the window.
func (sw *sweep) openOrders(ctx context.Context, p *SLAPolicy) error {
	days := p.StagedToPickedUpDays
	before := sw.cutoff(days)
	var found []overdue
	err := sw.ordersIn(ctx, PickupOpen, func(tx Tx, page []*PickupOrder) error {
		ids := make([]string, len(page))
		for i, o := range page {
			ids[i] = o.ID
		}
		staged, err := tx.EarliestStagedAt(ids)
		if err != nil {
			return fmt.Errorf("earliest staged lines: %w", err)
		}
		for _, o := range page {
			if since, ok := staged[o.ID]; ok && since.Before(before) {
				b := sw.orderBreach(o.ID, StageStagedToPickedUp, since, days, PickupOpen)
				// Still open, and still holding a line staged that long ago
				// (not every overdue line taken off it meanwhile).
				open, id := b.still, o.ID
				b.still = func(tx Tx) (bool, error) {
					if ok, err := open(tx); err != nil || !ok {
						return ok, err
					}
					now, err := tx.EarliestStagedAt([]string{id})
					if err != nil {
						return false, fmt.Errorf("re-read staged lines: %w", err)
					}
					at, ok := now[id]
					return ok && at.Before(before), nil
				}
				found = append(found, b)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	sw.raiseAll(ctx, found)
	return nil
}

// pickedUpOrders: orders picked up longer than the window ago and not certified.
func (sw *sweep) pickedUpOrders(ctx context.Context, p *SLAPolicy) error {
	days := p.PickedUpToCertificateDays
	before := sw.cutoff(days)
	var found []overdue
	for _, state := range []PickupState{PickupPickedUp, PickupReceived} {
		err := sw.ordersIn(ctx, state, func(_ Tx, page []*PickupOrder) error {
			for _, o := range page {
				if o.PickedUpAt != nil && o.PickedUpAt.Before(before) {
					found = append(found, sw.orderBreach(o.ID, StagePickedUpToCertificate, *o.PickedUpAt, days,
						PickupPickedUp, PickupReceived))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	sw.raiseAll(ctx, found)
	return nil
}

// certifiedOrders: orders certified longer than the window ago and not
// written back (CLOSED).
func (sw *sweep) certifiedOrders(ctx context.Context, p *SLAPolicy) error {
	days := p.CertificateToWriteBackDays
	before := sw.cutoff(days)
	var found []overdue
	err := sw.ordersIn(ctx, PickupCertified, func(_ Tx, page []*PickupOrder) error {
		for _, o := range page {
			if o.CertifiedAt != nil && o.CertifiedAt.Before(before) {
				found = append(found, sw.orderBreach(o.ID, StageCertificateToWriteBack, *o.CertifiedAt, days, PickupCertified))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	sw.raiseAll(ctx, found)
	return nil
}

// orderBreach is the overdue record of an order in stage since since.
func (sw *sweep) orderBreach(id string, stage SLAStage, since time.Time, days int, states ...PickupState) overdue {
	return overdue{breach: Breach{Stage: stage, SubjectKind: SubjectPickupOrder, SubjectID: id,
		Since: since, DueAt: since.AddDate(0, 0, days)}, still: orderStill(id, states...)}
}

// overdueCases: OPEN cases past their due date (the case's own, not the
// policy's): overdue from the day after it, in UTC days, as Cases shows.
func (sw *sweep) overdueCases(ctx context.Context, _ *SLAPolicy) error {
	today := time.Date(sw.now.Year(), sw.now.Month(), sw.now.Day(), 0, 0, 0, 0, time.UTC)
	after := ""
	for {
		var page []*OffboardingCase
		err := sw.view(ctx, func(tx Tx) (err error) {
			page, err = tx.ListCases(CaseFilter{State: CaseOpen, DueBefore: &today}, PageRequest{First: slaScanPage, After: after})
			return err
		})
		if err != nil {
			return fmt.Errorf("list overdue off-boarding cases: %w", err)
		}
		for _, c := range page {
			id := c.ID
			sw.raise(ctx, overdue{breach: Breach{Stage: StageOffboardingDue, SubjectKind: SubjectCase, SubjectID: id,
				Since: c.OpenedAt, DueAt: c.DueDate.AddDate(0, 0, 1)},
				details: map[string]string{"case": id, "person": c.PersonID}, personID: c.PersonID,
				still: func(tx Tx) (bool, error) {
					cur, err := tx.GetCase(id)
					if err != nil {
						return false, fmt.Errorf("re-read off-boarding case: %w", err)
					}
					return cur.State == CaseOpen, nil
				}})
		}
		if len(page) < slaScanPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// raiseAll raises each record found (after the scan's reads are done, so no
// read transaction stays open across the writes).
func (sw *sweep) raiseAll(ctx context.Context, found []overdue) {
	for _, o := range found {
		sw.raise(ctx, o)
	}
}

// raise records one breach and its event in one transaction. The event is
// appended first (the breach names it); when CreateBreach finds the breach
// already raised by a concurrent sweep, the transaction rolls back so the
// log keeps exactly one SLA_BREACHED event per breach.
func (sw *sweep) raise(ctx context.Context, o overdue) {
	key := breachKey(o.breach.SubjectKind, o.breach.SubjectID, o.breach.Stage)
	if sw.known[key] || ctx.Err() != nil || len(sw.errs) >= maxSweepErrors {
		return
	}
	b := o.breach
	b.ID, b.TenantID, b.RaisedAt = NewID(), sw.who.TenantID, sw.now
	details := map[string]string{"stage": string(b.Stage), "subjectKind": string(b.SubjectKind), "subject": b.SubjectID,
		"since": b.Since.UTC().Format(time.RFC3339), "dueAt": b.DueAt.UTC().Format(time.RFC3339)}
	for k, v := range o.details {
		details[k] = v
	}
	none := Custodian{Kind: CustodianNone}
	var msg Message
	err := sw.svc.store.Update(ctx, func(tx Tx) error {
		ok, err := o.still(tx)
		if err != nil {
			return err
		}
		if !ok {
			return errMovedOn
		}
		m, err := appendEvent(tx, &CustodyEvent{TenantID: sw.who.TenantID, Type: EventSLABreached, FromCustodian: none,
			ToCustodian: none, ActorID: sw.who.MemberID, RecordedAt: sw.now, Details: details}, o.personID)
		if err != nil {
			return err
		}
		b.EventID = m.EventID
		inserted, err := tx.CreateBreach(&b)
		if err != nil {
			return fmt.Errorf("create breach: %w", err)
		}
		if !inserted {
			return errAlreadyBreached
		}
		msg = m
		return nil
	})
	// Tried once per sweep: a failure is retried by the next sweep.
	sw.known[key] = true
	switch {
	case err == nil:
		sw.raised++
		sw.msgs = append(sw.msgs, msg)
	case errors.Is(err, errAlreadyBreached), errors.Is(err, errMovedOn):
	default:
		sw.errs = append(sw.errs, fmt.Errorf("%s %s (%s): %w", b.SubjectKind, b.SubjectID, b.Stage, err))
	}
}

// Sweeper raises SLA breaches in every tenant on a schedule, on one server
// instance at a time.
type Sweeper struct {
	svc      *Service
	admin    Admin
	lock     Exclusive
	interval time.Duration
	log      *slog.Logger
}

// NewSweeper returns a sweeper that runs svc.Sweep for each of admin's
// tenants every interval (Run), holding lock so instances take turns.
func NewSweeper(svc *Service, admin Admin, lock Exclusive, interval time.Duration, log *slog.Logger) *Sweeper {
	if log == nil {
		log = svc.log
	}
	return &Sweeper{svc: svc, admin: admin, lock: lock, interval: interval, log: log}
}

// Run sweeps every interval until ctx ends. A failed sweep is logged and the
// next tick tries again; a non-positive interval disables sweeping.
func (w *Sweeper) Run(ctx context.Context) {
	if w.interval <= 0 {
		return
	}
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := w.SweepAll(ctx); err != nil && ctx.Err() == nil {
				w.log.ErrorContext(ctx, "SLA sweep failed", "err", err)
			}
		}
	}
}

// SweepAll sweeps every tenant, each as its SLA sweeper service member, and
// returns how many breaches it raised. It does nothing (0, nil) while
// another instance or goroutine sweeps. A tenant that fails is logged and
// the others are still swept.
func (w *Sweeper) SweepAll(ctx context.Context) (int, error) {
	total := 0
	ran, err := w.lock.TryRun(ctx, SLASweepLock, func(ctx context.Context) error {
		tenants, err := w.admin.ListTenants(ctx)
		if err != nil {
			return fmt.Errorf("list tenants: %w", err)
		}
		for _, t := range tenants {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n, err := w.sweepTenant(ctx, t)
			total += n
			if n > 0 {
				w.log.InfoContext(ctx, "SLA breaches raised", "tenant", t.Slug, "breaches", n)
			}
			if err != nil {
				w.log.ErrorContext(ctx, "SLA sweep of a tenant failed", "tenant", t.Slug, "err", err)
			}
		}
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("SLA sweep: %w", err)
	}
	if !ran {
		w.log.DebugContext(ctx, "SLA sweep skipped: another instance is sweeping")
	}
	return total, nil
}

// sweepTenant sweeps one tenant as its service member.
func (w *Sweeper) sweepTenant(ctx context.Context, t *Tenant) (int, error) {
	m, err := w.admin.ServiceMember(ctx, t.ID, SLASweeperName)
	if err != nil {
		return 0, fmt.Errorf("service member: %w", err)
	}
	return w.svc.Sweep(tenancy.WithPrincipal(ctx, tenancy.Principal{TenantID: t.ID, TenantSlug: t.Slug,
		TenantName: t.Name, MemberID: m.ID, MemberName: m.Name}))
}

// Reconciliation is the quarterly review of everything not yet closed: each
// record awaiting the next step of disposition or off-boarding, by stage and
// age, with whether it ever breached a window.
type Reconciliation struct {
	GeneratedAt time.Time
	// Stages lists every stage in process order, empty ones included.
	Stages []ReconciliationStage
	// Items are ordered by stage (as Stages) then oldest first.
	Items []ReconciliationItem
	// Truncated is true when Items stops at MaxReconciliationItems (the
	// earliest stages and the oldest records are kept); Stages stays exact.
	Truncated bool
}

// ReconciliationStage totals one stage of a reconciliation.
type ReconciliationStage struct {
	// Stage is the asset state, pickup order state or case state ("OPEN")
	// that Kind's records are in.
	Stage string
	Kind  SubjectKind
	Count int
	// OldestSince is when the longest-waiting record entered the stage
	// (zero when Count is 0).
	OldestSince time.Time
	// Breached counts the records with a breach.
	Breached int
}

// ReconciliationItem is one record of a reconciliation.
type ReconciliationItem struct {
	Kind  SubjectKind
	ID    string
	Stage string
	// Serial and AssetTag identify an asset.
	Serial   string
	AssetTag string
	// OrderID is the pickup order an asset is on, or the order itself.
	OrderID string
	// Since is when the record entered the stage; AgeDays the whole days since.
	Since   time.Time
	AgeDays int
	// Breached says whether any breach was raised for the record.
	Breached bool
}

// reconStage is one stage of a reconciliation, in process order.
type reconStage struct {
	kind  SubjectKind
	stage string
}

// reconciliationStages are the stages a reconciliation reports, in process
// order: the assets on their way out, the pickup orders carrying them, then
// the off-boarding cases still open.
var reconciliationStages = func() []reconStage {
	var out []reconStage
	for _, st := range reconAssetStates {
		out = append(out, reconStage{SubjectAsset, string(st)})
	}
	for _, st := range reconOrderStates {
		out = append(out, reconStage{SubjectPickupOrder, string(st)})
	}
	return append(out, reconStage{SubjectCase, string(CaseOpen)})
}()

// reconAssetStates are the asset states between retirement and CLOSED.
var reconAssetStates = []AssetState{StateRetired, StateStaged, StatePickedUp, StateAtVendor,
	StateSanitized, StateDestroyed, StateRemarketed, StateRecycled}

// reconOrderStates are the pickup order states before CLOSED.
var reconOrderStates = []PickupState{PickupOpen, PickupPickedUp, PickupReceived, PickupCertified}

// reconBuilder gathers a reconciliation stage by stage, keeping the stage
// totals exact and at most MaxReconciliationItems items (the earliest
// stages' oldest records).
type reconBuilder struct {
	now      time.Time
	breached map[string]bool
	stages   map[reconStage]*ReconciliationStage
	// pending holds each stage's items until they are sorted and kept.
	pending map[reconStage][]ReconciliationItem
}

// add counts one record and holds its item, pruning a stage's held items
// to the oldest MaxReconciliationItems whenever they pile up to twice that.
func (r *reconBuilder) add(st reconStage, it ReconciliationItem) {
	it.Kind, it.Stage = st.kind, st.stage
	it.Since = it.Since.UTC()
	if age := r.now.Sub(it.Since); age > 0 {
		it.AgeDays = int(age / (24 * time.Hour))
	}
	it.Breached = r.breached[string(it.Kind)+"/"+it.ID]
	agg := r.stages[st]
	agg.Count++
	if agg.OldestSince.IsZero() || it.Since.Before(agg.OldestSince) {
		agg.OldestSince = it.Since
	}
	if it.Breached {
		agg.Breached++
	}
	items := append(r.pending[st], it)
	if len(items) >= 2*MaxReconciliationItems {
		sortItems(items)
		items = items[:MaxReconciliationItems]
	}
	r.pending[st] = items
}

// sortItems orders items oldest first (then by id, for a stable report).
func sortItems(items []ReconciliationItem) {
	slices.SortFunc(items, func(a, b ReconciliationItem) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// ReconciliationReport lists every record of the tenant not yet closed,
// stage by stage in process order, oldest first: assets from RETIRED to
// their outcome, pickup orders not CLOSED, and open off-boarding cases.
func (s *Service) ReconciliationReport(ctx context.Context) (*Reconciliation, error) {
	if _, err := actor(ctx); err != nil {
		return nil, fmt.Errorf("reconciliation report: %w", err)
	}
	now := s.timestamp()
	r := &reconBuilder{now: now, stages: map[reconStage]*ReconciliationStage{}, pending: map[reconStage][]ReconciliationItem{}}
	for _, st := range reconciliationStages {
		r.stages[st] = &ReconciliationStage{Stage: st.stage, Kind: st.kind}
	}
	// One read transaction: the report is a consistent snapshot.
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		r.breached, err = breachKeys(tx, func(b *Breach) string { return string(b.SubjectKind) + "/" + b.SubjectID })
		if err != nil {
			return err
		}
		orderOf, err := reconOrders(tx, r)
		if err != nil {
			return err
		}
		if err := reconAssets(tx, r, orderOf); err != nil {
			return err
		}
		return reconCases(tx, r)
	})
	if err != nil {
		return nil, fmt.Errorf("reconciliation report: %w", err)
	}
	out := &Reconciliation{GeneratedAt: now}
	for _, st := range reconciliationStages {
		out.Stages = append(out.Stages, *r.stages[st])
		items := r.pending[st]
		sortItems(items)
		if room := MaxReconciliationItems - len(out.Items); len(items) > room {
			items, out.Truncated = items[:room], true
		}
		out.Items = append(out.Items, items...)
	}
	return out, nil
}

// reconOrders adds the pickup orders not CLOSED and returns, per asset, the
// order whose manifest it is on (for the assets' lines of the report).
func reconOrders(tx Tx, r *reconBuilder) (map[string]string, error) {
	var ids []string
	for _, state := range reconOrderStates {
		after := ""
		for {
			page, err := tx.ListPickupOrders(PickupFilter{State: state}, PageRequest{First: slaScanPage, After: after})
			if err != nil {
				return nil, fmt.Errorf("list %s pickup orders: %w", state, err)
			}
			for _, o := range page {
				r.add(reconStage{SubjectPickupOrder, string(state)}, ReconciliationItem{ID: o.ID, OrderID: o.ID, Since: orderSince(o)})
				ids = append(ids, o.ID)
			}
			if len(page) < slaScanPage {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	orderOf := map[string]string{}
	for chunk := range slices.Chunk(ids, slaScanPage) {
		lines, err := tx.ListPickupLines(chunk)
		if err != nil {
			return nil, fmt.Errorf("list pickup lines: %w", err)
		}
		for _, l := range lines {
			// A removed line leaves the asset RETIRED, perhaps staged on another order since.
			if l.Status != LineRemoved {
				orderOf[l.AssetID] = l.OrderID
			}
		}
	}
	return orderOf, nil
}

// orderSince is when an order entered its current state.
func orderSince(o *PickupOrder) time.Time {
	at := o.CreatedAt
	switch o.State {
	case PickupPickedUp:
		at = derefOr(o.PickedUpAt, o.UpdatedAt)
	case PickupReceived:
		at = derefOr(o.ReceivedAt, o.UpdatedAt)
	case PickupCertified:
		at = derefOr(o.CertifiedAt, o.UpdatedAt)
	}
	return at
}

// derefOr returns *t, or def when t is nil.
func derefOr(t *time.Time, def time.Time) time.Time {
	if t == nil {
		return def
	}
	return *t
}

// reconAssets adds the assets between retirement and their outcome.
func reconAssets(tx Tx, r *reconBuilder, orderOf map[string]string) error {
	after := ""
	for {
		page, err := tx.AssetsInStates(reconAssetStates, nil, PageRequest{First: slaScanPage, After: after})
		if err != nil {
			return fmt.Errorf("list assets in disposition: %w", err)
		}
		for _, a := range page {
			it := ReconciliationItem{ID: a.AssetID, Serial: a.Serial, AssetTag: a.AssetTag, Since: a.Since}
			if a.State != StateRetired {
				it.OrderID = orderOf[a.AssetID]
			}
			r.add(reconStage{SubjectAsset, string(a.State)}, it)
		}
		if len(page) < slaScanPage {
			return nil
		}
		after = page[len(page)-1].AssetID
	}
}

// reconCases adds the open off-boarding cases.
func reconCases(tx Tx, r *reconBuilder) error {
	after := ""
	for {
		page, err := tx.ListCases(CaseFilter{State: CaseOpen}, PageRequest{First: slaScanPage, After: after})
		if err != nil {
			return fmt.Errorf("list open off-boarding cases: %w", err)
		}
		for _, c := range page {
			r.add(reconStage{SubjectCase, string(CaseOpen)}, ReconciliationItem{ID: c.ID, Since: c.OpenedAt})
		}
		if len(page) < slaScanPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}
