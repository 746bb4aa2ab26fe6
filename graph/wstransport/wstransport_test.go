package wstransport_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/coder/websocket"

	"github.com/custody-dev/custody/graph/wstransport"
)

const nameData = `{"data":{"name":"test"}}`

func TestSubscriptionHappyPath(t *testing.T) {
	srv := testserver.New()
	f := newFixture(t, srv.Server, nil)
	c := f.dial(t, nil)

	c.init()
	c.subscribe("1", "subscription { name }")
	for range 3 {
		srv.SendNextSubscriptionMessage()
		if m := c.expect("next", "1"); string(m.Payload) != nameData {
			t.Fatalf("next payload = %s, want %s", m.Payload, nameData)
		}
	}
	c.send(msg{Type: "complete", ID: "1"})

	// The server must not answer a client's complete; a later query and the
	// pong to a later ping are what may arrive, nothing for id 1.
	c.subscribe("2", "query { name }")
	c.send(msg{Type: "ping"})
	for {
		m := c.read()
		if m.ID == "1" {
			t.Fatalf("message %s for id 1 after the client completed it", m.Type)
		}
		if m.Type == "pong" {
			break
		}
	}
	if err := c.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
	if code := f.closedWith(t); code != wstransport.CloseNormal {
		t.Fatalf("OnClose code = %d, want 1000", code)
	}
	eventually(t, "connection count drops to 0", func() bool { return f.tr.Connections() == 0 })
}

func TestSubscriptionCompletedByServer(t *testing.T) {
	srv := testserver.New()
	f := newFixture(t, srv.Server, nil)
	c := f.dial(t, nil)
	c.init()
	c.subscribe("s", "subscription { name }")
	srv.SendNextSubscriptionMessage()
	c.expect("next", "s")
	srv.SendCompleteSubscriptionMessage()
	c.expect("complete", "s")
	// The id is free again once complete is read.
	c.subscribe("s", "query { name }")
	c.expect("next", "s")
	c.expect("complete", "s")
}

func TestSingleResultOperations(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    []string // message types for the operation, in order
		payload string   // a substring of the first message's payload
	}{
		{"query", "query { name }", []string{"next", "complete"}, nameData},
		{"query with variables", `query($id: Int!) { find(id: $id) }`, []string{"error"}, "id"},
		{"mutation error", "mutation { name }", []string{"next", "complete"}, "mutations are not supported"},
		{"validation error", "query { nope }", []string{"error"}, "nope"},
		{"syntax error", "query {", []string{"error"}, "message"},
	}
	srv := testserver.New()
	f := newFixture(t, srv.Server, nil)
	c := f.dial(t, nil)
	c.init()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			// Every case reuses the id: an operation's end frees it.
			c.subscribe("op", tt.query)
			for i, typ := range tt.want {
				m := c.expect(typ, "op")
				if i == 0 && !strings.Contains(string(m.Payload), tt.payload) {
					t.Errorf("payload %s does not mention %q", m.Payload, tt.payload)
				}
				if typ == "error" {
					var errs []map[string]any
					if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 {
						t.Errorf("error payload %s is not a non-empty list of GraphQL errors", m.Payload)
					}
				}
			}
		})
	}
}

