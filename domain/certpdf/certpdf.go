// Package certpdf renders a vendor's certificate of sanitization and
// destruction (domain.CertificateDocument) as a PDF an auditor can accept:
// who certifies what for whom, one line per serial with its NIST SP 800-88
// sanitization and its final outcome, totals, the pickup signatures, and how
// to verify the certificate against the tenant's custody log.
//
// The PDF is a rendering, not the evidence: the certificate's digest is the
// SHA-256 of the canonical document, sealed in the custody log, so a PDF
// rendered again (or by a newer renderer) verifies the same way.
package certpdf

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"golang.org/x/text/unicode/norm"

	"github.com/custody-dev/custody/domain"
)

// Title is the document title printed on the first page and in the PDF
// metadata.
const Title = "Certificate of Sanitization and Destruction"

// verifyCommand is the CLI command that checks a receipt offline (see
// cmd/custody: `custody verify RECEIPT.json --key KEYFILE`).
const verifyCommand = "custody verify receipt.json --key keys.json"

// Page geometry (A4 landscape, millimetres): the serial table has fourteen
// columns and needs the width.
const (
	marginLeft   = 10.0
	marginTop    = 10.0
	marginRight  = 10.0
	marginBottom = 16.0 // room for the footer
	footerY      = -12.0
	fontFamily   = "Helvetica"
	monoFamily   = "Courier"
)

// Table typography: small enough that a row of the serial table usually
// fits one or two lines, large enough to read when printed.
const (
	tableFontSize = 6.5
	tableLineH    = 2.9
	tablePad      = 0.7
	// maxCellLines caps a cell so that one absurdly long value cannot make
	// a row taller than a page; the cut is marked with "...". Columns marked
	// full (the serial and asset tag, which a certificate must state whole)
	// are never cut: they shrink their font instead (minFullFontSize).
	maxCellLines = 6
	// minFullFontSize is the smallest font a full cell shrinks to so that
	// its row fits a page; at 2 pt a serial column holds thousands of
	// characters, far beyond the 200 a serial may have.
	minFullFontSize = 2.0
	// runningHeaderH is the height of the running title atop pages 2 on.
	runningHeaderH = 6.0
)

// Render writes doc as a PDF to w. The output depends only on doc: the PDF
// creation and modification dates are doc.IssuedAt, so the same document
// renders the same bytes. Text is set in the PDF core fonts (no font files),
// whose encoding is Windows-1252: characters outside it print as '?'.
func Render(w io.Writer, doc *domain.CertificateDocument) error {
	if doc == nil {
		return errors.New("certpdf: render: nil certificate document")
	}
	r := newRenderer(doc)
	r.cover()
	r.summary()
	r.serialTable()
	r.signatures()
	r.verification()
	if err := r.pdf.Output(w); err != nil {
		return fmt.Errorf("certpdf: render certificate %q: %w", doc.Number, err)
	}
	return nil
}

// renderer holds the state of one rendering.
type renderer struct {
	pdf *fpdf.Fpdf
	doc *domain.CertificateDocument
	// tr is fpdf's UTF-8 to Windows-1252 translator; it turns an unmapped
	// rune into '.', which would silently change a name, so enc asks it one
	// rune at a time and prints '?' instead.
	tr func(string) string
	// table, while a table is being drawn, makes every new page repeat its
	// header row.
	table *table
	// contentW is the width between the margins.
	contentW float64
}

func newRenderer(doc *domain.CertificateDocument) *renderer {
	pdf := fpdf.New("L", "mm", "A4", "")
	r := &renderer{pdf: pdf, doc: doc}
	r.tr = pdf.UnicodeTranslatorFromDescriptor("")
	pageW, _ := pdf.GetPageSize()
	r.contentW = pageW - marginLeft - marginRight

	// Deterministic output: fixed dates and sorted resource catalogs.
	stamp := doc.IssuedAt.UTC()
	if stamp.IsZero() {
		stamp = time.Unix(0, 0).UTC()
	}
	pdf.SetCreationDate(stamp)
	pdf.SetModificationDate(stamp)
	pdf.SetCatalogSort(true)

	pdf.SetTitle(Title+" "+doc.Number, true)
	pdf.SetSubject("Pickup order "+doc.OrderID+" for "+doc.TenantName, true)
	pdf.SetAuthor(doc.Vendor.Name, true)
	pdf.SetCreator("Custody", true)

	pdf.SetMargins(marginLeft, marginTop, marginRight)
	pdf.SetAutoPageBreak(true, marginBottom)
	pdf.AliasNbPages("")
	pdf.SetDrawColor(150, 150, 150)
	pdf.SetLineWidth(0.1)
	pdf.SetHeaderFunc(r.pageHeader)
	pdf.SetFooterFunc(r.pageFooter)
	pdf.AddPage()
	return r
}

