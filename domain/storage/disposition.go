package storage

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custody-dev/custody/domain"
)

// The dock pickup, the vendor's receipt, sanitization records, outcomes and
// certificates (migrations 00007).

// duplicateAs is dbError for a table whose unique keys all mean one thing
// to the domain: a unique violation becomes a *domain.DuplicateError with
// Key key, whichever constraint fired (Postgres names constraints and
// SQLite columns, neither of which is the domain's key). A primary key
// collision stays Key "id" unless idIsKey: the table's key is a generated
// id, which the caller chose.
func duplicateAs(op string, err error, key string, idIsKey bool) error {
	if k, ok := uniqueViolation(err); ok && (idIsKey || k != "id") {
		return fmt.Errorf("%s: %w", op, &domain.DuplicateError{Key: key})
	}
	return dbError(op, err)
}

// GetPickupScan implements domain.Tx.
func (t *txn) GetPickupScan(id string) (*domain.PickupScan, error) {
	var r pickupScanRow
	if err := t.getByID("get pickup scan", "pickup_scans", id, &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// CreateResolution implements domain.Tx. The partial unique indexes
// pickup_resolutions_scan_key and pickup_resolutions_line_key refuse a
// second resolution of a scan, or of a missing line in a phase, even from
// concurrent transactions (*domain.DuplicateError, Key "resolution"). A
// line that is not on the order, or a scan, order or member the tenant does
// not have, gives ErrNotFound. r is left as stored.
func (t *txn) CreateResolution(r *domain.Resolution) error {
	const op = "create pickup resolution"
	if r == nil {
		return errors.New(op + ": nil resolution")
	}
	if err := newRecordID(&r.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err := canonicalRefs(need("orderId", &r.OrderID), opt("scanId", &r.ScanID), opt("assetId", &r.AssetID),
		need("resolvedById", &r.ResolvedByID))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	row := resolutionRowOf(r)
	if err := insert(t.g, t.tenant, "pickup_resolutions", row).Error; err != nil {
		return duplicateAs(op, err, "resolution", false)
	}
	r.TenantID, r.ResolvedAt = t.tenant, row.ResolvedAt.Time
	return nil
}

// ListResolutions implements domain.Tx over pickup_resolutions_order_idx:
// resolution time, then id (the resolutions of one call share their time
// and get ascending ids).
func (t *txn) ListResolutions(orderID string, phase domain.ScanPhase) ([]*domain.Resolution, error) {
	id, ok := canonicalID(orderID)
	if !ok {
		return nil, nil
	}
	var rows []resolutionRow
	err := t.scoped("pickup_resolutions").
		Where("pickup_resolutions.order_id = ? AND pickup_resolutions.phase = ?", id, string(phase)).
		Order("pickup_resolutions.resolved_at, pickup_resolutions.id").Find(&rows).Error
	if err != nil {
		return nil, dbError("list pickup resolutions", err)
	}
	return mapRows(rows, (*resolutionRow).domain), nil
}

// CreatePickupSignature implements domain.Tx. A second signature of the
// same role on an order gives a *domain.DuplicateError with Key
// "signature" (pickup_signatures_role_key); an order or member the tenant
// does not have gives ErrNotFound. The embedded Signature's SignerID is not
// stored (the signer is SignerMemberID) and reads back empty. s is left as
// stored.
func (t *txn) CreatePickupSignature(s *domain.PickupSignature) error {
	const op = "create pickup signature"
	if s == nil {
		return errors.New(op + ": nil signature")
	}
	if err := newRecordID(&s.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err := canonicalRefs(need("orderId", &s.OrderID), need("signerMemberId", &s.SignerMemberID),
		need("capturedById", &s.CapturedByID))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := pickupSignatureRowOf(s)
	if err := insert(t.g, t.tenant, "pickup_signatures", r).Error; err != nil {
		return duplicateAs(op, err, "signature", false)
	}
	s.TenantID, s.SignerID, s.SignedAt, s.DeviceTime = t.tenant, "", r.SignedAt.Time, timePtr(r.DeviceTime)
	return nil
}

// ListPickupSignatures implements domain.Tx: one statement over
// pickup_signatures_role_key, whatever the number of orders.
func (t *txn) ListPickupSignatures(orderIDs []string) ([]*domain.PickupSignature, error) {
	ids := canonicalIDs(orderIDs)
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []pickupSignatureRow
	err := t.scoped("pickup_signatures").Where("pickup_signatures.order_id IN ?", ids).
		Order("pickup_signatures.order_id, pickup_signatures.signed_at, pickup_signatures.id").Find(&rows).Error
	if err != nil {
		return nil, dbError("list pickup signatures", err)
	}
	return mapRows(rows, (*pickupSignatureRow).domain), nil
}

// CreateSanitization implements domain.Tx. The record's key is its line
// (tenant_id, order_id, asset_id), so a second record of a line gives a
// *domain.DuplicateError with Key "sanitization"; a line, member or event
// the tenant does not have gives ErrNotFound. r is left as stored.
func (t *txn) CreateSanitization(r *domain.SanitizationRecord) error {
	const op = "create sanitization record"
	if r == nil {
		return errors.New(op + ": nil record")
	}
	err := canonicalRefs(need("orderId", &r.OrderID), need("assetId", &r.AssetID),
		need("recordedById", &r.RecordedByID), need("eventId", &r.EventID))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	row := sanitizationRowOf(r)
	if err := insert(t.g, t.tenant, "sanitization_records", row).Error; err != nil {
		return duplicateAs(op, err, "sanitization", true)
	}
	row.storedIn(t.tenant, r)
	return nil
}

// ListSanitizations implements domain.Tx: one statement over the records'
// primary key, whatever the number of orders.
func (t *txn) ListSanitizations(orderIDs []string) ([]*domain.SanitizationRecord, error) {
	ids := canonicalIDs(orderIDs)
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []sanitizationRow
	err := t.scoped("sanitization_records").Where("sanitization_records.order_id IN ?", ids).
		Order("sanitization_records.order_id, sanitization_records.asset_id").Find(&rows).Error
	if err != nil {
		return nil, dbError("list sanitization records", err)
	}
	return mapRows(rows, (*sanitizationRow).domain), nil
}

// CreateCertificate implements domain.Tx. certificates_order_key and
// certificates_number_key refuse a second certificate of an order and a
// number already used (*domain.DuplicateError, Key "certificate"); an
// order, vendor, member or event the tenant does not have gives
// ErrNotFound, and a certificate without its document a fault
// (certificates_document_check). c is left as stored.
func (t *txn) CreateCertificate(c *domain.Certificate) error {
	const op = "create certificate"
	if c == nil {
		return errors.New(op + ": nil certificate")
	}
	if err := newRecordID(&c.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err := canonicalRefs(need("orderId", &c.OrderID), need("vendorId", &c.VendorID),
		need("issuedById", &c.IssuedByID), need("eventId", &c.EventID))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := certificateRowOf(c)
	if err := insert(t.g, t.tenant, "certificates", r).Error; err != nil {
		return duplicateAs(op, err, "certificate", false)
	}
	c.TenantID, c.IssuedAt = t.tenant, r.IssuedAt.Time
	return nil
}

// GetCertificate implements domain.Tx, with the certificate's document.
func (t *txn) GetCertificate(id string) (*domain.Certificate, error) {
	var r certificateRow
	if err := t.getByID("get certificate", "certificates", id, &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// GetCertificates implements domain.Tx in one statement, in id order,
// without the documents.
func (t *txn) GetCertificates(ids []string) ([]*domain.Certificate, error) {
	valid := canonicalIDs(ids)
	if len(valid) == 0 {
		return nil, nil
	}
	var rows []certificateRow
	err := t.scoped("certificates").Select(certificateListColumns).Where("certificates.id IN ?", valid).
		Order("certificates.id").Find(&rows).Error
	if err != nil {
		return nil, dbError("get certificates", err)
	}
	return mapRows(rows, (*certificateRow).domain), nil
}

// CertificatesOfOrders implements domain.Tx: one statement over
// certificates_order_key, in order id order, without the documents.
func (t *txn) CertificatesOfOrders(orderIDs []string) ([]*domain.Certificate, error) {
	ids := canonicalIDs(orderIDs)
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []certificateRow
	err := t.scoped("certificates").Select(certificateListColumns).Where("certificates.order_id IN ?", ids).
		Order("certificates.order_id").Find(&rows).Error
	if err != nil {
		return nil, dbError("certificates of orders", err)
	}
	return mapRows(rows, (*certificateRow).domain), nil
}

// ListCertificates implements domain.Tx, without the documents; a vendor's
// over certificates_vendor_idx.
func (t *txn) ListCertificates(vendorID string, p domain.PageRequest) ([]*domain.Certificate, error) {
	q := t.scoped("certificates").Select(certificateListColumns)
	if vendorID != "" {
		id, ok := canonicalID(vendorID)
		if !ok {
			return nil, nil // no certificate can be of a non-id
		}
		q = q.Where("certificates.vendor_id = ?", id)
	}
	q, err := page(q, "certificates", p)
	if err != nil {
		return nil, err
	}
	var rows []certificateRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("list certificates", err)
	}
	return mapRows(rows, (*certificateRow).domain), nil
}

// ListDispositionLines implements domain.Tx. One order's lines come through
// the lines' primary key, by (order_id, asset_id), the cursor
// "orderID/assetID". Otherwise the lines come in the order of the partial
// index pickup_lines_outcome_idx (tenant_id, outcome_at, order_id,
// asset_id), which holds only the lines with an outcome (see scopedVia: the
// condition that makes it usable, outcome_kind IS NOT NULL, is a literal),
// the cursor "outcomeTime/orderID/assetID" (domain.DispositionCursor): each
// page is then a range scan of the index from the cursor on, where ordering
// by order id would sort the whole date range again for every page. From
// and To are calendar dates: only their date counts.
func (t *txn) ListDispositionLines(f domain.DispositionFilter, p domain.PageRequest) ([]*domain.PickupLine, error) {
	q := t.scoped("pickup_lines")
	byOrder := f.OrderID != ""
	if byOrder {
		id, ok := canonicalID(f.OrderID)
		if !ok {
			return nil, nil // no line can be on a non-id
		}
		q = q.Where("pickup_lines.order_id = ?", id)
	} else {
		q = t.scopedVia("pickup_lines", "pickup_lines_outcome_idx")
	}
	q = q.Where("pickup_lines.outcome_kind IS NOT NULL")
	var c lineCursor
	if p.After != "" {
		var ok bool
		if c, ok = parseLineCursor(p.After, byOrder); !ok {
			return nil, errBadCursor
		}
	}
	var from *stamp
	if f.From != nil {
		d := newDate(*f.From)
		from = &d
	}
	switch {
	case p.After == "":
	case byOrder:
		q = q.Where("(pickup_lines.order_id > ? OR (pickup_lines.order_id = ? AND pickup_lines.asset_id > ?))",
			c.order, c.order, c.asset)
	case from == nil || !c.at.Before(from.Time):
		// One lower bound, a row value on the index's columns: both stores
		// then start the index scan at the cursor. A second bound (From)
		// would leave SQLite scanning from the start of the range.
		q, from = q.Where("(pickup_lines.outcome_at, pickup_lines.order_id, pickup_lines.asset_id) > (?, ?, ?)",
			c.at, c.order, c.asset), nil
	}
	// A cursor before From (not one of this range's) leaves From the bound.
	if from != nil {
		q = q.Where("pickup_lines.outcome_at >= ?", *from)
	}
	if f.To != nil {
		q = q.Where("pickup_lines.outcome_at < ?", newDate(*f.To))
	}
	order := "pickup_lines.order_id, pickup_lines.asset_id"
	if !byOrder {
		order = "pickup_lines.outcome_at, " + order
	}
	var rows []pickupLineRow
	err := q.Order(order).Limit(limit(p)).Find(&rows).Error
	if err != nil {
		return nil, dbError("list disposition lines", err)
	}
	return mapRows(rows, (*pickupLineRow).domain), nil
}

// lineCursor is a parsed ListDispositionLines cursor, ids in stored form.
type lineCursor struct {
	at           stamp
	order, asset string
}

// parseLineCursor parses a ListDispositionLines cursor: "orderID/assetID"
// for one order, "outcomeTime/orderID/assetID" (RFC 3339) otherwise.
func parseLineCursor(after string, byOrder bool) (lineCursor, bool) {
	var c lineCursor
	parts := strings.Split(after, "/")
	if !byOrder {
		if len(parts) != 3 {
			return c, false
		}
		at, err := time.Parse(time.RFC3339Nano, parts[0])
		if err != nil {
			return c, false
		}
		c.at, parts = newStamp(at), parts[1:]
	}
	if len(parts) != 2 {
		return c, false
	}
	var ok1, ok2 bool
	c.order, ok1 = canonicalID(parts[0])
	c.asset, ok2 = canonicalID(parts[1])
	return c, ok1 && ok2
}

// EarliestStagedAt implements domain.Tx: one GROUP BY over the lines'
// primary key, whatever the number of orders. MIN of SQLite's fixed-width
// UTC text is the earliest time, as on Postgres.
func (t *txn) EarliestStagedAt(orderIDs []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	ids := canonicalIDs(orderIDs)
	if len(ids) == 0 {
		return out, nil
	}
	var rows []stagedSinceRow
	err := t.scoped("pickup_lines").Select("pickup_lines.order_id, MIN(pickup_lines.staged_at) AS since").
		Where("pickup_lines.order_id IN ? AND pickup_lines.status = ?", ids, string(domain.LineStaged)).
		Group("pickup_lines.order_id").Find(&rows).Error
	if err != nil {
		return nil, dbError("earliest staged lines", err)
	}
	for _, r := range rows {
		out[r.OrderID] = r.Since.Time
	}
	return out, nil
}
