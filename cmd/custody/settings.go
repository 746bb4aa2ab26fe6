package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/custody-dev/custody/domain/ledger"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/graph/server"
)

// Defaults of the settings that have one.
const (
	defaultAddr            = "127.0.0.1:8080"
	defaultDataDir         = "./custody-data"
	defaultDepthLimit      = graph.DefaultDepthLimit
	defaultComplexityLimit = graph.DefaultComplexityLimit
	// defaultSLASweepInterval is how often serve looks for SLA breaches: a
	// breach is due to the day, so a minute is prompt and cheap.
	defaultSLASweepInterval = time.Minute
)

// config is the resolved configuration of every command; each command binds
// the settings it uses.
type config struct {
	addr            string
	dataDir         string
	databaseURL     string
	migrationURL    string
	redisURL        string
	dev             optionalBool
	introspection   optionalBool
	maxBodyBytes    int64
	maxUploadBytes  int64
	shutdownTimeout time.Duration
	logFormat       string
	logLevel        slog.Level
	noMigrate       optionalBool
	trustedProxies  []netip.Prefix
	depthLimit      int
	complexityLimit int
	masterKey       secretValue
	masterKeyFile   string
	// slaSweepInterval is how often serve sweeps for SLA breaches; 0 disables it.
	slaSweepInterval time.Duration
}

// setting is one row of the configuration table: a flag, the environment
// variable it falls back to, and how to store it. The table feeds the flag
// sets, --help and (checked by a test) the README.
type setting struct {
	flag  string
	env   string
	def   string // the default as shown to people
	usage string
	value func(c *config) flag.Value
	scope scope
}

// scope says which commands use a setting.
type scope int

const (
	// forAll: every command that opens the store.
	forAll scope = iota
	// forServe: serve only.
	forServe
	// forAutoMigrate: the commands that migrate before working (not migrate itself).
	forAutoMigrate
	// forMasterKey: the commands that seal or unseal ledger signing keys.
	forMasterKey
)

// commandKind says which settings a command binds.
type commandKind int

const (
	serveCommand commandKind = iota
	migrateCommand
	// adminCommand opens the store.
	adminCommand
	// keyCommand opens the store and needs the master key.
	keyCommand
	// offlineCommand opens nothing and binds no setting.
	offlineCommand
)

// uses reports whether a command of kind k binds settings of scope s.
func (k commandKind) uses(s scope) bool {
	switch {
	case k == offlineCommand:
		return false
	case s == forServe:
		return k == serveCommand
	case s == forAutoMigrate:
		return k != migrateCommand
	case s == forMasterKey:
		return k == serveCommand || k == keyCommand
	}
	return true
}

// settings is the configuration table, in the order help shows it.
var settings = []setting{
	{"addr", "CUSTODY_ADDR", defaultAddr, "listen address; port 0 picks a free port",
		func(c *config) flag.Value { return (*stringValue)(&c.addr) }, forServe},
	{"data-dir", "CUSTODY_DATA_DIR", defaultDataDir, "directory of the embedded SQLite store (created if missing)",
		func(c *config) flag.Value { return (*stringValue)(&c.dataDir) }, forAll},
	{"database-url", "DATABASE_URL", "unset: embedded SQLite", "PostgreSQL URL, connecting as the application role",
		func(c *config) flag.Value { return (*stringValue)(&c.databaseURL) }, forAll},
	{"migration-database-url", "MIGRATION_DATABASE_URL", "DATABASE_URL", "PostgreSQL URL of the schema owner, used for migrations",
		func(c *config) flag.Value { return (*stringValue)(&c.migrationURL) }, forAll},
	{"master-key", "CUSTODY_MASTER_KEY", "unset", "base64 key (32 bytes) sealing the ledger signing keys; never printed",
		func(c *config) flag.Value { return &c.masterKey }, forMasterKey},
	{"master-key-file", "CUSTODY_MASTER_KEY_FILE", "<data-dir>/master.key on SQLite", "file holding the master key; PostgreSQL needs it or --master-key",
		func(c *config) flag.Value { return (*stringValue)(&c.masterKeyFile) }, forMasterKey},
	{"redis-url", "REDIS_URL", "unset: in-process bus", "Redis URL of the event bus shared by server instances",
		func(c *config) flag.Value { return (*stringValue)(&c.redisURL) }, forServe},
	{"dev", "CUSTODY_DEV", "on with SQLite, off with PostgreSQL", "development mode: GraphiQL at /, introspection, demo tenant on first start",
		func(c *config) flag.Value { return &c.dev }, forServe},
	{"introspection", "CUSTODY_INTROSPECTION", "same as --dev", "allow GraphQL introspection queries",
		func(c *config) flag.Value { return &c.introspection }, forServe},
	{"max-body-bytes", "CUSTODY_MAX_BODY_BYTES", strconv.FormatInt(server.DefaultMaxBodyBytes, 10), "largest request body accepted (413 beyond)",
		func(c *config) flag.Value { return (*int64Value)(&c.maxBodyBytes) }, forServe},
	{"max-upload-bytes", "CUSTODY_MAX_UPLOAD_BYTES", strconv.FormatInt(server.DefaultMaxUploadBytes, 10), "largest file upload (GraphQL imports) accepted (413 beyond); custody import has no limit",
		func(c *config) flag.Value { return (*int64Value)(&c.maxUploadBytes) }, forServe},
	{"shutdown-timeout", "CUSTODY_SHUTDOWN_TIMEOUT", server.DefaultShutdownTimeout.String(), "how long shutdown waits for in-flight requests",
		func(c *config) flag.Value { return (*durationValue)(&c.shutdownTimeout) }, forServe},
	{"log-format", "CUSTODY_LOG_FORMAT", "text", "log format on stderr: text or json",
		func(c *config) flag.Value { return (*logFormatValue)(&c.logFormat) }, forAll},
	{"log-level", "CUSTODY_LOG_LEVEL", "info", "log level: debug, info, warn or error",
		func(c *config) flag.Value { return (*logLevelValue)(&c.logLevel) }, forAll},
	{"no-migrate", "CUSTODY_NO_MIGRATE", "false", "do not apply pending migrations on start",
		func(c *config) flag.Value { return &c.noMigrate }, forAutoMigrate},
	{"trusted-proxies", "CUSTODY_TRUSTED_PROXIES", "none", "comma-separated CIDRs whose X-Forwarded-For is believed",
		func(c *config) flag.Value { return (*proxiesValue)(&c.trustedProxies) }, forServe},
	{"depth-limit", "CUSTODY_DEPTH_LIMIT", strconv.Itoa(defaultDepthLimit), "deepest GraphQL selection accepted",
		func(c *config) flag.Value { return (*intValue)(&c.depthLimit) }, forServe},
	{"complexity-limit", "CUSTODY_COMPLEXITY_LIMIT", strconv.Itoa(defaultComplexityLimit), "highest GraphQL query complexity accepted",
		func(c *config) flag.Value { return (*intValue)(&c.complexityLimit) }, forServe},
	{"sla-sweep-interval", "CUSTODY_SLA_SWEEP_INTERVAL", "1m", "how often to raise SLA breaches (one instance at a time); 0 disables",
		func(c *config) flag.Value { return (*intervalValue)(&c.slaSweepInterval) }, forServe},
}