// enc converts UTF-8 text to the Windows-1252 bytes of the core fonts.
// Text is NFC-normalised first so that a decomposed "é" (e + combining
// accent, as some keyboards and OSes produce) still prints as "é". Control
// characters other than a newline become spaces.
func (r *renderer) enc(s string) string {
	s = norm.NFC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range s {
		switch {
		case c == '\n':
			b.WriteByte('\n')
		case c < 0x20 || c == 0x7f:
			b.WriteByte(' ')
		case c < 0x80:
			b.WriteByte(byte(c))
		default:
			if t := r.tr(string(c)); len(t) == 1 && t != "." {
				b.WriteString(t)
			} else {
				b.WriteByte('?')
			}
		}
	}
	return b.String()
}

// fit encodes s for one line of width w, cutting it with "..." when it does
// not fit.
func (r *renderer) fit(s string, w float64) string {
	s = strings.ReplaceAll(r.enc(s), "\n", " ")
	avail := w - 2*r.pdf.GetCellMargin()
	if r.pdf.GetStringWidth(s) <= avail {
		return s
	}
	return r.ellipsis(s, avail)
}

// ellipsis shortens the encoded s until s + "..." fits avail.
func (r *renderer) ellipsis(s string, avail float64) string {
	for s != "" && r.pdf.GetStringWidth(s+"...") > avail {
		s = s[:len(s)-1]
	}
	return strings.TrimRight(s, " ") + "..."
}

// wrap encodes s and breaks it into lines of cell width w in the current
// font (at spaces, or inside a word longer than the cell), at most limit
// lines, the last one cut with "..." when text was left out.
func (r *renderer) wrap(s string, w float64, limit int) []string {
	raw := r.pdf.SplitLines([]byte(r.enc(s)), w)
	if len(raw) == 0 {
		return []string{""}
	}
	lines := make([]string, len(raw))
	for i, l := range raw {
		lines[i] = string(l)
	}
	if limit > 0 && len(lines) > limit {
		lines = lines[:limit]
		lines[limit-1] = r.ellipsis(lines[limit-1], w-2*r.pdf.GetCellMargin())
	}
	return lines
}

// limitY is the lowest ordinate content may reach on a page.
func (r *renderer) limitY() float64 {
	_, pageH := r.pdf.GetPageSize()
	return pageH - marginBottom
}

// ensure starts a new page unless h millimetres fit below the current position.
func (r *renderer) ensure(h float64) {
	if r.pdf.GetY()+h > r.limitY() {
		r.pdf.AddPage()
	}
}

