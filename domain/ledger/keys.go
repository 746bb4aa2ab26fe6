package ledger

import (
	"crypto/aes"
	"crypto/cipher"
	cryptorand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// originPrefix starts every tenant log's origin; the rest is the tenant ID.
const originPrefix = "custody.log/"

// Origin returns the log origin of a tenant's log, which is also the name of
// the note keys that sign its checkpoints: "custody.log/" + tenantID.
func Origin(tenantID string) string { return originPrefix + tenantID }

// tenantOf returns the tenant ID of a custody log origin.
func tenantOf(origin string) (string, error) {
	tenant, ok := strings.CutPrefix(origin, originPrefix)
	if !ok || tenant == "" {
		return "", fmt.Errorf("%w: %q is not a custody log origin (want %s<tenant>)", ErrWrongOrigin, origin, originPrefix)
	}
	return tenant, nil
}

// GenerateKey makes a new Ed25519 note key pair named Origin(tenantID): the
// signer key ("PRIVATE+KEY+<name>+<hash>+<key>", secret) and the verifier key
// ("<name>+<hash>+<key>", public).
func GenerateKey(rand io.Reader, tenantID string) (signerKey, verifierKey string, err error) {
	name := Origin(tenantID)
	if err := checkKeyName(name); err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	signerKey, verifierKey, err = note.GenerateKey(rand, name)
	if err != nil {
		return "", "", fmt.Errorf("generate key for %s: %w", name, err)
	}
	return signerKey, verifierKey, nil
}

// checkKeyName applies note's rule for key names (non-empty, valid UTF-8, no
// spaces, no '+') and refuses control characters, which a signed note cannot
// hold, so a bad tenant ID fails here rather than as an unusable key later.
func checkKeyName(name string) error {
	bad := func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '+' }
	if name == originPrefix || !utf8.ValidString(name) || strings.IndexFunc(name, bad) >= 0 {
		return fmt.Errorf("invalid key name %q: the tenant ID must be non-empty UTF-8 without spaces, control characters or '+'", name)
	}
	return nil
}

// KeyID returns the printable identity of a verifier key, "<name>+<hash>"
// (e.g. "custody.log/t1+3a5c09f2"): the name and 8-hex-digit key hash that
// note signatures carry, so it matches Checkpoint.KeyID.
func KeyID(verifierKey string) (string, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return "", fmt.Errorf("key id: malformed verifier key: %w", err)
	}
	return keyID(v.Name(), v.KeyHash()), nil
}

func keyID(name string, hash uint32) string { return fmt.Sprintf("%s+%08x", name, hash) }

// sealVersion is the first byte of a sealed signer key; a new sealing scheme
// gets a new version so old keys stay readable.
const sealVersion = 1

// sealAAD binds a sealed key to its tenant (and the scheme version): GCM
// refuses to open it under another tenant, so swapping sealed keys between
// tenants' rows fails loudly.
func sealAAD(tenantID string) []byte {
	return []byte(fmt.Sprintf("custody-ledger-signer-key/v%d\n%s", sealVersion, tenantID))
}

// Seal encrypts a tenant's signer key under a 32-byte master key with
// AES-256-GCM and a random nonce. The result is version byte 1, then nonce,
// ciphertext and tag; the tenant ID is authenticated data, so the sealed key
// opens only for that tenant. The signer key must be named Origin(tenantID).
func Seal(masterKey []byte, tenantID, signerKey string) ([]byte, error) {
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, fmt.Errorf("seal signer key: malformed signer key: %w", err)
	}
	if s.Name() != Origin(tenantID) {
		return nil, fmt.Errorf("seal signer key: the key is named %q, not %q", s.Name(), Origin(tenantID))
	}
	aead, err := newAEAD(masterKey)
	if err != nil {
		return nil, fmt.Errorf("seal signer key: %w", err)
	}
	out := []byte{sealVersion}
	return aead.Seal(out, nil, []byte(signerKey), sealAAD(tenantID)), nil
}

// Unseal decrypts a signer key sealed by Seal for the same tenant. It fails
// if the master key is wrong, the sealed bytes were altered, or they were
// sealed for another tenant.
func Unseal(masterKey []byte, tenantID string, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", errors.New("unseal signer key: empty sealed key")
	}
	if sealed[0] != sealVersion {
		return "", fmt.Errorf("unseal signer key: unsupported sealed key version %d (want %d)", sealed[0], sealVersion)
	}
	aead, err := newAEAD(masterKey)
	if err != nil {
		return "", fmt.Errorf("unseal signer key: %w", err)
	}
	plain, err := aead.Open(nil, nil, sealed[1:], sealAAD(tenantID))
	if err != nil {
		return "", fmt.Errorf("unseal signer key: wrong master key, wrong tenant or altered sealed key: %w", err)
	}
	signerKey := string(plain)
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return "", fmt.Errorf("unseal signer key: sealed data is not a signer key: %w", err)
	}
	if s.Name() != Origin(tenantID) {
		return "", fmt.Errorf("unseal signer key: the key is named %q, not %q", s.Name(), Origin(tenantID))
	}
	return signerKey, nil
}

// newAEAD returns AES-256-GCM with a random nonce prepended to each sealed message.
func newAEAD(masterKey []byte) (cipher.AEAD, error) {
	if len(masterKey) != masterKeySize {
		return nil, fmt.Errorf("master key is %d bytes, want %d", len(masterKey), masterKeySize)
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// masterKeySize is the size of an AES-256 key.
const masterKeySize = 32

// ParseMasterKey decodes a master key written as base64 (standard or URL
// alphabet, padded or not) of exactly 32 bytes. Surrounding white space is
// ignored. Errors never echo the key.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("parse master key: empty")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != masterKeySize {
			return nil, fmt.Errorf("parse master key: it decodes to %d bytes, want %d", len(key), masterKeySize)
		}
		return key, nil
	}
	return nil, errors.New("parse master key: not base64")
}

// NewMasterKey returns a new master key: standard base64 of 32 bytes read
// from rand (crypto/rand when rand is nil). A master key must never be made
// from a short read, so a failing rand panics, as crypto/rand itself does.
func NewMasterKey(rand io.Reader) string {
	if rand == nil {
		rand = cryptorand.Reader
	}
	key := make([]byte, masterKeySize)
	if _, err := io.ReadFull(rand, key); err != nil {
		panic(fmt.Sprintf("ledger: new master key: reading randomness: %v", err))
	}
	return base64.StdEncoding.EncodeToString(key)
}
