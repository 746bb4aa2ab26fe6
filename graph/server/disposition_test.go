package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/itamcsv"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/graph/server"
	"github.com/custody-dev/custody/tenancy"
)

// These tests pin the HTTP behaviour of the ITAD download endpoints around
// the domain: parameter parsing, when an error can still be an HTTP status
// and when it must abort the transfer, and the absolute receipt link. The
// domain is a fake so that each failure can be placed exactly (before the
// first row, after a flush); authentication and the role policy are real.
// The domain path itself is covered end to end in graph/e2e.

// csvFlushRows mirrors the handler's flush interval (500 rows, the domain's
// page): the cases around it check that no row is lost or repeated at a
// flush, and that an error after one aborts a response already under way.
const csvFlushRows = 500

// dispositionCall is one call the HTTP layer made into the fake.
type dispositionCall struct {
	// tenant is the caller's tenant found in the call's context.
	tenant string
	filter domain.DispositionFilter
	certID string
	// doc is the document the fake returned, which the handler completes.
	doc *domain.CertificateDocument
}

// fakeDisposition stands in for the domain service: it streams canned rows
// and returns canned documents, and records what the HTTP layer asked for.
type fakeDisposition struct {
	// stream emits the report's rows through emit; nil is an empty report.
	stream func(emit func(domain.DispositionRow) error) error
	// document answers CertificateDocument; nil answers ErrNotFound.
	document func(certID string) (*domain.CertificateDocument, error)

	mu    sync.Mutex
	calls []dispositionCall
}

// CertificateDocument returns the canned document, recording the call.
func (f *fakeDisposition) CertificateDocument(ctx context.Context, certID string) (*domain.CertificateDocument, error) {
	var doc *domain.CertificateDocument
	err := fmt.Errorf("certificate document: %w", domain.ErrNotFound)
	if f.document != nil {
		doc, err = f.document(certID)
	}
	f.record(ctx, dispositionCall{certID: certID, doc: doc})
	return doc, err
}

// DispositionRows records the filter, then streams the canned rows.
func (f *fakeDisposition) DispositionRows(ctx context.Context, filter domain.DispositionFilter, fn func(domain.DispositionRow) error) error {
	f.record(ctx, dispositionCall{filter: filter})
	if f.stream == nil {
		return nil
	}
	return f.stream(fn)
}

