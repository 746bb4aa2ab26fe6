// Package itamcsv writes disposition rows as CSV for an ITAM import, so the
// asset records an ITAD vendor disposed of can be retired in the tenant's
// ITAM system. The profile is ServiceNow's hardware asset table
// (alm_hardware): the first columns are its field names, meant for an import
// set whose transform map coalesces on serial_number (or asset_tag).
//
// State mapping (alm_hardware install_status and substatus choice values;
// values rather than labels, because labels are translated per instance):
//
//	outcome      install_status   substatus   disposal_reason
//	REUSED       7 (Retired)      donated     "Reused as is[ by <recipient> (<country>)]"
//	REMARKETED   7 (Retired)      sold        "Sold to <buyer> (<country>)"
//	EXPORTED     7 (Retired)      sold        "Exported: sold to <buyer> (<country>)"
//	RECYCLED     7 (Retired)      disposed    "Recycled by <downstream vendor> (<certification>)"
//	DESTROYED    7 (Retired)      disposed    "Destroyed (NIST 800-88 <method>: <technique>)"
//	none yet     (empty)          (empty)     (empty)
//
// REUSED maps to "donated": an asset reused as is leaves the company's books
// without being sold or scrapped, which is what ServiceNow's Donated records;
// an asset redeployed inside the company would not be on a disposition
// report. A row without an outcome (a line still at the vendor, or LOST)
// leaves the state columns empty, so that an import that does not copy empty
// fields (ServiceNow's default) leaves the record's state alone.
//
// disposal_date is the day the outcome was recorded (UTC), YYYY-MM-DD.
package itamcsv

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/csvsafe"
)

// ServiceNow alm_hardware choice values the export uses.
const (
	// InstallStatusRetired is install_status "Retired".
	InstallStatusRetired = "7"
	// SubstatusDisposed is substatus "Disposed" (recycled or destroyed).
	SubstatusDisposed = "disposed"
	// SubstatusSold is substatus "Sold" (remarketed or exported).
	SubstatusSold = "sold"
	// SubstatusDonated is substatus "Donated" (reused as is).
	SubstatusDonated = "donated"
)

// columns is the header: alm_hardware's fields first, then extra columns
// for the import's reconciliation and for people reading the file.
var columns = []string{
	"asset_tag",
	"serial_number",
	"install_status",
	"substatus",
	"disposal_date",
	"disposal_reason",
	"certificate_number",
	"model",
	"vendor",
	"outcome",
	"sanitization_method",
	"order_id",
}

// Columns returns the header row, in order. The caller may modify it.
func Columns() []string {
	return slices.Clone(columns)
}

// Writer streams disposition rows as CSV: one header, then one record per
// Write. Call Flush when done. Every cell is neutralised as csvsafe.Cell
// says: formula characters quoted (SafeCell), line breaks made spaces.
type Writer struct {
	csv *csvsafe.Writer
}

// NewWriter writes the header to w, preceded by a UTF-8 byte order mark
// when bom is set (spreadsheet programs such as Excel need it to read the
// file as UTF-8; import tools do not).
func NewWriter(w io.Writer, bom bool) (*Writer, error) {
	cw, err := csvsafe.NewWriter(w, bom)
	if err != nil {
		return nil, fmt.Errorf("itamcsv: %w", err)
	}
	if err := cw.Write(columns); err != nil {
		return nil, fmt.Errorf("itamcsv: write header: %w", err)
	}
	return &Writer{csv: cw}, nil
}

// Write writes the record of one disposition row. Rows are buffered: call
// Flush to send them and learn of a write error.
func (w *Writer) Write(r domain.DispositionRow) error {
	rec, err := record(r)
	if err != nil {
		return err
	}
	if err := w.csv.Write(rec); err != nil {
		return fmt.Errorf("itamcsv: write asset %s: %w", r.Line.AssetID, err)
	}
	return nil
}

