package ledger_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-dev/custody/domain/ledger"
)

// receiptFixture is a tenant log of 10 events whose seq 4 is a signed
// hand-off, with a checkpoint at size 10.
type receiptFixture struct {
	log     *memLog
	key     key
	handOff handOff
	cp      []byte
}

func newReceiptFixture(t *testing.T) *receiptFixture {
	f := &receiptFixture{log: &memLog{tenant: "t1"}, key: newKey(t, "t1", 1), handOff: newHandOff()}
	f.handOff.sig.SignedAt = time.Date(2026, 3, 14, 8, 26, 53, 589793000, time.UTC)
	for seq := int64(1); seq <= 10; seq++ {
		leaf := event(t, "t1", seq)
		if seq == 4 {
			leaf = f.handOff.event(t, "t1", seq)
		}
		f.log.append(t, leaf)
	}
	f.cp = sign(t, f.key, f.log, 10)
	return f
}

// receipt builds the receipt of leaf index in the tree of size 10.
func (f *receiptFixture) receipt(t *testing.T, index int64) *ledger.Receipt {
	t.Helper()
	var sig *ledger.ReceiptSignature
	if index == 3 {
		s := f.handOff.sig
		sig = &s
	}
	r, err := ledger.BuildReceipt(index, f.log.leaves[index], 10, f.log.prove(t, 10, index), f.cp, ledger.Origin("t1"), f.key.verifier, sig)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReceiptVerifies(t *testing.T) {
	f := newReceiptFixture(t)
	for index := range int64(10) {
		r := f.receipt(t, index)
		rep, err := ledger.VerifyReceipt(r, f.key.verifier)
		if err != nil {
			t.Fatalf("leaf %d: %v", index, err)
		}
		if rep.Seq != index+1 || rep.LeafIndex != index || rep.TreeSize != 10 || rep.Tenant != "t1" ||
			rep.KeyID != mustKeyID(t, f.key.verifier) || rep.Root != f.log.root(t, 10) || len(rep.Checks) < 4 {
			t.Errorf("leaf %d: report %+v", index, rep)
		}
		if index == 3 {
			if rep.EventType != "HANDED_OFF" || !rep.SignatureChecked || !rep.ImageChecked || !rep.ConsentChecked {
				t.Errorf("hand-off report %+v", rep)
			}
		} else if rep.EventType != "RESTOCKED" || rep.SignatureChecked || rep.RecordedAt == "" {
			t.Errorf("leaf %d: report %+v", index, rep)
		}
	}

	// The receipt survives being written as a file, compact or indented
	// (encoding/json re-escapes "<" and "&" and re-indents the embedded event).
	r := f.receipt(t, 3)
	compact, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	indented, _ := json.MarshalIndent(r, "", "  ")
	plain := f.receipt(t, 1) // its event holds "<" and "&"
	plainJSON, _ := json.MarshalIndent(plain, "", "\t")
	if !bytes.Contains(plainJSON, []byte(`\u003c`)) {
		t.Fatal("the test event no longer exercises HTML escaping")
	}
	for name, doc := range map[string][]byte{"compact": compact, "indented": indented, "escaped": plainJSON} {
		parsed, err := ledger.ParseReceipt(doc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := ledger.VerifyReceipt(parsed, f.key.verifier); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Without the image and consent text, the hashes still bind the event.
	r.Signature.Image, r.Signature.ConsentText = nil, ""
	rep, err := ledger.VerifyReceipt(r, f.key.verifier)
	if err != nil || !rep.SignatureChecked || rep.ImageChecked || rep.ConsentChecked {
		t.Errorf("receipt without image: %+v, %v", rep, err)
	}
}

// clone deep-copies a receipt through its JSON form.
func clone(t *testing.T, r *ledger.Receipt) *ledger.Receipt {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ledger.ParseReceipt(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReceiptTamperRejected(t *testing.T) {
	f := newReceiptFixture(t)
	other := newKey(t, "t1", 2)
	foreign := newKey(t, "t2", 3)
	hand := f.receipt(t, 3)
	plain := f.receipt(t, 6)

	for _, tc := range []struct {
		name     string
		base     *ledger.Receipt
		mutate   func(r *ledger.Receipt)
		keys     []string
		sentinel error
		fragment string
	}{
		{"byte of the leaf", plain, func(r *ledger.Receipt) { r.Leaf[30] ^= 1 }, nil,
			ledger.ErrLeafModified, "the hash of leaf 6 is not in the checkpoint's tree"},
		{"leaf and event edited alike", plain, func(r *ledger.Receipt) {
			r.Leaf = bytes.Replace(r.Leaf, []byte(`"id":"ev-7"`), []byte(`"id":"ev-8"`), 1)
			r.Event = bytes.Clone(r.Leaf)
		}, nil, ledger.ErrProofMismatch, "the leaf, its index or a proof hash was altered"},
		{"byte of the event shown", plain, func(r *ledger.Receipt) {
			r.Event = bytes.Replace(r.Event, []byte(`"id":"ev-7"`), []byte(`"id":"ev-8"`), 1)
		}, nil, ledger.ErrLeafModified, "the event shown differs from the proved leaf"},
		{"event shown with reordered keys", plain, func(r *ledger.Receipt) {
			r.Event = bytes.Replace(r.Event, []byte(`{"v":1,"tenant":"t1",`), []byte(`{"tenant":"t1","v":1,`), 1)
		}, nil, ledger.ErrLeafModified, "the event shown differs"},
		{"byte of the proof", plain, func(r *ledger.Receipt) { r.InclusionProof[1][7] ^= 1 }, nil,
			ledger.ErrProofMismatch, "a proof hash was altered"},
		{"byte of the checkpoint body", plain, func(r *ledger.Receipt) {
			r.Checkpoint = strings.Replace(r.Checkpoint, "\n10\n", "\n11\n", 1)
		}, nil, ledger.ErrBadSignature, "checkpoint text or its signature was altered"},
		{"checkpoint root replaced", plain, func(r *ledger.Receipt) {
			lines := strings.SplitN(r.Checkpoint, "\n", 4)
			root := f.log.root(t, 9)
			lines[2] = base64.StdEncoding.EncodeToString(root[:])
			r.Checkpoint = strings.Join(lines, "\n")
		}, nil, ledger.ErrBadSignature, "does not verify"},
		{"byte of the checkpoint signature", plain, func(r *ledger.Receipt) {
			i := strings.LastIndex(r.Checkpoint, " ") + 30
			c := []byte(r.Checkpoint)
			c[i] = map[bool]byte{true: 'B', false: 'A'}[c[i] == 'A']
			r.Checkpoint = string(c)
		}, nil, ledger.ErrBadSignature, "does not verify"},
		{"checkpoint cut off", plain, func(r *ledger.Receipt) { r.Checkpoint = r.Checkpoint[:len(r.Checkpoint)-10] }, nil,
			ledger.ErrMalformedCheckpoint, "not a well-formed signed note"},
		{"leaf index changed", plain, func(r *ledger.Receipt) { r.LeafIndex = 5 }, nil,
			ledger.ErrProofMismatch, "the proof is for leaf index 5, but the event has seq 7"},
		{"leaf index changed to a shorter proof", plain, func(r *ledger.Receipt) { r.LeafIndex = 9 }, nil,
			ledger.ErrProofMismatch, "the proof is for leaf index 9, but the event has seq 7"},
		{"proof of another leaf", plain, func(r *ledger.Receipt) {
			r.InclusionProof = append([]tlog.Hash{}, f.log.prove(t, 10, 5)...)
		}, nil, ledger.ErrProofMismatch, "a proof hash was altered"},
		{"leaf index outside the tree", plain, func(r *ledger.Receipt) { r.LeafIndex = 10 }, nil,
			ledger.ErrProofMismatch, "outside the checkpoint's tree of 10 leaves"},
		{"negative leaf index", plain, func(r *ledger.Receipt) { r.LeafIndex = -1 }, nil,
			ledger.ErrProofMismatch, "outside"},
		{"tree size changed", plain, func(r *ledger.Receipt) { r.TreeSize = 11 }, nil,
			ledger.ErrProofMismatch, "tree size 11 is not the checkpoint's 10"},
		{"truncated proof", plain, func(r *ledger.Receipt) { r.InclusionProof = r.InclusionProof[:len(r.InclusionProof)-1] }, nil,
			ledger.ErrProofMismatch, "truncated proof"},
		{"padded proof", plain, func(r *ledger.Receipt) { r.InclusionProof = append(r.InclusionProof, tlog.Hash{}) }, nil,
			ledger.ErrProofMismatch, "padded proof"},
		{"checkpoint by an unknown key", plain, func(r *ledger.Receipt) { r.Checkpoint = string(sign(t, other, f.log, 10)) }, nil,
			ledger.ErrUnknownKey, "signed by " + mustKeyID(t, other.verifier)},
		{"verified with another tenant's key", plain, func(*ledger.Receipt) {}, []string{foreign.verifier},
			ledger.ErrUnknownKey, `none of the trusted keys is for log "custody.log/t1"`},
		{"origin changed", plain, func(r *ledger.Receipt) { r.Origin = ledger.Origin("t2") }, []string{f.key.verifier, foreign.verifier},
			ledger.ErrWrongOrigin, `the checkpoint is for log "custody.log/t1"`},
		{"origin not a custody log", plain, func(r *ledger.Receipt) { r.Origin = "go.sum database tree" }, nil,
			ledger.ErrWrongOrigin, "not a custody log origin"},
		{"image hash", hand, func(r *ledger.Receipt) { r.Signature.ImageSha256 = hexSum([]byte("other")) }, nil,
			ledger.ErrSignatureMismatch, "image hash"},
		{"consent hash", hand, func(r *ledger.Receipt) { r.Signature.ConsentSha256 = hexSum([]byte("other")) }, nil,
			ledger.ErrSignatureMismatch, "consent text hash"},
		{"consent version", hand, func(r *ledger.Receipt) { r.Signature.ConsentVersion = "2025-01" }, nil,
			ledger.ErrSignatureMismatch, "consent version"},
		{"typed name", hand, func(r *ledger.Receipt) { r.Signature.TypedName = "Someone Else" }, nil,
			ledger.ErrSignatureMismatch, "typed name hash"},
		{"signature time", hand, func(r *ledger.Receipt) { r.Signature.SignedAt = r.Signature.SignedAt.Add(time.Hour) }, nil,
			ledger.ErrSignatureMismatch, "signature time"},
		{"image format", hand, func(r *ledger.Receipt) { r.Signature.ImageFormat = "image/svg+xml" }, nil,
			ledger.ErrSignatureMismatch, "image format"},
		{"signature id", hand, func(r *ledger.Receipt) { r.Signature.ID = "sig-2" }, nil,
			ledger.ErrSignatureMismatch, `"sig-2" is not the event's signature "sig-1"`},
		{"image bytes", hand, func(r *ledger.Receipt) { r.Signature.Image[3] ^= 1 }, nil,
			ledger.ErrSignatureMismatch, "the included signature image hashes to"},
		{"consent text", hand, func(r *ledger.Receipt) { r.Signature.ConsentText += " " }, nil,
			ledger.ErrSignatureMismatch, "the included consent text hashes to"},
		{"signature on an event without one", plain, func(r *ledger.Receipt) {
			s := f.handOff.sig
			s.ID = ""
			r.Signature = &s
		}, nil, ledger.ErrSignatureMismatch, "the event records no image hash"},
		{"format", plain, func(r *ledger.Receipt) { r.Format = "custody-receipt/v2" }, nil,
			ledger.ErrMalformedReceipt, `format "custody-receipt/v2"`},
		{"no leaf", plain, func(r *ledger.Receipt) { r.Leaf = nil }, nil, ledger.ErrMalformedReceipt, "no leaf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := clone(t, tc.base)
			tc.mutate(r)
			keys := tc.keys
			if keys == nil {
				keys = []string{f.key.verifier}
			}
			rep, err := ledger.VerifyReceipt(r, keys...)
			wantErr(t, err, tc.sentinel, tc.fragment)
			if rep != nil {
				t.Error("a report came with the error")
			}
		})
	}
	// The base receipts were not touched by the mutations.
	for _, r := range []*ledger.Receipt{hand, plain} {
		if _, err := ledger.VerifyReceipt(r, f.key.verifier); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReceiptKeyRotation(t *testing.T) {
	l := newLog(t, "t1", 5)
	old, cur := newKey(t, "t1", 1), newKey(t, "t1", 2)
	cp5 := sign(t, old, l, 5)
	r, err := ledger.BuildReceipt(2, l.leaves[2], 5, l.prove(t, 5, 2), cp5, ledger.Origin("t1"), old.verifier, nil)
	if err != nil {
		t.Fatal(err)
	}
	for seq := int64(6); seq <= 9; seq++ {
		l.append(t, event(t, "t1", seq))
	}
	cp9 := sign(t, cur, l, 9) // after rotation
	rNew, err := ledger.BuildReceipt(7, l.leaves[7], 9, l.prove(t, 9, 7), cp9, ledger.Origin("t1"), cur.verifier, nil)
	if err != nil {
		t.Fatal(err)
	}
	history := []string{old.verifier, cur.verifier}
	for name, r := range map[string]*ledger.Receipt{"old": r, "new": rNew} {
		if _, err := ledger.VerifyReceipt(r, history...); err != nil {
			t.Errorf("%s receipt with the key history: %v", name, err)
		}
	}
	rep, _ := ledger.VerifyReceipt(r, history...)
	if rep.KeyID != mustKeyID(t, old.verifier) {
		t.Errorf("old receipt verified by %s", rep.KeyID)
	}
	_, err = ledger.VerifyReceipt(r, cur.verifier)
	wantErr(t, err, ledger.ErrUnknownKey, "signed by "+mustKeyID(t, old.verifier))
	if err := ledger.VerifyConsistency(cp5, cp9, ledger.Origin("t1"), l.proveTree(t, 9, 5), history...); err != nil {
		t.Errorf("consistency across the rotation: %v", err)
	}
}

func TestBuildReceiptRefusesBadInput(t *testing.T) {
	f := newReceiptFixture(t)
	proof := f.log.prove(t, 10, 6)
	other := newKey(t, "t1", 2)
	// A leaf of another tenant logged in t1's log by mistake.
	mixed := newLog(t, "t1", 2)
	mixed.append(t, event(t, "t2", 3))
	mixedCP := sign(t, f.key, mixed, 3)
	// A leaf at the wrong position.
	shifted := newLog(t, "t1", 2)
	shifted.append(t, event(t, "t1", 4))
	shiftedCP := sign(t, f.key, shifted, 3)
	// A leaf that is not a canonical event.
	foreignFormat := &memLog{tenant: "t1"}
	foreignFormat.append(t, []byte(`{"seq":1,"tenant":"t1"}`))
	foreignFormatCP := sign(t, f.key, foreignFormat, 1)
	for _, tc := range []struct {
		name     string
		build    func() (*ledger.Receipt, error)
		sentinel error
		fragment string
	}{
		{"leaf not JSON", func() (*ledger.Receipt, error) {
			return ledger.BuildReceipt(6, []byte("not json"), 10, proof, f.cp, ledger.Origin("t1"), f.key.verifier, nil)
		}, nil, "is not JSON"},
		{"wrong leaf", func() (*ledger.Receipt, error) {
			return ledger.BuildReceipt(6, f.log.leaves[5], 10, proof, f.cp, ledger.Origin("t1"), f.key.verifier, nil)
		}, ledger.ErrProofMismatch, "would not verify"},
		{"key that did not sign", func() (*ledger.Receipt, error) {
			return ledger.BuildReceipt(6, f.log.leaves[6], 10, proof, f.cp, ledger.Origin("t1"), other.verifier, nil)
		}, ledger.ErrUnknownKey, "would not verify"},
		{"event of another tenant", func() (*ledger.Receipt, error) {
			return ledger.BuildReceipt(2, mixed.leaves[2], 3, mixed.prove(t, 3, 2), mixedCP, ledger.Origin("t1"), f.key.verifier, nil)
		}, ledger.ErrWrongOrigin, `the event belongs to tenant "t2"`},
		{"event at the wrong position", func() (*ledger.Receipt, error) {
			return ledger.BuildReceipt(2, shifted.leaves[2], 3, shifted.prove(t, 3, 2), shiftedCP, ledger.Origin("t1"), f.key.verifier, nil)
		}, ledger.ErrProofMismatch, "the event has seq 4, which must be at leaf index 3, not 2"},
		{"leaf that is not a canonical event", func() (*ledger.Receipt, error) {
			return ledger.BuildReceipt(0, foreignFormat.leaves[0], 1, nil, foreignFormatCP, ledger.Origin("t1"), f.key.verifier, nil)
		}, ledger.ErrMalformedReceipt, "not a version 1 canonical event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.build()
			wantErr(t, err, tc.sentinel, tc.fragment)
			if r != nil {
				t.Error("a receipt came with the error")
			}
		})
	}
}

func TestParseReceiptIsStrict(t *testing.T) {
	f := newReceiptFixture(t)
	good, err := json.Marshal(f.receipt(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	r := f.receipt(t, 3)
	r.Checkpoint = ""
	noCheckpoint, _ := json.Marshal(r)
	for _, tc := range []struct{ name, doc, fragment string }{
		{"unknown field", strings.Replace(string(good), `{"format"`, `{"extra":1,"format"`, 1), `unknown field "extra"`},
		{"unknown signature field", strings.Replace(string(good), `"typedName"`, `"x":1,"typedName"`, 1), `unknown field "x"`},
		{"trailing data", string(good) + "{}", "data after the receipt"},
		{"other format", strings.Replace(string(good), ledger.ReceiptFormat, "custody-receipt/v0", 1), "custody-receipt/v0"},
		{"not JSON", "receipt", "invalid character"},
		{"proof hash not base64", strings.Replace(string(good), `"inclusionProof":["`, `"inclusionProof":["!`, 1), "malformed receipt"},
		{"no checkpoint", string(noCheckpoint), "no checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ledger.ParseReceipt([]byte(tc.doc))
			wantErr(t, err, ledger.ErrMalformedReceipt, tc.fragment)
			if r != nil {
				t.Error("a receipt came with the error")
			}
		})
	}
}

func TestReceiptOfOneLeafLog(t *testing.T) {
	l := newLog(t, "t1", 1)
	k := newKey(t, "t1", 1)
	r, err := ledger.BuildReceipt(0, l.leaves[0], 1, l.prove(t, 1, 0), sign(t, k, l, 1), ledger.Origin("t1"), k.verifier, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(r)
	if !strings.Contains(string(doc), `"inclusionProof":[]`) {
		t.Errorf("empty proof not written as []: %s", doc)
	}
	r = clone(t, r)
	if _, err := ledger.VerifyReceipt(r, k.verifier); err != nil {
		t.Fatal(err)
	}
	r.InclusionProof = append(r.InclusionProof, tlog.Hash{})
	_, err = ledger.VerifyReceipt(r, k.verifier)
	wantErr(t, err, ledger.ErrProofMismatch, "needs 0 (padded proof)")
}
