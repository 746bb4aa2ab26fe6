package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph"
)

// The ITAD download endpoints are outside GraphQL, so the role × operation
// matrix of authz_test.go cannot reach them: this file holds them to the
// same policy rows (Query.certificate, Query.dispositionReport) and to the
// tenant and vendor boundaries. Its helpers are prefixed authz so that they
// stay apart from the disposition flow's own.

// authzCSVHeader is the disposition CSV's header line, written out here
// rather than taken from domain/itamcsv so that a change of the columns an
// ITAM import reads must change this test too.
const authzCSVHeader = "asset_tag,serial_number,install_status,substatus,disposal_date,disposal_reason," +
	"certificate_number,model,vendor,outcome,sanitization_method,order_id\n"

// authzFetched is the answer to a GET of a download endpoint.
type authzFetched struct {
	status int
	header http.Header
	body   []byte
}

// code is the extensions.code of the first error of a JSON error body, or
// "" when the body is not one.
func (f authzFetched) code() string {
	var b struct {
		Errors []struct {
			Extensions struct{ Code string } `json:"extensions"`
		} `json:"errors"`
	}
	if json.Unmarshal(f.body, &b) != nil || len(b.Errors) == 0 {
		return ""
	}
	return b.Errors[0].Extensions.Code
}

// isJSONError reports whether the answer is the JSON error body the API
// gives instead of a file, with the given status and code.
func (f authzFetched) isJSONError(status int, code string) bool {
	return f.status == status && strings.HasPrefix(f.header.Get("Content-Type"), "application/json") && f.code() == code
}

// authzGet GETs path on the server with token as the bearer (none when
// empty), the way a browser or an ITAM import downloads a file.
func (e *env) authzGet(t *testing.T, token, path string) authzFetched {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return authzFetched{status: res.StatusCode, header: res.Header, body: body}
}

// authzCertificatePath and authzCSVPath build the documented paths by hand,
// independently of the server's own path helpers.
func authzCertificatePath(certGID string) string { return "/certificates/" + certGID + ".pdf" }

func authzCSVPath(orderGID string) string {
	return "/reports/disposition.csv?order=" + url.QueryEscape(orderGID)
}

// authzDownloads are the download endpoints, each with the policy row it
// needs, the roles that have it, a path naming nothing, and what an allowed
// caller gets for that path.
var authzDownloads = []struct {
	name    string
	path    func() string
	allowed []domain.Role
	// found checks an allowed caller's answer for the path.
	found func(f authzFetched) bool
}{
	{"certificatePDF", func() string { return authzCertificatePath(graph.EncodeID("Certificate", mustUUID())) },
		certificateReaders, func(f authzFetched) bool { return f.isJSONError(http.StatusNotFound, "NOT_FOUND") }},
	{"dispositionCSV", func() string { return authzCSVPath(noSuchOrder()) },
		dispositionReaders, func(f authzFetched) bool {
			return f.status == http.StatusOK && f.header.Get("Content-Type") == "text/csv; charset=utf-8" && string(f.body) == authzCSVHeader
		}},
}

// TestDispositionDownloadAuthz calls each download endpoint with every
// role: denied roles get 403 FORBIDDEN as JSON and no file; allowed roles
// get past authorization to the answer for an id that names nothing (404
// for a certificate, an empty CSV for an order). Without a valid token the
// answer is 401, whatever the role would have been.
func TestDispositionDownloadAuthz(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		for _, ep := range authzDownloads {
			for _, role := range domain.AllRoles {
				allowed := slices.Contains(ep.allowed, role)
				t.Run(ep.name+"/"+string(role), func(t *testing.T) {
					f := e.authzGet(t, e.a.tokens[role], ep.path())
					switch {
					case allowed && !ep.found(f):
						t.Fatalf("%s should get past authorization: %d %s %q", role, f.status, f.header.Get("Content-Type"), f.body)
					case !allowed && !f.isJSONError(http.StatusForbidden, "FORBIDDEN"):
						t.Fatalf("%s should be forbidden: %d %s %q", role, f.status, f.header.Get("Content-Type"), f.body)
					}
				})
			}
			for _, tc := range []struct{ name, token string }{
				{"no token", ""},
				{"unknown token", "cust_" + strings.ReplaceAll(mustUUID(), "-", "")},
			} {
				t.Run(ep.name+"/"+tc.name, func(t *testing.T) {
					f := e.authzGet(t, tc.token, ep.path())
					if !f.isJSONError(http.StatusUnauthorized, "UNAUTHENTICATED") || !strings.HasPrefix(f.header.Get("WWW-Authenticate"), "Bearer") {
						t.Fatalf("%s: %d %v %q, want 401 UNAUTHENTICATED with a Bearer challenge", tc.name, f.status, f.header, f.body)
					}
				})
			}
		}
	})
}

