package e2e_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
)

// Documents of the ITAD disposition flow.
const (
	dockScanDoc = `mutation($in: PickupDockScanInput!) { pickupDockScan(input: $in) {
		scan { id result detail } userErrors { field code message } } }`
	dockReportDoc = `query($id: ID!) { pickupOrder(id: $id) { state
		dock { lines counted missing { serial } discrepancies { id result serial } resolutions { action } } } }`
	resolveDoc = `mutation($in: PickupDiscrepancyResolveInput!) { pickupDiscrepancyResolve(input: $in) {
		resolution { action reason } userErrors { field code message } } }`
	pickupConfirmDoc = `mutation($in: PickupConfirmInput!) { pickupConfirm(input: $in) {
		pickupOrder { state pickedUpAt signatures { role name } lines { serial status } } userErrors { field code message } } }`
	sanitizeDoc = `mutation($in: SanitizationRecordInput!) { sanitizationRecord(input: $in) {
		sanitization { method } userErrors { field code message } } }`
	outcomeDoc = `mutation($in: DispositionOutcomeRecordInput!) { dispositionOutcomeRecord(input: $in) {
		line { serial status outcome { kind } } userErrors { field code message } } }`
	certificateIssueDoc = `mutation($in: CertificateIssueInput!) { certificateIssue(input: $in) {
		certificate { id number digest pdfUrl receiptUrl } userErrors { field code message } } }`
	// discrepancyFeedDoc follows the log's pickup discrepancies with every
	// fact a subscriber can reach.
	discrepancyFeedDoc = `subscription($after: Int) {
		custodyEvents(after: $after, filter: {types: [PICKUP_DISCREPANCY, DISCREPANCY_RESOLVED]}) {
			seq type details { key value } } }`
)

// payload is a mutation's userErrors, whatever else it returns.
type payload struct{ UserErrors []userError }

// openPickup creates an order for vendorGID tomorrow and stages assetIDs on it.
func (e *env) openPickup(t *testing.T, tn *tenant, vendorGID string, assetIDs []string) string {
	t.Helper()
	it := tn.tokens[domain.RoleIT]
	var created struct {
		PickupOrderCreate struct {
			PickupOrder *struct{ ID string }
			UserErrors  []userError
		}
	}
	e.ok(t, it, `mutation($in: PickupOrderCreateInput!) { pickupOrderCreate(input: $in) { pickupOrder { id } userErrors { code message } } }`,
		map[string]any{"in": map[string]any{"vendorId": vendorGID, "scheduledOn": time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)}}, &created)
	if created.PickupOrderCreate.PickupOrder == nil {
		t.Fatalf("pickupOrderCreate: %+v", created.PickupOrderCreate.UserErrors)
	}
	id := created.PickupOrderCreate.PickupOrder.ID
	var staged struct{ PickupOrderStage payload }
	e.ok(t, it, `mutation($in: PickupOrderStageInput!) { pickupOrderStage(input: $in) { userErrors { code message } } }`,
		map[string]any{"in": map[string]any{"orderId": id, "assetIds": assetIDs}}, &staged)
	if errs := staged.PickupOrderStage.UserErrors; len(errs) > 0 {
		t.Fatalf("pickupOrderStage: %+v", errs)
	}
	return id
}

// memberID is the member id behind a token.
func (e *env) memberID(t *testing.T, token string) string {
	t.Helper()
	var v struct {
		Viewer struct{ Member struct{ ID string } }
	}
	e.ok(t, token, `{ viewer { member { id } } }`, nil, &v)
	return v.Viewer.Member.ID
}

// dockReport is an order's dock phase as IT reads it.
type dockReport struct {
	State string
	Dock  struct {
		Lines, Counted int
		Missing        []struct{ Serial string }
		Discrepancies  []struct{ ID, Result, Serial string }
		Resolutions    []struct{ Action string }
	}
}

func (e *env) dock(t *testing.T, token, order string) dockReport {
	t.Helper()
	var out struct{ PickupOrder dockReport }
	e.ok(t, token, dockReportDoc, map[string]any{"id": order}, &out)
	return out.PickupOrder
}

