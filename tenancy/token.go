package tenancy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"
)

// tokenPrefix marks Custody API tokens so secret scanners can find leaked ones.
const tokenPrefix = "cst_"

// secretEncoding encodes the 256-bit secret part of a token.
var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrMalformedToken is returned for a credential that is not shaped like a
// Custody token; it is refused without touching the database.
var ErrMalformedToken = errors.New("tenancy: malformed token")

// NewToken returns a fresh bearer token for tenantID (a UUID) and the hash
// under which it is stored. The token names its tenant in clear, so the lookup
// runs inside that tenant's scope (and under its row-level security) and the
// token index can lead with tenant_id like every other; the secret part
// carries 256 bits from crypto/rand. The plaintext is shown once, never stored.
func NewToken(tenantID string) (plaintext string, hash []byte, err error) {
	t, err := compactUUID(tenantID)
	if err != nil {
		return "", nil, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, errors.New("tenancy: read random: " + err.Error())
	}
	plaintext = tokenPrefix + t + "_" + strings.ToLower(secretEncoding.EncodeToString(b[:]))
	return plaintext, HashToken(plaintext), nil
}

// ParseToken checks a token's shape and returns its tenant id (canonical UUID
// form) and the hash to look up.
func ParseToken(plaintext string) (tenantID string, hash []byte, err error) {
	rest, ok := strings.CutPrefix(plaintext, tokenPrefix)
	if !ok {
		return "", nil, ErrMalformedToken
	}
	t, secret, ok := strings.Cut(rest, "_")
	if !ok || len(t) != 32 || len(secret) != 52 {
		return "", nil, ErrMalformedToken
	}
	raw, err := hex.DecodeString(t)
	if err != nil {
		return "", nil, ErrMalformedToken
	}
	if _, err := secretEncoding.DecodeString(strings.ToUpper(secret)); err != nil {
		return "", nil, ErrMalformedToken
	}
	h := hex.EncodeToString(raw)
	tenantID = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	return tenantID, HashToken(plaintext), nil
}

// HashToken returns the SHA-256 of a bearer token. Tokens carry 256 bits of
// entropy, so a fast unsalted hash is safe and allows an indexed lookup.
func HashToken(plaintext string) []byte {
	h := sha256.Sum256([]byte(plaintext))
	return h[:]
}

// compactUUID returns a UUID's 32 lowercase hex digits.
func compactUUID(id string) (string, error) {
	c := strings.ToLower(strings.ReplaceAll(id, "-", ""))
	if len(c) != 32 {
		return "", errors.New("tenancy: tenant id is not a UUID")
	}
	if _, err := hex.DecodeString(c); err != nil {
		return "", errors.New("tenancy: tenant id is not a UUID")
	}
	return c, nil
}
