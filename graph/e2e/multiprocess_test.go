package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// processPatience turns a hang into a failure; nothing here is expected to come
// close to it.
const processPatience = 45 * time.Second

// redisChannelPrefix + tenant id is the Redis channel on which instances
// announce a tenant's commits (domain/eventbus/redis.go, channelPrefix): a
// wire contract between server versions sharing one Redis, so a test may
// listen to it.
const redisChannelPrefix = "custody:events:"

// TestTwoServerProcessesShareRedis runs the production topology of README
// "Running on Postgres and Redis": the CLI migrates, creates a tenant and
// tokens; two `custody serve` processes share the database and Redis. An HR
// subscriber on process 2 hears, live, the off-boarding case opened and the
// returns recorded through process 1, which announces them on Redis. SIGTERM
// closes the live stream with 1001 and both processes exit 0.
func TestTwoServerProcessesShareRedis(t *testing.T) {
	redisURL := sharedRedis(t)
	c := newCluster(t, redisURL)
	p1, p2 := c.serve(t, "serve-1"), c.serve(t, "serve-2")
	e1, e2 := c.client(p1), c.client(p2)
	tn := c.tenant

	d := e1.deployed(t, tn, "MP", 2)
	cursor := ledgerSize(t, e2, tn)

	// Listen on the tenant's channel: the returns must reach process 2
	// through Redis, not only through its safety-net polling of the database.
	watch := redisClient(t, redisURL)
	ctx, cancel := context.WithTimeout(context.Background(), processPatience)
	defer cancel()
	ps := watch.Subscribe(ctx, redisChannelPrefix+c.tenantID)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatalf("subscribe to the tenant's redis channel: %v", err)
	}
	announced := ps.Channel()

	hr := connect(t, p2.url, tn.tokens[domain.RoleHR])
	hr.subscribe("hr", subscribeDoc, map[string]any{"after": cursor})

	cs := e1.openCase(t, tn, d.person)
	opened := hr.event("hr")
	if opened.Type != "OFFBOARDING_OPENED" || opened.OffboardingCase == nil || opened.OffboardingCase.ID != cs.ID || opened.Seq <= cursor {
		t.Fatalf("first event on process 2 = %+v, want OFFBOARDING_OPENED of case %s after seq %d", opened, cs.ID, cursor)
	}
	// Process 2 follows the tenant's channel now that it has a subscriber
	// (the first event may have been replayed before it finished subscribing).
	for {
		n, err := watch.PubSubNumSub(ctx, redisChannelPrefix+c.tenantID).Result()
		if err != nil {
			t.Fatalf("PUBSUB NUMSUB: %v", err)
		}
		if n[redisChannelPrefix+c.tenantID] >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d subscriber(s) on the tenant's redis channel, want this test's and process 2's", n[redisChannelPrefix+c.tenantID])
		case <-time.After(20 * time.Millisecond):
		}
	}

	want := []int64{opened.Seq}
	for i, serial := range d.serials {
		r := e1.returnAsset(t, tn, map[string]any{"serial": serial, "location": "Dock", "condition": "GOOD"}).AssetReturnReceive
		if len(r.UserErrors) > 0 || r.AssetReturn == nil {
			t.Fatalf("return %s through process 1: %+v", serial, r)
		}
		ev := hr.event("hr")
		if ev.Type != "RETURN_RECEIVED" || ev.Seq != r.AssetReturn.Event.Seq || ev.Asset == nil || ev.Asset.ID != d.assets[i] {
			t.Fatalf("process 2 delivered %+v, want the return of %s at seq %d", ev, d.assets[i], r.AssetReturn.Event.Seq)
		}
		want = append(want, ev.Seq)
	}
	done := hr.event("hr")
	if done.Type != "OFFBOARDING_COMPLETED" || done.OffboardingCase == nil || done.OffboardingCase.ID != cs.ID || done.Seq != want[len(want)-1]+1 {
		t.Fatalf("after the last return = %+v, want OFFBOARDING_COMPLETED of %s", done, cs.ID)
	}
	want = append(want, done.Seq)

	// Process 1 announced every one of those commits on Redis.
	seen := map[int64]bool{}
	for !allSeen(seen, want) {
		select {
		case m, ok := <-announced:
			if !ok {
				t.Fatal("redis channel closed")
			}
			var w struct {
				TenantID string `json:"tenantId"`
				Seq      int64  `json:"seq"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &w); err != nil || w.TenantID != c.tenantID {
				t.Fatalf("announcement %q on the tenant's channel: %v", m.Payload, err)
			}
			seen[w.Seq] = true
		case <-ctx.Done():
			t.Fatalf("redis announcements seen %v, want all of %v", seen, want)
		}
	}

	// A deploy: SIGTERM closes live streams with 1001 (clients resume
	// elsewhere) and the processes exit 0.
	p2.signal(t, syscall.SIGTERM)
	if code := hr.closeCode(); code != websocket.StatusGoingAway {
		t.Errorf("SIGTERM closed the stream with %d, want 1001", code)
	}
	p2.waitExit(t)
	p1.stop(t)
}

// TestRedisRestartDuringReturns kills a private Redis in the middle of a
// stream of returns and restarts it on the same port. Mutations keep
// succeeding while it is down, and the HR subscriber on the other instance
// receives every return exactly once, in order: the database is the source
// of truth, Redis only wakes instances.
func TestRedisRestartDuringReturns(t *testing.T) {
	const n = 40
	rd := startPrivateRedis(t)
	c := newCluster(t, rd.url())
	p1, p2 := c.serve(t, "serve-1"), c.serve(t, "serve-2")
	e1, e2 := c.client(p1), c.client(p2)
	tn := c.tenant

	// One more asset than the stream: its return is the sentinel that
	// proves nothing (a duplicate, a stray event) came after the last one.
	d := e1.deployed(t, tn, "RR", n+1)
	cursor := ledgerSize(t, e2, tn)

	ctx, cancel := context.WithTimeout(context.Background(), 2*processPatience)
	defer cancel()
	got := make(chan followedEvent, n+16)
	sub := follow(ctx, p2.url, tn.tokens[domain.RoleHR], cursor, nil, func(ev followedEvent) {
		select {
		case got <- ev:
		case <-ctx.Done():
		}
	})
	defer sub.stop()

	var want []int64
	var received []followedEvent
	returnAt := func(i int) {
		t.Helper()
		r := e1.returnAsset(t, tn, map[string]any{"serial": d.serials[i], "location": "Dock", "condition": "GOOD"}).AssetReturnReceive
		if len(r.UserErrors) > 0 || r.AssetReturn == nil {
			t.Fatalf("return %d through process 1: %+v", i, r)
		}
		want = append(want, r.AssetReturn.Event.Seq)
	}
	await := func(count int) {
		t.Helper()
		for len(received) < count {
			select {
			case ev := <-got:
				received = append(received, ev)
			case <-ctx.Done():
				t.Fatalf("received %d of %d events; subscriber: %s", len(received), count, sub.summary())
			}
		}
	}

	for i := range 10 {
		returnAt(i)
	}
	await(10) // the stream is live before Redis goes

	rd.kill(t)
	down := time.Now()
	for i := 10; i < 22; i++ {
		returnAt(i) // the commit does not depend on Redis
	}
	t.Logf("12 returns recorded in %v while Redis was down", time.Since(down).Round(time.Millisecond))
	rd.start(t)
	for i := 22; i < n; i++ {
		returnAt(i)
	}
	returnAt(n) // the sentinel
	await(n + 1)

	for i, ev := range received {
		if ev.Type != "RETURN_RECEIVED" || ev.Seq != want[i] || ev.Asset == nil || ev.Asset.ID != d.assets[i] {
			t.Fatalf("event %d = %+v, want the return of %s at seq %d (all: %v, want seqs %v)", i, ev, d.assets[i], want[i], seqsOf(received), want)
		}
	}
	t.Logf("subscriber: %s", sub.summary())
	if r := sub.reconnects.Load(); r > 0 {
		// Allowed (a real client resumes from its cursor), but a Redis
		// blink is not meant to cost a client its socket.
		t.Logf("the server closed the subscriber's socket %d time(s) (%s); resumed from the cursor", r, sub.summary())
	}
	p1.stop(t)
	p2.stop(t)
}

func allSeen(seen map[int64]bool, want []int64) bool {
	for _, s := range want {
		if !seen[s] {
			return false
		}
	}
	return true
}

func seqsOf(evs []followedEvent) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

// ledgerSize returns the tenant's log length: a cursor that replays nothing.
func ledgerSize(tb testing.TB, e *env, tn *tenant) int64 {
	tb.Helper()
	var out struct{ Ledger struct{ Size int64 } }
	e.ok(tb, tn.tokens[domain.RoleAdmin], `{ ledger { size } }`, nil, &out)
	return out.Ledger.Size
}

// needService skips, or fails under CI=true where every service and tool
// the tests use is mandatory.
func needService(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format+" (set CI=true to make this a failure)", args...)
}

// lookTool finds an executable on PATH, or skips (fails under CI).
func lookTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		needService(tb, "%s is not installed: %v", name, err)
	}
	return path
}

// sharedRedis returns the URL of the development Redis (REDIS_URL, else
// 127.0.0.1:6379) once it answers.
func sharedRedis(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	rc := redisClient(tb, url)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rc.Ping(ctx).Err(); err != nil {
		needService(tb, "redis unreachable at %s: %v", url, err)
	}
	return url
}

func redisClient(tb testing.TB, url string) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("parse redis URL: %v", err)
	}
	opt.DialTimeout, opt.MaxRetries = time.Second, -1
	rc := redis.NewClient(opt)
	tb.Cleanup(func() { _ = rc.Close() })
	return rc
}

// freePort returns a TCP port free on the loopback interface right now.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tailBuffer keeps the last bytes a child process wrote, for failure reports.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 64 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - tailMax; over > 0 {
		b.buf = slices.Clone(b.buf[over:])
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// buildCustody builds the custody binary into a temporary directory.
func buildCustody(tb testing.TB) string {
	tb.Helper()
	goTool := lookTool(tb, "go")
	bin := tb.TempDir() + "/custody"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/custody-dev/custody/cmd/custody")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./cmd/custody: %v\n%s", err, out)
	}
	return bin
}

// cleanEnviron is this process's environment without the settings of a
// Custody server, so a developer's shell cannot leak into the children.
func cleanEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CUSTODY_") || name == "DATABASE_URL" || name == "MIGRATION_DATABASE_URL" || name == "REDIS_URL" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// cluster is a deployment of `custody serve` processes sharing one
// PostgreSQL database and one Redis, set up with the CLI as README "Running
// on Postgres and Redis" does: the owner migrates, the servers connect as
// custody_app with --no-migrate and one master key.
type cluster struct {
	bin      string
	env      []string // every command's environment
	db       storage.Config
	tenantID string
	tenant   *tenant
}

var (
	tenantIDLine = regexp.MustCompile(`Created tenant acme \(Acme Corp\), id ([0-9a-f-]{36})\.`)
	listeningOn  = regexp.MustCompile(`Custody listening on (http://\S+)\n`)
)

// clusterRoles are the roles the tests hold tokens for.
var clusterRoles = []domain.Role{domain.RoleAdmin, domain.RoleHR, domain.RoleMailroom}

func newCluster(tb testing.TB, redisURL string) *cluster {
	tb.Helper()
	db := storagetest.PostgresConfig(tb)
	c := &cluster{bin: buildCustody(tb), env: cleanEnviron(), db: db}

	key := strings.TrimSpace(c.cli(tb, nil, "key", "generate-master"))
	c.env = append(c.env, "DATABASE_URL="+db.DatabaseURL, "REDIS_URL="+redisURL, "CUSTODY_MASTER_KEY="+key)
	// storagetest migrated the database already: this proves the owner's
	// command is idempotent, as an operator runs it on every deploy.
	if out := c.cli(tb, []string{"MIGRATION_DATABASE_URL=" + db.MigrationURL}, "migrate"); !strings.Contains(out, "up to date") {
		tb.Fatalf("custody migrate on a migrated database: %q", out)
	}
	app := []string{"CUSTODY_NO_MIGRATE=true"}
	out := c.cli(tb, app, "tenant", "create", "--slug", "acme", "--name", "Acme Corp")
	m := tenantIDLine.FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("custody tenant create printed %q, want the new tenant's id", out)
	}
	c.tenantID = m[1]
	c.tenant = &tenant{id: c.tenantID, slug: "acme", tokens: map[domain.Role]string{}}
	for _, r := range clusterRoles {
		out := c.cli(tb, app, "token", "create", "--tenant", "acme", "--role", string(r), "--name", "acme "+string(r), "--kind", "PERSON")
		lines := strings.Fields(out)
		tok := lines[len(lines)-1]
		if !strings.HasPrefix(tok, "cst_") {
			tb.Fatalf("custody token create --role %s did not end with the token (it printed %d bytes)", r, len(out))
		}
		c.tenant.tokens[r] = tok
	}
	return c
}

// cli runs a custody command to completion and returns its stdout. Failures
// report stderr only: stdout may hold a secret.
func (c *cluster) cli(tb testing.TB, extraEnv []string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processPatience)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(slices.Clone(c.env), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("custody %s: %v\n%s", strings.Join(args[:min(2, len(args))], " "), err, stderr.String())
	}
	return stdout.String()
}

// client returns an API client of one process, for the harness's helpers.
func (c *cluster) client(p *serveProc) *env {
	return &env{url: p.url, client: &http.Client{Timeout: 30 * time.Second}, a: c.tenant}
}

// serveProc is one running `custody serve`.
type serveProc struct {
	name   string
	cmd    *exec.Cmd
	url    string
	stderr *tailBuffer
	exited chan struct{} // closed when the process has been waited for
	err    error         // Wait's result, set before exited closes
}

// urlWatcher is a serve process's stdout: it finds the printed URL.
type urlWatcher struct {
	tailBuffer
	once sync.Once
	url  chan string
}

func (w *urlWatcher) Write(p []byte) (int, error) {
	n, _ := w.tailBuffer.Write(p)
	if m := listeningOn.FindStringSubmatch(w.String()); m != nil {
		w.once.Do(func() { w.url <- m[1] })
	}
	return n, nil
}

// serve starts `custody serve --no-migrate` on a free port and waits until
// it is ready. The process is killed at the end of the test if still running.
func (c *cluster) serve(tb testing.TB, name string, extraEnv ...string) *serveProc {
	tb.Helper()
	cmd := exec.Command(c.bin, "serve", "--no-migrate", "--addr", "127.0.0.1:0")
	cmd.Env = append(slices.Clone(c.env), extraEnv...)
	stdout := &urlWatcher{url: make(chan string, 1)}
	p := &serveProc{name: name, cmd: cmd, stderr: &tailBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = stdout, p.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if tb.Failed() {
			tb.Logf("%s stderr (last %d KiB):\n%s", name, tailMax>>10, p.stderr)
		}
	})
	timer := time.NewTimer(processPatience)
	defer timer.Stop()
	select {
	case p.url = <-stdout.url:
	case <-p.exited:
		tb.Fatalf("%s exited before listening: %v\n%s", name, p.err, p.stderr)
	case <-timer.C:
		tb.Fatalf("%s did not print its URL within %v", name, processPatience)
	}
	p.awaitReady(tb)
	return p
}

