package graph_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/tenancy"
)

// These tests drive the handler with the real authorizer and a service that
// has no store: every path they take must be decided before any data is
// read. Were one to reach the store, it would panic, and the test would see
// an INTERNAL_SERVER_ERROR instead of what it expects.

const (
	tenantID = "0190f3b4-6a2e-7c1d-9e8f-0123456789ab"
	someUUID = "0190f3b4-6a2e-7c1d-9e8f-00000000beef"
)

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type response struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
}

func (r response) codes() []string {
	var out []string
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		out = append(out, code)
	}
	return out
}

type observation struct {
	operation string
	errors    int
}

type recorder struct {
	mu  sync.Mutex
	ops []observation
}

func (r *recorder) ObserveOperation(operation string, _ time.Duration, errors int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, observation{operation, errors})
}

func newHandler(t *testing.T, introspection bool, obs graph.OperationObserver) http.Handler {
	t.Helper()
	az, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	return graph.NewHandler(graph.Config{
		Service:       domain.NewService(nil, nil),
		Authorizer:    az,
		Introspection: introspection,
		Observer:      obs,
		Logger:        slog.New(slog.DiscardHandler),
	})
}

func as(role domain.Role) *tenancy.Principal {
	return &tenancy.Principal{TenantID: tenantID, TenantSlug: "acme", MemberID: someUUID,
		MemberName: "Sam", Roles: []string{string(role)}}
}

func post(t *testing.T, h http.Handler, p *tenancy.Principal, query string, vars map[string]any) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if p != nil {
		req = req.WithContext(tenancy.WithPrincipal(req.Context(), *p))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out response
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, rec.Body.String())
	}
	return out
}

func wantCodes(t *testing.T, r response, codes ...string) {
	t.Helper()
	got := r.codes()
	if strings.Join(got, ",") != strings.Join(codes, ",") {
		t.Fatalf("error codes = %v; want %v (errors: %+v)", got, codes, r.Errors)
	}
}

func TestMissingPrincipalIsUnauthenticated(t *testing.T) {
	r := post(t, newHandler(t, false, nil), nil, `{ viewer { tenant { slug } } }`, nil)
	wantCodes(t, r, graph.CodeUnauthenticated)
}

func TestViewerTenantComesFromThePrincipal(t *testing.T) {
	r := post(t, newHandler(t, false, nil), as(domain.RoleITADVendor), `{ viewer { tenant { id slug } } }`, nil)
	wantCodes(t, r)
	var v struct{ Tenant struct{ ID, Slug string } }
	if err := json.Unmarshal(r.Data["viewer"], &v); err != nil {
		t.Fatal(err)
	}
	if typ, id, ok := graph.DecodeID(v.Tenant.ID); !ok || typ != "Tenant" || id != tenantID || v.Tenant.Slug != "acme" {
		t.Errorf("tenant = %+v", v.Tenant)
	}
}

