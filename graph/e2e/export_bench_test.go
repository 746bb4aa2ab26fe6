package e2e_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/graph/server"
)

// Issue 6's performance figures for the custody-log export: rows per second
// through the real HTTP server against psql's \copy of the same rows, and the
// server's peak heap while it streams. The events are seeded with plain SQL
// (INSERT ... SELECT over a generated series): appending a million events
// through the API would take far longer than exporting them.
//
//	CI=true go test ./graph/e2e -run '^$' -bench ExportCustodyLog -benchtime 1x -timeout 30m
//	CI=true go test -count=1 ./graph/e2e -run TestExportMemoryFlat

const (
	// exportBenchEventsEnv overrides the benchmark's largest log.
	exportBenchEventsEnv = "CUSTODY_BENCH_EXPORT_EVENTS"
	// defaultExportBenchEvents is the largest log the benchmark exports; it
	// also exports a tenth of it, to show the peak heap does not follow the
	// log's size.
	defaultExportBenchEvents = 1_000_000
	// seededSeqBase is added to a seeded event's number to make its seq. The
	// seeded rows bypass the ledger (no head increment, no Merkle hashes),
	// so they sit far above the head, where the EXPORTED event every export
	// appends through the real AppendEvent (at seq head+1, with its hashes)
	// cannot collide with them.
	seededSeqBase = 1_000_000_000
	// seededPeople is how many people (each holding one asset) the seeded
	// events hand assets to, round robin: a page of 1000 events then refers
	// to 1000 distinct assets and people, the most a page can load.
	seededPeople = 1000
	// exportHeapBound is TestExportMemoryFlat's bound on the heap growth of
	// an export: a few pages' worth with the garbage collector's headroom,
	// far below what holding 200,000 rows or their CSV would take (hundreds
	// of megabytes).
	exportHeapBound = 64 << 20
	// flatExportEvents is how many events TestExportMemoryFlat exports.
	flatExportEvents = 200_000
	// flatExportEventsRace is the same under the race detector, which
	// slows the export tenfold; 40 pages still show whether memory grows
	// with the export.
	flatExportEventsRace = 40_000
)

// BenchmarkExportCustodyLog times GET /exports/custody-log.csv of a seeded
// Postgres log (CUSTODY_BENCH_EXPORT_EVENTS events, default one million, and
// a tenth of that) and reports:
//
//   - rows/s: CSV rows received by a real HTTP client;
//   - x-psql: the export's time over psql's \copy of the same rows and
//     columns (one statement with the same joins; the floor a streamed
//     export could reach);
//   - MB-peak-heap: the process's HeapInuse peak during the export over its
//     level just before (after a GC), sampled every 10 ms; the server runs
//     in this process, so this is its working memory for the export (the
//     client only counts bytes). MB-heap-inuse and MB-sys are the absolute
//     peaks.
//
// Like the other Postgres benchmarks it fails, not skips, under CI=true when
// Postgres (or psql) is missing.
func BenchmarkExportCustodyLog(b *testing.B) {
	n := defaultExportBenchEvents
	if v := os.Getenv(exportBenchEventsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			b.Fatalf("%s=%q: want a whole number of at least 10", exportBenchEventsEnv, v)
		}
	}
	for _, size := range []int{n / 10, n} {
		b.Run(fmt.Sprintf("events=%d", size), func(b *testing.B) { benchExport(b, size) })
	}
}