// awaitReady polls /readyz until the database answers through the process.
func (p *serveProc) awaitReady(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(processPatience)
	for {
		res, err := http.Get(p.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not ready within %v: %v", p.name, processPatience, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *serveProc) signal(tb testing.TB, sig os.Signal) {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal %s: %v", p.name, err)
	}
}

// waitExit waits for the process and requires exit status 0.
func (p *serveProc) waitExit(tb testing.TB) {
	tb.Helper()
	timer := time.NewTimer(processPatience)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		tb.Fatalf("%s did not exit within %v of SIGTERM", p.name, processPatience)
	}
	if p.err != nil {
		tb.Errorf("%s exited with %v, want status 0\n%s", p.name, p.err, p.stderr)
	}
}

// stop sends SIGTERM and requires a clean exit.
func (p *serveProc) stop(tb testing.TB) {
	tb.Helper()
	p.signal(tb, syscall.SIGTERM)
	p.waitExit(tb)
}

// rssKiB reads the process's resident set size from /proc.
func (p *serveProc) rssKiB(tb testing.TB) int64 {
	tb.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		tb.Fatalf("read %s's status: %v", p.name, err)
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			kib, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || len(f) != 2 || f[1] != "kB" {
				tb.Fatalf("%s VmRSS line %q", p.name, line)
			}
			return kib
		}
	}
	tb.Fatalf("%s status has no VmRSS", p.name)
	return 0
}

