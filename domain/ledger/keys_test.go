package ledger_test

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/domain/ledger"
)

func TestGenerateKey(t *testing.T) {
	k := newKey(t, "t1", 1)
	if !strings.HasPrefix(k.signer, "PRIVATE+KEY+custody.log/t1+") {
		t.Errorf("signer key %q is not a note signer key named custody.log/t1", k.signer)
	}
	v, err := note.NewVerifier(k.verifier)
	if err != nil || v.Name() != ledger.Origin("t1") {
		t.Fatalf("verifier key %q: %v (name %v)", k.verifier, err, v)
	}
	id, err := ledger.KeyID(k.verifier)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^custody\.log/t1\+[0-9a-f]{8}$`).MatchString(id) {
		t.Errorf("KeyID = %q", id)
	}
	if other := newKey(t, "t1", 2); mustKeyID(t, other.verifier) == id {
		t.Error("two keys have the same KeyID")
	}
	for _, bad := range []string{"", "a b", "a+b", "a\nb"} {
		if _, _, err := ledger.GenerateKey(nil, bad); err == nil {
			t.Errorf("GenerateKey(%q) made a key", bad)
		}
	}
	if _, err := ledger.KeyID("custody.log/t1+00000000+AAAA"); err == nil {
		t.Error("KeyID accepted a malformed key")
	}
	if _, err := ledger.KeyID(k.signer); err == nil {
		t.Error("KeyID accepted a signer key")
	}
}

func mustKeyID(tb testing.TB, vkey string) string {
	tb.Helper()
	id, err := ledger.KeyID(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func TestSealUnseal(t *testing.T) {
	master, err := ledger.ParseMasterKey(ledger.NewMasterKey(seededRand(7)))
	if err != nil {
		t.Fatal(err)
	}
	otherMaster, _ := ledger.ParseMasterKey(ledger.NewMasterKey(seededRand(8)))
	k := newKey(t, "t1", 1)
	sealed, err := ledger.Seal(master, "t1", k.signer)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("PRIVATE")) || bytes.Contains(sealed, []byte("custody.log")) {
		t.Fatal("sealed key holds plain text")
	}
	again, _ := ledger.Seal(master, "t1", k.signer)
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one key are equal: the nonce is not random")
	}
	got, err := ledger.Unseal(master, "t1", sealed)
	if err != nil || got != k.signer {
		t.Fatalf("Unseal = %q, %v", got, err)
	}

	flipped := bytes.Clone(sealed)
	flipped[len(flipped)/2] ^= 1
	version := bytes.Clone(sealed)
	version[0] = 2
	other := newKey(t, "t2", 3)
	sealedT2, _ := ledger.Seal(master, "t2", other.signer)
	for _, tc := range []struct {
		name     string
		master   []byte
		tenant   string
		sealed   []byte
		fragment string
	}{
		{"wrong master key", otherMaster, "t1", sealed, "wrong master key"},
		{"wrong tenant", master, "t2", sealed, "wrong tenant"},
		{"key of another tenant swapped in", master, "t1", sealedT2, "wrong tenant"},
		{"altered byte", master, "t1", flipped, "altered"},
		{"unknown version", master, "t1", version, "version 2"},
		{"truncated", master, "t1", sealed[:10], "altered"},
		{"empty", master, "t1", nil, "empty"},
		{"short master key", master[:16], "t1", sealed, "16 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ledger.Unseal(tc.master, tc.tenant, tc.sealed)
			wantErr(t, err, nil, tc.fragment)
			if got != "" {
				t.Errorf("Unseal returned %q with an error", got)
			}
		})
	}
	if _, err := ledger.Seal(master, "t2", k.signer); err == nil {
		t.Error("Seal sealed t1's key for t2")
	}
	if _, err := ledger.Seal(master, "t1", k.verifier); err == nil {
		t.Error("Seal sealed a verifier key")
	}
}

func TestParseMasterKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb, 0xff, 0x01}, 11)[:32]
	for _, tc := range []struct {
		name, in, fragment string
	}{
		{"std", base64.StdEncoding.EncodeToString(raw), ""},
		{"raw std", base64.RawStdEncoding.EncodeToString(raw), ""},
		{"url", base64.URLEncoding.EncodeToString(raw), ""},
		{"raw url", base64.RawURLEncoding.EncodeToString(raw), ""},
		{"surrounding space", "  " + base64.StdEncoding.EncodeToString(raw) + "\n", ""},
		{"31 bytes", base64.StdEncoding.EncodeToString(raw[:31]), "31 bytes"},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(raw, 0)), "33 bytes"},
		{"not base64", "not a key!", "not base64"},
		{"empty", " ", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ledger.ParseMasterKey(tc.in)
			if tc.fragment != "" {
				wantErr(t, err, nil, tc.fragment)
				return
			}
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("ParseMasterKey = %x, %v", got, err)
			}
		})
	}
	a, b := ledger.NewMasterKey(nil), ledger.NewMasterKey(nil)
	if a == b {
		t.Error("NewMasterKey repeated itself")
	}
	if k, err := ledger.ParseMasterKey(a); err != nil || len(k) != 32 {
		t.Errorf("NewMasterKey made %q: %v", a, err)
	}
}
