// Package model holds the GraphQL types that cannot bind to package domain:
// connections, payloads, inputs (generated into models_gen.go by gqlgen) and
// the DateTime scalar.
package model

import "github.com/custody-dev/custody/domain"

// Node is any record the schema exposes through the Node interface. It has no
// methods because the domain types it stands for know nothing of GraphQL; the
// generated code dispatches on their concrete types.
type Node interface{}

// DispositionReport is a disposition report not yet read: its rows are read
// only if asked for (and only as many as asked for), while its CSV link
// needs no read at all.
type DispositionReport struct {
	// Filter is what the rows are read with.
	Filter domain.DispositionFilter
	// NoMatch is true when the filter names an order that cannot exist
	// (an id of another type, or malformed): the report has no row.
	NoMatch bool
	// CSVURL is where the same report downloads as a CSV.
	CSVURL string
}
