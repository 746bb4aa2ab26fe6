package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// csvWriteWindow is how long a CSV download may take to accept the next
// page of rows. The server's WriteTimeout bounds a whole response, which a
// report of a million rows may well exceed; each page extends the deadline
// instead, so only a stalled client is cut off.
const csvWriteWindow = time.Minute

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
	if r.Method == http.MethodHead {
		// A HEAD learns what a GET would send without the report being read.
		csvHeaders(w.Header())
		return
	}
	out := &csvStream{w: w, rc: http.NewResponseController(w), bom: bom}
	err := s.disposition.DispositionRows(r.Context(), f, out.row)
	if err == nil {
		err = out.finish()
	}
	if err == nil {
		return
	}
	var userErrs domain.UserErrors
	switch {
	case out.sent > 0:
		s.log.ErrorContext(r.Context(), "disposition csv: aborted after it started", "err", err)
		panic(http.ErrAbortHandler)
	case errors.As(err, &userErrs) && len(userErrs) > 0:
		out.discard()
		writeError(w, http.StatusBadRequest, string(userErrs[0].Code), userErrs.Error())
	default:
		out.discard()
		s.internalError(w, r, "disposition csv", err)
	}
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

// csvStream writes disposition rows to a response. Nothing reaches the
// client before the first flush (every csvFlushRows rows, or the end), so
// an error before then can still be a proper HTTP error.
type csvStream struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	bom bool
	// buf holds what is not yet sent; sent counts the bytes that were.
	buf  bytes.Buffer
	sent int
	csv  *itamcsv.Writer
	// n counts rows since the last flush.
	n int
}

// csvFlushRows is how many rows are buffered between flushes, the size of
// the domain's reading page.
const csvFlushRows = 500

func (c *csvStream) row(row domain.DispositionRow) error {
	if err := c.start(); err != nil {
		return err
	}
	if err := c.csv.Write(row); err != nil {
		return err
	}
	if c.n++; c.n == csvFlushRows {
		return c.flush()
	}
	return nil
}

func (c *csvStream) start() error {
	if c.csv != nil {
		return nil
	}
	var err error
	c.csv, err = itamcsv.NewWriter(&c.buf, c.bom)
	return err
}

// flush sends the buffered rows, extending the write deadline for the next.
func (c *csvStream) flush() error {
	c.n = 0
	if err := c.csv.Flush(); err != nil {
		return err
	}
	if c.sent == 0 {
		csvHeaders(c.w.Header())
	}
	n, err := c.w.Write(c.buf.Bytes())
	c.sent += n
	c.buf.Reset()
	if err != nil {
		return fmt.Errorf("send disposition csv: %w", err)
	}
	// Not every writer can flush or take a deadline (a test recorder may
	// not); the rows are still written.
	_ = c.rc.Flush()
	_ = c.rc.SetWriteDeadline(time.Now().Add(csvWriteWindow))
	return nil
}

func (c *csvStream) finish() error {
	if err := c.start(); err != nil {
		return err
	}
	return c.flush()
}

// discard drops what was buffered, for an error answered instead.
func (c *csvStream) discard() { c.buf.Reset() }

// csvHeaders are the response headers of the disposition CSV.
func csvHeaders(h http.Header) {
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="disposition.csv"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
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
