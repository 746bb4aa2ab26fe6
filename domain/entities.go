package domain

import (
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Tenant is one customer organisation. Every other record belongs to exactly one.
type Tenant struct {
	ID        string
	Slug      string
	Name      string
	CreatedAt time.Time
}

// Role is a named set of permissions (see authz/policy.csv).
type Role string

// The roles a member can hold in a tenant.
const (
	RoleAdmin      Role = "admin"
	RoleMailroom   Role = "mailroom"
	RoleIT         Role = "it"
	RoleHR         Role = "hr"
	RoleITADVendor Role = "itad_vendor"
	RoleAuditor    Role = "auditor"
)

// AllRoles lists every role.
var AllRoles = []Role{RoleAdmin, RoleMailroom, RoleIT, RoleHR, RoleITADVendor, RoleAuditor}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, k := range AllRoles {
		if k == r {
			return true
		}
	}
	return false
}

// MemberKind distinguishes people who log in from service principals (an HRIS
// connector, a scanner fleet).
type MemberKind string

// Member kinds.
const (
	MemberPerson  MemberKind = "PERSON"
	MemberService MemberKind = "SERVICE"
)

// Member is a principal of a tenant: it holds roles and API tokens and appears
// as the actor of the custody events it records.
type Member struct {
	ID       string
	TenantID string
	Name     string
	Kind     MemberKind
	Roles    []Role
	// VendorID is the ITAD vendor an itad_vendor member works for; such a
	// member sees only that vendor's pickups.
	VendorID  string
	CreatedAt time.Time
}

// APIToken is a bearer credential of a member. Only its SHA-256 hash is stored.
type APIToken struct {
	ID        string
	TenantID  string
	MemberID  string
	Name      string
	Hash      []byte
	CreatedAt time.Time
	RevokedAt *time.Time
}

// PersonStatus is an employee's HR status.
type PersonStatus string

// Person statuses.
const (
	PersonActive     PersonStatus = "ACTIVE"
	PersonOnLeave    PersonStatus = "ON_LEAVE"
	PersonTerminated PersonStatus = "TERMINATED"
)

// Valid reports whether s is a known status.
func (s PersonStatus) Valid() bool {
	return s == PersonActive || s == PersonOnLeave || s == PersonTerminated
}

