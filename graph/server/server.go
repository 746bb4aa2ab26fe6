// Package server is Custody's HTTP front door: it puts the GraphQL handler
// behind bearer-token authentication, serves custody receipts and the ledger's
// public keys as plain HTTP downloads, and adds the operational endpoints
// (health, readiness, Prometheus metrics), request limits, access logs, panic
// recovery and graceful shutdown. Start composes a whole running server (master
// key, store, event bus, domain service, checkpointer, authorizer, GraphQL
// handler) for the binary and for end-to-end tests alike.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/tenancy"
)

// DefaultMaxBodyBytes bounds a request body when Config.MaxBodyBytes is zero.
const DefaultMaxBodyBytes int64 = 1 << 20

// DefaultMaxUploadBytes bounds a file upload (a multipart GraphQL request:
// imports) when Config.MaxUploadBytes is zero.
const DefaultMaxUploadBytes int64 = 64 << 20

// readyTimeout bounds the database ping behind /readyz: a load balancer
// polls often, and a database that needs longer is not ready.
const readyTimeout = 2 * time.Second

// Authenticator resolves a bearer token's hash, inside the tenant the token
// names, to its credential. domain.Admin implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, tenantID string, tokenHash []byte) (*domain.Credential, error)
	// AuthenticateTokenID resolves the token a signed download link names.
	AuthenticateTokenID(ctx context.Context, tenantID, tokenID string) (*domain.Credential, error)
}

// Config is what the HTTP layer needs; Start fills it from the real components.
type Config struct {
	// GraphQL serves /graphql. It receives requests only after
	// authentication, with tenancy.Principal and tenancy.ClientInfo in the
	// context and the body already limited and buffered.
	GraphQL http.Handler
	// Authenticator resolves bearer tokens (the store's Admin port). Required
	// when GraphQL or the ledger endpoints are served.
	Authenticator Authenticator
	// Ledger serves receipts and signing keys over plain HTTP; nil leaves
	// those endpoints out. It needs Authorizer.
	Ledger Ledger
	// Disposition serves certificate PDFs and the disposition CSV; nil
	// leaves those endpoints out. It needs Authorizer.
	Disposition Disposition
	// Authorizer applies the GraphQL role policy to the ledger and
	// disposition endpoints.
	Authorizer Authorizer
	// Ready reports whether the server can serve requests: /readyz answers
	// 200 only when it returns nil within a short timeout. Nil means always ready.
	Ready func(ctx context.Context) error
	// Metrics receives HTTP-level counts and serves /metrics. Nil disables both.
	Metrics *Metrics
	// Logger receives access logs and recovered panics. Nil discards them.
	Logger *slog.Logger
	// Development serves the GraphiQL page at /.
	Development bool
	// MaxBodyBytes bounds request bodies (413 beyond it); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxUploadBytes bounds a multipart GraphQL request (a file upload);
	// 0 means DefaultMaxUploadBytes. Such bodies stream to the GraphQL
	// handler unbuffered.
	MaxUploadBytes int64
	// Links verifies signed download links (see tenancy.LinkSigner); nil
	// accepts bearer tokens only.
	Links *tenancy.LinkSigner
	// Exports streams CSV exports at /exports/; nil leaves them out. It
	// needs Authorizer.
	Exports Exports
	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// recording a caller's IP address.
	TrustedProxies []netip.Prefix
}

// Server is Custody's HTTP handler plus the http.Server that runs it.
type Server struct {
	handler      http.Handler
	http         *http.Server
	log          *slog.Logger
	ready        func(ctx context.Context) error
	metrics      *Metrics
	auth         Authenticator
	ledger       Ledger
	disposition  Disposition
	exports      Exports
	links        *tenancy.LinkSigner
	authz        Authorizer
	proxies      []netip.Prefix
	maxBodyBytes int64
	maxUpload    int64
	// uploads holds a token per upload in flight (maxConcurrentUploads).
	uploads chan struct{}
}

