package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/model"
	"github.com/custody-dev/custody/tenancy"
)

// guardedTypes carry personal data (people, signatures) or data a role's root
// permissions keep from it (parcels: sender, tracking, notes): a field
// returning one needs the type permission wherever it appears (an asset's
// holder or parcel), not only at the root field that leads to it.
var guardedTypes = map[string]bool{"Person": true, "Signature": true, "Parcel": true, "OffboardingCase": true, "Asset": true,
	// IT's count of the shelf names assets beyond a vendor's manifest.
	"PickupCountReport": true}

// rootTypes are the operation types whose fields are authorized by name.
var rootTypes = map[string]bool{authz.ObjQuery: true, authz.ObjMutation: true, authz.ObjSubscription: true}

// authorizeField is the field middleware that enforces the policy, failing
// closed: every root field needs Check(principal, rootType, field), and every
// field returning a guarded type needs Check(principal, "Type", typeName),
// before its resolver runs. A denied field resolves to null with a FORBIDDEN
// error. Introspection meta-fields (__schema, __type, __typename) are governed
// by the Introspection setting instead.
func (r *Resolver) authorizeField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || strings.HasPrefix(fc.Field.Name, "__") {
		return next(ctx)
	}
	root := rootTypes[fc.Object]
	returns := ""
	if def := fc.Field.Definition; def != nil && def.Type != nil {
		returns = def.Type.Name()
	}
	if !root && !guardedTypes[returns] {
		return next(ctx)
	}
	p, ok := tenancy.PrincipalFrom(ctx)
	if !ok {
		return nil, domain.ErrUnauthenticated
	}
	if root {
		if err := r.authz.Check(p, fc.Object, fc.Field.Name); err != nil {
			return nil, err
		}
	}
	if guardedTypes[returns] {
		if err := r.authz.Check(p, authz.ObjType, returns); err != nil {
			return nil, err
		}
	}
	return next(ctx)
}

// nodeQuery is the query field whose permission reading a node of each type
// requires through node(id).
var nodeQuery = map[string]string{
	typeAsset:        "asset",
	typeParcel:       "parcel",
	typePerson:       "person",
	typeSignature:    "signature",
	typeCustodyEvent: "asset",
	typeMember:       "viewer",
	// Off-boarding.
	typeOffboardingCase: "offboardingCase",
	typeAssetReturn:     "assetReturn",
	typeVendor:          "vendor",
	typePickupOrder:     "pickupOrder",
	typeCertificate:     "certificate",
}

// authorizeNode checks, before anything is loaded, that the caller may read
// a node of typeName as if through its own query field. It reports ok=false
// for a type that is not a Node.
func (r *Resolver) authorizeNode(ctx context.Context, typeName string) (ok bool, err error) {
	field, ok := nodeQuery[typeName]
	if !ok {
		return false, nil
	}
	p, found := tenancy.PrincipalFrom(ctx)
	if !found {
		return false, domain.ErrUnauthenticated
	}
	if err := r.authz.Check(p, authz.ObjQuery, field); err != nil {
		return false, err
	}
	if guardedTypes[typeName] {
		if err := r.authz.Check(p, authz.ObjType, typeName); err != nil {
			return false, err
		}
	}
	return true, nil
}

// authorizeEventDetails guards the facts of events that are not about one
// asset: a parcel-level event's facts (carrier, tracking number, sender,
// note) are parcel data and need the Parcel type permission like the parcel
// itself; a case-level event's facts (who leaves, when) are off-boarding
// data and need the OffboardingCase type permission.
func (r *Resolver) authorizeEventDetails(ctx context.Context, e *domain.CustodyEvent) error {
	if e.AssetID != "" {
		return nil
	}
	p, ok := tenancy.PrincipalFrom(ctx)
	if !ok {
		return domain.ErrUnauthenticated
	}
	if e.ParcelID == "" {
		return r.authz.Check(p, authz.ObjType, typeOffboardingCase)
	}
	return r.authz.Check(p, authz.ObjType, typeParcel)
}

// followFilter maps the subscription's arguments and binds the caller's
// topic permissions (policy object Topic) into the filter.
func (r *Resolver) followFilter(ctx context.Context, after *int, in *model.CustodyEventStreamFilter) (domain.FollowFilter, error) {
	p, ok := tenancy.PrincipalFrom(ctx)
	if !ok {
		return domain.FollowFilter{}, domain.ErrUnauthenticated
	}
	may := map[domain.Topic]bool{}
	for _, t := range domain.AllTopics {
		allowed, err := r.authz.Allowed(p, authz.ObjTopic, string(t))
		if err != nil {
			return domain.FollowFilter{}, err
		}
		may[t] = allowed
	}
	f := domain.FollowFilter{May: func(t domain.Topic) bool { return may[t] }}
	if after != nil {
		seq := int64(*after)
		f.After = &seq
	}
	if in == nil {
		return f, nil
	}
	f.Types = in.Types
	// An id that names nothing of its type filters everything out, like an
	// id of another tenant: a well-formed id that can match no event.
	const nothing = "00000000-0000-0000-0000-000000000000"
	if in.CaseID != nil {
		if f.CaseID, ok = idOf(typeOffboardingCase, *in.CaseID); !ok {
			f.CaseID = nothing
		}
	}
	if in.AssetID != nil {
		if f.AssetID, ok = idOf(typeAsset, *in.AssetID); !ok {
			f.AssetID = nothing
		}
	}
	return f, nil
}
