package storage

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/custody-dev/custody/domain"
	"golang.org/x/mod/sumdb/tlog"
)

// stampLayout is how a timestamp is written: UTC, exactly six fractional
// digits. Fixed width, so SQLite's text sorts in time order, and the same
// text is a valid timestamptz literal, so both dialects take the same value.
const stampLayout = "2006-01-02T15:04:05.000000Z"

// stamp is a stored timestamp: UTC at microsecond precision (PostgreSQL's),
// so what is read back equals what was written, bit for bit.
type stamp struct{ time.Time }

// newStamp returns t as it will be stored.
func newStamp(t time.Time) stamp { return stamp{t.UTC().Truncate(time.Microsecond)} }

// Value implements driver.Valuer.
func (s stamp) Value() (driver.Value, error) {
	return s.UTC().Truncate(time.Microsecond).Format(stampLayout), nil
}

// Scan implements sql.Scanner for timestamptz (Postgres) and text (SQLite).
func (s *stamp) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		s.Time = v.UTC()
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	default:
		return fmt.Errorf("storage: cannot read %T as a timestamp", v)
	}
	return nil
}

func (s *stamp) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("storage: bad stored timestamp %q: %w", v, err)
	}
	s.Time = t.UTC()
	return nil
}

// optStamp converts an optional time to its stored form (nil stays NULL).
func optStamp(t *time.Time) *stamp {
	if t == nil {
		return nil
	}
	s := newStamp(*t)
	return &s
}

// timePtr converts a stored optional time back.
func timePtr(s *stamp) *time.Time {
	if s == nil {
		return nil
	}
	t := s.Time
	return &t
}

// null stores an absent value ("" in the domain) as NULL.
func null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// str reads a nullable column back as the domain's "".
func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// encodeDetails returns the canonical JSON of an event's details:
// encoding/json writes map keys sorted, so equal maps give equal bytes.
func encodeDetails(d map[string]string) (string, error) {
	if len(d) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("encode details: %w", err)
	}
	return string(b), nil
}

func decodeDetails(s string) (map[string]string, error) {
	var d map[string]string
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("storage: bad stored details: %w", err)
	}
	if len(d) == 0 {
		return nil, nil
	}
	return d, nil
}

// Row types mirror the tables column for column. Every one carries TenantID,
// which insert (tx.go) sets from the transaction, never from the caller.

type tenantRow struct {
	ID        string `gorm:"column:id;primaryKey"`
	Slug      string `gorm:"column:slug"`
	Name      string `gorm:"column:name"`
	CreatedAt stamp  `gorm:"column:created_at;autoCreateTime:false"`
}

func (r *tenantRow) domain() *domain.Tenant {
	return &domain.Tenant{ID: r.ID, Slug: r.Slug, Name: r.Name, CreatedAt: r.CreatedAt.Time}
}

type ledgerHeadRow struct {
	TenantID string `gorm:"column:tenant_id;primaryKey"`
	Size     int64  `gorm:"column:size"`
}

type memberRow struct {
	TenantID string `gorm:"column:tenant_id;primaryKey"`
	ID       string `gorm:"column:id;primaryKey"`
	Name     string `gorm:"column:name"`
	Kind     string `gorm:"column:kind"`
	// VendorID is the vendor of an itad_vendor member (migration 00005).
	VendorID  *string `gorm:"column:vendor_id"`
	CreatedAt stamp   `gorm:"column:created_at;autoCreateTime:false"`
}

type memberRoleRow struct {
	TenantID string `gorm:"column:tenant_id;primaryKey"`
	MemberID string `gorm:"column:member_id;primaryKey"`
	Role     string `gorm:"column:role;primaryKey"`
}

// memberWithRole is one row of members LEFT JOIN member_roles.
type memberWithRole struct {
	Member memberRow `gorm:"embedded"`
	Role   *string   `gorm:"column:role"`
}