func (f *fakeDisposition) record(ctx context.Context, c dispositionCall) {
	c.tenant, _ = tenancy.TenantID(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// recorded returns the calls so far. The handler has finished with them by
// the time the client has read the response.
func (f *fakeDisposition) recorded() []dispositionCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// dispositionEnv is a real token store and role policy with one member per
// role, in tenants of their own.
type dispositionEnv struct {
	db      *storage.DB
	az      *authz.Authorizer
	members map[domain.Role]member
}

func newDispositionEnv(t *testing.T, roles ...domain.Role) *dispositionEnv {
	t.Helper()
	az, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	env := &dispositionEnv{db: openStore(t, server.StartConfig{DataDir: t.TempDir(), Migrate: true}), az: az,
		members: map[domain.Role]member{}}
	for _, r := range append(roles, domain.RoleAdmin) {
		env.members[r] = newMember(t, env.db, r)
	}
	return env
}

// token is the bearer token of the member holding role.
func (e *dispositionEnv) token(role domain.Role) string { return e.members[role].issued.Plaintext }

// serve runs a server over fake; tune adjusts the configuration first.
func (e *dispositionEnv) serve(t *testing.T, fake server.Disposition, tls bool, tune func(*server.Config)) *httptest.Server {
	t.Helper()
	cfg := server.Config{GraphQL: probe, Authenticator: e.db, Disposition: fake, Authorizer: e.az}
	if tune != nil {
		tune(&cfg)
	}
	var ts *httptest.Server
	if tls {
		ts = httptest.NewTLSServer(server.New(cfg))
	} else {
		ts = httptest.NewServer(server.New(cfg))
	}
	t.Cleanup(ts.Close)
	return ts
}

// download is one GET of a download endpoint as a client sees it.
type download struct {
	res  *http.Response // nil when no response arrived
	body []byte
	// err is the transfer's failure: the request's, or the body's.
	err error
}

// getDownload GETs url with a bearer token (none when empty) and header;
// a "Host" entry sets the request's Host. Each request has a connection of
// its own: on a reused one, Go's transport would silently retry a GET whose
// connection closed before any response byte, calling the fake twice.
func getDownload(t *testing.T, ts *httptest.Server, rawURL, token string, header map[string]string) download {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	transport := ts.Client().Transport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true
	defer transport.CloseIdleConnections()
	res, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return download{err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return download{res: res, body: body, err: err}
}

// mustComplete fails unless d is a whole response with status.
func (d download) mustComplete(t *testing.T, status int) {
	t.Helper()
	if d.err != nil {
		t.Fatalf("transfer failed: %v", d.err)
	}
	if d.res.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", d.res.StatusCode, status, d.body)
	}
}

// mustRefuse fails unless d is a complete JSON error response with status
// and code, and returns its message. A refusal is never an attachment.
func (d download) mustRefuse(t *testing.T, status int, code string) string {
	t.Helper()
	d.mustComplete(t, status)
	var body errorBody
	if err := json.Unmarshal(d.body, &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Extensions.Code != code {
		t.Fatalf("body %s, want one %s error", d.body, code)
	}
	if ct := d.res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cd := d.res.Header.Get("Content-Disposition"); cd != "" {
		t.Errorf("a refusal is offered as a file: Content-Disposition %q", cd)
	}
	return body.Errors[0].Message
}

// csvURL is the report's address with query q.
func csvURL(ts *httptest.Server, q url.Values) string {
	return ts.URL + "/reports/disposition.csv?" + q.Encode()
}

// reportRow is the i-th row of a canned report; every third has an outcome
// so that the rows fill most columns.
func reportRow(i int) domain.DispositionRow {
	orderID := "0195f2a0-0000-7000-8000-000000000001"
	l := &domain.PickupLine{OrderID: orderID, AssetID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d", i)).String(),
		Serial: fmt.Sprintf("SN%06d", i), AssetTag: fmt.Sprintf("IT-%06d", i), Make: "Dell", Model: "Latitude 7440",
		Category: "LAPTOP", BearsData: true}
	if i%3 == 0 {
		l.Outcome = &domain.Outcome{Kind: domain.OutcomeRecycled, DownstreamVendor: "Metallverwertung Süd",
			RecordedAt: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	}
	return domain.DispositionRow{Line: l, Order: &domain.PickupOrder{ID: orderID}, VendorName: "Écologie Recyclage",
		Certificate: &domain.Certificate{Number: "COS-20260314-9F3A61C2"}}
}

func reportRows(n int) []domain.DispositionRow {
	rows := make([]domain.DispositionRow, n)
	for i := range rows {
		rows[i] = reportRow(i)
	}
	return rows
}

// streamRows emits rows, then returns failure.
func streamRows(rows []domain.DispositionRow, failure error) func(func(domain.DispositionRow) error) error {
	return func(emit func(domain.DispositionRow) error) error {
		for _, r := range rows {
			if err := emit(r); err != nil {
				return err
			}
		}
		return failure
	}
}

// csvFile is the file itamcsv writes for rows: what a download of them must
// deliver byte for byte.
func csvFile(t *testing.T, bom bool, rows []domain.DispositionRow) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := itamcsv.NewWriter(&b, bom)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// serials reads the serial_number column of a CSV body.
func serials(t *testing.T, body []byte) []string {
	t.Helper()
	records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v", err)
	}
	if len(records) == 0 || !slices.Equal(records[0], itamcsv.Columns()) {
		t.Fatalf("CSV does not start with the header: %q", records)
	}
	col := slices.Index(itamcsv.Columns(), "serial_number")
	out := make([]string, 0, len(records)-1)
	for _, rec := range records[1:] {
		out = append(out, rec[col])
	}
	return out
}

func checkCSVHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Type":           "text/csv; charset=utf-8",
		"Content-Disposition":    `attachment; filename="disposition.csv"`,
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func date(s string) *time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return &d
}

// sameDate reports whether got is want, both nil or the same instant in UTC.
func sameDate(got, want *time.Time) bool {
	if got == nil || want == nil {
		return got == want
	}
	return got.Equal(*want) && got.Location() == time.UTC
}

func TestDispositionCSVParameters(t *testing.T) {
	env := newDispositionEnv(t)
	orderID := uuid.Must(uuid.NewV7()).String()
	order := graph.EncodeID("PickupOrder", orderID)
	tests := []struct {
		name   string
		query  url.Values
		status int
		// For a 200: the filter the domain must receive, and whether the
		// file starts with a byte order mark. matchesNothing: the order id
		// must be one no order has (not dropped, which would widen the
		// report to the whole date range).
		want           domain.DispositionFilter
		matchesNothing bool
		bom            bool
		// For a 400: the parameter the message must name, and a value it
		// must not echo in full.
		param, notEchoed string
	}{
		{name: "order", query: url.Values{"order": {order}}, status: http.StatusOK,
			want: domain.DispositionFilter{OrderID: orderID}},
		{name: "order re-encoded as padded standard base64",
			query:  url.Values{"order": {base64.StdEncoding.EncodeToString([]byte("PickupOrder:" + orderID))}},
			status: http.StatusOK, want: domain.DispositionFilter{OrderID: orderID}},
		{name: "date range", query: url.Values{"from": {"2026-03-01"}, "to": {"2026-04-01"}}, status: http.StatusOK,
			want: domain.DispositionFilter{From: date("2026-03-01"), To: date("2026-04-01")}},
		{name: "order and date range", query: url.Values{"order": {order}, "from": {"2026-03-01"}, "to": {"2026-04-01"}},
			status: http.StatusOK, want: domain.DispositionFilter{OrderID: orderID, From: date("2026-03-01"), To: date("2026-04-01")}},
		{name: "from only is the domain's to judge", query: url.Values{"from": {"2024-02-29"}}, status: http.StatusOK,
			want: domain.DispositionFilter{From: date("2024-02-29")}},
		{name: "empty parameters are absent", query: url.Values{"order": {""}, "from": {""}, "to": {""}, "bom": {""}},
			status: http.StatusOK},
		{name: "an asset's id matches no order", query: url.Values{"order": {graph.EncodeID("Asset", orderID)}},
			status: http.StatusOK, matchesNothing: true},
		{name: "a malformed order id matches no order", query: url.Values{"order": {"not-an-id"}, "from": {"2026-03-01"}, "to": {"2026-04-01"}},
			status: http.StatusOK, matchesNothing: true, want: domain.DispositionFilter{From: date("2026-03-01"), To: date("2026-04-01")}},
		{name: "bom=1", query: url.Values{"order": {order}, "bom": {"1"}}, status: http.StatusOK,
			want: domain.DispositionFilter{OrderID: orderID}, bom: true},
		{name: "bom=true", query: url.Values{"order": {order}, "bom": {"true"}}, status: http.StatusOK,
			want: domain.DispositionFilter{OrderID: orderID}, bom: true},
		{name: "bom=0", query: url.Values{"order": {order}, "bom": {"0"}}, status: http.StatusOK,
			want: domain.DispositionFilter{OrderID: orderID}},
		{name: "bom=false", query: url.Values{"order": {order}, "bom": {"false"}}, status: http.StatusOK,
			want: domain.DispositionFilter{OrderID: orderID}},
		{name: "from not a date", query: url.Values{"from": {"March 1st"}, "to": {"2026-04-01"}},
			status: http.StatusBadRequest, param: "from"},
		{name: "to not a calendar day", query: url.Values{"from": {"2026-02-01"}, "to": {"2026-02-30"}},
			status: http.StatusBadRequest, param: "to"},
		{name: "from a timestamp", query: url.Values{"from": {"2026-03-01T00:00:00Z"}, "to": {"2026-04-01"}},
			status: http.StatusBadRequest, param: "from"},
		{name: "a long bad value is not echoed", query: url.Values{"to": {strings.Repeat("9", 300)}},
			status: http.StatusBadRequest, param: "to", notEchoed: strings.Repeat("9", 300)},
		{name: "bom=yes", query: url.Values{"order": {order}, "bom": {"yes"}}, status: http.StatusBadRequest, param: "bom"},
		{name: "bom=2", query: url.Values{"order": {order}, "bom": {"2"}}, status: http.StatusBadRequest, param: "bom"},
		{name: "a bad parameter beside a bad order id", query: url.Values{"order": {"not-an-id"}, "bom": {"on"}},
			status: http.StatusBadRequest, param: "bom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeDisposition{}
			ts := env.serve(t, fake, false, nil)
			d := getDownload(t, ts, csvURL(ts, tt.query), env.token(domain.RoleAdmin), nil)
			calls := fake.recorded()
			if tt.status == http.StatusBadRequest {
				msg := d.mustRefuse(t, http.StatusBadRequest, "INVALID")
				if !strings.HasPrefix(msg, tt.param+" ") {
					t.Errorf("message %q does not name the parameter %s", msg, tt.param)
				}
				if tt.notEchoed != "" && strings.Contains(msg, tt.notEchoed) {
					t.Errorf("message echoes the whole %d-byte value", len(tt.notEchoed))
				}
				if len(calls) != 0 {
					t.Fatalf("the domain was asked for %+v despite a bad parameter", calls[0].filter)
				}
				return
			}
			d.mustComplete(t, tt.status)
			checkCSVHeaders(t, d.res.Header)
			if want := csvFile(t, tt.bom, nil); !bytes.Equal(d.body, want) {
				t.Errorf("body %q, want %q", d.body, want)
			}
			if len(calls) != 1 {
				t.Fatalf("%d calls to the domain, want 1", len(calls))
			}
			got := calls[0]
			if got.tenant != env.members[domain.RoleAdmin].tenant.ID {
				t.Errorf("the domain ran in tenant %q, want the caller's", got.tenant)
			}
			if !sameDate(got.filter.From, tt.want.From) || !sameDate(got.filter.To, tt.want.To) {
				t.Errorf("dates [%v, %v), want [%v, %v) in UTC", got.filter.From, got.filter.To, tt.want.From, tt.want.To)
			}
			if tt.matchesNothing {
				if _, err := uuid.Parse(got.filter.OrderID); got.filter.OrderID == "" || err == nil {
					t.Errorf("order filter %q, want one that matches no order", got.filter.OrderID)
				}
			} else if got.filter.OrderID != tt.want.OrderID {
				t.Errorf("order filter %q, want %q", got.filter.OrderID, tt.want.OrderID)
			}
		})
	}
}

func TestDispositionCSVErrorsBeforeRows(t *testing.T) {
	env := newDispositionEnv(t)
	query := url.Values{"from": {"2026-03-01"}, "to": {"2026-04-01"}}
	const leak = "pq: relation pickup_lines does not exist"
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		// message is what the client is told; logged, what the log must
		// hold (for a fault, the cause the client must not see).
		message, logged string
	}{
		{"user error", domain.UserErrors{{Field: []string{"from"}, Code: domain.CodeRequired,
			Message: "give an order, or a date range (from and to)"}},
			http.StatusBadRequest, "REQUIRED", "give an order, or a date range (from and to)", ""},
		{"the first of several user errors gives the code", domain.UserErrors{
			{Field: []string{"to"}, Code: domain.CodeInvalid, Message: "from must be before to"},
			{Field: []string{"orderId"}, Code: domain.CodeRequired, Message: "an order is required"}},
			http.StatusBadRequest, "INVALID", "from must be before to", ""},
		{"wrapped user error", fmt.Errorf("disposition report: %w", domain.UserErrors{
			{Field: []string{"orderId"}, Code: domain.CodeInvalid, Message: "at most 100 characters"}}),
			http.StatusBadRequest, "INVALID", "at most 100 characters", ""},
		{"store failure", fmt.Errorf("disposition report: list lines: %w", errors.New(leak)),
			http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal server error", leak},
		{"deadline", fmt.Errorf("disposition report: %w", context.DeadlineExceeded),
			http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal server error", "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			var mu sync.Mutex
			fake := &fakeDisposition{stream: streamRows(nil, tt.err)}
			ts := env.serve(t, fake, false, func(c *server.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
			})
			d := getDownload(t, ts, csvURL(ts, query), env.token(domain.RoleAdmin), nil)
			msg := d.mustRefuse(t, tt.status, tt.code)
			if !strings.Contains(msg, tt.message) {
				t.Errorf("message %q, want it to say %q", msg, tt.message)
			}
			if bytes.Contains(d.body, []byte("pq:")) || bytes.Contains(d.body, []byte("deadline")) {
				t.Errorf("the response leaks internals: %s", d.body)
			}
			mu.Lock()
			defer mu.Unlock()
			if tt.logged != "" && !strings.Contains(logs.String(), tt.logged) {
				t.Errorf("the cause %q is not logged:\n%s", tt.logged, logs.String())
			}
		})
	}
}

