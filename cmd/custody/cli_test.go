package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/graph/server"
	"github.com/custody-dev/custody/tenancy"
)

// runCLI runs a command in-process with env (nothing else of the real
// environment) and returns its exit code and output.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != exitOK {
			t.Fatalf("%v exit %d", args, code)
		}
		for _, c := range commands() {
			if !regexp.MustCompile(`(?m)^  ` + c.name + `\s{2,}\S`).MatchString(out) {
				t.Errorf("%v does not list %q", args, c.name)
			}
		}
		for _, s := range settings {
			if !strings.Contains(out, "--"+s.flag) || !strings.Contains(out, s.env) {
				t.Errorf("%v lacks the setting --%s / %s", args, s.flag, s.env)
			}
		}
	}
	code, out, _ := runCLI(t, nil, "token", "create", "--help")
	if code != exitOK || !strings.Contains(out, "-role") || !strings.Contains(out, "CUSTODY_DATA_DIR") || strings.Contains(out, "CUSTODY_ADDR") {
		t.Fatalf("token create --help = %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, nil, "help", "serve")
	if code != exitOK || !strings.Contains(out, "CUSTODY_ADDR") {
		t.Fatalf("help serve = %d:\n%s", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		msg  string
	}{
		{"no command", nil, nil, "Usage"},
		{"unknown command", nil, []string{"deploy"}, "unknown command"},
		{"unknown flag", nil, []string{"migrate", "--nope"}, "flag provided but not defined"},
		{"stray argument", nil, []string{"migrate", "now"}, "unexpected argument"},
		{"bad environment value", map[string]string{"CUSTODY_MAX_BODY_BYTES": "lots"}, []string{"serve"}, "CUSTODY_MAX_BODY_BYTES"},
		{"bad log format", map[string]string{"CUSTODY_LOG_FORMAT": "xml"}, []string{"migrate"}, "CUSTODY_LOG_FORMAT"},
		{"bad proxy list", nil, []string{"serve", "--trusted-proxies", "10.0.0.0/99"}, "trusted-proxies"},
		{"bad slug", nil, []string{"tenant", "create", "--data-dir", dir, "--slug", "Not A Slug", "--name", "x"}, "--slug"},
		{"unknown role", nil, []string{"token", "create", "--data-dir", dir, "--tenant", "demo", "--role", "root", "--name", "x"}, "--role"},
		{"bad kind", nil, []string{"token", "create", "--data-dir", dir, "--tenant", "demo", "--role", "hr", "--name", "x", "--kind", "ROBOT"}, "--kind"},
		{"postgres serve cannot migrate as the app role", map[string]string{"DATABASE_URL": "postgres://custody_app@127.0.0.1:1/x"}, []string{"serve"}, "MIGRATION_DATABASE_URL"},
		{"postgres admin cannot migrate as the app role", map[string]string{"DATABASE_URL": "postgres://custody_app@127.0.0.1:1/x"}, []string{"token", "list", "--tenant", "acme"}, "--no-migrate"},
		{"revoke without id", nil, []string{"token", "revoke", "--data-dir", dir, "--tenant", "demo"}, "--id"},
		{"vendor for another role", nil, []string{"token", "create", "--data-dir", dir, "--tenant", "demo", "--role", "it", "--name", "x",
			"--vendor", "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b"}, "--role itad_vendor"},
		{"malformed vendor", nil, []string{"token", "create", "--data-dir", dir, "--tenant", "demo", "--role", "itad_vendor", "--name", "x",
			"--vendor", "greencycle"}, "--vendor"},
		{"global id of another type", nil, []string{"token", "create", "--data-dir", dir, "--tenant", "demo", "--role", "itad_vendor",
			"--name", "x", "--vendor", graph.EncodeID("Person", "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b")}, "--vendor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.env, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.msg) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 mentioning %q", code, stderr, tt.msg)
			}
		})
	}
}

