package graph

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/model"
)

// This file is the URL form of an export, shared by the download endpoint
// (graph/server) and exportCreate, which signs a link to it: the same
// parameters mean the same export whichever way it is asked for.

// exportNames are the exports' names in URLs and in the role policy
// (Export/<name>).
var exportNames = map[domain.ExportKind]string{
	domain.ExportCustodyLog:   "custody-log",
	domain.ExportHandOffs:     "handoffs",
	domain.ExportAssets:       "assets",
	domain.ExportOffboarding:  "offboarding",
	domain.ExportCertificates: "certificates",
}

// ExportName is an export kind's name in its URL and in the role policy.
func ExportName(kind domain.ExportKind) string { return exportNames[kind] }

// ExportKindOf is the export kind a URL name stands for.
func ExportKindOf(name string) (domain.ExportKind, bool) {
	for k, n := range exportNames {
		if n == name {
			return k, true
		}
	}
	return "", false
}

// ExportNames lists the exports' URL names, in the order of domain.AllExportKinds.
func ExportNames() []string {
	out := make([]string, len(domain.AllExportKinds))
	for i, k := range domain.AllExportKinds {
		out[i] = exportNames[k]
	}
	return out
}

// ExportPath is where an export downloads (graph/server serves it).
func ExportPath(kind domain.ExportKind) string { return "/exports/" + exportNames[kind] + ".csv" }

// ExportQuery is the query string of an export: what ExportRequestOf reads.
func ExportQuery(req domain.ExportRequest, bom bool) url.Values {
	q := url.Values{}
	if req.Profile != "" && req.Profile != domain.ProfileDefault {
		q.Set("profile", strings.ToLower(string(req.Profile)))
	}
	f := req.Filter
	if f.From != nil {
		q.Set("from", f.From.UTC().Format(time.RFC3339Nano))
	}
	if f.To != nil {
		q.Set("to", f.To.UTC().Format(time.RFC3339Nano))
	}
	if req.Kind == domain.ExportCustodyLog {
		for _, t := range f.Types {
			q.Add("type", string(t))
		}
	}
	if f.AssetID != "" {
		q.Set("asset", EncodeID(typeAsset, f.AssetID))
	}
	if f.PersonID != "" {
		q.Set("person", EncodeID(typePerson, f.PersonID))
	}
	if f.Location != "" {
		q.Set("location", f.Location)
	}
	if bom {
		q.Set("bom", "1")
	}
	return q
}

// exportParams are the parameters an export URL may carry (besides a
// signed link's own).
var exportParams = []string{"profile", "from", "to", "type", "asset", "person", "location", "bom"}

// ExportRequestOf reads an export's URL parameters. Problems are
// domain.UserErrors naming the parameter; an unknown parameter is one, so
// a misspelt filter never silently widens an export.
func ExportRequestOf(kind domain.ExportKind, q url.Values) (domain.ExportRequest, bool, error) {
	req := domain.ExportRequest{Kind: kind, Profile: domain.ExportProfile(strings.ToUpper(q.Get("profile")))}
	var errs domain.UserErrors
	for k := range q {
		if !slices.Contains(exportParams, k) && !strings.HasPrefix(k, "link_") {
			errs.Add(domain.CodeInvalid, fmt.Sprintf("unknown parameter %q: the parameters are %s", cut(k), strings.Join(exportParams, ", ")), k)
		}
	}
	f := &req.Filter
	f.From = exportTime(&errs, q.Get("from"), "from")
	f.To = exportTime(&errs, q.Get("to"), "to")
	for _, v := range q["type"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				f.Types = append(f.Types, domain.EventType(strings.ToUpper(t)))
			}
		}
	}
	f.AssetID = exportID(&errs, q.Get("asset"), typeAsset, "asset")
	f.PersonID = exportID(&errs, q.Get("person"), typePerson, "person")
	f.Location = q.Get("location")
	bom := false
	switch b := q.Get("bom"); b {
	case "", "0", "false":
	case "1", "true":
		bom = true
	default:
		errs.Add(domain.CodeInvalid, fmt.Sprintf("bom must be 1 or 0, got %q", cut(b)), "bom")
	}
	if err := errs.Err(); err != nil {
		return req, false, err
	}
	return req, bom, nil
}