// TestDispositionCSVAbortsAfterRows: once rows have been written, an error
// cannot be a status any more; the client must see a failed transfer, never
// a clean file that silently lacks its tail.
func TestDispositionCSVAbortsAfterRows(t *testing.T) {
	env := newDispositionEnv(t)
	query := url.Values{"from": {"2026-03-01"}, "to": {"2026-04-01"}}
	storeDown := errors.New("disposition report: list lines: connection reset by peer")
	tests := []struct {
		name   string
		before int // rows emitted before the failure
		bom    bool
		// unwritable makes the row after those a row itamcsv refuses.
		unwritable bool
		err        error
		cause      string // in the log
	}{
		{name: "a few rows, still buffered", before: 3, err: storeDown, cause: "connection reset"},
		{name: "a few rows after a byte order mark", before: 3, bom: true, err: storeDown, cause: "connection reset"},
		{name: "just short of the first flush", before: csvFlushRows - 1, err: storeDown, cause: "connection reset"},
		{name: "right after the first flush", before: csvFlushRows, err: storeDown, cause: "connection reset"},
		{name: "in the third page", before: 2*csvFlushRows + 100, bom: true, err: storeDown, cause: "connection reset"},
		{name: "a user error after rows is no 400", before: csvFlushRows + 1, err: domain.UserErrors{
			{Field: []string{"from"}, Code: domain.CodeInvalid, Message: "late complaint"}}, cause: "late complaint"},
		{name: "the first row cannot be written", before: 0, unwritable: true, cause: "no pickup line"},
		{name: "a row after a flush cannot be written", before: csvFlushRows + 7, unwritable: true, cause: "no pickup line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			var mu sync.Mutex
			rows := reportRows(tt.before)
			emitted := rows
			if tt.unwritable {
				emitted = append(slices.Clone(rows), domain.DispositionRow{VendorName: "no line"})
			}
			fake := &fakeDisposition{stream: streamRows(emitted, tt.err)}
			ts := env.serve(t, fake, false, func(c *server.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
			})
			q := cloneQuery(query)
			if tt.bom {
				q.Set("bom", "1")
			}
			d := getDownload(t, ts, csvURL(ts, q), env.token(domain.RoleAdmin), nil)
			flushed := tt.before / csvFlushRows * csvFlushRows
			switch {
			case flushed == 0:
				// Nothing had been sent: the failure is a proper error
				// response, with none of the buffered rows.
				if d.err != nil || d.res.StatusCode != http.StatusInternalServerError || bytes.Contains(d.body, []byte("serial_number")) {
					t.Fatalf("failure before the first flush: status %v, error %v, body %q; want a clean 500", d.res, d.err, d.body)
				}
			case d.err == nil:
				t.Fatalf("status %d and a clean %d-byte body: the failure after %d rows is invisible to the client",
					d.res.StatusCode, len(d.body), tt.before)
			case d.res != nil:
				// The response had started: a 200 whose body breaks off.
				if d.res.StatusCode != http.StatusOK || !errors.Is(d.err, io.ErrUnexpectedEOF) {
					t.Fatalf("status %d, body error %v: want a 200 whose body ends with io.ErrUnexpectedEOF", d.res.StatusCode, d.err)
				}
				checkCSVHeaders(t, d.res.Header)
				if want := csvFile(t, tt.bom, rows[:flushed]); !bytes.HasPrefix(d.body, want) {
					t.Fatalf("the %d-byte partial body does not start with the %d flushed rows", len(d.body), flushed)
				}
			case flushed > 0:
				t.Fatalf("no response although %d rows were flushed: %v", flushed, d.err)
			}
			if n := len(fake.recorded()); n != 1 {
				t.Errorf("the report was read %d times, want 1", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(logs.String(), tt.cause) {
				t.Errorf("the cause %q of the abort is not logged:\n%s", tt.cause, logs.String())
			}
		})
	}
}

// cloneQuery copies q, so a case can add to a shared query.
func cloneQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

func TestDispositionCSVRows(t *testing.T) {
	env := newDispositionEnv(t)
	order := graph.EncodeID("PickupOrder", uuid.Must(uuid.NewV7()).String())
	tests := []struct {
		name string
		rows int
		bom  bool
	}{
		{"empty report", 0, false},
		{"empty report with a byte order mark", 0, true},
		{"one row", 1, false},
		{"one short of a flush", csvFlushRows - 1, false},
		{"exactly one flush", csvFlushRows, false},
		{"one past a flush", csvFlushRows + 1, true},
		{"two flushes", 2 * csvFlushRows, false},
		{"1,200 rows", 1200, false},
		{"1,200 rows with a byte order mark", 1200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := reportRows(tt.rows)
			fake := &fakeDisposition{stream: streamRows(rows, nil)}
			ts := env.serve(t, fake, false, nil)
			q := url.Values{"order": {order}}
			if tt.bom {
				q.Set("bom", "1")
			}
			d := getDownload(t, ts, csvURL(ts, q), env.token(domain.RoleAdmin), nil)
			d.mustComplete(t, http.StatusOK)
			checkCSVHeaders(t, d.res.Header)
			if got := bytes.HasPrefix(d.body, []byte("\ufeff")); got != tt.bom {
				t.Errorf("body starts with a byte order mark: %v, want %v", got, tt.bom)
			}
			got := serials(t, d.body)
			want := make([]string, len(rows))
			for i, r := range rows {
				want[i] = r.Line.Serial
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%d rows arrived, want %d in order (first difference at %d)", len(got), len(want), firstDifference(got, want))
			}
			if wantBody := csvFile(t, tt.bom, rows); !bytes.Equal(d.body, wantBody) {
				t.Fatalf("the %d-byte body is not the %d-byte file itamcsv writes for the rows", len(d.body), len(wantBody))
			}
		})
	}
}