func TestTenantAndTokenCommands(t *testing.T) {
	env := map[string]string{"CUSTODY_DATA_DIR": t.TempDir()}

	code, out, stderr := runCLI(t, env, "migrate")
	if code != exitOK || !strings.Contains(out, "Applied") {
		t.Fatalf("migrate = %d %s %s", code, out, stderr)
	}
	if code, out, _ = runCLI(t, env, "migrate"); code != exitOK || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate = %d %s", code, out)
	}

	if code, out, stderr = runCLI(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme Corp"); code != exitOK {
		t.Fatalf("tenant create = %d %s %s", code, out, stderr)
	}
	if code, _, stderr = runCLI(t, env, "tenant", "create", "--slug", "acme", "--name", "Again"); code != exitError || !strings.Contains(stderr, "already exists") {
		t.Fatalf("duplicate tenant = %d %s", code, stderr)
	}

	code, out, stderr = runCLI(t, env, "token", "create", "--tenant", "acme", "--role", "mailroom", "--name", "Dock scanner")
	if code != exitOK {
		t.Fatalf("token create = %d %s %s", code, out, stderr)
	}
	token := regexp.MustCompile(`(?m)^cst_\S+$`).FindString(out)
	tokenID := regexp.MustCompile(`Token id (\S+)\.`).FindStringSubmatch(out)
	if token == "" || tokenID == nil {
		t.Fatalf("token create printed no token or id:\n%s", out)
	}
	tenantID, _, err := tenancy.ParseToken(token)
	if err != nil {
		t.Fatalf("printed token does not parse: %v", err)
	}
	if code, _, stderr = runCLI(t, env, "token", "create", "--tenant", "globex", "--role", "hr", "--name", "x"); code != exitError || !strings.Contains(stderr, "no tenant") {
		t.Fatalf("token for a missing tenant = %d %s", code, stderr)
	}

	// The tenant can be named by id as well as by slug.
	code, out, _ = runCLI(t, env, "token", "list", "--tenant", tenantID)
	if code != exitOK || !strings.Contains(out, tokenID[1]) || !strings.Contains(out, "Dock scanner") {
		t.Fatalf("token list = %d:\n%s", code, out)
	}
	if strings.Contains(out, token) {
		t.Fatal("token list shows the secret")
	}

	if code, out, stderr = runCLI(t, env, "token", "revoke", "--tenant", "acme", "--id", tokenID[1]); code != exitOK {
		t.Fatalf("token revoke = %d %s %s", code, out, stderr)
	}
	_, out, _ = runCLI(t, env, "token", "list", "--tenant", "acme")
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(tokenID[1]) + `.*$`).FindString(out)
	if row == "" || strings.HasSuffix(strings.TrimSpace(row), "-") {
		t.Fatalf("revoked token listed as active: %q", row)
	}
	if code, _, stderr = runCLI(t, env, "token", "revoke", "--tenant", "acme", "--id", "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b"); code != exitError || !strings.Contains(stderr, "no token") {
		t.Fatalf("revoking an unknown token = %d %s", code, stderr)
	}
}

// TestTokenCreateForVendor: an itad_vendor token names its vendor by global
// id or UUID, and the member it authenticates as works for that vendor; a
// vendor the tenant does not have is refused before anything is created.
func TestTokenCreateForVendor(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"CUSTODY_DATA_DIR": dir}
	for _, slug := range []string{"acme", "globex"} {
		if code, out, stderr := runCLI(t, env, "tenant", "create", "--slug", slug, "--name", slug); code != exitOK {
			t.Fatalf("tenant create %s = %d %s %s", slug, code, out, stderr)
		}
	}
	// The vendors are engaged through the store, as the API would.
	ctx := context.Background()
	db, err := storage.Open(ctx, server.StartConfig{DataDir: dir}.StorageConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	engage := func(slug string) string {
		t.Helper()
		tenant, err := db.GetTenant(ctx, slug)
		if err != nil {
			t.Fatal(err)
		}
		admin := domain.Member{TenantID: tenant.ID, Name: "admin", Kind: domain.MemberPerson, Roles: []domain.Role{domain.RoleAdmin}}
		if err := db.CreateMember(ctx, &admin); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		v := &domain.Vendor{Name: "GreenCycle ITAD", EngagedAt: now, EngagedByID: admin.ID, UpdatedAt: now, Version: 1}
		err = db.Update(tenancy.WithPrincipal(ctx, tenancy.Principal{TenantID: tenant.ID, MemberID: admin.ID}),
			func(tx domain.Tx) error { return tx.CreateVendor(v) })
		if err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	vendor, foreign := engage("acme"), engage("globex")

	for _, c := range []struct{ name, flag string }{
		{"global id", graph.EncodeID("Vendor", vendor)},
		{"uuid", strings.ToUpper(vendor)},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, env, "token", "create", "--tenant", "acme", "--role", "itad_vendor",
				"--name", "Tech "+c.name, "--kind", "PERSON", "--vendor", c.flag)
			if code != exitOK || !strings.Contains(out, "for vendor "+vendor) {
				t.Fatalf("token create --vendor = %d %s %s", code, out, stderr)
			}
			token := regexp.MustCompile(`(?m)^cst_\S+$`).FindString(out)
			tenantID, hash, err := tenancy.ParseToken(token)
			if err != nil {
				t.Fatalf("printed token %q does not parse: %v", token, err)
			}
			cred, err := db.Authenticate(ctx, tenantID, hash)
			if err != nil || cred.Member.VendorID != vendor || cred.Member.Name != "Tech "+c.name {
				t.Fatalf("the token authenticates as %+v, %v; want a member of vendor %s", cred, err, vendor)
			}
		})
	}

	for _, c := range []struct{ name, vendor string }{
		{"unknown vendor", "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b"},
		{"another tenant's vendor", graph.EncodeID("Vendor", foreign)},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, env, "token", "create", "--tenant", "acme", "--role", "itad_vendor",
				"--name", "Intruder", "--vendor", c.vendor)
			if code != exitError || !strings.Contains(stderr, "no vendor "+c.vendor+" in tenant acme") {
				t.Fatalf("token create --vendor %s = %d %s %s", c.vendor, code, out, stderr)
			}
			_, list, _ := runCLI(t, env, "token", "list", "--tenant", "acme")
			if strings.Contains(list, "Intruder") {
				t.Fatalf("a refused token was created:\n%s", list)
			}
		})
	}
}

