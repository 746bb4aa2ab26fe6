package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsClient is a minimal graphql-transport-ws client, written from the
// protocol's text rather than sharing code with the server, so the tests
// exercise the wire format.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	ctx  context.Context
	stop context.CancelFunc
}

// wsMessage is one protocol message.
type wsMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsEvent is the custody event selection of subscribeDoc.
type wsEvent struct {
	Seq   int64
	Type  string
	Asset *struct {
		ID    string
		State string
	}
	OffboardingCase *struct{ ID string }
}

// subscribeDoc follows the custody log.
const subscribeDoc = `subscription($after: Int, $filter: CustodyEventStreamFilter) {
	custodyEvents(after: $after, filter: $filter) { seq type asset { id state } offboardingCase { id } } }`

// dialWS connects to the server's GraphQL endpoint with the
// graphql-transport-ws subprotocol, without initialising.
func dialWS(t testing.TB, baseURL string) *wsClient {
	t.Helper()
	ctx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/graphql"
	conn, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		stop()
		t.Fatalf("dial %s: %v", url, err)
	}
	if res.Body != nil {
		res.Body.Close()
	}
	conn.SetReadLimit(1 << 20)
	c := &wsClient{t: t, conn: conn, ctx: ctx, stop: stop}
	t.Cleanup(c.close)
	return c
}

// connect dials and completes connection_init/ack with token.
func connect(t testing.TB, baseURL, token string) *wsClient {
	t.Helper()
	c := dialWS(t, baseURL)
	c.send(wsMessage{Type: "connection_init", Payload: mustJSON(t, map[string]any{"authorization": "Bearer " + token})})
	if m := c.read(); m.Type != "connection_ack" {
		t.Fatalf("after connection_init: %+v, want connection_ack", m)
	}
	return c
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (c *wsClient) send(m wsMessage) {
	c.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.conn.Write(c.ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("send %s: %v", m.Type, err)
	}
}

// subscribe starts an operation.
func (c *wsClient) subscribe(id, query string, vars map[string]any) {
	c.t.Helper()
	c.send(wsMessage{Type: "subscribe", ID: id, Payload: mustJSON(c.t, map[string]any{"query": query, "variables": vars})})
}

// read returns the next message other than a keep-alive ping (answered).
func (c *wsClient) read() wsMessage {
	c.t.Helper()
	for {
		m, err := c.readMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if m.Type == "ping" {
			c.send(wsMessage{Type: "pong"})
			continue
		}
		return m
	}
}

func (c *wsClient) readMessage() (wsMessage, error) {
	_, b, err := c.conn.Read(c.ctx)
	if err != nil {
		return wsMessage{}, err
	}
	var m wsMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return wsMessage{}, errors.New("not JSON: " + string(b))
	}
	return m, nil
}

// event reads the next "next" message of operation id and decodes its event.
func (c *wsClient) event(id string) wsEvent {
	c.t.Helper()
	m := c.read()
	if m.Type != "next" || m.ID != id {
		c.t.Fatalf("got %s %s %s, want next for %s", m.Type, m.ID, m.Payload, id)
	}
	var p struct {
		Data struct {
			CustodyEvents wsEvent
		}
		Errors []gqlError
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
		c.t.Fatalf("next payload %s: %v", m.Payload, err)
	}
	return p.Data.CustodyEvents
}

// closeCode waits for the server to close the connection and returns the
// close code (-1 when the connection ended without a close frame).
func (c *wsClient) closeCode() websocket.StatusCode {
	c.t.Helper()
	for {
		m, err := c.readMessage()
		if err != nil {
			return websocket.CloseStatus(err)
		}
		if m.Type == "ping" {
			continue
		}
	}
}

func (c *wsClient) close() {
	_ = c.conn.Close(websocket.StatusNormalClosure, "")
	c.stop()
}
