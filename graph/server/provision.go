package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/tenancy"
)

// DemoTenantSlug is the slug of the tenant a development server creates on
// its first start.
const DemoTenantSlug = "demo"

// IssuedToken is a member and the API token just created for it. Plaintext
// exists only here: the store keeps the hash, so it must be shown now or lost.
type IssuedToken struct {
	Member    domain.Member
	Token     domain.APIToken
	Plaintext string
}

// CreateMemberToken creates a member of tenantID of the given kind holding
// roles, and one API token named name for it. The CLI and tests issue
// credentials through it, so both follow the same path.
func CreateMemberToken(ctx context.Context, admin domain.Admin, tenantID string,
	kind domain.MemberKind, name string, roles ...domain.Role) (*IssuedToken, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, errors.New("create member token: a name is required")
	}
	if kind != domain.MemberPerson && kind != domain.MemberService {
		return nil, fmt.Errorf("create member token: unknown member kind %q (want %s or %s)",
			kind, domain.MemberPerson, domain.MemberService)
	}
	if len(roles) == 0 {
		return nil, errors.New("create member token: at least one role is required")
	}
	for _, r := range roles {
		if !r.Valid() {
			return nil, fmt.Errorf("create member token: unknown role %q", r)
		}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	m := domain.Member{ID: domain.NewID(), TenantID: tenantID, Name: name, Kind: kind, Roles: roles, CreatedAt: now}
	if err := admin.CreateMember(ctx, &m); err != nil {
		return nil, fmt.Errorf("create member %q: %w", name, err)
	}
	plain, hash, err := tenancy.NewToken(tenantID)
	if err != nil {
		return nil, fmt.Errorf("create token for %q: %w", name, err)
	}
	t := domain.APIToken{ID: domain.NewID(), TenantID: tenantID, MemberID: m.ID, Name: name, Hash: hash, CreatedAt: now}
	if err := admin.CreateToken(ctx, &t); err != nil {
		return nil, fmt.Errorf("create token for %q: %w", name, err)
	}
	return &IssuedToken{Member: m, Token: t, Plaintext: plain}, nil
}

// CreateVendorStaffToken creates a member of tenantID with the itad_vendor
// role working for the tenant's vendor vendorID, and one API token for it.
// A vendor the tenant does not have is refused (domain.ErrNotFound).
func CreateVendorStaffToken(ctx context.Context, admin domain.Admin, tenantID, vendorID string,
	kind domain.MemberKind, name string) (*IssuedToken, error) {
	if vendorID == "" {
		return nil, errors.New("create vendor staff token: a vendor is required")
	}
	return CreateMemberToken(ctx, vendorStaff{Admin: admin, vendorID: vendorID}, tenantID, kind, name, domain.RoleITADVendor)
}

// vendorStaff is an Admin whose new members work for one vendor.
type vendorStaff struct {
	domain.Admin
	vendorID string
}

// CreateMember implements domain.Admin.
func (a vendorStaff) CreateMember(ctx context.Context, m *domain.Member) error {
	m.VendorID = a.vendorID
	return a.Admin.CreateMember(ctx, m)
}

// Demo is the demo tenant; Tokens holds one per role (in domain.AllRoles
// order) when it was just created, and nothing on later starts.
type Demo struct {
	Tenant domain.Tenant
	Tokens []IssuedToken
}

// SeedDemo creates the demo tenant with one member and token per role,
// unless it exists already; created says which. Two servers starting at once
// both end with the same tenant: the loser of the insert reads it back.
func SeedDemo(ctx context.Context, admin domain.Admin) (demo *Demo, created bool, err error) {
	existing, err := admin.GetTenant(ctx, DemoTenantSlug)
	switch {
	case err == nil:
		return &Demo{Tenant: *existing}, false, nil
	case !errors.Is(err, domain.ErrNotFound):
		return nil, false, fmt.Errorf("seed demo tenant: look up: %w", err)
	}
	t := domain.Tenant{ID: domain.NewID(), Slug: DemoTenantSlug, Name: "Demo Company",
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := admin.CreateTenant(ctx, &t); err != nil {
		if errors.Is(err, domain.ErrDuplicate) {
			if existing, gerr := admin.GetTenant(ctx, DemoTenantSlug); gerr == nil {
				return &Demo{Tenant: *existing}, false, nil
			}
		}
		return nil, false, fmt.Errorf("seed demo tenant: %w", err)
	}
	demo = &Demo{Tenant: t}
	for _, role := range domain.AllRoles {
		name := "Demo " + strings.ReplaceAll(string(role), "_", " ")
		tok, err := CreateMemberToken(ctx, admin, t.ID, domain.MemberPerson, name, role)
		if err != nil {
			return nil, false, fmt.Errorf("seed demo tenant: %w", err)
		}
		demo.Tokens = append(demo.Tokens, *tok)
	}
	return demo, true, nil
}
