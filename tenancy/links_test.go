package tenancy

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLinkSigner(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	signer := func(k []byte) *LinkSigner {
		s, err := NewLinkSigner(k)
		if err != nil {
			t.Fatal(err)
		}
		s.now = func() time.Time { return now }
		return s
	}
	s := signer(key)
	p := Principal{TenantID: "tenant-1", TokenID: "token-1"}
	link, expires, err := s.Sign(p, "/exports/assets.csv", url.Values{"profile": {"servicenow"}, "link_by": {"forged"}}, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !expires.Equal(now.Add(15 * time.Minute)) {
		t.Errorf("expires %v", expires)
	}
	parse := func(link string) (string, url.Values) {
		path, query, _ := strings.Cut(link, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		return path, q
	}
	path, q := parse(link)
	if tenant, token, err := s.Verify(path, q); err != nil || tenant != "tenant-1" || token != "token-1" {
		t.Fatalf("Verify = %q %q %v", tenant, token, err)
	}

	later := func(d time.Duration) *LinkSigner {
		v := signer(key)
		v.now = func() time.Time { return now.Add(d) }
		return v
	}
	for _, tc := range []struct {
		name   string
		signer *LinkSigner
		path   string
		edit   func(url.Values)
	}{
		{"another path", s, "/exports/custody-log.csv", func(url.Values) {}},
		{"another parameter value", s, path, func(q url.Values) { q.Set("profile", "default") }},
		{"an added parameter", s, path, func(q url.Values) { q.Set("person", "x") }},
		{"a removed parameter", s, path, func(q url.Values) { q.Del("profile") }},
		{"another token", s, path, func(q url.Values) { q.Set(linkParamBy, "tenant-1.token-2") }},
		{"a later expiry", s, path, func(q url.Values) { q.Set(linkParamExp, "99999999999") }},
		{"two signatures", s, path, func(q url.Values) { q.Add(linkParamSig, q.Get(linkParamSig)) }},
		{"expired", later(15 * time.Minute), path, func(url.Values) {}},
		{"another server key", signer(bytes.Repeat([]byte{8}, 32)), path, func(url.Values) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, q := parse(link)
			tc.edit(q)
			if _, _, err := tc.signer.Verify(tc.path, q); !errors.Is(err, ErrBadLink) {
				t.Fatalf("Verify = %v, want ErrBadLink", err)
			}
		})
	}
	if _, _, err := later(14*time.Minute).Verify(path, q); err != nil {
		t.Errorf("a link within its lifetime: %v", err)
	}
	if _, exp, _ := s.Sign(p, "/x", nil, 24*time.Hour); !exp.Equal(now.Add(MaxLinkTTL)) {
		t.Errorf("a day-long link expires %v, want the cap %v", exp, now.Add(MaxLinkTTL))
	}
	if _, _, err := s.Sign(Principal{TenantID: "t"}, "/x", nil, time.Minute); err == nil {
		t.Error("signed a link for a caller without a token")
	}
	if _, err := NewLinkSigner([]byte("short")); err == nil {
		t.Error("accepted a short master key")
	}
}
