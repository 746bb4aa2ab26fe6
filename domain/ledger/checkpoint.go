package ledger

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is the verified content of a signed checkpoint: the log it is
// about, the tree size and root hash it commits to, and the key that signed it.
type Checkpoint struct {
	// Origin names the log, "custody.log/<tenant>".
	Origin string
	// Size is the number of leaves in the tree.
	Size int64
	// Root is the RFC 6962 Merkle tree hash of those leaves.
	Root tlog.Hash
	// KeyID identifies the trusted key whose signature verified, in the
	// form KeyID returns ("<name>+<hash>").
	KeyID string
}

// emptyRoot is the RFC 6962 hash of the empty tree, taken from tlog.
var emptyRoot, _ = tlog.TreeHash(0, nil)

// SignCheckpoint signs a checkpoint of log origin at the given size and root,
// in C2SP tlog-checkpoint form ("<origin>\n<size>\n<base64 root>\n") as a
// signed note. The signer key must be named origin (see GenerateKey).
func SignCheckpoint(signerKey, origin string, size int64, root tlog.Hash) (signedNote []byte, err error) {
	if err := checkOriginText(origin); err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	if size < 0 {
		return nil, fmt.Errorf("sign checkpoint: negative tree size %d", size)
	}
	if size == 0 && root != emptyRoot {
		return nil, fmt.Errorf("sign checkpoint: an empty tree has root %s, not %s", emptyRoot, root)
	}
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: malformed signer key: %w", err)
	}
	if s.Name() != origin {
		return nil, fmt.Errorf("sign checkpoint: key %s cannot sign checkpoints of log %q", keyID(s.Name(), s.KeyHash()), origin)
	}
	text := origin + "\n" + strconv.FormatInt(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
	signed, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return signed, nil
}

// checkOriginText refuses origins that cannot be the first line of a note.
func checkOriginText(origin string) error {
	bad := func(r rune) bool { return unicode.IsControl(r) }
	if origin == "" || !utf8.ValidString(origin) || strings.IndexFunc(origin, bad) >= 0 {
		return fmt.Errorf("invalid log origin %q", origin)
	}
	return nil
}

// OpenCheckpoint verifies a signed checkpoint of log origin against a set of
// trusted verifier keys (typically the log's whole key history, so rotated
// keys keep verifying old checkpoints) and returns its content. Only keys
// named origin are trusted for it. Errors wrap ErrUnknownKey,
// ErrBadSignature, ErrMalformedCheckpoint or ErrWrongOrigin and say which
// key, line or field failed.
func OpenCheckpoint(signedNote []byte, origin string, verifierKeys ...string) (*Checkpoint, error) {
	ks, err := newKeySet(origin, verifierKeys)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint: %w", err)
	}
	c, err := ks.open(signedNote)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint: %w", err)
	}
	return c, nil
}

// keySet is the parsed set of keys trusted for one log.
type keySet struct {
	origin    string
	verifiers note.Verifiers
	ids       []string // trusted key IDs, for error messages
	err       error    // why no key is trusted, reported by open
	// others are the given keys of other logs: a checkpoint they sign is
	// reported as being about the wrong log rather than by an unknown key.
	others note.Verifiers
}

// newKeySet parses verifier keys and keeps those named origin. A malformed
// key is an error (the caller passed garbage); a set with no key for origin
// is not, so that open can report the checkpoint's signer as unknown.
func newKeySet(origin string, verifierKeys []string) (*keySet, error) {
	if err := checkOriginText(origin); err != nil {
		return nil, err
	}
	ks := &keySet{origin: origin}
	seen := map[string]bool{}
	var list, otherList []note.Verifier
	var others []string
	for i, k := range verifierKeys {
		k = strings.TrimSpace(k)
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("verifier key #%d is malformed: %w", i+1, err)
		}
		id := keyID(v.Name(), v.KeyHash())
		if v.Name() != origin {
			if !seen[k] {
				others = append(others, id)
				otherList = append(otherList, v)
			}
			seen[k] = true
			continue
		}
		if seen[k] {
			continue // the same key listed twice is not ambiguous
		}
		seen[k] = true
		list = append(list, v)
		ks.ids = append(ks.ids, id)
	}
	switch {
	case len(verifierKeys) == 0:
		ks.err = errors.New("no trusted verifier key was given")
	case len(list) == 0:
		ks.err = fmt.Errorf("none of the trusted keys is for log %q (they are %s)", origin, strings.Join(others, ", "))
	}
	ks.verifiers = note.VerifierList(list...)
	ks.others = note.VerifierList(otherList...)
	return ks, nil
}

