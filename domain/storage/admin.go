package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/google/uuid"
	"gorm.io/gorm"
)

// The domain.Admin methods are platform operations: they name their tenant
// explicitly instead of taking it from a principal in ctx, because they run
// before there is one (the CLI creating a tenant or resolving --tenant, the
// authenticator resolving a bearer token). Each still runs in a transaction
// scoped to that one tenant, under row-level security on Postgres. Only
// trusted code (the CLI, the authenticator) may call them.

// CreateTenant inserts t and its empty custody log head. An empty t.ID gets a
// fresh UUIDv7 and a zero CreatedAt the current time; both are written back.
// A taken slug gives a *domain.DuplicateError with Key "slug".
func (db *DB) CreateTenant(ctx context.Context, t *domain.Tenant) error {
	const op = "create tenant"
	if t == nil {
		return errors.New(op + ": nil tenant")
	}
	if err := newRecordID(&t.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	r := &tenantRow{ID: t.ID, Slug: t.Slug, Name: t.Name, CreatedAt: newStamp(t.CreatedAt)}
	return db.inTenant(ctx, t.ID, true, func(g *gorm.DB, tenant string) error {
		if err := g.Table("tenants").Create(r).Error; err != nil {
			return dbError(op, err)
		}
		if err := insert(g, tenant, "ledger_heads", &ledgerHeadRow{}).Error; err != nil {
			return dbError(op, err)
		}
		t.CreatedAt = r.CreatedAt.Time
		return nil
	})
}

// GetTenant finds a tenant by id or, failing that, by slug; ErrNotFound when
// neither matches. On Postgres the slug lookup goes through the SECURITY
// DEFINER function custody_tenant_by_slug, since no tenant is in scope yet.
func (db *DB) GetTenant(ctx context.Context, idOrSlug string) (*domain.Tenant, error) {
	const op = "get tenant"
	if id, ok := canonicalID(idOrSlug); ok {
		var r tenantRow
		found := false
		err := db.inTenant(ctx, id, false, func(g *gorm.DB, tenant string) error {
			res := g.Table("tenants").Where("tenants.id = ?", tenant).Limit(1).Find(&r)
			found = res.RowsAffected == 1
			return dbError(op, res.Error)
		})
		if err != nil {
			return nil, err
		}
		if found {
			return r.domain(), nil
		}
	}
	if idOrSlug == "" {
		return nil, domain.ErrNotFound
	}
	q := db.read.WithContext(ctx).Table("tenants").Where("tenants.slug = ?", idOrSlug)
	if db.dialect == DialectPostgres {
		q = db.read.WithContext(ctx).Table("custody_tenant_by_slug(?) AS tenants", idOrSlug)
	}
	var r tenantRow
	res := q.Limit(1).Find(&r)
	if res.Error != nil {
		return nil, dbError(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, domain.ErrNotFound
	}
	return r.domain(), nil
}

// CreateMember inserts m with its roles in m.TenantID. An empty m.ID gets a
// fresh UUIDv7 and a zero CreatedAt the current time; both are written back.
// A VendorID that names no vendor of the tenant gives ErrNotFound.
func (db *DB) CreateMember(ctx context.Context, m *domain.Member) error {
	const op = "create member"
	if m == nil {
		return errors.New(op + ": nil member")
	}
	for _, role := range m.Roles {
		if !role.Valid() {
			return fmt.Errorf("%s: unknown role %q", op, role)
		}
	}
	if err := newRecordID(&m.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := canonicalRefs(opt("vendorId", &m.VendorID)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now()
	}
	r := &memberRow{ID: m.ID, Name: m.Name, Kind: string(m.Kind), VendorID: null(m.VendorID),
		CreatedAt: newStamp(m.CreatedAt)}
	roles := make([]*memberRoleRow, 0, len(m.Roles))
	for _, role := range m.Roles {
		if !containsRole(roles, role) {
			roles = append(roles, &memberRoleRow{MemberID: m.ID, Role: string(role)})
		}
	}
	return db.inTenant(ctx, m.TenantID, true, func(g *gorm.DB, tenant string) error {
		// The foreign key refuses an unknown vendor too, but could not say
		// which reference failed (SQLite reports no constraint name).
		if r.VendorID != nil {
			var n int64
			if err := scopedTo(g, tenant, "vendors").Where("vendors.id = ?", *r.VendorID).Count(&n).Error; err != nil {
				return dbError(op, err)
			}
			if n == 0 {
				return fmt.Errorf("%s: no vendor %s in the tenant: %w", op, *r.VendorID, domain.ErrNotFound)
			}
		}
		if err := insert(g, tenant, "members", r).Error; err != nil {
			return dbError(op, err)
		}
		if len(roles) > 0 {
			if err := insert(g, tenant, "member_roles", roles...).Error; err != nil {
				return dbError(op, err)
			}
		}
		m.TenantID, m.CreatedAt = tenant, r.CreatedAt.Time
		return nil
	})
}

func containsRole(rows []*memberRoleRow, role domain.Role) bool {
	for _, r := range rows {
		if r.Role == string(role) {
			return true
		}
	}
	return false
}

// CreateToken inserts t (its hash only) in t.TenantID. An empty t.ID gets a
// fresh UUIDv7 and a zero CreatedAt the current time; both are written back.
func (db *DB) CreateToken(ctx context.Context, t *domain.APIToken) error {
	const op = "create token"
	if t == nil {
		return errors.New(op + ": nil token")
	}
	if err := newRecordID(&t.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	r := &tokenRow{ID: t.ID, MemberID: t.MemberID, Name: t.Name, TokenHash: t.Hash,
		CreatedAt: newStamp(t.CreatedAt), RevokedAt: optStamp(t.RevokedAt)}
	if c, ok := canonicalID(t.MemberID); ok {
		r.MemberID = c
	}
	return db.inTenant(ctx, t.TenantID, true, func(g *gorm.DB, tenant string) error {
		if err := insert(g, tenant, "api_tokens", r).Error; err != nil {
			return dbError(op, err)
		}
		t.TenantID, t.MemberID, t.CreatedAt, t.RevokedAt = tenant, r.MemberID, r.CreatedAt.Time, timePtr(r.RevokedAt)
		return nil
	})
}

// RevokeToken marks a token of the tenant revoked at at; ErrNotFound if the
// tenant has no such token. Revoking a revoked token keeps the first time.
func (db *DB) RevokeToken(ctx context.Context, tenantID, tokenID string, at time.Time) error {
	const op = "revoke token"
	id, ok := canonicalID(tokenID)
	if !ok {
		return domain.ErrNotFound
	}
	return db.inTenant(ctx, tenantID, true, func(g *gorm.DB, tenant string) error {
		res := scopedTo(g, tenant, "api_tokens").Where("api_tokens.id = ? AND api_tokens.revoked_at IS NULL", id).
			Update("revoked_at", newStamp(at))
		if res.Error != nil {
			return dbError(op, res.Error)
		}
		if res.RowsAffected == 1 {
			return nil
		}
		var n int64
		if err := scopedTo(g, tenant, "api_tokens").Where("api_tokens.id = ?", id).Count(&n).Error; err != nil {
			return dbError(op, err)
		}
		if n == 0 {
			return domain.ErrNotFound
		}
		return nil
	})
}

// ListTokens returns the tenant's tokens (revoked ones included) in creation
// order, for the CLI.
func (db *DB) ListTokens(ctx context.Context, tenantID string) ([]domain.APIToken, error) {
	var rows []tokenRow
	err := db.inTenant(ctx, tenantID, false, func(g *gorm.DB, tenant string) error {
		return dbError("list tokens", scopedTo(g, tenant, "api_tokens").Order("api_tokens.id").Find(&rows).Error)
	})
	if err != nil {
		return nil, err
	}
	return mapRows(rows, (*tokenRow).domain), nil
}

// credentialRow is one row of the Authenticate join (one per role).
type credentialRow struct {
	TokenID         string  `gorm:"column:token_id"`
	TenantID        string  `gorm:"column:tenant_id"`
	TenantSlug      string  `gorm:"column:tenant_slug"`
	TenantName      string  `gorm:"column:tenant_name"`
	TenantCreatedAt stamp   `gorm:"column:tenant_created_at"`
	MemberID        string  `gorm:"column:member_id"`
	MemberName      string  `gorm:"column:member_name"`
	MemberKind      string  `gorm:"column:member_kind"`
	MemberCreatedAt stamp   `gorm:"column:member_created_at"`
	MemberVendorID  *string `gorm:"column:member_vendor_id"`
	Role            *string `gorm:"column:role"`
}

// Authenticate resolves a token hash inside tenantID (the tenant the token
// names) to the tenant, the member with its roles and vendor, and the token
// id, in one statement. Unknown, revoked, or a malformed tenant id:
// ErrUnauthenticated. It needs no principal in ctx: it is what produces one.
func (db *DB) Authenticate(ctx context.Context, tenantID string, tokenHash []byte) (*domain.Credential, error) {
	if _, err := uuid.Parse(tenantID); err != nil || len(tokenHash) == 0 {
		return nil, domain.ErrUnauthenticated
	}
	return db.credential(ctx, "authenticate", tenantID, "api_tokens.token_hash = ?", tokenHash)
}

// ListTenants returns every tenant, by id, for platform jobs that visit
// each (the SLA sweeper). On Postgres no tenant is in scope, so it reads
// them through the SECURITY DEFINER function custody_tenants (00007).
func (db *DB) ListTenants(ctx context.Context) ([]*domain.Tenant, error) {
	q := db.read.WithContext(ctx).Table("tenants")
	if db.dialect == DialectPostgres {
		q = db.read.WithContext(ctx).Table("custody_tenants() AS tenants")
	}
	var rows []tenantRow
	if err := q.Order("tenants.id").Find(&rows).Error; err != nil {
		return nil, dbError("list tenants", err)
	}
	return mapRows(rows, (*tenantRow).domain), nil
}

// ServiceMember returns the tenant's service member named name: a member of
// kind SERVICE with no role and no vendor, which only the server creates
// (members issued a token always hold a role), creating it on first use.
// Concurrent first calls get the same member: the creating transaction
// looks again under the tenant's log lock (LockLog) before it inserts, so
// a second one waits for the first and then finds its member. A tenant
// that does not exist gives ErrNotFound.
func (db *DB) ServiceMember(ctx context.Context, tenantID, name string) (*domain.Member, error) {
	const op = "service member"
	if name == "" {
		return nil, errors.New(op + ": a name is required")
	}
	var m *domain.Member
	err := db.inTenant(ctx, tenantID, true, func(g *gorm.DB, tenant string) error {
		t := &txn{g: g, tenant: tenant}
		find := func() (bool, error) {
			var rows []memberRow
			// The kind is a literal, the condition of the partial index
			// members_service_name_idx (see scopedVia).
			err := t.scopedVia("members", "members_service_name_idx").
				Where("members.kind = 'SERVICE' AND members.name = ? AND members.vendor_id IS NULL", name).
				Where("NOT EXISTS (SELECT 1 FROM member_roles WHERE member_roles.tenant_id = members.tenant_id " +
					"AND member_roles.member_id = members.id)").
				Order("members.id").Limit(1).Find(&rows).Error
			if err != nil || len(rows) == 0 {
				return false, dbError(op, err)
			}
			r := rows[0]
			m = &domain.Member{ID: r.ID, TenantID: r.TenantID, Name: r.Name, Kind: domain.MemberKind(r.Kind),
				CreatedAt: r.CreatedAt.Time}
			return true, nil
		}
		if found, err := find(); found || err != nil {
			return err
		}
		if err := t.LockLog(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if found, err := find(); found || err != nil {
			return err
		}
		r := &memberRow{ID: domain.NewID(), Name: name, Kind: string(domain.MemberService), CreatedAt: newStamp(time.Now())}
		if err := insert(g, tenant, "members", r).Error; err != nil {
			return dbError(op, err)
		}
		m = &domain.Member{ID: r.ID, TenantID: tenant, Name: name, Kind: domain.MemberService, CreatedAt: r.CreatedAt.Time}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// credential resolves the unrevoked token of tenantID that cond (on
// api_tokens, with its args) selects to the tenant, the member with its
// roles and vendor, and the token id, in one statement (one row per role);
// none is ErrUnauthenticated.
func (db *DB) credential(ctx context.Context, op, tenantID, cond string, args ...any) (*domain.Credential, error) {
	var rows []credentialRow
	err := db.inTenant(ctx, tenantID, false, func(g *gorm.DB, tenant string) error {
		err := scopedTo(g, tenant, "api_tokens").
			Select(`api_tokens.id AS token_id, tenants.id AS tenant_id, tenants.slug AS tenant_slug,
				tenants.name AS tenant_name, tenants.created_at AS tenant_created_at,
				members.id AS member_id, members.name AS member_name, members.kind AS member_kind,
				members.created_at AS member_created_at, members.vendor_id AS member_vendor_id,
				member_roles.role AS role`).
			Joins("JOIN tenants ON tenants.id = api_tokens.tenant_id").
			Joins("JOIN members ON members.tenant_id = api_tokens.tenant_id AND members.id = api_tokens.member_id").
			Joins("LEFT JOIN member_roles ON member_roles.tenant_id = members.tenant_id AND member_roles.member_id = members.id").
			Where(cond, args...).Where("api_tokens.revoked_at IS NULL").
			Order("member_roles.role").Find(&rows).Error
		return dbError(op, err)
	})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, domain.ErrUnauthenticated
	}
	r := rows[0]
	c := &domain.Credential{
		Tenant: domain.Tenant{ID: r.TenantID, Slug: r.TenantSlug, Name: r.TenantName, CreatedAt: r.TenantCreatedAt.Time},
		Member: domain.Member{ID: r.MemberID, TenantID: r.TenantID, Name: r.MemberName, Kind: domain.MemberKind(r.MemberKind),
			VendorID: str(r.MemberVendorID), CreatedAt: r.MemberCreatedAt.Time},
		TokenID: r.TokenID,
	}
	for _, row := range rows {
		if row.Role != nil {
			c.Member.Roles = append(c.Member.Roles, domain.Role(*row.Role))
		}
	}
	return c, nil
}
