package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/redis/go-redis/v9"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/eventbus"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/graph/wstransport"
	"github.com/custody-dev/custody/tenancy"
)

// SQLiteFile is the embedded store's file name inside the data directory.
const SQLiteFile = "custody.db"

// DefaultShutdownTimeout is how long Shutdown waits for in-flight requests
// when StartConfig.ShutdownTimeout is zero.
const DefaultShutdownTimeout = 20 * time.Second

// DefaultCheckpointInterval is how often, at most, a tenant's log is signed
// after appends when StartConfig.CheckpointInterval is zero: a burst of
// hand-offs costs one signature a second.
const DefaultCheckpointInterval = time.Second

// redisPingTimeout bounds the start-up check that REDIS_URL answers.
const redisPingTimeout = 5 * time.Second

// StartConfig is a resolved server configuration: the CLI fills it from
// flags and environment, tests fill it directly.
type StartConfig struct {
	// Addr is the listen address; port 0 picks a free port (see Running.URL).
	Addr string
	// DataDir holds the embedded SQLite file; used when DatabaseURL is empty.
	DataDir string
	// DatabaseURL selects PostgreSQL, connecting as the application role.
	DatabaseURL string
	// MigrationURL is the schema owner's connection for migrations
	// (PostgreSQL); empty means DatabaseURL.
	MigrationURL string
	// RedisURL selects the Redis event bus; empty means in-process.
	RedisURL string
	// MasterKey (32 bytes) seals the tenants' ledger signing keys at rest.
	// When empty, the embedded store uses <DataDir>/master.key, created on
	// first start; PostgreSQL refuses to start (ErrMasterKeyRequired), since
	// all instances must share one key.
	MasterKey []byte
	// CheckpointInterval is the most often a tenant's log is checkpointed
	// after it grows; 0 means DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// Migrate applies pending migrations before serving.
	Migrate bool
	// Development serves GraphiQL at /.
	Development bool
	// Introspection allows GraphQL introspection queries.
	Introspection bool
	// DepthLimit and ComplexityLimit bound GraphQL queries.
	DepthLimit, ComplexityLimit int
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxUploadBytes bounds file uploads (imports through GraphQL); 0 means
	// DefaultMaxUploadBytes.
	MaxUploadBytes int64
	// MaxOpenConns bounds the database pool; 0 leaves the store's default.
	MaxOpenConns int
	// ShutdownTimeout bounds the drain of in-flight requests; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Logger receives all logs; nil discards them.
	Logger *slog.Logger
	// QueryHook, if set, sees every SQL statement (tests count statements).
	QueryHook func(ctx context.Context, sql string)
}

// Embedded reports whether the configuration selects the embedded SQLite store.
func (c StartConfig) Embedded() bool { return c.DatabaseURL == "" }

// StorageConfig returns the store configuration StartConfig implies, for
// commands that open the store without serving.
func (c StartConfig) StorageConfig() storage.Config {
	cfg := storage.Config{
		DatabaseURL:  c.DatabaseURL,
		MigrationURL: c.MigrationURL,
		MaxOpenConns: c.MaxOpenConns,
		Logger:       c.Logger,
		QueryHook:    c.QueryHook,
	}
	if cfg.MigrationURL == "" {
		cfg.MigrationURL = c.DatabaseURL
	}
	if c.Embedded() {
		cfg.SQLitePath = filepath.Join(c.DataDir, SQLiteFile)
	}
	return cfg
}

// Running is a started server.
type Running struct {
	// URL is the base URL of the bound listener, e.g. http://127.0.0.1:43121.
	URL string
	// Store is the open store; it is closed by Shutdown.
	Store *storage.DB
	// Bus is the event bus; it is closed by Shutdown.
	Bus domain.Bus
	// Service is the domain service the GraphQL handler calls.
	Service *domain.Service
	// Metrics is the server's Prometheus registry and operation observer.
	Metrics *Metrics
	// Migrated lists the migration versions applied at start.
	Migrated []int64
	// Server is the HTTP server.
	Server *Server
	// subscriptions is the WebSocket transport, closed first on shutdown.
	subscriptions *wstransport.Transport

	log             *slog.Logger
	shutdownTimeout time.Duration
	closers         []func() error
	done            chan struct{}
	serveErr        error
	once            sync.Once
	shutdownErr     error
}

