package wstransport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// conn is one WebSocket connection. Its goroutines: the HTTP handler's, which
// reads (serve/readLoop); the writer, the only one writing data and close
// frames; the keep-alive pinger; the credential re-check; one per operation.
// Every one of them ends once done is closed and the socket is gone.
type conn struct {
	t    *Transport
	r    *http.Request
	exec graphql.GraphExecutor
	log  *slog.Logger

	ws       atomic.Pointer[websocket.Conn]
	ctx      context.Context // ends when the connection ends
	cancel   context.CancelFunc
	send     chan []byte
	lastSeen atomic.Int64 // unix nanoseconds of the peer's last frame
	wg       sync.WaitGroup

	// Decided once by end: why the connection ends.
	endOnce sync.Once
	done    chan struct{}
	code    int
	reason  string
	abrupt  bool // no close handshake: the socket is unusable or the peer dead

	// Reader goroutine only.
	acked   bool
	authCtx context.Context

	initReceived atomic.Bool

	mu  sync.Mutex
	ops map[string]*operation
}

// operation is one subscribe while it runs. It owns its id in conn.ops; only
// the owner of the entry may send for it, which is how a client "complete"
// silences an operation at once.
type operation struct {
	id     string
	cancel context.CancelFunc
}

func newConn(t *Transport, r *http.Request, exec graphql.GraphExecutor, log *slog.Logger) *conn {
	ctx, cancel := context.WithCancel(r.Context())
	return &conn{
		t:      t,
		r:      r,
		exec:   exec,
		log:    log.With("remote", r.RemoteAddr),
		ctx:    ctx,
		cancel: cancel,
		send:   make(chan []byte, t.sendBuffer()),
		done:   make(chan struct{}),
		ops:    make(map[string]*operation),
	}
}

// serve runs the connection on ws until it ends and every goroutine it
// started has returned; it returns the close code.
func (c *conn) serve(ws *websocket.Conn) int {
	c.ws.Store(ws)
	defer c.cancel()
	if ws.Subprotocol() != Subprotocol {
		c.end(CloseSubprotocolNotAcceptable, "Subprotocol not acceptable", false)
		c.shut(ws)
		return c.code
	}
	ws.SetReadLimit(c.t.readLimit())
	c.touch()
	initTimer := time.AfterFunc(c.t.initTimeout(), func() {
		if !c.initReceived.Load() {
			c.close(CloseInitTimeout, "Connection initialisation timeout")
		}
	})
	c.wg.Add(2)
	go c.writeLoop(ws)
	go c.keepAlive(ws)

	c.readLoop(ws)

	initTimer.Stop()
	c.end(CloseAbnormal, "", true) // a no-op unless the socket just died
	c.wg.Wait()
	c.log.Debug("WebSocket connection closed", "code", c.code, "reason", c.reason)
	return c.code
}

// close ends the connection with a close handshake. It never blocks: the
// writer sends the close frame after the write in flight.
func (c *conn) close(code int, reason string) {
	c.end(code, reason, false)
}

// end decides, once, how the connection ends and cancels everything running
// on it.
func (c *conn) end(code int, reason string, abrupt bool) {
	c.endOnce.Do(func() {
		c.code, c.reason, c.abrupt = code, fitReason(reason), abrupt
		close(c.done)
		c.cancel()
	})
}

// kill drops the socket without a handshake (Shutdown out of patience).
func (c *conn) kill() {
	c.end(CloseGoingAway, "server shutting down", true)
	if ws := c.ws.Load(); ws != nil {
		_ = ws.CloseNow()
	}
}

func (c *conn) closing() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// shut closes the socket as end decided; it must run after done is closed.
func (c *conn) shut(ws *websocket.Conn) {
	if c.abrupt {
		_ = ws.CloseNow()
		return
	}
	// Close waits for the peer's close frame (at most 5s, a library constant)
	// while the read loop keeps reading.
	_ = ws.Close(websocket.StatusCode(c.code), c.reason)
}

func (c *conn) touch() {
	c.lastSeen.Store(time.Now().UnixNano())
}

// enqueue queues msg for the writer without ever blocking: a full queue means
// the client does not keep up, and waiting for it would stall the producer.
// It reports whether msg was queued.
func (c *conn) enqueue(msg []byte) bool {
	if c.closing() {
		return false
	}
	select {
	case c.send <- msg:
		return true
	default:
		c.log.Warn("WebSocket client too slow; closing", "queued", cap(c.send))
		c.close(CloseTryAgainLater, slowConsumerReason)
		return false
	}
}

func (c *conn) writeLoop(ws *websocket.Conn) {
	defer c.wg.Done()
	for {
		// Checked first so that a decided close is not delayed by a backlog
		// nobody will read.
		if c.closing() {
			c.shut(ws)
			return
		}
		select {
		case <-c.done:
		case msg := <-c.send:
			c.write(ws, msg)
		}
	}
}