// download GETs a path of the server, with a bearer token unless token is
// empty.
func (e *env) download(t *testing.T, token, path string) (*http.Response, []byte) {
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
	return res, body
}

// feedEvent is one event of discrepancyFeedDoc.
type feedEvent struct {
	Seq     int64
	Type    string
	Details []struct{ Key, Value string }
	raw     json.RawMessage
}

func (f feedEvent) detail(key string) string {
	for _, kv := range f.Details {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// feedNext reads the next event of subscription id.
func feedNext(t *testing.T, c *wsClient, id string) feedEvent {
	t.Helper()
	m := c.read()
	if m.Type != "next" || m.ID != id {
		t.Fatalf("got %s %s %s, want next for %s", m.Type, m.ID, m.Payload, id)
	}
	var p struct {
		Data   struct{ CustodyEvents feedEvent }
		Errors []gqlError
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
		t.Fatalf("next payload %s: %v", m.Payload, err)
	}
	p.Data.CustodyEvents.raw = m.Payload
	return p.Data.CustodyEvents
}

// hearsNothing fails if any of the subscribers delivers an event within a
// second. Call it after other subscribers have had theirs.
func hearsNothing(t *testing.T, subscribers map[string]*wsClient) {
	t.Helper()
	type heard struct {
		who string
		m   wsMessage
	}
	got := make(chan heard, len(subscribers))
	for who, c := range subscribers {
		go func() {
			for {
				m, err := c.readMessage()
				if err != nil {
					return
				}
				if m.Type != "ping" {
					got <- heard{who, m}
					return
				}
			}
		}()
	}
	deadline := time.After(time.Second)
	for {
		select {
		case h := <-got:
			t.Errorf("%s heard %s %s", h.who, h.m.Type, h.m.Payload)
		case <-deadline:
			return
		}
	}
}

// pdfText extracts a PDF's text with pdftotext (poppler-utils), which CI
// installs; elsewhere the check is skipped.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext not found: CI must install poppler-utils")
		}
		t.Skip("pdftotext not found (install poppler-utils)")
	}
	cmd := exec.Command(bin, "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// sanitization is a valid NIST SP 800-88 record for one serial of an order.
func sanitization(order, serial, method string) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	return map[string]any{"orderId": order, "serial": serial, "method": method,
		"technique": "NVMe Sanitize (crypto erase)", "tool": "Blancco Drive Eraser", "toolVersion": "7.9.1",
		"verificationMethod": "full read-back of 5% of sectors", "verificationResult": "PASSED",
		"performedAt": now, "technicianName": "Tomás Ruiz", "technicianAttests": true,
		"validatorName": "Vera Lind", "validatedAt": now}
}