// newConfig returns the defaults.
func newConfig() *config {
	return &config{
		addr:             defaultAddr,
		dataDir:          defaultDataDir,
		maxBodyBytes:     server.DefaultMaxBodyBytes,
		maxUploadBytes:   server.DefaultMaxUploadBytes,
		shutdownTimeout:  server.DefaultShutdownTimeout,
		logFormat:        "text",
		logLevel:         slog.LevelInfo,
		depthLimit:       defaultDepthLimit,
		complexityLimit:  defaultComplexityLimit,
		slaSweepInterval: defaultSLASweepInterval,
	}
}

// bind registers on fs the settings a command of kind k uses, after applying
// their environment variables, so that a flag overrides the environment
// which overrides the default.
func (c *config) bind(fs *flag.FlagSet, getenv func(string) string, k commandKind) error {
	for _, s := range settings {
		if !k.uses(s.scope) {
			continue
		}
		v := s.value(c)
		if env := getenv(s.env); env != "" {
			if err := v.Set(env); err != nil {
				return fmt.Errorf("environment %s: %w", s.env, err)
			}
		}
		fs.Var(v, s.flag, s.usage+" (env "+s.env+")")
	}
	return nil
}

// checkMigrationRole refuses, for commands that migrate before working, a
// PostgreSQL setup that could not: the server's role (custody_app) owns no
// table, so migrations need the owner's URL, or --no-migrate.
func (c *config) checkMigrationRole() error {
	if c.databaseURL != "" && c.migrationURL == "" && !c.noMigrate.or(false) {
		return usagef("on PostgreSQL, pending migrations are applied as the schema owner: " +
			"set MIGRATION_DATABASE_URL (--migration-database-url), or run `custody migrate` " +
			"with it once and pass --no-migrate (CUSTODY_NO_MIGRATE=true)")
	}
	return nil
}

// startConfig resolves the defaults that depend on other settings.
func (c *config) startConfig(logger *slog.Logger) server.StartConfig {
	embedded := c.databaseURL == ""
	dev := c.dev.or(embedded)
	return server.StartConfig{
		Addr:            c.addr,
		DataDir:         c.dataDir,
		DatabaseURL:     c.databaseURL,
		MigrationURL:    c.migrationURL,
		RedisURL:        c.redisURL,
		Migrate:         !c.noMigrate.or(false),
		Development:     dev,
		Introspection:   c.introspection.or(dev),
		DepthLimit:      c.depthLimit,
		ComplexityLimit: c.complexityLimit,
		MaxBodyBytes:    c.maxBodyBytes,
		MaxUploadBytes:  c.maxUploadBytes,
		ShutdownTimeout: c.shutdownTimeout,
		TrustedProxies:  c.trustedProxies,
		Logger:          logger,
	}
}

