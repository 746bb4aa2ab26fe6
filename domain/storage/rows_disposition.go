package storage

import (
	"github.com/custody-dev/custody/domain"
)

// Rows of the disposition and SLA tables (migrations 00007), like those of
// rows.go. The pickup order and line rows, which 00007 widened, stay in
// pickups.go.

type resolutionRow struct {
	TenantID     string  `gorm:"column:tenant_id;primaryKey"`
	ID           string  `gorm:"column:id;primaryKey"`
	OrderID      string  `gorm:"column:order_id"`
	Phase        string  `gorm:"column:phase"`
	ScanID       *string `gorm:"column:scan_id"`
	AssetID      *string `gorm:"column:asset_id"`
	Action       string  `gorm:"column:action"`
	Reason       string  `gorm:"column:reason"`
	ResolvedByID string  `gorm:"column:resolved_by_id"`
	ResolvedAt   stamp   `gorm:"column:resolved_at"`
}

func resolutionRowOf(r *domain.Resolution) *resolutionRow {
	return &resolutionRow{ID: r.ID, OrderID: r.OrderID, Phase: string(r.Phase), ScanID: null(r.ScanID),
		AssetID: null(r.AssetID), Action: string(r.Action), Reason: r.Reason, ResolvedByID: r.ResolvedByID,
		ResolvedAt: newStamp(r.ResolvedAt)}
}

func (r *resolutionRow) domain() *domain.Resolution {
	return &domain.Resolution{ID: r.ID, TenantID: r.TenantID, OrderID: r.OrderID, Phase: domain.ScanPhase(r.Phase),
		ScanID: str(r.ScanID), AssetID: str(r.AssetID), Action: domain.ResolutionAction(r.Action), Reason: r.Reason,
		ResolvedByID: r.ResolvedByID, ResolvedAt: r.ResolvedAt.Time}
}

// pickupSignatureRow is a signatureRow without the signer (a person) and
// with the order, the role and the member who signed.
type pickupSignatureRow struct {
	TenantID       string `gorm:"column:tenant_id;primaryKey"`
	ID             string `gorm:"column:id;primaryKey"`
	OrderID        string `gorm:"column:order_id"`
	Role           string `gorm:"column:role"`
	SignerMemberID string `gorm:"column:signer_member_id"`
	TypedName      string `gorm:"column:typed_name"`
	ImageType      string `gorm:"column:image_type"`
	Image          []byte `gorm:"column:image"`
	ImageSHA256    string `gorm:"column:image_sha256"`
	ConsentText    string `gorm:"column:consent_text"`
	ConsentVersion string `gorm:"column:consent_version"`
	ConsentSHA256  string `gorm:"column:consent_sha256"`
	Method         string `gorm:"column:method"`
	DeviceID       string `gorm:"column:device_id"`
	IPAddress      string `gorm:"column:ip_address"`
	UserAgent      string `gorm:"column:user_agent"`
	DeviceTime     *stamp `gorm:"column:device_time"`
	SignedAt       stamp  `gorm:"column:signed_at"`
	CapturedByID   string `gorm:"column:captured_by_id"`
}

func pickupSignatureRowOf(s *domain.PickupSignature) *pickupSignatureRow {
	img := s.Image
	if img == nil {
		img = []byte{} // NOT NULL column; an empty image is the domain's to refuse
	}
	return &pickupSignatureRow{ID: s.ID, OrderID: s.OrderID, Role: string(s.Role), SignerMemberID: s.SignerMemberID,
		TypedName: s.TypedName, ImageType: s.ImageType, Image: img, ImageSHA256: s.ImageSHA256,
		ConsentText: s.ConsentText, ConsentVersion: s.ConsentVersion, ConsentSHA256: s.ConsentSHA256,
		Method: string(s.Method), DeviceID: s.DeviceID, IPAddress: s.IPAddress, UserAgent: s.UserAgent,
		DeviceTime: optStamp(s.DeviceTime), SignedAt: newStamp(s.SignedAt), CapturedByID: s.CapturedByID}
}

func (r *pickupSignatureRow) domain() *domain.PickupSignature {
	return &domain.PickupSignature{
		Signature: domain.Signature{ID: r.ID, TenantID: r.TenantID, TypedName: r.TypedName, ImageType: r.ImageType,
			Image: r.Image, ImageSHA256: r.ImageSHA256, ConsentText: r.ConsentText, ConsentVersion: r.ConsentVersion,
			ConsentSHA256: r.ConsentSHA256, Method: domain.SignatureMethod(r.Method), DeviceID: r.DeviceID,
			IPAddress: r.IPAddress, UserAgent: r.UserAgent, DeviceTime: timePtr(r.DeviceTime),
			SignedAt: r.SignedAt.Time, CapturedByID: r.CapturedByID},
		OrderID: r.OrderID, Role: domain.SignerRole(r.Role), SignerMemberID: r.SignerMemberID,
	}
}

