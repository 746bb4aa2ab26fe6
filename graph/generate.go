package graph

// The executable schema (graph/generated) and the GraphQL-only models
// (graph/model) are generated from ../schema.graphqls as configured in
// ../gqlgen.yml, which gqlgen finds by walking up from this directory.
//go:generate go run github.com/99designs/gqlgen generate