func TestCloseCodes(t *testing.T) {
	const init = `{"type":"connection_init","payload":{"token":"good"}}`
	tests := []struct {
		name      string
		configure func(*wstransport.Transport)
		// send is sent in order; when it starts with init, the ack is read first.
		send       []string
		wantCode   int
		wantReason string // a substring
	}{
		{name: "invalid JSON", send: []string{init, `{"type":`}, wantCode: 4400, wantReason: "not a JSON object"},
		{name: "JSON array", send: []string{init, `[{"type":"ping"}]`}, wantCode: 4400, wantReason: "not a JSON object"},
		{name: "JSON null", send: []string{`null`}, wantCode: 4400, wantReason: "not a JSON object"},
		{name: "missing type", send: []string{init, `{"id":"1"}`}, wantCode: 4400, wantReason: "missing type"},
		{name: "type not a string", send: []string{init, `{"type":7}`}, wantCode: 4400, wantReason: "type must be a string"},
		{name: "unknown type", send: []string{init, `{"type":"start","id":"1"}`}, wantCode: 4400, wantReason: `unexpected type "start"`},
		{name: "server-only type", send: []string{init, `{"type":"next","id":"1","payload":{}}`}, wantCode: 4400, wantReason: `unexpected type "next"`},
		{name: "subscribe without id", send: []string{init, `{"type":"subscribe","payload":{"query":"{ name }"}}`}, wantCode: 4400, wantReason: "non-empty string id"},
		{name: "subscribe with empty id", send: []string{init, `{"type":"subscribe","id":"","payload":{"query":"{ name }"}}`}, wantCode: 4400, wantReason: "non-empty string id"},
		{name: "subscribe with numeric id", send: []string{init, `{"type":"subscribe","id":1,"payload":{"query":"{ name }"}}`}, wantCode: 4400, wantReason: "id must be a string"},
		{name: "subscribe without payload", send: []string{init, `{"type":"subscribe","id":"1"}`}, wantCode: 4400, wantReason: "needs a payload"},
		{name: "subscribe payload not an object", send: []string{init, `{"type":"subscribe","id":"1","payload":"{ name }"}`}, wantCode: 4400, wantReason: "malformed subscribe payload"},
		{name: "subscribe without query", send: []string{init, `{"type":"subscribe","id":"1","payload":{"variables":{}}}`}, wantCode: 4400, wantReason: "string query"},
		{name: "subscribe with non-string query", send: []string{init, `{"type":"subscribe","id":"1","payload":{"query":1}}`}, wantCode: 4400, wantReason: "malformed subscribe payload"},
		{name: "subscribe with list variables", send: []string{init, `{"type":"subscribe","id":"1","payload":{"query":"{ name }","variables":[1]}}`}, wantCode: 4400, wantReason: "malformed subscribe payload"},
		{name: "complete without id", send: []string{init, `{"type":"complete"}`}, wantCode: 4400, wantReason: "non-empty string id"},
		{name: "init payload not an object", send: []string{`{"type":"connection_init","payload":["good"]}`}, wantCode: 4400, wantReason: "must be an object"},
		{name: "subscribe before ack", send: []string{`{"type":"subscribe","id":"1","payload":{"query":"{ name }"}}`}, wantCode: 4401, wantReason: "Unauthorized"},
		{name: "wrong token", send: []string{`{"type":"connection_init","payload":{"authorization":"Bearer bad"}}`}, wantCode: 4403, wantReason: "Forbidden"},
		{name: "no credentials", send: []string{`{"type":"connection_init"}`}, wantCode: 4403, wantReason: "Forbidden"},
		{name: "init timeout", configure: func(tr *wstransport.Transport) { tr.InitTimeout = 20 * time.Millisecond }, wantCode: 4408, wantReason: "Connection initialisation timeout"},
		{
			name:       "duplicate subscriber",
			send:       []string{init, `{"type":"subscribe","id":"a","payload":{"query":"subscription { name }"}}`, `{"type":"subscribe","id":"a","payload":{"query":"subscription { name }"}}`},
			wantCode:   4409,
			wantReason: "Subscriber for a already exists",
		},
		{name: "second init", send: []string{init, init}, wantCode: 4429, wantReason: "Too many initialisation requests"},
		{
			name:      "message too big",
			configure: func(tr *wstransport.Transport) { tr.ReadLimit = 256 },
			send:      []string{init, `{"type":"ping","payload":{"pad":"` + strings.Repeat("x", 300) + `"}}`},
			wantCode:  1009,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testserver.New().Server, tt.configure)
			c := f.dial(t, nil)
			for i, s := range tt.send {
				c.sendRaw(s)
				if i == 0 && s == init {
					c.expect("connection_ack", "")
				}
			}
			code, reason := c.readClose()
			if code != tt.wantCode || !strings.Contains(reason, tt.wantReason) {
				t.Fatalf("closed with %d %q, want %d %q", code, reason, tt.wantCode, tt.wantReason)
			}
			if got := f.closedWith(t); got != tt.wantCode {
				t.Fatalf("OnClose code = %d, want %d", got, tt.wantCode)
			}
		})
	}
}

