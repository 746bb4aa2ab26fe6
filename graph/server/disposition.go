package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/certpdf"
	"github.com/custody-dev/custody/domain/itamcsv"
	"github.com/custody-dev/custody/graph"
)

// Disposition is what the ITAD download endpoints read, in the caller's
// tenant and within what the caller may see. *domain.Service implements it.
type Disposition interface {
	CertificateDocument(ctx context.Context, certID string) (*domain.CertificateDocument, error)
	DispositionRows(ctx context.Context, f domain.DispositionFilter, fn func(domain.DispositionRow) error) error
}

// Global id types the download endpoints accept.
const (
	typeCertificate = "Certificate"
	typePickupOrder = "PickupOrder"
)

// certificatePDF serves GET /certificates/{id}.pdf: a certificate of
// sanitization as a PDF, for anyone allowed Query.certificate who may see
// its order (a vendor: its own). Any id that is not such a certificate is
// 404, so ids of other tenants and vendors reveal nothing. The document is
// rendered to memory first: a failure is a clean 500, never half a PDF.
func (s *Server) certificatePDF(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, "certificate") {
		return
	}
	gid, isPDF := strings.CutSuffix(r.PathValue("file"), ".pdf")
	typeName, id, ok := graph.DecodeID(gid)
	if !isPDF || !ok || typeName != typeCertificate {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such certificate")
		return
	}
	doc, err := s.disposition.CertificateDocument(r.Context(), id)
	if errors.Is(err, domain.ErrNotFound) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such certificate")
		return
	}
	if err != nil {
		s.internalError(w, r, "certificate document", err)
		return
	}
	doc.Seal.ReceiptURL = s.origin(r) + graph.ReceiptPath(graph.EncodeID(typeCustodyEvent, doc.Seal.EventID))
	var pdf bytes.Buffer
	if err := certpdf.Render(&pdf, doc); err != nil {
		s.internalError(w, r, "render certificate", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", `attachment; filename="`+doc.Number+`.pdf"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(pdf.Bytes())
}

// dispositionCSV serves GET /reports/disposition.csv?order=&from=&to=&bom=:
// the disposition report as a CSV an ITAM import reads, for anyone allowed
// Query.dispositionReport. from and to are dates (YYYY-MM-DD) of outcomes,
// to exclusive, as in GraphQL. The rows stream from the database page by
// page; bad parameters are a 400 before any byte of CSV. An error after the
// first rows aborts the response, so the client sees a failed download, not
// a complete-looking file missing its tail.
func (s *Server) dispositionCSV(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, "dispositionReport") {
		return
	}
	f, bom, problem := dispositionQuery(r)
	if problem != "" {
		writeError(w, http.StatusBadRequest, string(domain.CodeInvalid), problem)
		return
	}
	out := newCSVStream(w, "disposition.csv")
	if r.Method == http.MethodHead {
		// A HEAD learns what a GET would send without the report being read.
		out.headers()
		return
	}
	cw, err := itamcsv.NewWriter(out, bom)
	if err == nil {
		err = s.disposition.DispositionRows(r.Context(), f, func(row domain.DispositionRow) error {
			if err := cw.Write(row); err != nil {
				return err
			}
			return out.rowWritten(cw.Flush)
		})
	}
	if err == nil {
		err = out.finish(cw.Flush)
	}
	s.endCSV(w, r, out, "disposition csv", err)
}

// dispositionQuery reads the CSV endpoint's parameters. An order id that is
// not a pickup order's gives an empty report, as in GraphQL.
func dispositionQuery(r *http.Request) (f domain.DispositionFilter, bom bool, problem string) {
	q := r.URL.Query()
	if gid := q.Get("order"); gid != "" {
		typeName, id, ok := graph.DecodeID(gid)
		if !ok || typeName != typePickupOrder {
			id = "-" // matches no order
		}
		f.OrderID = id
	}
	for _, p := range []struct {
		name string
		into **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return f, false, p.name + " must be a date (YYYY-MM-DD), got " + quoteShort(v)
		}
		*p.into = &d
	}
	switch b := q.Get("bom"); b {
	case "", "0", "false":
	case "1", "true":
		bom = true
	default:
		return f, false, "bom must be 1 or 0, got " + quoteShort(b)
	}
	return f, bom, ""
}

// quoteShort quotes a parameter value for an error message, cut short.
func quoteShort(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "..."
	}
	return strconv.Quote(s)
}

// origin is the scheme and host the caller reached this server by, for
// links printed in documents. Forwarded headers count only from a trusted
// proxy, and only their first (the client-facing) value.
func (s *Server) origin(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if peer, ok := parseAddr(r.RemoteAddr); ok && isTrusted(peer, s.proxies) {
		if p := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); p == "https" || p == "http" {
			scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); validHost(h) {
			host = h
		}
	}
	if !validHost(host) {
		host = "localhost"
	}
	return scheme + "://" + host
}

// firstValue is the first element of a comma-separated header value.
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// validHost accepts a host name or IP address with an optional port, and
// nothing that could change the meaning of a URL.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']':
		default:
			return false
		}
	}
	return true
}
