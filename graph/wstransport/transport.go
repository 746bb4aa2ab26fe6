// Package wstransport serves GraphQL over WebSocket with the
// "graphql-transport-ws" protocol
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md) as a gqlgen
// transport.
//
// It exists because gqlgen's built-in websocket transport does not close
// sockets with the protocol's close codes, and clients (graphql-ws and its
// ports) decide from those codes whether to retry, re-authenticate or give up.
// On top of the protocol it bounds what one connection can cost the server: a
// send queue per connection that never blocks the subscriptions producing into
// it (a client too slow to drain it is closed with 1013 and resumes from its
// cursor on a fresh connection), a cap on concurrent operations, a message
// size limit, keep-alive pings that drop dead peers, and a periodic re-check of
// the credential so a revoked token ends its live subscriptions.
package wstransport

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
)

// Subprotocol is the only WebSocket subprotocol the transport speaks.
const Subprotocol = "graphql-transport-ws"

// Close codes the transport sends. The 44xx codes are the protocol's; the
// others are RFC 6455 codes given the meaning described here.
const (
	// CloseNormal is a client-initiated normal closure.
	CloseNormal = 1000
	// CloseGoingAway ends connections when the server shuts down.
	CloseGoingAway = 1001
	// CloseAbnormal is never sent: OnClose reports it for a socket that ended
	// without a close frame (a dead peer, a dropped TCP connection).
	CloseAbnormal = 1006
	// CloseMessageTooBig closes a connection whose message exceeds ReadLimit.
	CloseMessageTooBig = 1009
	// CloseInternalError closes a connection after a panic in the
	// authenticator or its re-check.
	CloseInternalError = 1011
	// CloseTryAgainLater closes a slow consumer (full send queue or timed out write).
	CloseTryAgainLater = 1013
	// CloseBadRequest closes a connection that sent an invalid message.
	CloseBadRequest = 4400
	// CloseUnauthorized closes a connection that subscribed before connection_ack.
	CloseUnauthorized = 4401
	// CloseForbidden closes a connection whose credentials were refused or revoked.
	CloseForbidden = 4403
	// CloseSubprotocolNotAcceptable closes a socket that did not negotiate Subprotocol.
	CloseSubprotocolNotAcceptable = 4406
	// CloseInitTimeout closes a connection that sent no connection_init within InitTimeout.
	CloseInitTimeout = 4408
	// CloseSubscriberExists closes a connection that reused the id of an active operation.
	CloseSubscriberExists = 4409
	// CloseTooManyInitRequests closes a connection that sent connection_init twice.
	CloseTooManyInitRequests = 4429
)

// Defaults of the Transport's zero-valued fields.
const (
	DefaultInitTimeout   = 10 * time.Second
	DefaultKeepAlive     = 20 * time.Second
	DefaultSendBuffer    = 256
	DefaultWriteTimeout  = 10 * time.Second
	DefaultMaxOperations = 100
	DefaultReadLimit     = 64 << 10
	DefaultRecheck       = time.Minute
)

// slowConsumerReason tells the client what to do, not just what happened:
// events are replayed from the database, so nothing is lost by reconnecting.
const slowConsumerReason = "slow consumer: send buffer full; reconnect and resume from your last cursor"

// Authenticator checks a connection's credentials from the upgrade request and
// the connection_init payload (clients send {"authorization": "Bearer <token>"}
// or {"Authorization": ...} or {"token": "<token>"}; parsing the payload is the
// authenticator's job; the payload is empty, never nil, when the client sent
// none). It returns the context the connection's operations run in (derived
// from ctx, which ends with the connection), and an optional check, run every
// Transport.Recheck while the connection lives: its error ends the connection
// with 4403 (a revoked token). An error from the Authenticator itself closes
// the connection with 4403 "Forbidden"; its text is logged, never sent.
type Authenticator func(ctx context.Context, r *http.Request, payload map[string]any) (context.Context, func(context.Context) error, error)

