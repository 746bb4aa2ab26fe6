package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/tenancy"
)

// Authentication refusal messages. They say what is wrong with the
// credential, never whether a tenant or token exists.
const (
	msgMissingToken   = "missing bearer token: send Authorization: Bearer <token>"
	msgNotBearer      = "the Authorization header must use the Bearer scheme"
	msgMalformedToken = "malformed bearer token"
	msgInvalidToken   = "invalid or revoked bearer token"
)

// authenticate resolves the bearer token to a principal and puts it, with the
// caller's connection facts, into the request context. It is the only place
// a tenant enters a request: anything the client sends elsewhere is ignored.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, msg := bearerToken(r.Header.Get("Authorization"))
		if msg != "" {
			unauthenticated(w, msg, token != "")
			return
		}
		tenantID, hash, err := tenancy.ParseToken(token)
		if err != nil {
			unauthenticated(w, msgMalformedToken, true)
			return
		}
		cred, err := s.auth.Authenticate(r.Context(), tenantID, hash)
		switch {
		case errors.Is(err, domain.ErrUnauthenticated):
			unauthenticated(w, msgInvalidToken, true)
			return
		case err != nil:
			s.log.ErrorContext(r.Context(), "authenticate bearer token", "err", err)
			writeError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE",
				"authentication is temporarily unavailable")
			return
		}

		roles := make([]string, len(cred.Member.Roles))
		for i, role := range cred.Member.Roles {
			roles[i] = string(role)
		}
		infoFrom(r.Context()).tenantID = cred.Tenant.ID
		ctx := tenancy.WithPrincipal(r.Context(), tenancy.Principal{
			TenantID:   cred.Tenant.ID,
			TenantSlug: cred.Tenant.Slug,
			TenantName: cred.Tenant.Name,
			MemberID:   cred.Member.ID,
			MemberName: cred.Member.Name,
			Roles:      roles,
			TokenID:    cred.TokenID,
		})
		ctx = tenancy.WithClientInfo(ctx, tenancy.ClientInfo{
			IPAddress: clientIP(r, s.proxies),
			UserAgent: r.UserAgent(),
		})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// bearerToken extracts the token of an Authorization header. It returns a
// refusal message when there is none; token is then non-empty when a
// credential was sent but is unusable.
func bearerToken(header string) (token, refusal string) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", msgMissingToken
	}
	scheme, token, _ := strings.Cut(header, " ")
	// RFC 9110: the auth scheme is case-insensitive.
	if !strings.EqualFold(scheme, "Bearer") {
		return header, msgNotBearer
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", msgMissingToken
	}
	return token, ""
}

// unauthenticated answers 401 with the RFC 6750 challenge; invalid marks a
// credential that was presented but refused.
func unauthenticated(w http.ResponseWriter, message string, invalid bool) {
	challenge := `Bearer realm="custody"`
	if invalid {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", message)
}