// groupMembers folds member-role rows (ordered by member id) into members.
func groupMembers(rows []memberWithRole) []*domain.Member {
	var out []*domain.Member
	for _, r := range rows {
		if m := r.Member; len(out) == 0 || out[len(out)-1].ID != m.ID {
			out = append(out, &domain.Member{ID: m.ID, TenantID: m.TenantID, Name: m.Name,
				Kind: domain.MemberKind(m.Kind), VendorID: str(m.VendorID), CreatedAt: m.CreatedAt.Time})
		}
		if r.Role != nil {
			m := out[len(out)-1]
			m.Roles = append(m.Roles, domain.Role(*r.Role))
		}
	}
	return out
}

type tokenRow struct {
	TenantID  string `gorm:"column:tenant_id;primaryKey"`
	ID        string `gorm:"column:id;primaryKey"`
	MemberID  string `gorm:"column:member_id"`
	Name      string `gorm:"column:name"`
	TokenHash []byte `gorm:"column:token_hash"`
	CreatedAt stamp  `gorm:"column:created_at;autoCreateTime:false"`
	RevokedAt *stamp `gorm:"column:revoked_at"`
}

func (r *tokenRow) domain() domain.APIToken {
	return domain.APIToken{ID: r.ID, TenantID: r.TenantID, MemberID: r.MemberID, Name: r.Name,
		Hash: r.TokenHash, CreatedAt: r.CreatedAt.Time, RevokedAt: timePtr(r.RevokedAt)}
}

