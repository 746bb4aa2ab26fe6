// Package importcsv reads CSV files of assets (from an ITAM system) and of
// people (from an HRIS) into rows the domain service applies. It parses
// and checks; it writes nothing anywhere, so a dry run is ReadAssets or
// ReadPeople with a callback that only counts.
//
// Reading streams: one record is held at a time (encoding/csv with
// ReuseRecord), so memory does not grow with the file, except for the
// identifiers already seen, which find duplicates inside the file: memory
// is O(distinct serials and tags), held as 64-bit hashes with the line of
// their first row (under 40 bytes each, two per asset: 72 MiB of heap at a
// million rows). Two different identifiers with the same hash would be
// reported as duplicates; the chance is about n²/2⁶⁵ for n identifiers,
// below one in ten million for a million rows, and the seed differs on
// every read. A record longer than MaxRecordBytes stops the file
// (FileError), so one enormous line cannot exhaust memory; capping the
// whole file's size is the caller's job (io.LimitReader).
//
// Problems are of two kinds. A FileError stops the whole file before any
// row is handed over (no header, the wrong delimiter, an unknown column,
// a header that is not UTF-8, an empty file) or in the middle (a record
// too long, a quote never closed, which would otherwise read the rest of
// the file into one cell): the caller must not apply anything then, which
// is why ImportAssets and ImportPeople check the whole file before they
// apply a row. A stray quote that leaves the rest of the file readable
// (inside an unquoted cell, or a character after a closing quote) is a
// RowError of its row. A RowError is one bad
// row, reported with its physical line number (1-based, counting every
// line of the file, as an editor shows it) and the column at fault; the
// other rows are read on. A byte order mark at the start and CRLF line
// endings are accepted. Lines with every cell empty (a spreadsheet's
// trailing rows) are skipped.
//
// A row also says whether the file shows the asset out of use
// (AssetRow.Inactive): Custody's state, when the file has it, outside
// activeStates, or, in the servicenow profile, an install_status other
// than 1 In use, 2 On order, 3 In maintenance, 6 In stock and 9 In
// transit. The domain then refuses to create the asset.
//
// Cells written by Custody's exports are neutralised against formula
// injection (package csvsafe): a cell starting with = + - @ tab or
// carriage return got a leading single quote. That one quote is removed
// again when the rest starts with one of those characters, so an exported
// value reads back as it was. Values are then trimmed of surrounding
// spaces.
//
// # Asset profiles
//
// Header names are matched ignoring case, spaces, underscores, hyphens,
// dots and a table prefix ("tblAssetCustom.Serialnumber"), so "Serial
// number" and "serial_number" are the same column. Every profile needs a
// serial or an asset tag column; every row needs one of the two.
//
//	profile     column                  field           notes
//	servicenow  asset_tag               AssetTag
//	            serial_number           Serial
//	            manufacturer            Make
//	            model_id (or model)     Model           "<manufacturer> <model>": the manufacturer's name is removed
//	            model_category          Category        Custody's names, or ServiceNow's model categories
//	            install_status          InstallStatus   choice value; English labels become values ("In use" is 1)
//	            assigned_to             Assignee
//	            u_custody_state         State           Custody's asset state
//	            u_bears_data            BearsData       true/false; from the category when empty
//	            sys_id                  ITAMRef
//	            ignored: substatus, assigned, sys_updated_on and the other alm_hardware fields
//	            (serviceNowSpec.ignored); any other column is refused
//	lansweeper  Serialnumber, Serial, Serial number      Serial
//	            BarCode, AssetTag, Asset tag             AssetTag
//	            Manufacturer                             Make
//	            Model                                    Model
//	            AssetTypename, Type                      Category   Lansweeper asset types
//	            State, Statename                         InstallStatus   as given
//	            AssetID                                  ITAMRef
//	            any other column is ignored (Username included: see lansweeperSpec)
//	custody     serial                  Serial
//	            asset_tag               AssetTag
//	            make                    Make
//	            model                   Model
//	            category                Category        Custody's names only
//	            bears_data              BearsData
//	            state                   State
//	            condition               Condition
//	            holder_employee_id      Assignee        else holder_email
//	            holder_email            Assignee
//	            itam_ref                ITAMRef
//	            ignored: asset_id, holder_name, deployed_at, created_at, updated_at;
//	            any other column is refused
//	mapping     the columns a mapping names (ParseMapping); others are ignored
//
// The servicenow profile accepts every column of Custody's SERVICENOW asset
// export, and the custody profile every column of its DEFAULT asset
// export, so an export re-imports without edits (a test holds both to
// exportcsv.Columns).
//
// # People (HRIS)
//
//	column (any of)                                                           field
//	employee_id, employeeId, userId, employee_number, person_id_external, worker_id  EmployeeID (required)
//	name, full_name, display_name, employee_name                              Name
//	first_name, firstName, given_name + last_name, lastName, surname, family_name    Name, when there is no name
//	email, e-mail, email_address, work_email                                  Email (required)
//	department, dept, department_name                                         Department
//	status, employment_status, employee_status, emplStatus                    Status
//
// A name column or both first and last name columns are required. The
// columns of hrisSpec.ignored (title, manager, location, hire_date...) are
// ignored; any other is refused.
package importcsv

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/custody-dev/custody/domain"
)

