// Package storage is Custody's persistence adapter: it implements domain.Store,
// domain.Tx and domain.Admin on PostgreSQL (the production store) and on an
// embedded SQLite file (the zero-configuration default), through one gorm code
// path wherever the two dialects agree.
//
// Tenancy is enforced twice. The application wall: Update and View take the
// tenant only from the context and fail closed without one, and every Tx
// method builds its statements from a helper that already carries
// tenant_id = ?. The database wall (Postgres): row-level security on every
// tenant table, keyed to custody.tenant_id, which each transaction sets with
// set_config(..., true) before anything else; the server connects as
// custody_app, a role that owns no table and cannot bypass RLS, and Open
// refuses any other kind of role.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/tenancy"
	"github.com/glebarez/sqlite"
	"github.com/google/uuid"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names returned by DB.Dialect.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// AppRole is the PostgreSQL role the server must connect as. The migrations
// create it (without a password) and grant it only what the adapter needs.
const AppRole = "custody_app"

// defaultMaxOpenConns is the Postgres pool size when Config leaves it zero.
const defaultMaxOpenConns = 20

// sqliteBusyTimeout is how long a SQLite connection waits for another
// writer (another process, e.g. the CLI) before failing.
const sqliteBusyTimeout = 10 * time.Second

// Config selects and configures the store.
type Config struct {
	// DatabaseURL: a postgres:// (or postgresql://) URL selects Postgres; empty
	// selects SQLite at SQLitePath. On Postgres it must name the application
	// role, e.g. postgres://custody_app@host/db.
	DatabaseURL string
	// MigrationURL is the table owner's connection used by Migrate on
	// Postgres; it defaults to DatabaseURL.
	MigrationURL string
	// SQLitePath is the file of the embedded store (required when DatabaseURL is empty; the CLI puts it in its data directory);
	// its directory is created if missing.
	SQLitePath string
	// MaxOpenConns is the Postgres pool size (default 20).
	MaxOpenConns int
	// Logger receives migration progress; nil discards it.
	Logger *slog.Logger
	// QueryHook, if set, is called after every SQL statement the adapter sends
	// through gorm, with the statement's context and SQL text (placeholders,
	// not values). Tests count statements with it to prove there is no N+1.
	QueryHook func(ctx context.Context, sql string)
}

// dialect returns the store Config selects.
func (c Config) dialect() (string, error) {
	switch {
	case c.DatabaseURL == "":
		return DialectSQLite, nil
	case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		return DialectPostgres, nil
	default:
		return "", errors.New("storage: DATABASE_URL must be a postgres:// URL (or empty for the embedded SQLite store)")
	}
}

// sqlitePath returns the embedded store's file, refusing names the SQLite
// driver would misread (it treats what follows '?' as options).
func (c Config) sqlitePath() (string, error) {
	p := c.SQLitePath
	if p == "" {
		return "", errors.New("storage: no SQLite path: set DatabaseURL or SQLitePath")
	}
	if strings.ContainsAny(p, "?#") {
		return "", fmt.Errorf("storage: SQLite path %q must not contain '?' or '#'", p)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return "", fmt.Errorf("storage: create SQLite directory: %w", err)
	}
	return p, nil
}

// sqliteDSN returns the driver DSN for the SQLite file at path. The writer
// opens transactions with BEGIN IMMEDIATE, so a write transaction holds the
// database's write lock from its first statement and a second writer waits
// (busy_timeout) instead of failing on upgrade; the readers are query_only.
func sqliteDSN(path string, writer bool) string {
	q := fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", sqliteBusyTimeout.Milliseconds())
	if writer {
		return path + q + "&_pragma=journal_mode(WAL)&_txlock=immediate"
	}
	return path + q + "&_pragma=query_only(1)"
}

// DB is the store. It is safe for concurrent use.
type DB struct {
	dialect string
	// write runs Update and the Admin writes. On SQLite it is a pool of one
	// connection, so write transactions run one after another and each sees
	// the previous one's commit.
	write *gorm.DB
	// read runs View and the Admin reads: the same pool as write on
	// Postgres, a pool of query_only connections on SQLite (WAL lets them
	// read while the writer writes).
	read *gorm.DB
	// jobs holds a *sync.Mutex per job name: TryRun's lock on SQLite,
	// whose database one server process serves.
	jobs sync.Map
}

var (
	_ domain.Store     = (*DB)(nil)
	_ domain.Admin     = (*DB)(nil)
	_ domain.Exclusive = (*DB)(nil)
)

