package domain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custody-dev/custody/tenancy"
)

// Signature image limits: large enough for a tablet signature pad, small
// enough that a request cannot store megabytes of junk.
const (
	MaxSignatureImageBytes = 512 << 10
	MaxSignatureDimension  = 4096
	// MaxSignaturePixels bounds the decoded size: a small compressed PNG can
	// declare a huge canvas, and decoding it must not cost hundreds of MB.
	MaxSignaturePixels  = 2_000_000
	MaxConsentTextBytes = 20000
)

// Signature image formats.
const (
	ImagePNG = "image/png"
	ImageSVG = "image/svg+xml"
)

// SignatureInput is the signature captured at hand-off, as sent by the device.
type SignatureInput struct {
	TypedName string
	// ImageFormat is ImagePNG or ImageSVG; ImageBase64 is the drawn image.
	ImageFormat    string
	ImageBase64    string
	ConsentText    string
	ConsentVersion string
	Method         SignatureMethod
	DeviceID       string
	DeviceTime     *time.Time
}

// HandOffInput hands one or more assets to the person who signs for them.
type HandOffInput struct {
	AssetIDs       []string
	RecipientID    string
	Location       string
	Signature      SignatureInput
	IdempotencyKey string `json:"-"`
}

// HandOffResult is the signature and the assets it moved to the holder.
type HandOffResult struct {
	Signature *Signature
	Assets    []*Asset
}

// HandOff records a signed collection: every asset must be AWAITING_COLLECTION
// for this recipient; liability moves to the recipient and the signature time
// becomes each asset's official deployment date. Any problem refuses the whole
// hand-off and writes nothing. Two concurrent hand-offs of one asset: exactly
// one succeeds.
func (s *Service) HandOff(ctx context.Context, in HandOffInput) (*HandOffResult, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("hand off: %w", err)
	}
	var errs UserErrors
	switch {
	case len(in.AssetIDs) == 0:
		errs.Add(CodeRequired, "at least one asset is required", "input", "assetIds")
	case len(in.AssetIDs) > MaxAssetsPerHandOff:
		errs.Add(CodeInvalid, fmt.Sprintf("at most %d assets per signature", MaxAssetsPerHandOff), "input", "assetIds")
	}
	recipientID := text(&errs, in.RecipientID, true, 100, "input", "recipientId")
	location := text(&errs, in.Location, false, 200, "input", "location")
	sig := validateSignature(&errs, in.Signature, tenancy.ClientInfoFrom(ctx))
	if err := errs.Err(); err != nil {
		return nil, err
	}
	res := &HandOffResult{}
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		if err := tx.LockLog(); err != nil {
			return fmt.Errorf("lock the custody log: %w", err)
		}
		return idempotent(tx, who, "handOff", in.IdempotencyKey, in, func() (any, error) {
			recipient, err := tx.GetPerson(recipientID)
			if err != nil {
				return nil, notFoundAs(err, "recipient", "input", "recipientId")
			}
			if recipient.Status != PersonActive {
				return nil, userError(CodeInactivePerson,
					"assets can only be handed to an ACTIVE person; this one is "+string(recipient.Status), "input", "recipientId")
			}
			assets, field, err := s.targetAssets(tx, in.AssetIDs, "")
			if err != nil {
				return nil, err
			}
			for i, a := range assets {
				if a.State == StateAwaitingCollection && a.IntendedRecipientID != recipient.ID {
					return nil, userError(CodeRecipientMismatch,
						"this asset awaits collection by someone else", append(field, strconv.Itoa(i))...)
				}
			}
			sig.ID, sig.SignerID, sig.CapturedByID = NewID(), recipient.ID, who.MemberID
			sig.SignedAt = s.timestamp()
			if err := tx.CreateSignature(sig); err != nil {
				return nil, fmt.Errorf("store signature: %w", err)
			}
			holder := Custodian{Kind: CustodianPerson, Ref: recipient.ID}
			deployedAt := sig.SignedAt
			// Handed to someone who is leaving: the assets join their open
			// off-boarding case, and the events say so (HR hears them).
			leaving, err := openCaseOf(tx, recipient.ID)
			if err != nil {
				return nil, err
			}
			for i, a := range assets {
				place := location
				if place == "" {
					place = a.Custodian.Ref
				}
				a.DeployedAt = &deployedAt
				details := signatureFacts(sig)
				if leaving != nil {
					details["case"] = leaving.ID
				}
				m, err := s.transition(tx, a, EventHandedOff, transitionFacts{
					actorID: who.MemberID, at: sig.SignedAt, deviceTime: sig.DeviceTime, location: place,
					custodian: holder, signatureID: sig.ID, personID: recipient.ID,
					details: details,
				}, append(field, strconv.Itoa(i))...)
				if err != nil {
					return nil, err
				}
				msgs = append(msgs, m)
			}
			if err := addToCase(tx, leaving, assets, sig.SignedAt); err != nil {
				return nil, err
			}
			res.Signature, res.Assets = sig, assets
			return handOffIDs{SignatureID: sig.ID, AssetIDs: in.AssetIDs}, nil
		}, func(stored []byte) error {
			var ids handOffIDs
			if err := json.Unmarshal(stored, &ids); err != nil {
				return fmt.Errorf("decode stored hand-off: %w", err)
			}
			var err error
			if res.Signature, err = tx.GetSignature(ids.SignatureID); err != nil {
				return fmt.Errorf("load stored signature: %w", err)
			}
			res.Assets, err = loadInOrder(tx, ids.AssetIDs)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("hand off: %w", err)
	}
	s.publish(ctx, msgs)
	return res, nil
}

