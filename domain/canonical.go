package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// CanonicalVersion is the version of the canonical event encoding; it is part
// of every encoded leaf, so a future encoding can coexist with this one.
const CanonicalVersion = 1

// canonicalTime is the one text form of a timestamp in a leaf: UTC,
// microseconds (what the database stores), always six digits.
const canonicalTime = "2006-01-02T15:04:05.000000Z"

// canonicalEvent fixes the field order and names of an encoded event.
type canonicalEvent struct {
	V             int               `json:"v"`
	Tenant        string            `json:"tenant"`
	Seq           int64             `json:"seq"`
	ID            string            `json:"id"`
	Type          EventType         `json:"type"`
	Asset         string            `json:"asset"`
	Parcel        string            `json:"parcel"`
	FromState     AssetState        `json:"fromState"`
	ToState       AssetState        `json:"toState"`
	FromCustodian [2]string         `json:"fromCustodian"`
	ToCustodian   [2]string         `json:"toCustodian"`
	Actor         string            `json:"actor"`
	Location      string            `json:"location"`
	DeviceTime    string            `json:"deviceTime"`
	RecordedAt    string            `json:"recordedAt"`
	Signature     string            `json:"signature"`
	Details       map[string]string `json:"details"`
}

// CanonicalEvent returns the bytes that stand for e in the tenant's
// tamper-evident log: a JSON object with a fixed field order, sorted detail
// keys, no HTML escaping and timestamps at the stored (microsecond)
// precision, so that re-encoding an event read back from the database gives
// the same bytes, and so the same leaf hash.
func CanonicalEvent(e *CustodyEvent) ([]byte, error) {
	c := canonicalEvent{
		V: CanonicalVersion, Tenant: e.TenantID, Seq: e.Seq, ID: e.ID, Type: e.Type,
		Asset: e.AssetID, Parcel: e.ParcelID, FromState: e.FromState, ToState: e.ToState,
		FromCustodian: [2]string{string(e.FromCustodian.Kind), e.FromCustodian.Ref},
		ToCustodian:   [2]string{string(e.ToCustodian.Kind), e.ToCustodian.Ref},
		Actor:         e.ActorID, Location: e.Location, RecordedAt: formatCanonical(e.RecordedAt),
		Signature: e.SignatureID, Details: e.Details,
	}
	if e.DeviceTime != nil {
		c.DeviceTime = formatCanonical(*e.DeviceTime)
	}
	if c.Details == nil {
		c.Details = map[string]string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("canonical event %d: %w", e.Seq, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func formatCanonical(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(canonicalTime)
}