// exportTime reads a date (UTC midnight) or an RFC 3339 time.
func exportTime(errs *domain.UserErrors, v, param string) *time.Time {
	if v == "" {
		return nil
	}
	for _, layout := range []string{time.DateOnly, time.RFC3339Nano} {
		if t, err := time.Parse(layout, v); err == nil {
			t = t.UTC()
			return &t
		}
	}
	errs.Add(domain.CodeInvalid, fmt.Sprintf("%s must be a date (YYYY-MM-DD) or an RFC 3339 time, got %q", param, cut(v)), param)
	return nil
}

// exportID decodes a global id of typeName.
func exportID(errs *domain.UserErrors, gid, typeName, param string) string {
	if gid == "" {
		return ""
	}
	id, ok := idOf(typeName, gid)
	if !ok {
		errs.Add(domain.CodeInvalid, fmt.Sprintf("%s must be the global id of a %s, got %q", param, typeName, cut(gid)), param)
	}
	return id
}

// cut shortens a value quoted in an error message.
func cut(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "..."
	}
	return s
}

// exportLinkTTL is how long an exportCreate link works: long enough to
// click, short enough that a link pasted somewhere soon stops working.
const exportLinkTTL = 15 * time.Minute

// inputFields maps the export parameters ValidateExport names to the
// fields of ExportCreateInput.
var inputFields = map[string]string{"type": "types", "asset": "assetId", "person": "personId", "bom": "byteOrderMark"}

// exportCreate checks the caller may run the export, validates it and signs
// a link to its download.
func (r *Resolver) exportCreate(ctx context.Context, in model.ExportCreateInput) (*model.ExportCreatePayload, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.authz.Check(p, authz.ObjExport, ExportName(in.Kind)); err != nil {
		return nil, fmt.Errorf("export %s: %w", ExportName(in.Kind), err)
	}
	if r.links == nil {
		return nil, errors.New("exportCreate: the server signs no download links")
	}
	var d ids
	req := domain.ExportRequest{Kind: in.Kind, Filter: domain.EventFilter{From: in.From, To: in.To, Types: in.Types, Location: str(in.Location)}}
	if in.Profile != nil {
		req.Profile = *in.Profile
	}
	if in.AssetID != nil {
		req.Filter.AssetID = d.one(typeAsset, *in.AssetID, "asset", "input", "assetId")
	}
	if in.PersonID != nil {
		req.Filter.PersonID = d.one(typePerson, *in.PersonID, "person", "input", "personId")
	}
	err = d.errs.Err()
	if err == nil {
		req, err = domain.ValidateExport(req)
	}
	var problems domain.UserErrors
	if errors.As(err, &problems) {
		for i := range problems {
			if f := problems[i].Field; len(f) == 1 {
				name := f[0]
				if n, ok := inputFields[name]; ok {
					name = n
				}
				problems[i].Field = []string{"input", name}
			}
		}
		err = problems
	}
	if errs, err := payloadErrors(err); err != nil || len(errs) > 0 {
		return &model.ExportCreatePayload{UserErrors: errs}, err
	}
	link, expires, err := r.links.Sign(p, ExportPath(req.Kind), ExportQuery(req, in.ByteOrderMark != nil && *in.ByteOrderMark), exportLinkTTL)
	if err != nil {
		return nil, fmt.Errorf("exportCreate: %w", err)
	}
	return &model.ExportCreatePayload{URL: &link, ExpiresAt: &expires, UserErrors: []*domain.UserError{}}, nil
}
