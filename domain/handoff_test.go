package domain

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/tenancy"
)

// testPNG draws a w×h PNG; with ink, one diagonal stroke.
func testPNG(t *testing.T, w, h int, ink bool) string {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	if ink {
		for i := 0; i < w && i < h; i++ {
			img.Set(i, i, color.Black)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// ValidSVGSignature is a minimal signature drawing for tests.
const validSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 40"><path d="M1 20 C 20 0, 40 40, 99 20" stroke="black" fill="none"/></svg>`

func TestValidateSignature(t *testing.T) {
	good := SignatureInput{TypedName: "Ada Lovelace", ImageFormat: ImageSVG, ImageBase64: b64(validSVG),
		ConsentText: "I accept liability for the equipment listed.", ConsentVersion: "v1", Method: SignatureDrawnOnDevice}
	tests := []struct {
		name   string
		mutate func(*SignatureInput)
		field  string // "" means valid
		code   Code
	}{
		{"valid svg", func(*SignatureInput) {}, "", ""},
		{"valid png", func(s *SignatureInput) { s.ImageFormat, s.ImageBase64 = ImagePNG, testPNG(t, 40, 20, true) }, "", ""},
		{"missing typed name", func(s *SignatureInput) { s.TypedName = "  " }, "typedName", CodeRequired},
		{"missing consent text", func(s *SignatureInput) { s.ConsentText = "" }, "consentText", CodeRequired},
		{"missing consent version", func(s *SignatureInput) { s.ConsentVersion = "" }, "consentVersion", CodeRequired},
		{"unknown method", func(s *SignatureInput) { s.Method = "TELEPATHY" }, "method", CodeInvalid},
		{"missing image", func(s *SignatureInput) { s.ImageBase64 = "" }, "imageBase64", CodeInvalidSignature},
		{"not base64", func(s *SignatureInput) { s.ImageBase64 = "%%%" }, "imageBase64", CodeInvalidSignature},
		{"unknown format", func(s *SignatureInput) { s.ImageFormat = "image/gif" }, "imageBase64", CodeInvalidSignature},
		{"png that is not png", func(s *SignatureInput) { s.ImageFormat = ImagePNG }, "imageBase64", CodeInvalidSignature},
		{"blank png", func(s *SignatureInput) { s.ImageFormat, s.ImageBase64 = ImagePNG, testPNG(t, 40, 20, false) }, "imageBase64", CodeInvalidSignature},
		{"huge png", func(s *SignatureInput) { s.ImageFormat, s.ImageBase64 = ImagePNG, testPNG(t, 5000, 2, true) }, "imageBase64", CodeInvalidSignature},
		{"svg without strokes", func(s *SignatureInput) { s.ImageBase64 = b64(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`) }, "imageBase64", CodeInvalidSignature},
		{"svg with script", func(s *SignatureInput) {
			s.ImageBase64 = b64(`<svg><script>alert(1)</script><path d="M0 0L1 1"/></svg>`)
		}, "imageBase64", CodeInvalidSignature},
		{"svg with handler", func(s *SignatureInput) { s.ImageBase64 = b64(`<svg onload="x()"><path d="M0 0L1 1"/></svg>`) }, "imageBase64", CodeInvalidSignature},
		{"svg with external ref", func(s *SignatureInput) {
			s.ImageBase64 = b64(`<svg><image href="http://evil/x.png"/><path d="M0 0L1 1"/></svg>`)
		}, "imageBase64", CodeInvalidSignature},
		{"svg with entities", func(s *SignatureInput) {
			s.ImageBase64 = b64(`<!DOCTYPE svg [<!ENTITY x "y">]><svg><path d="M0 0L1 1"/></svg>`)
		}, "imageBase64", CodeInvalidSignature},
		{"not svg", func(s *SignatureInput) { s.ImageBase64 = b64(`<html><path d="M0 0"/></html>`) }, "imageBase64", CodeInvalidSignature},
		{"malformed svg", func(s *SignatureInput) { s.ImageBase64 = b64(`<svg><path d="M0 0">`) }, "imageBase64", CodeInvalidSignature},
		{"png canvas too large to decode", func(s *SignatureInput) { s.ImageFormat, s.ImageBase64 = ImagePNG, testPNG(t, 2000, 1001, true) }, "imageBase64", CodeInvalidSignature},
		{"svg animation", func(s *SignatureInput) {
			s.ImageBase64 = b64(`<svg><set attributeName="href" to="javascript:alert(1)"/><path d="M0 0L1 1"/></svg>`)
		}, "imageBase64", CodeInvalidSignature},
		{"svg style element", func(s *SignatureInput) {
			s.ImageBase64 = b64(`<svg><style>@import url(https://evil/x.css);</style><path d="M0 0L1 1"/></svg>`)
		}, "imageBase64", CodeInvalidSignature},
		{"svg style attribute", func(s *SignatureInput) {
			s.ImageBase64 = b64(`<svg><path style="fill:url(https://evil/x)" d="M0 0L1 1"/></svg>`)
		}, "imageBase64", CodeInvalidSignature},
		{"svg paint from a url", func(s *SignatureInput) {
			s.ImageBase64 = b64(`<svg><path fill="url(https://evil/x)" d="M0 0L1 1"/></svg>`)
		}, "imageBase64", CodeInvalidSignature},
		{"typed name with NUL", func(s *SignatureInput) { s.TypedName = "Ada\x00" }, "typedName", CodeInvalid},
		{"device time from year 1", func(s *SignatureInput) { d := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC); s.DeviceTime = &d }, "deviceTime", CodeInvalid},
		{"oversized image", func(s *SignatureInput) { s.ImageBase64 = strings.Repeat("A", MaxSignatureImageBytes*2) }, "imageBase64", CodeInvalidSignature},
		{"oversized consent", func(s *SignatureInput) { s.ConsentText = strings.Repeat("x", MaxConsentTextBytes+1) }, "consentText", CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good
			tt.mutate(&in)
			var errs UserErrors
			sig := validateSignature(&errs, in, tenancy.ClientInfo{IPAddress: "192.0.2.7", UserAgent: "Scanner/1.0"})
			if tt.field == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				if sig.IPAddress != "192.0.2.7" || sig.UserAgent != "Scanner/1.0" {
					t.Fatalf("client info not recorded: %+v", sig)
				}
				if len(sig.ImageSHA256) != 64 || len(sig.ConsentSHA256) != 64 {
					t.Fatalf("hashes missing: %q %q", sig.ImageSHA256, sig.ConsentSHA256)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors %v, want one on %s", len(errs), errs, tt.field)
			}
			if got := errs[0]; got.Field[len(got.Field)-1] != tt.field || got.Code != tt.code {
				t.Fatalf("got %v %s, want %s %s", got.Field, got.Code, tt.field, tt.code)
			}
		})
	}
}

func TestConsentTextKeptVerbatim(t *testing.T) {
	var errs UserErrors
	text := "  I accept.\n\tLine two.  "
	sig := validateSignature(&errs, SignatureInput{TypedName: "A", ImageFormat: ImageSVG, ImageBase64: b64(validSVG),
		ConsentText: text, ConsentVersion: "v2", Method: SignatureStylusPad}, tenancy.ClientInfo{})
	if len(errs) != 0 || sig.ConsentText != text {
		t.Fatalf("consent text changed: %q (%v)", sig.ConsentText, errs)
	}
}

func TestValidateNewAssets(t *testing.T) {
	ok := NewAsset{Serial: " c02x 1234 ", Make: "Apple", Model: "MacBook Pro", Category: CategoryLaptop, BearsData: true}
	tests := []struct {
		name  string
		in    []NewAsset
		codes []Code
	}{
		{"one valid, normalised", []NewAsset{ok}, nil},
		{"tag only", []NewAsset{{AssetTag: "IT-0001", Make: "Dell", Model: "P2422H", Category: CategoryMonitor}}, nil},
		{"none", nil, []Code{CodeRequired}},
		{"neither serial nor tag", []NewAsset{{Make: "Dell", Model: "X", Category: CategoryOther}}, []Code{CodeRequired}},
		{"same serial twice in one parcel", []NewAsset{ok, {Serial: "C02X1234", Make: "Apple", Model: "M", Category: CategoryLaptop}}, []Code{CodeDuplicateSerial}},
		{"unknown category", []NewAsset{{Serial: "S1", Make: "A", Model: "B", Category: "TOASTER"}}, []Code{CodeInvalid}},
		{"missing make and model", []NewAsset{{Serial: "S1", Category: CategoryPhone}}, []Code{CodeRequired, CodeRequired}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assets, errs := validateNewAssets(tt.in)
			if len(errs) != len(tt.codes) {
				t.Fatalf("errors %v, want codes %v", errs, tt.codes)
			}
			for i, c := range tt.codes {
				if errs[i].Code != c {
					t.Fatalf("error %d = %s, want %s", i, errs[i].Code, c)
				}
			}
			if tt.codes == nil && tt.name == "one valid, normalised" && assets[0].Serial != "C02X1234" {
				t.Fatalf("serial not normalised: %q", assets[0].Serial)
			}
		})
	}
}
