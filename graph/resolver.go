package graph

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/model"
	"github.com/custody-dev/custody/tenancy"
)

// Resolver is the root of the GraphQL resolvers. Resolvers stay thin: they
// map the input, call the domain service and map its result or error. The
// helpers they share live here, outside the generated resolver files.
type Resolver struct {
	svc   *domain.Service
	authz *authz.Authorizer
	log   *slog.Logger
	// links signs exportCreate's download links; nil refuses them.
	links *tenancy.LinkSigner
}

// Bounds of Asset.recentEvents(last:).
const (
	defaultRecentEvents = 10
	maxRecentEvents     = 50
)

// principal returns the authenticated caller.
func principal(ctx context.Context) (tenancy.Principal, error) {
	p, ok := tenancy.PrincipalFrom(ctx)
	if !ok {
		return p, domain.ErrUnauthenticated
	}
	return p, nil
}

// byGlobalID looks a record up by global id with get; an id that names
// nothing of type typeName is not found (nil), like an id of another tenant.
func byGlobalID[T any](ctx context.Context, typeName, gid string, get func(context.Context, string) (*T, error)) (*T, error) {
	id, ok := idOf(typeName, gid)
	if !ok {
		return nil, nil
	}
	return get(ctx, id)
}

// node loads a record of any Node type, after checking the caller may read
// that type. The result is an untyped nil when nothing is found, never a nil
// pointer in an interface.
func (r *Resolver) node(ctx context.Context, gid string) (model.Node, error) {
	typeName, id, ok := DecodeID(gid)
	if !ok {
		return nil, nil
	}
	if ok, err := r.authorizeNode(ctx, typeName); !ok || err != nil {
		return nil, err
	}
	switch typeName {
	case typeAsset:
		return asNode(r.svc.Asset(ctx, id))
	case typeParcel:
		return asNode(r.svc.Parcel(ctx, id))
	case typePerson:
		return asNode(r.svc.Person(ctx, id))
	case typeSignature:
		return asNode(r.svc.Signature(ctx, id))
	case typeCustodyEvent:
		return asNode(r.svc.Event(ctx, id))
	case typeMember:
		return asNode(loadMember(ctx, id))
	case typeOffboardingCase:
		return asNode(r.svc.Case(ctx, id))
	case typeAssetReturn:
		return asNode(r.svc.Return(ctx, id))
	case typeVendor:
		return asNode(r.svc.Vendor(ctx, id))
	case typePickupOrder:
		return asNode(r.svc.PickupOrder(ctx, id))
	case typeCertificate:
		return asNode(r.svc.Certificate(ctx, id))
	}
	return nil, fmt.Errorf("node: type %s is authorized but not loadable", typeName)
}

func asNode[T any](v *T, err error) (model.Node, error) {
	if err != nil || v == nil {
		return nil, err
	}
	return v, nil
}

// pageOrNothing lists with list, or returns an empty page (after checking
// first) when the filter names a record that cannot exist.
func pageOrNothing[T any](filterOK bool, first *int, list func() (domain.Page[T], error)) (domain.Page[T], error) {
	if filterOK {
		return list()
	}
	_, err := domain.PageSize(first)
	return domain.Page[T]{}, err
}

// recentEventsCount validates Asset.recentEvents(last:).
func recentEventsCount(last *int) (int, error) {
	if last == nil {
		return defaultRecentEvents, nil
	}
	if *last < 0 || *last > maxRecentEvents {
		return 0, &domain.ArgumentError{Argument: "last", Message: fmt.Sprintf("must be between 0 and %d", maxRecentEvents)}
	}
	return *last, nil
}

// viewerTenant is the caller's tenant as the credential named it.
func viewerTenant(ctx context.Context) (*domain.Tenant, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	return &domain.Tenant{ID: p.TenantID, Slug: p.TenantSlug, Name: p.TenantName}, nil
}

// viewerMember is the caller's member record. A member deleted since the
// credential was checked is no longer authenticated.
func viewerMember(ctx context.Context) (*domain.Member, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	m, err := loadMember(ctx, p.MemberID)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, domain.ErrUnauthenticated
	}
	return m, nil
}
