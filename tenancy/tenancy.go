// Package tenancy carries the caller's tenant and principal through a request.
// They come only from the credential (see Authenticator); nothing else may put
// a tenant into a context, and code that needs a tenant fails closed without one.
package tenancy

import (
	"context"
	"errors"
)

// ErrNoTenant is returned when tenant-scoped work is attempted with a context
// that carries no tenant. It is a programming error, never an unscoped read.
var ErrNoTenant = errors.New("tenancy: no tenant in context")

// Principal is the authenticated caller: a member of exactly one tenant.
type Principal struct {
	TenantID   string
	TenantSlug string
	TenantName string
	MemberID   string
	MemberName string
	// Roles are the member's roles in TenantID, loaded from the database.
	Roles   []string
	TokenID string
	// VendorID is the ITAD vendor an itad_vendor member works for, if any.
	VendorID string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p. Only the authenticator and trusted
// operator tooling (the CLI acting inside one tenant) call it.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.TenantID != ""
}

// TenantID returns the tenant in ctx, or ErrNoTenant.
func TenantID(ctx context.Context) (string, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return "", ErrNoTenant
	}
	return p.TenantID, nil
}

// ClientInfo is what the server observed of the caller's connection; it is
// recorded with signatures as evidence.
type ClientInfo struct {
	IPAddress string
	UserAgent string
}

type clientKey struct{}

// WithClientInfo returns ctx carrying c.
func WithClientInfo(ctx context.Context, c ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientInfoFrom returns the connection facts in ctx (zero when absent).
func ClientInfoFrom(ctx context.Context) ClientInfo {
	c, _ := ctx.Value(clientKey{}).(ClientInfo)
	return c
}
