package storage

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/custody-dev/custody/domain"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ITAD pickup orders, their manifest lines and the scans against them
// (migrations 00006; the later states, outcomes and write-backs: 00007).

// insertBatch is how many rows one INSERT of PutPickupLines or
// CreatePickupScans carries. 500 rows of at most 23 columns (a line with
// its outcome and write-back) bind 11,500 parameters, well under both
// dialects' limits (65,535 on Postgres, 32,766 on SQLite), so a
// 10,000-line manifest is 20 statements rather than 10,000 round trips.
const insertBatch = 500

// insertBatches writes rows into table with tenant, insertBatch rows per
// statement. The adapter's gorm skips its default transaction, so no
// savepoint is added around the batches: they run in the caller's.
func insertBatches[R rowTenant](g *gorm.DB, tenant, table string, rows []R) *gorm.DB {
	for _, r := range rows {
		r.setTenant(tenant)
	}
	return g.Table(table).CreateInBatches(rows, insertBatch)
}

// CreatePickupOrder implements domain.Tx. o is left as stored: ScheduledOn
// at midnight UTC, times in UTC microseconds.
func (t *txn) CreatePickupOrder(o *domain.PickupOrder) error {
	const op = "create pickup order"
	if o == nil {
		return errors.New(op + ": nil order")
	}
	if err := newRecordID(&o.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := canonicalRefs(need("vendorId", &o.VendorID), need("createdById", &o.CreatedByID)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := pickupOrderRowOf(o)
	if err := insert(t.g, t.tenant, "pickup_orders", r).Error; err != nil {
		return dbError(op, err)
	}
	r.storedIn(t.tenant, o)
	return nil
}

// UpdatePickupOrder implements domain.Tx. It writes the date, state, note
// and the times of the later states; the vendor, who created the order and
// when never change.
func (t *txn) UpdatePickupOrder(o *domain.PickupOrder) error {
	const op = "update pickup order"
	if o == nil {
		return errors.New(op + ": nil order")
	}
	r := pickupOrderRowOf(o)
	if err := t.update(op, "pickup_orders", o.ID, o.Version, r.updates()); err != nil {
		return err
	}
	o.TenantID, o.ScheduledOn, o.UpdatedAt = t.tenant, r.ScheduledOn.Time, r.UpdatedAt.Time
	o.PickedUpAt, o.ReceivedAt, o.CertifiedAt, o.ClosedAt = timePtr(r.PickedUpAt), timePtr(r.ReceivedAt),
		timePtr(r.CertifiedAt), timePtr(r.ClosedAt)
	return nil
}

// GetPickupOrder implements domain.Tx.
func (t *txn) GetPickupOrder(id string) (*domain.PickupOrder, error) {
	var r pickupOrderRow
	if err := t.getByID("get pickup order", "pickup_orders", id, &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// GetPickupOrders implements domain.Tx.
func (t *txn) GetPickupOrders(ids []string) ([]*domain.PickupOrder, error) {
	rows, err := getByIDs[pickupOrderRow](t, "get pickup orders", "pickup_orders", ids)
	return mapRows(rows, (*pickupOrderRow).domain), err
}

// LockPickupOrder implements domain.Tx with SELECT ... FOR UPDATE on
// Postgres (see locking); call it in an Update transaction.
func (t *txn) LockPickupOrder(id string) (*domain.PickupOrder, error) {
	c, ok := canonicalID(id)
	if !ok {
		return nil, domain.ErrNotFound
	}
	var r pickupOrderRow
	if err := t.lockOne("lock pickup order", t.scoped("pickup_orders").Where("pickup_orders.id = ?", c), &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// ListPickupOrders implements domain.Tx.
func (t *txn) ListPickupOrders(f domain.PickupFilter, p domain.PageRequest) ([]*domain.PickupOrder, error) {
	q := t.scoped("pickup_orders")
	if f.VendorID != "" {
		id, ok := canonicalID(f.VendorID)
		if !ok {
			return nil, nil // no order can be for a non-id
		}
		q = q.Where("pickup_orders.vendor_id = ?", id)
	}
	if f.State != "" {
		q = q.Where("pickup_orders.state = ?", string(f.State))
	}
	q, err := page(q, "pickup_orders", p)
	if err != nil {
		return nil, err
	}
	var rows []pickupOrderRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("list pickup orders", err)
	}
	return mapRows(rows, (*pickupOrderRow).domain), nil
}

// PutPickupLine implements domain.Tx: one INSERT ... ON CONFLICT DO UPDATE
// on the line's key (tenant_id, order_id, asset_id), which replaces every
// other column. An order, asset or member the tenant does not have gives
// ErrNotFound (foreign keys). l is left as stored.
func (t *txn) PutPickupLine(l *domain.PickupLine) error {
	const op = "put pickup line"
	if l == nil {
		return errors.New(op + ": nil line")
	}
	r, err := pickupLineRowOf(l)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	upsert := clause.OnConflict{
		Columns:   []clause.Column{{Name: "tenant_id"}, {Name: "order_id"}, {Name: "asset_id"}},
		DoUpdates: clause.AssignmentColumns(pickupLineColumns),
	}
	if err := insert(t.g.Clauses(upsert), t.tenant, "pickup_lines", r).Error; err != nil {
		return dbError(op, err)
	}
	r.storedIn(t.tenant, l)
	return nil
}

// PutPickupLines implements domain.Tx: plain INSERTs of insertBatch lines
// each. A line already on its order is a *domain.DuplicateError (Key "id"),
// a reference the tenant does not have is ErrNotFound, and either fails the
// whole call (with the transaction). The lines are left as stored.
func (t *txn) PutPickupLines(ls []*domain.PickupLine) error {
	const op = "put pickup lines"
	if len(ls) == 0 {
		return nil
	}
	rows := make([]*pickupLineRow, len(ls))
	for i, l := range ls {
		if l == nil {
			return fmt.Errorf("%s: nil line at %d", op, i)
		}
		r, err := pickupLineRowOf(l)
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", op, i, err)
		}
		rows[i] = r
	}
	if err := insertBatches(t.g, t.tenant, "pickup_lines", rows).Error; err != nil {
		return dbError(op, err)
	}
	for i, r := range rows {
		r.storedIn(t.tenant, ls[i])
	}
	return nil
}

// ListPickupLines implements domain.Tx: one statement over the lines'
// primary key, whatever the number of orders.
func (t *txn) ListPickupLines(orderIDs []string) ([]*domain.PickupLine, error) {
	ids := canonicalIDs(orderIDs)
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []pickupLineRow
	err := t.scoped("pickup_lines").Where("pickup_lines.order_id IN ?", ids).
		Order("pickup_lines.order_id, pickup_lines.staged_at, pickup_lines.asset_id").Find(&rows).Error
	if err != nil {
		return nil, dbError("list pickup lines", err)
	}
	return mapRows(rows, (*pickupLineRow).domain), nil
}

// FindPickupLines implements domain.Tx with one statement per identifier
// given, each on its index, merged in StagedAt then asset id order. Empty
// identifiers are stored as NULL and never compared, so an empty one finds
// nothing, not the lines without one.
func (t *txn) FindPickupLines(orderID, serial, tag string) ([]*domain.PickupLine, error) {
	id, ok := canonicalID(orderID)
	if !ok {
		return nil, nil
	}
	var out []*domain.PickupLine
	for _, by := range []struct{ column, index, value string }{
		{"serial", "pickup_lines_serial_idx", serial},
		{"asset_tag", "pickup_lines_asset_tag_idx", tag},
	} {
		if by.value == "" {
			continue
		}
		var rows []pickupLineRow
		err := t.scopedVia("pickup_lines", by.index).
			Where("pickup_lines.order_id = ? AND pickup_lines."+by.column+" = ?", id, by.value).Find(&rows).Error
		if err != nil {
			return nil, dbError("find pickup lines", err)
		}
		for _, l := range mapRows(rows, (*pickupLineRow).domain) {
			if !slices.ContainsFunc(out, func(o *domain.PickupLine) bool { return o.AssetID == l.AssetID }) {
				out = append(out, l)
			}
		}
	}
	slices.SortFunc(out, func(a, b *domain.PickupLine) int {
		return cmp.Or(a.StagedAt.Compare(b.StagedAt), cmp.Compare(a.AssetID, b.AssetID))
	})
	return out, nil
}

// scopedVia is scoped, also naming on SQLite the index the statement must
// use. The embedded store never gathers statistics (ANALYZE), and without
// them SQLite prefers the primary key's (tenant_id, order_id) prefix: a
// scan of the whole manifest, 10,000 rows for a large one, per lookup.
// Postgres chooses the index itself.
func (t *txn) scopedVia(table, index string) *gorm.DB {
	if t.g.Dialector.Name() != DialectSQLite {
		return t.scoped(table)
	}
	return t.g.Table(table+" INDEXED BY "+index).Where(table+".tenant_id = ?", t.tenant)
}

// CreatePickupScans implements domain.Tx: INSERTs of insertBatch scans
// each. Scans without an id get one. A scan whose line is not on its order
// gives ErrNotFound (the foreign key to pickup_lines). The scans are left
// as stored.
func (t *txn) CreatePickupScans(scans []*domain.PickupScan) error {
	const op = "create pickup scans"
	if len(scans) == 0 {
		return nil
	}
	rows := make([]*pickupScanRow, len(scans))
	for i, s := range scans {
		if s == nil {
			return fmt.Errorf("%s: nil scan at %d", op, i)
		}
		if err := newRecordID(&s.ID); err != nil {
			return fmt.Errorf("%s: scan %d: %w", op, i, err)
		}
		err := canonicalRefs(need("orderId", &s.OrderID), opt("lineAssetId", &s.LineAssetID),
			need("scannedById", &s.ScannedByID))
		if err != nil {
			return fmt.Errorf("%s: scan %d: %w", op, i, err)
		}
		rows[i] = pickupScanRowOf(s)
	}
	if err := insertBatches(t.g, t.tenant, "pickup_scans", rows).Error; err != nil {
		return dbError(op, err)
	}
	for i, r := range rows {
		s := scans[i]
		s.TenantID, s.ScannedAt, s.DeviceTime = t.tenant, r.ScannedAt.Time, timePtr(r.DeviceTime)
	}
	return nil
}

// ListPickupScans implements domain.Tx. Scan order is the scan time, then
// the id: the scans of one call share their time and get ascending
// (UUIDv7) ids in the order they were submitted.
func (t *txn) ListPickupScans(orderID string, phase domain.ScanPhase) ([]*domain.PickupScan, error) {
	id, ok := canonicalID(orderID)
	if !ok {
		return nil, nil
	}
	var rows []pickupScanRow
	err := t.scoped("pickup_scans").Where("pickup_scans.order_id = ? AND pickup_scans.phase = ?", id, string(phase)).
		Order("pickup_scans.scanned_at, pickup_scans.id").Find(&rows).Error
	if err != nil {
		return nil, dbError("list pickup scans", err)
	}
	return mapRows(rows, (*pickupScanRow).domain), nil
}

// MatchedInPhase implements domain.Tx through the partial index
// pickup_scans_matched_idx (see scopedVia). Its WHERE is repeated as a
// literal: a bound parameter would keep a generic Postgres plan, and
// SQLite, from using the index.
func (t *txn) MatchedInPhase(orderID string, phase domain.ScanPhase, assetID string) (bool, error) {
	order, ok := canonicalID(orderID)
	asset, ok2 := canonicalID(assetID)
	if !ok || !ok2 {
		return false, nil
	}
	var found []int
	err := t.scopedVia("pickup_scans", "pickup_scans_matched_idx").Select("1").
		Where("pickup_scans.order_id = ? AND pickup_scans.phase = ? AND pickup_scans.line_asset_id = ?",
			order, string(phase), asset).
		Where("pickup_scans.result = 'MATCHED'").Limit(1).Find(&found).Error
	if err != nil {
		return false, dbError("check matched scans", err)
	}
	return len(found) > 0, nil
}

// MatchedLines implements domain.Tx with the partial index of matches.
func (t *txn) MatchedLines(orderID string, phase domain.ScanPhase) ([]string, error) {
	order, ok := canonicalID(orderID)
	if !ok {
		return nil, nil
	}
	var ids []string
	err := t.scopedVia("pickup_scans", "pickup_scans_matched_idx").Distinct("pickup_scans.line_asset_id").
		Where("pickup_scans.order_id = ? AND pickup_scans.phase = ?", order, string(phase)).
		Where("pickup_scans.result = 'MATCHED'").Pluck("pickup_scans.line_asset_id", &ids).Error
	if err != nil {
		return nil, dbError("list matched lines", err)
	}
	return ids, nil
}

type pickupOrderRow struct {
	TenantID    string `gorm:"column:tenant_id;primaryKey"`
	ID          string `gorm:"column:id;primaryKey"`
	VendorID    string `gorm:"column:vendor_id"`
	ScheduledOn stamp  `gorm:"column:scheduled_on"`
	State       string `gorm:"column:state"`
	Note        string `gorm:"column:note"`
	CreatedByID string `gorm:"column:created_by_id"`
	CreatedAt   stamp  `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt   stamp  `gorm:"column:updated_at;autoUpdateTime:false"`
	Version     int    `gorm:"column:version"`
	// The times the order reached its later states (migration 00007).
	PickedUpAt  *stamp `gorm:"column:picked_up_at"`
	ReceivedAt  *stamp `gorm:"column:received_at"`
	CertifiedAt *stamp `gorm:"column:certified_at"`
	ClosedAt    *stamp `gorm:"column:closed_at"`
}

func pickupOrderRowOf(o *domain.PickupOrder) *pickupOrderRow {
	return &pickupOrderRow{ID: o.ID, VendorID: o.VendorID, ScheduledOn: newDate(o.ScheduledOn), State: string(o.State),
		Note: o.Note, CreatedByID: o.CreatedByID, CreatedAt: newStamp(o.CreatedAt), UpdatedAt: newStamp(o.UpdatedAt),
		Version: o.Version, PickedUpAt: optStamp(o.PickedUpAt), ReceivedAt: optStamp(o.ReceivedAt),
		CertifiedAt: optStamp(o.CertifiedAt), ClosedAt: optStamp(o.ClosedAt)}
}

func (r *pickupOrderRow) domain() *domain.PickupOrder {
	return &domain.PickupOrder{ID: r.ID, TenantID: r.TenantID, VendorID: r.VendorID, ScheduledOn: r.ScheduledOn.Time,
		State: domain.PickupState(r.State), Note: r.Note, CreatedByID: r.CreatedByID, CreatedAt: r.CreatedAt.Time,
		UpdatedAt: r.UpdatedAt.Time, PickedUpAt: timePtr(r.PickedUpAt), ReceivedAt: timePtr(r.ReceivedAt),
		CertifiedAt: timePtr(r.CertifiedAt), ClosedAt: timePtr(r.ClosedAt), Version: r.Version}
}

// updates returns the columns an optimistic update writes. The vendor, who
// created the order and when are facts of its creation and never change.
func (r *pickupOrderRow) updates() map[string]any {
	return map[string]any{"scheduled_on": r.ScheduledOn, "state": r.State, "note": r.Note,
		"updated_at": r.UpdatedAt, "version": r.Version, "picked_up_at": r.PickedUpAt, "received_at": r.ReceivedAt,
		"certified_at": r.CertifiedAt, "closed_at": r.ClosedAt}
}

// storedIn writes back to o what the row stores.
func (r *pickupOrderRow) storedIn(tenant string, o *domain.PickupOrder) {
	o.TenantID, o.ScheduledOn, o.CreatedAt, o.UpdatedAt = tenant, r.ScheduledOn.Time, r.CreatedAt.Time, r.UpdatedAt.Time
	o.PickedUpAt, o.ReceivedAt, o.CertifiedAt, o.ClosedAt = timePtr(r.PickedUpAt), timePtr(r.ReceivedAt),
		timePtr(r.CertifiedAt), timePtr(r.ClosedAt)
}

type pickupLineRow struct {
	TenantID   string  `gorm:"column:tenant_id;primaryKey"`
	OrderID    string  `gorm:"column:order_id;primaryKey"`
	AssetID    string  `gorm:"column:asset_id;primaryKey"`
	Serial     *string `gorm:"column:serial"`
	AssetTag   *string `gorm:"column:asset_tag"`
	Make       string  `gorm:"column:make"`
	Model      string  `gorm:"column:model"`
	Category   string  `gorm:"column:category"`
	BearsData  bool    `gorm:"column:bears_data"`
	Status     string  `gorm:"column:status"`
	StagedAt   stamp   `gorm:"column:staged_at"`
	StagedByID string  `gorm:"column:staged_by_id"`
	// The status reason, the outcome and the write-back (migration 00007).
	// OutcomeKind is NULL while the line has no outcome; OutcomeAt and
	// OutcomeByID are set exactly when it has one.
	StatusReason                   string  `gorm:"column:status_reason"`
	OutcomeKind                    *string `gorm:"column:outcome_kind"`
	OutcomeBuyer                   string  `gorm:"column:outcome_buyer"`
	OutcomeBuyerCountry            string  `gorm:"column:outcome_buyer_country"`
	OutcomeDownstreamVendor        string  `gorm:"column:outcome_downstream_vendor"`
	OutcomeDownstreamCertification string  `gorm:"column:outcome_downstream_certification"`
	OutcomeNote                    string  `gorm:"column:outcome_note"`
	OutcomeAt                      *stamp  `gorm:"column:outcome_at"`
	OutcomeByID                    *string `gorm:"column:outcome_by_id"`
	WrittenBackAt                  *stamp  `gorm:"column:written_back_at"`
	WrittenBackByID                *string `gorm:"column:written_back_by_id"`
}

// pickupLineColumns are the columns PutPickupLine replaces when the line
// exists: all but the key.
var pickupLineColumns = []string{"serial", "asset_tag", "make", "model", "category", "bears_data", "status",
	"staged_at", "staged_by_id", "status_reason", "outcome_kind", "outcome_buyer", "outcome_buyer_country",
	"outcome_downstream_vendor", "outcome_downstream_certification", "outcome_note", "outcome_at", "outcome_by_id",
	"written_back_at", "written_back_by_id"}

// pickupLineRowOf puts l's references in their stored form (it writes them
// back to l) and returns its row. An outcome must name who recorded it.
func pickupLineRowOf(l *domain.PickupLine) (*pickupLineRow, error) {
	refs := []ref{need("orderId", &l.OrderID), need("assetId", &l.AssetID), need("stagedById", &l.StagedByID),
		opt("writtenBackById", &l.WrittenBackByID)}
	if l.Outcome != nil {
		refs = append(refs, need("outcome.recordedById", &l.Outcome.RecordedByID))
	}
	if err := canonicalRefs(refs...); err != nil {
		return nil, err
	}
	r := &pickupLineRow{OrderID: l.OrderID, AssetID: l.AssetID, Serial: null(l.Serial), AssetTag: null(l.AssetTag),
		Make: l.Make, Model: l.Model, Category: string(l.Category), BearsData: l.BearsData, Status: string(l.Status),
		StagedAt: newStamp(l.StagedAt), StagedByID: l.StagedByID, StatusReason: l.StatusReason,
		WrittenBackAt: optStamp(l.WrittenBackAt), WrittenBackByID: null(l.WrittenBackByID)}
	if o := l.Outcome; o != nil {
		at := newStamp(o.RecordedAt)
		r.OutcomeKind, r.OutcomeBuyer, r.OutcomeBuyerCountry = null(string(o.Kind)), o.Buyer, o.BuyerCountry
		r.OutcomeDownstreamVendor, r.OutcomeDownstreamCertification = o.DownstreamVendor, o.DownstreamCertification
		r.OutcomeNote, r.OutcomeAt, r.OutcomeByID = o.Note, &at, null(o.RecordedByID)
	}
	return r, nil
}

func (r *pickupLineRow) domain() *domain.PickupLine {
	l := &domain.PickupLine{TenantID: r.TenantID, OrderID: r.OrderID, AssetID: r.AssetID, Serial: str(r.Serial),
		AssetTag: str(r.AssetTag), Make: r.Make, Model: r.Model, Category: domain.AssetCategory(r.Category),
		BearsData: r.BearsData, Status: domain.LineStatus(r.Status), StagedAt: r.StagedAt.Time, StagedByID: r.StagedByID,
		StatusReason: r.StatusReason, WrittenBackAt: timePtr(r.WrittenBackAt), WrittenBackByID: str(r.WrittenBackByID)}
	if r.OutcomeKind != nil {
		l.Outcome = &domain.Outcome{Kind: domain.OutcomeKind(*r.OutcomeKind), Buyer: r.OutcomeBuyer,
			BuyerCountry: r.OutcomeBuyerCountry, DownstreamVendor: r.OutcomeDownstreamVendor,
			DownstreamCertification: r.OutcomeDownstreamCertification, Note: r.OutcomeNote,
			RecordedByID: str(r.OutcomeByID)}
		if r.OutcomeAt != nil {
			l.Outcome.RecordedAt = r.OutcomeAt.Time
		}
	}
	return l
}

// storedIn writes back to l what the row stores.
func (r *pickupLineRow) storedIn(tenant string, l *domain.PickupLine) {
	l.TenantID, l.StagedAt, l.WrittenBackAt = tenant, r.StagedAt.Time, timePtr(r.WrittenBackAt)
	if l.Outcome != nil && r.OutcomeAt != nil {
		l.Outcome.RecordedAt = r.OutcomeAt.Time
	}
}

type pickupScanRow struct {
	TenantID    string  `gorm:"column:tenant_id;primaryKey"`
	ID          string  `gorm:"column:id;primaryKey"`
	OrderID     string  `gorm:"column:order_id"`
	Phase       string  `gorm:"column:phase"`
	Serial      *string `gorm:"column:serial"`
	AssetTag    *string `gorm:"column:asset_tag"`
	Model       string  `gorm:"column:model"`
	Result      string  `gorm:"column:result"`
	LineAssetID *string `gorm:"column:line_asset_id"`
	Detail      string  `gorm:"column:detail"`
	ScannedByID string  `gorm:"column:scanned_by_id"`
	ScannedAt   stamp   `gorm:"column:scanned_at"`
	DeviceTime  *stamp  `gorm:"column:device_time"`
}

func pickupScanRowOf(s *domain.PickupScan) *pickupScanRow {
	return &pickupScanRow{ID: s.ID, OrderID: s.OrderID, Phase: string(s.Phase), Serial: null(s.Serial),
		AssetTag: null(s.AssetTag), Model: s.Model, Result: string(s.Result), LineAssetID: null(s.LineAssetID),
		Detail: s.Detail, ScannedByID: s.ScannedByID, ScannedAt: newStamp(s.ScannedAt), DeviceTime: optStamp(s.DeviceTime)}
}

func (r *pickupScanRow) domain() *domain.PickupScan {
	return &domain.PickupScan{ID: r.ID, TenantID: r.TenantID, OrderID: r.OrderID, Phase: domain.ScanPhase(r.Phase),
		Serial: str(r.Serial), AssetTag: str(r.AssetTag), Model: r.Model, Result: domain.ScanResult(r.Result),
		LineAssetID: str(r.LineAssetID), Detail: r.Detail, ScannedByID: r.ScannedByID, ScannedAt: r.ScannedAt.Time,
		DeviceTime: timePtr(r.DeviceTime)}
}

func (r *pickupOrderRow) setTenant(t string) { r.TenantID = t }
func (r *pickupLineRow) setTenant(t string)  { r.TenantID = t }
func (r *pickupScanRow) setTenant(t string)  { r.TenantID = t }