// Limits.
const (
	// MaxRecordBytes is the longest record read, give or take the read
	// buffer (bufSize): a longer one is a FileError. No asset or person
	// needs a thousandth of it; a file that has one is not a CSV export.
	MaxRecordBytes = 1 << 20
	// MaxErrors is how many row errors a Report lists; the rest are
	// counted in Report.Truncated.
	MaxErrors = 1000
	// bufSize is the read buffer.
	bufSize = 64 << 10
)

// AssetRow is one asset as a file gives it. Empty strings are values the
// file does not give. Serial and AssetTag are trimmed, as given (the
// domain normalises identifiers when it stores them); at least one is set.
type AssetRow struct {
	// Line is the row's physical line in the file, from 1.
	Line int
	// Serial is the manufacturer's serial number.
	Serial string
	// AssetTag is the company's asset tag.
	AssetTag string
	// Make is the manufacturer.
	Make string
	// Model is the model's name, without the manufacturer's.
	Model string
	// Category is one of Custody's categories (domain.AssetCategory), or
	// empty when the file does not say.
	Category string
	// BearsData says whether the asset stores data: the file's value, else
	// the category's default (bearsDataByDefault); nil when the file says
	// neither.
	BearsData *bool
	// Assignee is the person holding the asset, as the file gives them:
	// an email address or an employee id (or, in a ServiceNow list
	// export, whatever assigned_to displays). Matching it to a person is
	// the caller's job.
	Assignee string
	// ITAMRef is the asset's id in the ITAM system (ServiceNow sys_id,
	// Lansweeper AssetID) or the itam_ref of a Custody export.
	ITAMRef string
	// InstallStatus is the ITAM system's status, by profile: ServiceNow's
	// install_status choice value ("1" in use, "6" in stock, "7" retired,
	// "8" missing, "9" in transit...), Lansweeper's State as given.
	InstallStatus string
	// State is Custody's own asset state when the file carries it (the
	// custody profile's state, ServiceNow's u_custody_state): a valid
	// domain.AssetState, or empty.
	State domain.AssetState
	// Condition is the asset's condition (custody profile), as given.
	Condition string
	// Inactive says why the file shows the asset as out of use (retired,
	// missing, disposed of...), for domain.AssetRecord.Inactive: "state
	// CLOSED" when State is not one of activeStates, else "install_status
	// 7 (Retired)" when the servicenow profile's InstallStatus is not
	// active (activeInstallStatus). Empty when the file says the asset is
	// in use, in stock or on its way, or says nothing. Lansweeper's State
	// and a mapped install_status are not read for it: their values are
	// each installation's own words.
	Inactive string
	// InactiveColumn is the header's name of the column Inactive comes
	// from, or "".
	InactiveColumn string
}

// activeStates are Custody's states of an asset in the company's hands and
// in use or ready for it: an import may create an asset a file shows in
// one of them. The others (retired, at the ITAD vendor, disposed of, lost)
// are reached through Custody's own workflows, with their evidence.
var activeStates = map[domain.AssetState]bool{
	domain.StateSerialized: true, domain.StateAwaitingCollection: true, domain.StateDeployed: true,
	domain.StateReturnReceived: true, domain.StateInStock: true,
}