type sanitizationRow struct {
	TenantID           string `gorm:"column:tenant_id;primaryKey"`
	OrderID            string `gorm:"column:order_id;primaryKey"`
	AssetID            string `gorm:"column:asset_id;primaryKey"`
	Method             string `gorm:"column:method"`
	Technique          string `gorm:"column:technique"`
	Tool               string `gorm:"column:tool"`
	ToolVersion        string `gorm:"column:tool_version"`
	VerificationMethod string `gorm:"column:verification_method"`
	VerificationResult string `gorm:"column:verification_result"`
	PerformedAt        stamp  `gorm:"column:performed_at"`
	TechnicianName     string `gorm:"column:technician_name"`
	AttestedAt         stamp  `gorm:"column:attested_at"`
	ValidatorName      string `gorm:"column:validator_name"`
	ValidatedAt        stamp  `gorm:"column:validated_at"`
	RecordedByID       string `gorm:"column:recorded_by_id"`
	RecordedAt         stamp  `gorm:"column:recorded_at"`
	EventID            string `gorm:"column:event_id"`
}

func sanitizationRowOf(s *domain.SanitizationRecord) *sanitizationRow {
	return &sanitizationRow{OrderID: s.OrderID, AssetID: s.AssetID, Method: string(s.Method), Technique: s.Technique,
		Tool: s.Tool, ToolVersion: s.ToolVersion, VerificationMethod: s.VerificationMethod,
		VerificationResult: string(s.VerificationResult), PerformedAt: newStamp(s.PerformedAt),
		TechnicianName: s.TechnicianName, AttestedAt: newStamp(s.AttestedAt), ValidatorName: s.ValidatorName,
		ValidatedAt: newStamp(s.ValidatedAt), RecordedByID: s.RecordedByID, RecordedAt: newStamp(s.RecordedAt),
		EventID: s.EventID}
}

func (r *sanitizationRow) domain() *domain.SanitizationRecord {
	return &domain.SanitizationRecord{TenantID: r.TenantID, OrderID: r.OrderID, AssetID: r.AssetID,
		Method: domain.SanitizationMethod(r.Method), Technique: r.Technique, Tool: r.Tool, ToolVersion: r.ToolVersion,
		VerificationMethod: r.VerificationMethod, VerificationResult: domain.VerificationResult(r.VerificationResult),
		PerformedAt: r.PerformedAt.Time, TechnicianName: r.TechnicianName, AttestedAt: r.AttestedAt.Time,
		ValidatorName: r.ValidatorName, ValidatedAt: r.ValidatedAt.Time, RecordedByID: r.RecordedByID,
		RecordedAt: r.RecordedAt.Time, EventID: r.EventID}
}

// storedIn writes back to s what the row stores.
func (r *sanitizationRow) storedIn(tenant string, s *domain.SanitizationRecord) {
	s.TenantID, s.PerformedAt, s.AttestedAt = tenant, r.PerformedAt.Time, r.AttestedAt.Time
	s.ValidatedAt, s.RecordedAt = r.ValidatedAt.Time, r.RecordedAt.Time
}

type certificateRow struct {
	TenantID   string `gorm:"column:tenant_id;primaryKey"`
	ID         string `gorm:"column:id;primaryKey"`
	OrderID    string `gorm:"column:order_id"`
	VendorID   string `gorm:"column:vendor_id"`
	Number     string `gorm:"column:number"`
	IssuedAt   stamp  `gorm:"column:issued_at"`
	IssuedByID string `gorm:"column:issued_by_id"`
	Digest     string `gorm:"column:digest"`
	EventID    string `gorm:"column:event_id"`
	// Document is text, not jsonb: the stored bytes are the ones the digest
	// hashes, and jsonb would reorder and respace them. Bulk reads leave it
	// out (certificateListColumns) and it reads back empty.
	Document string `gorm:"column:document"`
}

// certificateListColumns are the columns certificates read in bulk load:
// all but the document, which can be large.
var certificateListColumns = []string{"certificates.tenant_id", "certificates.id", "certificates.order_id",
	"certificates.vendor_id", "certificates.number", "certificates.issued_at", "certificates.issued_by_id",
	"certificates.digest", "certificates.event_id"}

func certificateRowOf(c *domain.Certificate) *certificateRow {
	return &certificateRow{ID: c.ID, OrderID: c.OrderID, VendorID: c.VendorID, Number: c.Number,
		IssuedAt: newStamp(c.IssuedAt), IssuedByID: c.IssuedByID, Digest: c.Digest, EventID: c.EventID,
		Document: string(c.Document)}
}

func (r *certificateRow) domain() *domain.Certificate {
	c := &domain.Certificate{ID: r.ID, TenantID: r.TenantID, OrderID: r.OrderID, VendorID: r.VendorID,
		Number: r.Number, IssuedAt: r.IssuedAt.Time, IssuedByID: r.IssuedByID, Digest: r.Digest, EventID: r.EventID}
	if r.Document != "" {
		c.Document = []byte(r.Document)
	}
	return c
}