// Person is an employee as known from the HRIS: the minimum needed to address
// parcels to them and to hand assets over.
type Person struct {
	ID         string
	TenantID   string
	EmployeeID string
	Name       string
	Email      string
	Department string
	Status     PersonStatus
	Version    int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ParcelState is where a parcel stands: received at the dock, then opened and
// turned into serialized assets.
type ParcelState string

// Parcel states.
const (
	ParcelReceived   ParcelState = "RECEIVED"
	ParcelSerialized ParcelState = "SERIALIZED"
)

// Parcel is a box scanned at the receiving dock.
type Parcel struct {
	ID             string
	TenantID       string
	Carrier        string
	TrackingNumber string
	Sender         string
	// RecipientID is who the parcel is for; empty for a return parcel.
	RecipientID string
	// ReturnCaseID links a parcel an employee shipped back to their
	// off-boarding case; the assets in it are then received as returns.
	ReturnCaseID string
	Location     string
	Note         string
	State        ParcelState
	ReceivedByID string
	ReceivedAt   time.Time
	Version      int
}

// CustodianKind says what kind of party holds an asset.
type CustodianKind string

// Custodian kinds.
const (
	CustodianNone     CustodianKind = "NONE"
	CustodianLocation CustodianKind = "LOCATION"
	CustodianPerson   CustodianKind = "PERSON"
	CustodianVendor   CustodianKind = "VENDOR"
)

// Custodian is the party liable for an asset: a location (the mailroom), a
// person (after a signed hand-off) or an ITAD vendor.
type Custodian struct {
	Kind CustodianKind
	// Ref is the person or vendor id, or the location's name.
	Ref string
}

// Asset is one serialized piece of equipment.
type Asset struct {
	ID                  string
	TenantID            string
	ParcelID            string
	Serial              string // manufacturer serial; empty when only a tag is known
	AssetTag            string // company asset tag; empty when only a serial is known
	Make                string
	Model               string
	Category            string
	BearsData           bool
	ITAMRef             string
	Condition           string
	State               AssetState
	Custodian           Custodian
	IntendedRecipientID string
	// DeployedAt is the official deployment date: the time of the signature
	// that handed the asset over.
	DeployedAt  *time.Time
	LastEventID string
	Version     int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// HolderID returns the person holding the asset, or "" when no person does.
func (a *Asset) HolderID() string {
	if a.Custodian.Kind == CustodianPerson {
		return a.Custodian.Ref
	}
	return ""
}

// CustodyEvent is one immutable entry of a tenant's custody log. Events are
// appended, never updated or deleted.
type CustodyEvent struct {
	ID       string
	TenantID string
	// Seq is the event's position in the tenant's log: gapless, from 1.
	Seq      int64
	AssetID  string // empty for parcel-level events
	ParcelID string
	Type     EventType
	// FromState and ToState are empty for parcel-level events.
	FromState     AssetState
	ToState       AssetState
	FromCustodian Custodian
	ToCustodian   Custodian
	ActorID       string
	Location      string
	// DeviceTime is the time the client device reported, if any.
	DeviceTime *time.Time
	// RecordedAt is the server time, truncated to microseconds as stored.
	RecordedAt  time.Time
	SignatureID string
	// Details holds event-specific facts (note, reason, condition).
	Details map[string]string
}

// SignatureMethod says how a signature was captured.
type SignatureMethod string

// Signature capture methods.
const (
	SignatureDrawnOnDevice SignatureMethod = "DRAWN_ON_DEVICE"
	SignatureStylusPad     SignatureMethod = "STYLUS_PAD"
	SignatureRemoteLink    SignatureMethod = "REMOTE_LINK"
)

// Valid reports whether m is a known method.
func (m SignatureMethod) Valid() bool {
	return m == SignatureDrawnOnDevice || m == SignatureStylusPad || m == SignatureRemoteLink
}

// Signature is a person's signed acceptance of liability for one or more assets.
type Signature struct {
	ID             string
	TenantID       string
	SignerID       string // the person who signed
	TypedName      string
	ImageType      string // "image/png" or "image/svg+xml"
	Image          []byte
	ImageSHA256    string // hex
	ConsentText    string
	ConsentVersion string
	ConsentSHA256  string // hex
	Method         SignatureMethod
	DeviceID       string
	IPAddress      string
	UserAgent      string
	DeviceTime     *time.Time
	SignedAt       time.Time
	CapturedByID   string // the member (mailroom staff) who captured it
}

// Checkpoint is a signed statement of a tenant log's size and Merkle root, in
// the C2SP signed-note form. Auditors keep them to prove later that the log
// only grew.
type Checkpoint struct {
	TenantID string
	TreeSize int64
	RootHash tlog.Hash
	// Note is the signed note: the checkpoint body and its signature lines.
	Note      []byte
	KeyID     string
	CreatedAt time.Time
}

// SigningKey is a tenant's Ed25519 checkpoint signing key. The private half
// is stored only sealed under the server's master key.
type SigningKey struct {
	ID       string
	TenantID string
	// VerifierKey is the public key in note verifier-key form (name+hash+key).
	VerifierKey string
	// SealedSigner is the note signer key, encrypted with the master key.
	SealedSigner []byte
	CreatedAt    time.Time
	RetiredAt    *time.Time
}

// Idempotency is a stored result of a mutation keyed by the client's
// idempotency key, so a retried scan returns the first result.
type Idempotency struct {
	Operation   string
	Key         string
	RequestHash string
	Result      []byte // JSON of the operation's result ids; nil until completed
}