func (c *conn) write(ws *websocket.Conn, msg []byte) {
	// Not derived from c.ctx: cancelling a write makes the library drop the
	// socket, and the close frame must still go out after it.
	ctx, cancel := context.WithTimeout(context.Background(), c.t.writeTimeout())
	defer cancel()
	err := ws.Write(ctx, websocket.MessageText, msg)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		c.log.Warn("WebSocket write timed out; closing", "timeout", c.t.writeTimeout())
		c.end(CloseTryAgainLater, slowConsumerReason, true)
	case errors.Is(err, net.ErrClosed):
		// The socket is closing (the peer's close frame, say): the reader
		// learns how and decides the code.
	default:
		c.end(CloseAbnormal, "", true)
	}
}

// keepAlive pings the peer every KeepAlive and drops it once nothing has
// arrived from it for 2×KeepAlive, not even the answer to a ping: requiring an
// unanswered ping keeps a server too busy to send its pings on time from
// blaming the peer.
func (c *conn) keepAlive(ws *websocket.Conn) {
	defer c.wg.Done()
	interval := c.t.keepAlive()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var pingedAt int64 // unix nanoseconds; 0 before the first ping
	for {
		select {
		case <-c.done:
			return
		case <-ticker.C:
		}
		lastSeen := c.lastSeen.Load()
		if idle := time.Since(time.Unix(0, lastSeen)); pingedAt != 0 && lastSeen < pingedAt && idle > 2*interval {
			c.log.Info("WebSocket peer unresponsive; dropping", "idle", idle)
			c.end(CloseAbnormal, "", true)
			return
		}
		// The pong itself is noted by OnPongReceived; Ping waits for it at
		// most half an interval so that the loop keeps its pace. Its error is
		// of no interest: a peer that does not answer is caught above, and a
		// broken socket by the reader.
		pingedAt = time.Now().UnixNano()
		ctx, cancel := context.WithTimeout(context.Background(), interval/2)
		_ = ws.Ping(ctx)
		cancel()
	}
}

func (c *conn) readLoop(ws *websocket.Conn) {
	for {
		// Read's context stays uncancelled: cancelling it would drop the socket
		// before the close handshake, which this loop must keep reading for.
		_, data, err := ws.Read(context.Background())
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrMessageTooBig):
				// The library has sent the close frame already.
				c.close(CloseMessageTooBig, "Message too big")
			case websocket.CloseStatus(err) != -1:
				c.end(int(websocket.CloseStatus(err)), "", false)
			default:
				c.end(CloseAbnormal, "", true)
			}
			return
		}
		c.touch()
		if c.closing() {
			continue // drain until the close handshake completes
		}
		if !c.handle(data, time.Now()) {
			return
		}
	}
}

// handle acts on one client message; false means the connection is closing.
func (c *conn) handle(data []byte, received time.Time) bool {
	msg, reason := parseMessage(data)
	if reason != "" {
		c.close(CloseBadRequest, reason)
		return false
	}
	switch msg.Type {
	case "connection_init":
		return c.onInit(msg.Payload)
	case "ping":
		c.enqueue(pongMessage)
		return true
	case "pong":
		return true
	case "subscribe":
		return c.onSubscribe(msg, received)
	case "complete":
		return c.onComplete(msg)
	default:
		c.close(CloseBadRequest, fmt.Sprintf("Invalid message: unexpected type %q", msg.Type))
		return false
	}
}

func (c *conn) onInit(raw json.RawMessage) bool {
	if c.initReceived.Swap(true) {
		c.close(CloseTooManyInitRequests, "Too many initialisation requests")
		return false
	}
	payload, ok := parseInitPayload(raw)
	if !ok {
		c.close(CloseBadRequest, "Invalid message: connection_init payload must be an object")
		return false
	}
	ctx, check, err := c.authenticate(payload)
	if err != nil {
		c.log.Info("WebSocket connection refused", "err", err)
		c.close(CloseForbidden, "Forbidden")
		return false
	}
	if c.closing() {
		return false // the authenticator was slower than, say, Shutdown
	}
	c.authCtx = ctx
	c.acked = true
	c.enqueue(ackMessage)
	if check != nil {
		c.wg.Add(1)
		go c.recheck(ctx, check)
	}
	return true
}

// authenticate runs the Authenticator, turning a panic into an error so a
// faulty one cannot take the process down.
func (c *conn) authenticate(payload map[string]any) (ctx context.Context, check func(context.Context) error, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("panic in WebSocket authenticator", "panic", p, "stack", string(debug.Stack()))
			ctx, check, err = nil, nil, fmt.Errorf("authenticator panicked: %v", p)
		}
	}()
	ctx, check, err = c.t.Authenticate(c.ctx, c.r, payload)
	if err != nil {
		return nil, nil, fmt.Errorf("authenticate WebSocket connection: %w", err)
	}
	if ctx == nil {
		ctx = c.ctx
	}
	return ctx, check, nil
}