// TestDispositionCSVParametersAuthz: bad CSV parameters are a 400 with a
// code before any byte of CSV, but only for a caller allowed the report;
// others learn nothing about the parameters (401, 403). Parameters that
// are merely unmatched give an empty report, as in GraphQL.
func TestDispositionCSVParametersAuthz(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		admin := e.a.tokens[domain.RoleAdmin]
		for _, tc := range []struct {
			name, query string
			status      int
			code        string // for an error; "" for a CSV
			prefix      string // what the CSV starts with
		}{
			{"from not a date", "from=notadate&to=2026-02-01", http.StatusBadRequest, "INVALID", ""},
			{"to not a date", "from=2026-01-01&to=2026-02-30", http.StatusBadRequest, "INVALID", ""},
			{"bom neither 0 nor 1", "order=" + url.QueryEscape(noSuchOrder()) + "&bom=2", http.StatusBadRequest, "INVALID", ""},
			{"from without to, no order", "from=2026-01-01", http.StatusBadRequest, "REQUIRED", ""},
			{"nothing at all", "", http.StatusBadRequest, "REQUIRED", ""},
			{"from after to", "from=2026-02-01&to=2026-01-01", http.StatusBadRequest, "INVALID", ""},
			{"from equal to to", "from=2026-01-01&to=2026-01-01", http.StatusBadRequest, "INVALID", ""},
			{"from after to, with an order", "order=" + url.QueryEscape(noSuchOrder()) + "&from=2026-02-01&to=2026-01-01", http.StatusBadRequest, "INVALID", ""},
			{"an id of another type", "order=" + url.QueryEscape(graph.EncodeID("Asset", mustUUID())), http.StatusOK, "", authzCSVHeader},
			{"an id that is no id", "order=not-an-id", http.StatusOK, "", authzCSVHeader},
			{"a range with nothing in it", "from=2020-01-01&to=2020-02-01", http.StatusOK, "", authzCSVHeader},
			{"with a byte order mark", "from=2020-01-01&to=2020-02-01&bom=1", http.StatusOK, "", "\ufeff" + authzCSVHeader},
		} {
			t.Run(tc.name, func(t *testing.T) {
				path := "/reports/disposition.csv?" + tc.query
				f := e.authzGet(t, admin, path)
				if tc.code != "" {
					if !f.isJSONError(tc.status, tc.code) || strings.Contains(string(f.body), "asset_tag") {
						t.Fatalf("%s: %d %s %q, want %d %s before any CSV", path, f.status, f.header.Get("Content-Type"), f.body, tc.status, tc.code)
					}
				} else if f.status != tc.status || string(f.body) != tc.prefix {
					t.Fatalf("%s: %d %q, want %d %q", path, f.status, f.body, tc.status, tc.prefix)
				}
				// Authorization comes first: a denied or anonymous caller
				// gets the same answer whatever the parameters.
				if f := e.authzGet(t, e.a.tokens[domain.RoleMailroom], path); !f.isJSONError(http.StatusForbidden, "FORBIDDEN") {
					t.Fatalf("mailroom, %s: %d %q, want 403 FORBIDDEN", path, f.status, f.body)
				}
				if f := e.authzGet(t, "", path); !f.isJSONError(http.StatusUnauthorized, "UNAUTHENTICATED") {
					t.Fatalf("anonymous, %s: %d %q, want 401", path, f.status, f.body)
				}
			})
		}
	})
}

// authzCertified is a pickup order of one laptop carried through to its
// certificate: what the boundary tests need to have something to hide.
type authzCertified struct {
	vendor, tech         string // the vendor's global id, and its technician's token
	order, asset, serial string
	certificate, number  string
}

