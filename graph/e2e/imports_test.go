package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/server"
)

const (
	assetImportDoc = `mutation($in: AssetImportInput!) { assetImport(input: $in) {
		report { dryRun records created updated unchanged problems { line column message } problemsTruncated }
		userErrors { field code message } } }`
	peopleImportDoc = `mutation($in: PeopleImportInput!) { peopleImport(input: $in) {
		report { dryRun records created updated unchanged problems { line column message } }
		userErrors { field code message } } }`
)

// importOut is an import mutation's payload.
type importOut struct {
	Report *struct {
		DryRun                               bool
		Records, Created, Updated, Unchanged int
		Problems                             []struct {
			Line            int
			Column, Message string
		}
	}
	UserErrors []userError
}

// upload sends a GraphQL multipart request (the multipart request
// specification) with file as variables.in.file.
func (e *env) upload(t *testing.T, token, doc string, in map[string]any, file []byte) *response {
	t.Helper()
	in["file"] = nil
	ops, err := json.Marshal(map[string]any{"query": doc, "variables": map[string]any{"in": in}})
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.in.file"]}`)
	fw, err := mw.CreateFormFile("0", "import.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, e.url+"/graphql", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := &response{Status: res.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, out)
	return out
}

// importAssets uploads an ITAM file and decodes the payload.
func (e *env) importAssets(t *testing.T, token string, in map[string]any, file []byte) importOut {
	t.Helper()
	r := e.upload(t, token, assetImportDoc, in, file)
	var out struct{ AssetImport importOut }
	if r.Status != 200 || len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil {
		t.Fatalf("assetImport: %d %s", r.Status, r.raw)
	}
	return out.AssetImport
}

// TestImportRoundTrip: the asset register of tenant A, exported in the
// ServiceNow shape, imports into tenant B without edits (after B's people
// come in from an HRIS file): a dry run first, which writes nothing, then
// the real run; the same assets, held by the same people; re-importing
// changes nothing.
func TestImportRoundTrip(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deliver(t, e.a, "RT", 3)
		var ho handOffPayload
		e.ok(t, e.a.tokens[domain.RoleMailroom], assetHandOffDoc, map[string]any{"in": handOffInput(d.assets[:2], d.person, "")}, &ho)
		_, _, exported := e.exportCSV(t, e.a.tokens[domain.RoleIT], "/exports/assets.csv?profile=servicenow&bom=1")

		// B's people first, from an HRIS file: the holder's email is the key.
		hris := "employee_id,name,email,department,status\nRT-E,Employee RT-E,RT-E@acme.example,Engineering,Active\n"
		r := e.upload(t, e.b.tokens[domain.RoleHR], peopleImportDoc, map[string]any{}, []byte(hris))
		var people struct{ PeopleImport importOut }
		if err := json.Unmarshal(r.Data, &people); err != nil || people.PeopleImport.Report == nil || people.PeopleImport.Report.Created != 1 {
			t.Fatalf("peopleImport: %s", r.raw)
		}

		itB := e.b.tokens[domain.RoleIT]
		dry := e.importAssets(t, itB, map[string]any{"profile": "SERVICENOW", "dryRun": true}, exported)
		if rep := dry.Report; rep == nil || !rep.DryRun || rep.Records != 3 || rep.Created != 3 || len(rep.Problems) != 0 {
			t.Fatalf("dry run: %+v %+v", dry.Report, dry.UserErrors)
		}
		var none struct{ Assets struct{ Edges []struct{} } }
		e.ok(t, itB, `{ assets(first: 10) { edges { cursor } } }`, nil, &none)
		if len(none.Assets.Edges) != 0 {
			t.Fatalf("the dry run wrote %d assets", len(none.Assets.Edges))
		}
		real := e.importAssets(t, itB, map[string]any{"profile": "SERVICENOW"}, exported)
		if rep := real.Report; rep == nil || rep.Created != 3 || len(rep.Problems) != 0 {
			t.Fatalf("import: %+v %+v", real.Report, real.UserErrors)
		}

		// The same assets, held by the same person.
		_, rowsA, _ := e.exportCSV(t, e.a.tokens[domain.RoleIT], "/exports/assets.csv?profile=servicenow")
		_, rowsB, _ := e.exportCSV(t, itB, "/exports/assets.csv?profile=servicenow")
		for _, col := range []string{"asset_tag", "serial_number", "manufacturer", "model_id", "model_category", "assigned_to", "u_bears_data"} {
			a, b := column(t, rowsA, col), column(t, rowsB, col)
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Errorf("column %s: tenant A %v, tenant B %v", col, a, b)
			}
		}
		status := column(t, rowsB, "install_status")
		if n := len(slices.DeleteFunc(slices.Clone(status), func(s string) bool { return s != "1" })); n != 2 {
			t.Errorf("tenant B has %d assets in use, want the 2 handed off in A: %v", n, status)
		}
		_, log, _ := e.exportCSV(t, e.b.tokens[domain.RoleAuditor], "/exports/custody-log.csv?type=IMPORTED")
		if len(log) != 4 {
			t.Fatalf("tenant B's log has %d IMPORTED events, want 3", len(log)-1)
		}

		// Again: nothing changes, nothing is logged.
		var size struct{ Ledger struct{ Size int64 } }
		e.ok(t, e.b.tokens[domain.RoleAuditor], `{ ledger { size } }`, nil, &size)
		again := e.importAssets(t, itB, map[string]any{"profile": "SERVICENOW"}, exported)
		if rep := again.Report; rep == nil || rep.Unchanged != 3 || rep.Created+rep.Updated != 0 {
			t.Fatalf("re-import: %+v", again.Report)
		}
		var after struct{ Ledger struct{ Size int64 } }
		e.ok(t, e.b.tokens[domain.RoleAuditor], `{ ledger { size } }`, nil, &after)
		if after.Ledger.Size != size.Ledger.Size {
			t.Fatalf("re-importing grew the log from %d to %d", size.Ledger.Size, after.Ledger.Size)
		}
	})
}

