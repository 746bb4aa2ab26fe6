package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/tenancy"
)

// requestInfo collects, while a request runs, the facts its access log line
// and HTTP metrics report. The handlers that learn them (routing,
// authentication, body buffering) run on the request's goroutine, so the
// fields need no lock.
type requestInfo struct {
	route     string
	tenantID  string
	operation string
}

type requestInfoKey struct{}

// infoFrom returns the request's info, or a throwaway one when the handler
// runs outside logRequests (a test calling a handler directly).
func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// routed records which mux pattern served the request; metrics label by
// pattern, never by raw path, to keep label cardinality bounded.
func routed(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).route = pattern
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer's
// deadlines, flushing and hijacking.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush keeps streaming transports working through the wrapper.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack keeps WebSocket upgrades working through the wrapper.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// logRequests writes one structured line per request and counts it in the
// HTTP metrics. It never logs headers or the query string, so neither a
// bearer token nor a GraphQL document with personal data reaches the logs.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{}
		sw := &statusWriter{ResponseWriter: w}
		// A handler that aborts a response it has started (a download failing
		// mid-stream) panics with http.ErrAbortHandler; the request is still
		// logged and counted, as the failure it is, before the panic goes on
		// to net/http.
		aborted := true
		defer func() {
			if aborted {
				s.logRequest(r, ri, sw, start, true)
			}
		}()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri)))
		aborted = false
		s.logRequest(r, ri, sw, start, false)
	})
}

// logRequest writes a request's access log line and counts it; an aborted
// response counts as a 500 whatever status it had started with.
func (s *Server) logRequest(r *http.Request, ri *requestInfo, sw *statusWriter, start time.Time, aborted bool) {
	status := sw.status
	switch {
	case aborted:
		status = http.StatusInternalServerError
	case status == 0:
		status = http.StatusOK
	}
	route := ri.route
	if route == "" {
		route = "unmatched"
	}
	if s.metrics != nil {
		s.metrics.observeHTTP(route, status)
	}
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case route == "GET /healthz" || route == "GET /readyz" || route == "GET /metrics":
		// Probes and scrapes arrive every few seconds; at info they
		// would drown the requests that matter.
		level = slog.LevelDebug
	}
	s.log.LogAttrs(r.Context(), level, "http request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.Int64("bytes", sw.bytes),
		slog.String("operation", ri.operation),
		slog.String("tenant", ri.tenantID),
		slog.Bool("aborted", aborted),
	)
}

// recoverPanics turns a handler panic into a logged 500 with a generic body:
// the stack goes to the log, never to the client.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				// net/http's own signal to abort silently.
				panic(rec)
			}
			s.log.ErrorContext(r.Context(), "panic serving request",
				"path", r.URL.Path, "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				// The response has started; the client sees a truncated body.
				return
			}
			writeError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal server error")
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody refuses a declared oversized body at once and caps any other, so
// no handler can be made to read more than maxBodyBytes.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.bodyLimit(r)
		if r.ContentLength > limit {
			s.tooLarge(w, limit)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// bufferBody reads the (already limited) body before the GraphQL handler
// does, so that a body over the limit is answered 413 whatever the transport
// would make of a read error, and so the operation name can be logged.
func (s *Server) bufferBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := infoFrom(r.Context())
		if r.Method == http.MethodGet {
			ri.operation = r.URL.Query().Get("operationName")
			next.ServeHTTP(w, r)
			return
		}
		if isUpload(r) {
			s.serveUpload(w, r, next)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		var buf bytes.Buffer
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength))
		}
		if _, err := buf.ReadFrom(r.Body); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				s.tooLarge(w, s.maxBodyBytes)
				return
			}
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "could not read request body")
			return
		}
		_ = r.Body.Close()
		ri.operation = operationName(buf.Bytes())
		r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
		r.ContentLength = int64(buf.Len())
		next.ServeHTTP(w, r)
	})
}

// operationName returns the operationName of a JSON GraphQL request body, or
// "" when there is none or the body is not JSON (the GraphQL handler reports that).
func operationName(body []byte) string {
	var req struct {
		OperationName string `json:"operationName"`
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	const maxLogged = 100
	if len(req.OperationName) > maxLogged {
		return req.OperationName[:maxLogged]
	}
	return req.OperationName
}

// tooLarge answers 413 and closes the connection: the rest of the body is
// not worth reading.
func (s *Server) tooLarge(w http.ResponseWriter, limit int64) {
	w.Header().Set("Connection", "close")
	writeError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE",
		"request body exceeds "+strconv.FormatInt(limit, 10)+" bytes")
}

// Bounds of file uploads (multipart GraphQL requests: imports).
const (
	// maxConcurrentUploads bounds the uploads in flight, each of which may
	// hold a temporary file up to the upload limit and a long import.
	maxConcurrentUploads = 2
	// uploadReadWindow and uploadWriteWindow replace the server's read and
	// write timeouts for an upload: sending a large file and importing it
	// take longer than any other request.
	uploadReadWindow  = 10 * time.Minute
	uploadWriteWindow = 30 * time.Minute
)

// serveUpload lets a file upload through to the GraphQL handler unbuffered
// (it spills the file to a temporary file), but only for a caller whose
// role may import, with a declared length (so the handler never holds a
// body of unknown size in memory), and a few at a time.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, next http.Handler) {
	p, ok := tenancy.PrincipalFrom(r.Context())
	if !ok {
		unauthenticated(w, msgMissingToken, false)
		return
	}
	if !s.mayUpload(p) {
		writeError(w, http.StatusForbidden, "FORBIDDEN", "your role may not upload files (imports: Mutation.assetImport, Mutation.peopleImport)")
		return
	}
	if r.ContentLength <= 0 {
		writeError(w, http.StatusLengthRequired, "LENGTH_REQUIRED", "a file upload must state its Content-Length")
		return
	}
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	default:
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, "TOO_MANY_UPLOADS", "too many uploads in progress; retry shortly")
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(uploadReadWindow))
	_ = rc.SetWriteDeadline(time.Now().Add(uploadWriteWindow))
	next.ServeHTTP(w, r)
}

// mayUpload reports whether p's roles may run an import; without an
// authorizer no one may.
func (s *Server) mayUpload(p tenancy.Principal) bool {
	if s.authz == nil {
		return false
	}
	for _, op := range []string{"assetImport", "peopleImport"} {
		if s.authz.Check(p, authz.ObjMutation, op) == nil {
			return true
		}
	}
	return false
}

// bodyLimit is the largest body r may have: an upload's limit for a
// multipart GraphQL request, the body limit otherwise.
func (s *Server) bodyLimit(r *http.Request) int64 {
	if isUpload(r) {
		return s.maxUpload
	}
	return s.maxBodyBytes
}

// isUpload reports whether r is a GraphQL multipart request (a file upload).
func isUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/graphql" &&
		strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/form-data")
}

// graphQLErrorBody is a GraphQL response carrying only top-level errors, so
// GraphQL clients can read HTTP-level refusals like any other error.
type graphQLErrorBody struct {
	Errors []graphQLError `json:"errors"`
}

type graphQLError struct {
	Message    string            `json:"message"`
	Extensions map[string]string `json:"extensions"`
}

// writeError writes a GraphQL-shaped error response with status and code.
func writeError(w http.ResponseWriter, status int, code, message string) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	// Messages such as "Bearer <token>" stay readable; the body is JSON, not HTML.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(graphQLErrorBody{Errors: []graphQLError{{
		Message:    message,
		Extensions: map[string]string{"code": code},
	}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}
