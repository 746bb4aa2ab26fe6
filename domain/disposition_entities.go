package domain

import "time"

// ResolutionAction is what IT decided about a pickup discrepancy.
type ResolutionAction string

// Resolution actions.
const (
	// ResolveAccept accepts the discrepancy with a reason: a substituted
	// item counts as its line; an unexpected item that is a RETIRED asset of
	// the tenant joins the order; an unexpected item the tenant does not know
	// leaves with the vendor, noted; a duplicate is acknowledged.
	ResolveAccept ResolutionAction = "ACCEPT"
	// ResolveRemove keeps the item back: its line is taken off the order
	// (the asset is RETIRED again); an unexpected or duplicate item stays.
	ResolveRemove ResolutionAction = "REMOVE"
	// ResolveLost marks a missing line's asset LOST (line LOST).
	ResolveLost ResolutionAction = "LOST"
)

// Valid reports whether a is a known action.
func (a ResolutionAction) Valid() bool {
	return a == ResolveAccept || a == ResolveRemove || a == ResolveLost
}

// Resolution is IT's decision about one discrepancy of a pickup or receipt
// phase: a scan that did not match (ScanID set) or a line no scan matched
// (ScanID empty, AssetID the line). Written once.
type Resolution struct {
	ID       string
	TenantID string
	OrderID  string
	Phase    ScanPhase
	// ScanID is the discrepant scan; empty for a missing line.
	ScanID string
	// AssetID is the line the resolution is about: the missing line, or the
	// line a scan was taken for (empty for an unexpected item the tenant
	// does not know).
	AssetID      string
	Action       ResolutionAction
	Reason       string
	ResolvedByID string
	ResolvedAt   time.Time
}

// SignerRole says on whose behalf a pickup confirmation was signed.
type SignerRole string

// Signer roles of a pickup confirmation.
const (
	// SignerTechnician: the vendor's technician who took the assets.
	SignerTechnician SignerRole = "TECHNICIAN"
	// SignerStaff: the tenant's staff member who released them.
	SignerStaff SignerRole = "STAFF"
)

// PickupSignature is one of the two signatures that confirm a pickup: the
// signer is a member (the vendor's technician or the tenant's staff), not
// an employee, so it is kept apart from hand-off signatures.
type PickupSignature struct {
	Signature
	OrderID string
	Role    SignerRole
	// SignerMemberID is the member who signed.
	SignerMemberID string
}

// SanitizationMethod is a NIST SP 800-88 Rev. 2 sanitization category.
type SanitizationMethod string

// NIST SP 800-88 sanitization methods.
const (
	SanitizeClear   SanitizationMethod = "CLEAR"
	SanitizePurge   SanitizationMethod = "PURGE"
	SanitizeDestroy SanitizationMethod = "DESTROY"
)

// Valid reports whether m is a known method.
func (m SanitizationMethod) Valid() bool {
	return m == SanitizeClear || m == SanitizePurge || m == SanitizeDestroy
}

// Title is the method as NIST SP 800-88 spells it (Clear, Purge, Destroy),
// for documents people read.
func (m SanitizationMethod) Title() string {
	switch m {
	case SanitizeClear:
		return "Clear"
	case SanitizePurge:
		return "Purge"
	case SanitizeDestroy:
		return "Destroy"
	}
	return string(m)
}

// VerificationResult is the outcome of verifying a sanitization.
type VerificationResult string

// Verification results.
const (
	VerificationPassed VerificationResult = "PASSED"
	VerificationFailed VerificationResult = "FAILED"
)

// SanitizationRecord is the vendor's record, per serial, of how one asset's
// media were sanitized (NIST SP 800-88 Rev. 2): the method, the technique
// and tool, the verification, the technician's attestation and a second
// person's validation. One per asset and order, written once.
type SanitizationRecord struct {
	TenantID string
	OrderID  string
	AssetID  string
	Method   SanitizationMethod
	// Technique is what was done (e.g. "ATA Sanitize Block Erase",
	// "cryptographic erase", "shred to 2 mm").
	Technique   string
	Tool        string
	ToolVersion string
	// VerificationMethod says how the result was checked (e.g. "full read-back", "visual inspection").
	VerificationMethod string
	VerificationResult VerificationResult
	PerformedAt        time.Time
	// TechnicianName attested the sanitization at AttestedAt.
	TechnicianName string
	AttestedAt     time.Time
	// ValidatorName, a second person, validated it at ValidatedAt.
	ValidatorName string
	ValidatedAt   time.Time
	RecordedByID  string
	RecordedAt    time.Time
	// EventID is the custody event (SANITIZED or DESTROYED) it produced.
	EventID string
}

