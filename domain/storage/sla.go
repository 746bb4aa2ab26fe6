package storage

import (
	"errors"
	"fmt"
	"time"

	"github.com/custody-dev/custody/domain"
	"gorm.io/gorm/clause"
)

// Time-bound triggers: the tenant's SLA policy, the breaches it raises and
// the clock of assets in a state (migrations 00007).

// GetSLAPolicy implements domain.Tx: the tenant's one row (its key is the
// tenant).
func (t *txn) GetSLAPolicy() (*domain.SLAPolicy, error) {
	var r slaPolicyRow
	if err := t.getOne("get SLA policy", "sla_policies", &r, "sla_policies.tenant_id = ?", t.tenant); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// PutSLAPolicy implements domain.Tx. Version 1 inserts; the insert does
// nothing when the tenant already has a policy (another first write won,
// perhaps concurrently: on Postgres it waits for that transaction on the
// primary key), which is ErrConcurrentModification, as is a later version
// whose predecessor is not the stored one. Days outside 1..3650 are refused
// by the table. p is left as stored.
func (t *txn) PutSLAPolicy(p *domain.SLAPolicy) error {
	const op = "put SLA policy"
	if p == nil {
		return errors.New(op + ": nil policy")
	}
	if p.Version < 1 {
		return fmt.Errorf("%s: version %d: the first version is 1", op, p.Version)
	}
	if err := canonicalRefs(need("updatedById", &p.UpdatedByID)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r := slaPolicyRowOf(p)
	if p.Version == 1 {
		res := insert(t.g.Clauses(clause.OnConflict{DoNothing: true}), t.tenant, "sla_policies", r)
		if res.Error != nil {
			return dbError(op, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%s: the tenant already has a policy: %w", op, domain.ErrConcurrentModification)
		}
	} else {
		res := t.scoped("sla_policies").Where("sla_policies.version = ?", p.Version-1).Updates(r.updates())
		if res.Error != nil {
			return dbError(op, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%s: stored version is not %d: %w", op, p.Version-1, domain.ErrConcurrentModification)
		}
	}
	p.TenantID, p.UpdatedAt = t.tenant, r.UpdatedAt.Time
	return nil
}

// CreateBreach implements domain.Tx with INSERT ... ON CONFLICT DO NOTHING
// on sla_breaches_subject_key: a concurrent sweep raising the same breach
// waits on that key (Postgres) or behind the single writer (SQLite) and
// then inserts nothing, so a breach is raised once. A breach without an id
// gets one. When it inserts, b is left as stored; when not, only its
// TenantID is set, and the stored breach is the earlier one (ListBreaches).
func (t *txn) CreateBreach(b *domain.Breach) (bool, error) {
	const op = "create SLA breach"
	if b == nil {
		return false, errors.New(op + ": nil breach")
	}
	if err := newRecordID(&b.ID); err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	if err := canonicalRefs(need("subjectId", &b.SubjectID), opt("eventId", &b.EventID)); err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	r := breachRowOf(b)
	once := clause.OnConflict{
		Columns:   []clause.Column{{Name: "tenant_id"}, {Name: "subject_kind"}, {Name: "subject_id"}, {Name: "stage"}},
		DoNothing: true,
	}
	res := insert(t.g.Clauses(once), t.tenant, "sla_breaches", r)
	if res.Error != nil {
		return false, dbError(op, res.Error)
	}
	b.TenantID, b.Since, b.DueAt, b.RaisedAt = t.tenant, r.Since.Time, r.DueAt.Time, r.RaisedAt.Time
	return res.RowsAffected == 1, nil
}

// ListBreaches implements domain.Tx: by subject (with its kind) over
// sla_breaches_subject_key, by stage over sla_breaches_stage_idx (see
// scopedVia), otherwise over the primary key.
func (t *txn) ListBreaches(f domain.BreachFilter, p domain.PageRequest) ([]*domain.Breach, error) {
	q := t.scoped("sla_breaches")
	switch {
	case f.SubjectKind != "" && f.SubjectID != "":
		q = t.scopedVia("sla_breaches", "sla_breaches_subject_key")
	case f.Stage != "":
		q = t.scopedVia("sla_breaches", "sla_breaches_stage_idx")
	}
	if f.Stage != "" {
		q = q.Where("sla_breaches.stage = ?", string(f.Stage))
	}
	if f.SubjectKind != "" {
		q = q.Where("sla_breaches.subject_kind = ?", string(f.SubjectKind))
	}
	if f.SubjectID != "" {
		id, ok := canonicalID(f.SubjectID)
		if !ok {
			return nil, nil // no breach can be about a non-id
		}
		q = q.Where("sla_breaches.subject_id = ?", id)
	}
	q, err := page(q, "sla_breaches", p)
	if err != nil {
		return nil, err
	}
	var rows []breachRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("list SLA breaches", err)
	}
	return mapRows(rows, (*breachRow).domain), nil
}

// AssetsInStates implements domain.Tx: the assets of the states over
// assets_state_idx (see scopedVia: few of a tenant's assets are in the
// states a sweep asks about), each joined to its last event on that
// event's primary key for the time it entered its state. An asset with no event (none is
// written without one) counts from its last update instead. No states, no
// assets.
func (t *txn) AssetsInStates(states []domain.AssetState, enteredBefore *time.Time, p domain.PageRequest) ([]*domain.AssetClock, error) {
	if len(states) == 0 {
		return nil, nil
	}
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s)
	}
	const since = "COALESCE(custody_events.recorded_at, assets.updated_at)"
	q := t.scopedVia("assets", "assets_state_idx").
		Select("assets.id, assets.serial, assets.asset_tag, assets.state, "+since+" AS since").
		Joins("LEFT JOIN custody_events ON custody_events.tenant_id = assets.tenant_id AND "+
			"custody_events.id = assets.last_event_id").
		Where("assets.state IN ?", names)
	if enteredBefore != nil {
		q = q.Where(since+" < ?", newStamp(*enteredBefore))
	}
	q, err := page(q, "assets", p)
	if err != nil {
		return nil, err
	}
	var rows []assetClockRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("assets in states", err)
	}
	return mapRows(rows, (*assetClockRow).domain), nil
}
