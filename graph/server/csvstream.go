package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/custody-dev/custody/domain"
)

// csvWriteWindow is how long a CSV download may take to accept the next
// batch of rows. The server's WriteTimeout bounds a whole response, which a
// report of a million rows may well exceed; each batch extends the deadline
// instead, so only a stalled client is cut off.
const csvWriteWindow = time.Minute

// csvFlushRows is how many rows are buffered between flushes.
const csvFlushRows = 500

// csvStream is the body of a streamed CSV download: a format writer writes
// into it, and it sends what it holds every csvFlushRows rows. Nothing
// reaches the client before the first flush, so an error before then can
// still be a proper HTTP error (endCSV); after it, the transfer is aborted.
type csvStream struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	filename string
	// buf holds what is not yet sent; sent counts the bytes that were.
	buf  bytes.Buffer
	sent int
	// n counts rows since the last flush.
	n int
}

func newCSVStream(w http.ResponseWriter, filename string) *csvStream {
	return &csvStream{w: w, rc: http.NewResponseController(w), filename: filename}
}

// Write buffers p; format writers write here.
func (c *csvStream) Write(p []byte) (int, error) { return c.buf.Write(p) }

// headers sets the download's response headers.
func (c *csvStream) headers() {
	h := c.w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+c.filename+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// rowWritten counts a row and, every csvFlushRows rows, flushes the format
// writer (formatFlush) and sends the batch.
func (c *csvStream) rowWritten(formatFlush func() error) error {
	if c.n++; c.n < csvFlushRows {
		return nil
	}
	return c.send(formatFlush)
}

// finish sends what is left.
func (c *csvStream) finish(formatFlush func() error) error { return c.send(formatFlush) }

func (c *csvStream) send(formatFlush func() error) error {
	c.n = 0
	if err := formatFlush(); err != nil {
		return err
	}
	if c.sent == 0 {
		c.headers()
	}
	n, err := c.w.Write(c.buf.Bytes())
	c.sent += n
	c.buf.Reset()
	if err != nil {
		return fmt.Errorf("send csv: %w", err)
	}
	// Not every writer can flush or take a deadline (a test recorder may
	// not); the rows are still written.
	_ = c.rc.Flush()
	_ = c.rc.SetWriteDeadline(time.Now().Add(csvWriteWindow))
	return nil
}

// endCSV answers a streamed download's error: before anything was sent, a
// 400 for the caller's mistakes and a logged 500 otherwise; after, the
// transfer is aborted so the client sees a failed download, not a
// complete-looking file missing its tail.
func (s *Server) endCSV(w http.ResponseWriter, r *http.Request, out *csvStream, op string, err error) {
	if err == nil {
		return
	}
	var userErrs domain.UserErrors
	switch {
	case out.sent > 0:
		s.log.ErrorContext(r.Context(), op+": aborted after it started", "err", err)
		panic(http.ErrAbortHandler)
	case errors.As(err, &userErrs) && len(userErrs) > 0:
		out.buf.Reset()
		writeError(w, http.StatusBadRequest, string(userErrs[0].Code), userErrs.Error())
	case errors.Is(err, domain.ErrForbidden):
		out.buf.Reset()
		writeError(w, http.StatusForbidden, "FORBIDDEN", "your role may not export these records")
	default:
		out.buf.Reset()
		s.internalError(w, r, op, err)
	}
}