// Open connects to the store Config selects. It does not migrate (see
// Migrate) and fails when the schema is missing. On Postgres it refuses a
// role that could defeat row-level security: a superuser, a role with
// BYPASSRLS, or one that owns (or is a member of the owner of) any of
// Custody's tables.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	dialect, err := cfg.dialect()
	if err != nil {
		return nil, err
	}
	db := &DB{dialect: dialect}
	switch dialect {
	case DialectPostgres:
		g, err := openGorm(postgres.New(postgres.Config{DSN: cfg.DatabaseURL}), cfg.QueryHook)
		if err != nil {
			return nil, fmt.Errorf("storage: open postgres: %w", err)
		}
		sqlDB, _ := g.DB()
		n := cfg.MaxOpenConns
		if n <= 0 {
			n = defaultMaxOpenConns
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		db.write, db.read = g, g
	case DialectSQLite:
		path, err := cfg.sqlitePath()
		if err != nil {
			return nil, err
		}
		if db.write, err = openGorm(sqlite.Open(sqliteDSN(path, true)), cfg.QueryHook); err != nil {
			return nil, fmt.Errorf("storage: open sqlite: %w", err)
		}
		w, _ := db.write.DB()
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		// The writer connects first so the file exists in WAL mode before a
		// query_only reader opens it.
		if err := w.PingContext(ctx); err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
		}
		if db.read, err = openGorm(sqlite.Open(sqliteDSN(path, false)), cfg.QueryHook); err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("storage: open sqlite: %w", err)
		}
		r, _ := db.read.DB()
		n := max(4, runtime.GOMAXPROCS(0))
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
	}
	if err := db.check(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// openGorm opens a gorm handle whose transactions the adapter manages itself.
func openGorm(d gorm.Dialector, hook func(context.Context, string)) (*gorm.DB, error) {
	g, err := gorm.Open(d, &gorm.Config{
		SkipDefaultTransaction: true,
		Logger:                 logger.Discard,
	})
	if err != nil {
		return nil, err
	}
	if hook != nil {
		if err := registerHook(g, hook); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// registerHook calls hook after every statement gorm executes.
func registerHook(g *gorm.DB, hook func(context.Context, string)) error {
	after := func(db *gorm.DB) {
		// DryRun: gorm renders subqueries through the same callbacks
		// without sending them; they are part of the enclosing statement.
		if !db.DryRun && db.Statement.SQL.Len() > 0 {
			hook(db.Statement.Context, db.Statement.SQL.String())
		}
	}
	cb := g.Callback()
	for _, err := range []error{
		cb.Create().After("gorm:create").Register("custody:query_hook", after),
		cb.Query().After("gorm:query").Register("custody:query_hook", after),
		cb.Update().After("gorm:update").Register("custody:query_hook", after),
		cb.Delete().After("gorm:delete").Register("custody:query_hook", after),
		cb.Row().After("gorm:row").Register("custody:query_hook", after),
		cb.Raw().After("gorm:raw").Register("custody:query_hook", after),
	} {
		if err != nil {
			return fmt.Errorf("register query hook: %w", err)
		}
	}
	return nil
}

// tableNames are Custody's tables, for the role and schema checks.
var tableNames = []string{"tenants", "ledger_heads", "members", "member_roles", "api_tokens",
	"people", "parcels", "assets", "signatures", "custody_events", "idempotency_keys",
	"ledger_hashes", "ledger_keys", "ledger_checkpoints",
	"offboarding_cases", "offboarding_case_items", "asset_returns", "vendors",
	"pickup_orders", "pickup_lines", "pickup_scans",
	"pickup_resolutions", "pickup_signatures", "sanitization_records", "certificates", "sla_policies", "sla_breaches"}

// newestTable is a table of the latest migration: Open refuses a schema
// without it, so a server never runs on a half-migrated database.
const newestTable = "sla_breaches"

// check verifies, before any request is served, that the schema exists and
// (Postgres) that the connected role is subject to row-level security.
func (db *DB) check(ctx context.Context) error {
	g := db.read.WithContext(ctx)
	if db.dialect == DialectSQLite {
		var n int64
		if err := g.Raw("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", newestTable).Scan(&n).Error; err != nil {
			return fmt.Errorf("storage: check schema: %w", err)
		}
		if n == 0 {
			return errors.New("storage: the database is not migrated: run `custody migrate` first")
		}
		return nil
	}
	var role struct {
		Name      string `gorm:"column:name"`
		Super     bool   `gorm:"column:super"`
		BypassRLS bool   `gorm:"column:bypass_rls"`
		Owns      bool   `gorm:"column:owns"`
		Migrated  bool   `gorm:"column:migrated"`
	}
	err := g.Raw(`
		SELECT r.rolname AS name, r.rolsuper AS super, r.rolbypassrls AS bypass_rls,
		       EXISTS (SELECT 1 FROM pg_catalog.pg_class c
		               WHERE c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = current_schema())
		                 AND c.relname IN ?
		                 AND pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER')) AS owns,
		       to_regclass(?) IS NOT NULL AS migrated
		FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`, tableNames, newestTable).Scan(&role).Error
	if err != nil {
		return fmt.Errorf("storage: check database role: %w", err)
	}
	var why string
	switch {
	case role.Super:
		why = "is a superuser"
	case role.BypassRLS:
		why = "has BYPASSRLS"
	case role.Owns:
		why = "owns Custody's tables"
	}
	if why != "" {
		return fmt.Errorf("storage: refusing to serve as database role %q: it %s, so row-level security would not "+
			"isolate tenants. Connect as %s (e.g. DATABASE_URL=postgres://%s@host/db) and run migrations as the "+
			"table owner through the migration URL (Config.MigrationURL)", role.Name, why, AppRole, AppRole)
	}
	if !role.Migrated {
		return errors.New("storage: the database is not migrated (or custody_app cannot see it): run `custody migrate` as the table owner first")
	}
	return nil
}

// Dialect returns "postgres" or "sqlite".
func (db *DB) Dialect() string { return db.dialect }

// Ping reports whether the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error {
	for _, g := range db.pools() {
		sqlDB, err := g.DB()
		if err != nil {
			return fmt.Errorf("storage: ping: %w", err)
		}
		if err := sqlDB.PingContext(ctx); err != nil {
			return fmt.Errorf("storage: ping: %w", err)
		}
	}
	return nil
}

// Close closes the connection pools.
func (db *DB) Close() error {
	var errs []error
	for _, g := range db.pools() {
		if sqlDB, err := g.DB(); err == nil {
			errs = append(errs, sqlDB.Close())
		}
	}
	return errors.Join(errs...)
}

// pools returns the distinct connection pools.
func (db *DB) pools() []*gorm.DB {
	if db.read == nil || db.read == db.write {
		return []*gorm.DB{db.write}
	}
	return []*gorm.DB{db.write, db.read}
}

// Update runs fn in a read-write transaction scoped to the tenant in ctx; fn's
// error rolls it back and is returned as is. Without a tenant it returns
// tenancy.ErrNoTenant before any SQL is sent. The Tx must not be used after fn
// returns. On Postgres the transaction is READ COMMITTED: the optimistic
// version checks and row locks (ledger head, updated rows) are what order
// concurrent writers. On SQLite write transactions run one at a time.
func (db *DB) Update(ctx context.Context, fn func(domain.Tx) error) error {
	return db.scoped(ctx, true, fn)
}

// View runs fn in a read-only transaction scoped to the tenant in ctx, with
// the same fail-closed rule as Update. Its reads see one consistent snapshot
// (REPEATABLE READ READ ONLY on Postgres, a WAL read transaction on SQLite),
// so a resolver reading several tables never sees half of a concurrent write.
func (db *DB) View(ctx context.Context, fn func(domain.Tx) error) error {
	return db.scoped(ctx, false, fn)
}

func (db *DB) scoped(ctx context.Context, write bool, fn func(domain.Tx) error) error {
	tenant, err := tenancy.TenantID(ctx)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return db.inTenant(ctx, tenant, write, func(g *gorm.DB, tenant string) error {
		return fn(&txn{g: g, tenant: tenant})
	})
}

// inTenant runs fn in a transaction scoped to tenantID: on Postgres the first
// statement sets custody.tenant_id for the transaction, which every RLS
// policy reads. Every tenant-owned read and write goes through here (the
// only other statements are the Open checks and GetTenant's slug lookup).
func (db *DB) inTenant(ctx context.Context, tenantID string, write bool, fn func(g *gorm.DB, tenant string) error) error {
	id, err := uuid.Parse(tenantID)
	if err != nil {
		return fmt.Errorf("storage: tenant id %q is not a UUID: %w", tenantID, tenancy.ErrNoTenant)
	}
	tenant := id.String()
	opts := &sql.TxOptions{}
	g := db.read
	if write {
		g = db.write
	}
	if db.dialect == DialectPostgres {
		opts.Isolation = sql.LevelReadCommitted
		if !write {
			opts.Isolation, opts.ReadOnly = sql.LevelRepeatableRead, true
		}
	}
	var inner error
	err = g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if db.dialect == DialectPostgres {
			if err := tx.Exec("SELECT set_config('custody.tenant_id', ?, true)", tenant).Error; err != nil {
				return fmt.Errorf("storage: set tenant: %w", err)
			}
		}
		inner = fn(tx, tenant)
		return inner
	}, opts)
	if err != nil && inner == nil {
		// Begin or commit failed: not fn's error.
		return fmt.Errorf("storage: transaction: %w", err)
	}
	return err
}
