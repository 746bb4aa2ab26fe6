package importcsv

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/custody-dev/custody/domain"
)

// Importer applies parsed records to a tenant. *domain.Service implements it.
type Importer interface {
	ImportAssets(ctx context.Context, opts domain.ImportOptions, read func(yield func(domain.AssetRecord) error) error) (*domain.ImportReport, error)
	ImportPeople(ctx context.Context, opts domain.ImportOptions, read func(yield func(domain.PersonRecord) error) error) (*domain.ImportReport, error)
}

// ImportAssets reads an ITAM file with profile (and mapping, for the
// mapping profile) and applies its good rows through imp. It reads the
// file twice: once to check it as a whole, then, from the start again, to
// stream its rows to the domain, which commits them in batches as they
// fill. The check comes first because a whole-file error (a record too
// long, a quote never closed) may be found only at the end, after batches
// were committed: the file is then refused with nothing applied. The first
// pass keeps no rows, only the hashes of identifiers, so it costs a small
// part of the import.
//
// The report holds the parser's refusals and the domain's, by line. A
// *FileError (the file cannot be read as a whole) is returned as the
// error, with nothing applied and an empty report.
func ImportAssets(ctx context.Context, imp Importer, r io.ReadSeeker, profile AssetProfile, mapping map[string]string, opts domain.ImportOptions) (*domain.ImportReport, error) {
	if err := check(r, func(r io.Reader) (Report, error) { return ReadAssets(r, profile, mapping, nil) }); err != nil {
		return &domain.ImportReport{DryRun: opts.DryRun}, err
	}
	var parsed Report
	rep, err := imp.ImportAssets(ctx, opts, func(yield func(domain.AssetRecord) error) error {
		var err error
		parsed, err = ReadAssets(r, profile, mapping, func(row AssetRow) error {
			rec := domain.AssetRecord{Line: row.Line, Serial: row.Serial, AssetTag: row.AssetTag, Make: row.Make, Model: row.Model,
				Category: domain.AssetCategory(row.Category), Assignee: row.Assignee, ITAMRef: row.ITAMRef,
				Inactive: row.Inactive, InactiveColumn: row.InactiveColumn}
			if row.BearsData != nil {
				rec.BearsData = *row.BearsData
			}
			return yield(rec)
		})
		return err
	})
	return merge(rep, parsed), err
}

// ImportPeople reads an HRIS file and applies its good rows through imp,
// checking the whole file first, as ImportAssets does.
func ImportPeople(ctx context.Context, imp Importer, r io.ReadSeeker, opts domain.ImportOptions) (*domain.ImportReport, error) {
	if err := check(r, func(r io.Reader) (Report, error) { return ReadPeople(r, nil) }); err != nil {
		return &domain.ImportReport{DryRun: opts.DryRun}, err
	}
	var parsed Report
	rep, err := imp.ImportPeople(ctx, opts, func(yield func(domain.PersonRecord) error) error {
		var err error
		parsed, err = ReadPeople(r, func(row PersonRow) error {
			return yield(domain.PersonRecord{Line: row.Line, EmployeeID: row.EmployeeID, Name: row.Name, Email: row.Email,
				Department: row.Department, Status: row.Status})
		})
		return err
	})
	return merge(rep, parsed), err
}

// check reads the whole file with read, applying nothing, and rewinds it
// for the real pass. Row errors are left to that pass, which reports them
// together with the domain's.
func check(r io.ReadSeeker, read func(io.Reader) (Report, error)) error {
	if _, err := read(r); err != nil {
		return err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("importcsv: rewind the file after checking it: %w", err)
	}
	return nil
}

// merge adds the parser's count and refusals to the domain's report, every
// problem in line order.
func merge(rep *domain.ImportReport, parsed Report) *domain.ImportReport {
	if rep == nil {
		rep = &domain.ImportReport{}
	}
	rep.Records = parsed.Rows
	rep.Refused = max(rep.Records-rep.Created-rep.Updated-rep.Unchanged, 0)
	for _, e := range parsed.Errors {
		rep.AddProblem(domain.ImportProblem{Line: e.Line, Column: e.Column, Message: e.Message})
	}
	rep.ProblemsTruncated += parsed.Truncated
	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Line < rep.Problems[j].Line })
	return rep
}
