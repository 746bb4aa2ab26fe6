// Package model holds the GraphQL types that cannot bind to package domain:
// connections, payloads, inputs (generated into models_gen.go by gqlgen) and
// the DateTime scalar.
package model

// Node is any record the schema exposes through the Node interface. It has no
// methods because the domain types it stands for know nothing of GraphQL; the
// generated code dispatches on their concrete types.
type Node interface{}
