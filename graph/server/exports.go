package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/exportcsv"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/tenancy"
)

// Exports streams the records of an export in the caller's tenant.
// *domain.Service implements it.
type Exports interface {
	Export(ctx context.Context, req domain.ExportRequest, fn func(domain.ExportRow) error) (int64, error)
}

// exportCSV serves GET /exports/{kind}.csv: an export as CSV, for a role
// the policy grants Export/<kind>. Parameters: profile (default,
// servicenow, successfactors), from and to (a date, UTC midnight, or an
// RFC 3339 time; to exclusive), type (repeatable or comma-separated event
// types), asset and person (global ids), location, bom=1. Bad parameters
// are a 400 before any byte; the export is recorded in the tenant's custody
// log before its first row; rows stream in constant memory.
func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	name, isCSV := strings.CutSuffix(r.PathValue("file"), ".csv")
	kind, known := graph.ExportKindOf(name)
	if !isCSV || !known {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such export: the exports are "+strings.Join(graph.ExportNames(), ", "))
		return
	}
	p, ok := tenancy.PrincipalFrom(r.Context())
	if !ok {
		unauthenticated(w, msgMissingToken, false)
		return
	}
	switch err := s.authz.Check(p, authz.ObjExport, name); {
	case errors.Is(err, domain.ErrForbidden):
		writeError(w, http.StatusForbidden, "FORBIDDEN", "your role may not export "+name)
		return
	case err != nil:
		s.internalError(w, r, "authorize export", err)
		return
	}
	req, bom, problem := graph.ExportRequestOf(kind, r.URL.Query())
	if problem == nil {
		req, problem = domain.ValidateExport(req)
	}
	if problem != nil {
		s.endCSV(w, r, newCSVStream(w, ""), "export csv", problem)
		return
	}
	filename := name + ".csv"
	if req.Profile != domain.ProfileDefault {
		filename = name + "-" + strings.ToLower(string(req.Profile)) + ".csv"
	}
	out := newCSVStream(w, filename)
	if r.Method == http.MethodHead {
		out.headers()
		return
	}
	cw, err := exportcsv.NewWriter(out, req.Kind, req.Profile, bom)
	if err == nil {
		_, err = s.exports.Export(r.Context(), req, func(row domain.ExportRow) error {
			if err := cw.Write(row); err != nil {
				return err
			}
			return out.rowWritten(cw.Flush)
		})
	}
	if err == nil {
		err = out.finish(cw.Flush)
	}
	s.endCSV(w, r, out, "export csv", err)
}
