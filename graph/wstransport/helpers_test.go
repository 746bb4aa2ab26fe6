package wstransport_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/custody-dev/custody/graph/wstransport"
)

// patience only turns a hang into a failure; no test expects anything to take
// a particular time.
const patience = 15 * time.Second

const goodToken = "good"

type tokenKey struct{}

// fixture is an httptest server serving gqlgen's handler with the transport.
type fixture struct {
	tr      *wstransport.Transport
	ts      *httptest.Server
	url     string
	closes  chan int
	revoked atomic.Bool
}

// newFixture serves srv with a Transport configured by configure (after the
// fixture's authenticator, OnClose and a quiet logger are set).
func newFixture(t *testing.T, srv *handler.Server, configure func(*wstransport.Transport)) *fixture {
	t.Helper()
	f := &fixture{closes: make(chan int, 64)}
	f.tr = &wstransport.Transport{
		Authenticate: f.authenticate,
		Logger:       slog.New(slog.DiscardHandler),
		OnClose:      func(code int) { f.closes <- code },
	}
	if configure != nil {
		configure(f.tr)
	}
	srv.AddTransport(f.tr)
	f.ts = httptest.NewServer(srv)
	t.Cleanup(f.ts.Close)
	f.url = "ws" + strings.TrimPrefix(f.ts.URL, "http")
	return f
}

// authenticate accepts the token "good" in any of the payload shapes clients
// send; the check fails once the fixture is revoked.
func (f *fixture) authenticate(ctx context.Context, _ *http.Request, payload map[string]any) (context.Context, func(context.Context) error, error) {
	var token string
	for _, key := range []string{"authorization", "Authorization"} {
		if v, ok := payload[key].(string); ok {
			token = strings.TrimPrefix(v, "Bearer ")
		}
	}
	if v, ok := payload["token"].(string); ok {
		token = v
	}
	if token != goodToken {
		return nil, nil, errors.New("unknown token")
	}
	check := func(context.Context) error {
		if f.revoked.Load() {
			return errors.New("token revoked")
		}
		return nil
	}
	return context.WithValue(ctx, tokenKey{}, token), check, nil
}

// closedWith returns the next code OnClose was told.
func (f *fixture) closedWith(t *testing.T) int {
	t.Helper()
	select {
	case code := <-f.closes:
		return code
	case <-time.After(patience):
		t.Fatal("OnClose was not called")
		return 0
	}
}

// eventually waits, with patience, until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// msg is a protocol message as the client sees it.
type msg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
}

// dial connects with the graphql-transport-ws subprotocol unless opts says
// otherwise.
func (f *fixture) dial(t *testing.T, opts *websocket.DialOptions) *client {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	if opts.Subprotocols == nil {
		opts.Subprotocols = []string{wstransport.Subprotocol}
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, f.url, opts)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{t: t, ws: ws}
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write %s: %v", s, err)
	}
}

func (c *client) send(m msg) {
	c.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

func (c *client) subscribe(id, query string) {
	c.t.Helper()
	c.send(msg{Type: "subscribe", ID: id, Payload: json.RawMessage(mustJSON(c.t, map[string]any{"query": query}))})
}

func (c *client) read() msg {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m msg
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("server sent invalid JSON %q: %v", data, err)
	}
	return m
}

// expect reads one message and checks its type and id.
func (c *client) expect(typ, id string) msg {
	c.t.Helper()
	m := c.read()
	if m.Type != typ || m.ID != id {
		c.t.Fatalf("got message %s %q (payload %s), want %s %q", m.Type, m.ID, m.Payload, typ, id)
	}
	return m
}

// init authenticates with the good token and waits for the ack.
func (c *client) init() {
	c.t.Helper()
	c.sendRaw(`{"type":"connection_init","payload":{"authorization":"Bearer good"}}`)
	c.expect("connection_ack", "")
}

// readClose discards messages until the server's close frame and returns its
// code and reason.
func (c *client) readClose() (int, string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	for {
		_, _, err := c.ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("want a close frame, got %v", err)
		}
		return int(ce.Code), ce.Reason
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// streamServer is a gqlgen server whose subscriptions the tests steer by
// operation name, for what gqlgen's testserver cannot do: produce without
// pause (Firehose), wait for a tick (Ticker), produce under the reader's flow
// control (Credit), panic (Panic).
type streamServer struct {
	*handler.Server
	tick    chan struct{}
	credits chan struct{}
	// ended receives the name of every subscription whose context ended.
	ended  chan string
	active atomic.Int64
}

func newStreamServer() *streamServer {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { name: String! }
		type Subscription { name: String! }
	`})
	s := &streamServer{
		tick:    make(chan struct{}),
		credits: make(chan struct{}, 1024),
		ended:   make(chan string, 1024),
	}
	// A new response each time: the executor appends to it.
	name := func() *graphql.Response { return &graphql.Response{Data: []byte(`{"name":"test"}`)} }
	s.Server = handler.New(&graphql.ExecutableSchemaMock{
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			op := graphql.GetOperationContext(ctx)
			if op.Operation.Operation != ast.Subscription {
				return graphql.OneShot(name())
			}
			s.active.Add(1)
			context.AfterFunc(ctx, func() {
				s.active.Add(-1)
				s.ended <- op.Operation.Name
			})
			switch op.Operation.Name {
			case "Firehose":
				return func(ctx context.Context) *graphql.Response {
					if ctx.Err() != nil {
						return nil
					}
					return name()
				}
			case "Credit":
				return func(ctx context.Context) *graphql.Response {
					select {
					case <-ctx.Done():
						return nil
					case <-s.credits:
						return name()
					}
				}
			case "Panic":
				return func(context.Context) *graphql.Response { panic("boom") }
			default:
				return func(ctx context.Context) *graphql.Response {
					select {
					case <-ctx.Done():
						return nil
					case <-s.tick:
						return name()
					}
				}
			}
		},
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 0, false
		},
	})
	// Quiet: the default prints the stack of the deliberate panic.
	s.SetRecoverFunc(func(context.Context, any) error { return gqlerror.Errorf("internal system error") })
	return s
}

// waitEnded waits until a subscription named name has ended.
func (s *streamServer) waitEnded(t *testing.T, name string) {
	t.Helper()
	timeout := time.After(patience)
	for {
		select {
		case got := <-s.ended:
			if got == name {
				return
			}
		case <-timeout:
			t.Fatalf("subscription %s did not end", name)
		}
	}
}