type personRow struct {
	TenantID   string `gorm:"column:tenant_id;primaryKey"`
	ID         string `gorm:"column:id;primaryKey"`
	EmployeeID string `gorm:"column:employee_id"`
	Name       string `gorm:"column:name"`
	Email      string `gorm:"column:email"`
	Department string `gorm:"column:department"`
	Status     string `gorm:"column:status"`
	Version    int    `gorm:"column:version"`
	CreatedAt  stamp  `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt  stamp  `gorm:"column:updated_at;autoUpdateTime:false"`
}

func personRowOf(p *domain.Person) *personRow {
	return &personRow{ID: p.ID, EmployeeID: p.EmployeeID, Name: p.Name, Email: p.Email,
		Department: p.Department, Status: string(p.Status), Version: p.Version,
		CreatedAt: newStamp(p.CreatedAt), UpdatedAt: newStamp(p.UpdatedAt)}
}

func (r *personRow) domain() *domain.Person {
	return &domain.Person{ID: r.ID, TenantID: r.TenantID, EmployeeID: r.EmployeeID, Name: r.Name,
		Email: r.Email, Department: r.Department, Status: domain.PersonStatus(r.Status),
		Version: r.Version, CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time}
}

// updates returns the columns an optimistic update writes.
func (r *personRow) updates() map[string]any {
	return map[string]any{"employee_id": r.EmployeeID, "name": r.Name, "email": r.Email,
		"department": r.Department, "status": r.Status, "version": r.Version, "updated_at": r.UpdatedAt}
}

type parcelRow struct {
	TenantID       string  `gorm:"column:tenant_id;primaryKey"`
	ID             string  `gorm:"column:id;primaryKey"`
	Carrier        string  `gorm:"column:carrier"`
	TrackingNumber string  `gorm:"column:tracking_number"`
	Sender         string  `gorm:"column:sender"`
	RecipientID    *string `gorm:"column:recipient_id"`
	ReturnCaseID   *string `gorm:"column:return_case_id"`
	Location       string  `gorm:"column:location"`
	Note           string  `gorm:"column:note"`
	State          string  `gorm:"column:state"`
	ReceivedByID   string  `gorm:"column:received_by_id"`
	ReceivedAt     stamp   `gorm:"column:received_at"`
	Version        int     `gorm:"column:version"`
}

func parcelRowOf(p *domain.Parcel) *parcelRow {
	return &parcelRow{ID: p.ID, Carrier: p.Carrier, TrackingNumber: p.TrackingNumber, Sender: p.Sender,
		RecipientID: null(p.RecipientID), ReturnCaseID: null(p.ReturnCaseID), Location: p.Location, Note: p.Note,
		State: string(p.State), ReceivedByID: p.ReceivedByID, ReceivedAt: newStamp(p.ReceivedAt), Version: p.Version}
}

func (r *parcelRow) domain() *domain.Parcel {
	return &domain.Parcel{ID: r.ID, TenantID: r.TenantID, Carrier: r.Carrier, TrackingNumber: r.TrackingNumber,
		Sender: r.Sender, RecipientID: str(r.RecipientID), ReturnCaseID: str(r.ReturnCaseID), Location: r.Location, Note: r.Note,
		State: domain.ParcelState(r.State), ReceivedByID: r.ReceivedByID, ReceivedAt: r.ReceivedAt.Time,
		Version: r.Version}
}

func (r *parcelRow) updates() map[string]any {
	return map[string]any{"carrier": r.Carrier, "tracking_number": r.TrackingNumber, "sender": r.Sender,
		"recipient_id": r.RecipientID, "return_case_id": r.ReturnCaseID, "location": r.Location, "note": r.Note, "state": r.State,
		"received_by_id": r.ReceivedByID, "received_at": r.ReceivedAt, "version": r.Version}
}

type assetRow struct {
	TenantID            string  `gorm:"column:tenant_id;primaryKey"`
	ID                  string  `gorm:"column:id;primaryKey"`
	ParcelID            *string `gorm:"column:parcel_id"`
	Serial              *string `gorm:"column:serial"`
	AssetTag            *string `gorm:"column:asset_tag"`
	Make                string  `gorm:"column:make"`
	Model               string  `gorm:"column:model"`
	Category            string  `gorm:"column:category"`
	BearsData           bool    `gorm:"column:bears_data"`
	ITAMRef             string  `gorm:"column:itam_ref"`
	Condition           string  `gorm:"column:condition"`
	State               string  `gorm:"column:state"`
	CustodianKind       string  `gorm:"column:custodian_kind"`
	CustodianRef        string  `gorm:"column:custodian_ref"`
	IntendedRecipientID *string `gorm:"column:intended_recipient_id"`
	DeployedAt          *stamp  `gorm:"column:deployed_at"`
	LastEventID         *string `gorm:"column:last_event_id"`
	Version             int     `gorm:"column:version"`
	CreatedAt           stamp   `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt           stamp   `gorm:"column:updated_at;autoUpdateTime:false"`
}

func assetRowOf(a *domain.Asset) *assetRow {
	return &assetRow{ID: a.ID, ParcelID: null(a.ParcelID), Serial: null(a.Serial), AssetTag: null(a.AssetTag),
		Make: a.Make, Model: a.Model, Category: a.Category, BearsData: a.BearsData, ITAMRef: a.ITAMRef,
		Condition: a.Condition, State: string(a.State), CustodianKind: string(a.Custodian.Kind),
		CustodianRef: a.Custodian.Ref, IntendedRecipientID: null(a.IntendedRecipientID),
		DeployedAt: optStamp(a.DeployedAt), LastEventID: null(a.LastEventID), Version: a.Version,
		CreatedAt: newStamp(a.CreatedAt), UpdatedAt: newStamp(a.UpdatedAt)}
}

func (r *assetRow) domain() *domain.Asset {
	return &domain.Asset{ID: r.ID, TenantID: r.TenantID, ParcelID: str(r.ParcelID), Serial: str(r.Serial),
		AssetTag: str(r.AssetTag), Make: r.Make, Model: r.Model, Category: r.Category, BearsData: r.BearsData,
		ITAMRef: r.ITAMRef, Condition: r.Condition, State: domain.AssetState(r.State),
		Custodian:           domain.Custodian{Kind: domain.CustodianKind(r.CustodianKind), Ref: r.CustodianRef},
		IntendedRecipientID: str(r.IntendedRecipientID), DeployedAt: timePtr(r.DeployedAt),
		LastEventID: str(r.LastEventID), Version: r.Version, CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time}
}

