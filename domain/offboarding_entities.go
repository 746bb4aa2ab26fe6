package domain

import "time"

// CaseState is the stored state of an off-boarding case. Whether an open case
// is overdue depends on the clock, so it is derived (Status), never stored.
type CaseState string

// Case states.
const (
	CaseOpen      CaseState = "OPEN"
	CaseCompleted CaseState = "COMPLETED"
)

// CaseStatus is what a case shows: open, overdue (open past its due date) or
// completed.
type CaseStatus string

// Case statuses.
const (
	CaseStatusOpen      CaseStatus = "OPEN"
	CaseStatusOverdue   CaseStatus = "OVERDUE"
	CaseStatusCompleted CaseStatus = "COMPLETED"
)

// OffboardingCase tracks the equipment a departing employee must give back.
// Its items are what the custody record says the person held when it was
// opened, plus anything handed to them while it is open, plus whatever came
// back from them unexpected.
type OffboardingCase struct {
	ID       string
	TenantID string
	PersonID string
	// LastDay and DueDate are calendar dates, stored as midnight UTC.
	LastDay     time.Time
	DueDate     time.Time
	Note        string
	State       CaseState
	OpenedByID  string
	OpenedAt    time.Time
	CompletedAt *time.Time
	Version     int
}

// Status returns the case's status at now: an open case is overdue once its
// due date has passed (the whole due day counts, in UTC).
func (c *OffboardingCase) Status(now time.Time) CaseStatus {
	switch {
	case c.State == CaseCompleted:
		return CaseStatusCompleted
	case !now.Before(c.DueDate.AddDate(0, 0, 1)):
		return CaseStatusOverdue
	default:
		return CaseStatusOpen
	}
}

// CaseItemStatus says where one item of a case stands.
type CaseItemStatus string

// Case item statuses.
const (
	ItemOutstanding CaseItemStatus = "OUTSTANDING"
	ItemReturned    CaseItemStatus = "RETURNED"
	ItemWrittenOff  CaseItemStatus = "WRITTEN_OFF"
)

// WriteOffKind says why an outstanding item no longer blocks its case.
type WriteOffKind string

// Write-off kinds.
const (
	// WriteOffLost: the item is gone; the asset becomes LOST.
	WriteOffLost WriteOffKind = "LOST"
	// WriteOffKept: the employee keeps it with someone's approval; the
	// asset stays DEPLOYED to them.
	WriteOffKept WriteOffKind = "KEPT_WITH_APPROVAL"
)

// Valid reports whether k is a known kind.
func (k WriteOffKind) Valid() bool { return k == WriteOffLost || k == WriteOffKept }

// CaseItem is one asset of a case.
type CaseItem struct {
	TenantID string
	CaseID   string
	AssetID  string
	// Expected is false for an item that came back without being expected
	// (the person was not recorded as holding it).
	Expected bool
	Status   CaseItemStatus
	AddedAt  time.Time
	// ReturnID is the return that brought the item back (status RETURNED).
	ReturnID string
	// WriteOff, WriteOffReason and ApprovedBy are set when WRITTEN_OFF;
	// ApprovedBy names who approved a KEPT_WITH_APPROVAL write-off.
	WriteOff       WriteOffKind
	WriteOffReason string
	ApprovedBy     string
	// EventID is the custody event that resolved the item (return or write-off).
	EventID      string
	ResolvedAt   *time.Time
	ResolvedByID string
}

// ReturnCondition is the state an asset came back in.
type ReturnCondition string

// Return conditions.
const (
	ConditionGood       ReturnCondition = "GOOD"
	ConditionWorn       ReturnCondition = "WORN"
	ConditionDamaged    ReturnCondition = "DAMAGED"
	ConditionIncomplete ReturnCondition = "INCOMPLETE"
	ConditionNotWorking ReturnCondition = "NOT_WORKING"
)

// Valid reports whether c is a known condition.
func (c ReturnCondition) Valid() bool {
	switch c {
	case ConditionGood, ConditionWorn, ConditionDamaged, ConditionIncomplete, ConditionNotWorking:
		return true
	}
	return false
}

// Return is an asset scanned back into custody: received from a person, at a
// place and time, by a member. It is recorded whether or not an off-boarding
// case expected it; one that matched no open case is flagged.
type Return struct {
	ID       string
	TenantID string
	AssetID  string
	// EventID is the RETURN_RECEIVED custody event (the receipt's subject).
	EventID string
	// FromPersonID is who gave it back (by default the recorded holder).
	FromPersonID string
	ReceivedByID string
	Location     string
	Condition    ReturnCondition
	Note         string
	// SignatureID is the returning person's signature, if captured.
	SignatureID string
	// ParcelID is the return parcel it arrived in (remote employees).
	ParcelID string
	// CaseID is the open case it counted toward; empty when none matched.
	CaseID string
	// Unmatched is true when no open off-boarding case expected a return
	// from this person: recorded all the same, flagged for follow-up.
	Unmatched  bool
	DeviceTime *time.Time
	RecordedAt time.Time
}

// CaseFilter narrows ListCases.
type CaseFilter struct {
	State    CaseState
	PersonID string
	// DueBefore keeps only cases due strictly before this date (with State
	// CaseOpen: the overdue ones).
	DueBefore *time.Time
	// DueFrom keeps only cases due on or after this date (with State
	// CaseOpen: the open ones not yet overdue).
	DueFrom *time.Time
}

// ReturnFilter narrows ListReturns.
type ReturnFilter struct {
	CaseID        string
	AssetID       string
	UnmatchedOnly bool
}