// PersonRow is one person of an HRIS file.
type PersonRow struct {
	// Line is the row's physical line in the file, from 1.
	Line int
	// EmployeeID is the HRIS's id of the person; always set.
	EmployeeID string
	// Name is the person's name (or first and last names joined); always
	// set.
	Name string
	// Email is the person's email address; always set, and a valid
	// address.
	Email string
	// Department is the person's department, or empty.
	Department string
	// Status is the HR status read from the HRIS's word (see
	// personStatuses: "Active", "On leave", "Terminated", "Inactive"...),
	// or empty when the file does not say (the domain's default applies).
	Status domain.PersonStatus
}

// RowError is a bad row: its line, the column at fault (the header's name
// for it; empty when the row as a whole is at fault) and why.
type RowError struct {
	// Line is the row's physical line, from 1 (where a row spans several
	// lines, its first).
	Line int
	// Column is the header's name of the column at fault, or "".
	Column string
	// Message says what is wrong, for the person who fixes the file.
	Message string
}

// Error implements error.
func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Message)
}

// FileError is a problem that stops the whole file. Line is where it was
// found, or 0 when it concerns the file as a whole.
type FileError struct {
	// Line is the line the problem was found on, or 0.
	Line int
	// Message says what is wrong, for the person who fixes the file.
	Message string
}

// Error implements error.
func (e *FileError) Error() string {
	if e.Line == 0 {
		return e.Message
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Message)
}

// Report is the outcome of reading a file.
type Report struct {
	// Rows is the number of data rows read (neither the header nor empty
	// lines).
	Rows int
	// Accepted is the number of rows handed to the callback that it took.
	Accepted int
	// Rejected is the number of rows with at least one error.
	Rejected int
	// Errors are the rows' errors in file order, at most MaxErrors.
	Errors []RowError
	// Truncated is the number of errors left out of Errors.
	Truncated int
}

func (r *Report) add(e RowError) {
	if len(r.Errors) >= MaxErrors {
		r.Truncated++
		return
	}
	r.Errors = append(r.Errors, e)
}

// ReadAssets reads an asset file in a profile (mapping is for
// ProfileMapping only) and calls fn with each good row, in file order.
// Bad rows are reported in the Report and not handed to fn.
//
// When fn returns an error that is or wraps a *RowError, the row is
// counted as rejected, the error is reported (on the row's line when it
// has none) and reading goes on: this is how the caller reports a row the
// file cannot show to be bad, such as a serial that belongs to another
// asset. Any other error from fn stops reading and is returned, wrapped.
//
// The error is a *FileError when the file cannot be read as a whole; then
// fn may already have been called for earlier rows (a record too long or
// a quote never closed, halfway through), and the caller must discard
// what it gathered. A nil fn only checks the file.
func ReadAssets(r io.Reader, profile AssetProfile, mapping map[string]string, fn func(AssetRow) error) (Report, error) {
	if fn == nil {
		fn = func(AssetRow) error { return nil }
	}
	s, err := specFor(profile, mapping)
	if err != nil {
		return Report{}, err
	}
	f, err := open(r)
	if err != nil {
		return Report{}, err
	}
	b, err := bind(f.header, f.headerLine, s)
	if err != nil {
		return Report{}, err
	}
	a := assetReader{b: b, seen: newSeen()}
	return f.each(func(rec []string, line int, rep *Report) error {
		row, ok := a.row(rec, line, rep)
		if !ok {
			return nil
		}
		return accept(rep, line, fn(row))
	})
}

