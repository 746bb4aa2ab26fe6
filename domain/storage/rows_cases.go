package storage

import (
	"time"

	"github.com/custody-dev/custody/domain"
)

// Rows of the off-boarding tables (migrations 00003), like those of rows.go.

// newDate returns the calendar date of t (in t's own location) as stored:
// a stamp at midnight UTC, which the tables' CHECKs require.
func newDate(t time.Time) stamp {
	return newStamp(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC))
}

type caseRow struct {
	TenantID    string `gorm:"column:tenant_id;primaryKey"`
	ID          string `gorm:"column:id;primaryKey"`
	PersonID    string `gorm:"column:person_id"`
	LastDay     stamp  `gorm:"column:last_day"`
	DueDate     stamp  `gorm:"column:due_date"`
	Note        string `gorm:"column:note"`
	State       string `gorm:"column:state"`
	OpenedByID  string `gorm:"column:opened_by_id"`
	OpenedAt    stamp  `gorm:"column:opened_at"`
	CompletedAt *stamp `gorm:"column:completed_at"`
	Version     int    `gorm:"column:version"`
}

func caseRowOf(c *domain.OffboardingCase) *caseRow {
	return &caseRow{ID: c.ID, PersonID: c.PersonID, LastDay: newDate(c.LastDay), DueDate: newDate(c.DueDate),
		Note: c.Note, State: string(c.State), OpenedByID: c.OpenedByID, OpenedAt: newStamp(c.OpenedAt),
		CompletedAt: optStamp(c.CompletedAt), Version: c.Version}
}

func (r *caseRow) domain() *domain.OffboardingCase {
	return &domain.OffboardingCase{ID: r.ID, TenantID: r.TenantID, PersonID: r.PersonID, LastDay: r.LastDay.Time,
		DueDate: r.DueDate.Time, Note: r.Note, State: domain.CaseState(r.State), OpenedByID: r.OpenedByID,
		OpenedAt: r.OpenedAt.Time, CompletedAt: timePtr(r.CompletedAt), Version: r.Version}
}

// updates returns the columns an optimistic update writes. Who the case is
// for, who opened it and when are facts of its creation and never change.
func (r *caseRow) updates() map[string]any {
	return map[string]any{"last_day": r.LastDay, "due_date": r.DueDate, "note": r.Note, "state": r.State,
		"completed_at": r.CompletedAt, "version": r.Version}
}

// storedIn writes back to c what the row stores: its tenant, its dates at
// midnight UTC and its times at microsecond precision.
func (r *caseRow) storedIn(tenant string, c *domain.OffboardingCase) {
	c.TenantID, c.LastDay, c.DueDate = tenant, r.LastDay.Time, r.DueDate.Time
	c.OpenedAt, c.CompletedAt = r.OpenedAt.Time, timePtr(r.CompletedAt)
}

type caseItemRow struct {
	TenantID       string  `gorm:"column:tenant_id;primaryKey"`
	CaseID         string  `gorm:"column:case_id;primaryKey"`
	AssetID        string  `gorm:"column:asset_id;primaryKey"`
	Expected       bool    `gorm:"column:expected"`
	Status         string  `gorm:"column:status"`
	AddedAt        stamp   `gorm:"column:added_at"`
	ReturnID       *string `gorm:"column:return_id"`
	WriteOff       *string `gorm:"column:write_off"`
	WriteOffReason string  `gorm:"column:write_off_reason"`
	ApprovedBy     string  `gorm:"column:approved_by"`
	EventID        *string `gorm:"column:event_id"`
	ResolvedAt     *stamp  `gorm:"column:resolved_at"`
	ResolvedByID   *string `gorm:"column:resolved_by_id"`
}

// caseItemColumns are the columns PutCaseItem replaces when the item exists:
// all but the key.
var caseItemColumns = []string{"expected", "status", "added_at", "return_id", "write_off", "write_off_reason",
	"approved_by", "event_id", "resolved_at", "resolved_by_id"}

func caseItemRowOf(it *domain.CaseItem) *caseItemRow {
	return &caseItemRow{CaseID: it.CaseID, AssetID: it.AssetID, Expected: it.Expected, Status: string(it.Status),
		AddedAt: newStamp(it.AddedAt), ReturnID: null(it.ReturnID), WriteOff: null(string(it.WriteOff)),
		WriteOffReason: it.WriteOffReason, ApprovedBy: it.ApprovedBy, EventID: null(it.EventID),
		ResolvedAt: optStamp(it.ResolvedAt), ResolvedByID: null(it.ResolvedByID)}
}

func (r *caseItemRow) domain() *domain.CaseItem {
	return &domain.CaseItem{TenantID: r.TenantID, CaseID: r.CaseID, AssetID: r.AssetID, Expected: r.Expected,
		Status: domain.CaseItemStatus(r.Status), AddedAt: r.AddedAt.Time, ReturnID: str(r.ReturnID),
		WriteOff: domain.WriteOffKind(str(r.WriteOff)), WriteOffReason: r.WriteOffReason, ApprovedBy: r.ApprovedBy,
		EventID: str(r.EventID), ResolvedAt: timePtr(r.ResolvedAt), ResolvedByID: str(r.ResolvedByID)}
}

type returnRow struct {
	TenantID     string  `gorm:"column:tenant_id;primaryKey"`
	ID           string  `gorm:"column:id;primaryKey"`
	AssetID      string  `gorm:"column:asset_id"`
	EventID      string  `gorm:"column:event_id"`
	FromPersonID string  `gorm:"column:from_person_id"`
	ReceivedByID string  `gorm:"column:received_by_id"`
	Location     string  `gorm:"column:location"`
	Condition    string  `gorm:"column:condition"`
	Note         string  `gorm:"column:note"`
	SignatureID  *string `gorm:"column:signature_id"`
	ParcelID     *string `gorm:"column:parcel_id"`
	CaseID       *string `gorm:"column:case_id"`
	Unmatched    bool    `gorm:"column:unmatched"`
	DeviceTime   *stamp  `gorm:"column:device_time"`
	RecordedAt   stamp   `gorm:"column:recorded_at"`
}

func returnRowOf(r *domain.Return) *returnRow {
	return &returnRow{ID: r.ID, AssetID: r.AssetID, EventID: r.EventID, FromPersonID: r.FromPersonID,
		ReceivedByID: r.ReceivedByID, Location: r.Location, Condition: string(r.Condition), Note: r.Note,
		SignatureID: null(r.SignatureID), ParcelID: null(r.ParcelID), CaseID: null(r.CaseID), Unmatched: r.Unmatched,
		DeviceTime: optStamp(r.DeviceTime), RecordedAt: newStamp(r.RecordedAt)}
}

func (r *returnRow) domain() *domain.Return {
	return &domain.Return{ID: r.ID, TenantID: r.TenantID, AssetID: r.AssetID, EventID: r.EventID,
		FromPersonID: r.FromPersonID, ReceivedByID: r.ReceivedByID, Location: r.Location,
		Condition: domain.ReturnCondition(r.Condition), Note: r.Note, SignatureID: str(r.SignatureID),
		ParcelID: str(r.ParcelID), CaseID: str(r.CaseID), Unmatched: r.Unmatched, DeviceTime: timePtr(r.DeviceTime),
		RecordedAt: r.RecordedAt.Time}
}

func (r *caseRow) setTenant(t string)     { r.TenantID = t }
func (r *caseItemRow) setTenant(t string) { r.TenantID = t }
func (r *returnRow) setTenant(t string)   { r.TenantID = t }