func TestRootFieldsAreAuthorized(t *testing.T) {
	h := newHandler(t, false, nil)
	for _, tc := range []struct {
		name  string
		role  domain.Role
		query string
	}{
		{"vendor cannot list assets", domain.RoleITADVendor, `{ assets { edges { cursor } } }`},
		{"vendor cannot read a person", domain.RoleITADVendor, `{ person(id: "x") { name } }`},
		{"hr cannot read signatures", domain.RoleHR, `{ signature(id: "x") { typedName } }`},
		{"hr cannot receive parcels", domain.RoleHR, `mutation { parcelReceive(input: {carrier: "UPS",
			trackingNumber: "1Z", sender: "Dell", recipientId: "x", location: "Dock"}) { parcel { id } } }`},
		{"mailroom cannot create people", domain.RoleMailroom, `mutation { personCreate(input: {employeeId: "E1",
			name: "Ada", email: "ada@example.com"}) { person { id } } }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, h, as(tc.role), tc.query, nil)
			wantCodes(t, r, graph.CodeForbidden)
			for field, v := range r.Data {
				if string(v) != "null" {
					t.Errorf("data.%s = %s; want null", field, v)
				}
			}
		})
	}
}

func TestNodeChecksTheConcreteType(t *testing.T) {
	h := newHandler(t, false, nil)
	q := `query($id: ID!) { node(id: $id) { id } }`
	for _, tc := range []struct {
		name string
		role domain.Role
		typ  string
	}{
		{"vendor reads no asset", domain.RoleITADVendor, "Asset"},
		{"vendor reads no person", domain.RoleITADVendor, "Person"},
		{"hr reads no signature", domain.RoleHR, "Signature"},
		{"hr reads no parcel", domain.RoleHR, "Parcel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, h, as(tc.role), q, map[string]any{"id": graph.EncodeID(tc.typ, someUUID)})
			// The vendor lacks Query.node itself; hr has it but not the type's query.
			wantCodes(t, r, graph.CodeForbidden)
		})
	}
}

func TestIDsThatNameNothingAreNotFound(t *testing.T) {
	h := newHandler(t, false, nil)
	parcelID := graph.EncodeID("Parcel", someUUID)
	for _, tc := range []struct{ name, query string }{
		{"malformed node id", `{ node(id: "not-an-id") { id } }`},
		{"unknown type", `{ node(id: "` + graph.EncodeID("Tenant", someUUID) + `") { id } }`},
		{"asset by a parcel id", `{ asset(id: "` + parcelID + `") { id } }`},
		{"person by a malformed id", `{ person(id: "x") { id } }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, h, as(domain.RoleAdmin), tc.query, nil)
			wantCodes(t, r)
			for field, v := range r.Data {
				if string(v) != "null" {
					t.Errorf("data.%s = %s; want null", field, v)
				}
			}
		})
	}
}

func TestFilterOnAnIDThatNamesNothingMatchesNothing(t *testing.T) {
	r := post(t, newHandler(t, false, nil), as(domain.RoleIT),
		`{ assets(filter: {holderId: "nobody"}) { edges { cursor } pageInfo { hasNextPage endCursor } } }`, nil)
	wantCodes(t, r)
	if got := string(r.Data["assets"]); got != `{"edges":[],"pageInfo":{"hasNextPage":false,"endCursor":null}}` {
		t.Errorf("assets = %s", got)
	}
}