// Transport is a gqlgen transport (graphql.Transport) serving the
// graphql-transport-ws protocol; add it to a handler.Server with AddTransport.
// Use it through a pointer: it tracks its open connections. The zero values of
// the optional fields select the defaults documented on each.
type Transport struct {
	// Authenticate authenticates each connection's connection_init; required
	// (without it every upgrade is refused with HTTP 500).
	Authenticate Authenticator
	// InitTimeout bounds the wait for connection_init (default 10s); then the
	// socket is closed with 4408 "Connection initialisation timeout".
	InitTimeout time.Duration
	// KeepAlive is the interval of the WebSocket ping control frames the server
	// sends (default 20s). A peer from which no frame at all (message, ping or
	// pong) arrived for 2×KeepAlive, leaving the last ping unanswered, is
	// dropped without a close handshake (a dead peer). Protocol-level
	// {"type":"ping"} messages are answered with {"type":"pong"} regardless.
	KeepAlive time.Duration
	// SendBuffer is how many outgoing messages may wait per connection
	// (default 256). When it is full the client is too slow: the connection is
	// closed with 1013 and a reason telling it to resume from its last cursor.
	// Producers never block on it, so one slow client cannot stall the
	// subscriptions feeding it nor other connections.
	SendBuffer int
	// WriteTimeout bounds each write to the socket (default 10s). A write that
	// times out ends the connection as a slow consumer (1013); the socket is
	// then unusable, so no close frame reaches the client.
	WriteTimeout time.Duration
	// MaxOperations caps the operations running at once on a connection
	// (default 100). A subscribe beyond it gets an "error" message for its id;
	// the connection stays open.
	MaxOperations int
	// ReadLimit is the largest message accepted, in bytes (default 64 KiB); a
	// larger one closes the connection with 1009.
	ReadLimit int64
	// Recheck is the interval of the Authenticator's check (default 1m).
	Recheck time.Duration
	// CheckOrigin, if not nil, vets the upgrade request's Origin (false: HTTP
	// 403). Nil allows every origin: bearer tokens sent in connection_init,
	// never ambient cookies, authenticate, so cross-site requests gain nothing.
	CheckOrigin func(*http.Request) bool
	// Logger receives refused credentials, slow consumers, dead peers and
	// panics (default slog.Default()).
	Logger *slog.Logger
	// OnClose, if not nil, is told the close code of each connection once it
	// has ended (metrics): the code the server sent, or the client's, or
	// CloseAbnormal when the socket ended without a close frame.
	OnClose func(code int)

	mu           sync.Mutex
	conns        map[*conn]struct{}
	shuttingDown bool
	drained      chan struct{} // closed when the last connection ends during Shutdown
}

var _ graphql.Transport = (*Transport)(nil)

// Supports reports whether r is a WebSocket upgrade request.
func (t *Transport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

// Do upgrades r to a WebSocket and serves the protocol on it until the
// connection ends; exec runs the operations.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	log := t.logger()
	if t.Authenticate == nil {
		log.ErrorContext(r.Context(), "wstransport: Transport.Authenticate is nil; refusing WebSocket upgrade")
		http.Error(w, "WebSocket transport misconfigured", http.StatusInternalServerError)
		return
	}
	if t.CheckOrigin != nil && !t.CheckOrigin(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	c := newConn(t, r, exec, log)
	// Tracking starts before the upgrade so that Shutdown either refuses the
	// request here or closes the connection it is about to become.
	if !t.track(c) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	defer t.untrack(c)

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{Subprotocol},
		// Origins are CheckOrigin's business, done above.
		InsecureSkipVerify: true,
		OnPingReceived: func(context.Context, []byte) bool {
			c.touch()
			return true
		},
		OnPongReceived: func(context.Context, []byte) { c.touch() },
	})
	if err != nil {
		// Accept has answered the request already.
		log.DebugContext(r.Context(), "WebSocket upgrade failed", "err", err)
		return
	}
	code := c.serve(ws)
	if t.OnClose != nil {
		t.OnClose(code)
	}
}

// Shutdown stops accepting connections (new upgrades get HTTP 503) and closes
// every open one with 1001 "server shutting down" (so clients reconnect
// elsewhere and resume), waiting until they are gone or ctx ends. When ctx ends
// first, it returns ctx's error and the remaining sockets are dropped without
// waiting further for their close handshake. The Transport accepts no
// connection afterwards.
func (t *Transport) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.shuttingDown = true
	if len(t.conns) == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.drained == nil {
		t.drained = make(chan struct{})
	}
	drained := t.drained
	open := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		open = append(open, c)
	}
	t.mu.Unlock()

	for _, c := range open {
		c.close(CloseGoingAway, "server shutting down")
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
	}
	t.mu.Lock()
	open = open[:0]
	for c := range t.conns {
		open = append(open, c)
	}
	t.mu.Unlock()
	// Dropping a socket can wait for a close handshake already under way
	// (bounded by the library), which must not hold Shutdown past ctx.
	go func() {
		for _, c := range open {
			c.kill()
		}
	}()
	return fmt.Errorf("wstransport shutdown: %w", ctx.Err())
}

// Connections reports how many connections are open (metrics, tests).
func (t *Transport) Connections() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// track registers c unless the transport is shutting down.
func (t *Transport) track(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shuttingDown {
		return false
	}
	if t.conns == nil {
		t.conns = make(map[*conn]struct{})
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *Transport) untrack(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
	if len(t.conns) == 0 && t.drained != nil {
		close(t.drained)
		t.drained = nil
	}
}

func (t *Transport) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}

func (t *Transport) initTimeout() time.Duration {
	return orDefault(t.InitTimeout, DefaultInitTimeout)
}

func (t *Transport) keepAlive() time.Duration {
	return orDefault(t.KeepAlive, DefaultKeepAlive)
}

func (t *Transport) sendBuffer() int {
	return orDefault(t.SendBuffer, DefaultSendBuffer)
}

func (t *Transport) writeTimeout() time.Duration {
	return orDefault(t.WriteTimeout, DefaultWriteTimeout)
}

func (t *Transport) maxOperations() int {
	return orDefault(t.MaxOperations, DefaultMaxOperations)
}

func (t *Transport) readLimit() int64 {
	return orDefault(t.ReadLimit, DefaultReadLimit)
}

func (t *Transport) recheck() time.Duration {
	return orDefault(t.Recheck, DefaultRecheck)
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// headerHasToken reports whether the comma-separated header name lists token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
