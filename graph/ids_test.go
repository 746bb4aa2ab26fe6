package graph

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestGlobalIDRoundTrip(t *testing.T) {
	const id = "0190f3b4-6a2e-7c1d-9e8f-0123456789ab"
	for typeName := range globalTypes {
		gid := EncodeID(typeName, id)
		if strings.Contains(gid, id) {
			t.Errorf("%s id %q shows the database id", typeName, gid)
		}
		gotType, gotID, ok := DecodeID(gid)
		if !ok || gotType != typeName || gotID != id {
			t.Errorf("DecodeID(EncodeID(%s, id)) = %q, %q, %v", typeName, gotType, gotID, ok)
		}
	}
}

func TestDecodeIDRefusesWhatEncodeIDCannotProduce(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	const id = "0190f3b4-6a2e-7c1d-9e8f-0123456789ab"
	for name, gid := range map[string]string{
		"empty":            "",
		"not base64":       "!!!",
		"no separator":     b64("Asset" + id),
		"unknown type":     b64("Widget:" + id),
		"lower-case type":  b64("asset:" + id),
		"not a uuid":       b64("Asset:1"),
		"sql in id":        b64("Asset:' OR 1=1 --"),
		"uuid without -":   b64("Asset:0190f3b46a2e7c1d9e8f0123456789ab"),
		"urn uuid":         b64("Asset:urn:uuid:" + id),
		"trailing garbage": b64("Asset:" + id + "x"),
		"too long":         strings.Repeat("A", 200),
	} {
		if typ, got, ok := DecodeID(gid); ok {
			t.Errorf("%s: DecodeID(%q) = %q, %q, true; want refused", name, gid, typ, got)
		}
	}
}

func TestDecodeIDAcceptsStandardBase64AndNormalisesCase(t *testing.T) {
	gid := base64.StdEncoding.EncodeToString([]byte("Person:0190F3B4-6A2E-7C1D-9E8F-0123456789AB"))
	typ, id, ok := DecodeID(gid)
	if !ok || typ != "Person" || id != "0190f3b4-6a2e-7c1d-9e8f-0123456789ab" {
		t.Fatalf("DecodeID(%q) = %q, %q, %v", gid, typ, id, ok)
	}
}

func TestIDOfChecksTheType(t *testing.T) {
	const id = "0190f3b4-6a2e-7c1d-9e8f-0123456789ab"
	if got, ok := idOf(typeAsset, EncodeID(typeAsset, id)); !ok || got != id {
		t.Errorf("idOf(Asset, asset id) = %q, %v", got, ok)
	}
	if _, ok := idOf(typeAsset, EncodeID(typeParcel, id)); ok {
		t.Error("idOf(Asset, parcel id) accepted a parcel id")
	}
}
