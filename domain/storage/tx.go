package storage

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// txn is a domain.Tx: one transaction of one tenant. Its methods reach the
// database only through scoped (reads, updates) and insert (writes), which
// put the tenant into every statement, so no method can forget it. The
// hand-written statements are the ledger head increment, which binds
// t.tenant itself, and ListEvents' planner setting, which reads no rows.
type txn struct {
	g      *gorm.DB
	tenant string
}

var _ domain.Tx = (*txn)(nil)

// ref is a record reference a row is about to store, named for errors;
// optional ones may be empty (stored as NULL).
type ref struct {
	name     string
	id       *string
	optional bool
}

// need and opt name a required and an optional reference.
func need(name string, id *string) ref { return ref{name: name, id: id} }
func opt(name string, id *string) ref  { return ref{name: name, id: id, optional: true} }

// canonicalRefs puts the references in their stored form. One that is not
// a UUID, or a required one that is empty, names no row, so it fails as the
// foreign key would (ErrNotFound) before Postgres could fail the cast and
// abort the transaction; and an id in upper case matches on SQLite too.
func canonicalRefs(refs ...ref) error {
	for _, r := range refs {
		if *r.id == "" && r.optional {
			continue
		}
		c, ok := canonicalID(*r.id)
		if !ok {
			return fmt.Errorf("%s %q is not a record id: %w", r.name, *r.id, domain.ErrNotFound)
		}
		*r.id = c
	}
	return nil
}

