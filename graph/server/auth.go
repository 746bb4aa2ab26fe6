package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/custody-dev/custody/graph/wstransport"

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
	msgBadLink        = "invalid or expired download link, or its token was revoked: ask for a new one"
)

// authenticate resolves the bearer token to a principal and puts it, with the
// caller's connection facts, into the request context. It is the only place
// a tenant enters a request: anything the client sends elsewhere is ignored.
// A WebSocket upgrade passes through unauthenticated: browsers cannot set
// headers on it, so the subscription transport authenticates the
// connection_init message instead (webSocketAuth), with the same tokens.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebSocketUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		token, msg := bearerToken(r.Header.Get("Authorization"))
		if msg != "" {
			unauthenticated(w, msg, token != "")
			return
		}
		p, msg, err := resolveToken(r.Context(), s.auth, token)
		switch {
		case err != nil:
			s.log.ErrorContext(r.Context(), "authenticate bearer token", "err", err)
			writeError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE",
				"authentication is temporarily unavailable")
			return
		case msg != "":
			unauthenticated(w, msg, true)
			return
		}
		infoFrom(r.Context()).tenantID = p.TenantID
		next.ServeHTTP(w, r.WithContext(s.withCaller(r, p)))
	})
}

// resolveToken resolves a bearer token to its principal. refusal says why a
// token is refused; err is a fault (the database is down), not a refusal.
func resolveToken(ctx context.Context, auth Authenticator, token string) (p tenancy.Principal, refusal string, err error) {
	tenantID, hash, err := tenancy.ParseToken(token)
	if err != nil {
		return p, msgMalformedToken, nil
	}
	cred, err := auth.Authenticate(ctx, tenantID, hash)
	switch {
	case errors.Is(err, domain.ErrUnauthenticated):
		return p, msgInvalidToken, nil
	case err != nil:
		return p, "", fmt.Errorf("authenticate: %w", err)
	}
	return principalOf(cred), "", nil
}

// principalOf is the caller a credential stands for.
func principalOf(cred *domain.Credential) tenancy.Principal {
	roles := make([]string, len(cred.Member.Roles))
	for i, role := range cred.Member.Roles {
		roles[i] = string(role)
	}
	return tenancy.Principal{
		TenantID:   cred.Tenant.ID,
		TenantSlug: cred.Tenant.Slug,
		TenantName: cred.Tenant.Name,
		MemberID:   cred.Member.ID,
		MemberName: cred.Member.Name,
		Roles:      roles,
		TokenID:    cred.TokenID,
		VendorID:   cred.Member.VendorID,
	}
}

// authenticateDownload authenticates a download: with a bearer token like
// every endpoint, or, without an Authorization header, with a signed link
// (tenancy.LinkSigner) from a GraphQL mutation, which stands for the token
// that asked for it while that token stays valid.
func (s *Server) authenticateDownload(next http.Handler) http.Handler {
	bearer := s.authenticate(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Header.Get("Authorization") != "" || s.links == nil || !tenancy.IsSignedLink(q) {
			bearer.ServeHTTP(w, r)
			return
		}
		tenantID, tokenID, err := s.links.Verify(r.URL.Path, q)
		if err != nil {
			unauthenticated(w, msgBadLink, true)
			return
		}
		cred, err := s.auth.AuthenticateTokenID(r.Context(), tenantID, tokenID)
		switch {
		case errors.Is(err, domain.ErrUnauthenticated):
			unauthenticated(w, msgBadLink, true)
			return
		case err != nil:
			s.log.ErrorContext(r.Context(), "authenticate download link", "err", err)
			writeError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "authentication is temporarily unavailable")
			return
		}
		p := principalOf(cred)
		infoFrom(r.Context()).tenantID = p.TenantID
		next.ServeHTTP(w, r.WithContext(s.withCaller(r, p)))
	})
}

// withCaller returns r's context carrying the principal and the caller's
// connection facts (IP address, user agent), which signatures record.
func (s *Server) withCaller(r *http.Request, p tenancy.Principal) context.Context {
	return callerContext(r.Context(), r, p, s.proxies)
}

// callerContext returns ctx carrying p and r's connection facts.
func callerContext(ctx context.Context, r *http.Request, p tenancy.Principal, proxies []netip.Prefix) context.Context {
	return tenancy.WithClientInfo(tenancy.WithPrincipal(ctx, p), tenancy.ClientInfo{
		IPAddress: clientIP(r, proxies),
		UserAgent: r.UserAgent(),
	})
}

// errWebSocketRefused is the cause of a refused WebSocket connection; the
// transport closes it with 4403 Forbidden.
var errWebSocketRefused = errors.New("invalid, revoked or missing bearer token")

// WebSocketAuthenticator authenticates subscription connections (see
// wstransport.Authenticator) from the connection_init payload
// ({"authorization": "Bearer <token>"}, or {"token": "<token>"}) or, for
// server-side clients that can set headers, the upgrade request's
// Authorization header. The check it returns re-resolves the token while the
// connection lives, so a revoked token ends it.
func WebSocketAuthenticator(auth Authenticator, proxies []netip.Prefix, log *slog.Logger) wstransport.Authenticator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, r *http.Request, payload map[string]any) (context.Context, func(context.Context) error, error) {
		header := r.Header.Get("Authorization")
		for _, key := range []string{"authorization", "Authorization"} {
			if v, ok := payload[key].(string); ok && v != "" {
				header = v
			}
		}
		if v, ok := payload["token"].(string); ok && v != "" {
			header = "Bearer " + v
		}
		token, msg := bearerToken(header)
		if msg != "" {
			return nil, nil, errWebSocketRefused
		}
		p, msg, err := resolveToken(ctx, auth, token)
		if err != nil {
			return nil, nil, err
		}
		if msg != "" {
			return nil, nil, errWebSocketRefused
		}
		infoFrom(r.Context()).tenantID = p.TenantID
		recheck := func(ctx context.Context) error {
			current, msg, err := resolveToken(ctx, auth, token)
			switch {
			case err != nil:
				// A database blip must not drop every live subscription.
				log.WarnContext(ctx, "recheck subscription token", "err", err)
				return nil
			case msg != "" || current.MemberID != p.MemberID || !slices.Equal(current.Roles, p.Roles) ||
				current.VendorID != p.VendorID:
				// Revoked, or the member's rights changed: the connection's
				// streams were authorised with the old ones.
				return errWebSocketRefused
			}
			return nil
		}
		return callerContext(ctx, r, p, proxies), recheck, nil
	}
}

// isWebSocketUpgrade reports whether r asks to switch to the WebSocket protocol.
func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

// headerHasToken reports whether a comma-separated header lists token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
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
