// Package exportcsv turns the rows of an export (domain.ExportRow, streamed
// by the domain service) into CSV, in the column profile asked for:
// Custody's own columns, or the shape a ServiceNow hardware-asset import or
// an SAP SuccessFactors equipment-return import expects. profiles.go lists
// every profile's columns and how each cell is filled.
//
// The writer streams: it holds one record at a time and reuses its
// buffers, so memory stays flat whatever the export's size. Cells are made
// safe for spreadsheets by csvsafe (formula characters quoted, one line
// per cell), as every CSV Custody writes.
//
// Formats: timestamps are UTC, RFC 3339 (with the fraction of a second
// the record has) in the DEFAULT profile and "YYYY-MM-DD HH:MM:SS" in the
// SERVICENOW profile (the format ServiceNow imports date-time fields in);
// calendar dates are YYYY-MM-DD. Booleans are "true" or "false". A record
// the row does not have (a nil pointer in domain.ExportRow) gives empty
// cells.
package exportcsv

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/csvsafe"
)

// ErrUnsupported is wrapped by the errors of Columns and NewWriter for a
// profile that does not shape the kind asked for (domain.ProfileKinds), or
// an unknown kind or profile.
var ErrUnsupported = errors.New("unsupported export kind and profile")

// Time layouts of the profiles.
const (
	// layoutDefault is RFC 3339 with the fraction of a second the record
	// has: a log export must state the times that were sealed, to the
	// microsecond.
	layoutDefault = time.RFC3339Nano
	// layoutServiceNow is how ServiceNow imports a date-time field
	// (glide_date_time), read as UTC by an import set whose time zone is
	// UTC.
	layoutServiceNow = time.DateTime
	// layoutDate is a calendar date.
	layoutDate = time.DateOnly
)

// Columns returns the header of an export of kind in profile, in order. The
// caller may modify it. It fails with ErrUnsupported when the profile does
// not shape that kind.
func Columns(kind domain.ExportKind, profile domain.ExportProfile) ([]string, error) {
	cols, err := columnsOf(kind, profile)
	if err != nil {
		return nil, err
	}
	return header(cols), nil
}

// columnsOf finds the column set of kind in profile. domain.ProfileKinds
// decides what is supported, so the domain's validation and this package
// cannot disagree silently: a pair it allows that has no column set here is
// an error too (and a test failure).
func columnsOf(kind domain.ExportKind, profile domain.ExportProfile) ([]column, error) {
	if !slices.Contains(domain.ProfileKinds[profile], kind) {
		return nil, fmt.Errorf("exportcsv: the %s profile does not shape %s exports: %w", profile, kind, ErrUnsupported)
	}
	cols, ok := profiles[shape{kind, profile}]
	if !ok {
		return nil, fmt.Errorf("exportcsv: no columns for %s exports in the %s profile: %w", kind, profile, ErrUnsupported)
	}
	return cols, nil
}

func header(cols []column) []string {
	h := make([]string, len(cols))
	for i, c := range cols {
		h[i] = c.name
	}
	return h
}

// Option adjusts a Writer.
type Option func(*Writer)

// WithNow sets the time an export is taken at, which decides whether an
// open off-boarding case shows as OVERDUE (case_status). By default it is
// the time NewWriter was called, the same for every row of the export.
func WithNow(now time.Time) Option {
	return func(w *Writer) { w.b.now = now }
}

// Writer streams the rows of one export as CSV: the header, then one
// record per Write. Call Flush when done.
type Writer struct {
	csv  *csvsafe.Writer
	kind domain.ExportKind
	cols []column
	// row is the row being written, kept in the Writer so the column
	// functions can read it through a pointer without it escaping to the
	// heap on every Write.
	row domain.ExportRow
	b   builder
}

// NewWriter checks that profile shapes kind, then writes the header to w,
// preceded by a UTF-8 byte order mark when bom is set (spreadsheet programs
// such as Excel need it to read the file as UTF-8; import tools do not).
// Nothing is written to w when the pair is unsupported (ErrUnsupported).
// The header is buffered with the rows: Flush sends it.
func NewWriter(w io.Writer, kind domain.ExportKind, profile domain.ExportProfile, bom bool, opts ...Option) (*Writer, error) {
	cols, err := columnsOf(kind, profile)
	if err != nil {
		return nil, err
	}
	cw, err := csvsafe.NewWriter(w, bom)
	if err != nil {
		return nil, fmt.Errorf("exportcsv: %w", err)
	}
	ew := &Writer{csv: cw, kind: kind, cols: cols}
	ew.b.now = time.Now()
	for _, o := range opts {
		o(ew)
	}
	if err := cw.Write(header(cols)); err != nil {
		return nil, fmt.Errorf("exportcsv: write header: %w", err)
	}
	return ew, nil
}

