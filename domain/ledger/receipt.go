package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// ReceiptFormat is the format tag of the receipts this package writes and reads.
const ReceiptFormat = "custody-receipt/v1"

// canonicalVersion is the leaf encoding version this package understands
// (domain.CanonicalVersion); a leaf with another "v" is refused.
const canonicalVersion = 1

// Keys of the details a hand-off event records about its signature
// (domain.signatureFacts).
const (
	detailImageSha256    = "signatureImageSha256"
	detailConsentSha256  = "consentSha256"
	detailConsentVersion = "consentVersion"
	detailTypedName      = "typedNameSha256"
	detailImageFormat    = "signatureImageFormat"
)

// leafTime is how the canonical encoding writes timestamps.
const leafTime = "2006-01-02T15:04:05.000000Z"

// Receipt is an offline-verifiable proof that one custody event is in a
// tenant's log: the event's leaf bytes, its inclusion proof in the tree of a
// signed checkpoint and, for a hand-off, the signature evidence. It is a JSON
// document of format "custody-receipt/v1".
type Receipt struct {
	// Format is always ReceiptFormat.
	Format string `json:"format"`
	// Origin names the tenant's log, "custody.log/<tenant>".
	Origin string `json:"origin"`
	// LeafIndex is the event's position in the log: its seq - 1.
	LeafIndex int64 `json:"leafIndex"`
	// Leaf is the exact logged bytes of the event (base64 in JSON); its
	// RecordHash is what the proof proves.
	Leaf []byte `json:"leaf"`
	// Event is the same leaf embedded as JSON for people to read. It is
	// verified to be the same JSON as Leaf (white space and string escapes
	// aside), so what a reader sees is what was proved.
	Event json.RawMessage `json:"event"`
	// TreeSize is the size of the tree the proof and checkpoint are about.
	TreeSize int64 `json:"treeSize"`
	// InclusionProof is the RFC 6962 inclusion proof of Leaf at LeafIndex in
	// the tree of TreeSize leaves (base64 hashes in JSON).
	InclusionProof []tlog.Hash `json:"inclusionProof"`
	// Checkpoint is the signed note of the tree of TreeSize leaves.
	Checkpoint string `json:"checkpoint"`
	// Signature is the evidence of a hand-off's signature; nil for events
	// without one.
	Signature *ReceiptSignature `json:"signature,omitempty"`
	// VerifierKey is the key that signed Checkpoint, for information only:
	// verification uses the keys the verifying person trusts.
	VerifierKey string `json:"verifierKey"`
}

// ReceiptSignature is the evidence of the signature a hand-off event
// records. The hashes must equal the ones in the logged event's details;
// when the image or the consent text is included, anyone can re-hash it.
type ReceiptSignature struct {
	// ID is the signature's ID, which the event's "signature" field names.
	ID string `json:"id,omitempty"`
	// TypedName is the name the signer typed.
	TypedName string `json:"typedName"`
	// SignedAt is when the server recorded the signature.
	SignedAt time.Time `json:"signedAt"`
	// ImageSha256 is the hex SHA-256 of the drawn image bytes.
	ImageSha256 string `json:"imageSha256"`
	// ConsentSha256 is the hex SHA-256 of the exact consent text shown.
	ConsentSha256 string `json:"consentSha256"`
	// ConsentVersion is the version label of that consent text.
	ConsentVersion string `json:"consentVersion"`
	// ImageFormat is the image's media type ("image/png", "image/svg+xml").
	ImageFormat string `json:"imageFormat"`
	// Image is the drawn image (base64 in JSON), if included.
	Image []byte `json:"image,omitempty"`
	// ConsentText is the exact consent text, if included.
	ConsentText string `json:"consentText,omitempty"`
}

