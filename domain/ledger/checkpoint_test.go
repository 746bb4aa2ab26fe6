package ledger_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-dev/custody/domain/ledger"
)

func newLog(tb testing.TB, tenant string, n int) *memLog {
	l := &memLog{tenant: tenant}
	for seq := int64(1); seq <= int64(n); seq++ {
		l.append(tb, event(tb, tenant, seq))
	}
	return l
}

func TestCheckpointRoundTrip(t *testing.T) {
	l := newLog(t, "t1", 10)
	k := newKey(t, "t1", 1)
	signed := sign(t, k, l, 10)
	body := fmt.Sprintf("custody.log/t1\n10\n%s\n\n", base64.StdEncoding.EncodeToString(func() []byte { r := l.root(t, 10); return r[:] }()))
	if !bytes.HasPrefix(signed, []byte(body)) {
		t.Fatalf("checkpoint is not in C2SP form:\n%s", signed)
	}
	c, err := ledger.OpenCheckpoint(signed, ledger.Origin("t1"), k.verifier)
	if err != nil {
		t.Fatal(err)
	}
	if c.Origin != "custody.log/t1" || c.Size != 10 || c.Root != l.root(t, 10) || c.KeyID != mustKeyID(t, k.verifier) {
		t.Fatalf("OpenCheckpoint = %+v", c)
	}
	// An empty log has the RFC 6962 empty root and may be signed.
	empty, err := tlog.TreeHash(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.SignCheckpoint(k.signer, ledger.Origin("t1"), 0, empty); err != nil {
		t.Error(err)
	}
}

func TestSignCheckpointRefuses(t *testing.T) {
	l := newLog(t, "t1", 3)
	k := newKey(t, "t1", 1)
	for _, tc := range []struct {
		name, signer, origin string
		size                 int64
		root                 tlog.Hash
		fragment             string
	}{
		{"key of another log", k.signer, ledger.Origin("t2"), 3, l.root(t, 3), "cannot sign checkpoints of log"},
		{"negative size", k.signer, ledger.Origin("t1"), -1, l.root(t, 3), "negative"},
		{"empty tree with a root", k.signer, ledger.Origin("t1"), 0, l.root(t, 3), "empty tree"},
		{"malformed key", "PRIVATE+KEY+x", ledger.Origin("t1"), 3, l.root(t, 3), "malformed signer key"},
		{"verifier key", k.verifier, ledger.Origin("t1"), 3, l.root(t, 3), "malformed signer key"},
		{"bad origin", k.signer, "a\nb", 3, l.root(t, 3), "invalid log origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ledger.SignCheckpoint(tc.signer, tc.origin, tc.size, tc.root)
			wantErr(t, err, nil, tc.fragment)
		})
	}
}