func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// certificateDoc is a minimal certificate document sealed by event eventID.
func certificateDoc(certID, eventID string) *domain.CertificateDocument {
	return &domain.CertificateDocument{
		Number: "COS-20260314-9F3A61C2", CertificateID: certID, TenantName: "Acme",
		Vendor:   domain.CertificateVendor{Name: "Écologie Recyclage SàRL", ContactEmail: "certs@ecologie.example"},
		OrderID:  uuid.Must(uuid.NewV7()).String(),
		IssuedAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), IssuedBy: "Zoë Lefèvre",
		Digest: strings.Repeat("9f", 32),
		Seal:   domain.CertificateSeal{EventID: eventID, EventSeq: 42, LogOrigin: "custody.log/acme"},
	}
}

func TestCertificatePDF(t *testing.T) {
	env := newDispositionEnv(t)
	certID := uuid.Must(uuid.NewV7()).String()
	eventID := uuid.Must(uuid.NewV7()).String()
	cert := graph.EncodeID("Certificate", certID)
	const leak = "sql: database is closed"
	tests := []struct {
		name   string
		path   string
		err    error // the domain's answer; nil: the document
		status int
		code   string
		// asked: the domain is asked for the certificate.
		asked bool
	}{
		{name: "malformed id", path: "/certificates/not-an-id.pdf", status: http.StatusNotFound, code: "NOT_FOUND"},
		{name: "a pickup order's id", path: "/certificates/" + graph.EncodeID("PickupOrder", certID) + ".pdf",
			status: http.StatusNotFound, code: "NOT_FOUND"},
		{name: "no .pdf suffix", path: "/certificates/" + cert, status: http.StatusNotFound, code: "NOT_FOUND"},
		{name: "another suffix", path: "/certificates/" + cert + ".json", status: http.StatusNotFound, code: "NOT_FOUND"},
		{name: "suffix twice", path: "/certificates/" + cert + ".pdf.pdf", status: http.StatusNotFound, code: "NOT_FOUND"},
		{name: "unknown or invisible certificate", path: "/certificates/" + cert + ".pdf",
			err: fmt.Errorf("certificate document: %w", domain.ErrNotFound), status: http.StatusNotFound, code: "NOT_FOUND", asked: true},
		{name: "store failure", path: "/certificates/" + cert + ".pdf", err: errors.New(leak),
			status: http.StatusInternalServerError, code: "INTERNAL_SERVER_ERROR", asked: true},
		{name: "found", path: "/certificates/" + cert + ".pdf", status: http.StatusOK, asked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeDisposition{document: func(id string) (*domain.CertificateDocument, error) {
				if tt.err != nil {
					return nil, tt.err
				}
				return certificateDoc(id, eventID), nil
			}}
			ts := env.serve(t, fake, false, nil)
			d := getDownload(t, ts, ts.URL+tt.path, env.token(domain.RoleAdmin), nil)
			calls := fake.recorded()
			switch {
			case !tt.asked && len(calls) != 0:
				t.Fatalf("the domain was asked for %q", calls[0].certID)
			case tt.asked && (len(calls) != 1 || calls[0].certID != certID):
				t.Fatalf("calls %+v, want one for certificate %s", calls, certID)
			}
			if tt.status != http.StatusOK {
				d.mustRefuse(t, tt.status, tt.code)
				if bytes.Contains(d.body, []byte(leak)) {
					t.Errorf("the response leaks internals: %s", d.body)
				}
				return
			}
			d.mustComplete(t, http.StatusOK)
			for k, want := range map[string]string{
				"Content-Type":           "application/pdf",
				"Content-Disposition":    `attachment; filename="COS-20260314-9F3A61C2.pdf"`,
				"Cache-Control":          "no-store",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := d.res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if !bytes.HasPrefix(d.body, []byte("%PDF-")) || !bytes.Contains(d.body[max(0, len(d.body)-32):], []byte("%%EOF")) {
				t.Fatalf("the %d-byte body is not a complete PDF", len(d.body))
			}
			if calls[0].tenant != env.members[domain.RoleAdmin].tenant.ID {
				t.Errorf("the domain ran in tenant %q, want the caller's", calls[0].tenant)
			}
		})
	}
}