// BuildReceipt assembles the receipt of the leaf at leafIndex from a proof
// (tlog.ProveRecord(treeSize, leafIndex, ...)) and the signed checkpoint of
// treeSize leaves, and verifies it before returning it: verifierKey must be
// the key that signed the checkpoint, so a server bug can never hand out a
// receipt that does not verify. sig is copied; nil for events without a
// signature.
func BuildReceipt(leafIndex int64, leaf []byte, treeSize int64, proof tlog.RecordProof, signedCheckpoint []byte, origin, verifierKey string, sig *ReceiptSignature) (*Receipt, error) {
	if !json.Valid(leaf) {
		return nil, fmt.Errorf("build receipt: leaf %d is not JSON", leafIndex)
	}
	r := &Receipt{
		Format:         ReceiptFormat,
		Origin:         origin,
		LeafIndex:      leafIndex,
		Leaf:           bytes.Clone(leaf),
		Event:          json.RawMessage(bytes.Clone(leaf)),
		TreeSize:       treeSize,
		InclusionProof: append([]tlog.Hash{}, proof...),
		Checkpoint:     string(signedCheckpoint),
		VerifierKey:    verifierKey,
	}
	if sig != nil {
		s := *sig
		s.Image = bytes.Clone(sig.Image)
		r.Signature = &s
	}
	if _, err := VerifyReceipt(r, verifierKey); err != nil {
		return nil, fmt.Errorf("build receipt: the receipt would not verify with key %q: %w", verifierKey, err)
	}
	return r, nil
}

// ParseReceipt decodes a receipt document strictly: unknown fields, trailing
// data and any format other than ReceiptFormat are refused. It does not
// verify the receipt (see VerifyReceipt).
func ParseReceipt(data []byte) (*Receipt, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Receipt
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("parse receipt: %w: %v", ErrMalformedReceipt, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("parse receipt: %w: data after the receipt object", ErrMalformedReceipt)
	}
	if err := r.checkShape(); err != nil {
		return nil, fmt.Errorf("parse receipt: %w", err)
	}
	return &r, nil
}

// checkShape checks that every required part of a receipt is present.
func (r *Receipt) checkShape() error {
	switch {
	case r.Format != ReceiptFormat:
		return fmt.Errorf("%w: format %q is not %q", ErrMalformedReceipt, r.Format, ReceiptFormat)
	case r.Origin == "":
		return fmt.Errorf("%w: no origin", ErrMalformedReceipt)
	case len(r.Leaf) == 0:
		return fmt.Errorf("%w: no leaf", ErrMalformedReceipt)
	case len(r.Event) == 0:
		return fmt.Errorf("%w: no event", ErrMalformedReceipt)
	case r.Checkpoint == "":
		return fmt.Errorf("%w: no checkpoint", ErrMalformedReceipt)
	}
	return nil
}

// ReceiptReport says what VerifyReceipt checked and what the proved event is.
type ReceiptReport struct {
	// Origin is the verified log origin.
	Origin string `json:"origin"`
	// Tenant is the tenant ID the origin names.
	Tenant string `json:"tenant"`
	// KeyID is the trusted key that signed the checkpoint.
	KeyID string `json:"keyId"`
	// TreeSize is the size of the signed tree the event is proved to be in.
	TreeSize int64 `json:"treeSize"`
	// Root is that tree's signed root hash.
	Root tlog.Hash `json:"root"`
	// LeafIndex is the event's position in the log.
	LeafIndex int64 `json:"leafIndex"`
	// Seq is the event's sequence number, LeafIndex + 1.
	Seq int64 `json:"seq"`
	// EventID is the proved event's ID.
	EventID string `json:"eventId"`
	// EventType is the proved event's type (e.g. "HANDED_OFF").
	EventType string `json:"eventType"`
	// Asset is the asset the event is about, if any.
	Asset string `json:"asset,omitempty"`
	// Parcel is the parcel the event is about, if any.
	Parcel string `json:"parcel,omitempty"`
	// RecordedAt is the server time of the event, as logged.
	RecordedAt string `json:"recordedAt"`
	// DeviceTime is the client device's time of the event, if it sent one.
	DeviceTime string `json:"deviceTime,omitempty"`
	// SignatureChecked is true when the receipt's signature hashes were
	// matched with the ones the event records.
	SignatureChecked bool `json:"signatureChecked"`
	// ImageChecked is true when the included signature image was re-hashed.
	ImageChecked bool `json:"imageChecked"`
	// ConsentChecked is true when the included consent text was re-hashed.
	ConsentChecked bool `json:"consentChecked"`
	// Checks lists, in order, every check that passed, in plain words.
	Checks []string `json:"checks"`
}

