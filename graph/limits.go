package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/generated"
	"github.com/custody-dev/custody/graph/model"
)

// depthLimit refuses operations whose fields nest deeper than max, before
// anything runs. The complexity limit bounds the work of wide queries; depth
// bounds the cycles the graph allows (asset -> parcel -> assets -> parcel ...).
type depthLimit struct{ max int }

var (
	_ graphql.HandlerExtension        = depthLimit{}
	_ graphql.OperationContextMutator = depthLimit{}
)

// ExtensionName implements graphql.HandlerExtension.
func (depthLimit) ExtensionName() string { return "DepthLimit" }

// Validate implements graphql.HandlerExtension.
func (d depthLimit) Validate(graphql.ExecutableSchema) error {
	if d.max < 1 {
		return errors.New("depth limit must be at least 1")
	}
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator.
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	depth := (&depthMeter{fragments: oc.Doc.Fragments, known: map[string]int{}}).of(oc.Operation.SelectionSet)
	if depth <= d.max {
		return nil
	}
	return &gqlerror.Error{
		Message:    fmt.Sprintf("the operation nests %d levels deep; the limit is %d", depth, d.max),
		Extensions: map[string]any{"code": CodeQueryTooDeep, "depth": depth, "limit": d.max},
	}
}

// depthMeter measures how deeply fields nest. Fragments add no level of
// their own; each fragment is measured once, so a document of fragments that
// spread each other many times costs linear time. Introspection meta-fields
// are not descended into: their shape is fixed and they are switched off in
// production.
type depthMeter struct {
	fragments ast.FragmentDefinitionList
	known     map[string]int
	visiting  []string
}

func (m *depthMeter) of(set ast.SelectionSet) int {
	deepest := 0
	for _, sel := range set {
		d := 0
		switch s := sel.(type) {
		case *ast.Field:
			d = 1
			if !strings.HasPrefix(s.Name, "__") {
				d += m.of(s.SelectionSet)
			}
		case *ast.InlineFragment:
			d = m.of(s.SelectionSet)
		case *ast.FragmentSpread:
			d = m.fragment(s.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}

func (m *depthMeter) fragment(name string) int {
	if d, ok := m.known[name]; ok {
		return d
	}
	for _, v := range m.visiting {
		if v == name { // a cycle; validation refuses these before we run
			return 0
		}
	}
	def := m.fragments.ForName(name)
	if def == nil {
		return 0
	}
	m.visiting = append(m.visiting, name)
	d := m.of(def.SelectionSet)
	m.visiting = m.visiting[:len(m.visiting)-1]
	m.known[name] = d
	return d
}

// setComplexity prices lists by the number of items they may return, so the
// complexity limit bounds the rows a query can ask for.
func setComplexity(c *generated.ComplexityRoot) {
	c.Query.Assets = func(child int, _ *model.AssetFilter, first *int, _ *string) int { return pageCost(child, first) }
	c.Query.Parcels = func(child int, _ *model.ParcelFilter, first *int, _ *string) int { return pageCost(child, first) }
	c.Query.People = func(child int, _ *model.PersonFilter, first *int, _ *string) int { return pageCost(child, first) }
	c.Parcel.Assets = func(child int, first *int, _ *string) int { return pageCost(child, first) }
	c.Asset.History = func(child int, first *int, _ *string) int { return pageCost(child, first) }
	c.Asset.RecentEvents = func(child int, last *int) int { return listCost(child, last, defaultRecentEvents, maxRecentEvents) }
	c.Query.Certificates = func(child int, first *int, _ *string) int { return pageCost(child, first) }
	c.Query.SLABreaches = func(child int, _ *model.SLABreachFilter, first *int, _ *string) int { return pageCost(child, first) }
}

// pageCost is the cost of a connection of up to first items.
func pageCost(child int, first *int) int {
	return listCost(child, first, domain.DefaultPageSize, domain.MaxPageSize)
}

// listCost is the cost of a list of up to n items; an out-of-range n is
// priced at the bound (the resolver refuses it anyway).
func listCost(child int, n *int, def, limit int) int {
	items := def
	if n != nil {
		items = min(max(*n, 0), limit)
	}
	return 1 + child*items
}