func TestDuplicateSubscriberReasonFitsCloseFrame(t *testing.T) {
	tests := []struct{ name, id string }{
		{"ascii", strings.Repeat("x", 200)},
		{"multi-byte", strings.Repeat("é", 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testserver.New().Server, nil)
			c := f.dial(t, nil)
			c.init()
			c.subscribe(tt.id, "subscription { name }")
			c.subscribe(tt.id, "subscription { name }")
			code, reason := c.readClose()
			if code != 4409 || len(reason) > 123 ||
				!strings.HasPrefix(reason, "Subscriber for "+tt.id[:20]) || !strings.HasSuffix(reason, " already exists") {
				t.Fatalf("closed with %d %q (%d bytes), want 4409 naming the id within 123 bytes", code, reason, len(reason))
			}
		})
	}
}

func TestSubprotocolNotAcceptable(t *testing.T) {
	tests := []struct {
		name         string
		subprotocols []string
	}{
		{"none", []string{}},
		{"legacy graphql-ws", []string{"graphql-ws"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testserver.New().Server, nil)
			c := f.dial(t, &websocket.DialOptions{Subprotocols: tt.subprotocols})
			code, reason := c.readClose()
			if code != 4406 || reason != "Subprotocol not acceptable" {
				t.Fatalf("closed with %d %q, want 4406 Subprotocol not acceptable", code, reason)
			}
			if got := f.closedWith(t); got != 4406 {
				t.Fatalf("OnClose code = %d, want 4406", got)
			}
		})
	}
}

func TestProtocolPing(t *testing.T) {
	f := newFixture(t, testserver.New().Server, nil)
	c := f.dial(t, nil)
	// Before and after the ack alike.
	c.send(msg{Type: "ping"})
	c.expect("pong", "")
	c.init()
	c.sendRaw(`{"type":"ping","payload":{"at":1}}`)
	c.expect("pong", "")
	// A client's pong (to nothing) is harmless.
	c.send(msg{Type: "pong"})
	c.send(msg{Type: "ping"})
	c.expect("pong", "")
}

func TestKeepAlivePings(t *testing.T) {
	// Not shorter: a client that is not reading for 2×KeepAlive (because it
	// is being scheduled, say) counts as dead.
	f := newFixture(t, testserver.New().Server, func(tr *wstransport.Transport) { tr.KeepAlive = 50 * time.Millisecond })
	pings := make(chan struct{}, 100)
	c := f.dial(t, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		select {
		case pings <- struct{}{}:
		default:
		}
		return true
	}})
	// Control frames are handled while the client reads; pings start before
	// connection_init.
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ws.Read(context.Background())
		readErr <- err
	}()
	for i := range 3 {
		select {
		case <-pings:
		case err := <-readErr:
			t.Fatalf("connection ended after %d pings: %v", i, err)
		case <-time.After(patience):
			t.Fatalf("got %d ping frames, want 3", i)
		}
	}
}

func TestDeadPeerDropped(t *testing.T) {
	f := newFixture(t, testserver.New().Server, func(tr *wstransport.Transport) { tr.KeepAlive = 10 * time.Millisecond })
	// A peer that never answers a ping and sends nothing after init.
	c := f.dial(t, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool { return false }})
	c.init()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	_, _, err := c.ws.Read(ctx)
	if err == nil || websocket.CloseStatus(err) != -1 || ctx.Err() != nil {
		t.Fatalf("read ended with %v, want the socket dropped without a close frame", err)
	}
	if code := f.closedWith(t); code != wstransport.CloseAbnormal {
		t.Fatalf("OnClose code = %d, want 1006", code)
	}
	eventually(t, "connection count drops to 0", func() bool { return f.tr.Connections() == 0 })
}

func TestSlowConsumerClosedOthersUnaffected(t *testing.T) {
	srv := newStreamServer()
	f := newFixture(t, srv.Server, func(tr *wstransport.Transport) { tr.SendBuffer = 8 })

	reader := f.dial(t, nil)
	reader.init()
	reader.subscribe("c", "subscription Credit { name }")

	// The slow client subscribes to a stream that never pauses and stops
	// reading.
	slow := f.dial(t, nil)
	slow.init()
	slow.subscribe("f", "subscription Firehose { name }")
	// The server gives up on it: its operation is cancelled...
	srv.waitEnded(t, "Firehose")

	// ...while the reading client keeps receiving on the same server.
	for range 50 {
		srv.credits <- struct{}{}
		reader.expect("next", "c")
	}

	// Once the slow client reads again, it finds the reason after the backlog.
	code, reason := slow.readClose()
	const want = "slow consumer: send buffer full; reconnect and resume from your last cursor"
	if code != 1013 || reason != want {
		t.Fatalf("slow client closed with %d %q, want 1013 %q", code, reason, want)
	}
	if got := f.closedWith(t); got != 1013 {
		t.Fatalf("OnClose code = %d, want 1013", got)
	}
	srv.credits <- struct{}{}
	reader.expect("next", "c")
	eventually(t, "only the reading client stays connected", func() bool { return f.tr.Connections() == 1 })
}

