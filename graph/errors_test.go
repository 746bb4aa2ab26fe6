package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/model"
	"github.com/custody-dev/custody/tenancy"
)

func TestPresentErrorClassifiesCauses(t *testing.T) {
	sqlFault := errors.New(`pq: relation "assets" does not exist (SELECT * FROM assets WHERE tenant_id = $1)`)
	for _, tc := range []struct {
		name    string
		err     error
		code    string
		message string
		logged  bool
	}{
		{"forbidden", fmt.Errorf("Query.person: %w", domain.ErrForbidden), CodeForbidden, "forbidden: your roles do not allow this", false},
		{"unauthenticated", domain.ErrUnauthenticated, CodeUnauthenticated, "authentication required", false},
		{"no tenant", fmt.Errorf("get asset: %w", tenancy.ErrNoTenant), CodeUnauthenticated, "authentication required", false},
		{"bad argument", fmt.Errorf("list: %w", &domain.ArgumentError{Argument: "first", Message: "must be between 0 and 100"}),
			CodeBadUserInput, "first: must be between 0 and 100", false},
		{"bad scalar", &model.InvalidValueError{Scalar: "DateTime", Message: `"x" is not an RFC 3339 date-time`},
			CodeBadUserInput, `DateTime: "x" is not an RFC 3339 date-time`, false},
		{"database fault", fmt.Errorf("get asset: %w", sqlFault), CodeInternal, "internal error", true},
		{"recovered panic", errPanic, CodeInternal, "internal error", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			present := presentError(slog.New(slog.NewTextHandler(&logs, nil)))
			path := ast.Path{ast.PathName("asset")}
			got := present(context.Background(), gqlerror.WrapPath(path, tc.err))
			if got.Message != tc.message || got.Extensions["code"] != tc.code {
				t.Errorf("presented %q %v; want %q %s", got.Message, got.Extensions["code"], tc.message, tc.code)
			}
			if got.Path.String() != "asset" {
				t.Errorf("path = %q; want asset", got.Path.String())
			}
			if logged := strings.Contains(logs.String(), "internal error"); logged != tc.logged {
				t.Errorf("logged = %v; want %v (log: %s)", logged, tc.logged, logs.String())
			}
			if strings.Contains(got.Error(), "SELECT") {
				t.Errorf("presented error leaks SQL: %s", got.Error())
			}
		})
	}
}

func TestPresentErrorKeepsGraphQLErrorsItDidNotWrap(t *testing.T) {
	present := presentError(slog.New(slog.DiscardHandler))
	in := &gqlerror.Error{Message: "Cannot query field \"x\" on type \"Query\".",
		Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}
	if got := present(context.Background(), in); got != in {
		t.Errorf("presented %v; want the validation error unchanged", got)
	}
}

func TestPayloadErrors(t *testing.T) {
	problems := domain.UserErrors{
		{Field: []string{"input", "carrier"}, Code: domain.CodeRequired, Message: "is required"},
		{Field: []string{"input", "recipientId"}, Code: domain.CodeNotFound, Message: "recipient not found"},
	}
	got, err := payloadErrors(fmt.Errorf("receive parcel: %w", problems))
	if err != nil || len(got) != 2 || got[1].Code != domain.CodeNotFound || got[1].Field[1] != "recipientId" {
		t.Errorf("user errors: got %+v, %v", got, err)
	}

	got, err = payloadErrors(nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("success: got %#v, %v; want an empty, non-nil list", got, err)
	}

	got, err = payloadErrors(fmt.Errorf("hand off: %w", domain.ErrConcurrentModification))
	if err != nil || len(got) != 1 || got[0].Code != domain.CodeConcurrentUpdate {
		t.Errorf("concurrent write: got %+v, %v", got, err)
	}

	fault := errors.New("connection reset")
	if got, err = payloadErrors(fault); !errors.Is(err, fault) || got != nil {
		t.Errorf("fault: got %+v, %v; want the fault returned", got, err)
	}
}