// leafEvent is the part of a canonical event (domain.CanonicalEvent) that
// verification reads.
type leafEvent struct {
	V          *int              `json:"v"`
	Tenant     string            `json:"tenant"`
	Seq        *int64            `json:"seq"`
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Asset      string            `json:"asset"`
	Parcel     string            `json:"parcel"`
	DeviceTime string            `json:"deviceTime"`
	RecordedAt string            `json:"recordedAt"`
	Signature  string            `json:"signature"`
	Details    map[string]string `json:"details"`
}

// VerifyReceipt verifies a receipt with nothing but trusted verifier keys
// (the tenant's key history). In order, it checks: the receipt's shape; the
// checkpoint's signature by a trusted key, its form and its origin; that
// the receipt's tree size is the checkpoint's and the leaf index is inside
// it; the proof's length; the inclusion of RecordHash(Leaf) at LeafIndex
// under the checkpoint root (tlog.CheckRecord); that Event is the same JSON
// as Leaf; that the leaf is a canonical event of the origin's tenant with
// seq = LeafIndex + 1; and, if the receipt has a Signature, that its ID and
// hashes are the leaf's and that the included image and consent text hash to
// them. The error names the first check that failed.
func VerifyReceipt(r *Receipt, verifierKeys ...string) (*ReceiptReport, error) {
	rep, err := verifyReceipt(r, verifierKeys)
	if err != nil {
		return nil, fmt.Errorf("verify receipt: %w", err)
	}
	return rep, nil
}