// ReadPeople reads an HRIS file and calls fn with each good row, in file
// order, as ReadAssets does. Employee ids and email addresses (ignoring
// case) must be unique inside the file. A nil fn only checks the file.
func ReadPeople(r io.Reader, fn func(PersonRow) error) (Report, error) {
	if fn == nil {
		fn = func(PersonRow) error { return nil }
	}
	f, err := open(r)
	if err != nil {
		return Report{}, err
	}
	b, err := bind(f.header, f.headerLine, hrisSpec)
	if err != nil {
		return Report{}, err
	}
	if b.idx[fName] < 0 && (b.idx[fFirstName] < 0 || b.idx[fLastName] < 0) {
		return Report{}, &FileError{Line: f.headerLine,
			Message: "no name column: give name, or both first_name and last_name"}
	}
	p := personReader{b: b, seen: newSeen()}
	return f.each(func(rec []string, line int, rep *Report) error {
		row, ok := p.row(rec, line, rep)
		if !ok {
			return nil
		}
		return accept(rep, line, fn(row))
	})
}

// accept counts a row fn was called with: taken, rejected by fn with a
// RowError, or a failure that stops the file.
func accept(rep *Report, line int, err error) error {
	var re *RowError
	switch {
	case err == nil:
		rep.Accepted++
		return nil
	case errors.As(err, &re):
		e := *re
		if e.Line == 0 {
			e.Line = line
		}
		rep.Rejected++
		rep.add(e)
		return nil
	}
	return fmt.Errorf("importcsv: line %d: %w", line, err)
}

// errRecordTooLarge is returned by limitReader once a record is too long.
var errRecordTooLarge = errors.New("record too large")

// limitReader fails once more than MaxRecordBytes (plus the read buffer,
// which the CSV reader may hold ahead) have been read past the end of the
// last record: encoding/csv has no limit of its own and would grow its
// buffers to hold any line.
type limitReader struct {
	r io.Reader
	// n is the number of bytes read; end is the offset, in the same
	// count, of the end of the last record read.
	n, end int64
	// eof is set once r has reported the end of the file.
	eof bool
	// lines counts the line feeds read; cur is the length of the line
	// being read (after the last line feed), curCR whether its last byte
	// is a carriage return; prev is the length of the last complete line
	// without its CR LF or LF. Together they give the file's last line and
	// its length once eof is set (lastLine).
	lines, cur, prev int
	curCR            bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n-l.end > MaxRecordBytes+bufSize {
		return 0, errRecordTooLarge
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	l.track(p[:n])
	if err == io.EOF {
		l.eof = true
	}
	return n, err
}

// track counts the lines of b, read after what came before.
func (l *limitReader) track(b []byte) {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		l.extend(b[:i])
		l.prev = l.cur
		if l.curCR {
			l.prev--
		}
		l.lines++
		l.cur, l.curCR = 0, false
		b = b[i+1:]
	}
	l.extend(b)
}

func (l *limitReader) extend(b []byte) {
	if len(b) > 0 {
		l.cur += len(b)
		l.curCR = b[len(b)-1] == '\r'
	}
}

// lastLine returns the number of the file's last line that has any byte
// (as encoding/csv counts lines) and its length without its line ending;
// valid once eof is set.
func (l *limitReader) lastLine() (line, length int) {
	if l.cur > 0 {
		// encoding/csv drops a carriage return before the end of the file.
		length = l.cur
		if l.curCR {
			length--
		}
		return l.lines + 1, length
	}
	return l.lines, l.prev
}

// file is a CSV file being read, past its header.
type file struct {
	lim        *limitReader
	csv        *csv.Reader
	skipped    int64 // bytes before the CSV reader's offset 0 (the BOM)
	header     []string
	headerLine int
	// lastLine is the last line of the last record read.
	lastLine int
}

var bom = []byte("\ufeff")

