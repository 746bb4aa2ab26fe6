package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/ledger"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/tenancy"
)

// Ledger is what the ledger endpoints read, in the caller's tenant.
// *domain.Service implements it.
type Ledger interface {
	Receipt(ctx context.Context, eventID string) (*ledger.Receipt, error)
	SigningKeys(ctx context.Context) ([]*domain.SigningKey, error)
}

// Authorizer decides whether a principal may perform an operation.
// *authz.Authorizer implements it; denial is domain.ErrForbidden.
type Authorizer interface {
	Check(p tenancy.Principal, obj, act string) error
}

// typeCustodyEvent is the global id type a receipt's event id must carry.
const typeCustodyEvent = "CustodyEvent"

// receipt serves GET /receipts/{eventId}: the receipt of a custody event as
// a file, the same document as GraphQL's receipt { json }, for anyone allowed
// Query.receipt. An id that is not a custody event of the caller's tenant is
// 404, whatever the reason, so ids of other tenants reveal nothing.
func (s *Server) receipt(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, "receipt") {
		return
	}
	typeName, id, ok := graph.DecodeID(r.PathValue("eventId"))
	if !ok || typeName != typeCustodyEvent {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such custody event")
		return
	}
	rec, err := s.ledger.Receipt(r.Context(), id)
	if err != nil {
		s.internalError(w, r, "build receipt", err)
		return
	}
	if rec == nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such custody event")
		return
	}
	body, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		s.internalError(w, r, "encode receipt", err)
		return
	}
	seq := strconv.FormatInt(rec.LeafIndex+1, 10)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="custody-receipt-`+seq+`.json"`)
	// A receipt holds the signer's name and drawn signature.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(body)
}

// keysDocument is the body of GET /ledger/keys.
type keysDocument struct {
	// Origin is the tenant's log origin, which also names its keys.
	Origin string        `json:"origin"`
	Keys   []keyDocument `json:"keys"`
}

// keyDocument is one signing key's public half, as GraphQL's SigningKey.
type keyDocument struct {
	ID          string     `json:"id"`
	VerifierKey string     `json:"verifierKey"`
	CreatedAt   time.Time  `json:"createdAt"`
	RetiredAt   *time.Time `json:"retiredAt"`
	Active      bool       `json:"active"`
}

// ledgerKeys serves GET /ledger/keys: the caller's tenant's key history,
// oldest first, for anyone allowed Query.ledger. `custody verify --key`
// reads this document as it is.
func (s *Server) ledgerKeys(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, "ledger") {
		return
	}
	tenantID, err := tenancy.TenantID(r.Context())
	if err != nil {
		s.internalError(w, r, "ledger keys", err)
		return
	}
	keys, err := s.ledger.SigningKeys(r.Context())
	if err != nil {
		s.internalError(w, r, "ledger keys", err)
		return
	}
	doc := keysDocument{Origin: ledger.Origin(tenantID), Keys: make([]keyDocument, len(keys))}
	for i, k := range keys {
		doc.Keys[i] = keyDocument{ID: k.ID, VerifierKey: k.VerifierKey, CreatedAt: k.CreatedAt.UTC(),
			RetiredAt: utc(k.RetiredAt), Active: k.RetiredAt == nil}
	}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		s.internalError(w, r, "encode ledger keys", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n'))
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// allowed checks the caller's permission for Query.<field>, the GraphQL
// operation the endpoint mirrors, and answers 403 when it is denied.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, field string) bool {
	p, ok := tenancy.PrincipalFrom(r.Context())
	if !ok {
		unauthenticated(w, msgMissingToken, false)
		return false
	}
	err := s.authz.Check(p, authz.ObjQuery, field)
	switch {
	case err == nil:
		return true
	case errors.Is(err, domain.ErrForbidden):
		writeError(w, http.StatusForbidden, "FORBIDDEN", "your role may not use "+authz.ObjQuery+"."+field)
	default:
		s.internalError(w, r, "authorize "+field, err)
	}
	return false
}

// internalError logs err and answers a generic 500: no SQL or internals
// reach the client.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, op string, err error) {
	s.log.ErrorContext(r.Context(), op, "err", err)
	writeError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal server error")
}