func benchExport(b *testing.B, size int) {
	psql := findPSQL(b)
	_, cfg := storagetest.Postgres(b)
	e := &env{}
	startB(b, e, server.StartConfig{DatabaseURL: cfg.DatabaseURL, MigrationURL: cfg.MigrationURL})
	e.storage = cfg
	t0 := time.Now()
	seedExportLog(b, e, size)
	b.Logf("seeded %d events in %.1fs", size, time.Since(t0).Seconds())
	token := e.a.tokens[domain.RoleIT]
	ctx := context.Background()

	// Warm the cache for both sides alike and check psql works before the
	// long part.
	if _, _, err := psqlCopy(ctx, psql, cfg.DatabaseURL, e.a.id); err != nil {
		b.Fatal(err)
	}

	var (
		took      time.Duration
		rows      int64
		body      int64
		iters     int
		peakGrown uint64
		peak      memPeak
	)
	for b.Loop() {
		stop := watchHeap()
		start := time.Now()
		r, n, err := streamExport(ctx, e.url, token)
		took += time.Since(start)
		p := stop()
		if err != nil {
			b.Fatal(err)
		}
		rows, body, iters = r, n, iters+1
		if g := p.grown(); g >= peakGrown {
			peakGrown, peak = g, p
		}
	}

	psqlTook, psqlRows, err := psqlCopy(ctx, psql, cfg.DatabaseURL, e.a.id)
	if err != nil {
		b.Fatal(err)
	}
	// psql ran after the last export, whose own EXPORTED event was its last
	// row: both read the same rows.
	if psqlRows != rows || rows < int64(size) {
		b.Fatalf("the export sent %d rows and psql %d; %d events were seeded", rows, psqlRows, size)
	}
	perExport := took / time.Duration(iters)
	b.ReportMetric(float64(rows)/perExport.Seconds(), "rows/s")
	b.ReportMetric(perExport.Seconds()/psqlTook.Seconds(), "x-psql")
	b.ReportMetric(mb(peakGrown), "MB-peak-heap")
	b.ReportMetric(mb(peak.peakInuse), "MB-heap-inuse")
	b.ReportMetric(mb(peak.peakSys), "MB-sys")
	b.Logf("%d rows, %.1f MB of CSV: export %.2fs, psql \\copy %.2fs; heap in use %.1f MB before, %.1f MB at peak (%d samples)",
		rows, float64(body)/(1<<20), perExport.Seconds(), psqlTook.Seconds(), mb(peak.baseInuse), mb(peak.peakInuse), peak.samples)
}

// TestExportMemoryFlat exports a 200,000-event custody log through HTTP on
// both stores and checks the heap in use grows by less than
// exportHeapBound meanwhile: the export streams page by page rather than
// holding the log or its CSV. It is a bound on memory, not on time.
func TestExportMemoryFlat(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		n := flatExportEvents
		if raceDetector {
			n = flatExportEventsRace
		}
		seedExportLog(t, e, n)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()

		stop := watchHeap()
		rows, body, err := streamExport(ctx, e.url, e.a.tokens[domain.RoleIT])
		p := stop()
		if err != nil {
			t.Fatal(err)
		}
		if want := countEvents(t, e, e.a.id); rows != want {
			t.Fatalf("the export sent %d rows; the tenant has %d events", rows, want)
		}
		t.Logf("%d rows, %.1f MB of CSV; heap in use %.1f MB before, %.1f MB at peak (+%.1f MB, %d samples)",
			rows, float64(body)/(1<<20), mb(p.baseInuse), mb(p.peakInuse), mb(p.grown()), p.samples)
		if p.samples < 2 {
			t.Fatalf("only %d heap samples: the export was not observed", p.samples)
		}
		if p.grown() > exportHeapBound {
			t.Errorf("heap in use grew by %.1f MB during the export of %d rows (%.1f MB of CSV); want under %.0f MB",
				mb(p.grown()), rows, float64(body)/(1<<20), mb(exportHeapBound))
		}
	})
}

