package graph

import (
	"context"
	"errors"
	"strconv"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/importcsv"
	"github.com/custody-dev/custody/graph/model"
)

// assetImport applies an uploaded ITAM file.
func (r *Resolver) assetImport(ctx context.Context, in model.AssetImportInput) (*model.ImportPayload, error) {
	var mapping map[string]string
	if len(in.Mapping) > 0 {
		mapping = make(map[string]string, len(in.Mapping))
		for i, m := range in.Mapping {
			if _, twice := mapping[m.Field]; twice {
				return &model.ImportPayload{UserErrors: []*domain.UserError{{Field: []string{"input", "mapping", strconv.Itoa(i), "field"},
					Code: domain.CodeInvalid, Message: "field " + m.Field + " is mapped twice"}}}, nil
			}
			mapping[m.Field] = m.Column
		}
	}
	opts := domain.ImportOptions{DryRun: in.DryRun != nil && *in.DryRun, Source: string(in.Profile)}
	return importPayload(importcsv.ImportAssets(ctx, r.svc, in.File.File, in.Profile, mapping, opts))
}

// peopleImport applies an uploaded HRIS file.
func (r *Resolver) peopleImport(ctx context.Context, in model.PeopleImportInput) (*model.ImportPayload, error) {
	opts := domain.ImportOptions{DryRun: in.DryRun != nil && *in.DryRun, Source: "hris"}
	return importPayload(importcsv.ImportPeople(ctx, r.svc, in.File.File, opts))
}

// importPayload presents an import's report; a file that cannot be read as
// a whole is a userError on input.file, with no report.
func importPayload(rep *domain.ImportReport, err error) (*model.ImportPayload, error) {
	var fileErr *importcsv.FileError
	if errors.As(err, &fileErr) {
		return &model.ImportPayload{UserErrors: []*domain.UserError{{Field: []string{"input", "file"}, Code: domain.CodeInvalid,
			Message: fileErr.Error()}}}, nil
	}
	problems, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return &model.ImportPayload{UserErrors: problems}, nil
	}
	return &model.ImportPayload{Report: rep, UserErrors: problems}, nil
}