// TestImportLansweeperAndBadFiles: a Lansweeper export imports after a
// dry-run report; bad files are refused as a whole with a clear message,
// bad rows each with their line; roles that may not import are refused.
func TestImportLansweeperAndBadFiles(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		it := e.a.tokens[domain.RoleIT]
		lansweeper, err := os.ReadFile("../../domain/importcsv/testdata/lansweeper_assets.csv")
		if err != nil {
			t.Fatal(err)
		}
		dry := e.importAssets(t, it, map[string]any{"profile": "LANSWEEPER", "dryRun": true}, lansweeper)
		if dry.Report == nil || dry.Report.Created == 0 {
			t.Fatalf("Lansweeper dry run: %+v %+v", dry.Report, dry.UserErrors)
		}
		real := e.importAssets(t, it, map[string]any{"profile": "LANSWEEPER"}, lansweeper)
		if real.Report == nil || real.Report.Created != dry.Report.Created || len(real.Report.Problems) != len(dry.Report.Problems) {
			t.Fatalf("Lansweeper import %+v after the dry run %+v", real.Report, dry.Report)
		}

		d := e.deliver(t, e.a, "BF", 1)
		for _, tc := range []struct {
			name, file string
			fileError  string // a userError on input.file containing this
			lines      []int  // else: refused rows
		}{
			{"semicolons", "asset_tag;serial_number\nT1;S1\n", "delimiter", nil},
			{"no header", "T1,S1,Dell\n", "header", nil},
			{"an unknown column", "asset_tag,serial_number,colour\nT1,S1,red\n", "colour", nil},
			{"invalid UTF-8 in the header", "asset_tag,serial\xff\n", "UTF-8", nil},
			{"an empty file", "", "empty", nil},
			{"a duplicate serial, invalid UTF-8 and a serial of another asset",
				"asset_tag,serial_number,manufacturer,model_id,model_category\n" +
					"BF-T1,BF-S1,Dell,Latitude,Laptop\n" +
					"BF-T2,BF-S1,Dell,Latitude,Laptop\n" +
					"BF-T3,BF-S\xff,Dell,Latitude,Laptop\n" +
					"OTHER-TAG," + d.serials[0] + ",Dell,Latitude,Laptop\n", "", []int{3, 4, 5}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out := e.importAssets(t, it, map[string]any{"profile": "SERVICENOW"}, []byte(tc.file))
				if tc.fileError != "" {
					if out.Report != nil || len(out.UserErrors) != 1 || strings.Join(out.UserErrors[0].Field, ".") != "input.file" ||
						!strings.Contains(strings.ToLower(out.UserErrors[0].Message), strings.ToLower(tc.fileError)) {
						t.Fatalf("got %+v %+v, want a file error about %q", out.Report, out.UserErrors, tc.fileError)
					}
					return
				}
				var lines []int
				for _, p := range out.Report.Problems {
					lines = append(lines, p.Line)
				}
				if !slices.Equal(lines, tc.lines) || out.Report.Created != 1 {
					t.Fatalf("refused lines %v (%+v), want %v and 1 created", lines, out.Report.Problems, tc.lines)
				}
			})
		}

		for _, tc := range []struct {
			role domain.Role
			doc  string
		}{{domain.RoleMailroom, assetImportDoc}, {domain.RoleHR, assetImportDoc}, {domain.RoleIT, peopleImportDoc}, {domain.RoleAuditor, peopleImportDoc}} {
			in := map[string]any{}
			if tc.doc == assetImportDoc {
				in["profile"] = "SERVICENOW"
			}
			if r := e.upload(t, e.a.tokens[tc.role], tc.doc, in, []byte("x\n")); !r.hasCode("FORBIDDEN") {
				t.Errorf("%s importing: %s", tc.role, r.raw)
			}
		}
	})
}