// authzCertifiedOrder carries one retired laptop of tn from the dock to a
// certificate through the API: IT plans and stages, the vendor's
// technician scans it out, IT and the technician sign, the technician
// receives it, destroys its media and issues the certificate.
func (e *env) authzCertifiedOrder(t *testing.T, tn *tenant, prefix string) authzCertified {
	t.Helper()
	it := tn.tokens[domain.RoleIT]
	var c authzCertified
	c.vendor = e.engageVendor(t, tn, prefix+" Recycling", "2099-12-31")
	c.tech = e.vendorToken(t, tn, c.vendor)
	ids, serials := e.retiredAssets(t, tn, prefix, 1)
	c.asset, c.serial = ids[0], serials[0]

	// Each step must succeed with no user error; only the field the next
	// step needs is read back.
	step := func(token, doc string, in map[string]any) json.RawMessage {
		t.Helper()
		var out map[string]struct {
			UserErrors []userError `json:"userErrors"`
		}
		r := e.do(t, token, doc, map[string]any{"in": in})
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("%s: %s", doc, r.raw)
		}
		if err := json.Unmarshal(r.Data, &out); err != nil {
			t.Fatalf("decode %s: %v", r.Data, err)
		}
		for _, p := range out {
			if len(p.UserErrors) > 0 {
				t.Fatalf("%s: %+v", doc, p.UserErrors)
			}
		}
		return r.Data
	}
	var created struct {
		PickupOrderCreate struct{ PickupOrder struct{ ID string } }
	}
	data := step(it, `mutation($in: PickupOrderCreateInput!) { pickupOrderCreate(input: $in) { pickupOrder { id } userErrors { code message } } }`,
		map[string]any{"vendorId": c.vendor, "scheduledOn": time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)})
	if err := json.Unmarshal(data, &created); err != nil || created.PickupOrderCreate.PickupOrder.ID == "" {
		t.Fatalf("pickupOrderCreate: %v %s", err, data)
	}
	c.order = created.PickupOrderCreate.PickupOrder.ID
	step(it, `mutation($in: PickupOrderStageInput!) { pickupOrderStage(input: $in) { userErrors { code message } } }`,
		map[string]any{"orderId": c.order, "assetIds": []string{c.asset}})
	step(c.tech, `mutation($in: PickupDockScanInput!) { pickupDockScan(input: $in) { userErrors { code message } } }`,
		map[string]any{"orderId": c.order, "scan": map[string]any{"serial": c.serial}})

	var viewer struct {
		Viewer struct{ Member struct{ ID string } }
	}
	e.ok(t, c.tech, `{ viewer { member { id } } }`, nil, &viewer)
	step(it, `mutation($in: PickupConfirmInput!) { pickupConfirm(input: $in) { userErrors { code message } } }`,
		map[string]any{"orderId": c.order, "technicianMemberId": viewer.Viewer.Member.ID,
			"technicianSignature": signature("Tess Technician"), "staffSignature": signature("Ian IT")})
	// After the pickup, which the server dated before it answered.
	performed := time.Now()
	step(c.tech, `mutation($in: PickupReceiptScanInput!) { pickupReceiptScan(input: $in) { userErrors { code message } } }`,
		map[string]any{"orderId": c.order, "scan": map[string]any{"serial": c.serial}})
	step(c.tech, `mutation($in: PickupReceiptConfirmInput!) { pickupReceiptConfirm(input: $in) { userErrors { code message } } }`,
		map[string]any{"orderId": c.order})
	step(c.tech, `mutation($in: SanitizationRecordInput!) { sanitizationRecord(input: $in) { userErrors { code message } } }`,
		sanitizationFields(c.order, c.serial, "DESTROY", performed))

	var issued struct {
		CertificateIssue struct{ Certificate struct{ ID, Number string } }
	}
	data = step(c.tech, `mutation($in: CertificateIssueInput!) { certificateIssue(input: $in) { certificate { id number } userErrors { code message } } }`,
		map[string]any{"orderId": c.order})
	if err := json.Unmarshal(data, &issued); err != nil || issued.CertificateIssue.Certificate.ID == "" {
		t.Fatalf("certificateIssue: %v %s", err, data)
	}
	c.certificate, c.number = issued.CertificateIssue.Certificate.ID, issued.CertificateIssue.Certificate.Number
	return c
}

