package domain

// AssetRecord is one asset as an ITAM file states it (parsed by
// domain/importcsv): what Custody imports from a system of record.
//
// The file's status of the asset decides only whether the record may
// create it. A record whose Inactive is set (the file says the asset is
// retired, missing, disposed of...) and that matches no asset is refused:
// Custody creates assets only in use (DEPLOYED) or in stock, and an asset
// the company no longer holds must not be created in someone's custody,
// as a stale assignee on a retired ServiceNow record would have it. A
// record that matches an asset updates its catalogue facts whatever its
// status, as any record does: Custody's own custody is the truth there.
type AssetRecord struct {
	// Line is the record's line in the file, for the report.
	Line      int
	Serial    string
	AssetTag  string
	Make      string
	Model     string
	Category  AssetCategory
	BearsData bool
	// Assignee is who the ITAM system says uses the asset: an email
	// address or an employee id, matched against the tenant's people.
	Assignee string
	// ITAMRef is the record's id in the system of record.
	ITAMRef string
	// Inactive is why the file says the asset is out of use, for the
	// person who reads the report ("install_status 7 (Retired)", "state
	// CLOSED"); empty when the file says it is in use, in stock or on its
	// way, or says nothing.
	Inactive string
	// InactiveColumn is the file's column Inactive comes from, which the
	// refusal names; "status" when empty.
	InactiveColumn string
}

// PersonRecord is one employee as an HRIS file states it.
type PersonRecord struct {
	Line       int
	EmployeeID string
	Name       string
	Email      string
	Department string
	Status     PersonStatus
}

// ImportOptions are how an import runs.
type ImportOptions struct {
	// DryRun checks every record against the tenant's records and reports
	// what a real run would do, writing nothing.
	DryRun bool
	// Source names the system the file came from (servicenow, lansweeper,
	// hris, ...), recorded on the custody events of imported assets.
	Source string
	// Progress, if set, is told how many records were processed after
	// each batch.
	Progress func(records int)
}

// ImportProblem is a record an import refused, and why.
type ImportProblem struct {
	Line int `json:"line"`
	// Column names the offending column, when one is to blame.
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// MaxImportProblems bounds the problems a report lists; the rest are
// counted in ProblemsTruncated.
const MaxImportProblems = 1000

// ImportReport says what an import did (or, dry, would do).
type ImportReport struct {
	DryRun bool `json:"dryRun"`
	// Records counts the records read, good and bad.
	Records int `json:"records"`
	// Created, Updated and Unchanged count the good records by effect;
	// Refused the others (a record may have several problems).
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Refused   int `json:"refused"`
	// Problems lists refused records (the parser's and the import's) by line.
	Problems          []ImportProblem `json:"problems"`
	ProblemsTruncated int             `json:"problemsTruncated"`
}

// AddProblem records a refused record, keeping at most MaxImportProblems.
func (r *ImportReport) AddProblem(p ImportProblem) {
	if len(r.Problems) >= MaxImportProblems {
		r.ProblemsTruncated++
		return
	}
	r.Problems = append(r.Problems, p)
}