// open checks the file's encoding and reads its header.
func open(r io.Reader) (*file, error) {
	lim := &limitReader{r: r}
	br := bufio.NewReaderSize(lim, bufSize)
	f := &file{lim: lim}
	start, err := br.Peek(3)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("importcsv: read: %w", err)
	}
	switch {
	case bytes.HasPrefix(start, bom):
		_, _ = br.Discard(len(bom))
		f.skipped = int64(len(bom))
	case bytes.HasPrefix(start, []byte{0xff, 0xfe}), bytes.HasPrefix(start, []byte{0xfe, 0xff}):
		return nil, &FileError{Message: "the file is UTF-16 text: save it as CSV UTF-8 (comma-separated)"}
	}
	// bufio.NewReaderSize hands br back as it is: the CSV reader reads
	// through it, so its offsets count from after the BOM.
	f.csv = csv.NewReader(br)
	f.csv.ReuseRecord = true
	header, err := f.read()
	switch {
	case err == io.EOF:
		return nil, &FileError{Message: "the file is empty: it needs a header line and rows"}
	case err != nil:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, &FileError{Line: pe.StartLine, Message: "the header line is not valid CSV: " + pe.Err.Error()}
		}
		return nil, err
	}
	f.headerLine, _ = f.csv.FieldPos(0)
	// The header outlives the reused record.
	f.header = make([]string, len(header))
	for i, h := range header {
		f.header[i] = strings.Clone(h)
	}
	if len(f.header) == 1 {
		if d := delimiter(f.header[0]); d != "" {
			return nil, &FileError{Line: f.headerLine, Message: fmt.Sprintf(
				"the file seems to use %s as its delimiter: export it comma-separated", d)}
		}
	}
	for i, h := range f.header {
		if !utf8.ValidString(h) {
			return nil, &FileError{Line: f.headerLine, Message: fmt.Sprintf(
				"column %d of the header is not UTF-8 text: save the file as CSV UTF-8", i+1)}
		}
	}
	return f, nil
}

// delimiter guesses the delimiter of a one-cell header line: the most
// frequent of ; tab and |, or "" when it has none.
func delimiter(cell string) string {
	best, most := "", 0
	for _, d := range []struct{ c, name string }{{";", "';'"}, {"\t", "tab"}, {"|", "'|'"}} {
		if n := strings.Count(cell, d.c); n > most {
			best, most = d.name, n
		}
	}
	return best
}

// read reads one record, keeping limitReader's mark at its end.
func (f *file) read() ([]string, error) {
	rec, err := f.csv.Read()
	f.lim.end = f.skipped + f.csv.InputOffset()
	if errors.Is(err, errRecordTooLarge) {
		where := "the first line"
		if f.lastLine > 0 {
			where = fmt.Sprintf("the record after line %d", f.lastLine)
		}
		return nil, &FileError{Message: fmt.Sprintf(
			"%s is longer than %d bytes: a quote may be left open, or this is not a CSV export of assets or people", where, MaxRecordBytes)}
	}
	if len(rec) > 0 {
		f.lastLine, _ = f.csv.FieldPos(len(rec) - 1)
	}
	if err != nil && err != io.EOF {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return rec, fmt.Errorf("importcsv: read: %w", err)
		}
	}
	return rec, err
}

// each reads the rows after the header and calls row with each non-empty
// record of the header's width.
func (f *file) each(row func(rec []string, line int, rep *Report) error) (Report, error) {
	var rep Report
	for {
		rec, err := f.read()
		if err == io.EOF {
			return rep, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if f.unclosed(pe) {
				return rep, &FileError{Line: pe.Line, Message: fmt.Sprintf(
					"a quote opened on line %d is never closed: every line after it would be one cell; close the quote, and double the quotes inside a quoted cell (\"\")",
					pe.StartLine)}
			}
			rep.Rows++
			rep.Rejected++
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				rep.add(RowError{Line: pe.StartLine, Message: fmt.Sprintf(
					"%d fields where the header has %d: is a comma missing, or one too many (quote cells that contain commas)",
					len(rec), len(f.header))})
			} else {
				rep.add(RowError{Line: pe.StartLine, Message: "not valid CSV: " + pe.Err.Error()})
			}
			continue
		}
		if err != nil {
			return rep, err
		}
		if blank(rec) {
			continue
		}
		rep.Rows++
		line, _ := f.csv.FieldPos(0)
		if err := row(rec, line, &rep); err != nil {
			return rep, err
		}
	}
}

