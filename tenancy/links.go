package tenancy

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Query parameters a signed download link adds to its URL.
const (
	linkParamBy  = "link_by"
	linkParamExp = "link_expires"
	linkParamSig = "link_sig"
)

// MaxLinkTTL bounds how long a signed download link stays valid.
const MaxLinkTTL = time.Hour

// ErrBadLink means a download link is malformed, altered or expired.
var ErrBadLink = errors.New("tenancy: invalid or expired download link")

// LinkSigner signs and verifies download links: URLs a browser can follow
// without an Authorization header (a single-page app cannot set one on a
// plain link), which stand for the token that asked for them. A link names
// the tenant and token id, expires, and carries an HMAC-SHA256 over its
// path and every query parameter, so none of them can be changed. The
// verifier must still check that the token is live: a link is never worth
// more than its token.
type LinkSigner struct {
	key []byte
	now func() time.Time
}

// NewLinkSigner derives the signing key from the server's master key, so
// every instance of a deployment accepts every instance's links.
func NewLinkSigner(masterKey []byte) (*LinkSigner, error) {
	if len(masterKey) < 32 {
		return nil, errors.New("tenancy: link signer needs a master key of at least 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, masterKey, nil, "custody download links v1", 32)
	if err != nil {
		return nil, fmt.Errorf("tenancy: derive link key: %w", err)
	}
	return &LinkSigner{key: key, now: time.Now}, nil
}

// Sign returns path with q and the link parameters for p's token, valid
// for ttl (at most MaxLinkTTL), and when it expires.
func (s *LinkSigner) Sign(p Principal, path string, q url.Values, ttl time.Duration) (string, time.Time, error) {
	if p.TenantID == "" || p.TokenID == "" {
		return "", time.Time{}, errors.New("tenancy: sign link: the caller has no token")
	}
	if ttl <= 0 || ttl > MaxLinkTTL {
		ttl = MaxLinkTTL
	}
	expires := s.now().Add(ttl).Truncate(time.Second)
	signed := url.Values{}
	for k, v := range q {
		if !strings.HasPrefix(k, "link_") {
			signed[k] = v
		}
	}
	signed.Set(linkParamBy, p.TenantID+"."+p.TokenID)
	signed.Set(linkParamExp, strconv.FormatInt(expires.Unix(), 10))
	signed.Set(linkParamSig, s.mac(path, signed))
	return path + "?" + signed.Encode(), expires, nil
}

// IsSignedLink reports whether a request's query carries a link signature.
func IsSignedLink(q url.Values) bool { return q.Has(linkParamSig) }

// Verify checks a signed link's path and query and returns the tenant and
// token it stands for.
func (s *LinkSigner) Verify(path string, q url.Values) (tenantID, tokenID string, err error) {
	sig := q.Get(linkParamSig)
	rest := url.Values{}
	for k, v := range q {
		if k != linkParamSig {
			rest[k] = v
		}
	}
	if len(q[linkParamSig]) != 1 || !hmac.Equal([]byte(sig), []byte(s.mac(path, rest))) {
		return "", "", ErrBadLink
	}
	exp, err := strconv.ParseInt(q.Get(linkParamExp), 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return "", "", ErrBadLink
	}
	tenantID, tokenID, ok := strings.Cut(q.Get(linkParamBy), ".")
	if !ok || tenantID == "" || tokenID == "" {
		return "", "", ErrBadLink
	}
	return tenantID, tokenID, nil
}

// mac signs the path and the encoded query (url.Values.Encode sorts by
// key, so the order parameters arrive in does not matter).
func (s *LinkSigner) mac(path string, q url.Values) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(path))
	m.Write([]byte{'?'})
	m.Write([]byte(q.Encode()))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
