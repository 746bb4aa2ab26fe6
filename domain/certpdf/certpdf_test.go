package certpdf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
)

var issued = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

const testDigest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// bigDocument is a certificate of n lines with non-ASCII names, long
// techniques and every outcome.
func bigDocument(n int) *domain.CertificateDocument {
	doc := &domain.CertificateDocument{
		Number:        "CERT-2026-000042",
		CertificateID: "Q2VydGlmaWNhdGU6MDFKUA",
		TenantName:    "Bäckerei Müller GmbH",
		Vendor: domain.CertificateVendor{
			Name:         "Écologie Recyclage SàRL",
			ContactEmail: "certs@ecologie.example",
			Certifications: []domain.Certification{
				{Scheme: domain.SchemeR2v3, Number: "R2-123456", ExpiresOn: time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)},
				{Scheme: domain.SchemeNAIDAAA, Number: "NAID-9876", ExpiresOn: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)},
			},
		},
		OrderID:     "UGlja3VwT3JkZXI6MDFKUEFCQ0RFRkdI",
		ScheduledOn: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC),
		PickedUpAt:  time.Date(2026, 2, 2, 14, 5, 0, 0, time.UTC),
		ReceivedAt:  time.Date(2026, 2, 3, 8, 0, 0, 0, time.UTC),
		IssuedAt:    issued,
		IssuedBy:    "Zoë Lefèvre",
		Signatures: []domain.CertificateSignature{
			{Role: domain.SignerTechnician, Name: "José Groß", SignedAt: time.Date(2026, 2, 2, 14, 4, 0, 0, time.UTC),
				ImageSHA256: strings.Repeat("ab", 32)},
			{Role: domain.SignerStaff, Name: "Jürgen Weiß", SignedAt: time.Date(2026, 2, 2, 14, 5, 0, 0, time.UTC),
				ImageSHA256: strings.Repeat("cd", 32)},
		},
		Digest: testDigest,
		Seal: domain.CertificateSeal{
			EventID:    "Q3VzdG9keUV2ZW50OjAxSlBaWlo",
			EventSeq:   4711,
			LogOrigin:  "custody.log/0b8f5c1e-acme",
			ReceiptURL: "https://custody.example/receipts/Q3VzdG9keUV2ZW50OjAxSlBaWlo",
		},
	}
	outcomes := []struct {
		kind   domain.OutcomeKind
		detail string
	}{
		{domain.OutcomeReused, ""},
		{domain.OutcomeRemarketed, "Sold to Refurb Direct Ltd (GB)"},
		{domain.OutcomeExported, "Sold to Ñandú Computación S.A. (AR)"},
		{domain.OutcomeRecycled, "Recycled by Metallverwertung Süd (R2v3 R2-555)"},
		{domain.OutcomeDestroyed, ""},
	}
	for i := range n {
		sanitized := issued.Add(-time.Duration(n-i) * time.Hour)
		validated := sanitized.Add(30 * time.Minute)
		o := outcomes[i%len(outcomes)]
		l := domain.CertificateLine{
			Serial:      fmt.Sprintf("SN%06d-X", i+1),
			AssetTag:    fmt.Sprintf("BM-%05d", i+1),
			Make:        "Lenovo",
			Model:       "ThinkPad T14s Gen 4",
			Category:    "LAPTOP",
			BearsData:   i%7 != 0,
			Outcome:     o.kind,
			OutcomeAt:   issued.Add(-time.Hour),
			Technician:  "François Dupré",
			Validator:   "Łukasz Żółć",
			ValidatedAt: &validated,
		}
		if l.BearsData {
			l.Method = domain.SanitizePurge
			l.Technique = "ATA Sanitize Block Erase"
			if o.kind == domain.OutcomeDestroyed {
				l.Method = domain.SanitizeDestroy
				l.Technique = "shred to 2 mm particles"
			}
			if i%11 == 0 {
				// Long enough to exceed the cell's line cap.
				l.Technique = strings.Repeat("cryptographic erase of the self-encrypting drive's media encryption key, ", 8)
			}
			l.Tool = "Blancco Drive Eraser"
			l.ToolVersion = "7.9.1"
			l.VerificationMethod = "full read-back"
			l.VerificationResult = domain.VerificationPassed
			l.SanitizedAt = &sanitized
		} else {
			l.ValidatedAt = nil
			l.Validator = ""
			l.Technician = ""
		}
		if o.detail != "" {
			l.OutcomeDetail = o.detail
		}
		doc.Lines = append(doc.Lines, l)
	}
	return doc
}