func TestRecheckFailureCloses(t *testing.T) {
	srv := newStreamServer()
	f := newFixture(t, srv.Server, func(tr *wstransport.Transport) { tr.Recheck = 5 * time.Millisecond })
	c := f.dial(t, nil)
	c.init()
	c.subscribe("1", "subscription Ticker { name }")
	srv.tick <- struct{}{}
	c.expect("next", "1")

	f.revoked.Store(true)
	code, reason := c.readClose()
	if code != 4403 || reason != "Forbidden" {
		t.Fatalf("closed with %d %q, want 4403 Forbidden", code, reason)
	}
	srv.waitEnded(t, "Ticker")
	if got := f.closedWith(t); got != 4403 {
		t.Fatalf("OnClose code = %d, want 4403", got)
	}
}

func TestShutdown(t *testing.T) {
	srv := newStreamServer()
	f := newFixture(t, srv.Server, nil)
	type result struct {
		code   int
		reason string
	}
	results := make(chan result, 2)
	for i := range 2 {
		c := f.dial(t, nil)
		c.init()
		c.subscribe("1", "subscription Ticker { name }")
		if i == 0 {
			c.subscribe("2", "query { name }")
			c.expect("next", "2")
			c.expect("complete", "2")
		}
		// Clients read throughout, as real ones do, so the close handshake
		// completes.
		go func() {
			code, reason := c.readClose()
			results <- result{code, reason}
		}()
	}
	eventually(t, "both subscriptions start", func() bool { return srv.active.Load() == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := f.tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := f.tr.Connections(); n != 0 {
		t.Fatalf("Connections() after Shutdown = %d, want 0", n)
	}
	eventually(t, "every subscription ends", func() bool { return srv.active.Load() == 0 })
	for range 2 {
		if r := <-results; r.code != 1001 || r.reason != "server shutting down" {
			t.Fatalf("closed with %d %q, want 1001 server shutting down", r.code, r.reason)
		}
		if got := f.closedWith(t); got != 1001 {
			t.Fatalf("OnClose code = %d, want 1001", got)
		}
	}

	_, resp, err := websocket.Dial(ctx, f.url, &websocket.DialOptions{Subprotocols: []string{wstransport.Subprotocol}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade after Shutdown: err %v, response %v; want HTTP 503", err, resp)
	}
	if err := f.tr.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestShutdownOutOfPatience(t *testing.T) {
	f := newFixture(t, testserver.New().Server, nil)
	c := f.dial(t, nil)
	c.init()
	// The client does not read, so the close handshake cannot complete before
	// the already cancelled context ends Shutdown's wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.tr.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	// Spare the wait for the handshake the client will never answer.
	_ = c.ws.CloseNow()
	eventually(t, "connection gone", func() bool { return f.tr.Connections() == 0 })
}

func TestMaxOperations(t *testing.T) {
	srv := testserver.New()
	f := newFixture(t, srv.Server, func(tr *wstransport.Transport) { tr.MaxOperations = 2 })
	c := f.dial(t, nil)
	c.init()
	c.subscribe("1", "subscription { name }")
	c.subscribe("2", "subscription { name }")
	c.subscribe("3", "query { name }")
	m := c.expect("error", "3")
	if !strings.Contains(string(m.Payload), "too many concurrent operations") {
		t.Fatalf("error payload %s does not explain the limit", m.Payload)
	}
	// The connection stays, and completing an operation makes room.
	c.send(msg{Type: "complete", ID: "1"})
	c.subscribe("3", "query { name }")
	c.expect("next", "3")
	c.expect("complete", "3")
}

func TestPanicInOperation(t *testing.T) {
	srv := newStreamServer()
	f := newFixture(t, srv.Server, nil)
	c := f.dial(t, nil)
	c.init()
	c.subscribe("p", "subscription Panic { name }")
	m := c.expect("error", "p")
	if !strings.Contains(string(m.Payload), "internal system error") {
		t.Fatalf("error payload = %s", m.Payload)
	}
	c.send(msg{Type: "ping"})
	c.expect("pong", "")
	c.subscribe("p", "query { name }")
	c.expect("next", "p")
	c.expect("complete", "p")
}

func TestUpgradeRefusals(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*wstransport.Transport)
		want      int
	}{
		{"origin refused", func(tr *wstransport.Transport) { tr.CheckOrigin = func(*http.Request) bool { return false } }, http.StatusForbidden},
		{"no authenticator", func(tr *wstransport.Transport) { tr.Authenticate = nil }, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testserver.New().Server, tt.configure)
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			_, resp, err := websocket.Dial(ctx, f.url, &websocket.DialOptions{Subprotocols: []string{wstransport.Subprotocol}})
			if resp != nil && resp.Body != nil {
				_ = resp.Body.Close()
			}
			if err == nil || resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("dial: err %v, response %v; want HTTP %d", err, resp, tt.want)
			}
		})
	}
}

