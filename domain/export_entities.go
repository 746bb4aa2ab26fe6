package domain

import "time"

// ExportKind names what an export holds, one row per record of its kind.
type ExportKind string

// Export kinds.
const (
	// ExportCustodyLog is the full custody log: one row per event, in log
	// order.
	ExportCustodyLog ExportKind = "CUSTODY_LOG"
	// ExportHandOffs is the hand-off log: one row per signed hand-off
	// (HANDED_OFF event), with the signature's evidence.
	ExportHandOffs ExportKind = "HANDOFFS"
	// ExportAssets is the asset register as it stands: one row per asset.
	ExportAssets ExportKind = "ASSETS"
	// ExportOffboarding is the off-boarding cases with their items: one row
	// per item (a case without items has one row with no asset).
	ExportOffboarding ExportKind = "OFFBOARDING"
	// ExportCertificates is the certificates of sanitization with their
	// serial lines: one row per certified asset.
	ExportCertificates ExportKind = "CERTIFICATES"
)

// AllExportKinds lists every export kind, for validation and documentation.
var AllExportKinds = []ExportKind{ExportCustodyLog, ExportHandOffs, ExportAssets, ExportOffboarding, ExportCertificates}

// ExportProfile names the column set of an export: Custody's own, or the
// shape another system imports.
type ExportProfile string

// Export profiles.
const (
	// ProfileDefault is Custody's own columns, every kind.
	ProfileDefault ExportProfile = "DEFAULT"
	// ProfileServiceNow is a ServiceNow hardware-asset (alm_hardware)
	// import: the asset register, or hand-offs as assignments.
	ProfileServiceNow ExportProfile = "SERVICENOW"
	// ProfileSuccessFactors is an SAP SuccessFactors employee equipment
	// return: off-boarding items.
	ProfileSuccessFactors ExportProfile = "SUCCESSFACTORS"
)

// ProfileKinds says which kinds each profile can shape.
var ProfileKinds = map[ExportProfile][]ExportKind{
	ProfileDefault:        AllExportKinds,
	ProfileServiceNow:     {ExportAssets, ExportHandOffs},
	ProfileSuccessFactors: {ExportOffboarding},
}

// EventFilter narrows the events of a log export. Every set field must
// match; From is inclusive and To exclusive (recorded time, UTC).
type EventFilter struct {
	From, To *time.Time
	// Types keeps events of these types only.
	Types []EventType
	// AssetID keeps the events of one asset.
	AssetID string
	// PersonID keeps the events whose sender or receiver of custody is this
	// person.
	PersonID string
	// Location keeps the events recorded at this location (exact match).
	Location string
}

// ExportRequest is one export: a kind, its column profile and, for the
// logs, a filter. From and To also bound the other kinds: off-boarding
// cases by when they were opened, certificates by when they were issued.
type ExportRequest struct {
	Kind    ExportKind
	Profile ExportProfile
	Filter  EventFilter
}

// ExportRow is one row of an export with the records it refers to, loaded
// in batches; which fields are set depends on the kind.
type ExportRow struct {
	// Event is the row's event (CUSTODY_LOG, HANDOFFS).
	Event *CustodyEvent
	// Asset is the row's asset, if any.
	Asset *Asset
	// Person is the person the row concerns: the asset's holder (ASSETS),
	// the event's person custodian (the receiver, else the sender), the
	// departing employee (OFFBOARDING).
	Person *Person
	// Actor is the member who recorded the event.
	Actor *Member
	// Signature is a hand-off's signature.
	Signature *Signature
	// Case and Item are an off-boarding case and one of its items (Item is
	// nil for a case without items).
	Case *OffboardingCase
	Item *CaseItem
	// Certificate, Line and Sanitization are one certified asset; Order
	// and VendorName say where it went.
	Certificate  *Certificate
	Order        *PickupOrder
	VendorName   string
	Line         *PickupLine
	Sanitization *SanitizationRecord
}