// TestDispositionEndToEnd carries four retired laptops from the dock to
// CLOSED through GraphQL and the HTTP downloads, as IT and as the vendor's
// technician: at the dock one is substituted, one missing and one item
// unexpected (and one scanned twice); IT hears each discrepancy live and
// resolves it; both sign; the vendor receives, sanitizes and disposes of
// what arrived, issues the certificate (whose PDF lists every serial), and
// IT downloads the ITAM CSV and writes the assets back. The vendor hears
// nothing of the tenant's log and never sees the employee's name.
func TestDispositionEndToEnd(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		it, auditor := e.a.tokens[domain.RoleIT], e.a.tokens[domain.RoleAuditor]
		vendor := e.engageVendor(t, e.a, "GreenCycle", "2099-12-31", "2099-06-30")
		tech := e.vendorToken(t, e.a, vendor)
		ids, serials := e.retiredAssets(t, e.a, "DS", 4)
		order := e.openPickup(t, e.a, vendor, ids)

		var size struct{ Ledger struct{ Size int64 } }
		e.ok(t, auditor, `{ ledger { size } }`, nil, &size)
		// Every role subscribes: those holding Topic.pickups hear the dock.
		feeds := map[domain.Role]*wsClient{}
		for _, role := range domain.AllRoles {
			feeds[role] = connect(t, e.url, e.a.tokens[role])
			feeds[role].subscribe("d", discrepancyFeedDoc, map[string]any{"after": size.Ledger.Size})
		}
		itFeed := feeds[domain.RoleIT]
		vendorFeed := connect(t, e.url, tech)
		vendorFeed.subscribe("v", subscribeDoc, map[string]any{"after": size.Ledger.Size})

		// The dock, scan by scan.
		scan := func(in map[string]any) (result string, errs []userError) {
			var out struct {
				PickupDockScan struct {
					Scan       *struct{ ID, Result string }
					UserErrors []userError
				}
			}
			e.ok(t, tech, dockScanDoc, map[string]any{"in": map[string]any{"orderId": order, "scan": in}}, &out)
			if out.PickupDockScan.Scan != nil {
				result = out.PickupDockScan.Scan.Result
			}
			return result, out.PickupDockScan.UserErrors
		}
		for _, tc := range []struct {
			name string
			in   map[string]any
			want string
		}{
			{"a staged laptop", map[string]any{"serial": serials[0], "assetTag": "TAG-" + serials[0]}, "MATCHED"},
			{"its serial with another tag", map[string]any{"serial": serials[1], "assetTag": "TAG-SWAPPED"}, "SUBSTITUTED"},
			{"an item nobody staged", map[string]any{"serial": "STRAY-9"}, "UNEXPECTED"},
		} {
			if got, errs := scan(tc.in); got != tc.want {
				t.Fatalf("%s: %s %+v, want %s", tc.name, got, errs, tc.want)
			}
		}
		var bulk struct {
			PickupDockScanBulk struct {
				Matched       int
				Discrepancies []struct{ Result string }
				UserErrors    []userError
			}
		}
		e.ok(t, tech, `mutation($in: PickupDockScanBulkInput!) { pickupDockScanBulk(input: $in) {
			matched discrepancies { result } userErrors { code } } }`,
			map[string]any{"in": map[string]any{"orderId": order, "scans": []map[string]any{{"serial": serials[2]}, {"serial": serials[2]}}}}, &bulk)
		if b := bulk.PickupDockScanBulk; b.Matched != 1 || len(b.Discrepancies) != 1 || b.Discrepancies[0].Result != "DUPLICATE" {
			t.Fatalf("bulk dock scan = %+v", b)
		}

		// IT heard each discrepancy as it was scanned, with what it needs.
		for _, want := range []string{"SUBSTITUTED", "UNEXPECTED", "DUPLICATE"} {
			ev := feedNext(t, itFeed, "d")
			if ev.Type != "PICKUP_DISCREPANCY" || ev.detail("result") != want || ev.detail("phase") != "PICKUP" {
				t.Fatalf("IT heard %s, want a PICKUP_DISCREPANCY %s", ev.raw, want)
			}
		}

		for _, role := range []domain.Role{domain.RoleAdmin, domain.RoleAuditor} {
			if ev := feedNext(t, feeds[role], "d"); ev.detail("result") != "SUBSTITUTED" {
				t.Errorf("%s heard %s first, want the substitution", role, ev.raw)
			}
		}
		hearsNothing(t, map[string]*wsClient{"mailroom": feeds[domain.RoleMailroom], "hr": feeds[domain.RoleHR],
			"a member with the itad_vendor role": feeds[domain.RoleITADVendor]})

		rep := e.dock(t, it, order)
		if d := rep.Dock; d.Lines != 4 || d.Counted != 2 || len(d.Discrepancies) != 3 || len(d.Missing) != 1 || d.Missing[0].Serial != serials[3] {
			t.Fatalf("dock report = %+v", rep)
		}

		// Confirming now is refused with the list, and writes nothing.
		techID := e.memberID(t, tech)
		confirm := map[string]any{"in": map[string]any{"orderId": order, "technicianMemberId": techID,
			"technicianSignature": signature("Tomás Ruiz"), "staffSignature": signature("Ines Ortega")}}
		var refused struct{ PickupConfirm payload }
		e.ok(t, it, pickupConfirmDoc, confirm, &refused)
		if errs := refused.PickupConfirm.UserErrors; len(errs) != 4 || !allCodes(errs, "UNRESOLVED_DISCREPANCY") {
			t.Fatalf("confirm with open discrepancies = %+v, want 4 UNRESOLVED_DISCREPANCY", errs)
		}
		if s := e.dock(t, it, order).State; s != "OPEN" {
			t.Fatalf("a refused confirmation left the order %s", s)
		}

		// IT resolves each: the substitute is accepted as its line, the
		// stray stays on the dock, the double scan is noted, the unscanned
		// laptop is lost.
		resolve := func(in map[string]any) []userError {
			in["orderId"], in["phase"] = order, "PICKUP"
			var out struct{ PickupDiscrepancyResolve payload }
			e.ok(t, it, resolveDoc, map[string]any{"in": in}, &out)
			return out.PickupDiscrepancyResolve.UserErrors
		}
		for _, d := range rep.Dock.Discrepancies {
			action := map[string]string{"SUBSTITUTED": "ACCEPT", "UNEXPECTED": "REMOVE", "DUPLICATE": "ACCEPT"}[d.Result]
			if errs := resolve(map[string]any{"scanId": d.ID, "action": action, "reason": "checked on the dock"}); len(errs) > 0 {
				t.Fatalf("resolve %s with %s: %+v", d.Result, action, errs)
			}
		}
		if errs := resolve(map[string]any{"scanId": rep.Dock.Discrepancies[0].ID, "action": "ACCEPT", "reason": "again"}); len(errs) != 1 || errs[0].Code != "DUPLICATE" {
			t.Fatalf("resolving twice = %+v, want DUPLICATE", errs)
		}
		if errs := resolve(map[string]any{"assetId": ids[3], "action": "ACCEPT", "reason": "it must be here"}); len(errs) != 1 {
			t.Fatalf("accepting a missing line = %+v, want refused", errs)
		}
		if errs := resolve(map[string]any{"assetId": ids[3], "action": "LOST", "reason": "not found in the storeroom"}); len(errs) > 0 {
			t.Fatalf("resolve missing as LOST: %+v", errs)
		}
		for range 4 {
			if ev := feedNext(t, itFeed, "d"); ev.Type != "DISCREPANCY_RESOLVED" {
				t.Fatalf("IT heard %s, want DISCREPANCY_RESOLVED", ev.raw)
			}
		}

		// Both sign; exactly the scanned laptops leave with the vendor.
		var confirmed struct {
			PickupConfirm struct {
				PickupOrder *struct {
					State      string
					Signatures []struct{ Role, Name string }
					Lines      []struct{ Serial, Status string }
				}
				UserErrors []userError
			}
		}
		e.ok(t, it, pickupConfirmDoc, confirm, &confirmed)
		po := confirmed.PickupConfirm.PickupOrder
		if po == nil || po.State != "PICKED_UP" || len(po.Signatures) != 2 {
			t.Fatalf("pickupConfirm = %+v", confirmed.PickupConfirm)
		}
		wantLines := map[string]string{serials[0]: "PICKED_UP", serials[1]: "PICKED_UP", serials[2]: "PICKED_UP", serials[3]: "LOST"}
		for _, l := range po.Lines {
			if wantLines[l.Serial] != l.Status {
				t.Errorf("line %s is %s, want %s", l.Serial, l.Status, wantLines[l.Serial])
			}
		}
		for i, want := range []string{"PICKED_UP", "PICKED_UP", "PICKED_UP", "LOST"} {
			var a struct{ Asset struct{ State string } }
			e.ok(t, it, `query($id: ID!) { asset(id: $id) { state } }`, map[string]any{"id": ids[i]}, &a)
			if a.Asset.State != want {
				t.Errorf("asset %s is %s, want %s", serials[i], a.Asset.State, want)
			}
		}

		// At the facility: received against what was picked up.
		var receipt struct {
			PickupReceiptScanBulk struct {
				Matched    int
				UserErrors []userError
			}
		}
		e.ok(t, tech, `mutation($in: PickupReceiptScanBulkInput!) { pickupReceiptScanBulk(input: $in) { matched userErrors { code message } } }`,
			map[string]any{"in": map[string]any{"orderId": order, "scans": []map[string]any{{"serial": serials[0]}, {"serial": serials[1]}, {"serial": serials[2]}}}}, &receipt)
		if receipt.PickupReceiptScanBulk.Matched != 3 {
			t.Fatalf("receipt scans = %+v", receipt.PickupReceiptScanBulk)
		}
		var received struct {
			PickupReceiptConfirm struct {
				PickupOrder *struct{ State string }
				UserErrors  []userError
			}
		}
		e.ok(t, tech, `mutation($in: PickupReceiptConfirmInput!) { pickupReceiptConfirm(input: $in) { pickupOrder { state } userErrors { code message } } }`,
			map[string]any{"in": map[string]any{"orderId": order}}, &received)
		if r := received.PickupReceiptConfirm; r.PickupOrder == nil || r.PickupOrder.State != "RECEIVED" {
			t.Fatalf("pickupReceiptConfirm = %+v", r)
		}

		// Sanitization before outcome; a certificate waits for every line.
		var early struct{ CertificateIssue payload }
		e.ok(t, tech, certificateIssueDoc, map[string]any{"in": map[string]any{"orderId": order}}, &early)
		if errs := early.CertificateIssue.UserErrors; len(errs) != 3 || !allCodes(errs, "UNPROCESSED_LINES") || !mentionsAll(errs, serials[:3]) {
			t.Fatalf("certificate with unprocessed lines = %+v, want one UNPROCESSED_LINES naming each serial", errs)
		}
		var unsanitized struct{ DispositionOutcomeRecord payload }
		e.ok(t, tech, outcomeDoc, map[string]any{"in": map[string]any{"orderId": order, "serial": serials[0], "outcome": "REMARKETED", "buyer": "Refurb Markt GmbH"}}, &unsanitized)
		if errs := unsanitized.DispositionOutcomeRecord.UserErrors; len(errs) != 1 || errs[0].Code != "SANITIZATION_REQUIRED" {
			t.Fatalf("outcome without sanitization = %+v, want SANITIZATION_REQUIRED", errs)
		}
		for i, method := range []string{"PURGE", "CLEAR", "DESTROY"} {
			var out struct{ SanitizationRecord payload }
			e.ok(t, tech, sanitizeDoc, map[string]any{"in": sanitization(order, serials[i], method)}, &out)
			if errs := out.SanitizationRecord.UserErrors; len(errs) > 0 {
				t.Fatalf("sanitize %s: %+v", serials[i], errs)
			}
		}
		for _, in := range []map[string]any{
			{"serial": serials[0], "outcome": "REMARKETED", "buyer": "=HYPERLINK(\"http://evil\")"},
			{"serial": serials[1], "outcome": "RECYCLED", "downstreamVendor": "MetalWorks", "downstreamCertification": "R2v3 123"},
		} {
			in["orderId"] = order
			var out struct{ DispositionOutcomeRecord payload }
			e.ok(t, tech, outcomeDoc, map[string]any{"in": in}, &out)
			if errs := out.DispositionOutcomeRecord.UserErrors; len(errs) > 0 {
				t.Fatalf("outcome %v: %+v", in, errs)
			}
		}

		// The certificate: sealed, and a PDF that lists every serial.
		var issued struct {
			CertificateIssue struct {
				Certificate *struct{ ID, Number, Digest, PdfURL, ReceiptURL string }
				UserErrors  []userError
			}
		}
		e.ok(t, tech, certificateIssueDoc, map[string]any{"in": map[string]any{"orderId": order}}, &issued)
		cert := issued.CertificateIssue.Certificate
		if cert == nil || !strings.HasPrefix(cert.Number, "COS-") {
			t.Fatalf("certificateIssue = %+v", issued.CertificateIssue)
		}
		res, pdf := e.download(t, it, cert.PdfURL)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
			t.Fatalf("GET %s: %d %s %.200q", cert.PdfURL, res.StatusCode, res.Header.Get("Content-Type"), pdf)
		}
		if res, _ := e.download(t, tech, cert.PdfURL); res.StatusCode != 200 {
			t.Fatalf("the issuing vendor cannot download its certificate: %d", res.StatusCode)
		}
		text := pdfText(t, pdf)
		for _, want := range append(slices.Clone(serials[:3]), cert.Number, "Tomás Ruiz", "Ines Ortega", "Vera Lind", "custody verify") {
			if !strings.Contains(text, want) {
				t.Errorf("the certificate PDF does not mention %q", want)
			}
		}
		if strings.Contains(text, serials[3]) {
			t.Errorf("the certificate lists the lost laptop %s, which never reached the vendor", serials[3])
		}
		if res, body := e.download(t, auditor, cert.ReceiptURL); res.StatusCode != 200 || !bytes.Contains(body, []byte("CERTIFICATE_ISSUED")) {
			t.Fatalf("the certificate's seal receipt: %d %s", res.StatusCode, body)
		}

		// Back to ITAM: the CSV, then write-back closes everything.
		var report struct {
			DispositionReport struct {
				CSVURL string `json:"csvUrl"`
				Rows   []struct{ Serial string }
			}
		}
		e.ok(t, it, `query($id: ID!) { dispositionReport(filter: {orderId: $id}) { csvUrl rows { serial } } }`, map[string]any{"id": order}, &report)
		if len(report.DispositionReport.Rows) != 3 {
			t.Fatalf("dispositionReport = %+v", report.DispositionReport)
		}
		res, body := e.download(t, it, report.DispositionReport.CSVURL+"&bom=1")
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") || !bytes.HasPrefix(body, []byte("\ufeff")) {
			t.Fatalf("GET %s: %d %s %.200q", report.DispositionReport.CSVURL, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff")))).ReadAll()
		if err != nil || len(records) != 4 {
			t.Fatalf("CSV: %v\n%s", err, body)
		}
		col := map[string]int{}
		for i, name := range records[0] {
			col[name] = i
		}
		for _, r := range records[1:] {
			if r[col["install_status"]] != "7" || r[col["certificate_number"]] != cert.Number || r[col["disposal_date"]] == "" {
				t.Errorf("CSV row %v", r)
			}
			if strings.HasPrefix(r[col["disposal_reason"]], "=") {
				t.Errorf("a formula reached the CSV unneutralised: %q", r[col["disposal_reason"]])
			}
		}
		var written struct {
			ItamWriteBack struct {
				PickupOrder *struct {
					State string
					Lines []struct{ Serial, Status string }
				}
				UserErrors []userError
			}
		}
		e.ok(t, it, `mutation($in: ItamWriteBackInput!) { itamWriteBack(input: $in) { pickupOrder { state lines { serial status } } userErrors { code message } } }`,
			map[string]any{"in": map[string]any{"orderId": order}}, &written)
		if w := written.ItamWriteBack; w.PickupOrder == nil || w.PickupOrder.State != "CLOSED" {
			t.Fatalf("itamWriteBack = %+v", w)
		}
		for i := range 3 {
			var a struct{ Asset struct{ State string } }
			e.ok(t, auditor, `query($id: ID!) { asset(id: $id) { state } }`, map[string]any{"id": ids[i]}, &a)
			if a.Asset.State != "CLOSED" {
				t.Errorf("asset %s is %s after write-back, want CLOSED", serials[i], a.Asset.State)
			}
		}

		// Another vendor of the tenant, and another tenant, find no trace of
		// the certificate.
		rival := e.vendorToken(t, e.a, e.engageVendor(t, e.a, "BlueCycle", "2099-12-31"))
		for who, tok := range map[string]string{"another vendor": rival, "another tenant": e.b.tokens[domain.RoleAdmin]} {
			var seen struct {
				Certificate  *struct{ ID string }
				Certificates struct{ Edges []struct{} }
			}
			e.ok(t, tok, `query($id: ID!) { certificate(id: $id) { id } certificates { edges { cursor } } }`, map[string]any{"id": cert.ID}, &seen)
			if seen.Certificate != nil || len(seen.Certificates.Edges) != 0 {
				t.Errorf("%s sees the certificate: %+v", who, seen)
			}
			if res, _ := e.download(t, tok, cert.PdfURL); res.StatusCode != http.StatusNotFound {
				t.Errorf("%s downloads the certificate PDF: %d", who, res.StatusCode)
			}
		}
		if res, body := e.download(t, e.b.tokens[domain.RoleIT], report.DispositionReport.CSVURL); res.StatusCode != 200 || bytes.Count(body, []byte("\n")) != 1 {
			t.Errorf("another tenant's IT downloads the disposition CSV: %d %s", res.StatusCode, body)
		}

		// The vendor heard nothing of the tenant's log.
		hearsNothing(t, map[string]*wsClient{"the vendor's technician": vendorFeed})

		// Nothing the vendor can read names the employee or carries HR data.
		for _, doc := range []string{
			`query($id: ID!) { pickupOrder(id: $id) { id vendor { name } state note lines { serial assetTag make model category bearsData status statusReason
				outcome { kind detail } sanitization { technicianName validatorName } }
				dock { missing { serial } discrepancies { serial detail } resolutions { reason line { serial } } }
				receipt { missing { serial } discrepancies { serial detail } resolutions { reason } }
				signatures { role name } certificate { number order { id } } } }`,
			`{ pickupOrders { edges { node { id lines { serial model } } } } certificates { edges { node { number vendor { name } } } } }`,
		} {
			r := e.do(t, tech, doc, map[string]any{"id": order})
			if len(r.Errors) > 0 || strings.Contains(string(r.raw), "Employee DS-E") || strings.Contains(string(r.raw), "@acme") || strings.Contains(string(r.raw), "Engineering") {
				t.Fatalf("the vendor's view: %s", r.raw)
			}
		}
		if strings.Contains(text, "Employee DS-E") {
			t.Errorf("the certificate names the employee")
		}
	})
}

