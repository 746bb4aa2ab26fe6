package domain

import (
	"context"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Store is the persistence port. Every call runs in one transaction scoped to
// the tenant in ctx (tenancy.TenantID); a context without a tenant fails with
// tenancy.ErrNoTenant before any SQL is sent. Adapters live in domain/storage.
type Store interface {
	// Update runs fn in a read-write transaction; fn's error rolls it back.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is a tenant-scoped unit of work. Every method reads or writes only rows of
// the transaction's tenant. Lookups of missing rows return ErrNotFound. Create
// methods set the record's TenantID to the transaction's tenant, whatever it
// held. List methods return at most page.First rows in key order (ids are
// time-ordered UUIDv7, so id order is creation order) after page.After.
type Tx interface {
	// CreatePerson inserts p; a duplicate employee id or email gives a *DuplicateError.
	CreatePerson(p *Person) error
	// UpdatePerson writes p if its stored version is p.Version-1, else ErrConcurrentModification.
	UpdatePerson(p *Person) error
	GetPerson(id string) (*Person, error)
	// GetPeople returns the people found among ids, in no particular order.
	GetPeople(ids []string) ([]*Person, error)
	ListPeople(f PersonFilter, page PageRequest) ([]*Person, error)

	CreateParcel(p *Parcel) error
	// UpdateParcel writes p if its stored version is p.Version-1, else ErrConcurrentModification.
	UpdateParcel(p *Parcel) error
	GetParcel(id string) (*Parcel, error)
	GetParcels(ids []string) ([]*Parcel, error)
	ListParcels(f ParcelFilter, page PageRequest) ([]*Parcel, error)

	// CreateAsset inserts a; a duplicate serial or tag gives a *DuplicateError
	// with Key "serial" or "assetTag".
	CreateAsset(a *Asset) error
	// UpdateAsset writes a if its stored version is a.Version-1, else ErrConcurrentModification.
	UpdateAsset(a *Asset) error
	GetAsset(id string) (*Asset, error)
	GetAssets(ids []string) ([]*Asset, error)
	// GetAssetBySerial and GetAssetByTag match exactly.
	GetAssetBySerial(serial string) (*Asset, error)
	GetAssetByTag(tag string) (*Asset, error)
	// FindAssetsByIdentifiers returns the assets whose serial is among
	// serials or whose tag is among tags, in one statement.
	FindAssetsByIdentifiers(serials, tags []string) ([]*Asset, error)
	ListAssets(f AssetFilter, page PageRequest) ([]*Asset, error)

	// AppendEvent assigns e.Seq (the next in the tenant's gapless log) and
	// inserts e. Events are never updated or deleted.
	AppendEvent(e *CustodyEvent) error
	GetEvent(id string) (*CustodyEvent, error)
	// GetEvents returns the events found among ids, in no particular order.
	GetEvents(ids []string) ([]*CustodyEvent, error)
	// ListAssetEvents returns an asset's history in log order (Seq ascending),
	// starting after page.After (a Seq): its own events, preceded by its
	// parcel's PARCEL_RECEIVED event, where its custody began.
	ListAssetEvents(assetID string, page PageRequest) ([]*CustodyEvent, error)
	// LastAssetEvents returns, per asset id, the last n events of its history
	// (as ListAssetEvents defines it) newest first, in one statement whatever
	// the number of ids.
	LastAssetEvents(assetIDs []string, n int) (map[string][]*CustodyEvent, error)
	// FirstAssetEvents returns, per asset id, the first n events of its
	// history in log order, in one statement (the first page of many
	// histories at once).
	FirstAssetEvents(assetIDs []string, n int) (map[string][]*CustodyEvent, error)

	// GetMembers returns the members among ids (actors of events).
	GetMembers(ids []string) ([]*Member, error)

	CreateSignature(s *Signature) error
	GetSignature(id string) (*Signature, error)
	GetSignatures(ids []string) ([]*Signature, error)

	// Ledger: the tenant's tamper-evident log (see domain/ledger).

	// LockLog takes the tenant log's write lock (the one AppendEvent takes)
	// and holds it until the transaction ends. A use case whose reads decide
	// what it writes across records (off-boarding cases and the assets they
	// expect) takes it first, so it neither races nor deadlocks with another
	// writer of the tenant: every writer then locks in the same order.
	LockLog() error
	// LedgerSize returns how many events the tenant's log holds (its tree size).
	LedgerSize() (int64, error)
	// ReadHashes returns the stored Merkle hashes at the given storage indexes
	// (tlog.StoredHashIndex), in the order asked; ErrNotFound if one is missing.
	// AppendEvent stores the hashes of every appended leaf (tlog.StoredHashes
	// over CanonicalEvent), in the same transaction.
	ReadHashes(indexes []int64) ([]tlog.Hash, error)
	// ListEvents returns at most limit events matching f with Seq > afterSeq,
	// in Seq order: one page of a log export.
	ListEvents(f EventFilter, afterSeq int64, limit int) ([]*CustodyEvent, error)
	// GetSignatureFacts returns the signatures among ids without their image
	// and consent text (left empty; the hashes stay): what an export needs.
	GetSignatureFacts(ids []string) ([]*Signature, error)
	// ScanEvents streams the log's events with Seq > after in Seq order.
	ScanEvents(after int64, fn func(*CustodyEvent) error) error
	// ScanHashes streams the stored hashes with storage index >= from in order.
	ScanHashes(from int64, fn func(index int64, h tlog.Hash) error) error
	// PutCheckpoint stores a signed checkpoint; storing one for a tree size
	// already checkpointed is a no-op.
	PutCheckpoint(c *Checkpoint) error
	// LatestCheckpoint returns the checkpoint of the largest tree; ErrNotFound if none.
	LatestCheckpoint() (*Checkpoint, error)
	// CheckpointCovering returns the smallest checkpoint whose tree holds at
	// least size leaves; ErrNotFound if none does yet.
	CheckpointCovering(size int64) (*Checkpoint, error)
	// ListCheckpoints returns checkpoints by tree size ascending, after
	// page.After (a decimal tree size).
	ListCheckpoints(page PageRequest) ([]*Checkpoint, error)
	// CreateSigningKey stores k as the active key and retires the one before
	// it (RetiredAt = k.CreatedAt).
	CreateSigningKey(k *SigningKey) error
	// ActiveSigningKey returns the key that signs new checkpoints; ErrNotFound if none.
	ActiveSigningKey() (*SigningKey, error)
	// ListSigningKeys returns every key the tenant ever had, oldest first.
	ListSigningKeys() ([]*SigningKey, error)

	// Off-boarding cases and returns (offboarding.go).

	// CreateCase inserts c; a person who already has an OPEN case gives a
	// *DuplicateError with Key "person".
	CreateCase(c *OffboardingCase) error
	// UpdateCase writes c if its stored version is c.Version-1, else ErrConcurrentModification.
	UpdateCase(c *OffboardingCase) error
	GetCase(id string) (*OffboardingCase, error)
	GetCases(ids []string) ([]*OffboardingCase, error)
	// LockCase returns the case and holds a write lock on it until the
	// transaction ends (SELECT ... FOR UPDATE on Postgres), so changes to its
	// items are serialised instead of failing on a version conflict. Only
	// inside Update: a read-only transaction cannot take the lock.
	LockCase(id string) (*OffboardingCase, error)
	// LockOpenCaseOf is LockCase for the person's OPEN case; ErrNotFound if none.
	LockOpenCaseOf(personID string) (*OffboardingCase, error)
	// ListCases returns cases by id (creation order).
	ListCases(f CaseFilter, page PageRequest) ([]*OffboardingCase, error)
	// PutCaseItem inserts the item or replaces the one with the same
	// (case, asset).
	PutCaseItem(it *CaseItem) error
	// ListCaseItems returns the items of the given cases, ordered by case
	// id then AddedAt then asset id, in one statement.
	ListCaseItems(caseIDs []string) ([]*CaseItem, error)
	// CreateReturn inserts r.
	CreateReturn(r *Return) error
	GetReturns(ids []string) ([]*Return, error)
	// ListReturns returns returns by id (creation order).
	ListReturns(f ReturnFilter, page PageRequest) ([]*Return, error)

	// ITAD vendors (vendors.go).

	// CreateVendor inserts v; a vendor of the same name (case-insensitive)
	// gives a *DuplicateError with Key "name".
	CreateVendor(v *Vendor) error
	// UpdateVendor writes v if its stored version is v.Version-1, else ErrConcurrentModification.
	UpdateVendor(v *Vendor) error
	GetVendor(id string) (*Vendor, error)
	GetVendors(ids []string) ([]*Vendor, error)
	// ListVendors returns vendors by id (creation order).
	ListVendors(page PageRequest) ([]*Vendor, error)

	// Pickup orders (pickups.go).

	CreatePickupOrder(o *PickupOrder) error
	// UpdatePickupOrder writes o if its stored version is o.Version-1, else ErrConcurrentModification.
	UpdatePickupOrder(o *PickupOrder) error
	GetPickupOrder(id string) (*PickupOrder, error)
	GetPickupOrders(ids []string) ([]*PickupOrder, error)
	// LockPickupOrder is GetPickupOrder holding a write lock on the order
	// until the transaction ends (SELECT ... FOR UPDATE on Postgres), so
	// staging and scans of one order are serialised. Only inside Update.
	LockPickupOrder(id string) (*PickupOrder, error)
	// ListPickupOrders returns orders by id (creation order).
	ListPickupOrders(f PickupFilter, page PageRequest) ([]*PickupOrder, error)
	// PutPickupLine inserts the line or replaces the one with the same (order, asset).
	PutPickupLine(l *PickupLine) error
	// PutPickupLines inserts many new lines in few statements (bulk staging).
	PutPickupLines(ls []*PickupLine) error
	// ListPickupLines returns the lines of the given orders ordered by order
	// id then StagedAt then asset id, in one statement.
	ListPickupLines(orderIDs []string) ([]*PickupLine, error)
	// FindPickupLines returns the order's lines whose serial is serial or
	// whose tag is tag (either may be empty, matching nothing), using the
	// (tenant, order, serial) and (tenant, order, tag) indexes.
	FindPickupLines(orderID, serial, tag string) ([]*PickupLine, error)
	// CreatePickupScans inserts scans (one or many) in few statements.
	CreatePickupScans(scans []*PickupScan) error
	// ListPickupScans returns an order's scans of one phase in scan order.
	ListPickupScans(orderID string, phase ScanPhase) ([]*PickupScan, error)
	// MatchedInPhase reports whether a MATCHED scan of the line exists in the phase.
	MatchedInPhase(orderID string, phase ScanPhase, assetID string) (bool, error)
	// MatchedLines returns the asset ids of the lines matched in the phase.
	MatchedLines(orderID string, phase ScanPhase) ([]string, error)

	// Dock pickup, receipt, sanitization, certificates (disposition.go).

	// GetPickupScan returns one scan of the tenant.
	GetPickupScan(id string) (*PickupScan, error)
	// CreateResolution inserts r; a second resolution of the same scan, or
	// of the same missing line in the same phase, gives a *DuplicateError
	// with Key "resolution".
	CreateResolution(r *Resolution) error
	// ListResolutions returns an order's resolutions of one phase in
	// resolution order.
	ListResolutions(orderID string, phase ScanPhase) ([]*Resolution, error)
	// CreatePickupSignature inserts a pickup confirmation signature.
	CreatePickupSignature(s *PickupSignature) error
	// ListPickupSignatures returns the signatures of the given orders
	// (ordered by order id then signed time), in one statement.
	ListPickupSignatures(orderIDs []string) ([]*PickupSignature, error)
	// CreateSanitization inserts r; a second record for the same (order,
	// asset) gives a *DuplicateError with Key "sanitization".
	CreateSanitization(r *SanitizationRecord) error
	// ListSanitizations returns the records of the given orders, ordered by
	// order id then asset id, in one statement.
	ListSanitizations(orderIDs []string) ([]*SanitizationRecord, error)
	// CreateCertificate inserts c; a second certificate for the same order,
	// or a number already used, gives a *DuplicateError with Key "certificate".
	CreateCertificate(c *Certificate) error
	GetCertificate(id string) (*Certificate, error)
	// GetCertificates returns the certificates found among ids.
	GetCertificates(ids []string) ([]*Certificate, error)
	// CertificatesOfOrders returns the certificates of the given orders.
	CertificatesOfOrders(orderIDs []string) ([]*Certificate, error)
	// ListCertificates returns certificates by id (issue order); with
	// vendorID set, only that vendor's.
	ListCertificates(vendorID string, page PageRequest) ([]*Certificate, error)
	// ListDispositionLines returns the lines that have an outcome, of one
	// order (ordered by order id then asset id; page.After is the last
	// line's "orderID/assetID") or with an outcome recorded in [From, To)
	// (ordered by outcome time, order id, asset id; page.After is
	// DispositionCursor of the last line).
	ListDispositionLines(f DispositionFilter, page PageRequest) ([]*PickupLine, error)
	// EarliestStagedAt returns, per order, the earliest StagedAt of its
	// STAGED lines (orders without one are absent), in one statement.
	EarliestStagedAt(orderIDs []string) (map[string]time.Time, error)

	// Time-bound triggers (sla.go).

	// GetSLAPolicy returns the tenant's policy; ErrNotFound if it never set one.
	GetSLAPolicy() (*SLAPolicy, error)
	// PutSLAPolicy inserts the policy (p.Version 1) or writes it if its
	// stored version is p.Version-1, else ErrConcurrentModification.
	PutSLAPolicy(p *SLAPolicy) error
	// CreateBreach inserts b unless a breach of the same (subject kind,
	// subject, stage) exists; it reports whether it inserted.
	CreateBreach(b *Breach) (bool, error)
	// ListBreaches returns breaches by id (raise order).
	ListBreaches(f BreachFilter, page PageRequest) ([]*Breach, error)
	// AssetsInStates returns the assets in one of states, with the time
	// they entered it (their last event's RecordedAt), by asset id; with
	// enteredBefore set, only those that entered it strictly before then.
	AssetsInStates(states []AssetState, enteredBefore *time.Time, page PageRequest) ([]*AssetClock, error)

	// Imports from ITAM and HRIS files (imports.go).

	// FindPeople returns the people whose employee id is among employeeIDs
	// (exactly) or whose email is among emails (ignoring case), in one
	// statement over the (tenant, employee id) and (tenant, lower(email))
	// unique indexes: an import batch resolves its assignees, or finds the
	// people its records name, at once. Empty strings match nothing.
	FindPeople(employeeIDs, emails []string) ([]*Person, error)

	// ClaimIdempotency records (operation, key, requestHash) if the key is new
	// and returns nil; if the key exists it returns the stored record (whose
	// Result may be nil when the first attempt is still running in another
	// transaction that has not committed: adapters block until it finishes).
	ClaimIdempotency(operation, key, requestHash string) (*Idempotency, error)
	// CompleteIdempotency stores the result of a claimed key.
	CompleteIdempotency(operation, key string, result []byte) error
}

// Admin is the platform-level port used by the CLI and the authenticator:
// operations that create tenants or resolve a credential before any tenant is known.
type Admin interface {
	CreateTenant(ctx context.Context, t *Tenant) error
	// GetTenant finds a tenant by id or slug.
	GetTenant(ctx context.Context, idOrSlug string) (*Tenant, error)
	// CreateMember inserts a member with its roles in t.TenantID.
	CreateMember(ctx context.Context, m *Member) error
	// CreateToken inserts a token (hash only).
	CreateToken(ctx context.Context, t *APIToken) error
	// RevokeToken marks a token of the tenant revoked; ErrNotFound if absent.
	RevokeToken(ctx context.Context, tenantID, tokenID string, at time.Time) error
	// Authenticate resolves a token hash, inside the tenant the token names
	// (tenancy.ParseToken), to its tenant, member and roles; ErrUnauthenticated
	// when unknown, revoked or of another tenant.
	Authenticate(ctx context.Context, tenantID string, tokenHash []byte) (*Credential, error)
	// AuthenticateTokenID resolves a token by its id, inside the tenant, to
	// its credential as Authenticate does (a signed download link names the
	// token that asked for it); ErrUnauthenticated when unknown or revoked.
	AuthenticateTokenID(ctx context.Context, tenantID, tokenID string) (*Credential, error)
	// ListTenants returns every tenant (the SLA sweeper visits each).
	ListTenants(ctx context.Context) ([]*Tenant, error)
	// ServiceMember returns the tenant's service member of that name,
	// creating it (kind SERVICE, no roles, no token) on first use: the actor
	// of events the server records on its own, such as SLA breaches.
	ServiceMember(ctx context.Context, tenantID, name string) (*Member, error)
}

// Exclusive runs a job on one server instance at a time.
type Exclusive interface {
	// TryRun runs fn if no other instance (or goroutine) holds the named
	// lock, holding it meanwhile (on Postgres a session advisory lock); it
	// reports whether fn ran.
	TryRun(ctx context.Context, name string, fn func(context.Context) error) (bool, error)
}

// Credential is what a valid token resolves to.
type Credential struct {
	Tenant  Tenant
	Member  Member
	TokenID string
}

// Message is what the bus carries: a wake-up that something was committed to a
// tenant's custody log. The database stays the source of truth.
type Message struct {
	TenantID string
	Seq      int64
	EventID  string
	Type     EventType
	AssetID  string
	ParcelID string
	// PersonID is the person the event concerns (recipient, holder), if any.
	PersonID string
}

// Bus is the event bus port (in-process or Redis pub/sub, domain/eventbus).
type Bus interface {
	// Publish announces committed events. Failure is reported but never undoes
	// the committed write.
	Publish(ctx context.Context, msgs ...Message) error
	// Subscribe delivers messages of one tenant until ctx ends or cancel is called.
	Subscribe(ctx context.Context, tenantID string) (msgs <-chan Message, cancel func(), err error)
}

// PageRequest asks for at most First items after the opaque position After
// (already decoded into the adapter's key: an id or a sequence number).
type PageRequest struct {
	First int
	After string
}

// DefaultPageSize and MaxPageSize bound every list.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// PersonFilter narrows ListPeople.
type PersonFilter struct {
	Status PersonStatus
	Search string // matches name, email or employee id
}

// ParcelFilter narrows ListParcels.
type ParcelFilter struct {
	State       ParcelState
	RecipientID string
}

// AssetFilter narrows ListAssets.
type AssetFilter struct {
	States   []AssetState
	HolderID string
	ParcelID string
	// Search matches serial, asset tag, make or model (case-insensitive substring).
	Search string
}