// unclosed tells whether pe is a quoted cell that runs to the end of the
// file: encoding/csv then reports ErrQuote on the file's last line, past
// its last byte, having read the rest of the file into the cell. A stray
// character after a closing quote is ErrQuote too, but at that character,
// and the reader goes on at the next line: a bad row, not a lost file.
// The line named is the record's first, where the quote opened unless an
// earlier cell of the record spans lines.
func (f *file) unclosed(pe *csv.ParseError) bool {
	if !errors.Is(pe.Err, csv.ErrQuote) || !f.lim.eof || f.skipped+f.csv.InputOffset() != f.lim.n {
		return false
	}
	line, length := f.lim.lastLine()
	return pe.Line == line && pe.Column > length
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// binding is a header read through a spec: for each field, the index of
// its column, or -1.
type binding struct {
	spec spec
	idx  [nFields]int
	// names are the header's cells, for messages.
	names []string
}

// bind reads a header through a spec.
func bind(header []string, line int, s spec) (*binding, error) {
	b := &binding{spec: s, names: header}
	for i := range b.idx {
		b.idx[i] = -1
	}
	known := map[string]field{}
	for _, c := range s.columns {
		for _, n := range c.names {
			known[key(n)] = c.f
		}
	}
	ignored := map[string]bool{}
	for _, n := range s.ignored {
		ignored[key(n)] = true
	}
	var unknown []string
	matched := 0
	for i, h := range header {
		k := key(h)
		f, ok := known[k]
		switch {
		case ok:
			matched++
			if j := b.idx[f]; j >= 0 {
				return nil, &FileError{Line: line, Message: fmt.Sprintf(
					"columns %d (%s) and %d (%s) both give the %s: remove one", j+1, header[j], i+1, h, fieldInfo[f].name)}
			}
			b.idx[f] = i
		case ignored[k]:
			matched++
		case k == "":
			// An unnamed column (a trailing comma on every line) holds
			// nothing a profile reads.
		case s.strict:
			unknown = append(unknown, strconv.Quote(h))
		}
	}
	if matched == 0 {
		return nil, &FileError{Line: line, Message: fmt.Sprintf(
			"no header: the first line has none of the columns the %s profile reads (%s)", s.name, s.readNames())}
	}
	if len(unknown) > 0 {
		return nil, &FileError{Line: line, Message: fmt.Sprintf(
			"unknown column %s: the %s profile reads %s%s", strings.Join(unknown, ", "), s.name, s.readNames(), s.ignoredNames())}
	}
	for _, f := range s.required {
		if b.idx[f] < 0 {
			return nil, &FileError{Line: line, Message: fmt.Sprintf("no %s column (%s)", fieldInfo[f].name, s.namesOf(f))}
		}
	}
	if len(s.anyOf) > 0 {
		found := false
		for _, f := range s.anyOf {
			found = found || b.idx[f] >= 0
		}
		if !found {
			names := make([]string, len(s.anyOf))
			for i, f := range s.anyOf {
				names[i] = s.namesOf(f)
			}
			return nil, &FileError{Line: line, Message: "no identifier column: give " + strings.Join(names, " or ")}
		}
	}
	return b, nil
}

// readNames lists the columns a spec reads, by their first spelling.
func (s spec) readNames() string {
	names := make([]string, len(s.columns))
	for i, c := range s.columns {
		names[i] = c.names[0]
	}
	return strings.Join(names, ", ")
}

func (s spec) ignoredNames() string {
	if len(s.ignored) == 0 {
		return ""
	}
	return " and ignores " + strings.Join(s.ignored, ", ")
}

func (s spec) namesOf(f field) string {
	var names []string
	for _, c := range s.columns {
		if c.f == f {
			names = append(names, c.names...)
		}
	}
	return strings.Join(names, ", ")
}

// rowCheck gathers the errors of one row.
type rowCheck struct {
	b    *binding
	rec  []string
	line int
	rep  *Report
	bad  bool
}

func (c *rowCheck) fail(f field, msg string) {
	col := ""
	if f != fNone && c.b.idx[f] >= 0 {
		col = c.b.names[c.b.idx[f]]
	}
	c.bad = true
	c.rep.add(RowError{Line: c.line, Column: col, Message: msg})
}

// cell is the value of f's column: the export's neutralising quote
// removed, trimmed, checked to be UTF-8 text of at most the field's
// length. An absent column or a bad cell reads as "".
func (c *rowCheck) cell(f field) string {
	i := c.b.idx[f]
	if i < 0 {
		return ""
	}
	v := strings.TrimSpace(unneutralise(c.rec[i]))
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		c.fail(f, "not UTF-8 text: save the file as CSV UTF-8")
		return ""
	}
	if max := fieldInfo[f].max; len(v) > max {
		c.fail(f, fmt.Sprintf("%d bytes long: the %s takes at most %d", len(v), fieldInfo[f].name, max))
		return ""
	}
	return v
}