// allCodes reports whether every error has code.
func allCodes(errs []userError, code string) bool {
	for _, e := range errs {
		if e.Code != code {
			return false
		}
	}
	return len(errs) > 0
}

// mentionsAll reports whether each serial appears in some error's message.
func mentionsAll(errs []userError, serials []string) bool {
	for _, s := range serials {
		if !slices.ContainsFunc(errs, func(e userError) bool { return strings.Contains(e.Message, s) }) {
			return false
		}
	}
	return true
}

// TestDispositionVendorIsolation: every vendor operation on an order of
// another vendor of the tenant, or by a vendor of another tenant (the same
// organisation engaged there), is NOT_FOUND and changes nothing; a vendor
// lists only its own orders.
func TestDispositionVendorIsolation(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		green := e.engageVendor(t, e.a, "GreenCycle", "2099-12-31")
		blue := e.engageVendor(t, e.a, "BlueCycle", "2099-12-31")
		ids, serials := e.retiredAssets(t, e.a, "VI", 2)
		mine := e.openPickup(t, e.a, green, ids[:1])
		theirs := e.openPickup(t, e.a, blue, ids[1:])
		greenTech, blueTech := e.vendorToken(t, e.a, green), e.vendorToken(t, e.a, blue)
		elsewhere := e.vendorToken(t, e.b, e.engageVendor(t, e.b, "GreenCycle", "2099-12-31"))

		scan := map[string]any{"serial": serials[0]}
		ops := []struct {
			name, doc string
			in        map[string]any
		}{
			{"pickupDockScan", dockScanDoc, map[string]any{"orderId": mine, "scan": scan}},
			{"pickupDockScanBulk", `mutation($in: PickupDockScanBulkInput!) { pickupDockScanBulk(input: $in) { userErrors { field code message } } }`,
				map[string]any{"orderId": mine, "scans": []map[string]any{scan}}},
			{"pickupReceiptScan", `mutation($in: PickupReceiptScanInput!) { pickupReceiptScan(input: $in) { userErrors { field code message } } }`,
				map[string]any{"orderId": mine, "scan": scan}},
			{"pickupReceiptScanBulk", `mutation($in: PickupReceiptScanBulkInput!) { pickupReceiptScanBulk(input: $in) { userErrors { field code message } } }`,
				map[string]any{"orderId": mine, "scans": []map[string]any{scan}}},
			{"pickupReceiptConfirm", `mutation($in: PickupReceiptConfirmInput!) { pickupReceiptConfirm(input: $in) { userErrors { field code message } } }`,
				map[string]any{"orderId": mine}},
			{"sanitizationRecord", sanitizeDoc, sanitization(mine, serials[0], "PURGE")},
			{"dispositionOutcomeRecord", outcomeDoc, map[string]any{"orderId": mine, "serial": serials[0], "outcome": "RECYCLED",
				"downstreamVendor": "MetalWorks", "downstreamCertification": "R2v3 1"}},
			{"certificateIssue", certificateIssueDoc, map[string]any{"orderId": mine}},
		}
		for who, tok := range map[string]string{"another vendor of the tenant": blueTech, "the same organisation in another tenant": elsewhere} {
			for _, op := range ops {
				t.Run(op.name+"/"+who, func(t *testing.T) {
					var out map[string]payload
					e.ok(t, tok, op.doc, map[string]any{"in": op.in}, &out)
					if errs := out[op.name].UserErrors; len(errs) != 1 || errs[0].Code != "NOT_FOUND" {
						t.Fatalf("%s on another vendor's order = %+v, want NOT_FOUND", op.name, errs)
					}
				})
			}
		}
		if d := e.dock(t, e.a.tokens[domain.RoleIT], mine); len(d.Dock.Discrepancies) != 0 || d.Dock.Counted != 0 {
			t.Fatalf("refused scans left a trace: %+v", d)
		}
		var own struct {
			PickupDockScan struct{ Scan *struct{ Result string } }
		}
		e.ok(t, greenTech, dockScanDoc, map[string]any{"in": map[string]any{"orderId": mine, "scan": scan}}, &own)
		if sc := own.PickupDockScan.Scan; sc == nil || sc.Result != "MATCHED" {
			t.Fatalf("the order's own vendor scanning: %+v, want MATCHED", sc)
		}
		for tok, want := range map[string]string{greenTech: mine, blueTech: theirs} {
			var list struct {
				PickupOrders struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			e.ok(t, tok, `{ pickupOrders { edges { node { id } } } }`, nil, &list)
			if edges := list.PickupOrders.Edges; len(edges) != 1 || edges[0].Node.ID != want {
				t.Errorf("a vendor lists %+v, want only its order %s", edges, want)
			}
		}
	})
}

