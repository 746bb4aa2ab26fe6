package domain

import "time"

// PickupState is where a pickup order stands.
type PickupState string

// Pickup order states. An order is OPEN while IT stages assets onto it and
// counts them; the dock pickup, the vendor's receipt, the certificate and
// the ITAM write-back move it on (later states come with those steps).
const (
	PickupOpen PickupState = "OPEN"
)

// PickupOrder is a planned collection of retired assets by one ITAD vendor.
// Its lines are the manifest: the assets staged onto it.
type PickupOrder struct {
	ID       string
	TenantID string
	VendorID string
	// ScheduledOn is the calendar date the vendor is expected (midnight UTC).
	ScheduledOn time.Time
	State       PickupState
	Note        string
	CreatedByID string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int
}

// LineStatus is where one manifest line stands.
type LineStatus string

// Manifest line statuses.
const (
	// LineStaged: on the order, waiting for the pickup.
	LineStaged LineStatus = "STAGED"
	// LineRemoved: taken off the order; the asset is RETIRED again.
	LineRemoved LineStatus = "REMOVED"
)

// PickupLine is one asset on a pickup order's manifest, with the identifiers
// and description a vendor needs, copied when it was staged: the vendor works
// from the manifest and never reads the asset record itself.
type PickupLine struct {
	TenantID   string
	OrderID    string
	AssetID    string
	Serial     string
	AssetTag   string
	Make       string
	Model      string
	Category   AssetCategory
	BearsData  bool
	Status     LineStatus
	StagedAt   time.Time
	StagedByID string
}

// ScanPhase says when a manifest was scanned.
type ScanPhase string

// Scan phases.
const (
	// PhaseCount: IT's physical count of the staged assets before the pickup.
	PhaseCount ScanPhase = "COUNT"
)

// ScanResult is how a scan compares with the manifest.
type ScanResult string

// Scan results.
const (
	// ScanMatched: serial and tag (whichever were scanned) name one line, and
	// the model, if scanned, agrees.
	ScanMatched ScanResult = "MATCHED"
	// ScanUnexpected: nothing scanned is on the manifest.
	ScanUnexpected ScanResult = "UNEXPECTED"
	// ScanSubstituted: the serial names one line and the tag another (or no
	// line), or the reverse, or the model differs from the line's.
	ScanSubstituted ScanResult = "SUBSTITUTED"
	// ScanDuplicate: the line was already matched in this phase.
	ScanDuplicate ScanResult = "DUPLICATE"
)

// PickupScan is one scan of an item against an order's manifest.
type PickupScan struct {
	ID       string
	TenantID string
	OrderID  string
	Phase    ScanPhase
	// Serial, AssetTag and Model are as scanned (identifiers normalised).
	Serial   string
	AssetTag string
	Model    string
	Result   ScanResult
	// LineAssetID is the manifest line the scan matched or was taken for.
	LineAssetID string
	// Detail says what differs, for a substitution.
	Detail      string
	ScannedByID string
	ScannedAt   time.Time
	DeviceTime  *time.Time
}

// PickupFilter narrows ListPickupOrders.
type PickupFilter struct {
	VendorID string
	State    PickupState
}
