package domain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custody-dev/custody/tenancy"
	"github.com/google/uuid"
)

// Service enforces Custody's rules. It is safe for concurrent use; one
// instance serves every tenant, each call acting for the tenant in its context.
type Service struct {
	store Store
	bus   Bus
	now   func() time.Time
	log   *slog.Logger
	// masterKey seals the tenants' checkpoint signing keys (ledger.go).
	masterKey []byte
	// appended is told, after commit, which tenant's log grew (the checkpointer).
	appended func(tenantID string)
	// feed serves live subscriptions (Follow).
	feed *feed
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces the wall clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithAppendHook sets a function told, after each commit that appended
// custody events, which tenant's log grew (Checkpointer.Poke).
func WithAppendHook(fn func(tenantID string)) Option { return func(s *Service) { s.appended = fn } }

// WithLogger sets the logger used for failures that must not fail a request
// (a bus publish after commit).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// NewService returns a Service over store and bus.
func NewService(store Store, bus Bus, opts ...Option) *Service {
	s := &Service{store: store, bus: bus, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	s.feed = newFeed(store, bus, s.log)
	return s
}

// timestamp returns the server time as stored: UTC, microsecond precision
// (PostgreSQL's), so what is hashed later is exactly what was written.
func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// NewID returns a new record id: a time-ordered UUIDv7, so ids double as
// keyset cursors in creation order. Every Custody id is made here.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// actor returns the principal recording a change.
func actor(ctx context.Context) (tenancy.Principal, error) {
	p, ok := tenancy.PrincipalFrom(ctx)
	if !ok {
		return p, tenancy.ErrNoTenant
	}
	return p, nil
}

// publish announces committed events. The database is the source of truth, so
// a bus failure is logged, never returned.
func (s *Service) publish(ctx context.Context, msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	if s.appended != nil {
		s.appended(msgs[0].TenantID)
	}
	if s.bus == nil {
		return
	}
	if err := s.bus.Publish(context.WithoutCancel(ctx), msgs...); err != nil {
		s.log.WarnContext(ctx, "event bus publish failed; subscribers will catch up from the database",
			"err", err, "events", len(msgs))
	}
}

// appendEvent appends e to the tenant's log and returns the bus message for it.
func appendEvent(tx Tx, e *CustodyEvent, personID string) (Message, error) {
	e.ID = NewID()
	if err := tx.AppendEvent(e); err != nil {
		return Message{}, fmt.Errorf("append %s event: %w", e.Type, err)
	}
	return Message{TenantID: e.TenantID, Seq: e.Seq, EventID: e.ID, Type: e.Type,
		AssetID: e.AssetID, ParcelID: e.ParcelID, PersonID: personID}, nil
}

// idempotent runs a mutation at most once per (member, operation, key). On a
// retry with the same key and the same request it calls replay with the
// stored result and writes nothing; the same key with a different request is
// refused. Keys are scoped to the member, so two scanners that number their
// scans alike never collide, and no one replays another member's result.
// run returns the result to store (JSON-encodable ids).
func idempotent(tx Tx, who tenancy.Principal, operation, key string, request any, run func() (any, error), replay func([]byte) error) error {
	if key == "" {
		_, err := run()
		return err
	}
	if len(key) > 200 {
		return userError(CodeInvalid, "idempotency key must be at most 200 characters", "input", "idempotencyKey")
	}
	reqJSON, err := json.Marshal(request)
	if err != nil {
		return fmt.Errorf("%s: hash request: %w", operation, err)
	}
	sum := sha256.Sum256(reqJSON)
	hash := hex.EncodeToString(sum[:])
	scope := operation + "@" + who.MemberID
	rec, err := tx.ClaimIdempotency(scope, key, hash)
	if err != nil {
		return fmt.Errorf("%s: claim idempotency key: %w", operation, err)
	}
	if rec != nil {
		if rec.RequestHash != hash {
			return userError(CodeIdempotencyKeyReused,
				"this idempotency key was already used for a different request", "input", "idempotencyKey")
		}
		if rec.Result == nil {
			return fmt.Errorf("%s: idempotency key claimed without result: %w", operation, ErrConcurrentModification)
		}
		return replay(rec.Result)
	}
	result, err := run()
	if err != nil {
		return err
	}
	out, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("%s: encode idempotent result: %w", operation, err)
	}
	if err := tx.CompleteIdempotency(scope, key, out); err != nil {
		return fmt.Errorf("%s: store idempotent result: %w", operation, err)
	}
	return nil
}

// replayID decodes the record id an idempotent mutation stored as its result
// and loads that record with load, for the retry's answer.
func replayID(stored []byte, what string, load func(id string) error) error {
	var id string
	if err := json.Unmarshal(stored, &id); err != nil {
		return fmt.Errorf("decode stored %s id: %w", what, err)
	}
	if err := load(id); err != nil {
		return fmt.Errorf("load stored %s: %w", what, err)
	}
	return nil
}

// text validates and trims a free-text input field.
func text(errs *UserErrors, value string, required bool, max int, field ...string) string {
	v := strings.TrimSpace(value)
	switch {
	case v == "" && required:
		errs.Add(CodeRequired, "is required", field...)
	case len(v) > max:
		errs.Add(CodeInvalid, fmt.Sprintf("must be at most %d characters", max), field...)
	case !printable(v):
		errs.Add(CodeInvalid, "must be valid UTF-8 text without NUL characters", field...)
	}
	return v
}

// printable reports whether s can be stored and hashed as text on every
// store: valid UTF-8 and no NUL (PostgreSQL text refuses it).
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// Device times outside this range are refused: a clock that far off is a
// broken device, and the stores cannot all represent them.
var (
	minDeviceTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDeviceTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// deviceTime validates a client-reported time and returns it as stored.
func deviceTime(errs *UserErrors, t *time.Time, field ...string) *time.Time {
	if t != nil && (t.Before(minDeviceTime) || !t.Before(maxDeviceTime)) {
		errs.Add(CodeInvalid, "must be between the years 2000 and 2199", field...)
		return nil
	}
	return utc(t)
}

// notFoundAs turns ErrNotFound into a user error on field; other errors pass through.
func notFoundAs(err error, what string, field ...string) error {
	if errors.Is(err, ErrNotFound) {
		return userError(CodeNotFound, what+" not found", field...)
	}
	return err
}

// ArgumentError is a bad query argument (as opposed to a mutation input,
// which yields user errors). The GraphQL layer reports it with code BAD_USER_INPUT.
type ArgumentError struct {
	Argument string
	Message  string
}

// Error names the argument and what is wrong with it.
func (e *ArgumentError) Error() string { return e.Argument + ": " + e.Message }

// PageSize validates a connection's first argument.
func PageSize(first *int) (int, error) {
	if first == nil {
		return DefaultPageSize, nil
	}
	if *first < 0 || *first > MaxPageSize {
		return 0, &ArgumentError{Argument: "first", Message: fmt.Sprintf("must be between 0 and %d", MaxPageSize)}
	}
	return *first, nil
}

// Page is one page of a keyset-paginated list.
type Page[T any] struct {
	Items   []T
	HasNext bool
}

// pageOf trims the one extra row fetched to learn whether a next page exists.
func pageOf[T any](items []T, first int) Page[T] {
	if len(items) > first {
		return Page[T]{Items: items[:first], HasNext: true}
	}
	return Page[T]{Items: items}
}