// unneutralise removes the single quote csvsafe.SafeCell put before a
// value starting with a formula character. A value that merely starts with
// a quote is left alone.
func unneutralise(s string) string {
	if len(s) >= 2 && s[0] == '\'' {
		switch s[1] {
		case '=', '+', '-', '@', '\t', '\r':
			return s[1:]
		}
	}
	return s
}

// identifier is a serial or tag as the domain stores it (upper case,
// without whitespace: domain.normalizeIdentifier), to find duplicates.
func identifier(s string) string {
	// Most identifiers are already so: spare the copies, on every row.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || c <= ' ' || ('a' <= c && c <= 'z') {
			return strings.ToUpper(strings.Join(strings.Fields(s), ""))
		}
	}
	return s
}

// seen remembers values of a file's rows, by field, to find duplicates:
// the line of each value's first row, by the value's hash.
type seen struct {
	seed  maphash.Seed
	lines map[field]map[uint64]int
}

func newSeen() *seen {
	return &seen{seed: maphash.MakeSeed(), lines: map[field]map[uint64]int{}}
}

// first returns the line v was first seen on for f, or remembers line.
func (s *seen) first(f field, v string, line int) (int, bool) {
	m := s.lines[f]
	if m == nil {
		m = map[uint64]int{}
		s.lines[f] = m
	}
	h := maphash.String(s.seed, v)
	if l, dup := m[h]; dup {
		return l, true
	}
	m[h] = line
	return 0, false
}

// assetReader turns records into AssetRows.
type assetReader struct {
	b    *binding
	seen *seen
}

func (a *assetReader) row(rec []string, line int, rep *Report) (AssetRow, bool) {
	c := rowCheck{b: a.b, rec: rec, line: line, rep: rep}
	row := AssetRow{Line: line}
	row.Serial = c.cell(fSerial)
	row.AssetTag = c.cell(fTag)
	if row.Serial == "" && row.AssetTag == "" && !c.bad {
		c.fail(fNone, "no serial and no asset tag: a row needs one or both")
	}
	a.unique(&c, fSerial, row.Serial)
	a.unique(&c, fTag, row.AssetTag)

	row.Make = c.cell(fMake)
	row.Model = c.cell(fModel)
	if ref := c.cell(fModelRef); ref != "" {
		row.Model = modelName(ref, row.Make)
		if max := fieldInfo[fModel].max; len(row.Model) > max {
			c.fail(fModelRef, fmt.Sprintf("the model is %d bytes long: at most %d", len(row.Model), max))
		}
	}
	var printer bool
	if v := c.cell(fCategory); v != "" {
		cat, p, msg := category(v, a.b.spec.strictCategory)
		if msg != "" {
			c.fail(fCategory, msg)
		}
		row.Category, printer = string(cat), p
	}
	if v := c.cell(fBearsData); v != "" {
		if bd, ok := parseBool(v); ok {
			row.BearsData = &bd
		} else {
			c.fail(fBearsData, fmt.Sprintf("%q is not true or false", v))
		}
	} else if row.Category != "" {
		bd := bearsDataByDefault(domain.AssetCategory(row.Category), printer)
		row.BearsData = &bd
	}
	row.Assignee = c.cell(fAssignee)
	if row.Assignee == "" {
		row.Assignee = c.cell(fAssigneeAlt)
	}
	row.ITAMRef = c.cell(fITAMRef)
	row.InstallStatus = c.cell(fInstallStatus)
	if a.b.spec.serviceNowStatus {
		if v, ok := installStatus(row.InstallStatus); ok {
			row.InstallStatus = v
		} else {
			c.fail(fInstallStatus, fmt.Sprintf("unknown install_status %q: give its choice value (1 in use, 6 in stock, 7 retired...)", row.InstallStatus))
		}
	}
	if v := c.cell(fState); v != "" {
		st := domain.AssetState(strings.ToUpper(v))
		if st.Valid() {
			row.State = st
		} else {
			c.fail(fState, fmt.Sprintf("unknown asset state %q", v))
		}
	}
	row.Condition = c.cell(fCondition)
	switch {
	case row.State != "" && !activeStates[row.State]:
		col := a.b.names[a.b.idx[fState]]
		row.Inactive, row.InactiveColumn = col+" "+string(row.State), col
	case a.b.spec.serviceNowStatus && !activeInstallStatus(row.InstallStatus):
		col := a.b.names[a.b.idx[fInstallStatus]]
		row.Inactive, row.InactiveColumn = col+" "+describeInstallStatus(row.InstallStatus), col
	}
	if c.bad {
		rep.Rejected++
		return AssetRow{}, false
	}
	return row, true
}