// OutcomeKind is what finally became of an asset at the vendor.
type OutcomeKind string

// Disposition outcomes.
const (
	// OutcomeReused: reused (redeployed or donated) as is.
	OutcomeReused OutcomeKind = "REUSED"
	// OutcomeRemarketed: sold on the domestic market (buyer named).
	OutcomeRemarketed OutcomeKind = "REMARKETED"
	// OutcomeExported: sold abroad (buyer and country named).
	OutcomeExported OutcomeKind = "EXPORTED"
	// OutcomeRecycled: recycled by a named downstream vendor with its certification.
	OutcomeRecycled OutcomeKind = "RECYCLED"
	// OutcomeDestroyed: physically destroyed.
	OutcomeDestroyed OutcomeKind = "DESTROYED"
)

// Valid reports whether k is a known outcome.
func (k OutcomeKind) Valid() bool {
	switch k {
	case OutcomeReused, OutcomeRemarketed, OutcomeExported, OutcomeRecycled, OutcomeDestroyed:
		return true
	}
	return false
}

// Outcome is what became of one asset at the vendor (kept on its line).
type Outcome struct {
	Kind OutcomeKind
	// Buyer and BuyerCountry (ISO 3166 alpha-2) name who bought a
	// remarketed or exported asset.
	Buyer        string
	BuyerCountry string
	// DownstreamVendor and DownstreamCertification name the recycler.
	DownstreamVendor        string
	DownstreamCertification string
	Note                    string
	RecordedAt              time.Time
	RecordedByID            string
}

// Certificate is a vendor's certificate of sanitization and destruction for
// one pickup order: every processed line with its method and outcome. Its
// Digest (SHA-256 of the canonical certificate document) is sealed in the
// tenant's custody log by the CERTIFICATE_ISSUED event EventID.
type Certificate struct {
	ID       string
	TenantID string
	OrderID  string
	VendorID string
	// Number is the certificate's human reference, unique in the tenant.
	Number     string
	IssuedAt   time.Time
	IssuedByID string
	// Digest is the hex SHA-256 of the canonical certificate document.
	Digest  string
	EventID string
	// Document is the canonical certificate document as issued (the JSON
	// that Digest hashes): the certificate states the records of its issue
	// day, whatever changed since (a vendor's certifications, a name). It
	// can be large (a line per asset), so only GetCertificate loads it;
	// certificates read in bulk leave it nil.
	Document []byte
}

// SLAStage is one time-bound step of the disposition and off-boarding
// processes, with a per-tenant window in days.
type SLAStage string

// SLA stages.
const (
	// StageRetiredToStaged: a RETIRED asset must be staged on a pickup order.
	StageRetiredToStaged SLAStage = "RETIRED_TO_STAGED"
	// StageStagedToPickedUp: an order's staged assets must be picked up.
	StageStagedToPickedUp SLAStage = "STAGED_TO_PICKED_UP"
	// StagePickedUpToCertificate: a picked-up order must be certified.
	StagePickedUpToCertificate SLAStage = "PICKED_UP_TO_CERTIFICATE"
	// StageCertificateToWriteBack: a certified order must be written back to ITAM.
	StageCertificateToWriteBack SLAStage = "CERTIFICATE_TO_WRITE_BACK"
	// StageOffboardingDue: an off-boarding case must complete by its due date.
	StageOffboardingDue SLAStage = "OFFBOARDING_DUE"
)

// AllSLAStages lists every stage in process order.
var AllSLAStages = []SLAStage{StageRetiredToStaged, StageStagedToPickedUp, StagePickedUpToCertificate,
	StageCertificateToWriteBack, StageOffboardingDue}

// SubjectKind names the kind of record a breach or a reconciliation line is about.
type SubjectKind string

// Subject kinds.
const (
	SubjectAsset       SubjectKind = "ASSET"
	SubjectPickupOrder SubjectKind = "PICKUP_ORDER"
	SubjectCase        SubjectKind = "OFFBOARDING_CASE"
)

// SLAPolicy is a tenant's time-bound triggers, in days.
type SLAPolicy struct {
	TenantID                   string
	RetiredToStagedDays        int
	StagedToPickedUpDays       int
	PickedUpToCertificateDays  int
	CertificateToWriteBackDays int
	// OffboardingDueDays is the default due date of an off-boarding case,
	// in days after the person's last day; a case still open after its due
	// date breaches StageOffboardingDue.
	OffboardingDueDays int
	UpdatedAt          time.Time
	UpdatedByID        string
	Version            int
}

