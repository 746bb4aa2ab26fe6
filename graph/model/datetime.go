package model

import (
	"fmt"
	"io"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// dateTimeLayout is RFC 3339 with exactly six fractional digits: the
// microsecond precision the database stores, so what a client reads back is
// byte for byte what was hashed and sealed.
const dateTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// InvalidValueError is an input value that does not parse as its scalar. The
// GraphQL layer reports it as BAD_USER_INPUT.
type InvalidValueError struct {
	// Scalar is the schema's scalar name.
	Scalar string
	// Message says what is expected.
	Message string
}

// Error names the scalar and why the value is refused.
func (e *InvalidValueError) Error() string { return e.Scalar + ": " + e.Message }

// FormatDateTime renders t as the DateTime scalar does: UTC, microseconds.
func FormatDateTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(dateTimeLayout)
}

// MarshalDateTime writes t as a DateTime string.
func MarshalDateTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		graphql.MarshalString(FormatDateTime(t)).MarshalGQL(w)
	})
}

// UnmarshalDateTime parses an RFC 3339 string with any offset and fractional
// precision, and returns it in UTC truncated to microseconds.
func UnmarshalDateTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, &InvalidValueError{Scalar: "DateTime", Message: fmt.Sprintf("expected an RFC 3339 string, got %T", v)}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &InvalidValueError{Scalar: "DateTime", Message: fmt.Sprintf("%q is not an RFC 3339 date-time", s)}
	}
	return t.UTC().Truncate(time.Microsecond), nil
}
