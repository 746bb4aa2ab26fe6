package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-dev/custody/domain/ledger"
)

// memLog is an in-memory tenant log kept the way the server keeps it: the
// leaves and tlog's stored hashes.
type memLog struct {
	tenant string
	leaves [][]byte
	hashes []tlog.Hash
}

func (l *memLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx < 0 || idx >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", idx)
		}
		out[i] = l.hashes[idx]
	}
	return out, nil
}

func (l *memLog) append(tb testing.TB, leaf []byte) {
	tb.Helper()
	hs, err := tlog.StoredHashes(int64(len(l.leaves)), leaf, l)
	if err != nil {
		tb.Fatal(err)
	}
	l.hashes = append(l.hashes, hs...)
	l.leaves = append(l.leaves, leaf)
}

func (l *memLog) root(tb testing.TB, size int64) tlog.Hash {
	tb.Helper()
	h, err := tlog.TreeHash(size, l)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func (l *memLog) prove(tb testing.TB, size, index int64) tlog.RecordProof {
	tb.Helper()
	p, err := tlog.ProveRecord(size, index, l)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func (l *memLog) proveTree(tb testing.TB, newer, older int64) tlog.TreeProof {
	tb.Helper()
	p, err := tlog.ProveTree(newer, older, l)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// canonical mirrors domain.CanonicalEvent's field order.
type canonical struct {
	V             int               `json:"v"`
	Tenant        string            `json:"tenant"`
	Seq           int64             `json:"seq"`
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	Asset         string            `json:"asset"`
	Parcel        string            `json:"parcel"`
	FromState     string            `json:"fromState"`
	ToState       string            `json:"toState"`
	FromCustodian [2]string         `json:"fromCustodian"`
	ToCustodian   [2]string         `json:"toCustodian"`
	Actor         string            `json:"actor"`
	Location      string            `json:"location"`
	DeviceTime    string            `json:"deviceTime"`
	RecordedAt    string            `json:"recordedAt"`
	Signature     string            `json:"signature"`
	Details       map[string]string `json:"details"`
}

func encode(tb testing.TB, c canonical) []byte {
	tb.Helper()
	if c.Details == nil {
		c.Details = map[string]string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		tb.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// event returns a plain custody event of tenant at seq.
func event(tb testing.TB, tenant string, seq int64) []byte {
	return encode(tb, canonical{V: 1, Tenant: tenant, Seq: seq, ID: fmt.Sprintf("ev-%d", seq), Type: "RESTOCKED",
		Asset: fmt.Sprintf("asset-%d", seq%7), FromState: "RETURNED", ToState: "IN_STOCK",
		FromCustodian: [2]string{"PERSON", "u1"}, ToCustodian: [2]string{"LOCATION", "Dock <A> & B"},
		Actor: "m1", Location: "Dock <A> & B", RecordedAt: fmt.Sprintf("2026-03-14T08:%02d:%02d.000001Z", seq/60%60, seq%60)})
}

// handOff is a signed hand-off's evidence and its event.
type handOff struct {
	image   []byte
	consent string
	sig     ledger.ReceiptSignature
}

func newHandOff() handOff {
	h := handOff{image: []byte("\x89PNG\r\n\x1a\n...strokes..."), consent: "I received the asset described above.\n"}
	h.sig = ledger.ReceiptSignature{ID: "sig-1", TypedName: "Ada Lovelace", ImageSha256: hexSum(h.image),
		ConsentSha256: hexSum([]byte(h.consent)), ConsentVersion: "2026-01", ImageFormat: "image/png",
		SignedAt: time.Date(2026, 3, 14, 8, 26, 53, 589793000, time.UTC), Image: h.image, ConsentText: h.consent}
	return h
}

func (h handOff) event(tb testing.TB, tenant string, seq int64) []byte {
	return encode(tb, canonical{V: 1, Tenant: tenant, Seq: seq, ID: fmt.Sprintf("ev-%d", seq), Type: "HANDED_OFF",
		Asset: "asset-1", FromState: "AWAITING_COLLECTION", ToState: "DEPLOYED",
		FromCustodian: [2]string{"LOCATION", "Mailroom"}, ToCustodian: [2]string{"PERSON", "u1"}, Actor: "m1",
		RecordedAt: "2026-03-14T08:26:53.589793Z", Signature: h.sig.ID,
		Details: map[string]string{"signatureImageSha256": h.sig.ImageSha256, "consentSha256": h.sig.ConsentSha256,
			"consentVersion": h.sig.ConsentVersion, "signatureImageFormat": h.sig.ImageFormat,
			"typedNameSha256": hexSum([]byte(h.sig.TypedName))}})
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// key is a tenant's note key pair.
type key struct{ signer, verifier string }

// seededRand is a deterministic randomness source, so test keys are stable.
func seededRand(seed uint64) *mathrand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return mathrand.NewChaCha8(s)
}

func newKey(tb testing.TB, tenant string, seed uint64) key {
	tb.Helper()
	s, v, err := ledger.GenerateKey(seededRand(seed), tenant)
	if err != nil {
		tb.Fatal(err)
	}
	return key{s, v}
}

func sign(tb testing.TB, k key, l *memLog, size int64) []byte {
	tb.Helper()
	cp, err := ledger.SignCheckpoint(k.signer, ledger.Origin(l.tenant), size, l.root(tb, size))
	if err != nil {
		tb.Fatal(err)
	}
	return cp
}

// wantErr checks err against a sentinel and a message fragment; a nil
// sentinel means any error with the fragment.
func wantErr(tb testing.TB, err, sentinel error, fragment string) {
	tb.Helper()
	switch {
	case err == nil:
		tb.Fatalf("no error, want %v ... %q", sentinel, fragment)
	case sentinel != nil && !errors.Is(err, sentinel):
		tb.Fatalf("error %q does not wrap %q", err, sentinel)
	case !strings.Contains(err.Error(), fragment):
		tb.Fatalf("error %q does not say %q", err, fragment)
	}
	tb.Logf("rejected: %v", err)
}