// DefaultSLAPolicy is the policy of a tenant that never set one.
var DefaultSLAPolicy = SLAPolicy{RetiredToStagedDays: 30, StagedToPickedUpDays: 14,
	PickedUpToCertificateDays: 30, CertificateToWriteBackDays: 7, OffboardingDueDays: 7}

// Breach records that one record overstayed one stage's window. Raised at
// most once per (subject, stage).
type Breach struct {
	ID          string
	TenantID    string
	Stage       SLAStage
	SubjectKind SubjectKind
	SubjectID   string
	// Since is when the subject entered the stage; DueAt when it should
	// have left it.
	Since    time.Time
	DueAt    time.Time
	RaisedAt time.Time
	// EventID is the SLA_BREACHED custody event that announced it.
	EventID string
}

// BreachFilter narrows ListBreaches.
type BreachFilter struct {
	Stage       SLAStage
	SubjectKind SubjectKind
	SubjectID   string
}

// AssetClock is an asset in a state and when it entered that state (the
// time of the event that put it there).
type AssetClock struct {
	AssetID  string
	Serial   string
	AssetTag string
	State    AssetState
	Since    time.Time
}

// DispositionFilter narrows a disposition report: one order, or the lines
// whose outcome was recorded in [From, To) (calendar dates, UTC).
type DispositionFilter struct {
	OrderID string
	From    *time.Time
	To      *time.Time
}

// DispositionRow is one asset of a disposition report: what ITAM needs to
// retire its record.
type DispositionRow struct {
	Line        *PickupLine
	Order       *PickupOrder
	Certificate *Certificate
	VendorName  string
	// Sanitization is nil for an asset that bears no data and was not sanitized.
	Sanitization *SanitizationRecord
}

// CertificateDocument is everything a certificate states, assembled from
// the records at issue (and stored with the certificate, see
// Certificate.Document) for rendering (the PDF) and for its digest. Times
// are UTC.
type CertificateDocument struct {
	// Number and CertificateID name the certificate.
	Number        string
	CertificateID string
	TenantName    string
	Vendor        CertificateVendor
	// OrderID is the pickup order's id.
	OrderID     string
	ScheduledOn time.Time
	PickedUpAt  time.Time
	ReceivedAt  time.Time
	IssuedAt    time.Time
	// IssuedBy is the name of the vendor member who issued it.
	IssuedBy string
	// Signatures are the pickup confirmation's: the technician's and the staff's.
	Signatures []CertificateSignature
	// Lines is one per processed asset, by serial (then asset tag).
	Lines []CertificateLine
	// Digest is the hex SHA-256 of the canonical document (CertificateDigest).
	Digest string
	// Seal says where the digest is sealed in the tenant's custody log.
	Seal CertificateSeal
}

// CertificateVendor is the issuing vendor with the certifications on record
// on the day the certificate was issued.
type CertificateVendor struct {
	Name           string
	ContactEmail   string
	Certifications []Certification
}

// CertificateSignature is one pickup signature as the certificate states it.
type CertificateSignature struct {
	Role        SignerRole
	Name        string
	SignedAt    time.Time
	ImageSHA256 string
}

// CertificateLine is one asset on a certificate.
type CertificateLine struct {
	Serial    string
	AssetTag  string
	Make      string
	Model     string
	Category  string
	BearsData bool
	// The sanitization, empty for an asset with no record (no data borne).
	Method             SanitizationMethod
	Technique          string
	Tool               string
	ToolVersion        string
	VerificationMethod string
	VerificationResult VerificationResult
	SanitizedAt        *time.Time
	Technician         string
	Validator          string
	ValidatedAt        *time.Time
	// The outcome.
	Outcome OutcomeKind
	// OutcomeDetail names the buyer and country or the downstream recycler.
	OutcomeDetail string
	OutcomeAt     time.Time
}

// CertificateSeal locates a certificate's CERTIFICATE_ISSUED event in the
// tenant's log, so anyone can fetch its receipt and verify it offline.
type CertificateSeal struct {
	EventID  string
	EventSeq int64
	// LogOrigin is the log's name in receipts and checkpoints.
	LogOrigin string
	// ReceiptURL is where the event's receipt is downloaded (same token).
	ReceiptURL string
}