func TestSupports(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		want    bool
	}{
		{"upgrade", http.MethodGet, map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}, true},
		{"token lists", http.MethodGet, map[string]string{"Connection": "keep-alive, upgrade", "Upgrade": "WebSocket"}, true},
		{"plain GET", http.MethodGet, nil, false},
		{"POST", http.MethodPost, map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}, false},
		{"other upgrade", http.MethodGet, map[string]string{"Connection": "Upgrade", "Upgrade": "h2c"}, false},
	}
	var tr wstransport.Transport
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/graphql", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if got := tr.Supports(r); got != tt.want {
				t.Fatalf("Supports = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestConnectionEndReleasesEverything ends connections every way they end and
// checks that no operation and no goroutine outlives them.
func TestConnectionEndReleasesEverything(t *testing.T) {
	baseline := runtime.NumGoroutine()
	srv := newStreamServer()
	// The pinger and the credential re-check run whatever their interval.
	f := newFixture(t, srv.Server, nil)
	ends := []func(c *client){
		func(c *client) { _ = c.ws.Close(websocket.StatusNormalClosure, "") }, // the client closes
		func(c *client) { _ = c.ws.CloseNow() },                               // the connection drops
		func(c *client) { c.sendRaw(`{"type":"bogus"}`) },                     // the server closes
	}
	var wg sync.WaitGroup
	clients := make([]*client, len(ends))
	for i := range ends {
		c := f.dial(t, nil)
		c.init()
		c.subscribe("1", "subscription Ticker { name }")
		c.subscribe("2", "subscription Credit { name }")
		wg.Go(func() { _, _, _ = c.ws.Read(context.Background()) }) // answers pings until the end
		clients[i] = c
	}
	eventually(t, "every subscription starts", func() bool { return srv.active.Load() == int64(2*len(ends)) })
	for i, end := range ends {
		end(clients[i])
	}
	eventually(t, "every operation ends", func() bool { return srv.active.Load() == 0 })
	eventually(t, "every connection ends", func() bool { return f.tr.Connections() == 0 })
	wg.Wait()
	f.ts.Close()
	eventually(t, "goroutines return to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

// BenchmarkSubscriptionThroughput measures messages per second to one
// subscriber, the producer kept within the send buffer by credits.
func BenchmarkSubscriptionThroughput(b *testing.B) {
	srv := newStreamServer()
	tr := &wstransport.Transport{
		Authenticate: func(ctx context.Context, _ *http.Request, _ map[string]any) (context.Context, func(context.Context) error, error) {
			return ctx, nil, nil
		},
	}
	srv.AddTransport(tr)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), &websocket.DialOptions{Subprotocols: []string{wstransport.Subprotocol}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	write := func(s string) {
		if err := ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			b.Fatal(err)
		}
	}
	read := func() {
		if _, _, err := ws.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	write(`{"type":"connection_init"}`)
	read()
	write(`{"type":"subscribe","id":"1","payload":{"query":"subscription Credit { name }"}}`)
	const window = 64
	for range window {
		srv.credits <- struct{}{}
	}
	b.ResetTimer()
	for range b.N {
		read()
		srv.credits <- struct{}{}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
