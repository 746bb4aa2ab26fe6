// Package domain holds Custody's entities, the asset lifecycle state machine
// and the services that enforce the chain-of-custody rules.
//
// It knows nothing of GraphQL, HTTP or SQL: persistence sits behind the Store
// port (implemented in domain/storage), events leave through the Bus port
// (implemented in domain/eventbus), and the caller's tenant and principal come
// from the context (package tenancy), never from an argument.
package domain
