//go:build tools

// This file pins the code generator in go.mod, so that `go generate` runs the
// same gqlgen version as the runtime library.
package graph

import _ "github.com/99designs/gqlgen"