// Start resolves the master key (see StartConfig.MasterKey), opens the store
// (migrating it first when asked), connects the event bus, builds the domain
// service, starts the checkpointer that signs tenants' logs after appends,
// builds the authorizer and GraphQL handler, binds cfg.Addr and serves in the
// background until Shutdown. On error everything opened so far is closed
// again.
func Start(ctx context.Context, cfg StartConfig) (_ *Running, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
		cfg.Logger = log
	}
	r := &Running{log: log, shutdownTimeout: cfg.ShutdownTimeout, done: make(chan struct{})}
	if r.shutdownTimeout <= 0 {
		r.shutdownTimeout = DefaultShutdownTimeout
	}
	defer func() {
		if err != nil {
			r.closeAll()
		}
	}()

	if cfg.Embedded() {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("start: create data directory: %w", err)
		}
	}
	// Refuse a missing master key before touching the database.
	masterKey, created, err := MasterKey(cfg)
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if created {
		log.Warn("created the ledger master key; back it up apart from the database: without it the tenants' signing keys cannot be unsealed",
			"path", filepath.Join(cfg.DataDir, MasterKeyFile))
	}
	storeCfg := cfg.StorageConfig()
	if cfg.Migrate {
		if r.Migrated, err = storage.Migrate(ctx, storeCfg); err != nil {
			return nil, fmt.Errorf("start: migrate: %w", err)
		}
	}
	if r.Store, err = storage.Open(ctx, storeCfg); err != nil {
		return nil, fmt.Errorf("start: open store: %w", err)
	}
	r.closers = append(r.closers, r.Store.Close)

	if r.Bus, err = openBus(ctx, cfg.RedisURL, log, &r.closers); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}

	az, err := authz.New()
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	// The checkpointer needs the service and the service tells it of
	// appends; nothing appends before Start returns, so cp is set in time.
	var cp *domain.Checkpointer
	r.Service = domain.NewService(r.Store, r.Bus, domain.WithLogger(log), domain.WithMasterKey(masterKey),
		domain.WithAppendHook(func(tenantID string) { cp.Poke(tenantID) }))
	interval := cfg.CheckpointInterval
	if interval <= 0 {
		interval = DefaultCheckpointInterval
	}
	cp = domain.NewCheckpointer(r.Service, interval)
	r.closers = append(r.closers, runCheckpointer(cp))
	r.Metrics = NewMetrics()
	r.subscriptions = &wstransport.Transport{
		Authenticate: WebSocketAuthenticator(r.Store, cfg.TrustedProxies, log),
		Logger:       log,
	}
	r.subscriptions.OnClose = r.Metrics.ObserveWebSockets(r.subscriptions.Connections)
	links, err := tenancy.NewLinkSigner(masterKey)
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	r.Server = New(Config{
		GraphQL: graph.NewHandler(graph.Config{
			Links:           links,
			MaxUploadBytes:  uploadLimit(cfg.MaxUploadBytes),
			Service:         r.Service,
			Authorizer:      az,
			Introspection:   cfg.Introspection,
			ComplexityLimit: cfg.ComplexityLimit,
			DepthLimit:      cfg.DepthLimit,
			Observer:        r.Metrics,
			Logger:          log,
			Transports:      []graphql.Transport{r.subscriptions},
		}),
		Authenticator:  r.Store,
		Ledger:         r.Service,
		Disposition:    r.Service,
		Exports:        r.Service,
		Links:          links,
		Authorizer:     az,
		Ready:          r.Store.Ping,
		Metrics:        r.Metrics,
		Logger:         log,
		Development:    cfg.Development,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		MaxUploadBytes: cfg.MaxUploadBytes,
		TrustedProxies: cfg.TrustedProxies,
	})

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("start: listen on %s: %w", cfg.Addr, err)
	}
	r.URL = baseURL(ln.Addr())
	go func() {
		defer close(r.done)
		r.serveErr = r.Server.Serve(ln)
	}()
	return r, nil
}

// runCheckpointer runs cp in the background and returns the closer that
// stops it. Closers run newest first, so the checkpointer's final flush
// (every append of the drained requests signed) completes before the bus
// and the store close.
func runCheckpointer(cp *domain.Checkpointer) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cp.Run(ctx)
	}()
	return func() error {
		cancel()
		<-done
		return nil
	}
}

// openBus connects the Redis bus when redisURL is set, else the in-process
// one, and registers what Shutdown must close.
func openBus(ctx context.Context, redisURL string, log *slog.Logger, closers *[]func() error) (domain.Bus, error) {
	if redisURL == "" {
		b := eventbus.NewInProcess(eventbus.WithLogger(log))
		*closers = append(*closers, b.Close)
		return b, nil
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		// The URL may hold a password: name the problem, not the value.
		return nil, errors.New("parse REDIS_URL: not a valid redis:// or rediss:// URL")
	}
	client := redis.NewClient(opt)
	*closers = append(*closers, func() error {
		if err := client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
			return fmt.Errorf("close redis client: %w", err)
		}
		return nil
	})
	b := eventbus.NewRedis(client, eventbus.WithLogger(log))
	*closers = append(*closers, b.Close)
	pingCtx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := b.Ping(pingCtx); err != nil {
		return nil, fmt.Errorf("connect redis event bus: %w", err)
	}
	return b, nil
}

// baseURL turns a bound address into a URL a person can open: an
// unspecified host (0.0.0.0, ::) becomes localhost.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip, perr := netip.ParseAddr(host); perr == nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Done is closed when the HTTP server has stopped serving, after Shutdown
// or because accepting failed (see Err).
func (r *Running) Done() <-chan struct{} { return r.done }

// Err returns why serving stopped: nil after Shutdown. Call it after Done.
func (r *Running) Err() error { return r.serveErr }

// Shutdown stops accepting requests, drains in-flight ones for up to the
// configured shutdown timeout (or until ctx ends), stops the checkpointer
// once it has signed every tenant log that grew, then closes the event bus
// and the store. It is safe to call more than once.
func (r *Running) Shutdown(ctx context.Context) error {
	r.once.Do(func() {
		drainCtx, cancel := context.WithTimeout(ctx, r.shutdownTimeout)
		defer cancel()
		var errs []error
		// Live streams never finish by themselves: close them first (1001,
		// so clients reconnect elsewhere and resume from their cursor),
		// then drain the ordinary requests.
		if err := r.subscriptions.Shutdown(drainCtx); err != nil {
			errs = append(errs, fmt.Errorf("close subscriptions: %w", err))
		}
		if err := r.Server.Shutdown(drainCtx); err != nil {
			errs = append(errs, err)
		}
		<-r.done
		if err := r.closeAll(); err != nil {
			errs = append(errs, err)
		}
		r.shutdownErr = errors.Join(errs...)
	})
	return r.shutdownErr
}

// closeAll closes what Start opened, newest first.
func (r *Running) closeAll() error {
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		if err := r.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	r.closers = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// uploadLimit is the upload limit in force for a configured one.
func uploadLimit(n int64) int64 {
	if n <= 0 {
		return DefaultMaxUploadBytes
	}
	return n
}