// resolveMasterKey reads the master key the settings give, or returns nil
// when none is set: server.MasterKey then applies the embedded default or
// refuses PostgreSQL. Errors never hold the key.
func (c *config) resolveMasterKey() ([]byte, error) {
	switch {
	case c.masterKey != "" && c.masterKeyFile != "":
		return nil, usagef("set the master key once: CUSTODY_MASTER_KEY (--master-key) or CUSTODY_MASTER_KEY_FILE (--master-key-file), not both")
	case c.masterKey != "":
		key, err := ledger.ParseMasterKey(string(c.masterKey))
		if err != nil {
			return nil, fmt.Errorf("CUSTODY_MASTER_KEY (--master-key): %w (create one with custody key generate-master)", err)
		}
		return key, nil
	case c.masterKeyFile != "":
		return server.ReadMasterKeyFile(c.masterKeyFile)
	}
	return nil, nil
}

// logger builds the stderr logger the settings ask for.
func (c *config) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printSettings writes the rows of the configuration table that a command
// of kind k uses (serve uses them all).
func printSettings(w io.Writer, k commandKind) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  FLAG\tENVIRONMENT\tDEFAULT\tMEANING")
	for _, s := range settings {
		if !k.uses(s.scope) {
			continue
		}
		fmt.Fprintf(tw, "  --%s\t%s\t%s\t%s\n", s.flag, s.env, s.def, s.usage)
	}
	_ = tw.Flush()
}

// optionalBool is a boolean flag that remembers whether it was set, for
// defaults that depend on other settings.
type optionalBool struct {
	set   bool
	value bool
}

func (b *optionalBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.value)
}

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	b.set, b.value = true, v
	return nil
}

// IsBoolFlag lets --dev stand for --dev=true.
func (b *optionalBool) IsBoolFlag() bool { return true }

// or returns the value if set, else def.
func (b optionalBool) or(def bool) bool {
	if b.set {
		return b.value
	}
	return def
}

// secretValue holds a secret setting. Set accepts anything (validation
// comes later, with a message that does not echo the value) and String never
// shows it, so neither a flag error nor --help can print it.
type secretValue string

func (s *secretValue) String() string { return "" }

func (s *secretValue) Set(v string) error { *s = secretValue(v); return nil }

type stringValue string

func (s *stringValue) String() string {
	if s == nil {
		return ""
	}
	return string(*s)
}

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }

type intValue int

func (i *intValue) String() string {
	if i == nil {
		return "0"
	}
	return strconv.Itoa(int(*i))
}

func (i *intValue) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive integer, got %q", v)
	}
	*i = intValue(n)
	return nil
}

type int64Value int64

func (i *int64Value) String() string {
	if i == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*i), 10)
}

func (i *int64Value) Set(v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive number of bytes, got %q", v)
	}
	*i = int64Value(n)
	return nil
}

type durationValue time.Duration

func (d *durationValue) String() string {
	if d == nil {
		return "0s"
	}
	return time.Duration(*d).String()
}

func (d *durationValue) Set(v string) error {
	t, err := time.ParseDuration(v)
	if err != nil || t <= 0 {
		return fmt.Errorf("want a positive duration such as 20s, got %q", v)
	}
	*d = durationValue(t)
	return nil
}

// intervalValue is a job's period: 0 means never (the job is disabled);
// below a second a job would only load the database.
type intervalValue time.Duration

func (d *intervalValue) String() string {
	if d == nil {
		return "0s"
	}
	return time.Duration(*d).String()
}

func (d *intervalValue) Set(v string) error {
	t, err := time.ParseDuration(v)
	if err != nil || t < 0 || (t > 0 && t < time.Second) {
		return fmt.Errorf("want a duration of at least 1s such as 1m, or 0 to disable, got %q", v)
	}
	*d = intervalValue(t)
	return nil
}

type logFormatValue string

func (f *logFormatValue) String() string {
	if f == nil {
		return ""
	}
	return string(*f)
}

func (f *logFormatValue) Set(v string) error {
	v = strings.ToLower(v)
	if v != "text" && v != "json" {
		return fmt.Errorf("want text or json, got %q", v)
	}
	*f = logFormatValue(v)
	return nil
}

type logLevelValue slog.Level

func (l *logLevelValue) String() string {
	if l == nil {
		return ""
	}
	return slog.Level(*l).String()
}

func (l *logLevelValue) Set(v string) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(v)); err != nil {
		return fmt.Errorf("want debug, info, warn or error, got %q", v)
	}
	*l = logLevelValue(lvl)
	return nil
}

type proxiesValue []netip.Prefix

func (p *proxiesValue) String() string {
	if p == nil {
		return ""
	}
	parts := make([]string, len(*p))
	for i, x := range *p {
		parts[i] = x.String()
	}
	return strings.Join(parts, ",")
}

func (p *proxiesValue) Set(v string) error {
	list, err := server.ParseTrustedProxies(v)
	if err != nil {
		return err
	}
	*p = list
	return nil
}

// osEnv is the real environment.
var osEnv = os.Getenv
