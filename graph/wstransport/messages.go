package wstransport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// maxReason is the longest close reason a close frame carries (RFC 6455: a
// control frame's 125 bytes minus the 2-byte code).
const maxReason = 123

var (
	ackMessage  = encodeMessage("connection_ack", "", nil)
	pongMessage = encodeMessage("pong", "", nil)
)

// message is a client message with its envelope checked: ID is empty when
// absent, and the payload is left for the type's handler to check.
type message struct {
	Type    string
	ID      string
	Payload json.RawMessage
}

// parseMessage decodes a client message's envelope; a non-empty reason (for a
// 4400 close) says what is wrong with it.
func parseMessage(data []byte) (message, string) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return message{}, "Invalid message: not a JSON object"
	}
	var m message
	raw, ok := fields["type"]
	if !ok || isNull(raw) {
		return message{}, "Invalid message: missing type"
	}
	if json.Unmarshal(raw, &m.Type) != nil {
		return message{}, "Invalid message: type must be a string"
	}
	if raw, ok := fields["id"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &m.ID) != nil {
			return message{}, "Invalid message: id must be a string"
		}
	}
	m.Payload = fields["payload"]
	return m, ""
}

// parseInitPayload decodes connection_init's optional payload: an object, or
// absent or null (then an empty map, so authenticators need no nil check).
func parseInitPayload(raw json.RawMessage) (map[string]any, bool) {
	payload := map[string]any{}
	if len(raw) == 0 || isNull(raw) {
		return payload, true
	}
	var decoded map[string]any
	if err := decodeStrict(raw, &decoded); err != nil || decoded == nil {
		return nil, false
	}
	return decoded, true
}

// parseSubscribePayload decodes subscribe's payload into gqlgen's parameters;
// a non-empty reason (for a 4400 close) says what is wrong with it.
func parseSubscribePayload(raw json.RawMessage) (*graphql.RawParams, string) {
	if len(raw) == 0 || isNull(raw) {
		return nil, "Invalid message: subscribe needs a payload"
	}
	// Pointers tell an absent query from an empty one: persisted queries send
	// "" with the hash in extensions, and are gqlgen's to judge.
	var p struct {
		Query         *string        `json:"query"`
		OperationName *string        `json:"operationName"`
		Variables     map[string]any `json:"variables"`
		Extensions    map[string]any `json:"extensions"`
	}
	if err := decodeStrict(raw, &p); err != nil {
		return nil, "Invalid message: malformed subscribe payload"
	}
	if p.Query == nil {
		return nil, "Invalid message: subscribe payload needs a string query"
	}
	params := &graphql.RawParams{
		Query:      *p.Query,
		Variables:  p.Variables,
		Extensions: p.Extensions,
	}
	if p.OperationName != nil {
		params.OperationName = *p.OperationName
	}
	return params, ""
}

// decodeStrict decodes raw into v keeping numbers as json.Number (gqlgen
// coerces variables from them without losing precision) and requires raw to
// hold one JSON value whose shape fits v.
func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// encodeMessage builds a server message by hand: payload is already JSON, and
// re-encoding every "next" through encoding/json would validate it again.
func encodeMessage(typ, id string, payload []byte) []byte {
	b := make([]byte, 0, len(typ)+len(id)+len(payload)+32)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if id != "" {
		quoted, _ := json.Marshal(id) // a string always encodes
		b = append(b, `,"id":`...)
		b = append(b, quoted...)
	}
	if payload != nil {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

// errorMessage is the "error" message for id: the protocol's payload is the
// GraphQL errors list itself.
func errorMessage(id string, errs gqlerror.List) []byte {
	if len(errs) == 0 {
		errs = gqlerror.List{{Message: "operation failed"}}
	}
	b, err := json.Marshal(errs)
	if err != nil {
		b = []byte(`[{"message":"internal system error"}]`)
	}
	return encodeMessage("error", id, b)
}

// subscriberExistsReason is the protocol's 4409 reason, shortening id as
// needed so the reason fits a close frame.
func subscriberExistsReason(id string) string {
	const prefix, suffix, ellipsis = "Subscriber for ", " already exists", "..."
	if room := maxReason - len(prefix) - len(suffix); len(id) > room {
		id = truncateUTF8(id, room-len(ellipsis)) + ellipsis
	}
	return prefix + id + suffix
}

// fitReason shortens a close reason to what a close frame carries.
func fitReason(reason string) string {
	return truncateUTF8(reason, maxReason)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