// signatureFacts bind a signature into the hand-off event, and so into the
// tamper-evident log: whoever holds the drawn image or the consent text can
// prove, from a receipt alone, that these exact bytes were signed.
func signatureFacts(sig *Signature) map[string]string {
	return map[string]string{
		"signatureImageSha256": sig.ImageSHA256,
		"consentSha256":        sig.ConsentSHA256,
		"consentVersion":       sig.ConsentVersion,
		"signatureImageFormat": sig.ImageType,
		// A hash, not the name: the log is read by roles that see no one's name.
		"typedNameSha256": sha256Hex([]byte(sig.TypedName)),
	}
}

// handOffIDs is the stored result of an idempotent hand-off.
type handOffIDs struct {
	SignatureID string   `json:"signatureId"`
	AssetIDs    []string `json:"assetIds"`
}

// validateSignature checks every part of a signature and returns it ready to
// store, with the server-observed IP address and user agent.
func validateSignature(errs *UserErrors, in SignatureInput, client tenancy.ClientInfo) *Signature {
	return validateSignatureAt(errs, in, client, "input", "signature")
}

// validateSignatureAt is validateSignature for a signature input at field.
func validateSignatureAt(errs *UserErrors, in SignatureInput, client tenancy.ClientInfo, field ...string) *Signature {
	f := func(name string) []string { return append(slices.Clone(field), name) }
	sig := &Signature{Method: in.Method, DeviceTime: deviceTime(errs, in.DeviceTime, f("deviceTime")...),
		IPAddress: client.IPAddress, UserAgent: truncate(client.UserAgent, 1000)}
	sig.TypedName = text(errs, in.TypedName, true, 200, f("typedName")...)
	sig.ConsentVersion = text(errs, in.ConsentVersion, true, 50, f("consentVersion")...)
	sig.DeviceID = text(errs, in.DeviceID, false, 200, f("deviceId")...)
	// The consent text is kept byte for byte as shown: no trimming.
	switch {
	case strings.TrimSpace(in.ConsentText) == "":
		errs.Add(CodeRequired, "the exact consent text shown to the signer is required", f("consentText")...)
	case len(in.ConsentText) > MaxConsentTextBytes:
		errs.Add(CodeInvalid, fmt.Sprintf("must be at most %d bytes", MaxConsentTextBytes), f("consentText")...)
	}
	sig.ConsentText = in.ConsentText
	if !in.Method.Valid() {
		errs.Add(CodeInvalid, "unknown signature method", f("method")...)
	}
	img, err := decodeSignatureImage(in.ImageFormat, in.ImageBase64)
	if err != nil {
		errs.Add(CodeInvalidSignature, err.Error(), f("imageBase64")...)
	}
	sig.ImageType, sig.Image = in.ImageFormat, img
	sig.ImageSHA256 = sha256Hex(img)
	sig.ConsentSHA256 = sha256Hex([]byte(in.ConsentText))
	return sig
}