// TestCertificatePDFReceiptURL: the receipt link printed on a certificate is
// absolute, on the origin the caller used; forwarded headers count only
// from a trusted proxy, so a client cannot point the link elsewhere.
func TestCertificatePDFReceiptURL(t *testing.T) {
	env := newDispositionEnv(t)
	certID := uuid.Must(uuid.NewV7()).String()
	eventID := uuid.Must(uuid.NewV7()).String()
	path := "/certificates/" + graph.EncodeID("Certificate", certID) + ".pdf"
	forwarded := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "custody.example"}
	tests := []struct {
		name    string
		tls     bool
		proxies string
		header  map[string]string
		// origin is the expected scheme and host; {addr} is the server's
		// listening address.
		origin string
	}{
		{name: "direct", origin: "http://{addr}"},
		{name: "direct over TLS", tls: true, origin: "https://{addr}"},
		{name: "the Host the client used", header: map[string]string{"Host": "custody.internal:8080"},
			origin: "http://custody.internal:8080"},
		{name: "trusted proxy", proxies: "127.0.0.1", header: forwarded, origin: "https://custody.example"},
		{name: "trusted proxy network", proxies: "127.0.0.0/8, 10.0.0.0/8", header: forwarded, origin: "https://custody.example"},
		{name: "trusted proxy forwards the scheme only", proxies: "127.0.0.1",
			header: map[string]string{"X-Forwarded-Proto": "https"}, origin: "https://{addr}"},
		{name: "trusted proxy forwards the host only", proxies: "127.0.0.1",
			header: map[string]string{"X-Forwarded-Host": "custody.example:8443"}, origin: "http://custody.example:8443"},
		{name: "trusted proxy over TLS says http", tls: true, proxies: "127.0.0.1",
			header: map[string]string{"X-Forwarded-Proto": "http"}, origin: "http://{addr}"},
		{name: "untrusted peer", proxies: "10.0.0.0/8", header: forwarded, origin: "http://{addr}"},
		{name: "no trusted proxies", header: forwarded, origin: "http://{addr}"},
		{name: "unknown scheme from a trusted proxy", proxies: "127.0.0.1",
			header: map[string]string{"X-Forwarded-Proto": "javascript"}, origin: "http://{addr}"},
		{name: "forwarded host with a path", proxies: "127.0.0.1",
			header: map[string]string{"X-Forwarded-Host": "evil.example/receipts"}, origin: "http://{addr}"},
		{name: "forwarded host with user info", proxies: "127.0.0.1",
			header: map[string]string{"X-Forwarded-Host": "custody.example@evil.example"}, origin: "http://{addr}"},
		{name: "forwarded host with a backslash", proxies: "127.0.0.1",
			header: map[string]string{"X-Forwarded-Host": `evil.example\x`}, origin: "http://{addr}"},
		{name: "proxy chains: the first (client-facing) values count", proxies: "127.0.0.1",
			header: map[string]string{"X-Forwarded-Proto": "HTTPS, http", "X-Forwarded-Host": "custody.example, internal.lan"},
			origin: "https://custody.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxies, err := server.ParseTrustedProxies(tt.proxies)
			if err != nil {
				t.Fatal(err)
			}
			fake := &fakeDisposition{document: func(id string) (*domain.CertificateDocument, error) {
				return certificateDoc(id, eventID), nil
			}}
			ts := env.serve(t, fake, tt.tls, func(c *server.Config) { c.TrustedProxies = proxies })
			d := getDownload(t, ts, ts.URL+path, env.token(domain.RoleAdmin), tt.header)
			d.mustComplete(t, http.StatusOK)
			calls := fake.recorded()
			if len(calls) != 1 || calls[0].doc == nil {
				t.Fatalf("calls %+v, want one that returned a document", calls)
			}
			want := strings.ReplaceAll(tt.origin, "{addr}", ts.Listener.Addr().String()) +
				"/receipts/" + graph.EncodeID("CustodyEvent", eventID)
			if got := calls[0].doc.Seal.ReceiptURL; got != want {
				t.Fatalf("receipt URL %q, want %q", got, want)
			}
		})
	}
}

