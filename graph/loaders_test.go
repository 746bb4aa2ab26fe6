package graph

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

func TestInList(t *testing.T) {
	ctx := context.Background()
	if inList(ctx) {
		t.Error("a context outside any field is in a list")
	}
	field := graphql.WithPathContext(ctx, graphql.NewPathWithField("asset"))
	if inList(field) {
		t.Error("asset.holder counted as under a list")
	}
	item := graphql.WithPathContext(field, graphql.NewPathWithIndex(3))
	if !inList(graphql.WithPathContext(item, graphql.NewPathWithField("holder"))) {
		t.Error("assets[3].holder not counted as under a list")
	}
}
