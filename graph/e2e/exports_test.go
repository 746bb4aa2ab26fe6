package e2e_test

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/custody-dev/custody/domain"
)

// exportCSV downloads an export with a bearer token and parses it.
func (e *env) exportCSV(t *testing.T, token, path string) (int, [][]string, []byte) {
	t.Helper()
	res, body := e.download(t, token, path)
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, nil, body
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: not CSV: %v\n%s", path, err, body)
	}
	return res.StatusCode, records, body
}

// column returns the values of one column of a parsed CSV (header first).
func column(t *testing.T, records [][]string, name string) []string {
	t.Helper()
	i := slices.Index(records[0], name)
	if i < 0 {
		t.Fatalf("no column %q in %v", name, records[0])
	}
	out := make([]string, 0, len(records)-1)
	for _, r := range records[1:] {
		out = append(out, r[i])
	}
	return out
}

// TestExports downloads every export through HTTP: the custody and
// hand-off logs with their filters, the asset register in the ServiceNow
// shape, off-boarding in the SuccessFactors shape; each export is recorded
// in the custody log; cells a spreadsheet would run are neutralised;
// another tenant's records never appear; bad requests are refused before
// any CSV.
func TestExports(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		it, auditor := e.a.tokens[domain.RoleIT], e.a.tokens[domain.RoleAuditor]
		d := e.deliver(t, e.a, "EX", 2)
		var ho handOffPayload
		e.ok(t, e.a.tokens[domain.RoleMailroom], assetHandOffDoc, map[string]any{"in": handOffInput(d.assets, d.person, "")}, &ho)
		// A person whose name a spreadsheet would run as a formula.
		var evil personPayload
		e.ok(t, e.a.tokens[domain.RoleHR], personCreateDoc, map[string]any{"in": map[string]any{
			"employeeId": "=1+2", "name": "=HYPERLINK(\"http://evil.example\",\"click\")", "email": "evil@acme.example"}}, &evil)
		other := e.deliver(t, e.b, "EXB", 1)
		e.ok(t, e.b.tokens[domain.RoleMailroom], assetHandOffDoc, map[string]any{"in": handOffInput(other.assets, other.person, "")}, &ho)

		// The full log: every event of the tenant, in order, none of B's.
		var size struct{ Ledger struct{ Size int64 } }
		e.ok(t, auditor, `{ ledger { size } }`, nil, &size)
		status, log, body := e.exportCSV(t, it, "/exports/custody-log.csv")
		if status != http.StatusOK {
			t.Fatalf("custody log: %d %s", status, body)
		}
		seqs := column(t, log, "seq")
		// The export's own EXPORTED event is the last row: it is recorded
		// before the first row is read.
		if int64(len(seqs)) != size.Ledger.Size+1 || seqs[0] != "1" || column(t, log, "type")[len(seqs)-1] != "EXPORTED" {
			t.Fatalf("custody log has %d rows (log size %d), last %v", len(seqs), size.Ledger.Size, log[len(log)-1])
		}
		if bytes.Contains(body, []byte("EXB-SN")) {
			t.Fatal("tenant A's export holds tenant B's assets")
		}
		for _, name := range column(t, log, "person_name") {
			if name != "" && name[0] == '=' {
				t.Fatalf("a formula reached the CSV: %q", name)
			}
		}

		// Filters: one asset's hand-off; types; a person.
		asset := url.Values{"asset": {d.assets[0]}}.Encode()
		_, rows, body := e.exportCSV(t, it, "/exports/handoffs.csv?"+asset)
		if len(rows) != 2 || column(t, rows, "serial")[0] != d.serials[0] || column(t, rows, "person_name")[0] != "Employee EX-E" ||
			column(t, rows, "signed_name")[0] != "Employee" || column(t, rows, "image_sha256")[0] == "" {
			t.Fatalf("hand-off of one asset: %s", body)
		}
		_, rows, _ = e.exportCSV(t, it, "/exports/custody-log.csv?type=SERIALIZED,HANDED_OFF&"+url.Values{"person": {d.person}}.Encode())
		if got := column(t, rows, "type"); !slices.Equal(got, []string{"HANDED_OFF", "HANDED_OFF"}) {
			t.Fatalf("custody log of a person's hand-offs: %v", got)
		}
		_, rows, _ = e.exportCSV(t, it, "/exports/custody-log.csv?type=SERIALIZED&to=2000-01-01")
		if len(rows) != 1 {
			t.Fatalf("custody log before 2000 has %d rows", len(rows)-1)
		}

		// The ServiceNow shape of the register, and of hand-offs.
		_, rows, body = e.exportCSV(t, it, "/exports/assets.csv?profile=servicenow&bom=1")
		if !bytes.HasPrefix(body, []byte("\ufeff")) || rows[0][0] != "asset_tag" || !slices.Contains(rows[0], "install_status") {
			t.Fatalf("assets for ServiceNow: %s", body)
		}
		for i, serial := range column(t, rows, "serial_number") {
			if slices.Contains(d.serials, serial) && (column(t, rows, "install_status")[i] != "1" || column(t, rows, "assigned_to")[i] != "EX-E@acme.example") {
				t.Errorf("asset %s for ServiceNow: %v", serial, rows[i+1])
			}
		}
		_, rows, _ = e.exportCSV(t, it, "/exports/handoffs.csv?profile=servicenow")
		if len(rows) != 3 || rows[0][0] != "asset_tag" {
			t.Fatalf("hand-offs for ServiceNow: %v", rows)
		}

		// Off-boarding in the SuccessFactors shape, for HR.
		c := e.openCase(t, e.a, d.person)
		_ = c
		_, rows, body = e.exportCSV(t, e.a.tokens[domain.RoleHR], "/exports/offboarding.csv?profile=successfactors")
		if len(rows) != 3 || column(t, rows, "userId")[0] != "EX-E" || column(t, rows, "cust_ReturnStatus")[0] != "OUTSTANDING" {
			t.Fatalf("off-boarding for SuccessFactors: %s", body)
		}

		// Every export is on record: who, what, which filter.
		_, rows, _ = e.exportCSV(t, auditor, "/exports/custody-log.csv?type=EXPORTED")
		details := column(t, rows, "details")
		if len(details) != 8 || !strings.Contains(details[1], "export=HANDOFFS") || !strings.Contains(details[6], "profile=SUCCESSFACTORS") {
			t.Fatalf("EXPORTED events: %v", details)
		}
		if actors := column(t, rows, "actor"); actors[6] != "acme hr" {
			t.Fatalf("the off-boarding export is recorded for %q, want HR's member", actors[7])
		}

		for _, tc := range []struct {
			name, path string
			status     int
			code       string
		}{
			{"an unknown export", "/exports/people.csv", 404, "NOT_FOUND"},
			{"not a CSV", "/exports/assets.json", 404, "NOT_FOUND"},
			{"a profile that does not shape the kind", "/exports/custody-log.csv?profile=servicenow", 400, "INVALID"},
			{"an unknown profile", "/exports/assets.csv?profile=lansweeper", 400, "INVALID"},
			{"a bad date", "/exports/custody-log.csv?from=yesterday", 400, "INVALID"},
			{"a range backwards", "/exports/custody-log.csv?from=2026-02-01&to=2026-01-01", 400, "INVALID"},
			{"an unknown event type", "/exports/custody-log.csv?type=TELEPORTED", 400, "INVALID"},
			{"a misspelt filter", "/exports/custody-log.csv?assetId=x", 400, "INVALID"},
			{"an asset id of another type", "/exports/custody-log.csv?" + url.Values{"asset": {d.person}}.Encode(), 400, "INVALID"},
			{"a filter the kind does not take", "/exports/assets.csv?location=Dock", 400, "INVALID"},
			{"a person for the whole register", "/exports/assets.csv?" + url.Values{"person": {d.person}}.Encode(), 400, "INVALID"},
			{"a person for certificates", "/exports/certificates.csv?" + url.Values{"person": {d.person}}.Encode(), 400, "INVALID"},
		} {
			res, body := e.download(t, it, tc.path)
			if res.StatusCode != tc.status || !strings.Contains(string(body), `"code":"`+tc.code+`"`) {
				t.Errorf("%s: %d %s, want %d %s", tc.name, res.StatusCode, body, tc.status, tc.code)
			}
		}
		// Refused requests recorded nothing.
		_, rows, _ = e.exportCSV(t, auditor, "/exports/custody-log.csv?type=EXPORTED")
		if len(rows) != 10 {
			t.Fatalf("after the refusals there are %d EXPORTED events, want 9 (refused requests record nothing)", len(rows)-1)
		}
	})
}