func render(t *testing.T, doc *domain.CertificateDocument) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, doc); err != nil {
		t.Fatalf("Render: %v", err)
	}
	out := buf.Bytes()
	if !bytes.HasPrefix(out, []byte("%PDF-")) || !bytes.Contains(out[max(0, len(out)-32):], []byte("%%EOF")) {
		t.Fatalf("output is not a complete PDF (%d bytes)", len(out))
	}
	return out
}

// pdfText extracts the text of a PDF with pdftotext -layout (poppler-utils).
// Without pdftotext the test skips, except in CI where it must be installed.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext not found: CI must install poppler-utils")
		}
		t.Skip("pdftotext not found (install poppler-utils): skipping the PDF text checks")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "certificate.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-layout", "-enc", "UTF-8", in, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}

func TestRenderLargeCertificate(t *testing.T) {
	doc := bigDocument(250)
	text := pdfText(t, render(t, doc))

	for _, l := range doc.Lines {
		if n := strings.Count(text, l.Serial); n != 1 {
			t.Errorf("serial %s appears %d times, want once", l.Serial, n)
		}
	}
	for _, want := range []string{
		Title,
		"Certificate No. " + doc.Number,
		testDigest,
		doc.Vendor.Name,
		doc.TenantName,
		"José Groß",
		"Jürgen Weiß",
		"Zoë Lefèvre",
		strings.Repeat("ab", 32), // the signature image hash, unbroken
		"R2-123456",
		"EXPIRED", // the NAID AAA certificate expired before the issue date
		doc.OrderID,
		doc.Seal.EventID,
		doc.Seal.LogOrigin,
		doc.Seal.ReceiptURL,
		"4711",
		"custody verify receipt.json --key keys.json",
		`"digest"`,
		"Page 1 of",
		// Ł is not in Windows-1252: printed as '?', the rest kept.
		"?ukasz ?ó??",
		"...", // the long technique is cut visibly
	} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}

	pages := strings.Split(strings.TrimRight(text, "\f\n"), "\f")
	if len(pages) < 5 {
		t.Fatalf("%d pages for 250 lines, want a table spread over several pages", len(pages))
	}
	serialRE := regexp.MustCompile(`SN\d{6}-X`)
	for i, p := range pages {
		footer := "Page " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(pages))
		if !strings.Contains(p, footer) || !strings.Contains(p, "Certificate No. "+doc.Number) {
			t.Errorf("page %d lacks its footer %q with the certificate number", i+1, footer)
		}
		if serialRE.MatchString(p) && !(strings.Contains(p, "Serial") && strings.Contains(p, "Asset tag") &&
			strings.Contains(p, "Outcome")) {
			t.Errorf("page %d has serial rows but no table header", i+1)
		}
	}
}