// TestImportUploadLimit: an upload over --max-upload-bytes is 413 before
// it is read, and the server keeps answering.
func TestImportUploadLimit(t *testing.T) {
	e := &env{}
	start(t, e, server.StartConfig{DataDir: t.TempDir(), Migrate: true, MaxUploadBytes: 4096})
	big := bytes.Repeat([]byte("T1,S1,Dell,Latitude,Laptop\n"), 1000)
	r := e.upload(t, e.a.tokens[domain.RoleIT], assetImportDoc, map[string]any{"profile": "SERVICENOW"}, big)
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 27 kB upload over a 4 kB limit: %d %s", r.Status, r.raw)
	}
	var v struct {
		Viewer struct{ Tenant struct{ Slug string } }
	}
	e.ok(t, e.a.tokens[domain.RoleIT], `{ viewer { tenant { slug } } }`, nil, &v)
	if v.Viewer.Tenant.Slug != "acme" {
		t.Fatalf("after a refused upload: %+v", v)
	}
}

// TestImportWholeFileChecks: an uploaded file found unreadable only past
// its first batches (a record over 1 MiB, a quote never closed) is refused
// as a whole with nothing written, dry or real; a ServiceNow record
// retired there and still assigned to an employee creates nothing.
func TestImportWholeFileChecks(t *testing.T) {
	const header = "serial_number,manufacturer,model_id,model_category,install_status,assigned_to\n"
	good := func(prefix string, n int) string {
		var b strings.Builder
		b.WriteString(header)
		for i := range n {
			fmt.Fprintf(&b, "%s-%06d,Lenovo,Lenovo X1,Laptop,1,\n", prefix, i)
		}
		return b.String()
	}
	eachStore(t, func(t *testing.T, e *env) {
		itB, auditorB := e.b.tokens[domain.RoleIT], e.b.tokens[domain.RoleAuditor]
		ledger := func() int64 {
			var size struct{ Ledger struct{ Size int64 } }
			e.ok(t, auditorB, `{ ledger { size } }`, nil, &size)
			return size.Ledger.Size
		}
		assets := func() int {
			var page struct{ Assets struct{ Edges []struct{} } }
			e.ok(t, itB, `{ assets(first: 10) { edges { cursor } } }`, nil, &page)
			return len(page.Assets.Edges)
		}
		before := ledger()
		for _, tc := range []struct {
			name, file, fileError string
		}{
			{"a record over 1 MiB after 1,200 rows", good("HUGE", 1200) + "LAST,Lenovo," + strings.Repeat("x", 2<<20) + ",Laptop,1,\n",
				"is longer than 1048576 bytes"},
			{"a quote never closed after 1,200 rows", good("QUOTE", 1200) + "Q1,\"Lenovo,Lenovo X1,Laptop,1,\nQ2,Lenovo,Lenovo X1,Laptop,1,\n",
				"a quote opened on line 1202 is never closed"},
		} {
			for _, dry := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/dry=%v", tc.name, dry), func(t *testing.T) {
					out := e.importAssets(t, itB, map[string]any{"profile": "SERVICENOW", "dryRun": dry}, []byte(tc.file))
					if out.Report != nil || len(out.UserErrors) != 1 || strings.Join(out.UserErrors[0].Field, ".") != "input.file" ||
						!strings.Contains(out.UserErrors[0].Message, tc.fileError) {
						t.Fatalf("got %+v %+v, want a file error about %q", out.Report, out.UserErrors, tc.fileError)
					}
					if n, size := assets(), ledger(); n != 0 || size != before {
						t.Fatalf("the refused file wrote: %d assets, the log grew from %d to %d", n, before, size)
					}
				})
			}
		}

		hris := "employee_id,name,email\nWF-E,Employee WF-E,wf-e@acme.example\n"
		if r := e.upload(t, e.b.tokens[domain.RoleHR], peopleImportDoc, map[string]any{}, []byte(hris)); r.Status != 200 || len(r.Errors) > 0 {
			t.Fatalf("peopleImport: %s", r.raw)
		}
		retired := header + "WF-RET,Lenovo,Lenovo X1,Laptop,7,wf-e@acme.example\n"
		for _, dry := range []bool{true, false} {
			out := e.importAssets(t, itB, map[string]any{"profile": "SERVICENOW", "dryRun": dry}, []byte(retired))
			if rep := out.Report; rep == nil || rep.Records != 1 || rep.Created != 0 || len(rep.Problems) != 1 ||
				rep.Problems[0].Line != 2 || rep.Problems[0].Column != "install_status" ||
				!strings.Contains(rep.Problems[0].Message, "out of use (install_status 7 (Retired))") {
				t.Fatalf("retired record (dry %v): %+v %+v", dry, out.Report, out.UserErrors)
			}
		}
		if n := assets(); n != 0 {
			t.Fatalf("a retired record created %d assets", n)
		}
	})
}
