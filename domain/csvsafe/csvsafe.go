// Package csvsafe writes CSV that is safe to open in a spreadsheet and to
// feed to an import tool: every cell is neutralised against formula
// injection (SafeCell) and kept on one line (OneLine), and the file may
// start with a UTF-8 byte order mark. It is the one writer core behind
// every CSV Custody produces (the ITAM disposition write-back, the
// exports), so they all neutralise cells the same way.
//
// The writer keeps no more than one record in memory and reuses its
// buffers, so writing a row allocates nothing beyond what neutralising a
// dangerous cell needs.
package csvsafe

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// BOM is the UTF-8 byte order mark. Spreadsheet programs such as Excel need
// it to read a CSV file as UTF-8; import tools neither need nor mind it.
const BOM = "\ufeff"

// Writer streams records as CSV with every cell made safe (Cell). Records
// are buffered: call Flush to send them and learn of a write error.
type Writer struct {
	csv *csv.Writer
	// safe is the neutralised copy of the record being written, reused so
	// a row costs no allocation and the caller's slice is left alone.
	safe []string
}

// NewWriter returns a Writer to w, first writing the byte order mark when
// bom is set. The mark goes to w at once (the records are buffered), so a
// w that cannot be written is reported here.
func NewWriter(w io.Writer, bom bool) (*Writer, error) {
	if bom {
		if _, err := io.WriteString(w, BOM); err != nil {
			return nil, fmt.Errorf("write byte order mark: %w", err)
		}
	}
	return &Writer{csv: csv.NewWriter(w)}, nil
}

// Write writes one record, each cell passed through Cell. The cells are
// not modified.
func (w *Writer) Write(cells []string) error {
	w.safe = w.safe[:0]
	for _, c := range cells {
		w.safe = append(w.safe, Cell(c))
	}
	return w.csv.Write(w.safe)
}

// Flush writes out the buffered records and reports any error met while
// writing them.
func (w *Writer) Flush() error {
	w.csv.Flush()
	if err := w.csv.Error(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// Cell is what Writer writes for s: SafeCell, then OneLine. Neutralising
// first matters for a value that starts with a carriage return: it is
// quoted before the line break becomes a space, so it cannot turn into a
// leading space that a spreadsheet's "trim spaces" import option would
// strip, exposing a formula behind it.
func Cell(s string) string {
	return OneLine(SafeCell(s))
}

// SafeCell neutralises a cell against spreadsheet formula injection (CSV
// injection): a value that begins with '=', '+', '-', '@', a tab or a
// carriage return would be evaluated as a formula by Excel, LibreOffice or
// Google Sheets when the file is opened, so it gets a leading single
// quote, which makes spreadsheets treat it as text. Any other value is
// returned unchanged. The quote stays in the data: an importer matching on
// such a value sees it.
func SafeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	// A leading line feed becomes a space on export (one line per cell),
	// and some importers trim that space, which would bare the formula.
	case '=', '+', '-', '@', '\t', '\r', '\n':
		return "'" + s
	}
	return s
}

// lineBreaks turns every line break into one space. A Replacer is safe for
// concurrent use, so one serves every writer.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")

// OneLine replaces line breaks with spaces: an ITAM or HRIS field holds one
// line, and CSV readers disagree about carriage returns inside quoted
// cells. A value without line breaks is returned as is, without copying.
func OneLine(s string) string {
	// Two byte searches beat ContainsAny, which builds a set per call: this
	// runs for every cell of every row.
	if strings.IndexByte(s, '\n') < 0 && strings.IndexByte(s, '\r') < 0 {
		return s
	}
	return lineBreaks.Replace(s)
}