func TestRenderEmptyDocument(t *testing.T) {
	doc := &domain.CertificateDocument{Number: "CERT-EMPTY", TenantName: "Acme", IssuedAt: issued}
	text := pdfText(t, render(t, doc))
	for _, want := range []string{"no assets", "Certificate No. CERT-EMPTY", "Page 1 of", "not sealed"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	for _, doc := range []*domain.CertificateDocument{bigDocument(40), {Number: "X"}} {
		a, b := render(t, doc), render(t, doc)
		if !bytes.Equal(a, b) {
			t.Errorf("certificate %q: two renderings differ", doc.Number)
		}
	}
}

func TestRenderNil(t *testing.T) {
	if err := Render(&bytes.Buffer{}, nil); err == nil {
		t.Fatal("Render(nil) succeeded")
	}
}

func TestEnc(t *testing.T) {
	r := newRenderer(&domain.CertificateDocument{})
	for _, tc := range []struct{ in, want string }{
		{"plain ASCII", "plain ASCII"},
		{"é ü ß", "\xe9 \xfc \xdf"},
		{"e\u0301", "\xe9"}, // decomposed: normalised first
		{"€ – “x”", "\x80 \x96 \x93x\x94"},
		{"Łódź", "?\xf3d?"},
		{"日本", "??"},
		{"😀", "?"},
		{"a\tb\rc", "a b c"},
		{"line\nbreak", "line\nbreak"},
		{"bad \xff byte", "bad ? byte"},
	} {
		if got := r.enc(tc.in); got != tc.want {
			t.Errorf("enc(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWrapStaysInsideCell(t *testing.T) {
	r := newRenderer(&domain.CertificateDocument{})
	r.pdf.SetFont(fontFamily, "", tableFontSize)
	const w = 20.0
	avail := w - 2*r.pdf.GetCellMargin()
	for _, tc := range []struct {
		name    string
		in      string
		limit   int
		lines   int
		cutMark bool
	}{
		{"short", "Purge", 6, 1, false},
		{"empty", "", 6, 1, false},
		{"words", "ATA Sanitize Block Erase with verification", 6, 3, false},
		{"one long word", strings.Repeat("X", 60), 6, 0, false},
		{"newline", "full read-back\nPassed", 6, 2, false},
		{"capped", strings.Repeat("overwrite pass ", 40), 3, 3, true},
		{"capped long word", strings.Repeat("Z", 500), 2, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := r.wrap(tc.in, w, tc.limit)
			if tc.lines > 0 && len(lines) != tc.lines {
				t.Errorf("%d lines %q, want %d", len(lines), lines, tc.lines)
			}
			if len(lines) > tc.limit {
				t.Errorf("%d lines, over the limit %d", len(lines), tc.limit)
			}
			for _, l := range lines {
				if wd := r.pdf.GetStringWidth(l); wd > avail+1e-9 {
					t.Errorf("line %q is %.2f mm wide, cell holds %.2f", l, wd, avail)
				}
			}
			if cut := strings.HasSuffix(lines[len(lines)-1], "..."); cut != tc.cutMark {
				t.Errorf("last line %q: cut mark %v, want %v", lines[len(lines)-1], cut, tc.cutMark)
			}
		})
	}
}

func TestTotals(t *testing.T) {
	lines := []domain.CertificateLine{
		{Outcome: domain.OutcomeRecycled, BearsData: true, Method: domain.SanitizePurge, VerificationResult: domain.VerificationPassed},
		{Outcome: domain.OutcomeRecycled, BearsData: true, Method: domain.SanitizeClear, VerificationResult: domain.VerificationFailed},
		{Outcome: domain.OutcomeDestroyed, BearsData: true, Method: domain.SanitizeDestroy},
		{Outcome: domain.OutcomeReused},
		{Outcome: "", BearsData: true},
	}
	check := func(name string, got [][]string, want map[string]string) {
		t.Helper()
		seen := map[string]string{}
		for _, row := range got {
			seen[row[0]] = row[1]
		}
		for k, v := range want {
			if seen[k] != v {
				t.Errorf("%s: %q = %q, want %q (rows %q)", name, k, seen[k], v, got)
			}
		}
	}
	check("outcomes", outcomeTotals(lines), map[string]string{"Recycled": "2", "Destroyed": "1", "Reused": "1",
		"Exported": "0", "No outcome recorded": "1", "Total": "5"})
	check("methods", methodTotals(lines), map[string]string{"Clear": "1", "Purge": "1", "Destroy": "1",
		"Not applicable (bears no data)": "1", "DATA-BEARING, NO RECORD": "1", "Total": "5"})
	check("verification", verificationTotals(lines), map[string]string{"Passed": "1", "FAILED": "1",
		"Not verified": "1", "Not sanitized": "2", "Total": "5"})
}

func TestSerialColumnsFillThePage(t *testing.T) {
	r := newRenderer(&domain.CertificateDocument{})
	tb := &table{cols: serialColumns}
	if d := tb.width() - r.contentW; d > 0.01 || d < -0.01 {
		t.Fatalf("serial columns are %.1f mm wide, the page holds %.1f", tb.width(), r.contentW)
	}
}

// longValue is an n-character value without spaces, every position
// distinct enough that a dropped or repeated piece shows.
func longValue(prefix string, n int) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; b.Len() < n; i++ {
		b.WriteString(strconv.FormatInt(int64(i), 36))
		b.WriteByte("ABCDEFGHJK"[i%10])
	}
	return b.String()[:n]
}

// TestRenderFullSerials: a certificate lists every serial and asset tag
// whole, however long (a serial may have 200 characters; the cap of other
// cells does not apply), and a value too long for a page at the table's
// font shrinks rather than being cut or looping over pages.
func TestRenderFullSerials(t *testing.T) {
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext not found: CI must install poppler-utils")
		}
		t.Skip("pdftotext not found (install poppler-utils)")
	}
	for _, c := range []struct {
		name          string
		serial, tag   string
		maxPages      int
		wantShrunkRow bool
	}{
		{"200-character serial", longValue("SER", 200), "TAG-1", 3, false},
		{"200-character serial and tag", longValue("SER", 200), longValue("TAG", 200), 3, false},
		{"200 characters with spaces", strings.Repeat("SER 1234567 ", 17)[:200], "TAG-1", 3, false},
		{"taller than a page at the table's font", longValue("HUGE", 3000), longValue("TAG", 200), 3, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := bigDocument(2)
			doc.Lines[1].Serial, doc.Lines[1].AssetTag = c.serial, c.tag
			out := render(t, doc)

			dir := t.TempDir()
			in := filepath.Join(dir, "certificate.pdf")
			if err := os.WriteFile(in, out, 0o600); err != nil {
				t.Fatal(err)
			}
			// -raw keeps the content stream's order, in which a cell's
			// lines are drawn one after the other.
			raw, err := exec.Command(bin, "-raw", "-enc", "UTF-8", in, "-").CombinedOutput()
			if err != nil {
				t.Fatalf("pdftotext: %v\n%s", err, raw)
			}
			text := strings.Join(strings.Fields(string(raw)), "")
			for _, want := range []string{c.serial, c.tag} {
				want = strings.Join(strings.Fields(want), "")
				if !strings.Contains(text, want) {
					t.Errorf("PDF text lacks the whole value %.40q... (%d characters)", want, len(want))
				}
			}
			if strings.Contains(text, c.serial[:20]+"...") {
				t.Error("the serial is cut with ...")
			}
			if pages := bytes.Count(out, []byte("/Type /Page\n")); pages == 0 || pages > c.maxPages {
				t.Errorf("%d pages, want at most %d", pages, c.maxPages)
			}

			r := newRenderer(doc)
			tbl := &table{cols: serialColumns, x: marginLeft, fontSize: tableFontSize, lineH: tableLineH, maxLines: maxCellLines}
			tbl.maxRowH = r.limitY() - marginTop - runningHeaderH - r.rowHeight(tbl, tbl.titles(), rowHeader)
			cells, h := r.cellLines(tbl, lineCells(2, doc.Lines[1]), rowBody)
			if h > tbl.maxRowH {
				t.Errorf("row is %.1f mm tall, a page holds %.1f", h, tbl.maxRowH)
			}
			if shrunk := cells[1].size < tableFontSize; shrunk != c.wantShrunkRow {
				t.Errorf("serial cell at %.2f pt (table %.2f pt); want shrunk %v", cells[1].size, tableFontSize, c.wantShrunkRow)
			}
		})
	}
}