func (c *conn) recheck(ctx context.Context, check func(context.Context) error) {
	defer c.wg.Done()
	ticker := time.NewTicker(c.t.recheck())
	defer ticker.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-ticker.C:
		}
		if err := c.runCheck(ctx, check); err != nil {
			c.log.Info("WebSocket credentials no longer valid; closing", "err", err)
			c.close(CloseForbidden, "Forbidden")
			return
		}
	}
}

func (c *conn) runCheck(ctx context.Context, check func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("panic in WebSocket credential check", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("credential check panicked: %v", p)
		}
	}()
	return check(ctx)
}

func (c *conn) onSubscribe(msg message, received time.Time) bool {
	if msg.ID == "" {
		c.close(CloseBadRequest, "Invalid message: subscribe needs a non-empty string id")
		return false
	}
	params, reason := parseSubscribePayload(msg.Payload)
	if reason != "" {
		c.close(CloseBadRequest, reason)
		return false
	}
	if !c.acked {
		c.close(CloseUnauthorized, "Unauthorized")
		return false
	}

	c.mu.Lock()
	if _, active := c.ops[msg.ID]; active {
		c.mu.Unlock()
		c.close(CloseSubscriberExists, subscriberExistsReason(msg.ID))
		return false
	}
	if len(c.ops) >= c.t.maxOperations() {
		c.mu.Unlock()
		c.enqueue(errorMessage(msg.ID, gqlerror.List{{
			Message:    fmt.Sprintf("too many concurrent operations: at most %d per connection", c.t.maxOperations()),
			Extensions: map[string]any{"code": "TOO_MANY_OPERATIONS"},
		}}))
		return true
	}
	ctx, cancel := context.WithCancel(c.authCtx)
	op := &operation{id: msg.ID, cancel: cancel}
	c.ops[msg.ID] = op
	c.mu.Unlock()

	// An authenticator that did not derive its context from the connection's
	// would leave operations running past the connection's end.
	stop := context.AfterFunc(c.ctx, cancel)
	params.Headers = c.r.Header
	params.ReadTime = graphql.TraceTiming{Start: received, End: graphql.Now()}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer stop()
		defer cancel()
		defer c.release(op)
		c.execute(ctx, op, params)
	}()
	return true
}

func (c *conn) onComplete(msg message) bool {
	if msg.ID == "" {
		c.close(CloseBadRequest, "Invalid message: complete needs a non-empty string id")
		return false
	}
	// An unknown id is fine: the operation may have completed as the client
	// completed it.
	c.mu.Lock()
	op := c.ops[msg.ID]
	if op != nil {
		delete(c.ops, msg.ID)
	}
	c.mu.Unlock()
	if op != nil {
		op.cancel()
	}
	return true
}

// execute runs one operation. Errors before execution go out as an "error"
// message, results as "next", the end as "complete" unless the client
// completed it first.
func (c *conn) execute(ctx context.Context, op *operation, params *graphql.RawParams) {
	var opCtx *graphql.OperationContext
	defer func() {
		// gqlgen recovers resolver panics; this guards the rest (middleware,
		// hand-written executable schemas) so that one operation cannot take
		// the process down.
		p := recover()
		if p == nil {
			return
		}
		gqlErr := &gqlerror.Error{Message: "internal system error"}
		if opCtx != nil {
			var presented *gqlerror.Error
			if errors.As(opCtx.Recover(ctx, p), &presented) {
				gqlErr = presented
			}
		} else {
			c.log.Error("panic in WebSocket operation", "id", op.id, "panic", p, "stack", string(debug.Stack()))
		}
		c.finish(op, errorMessage(op.id, gqlerror.List{gqlErr}))
	}()

	ctx = graphql.StartOperationTrace(ctx)
	opCtx, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
		c.finish(op, errorMessage(op.id, resp.Errors))
		return
	}
	responses, ctx := c.exec.DispatchOperation(graphql.WithOperationContext(ctx, opCtx), opCtx)
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		b, err := json.Marshal(resp)
		if err != nil {
			c.log.Error("encode GraphQL response", "id", op.id, "err", err)
			c.finish(op, errorMessage(op.id, gqlerror.List{{Message: "internal system error"}}))
			return
		}
		if !c.emit(op, encodeMessage("next", op.id, b)) {
			return
		}
	}
	c.finish(op, encodeMessage("complete", op.id, nil))
}

// emit queues msg for op unless the client completed op or the connection is
// closing; the check and the queueing are one step under c.mu, so nothing
// follows a client's "complete" once the reader has processed it.
func (c *conn) emit(op *operation, msg []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[op.id] == op && c.enqueue(msg)
}

// finish queues op's last message and frees its id in one step, so a client
// may reuse the id as soon as it reads that message.
func (c *conn) finish(op *operation, msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops[op.id] == op {
		delete(c.ops, op.id)
		c.enqueue(msg)
	}
}

// release frees op's id if it still holds it (the connection is closing).
func (c *conn) release(op *operation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops[op.id] == op {
		delete(c.ops, op.id)
	}
}
