package e2e_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph"
)

// operation is one root field called with arguments that are valid enough to
// get past authorization.
type operation struct {
	name    string
	doc     string
	vars    func(d delivered) map[string]any
	allowed []domain.Role
}

var (
	readers       = []domain.Role{domain.RoleAdmin, domain.RoleMailroom, domain.RoleIT, domain.RoleHR, domain.RoleAuditor}
	parcelReaders = []domain.Role{domain.RoleAdmin, domain.RoleMailroom, domain.RoleIT, domain.RoleAuditor}
	deployers     = []domain.Role{domain.RoleAdmin, domain.RoleMailroom, domain.RoleIT}
	hrWriters     = []domain.Role{domain.RoleAdmin, domain.RoleHR}
)

// operations is the role × operation table of the README, written out
// independently of authz/policy.csv so that a policy change must change both.
var operations = []operation{
	{"viewer", `{ viewer { tenant { slug } member { name roles } } }`, nil, domain.AllRoles},
	{"node", `query($id: ID!) { node(id: $id) { id } }`, func(d delivered) map[string]any { return map[string]any{"id": d.assets[0]} }, readers},
	{"asset", `query($id: ID!) { asset(id: $id) { id } }`, func(d delivered) map[string]any { return map[string]any{"id": d.assets[0]} }, readers},
	{"assetBySerial", `query($s: String!) { assetBySerial(serial: $s) { id } }`, func(d delivered) map[string]any { return map[string]any{"s": d.serials[0]} }, readers},
	{"assetByTag", `query($s: String!) { assetByTag(tag: $s) { id } }`, func(d delivered) map[string]any { return map[string]any{"s": "TAG-" + d.serials[0]} }, readers},
	{"assets", `{ assets(first: 5) { edges { node { id } } } }`, nil, readers},
	{"parcel", `query($id: ID!) { parcel(id: $id) { id } }`, func(d delivered) map[string]any { return map[string]any{"id": d.parcel} }, parcelReaders},
	{"parcels", `{ parcels(first: 5) { edges { node { id } } } }`, nil, parcelReaders},
	{"person", `query($id: ID!) { person(id: $id) { id name } }`, func(d delivered) map[string]any { return map[string]any{"id": d.person} }, readers},
	{"people", `{ people(first: 5) { edges { node { id name } } } }`, nil, readers},
	// Any id will do for signature: authorization is decided before the lookup.
	{"signature", `query($id: ID!) { signature(id: $id) { id } }`, func(d delivered) map[string]any { return map[string]any{"id": d.person} }, parcelReaders},
	{"personCreate", personCreateDoc, func(d delivered) map[string]any {
		return map[string]any{"in": map[string]any{"employeeId": "M-" + mustUUID(), "name": "Matrix", "email": mustUUID() + "@x.example"}}
	}, hrWriters},
	{"personUpdate", `mutation($in: PersonUpdateInput!) { personUpdate(input: $in) { person { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"id": d.person, "department": "Finance"}}
		}, hrWriters},
	{"parcelReceive", parcelReceiveDoc, func(d delivered) map[string]any { return map[string]any{"in": receiveInput(d.person, "")} },
		[]domain.Role{domain.RoleAdmin, domain.RoleMailroom}},
	{"parcelSerialize", parcelSerializeDoc, func(d delivered) map[string]any {
		return map[string]any{"in": serializeInput(d.parcel, "MATRIX-"+mustUUID())}
	}, deployers},
	{"recipientNotify", recipientNotifyDoc, func(d delivered) map[string]any {
		return map[string]any{"in": map[string]any{"assetIds": d.assets}}
	}, deployers},
	{"assetHandOff", assetHandOffDoc, func(d delivered) map[string]any { return map[string]any{"in": handOffInput(d.assets, d.person, "")} }, deployers},
	{"ledger", `{ ledger { origin size } }`, nil, ledgerReaders},
	{"receipt", `query($id: ID!) { receipt(eventId: $id) { json } }`, func(d delivered) map[string]any {
		return map[string]any{"id": graph.EncodeID("CustodyEvent", mustUUID())}
	}, []domain.Role{domain.RoleAdmin, domain.RoleMailroom, domain.RoleIT, domain.RoleAuditor}},
	{"ledgerVerification", `{ ledgerVerification { ok } }`, nil, ledgerReaders},
	{"ledgerConsistency", `{ ledgerConsistency(oldSize: 1) { proof } }`, nil, ledgerReaders},
	{"custodyEventCorrect", `mutation($in: CustodyEventCorrectInput!) { custodyEventCorrect(input: $in) { event { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"eventId": graph.EncodeID("CustodyEvent", mustUUID()), "reason": "typo"}}
		}, []domain.Role{domain.RoleAdmin, domain.RoleIT}},
	{"ledgerKeyRotate", `mutation { ledgerKeyRotate(input: {reason: "matrix"}) { key { id } } }`, nil, []domain.Role{domain.RoleAdmin}},
	{"offboardingCase", `query($id: ID!) { offboardingCase(id: $id) { id } }`, func(d delivered) map[string]any {
		return map[string]any{"id": graph.EncodeID("OffboardingCase", mustUUID())}
	}, caseReaders},
	{"offboardingCases", `{ offboardingCases(first: 5) { edges { node { id status } } } }`, nil, caseReaders},
	{"assetReturn", `query($id: ID!) { assetReturn(id: $id) { id } }`, func(d delivered) map[string]any {
		return map[string]any{"id": graph.EncodeID("AssetReturn", mustUUID())}
	}, readers},
	{"assetReturns", `{ assetReturns(first: 5) { edges { node { id unmatched } } } }`, nil, readers},
	{"offboardingCaseOpen", caseOpenDoc, func(d delivered) map[string]any {
		return map[string]any{"in": map[string]any{"personId": d.person, "lastDay": "2026-12-01", "dueDate": "2026-12-15"}}
	}, hrWriters},
	{"offboardingItemWriteOff", `mutation($in: OffboardingItemWriteOffInput!) { offboardingItemWriteOff(input: $in) { offboardingCase { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"caseId": graph.EncodeID("OffboardingCase", mustUUID()),
				"assetId": d.assets[0], "kind": "LOST", "reason": "matrix"}}
		}, hrWriters},
	{"assetReturnReceive", returnDoc, func(d delivered) map[string]any {
		return map[string]any{"in": map[string]any{"serial": "NO-SUCH-" + mustUUID(), "location": "Dock", "condition": "GOOD"}}
	}, []domain.Role{domain.RoleAdmin, domain.RoleMailroom, domain.RoleIT}},
	{"assetRestock", `mutation($in: AssetRestockInput!) { assetRestock(input: $in) { asset { id } userErrors { code } } }`,
		func(d delivered) map[string]any { return map[string]any{"in": map[string]any{"assetId": d.assets[0]}} }, itWriters},
	{"assetRetire", `mutation($in: AssetRetireInput!) { assetRetire(input: $in) { asset { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"assetId": d.assets[0], "reason": "matrix"}}
		}, itWriters},
	{"vendor", `query($id: ID!) { vendor(id: $id) { id } }`, func(d delivered) map[string]any {
		return map[string]any{"id": graph.EncodeID("Vendor", mustUUID())}
	}, ledgerReaders},
	{"vendors", `{ vendors(first: 5) { edges { node { id name certified } } } }`, nil, ledgerReaders},
	{"vendorEngage", `mutation($in: VendorEngageInput!) { vendorEngage(input: $in) { vendor { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"name": "Matrix ITAD " + mustUUID()}}
		},
		[]domain.Role{domain.RoleAdmin}},
	{"vendorCertificationsSet", `mutation($in: VendorCertificationsSetInput!) { vendorCertificationsSet(input: $in) { vendor { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"vendorId": graph.EncodeID("Vendor", mustUUID()), "certifications": []any{}}}
		}, []domain.Role{domain.RoleAdmin}},
	{"pickupOrder", `query($id: ID!) { pickupOrder(id: $id) { id } }`, func(d delivered) map[string]any {
		return map[string]any{"id": graph.EncodeID("PickupOrder", mustUUID())}
	}, pickupReaders},
	{"pickupOrders", `{ pickupOrders(first: 5) { edges { node { id } } } }`, nil, pickupReaders},
	{"pickupOrderCreate", `mutation($in: PickupOrderCreateInput!) { pickupOrderCreate(input: $in) { pickupOrder { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"vendorId": graph.EncodeID("Vendor", mustUUID()), "scheduledOn": "2099-01-01"}}
		}, itWriters},
	{"pickupOrderStage", `mutation($in: PickupOrderStageInput!) { pickupOrderStage(input: $in) { lines { model } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": graph.EncodeID("PickupOrder", mustUUID()), "assetIds": d.assets}}
		}, itWriters},
	{"pickupOrderUnstage", `mutation($in: PickupOrderUnstageInput!) { pickupOrderUnstage(input: $in) { line { model } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": graph.EncodeID("PickupOrder", mustUUID()), "assetId": d.assets[0], "reason": "matrix"}}
		}, itWriters},
	{"pickupCountScan", `mutation($in: PickupCountScanInput!) { pickupCountScan(input: $in) { scan { result } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": graph.EncodeID("PickupOrder", mustUUID()), "scan": map[string]any{"serial": "X"}}}
		}, itWriters},
	{"pickupCountScanBulk", `mutation($in: PickupCountScanBulkInput!) { pickupCountScanBulk(input: $in) { matched userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": graph.EncodeID("PickupOrder", mustUUID()), "scans": []map[string]any{{"serial": "X"}}}}
		}, itWriters},

	// ITAD disposition. Every order id below names no order: an allowed
	// caller gets past the policy to a NOT_FOUND user error (or an empty
	// result), which is all the matrix needs.
	{"certificate", `query($id: ID!) { certificate(id: $id) { id number } }`, func(d delivered) map[string]any {
		return map[string]any{"id": graph.EncodeID("Certificate", mustUUID())}
	}, certificateReaders},
	{"certificates", `{ certificates(first: 5) { edges { node { id number } } } }`, nil, certificateReaders},
	{"dispositionReport", `query($id: ID!) { dispositionReport(filter: {orderId: $id}) { rows { serial } csvUrl } }`,
		func(d delivered) map[string]any { return map[string]any{"id": noSuchOrder()} }, dispositionReaders},
	{"slaPolicy", `{ slaPolicy { retiredToStagedDays offboardingDueDays updatedAt } }`, nil, dispositionReaders},
	{"slaBreaches", `{ slaBreaches(first: 5) { edges { node { id stage subjectId } } } }`, nil, dispositionReaders},
	{"reconciliationReport", `{ reconciliationReport { generatedAt stages { stage count } items { id } truncated } }`, nil, dispositionReaders},
	{"pickupDockScan", `mutation($in: PickupDockScanInput!) { pickupDockScan(input: $in) { scan { result } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": noSuchOrder(), "scan": map[string]any{"serial": "X"}}}
		}, dockScanners},
	{"pickupDockScanBulk", `mutation($in: PickupDockScanBulkInput!) { pickupDockScanBulk(input: $in) { matched userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": noSuchOrder(), "scans": []map[string]any{{"serial": "X"}}}}
		}, dockScanners},
	{"pickupReceiptScan", `mutation($in: PickupReceiptScanInput!) { pickupReceiptScan(input: $in) { scan { result } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": noSuchOrder(), "scan": map[string]any{"serial": "X"}}}
		}, vendorWriters},
	{"pickupReceiptScanBulk", `mutation($in: PickupReceiptScanBulkInput!) { pickupReceiptScanBulk(input: $in) { matched userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": noSuchOrder(), "scans": []map[string]any{{"serial": "X"}}}}
		}, vendorWriters},
	{"pickupDiscrepancyResolve", `mutation($in: PickupDiscrepancyResolveInput!) { pickupDiscrepancyResolve(input: $in) { resolution { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": noSuchOrder(), "phase": "PICKUP", "assetId": d.assets[0],
				"action": "LOST", "reason": "matrix"}}
		}, itWriters},
	{"pickupConfirm", `mutation($in: PickupConfirmInput!) { pickupConfirm(input: $in) { pickupOrder { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": noSuchOrder(), "technicianMemberId": graph.EncodeID("Member", mustUUID()),
				"technicianSignature": signature("Matrix Technician"), "staffSignature": signature("Matrix Staff")}}
		}, itWriters},
	{"pickupReceiptConfirm", `mutation($in: PickupReceiptConfirmInput!) { pickupReceiptConfirm(input: $in) { pickupOrder { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": noSuchOrder()}}
		}, vendorWriters},
	{"sanitizationRecord", `mutation($in: SanitizationRecordInput!) { sanitizationRecord(input: $in) { sanitization { method } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": sanitizationFields(noSuchOrder(), "X", "PURGE", time.Now().Add(-time.Minute))}
		}, vendorWriters},
	{"dispositionOutcomeRecord", `mutation($in: DispositionOutcomeRecordInput!) { dispositionOutcomeRecord(input: $in) { line { status } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": noSuchOrder(), "serial": "X", "outcome": "RECYCLED",
				"downstreamVendor": "Matrix Metals", "downstreamCertification": "R2V3"}}
		}, vendorWriters},
	{"certificateIssue", `mutation($in: CertificateIssueInput!) { certificateIssue(input: $in) { certificate { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": noSuchOrder()}}
		}, vendorWriters},
	{"itamWriteBack", `mutation($in: ItamWriteBackInput!) { itamWriteBack(input: $in) { pickupOrder { id } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"orderId": noSuchOrder()}}
		}, itWriters},
	// The defaults: setting them changes no window the sweep below applies.
	{"slaPolicySet", `mutation($in: SLAPolicySetInput!) { slaPolicySet(input: $in) { policy { updatedAt } userErrors { code } } }`,
		func(d delivered) map[string]any {
			return map[string]any{"in": map[string]any{"retiredToStagedDays": 30, "stagedToPickedUpDays": 14,
				"pickedUpToCertificateDays": 30, "certificateToWriteBackDays": 7, "offboardingDueDays": 7}}
		}, []domain.Role{domain.RoleAdmin}},
	{"slaSweep", `mutation { slaSweep { raised userErrors { code } } }`, nil, []domain.Role{domain.RoleAdmin}},
}

// Who may use the ITAD disposition operations, per the README's table.
var (
	// certificateReaders read certificates (a vendor: its own organisation's).
	certificateReaders = []domain.Role{domain.RoleAdmin, domain.RoleIT, domain.RoleITADVendor, domain.RoleAuditor}
	// dispositionReaders read the disposition report, the SLA policy, its
	// breaches and the reconciliation.
	dispositionReaders = []domain.Role{domain.RoleAdmin, domain.RoleIT, domain.RoleAuditor}
	// dockScanners scan at the dock: IT, or the vendor's technician.
	dockScanners = []domain.Role{domain.RoleAdmin, domain.RoleIT, domain.RoleITADVendor}
	// vendorWriters record what happens at the vendor's facility.
	vendorWriters = []domain.Role{domain.RoleAdmin, domain.RoleITADVendor}
)

// noSuchOrder is the global id of a pickup order that does not exist.
func noSuchOrder() string { return graph.EncodeID("PickupOrder", mustUUID()) }

// sanitizationFields is a complete SanitizationRecordInput for the asset
// with serial on orderGID, performed and validated at performed.
func sanitizationFields(orderGID, serial, method string, performed time.Time) map[string]any {
	at := performed.UTC().Format(time.RFC3339Nano)
	return map[string]any{"orderId": orderGID, "serial": serial, "method": method,
		"technique": "cryptographic erase", "tool": "Blancco Drive Eraser", "toolVersion": "7.9",
		"verificationMethod": "full read-back", "verificationResult": "PASSED", "performedAt": at,
		"technicianName": "Tess Technician", "technicianAttests": true, "validatorName": "Val Validator", "validatedAt": at}
}

// pickupReaders may read pickup orders (a vendor: only its own).
var pickupReaders = []domain.Role{domain.RoleAdmin, domain.RoleIT, domain.RoleITADVendor, domain.RoleAuditor}

// caseReaders may read off-boarding cases; itWriters restock and retire.
var (
	caseReaders = []domain.Role{domain.RoleAdmin, domain.RoleIT, domain.RoleHR, domain.RoleAuditor}
	itWriters   = []domain.Role{domain.RoleAdmin, domain.RoleIT}
)

// ledgerReaders may inspect and verify the tenant's log.
var ledgerReaders = []domain.Role{domain.RoleAdmin, domain.RoleIT, domain.RoleAuditor}

// TestRoleOperationMatrix calls every operation with every role: allowed
// roles get past authorization, denied roles get FORBIDDEN and no data.
func TestRoleOperationMatrix(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deliver(t, e.a, "MX", 1)
		for _, op := range operations {
			for _, role := range domain.AllRoles {
				allowed := slices.Contains(op.allowed, role)
				name := op.name + "/" + string(role)
				t.Run(name, func(t *testing.T) {
					var vars map[string]any
					if op.vars != nil {
						vars = op.vars(d)
					}
					r := e.do(t, e.a.tokens[role], op.doc, vars)
					if r.Status != 200 {
						t.Fatalf("status %d: %s", r.Status, r.raw)
					}
					forbidden := r.hasCode("FORBIDDEN")
					if allowed && forbidden {
						t.Fatalf("%s should be allowed: %s", role, r.raw)
					}
					// Past the policy, the arguments must be good enough to
					// reach the operation and its answer (a NOT_FOUND, an
					// empty list), not a failure that could hide a denial.
					if allowed && r.hasCode(graph.CodeInternal) {
						t.Fatalf("%s got past authorization into a failure: %s", role, r.raw)
					}
					if !allowed {
						if !forbidden {
							t.Fatalf("%s should be forbidden: %s", role, r.raw)
						}
						var data map[string]json.RawMessage
						_ = json.Unmarshal(r.Data, &data)
						if v, ok := data[op.name]; ok && string(v) != "null" {
							t.Fatalf("denied %s still returned data: %s", role, v)
						}
					}
				})
			}
		}
	})
}

// TestPersonalDataGuardedWherever checks the type-level rules: a role that may
// list assets but not read signatures gets FORBIDDEN on a nested signature,
// and a vendor never reaches a person through any path.
func TestPersonalDataGuardedWherever(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		d := e.deliver(t, e.a, "PD", 1)
		var ho handOffPayload
		e.ok(t, e.a.tokens[domain.RoleMailroom], assetHandOffDoc, map[string]any{"in": handOffInput(d.assets, d.person, "")}, &ho)

		r := e.do(t, e.a.tokens[domain.RoleHR], `{ assets(first: 5) { edges { node { id holder { name } lastEvent { signature { id } } } } } }`, nil)
		if !r.hasCode("FORBIDDEN") {
			t.Fatalf("hr reading a nested signature: want FORBIDDEN, got %s", r.raw)
		}
		var data struct {
			Assets struct {
				Edges []struct {
					Node struct {
						Holder    *struct{ Name string }
						LastEvent *struct{ Signature *struct{ ID string } }
					}
				}
			}
		}
		if err := json.Unmarshal(r.Data, &data); err != nil || len(data.Assets.Edges) != 1 {
			t.Fatalf("hr assets: %v %s", err, r.raw)
		}
		n := data.Assets.Edges[0].Node
		if n.Holder == nil || n.Holder.Name == "" {
			t.Fatalf("hr may read the holder: %s", r.raw)
		}
		if n.LastEvent != nil && n.LastEvent.Signature != nil {
			t.Fatalf("hr got a signature: %s", r.raw)
		}

		// hr may read assets but not parcels, wherever a parcel appears.
		r = e.do(t, e.a.tokens[domain.RoleHR], `query($id: ID!) { asset(id: $id) { id parcel { trackingNumber sender } } }`,
			map[string]any{"id": d.assets[0]})
		if !r.hasCode("FORBIDDEN") || strings.Contains(string(r.raw), "1Z999") {
			t.Fatalf("hr reached a parcel through an asset: %s", r.raw)
		}
		// ... nor through the parcel's receipt in the asset's history, while
		// the asset's own events stay readable.
		r = e.do(t, e.a.tokens[domain.RoleHR], `query($id: ID!) { asset(id: $id) { history { edges { node { type details { key value } } } } } }`,
			map[string]any{"id": d.assets[0]})
		if !r.hasCode("FORBIDDEN") || strings.Contains(string(r.raw), "1Z999") || !strings.Contains(string(r.raw), `"bearsData"`) {
			t.Fatalf("hr reading parcel facts in a history: %s", r.raw)
		}
		r = e.do(t, e.a.tokens[domain.RoleMailroom], `query($id: ID!) { asset(id: $id) { history { edges { node { type details { key value } } } } } }`,
			map[string]any{"id": d.assets[0]})
		if len(r.Errors) > 0 || !strings.Contains(string(r.raw), "1Z999") {
			t.Fatalf("mailroom reading parcel facts in a history: %s", r.raw)
		}

		for _, doc := range []string{
			`query($id: ID!) { node(id: $id) { id ... on Person { name } } }`,
			`query($id: ID!) { person(id: $id) { name } }`,
		} {
			r := e.do(t, e.a.tokens[domain.RoleITADVendor], doc, map[string]any{"id": d.person})
			if !r.hasCode("FORBIDDEN") || containsName(r.raw) {
				t.Fatalf("vendor reached a person: %s", r.raw)
			}
		}
	})
}

// containsName reports whether a response leaked the test person's name or email.
func containsName(raw []byte) bool {
	return strings.Contains(string(raw), "Employee PD-E") || strings.Contains(string(raw), "@acme")
}
