package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/tenancy"
)

// guardedTypes carry personal data (people, signatures) or data a role's root
// permissions keep from it (parcels: sender, tracking, notes): a field
// returning one needs the type permission wherever it appears (an asset's
// holder or parcel), not only at the root field that leads to it.
var guardedTypes = map[string]bool{"Person": true, "Signature": true, "Parcel": true}

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

// authorizeEventDetails guards the facts of parcel-level events (carrier,
// tracking number, sender, note): they are parcel data, so reading them in an
// asset's history needs the Parcel type permission like the parcel itself.
func (r *Resolver) authorizeEventDetails(ctx context.Context, e *domain.CustodyEvent) error {
	if e.AssetID != "" {
		return nil
	}
	p, ok := tenancy.PrincipalFrom(ctx)
	if !ok {
		return domain.ErrUnauthenticated
	}
	return r.authz.Check(p, authz.ObjType, typeParcel)
}
