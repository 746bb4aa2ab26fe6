package graph

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/custody-dev/custody/domain"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, tc := range []struct{ list, key string }{
		{typeAsset, "0190f3b4-6a2e-7c1d-9e8f-0123456789ab"},
		{typePerson, "0190f3b4-6a2e-7c1d-9e8f-0123456789ab"},
		{typeCustodyEvent, "42"},
	} {
		c := encodeCursor(tc.list, tc.key)
		got, err := decodeCursor(tc.list, &c)
		if err != nil || got != tc.key {
			t.Errorf("decodeCursor(%s, encodeCursor(%s, %s)) = %q, %v", tc.list, tc.list, tc.key, got, err)
		}
	}
}

func TestAbsentCursorStartsAtTheBeginning(t *testing.T) {
	empty := ""
	for _, after := range []*string{nil, &empty} {
		if got, err := decodeCursor(typeAsset, after); got != "" || err != nil {
			t.Errorf("decodeCursor(%v) = %q, %v; want \"\", nil", after, got, err)
		}
	}
}

func TestDecodeCursorRefusesForeignAndMalformedCursors(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, tc := range map[string]struct{ list, after string }{
		"another list's cursor": {typePerson, encodeCursor(typeAsset, "0190f3b4-6a2e-7c1d-9e8f-0123456789ab")},
		"not base64":            {typeAsset, "%%%"},
		"no separator":          {typeAsset, b64("Asset")},
		"key not a uuid":        {typeAsset, b64("Asset|1 OR 1=1")},
		"seq not a number":      {typeCustodyEvent, b64("CustodyEvent|abc")},
		"negative seq":          {typeCustodyEvent, b64("CustodyEvent|-1")},
		"seq with leading zero": {typeCustodyEvent, b64("CustodyEvent|007")},
	} {
		_, err := decodeCursor(tc.list, &tc.after)
		var arg *domain.ArgumentError
		if !errors.As(err, &arg) || arg.Argument != "after" {
			t.Errorf("%s: err = %v; want an ArgumentError on after", name, err)
		}
	}
}

func TestConnectionEndCursorIsTheLastEdge(t *testing.T) {
	ids := []string{"0190f3b4-6a2e-7c1d-9e8f-000000000001", "0190f3b4-6a2e-7c1d-9e8f-000000000002"}
	page := domain.Page[*domain.Asset]{Items: []*domain.Asset{{ID: ids[0]}, {ID: ids[1]}}, HasNext: true}
	c := assetConnection(page)
	if len(c.Edges) != 2 || !c.PageInfo.HasNextPage || c.PageInfo.EndCursor == nil || *c.PageInfo.EndCursor != c.Edges[1].Cursor {
		t.Fatalf("connection = %+v, pageInfo %+v", c.Edges, c.PageInfo)
	}
	if key, err := decodeCursor(typeAsset, c.PageInfo.EndCursor); err != nil || key != ids[1] {
		t.Errorf("end cursor decodes to %q, %v; want %q", key, err, ids[1])
	}
	empty := assetConnection(domain.Page[*domain.Asset]{})
	if len(empty.Edges) != 0 || empty.Edges == nil || empty.PageInfo.EndCursor != nil || empty.PageInfo.HasNextPage {
		t.Errorf("empty connection = %+v, %+v", empty.Edges, empty.PageInfo)
	}
}
