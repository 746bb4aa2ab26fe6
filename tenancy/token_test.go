package tenancy

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	const tenant = "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b"
	tok, hash, err := NewToken(tenant)
	if err != nil {
		t.Fatal(err)
	}
	gotTenant, gotHash, err := ParseToken(tok)
	if err != nil {
		t.Fatalf("ParseToken(%q): %v", tok, err)
	}
	if gotTenant != tenant || !bytes.Equal(gotHash, hash) {
		t.Fatalf("ParseToken = %s %x, want %s %x", gotTenant, gotHash, tenant, hash)
	}
	other, _, _ := NewToken(tenant)
	if other == tok {
		t.Fatal("two tokens are equal")
	}
}

func TestParseTokenRejects(t *testing.T) {
	good, _, _ := NewToken("0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b")
	tests := map[string]string{
		"empty":          "",
		"no prefix":      strings.TrimPrefix(good, "cst_"),
		"short secret":   good[:len(good)-1],
		"bad tenant hex": "cst_" + strings.Repeat("z", 32) + good[36:],
		"bad base32":     good[:len(good)-1] + "1",
		"no separator":   strings.Replace(good, "_", "", 2),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := ParseToken(tok); !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("ParseToken(%q) = %v, want ErrMalformedToken", tok, err)
			}
		})
	}
	if _, _, err := NewToken("not-a-uuid"); err == nil {
		t.Fatal("NewToken accepted a non-UUID tenant")
	}
}
