package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"
)

// unlockTimeout bounds the release of a job's advisory lock, which runs
// even when the job's context is done.
const unlockTimeout = 10 * time.Second

// TryRun implements domain.Exclusive. On Postgres the lock is a session
// advisory lock keyed by hashtextextended('custody:'||name, 0), held on one
// connection of the pool taken for the job's duration, so that every
// server instance on the database competes for it: the pool must have a
// connection to spare for fn's own transactions (Config.MaxOpenConns of 2
// or more). Advisory locks need no table privilege, so custody_app may take
// them. On SQLite, whose database one server process serves, the lock is a
// mutex of this *DB. fn's error is returned with true.
func (db *DB) TryRun(ctx context.Context, name string, fn func(context.Context) error) (bool, error) {
	if fn == nil {
		return false, errors.New("storage: try run: nil job")
	}
	if db.dialect == DialectPostgres {
		return db.tryRunAdvisory(ctx, name, fn)
	}
	return db.tryRunLocal(ctx, name, fn)
}

// tryRunAdvisory runs fn holding the named session advisory lock.
func (db *DB) tryRunAdvisory(ctx context.Context, name string, fn func(context.Context) error) (ran bool, err error) {
	pool, err := db.write.DB()
	if err != nil {
		return false, fmt.Errorf("storage: try run %s: %w", name, err)
	}
	if pool.Stats().MaxOpenConnections == 1 {
		// fn's first transaction would wait forever for the one connection.
		return false, fmt.Errorf("storage: try run %s: the pool has one connection, which the lock would hold", name)
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("storage: try run %s: connect: %w", name, err)
	}
	key := "custody:" + name
	var locked bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key).Scan(&locked); err != nil {
		return false, errors.Join(fmt.Errorf("storage: try run %s: lock: %w", name, err), discard(conn))
	}
	if !locked {
		return false, closeConn(conn, name)
	}
	defer func() {
		if uerr := unlockAdvisory(conn, key); uerr != nil {
			err = errors.Join(err, fmt.Errorf("storage: try run %s: unlock: %w", name, uerr))
		}
	}()
	return true, fn(ctx)
}

// unlockAdvisory releases the session lock key on conn and returns conn to
// the pool. If the release fails, the connection is discarded instead: its
// session ending is what releases the lock then, and a pooled session
// still holding it would block the job everywhere until the process exits.
func unlockAdvisory(conn *sql.Conn, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	var released bool
	err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock(hashtextextended($1, 0))", key).Scan(&released)
	if err == nil && !released {
		err = errors.New("the session did not hold the lock")
	}
	if err != nil {
		return errors.Join(err, discard(conn))
	}
	return conn.Close()
}

// discard closes conn's session rather than returning it to the pool.
func discard(conn *sql.Conn) error {
	// database/sql closes a connection whose Raw function reports it bad.
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	if err := conn.Close(); err != nil && !errors.Is(err, sql.ErrConnDone) {
		return err
	}
	return nil
}

// closeConn returns conn to the pool.
func closeConn(conn *sql.Conn, name string) error {
	if err := conn.Close(); err != nil {
		return fmt.Errorf("storage: try run %s: release connection: %w", name, err)
	}
	return nil
}

// tryRunLocal runs fn holding the named mutex of db, if free.
func (db *DB) tryRunLocal(ctx context.Context, name string, fn func(context.Context) error) (bool, error) {
	m, _ := db.jobs.LoadOrStore(name, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	if !mu.TryLock() {
		return false, nil
	}
	defer mu.Unlock()
	return true, fn(ctx)
}
