package graph

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"

	"github.com/custody-dev/custody/graph/generated"
)

func TestDepthLimit(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	for _, tc := range []struct {
		name  string
		query string
		depth int
	}{
		{"flat", `{ viewer { tenant { slug } } }`, 3},
		{"fragments add no level", `
			query { asset(id: "x") { ...A } }
			fragment A on Asset { parcel { ...P } }
			fragment P on Parcel { recipient { name } }`, 4},
		{"inline fragments add no level", `{ node(id: "x") { ... on Asset { holder { name } } } }`, 3},
		{"deepest branch counts", `{ asset(id: "x") { id parcel { assets { edges { node { id } } } } } }`, 6},
		{"introspection is not descended", `{ __schema { types { fields { type { ofType { name } } } } } }`, 1},
		{"a fragment spread twice is measured once", `
			query { asset(id: "x") { ...E history { edges { node { ...E2 } } } } }
			fragment E on Asset { lastEvent { asset { id } } }
			fragment E2 on CustodyEvent { asset { ...E } }`, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, errs := gqlparser.LoadQueryWithRules(schema, tc.query, nil)
			if errs != nil {
				t.Fatalf("query does not validate: %v", errs)
			}
			oc := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]}
			if err := (depthLimit{max: tc.depth}).MutateOperationContext(context.Background(), oc); err != nil {
				t.Errorf("refused at its own depth %d: %v", tc.depth, err)
			}
			err := (depthLimit{max: tc.depth - 1}).MutateOperationContext(context.Background(), oc)
			if tc.depth > 1 && (err == nil || err.Extensions["code"] != CodeQueryTooDeep) {
				t.Errorf("limit %d: err = %v; want %s", tc.depth-1, err, CodeQueryTooDeep)
			}
		})
	}
}

func TestListCost(t *testing.T) {
	n := func(v int) *int { return &v }
	for _, tc := range []struct {
		name  string
		first *int
		want  int
	}{
		{"default page", nil, 1 + 3*20},
		{"first", n(5), 1 + 3*5},
		{"first zero", n(0), 1},
		{"beyond the maximum is priced at the maximum", n(1000), 1 + 3*100},
		{"negative is priced as empty", n(-5), 1},
	} {
		if got := pageCost(3, tc.first); got != tc.want {
			t.Errorf("%s: pageCost = %d; want %d", tc.name, got, tc.want)
		}
	}
}