// pageHeader runs on every new page: a running title from page 2 on, and
// the header row of the table being drawn, if any.
func (r *renderer) pageHeader() {
	pdf := r.pdf
	if pdf.PageNo() > 1 {
		pdf.SetFont(fontFamily, "", 7.5)
		pdf.SetTextColor(90, 90, 90)
		half := r.contentW / 2
		pdf.CellFormat(half, 4, r.fit(Title+" \u00b7 No. "+r.doc.Number, half), "", 0, "L", false, 0, "")
		pdf.CellFormat(half, 4, r.fit(joinNonEmpty(" \u00b7 ", r.doc.TenantName, r.doc.Vendor.Name), half), "", 1, "R", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
		pdf.Ln(2)
	}
	if r.table != nil {
		r.drawRow(r.table, r.table.titles(), rowHeader)
	}
}

// pageFooter runs on every page: the certificate number and "Page n of N".
func (r *renderer) pageFooter() {
	pdf := r.pdf
	pdf.SetY(footerY)
	y := pdf.GetY()
	pdf.Line(marginLeft, y, marginLeft+r.contentW, y)
	pdf.SetFont(fontFamily, "", 7.5)
	pdf.SetTextColor(60, 60, 60)
	left := r.contentW * 0.75
	pdf.CellFormat(left, 5, r.fit(joinNonEmpty(" \u00b7 pickup order ", "Certificate No. "+r.doc.Number, r.doc.OrderID), left), "", 0, "L", false, 0, "")
	pdf.CellFormat(r.contentW-left, 5, "Page "+strconv.Itoa(pdf.PageNo())+" of {nb}", "", 0, "R", false, 0, "")
	pdf.SetTextColor(0, 0, 0)
}

// heading starts a section, on a new page if the heading and a little of
// what follows would not fit.
func (r *renderer) heading(title string) {
	r.pdf.Ln(3)
	r.ensure(18)
	r.pdf.SetFont(fontFamily, "B", 11)
	r.pdf.CellFormat(r.contentW, 6, r.fit(title, r.contentW), "B", 1, "L", false, 0, "")
	r.pdf.Ln(1.5)
}

// paragraph prints wrapped body text.
func (r *renderer) paragraph(s string) {
	r.pdf.SetFont(fontFamily, "", 8.5)
	r.pdf.MultiCell(r.contentW, 4.2, r.enc(s), "", "L", false)
}

// kvLabelW is the width of the labels of label/value lines.
const kvLabelW = 52.0

// kv prints a label and its (wrapped) value.
func (r *renderer) kv(label, value string, mono bool) {
	pdf := r.pdf
	r.ensure(4.5)
	pdf.SetX(marginLeft)
	pdf.SetFont(fontFamily, "B", 8.5)
	pdf.CellFormat(kvLabelW, 4.5, r.fit(label, kvLabelW), "", 0, "L", false, 0, "")
	if mono {
		pdf.SetFont(monoFamily, "", 8.5)
	} else {
		pdf.SetFont(fontFamily, "", 8.5)
	}
	if value == "" {
		value = "not recorded"
	}
	pdf.MultiCell(r.contentW-kvLabelW, 4.5, r.enc(value), "", "L", false)
}

// cover prints the title, the parties, the order and its dates, and the
// vendor's statement.
func (r *renderer) cover() {
	pdf, doc := r.pdf, r.doc
	pdf.SetFont(fontFamily, "B", 18)
	pdf.CellFormat(r.contentW, 9, Title, "", 1, "L", false, 0, "")
	pdf.SetFont(fontFamily, "B", 12)
	pdf.CellFormat(r.contentW, 7, r.fit("Certificate No. "+doc.Number, r.contentW), "", 1, "L", false, 0, "")
	pdf.Ln(2)

	r.kv("Customer", doc.TenantName, false)
	vendor := doc.Vendor.Name
	if doc.Vendor.ContactEmail != "" {
		vendor += " <" + doc.Vendor.ContactEmail + ">"
	}
	r.kv("Issuing vendor", vendor, false)
	r.kv("Vendor certifications", r.certifications(), false)
	r.kv("Pickup order", doc.OrderID, false)
	r.kv("Scheduled on", formatDate(doc.ScheduledOn), false)
	r.kv("Picked up at customer", formatDateTime(doc.PickedUpAt), false)
	r.kv("Received at vendor facility", formatDateTime(doc.ReceivedAt), false)
	r.kv("Issued on", formatDateTime(doc.IssuedAt), false)
	r.kv("Issued by", joinNonEmpty(" for ", doc.IssuedBy, doc.Vendor.Name), false)
	r.kv("Certificate ID", doc.CertificateID, false)
	pdf.Ln(2)
	r.paragraph(fmt.Sprintf("%s certifies that it took custody of the assets listed in this certificate under "+
		"pickup order %s of %s, and that each of them was sanitized or destroyed and disposed of as stated on "+
		"its line. Sanitization follows NIST SP 800-88 Rev. 2 (Clear, Purge, Destroy); each record names the "+
		"technique, the tool and its version, how the result was verified, the technician who attested it and "+
		"the second person who validated it.",
		orDefault(doc.Vendor.Name, "The vendor"), orDefault(doc.OrderID, "(unknown)"), orDefault(doc.TenantName, "the customer")))
}

// certifications lists the vendor's certifications, one a line, flagging
// any that had expired when the certificate was issued.
func (r *renderer) certifications() string {
	certs := r.doc.Vendor.Certifications
	if len(certs) == 0 {
		return "none on record"
	}
	lines := make([]string, 0, len(certs))
	for _, c := range certs {
		s := schemeName(c.Scheme) + " certificate " + orDefault(c.Number, "(no number)") +
			", valid through " + formatDate(c.ExpiresOn)
		if !r.doc.IssuedAt.IsZero() && !c.ExpiresOn.IsZero() && !c.ValidOn(r.doc.IssuedAt) {
			s += " (EXPIRED when this certificate was issued)"
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

// summary prints the totals by outcome, by sanitization method and by
// verification result, side by side. They complement the serial table.
func (r *renderer) summary() {
	lines := r.doc.Lines
	r.heading("Summary")
	bearing := 0
	for _, l := range lines {
		if l.BearsData {
			bearing++
		}
	}
	r.paragraph(fmt.Sprintf("Assets on this certificate: %d (data-bearing: %d). Every asset is listed by serial "+
		"number in the serial-level record below; these totals are derived from it.", len(lines), bearing))
	r.pdf.Ln(2)

	tables := []struct {
		t    *table
		rows [][]string
	}{
		{summaryTable("Outcome"), outcomeTotals(lines)},
		{summaryTable("NIST SP 800-88 method"), methodTotals(lines)},
		{summaryTable("Verification"), verificationTotals(lines)},
	}
	const gap = 8.0
	tallest := 0.0
	for _, st := range tables {
		h := r.rowHeight(st.t, st.t.titles(), rowHeader)
		for _, row := range st.rows {
			h += r.rowHeight(st.t, row, rowBody)
		}
		tallest = max(tallest, h)
	}
	r.ensure(tallest)
	top := r.pdf.GetY()
	x := marginLeft
	for _, st := range tables {
		st.t.x = x
		r.pdf.SetY(top)
		r.drawRow(st.t, st.t.titles(), rowHeader)
		for i, row := range st.rows {
			style := rowBody
			if i == len(st.rows)-1 {
				style = rowTotal
			}
			r.drawRow(st.t, row, style)
		}
		x += st.t.width() + gap
	}
	r.pdf.SetXY(marginLeft, top+tallest)
}

// summaryTable is a two-column totals table.
func summaryTable(what string) *table {
	return &table{
		cols:     []column{{title: what, width: 62}, {title: "Assets", width: 18, align: "R"}},
		fontSize: 8, lineH: 3.8, maxLines: 2,
	}
}

// outcomeOrder is the order outcomes are totalled in: reuse first, as the
// waste hierarchy ranks them.
var outcomeOrder = []domain.OutcomeKind{domain.OutcomeReused, domain.OutcomeRemarketed,
	domain.OutcomeExported, domain.OutcomeRecycled, domain.OutcomeDestroyed}

// outcomeTotals counts lines by outcome: every known outcome (zeros
// included, so an auditor sees that none was, say, exported), then any
// unknown ones, then the total.
func outcomeTotals(lines []domain.CertificateLine) [][]string {
	counts := map[domain.OutcomeKind]int{}
	for _, l := range lines {
		counts[l.Outcome]++
	}
	rows := make([][]string, 0, len(outcomeOrder)+2)
	for _, k := range outcomeOrder {
		rows = append(rows, []string{outcomeName(k), strconv.Itoa(counts[k])})
		delete(counts, k)
	}
	rows = append(rows, leftovers(counts, outcomeName)...)
	return append(rows, []string{"Total", strconv.Itoa(len(lines))})
}

// methodTotals counts lines by NIST SP 800-88 method, separating assets
// that bear no data from data-bearing assets with no record.
func methodTotals(lines []domain.CertificateLine) [][]string {
	counts := map[domain.SanitizationMethod]int{}
	noData, missing := 0, 0
	for _, l := range lines {
		switch {
		case l.Method != "":
			counts[l.Method]++
		case l.BearsData:
			missing++
		default:
			noData++
		}
	}
	rows := [][]string{}
	for _, m := range []domain.SanitizationMethod{domain.SanitizeClear, domain.SanitizePurge, domain.SanitizeDestroy} {
		rows = append(rows, []string{m.Title(), strconv.Itoa(counts[m])})
		delete(counts, m)
	}
	rows = append(rows, leftovers(counts, domain.SanitizationMethod.Title)...)
	rows = append(rows, []string{"Not applicable (bears no data)", strconv.Itoa(noData)})
	if missing > 0 {
		rows = append(rows, []string{"DATA-BEARING, NO RECORD", strconv.Itoa(missing)})
	}
	return append(rows, []string{"Total", strconv.Itoa(len(lines))})
}

// verificationTotals counts sanitized lines by verification result.
func verificationTotals(lines []domain.CertificateLine) [][]string {
	passed, failed, none, na := 0, 0, 0, 0
	for _, l := range lines {
		switch {
		case l.Method == "":
			na++
		case l.VerificationResult == domain.VerificationPassed:
			passed++
		case l.VerificationResult == domain.VerificationFailed:
			failed++
		default:
			none++
		}
	}
	rows := [][]string{{"Passed", strconv.Itoa(passed)}, {"FAILED", strconv.Itoa(failed)}}
	if none > 0 {
		rows = append(rows, []string{"Not verified", strconv.Itoa(none)})
	}
	rows = append(rows, []string{"Not sanitized", strconv.Itoa(na)})
	return append(rows, []string{"Total", strconv.Itoa(len(lines))})
}

// leftovers turns the counts of values outside the known set into rows,
// sorted so that the output is deterministic.
func leftovers[K ~string](counts map[K]int, name func(K) string) [][]string {
	keys := make([]K, 0, len(counts))
	for k, n := range counts {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	rows := make([][]string, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, []string{name(k), strconv.Itoa(counts[k])})
	}
	return rows
}

// serialColumns are the serial-level record's columns; their widths add
// up to the A4 landscape content width (277 mm).
var serialColumns = []column{
	{title: "#", width: 9, align: "R"},
	{title: "Serial", width: 23, full: true},
	{title: "Asset tag", width: 16, full: true},
	{title: "Make / model", width: 26},
	{title: "Category", width: 14},
	{title: "Data", width: 8},
	{title: "NIST 800-88", width: 12},
	{title: "Technique", width: 27},
	{title: "Tool / version", width: 21},
	{title: "Verification", width: 22},
	{title: "Sanitized", width: 15},
	{title: "Technician", width: 20},
	{title: "Validator", width: 22},
	{title: "Outcome", width: 42},
}

// serialTable prints one row per line, paginated with the header row
// repeated on every page.
func (r *renderer) serialTable() {
	lines := r.doc.Lines
	r.heading(fmt.Sprintf("Serial-level record (%s)", plural(len(lines), "asset", "assets")))
	if len(lines) == 0 {
		r.paragraph("This certificate lists no assets.")
		return
	}
	t := &table{cols: serialColumns, x: marginLeft, fontSize: tableFontSize, lineH: tableLineH, maxLines: maxCellLines}
	rows := make([][]string, len(lines))
	for i, l := range lines {
		rows[i] = lineCells(i+1, l)
	}
	r.drawTable(t, rows)
	r.pdf.Ln(1)
	r.pdf.SetFont(fontFamily, "I", 7)
	r.pdf.MultiCell(r.contentW, 3.4, "Data: whether the asset bears data. NIST 800-88: the sanitization category "+
		"(Clear, Purge, Destroy). Sanitized: when the sanitization was performed (UTC). Technician: who performed "+
		"and attested it; Validator: the second person who validated it, and when. Times are UTC.", "", "L", false)
}

// lineCells is the text of one serial table row.
func lineCells(n int, l domain.CertificateLine) []string {
	method, verification, sanitized := "-", "-", "-"
	switch {
	case l.Method != "":
		method = l.Method.Title()
		verification = joinNonEmpty("\n", l.VerificationMethod, verificationName(l.VerificationResult))
		if l.SanitizedAt != nil {
			sanitized = formatDate(*l.SanitizedAt) + " " + l.SanitizedAt.UTC().Format("15:04")
		}
	case l.BearsData:
		method = "NONE RECORDED"
	}
	validator := l.Validator
	if l.ValidatedAt != nil {
		validator = joinNonEmpty("\n", validator, formatDate(*l.ValidatedAt)+" "+l.ValidatedAt.UTC().Format("15:04"))
	}
	return []string{
		strconv.Itoa(n),
		l.Serial,
		l.AssetTag,
		joinNonEmpty(" ", l.Make, l.Model),
		l.Category,
		yesNo(l.BearsData),
		method,
		l.Technique,
		joinNonEmpty(" ", l.Tool, l.ToolVersion),
		verification,
		sanitized,
		l.Technician,
		validator,
		joinNonEmpty(": ", joinNonEmpty(" ", outcomeName(l.Outcome), optionalDate(l.OutcomeAt)), l.OutcomeDetail),
	}
}

// signatures prints the pickup confirmation's signatures.
func (r *renderer) signatures() {
	r.heading("Signatures")
	sigs := r.doc.Signatures
	if len(sigs) == 0 {
		r.paragraph("No pickup confirmation signatures are recorded for this order.")
	} else {
		r.paragraph("The pickup was confirmed at the customer's dock by both sides. The drawn signatures are kept in " +
			"the custody log; their SHA-256 identifies them.")
		r.pdf.Ln(1)
		t := &table{
			cols: []column{
				{title: "Role", width: 40},
				{title: "Name", width: 65},
				{title: "Signed at (UTC)", width: 40},
				// 64 hex digits in 8 pt Courier take 108.4 mm, plus the cell margins.
				{title: "Signature image SHA-256", width: 115, mono: true},
			},
			x: marginLeft, fontSize: 8, lineH: 3.8, maxLines: maxCellLines,
		}
		rows := make([][]string, len(sigs))
		for i, s := range sigs {
			rows[i] = []string{roleName(s.Role), s.Name, formatDateTime(s.SignedAt), orDefault(s.ImageSHA256, "-")}
		}
		r.drawTable(t, rows)
	}
	r.pdf.Ln(1.5)
	r.paragraph("Each asset's sanitization was attested by the technician and validated by the second person named " +
		"on its line of the serial-level record. This certificate was issued by " +
		joinNonEmpty(" for ", orDefault(r.doc.IssuedBy, "(not recorded)"), r.doc.Vendor.Name) +
		" on " + formatDateTime(r.doc.IssuedAt) + ".")
}

// verification prints the digest, the seal and how to check them.
func (r *renderer) verification() {
	doc := r.doc
	r.heading("How to verify this certificate")
	r.kv("Document digest (SHA-256)", orDefault(doc.Digest, "-"), true)
	r.pdf.SetFont(fontFamily, "I", 7.5)
	r.pdf.SetX(marginLeft + kvLabelW)
	r.pdf.MultiCell(r.contentW-kvLabelW, 3.6, "The SHA-256 of the canonical certificate document, not of this PDF file: "+
		"any rendering of the same certificate has this digest.", "", "L", false)
	if doc.Seal.EventID == "" {
		r.pdf.Ln(1)
		r.paragraph("This certificate is not sealed in a custody log: it cannot be verified independently.")
		return
	}
	r.kv("Sealed by custody event", doc.Seal.EventID, true)
	r.kv("Event sequence number", strconv.FormatInt(doc.Seal.EventSeq, 10), false)
	r.kv("Custody log origin", doc.Seal.LogOrigin, true)
	r.kv("Receipt URL", doc.Seal.ReceiptURL, true)
	r.pdf.Ln(2)
	url := orDefault(doc.Seal.ReceiptURL, "<receipt URL>")
	steps := []struct{ text, code string }{
		{"Download the receipt of the sealing event with an API token of the customer's that may read receipts " +
			"(the customer's administrators, IT staff and auditors; not the vendor's), for example:",
			`curl -H "Authorization: Bearer $TOKEN" -o receipt.json "` + url + `"`},
		{"Obtain the customer's public custody log keys (GET /ledger/keys with such a token, or `custody key list` " +
			"from the customer's administrator; preferably from the customer directly) and save them as keys.json.", ""},
		{"Verify the receipt offline with those keys. It must report VALID for event sequence " +
			strconv.FormatInt(doc.Seal.EventSeq, 10) + " (CERTIFICATE_ISSUED) in the custody log " +
			orDefault(doc.Seal.LogOrigin, "named above") + ":", verifyCommand},
		{"Check that the receipt's event details \"digest\" (event.details.digest in receipt.json) equals the document " +
			"digest printed above. If it does, this certificate's content is the one the vendor sealed in the log.", ""},
	}
	for i, s := range steps {
		r.ensure(9)
		r.pdf.SetFont(fontFamily, "B", 8.5)
		r.pdf.SetX(marginLeft)
		r.pdf.CellFormat(6, 4.2, strconv.Itoa(i+1)+".", "", 0, "L", false, 0, "")
		r.pdf.SetFont(fontFamily, "", 8.5)
		r.pdf.MultiCell(r.contentW-6, 4.2, r.enc(s.text), "", "L", false)
		if s.code != "" {
			r.pdf.SetFont(monoFamily, "", 8)
			r.pdf.SetX(marginLeft + 10)
			r.pdf.MultiCell(r.contentW-10, 4, r.enc(s.code), "", "L", false)
		}
		r.pdf.Ln(0.8)
	}
}

// column is one column of a table.
type column struct {
	title string
	width float64
	// align is "L" (default), "C" or "R".
	align string
	// mono sets the column in Courier (hashes, identifiers).
	mono bool
	// full cells wrap without the table's line cap: their text is printed
	// whole, in a smaller font when the row would not fit a page.
	full bool
}

// table is a grid whose cells wrap.
type table struct {
	cols     []column
	x        float64
	fontSize float64
	lineH    float64
	maxLines int
	// maxRowH, when set, is the tallest a body row may be: what a page
	// holds below its running title and the header row. Full cells shrink
	// their font to stay within it.
	maxRowH float64
}

func (t *table) titles() []string {
	out := make([]string, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.title
	}
	return out
}

func (t *table) width() float64 {
	w := 0.0
	for _, c := range t.cols {
		w += c.width
	}
	return w
}

// rowStyle is how a row is drawn.
type rowStyle int

const (
	rowBody rowStyle = iota
	rowBodyShaded
	rowHeader
	rowTotal
)

// setCellFont selects the font of a cell of column c in a row of style s,
// at size points.
func (r *renderer) setCellFont(c column, s rowStyle, size float64) {
	family, style := fontFamily, ""
	if c.mono && s != rowHeader {
		family = monoFamily
	}
	if s == rowHeader || s == rowTotal {
		style = "B"
	}
	r.pdf.SetFont(family, style, size)
}

// cell is one wrapped cell: its lines, font size and line height.
type cell struct {
	lines []string
	size  float64
	lineH float64
}

// height is the cell's text height.
func (c cell) height() float64 { return float64(len(c.lines)) * c.lineH }

// cellLines wraps every cell of a row in its column's font and returns the
// cells and the row's height. A capped cell stops at the table's maxLines;
// a full cell keeps every line, its font shrinking (down to
// minFullFontSize, so the loop ends) until the row fits t.maxRowH.
func (r *renderer) cellLines(t *table, cells []string, s rowStyle) ([]cell, float64) {
	out := make([]cell, len(t.cols))
	h := t.lineH
	for i, c := range t.cols {
		text := ""
		if i < len(cells) {
			text = cells[i]
		}
		size, lineH, limit := t.fontSize, t.lineH, t.maxLines
		full := c.full && s != rowHeader
		if full {
			limit = 0
		}
		for {
			r.setCellFont(c, s, size)
			out[i] = cell{lines: r.wrap(text, c.width, limit), size: size, lineH: lineH}
			if !full || t.maxRowH <= 0 || out[i].height()+2*tablePad <= t.maxRowH || size <= minFullFontSize {
				break
			}
			scale := max(0.85, minFullFontSize/size)
			size, lineH = size*scale, lineH*scale
		}
		h = max(h, out[i].height())
	}
	return out, h + 2*tablePad
}

// rowHeight is the height of a row once wrapped.
func (r *renderer) rowHeight(t *table, cells []string, s rowStyle) float64 {
	_, h := r.cellLines(t, cells, s)
	return h
}

// drawTable draws a header row and the rows, breaking pages between rows
// only, with the header repeated at the top of each new page.
func (r *renderer) drawTable(t *table, rows [][]string) {
	header := r.rowHeight(t, t.titles(), rowHeader)
	t.maxRowH = r.limitY() - marginTop - runningHeaderH - header
	first := header
	if len(rows) > 0 {
		first += r.rowHeight(t, rows[0], rowBody)
	}
	r.ensure(first)
	r.drawRow(t, t.titles(), rowHeader)
	r.table = t
	for i, row := range rows {
		style := rowBody
		if i%2 == 1 {
			style = rowBodyShaded
		}
		r.ensure(r.rowHeight(t, row, style))
		r.drawRow(t, row, style)
	}
	r.table = nil
}

// drawRow draws one row at the current ordinate and moves below it. The
// caller makes sure it fits the page: a row never exceeds maxLines lines,
// and full cells shrink to t.maxRowH, what a fresh page holds.
func (r *renderer) drawRow(t *table, cells []string, s rowStyle) {
	pdf := r.pdf
	wrapped, h := r.cellLines(t, cells, s)
	y := pdf.GetY()
	x := t.x
	if x == 0 {
		x = marginLeft
	}
	switch s {
	case rowHeader:
		pdf.SetFillColor(225, 228, 232)
	case rowBodyShaded, rowTotal:
		pdf.SetFillColor(244, 245, 247)
	}
	for i, c := range t.cols {
		style := "D"
		if s != rowBody {
			style = "FD"
		}
		pdf.Rect(x, y, c.width, h, style)
		r.setCellFont(c, s, wrapped[i].size)
		align := c.align
		if align == "" {
			align = "L"
		}
		for k, line := range wrapped[i].lines {
			pdf.SetXY(x, y+tablePad+float64(k)*wrapped[i].lineH)
			pdf.CellFormat(c.width, wrapped[i].lineH, line, "", 0, align, false, 0, "")
		}
		x += c.width
	}
	pdf.SetXY(marginLeft, y+h)
}

// formatDate prints a calendar date (UTC), "-" when unknown.
func formatDate(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02")
}

// optionalDate prints a calendar date (UTC), nothing when unknown.
func optionalDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatDate(t)
}

// formatDateTime prints a time to the minute in UTC, "-" when unknown.
func formatDateTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

func outcomeName(k domain.OutcomeKind) string {
	switch k {
	case domain.OutcomeReused:
		return "Reused"
	case domain.OutcomeRemarketed:
		return "Remarketed"
	case domain.OutcomeExported:
		return "Exported"
	case domain.OutcomeRecycled:
		return "Recycled"
	case domain.OutcomeDestroyed:
		return "Destroyed"
	case "":
		return "No outcome recorded"
	}
	return string(k)
}

func verificationName(v domain.VerificationResult) string {
	switch v {
	case domain.VerificationPassed:
		return "Passed"
	case domain.VerificationFailed:
		return "FAILED"
	case "":
		return "not verified"
	}
	return string(v)
}

func schemeName(s domain.CertificationScheme) string {
	switch s {
	case domain.SchemeR2v3:
		return "R2v3"
	case domain.SchemeEStewards:
		return "e-Stewards"
	case domain.SchemeNAIDAAA:
		return "NAID AAA"
	}
	return string(s)
}

func roleName(role domain.SignerRole) string {
	switch role {
	case domain.SignerTechnician:
		return "Vendor technician"
	case domain.SignerStaff:
		return "Customer staff"
	}
	return string(role)
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// joinNonEmpty joins the non-empty parts with sep.
func joinNonEmpty(sep string, parts ...string) string {
	kept := parts[:0:0]
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// plural is n with the noun in the number it takes.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
