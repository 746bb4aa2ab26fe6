package e2e_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/server"
)

// TestUploadGate: a multipart request to /graphql is let past the 1 MiB
// body limit only for a role that may import, and only with a declared
// length, so no other caller can make the server parse (or hold in
// memory) a large body.
func TestUploadGate(t *testing.T) {
	e := &env{}
	start(t, e, server.StartConfig{DataDir: t.TempDir(), Migrate: true})
	multipartBody := func() (*bytes.Buffer, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("operations", `{"query":"{ viewer { tenant { slug } } }"}`)
		_ = mw.WriteField("map", `{}`)
		_ = mw.Close()
		return &body, mw.FormDataContentType()
	}
	for _, tc := range []struct {
		name    string
		role    domain.Role
		chunked bool
		status  int
		code    string
	}{
		{"a role that may not import", domain.RoleMailroom, false, http.StatusForbidden, "FORBIDDEN"},
		{"an auditor", domain.RoleAuditor, false, http.StatusForbidden, "FORBIDDEN"},
		{"no declared length", domain.RoleIT, true, http.StatusLengthRequired, "LENGTH_REQUIRED"},
		{"IT with a length", domain.RoleIT, false, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := multipartBody()
			var rd io.Reader = body
			if tc.chunked {
				rd = io.MultiReader(body) // hides the length: chunked encoding
			}
			req, err := http.NewRequest(http.MethodPost, e.url+"/graphql", rd)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+e.a.tokens[tc.role])
			res, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status || (tc.code != "" && !strings.Contains(string(raw), `"code":"`+tc.code+`"`)) {
				t.Fatalf("%d %s, want %d %s", res.StatusCode, raw, tc.status, tc.code)
			}
		})
	}
}