func (r *assetRow) updates() map[string]any {
	return map[string]any{"parcel_id": r.ParcelID, "serial": r.Serial, "asset_tag": r.AssetTag,
		"make": r.Make, "model": r.Model, "category": r.Category, "bears_data": r.BearsData,
		"itam_ref": r.ITAMRef, "condition": r.Condition, "state": r.State,
		"custodian_kind": r.CustodianKind, "custodian_ref": r.CustodianRef,
		"intended_recipient_id": r.IntendedRecipientID, "deployed_at": r.DeployedAt,
		"last_event_id": r.LastEventID, "version": r.Version, "updated_at": r.UpdatedAt}
}

type eventRow struct {
	TenantID          string  `gorm:"column:tenant_id;primaryKey"`
	ID                string  `gorm:"column:id;primaryKey"`
	Seq               int64   `gorm:"column:seq"`
	AssetID           *string `gorm:"column:asset_id"`
	ParcelID          *string `gorm:"column:parcel_id"`
	Type              string  `gorm:"column:type"`
	FromState         *string `gorm:"column:from_state"`
	ToState           *string `gorm:"column:to_state"`
	FromCustodianKind string  `gorm:"column:from_custodian_kind"`
	FromCustodianRef  string  `gorm:"column:from_custodian_ref"`
	ToCustodianKind   string  `gorm:"column:to_custodian_kind"`
	ToCustodianRef    string  `gorm:"column:to_custodian_ref"`
	ActorID           string  `gorm:"column:actor_id"`
	Location          string  `gorm:"column:location"`
	DeviceTime        *stamp  `gorm:"column:device_time"`
	RecordedAt        stamp   `gorm:"column:recorded_at"`
	SignatureID       *string `gorm:"column:signature_id"`
	Details           string  `gorm:"column:details"`
	// ForAsset is read-only: the asset whose history a ranked row belongs to
	// (LastAssetEvents), since a parcel's receipt is in all its assets' histories.
	ForAsset string `gorm:"column:for_asset;->"`
}

// eventColumns and scanDest let ScanEvents read events with readRows,
// without gorm's per-row reflection: they list eventRow's stored columns in
// one order, and must change with it.
const eventColumns = "custody_events.tenant_id, custody_events.id, custody_events.seq, custody_events.asset_id, " +
	"custody_events.parcel_id, custody_events.type, custody_events.from_state, custody_events.to_state, " +
	"custody_events.from_custodian_kind, custody_events.from_custodian_ref, custody_events.to_custodian_kind, " +
	"custody_events.to_custodian_ref, custody_events.actor_id, custody_events.location, custody_events.device_time, " +
	"custody_events.recorded_at, custody_events.signature_id, custody_events.details"

func (r *eventRow) scanDest() []any {
	return []any{&r.TenantID, &r.ID, &r.Seq, &r.AssetID, &r.ParcelID, &r.Type, &r.FromState, &r.ToState,
		&r.FromCustodianKind, &r.FromCustodianRef, &r.ToCustodianKind, &r.ToCustodianRef, &r.ActorID, &r.Location,
		&r.DeviceTime, &r.RecordedAt, &r.SignatureID, &r.Details}
}

func eventRowOf(e *domain.CustodyEvent) (*eventRow, error) {
	details, err := encodeDetails(e.Details)
	if err != nil {
		return nil, err
	}
	return &eventRow{ID: e.ID, Seq: e.Seq, AssetID: null(e.AssetID), ParcelID: null(e.ParcelID),
		Type: string(e.Type), FromState: null(string(e.FromState)), ToState: null(string(e.ToState)),
		FromCustodianKind: string(e.FromCustodian.Kind), FromCustodianRef: e.FromCustodian.Ref,
		ToCustodianKind: string(e.ToCustodian.Kind), ToCustodianRef: e.ToCustodian.Ref,
		ActorID: e.ActorID, Location: e.Location, DeviceTime: optStamp(e.DeviceTime),
		RecordedAt: newStamp(e.RecordedAt), SignatureID: null(e.SignatureID), Details: details}, nil
}

