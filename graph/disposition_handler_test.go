package graph_test

import (
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph"
)

// Like handler_test.go, these run against a service without a store: each
// answer must be decided before any data is read.

func TestDispositionFieldsAreAuthorized(t *testing.T) {
	h := newHandler(t, false, nil)
	order := graph.EncodeID("PickupOrder", someUUID)
	for _, tc := range []struct {
		name  string
		role  domain.Role
		query string
	}{
		{"vendor cannot confirm its own pickup", domain.RoleITADVendor, `mutation { pickupConfirm(input: {orderId: "` + order + `",
			technicianMemberId: "x", technicianSignature: {typedName: "T", imageFormat: PNG, imageBase64: "AA==", consentText: "c",
			consentVersion: "1", method: STYLUS_PAD}, staffSignature: {typedName: "S", imageFormat: PNG, imageBase64: "AA==",
			consentText: "c", consentVersion: "1", method: STYLUS_PAD}}) { pickupOrder { id } } }`},
		{"vendor cannot resolve discrepancies", domain.RoleITADVendor, `mutation { pickupDiscrepancyResolve(input: {orderId: "` + order + `",
			phase: PICKUP, scanId: "x", action: ACCEPT, reason: "mine"}) { resolution { id } } }`},
		{"vendor cannot write back", domain.RoleITADVendor, `mutation { itamWriteBack(input: {orderId: "` + order + `"}) { pickupOrder { id } } }`},
		{"vendor cannot read the disposition report", domain.RoleITADVendor, `{ dispositionReport(filter: {orderId: "` + order + `"}) { csvUrl } }`},
		{"vendor cannot read the SLA policy", domain.RoleITADVendor, `{ slaPolicy { retiredToStagedDays } }`},
		{"vendor cannot read a certificate as a node", domain.RoleITADVendor, `{ node(id: "` + graph.EncodeID("Certificate", someUUID) + `") { id } }`},
		{"it cannot scan at the vendor's facility", domain.RoleIT, `mutation { pickupReceiptScan(input: {orderId: "` + order + `",
			scan: {serial: "X"}}) { scan { id } } }`},
		{"it cannot record a sanitization", domain.RoleIT, `mutation { sanitizationRecord(input: {orderId: "` + order + `", serial: "X",
			method: PURGE, technique: "t", tool: "t", toolVersion: "1", verificationMethod: "v", verificationResult: PASSED,
			performedAt: "2026-01-01T00:00:00Z", technicianName: "A", technicianAttests: true, validatorName: "B",
			validatedAt: "2026-01-01T00:00:00Z"}) { sanitization { method } } }`},
		{"it cannot issue a certificate", domain.RoleIT, `mutation { certificateIssue(input: {orderId: "` + order + `"}) { certificate { id } } }`},
		{"it cannot set the SLA policy", domain.RoleIT, `mutation { slaPolicySet(input: {retiredToStagedDays: 1, stagedToPickedUpDays: 1,
			pickedUpToCertificateDays: 1, certificateToWriteBackDays: 1, offboardingDueDays: 1}) { policy { offboardingDueDays } } }`},
		{"it cannot sweep", domain.RoleIT, `mutation { slaSweep { raised } }`},
		{"auditor cannot scan at the dock", domain.RoleAuditor, `mutation { pickupDockScan(input: {orderId: "` + order + `",
			scan: {serial: "X"}}) { scan { id } } }`},
		{"hr reads no breach list", domain.RoleHR, `{ slaBreaches { edges { cursor } } }`},
		{"mailroom reads no certificate", domain.RoleMailroom, `{ certificates { edges { cursor } } }`},
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

func TestDispositionInputIDsAreDecodedFirst(t *testing.T) {
	h := newHandler(t, false, nil)
	for _, tc := range []struct {
		name, query, field, want string
		role                     domain.Role
	}{
		{"dock scan", `mutation { pickupDockScan(input: {orderId: "junk", scan: {serial: "X"}}) { scan { id } userErrors { field code } } }`,
			"pickupDockScan", `{"scan":null,"userErrors":[{"field":["input","orderId"],"code":"NOT_FOUND"}]}`, domain.RoleITADVendor},
		{"bulk receipt scan", `mutation { pickupReceiptScanBulk(input: {orderId: "junk", scans: [{serial: "X"}]}) { matched userErrors { field code } } }`,
			"pickupReceiptScanBulk", `{"matched":0,"userErrors":[{"field":["input","orderId"],"code":"NOT_FOUND"}]}`, domain.RoleITADVendor},
		{"outcome", `mutation { dispositionOutcomeRecord(input: {orderId: "` + graph.EncodeID("Asset", someUUID) + `", serial: "X",
			outcome: RECYCLED}) { line { serial } userErrors { field code } } }`,
			"dispositionOutcomeRecord", `{"line":null,"userErrors":[{"field":["input","orderId"],"code":"NOT_FOUND"}]}`, domain.RoleITADVendor},
		{"resolution of a missing line by a non-asset id", `mutation { pickupDiscrepancyResolve(input: {orderId: "` +
			graph.EncodeID("PickupOrder", someUUID) + `", phase: RECEIPT, assetId: "` + graph.EncodeID("Person", someUUID) + `",
			action: LOST, reason: "gone"}) { resolution { id } userErrors { field code } } }`,
			"pickupDiscrepancyResolve", `{"resolution":null,"userErrors":[{"field":["input","assetId"],"code":"NOT_FOUND"}]}`, domain.RoleIT},
		{"confirmation by a person instead of a member", `mutation { pickupConfirm(input: {orderId: "junk",
			technicianMemberId: "` + graph.EncodeID("Person", someUUID) + `", technicianSignature: {typedName: "T", imageFormat: PNG,
			imageBase64: "AA==", consentText: "c", consentVersion: "1", method: STYLUS_PAD}, staffSignature: {typedName: "S",
			imageFormat: PNG, imageBase64: "AA==", consentText: "c", consentVersion: "1", method: STYLUS_PAD}}) {
			pickupOrder { id } userErrors { field code } } }`,
			"pickupConfirm", `{"pickupOrder":null,"userErrors":[{"field":["input","orderId"],"code":"NOT_FOUND"},` +
				`{"field":["input","technicianMemberId"],"code":"NOT_FOUND"}]}`, domain.RoleIT},
		{"write-back", `mutation { itamWriteBack(input: {orderId: "` + graph.EncodeID("PickupOrder", someUUID) + `",
			assetIds: ["junk"]}) { pickupOrder { id } userErrors { field code } } }`,
			"itamWriteBack", `{"pickupOrder":null,"userErrors":[{"field":["input","assetIds","0"],"code":"NOT_FOUND"}]}`, domain.RoleIT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, h, as(tc.role), tc.query, nil)
			wantCodes(t, r)
			if got := string(r.Data[tc.field]); got != tc.want {
				t.Errorf("payload =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestDispositionReportOfNothingReadsNothing(t *testing.T) {
	h := newHandler(t, false, nil)
	asset := graph.EncodeID("Asset", someUUID)
	r := post(t, h, as(domain.RoleIT), `{ dispositionReport(filter: {orderId: "`+asset+`"}) { csvUrl rows { serial } } }`, nil)
	wantCodes(t, r)
	if got, want := string(r.Data["dispositionReport"]), `{"csvUrl":"/reports/disposition.csv?order=`+asset+`","rows":[]}`; got != want {
		t.Errorf("report = %s; want %s", got, want)
	}
	r = post(t, h, as(domain.RoleAuditor), `{ dispositionReport(filter: {from: "2026-11-01", to: "2026-12-01"}) { rows(first: 1001) { serial } } }`, nil)
	wantCodes(t, r, graph.CodeBadUserInput)

	r = post(t, h, as(domain.RoleIT), `{ slaBreaches(filter: {subjectId: "`+graph.EncodeID("Person", someUUID)+`"}) {
		edges { cursor } pageInfo { hasNextPage } } }`, nil)
	wantCodes(t, r)
	if got := string(r.Data["slaBreaches"]); got != `{"edges":[],"pageInfo":{"hasNextPage":false}}` {
		t.Errorf("breaches of a person = %s", got)
	}
}