// unique reports an identifier seen on an earlier row, and remembers it.
// Rows rejected for other reasons count too: a file whose bad row is
// fixed must not then collide with a good one.
func (a *assetReader) unique(c *rowCheck, f field, v string) {
	if v == "" {
		return
	}
	if first, dup := a.seen.first(f, identifier(v), c.line); dup {
		c.fail(f, fmt.Sprintf("%s %s is also on line %d", fieldInfo[f].name, v, first))
	}
}

// modelName is the model's name from a ServiceNow model reference: the
// manufacturer's name and a space are removed from its start (exportcsv
// writes make and model joined so).
func modelName(ref, mk string) string {
	if mk != "" && len(ref) > len(mk) && strings.EqualFold(ref[:len(mk)], mk) && ref[len(mk)] == ' ' {
		return strings.TrimSpace(ref[len(mk)+1:])
	}
	if strings.EqualFold(ref, mk) {
		return ""
	}
	return ref
}

// parseBool reads the yes/no values exports and spreadsheets write.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "t", "yes", "y", "1":
		return true, true
	case "false", "f", "no", "n", "0":
		return false, true
	}
	return false, false
}

// personReader turns records into PersonRows.
type personReader struct {
	b    *binding
	seen *seen
}

func (p *personReader) row(rec []string, line int, rep *Report) (PersonRow, bool) {
	c := rowCheck{b: p.b, rec: rec, line: line, rep: rep}
	row := PersonRow{Line: line}
	row.EmployeeID = c.cell(fEmployeeID)
	switch {
	case row.EmployeeID == "":
		if !c.bad {
			c.fail(fEmployeeID, "no employee id")
		}
	default:
		if first, dup := p.seen.first(fEmployeeID, row.EmployeeID, line); dup {
			c.fail(fEmployeeID, fmt.Sprintf("employee id %s is also on line %d", row.EmployeeID, first))
		}
	}
	row.Name = c.cell(fName)
	if row.Name == "" {
		first, last := c.cell(fFirstName), c.cell(fLastName)
		row.Name = strings.TrimSpace(first + " " + last)
		if len(row.Name) > fieldInfo[fName].max {
			c.fail(fLastName, fmt.Sprintf("the name is %d bytes long: at most %d", len(row.Name), fieldInfo[fName].max))
		}
	}
	if row.Name == "" && !c.bad {
		f := fName
		if p.b.idx[fName] < 0 {
			f = fLastName
		}
		c.fail(f, "no name")
	}
	row.Email = c.cell(fEmail)
	switch {
	case row.Email == "":
		if !c.bad {
			c.fail(fEmail, "no email address")
		}
	case !validEmail(row.Email):
		c.fail(fEmail, fmt.Sprintf("%q is not an email address", row.Email))
	default:
		if first, dup := p.seen.first(fEmail, strings.ToLower(row.Email), line); dup {
			c.fail(fEmail, fmt.Sprintf("email %s is also on line %d", row.Email, first))
		}
	}
	row.Department = c.cell(fDepartment)
	if v := c.cell(fStatus); v != "" {
		if s, ok := personStatus(v); ok {
			row.Status = s
		} else {
			c.fail(fStatus, fmt.Sprintf("unknown status %q: use Active, On leave or Terminated (or Inactive, Left...)", v))
		}
	}
	if c.bad {
		rep.Rejected++
		return PersonRow{}, false
	}
	return row, true
}

// validEmail is the domain's test (domain.validEmail): a bare address.
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}
