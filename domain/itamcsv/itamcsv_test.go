package itamcsv

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
)

var recorded = time.Date(2026, 3, 14, 23, 30, 0, 0, time.FixedZone("CET", 3600)) // 22:30 UTC

func row(o *domain.Outcome, s *domain.SanitizationRecord) domain.DispositionRow {
	return domain.DispositionRow{
		Line: &domain.PickupLine{AssetID: "a1", OrderID: "o-line", Serial: "PF3ABC12", AssetTag: "ACME-0042",
			Make: "Lenovo", Model: "ThinkPad T14s", BearsData: true, Status: domain.LineReceived, Outcome: o},
		Order:        &domain.PickupOrder{ID: "o1"},
		Certificate:  &domain.Certificate{Number: "CERT-2026-0007"},
		VendorName:   "Écologie Recyclage",
		Sanitization: s,
	}
}

var purge = &domain.SanitizationRecord{Method: domain.SanitizePurge, Technique: "cryptographic erase"}

func TestColumns(t *testing.T) {
	want := []string{"asset_tag", "serial_number", "install_status", "substatus", "disposal_date", "disposal_reason",
		"certificate_number", "model", "vendor", "outcome", "sanitization_method", "order_id"}
	got := Columns()
	if !slices.Equal(got, want) {
		t.Fatalf("Columns() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if Columns()[0] != "asset_tag" {
		t.Fatal("Columns returns the package's own slice")
	}
}

func TestRecordMapping(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  domain.DispositionRow
		want []string
	}{
		{"reused", row(&domain.Outcome{Kind: domain.OutcomeReused, RecordedAt: recorded}, purge),
			[]string{"ACME-0042", "PF3ABC12", "7", "donated", "2026-03-14", "Reused as is", "CERT-2026-0007",
				"Lenovo ThinkPad T14s", "Écologie Recyclage", "REUSED", "PURGE", "o1"}},
		{"reused by a named recipient",
			row(&domain.Outcome{Kind: domain.OutcomeReused, Buyer: "Schule am Park", BuyerCountry: "DE", RecordedAt: recorded}, purge),
			[]string{"ACME-0042", "PF3ABC12", "7", "donated", "2026-03-14", "Reused as is by Schule am Park (DE)",
				"CERT-2026-0007", "Lenovo ThinkPad T14s", "Écologie Recyclage", "REUSED", "PURGE", "o1"}},
		{"remarketed", row(&domain.Outcome{Kind: domain.OutcomeRemarketed, Buyer: "Refurb Direct", BuyerCountry: "FR",
			RecordedAt: recorded}, purge),
			[]string{"ACME-0042", "PF3ABC12", "7", "sold", "2026-03-14", "Sold to Refurb Direct (FR)", "CERT-2026-0007",
				"Lenovo ThinkPad T14s", "Écologie Recyclage", "REMARKETED", "PURGE", "o1"}},
		{"remarketed, buyer unnamed", row(&domain.Outcome{Kind: domain.OutcomeRemarketed, RecordedAt: recorded}, purge),
			[]string{"ACME-0042", "PF3ABC12", "7", "sold", "2026-03-14", "Sold", "CERT-2026-0007",
				"Lenovo ThinkPad T14s", "Écologie Recyclage", "REMARKETED", "PURGE", "o1"}},
		{"exported", row(&domain.Outcome{Kind: domain.OutcomeExported, Buyer: "Y GmbH", BuyerCountry: "DE",
			RecordedAt: recorded}, purge),
			[]string{"ACME-0042", "PF3ABC12", "7", "sold", "2026-03-14", "Exported: sold to Y GmbH (DE)", "CERT-2026-0007",
				"Lenovo ThinkPad T14s", "Écologie Recyclage", "EXPORTED", "PURGE", "o1"}},
		{"recycled", row(&domain.Outcome{Kind: domain.OutcomeRecycled, DownstreamVendor: "X Metals",
			DownstreamCertification: "R2v3 123", RecordedAt: recorded}, purge),
			[]string{"ACME-0042", "PF3ABC12", "7", "disposed", "2026-03-14", "Recycled by X Metals (R2v3 123)",
				"CERT-2026-0007", "Lenovo ThinkPad T14s", "Écologie Recyclage", "RECYCLED", "PURGE", "o1"}},
		{"recycled, no downstream named", row(&domain.Outcome{Kind: domain.OutcomeRecycled, RecordedAt: recorded}, nil),
			[]string{"ACME-0042", "PF3ABC12", "7", "disposed", "2026-03-14", "Recycled", "CERT-2026-0007",
				"Lenovo ThinkPad T14s", "Écologie Recyclage", "RECYCLED", "", "o1"}},
		{"destroyed", row(&domain.Outcome{Kind: domain.OutcomeDestroyed, RecordedAt: recorded},
			&domain.SanitizationRecord{Method: domain.SanitizeDestroy, Technique: "shred"}),
			[]string{"ACME-0042", "PF3ABC12", "7", "disposed", "2026-03-14", "Destroyed (NIST 800-88 Destroy: shred)",
				"CERT-2026-0007", "Lenovo ThinkPad T14s", "Écologie Recyclage", "DESTROYED", "DESTROY", "o1"}},
		{"destroyed without a record", row(&domain.Outcome{Kind: domain.OutcomeDestroyed, RecordedAt: recorded}, nil),
			[]string{"ACME-0042", "PF3ABC12", "7", "disposed", "2026-03-14", "Destroyed", "CERT-2026-0007",
				"Lenovo ThinkPad T14s", "Écologie Recyclage", "DESTROYED", "", "o1"}},
		{"no outcome, certificate or order", domain.DispositionRow{Line: &domain.PickupLine{OrderID: "o-line",
			Serial: "S1", Status: domain.LineLost}},
			[]string{"", "S1", "", "", "", "", "", "", "", "", "", "o-line"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := record(tc.row)
			if err != nil {
				t.Fatalf("record: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("record =\n %q\nwant\n %q", got, tc.want)
			}
			if len(got) != len(Columns()) {
				t.Errorf("%d cells for %d columns", len(got), len(Columns()))
			}
		})
	}
}

func TestRecordRejects(t *testing.T) {
	for name, r := range map[string]domain.DispositionRow{
		"no line":         {},
		"unknown outcome": row(&domain.Outcome{Kind: "MELTED"}, nil),
	} {
		if _, err := record(r); err == nil {
			t.Errorf("%s: no error", name)
		}
		w, err := NewWriter(io.Discard, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(r); err == nil {
			t.Errorf("%s: Write accepted it", name)
		}
	}
}

func TestHeaderAndBOM(t *testing.T) {
	for _, tc := range []struct {
		bom    bool
		prefix string
	}{
		{false, "asset_tag,serial_number,install_status,substatus,disposal_date,disposal_reason,certificate_number,model,vendor,outcome,sanitization_method,order_id\n"},
		{true, "\xef\xbb\xbfasset_tag,serial_number,"},
	} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, tc.bom)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(buf.String(), tc.prefix) {
			t.Errorf("bom=%v: output %q does not start with %q", tc.bom, buf.String(), tc.prefix)
		}
		if !tc.bom && bytes.HasPrefix(buf.Bytes(), []byte("\xef\xbb\xbf")) {
			t.Error("a byte order mark was written without being asked for")
		}
	}
}

func TestSafeCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"PF3ABC12", "PF3ABC12"},
		{"=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"},
		{"+1+2", "'+1+2"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1:A2)", "'@SUM(A1:A2)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"a=1", "a=1"},
		{" =1", " =1"},
		{"'quoted", "'quoted"},
		{"Écologie", "Écologie"},
	} {
		if got := SafeCell(tc.in); got != tc.want {
			t.Errorf("SafeCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// readAll parses the writer's output, the byte order mark removed.
func readAll(t *testing.T, b []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil {
		t.Fatalf("read back: %v\n%s", err, b)
	}
	return recs
}

func TestRoundTrip(t *testing.T) {
	rows := []domain.DispositionRow{
		row(&domain.Outcome{Kind: domain.OutcomeRecycled, DownstreamVendor: `Müller "Metall", Süd`,
			DownstreamCertification: "e-Stewards 7", RecordedAt: recorded}, purge),
		row(&domain.Outcome{Kind: domain.OutcomeExported, Buyer: "Ñandú S.A.", BuyerCountry: "AR", RecordedAt: recorded}, nil),
		{Line: &domain.PickupLine{Serial: "S-2", OrderID: "o2"}},
	}
	rows[1].Certificate = nil
	var buf bytes.Buffer
	w, err := NewWriter(&buf, true)
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
	got := readAll(t, buf.Bytes())
	if len(got) != len(rows)+1 || !slices.Equal(got[0], Columns()) {
		t.Fatalf("read %d records, header %q", len(got), got[0])
	}
	for i, r := range rows {
		want, err := record(r)
		if err != nil {
			t.Fatal(err)
		}
		for j := range want {
			want[j] = SafeCell(want[j])
		}
		if !slices.Equal(got[i+1], want) {
			t.Errorf("record %d read back as\n %q\nwant\n %q", i+1, got[i+1], want)
		}
	}
	if got[2][6] != "" {
		t.Errorf("nil certificate gave certificate_number %q", got[2][6])
	}
	if got[2][10] != "" {
		t.Errorf("nil sanitization gave sanitization_method %q", got[2][10])
	}
}

func TestWriteNeutralisesEveryCell(t *testing.T) {
	r := row(&domain.Outcome{Kind: domain.OutcomeRemarketed, Buyer: "=cmd|' /C calc'!A0", RecordedAt: recorded}, purge)
	r.Line.Serial = "+SN1"
	r.Line.AssetTag = "-TAG"
	r.Line.Make = "@Evil"
	r.VendorName = "\tVendor"
	r.Certificate.Number = "line1\nline2"
	r.Order.ID = "=1+1"
	var buf bytes.Buffer
	w, err := NewWriter(&buf, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, buf.Bytes())[1]
	want := map[string]string{
		"asset_tag":          "'-TAG",
		"serial_number":      "'+SN1",
		"disposal_reason":    "Sold to =cmd|' /C calc'!A0", // not at the start: harmless
		"certificate_number": "line1 line2",
		"model":              "'@Evil ThinkPad T14s",
		"vendor":             "'\tVendor",
		"order_id":           "'=1+1",
	}
	for i, c := range Columns() {
		if v, ok := want[c]; ok && got[i] != v {
			t.Errorf("%s = %q, want %q", c, got[i], v)
		}
		if got[i] != "" && strings.ContainsRune("=+-@\t\r", rune(got[i][0])) {
			t.Errorf("%s = %q starts with a formula character", c, got[i])
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	if _, err := NewWriter(failingWriter{}, true); err == nil {
		t.Error("NewWriter with a BOM on a failing writer: no error")
	}
	w, err := NewWriter(failingWriter{}, false) // the header is buffered
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Flush on a failing writer: %v", err)
	}
}
