package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/server"
)

func serveCmd() *command {
	return &command{
		name:    "serve",
		args:    "[flags]",
		summary: "run the GraphQL API server (applies pending migrations first unless --no-migrate)",
		kind:    serveCommand,
		run:     serve,
	}
}

// serve runs the server until ctx ends (SIGINT or SIGTERM), then drains it.
func serve(ctx context.Context, e env, cfg *config) error {
	if err := cfg.checkMigrationRole(); err != nil {
		return err
	}
	log := cfg.logger(e.stderr)
	sc := cfg.startConfig(log)
	key, err := cfg.resolveMasterKey()
	if err != nil {
		return err
	}
	sc.MasterKey = key
	running, err := server.Start(ctx, sc)
	if err != nil {
		return err
	}
	log.Info("server started", "url", running.URL, "store", running.Store.Dialect(),
		"bus", busName(sc), "development", sc.Development, "migrations_applied", len(running.Migrated))
	printBanner(e.stdout, running.URL, sc, cfg.dataDir)
	stopSweeper := startSweeper(ctx, running, cfg.slaSweepInterval, log)

	if sc.Development {
		demo, created, err := server.SeedDemo(ctx, running.Store)
		if err != nil {
			stopSweeper()
			_ = running.Shutdown(context.Background())
			return err
		}
		if created {
			printDemoTokens(e.stdout, running.URL, demo)
		} else {
			printLaterStart(e.stdout, cfg.dataDir)
		}
	} else {
		fmt.Fprintf(e.stdout, "\nCreate a tenant and a token with:\n  custody tenant create --slug acme --name \"Acme Corp\"\n  custody token create --tenant acme --role admin --name \"First admin\"\n")
	}
	fmt.Fprintln(e.stdout, "\nPress Ctrl-C to stop.")

	select {
	case <-ctx.Done():
		log.Info("shutting down: draining in-flight requests", "timeout", sc.ShutdownTimeout)
	case <-running.Done():
		// Accepting failed; Shutdown below still closes the store and bus.
	}
	// The sweeper writes through the store: it stops before the store closes.
	stopSweeper()
	shutdownErr := running.Shutdown(context.Background())
	if err := running.Err(); err != nil {
		return errors.Join(err, shutdownErr)
	}
	if shutdownErr != nil {
		return shutdownErr
	}
	log.Info("server stopped")
	return nil
}

// startSweeper raises SLA breaches every interval in the background (one
// instance of a fleet at a time: the store's lock) and returns the function
// that stops it and waits for a sweep in progress to end. interval 0
// disables it.
func startSweeper(ctx context.Context, r *server.Running, interval time.Duration, log *slog.Logger) (stop func()) {
	if interval <= 0 {
		log.Info("SLA sweeper disabled (--sla-sweep-interval 0)")
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	sweeper := domain.NewSweeper(r.Service, r.Store, r.Store, interval, log)
	go func() {
		defer close(done)
		sweeper.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

func busName(sc server.StartConfig) string {
	if sc.RedisURL != "" {
		return "redis"
	}
	return "in-process"
}

// printBanner prints where the server listens. Its first line is stable:
// scripts and tests look for "Custody listening on <url>".
func printBanner(w io.Writer, url string, sc server.StartConfig, dataDir string) {
	fmt.Fprintf(w, "Custody listening on %s\n", url)
	fmt.Fprintf(w, "  GraphQL API  %s/graphql  (send Authorization: Bearer <token>)\n", url)
	if sc.Development {
		fmt.Fprintf(w, "  GraphiQL     %s/  (put {\"Authorization\": \"Bearer <token>\"} in its Headers tab)\n", url)
	} else {
		fmt.Fprintln(w, "  GraphiQL     off  (development mode only: CUSTODY_DEV=true)")
	}
	fmt.Fprintf(w, "  Receipts     %s/receipts/{eventId}  and public keys at %s/ledger/keys  (same token)\n", url, url)
	fmt.Fprintln(w, "  Operations   /healthz  /readyz  /metrics")
	if sc.Embedded() {
		fmt.Fprintf(w, "  Store        embedded SQLite, %s  (set DATABASE_URL for PostgreSQL)\n",
			filepath.Join(dataDir, server.SQLiteFile))
	} else {
		fmt.Fprintln(w, "  Store        PostgreSQL")
	}
	switch {
	case len(sc.MasterKey) > 0:
		fmt.Fprintln(w, "  Master key   from CUSTODY_MASTER_KEY / CUSTODY_MASTER_KEY_FILE")
	case sc.Embedded():
		fmt.Fprintf(w, "  Master key   %s  (back it up apart from the database)\n", filepath.Join(dataDir, server.MasterKeyFile))
	}
	if sc.RedisURL != "" {
		fmt.Fprintln(w, "  Event bus    Redis")
	} else {
		fmt.Fprintln(w, "  Event bus    in-process  (set REDIS_URL to run several instances)")
	}
}

// printDemoTokens prints the demo tenant's tokens: the only time they exist
// in clear.
func printDemoTokens(w io.Writer, url string, demo *server.Demo) {
	fmt.Fprintf(w, "\nFirst start: created the demo tenant %q with one member and API token per role.\n", demo.Tenant.Slug)
	fmt.Fprintln(w, "The tokens are shown only now (the database keeps their hashes):")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, t := range demo.Tokens {
		fmt.Fprintf(tw, "  %s\t%s\n", t.Member.Roles[0], t.Plaintext)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nTry it in another shell (the README walkthrough uses these variables):")
	fmt.Fprintf(w, "  export API=%s/graphql\n", url)
	for _, t := range demo.Tokens {
		fmt.Fprintf(w, "  export %s=%s\n", strings.ToUpper(string(t.Member.Roles[0])), t.Plaintext)
	}
	fmt.Fprint(w, `  curl -s "$API" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d '{"query":"{ viewer { tenant { slug } member { name roles } } }"}'

Next: README.md walks the mailroom flow (receive, serialize, notify, signed
hand-off) in five minutes; "custody help" lists the commands and settings; set
DATABASE_URL and REDIS_URL to run on PostgreSQL and Redis (see the README).
`)
}

// printLaterStart reminds that tokens were shown once and how to get more.
func printLaterStart(w io.Writer, dataDir string) {
	dirFlag := ""
	if dataDir != defaultDataDir {
		dirFlag = " --data-dir " + dataDir
	}
	fmt.Fprintf(w, `
The demo tenant %q exists; its API tokens were printed at first start.
To create another (shown once):
  custody token create%s --tenant %s --role mailroom --name "Front desk"
README.md walks the mailroom flow; "custody help" lists the commands.
`, server.DemoTenantSlug, dirFlag, server.DemoTenantSlug)
}