// New builds the handler tree:
//
//	/graphql                  authentication -> body buffering -> cfg.GraphQL
//	GET /receipts/{eventId}   authentication -> a custody event's receipt file (cfg.Ledger)
//	GET /ledger/keys          authentication -> the tenant's public signing keys (cfg.Ledger)
//	GET /certificates/{id}.pdf        authentication -> a certificate of sanitization (cfg.Disposition)
//	GET /reports/disposition.csv      authentication -> the disposition report for ITAM (cfg.Disposition)
//	GET /exports/{kind}.csv           authentication -> a CSV export (cfg.Exports)
//	/healthz                  process alive
//	/readyz                   cfg.Ready answered in time
//	/metrics                  Prometheus exposition of cfg.Metrics
//	/                         GraphiQL, in development mode only
//
// all wrapped in access logging, panic recovery and the body size limit.
func New(cfg Config) *Server {
	s := &Server{
		log:          cfg.Logger,
		ready:        cfg.Ready,
		metrics:      cfg.Metrics,
		auth:         cfg.Authenticator,
		ledger:       cfg.Ledger,
		disposition:  cfg.Disposition,
		exports:      cfg.Exports,
		links:        cfg.Links,
		authz:        cfg.Authorizer,
		proxies:      cfg.TrustedProxies,
		maxBodyBytes: cfg.MaxBodyBytes,
		maxUpload:    cfg.MaxUploadBytes,
		uploads:      make(chan struct{}, maxConcurrentUploads),
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.maxBodyBytes <= 0 {
		s.maxBodyBytes = DefaultMaxBodyBytes
	}
	if s.maxUpload <= 0 {
		s.maxUpload = DefaultMaxUploadBytes
	}
	if s.ready == nil {
		s.ready = func(context.Context) error { return nil }
	}

	mux := http.NewServeMux()
	route := func(pattern string, h http.Handler) {
		mux.Handle(pattern, routed(pattern, h))
	}
	route("/graphql", s.authenticate(s.bufferBody(cfg.GraphQL)))
	if cfg.Ledger != nil {
		route("GET /receipts/{eventId}", s.authenticate(http.HandlerFunc(s.receipt)))
		route("GET /ledger/keys", s.authenticate(http.HandlerFunc(s.ledgerKeys)))
	}
	if cfg.Disposition != nil {
		route("GET /certificates/{file}", s.authenticateDownload(http.HandlerFunc(s.certificatePDF)))
		route("GET /reports/disposition.csv", s.authenticateDownload(http.HandlerFunc(s.dispositionCSV)))
	}
	if cfg.Exports != nil {
		route("GET /exports/{file}", s.authenticateDownload(http.HandlerFunc(s.exportCSV)))
	}
	route("GET /healthz", http.HandlerFunc(healthz))
	route("GET /readyz", http.HandlerFunc(s.readyz))
	if s.metrics != nil {
		route("GET /metrics", s.metrics.Handler())
	}
	if cfg.Development {
		route("GET /{$}", playground.Handler("Custody GraphiQL", "/graphql",
			playground.WithGraphiqlUiHeaders(map[string]string{
				"Authorization": "Bearer <paste a token printed by custody serve>",
			}),
			playground.WithStoragePrefix("custody:")))
	}

	s.handler = s.logRequests(s.recoverPanics(s.limitBody(mux)))
	s.http = &http.Server{
		Handler: s.handler,
		// Slow clients must not hold connections and goroutines forever.
		// Streaming responses (subscriptions) extend their own deadlines
		// with http.ResponseController.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s
}

// ServeHTTP serves one request through the whole handler tree.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Serve accepts connections on ln until Shutdown. It returns nil after a
// shutdown and the accept error otherwise.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests to
// finish. When ctx ends first, the remaining connections are closed and
// ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err == nil {
		return nil
	}
	if cerr := s.http.Close(); cerr != nil {
		s.log.Warn("close http connections", "err", cerr)
	}
	return fmt.Errorf("drain http requests: %w", err)
}

// healthz reports that the process is alive and serving HTTP; it checks no
// dependency, so an orchestrator restarts only a wedged process.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "ok\n")
}

// readyz reports whether the database answers, so a load balancer sends
// traffic only to instances that can serve it.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ready(ctx); err != nil {
		s.log.WarnContext(r.Context(), "not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "database unavailable\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}