// TestDispositionTenantBoundaryAuthz: a certified order of tenant A, as
// every reader of certificates and disposition reports sees it through
// GraphQL and the downloads. A's staff and the order's own vendor see it;
// tenant B (whatever its role), another vendor of A, and a vendor member
// of A linked to no vendor see nothing, and a 404 rather than a 403 for
// the PDF, so ids reveal nothing.
func TestDispositionTenantBoundaryAuthz(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		c := e.authzCertifiedOrder(t, e.a, "BND")
		otherVendor := e.vendorToken(t, e.a, e.engageVendor(t, e.a, "Other Recycling", "2099-12-31"))
		// A range around today holds the outcome, whichever day it is in UTC.
		today := time.Now().UTC()
		rangeQuery := "from=" + today.AddDate(0, 0, -1).Format(time.DateOnly) + "&to=" + today.AddDate(0, 0, 2).Format(time.DateOnly)

		type reader struct {
			name  string
			token string
			sees  bool
		}
		certReaders := []reader{
			{"A admin", e.a.tokens[domain.RoleAdmin], true},
			{"A it", e.a.tokens[domain.RoleIT], true},
			{"A auditor", e.a.tokens[domain.RoleAuditor], true},
			{"the order's vendor", c.tech, true},
			{"another vendor of A", otherVendor, false},
			{"A vendor member of no vendor", e.a.tokens[domain.RoleITADVendor], false},
			{"B admin", e.b.tokens[domain.RoleAdmin], false},
			{"B it", e.b.tokens[domain.RoleIT], false},
			{"B auditor", e.b.tokens[domain.RoleAuditor], false},
			{"B vendor member", e.b.tokens[domain.RoleITADVendor], false},
		}
		for _, rd := range certReaders {
			t.Run("certificate/"+rd.name, func(t *testing.T) {
				var got struct {
					Certificate  *struct{ Number string }
					Certificates struct {
						Edges []struct{ Node struct{ ID string } }
					}
				}
				e.ok(t, rd.token, `query($id: ID!) { certificate(id: $id) { number } certificates(first: 100) { edges { node { id } } } }`,
					map[string]any{"id": c.certificate}, &got)
				listed := slices.ContainsFunc(got.Certificates.Edges, func(ed struct{ Node struct{ ID string } }) bool { return ed.Node.ID == c.certificate })
				if rd.sees != (got.Certificate != nil && got.Certificate.Number == c.number) || rd.sees != listed || (!rd.sees && len(got.Certificates.Edges) > 0) {
					t.Fatalf("%s (sees=%v): certificate %+v, list %+v", rd.name, rd.sees, got.Certificate, got.Certificates.Edges)
				}
				f := e.authzGet(t, rd.token, authzCertificatePath(c.certificate))
				if rd.sees {
					if f.status != http.StatusOK || f.header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(string(f.body), "%PDF-") ||
						!strings.Contains(f.header.Get("Content-Disposition"), c.number+".pdf") {
						t.Fatalf("%s: PDF %d %v %.40q", rd.name, f.status, f.header, f.body)
					}
				} else if !f.isJSONError(http.StatusNotFound, "NOT_FOUND") {
					t.Fatalf("%s: PDF %d %q, want 404 NOT_FOUND", rd.name, f.status, f.body)
				}
			})
		}

		reportReaders := []reader{
			{"A admin", e.a.tokens[domain.RoleAdmin], true},
			{"A it", e.a.tokens[domain.RoleIT], true},
			{"A auditor", e.a.tokens[domain.RoleAuditor], true},
			{"B admin", e.b.tokens[domain.RoleAdmin], false},
			{"B it", e.b.tokens[domain.RoleIT], false},
			{"B auditor", e.b.tokens[domain.RoleAuditor], false},
		}
		for _, rd := range reportReaders {
			t.Run("dispositionReport/"+rd.name, func(t *testing.T) {
				var got struct {
					ByOrder struct {
						Rows   []struct{ Serial, CertificateNumber *string }
						CSVURL string `json:"csvUrl"`
					}
					ByDate struct {
						Rows []struct{ Serial *string }
					}
				}
				e.ok(t, rd.token, `query($id: ID!, $from: Date!, $to: Date!) {
					byOrder: dispositionReport(filter: {orderId: $id}) { rows { serial certificateNumber } csvUrl }
					byDate: dispositionReport(filter: {from: $from, to: $to}) { rows { serial } } }`,
					map[string]any{"id": c.order, "from": today.AddDate(0, 0, -1).Format(time.DateOnly), "to": today.AddDate(0, 0, 2).Format(time.DateOnly)}, &got)
				rows, byDate := got.ByOrder.Rows, got.ByDate.Rows
				if rd.sees {
					if len(rows) != 1 || rows[0].Serial == nil || *rows[0].Serial != c.serial || rows[0].CertificateNumber == nil || *rows[0].CertificateNumber != c.number {
						t.Fatalf("%s: rows %+v", rd.name, rows)
					}
					if len(byDate) != 1 || byDate[0].Serial == nil || *byDate[0].Serial != c.serial {
						t.Fatalf("%s: rows by date %+v", rd.name, byDate)
					}
				} else if len(rows) != 0 || len(byDate) != 0 {
					t.Fatalf("%s sees another tenant's rows: %+v %+v", rd.name, rows, byDate)
				}

				// The CSV at the report's own link and by date: the row, or
				// only the header.
				for _, path := range []string{got.ByOrder.CSVURL, authzCSVPath(c.order), "/reports/disposition.csv?" + rangeQuery} {
					f := e.authzGet(t, rd.token, path)
					if f.status != http.StatusOK || !strings.HasPrefix(string(f.body), authzCSVHeader) {
						t.Fatalf("%s, %s: %d %q", rd.name, path, f.status, f.body)
					}
					body := strings.TrimPrefix(string(f.body), authzCSVHeader)
					if rd.sees != strings.Contains(body, c.serial) || (!rd.sees && body != "") {
						t.Fatalf("%s, %s (sees=%v): %q", rd.name, path, rd.sees, f.body)
					}
				}
			})
		}
	})
}