// TestExportPermissions: every role against every export, allow and deny,
// and no token.
func TestExportPermissions(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		all := []domain.Role{domain.RoleAdmin, domain.RoleAuditor}
		allowed := map[string][]domain.Role{
			"custody-log":  append(slices.Clone(all), domain.RoleIT),
			"handoffs":     append(slices.Clone(all), domain.RoleIT, domain.RoleMailroom),
			"assets":       append(slices.Clone(all), domain.RoleIT),
			"offboarding":  append(slices.Clone(all), domain.RoleIT, domain.RoleHR),
			"certificates": append(slices.Clone(all), domain.RoleIT),
		}
		for name, roles := range allowed {
			for _, role := range domain.AllRoles {
				res, body := e.download(t, e.a.tokens[role], "/exports/"+name+".csv")
				want := http.StatusForbidden
				if slices.Contains(roles, role) {
					want = http.StatusOK
				}
				if res.StatusCode != want {
					t.Errorf("%s exporting %s: %d %s, want %d", role, name, res.StatusCode, body, want)
				}
			}
			res, _ := e.download(t, "", "/exports/"+name+".csv")
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("no token exporting %s: %d", name, res.StatusCode)
			}
		}
	})
}

// TestExportLinks: exportCreate signs a link a browser follows without a
// token; the link cannot be altered, and a role that may not export gets
// no link.
func TestExportLinks(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deliver(t, e.a, "EL", 1)
		const doc = `mutation($in: ExportCreateInput!) { exportCreate(input: $in) { url expiresAt userErrors { field code message } } }`
		var out struct {
			ExportCreate struct {
				URL        *string
				UserErrors []userError
			}
		}
		e.ok(t, e.a.tokens[domain.RoleIT], doc, map[string]any{"in": map[string]any{"kind": "CUSTODY_LOG", "assetId": d.assets[0], "byteOrderMark": true}}, &out)
		if out.ExportCreate.URL == nil {
			t.Fatalf("exportCreate: %+v", out.ExportCreate.UserErrors)
		}
		link := *out.ExportCreate.URL
		res, body := e.download(t, "", link)
		if res.StatusCode != 200 || !bytes.HasPrefix(body, []byte("\ufeff")) || !bytes.Contains(body, []byte(d.serials[0])) {
			t.Fatalf("GET the signed link: %d %s", res.StatusCode, body)
		}
		for name, altered := range map[string]string{
			"another asset":     strings.Replace(link, "asset=", "asset=x", 1),
			"no filter":         strings.Replace(link, "asset=", "assetless=", 1),
			"another export":    strings.Replace(link, "custody-log", "assets", 1),
			"a later expiry":    strings.Replace(link, "link_expires=", "link_expires=9", 1),
			"another signature": link[:len(link)-4] + "AAAA",
		} {
			if res, _ := e.download(t, "", altered); res.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: %d, want 401", name, res.StatusCode)
			}
		}
		var bad struct {
			ExportCreate struct{ UserErrors []userError }
		}
		e.ok(t, e.a.tokens[domain.RoleIT], doc, map[string]any{"in": map[string]any{"kind": "CUSTODY_LOG", "profile": "SUCCESSFACTORS"}}, &bad)
		if errs := bad.ExportCreate.UserErrors; len(errs) != 1 || errs[0].Code != "INVALID" || strings.Join(errs[0].Field, ".") != "input.profile" {
			t.Fatalf("exportCreate with a profile of another kind: %+v", errs)
		}
		if r := e.do(t, e.a.tokens[domain.RoleHR], doc, map[string]any{"in": map[string]any{"kind": "CUSTODY_LOG"}}); !r.hasCode("FORBIDDEN") {
			t.Fatalf("HR asked for a custody log link: %s", r.raw)
		}
	})
}
