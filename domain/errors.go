package domain

import (
	"errors"
	"strings"
)

// Sentinel errors that storage adapters and services return. The GraphQL layer
// maps them to user errors or typed GraphQL errors in one place (graph/errors.go).
var (
	// ErrNotFound means the record does not exist in the caller's tenant. A
	// record of another tenant is reported exactly like a missing one.
	ErrNotFound = errors.New("not found")
	// ErrConcurrentModification means a row changed between read and write
	// (optimistic version check failed).
	ErrConcurrentModification = errors.New("record was modified concurrently")
	// ErrDuplicate means a unique key (serial, asset tag, employee id, ...)
	// already exists in the tenant. Adapters wrap it in a *DuplicateError.
	ErrDuplicate = errors.New("duplicate")
	// ErrForbidden means the principal's roles do not allow the operation.
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthenticated means the credential is missing, unknown or revoked.
	ErrUnauthenticated = errors.New("unauthenticated")
)

// DuplicateError names the unique key that a write collided with.
type DuplicateError struct {
	// Key is the logical key: "serial", "assetTag", "employeeId", "email", "slug", "person" (an open off-boarding case).
	Key string
}

// Error names the colliding key.
func (e *DuplicateError) Error() string { return "duplicate " + e.Key }

// Unwrap lets errors.Is(err, ErrDuplicate) match.
func (e *DuplicateError) Unwrap() error { return ErrDuplicate }

// Code classifies a user error so clients can react without parsing messages.
type Code string

// User error codes. They are part of the public API (schema enum UserErrorCode).
const (
	CodeInvalid              Code = "INVALID"
	CodeRequired             Code = "REQUIRED"
	CodeNotFound             Code = "NOT_FOUND"
	CodeDuplicateSerial      Code = "DUPLICATE_SERIAL"
	CodeDuplicateAssetTag    Code = "DUPLICATE_ASSET_TAG"
	CodeDuplicate            Code = "DUPLICATE"
	CodeIllegalTransition    Code = "ILLEGAL_TRANSITION"
	CodeConcurrentUpdate     Code = "CONCURRENT_UPDATE"
	CodeIdempotencyKeyReused Code = "IDEMPOTENCY_KEY_REUSED"
	CodeRecipientMismatch    Code = "RECIPIENT_MISMATCH"
	CodeInvalidSignature     Code = "INVALID_SIGNATURE"
	CodeInactivePerson       Code = "INACTIVE_PERSON"
	CodeCaseNotOpen          Code = "CASE_NOT_OPEN"
	CodeNotOutstanding       Code = "NOT_OUTSTANDING"
	CodeCertificationExpired Code = "CERTIFICATION_EXPIRED"
	// CodeUnresolvedDiscrepancy: a pickup or receipt cannot be confirmed
	// while a discrepancy is open (one error per discrepancy).
	CodeUnresolvedDiscrepancy Code = "UNRESOLVED_DISCREPANCY"
	// CodeSanitizationRequired: a data-bearing asset cannot reach an outcome
	// without a sanitization record.
	CodeSanitizationRequired Code = "SANITIZATION_REQUIRED"
	// CodeUnprocessedLines: a certificate cannot be issued while a received
	// line has no outcome (one error per line).
	CodeUnprocessedLines Code = "UNPROCESSED_LINES"
)

// UserError is one problem with the caller's input, reported in a mutation
// payload's userErrors rather than as a top-level GraphQL error.
type UserError struct {
	// Field is the path to the offending input field, e.g. ["input","assets","0","serial"].
	Field []string
	// Code classifies the problem.
	Code Code
	// Message is a sentence a person can act on.
	Message string
}

// UserErrors is a non-empty list of input problems; it is returned as an error
// by services so that nothing is written when any problem is found.
type UserErrors []UserError

// Error lists every problem with its field path.
func (u UserErrors) Error() string {
	parts := make([]string, len(u))
	for i, e := range u {
		parts[i] = strings.Join(e.Field, ".") + ": " + e.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add appends a problem.
func (u *UserErrors) Add(code Code, message string, field ...string) {
	*u = append(*u, UserError{Field: field, Code: code, Message: message})
}

// Err returns u as an error, or nil when there is no problem.
func (u UserErrors) Err() error {
	if len(u) == 0 {
		return nil
	}
	return u
}

// userError is shorthand for a single-problem UserErrors.
func userError(code Code, message string, field ...string) error {
	return UserErrors{{Field: field, Code: code, Message: message}}
}
