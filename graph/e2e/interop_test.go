package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/server"
)

// jsClientFiles are the sources of the Node.js client, copied out of the
// tree so `npm ci` leaves the checkout clean.
var jsClientFiles = []string{"package.json", "package-lock.json", "subscribe.mjs"}

// npmNetworkTrouble recognises npm failing to reach its registry, as opposed
// to a broken package.json or lockfile.
var npmNetworkTrouble = regexp.MustCompile(`(?i)ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|socket hang up|request to .* failed`)

// jsEvent is one line printed by subscribe.mjs.
type jsEvent struct {
	Seq        int64
	Type       string
	RecordedAt string
	Asset      *struct {
		ID, Serial, State string
	}
	OffboardingCase *struct{ ID, Status string }
}

// TestJavaScriptGraphQLWSClient: the `graphql-ws` npm client, as HR
// integrations use it, follows custodyEvents from a cursor: it receives the
// off-boarding case opened before it connected (replayed), then each return
// live and the case completing, exactly those events and in log order, and
// exits 0 once it has them.
func TestJavaScriptGraphQLWSClient(t *testing.T) {
	node, npm := lookTool(t, "node"), lookTool(t, "npm")
	dir := installJSClient(t, npm)

	e := &env{}
	start(t, e, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
	tn := e.a
	d := e.deployed(t, tn, "JS", 3)
	cursor := ledgerSize(t, e, tn)
	c := e.openCase(t, tn, d.person)

	const count = 5 // opened, three returns, completed
	ctx, cancel := context.WithTimeout(context.Background(), processPatience)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "subscribe.mjs"),
		"--url", e.url, "--after", strconv.FormatInt(cursor, 10), "--count", strconv.Itoa(count))
	// The token goes through the environment, never the process list.
	cmd.Env = append(os.Environ(), "CUSTODY_TOKEN="+tn.tokens[domain.RoleHR])
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node subscribe.mjs: %v", err)
	}
	lines := make(chan string, count+16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var got []jsEvent
	next := func() jsEvent {
		t.Helper()
		select {
		case line, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("subscribe.mjs ended after %d events: %s", len(got), stderr.String())
			}
			var ev jsEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("subscribe.mjs printed %q: %v", line, err)
			}
			got = append(got, ev)
			return ev
		case <-ctx.Done():
			t.Fatalf("subscribe.mjs printed %d events in %v: %s", len(got), processPatience, stderr.String())
		}
		panic("unreachable")
	}

	// The case was opened before the client connected: it is replayed.
	opened := next()
	want := []jsEvent{{Seq: opened.Seq, Type: "OFFBOARDING_OPENED", OffboardingCase: &struct{ ID, Status string }{ID: c.ID}}}
	// The returns happen while it listens.
	for i, serial := range d.serials {
		r := e.returnAsset(t, tn, map[string]any{"serial": serial, "location": "Dock", "condition": "GOOD"}).AssetReturnReceive
		if len(r.UserErrors) > 0 || r.AssetReturn == nil {
			t.Fatalf("return %s: %+v", serial, r)
		}
		want = append(want, jsEvent{Seq: r.AssetReturn.Event.Seq, Type: "RETURN_RECEIVED",
			Asset: &struct{ ID, Serial, State string }{ID: d.assets[i], Serial: serial}})
		next()
	}
	want = append(want, jsEvent{Seq: want[len(want)-1].Seq + 1, Type: "OFFBOARDING_COMPLETED", OffboardingCase: &struct{ ID, Status string }{ID: c.ID}})
	next()
	for _, line := range drain(lines) {
		t.Errorf("subscribe.mjs printed more than %d events: %s", count, line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("subscribe.mjs exited with %v after its %d events, want 0: %s", err, count, stderr.String())
	}

	if opened.Seq <= cursor {
		t.Errorf("first event seq %d is not after the cursor %d", opened.Seq, cursor)
	}
	for i, w := range want {
		g := got[i]
		ok := g.Seq == w.Seq && g.Type == w.Type && g.RecordedAt != ""
		if w.Asset != nil {
			ok = ok && g.Asset != nil && g.Asset.ID == w.Asset.ID && g.Asset.Serial == w.Asset.Serial
		}
		if w.OffboardingCase != nil {
			ok = ok && g.OffboardingCase != nil && g.OffboardingCase.ID == w.OffboardingCase.ID
		}
		if !ok {
			t.Errorf("event %d = %+v, want seq %d %s (asset %v, case %v)", i, g, w.Seq, w.Type, w.Asset, w.OffboardingCase)
		}
	}
	if last := got[len(got)-1]; last.OffboardingCase == nil || last.OffboardingCase.Status != "COMPLETED" {
		t.Errorf("the case in the last event = %+v, want COMPLETED", last.OffboardingCase)
	}
}

// drain returns what is left on lines once the writer closes it.
func drain(lines <-chan string) []string {
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	return rest
}

// installJSClient copies jsclient to a temporary directory and runs
// `npm ci` there. A registry npm cannot reach skips the test, or fails it
// under CI=true.
func installJSClient(t *testing.T, npm string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range jsClientFiles {
		b, err := os.ReadFile(filepath.Join("jsclient", name))
		if err != nil {
			t.Fatalf("read jsclient/%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), processPatience)
	defer cancel()
	// --prefer-offline: a warm npm cache needs no network; the lockfile's
	// integrity hashes still pin every byte. Short retry waits: npm's
	// defaults spend over a minute on a registry that refuses connections.
	cmd := exec.CommandContext(ctx, npm, "ci", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error",
		"--fetch-retries=2", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=5000")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if npmNetworkTrouble.Match(out) || ctx.Err() != nil {
			needService(t, "npm ci could not reach the npm registry: %v\n%s", err, out)
		}
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	return dir
}