// TestConstantStatementsPerPickupList: listing pickup orders with their
// vendor, manifest lines (with sanitization records and outcomes),
// signatures and certificate costs the same number of SQL statements for 3
// orders as for 12 (dataloaders, no N+1). The phase reports (count, dock,
// receipt) are computed per order and are left out: they are for reading
// one order.
func TestConstantStatementsPerPickupList(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		vendor := e.engageVendor(t, e.a, "GreenCycle", "2099-12-31")
		ids, _ := e.retiredAssets(t, e.a, "CS", 24)
		for i := 0; i < len(ids); i += 2 {
			e.openPickup(t, e.a, vendor, ids[i:i+2])
		}
		doc := `query($n: Int!) { pickupOrders(first: $n) { edges { node { id state vendor { name certifications { scheme } }
			lines { serial status outcome { kind } sanitization { method } } signatures { name } certificate { number } } } } }`
		count := func(n int) int64 {
			best := int64(-1)
			for range 5 {
				before := e.queries.Load()
				var out struct{ PickupOrders struct{ Edges []struct{} } }
				e.ok(t, e.a.tokens[domain.RoleIT], doc, map[string]any{"n": n}, &out)
				if len(out.PickupOrders.Edges) != n {
					t.Fatalf("got %d orders, want %d", len(out.PickupOrders.Edges), n)
				}
				if c := e.queries.Load() - before; best < 0 || c < best {
					best = c
				}
			}
			return best
		}
		small, large := count(3), count(12)
		switch {
		case large-small >= 12-3:
			t.Fatalf("3 orders cost %d statements, 12 cost %d: N+1", small, large)
		case small != large && !raceDetector:
			t.Fatalf("3 orders cost %d statements, 12 cost %d: a loader does not batch", small, large)
		}
		t.Logf("statements per pickup order list: %d", large)
	})
}