// TestDispositionDownloadPermissions: the downloads answer to the role
// policy of the GraphQL fields they mirror, before the domain is asked.
func TestDispositionDownloadPermissions(t *testing.T) {
	roles := []domain.Role{domain.RoleIT, domain.RoleAuditor, domain.RoleITADVendor, domain.RoleMailroom, domain.RoleHR}
	env := newDispositionEnv(t, roles...)
	certificate := "/certificates/" + graph.EncodeID("Certificate", uuid.Must(uuid.NewV7()).String()) + ".pdf"
	report := "/reports/disposition.csv?order=" + graph.EncodeID("PickupOrder", uuid.Must(uuid.NewV7()).String())
	tests := []struct {
		name   string
		role   domain.Role // "": no token
		path   string
		status int
		code   string
	}{
		{"certificate as admin", domain.RoleAdmin, certificate, http.StatusOK, ""},
		{"certificate as it", domain.RoleIT, certificate, http.StatusOK, ""},
		{"certificate as auditor", domain.RoleAuditor, certificate, http.StatusOK, ""},
		{"certificate as itad_vendor", domain.RoleITADVendor, certificate, http.StatusOK, ""},
		{"certificate as mailroom", domain.RoleMailroom, certificate, http.StatusForbidden, "FORBIDDEN"},
		{"certificate as hr", domain.RoleHR, certificate, http.StatusForbidden, "FORBIDDEN"},
		{"certificate without token", "", certificate, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"report as admin", domain.RoleAdmin, report, http.StatusOK, ""},
		{"report as it", domain.RoleIT, report, http.StatusOK, ""},
		{"report as auditor", domain.RoleAuditor, report, http.StatusOK, ""},
		{"report as itad_vendor", domain.RoleITADVendor, report, http.StatusForbidden, "FORBIDDEN"},
		{"report as mailroom", domain.RoleMailroom, report, http.StatusForbidden, "FORBIDDEN"},
		{"report as hr", domain.RoleHR, report, http.StatusForbidden, "FORBIDDEN"},
		{"report without token", "", report, http.StatusUnauthorized, "UNAUTHENTICATED"},
		// Refusal comes before parameter checks: a bad parameter tells a
		// caller without the right nothing either.
		{"bad report parameters as hr", domain.RoleHR, "/reports/disposition.csv?bom=maybe", http.StatusForbidden, "FORBIDDEN"},
	}
	eventID := uuid.Must(uuid.NewV7()).String()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeDisposition{document: func(id string) (*domain.CertificateDocument, error) {
				return certificateDoc(id, eventID), nil
			}}
			ts := env.serve(t, fake, false, nil)
			token := ""
			if tt.role != "" {
				token = env.token(tt.role)
			}
			d := getDownload(t, ts, ts.URL+tt.path, token, nil)
			calls := fake.recorded()
			if tt.status != http.StatusOK {
				msg := d.mustRefuse(t, tt.status, tt.code)
				if tt.status == http.StatusForbidden && !strings.Contains(msg, "Query.") {
					t.Errorf("message %q does not name the operation refused", msg)
				}
				if len(calls) != 0 {
					t.Fatalf("the domain was asked (%+v) for a refused caller", calls[0])
				}
				return
			}
			d.mustComplete(t, http.StatusOK)
			if len(calls) != 1 || calls[0].tenant != env.members[tt.role].tenant.ID {
				t.Fatalf("calls %+v, want one in the caller's tenant", calls)
			}
		})
	}
}

