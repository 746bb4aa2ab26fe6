package model

import (
	"fmt"
	"io"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalDate writes a calendar date (stored as midnight UTC) as YYYY-MM-DD.
func MarshalDate(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		graphql.MarshalString(t.UTC().Format(time.DateOnly)).MarshalGQL(w)
	})
}

// UnmarshalDate parses a YYYY-MM-DD string into midnight UTC of that date.
func UnmarshalDate(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, &InvalidValueError{Scalar: "Date", Message: fmt.Sprintf("expected a YYYY-MM-DD string, got %T", v)}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, &InvalidValueError{Scalar: "Date", Message: fmt.Sprintf("%q is not a YYYY-MM-DD date", s)}
	}
	return t, nil
}
