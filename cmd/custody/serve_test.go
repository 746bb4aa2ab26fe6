package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
)

// buildBinary compiles custody once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "custody-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "custody")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// cleanEnv is the test process's environment without any Custody setting, so
// serve sees "no configuration at all".
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CUSTODY_") || name == "DATABASE_URL" ||
			name == "MIGRATION_DATABASE_URL" || name == "REDIS_URL" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// serveProcess is a running `custody serve`.
type serveProcess struct {
	cmd    *exec.Cmd
	stdout []string // lines up to "Press Ctrl-C to stop."
	stderr *strings.Builder
	url    string
}

var listeningLine = regexp.MustCompile(`^Custody listening on (http://\S+)$`)

// startServe runs the binary's serve command on dataDir and reads its banner.
func startServe(t *testing.T, dataDir string) *serveProcess {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatalf("build custody: %v", err)
	}
	p := &serveProcess{stderr: &strings.Builder{}}
	p.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	p.cmd.Env = cleanEnv()
	p.cmd.Stderr = &syncWriter{b: p.stderr}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before its banner:\n%s\nstderr:\n%s", strings.Join(p.stdout, "\n"), p.stderr)
			}
			p.stdout = append(p.stdout, line)
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				p.url = m[1]
			}
			if line == "Press Ctrl-C to stop." {
				go func() {
					for range lines {
						// Keep the pipe flowing until the process exits.
					}
				}()
				if p.url == "" {
					t.Fatalf("no listening line in:\n%s", strings.Join(p.stdout, "\n"))
				}
				return p
			}
		case <-timeout:
			t.Fatalf("no banner after 60s:\n%s\nstderr:\n%s", strings.Join(p.stdout, "\n"), p.stderr)
		}
	}
}

// stop sends SIGTERM and expects a clean exit.
func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v; stderr:\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of SIGTERM")
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

var tokenLine = regexp.MustCompile(`^\s+([a-z_]+)\s+(cst_\S+)$`)

func TestServeFirstAndLaterStart(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "custody-data")

	first := startServe(t, dataDir)
	tokens := map[string]string{}
	for _, line := range first.stdout {
		if m := tokenLine.FindStringSubmatch(line); m != nil {
			tokens[m[1]] = m[2]
		}
	}
	for _, role := range domain.AllRoles {
		if tokens[string(role)] == "" {
			t.Errorf("first start printed no token for role %s:\n%s", role, strings.Join(first.stdout, "\n"))
		}
	}
	banner := strings.Join(first.stdout, "\n")
	for _, want := range []string{first.url + "/graphql", "GraphiQL", "README.md", "DATABASE_URL"} {
		if !strings.Contains(banner, want) {
			t.Errorf("first-start output lacks %q:\n%s", want, banner)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "custody.db")); err != nil {
		t.Errorf("data directory not created: %v", err)
	}
	for role, token := range tokens {
		if got := viewerSlug(t, first.url, token); got != "demo" {
			t.Errorf("the %s token resolves to tenant %q, want demo", role, got)
		}
	}
	first.stop(t)

	later := startServe(t, dataDir)
	out := strings.Join(later.stdout, "\n")
	if strings.Contains(out, "cst_") {
		t.Fatalf("a later start printed tokens:\n%s", out)
	}
	if !strings.Contains(out, "printed at first start") || !strings.Contains(out, "custody token create") {
		t.Fatalf("a later start does not say where tokens come from:\n%s", out)
	}
	if got := viewerSlug(t, later.url, tokens["mailroom"]); got != "demo" {
		t.Fatalf("after a restart the mailroom token resolves to %q", got)
	}
	later.stop(t)
}

// viewerSlug runs `{ viewer { tenant { slug } } }` with token.
func viewerSlug(t *testing.T, url, token string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url+"/graphql",
		strings.NewReader(`{"query":"{ viewer { tenant { slug } } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Data struct {
			Viewer struct{ Tenant struct{ Slug string } }
		}
	}
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &body); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("viewer query = %d %s", res.StatusCode, raw)
	}
	return body.Data.Viewer.Tenant.Slug
}