// Flush writes out the buffered records and reports any error met while
// writing.
func (w *Writer) Flush() error {
	if err := w.csv.Flush(); err != nil {
		return fmt.Errorf("itamcsv: %w", err)
	}
	return nil
}

// SafeCell neutralises a cell against spreadsheet formula injection (CSV
// injection): a value that begins with '=', '+', '-', '@', a tab or a
// carriage return gets a leading single quote, which makes spreadsheets
// treat it as text; any other value is returned unchanged. It is
// csvsafe.SafeCell, kept here for this package's callers.
func SafeCell(s string) string {
	return csvsafe.SafeCell(s)
}

// record is the cells of one row, before neutralisation.
func record(r domain.DispositionRow) ([]string, error) {
	l := r.Line
	if l == nil {
		return nil, errors.New("itamcsv: write row: the row has no pickup line")
	}
	var status, sub, date, reason, outcome string
	if o := l.Outcome; o != nil {
		var err error
		sub, reason, err = disposition(o, r.Sanitization)
		if err != nil {
			return nil, fmt.Errorf("itamcsv: write asset %s: %w", l.AssetID, err)
		}
		status = InstallStatusRetired
		outcome = string(o.Kind)
		if !o.RecordedAt.IsZero() {
			date = o.RecordedAt.UTC().Format("2006-01-02")
		}
	}
	var number string
	if r.Certificate != nil {
		number = r.Certificate.Number
	}
	var method string
	if r.Sanitization != nil {
		method = string(r.Sanitization.Method)
	}
	orderID := l.OrderID
	if r.Order != nil && r.Order.ID != "" {
		orderID = r.Order.ID
	}
	return []string{
		l.AssetTag,
		l.Serial,
		status,
		sub,
		date,
		reason,
		number,
		joinNonEmpty(" ", l.Make, l.Model),
		r.VendorName,
		outcome,
		method,
		orderID,
	}, nil
}

// disposition maps an outcome to its substatus and a one-sentence reason.
func disposition(o *domain.Outcome, s *domain.SanitizationRecord) (substatus, reason string, err error) {
	switch o.Kind {
	case domain.OutcomeReused:
		reason = "Reused as is"
		if o.Buyer != "" {
			reason += " by " + withParen(o.Buyer, o.BuyerCountry)
		}
		return SubstatusDonated, reason, nil
	case domain.OutcomeRemarketed:
		return SubstatusSold, sold("Sold", o), nil
	case domain.OutcomeExported:
		return SubstatusSold, sold("Exported: sold", o), nil
	case domain.OutcomeRecycled:
		reason = "Recycled"
		if o.DownstreamVendor != "" {
			reason += " by " + withParen(o.DownstreamVendor, o.DownstreamCertification)
		}
		return SubstatusDisposed, reason, nil
	case domain.OutcomeDestroyed:
		reason = "Destroyed"
		if s != nil && s.Method != "" {
			reason += " (" + withColon("NIST 800-88 "+s.Method.Title(), s.Technique) + ")"
		}
		return SubstatusDisposed, reason, nil
	}
	return "", "", fmt.Errorf("unknown outcome %q", o.Kind)
}

// sold is the reason of a sale: "<verb> to <buyer> (<country>)".
func sold(verb string, o *domain.Outcome) string {
	if o.Buyer == "" {
		return withParen(verb, o.BuyerCountry)
	}
	return verb + " to " + withParen(o.Buyer, o.BuyerCountry)
}

// withParen is "s (p)", or s when p is empty.
func withParen(s, p string) string {
	if p == "" {
		return s
	}
	return s + " (" + p + ")"
}

// withColon is "s: t", or s when t is empty.
func withColon(s, t string) string {
	if t == "" {
		return s
	}
	return s + ": " + t
}

// joinNonEmpty joins the non-empty parts with sep.
func joinNonEmpty(sep string, parts ...string) string {
	kept := make([]string, 0, len(parts))
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}
