package domain

import "time"

// PickupState is where a pickup order stands.
type PickupState string

// Pickup order states, in order. An order is OPEN while IT stages assets
// onto it, counts them and the vendor scans them out at the dock; the
// confirmed pickup, the vendor's receipt, the certificate and the ITAM
// write-back move it on.
const (
	PickupOpen PickupState = "OPEN"
	// PickupPickedUp: confirmed at the dock with both signatures; the
	// scanned assets are in the vendor's custody.
	PickupPickedUp PickupState = "PICKED_UP"
	// PickupReceived: the vendor confirmed receipt at its facility.
	PickupReceived PickupState = "RECEIVED"
	// PickupCertified: the vendor issued the certificate of sanitization
	// and destruction.
	PickupCertified PickupState = "CERTIFIED"
	// PickupClosed: every certified asset was written back to ITAM (CLOSED),
	// or nothing arrived at the vendor (every line lost on the way).
	PickupClosed PickupState = "CLOSED"
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
	// PickedUpAt, ReceivedAt, CertifiedAt and ClosedAt are set when the
	// order reaches the state of that name.
	PickedUpAt  *time.Time
	ReceivedAt  *time.Time
	CertifiedAt *time.Time
	ClosedAt    *time.Time
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
	// LinePickedUp: scanned out at the dock and confirmed; the vendor holds it.
	LinePickedUp LineStatus = "PICKED_UP"
	// LineReceived: received at the vendor's facility; sanitization and an
	// outcome follow (Outcome set once processed).
	LineReceived LineStatus = "RECEIVED"
	// LineLost: missing at the dock or at receipt and resolved as lost; the
	// asset is LOST.
	LineLost LineStatus = "LOST"
	// LineWrittenBack: its disposition was written back to ITAM; the asset
	// is CLOSED.
	LineWrittenBack LineStatus = "WRITTEN_BACK"
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
	// StatusReason says why a line was REMOVED or LOST (the resolution's reason).
	StatusReason string
	// Outcome is what became of the asset at the vendor; nil until recorded.
	Outcome *Outcome
	// WrittenBackAt and WrittenBackByID record the ITAM write-back.
	WrittenBackAt   *time.Time
	WrittenBackByID string
}

// ScanPhase says when a manifest was scanned.
type ScanPhase string

// Scan phases.
const (
	// PhaseCount: IT's physical count of the staged assets before the pickup.
	PhaseCount ScanPhase = "COUNT"
	// PhasePickup: the vendor's technician scans each item as it leaves the
	// dock, against the STAGED lines.
	PhasePickup ScanPhase = "PICKUP"
	// PhaseReceipt: the vendor scans what arrived at its facility, against
	// the PICKED_UP lines.
	PhaseReceipt ScanPhase = "RECEIPT"
)

// Valid reports whether p is a known phase.
func (p ScanPhase) Valid() bool { return p == PhaseCount || p == PhasePickup || p == PhaseReceipt }

// ExpectedLineStatus is the status of the lines a phase's scans are compared with.
func (p ScanPhase) ExpectedLineStatus() LineStatus {
	if p == PhaseReceipt {
		return LinePickedUp
	}
	return LineStaged
}

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
