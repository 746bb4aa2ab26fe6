package storage

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	// pgx's database/sql driver ("pgx"), for the owner's migration connection.
	_ "github.com/jackc/pgx/v5/stdlib"
)

// migrations holds the versioned schema of each dialect. Both directories
// carry the same versions, so a version number means the same schema on
// either store.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// Migrate applies the pending migrations of the store cfg selects and
// returns the versions it applied (none when the schema is current). On
// Postgres it connects with cfg.MigrationURL (default DatabaseURL), which
// must be the table owner, and holds an advisory lock so that servers
// starting together migrate once. The migrations create the custody_app role
// if missing and grant it what the server needs.
func Migrate(ctx context.Context, cfg Config) (applied []int64, err error) {
	dialect, err := cfg.dialect()
	if err != nil {
		return nil, err
	}
	var (
		db      *sql.DB
		gooseD  goose.Dialect
		dir     string
		options []goose.ProviderOption
	)
	switch dialect {
	case DialectPostgres:
		url := cfg.MigrationURL
		if url == "" {
			url = cfg.DatabaseURL
		}
		if db, err = sql.Open("pgx", url); err != nil {
			return nil, fmt.Errorf("storage: migrate: open postgres: %w", err)
		}
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("storage: migrate: %w", err)
		}
		gooseD, dir = goose.DialectPostgres, "migrations/postgres"
		options = append(options, goose.WithSessionLocker(locker))
	case DialectSQLite:
		path, err := cfg.sqlitePath()
		if err != nil {
			return nil, err
		}
		if db, err = sql.Open("sqlite", sqliteDSN(path, true)); err != nil {
			return nil, fmt.Errorf("storage: migrate: open sqlite: %w", err)
		}
		db.SetMaxOpenConns(1)
		gooseD, dir = goose.DialectSQLite3, "migrations/sqlite"
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("storage: migrate: close: %w", cerr)
		}
	}()
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("storage: migrate: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	options = append(options, goose.WithSlog(log), goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(gooseD, db, fsys, options...)
	if err != nil {
		return nil, fmt.Errorf("storage: migrate: %w", err)
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		if r.Error == nil {
			applied = append(applied, r.Source.Version)
		}
	}
	if err != nil {
		return applied, fmt.Errorf("storage: migrate %s: %w", dialect, err)
	}
	return applied, nil
}