func verifyReceipt(r *Receipt, verifierKeys []string) (*ReceiptReport, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: no receipt", ErrMalformedReceipt)
	}
	if err := r.checkShape(); err != nil {
		return nil, err
	}
	tenant, err := tenantOf(r.Origin)
	if err != nil {
		return nil, err
	}
	rep := &ReceiptReport{Origin: r.Origin, Tenant: tenant, LeafIndex: r.LeafIndex, Seq: r.LeafIndex + 1}
	passed := func(format string, args ...any) { rep.Checks = append(rep.Checks, fmt.Sprintf(format, args...)) }

	ks, err := newKeySet(r.Origin, verifierKeys)
	if err != nil {
		return nil, err
	}
	cp, err := ks.open([]byte(r.Checkpoint))
	if err != nil {
		return nil, err
	}
	rep.KeyID, rep.TreeSize, rep.Root = cp.KeyID, cp.Size, cp.Root
	passed("checkpoint of %s signed by trusted key %s: %d leaves, root %s", cp.Origin, cp.KeyID, cp.Size, cp.Root)

	if r.TreeSize != cp.Size {
		return nil, fmt.Errorf("%w: the receipt's tree size %d is not the checkpoint's %d", ErrProofMismatch, r.TreeSize, cp.Size)
	}
	if r.LeafIndex < 0 || r.LeafIndex >= cp.Size {
		return nil, fmt.Errorf("%w: leaf index %d is outside the checkpoint's tree of %d leaves", ErrProofMismatch, r.LeafIndex, cp.Size)
	}
	if want := recordProofLen(cp.Size, r.LeafIndex); len(r.InclusionProof) != want {
		if err := indexMismatch(r); err != nil {
			return nil, err
		}
		what := "truncated"
		if len(r.InclusionProof) > want {
			what = "padded"
		}
		return nil, fmt.Errorf("%w: the proof has %d hashes but leaf %d of a tree of %d leaves needs %d (%s proof)",
			ErrProofMismatch, len(r.InclusionProof), r.LeafIndex, cp.Size, want, what)
	}

	leafHash := tlog.RecordHash(r.Leaf)
	sameEvent, diff := sameJSON(r.Event, r.Leaf)
	if err := tlog.CheckRecord(r.InclusionProof, cp.Size, cp.Root, r.LeafIndex, leafHash); err != nil {
		return nil, proofFailure(r, sameEvent, diff)
	}
	passed("inclusion proof of leaf %d (hash %s) leads to the checkpoint root", r.LeafIndex, leafHash)
	if !sameEvent {
		return nil, fmt.Errorf("%w: the event shown differs from the proved leaf (%s)", ErrLeafModified, diff)
	}
	passed("the event shown is the proved leaf")

	ev, err := decodeLeaf(r.Leaf)
	if err != nil {
		return nil, err
	}
	if ev.Tenant != tenant {
		return nil, fmt.Errorf("%w: the event belongs to tenant %q, but the log %q is tenant %q's", ErrWrongOrigin, ev.Tenant, r.Origin, tenant)
	}
	if *ev.Seq != r.LeafIndex+1 {
		return nil, fmt.Errorf("%w: the event has seq %d, which must be at leaf index %d, not %d", ErrProofMismatch, *ev.Seq, *ev.Seq-1, r.LeafIndex)
	}
	rep.EventID, rep.EventType, rep.Asset, rep.Parcel = ev.ID, ev.Type, ev.Asset, ev.Parcel
	rep.RecordedAt, rep.DeviceTime = ev.RecordedAt, ev.DeviceTime
	passed("event %s (%s) is seq %d of tenant %s", ev.ID, ev.Type, *ev.Seq, tenant)

	if r.Signature != nil {
		if err := checkSignature(r.Signature, ev, rep, passed); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// proofFailure explains a failed inclusion proof as precisely as the
// receipt allows: a leaf that differs from the event shown was edited; a
// leaf whose seq is not at LeafIndex was given another leaf's index or proof.
func proofFailure(r *Receipt, sameEvent bool, diff string) error {
	if !sameEvent {
		return fmt.Errorf("%w: the hash of leaf %d is not in the checkpoint's tree, and the leaf differs from the event shown (%s)", ErrLeafModified, r.LeafIndex, diff)
	}
	if err := indexMismatch(r); err != nil {
		return err
	}
	return fmt.Errorf("%w: the leaf, its index or a proof hash was altered", ErrProofMismatch)
}

// indexMismatch reports a receipt whose leaf index is not its event's seq - 1,
// which is what a proof or index taken from another receipt looks like.
func indexMismatch(r *Receipt) error {
	ev, err := decodeLeaf(r.Leaf)
	if err != nil || *ev.Seq == r.LeafIndex+1 {
		return nil
	}
	return fmt.Errorf("%w: the proof is for leaf index %d, but the event has seq %d, so it is leaf %d (the index or proof belongs to another event)",
		ErrProofMismatch, r.LeafIndex, *ev.Seq, *ev.Seq-1)
}

// recordProofLen is the number of hashes in an RFC 6962 inclusion proof of
// leaf n in a tree of size t (0 <= n < t): one per level descended. It only
// sizes the proof for a precise error; tlog.CheckRecord does the checking.
func recordProofLen(t, n int64) int {
	lo, hi, count := int64(0), t, 0
	for hi-lo > 1 {
		k := int64(1) << (bits.Len64(uint64(hi-lo-1)) - 1) // largest power of two < hi-lo
		if n < lo+k {
			hi = lo + k
		} else {
			lo += k
		}
		count++
	}
	return count
}

// decodeLeaf reads the fields verification needs from a canonical event.
func decodeLeaf(leaf []byte) (*leafEvent, error) {
	var ev leafEvent
	if err := json.Unmarshal(leaf, &ev); err != nil {
		return nil, fmt.Errorf("%w: the proved leaf is not a canonical event: %v", ErrMalformedReceipt, err)
	}
	switch {
	case ev.V == nil || *ev.V != canonicalVersion:
		return nil, fmt.Errorf("%w: the proved leaf is not a version %d canonical event", ErrMalformedReceipt, canonicalVersion)
	case ev.Seq == nil:
		return nil, fmt.Errorf("%w: the proved leaf has no seq", ErrMalformedReceipt)
	}
	return &ev, nil
}

// checkSignature matches a receipt's signature evidence with the event.
func checkSignature(s *ReceiptSignature, ev *leafEvent, rep *ReceiptReport, passed func(string, ...any)) error {
	if s.ID != "" && s.ID != ev.Signature {
		return fmt.Errorf("%w: the receipt's signature %q is not the event's signature %q", ErrSignatureMismatch, s.ID, ev.Signature)
	}
	for _, f := range []struct{ name, detail, got string }{
		{"image hash", detailImageSha256, s.ImageSha256},
		{"consent text hash", detailConsentSha256, s.ConsentSha256},
		{"consent version", detailConsentVersion, s.ConsentVersion},
		{"typed name hash", detailTypedName, sha256Hex([]byte(s.TypedName))},
		{"image format", detailImageFormat, s.ImageFormat},
	} {
		want, ok := ev.Details[f.detail]
		if !ok {
			return fmt.Errorf("%w: the event records no %s (details.%s)", ErrSignatureMismatch, f.name, f.detail)
		}
		if f.got != want {
			return fmt.Errorf("%w: the receipt's signature %s %q is not the %q the event records", ErrSignatureMismatch, f.name, f.got, want)
		}
	}
	if got := s.SignedAt.UTC().Format(leafTime); got != ev.RecordedAt {
		return fmt.Errorf("%w: the receipt's signature time %s is not the event's time %s", ErrSignatureMismatch, got, ev.RecordedAt)
	}
	rep.SignatureChecked = true
	passed("typed name, signature time, image format, hashes and consent version %q are the ones the event records", s.ConsentVersion)
	if s.Image != nil {
		if got := sha256Hex(s.Image); got != s.ImageSha256 {
			return fmt.Errorf("%w: the included signature image hashes to %s, not %s", ErrSignatureMismatch, got, s.ImageSha256)
		}
		rep.ImageChecked = true
		passed("the included signature image (%d bytes) hashes to %s", len(s.Image), s.ImageSha256)
	}
	if s.ConsentText != "" {
		if got := sha256Hex([]byte(s.ConsentText)); got != s.ConsentSha256 {
			return fmt.Errorf("%w: the included consent text hashes to %s, not %s", ErrSignatureMismatch, got, s.ConsentSha256)
		}
		rep.ConsentChecked = true
		passed("the included consent text hashes to %s", s.ConsentSha256)
	}
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sameJSON reports whether a and b are the same JSON text up to white space
// and string escapes: the same tokens in the same order (so key order,
// duplicates and number spelling count). Event must be compared this way
// because encoding/json re-escapes and re-indents an embedded RawMessage.
// When they differ, it says where.
func sameJSON(a, b []byte) (bool, string) {
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	for i := 0; ; i++ {
		ta, errA := da.Token()
		tb, errB := db.Token()
		switch {
		case errors.Is(errA, io.EOF) && errors.Is(errB, io.EOF):
			return true, ""
		case errA != nil && !errors.Is(errA, io.EOF):
			return false, fmt.Sprintf("the event is not valid JSON: %v", errA)
		case errB != nil && !errors.Is(errB, io.EOF):
			return false, fmt.Sprintf("the leaf is not valid JSON: %v", errB)
		case errA != nil || errB != nil:
			return false, fmt.Sprintf("one ends at token %d", i)
		case ta != tb:
			return false, fmt.Sprintf("JSON token %d is %q in the event but %q in the leaf", i, fmt.Sprint(ta), fmt.Sprint(tb))
		}
	}
}