type slaPolicyRow struct {
	TenantID                   string `gorm:"column:tenant_id;primaryKey"`
	RetiredToStagedDays        int    `gorm:"column:retired_to_staged_days"`
	StagedToPickedUpDays       int    `gorm:"column:staged_to_picked_up_days"`
	PickedUpToCertificateDays  int    `gorm:"column:picked_up_to_certificate_days"`
	CertificateToWriteBackDays int    `gorm:"column:certificate_to_write_back_days"`
	OffboardingDueDays         int    `gorm:"column:offboarding_due_days"`
	UpdatedAt                  stamp  `gorm:"column:updated_at;autoUpdateTime:false"`
	UpdatedByID                string `gorm:"column:updated_by_id"`
	Version                    int    `gorm:"column:version"`
}

func slaPolicyRowOf(p *domain.SLAPolicy) *slaPolicyRow {
	return &slaPolicyRow{RetiredToStagedDays: p.RetiredToStagedDays, StagedToPickedUpDays: p.StagedToPickedUpDays,
		PickedUpToCertificateDays: p.PickedUpToCertificateDays, CertificateToWriteBackDays: p.CertificateToWriteBackDays,
		OffboardingDueDays: p.OffboardingDueDays, UpdatedAt: newStamp(p.UpdatedAt), UpdatedByID: p.UpdatedByID,
		Version: p.Version}
}

func (r *slaPolicyRow) domain() *domain.SLAPolicy {
	return &domain.SLAPolicy{TenantID: r.TenantID, RetiredToStagedDays: r.RetiredToStagedDays,
		StagedToPickedUpDays: r.StagedToPickedUpDays, PickedUpToCertificateDays: r.PickedUpToCertificateDays,
		CertificateToWriteBackDays: r.CertificateToWriteBackDays, OffboardingDueDays: r.OffboardingDueDays,
		UpdatedAt: r.UpdatedAt.Time, UpdatedByID: r.UpdatedByID, Version: r.Version}
}

// updates returns the columns an optimistic update writes: all but the key.
func (r *slaPolicyRow) updates() map[string]any {
	return map[string]any{"retired_to_staged_days": r.RetiredToStagedDays,
		"staged_to_picked_up_days": r.StagedToPickedUpDays, "picked_up_to_certificate_days": r.PickedUpToCertificateDays,
		"certificate_to_write_back_days": r.CertificateToWriteBackDays, "offboarding_due_days": r.OffboardingDueDays,
		"updated_at": r.UpdatedAt, "updated_by_id": r.UpdatedByID, "version": r.Version}
}

type breachRow struct {
	TenantID    string  `gorm:"column:tenant_id;primaryKey"`
	ID          string  `gorm:"column:id;primaryKey"`
	Stage       string  `gorm:"column:stage"`
	SubjectKind string  `gorm:"column:subject_kind"`
	SubjectID   string  `gorm:"column:subject_id"`
	Since       stamp   `gorm:"column:since"`
	DueAt       stamp   `gorm:"column:due_at"`
	RaisedAt    stamp   `gorm:"column:raised_at"`
	EventID     *string `gorm:"column:event_id"`
}

func breachRowOf(b *domain.Breach) *breachRow {
	return &breachRow{ID: b.ID, Stage: string(b.Stage), SubjectKind: string(b.SubjectKind), SubjectID: b.SubjectID,
		Since: newStamp(b.Since), DueAt: newStamp(b.DueAt), RaisedAt: newStamp(b.RaisedAt), EventID: null(b.EventID)}
}

func (r *breachRow) domain() *domain.Breach {
	return &domain.Breach{ID: r.ID, TenantID: r.TenantID, Stage: domain.SLAStage(r.Stage),
		SubjectKind: domain.SubjectKind(r.SubjectKind), SubjectID: r.SubjectID, Since: r.Since.Time,
		DueAt: r.DueAt.Time, RaisedAt: r.RaisedAt.Time, EventID: str(r.EventID)}
}

// assetClockRow is one row of AssetsInStates: an asset and when it entered
// its state.
type assetClockRow struct {
	ID       string  `gorm:"column:id"`
	Serial   *string `gorm:"column:serial"`
	AssetTag *string `gorm:"column:asset_tag"`
	State    string  `gorm:"column:state"`
	Since    stamp   `gorm:"column:since"`
}

func (r *assetClockRow) domain() *domain.AssetClock {
	return &domain.AssetClock{AssetID: r.ID, Serial: str(r.Serial), AssetTag: str(r.AssetTag),
		State: domain.AssetState(r.State), Since: r.Since.Time}
}

// stagedSinceRow is one row of EarliestStagedAt.
type stagedSinceRow struct {
	OrderID string `gorm:"column:order_id"`
	Since   stamp  `gorm:"column:since"`
}

func (r *resolutionRow) setTenant(t string)      { r.TenantID = t }
func (r *pickupSignatureRow) setTenant(t string) { r.TenantID = t }
func (r *sanitizationRow) setTenant(t string)    { r.TenantID = t }
func (r *certificateRow) setTenant(t string)     { r.TenantID = t }
func (r *slaPolicyRow) setTenant(t string)       { r.TenantID = t }
func (r *breachRow) setTenant(t string)          { r.TenantID = t }