func TestOpenCheckpointRejects(t *testing.T) {
	l := newLog(t, "t1", 10)
	k := newKey(t, "t1", 1)
	other := newKey(t, "t1", 2)
	foreign := newKey(t, "t2", 3)
	signed := string(sign(t, k, l, 10))
	raw, _ := note.NewSigner(k.signer)
	signText := func(text string) string {
		b, err := note.Sign(&note.Note{Text: text}, raw)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	root := base64.StdEncoding.EncodeToString(func() []byte { r := l.root(t, 10); return r[:] }())
	sigLine := signed[strings.Index(signed, "\n\n")+2:]
	sigB64 := sigLine[strings.LastIndex(sigLine, " ")+1 : len(sigLine)-1]
	sigBytes, _ := base64.StdEncoding.DecodeString(sigB64)
	sigBytes[20] ^= 1
	badSig := strings.Replace(signed, sigB64, base64.StdEncoding.EncodeToString(sigBytes), 1)

	for _, tc := range []struct {
		name     string
		note     string
		origin   string
		keys     []string
		sentinel error
		fragment string
	}{
		{"body size changed", strings.Replace(signed, "\n10\n", "\n11\n", 1), "t1", []string{k.verifier}, ledger.ErrBadSignature, "does not verify"},
		{"signature changed", badSig, "t1", []string{k.verifier}, ledger.ErrBadSignature, "signature by key custody.log/t1+"},
		{"unknown key", signed, "t1", []string{other.verifier}, ledger.ErrUnknownKey, "signed by " + mustKeyID(t, k.verifier)},
		{"no key of this log", signed, "t1", []string{foreign.verifier}, ledger.ErrUnknownKey, "none of the trusted keys is for log"},
		{"no key at all", signed, "t1", nil, ledger.ErrUnknownKey, "no trusted verifier key"},
		{"asked about another log", signed, "t2", []string{foreign.verifier, k.verifier}, ledger.ErrWrongOrigin, `is for log "custody.log/t1"`},
		{"not a note", "custody.log/t1\n10\n" + root + "\n", "t1", []string{k.verifier}, ledger.ErrMalformedCheckpoint, "not a well-formed signed note"},
		{"extension line", signText("custody.log/t1\n10\n" + root + "\nextra\n"), "t1", []string{k.verifier}, ledger.ErrMalformedCheckpoint, "extension"},
		{"short body", signText("custody.log/t1\n10\n"), "t1", []string{k.verifier}, ledger.ErrMalformedCheckpoint, "2 lines"},
		{"leading zero size", signText("custody.log/t1\n010\n" + root + "\n"), "t1", []string{k.verifier}, ledger.ErrMalformedCheckpoint, `"010"`},
		{"negative size", signText("custody.log/t1\n-1\n" + root + "\n"), "t1", []string{k.verifier}, ledger.ErrMalformedCheckpoint, `"-1"`},
		{"short root", signText("custody.log/t1\n10\nAAAA\n"), "t1", []string{k.verifier}, ledger.ErrMalformedCheckpoint, "root hash"},
		{"body names another origin", signText("custody.log/t9\n10\n" + root + "\n"), "t1", []string{k.verifier}, ledger.ErrWrongOrigin, `"custody.log/t9"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ledger.OpenCheckpoint([]byte(tc.note), ledger.Origin(tc.origin), tc.keys...)
			wantErr(t, err, tc.sentinel, tc.fragment)
		})
	}
	if _, err := ledger.OpenCheckpoint([]byte(signed), ledger.Origin("t1"), "garbage"); err == nil || !strings.Contains(err.Error(), "verifier key #1 is malformed") {
		t.Errorf("malformed trusted key: %v", err)
	}
	// The same key listed twice, and the whole rotation history, are fine.
	if _, err := ledger.OpenCheckpoint([]byte(signed), ledger.Origin("t1"), k.verifier, other.verifier, k.verifier, foreign.verifier); err != nil {
		t.Error(err)
	}
}

func TestVerifyConsistency(t *testing.T) {
	l := newLog(t, "t1", 10)
	old, cur := newKey(t, "t1", 1), newKey(t, "t1", 2) // rotated between the checkpoints
	keys := []string{old.verifier, cur.verifier}
	cp3, cp7, cp10 := sign(t, old, l, 3), sign(t, old, l, 7), sign(t, cur, l, 10)
	for _, pair := range [][2]int64{{1, 10}, {3, 7}, {3, 10}, {7, 10}, {5, 8}, {9, 10}} {
		o, n := sign(t, old, l, pair[0]), sign(t, cur, l, pair[1])
		if err := ledger.VerifyConsistency(o, n, ledger.Origin("t1"), l.proveTree(t, pair[1], pair[0]), keys...); err != nil {
			t.Errorf("%d -> %d: %v", pair[0], pair[1], err)
		}
	}
	if err := ledger.VerifyConsistency(cp10, cp10, ledger.Origin("t1"), nil, keys...); err != nil {
		t.Errorf("same checkpoint: %v", err)
	}

	// A fork: the same first 5 events, then a different sixth.
	fork := newLog(t, "t1", 5)
	fork.append(t, event(t, "t1", 99))
	for seq := int64(7); seq <= 10; seq++ {
		fork.append(t, event(t, "t1", seq))
	}
	forked10 := sign(t, cur, fork, 10)
	forked7 := sign(t, cur, fork, 7)

	proof := l.proveTree(t, 10, 3)
	bad := append(tlog.TreeProof{}, proof...)
	bad[0][5] ^= 1
	for _, tc := range []struct {
		name       string
		older, new []byte
		proof      tlog.TreeProof
		keys       []string
		sentinel   error
		fragment   string
	}{
		{"altered proof hash", cp3, cp10, bad, keys, ledger.ErrInconsistent, "is a prefix"},
		{"truncated proof", cp3, cp10, proof[:len(proof)-1], keys, ledger.ErrInconsistent, "is a prefix"},
		{"proof for other sizes", cp3, cp10, l.proveTree(t, 10, 7), keys, ledger.ErrInconsistent, "is a prefix"},
		{"log rewritten after the kept checkpoint", cp7, forked10, fork.proveTree(t, 10, 7), keys, ledger.ErrInconsistent, "is a prefix"},
		{"same size, other root", cp7, forked7, nil, keys, ledger.ErrInconsistent, "different roots"},
		{"log shrank", cp10, cp7, nil, keys, ledger.ErrInconsistent, "shrank"},
		{"extra proof for equal sizes", cp10, cp10, proof, keys, ledger.ErrInconsistent, "none are needed"},
		{"old key forgotten", cp3, cp10, proof, []string{cur.verifier}, ledger.ErrUnknownKey, "older checkpoint"},
		{"newer checkpoint altered", cp3, []byte(strings.Replace(string(cp10), "\n10\n", "\n12\n", 1)), proof, keys, ledger.ErrBadSignature, "newer checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ledger.VerifyConsistency(tc.older, tc.new, ledger.Origin("t1"), tc.proof, tc.keys...)
			wantErr(t, err, tc.sentinel, tc.fragment)
		})
	}
}