// TestDispositionCSVHead: a HEAD answers with the download's headers
// without reading the report, so a link checker cannot make the server
// stream a whole report for nothing; it is still authorized and validated.
func TestDispositionCSVHead(t *testing.T) {
	env := newDispositionEnv(t, domain.RoleIT, domain.RoleMailroom)
	tests := []struct {
		name   string
		role   domain.Role
		query  url.Values
		status int
	}{
		{"allowed", domain.RoleIT, url.Values{"from": {"2026-03-01"}, "to": {"2026-04-01"}}, http.StatusOK},
		{"bad parameters", domain.RoleIT, url.Values{"from": {"March"}}, http.StatusBadRequest},
		{"forbidden", domain.RoleMailroom, url.Values{"from": {"2026-03-01"}, "to": {"2026-04-01"}}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeDisposition{stream: streamRows(reportRows(3), nil)}
			ts := env.serve(t, fake, false, nil)
			req, err := http.NewRequest(http.MethodHead, csvURL(ts, tt.query), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+env.token(tt.role))
			res, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Fatalf("HEAD: status %d, want %d", res.StatusCode, tt.status)
			}
			if tt.status == http.StatusOK {
				checkCSVHeaders(t, res.Header)
			}
			if n := len(fake.recorded()); n != 0 {
				t.Errorf("HEAD read the report %d times", n)
			}
		})
	}
}