func TestBadArgumentsAreBadUserInput(t *testing.T) {
	h := newHandler(t, false, nil)
	for _, tc := range []struct{ name, query string }{
		{"page too large", `{ assets(first: 101) { edges { cursor } } }`},
		{"negative page", `{ people(first: -1) { edges { cursor } } }`},
		{"foreign cursor", `{ assets(after: "` + "UGVyc29ufDAxOTBmM2I0LTZhMmUtN2MxZC05ZThmLTAwMDAwMDAwYmVlZg" + `") { edges { cursor } } }`},
		{"garbage cursor", `{ parcels(after: "garbage") { edges { cursor } } }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCodes(t, post(t, h, as(domain.RoleAdmin), tc.query, nil), graph.CodeBadUserInput)
		})
	}
}

func TestMalformedDateTimeIsBadUserInput(t *testing.T) {
	r := post(t, newHandler(t, false, nil), as(domain.RoleMailroom),
		`mutation($t: DateTime) { parcelReceive(input: {carrier: "UPS", trackingNumber: "1Z", sender: "Dell",
			recipientId: "x", location: "Dock", deviceTime: $t}) { parcel { id } } }`,
		map[string]any{"t": "yesterday"})
	wantCodes(t, r, graph.CodeBadUserInput)
}

func TestUndecodableInputIDsAreUserErrors(t *testing.T) {
	h := newHandler(t, false, nil)
	r := post(t, h, as(domain.RoleMailroom), `mutation($in: AssetHandOffInput!) {
		assetHandOff(input: $in) { signature { id } assets { id } userErrors { field code message } } }`,
		map[string]any{"in": map[string]any{
			"assetIds":    []string{graph.EncodeID("Asset", someUUID), "junk", graph.EncodeID("Parcel", someUUID)},
			"recipientId": graph.EncodeID("Asset", someUUID),
			"signature": map[string]any{"typedName": "Ada", "imageFormat": "PNG", "imageBase64": "AA==",
				"consentText": "I accept", "consentVersion": "1", "method": "DRAWN_ON_DEVICE"},
		}})
	wantCodes(t, r)
	want := `{"signature":null,"assets":null,"userErrors":[` +
		`{"field":["input","assetIds","1"],"code":"NOT_FOUND","message":"asset not found"},` +
		`{"field":["input","assetIds","2"],"code":"NOT_FOUND","message":"asset not found"},` +
		`{"field":["input","recipientId"],"code":"NOT_FOUND","message":"recipient not found"}]}`
	if got := string(r.Data["assetHandOff"]); got != want {
		t.Errorf("payload =\n%s\nwant\n%s", got, want)
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	// The service has no store, so reading one panics inside the resolver.
	r := post(t, newHandler(t, false, nil), as(domain.RoleMailroom), `{ assetBySerial(serial: "X") { id } }`, nil)
	wantCodes(t, r, graph.CodeInternal)
	if r.Errors[0].Message != "internal error" {
		t.Errorf("message = %q", r.Errors[0].Message)
	}
}

func TestLimits(t *testing.T) {
	h := newHandler(t, false, nil)
	deep := `{ asset(id: "x") { parcel { assets { edges { node { parcel { assets { edges { node {
		parcel { assets { edges { node { id } } } } } } } } } } } } } }`
	wantCodes(t, post(t, h, as(domain.RoleAdmin), deep, nil), graph.CodeQueryTooDeep)

	costly := `{ assets(first: 100) { edges { node { recentEvents(last: 50) { seq type recordedAt } } } } }`
	wantCodes(t, post(t, h, as(domain.RoleAdmin), costly, nil), "COMPLEXITY_LIMIT_EXCEEDED")
}

func TestIntrospectionFollowsTheConfig(t *testing.T) {
	q := `{ __schema { queryType { name } } }`
	off := post(t, newHandler(t, false, nil), as(domain.RoleAdmin), q, nil)
	if len(off.Errors) == 0 {
		t.Error("introspection answered while disabled")
	}
	on := post(t, newHandler(t, true, nil), as(domain.RoleMailroom), q, nil)
	wantCodes(t, on)
	if got := string(on.Data["__schema"]); got != `{"queryType":{"name":"Query"}}` {
		t.Errorf("__schema = %s", got)
	}
}

func TestObserverSeesEveryOperationOnce(t *testing.T) {
	rec := &recorder{}
	h := newHandler(t, false, rec)
	post(t, h, as(domain.RoleITADVendor), `query Me { viewer { tenant { slug } } }`, nil)
	post(t, h, as(domain.RoleITADVendor), `{ assets { edges { cursor } } }`, nil)
	post(t, h, as(domain.RoleITADVendor), `{ nope }`, nil)
	post(t, h, as(domain.RoleAdmin), `query Anything { n: node(id: "x") { id } ...F } fragment F on Query { viewer { tenant { slug } } }`, nil)
	// Labelled by what the API did, never by client-chosen names.
	want := []observation{{"query viewer", 0}, {"query assets", 1}, {"anonymous", 1}, {"query node+viewer", 0}}
	if len(rec.ops) != len(want) {
		t.Fatalf("observed %+v; want %+v", rec.ops, want)
	}
	for i := range want {
		if rec.ops[i] != want[i] {
			t.Errorf("observation %d = %+v; want %+v", i, rec.ops[i], want[i])
		}
	}
}