// decodeSignatureImage decodes and checks a drawn signature: a PNG that
// decodes and is not blank, or an SVG document with at least one stroke and
// nothing active (scripts, event handlers, external references).
func decodeSignatureImage(format, b64 string) ([]byte, error) {
	if strings.TrimSpace(b64) == "" {
		return nil, errors.New("the drawn signature image is required")
	}
	if base64.StdEncoding.DecodedLen(len(b64)) > MaxSignatureImageBytes+3 {
		return nil, fmt.Errorf("the image must be at most %d bytes", MaxSignatureImageBytes)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the image is not valid base64")
	}
	switch format {
	case ImagePNG:
		return raw, checkPNG(raw)
	case ImageSVG:
		return raw, checkSVG(raw)
	default:
		return nil, errors.New("the image format must be PNG or SVG")
	}
}

// checkPNG refuses anything that is not a decodable, non-blank PNG.
func checkPNG(raw []byte) error {
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return errors.New("the image is not a valid PNG")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxSignatureDimension || cfg.Height > MaxSignatureDimension {
		return fmt.Errorf("the PNG must be between 1 and %d pixels on each side", MaxSignatureDimension)
	}
	if cfg.Width*cfg.Height > MaxSignaturePixels {
		return fmt.Errorf("the PNG must have at most %d pixels", MaxSignaturePixels)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		return errors.New("the image is not a valid PNG")
	}
	if blank(img) {
		return errors.New("the signature image is blank")
	}
	return nil
}

// blank reports whether every pixel of img has the same colour.
func blank(img image.Image) bool {
	b := img.Bounds()
	r0, g0, b0, a0 := img.At(b.Min.X, b.Min.Y).RGBA()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, a := img.At(x, y).RGBA(); r != r0 || g != g0 || bl != b0 || a != a0 {
				return false
			}
		}
	}
	return true
}

// svgStrokes are the elements that draw a signature.
var svgStrokes = map[string]bool{"path": true, "polyline": true, "line": true, "polygon": true,
	"circle": true, "ellipse": true, "rect": true}

// svgElements and svgAttributes are all an SVG signature may contain: shapes
// and their geometry and paint. Anything else (scripts, styles, links,
// animation, foreign content) is refused, since the image is served back to
// browsers.
var (
	svgElements = map[string]bool{"svg": true, "g": true, "title": true, "desc": true,
		"path": true, "polyline": true, "line": true, "polygon": true, "circle": true, "ellipse": true, "rect": true}
	svgAttributes = map[string]bool{"xmlns": true, "version": true, "viewbox": true, "width": true, "height": true,
		"preserveaspectratio": true, "id": true, "d": true, "points": true, "x": true, "y": true,
		"x1": true, "y1": true, "x2": true, "y2": true, "cx": true, "cy": true, "r": true, "rx": true, "ry": true,
		"fill": true, "fill-opacity": true, "fill-rule": true, "stroke": true, "stroke-width": true,
		"stroke-opacity": true, "stroke-linecap": true, "stroke-linejoin": true, "stroke-miterlimit": true,
		"opacity": true, "transform": true}
)

// checkSVG refuses anything but a well-formed SVG made only of allowed
// elements and attributes, with at least one stroke.
func checkSVG(raw []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(raw))
	dec.Strict = true
	root, strokes := "", 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errors.New("the image is not well-formed SVG")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(t.Name.Local)
			if root == "" {
				root = name
			}
			if !svgElements[name] {
				return fmt.Errorf("the SVG must not contain <%s>", t.Name.Local)
			}
			for _, a := range t.Attr {
				an := strings.ToLower(a.Name.Local)
				if a.Name.Space == "xmlns" || (an == "xmlns" && a.Name.Space == "") {
					continue
				}
				if !svgAttributes[an] || strings.Contains(strings.ToLower(a.Value), "url(") {
					return fmt.Errorf("the SVG must not use the attribute %q", a.Name.Local)
				}
			}
			if svgStrokes[name] {
				strokes++
			}
		case xml.Directive:
			return errors.New("the SVG must not contain DOCTYPE or entity declarations")
		case xml.ProcInst:
			if t.Target != "xml" {
				return errors.New("the SVG must not contain processing instructions")
			}
		}
	}
	if root != "svg" {
		return errors.New("the image is not an SVG document")
	}
	if strokes == 0 {
		return errors.New("the signature image is blank")
	}
	return nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}
