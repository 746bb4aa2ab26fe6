package storage

import (
	"errors"
	"fmt"

	"github.com/custody-dev/custody/domain"
	"gorm.io/gorm/clause"
)

// Off-boarding cases, their items and returns (migrations 00003).

// lockCase loads and locks the case matching cond.
func (t *txn) lockCase(op, cond string, args ...any) (*domain.OffboardingCase, error) {
	var r caseRow
	if err := t.lockOne(op, t.scoped("offboarding_cases").Where(cond, args...), &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// CreateCase implements domain.Tx. The partial unique index
// offboarding_cases_open_person_key refuses a second OPEN case of a person
// (*domain.DuplicateError, Key "person"), even from concurrent transactions.
// c is left as stored: dates at midnight UTC, times in UTC microseconds.
func (t *txn) CreateCase(c *domain.OffboardingCase) error {
	const op = "create off-boarding case"
	if c == nil {
		return errors.New(op + ": nil case")
	}
	if err := newRecordID(&c.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := canonicalRefs(need("personId", &c.PersonID), need("openedById", &c.OpenedByID)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := caseRowOf(c)
	if err := insert(t.g, t.tenant, "offboarding_cases", r).Error; err != nil {
		return dbError(op, err)
	}
	r.storedIn(t.tenant, c)
	return nil
}

// UpdateCase implements domain.Tx. It writes the dates, note, state and
// completion time; PersonID, OpenedByID and OpenedAt are never changed.
func (t *txn) UpdateCase(c *domain.OffboardingCase) error {
	const op = "update off-boarding case"
	if c == nil {
		return errors.New(op + ": nil case")
	}
	r := caseRowOf(c)
	if err := t.update(op, "offboarding_cases", c.ID, c.Version, r.updates()); err != nil {
		return err
	}
	c.TenantID, c.LastDay, c.DueDate, c.CompletedAt = t.tenant, r.LastDay.Time, r.DueDate.Time, timePtr(r.CompletedAt)
	return nil
}

// GetCase implements domain.Tx.
func (t *txn) GetCase(id string) (*domain.OffboardingCase, error) {
	var r caseRow
	if err := t.getByID("get off-boarding case", "offboarding_cases", id, &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// GetCases implements domain.Tx.
func (t *txn) GetCases(ids []string) ([]*domain.OffboardingCase, error) {
	rows, err := getByIDs[caseRow](t, "get off-boarding cases", "offboarding_cases", ids)
	return mapRows(rows, (*caseRow).domain), err
}

// LockCase implements domain.Tx with SELECT ... FOR UPDATE on Postgres (see
// locking); call it in an Update transaction.
func (t *txn) LockCase(id string) (*domain.OffboardingCase, error) {
	c, ok := canonicalID(id)
	if !ok {
		return nil, domain.ErrNotFound
	}
	return t.lockCase("lock off-boarding case", "offboarding_cases.id = ?", c)
}

// LockOpenCaseOf implements domain.Tx through the unique index of open
// cases. On Postgres, should a concurrent transaction complete the case
// while this one waits for its lock, the completed row no longer matches
// and the result is ErrNotFound.
func (t *txn) LockOpenCaseOf(personID string) (*domain.OffboardingCase, error) {
	id, ok := canonicalID(personID)
	if !ok {
		return nil, domain.ErrNotFound
	}
	return t.lockCase("lock open off-boarding case", "offboarding_cases.person_id = ? AND offboarding_cases.state = ?",
		id, string(domain.CaseOpen))
}

// ListCases implements domain.Tx. DueBefore and DueFrom compare calendar
// dates: only their date counts, as for stored dates.
func (t *txn) ListCases(f domain.CaseFilter, p domain.PageRequest) ([]*domain.OffboardingCase, error) {
	q := t.scoped("offboarding_cases")
	if f.State != "" {
		q = q.Where("offboarding_cases.state = ?", string(f.State))
	}
	if f.PersonID != "" {
		id, ok := canonicalID(f.PersonID)
		if !ok {
			return nil, nil // no case can be for a non-id
		}
		q = q.Where("offboarding_cases.person_id = ?", id)
	}
	if f.DueBefore != nil {
		q = q.Where("offboarding_cases.due_date < ?", newDate(*f.DueBefore))
	}
	if f.DueFrom != nil {
		q = q.Where("offboarding_cases.due_date >= ?", newDate(*f.DueFrom))
	}
	q, err := page(q, "offboarding_cases", p)
	if err != nil {
		return nil, err
	}
	var rows []caseRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("list off-boarding cases", err)
	}
	return mapRows(rows, (*caseRow).domain), nil
}

// PutCaseItem implements domain.Tx: one INSERT ... ON CONFLICT DO UPDATE on
// the item's key (tenant_id, case_id, asset_id), which replaces every other
// column. A case, asset, return, event or member the tenant does not have
// gives ErrNotFound (foreign keys), as does a return counted toward another
// case. it is left as stored.
func (t *txn) PutCaseItem(it *domain.CaseItem) error {
	const op = "put off-boarding case item"
	if it == nil {
		return errors.New(op + ": nil item")
	}
	err := canonicalRefs(need("caseId", &it.CaseID), need("assetId", &it.AssetID),
		opt("returnId", &it.ReturnID), opt("eventId", &it.EventID), opt("resolvedById", &it.ResolvedByID))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := caseItemRowOf(it)
	upsert := clause.OnConflict{
		Columns:   []clause.Column{{Name: "tenant_id"}, {Name: "case_id"}, {Name: "asset_id"}},
		DoUpdates: clause.AssignmentColumns(caseItemColumns),
	}
	if err := insert(t.g.Clauses(upsert), t.tenant, "offboarding_case_items", r).Error; err != nil {
		return dbError(op, err)
	}
	it.TenantID, it.AddedAt, it.ResolvedAt = t.tenant, r.AddedAt.Time, timePtr(r.ResolvedAt)
	return nil
}

// ListCaseItems implements domain.Tx: one statement over the items' primary
// key, whatever the number of cases.
func (t *txn) ListCaseItems(caseIDs []string) ([]*domain.CaseItem, error) {
	ids := canonicalIDs(caseIDs)
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []caseItemRow
	err := t.scoped("offboarding_case_items").Where("offboarding_case_items.case_id IN ?", ids).
		Order("offboarding_case_items.case_id, offboarding_case_items.added_at, offboarding_case_items.asset_id").
		Find(&rows).Error
	if err != nil {
		return nil, dbError("list off-boarding case items", err)
	}
	return mapRows(rows, (*caseItemRow).domain), nil
}

// CreateReturn implements domain.Tx. The table refuses a return whose
// Unmatched disagrees with its CaseID (unmatched means no case). r is left
// as stored.
func (t *txn) CreateReturn(r *domain.Return) error {
	const op = "create return"
	if r == nil {
		return errors.New(op + ": nil return")
	}
	if err := newRecordID(&r.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err := canonicalRefs(need("assetId", &r.AssetID), need("eventId", &r.EventID),
		need("fromPersonId", &r.FromPersonID), need("receivedById", &r.ReceivedByID),
		opt("signatureId", &r.SignatureID), opt("parcelId", &r.ParcelID), opt("caseId", &r.CaseID))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	row := returnRowOf(r)
	if err := insert(t.g, t.tenant, "asset_returns", row).Error; err != nil {
		return dbError(op, err)
	}
	r.TenantID, r.RecordedAt, r.DeviceTime = t.tenant, row.RecordedAt.Time, timePtr(row.DeviceTime)
	return nil
}

// GetReturns implements domain.Tx.
func (t *txn) GetReturns(ids []string) ([]*domain.Return, error) {
	rows, err := getByIDs[returnRow](t, "get returns", "asset_returns", ids)
	return mapRows(rows, (*returnRow).domain), err
}

// ListReturns implements domain.Tx. UnmatchedOnly is written as the bare
// column so that both dialects use the partial index asset_returns_unmatched_idx
// (whose WHERE it repeats).
func (t *txn) ListReturns(f domain.ReturnFilter, p domain.PageRequest) ([]*domain.Return, error) {
	q := t.scoped("asset_returns")
	for _, filter := range []struct{ id, column string }{
		{f.CaseID, "asset_returns.case_id"}, {f.AssetID, "asset_returns.asset_id"},
	} {
		if filter.id == "" {
			continue
		}
		id, ok := canonicalID(filter.id)
		if !ok {
			return nil, nil // no return can name a non-id
		}
		q = q.Where(filter.column+" = ?", id)
	}
	if f.UnmatchedOnly {
		q = q.Where("asset_returns.unmatched")
	}
	q, err := page(q, "asset_returns", p)
	if err != nil {
		return nil, err
	}
	var rows []returnRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("list returns", err)
	}
	return mapRows(rows, (*returnRow).domain), nil
}