func (r *eventRow) domain() (*domain.CustodyEvent, error) {
	details, err := decodeDetails(r.Details)
	if err != nil {
		return nil, err
	}
	return &domain.CustodyEvent{ID: r.ID, TenantID: r.TenantID, Seq: r.Seq, AssetID: str(r.AssetID),
		ParcelID: str(r.ParcelID), Type: domain.EventType(r.Type),
		FromState: domain.AssetState(str(r.FromState)), ToState: domain.AssetState(str(r.ToState)),
		FromCustodian: domain.Custodian{Kind: domain.CustodianKind(r.FromCustodianKind), Ref: r.FromCustodianRef},
		ToCustodian:   domain.Custodian{Kind: domain.CustodianKind(r.ToCustodianKind), Ref: r.ToCustodianRef},
		ActorID:       r.ActorID, Location: r.Location, DeviceTime: timePtr(r.DeviceTime),
		RecordedAt: r.RecordedAt.Time, SignatureID: str(r.SignatureID), Details: details}, nil
}

type signatureRow struct {
	TenantID       string `gorm:"column:tenant_id;primaryKey"`
	ID             string `gorm:"column:id;primaryKey"`
	SignerID       string `gorm:"column:signer_id"`
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

func signatureRowOf(s *domain.Signature) *signatureRow {
	img := s.Image
	if img == nil {
		img = []byte{} // NOT NULL column; an empty image is the domain's to refuse
	}
	return &signatureRow{ID: s.ID, SignerID: s.SignerID, TypedName: s.TypedName, ImageType: s.ImageType,
		Image: img, ImageSHA256: s.ImageSHA256, ConsentText: s.ConsentText, ConsentVersion: s.ConsentVersion,
		ConsentSHA256: s.ConsentSHA256, Method: string(s.Method), DeviceID: s.DeviceID, IPAddress: s.IPAddress,
		UserAgent: s.UserAgent, DeviceTime: optStamp(s.DeviceTime), SignedAt: newStamp(s.SignedAt),
		CapturedByID: s.CapturedByID}
}

func (r *signatureRow) domain() *domain.Signature {
	return &domain.Signature{ID: r.ID, TenantID: r.TenantID, SignerID: r.SignerID, TypedName: r.TypedName,
		ImageType: r.ImageType, Image: r.Image, ImageSHA256: r.ImageSHA256, ConsentText: r.ConsentText,
		ConsentVersion: r.ConsentVersion, ConsentSHA256: r.ConsentSHA256, Method: domain.SignatureMethod(r.Method),
		DeviceID: r.DeviceID, IPAddress: r.IPAddress, UserAgent: r.UserAgent, DeviceTime: timePtr(r.DeviceTime),
		SignedAt: r.SignedAt.Time, CapturedByID: r.CapturedByID}
}

type idempotencyRow struct {
	TenantID       string `gorm:"column:tenant_id;primaryKey"`
	Operation      string `gorm:"column:operation;primaryKey"`
	IdempotencyKey string `gorm:"column:idempotency_key;primaryKey"`
	RequestHash    string `gorm:"column:request_hash"`
	Result         []byte `gorm:"column:result"`
	CreatedAt      stamp  `gorm:"column:created_at;autoCreateTime:false"`
	CompletedAt    *stamp `gorm:"column:completed_at"`
}

// ledgerHashRow is one stored Merkle hash of a tenant's tree.
type ledgerHashRow struct {
	TenantID string `gorm:"column:tenant_id;primaryKey"`
	Idx      int64  `gorm:"column:idx;primaryKey"`
	Hash     []byte `gorm:"column:hash"`
}

// scanDest lists the fields of "idx, hash" for readRows.
func (r *ledgerHashRow) scanDest() []any { return []any{&r.Idx, &r.Hash} }

// hash returns the stored bytes as a tlog.Hash, refusing any other length.
func (r *ledgerHashRow) hash() (tlog.Hash, error) {
	return toHash(r.Hash, "ledger hash "+strconv.FormatInt(r.Idx, 10))
}

// toHash converts a stored 32-byte value (what names it, for the error).
func toHash(b []byte, what string) (tlog.Hash, error) {
	var h tlog.Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("storage: %s is %d bytes, want %d", what, len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

type checkpointRow struct {
	TenantID  string `gorm:"column:tenant_id;primaryKey"`
	TreeSize  int64  `gorm:"column:tree_size;primaryKey"`
	RootHash  []byte `gorm:"column:root_hash"`
	Note      string `gorm:"column:note"`
	KeyID     string `gorm:"column:key_id"`
	CreatedAt stamp  `gorm:"column:created_at;autoCreateTime:false"`
}

func checkpointRowOf(c *domain.Checkpoint) *checkpointRow {
	return &checkpointRow{TreeSize: c.TreeSize, RootHash: c.RootHash[:], Note: string(c.Note), KeyID: c.KeyID,
		CreatedAt: newStamp(c.CreatedAt)}
}

func (r *checkpointRow) domain() (*domain.Checkpoint, error) {
	root, err := toHash(r.RootHash, "root hash of checkpoint "+strconv.FormatInt(r.TreeSize, 10))
	if err != nil {
		return nil, err
	}
	return &domain.Checkpoint{TenantID: r.TenantID, TreeSize: r.TreeSize, RootHash: root, Note: []byte(r.Note),
		KeyID: r.KeyID, CreatedAt: r.CreatedAt.Time}, nil
}

type signingKeyRow struct {
	TenantID     string `gorm:"column:tenant_id;primaryKey"`
	ID           string `gorm:"column:id;primaryKey"`
	VerifierKey  string `gorm:"column:verifier_key"`
	SealedSigner []byte `gorm:"column:sealed_signer"`
	CreatedAt    stamp  `gorm:"column:created_at;autoCreateTime:false"`
	RetiredAt    *stamp `gorm:"column:retired_at"`
}

func (r *signingKeyRow) domain() *domain.SigningKey {
	return &domain.SigningKey{ID: r.ID, TenantID: r.TenantID, VerifierKey: r.VerifierKey,
		SealedSigner: r.SealedSigner, CreatedAt: r.CreatedAt.Time, RetiredAt: timePtr(r.RetiredAt)}
}

// rowTenant lets insert set the tenant of any row type.
type rowTenant interface{ setTenant(string) }

func (r *ledgerHeadRow) setTenant(t string)  { r.TenantID = t }
func (r *memberRow) setTenant(t string)      { r.TenantID = t }
func (r *memberRoleRow) setTenant(t string)  { r.TenantID = t }
func (r *tokenRow) setTenant(t string)       { r.TenantID = t }
func (r *personRow) setTenant(t string)      { r.TenantID = t }
func (r *parcelRow) setTenant(t string)      { r.TenantID = t }
func (r *assetRow) setTenant(t string)       { r.TenantID = t }
func (r *eventRow) setTenant(t string)       { r.TenantID = t }
func (r *signatureRow) setTenant(t string)   { r.TenantID = t }
func (r *idempotencyRow) setTenant(t string) { r.TenantID = t }
func (r *ledgerHashRow) setTenant(t string)  { r.TenantID = t }
func (r *checkpointRow) setTenant(t string)  { r.TenantID = t }
func (r *signingKeyRow) setTenant(t string)  { r.TenantID = t }