// Write writes the record of one row. Rows are buffered: call Flush to send
// them and learn of a write error.
func (w *Writer) Write(r domain.ExportRow) error {
	w.row = r
	rec := w.record(&w.row)
	// Let go of the row's records: the Writer may outlive the export's
	// last page.
	w.row = domain.ExportRow{}
	if err := w.csv.Write(rec); err != nil {
		return fmt.Errorf("exportcsv: write %s row: %w", w.kind, err)
	}
	return nil
}

// Flush writes out the buffered records and reports any error met while
// writing them.
func (w *Writer) Flush() error {
	if err := w.csv.Flush(); err != nil {
		return fmt.Errorf("exportcsv: %w", err)
	}
	return nil
}

// record is the cells of r, before neutralisation. It is valid until the
// next call.
func (w *Writer) record(r *domain.ExportRow) []string {
	w.b.reset()
	for _, c := range w.cols {
		c.cell(&w.b, r)
	}
	return w.b.finish()
}

// builder assembles one record. Cells that are the records' own strings
// are used as they are; cells that have to be formatted (times, numbers,
// joined values) are appended to one byte buffer and become substrings of
// a single string made from it when the record is finished, so a row costs
// one allocation however many cells it formats.
type builder struct {
	rec   []string
	buf   []byte
	spans []span
	// keys is scratch space for sorting a details map's keys.
	keys []string
	now  time.Time
}

// span is a formatted cell: rec[i] is buf[from:to].
type span struct{ i, from, to int }

func (b *builder) reset() {
	b.rec, b.buf, b.spans = b.rec[:0], b.buf[:0], b.spans[:0]
}

// finish turns the formatted cells into strings and returns the record.
func (b *builder) finish() []string {
	if len(b.spans) > 0 {
		s := string(b.buf)
		for _, sp := range b.spans {
			b.rec[sp.i] = s[sp.from:sp.to]
		}
	}
	return b.rec
}

// str adds a cell as it is.
func (b *builder) str(s string) { b.rec = append(b.rec, s) }

// begin starts a formatted cell: append its bytes to b.buf, then call end
// with what begin returned.
func (b *builder) begin() int { return len(b.buf) }

func (b *builder) end(from int) {
	b.spans = append(b.spans, span{len(b.rec), from, len(b.buf)})
	b.rec = append(b.rec, "")
}

// time adds t in UTC in layout, or an empty cell for the zero time.
func (b *builder) time(t time.Time, layout string) {
	if t.IsZero() {
		b.str("")
		return
	}
	from := b.begin()
	b.buf = t.UTC().AppendFormat(b.buf, layout)
	b.end(from)
}

// timePtr is time for an optional time.
func (b *builder) timePtr(t *time.Time, layout string) {
	if t == nil {
		b.str("")
		return
	}
	b.time(*t, layout)
}

// int adds n, or an empty cell when the record that has it is missing.
func (b *builder) int(ok bool, n int64) {
	if !ok {
		b.str("")
		return
	}
	from := b.begin()
	b.buf = strconv.AppendInt(b.buf, n, 10)
	b.end(from)
}

// bool adds "true" or "false", or an empty cell when the record that has
// it is missing.
func (b *builder) bool(ok, v bool) {
	switch {
	case !ok:
		b.str("")
	case v:
		b.str("true")
	default:
		b.str("false")
	}
}

// join adds the non-empty parts joined by sep.
func (b *builder) join(sep string, parts ...string) {
	from := b.begin()
	for _, p := range parts {
		if p == "" {
			continue
		}
		if len(b.buf) > from {
			b.buf = append(b.buf, sep...)
		}
		b.buf = append(b.buf, p...)
	}
	b.end(from)
}

// custodian adds a custodian as "KIND:ref". A person custodian who is the
// row's person is named by employee id, the identifier other systems know
// (the ref is Custody's internal id); another person keeps the internal
// id. No custodian (NONE, or none recorded) is an empty cell.
func (b *builder) custodian(c domain.Custodian, p *domain.Person) {
	if c.Ref == "" && (c.Kind == "" || c.Kind == domain.CustodianNone) {
		b.str("")
		return
	}
	ref := c.Ref
	if c.Kind == domain.CustodianPerson && p != nil && p.ID == c.Ref && p.EmployeeID != "" {
		ref = p.EmployeeID
	}
	from := b.begin()
	b.buf = append(b.buf, c.Kind...)
	b.buf = append(b.buf, ':')
	b.buf = append(b.buf, ref...)
	b.end(from)
}

// details adds an event's details as "key=value; key=value", sorted by key
// so the same event always reads the same.
func (b *builder) details(m map[string]string) {
	if len(m) == 0 {
		b.str("")
		return
	}
	b.keys = b.keys[:0]
	for k := range m {
		b.keys = append(b.keys, k)
	}
	slices.Sort(b.keys)
	from := b.begin()
	for i, k := range b.keys {
		if i > 0 {
			b.buf = append(b.buf, "; "...)
		}
		b.buf = append(b.buf, k...)
		b.buf = append(b.buf, '=')
		b.buf = append(b.buf, m[k]...)
	}
	b.end(from)
	clear(b.keys) // hold no strings of a finished row
}
