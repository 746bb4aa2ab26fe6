package e2e_test

import (
	"testing"

	"github.com/custody-dev/custody/domain"
)

const vendorEngageDoc = `mutation($in: VendorEngageInput!) { vendorEngage(input: $in) {
	vendor { id name contactEmail certified certifications { scheme number expiresOn expired } }
	userErrors { field message code } } }`

type vendorView struct {
	ID             string
	Name           string
	ContactEmail   *string
	Certified      bool
	Certifications []struct {
		Scheme, Number, ExpiresOn string
		Expired                   bool
	}
}

type vendorEngageOut struct {
	VendorEngage struct {
		Vendor     *vendorView
		UserErrors []userError
	}
}

// TestVendors: an admin engages ITAD vendors with their certifications; a
// vendor is certified only while every certification is valid; bad input is
// refused field by field; another tenant sees none of it.
func TestVendors(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		admin := e.a.tokens[domain.RoleAdmin]
		var out vendorEngageOut
		e.ok(t, admin, vendorEngageDoc, map[string]any{"in": map[string]any{
			"name": "GreenCycle ITAD", "contactEmail": "ops@greencycle.example", "idempotencyKey": "v-1",
			"certifications": []map[string]any{
				{"scheme": "R2V3", "number": "R2-0042", "expiresOn": "2099-06-30"},
				{"scheme": "NAID_AAA", "number": "AAA-77", "expiresOn": "2099-01-31"},
			}}}, &out)
		v := out.VendorEngage.Vendor
		if len(out.VendorEngage.UserErrors) > 0 || v == nil || !v.Certified || len(v.Certifications) != 2 ||
			v.Certifications[0].Scheme != "NAID_AAA" || v.Certifications[1].ExpiresOn != "2099-06-30" || v.Certifications[0].Expired {
			t.Fatalf("vendorEngage = %+v", out.VendorEngage)
		}

		// A lapsed certification makes the vendor uncertified.
		var set struct {
			VendorCertificationsSet struct {
				Vendor     *vendorView
				UserErrors []userError
			}
		}
		e.ok(t, admin, `mutation($in: VendorCertificationsSetInput!) { vendorCertificationsSet(input: $in) {
			vendor { certified certifications { scheme expired } } userErrors { field code message } } }`,
			map[string]any{"in": map[string]any{"vendorId": v.ID, "certifications": []map[string]any{
				{"scheme": "R2V3", "number": "R2-0042", "expiresOn": "2099-06-30"},
				{"scheme": "E_STEWARDS", "number": "ES-9", "expiresOn": "2020-12-31"},
			}}}, &set)
		if s := set.VendorCertificationsSet; len(s.UserErrors) > 0 || s.Vendor.Certified || !s.Vendor.Certifications[0].Expired {
			t.Fatalf("vendorCertificationsSet with a lapsed certificate = %+v", s)
		}

		for _, tc := range []struct {
			name  string
			in    map[string]any
			code  string
			field string
		}{
			{"same name, other case", map[string]any{"name": "greencycle itad"}, "DUPLICATE", "name"},
			{"no name", map[string]any{"name": "  "}, "REQUIRED", "name"},
			{"bad email", map[string]any{"name": "X", "contactEmail": "not an address"}, "INVALID", "contactEmail"},
			{"two of one scheme", map[string]any{"name": "Y", "certifications": []map[string]any{
				{"scheme": "R2V3", "number": "1", "expiresOn": "2099-01-01"}, {"scheme": "R2V3", "number": "2", "expiresOn": "2099-01-01"}}}, "INVALID", "certifications"},
			{"no certificate number", map[string]any{"name": "Z", "certifications": []map[string]any{
				{"scheme": "R2V3", "number": "", "expiresOn": "2099-01-01"}}}, "REQUIRED", "certifications"},
		} {
			var bad vendorEngageOut
			e.ok(t, admin, vendorEngageDoc, map[string]any{"in": tc.in}, &bad)
			errs := bad.VendorEngage.UserErrors
			if len(errs) == 0 || errs[0].Code != tc.code || errs[0].Field[1] != tc.field || bad.VendorEngage.Vendor != nil {
				t.Errorf("%s: %+v, want %s on %s", tc.name, bad.VendorEngage, tc.code, tc.field)
			}
		}
		if r := e.do(t, admin, vendorEngageDoc, map[string]any{"in": map[string]any{"name": "W", "certifications": []map[string]any{
			{"scheme": "ISO_9001", "number": "1", "expiresOn": "2099-01-01"}}}}); !r.hasCode("GRAPHQL_VALIDATION_FAILED") {
			t.Errorf("unknown scheme: %s", r.raw)
		}

		// The retry returns the first vendor; the list has exactly one.
		var again vendorEngageOut
		e.ok(t, admin, vendorEngageDoc, map[string]any{"in": map[string]any{
			"name": "GreenCycle ITAD", "contactEmail": "ops@greencycle.example", "idempotencyKey": "v-1",
			"certifications": []map[string]any{
				{"scheme": "R2V3", "number": "R2-0042", "expiresOn": "2099-06-30"},
				{"scheme": "NAID_AAA", "number": "AAA-77", "expiresOn": "2099-01-31"},
			}}}, &again)
		if again.VendorEngage.Vendor == nil || again.VendorEngage.Vendor.ID != v.ID {
			t.Fatalf("retried vendorEngage = %+v", again.VendorEngage)
		}
		var list struct {
			Vendors struct{ Edges []struct{ Node vendorView } }
		}
		e.ok(t, e.a.tokens[domain.RoleIT], `{ vendors { edges { node { id name } } } }`, nil, &list)
		if len(list.Vendors.Edges) != 1 || list.Vendors.Edges[0].Node.ID != v.ID {
			t.Fatalf("vendors = %+v", list.Vendors.Edges)
		}

		// Tenant B: the vendor does not exist there.
		b := e.b.tokens[domain.RoleAdmin]
		var foreign struct{ Vendor *vendorView }
		e.ok(t, b, `query($id: ID!) { vendor(id: $id) { id } }`, map[string]any{"id": v.ID}, &foreign)
		if foreign.Vendor != nil {
			t.Fatalf("tenant B reads tenant A's vendor: %+v", foreign.Vendor)
		}
		var bl struct {
			Vendors struct{ Edges []struct{} }
		}
		e.ok(t, b, `{ vendors { edges { cursor } } }`, nil, &bl)
		if len(bl.Vendors.Edges) != 0 {
			t.Fatalf("tenant B lists %d vendors", len(bl.Vendors.Edges))
		}
		var bs struct {
			VendorCertificationsSet struct{ UserErrors []userError }
		}
		e.ok(t, b, `mutation($in: VendorCertificationsSetInput!) { vendorCertificationsSet(input: $in) { userErrors { code } } }`,
			map[string]any{"in": map[string]any{"vendorId": v.ID, "certifications": []any{}}}, &bs)
		if errs := bs.VendorCertificationsSet.UserErrors; len(errs) != 1 || errs[0].Code != "NOT_FOUND" {
			t.Fatalf("tenant B changes tenant A's vendor: %+v", errs)
		}
		// The same vendor name is free in tenant B.
		var bv vendorEngageOut
		e.ok(t, b, vendorEngageDoc, map[string]any{"in": map[string]any{"name": "GreenCycle ITAD"}}, &bv)
		if bv.VendorEngage.Vendor == nil || bv.VendorEngage.Vendor.Certified {
			t.Fatalf("tenant B's own vendor of the same name = %+v (uncertified without certificates)", bv.VendorEngage)
		}
	})
}
