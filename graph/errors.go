package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/model"
	"github.com/custody-dev/custody/tenancy"
)

// Codes of top-level errors, in extensions.code. Validation and parsing
// errors keep gqlgen's codes (GRAPHQL_VALIDATION_FAILED, GRAPHQL_PARSE_FAILED)
// and the complexity limit its COMPLEXITY_LIMIT_EXCEEDED.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeQueryTooDeep    = "QUERY_TOO_DEEP"
	CodeInternal        = "INTERNAL_SERVER_ERROR"
)

// errPanic stands for a recovered panic, already logged with its stack.
var errPanic = errors.New("panic in resolver")

// payloadErrors splits a mutation's error: input problems become the
// payload's userErrors (never nil, so the list is empty on success); a
// concurrent write that beat this one is a user error too, since retrying is
// the fix; anything else is returned for a top-level error.
func payloadErrors(err error) ([]*domain.UserError, error) {
	if err == nil {
		return []*domain.UserError{}, nil
	}
	var problems domain.UserErrors
	if errors.As(err, &problems) {
		out := make([]*domain.UserError, len(problems))
		for i := range problems {
			out[i] = &problems[i]
		}
		return out, nil
	}
	if errors.Is(err, domain.ErrConcurrentModification) {
		return []*domain.UserError{{Code: domain.CodeConcurrentUpdate,
			Message: "a concurrent request changed the same records; retry"}}, nil
	}
	return nil, err
}

// presentError turns every error bound for the client into a GraphQL error
// with a stable extensions.code. Errors gqlgen and the limits built
// themselves pass through; causes from resolvers are classified, and
// anything unexpected is logged and reported as "internal error", so no SQL,
// stack or internal detail reaches the client.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			return gqlErr
		}
		out := &gqlerror.Error{Path: graphql.GetPath(ctx)}
		cause := err
		if gqlErr != nil {
			out.Path, out.Locations, cause = gqlErr.Path, gqlErr.Locations, gqlErr.Err
		}
		code, message := classify(cause)
		if code == CodeInternal && !errors.Is(cause, errPanic) {
			log.ErrorContext(ctx, "graphql: internal error", "err", cause, "path", out.Path.String())
		}
		out.Message = message
		out.Extensions = map[string]any{"code": code}
		var arg *domain.ArgumentError
		if errors.As(cause, &arg) {
			out.Extensions["argument"] = arg.Argument
		}
		return out
	}
}

// classify maps an error cause to its code and client-facing message.
func classify(err error) (code, message string) {
	var (
		arg      *domain.ArgumentError
		value    *model.InvalidValueError
		problems domain.UserErrors
	)
	switch {
	case errors.Is(err, domain.ErrUnauthenticated), errors.Is(err, tenancy.ErrNoTenant):
		return CodeUnauthenticated, "authentication required"
	case errors.Is(err, domain.ErrForbidden):
		return CodeForbidden, "forbidden: your roles do not allow this"
	case errors.As(err, &arg):
		return CodeBadUserInput, arg.Error()
	case errors.As(err, &value):
		return CodeBadUserInput, value.Error()
	case errors.As(err, &problems):
		return CodeBadUserInput, problems.Error()
	}
	return CodeInternal, "internal error"
}

// recoverPanic logs a resolver panic with its stack and answers with an
// internal error; the process keeps serving.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "graphql: panic in resolver",
			"panic", fmt.Sprint(v), "path", graphql.GetPath(ctx).String(), "stack", string(debug.Stack()))
		return errPanic
	}
}