// open verifies a signed checkpoint and parses its body.
func (ks *keySet) open(signedNote []byte) (*Checkpoint, error) {
	n, err := note.Open(signedNote, ks.verifiers)
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		if other, err := note.Open(signedNote, ks.others); err == nil {
			if c, err := parseCheckpointBody(other.Text); err == nil {
				return nil, fmt.Errorf("%w: the checkpoint is for log %q (signed by its key %s), not %q",
					ErrWrongOrigin, c.Origin, keyID(other.Sigs[0].Name, other.Sigs[0].Hash), ks.origin)
			}
		}
		var signers []string
		for _, s := range unverified.Note.UnverifiedSigs {
			signers = append(signers, keyID(s.Name, s.Hash))
		}
		why := "trusted keys are " + strings.Join(ks.ids, ", ")
		if ks.err != nil {
			why = ks.err.Error()
		}
		return nil, fmt.Errorf("%w: signed by %s; %s", ErrUnknownKey, strings.Join(signers, ", "), why)
	case errors.As(err, &invalid):
		return nil, fmt.Errorf("%w: the signature by key %s does not verify, so the checkpoint text or its signature was altered",
			ErrBadSignature, keyID(invalid.Name, invalid.Hash))
	case err != nil:
		return nil, fmt.Errorf("%w: not a well-formed signed note (%v)", ErrMalformedCheckpoint, err)
	}
	c, err := parseCheckpointBody(n.Text)
	if err != nil {
		return nil, err
	}
	if c.Origin != ks.origin {
		return nil, fmt.Errorf("%w: the checkpoint is for log %q, not %q", ErrWrongOrigin, c.Origin, ks.origin)
	}
	c.KeyID = keyID(n.Sigs[0].Name, n.Sigs[0].Hash)
	return c, nil
}

// parseCheckpointBody parses "<origin>\n<size>\n<base64 root>\n". Custody
// never writes C2SP extension lines, so a body with more lines is refused.
func parseCheckpointBody(text string) (*Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("%w: the body has %d lines, want 3 (origin, size, root)", ErrMalformedCheckpoint, len(lines))
	}
	if len(lines) > 3 {
		return nil, fmt.Errorf("%w: the body has %d unexpected extension lines", ErrMalformedCheckpoint, len(lines)-3)
	}
	c := &Checkpoint{Origin: lines[0]}
	if c.Origin == "" {
		return nil, fmt.Errorf("%w: empty origin line", ErrMalformedCheckpoint)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return nil, fmt.Errorf("%w: tree size %q is not a non-negative decimal number", ErrMalformedCheckpoint, lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return nil, fmt.Errorf("%w: root hash %q is not base64 of %d bytes", ErrMalformedCheckpoint, lines[2], tlog.HashSize)
	}
	copy(c.Root[:], root)
	if c.Size == 0 && c.Root != emptyRoot {
		return nil, fmt.Errorf("%w: an empty tree must have root %s", ErrMalformedCheckpoint, emptyRoot)
	}
	return c, nil
}

// VerifyConsistency checks that the log in the newer signed checkpoint
// extends the log in the older one (one an auditor kept earlier): both
// checkpoints must verify with the trusted keys and be about origin, and
// proof (tlog.ProveTree from older to newer size) must show that the older
// tree is a prefix of the newer. A failure wraps ErrInconsistent when the
// checkpoints themselves contradict each other or the proof does not hold.
func VerifyConsistency(older, newer []byte, origin string, proof tlog.TreeProof, verifierKeys ...string) error {
	ks, err := newKeySet(origin, verifierKeys)
	if err != nil {
		return fmt.Errorf("verify consistency: %w", err)
	}
	old, err := ks.open(older)
	if err != nil {
		return fmt.Errorf("verify consistency: older checkpoint: %w", err)
	}
	cur, err := ks.open(newer)
	if err != nil {
		return fmt.Errorf("verify consistency: newer checkpoint: %w", err)
	}
	switch {
	case old.Size > cur.Size:
		return fmt.Errorf("verify consistency: %w: the older checkpoint has %d leaves but the newer only %d: the log shrank",
			ErrInconsistent, old.Size, cur.Size)
	case old.Size == cur.Size && old.Root != cur.Root:
		return fmt.Errorf("verify consistency: %w: both checkpoints have %d leaves but different roots (%s, %s): the log was rewritten",
			ErrInconsistent, old.Size, old.Root, cur.Root)
	case old.Size == 0 || old.Size == cur.Size:
		if len(proof) != 0 {
			return fmt.Errorf("verify consistency: %w: the proof has %d hashes, but none are needed from size %d to %d",
				ErrInconsistent, len(proof), old.Size, cur.Size)
		}
		return nil
	}
	if err := tlog.CheckTree(proof, cur.Size, cur.Root, old.Size, old.Root); err != nil {
		return fmt.Errorf("verify consistency: %w: the proof does not show that the tree of %d leaves (root %s) is a prefix of the tree of %d leaves (root %s): the log was rewritten or the proof is wrong (%v)",
			ErrInconsistent, old.Size, old.Root, cur.Size, cur.Root, err)
	}
	return nil
}