// readme returns the repository's README.
func readme(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestReadmeDocumentsEverySetting(t *testing.T) {
	doc := readme(t)
	for _, s := range settings {
		row := regexp.MustCompile(`(?m)^\| ` + "`--" + regexp.QuoteMeta(s.flag) + "`" + ` \| ` + "`" + regexp.QuoteMeta(s.env) + "`" + ` \|.*$`).FindString(doc)
		if row == "" {
			t.Errorf("README's configuration table has no row for --%s / %s", s.flag, s.env)
			continue
		}
		if cells := strings.Split(strings.ReplaceAll(row, "`", ""), "|"); len(cells) < 4 || strings.TrimSpace(cells[3]) != s.def {
			t.Errorf("README gives --%s the default %q, the code %q", s.flag, cells[3], s.def)
		}
	}
}

// TestReadmeRolesTableMatchesPolicy checks every cell of the README's role ×
// operation table against the authorizer, and that the table covers every
// query, mutation and subscription of the schema.
func TestReadmeRolesTableMatchesPolicy(t *testing.T) {
	az, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `(Query|Mutation|Subscription|Type|Topic|Export)\\.([\\w-]+)` \\|(.*)\\|\\s*$").FindAllStringSubmatch(readme(t), -1)
	if len(rows) == 0 {
		t.Fatal("README has no roles table")
	}
	listed := map[string]bool{}
	for _, row := range rows {
		obj, act := row[1], row[2]
		listed[obj+"."+act] = true
		cells := strings.Split(row[3], "|")
		if len(cells) != len(domain.AllRoles) {
			t.Fatalf("row %s.%s has %d role cells, want %d", obj, act, len(cells), len(domain.AllRoles))
		}
		for i, role := range domain.AllRoles {
			want, err := az.Allowed(tenancy.Principal{TenantID: "t", Roles: []string{string(role)}}, obj, act)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(cells[i]) == "✓"; got != want {
				t.Errorf("README says %s may %s.%s: %v; the policy says %v", role, obj, act, got, want)
			}
		}
	}
	schema, err := os.ReadFile("../../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{"Query", "Mutation", "Subscription"} {
		fields := rootFields(t, string(schema), root)
		if len(fields) == 0 {
			t.Fatalf("found no %s fields in schema.graphqls", root)
		}
		for _, field := range fields {
			if !listed[root+"."+field] {
				t.Errorf("README's roles table lacks %s.%s", root, field)
			}
		}
	}
}

// rootFields lists the fields of a root type of an SDL document, with those
// of every `extend type` block, as GraphQL parses it.
func rootFields(t *testing.T, sdl, typ string) []string {
	t.Helper()
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: sdl})
	if err != nil {
		t.Fatalf("parse schema.graphqls: %v", err)
	}
	def := schema.Types[typ]
	if def == nil {
		return nil
	}
	var out []string
	for _, f := range def.Fields {
		if !strings.HasPrefix(f.Name, "__") {
			out = append(out, f.Name)
		}
	}
	return out
}

func TestRootFieldsSeesExtensions(t *testing.T) {
	sdl := "type Query {\n  a: Int\n  b(x: Int): Int\n}\n\ntype Other {\n  z: Int\n}\n\nextend type Query {\n  \"\"\"\n  doc\n  looks: like a field\n  \"\"\"\n  c: Int\n}\n"
	if got := strings.Join(rootFields(t, sdl, "Query"), ","); got != "a,b,c" {
		t.Fatalf("rootFields = %s, want a,b,c", got)
	}
}