// locking makes q hold row locks until the transaction ends. Only Postgres
// needs them: SQLite has no row locks, and its write transactions already
// run one at a time (one writer connection, BEGIN IMMEDIATE), so a plain
// read inside one is as good as a lock. On Postgres, a read-only (View)
// transaction cannot lock.
func (t *txn) locking(q *gorm.DB) *gorm.DB {
	if t.g.Dialector.Name() == DialectPostgres {
		return q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	return q
}

// lockOne reads the first row q selects into dest and locks it (see
// locking); no row is ErrNotFound.
func (t *txn) lockOne(op string, q *gorm.DB, dest any) error {
	res := t.locking(q.Limit(1)).Find(dest)
	if res.Error != nil {
		return dbError(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// scoped starts a statement on table restricted to the transaction's tenant.
func (t *txn) scoped(table string) *gorm.DB {
	return scopedTo(t.g, t.tenant, table)
}

// scopedTo restricts a statement on table to tenant.
func scopedTo(g *gorm.DB, tenant, table string) *gorm.DB {
	return g.Table(table).Where(table+".tenant_id = ?", tenant)
}

// insert writes rows into table with tenant, whatever TenantID they held.
func insert[R rowTenant](g *gorm.DB, tenant, table string, rows ...R) *gorm.DB {
	for _, r := range rows {
		r.setTenant(tenant)
	}
	if len(rows) == 1 {
		return g.Table(table).Create(rows[0])
	}
	return g.Table(table).Create(rows)
}

// canonicalID returns id in the stored form (lowercase canonical UUID), or
// false when it is not a UUID and so cannot name any row. Checking first
// keeps a malformed id from becoming a Postgres cast error, which would also
// abort the transaction.
func canonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// canonicalIDs returns the distinct valid ids among ids.
func canonicalIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if c, ok := canonicalID(id); ok && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// newRecordID gives a record without an id a fresh UUIDv7 and returns the
// stored form of its id.
func newRecordID(id *string) error {
	if *id == "" {
		*id = domain.NewID()
		return nil
	}
	c, ok := canonicalID(*id)
	if !ok {
		return fmt.Errorf("id %q is not a UUID", *id)
	}
	*id = c
	return nil
}

// errBadCursor is returned for an After that is not a key of the list.
var errBadCursor = &domain.ArgumentError{Argument: "after", Message: "is not a cursor of this list"}

// page applies keyset pagination on id: rows after page.After, at most
// page.First, in id (creation) order.
func page(q *gorm.DB, table string, p domain.PageRequest) (*gorm.DB, error) {
	if p.After != "" {
		after, ok := canonicalID(p.After)
		if !ok {
			return nil, errBadCursor
		}
		q = q.Where(table+".id > ?", after)
	}
	return q.Order(table + ".id").Limit(limit(p)), nil
}

// limit is page.First as a SQL LIMIT: never negative, which gorm would read
// as "no limit".
func limit(p domain.PageRequest) int { return max(p.First, 0) }

// likePattern returns a case-insensitive substring pattern for s, with LIKE's
// wildcards in s escaped (ESCAPE '\').
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// matchAny adds "one of cols contains s" (case-insensitive) to q.
func matchAny(q *gorm.DB, s string, cols ...string) *gorm.DB {
	pattern := likePattern(s)
	conds := make([]string, len(cols))
	args := make([]any, len(cols))
	for i, c := range cols {
		conds[i] = "lower(" + c + `) LIKE ? ESCAPE '\'`
		args[i] = pattern
	}
	return q.Where("("+strings.Join(conds, " OR ")+")", args...)
}

// getOne loads the single row of table matching cond into dest.
func (t *txn) getOne(op, table string, dest any, cond string, args ...any) error {
	res := t.scoped(table).Where(cond, args...).Limit(1).Find(dest)
	if res.Error != nil {
		return dbError(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// getByID loads the row of table with id into dest.
func (t *txn) getByID(op, table, id string, dest any) error {
	c, ok := canonicalID(id)
	if !ok {
		return domain.ErrNotFound
	}
	return t.getOne(op, table, dest, table+".id = ?", c)
}

// getByIDs loads the rows of table among ids into dest, in one statement.
func getByIDs[R any](t *txn, op, table string, ids []string) ([]R, error) {
	valid := canonicalIDs(ids)
	if len(valid) == 0 {
		return nil, nil
	}
	var rows []R
	if err := t.scoped(table).Where(table+".id IN ?", valid).Order(table + ".id").Find(&rows).Error; err != nil {
		return nil, dbError(op, err)
	}
	return rows, nil
}

// update writes cols to the row of table with id if its version is
// version-1 (optimistic concurrency). It tells a lost race
// (ErrConcurrentModification) from a missing row (ErrNotFound).
func (t *txn) update(op, table, id string, version int, cols map[string]any) error {
	c, ok := canonicalID(id)
	if !ok {
		return domain.ErrNotFound
	}
	res := t.scoped(table).Where(table+".id = ? AND "+table+".version = ?", c, version-1).Updates(cols)
	if res.Error != nil {
		return dbError(op, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var n int64
	if err := t.scoped(table).Where(table+".id = ?", c).Count(&n).Error; err != nil {
		return dbError(op, err)
	}
	if n == 0 {
		return domain.ErrNotFound
	}
	return fmt.Errorf("%s: stored version is not %d: %w", op, version-1, domain.ErrConcurrentModification)
}

// mapRows converts rows with conv.
func mapRows[R any, D any](rows []R, conv func(*R) D) []D {
	out := make([]D, len(rows))
	for i := range rows {
		out[i] = conv(&rows[i])
	}
	return out
}

// People

// CreatePerson implements domain.Tx.
func (t *txn) CreatePerson(p *domain.Person) error {
	const op = "create person"
	if p == nil {
		return errors.New(op + ": nil person")
	}
	if err := newRecordID(&p.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := personRowOf(p)
	if err := insert(t.g, t.tenant, "people", r).Error; err != nil {
		return dbError(op, err)
	}
	p.TenantID, p.CreatedAt, p.UpdatedAt = t.tenant, r.CreatedAt.Time, r.UpdatedAt.Time
	return nil
}

// UpdatePerson implements domain.Tx.
func (t *txn) UpdatePerson(p *domain.Person) error {
	if p == nil {
		return errors.New("update person: nil person")
	}
	r := personRowOf(p)
	if err := t.update("update person", "people", p.ID, p.Version, r.updates()); err != nil {
		return err
	}
	p.TenantID, p.UpdatedAt = t.tenant, r.UpdatedAt.Time
	return nil
}

// GetPerson implements domain.Tx.
func (t *txn) GetPerson(id string) (*domain.Person, error) {
	var r personRow
	if err := t.getByID("get person", "people", id, &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// GetPeople implements domain.Tx.
func (t *txn) GetPeople(ids []string) ([]*domain.Person, error) {
	rows, err := getByIDs[personRow](t, "get people", "people", ids)
	return mapRows(rows, (*personRow).domain), err
}

// ListPeople implements domain.Tx. Search matches name, email or employee id.
func (t *txn) ListPeople(f domain.PersonFilter, p domain.PageRequest) ([]*domain.Person, error) {
	q := t.scoped("people")
	if f.Status != "" {
		q = q.Where("people.status = ?", string(f.Status))
	}
	if f.Search != "" {
		q = matchAny(q, f.Search, "people.name", "people.email", "people.employee_id")
	}
	q, err := page(q, "people", p)
	if err != nil {
		return nil, err
	}
	var rows []personRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("list people", err)
	}
	return mapRows(rows, (*personRow).domain), nil
}

// Parcels

// CreateParcel implements domain.Tx.
func (t *txn) CreateParcel(p *domain.Parcel) error {
	const op = "create parcel"
	if p == nil {
		return errors.New(op + ": nil parcel")
	}
	if err := newRecordID(&p.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := parcelRowOf(p)
	if err := insert(t.g, t.tenant, "parcels", r).Error; err != nil {
		return dbError(op, err)
	}
	p.TenantID, p.ReceivedAt = t.tenant, r.ReceivedAt.Time
	return nil
}

// UpdateParcel implements domain.Tx.
func (t *txn) UpdateParcel(p *domain.Parcel) error {
	if p == nil {
		return errors.New("update parcel: nil parcel")
	}
	if err := t.update("update parcel", "parcels", p.ID, p.Version, parcelRowOf(p).updates()); err != nil {
		return err
	}
	p.TenantID = t.tenant
	return nil
}

// GetParcel implements domain.Tx.
func (t *txn) GetParcel(id string) (*domain.Parcel, error) {
	var r parcelRow
	if err := t.getByID("get parcel", "parcels", id, &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// GetParcels implements domain.Tx.
func (t *txn) GetParcels(ids []string) ([]*domain.Parcel, error) {
	rows, err := getByIDs[parcelRow](t, "get parcels", "parcels", ids)
	return mapRows(rows, (*parcelRow).domain), err
}

// ListParcels implements domain.Tx.
func (t *txn) ListParcels(f domain.ParcelFilter, p domain.PageRequest) ([]*domain.Parcel, error) {
	q := t.scoped("parcels")
	if f.State != "" {
		q = q.Where("parcels.state = ?", string(f.State))
	}
	if f.RecipientID != "" {
		id, ok := canonicalID(f.RecipientID)
		if !ok {
			return nil, nil // no parcel can be addressed to a non-id
		}
		q = q.Where("parcels.recipient_id = ?", id)
	}
	q, err := page(q, "parcels", p)
	if err != nil {
		return nil, err
	}
	var rows []parcelRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("list parcels", err)
	}
	return mapRows(rows, (*parcelRow).domain), nil
}

// Assets

// CreateAsset implements domain.Tx.
func (t *txn) CreateAsset(a *domain.Asset) error {
	const op = "create asset"
	if a == nil {
		return errors.New(op + ": nil asset")
	}
	if err := newRecordID(&a.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := assetRowOf(a)
	if err := insert(t.g, t.tenant, "assets", r).Error; err != nil {
		return dbError(op, err)
	}
	a.TenantID, a.CreatedAt, a.UpdatedAt, a.DeployedAt = t.tenant, r.CreatedAt.Time, r.UpdatedAt.Time, timePtr(r.DeployedAt)
	return nil
}

// UpdateAsset implements domain.Tx.
func (t *txn) UpdateAsset(a *domain.Asset) error {
	if a == nil {
		return errors.New("update asset: nil asset")
	}
	r := assetRowOf(a)
	if err := t.update("update asset", "assets", a.ID, a.Version, r.updates()); err != nil {
		return err
	}
	a.TenantID, a.UpdatedAt, a.DeployedAt = t.tenant, r.UpdatedAt.Time, timePtr(r.DeployedAt)
	return nil
}

// GetAsset implements domain.Tx.
func (t *txn) GetAsset(id string) (*domain.Asset, error) {
	var r assetRow
	if err := t.getByID("get asset", "assets", id, &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// GetAssets implements domain.Tx.
func (t *txn) GetAssets(ids []string) ([]*domain.Asset, error) {
	rows, err := getByIDs[assetRow](t, "get assets", "assets", ids)
	return mapRows(rows, (*assetRow).domain), err
}

// FindAssetsByIdentifiers implements domain.Tx: one statement over the
// (tenant_id, serial) and (tenant_id, asset_tag) unique indexes.
func (t *txn) FindAssetsByIdentifiers(serials, tags []string) ([]*domain.Asset, error) {
	serials, tags = nonEmpty(serials), nonEmpty(tags)
	if len(serials) == 0 && len(tags) == 0 {
		return nil, nil
	}
	q := t.scoped("assets")
	switch {
	case len(tags) == 0:
		q = q.Where("assets.serial IN ?", serials)
	case len(serials) == 0:
		q = q.Where("assets.asset_tag IN ?", tags)
	default:
		q = q.Where("(assets.serial IN ? OR assets.asset_tag IN ?)", serials, tags)
	}
	var rows []assetRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("find assets by identifiers", err)
	}
	return mapRows(rows, (*assetRow).domain), nil
}

// nonEmpty drops empty strings (absent identifiers are stored as NULL).
func nonEmpty(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// GetAssetBySerial implements domain.Tx.
func (t *txn) GetAssetBySerial(serial string) (*domain.Asset, error) {
	if serial == "" {
		return nil, domain.ErrNotFound
	}
	var r assetRow
	if err := t.getOne("get asset by serial", "assets", &r, "assets.serial = ?", serial); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// GetAssetByTag implements domain.Tx.
func (t *txn) GetAssetByTag(tag string) (*domain.Asset, error) {
	if tag == "" {
		return nil, domain.ErrNotFound
	}
	var r assetRow
	if err := t.getOne("get asset by tag", "assets", &r, "assets.asset_tag = ?", tag); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// ListAssets implements domain.Tx.
func (t *txn) ListAssets(f domain.AssetFilter, p domain.PageRequest) ([]*domain.Asset, error) {
	q := t.scoped("assets")
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, s := range f.States {
			states[i] = string(s)
		}
		q = q.Where("assets.state IN ?", states)
	}
	if f.HolderID != "" {
		holder := f.HolderID
		if c, ok := canonicalID(holder); ok {
			holder = c
		}
		q = q.Where("assets.custodian_kind = ? AND assets.custodian_ref = ?", string(domain.CustodianPerson), holder)
	}
	if f.ParcelID != "" {
		id, ok := canonicalID(f.ParcelID)
		if !ok {
			return nil, nil
		}
		q = q.Where("assets.parcel_id = ?", id)
	}
	if f.Search != "" {
		q = matchAny(q, f.Search, "assets.serial", "assets.asset_tag", "assets.make", "assets.model")
	}
	q, err := page(q, "assets", p)
	if err != nil {
		return nil, err
	}
	var rows []assetRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("list assets", err)
	}
	return mapRows(rows, (*assetRow).domain), nil
}

// Custody events

// AppendEvent implements domain.Tx. The tenant's ledger head is incremented
// first, under its row lock, which orders concurrent appends of one tenant;
// the event then takes that number, and its Merkle hashes are stored (see
// appendLeaf). A rollback undoes all three, so the log has no gaps, needs no
// database sequence, and its tree never forks. e is left as stored: ids in
// canonical form, times in UTC microseconds, TenantID and Seq set.
func (t *txn) AppendEvent(e *domain.CustodyEvent) error {
	const op = "append event"
	if e == nil {
		return errors.New(op + ": nil event")
	}
	if err := newRecordID(&e.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := storableEvent(e); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var head ledgerHeadRow
	res := t.g.Raw("UPDATE ledger_heads SET size = size + 1 WHERE tenant_id = ? RETURNING tenant_id, size", t.tenant).Scan(&head)
	if res.Error != nil {
		return dbError(op, res.Error)
	}
	if head.Size == 0 {
		return fmt.Errorf("%s: tenant %s has no ledger head", op, t.tenant)
	}
	e.Seq = head.Size
	r, err := eventRowOf(e)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := insert(t.g, t.tenant, "custody_events", r).Error; err != nil {
		return dbError(op, err)
	}
	e.TenantID, e.RecordedAt, e.DeviceTime = t.tenant, r.RecordedAt.Time, timePtr(r.DeviceTime)
	if err := t.appendLeaf(e); err != nil {
		return fmt.Errorf("%s %d: %w", op, e.Seq, err)
	}
	return nil
}

// GetEvent implements domain.Tx.
func (t *txn) GetEvent(id string) (*domain.CustodyEvent, error) {
	var r eventRow
	if err := t.getByID("get event", "custody_events", id, &r); err != nil {
		return nil, err
	}
	return r.domain()
}

// GetEvents implements domain.Tx.
func (t *txn) GetEvents(ids []string) ([]*domain.CustodyEvent, error) {
	rows, err := getByIDs[eventRow](t, "get events", "custody_events", ids)
	if err != nil {
		return nil, err
	}
	out := make([]*domain.CustodyEvent, len(rows))
	for i := range rows {
		if out[i], err = rows[i].domain(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListAssetEvents implements domain.Tx; page.After is a decimal Seq.
func (t *txn) ListAssetEvents(assetID string, p domain.PageRequest) ([]*domain.CustodyEvent, error) {
	q := t.scoped("custody_events")
	id, ok := canonicalID(assetID)
	if !ok {
		return nil, nil
	}
	parcel := t.scoped("assets").Select("assets.parcel_id").Where("assets.id = ?", id)
	q = q.Where(ownEventsOr+"custody_events.parcel_id = (?)))", id, parcel)
	if p.After != "" {
		after, err := strconv.ParseInt(p.After, 10, 64)
		if err != nil {
			return nil, errBadCursor
		}
		q = q.Where("custody_events.seq > ?", after)
	}
	var rows []eventRow
	if err := q.Order("custody_events.seq").Limit(limit(p)).Find(&rows).Error; err != nil {
		return nil, dbError("list asset events", err)
	}
	return events(rows)
}

// ownEventsOr starts the condition that selects an asset's events: its own,
// or the parcel-level events (the receipt at the dock) of the parcel it came
// in, so an asset's chain of custody starts where the parcel entered it.
const ownEventsOr = "(custody_events.asset_id = ? OR (custody_events.asset_id IS NULL AND "

// LastAssetEvents implements domain.Tx: the newest n events of each asset's
// history, newest first.
func (t *txn) LastAssetEvents(assetIDs []string, n int) (map[string][]*domain.CustodyEvent, error) {
	return t.rankedAssetEvents("last asset events", assetIDs, n, "DESC")
}

// FirstAssetEvents implements domain.Tx: the oldest n events of each
// asset's history, in log order.
func (t *txn) FirstAssetEvents(assetIDs []string, n int) (map[string][]*domain.CustodyEvent, error) {
	return t.rankedAssetEvents("first asset events", assetIDs, n, "ASC")
}

// rankedAssetEvents is one statement that ranks each asset's history (its
// own events and its parcel's receipt) by seq in direction (ASC or DESC),
// with ROW_NUMBER over the (tenant_id, asset_id, seq) and (tenant_id,
// parcel_id, seq) indexes, and keeps the first n of each.
func (t *txn) rankedAssetEvents(op string, assetIDs []string, n int, direction string) (map[string][]*domain.CustodyEvent, error) {
	out := map[string][]*domain.CustodyEvent{}
	ids := canonicalIDs(assetIDs)
	if len(ids) == 0 || n <= 0 {
		return out, nil
	}
	ranked := t.scoped("assets").
		Select("custody_events.*, assets.id AS for_asset, "+
			"ROW_NUMBER() OVER (PARTITION BY assets.id ORDER BY custody_events.seq "+direction+") AS rn").
		Joins("JOIN custody_events ON custody_events.tenant_id = assets.tenant_id AND "+
			"(custody_events.asset_id = assets.id OR "+
			"(custody_events.asset_id IS NULL AND custody_events.parcel_id = assets.parcel_id))").
		Where("assets.id IN ?", ids)
	var rows []eventRow
	err := t.g.Table("(?) AS ranked", ranked).Where("ranked.rn <= ?", n).
		Order("ranked.for_asset, ranked.seq " + direction).Find(&rows).Error
	if err != nil {
		return nil, dbError(op, err)
	}
	for i := range rows {
		e, err := rows[i].domain()
		if err != nil {
			return nil, err
		}
		out[rows[i].ForAsset] = append(out[rows[i].ForAsset], e)
	}
	return out, nil
}

func events(rows []eventRow) ([]*domain.CustodyEvent, error) {
	out := make([]*domain.CustodyEvent, len(rows))
	for i := range rows {
		e, err := rows[i].domain()
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// Members and signatures

// GetMembers implements domain.Tx: members with their roles, one statement.
func (t *txn) GetMembers(ids []string) ([]*domain.Member, error) {
	valid := canonicalIDs(ids)
	if len(valid) == 0 {
		return nil, nil
	}
	var rows []memberWithRole
	err := t.scoped("members").Select("members.*, member_roles.role").
		Joins("LEFT JOIN member_roles ON member_roles.tenant_id = members.tenant_id AND member_roles.member_id = members.id").
		Where("members.id IN ?", valid).Order("members.id, member_roles.role").Find(&rows).Error
	if err != nil {
		return nil, dbError("get members", err)
	}
	return groupMembers(rows), nil
}

// CreateSignature implements domain.Tx.
func (t *txn) CreateSignature(s *domain.Signature) error {
	const op = "create signature"
	if s == nil {
		return errors.New(op + ": nil signature")
	}
	if err := newRecordID(&s.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := signatureRowOf(s)
	if err := insert(t.g, t.tenant, "signatures", r).Error; err != nil {
		return dbError(op, err)
	}
	s.TenantID, s.SignedAt, s.DeviceTime = t.tenant, r.SignedAt.Time, timePtr(r.DeviceTime)
	return nil
}

// GetSignature implements domain.Tx.
func (t *txn) GetSignature(id string) (*domain.Signature, error) {
	var r signatureRow
	if err := t.getByID("get signature", "signatures", id, &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// GetSignatures implements domain.Tx.
func (t *txn) GetSignatures(ids []string) ([]*domain.Signature, error) {
	rows, err := getByIDs[signatureRow](t, "get signatures", "signatures", ids)
	return mapRows(rows, (*signatureRow).domain), err
}

// Idempotency

// ClaimIdempotency implements domain.Tx. The insert does nothing when the
// key exists; a concurrent claim of the same key waits on the primary key
// until the first transaction ends (Postgres), or behind the single writer
// (SQLite), and then reads the first attempt's committed record.
func (t *txn) ClaimIdempotency(operation, key, requestHash string) (*domain.Idempotency, error) {
	const op = "claim idempotency key"
	r := &idempotencyRow{Operation: operation, IdempotencyKey: key, RequestHash: requestHash,
		CreatedAt: newStamp(time.Now())}
	res := insert(t.g.Clauses(clause.OnConflict{DoNothing: true}), t.tenant, "idempotency_keys", r)
	if res.Error != nil {
		return nil, dbError(op, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil, nil
	}
	var stored idempotencyRow
	if err := t.getOne(op, "idempotency_keys", &stored,
		"idempotency_keys.operation = ? AND idempotency_keys.idempotency_key = ?", operation, key); err != nil {
		return nil, err
	}
	return &domain.Idempotency{Operation: stored.Operation, Key: stored.IdempotencyKey,
		RequestHash: stored.RequestHash, Result: stored.Result}, nil
}

// CompleteIdempotency implements domain.Tx.
func (t *txn) CompleteIdempotency(operation, key string, result []byte) error {
	if result == nil {
		result = []byte{} // NULL means "not completed"
	}
	res := t.scoped("idempotency_keys").
		Where("idempotency_keys.operation = ? AND idempotency_keys.idempotency_key = ?", operation, key).
		Updates(map[string]any{"result": result, "completed_at": newStamp(time.Now())})
	if res.Error != nil {
		return dbError("complete idempotency key", res.Error)
	}
	if res.RowsAffected == 0 {
		return domain.ErrNotFound
	}
	return nil
}