// redisProc is a private redis-server, so killing it disturbs no one else.
type redisProc struct {
	bin    string
	port   int
	cmd    *exec.Cmd
	out    *tailBuffer
	exited chan struct{}
}

func startPrivateRedis(tb testing.TB) *redisProc {
	tb.Helper()
	r := &redisProc{bin: lookTool(tb, "redis-server"), port: freePort(tb)}
	r.start(tb)
	tb.Cleanup(func() {
		if r.cmd != nil {
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
	})
	return r
}

func (r *redisProc) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// start runs redis-server on r.port, without persistence, and waits for PING.
func (r *redisProc) start(tb testing.TB) {
	tb.Helper()
	r.out = &tailBuffer{}
	r.exited = make(chan struct{})
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	exited := r.exited
	go func(cmd *exec.Cmd) {
		_ = cmd.Wait()
		close(exited)
	}(r.cmd)
	rc := redisClient(tb, r.url())
	deadline := time.Now().Add(processPatience)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rc.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			tb.Fatalf("redis-server on port %d exited: %s", r.port, r.out)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server on port %d does not answer: %v", r.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends redis-server abruptly (SIGKILL), as a crash would.
func (r *redisProc) kill(tb testing.TB) {
	tb.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		tb.Fatalf("kill redis-server: %v", err)
	}
	<-r.exited
	r.cmd = nil
}

// followedEvent is the selection of followDoc.
type followedEvent struct {
	Seq             int64
	Type            string
	RecordedAt      time.Time
	Asset           *struct{ ID string }
	OffboardingCase *struct{ ID string }
	// DeliveredAt is when the client read the message (not part of the API).
	DeliveredAt time.Time `json:"-"`
}

const followDoc = `subscription($after: Int, $filter: CustodyEventStreamFilter) {
	custodyEvents(after: $after, filter: $filter) { seq type recordedAt asset { id } offboardingCase { id } } }`

// follower is a graphql-transport-ws client that resumes like a real one:
// when its socket ends, it reconnects and subscribes again after the last
// seq it received. Unlike wsClient it never calls t.Fatal, so it can run on
// its own goroutine; it reports through its callback and summary.
type follower struct {
	cancel     context.CancelFunc
	done       chan struct{}
	reconnects atomic.Int32
	mu         sync.Mutex
	last       int64
	closes     []string // why each connection ended
}

// follow starts a follower on baseURL's /graphql after seq after; onEvent
// runs on the follower's goroutine for each event, in order.
func follow(ctx context.Context, baseURL, token string, after int64, filter map[string]any, onEvent func(followedEvent)) *follower {
	ctx, cancel := context.WithCancel(ctx)
	f := &follower{cancel: cancel, done: make(chan struct{}), last: after}
	go func() {
		defer close(f.done)
		for {
			err := f.session(ctx, baseURL, token, filter, onEvent)
			if ctx.Err() != nil {
				return
			}
			f.mu.Lock()
			f.closes = append(f.closes, err.Error())
			f.mu.Unlock()
			f.reconnects.Add(1)
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}()
	return f
}

// stop ends the follower and waits for its goroutine.
func (f *follower) stop() {
	f.cancel()
	<-f.done
}

func (f *follower) summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("last seq %d, %d reconnect(s), ends: %q", f.last, len(f.closes), f.closes)
}

// session runs one connection until it fails; it always returns an error.
func (f *follower) session(ctx context.Context, baseURL, token string, filter map[string]any, onEvent func(followedEvent)) error {
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/graphql"
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, res, err := websocket.Dial(dialCtx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	cancel()
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	if res.Body != nil {
		res.Body.Close()
	}
	defer conn.CloseNow()
	write := func(m wsMessage) error {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		return conn.Write(ctx, websocket.MessageText, b)
	}
	initPayload, _ := json.Marshal(map[string]any{"authorization": "Bearer " + token})
	if err := write(wsMessage{Type: "connection_init", Payload: initPayload}); err != nil {
		return fmt.Errorf("send connection_init: %w", err)
	}
	f.mu.Lock()
	after := f.last
	f.mu.Unlock()
	acked := false
	for {
		_, b, err := conn.Read(ctx)
		at := time.Now()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("not JSON: %s", b)
		}
		switch {
		case m.Type == "ping":
			if err := write(wsMessage{Type: "pong"}); err != nil {
				return fmt.Errorf("send pong: %w", err)
			}
		case m.Type == "connection_ack" && !acked:
			acked = true
			vars, _ := json.Marshal(map[string]any{"query": followDoc, "variables": map[string]any{"after": after, "filter": filter}})
			if err := write(wsMessage{Type: "subscribe", ID: "follow", Payload: vars}); err != nil {
				return fmt.Errorf("send subscribe: %w", err)
			}
		case m.Type == "next" && m.ID == "follow":
			var p struct {
				Data   struct{ CustodyEvents followedEvent }
				Errors []gqlError
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
				return fmt.Errorf("next payload %s: %v", m.Payload, err)
			}
			ev := p.Data.CustodyEvents
			ev.DeliveredAt = at
			f.mu.Lock()
			f.last = ev.Seq
			f.mu.Unlock()
			onEvent(ev)
		default:
			return fmt.Errorf("unexpected message %s %s %s", m.Type, m.ID, m.Payload)
		}
	}
}