// seedExportLog writes size custody events into tenant A with SQL over the
// owner's connection: seededPeople people each holding one laptop, and
// hand-offs of those laptops to them, round robin, recorded a second apart
// by a dedicated member. On Postgres the table is then analysed, as
// autovacuum would after such a load.
func seedExportLog(t testing.TB, e *env, size int) {
	t.Helper()
	ctx := context.Background()
	staff, err := server.CreateMemberToken(ctx, e.run.Store, e.a.id, domain.MemberService, "export seeder", domain.RoleAdmin)
	if err != nil {
		t.Fatalf("create the seeding member: %v", err)
	}
	pg := e.storage.DatabaseURL != ""
	stmts := sqliteSeed
	if pg {
		stmts = postgresSeed
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var baseArg any = base
	if !pg {
		baseArg = base.Format(time.DateTime)
	}
	db := storagetest.OwnerConn(t, e.storage)
	err = ownerTx(ctx, db, pg, e.a.id, func(tx *sql.Tx) error {
		for _, s := range []struct {
			what string
			sql  string
			args []any
		}{
			{"people", stmts.people, []any{e.a.id, seededPeople, baseArg}},
			{"assets", stmts.assets, []any{e.a.id, seededPeople, baseArg}},
			{"events", stmts.events, []any{e.a.id, size, seededSeqBase, seededPeople, staff.Member.ID, baseArg}},
		} {
			if _, err := tx.ExecContext(ctx, s.sql, s.args...); err != nil {
				return fmt.Errorf("seed %s: %w", s.what, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pg {
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatalf("analyze: %v", err)
		}
	}
}

// seedSQL is the seeding statements of one dialect. Their parameters:
// people and assets (tenant, count, time), events (tenant, count, seq base,
// people, actor, time). Ids are UUIDs made of a kind (the fourth group) and
// a number, so events can name their asset and person without a lookup.
type seedSQL struct{ people, assets, events string }

var postgresSeed = seedSQL{
	people: `INSERT INTO people (tenant_id, id, employee_id, name, email, department, status, version, created_at, updated_at)
		SELECT $1, ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'E-' || i, 'Person ' || i,
			'person' || i || '@acme.example', 'Engineering', 'ACTIVE', 1, $3, $3
		FROM generate_series(1, $2::int) AS i`,
	assets: `INSERT INTO assets (tenant_id, id, serial, asset_tag, make, model, category, bears_data, itam_ref, condition,
			state, custodian_kind, custodian_ref, version, created_at, updated_at)
		SELECT $1, ('00000000-0000-4000-a000-' || lpad(to_hex(i), 12, '0'))::uuid, 'SN-' || i, 'AT-' || i, 'Dell',
			'Latitude 7450', 'LAPTOP', true, '', 'GOOD', 'DEPLOYED', 'PERSON',
			'00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'), 1, $3, $3
		FROM generate_series(1, $2::int) AS i`,
	events: `INSERT INTO custody_events (tenant_id, id, seq, asset_id, type, from_state, to_state,
			from_custodian_kind, from_custodian_ref, to_custodian_kind, to_custodian_ref, actor_id, location,
			device_time, recorded_at, details)
		SELECT $1, ('00000000-0000-4000-9000-' || lpad(to_hex(i), 12, '0'))::uuid, $3::bigint + i,
			('00000000-0000-4000-a000-' || lpad(to_hex(i % $4::int + 1), 12, '0'))::uuid,
			'HANDED_OFF', 'AWAITING_COLLECTION', 'DEPLOYED', 'LOCATION', 'IT desk 3', 'PERSON',
			'00000000-0000-4000-8000-' || lpad(to_hex(i % $4::int + 1), 12, '0'), $5, 'IT desk 3',
			$6::timestamptz + (i - 5) * interval '1 second', $6::timestamptz + i * interval '1 second',
			'{"note":"bench hand-off","ticket":"INC' || i || '"}'
		FROM generate_series(1, $2::int) AS i`,
}

var sqliteSeed = seedSQL{
	people: `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2)
		INSERT INTO people (tenant_id, id, employee_id, name, email, department, status, version, created_at, updated_at)
		SELECT ?1, printf('00000000-0000-4000-8000-%012x', i), 'E-' || i, 'Person ' || i,
			'person' || i || '@acme.example', 'Engineering', 'ACTIVE', 1,
			strftime('%Y-%m-%dT%H:%M:%S.000000Z', ?3), strftime('%Y-%m-%dT%H:%M:%S.000000Z', ?3)
		FROM s`,
	assets: `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2)
		INSERT INTO assets (tenant_id, id, serial, asset_tag, make, model, category, bears_data, itam_ref, condition,
			state, custodian_kind, custodian_ref, version, created_at, updated_at)
		SELECT ?1, printf('00000000-0000-4000-a000-%012x', i), 'SN-' || i, 'AT-' || i, 'Dell',
			'Latitude 7450', 'LAPTOP', 1, '', 'GOOD', 'DEPLOYED', 'PERSON',
			printf('00000000-0000-4000-8000-%012x', i), 1,
			strftime('%Y-%m-%dT%H:%M:%S.000000Z', ?3), strftime('%Y-%m-%dT%H:%M:%S.000000Z', ?3)
		FROM s`,
	events: `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2)
		INSERT INTO custody_events (tenant_id, id, seq, asset_id, type, from_state, to_state,
			from_custodian_kind, from_custodian_ref, to_custodian_kind, to_custodian_ref, actor_id, location,
			device_time, recorded_at, details)
		SELECT ?1, printf('00000000-0000-4000-9000-%012x', i), ?3 + i,
			printf('00000000-0000-4000-a000-%012x', i % ?4 + 1),
			'HANDED_OFF', 'AWAITING_COLLECTION', 'DEPLOYED', 'LOCATION', 'IT desk 3', 'PERSON',
			printf('00000000-0000-4000-8000-%012x', i % ?4 + 1), ?5, 'IT desk 3',
			strftime('%Y-%m-%dT%H:%M:%S.000000Z', ?6, (i - 5) || ' seconds'),
			strftime('%Y-%m-%dT%H:%M:%S.000000Z', ?6, i || ' seconds'),
			'{"note":"bench hand-off","ticket":"INC' || i || '"}'
		FROM s`,
}

// ownerTx runs fn in a transaction of the owner's connection, scoped to
// tenant on Postgres, whose row-level security binds the owner too (unless
// it is a superuser).
func ownerTx(ctx context.Context, db *sql.DB, pg bool, tenant string, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if pg {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('custody.tenant_id', $1, true)", tenant); err != nil {
			return fmt.Errorf("set tenant: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// countEvents counts the custody events of tenant.
func countEvents(t testing.TB, e *env, tenant string) int64 {
	t.Helper()
	pg := e.storage.DatabaseURL != ""
	q := "SELECT count(*) FROM custody_events WHERE tenant_id = ?"
	if pg {
		q = "SELECT count(*) FROM custody_events WHERE tenant_id = $1"
	}
	var n int64
	err := ownerTx(context.Background(), storagetest.OwnerConn(t, e.storage), pg, tenant, func(tx *sql.Tx) error {
		return tx.QueryRow(q, tenant).Scan(&n)
	})
	if err != nil {
		t.Fatalf("count events: %v", err)
	}
	return n
}

// streamExport downloads the custody-log export with a client that keeps
// nothing: it counts the body's bytes and rows (newlines less the header;
// csvsafe keeps every cell on one line) as they arrive. A transfer the
// server aborts half way is an error here.
func streamExport(ctx context.Context, baseURL, token string) (rows, size int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/exports/custody-log.csv", nil)
	if err != nil {
		return 0, 0, fmt.Errorf("export request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	// No client timeout: a million rows may take longer than any sensible
	// request timeout; ctx bounds it.
	res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("GET custody-log.csv: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return 0, 0, fmt.Errorf("GET custody-log.csv: status %d: %s", res.StatusCode, msg)
	}
	lc := &lineCounter{}
	if _, err := io.Copy(lc, res.Body); err != nil {
		return 0, lc.bytes, fmt.Errorf("read custody-log.csv after %d bytes: %w", lc.bytes, err)
	}
	if lc.lines == 0 || !lc.endsLine {
		return 0, lc.bytes, fmt.Errorf("custody-log.csv: %d bytes not ending a line", lc.bytes)
	}
	return lc.lines - 1, lc.bytes, nil
}

// lineCounter is an io.Writer that counts bytes and newlines.
type lineCounter struct {
	bytes, lines int64
	endsLine     bool
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.bytes += int64(len(p))
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	if len(p) > 0 {
		c.endsLine = p[len(p)-1] == '\n'
	}
	return len(p), nil
}

// exportCopySQL is the custody-log export as one statement: its rows, its
// columns in its order (custodians as KIND:ref with a person's employee id,
// the event's person the receiver else the sender), the same joins to
// assets, people and members. Postgres formats the values its own way
// (timestamps, details as stored). One line: \copy reads to the end of it.
var exportCopySQL = strings.Join(strings.Fields(`SELECT e.seq, e.id, e.recorded_at, e.type, a.serial, a.asset_tag, a.model,
	e.from_state, e.to_state,
	CASE WHEN e.from_custodian_kind = 'NONE' THEN '' ELSE e.from_custodian_kind || ':' ||
		CASE WHEN e.from_custodian_kind = 'PERSON' AND p.id::text = e.from_custodian_ref THEN p.employee_id ELSE e.from_custodian_ref END END,
	CASE WHEN e.to_custodian_kind = 'NONE' THEN '' ELSE e.to_custodian_kind || ':' ||
		CASE WHEN e.to_custodian_kind = 'PERSON' AND p.id::text = e.to_custodian_ref THEN p.employee_id ELSE e.to_custodian_ref END END,
	p.employee_id, p.name, e.location, m.name, e.device_time, e.signature_id, e.details
	FROM custody_events e
	LEFT JOIN assets a ON a.tenant_id = e.tenant_id AND a.id = e.asset_id
	LEFT JOIN people p ON p.tenant_id = e.tenant_id AND p.id::text = CASE
		WHEN e.to_custodian_kind = 'PERSON' THEN e.to_custodian_ref
		WHEN e.from_custodian_kind = 'PERSON' THEN e.from_custodian_ref END
	LEFT JOIN members m ON m.tenant_id = e.tenant_id AND m.id = e.actor_id
	WHERE e.tenant_id = '%s' ORDER BY e.seq`), " ")

// psqlCopy runs psql's \copy of exportCopySQL as the application role, under
// the same row-level security as the server, and times it to the last byte
// read.
func psqlCopy(ctx context.Context, psql, dbURL, tenant string) (time.Duration, int64, error) {
	// The tenant id is spliced into the command line.
	if len(tenant) != 36 || strings.Trim(tenant, "0123456789abcdef-") != "" {
		return 0, 0, fmt.Errorf("psql \\copy: tenant id %q is not a lowercase UUID", tenant)
	}
	lc := &lineCounter{}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbURL,
		"-c", fmt.Sprintf("SET custody.tenant_id = '%s'", tenant),
		"-c", `\copy (`+fmt.Sprintf(exportCopySQL, tenant)+`) to stdout csv`)
	cmd.Stdout, cmd.Stderr = lc, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("psql \\copy: %w: %s", err, stderr.Bytes())
	}
	return took, lc.lines, nil
}

// findPSQL finds psql on PATH or in a Debian-style
// /usr/lib/postgresql/<version>/bin (the newest); without it the benchmark
// fails under CI=true and is skipped elsewhere.
func findPSQL(b *testing.B) string {
	b.Helper()
	if p, err := exec.LookPath("psql"); err == nil {
		return p
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
	slices.SortFunc(found, func(x, y string) int {
		return versionOf(x) - versionOf(y)
	})
	if len(found) > 0 {
		return found[len(found)-1]
	}
	err := errors.New("psql not found on PATH nor in /usr/lib/postgresql/*/bin")
	if os.Getenv("CI") == "true" {
		b.Fatal(err)
	}
	b.Skip(err)
	return ""
}

// versionOf is the major version in /usr/lib/postgresql/<version>/bin/psql.
func versionOf(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// memPeak is what watchHeap saw: the heap in use before (just after a GC)
// and its peak, and the peak of the memory obtained from the OS.
type memPeak struct {
	baseInuse, peakInuse, peakSys uint64
	samples                       int
}

// grown is the peak's growth over the level before.
func (p memPeak) grown() uint64 {
	if p.peakInuse < p.baseInuse {
		return 0
	}
	return p.peakInuse - p.baseInuse
}

// watchHeap collects garbage, notes the heap in use, then samples it every
// 10 ms until the returned function is called, which returns the peaks
// (including a last sample taken then).
func watchHeap() (stop func() memPeak) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p := memPeak{baseInuse: ms.HeapInuse, peakInuse: ms.HeapInuse, peakSys: ms.Sys}
	done, result := make(chan struct{}), make(chan memPeak)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		sample := func() {
			runtime.ReadMemStats(&ms)
			p.peakInuse, p.peakSys, p.samples = max(p.peakInuse, ms.HeapInuse), max(p.peakSys, ms.Sys), p.samples+1
		}
		for {
			sample()
			select {
			case <-done:
				sample()
				result <- p
				return
			case <-tick.C:
			}
		}
	}()
	return func() memPeak {
		close(done)
		return <-result
	}
}

// mb is n bytes in mebibytes.
func mb(n uint64) float64 { return float64(n) / (1 << 20) }
