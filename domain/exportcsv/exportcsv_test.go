package exportcsv

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
)

var (
	cet = time.FixedZone("CET", 3600)
	// recorded is 22:30:00.123456 UTC: every time is given in another zone
	// to show the export converts to UTC.
	recorded = time.Date(2026, 3, 14, 23, 30, 0, 123456000, cet)
	device   = time.Date(2026, 3, 14, 23, 29, 58, 0, cet)
	signed   = time.Date(2026, 3, 14, 23, 29, 50, 0, cet)
	created  = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	updated  = time.Date(2026, 3, 14, 23, 30, 1, 0, cet)
	lastDay  = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	dueDate  = time.Date(2026, 4, 7, 0, 0, 0, 0, time.UTC)
	returned = time.Date(2026, 4, 2, 0, 30, 0, 0, cet) // 1 April UTC
	issued   = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	wiped    = time.Date(2026, 4, 28, 14, 15, 0, 0, time.UTC)
	// exportedAt is before the case's due date is over.
	exportedAt = time.Date(2026, 4, 7, 23, 59, 0, 0, time.UTC)
)

// The records of the fixtures, built afresh for each test so one test's
// changes do not leak into another.
func ada() *domain.Person {
	return &domain.Person{ID: "p1", EmployeeID: "E1001", Name: "Ada Lovelace", Email: "ada@example.com",
		Department: "Engineering", Status: domain.PersonActive}
}

func laptop() *domain.Asset {
	deployed := signed
	return &domain.Asset{ID: "a1", Serial: "PF3ABC12", AssetTag: "ACME-0042", Make: "Lenovo", Model: "ThinkPad T14s",
		Category: "LAPTOP", BearsData: true, ITAMRef: "SN-0042", Condition: "GOOD", State: domain.StateDeployed,
		Custodian: domain.Custodian{Kind: domain.CustodianPerson, Ref: "p1"}, DeployedAt: &deployed,
		CreatedAt: created, UpdatedAt: updated}
}

func handOff() *domain.CustodyEvent {
	dt := device
	return &domain.CustodyEvent{ID: "e1", Seq: 42, AssetID: "a1", Type: domain.EventHandedOff,
		FromState: domain.StateAwaitingCollection, ToState: domain.StateDeployed,
		FromCustodian: domain.Custodian{Kind: domain.CustodianLocation, Ref: "Mailroom Berlin"},
		ToCustodian:   domain.Custodian{Kind: domain.CustodianPerson, Ref: "p1"},
		ActorID:       "m1", Location: "Berlin HQ", DeviceTime: &dt, RecordedAt: recorded, SignatureID: "s1",
		Details: map[string]string{"note": "left at desk", "condition": "GOOD"}}
}

func mailroom() *domain.Member { return &domain.Member{ID: "m1", Name: "Mo Mailroom"} }

func adaSignature() *domain.Signature {
	return &domain.Signature{ID: "s1", SignerID: "p1", TypedName: "Ada Lovelace", SignedAt: signed,
		Method: domain.SignatureDrawnOnDevice, ConsentVersion: "v3", ConsentSHA256: "c0ffee", ImageSHA256: "beef"}
}

func eventRow() domain.ExportRow {
	return domain.ExportRow{Event: handOff(), Asset: laptop(), Person: ada(), Actor: mailroom(), Signature: adaSignature()}
}

func openCase() *domain.OffboardingCase {
	return &domain.OffboardingCase{ID: "c1", PersonID: "p1", LastDay: lastDay, DueDate: dueDate,
		State: domain.CaseOpen, OpenedAt: created}
}

func returnedItem() *domain.CaseItem {
	at := returned
	return &domain.CaseItem{CaseID: "c1", AssetID: "a1", Expected: true, Status: domain.ItemReturned, ResolvedAt: &at}
}

func caseRow() domain.ExportRow {
	return domain.ExportRow{Case: openCase(), Item: returnedItem(), Person: ada(), Asset: laptop()}
}

func certRow() domain.ExportRow {
	return domain.ExportRow{
		Certificate: &domain.Certificate{ID: "cert1", OrderID: "o1", Number: "CERT-2026-0007", IssuedAt: issued},
		Order:       &domain.PickupOrder{ID: "o1"},
		VendorName:  "Écologie Recyclage",
		Line: &domain.PickupLine{OrderID: "o1", AssetID: "a1", Serial: "PF3ABC12", AssetTag: "ACME-0042", Make: "Lenovo",
			Model: "ThinkPad T14s", Category: domain.CategoryLaptop, BearsData: true, Status: domain.LineReceived,
			Outcome: &domain.Outcome{Kind: domain.OutcomeRecycled, DownstreamVendor: "X Metals",
				DownstreamCertification: "R2v3 123", RecordedAt: issued}},
		Sanitization: &domain.SanitizationRecord{OrderID: "o1", AssetID: "a1", Method: domain.SanitizePurge,
			Technique: "cryptographic erase", Tool: "Blancco", ToolVersion: "7.1",
			VerificationMethod: "full read-back", VerificationResult: domain.VerificationPassed, PerformedAt: wiped,
			TechnicianName: "Tia Tech", ValidatorName: "Val Idator"},
	}
}

// export writes rows as an export of kind in profile and reads the output
// back with encoding/csv: the header, then one record per row. It checks
// that every record has as many cells as the header.
func export(t *testing.T, kind domain.ExportKind, profile domain.ExportProfile, rows ...domain.ExportRow) [][]string {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, kind, profile, false, WithNow(exportedAt))
	if err != nil {
		t.Fatalf("NewWriter(%s, %s): %v", kind, profile, err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	recs := readAll(t, buf.Bytes())
	if len(recs) != len(rows)+1 {
		t.Fatalf("read %d records for %d rows:\n%s", len(recs), len(rows), buf.Bytes())
	}
	for i, rec := range recs {
		if len(rec) != len(recs[0]) {
			t.Fatalf("record %d has %d cells for %d columns", i, len(rec), len(recs[0]))
		}
	}
	return recs
}

// readAll parses CSV output, its byte order mark removed.
func readAll(t *testing.T, b []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
	r.FieldsPerRecord = -1 // export checks the counts, with a better message
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("read back: %v\n%s", err, b)
	}
	return recs
}

// diffRecord reports each cell of got that differs from want, by column.
func diffRecord(t *testing.T, header, got, want []string) {
	t.Helper()
	if len(want) != len(header) {
		t.Fatalf("the test expects %d cells for %d columns", len(want), len(header))
	}
	for i, h := range header {
		if got[i] != want[i] {
			t.Errorf("%s = %q, want %q", h, got[i], want[i])
		}
	}
}

func TestColumns(t *testing.T) {
	for _, tc := range []struct {
		kind    domain.ExportKind
		profile domain.ExportProfile
		want    []string
	}{
		{domain.ExportCustodyLog, domain.ProfileDefault, []string{"seq", "event_id", "recorded_at", "type", "serial",
			"asset_tag", "model", "from_state", "to_state", "from_custodian", "to_custodian", "employee_id", "person_name",
			"location", "actor", "device_time", "signature_id", "details"}},
		{domain.ExportHandOffs, domain.ProfileDefault, []string{"seq", "handed_off_at", "serial", "asset_tag", "make",
			"model", "employee_id", "person_name", "email", "location", "handed_off_by", "signed_name", "signed_at",
			"signature_method", "consent_version", "consent_sha256", "image_sha256", "event_id"}},
		{domain.ExportHandOffs, domain.ProfileServiceNow, []string{"asset_tag", "serial_number", "manufacturer",
			"model_id", "assigned_to", "assigned", "install_status", "substatus", "location"}},
		{domain.ExportAssets, domain.ProfileDefault, []string{"asset_id", "serial", "asset_tag", "make", "model",
			"category", "bears_data", "state", "condition", "holder_employee_id", "holder_name", "holder_email",
			"deployed_at", "itam_ref", "created_at", "updated_at"}},
		{domain.ExportAssets, domain.ProfileServiceNow, []string{"asset_tag", "serial_number", "manufacturer",
			"model_id", "model_category", "install_status", "substatus", "assigned_to", "assigned", "u_custody_state",
			"u_bears_data", "sys_updated_on"}},
		{domain.ExportOffboarding, domain.ProfileDefault, []string{"case_id", "employee_id", "person_name", "email",
			"department", "last_day", "due_date", "case_state", "case_status", "serial", "asset_tag", "model",
			"item_status", "expected", "resolved_at", "write_off", "write_off_reason"}},
		{domain.ExportOffboarding, domain.ProfileSuccessFactors, []string{"externalCode", "userId",
			"cust_LastWorkingDay", "cust_DueDate", "cust_EquipmentType", "cust_Manufacturer", "cust_Model",
			"cust_SerialNumber", "cust_AssetTag", "cust_ReturnStatus", "cust_ReturnDate"}},
		{domain.ExportCertificates, domain.ProfileDefault, []string{"certificate_number", "issued_at", "vendor",
			"order_id", "serial", "asset_tag", "make", "model", "bears_data", "sanitization_method", "technique", "tool",
			"tool_version", "verification", "performed_at", "technician", "validator", "outcome", "outcome_detail"}},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.kind, tc.profile), func(t *testing.T) {
			got, err := Columns(tc.kind, tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Columns =\n %q\nwant\n %q", got, tc.want)
			}
			got[0] = "changed"
			if again, _ := Columns(tc.kind, tc.profile); again[0] != tc.want[0] {
				t.Error("Columns returns the package's own slice")
			}
			// The header NewWriter writes is the same.
			if recs := export(t, tc.kind, tc.profile); !slices.Equal(recs[0], tc.want) {
				t.Errorf("written header %q", recs[0])
			}
		})
	}
}

// TestSupportedPairs checks every kind in every profile, and unknown ones,
// against domain.ProfileKinds, which the domain validates requests with.
func TestSupportedPairs(t *testing.T) {
	kinds := append(slices.Clone(domain.AllExportKinds), "PARCELS", "")
	profs := []domain.ExportProfile{domain.ProfileDefault, domain.ProfileServiceNow, domain.ProfileSuccessFactors,
		"LANSWEEPER", ""}
	supported := 0
	for _, p := range profs {
		for _, k := range kinds {
			want := slices.Contains(domain.ProfileKinds[p], k)
			cols, err := Columns(k, p)
			if want {
				supported++
				if err != nil || len(cols) == 0 {
					t.Errorf("%s/%s: Columns = %q, %v; the domain supports it", k, p, cols, err)
				}
				continue
			}
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s/%s: Columns error %v, want ErrUnsupported", k, p, err)
			}
			var buf bytes.Buffer
			if _, err := NewWriter(&buf, k, p, true); !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s/%s: NewWriter error %v, want ErrUnsupported", k, p, err)
			}
			if buf.Len() != 0 {
				t.Errorf("%s/%s: NewWriter wrote %q before refusing", k, p, buf.Bytes())
			}
		}
	}
	if supported != len(profiles) {
		t.Errorf("the domain supports %d kind/profile pairs; the package has columns for %d", supported, len(profiles))
	}
}

func TestRows(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    domain.ExportKind
		profile domain.ExportProfile
		row     domain.ExportRow
		want    []string
	}{
		{"custody log", domain.ExportCustodyLog, domain.ProfileDefault, eventRow(),
			[]string{"42", "e1", "2026-03-14T22:30:00.123456Z", "HANDED_OFF", "PF3ABC12", "ACME-0042", "ThinkPad T14s",
				"AWAITING_COLLECTION", "DEPLOYED", "LOCATION:Mailroom Berlin", "PERSON:E1001", "E1001", "Ada Lovelace",
				"Berlin HQ", "Mo Mailroom", "2026-03-14T22:29:58Z", "s1", "condition=GOOD; note=left at desk"}},
		{"hand-offs", domain.ExportHandOffs, domain.ProfileDefault, eventRow(),
			[]string{"42", "2026-03-14T22:30:00.123456Z", "PF3ABC12", "ACME-0042", "Lenovo", "ThinkPad T14s", "E1001",
				"Ada Lovelace", "ada@example.com", "Berlin HQ", "Mo Mailroom", "Ada Lovelace", "2026-03-14T22:29:50Z",
				"DRAWN_ON_DEVICE", "v3", "c0ffee", "beef", "e1"}},
		{"hand-offs for ServiceNow", domain.ExportHandOffs, domain.ProfileServiceNow, eventRow(),
			[]string{"ACME-0042", "PF3ABC12", "Lenovo", "Lenovo ThinkPad T14s", "ada@example.com", "2026-03-14 22:29:50",
				"1", "", "Berlin HQ"}},
		{"assets", domain.ExportAssets, domain.ProfileDefault, domain.ExportRow{Asset: laptop(), Person: ada()},
			[]string{"a1", "PF3ABC12", "ACME-0042", "Lenovo", "ThinkPad T14s", "LAPTOP", "true", "DEPLOYED", "GOOD",
				"E1001", "Ada Lovelace", "ada@example.com", "2026-03-14T22:29:50Z", "SN-0042", "2026-03-02T09:00:00Z",
				"2026-03-14T22:30:01Z"}},
		{"assets for ServiceNow", domain.ExportAssets, domain.ProfileServiceNow, domain.ExportRow{Asset: laptop(), Person: ada()},
			[]string{"ACME-0042", "PF3ABC12", "Lenovo", "Lenovo ThinkPad T14s", "LAPTOP", "1", "", "ada@example.com",
				"2026-03-14 22:29:50", "DEPLOYED", "true", "2026-03-14 22:30:01"}},
		{"off-boarding", domain.ExportOffboarding, domain.ProfileDefault, caseRow(),
			[]string{"c1", "E1001", "Ada Lovelace", "ada@example.com", "Engineering", "2026-03-31", "2026-04-07", "OPEN",
				"OPEN", "PF3ABC12", "ACME-0042", "ThinkPad T14s", "RETURNED", "true", "2026-04-01T23:30:00Z", "", ""}},
		{"off-boarding for SuccessFactors", domain.ExportOffboarding, domain.ProfileSuccessFactors, caseRow(),
			[]string{"c1-a1", "E1001", "2026-03-31", "2026-04-07", "LAPTOP", "Lenovo", "ThinkPad T14s", "PF3ABC12",
				"ACME-0042", "RETURNED", "2026-04-01"}},
		{"certificates", domain.ExportCertificates, domain.ProfileDefault, certRow(),
			[]string{"CERT-2026-0007", "2026-05-04T10:00:00Z", "Écologie Recyclage", "o1", "PF3ABC12", "ACME-0042",
				"Lenovo", "ThinkPad T14s", "true", "PURGE", "cryptographic erase", "Blancco", "7.1",
				"PASSED (full read-back)", "2026-04-28T14:15:00Z", "Tia Tech", "Val Idator", "RECYCLED",
				"X Metals (R2v3 123)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := export(t, tc.kind, tc.profile, tc.row)
			diffRecord(t, recs[0], recs[1], tc.want)
		})
	}
}

// TestPartialRows covers rows whose records are missing in part: the cells
// of what is missing are empty and the rest is written.
func TestPartialRows(t *testing.T) {
	parcelEvent := &domain.CustodyEvent{ID: "e2", Seq: 7, ParcelID: "pc1", Type: domain.EventParcelReceived,
		FromCustodian: domain.Custodian{Kind: domain.CustodianNone}, ToCustodian: domain.Custodian{Kind: domain.CustodianNone},
		Location: "Dock 1", RecordedAt: recorded}
	// A person custodian who is not the row's person keeps Custody's id.
	transfer := handOff()
	transfer.FromCustodian = domain.Custodian{Kind: domain.CustodianPerson, Ref: "p9"}
	transfer.ToCustodian = domain.Custodian{Kind: domain.CustodianVendor, Ref: "v1"}
	transfer.Details = nil
	transfer.DeviceTime = nil
	stock := laptop()
	stock.State, stock.Custodian, stock.DeployedAt, stock.Condition = domain.StateInStock,
		domain.Custodian{Kind: domain.CustodianLocation, Ref: "Store"}, nil, ""
	written := &domain.CaseItem{CaseID: "c1", AssetID: "a1", Expected: false, Status: domain.ItemWrittenOff,
		WriteOff: domain.WriteOffLost, WriteOffReason: "left on a train"}
	unsanitized := certRow()
	unsanitized.Sanitization, unsanitized.Order, unsanitized.Certificate, unsanitized.VendorName = nil, nil, nil, ""
	unsanitized.Line.BearsData = false
	unsanitized.Line.Outcome = &domain.Outcome{Kind: domain.OutcomeRemarketed, Buyer: "Refurb Direct", BuyerCountry: "FR"}
	noOutcome := certRow()
	noOutcome.Line.Outcome = nil
	noOutcome.Sanitization.VerificationMethod = ""

	for _, tc := range []struct {
		name    string
		kind    domain.ExportKind
		profile domain.ExportProfile
		row     domain.ExportRow
		want    []string
	}{
		{"parcel-level event", domain.ExportCustodyLog, domain.ProfileDefault, domain.ExportRow{Event: parcelEvent},
			[]string{"7", "e2", "2026-03-14T22:30:00.123456Z", "PARCEL_RECEIVED", "", "", "", "", "", "", "", "", "",
				"Dock 1", "", "", "", ""}},
		{"custodians that are not the row's person", domain.ExportCustodyLog, domain.ProfileDefault,
			domain.ExportRow{Event: transfer, Asset: laptop(), Person: ada()},
			[]string{"42", "e1", "2026-03-14T22:30:00.123456Z", "HANDED_OFF", "PF3ABC12", "ACME-0042", "ThinkPad T14s",
				"AWAITING_COLLECTION", "DEPLOYED", "PERSON:p9", "VENDOR:v1", "E1001", "Ada Lovelace", "Berlin HQ", "", "",
				"s1", ""}},
		{"person custodian without the person", domain.ExportCustodyLog, domain.ProfileDefault,
			domain.ExportRow{Event: handOff()},
			[]string{"42", "e1", "2026-03-14T22:30:00.123456Z", "HANDED_OFF", "", "", "", "AWAITING_COLLECTION",
				"DEPLOYED", "LOCATION:Mailroom Berlin", "PERSON:p1", "", "", "Berlin HQ", "", "2026-03-14T22:29:58Z", "s1",
				"condition=GOOD; note=left at desk"}},
		{"hand-off without signature or actor", domain.ExportHandOffs, domain.ProfileDefault,
			domain.ExportRow{Event: handOff(), Asset: laptop(), Person: ada()},
			[]string{"42", "2026-03-14T22:30:00.123456Z", "PF3ABC12", "ACME-0042", "Lenovo", "ThinkPad T14s", "E1001",
				"Ada Lovelace", "ada@example.com", "Berlin HQ", "", "", "", "", "", "", "", "e1"}},
		{"ServiceNow hand-off without signature: the event's time", domain.ExportHandOffs, domain.ProfileServiceNow,
			domain.ExportRow{Event: handOff()},
			[]string{"", "", "", "", "", "2026-03-14 22:30:00", "1", "", "Berlin HQ"}},
		{"asset no person holds", domain.ExportAssets, domain.ProfileDefault, domain.ExportRow{Asset: stock},
			[]string{"a1", "PF3ABC12", "ACME-0042", "Lenovo", "ThinkPad T14s", "LAPTOP", "true", "IN_STOCK", "", "", "",
				"", "", "SN-0042", "2026-03-02T09:00:00Z", "2026-03-14T22:30:01Z"}},
		{"ServiceNow asset in stock", domain.ExportAssets, domain.ProfileServiceNow, domain.ExportRow{Asset: stock},
			[]string{"ACME-0042", "PF3ABC12", "Lenovo", "Lenovo ThinkPad T14s", "LAPTOP", "6", "available", "", "",
				"IN_STOCK", "true", "2026-03-14 22:30:01"}},
		{"case without items", domain.ExportOffboarding, domain.ProfileDefault,
			domain.ExportRow{Case: openCase(), Person: ada()},
			[]string{"c1", "E1001", "Ada Lovelace", "ada@example.com", "Engineering", "2026-03-31", "2026-04-07", "OPEN",
				"OPEN", "", "", "", "", "", "", "", ""}},
		{"written-off item of an unknown asset", domain.ExportOffboarding, domain.ProfileDefault,
			domain.ExportRow{Case: openCase(), Item: written},
			[]string{"c1", "", "", "", "", "2026-03-31", "2026-04-07", "OPEN", "OPEN", "", "", "", "WRITTEN_OFF", "false",
				"", "LOST", "left on a train"}},
		{"SuccessFactors case without items", domain.ExportOffboarding, domain.ProfileSuccessFactors,
			domain.ExportRow{Case: openCase(), Person: ada()},
			[]string{"c1", "E1001", "2026-03-31", "2026-04-07", "", "", "", "", "", "NOT_APPLICABLE", ""}},
		{"SuccessFactors written-off item", domain.ExportOffboarding, domain.ProfileSuccessFactors,
			domain.ExportRow{Case: openCase(), Item: written, Person: ada(), Asset: laptop()},
			[]string{"c1-a1", "E1001", "2026-03-31", "2026-04-07", "LAPTOP", "Lenovo", "ThinkPad T14s", "PF3ABC12",
				"ACME-0042", "WRITTEN_OFF", ""}},
		{"SuccessFactors item without its case", domain.ExportOffboarding, domain.ProfileSuccessFactors,
			domain.ExportRow{Item: returnedItem()},
			[]string{"c1-a1", "", "", "", "", "", "", "", "", "RETURNED", "2026-04-01"}},
		{"certified asset without data, order or certificate", domain.ExportCertificates, domain.ProfileDefault, unsanitized,
			[]string{"", "", "", "o1", "PF3ABC12", "ACME-0042", "Lenovo", "ThinkPad T14s", "false", "", "", "", "", "",
				"", "", "", "REMARKETED", "Refurb Direct (FR)"}},
		{"certified line without outcome", domain.ExportCertificates, domain.ProfileDefault, noOutcome,
			[]string{"CERT-2026-0007", "2026-05-04T10:00:00Z", "Écologie Recyclage", "o1", "PF3ABC12", "ACME-0042",
				"Lenovo", "ThinkPad T14s", "true", "PURGE", "cryptographic erase", "Blancco", "7.1", "PASSED",
				"2026-04-28T14:15:00Z", "Tia Tech", "Val Idator", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := export(t, tc.kind, tc.profile, tc.row)
			diffRecord(t, recs[0], recs[1], tc.want)
		})
	}
}

// TestEmptyRow writes a row with no records at all in every profile: every
// cell is empty, and nothing panics.
func TestEmptyRow(t *testing.T) {
	for s := range profiles {
		t.Run(fmt.Sprintf("%s/%s", s.kind, s.profile), func(t *testing.T) {
			recs := export(t, s.kind, s.profile, domain.ExportRow{})
			for i, c := range recs[1] {
				if c != "" {
					t.Errorf("%s = %q, want empty", recs[0][i], c)
				}
			}
		})
	}
}

func TestCaseStatus(t *testing.T) {
	completed := openCase()
	done := dueDate.AddDate(0, 0, -1)
	completed.State, completed.CompletedAt = domain.CaseCompleted, &done
	for _, tc := range []struct {
		name string
		c    *domain.OffboardingCase
		now  time.Time
		want string
	}{
		{"open on the last minute of its due day", openCase(), exportedAt, "OPEN"},
		{"overdue the day after", openCase(), dueDate.AddDate(0, 0, 1), "OVERDUE"},
		{"completed, even long after", completed, dueDate.AddDate(1, 0, 0), "COMPLETED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, domain.ExportOffboarding, domain.ProfileDefault, false, WithNow(tc.now))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(domain.ExportRow{Case: tc.c}); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			recs := readAll(t, buf.Bytes())
			col := slices.Index(recs[0], "case_status")
			if got := recs[1][col]; got != tc.want {
				t.Errorf("case_status = %q, want %q", got, tc.want)
			}
		})
	}
}

// snSubstatuses are the substatus choices ServiceNow offers under each
// install_status (its documentation, "Set asset states and substates");
// empty is always allowed: it leaves the field alone on import.
var snSubstatuses = map[string][]string{
	InstallStatusInUse: {""},
	InstallStatusInStock: {"", "available", "reserved", "defective", "pending_repair", "pending_install",
		"pending_disposal", "pending_transfer", "pre_allocated"},
	InstallStatusRetired: {"", "disposed", "sold", "donated", "vendor_credit", "pending_disposal"},
	InstallStatusMissing: {"", "lost", "stolen"},
	InstallStatusInTransit: {"", "available", "reserved", "defective", "pending_install", "pending_disposal",
		"pre_allocated"},
}

func TestServiceNowStates(t *testing.T) {
	want := map[domain.AssetState][2]string{
		domain.StateSerialized:         {"6", "available"},
		domain.StateAwaitingCollection: {"6", "reserved"},
		domain.StateDeployed:           {"1", ""},
		domain.StateReturnReceived:     {"6", ""},
		domain.StateInStock:            {"6", "available"},
		domain.StateRetired:            {"6", "pending_disposal"},
		domain.StateStaged:             {"6", "pending_disposal"},
		domain.StatePickedUp:           {"9", "pending_disposal"},
		domain.StateAtVendor:           {"7", "pending_disposal"},
		domain.StateSanitized:          {"7", "pending_disposal"},
		domain.StateDestroyed:          {"7", "disposed"},
		domain.StateRemarketed:         {"7", ""},
		domain.StateRecycled:           {"7", "disposed"},
		domain.StateClosed:             {"7", ""},
		domain.StateLost:               {"8", "lost"},
		domain.StateStolen:             {"8", "stolen"},
	}
	if len(serviceNowStates) != len(domain.AllAssetStates) {
		t.Errorf("%d states mapped, %d states exist", len(serviceNowStates), len(domain.AllAssetStates))
	}
	var rows []domain.ExportRow
	for _, s := range domain.AllAssetStates {
		a := laptop()
		a.State = s
		rows = append(rows, domain.ExportRow{Asset: a})
	}
	recs := export(t, domain.ExportAssets, domain.ProfileServiceNow, rows...)
	status, sub, state := slices.Index(recs[0], "install_status"), slices.Index(recs[0], "substatus"),
		slices.Index(recs[0], "u_custody_state")
	for i, s := range domain.AllAssetStates {
		rec := recs[i+1]
		if _, ok := serviceNowStates[s]; !ok {
			t.Errorf("%s is not mapped", s)
		}
		if rec[state] != string(s) {
			t.Errorf("%s: u_custody_state = %q", s, rec[state])
		}
		choices, ok := snSubstatuses[rec[status]]
		if !ok {
			t.Errorf("%s: install_status %q is not a ServiceNow choice", s, rec[status])
		} else if !slices.Contains(choices, rec[sub]) {
			t.Errorf("%s: substatus %q is not offered under install_status %s", s, rec[sub], rec[status])
		}
		if w, ok := want[s]; !ok {
			t.Errorf("the test does not expect state %s: add it", s)
		} else if got := [2]string{rec[status], rec[sub]}; got != w {
			t.Errorf("%s maps to %q, want %q", s, got, w)
		}
	}

	// A SERIALIZED asset that is meant for someone is reserved for them.
	a := laptop()
	a.State, a.IntendedRecipientID = domain.StateSerialized, "p1"
	rec := export(t, domain.ExportAssets, domain.ProfileServiceNow, domain.ExportRow{Asset: a})[1]
	if rec[status] != "6" || rec[sub] != "reserved" {
		t.Errorf("SERIALIZED with a recipient: %s/%s, want 6/reserved", rec[status], rec[sub])
	}
}

// dangerous is every character a spreadsheet may read as the start of a
// formula.
const dangerous = "=+-@\t\r"

func TestInjection(t *testing.T) {
	for _, c := range dangerous {
		payload := string(c) + "HYPERLINK(\"http://evil\",\"x\")"
		// The writer quotes the cell, then makes it one line.
		want := "'" + strings.ReplaceAll(payload, "\r", " ")
		t.Run(fmt.Sprintf("%q", c), func(t *testing.T) {
			r := eventRow()
			r.Person.Name = payload
			r.Event.Location = payload
			r.Asset.Serial = payload
			for _, tc := range []struct {
				kind    domain.ExportKind
				profile domain.ExportProfile
				cols    []string
			}{
				{domain.ExportCustodyLog, domain.ProfileDefault, []string{"person_name", "location", "serial"}},
				{domain.ExportHandOffs, domain.ProfileDefault, []string{"person_name", "location", "serial"}},
				{domain.ExportHandOffs, domain.ProfileServiceNow, []string{"location", "serial_number"}},
			} {
				recs := export(t, tc.kind, tc.profile, r)
				for _, col := range tc.cols {
					if got := recs[1][slices.Index(recs[0], col)]; got != want {
						t.Errorf("%s/%s %s = %q, want %q", tc.kind, tc.profile, col, got, want)
					}
				}
			}
		})
	}
}

// TestNoCellStartsAFormula fills every text field of every kind's records
// with a formula and checks that no cell of any profile starts one, derived
// cells (joined or prefixed values) included.
func TestNoCellStartsAFormula(t *testing.T) {
	evil := func(i int) string { return string(dangerous[i%len(dangerous)]) + "cmd|' /C calc'!A0" }
	r := eventRow()
	c, cr := caseRow(), certRow()
	r.Case, r.Item, r.Certificate, r.Order, r.Line, r.Sanitization = c.Case, c.Item, cr.Certificate, cr.Order, cr.Line, cr.Sanitization
	texts := []*string{&r.Person.EmployeeID, &r.Person.Name, &r.Person.Email, &r.Person.Department,
		&r.Asset.ID, &r.Asset.Serial, &r.Asset.AssetTag, &r.Asset.Make, &r.Asset.Model, &r.Asset.Category,
		&r.Asset.ITAMRef, &r.Asset.Condition, &r.Event.ID, &r.Event.Location, &r.Event.SignatureID,
		&r.Actor.Name, &r.Signature.TypedName, &r.Signature.ConsentVersion, &r.Signature.ConsentSHA256,
		&r.Signature.ImageSHA256, &r.Case.ID, &r.Item.AssetID, &r.Item.WriteOffReason, &r.Certificate.Number,
		&r.Certificate.OrderID, &r.VendorName, &r.Line.Serial, &r.Line.AssetTag, &r.Line.Make, &r.Line.Model,
		&r.Sanitization.Technique, &r.Sanitization.Tool, &r.Sanitization.ToolVersion,
		&r.Sanitization.VerificationMethod, &r.Sanitization.TechnicianName, &r.Sanitization.ValidatorName,
		&r.Line.Outcome.DownstreamVendor}
	for i, p := range texts {
		*p = evil(i)
	}
	r.Event.Details = map[string]string{"-note": "=1+1"}
	for s := range profiles {
		recs := export(t, s.kind, s.profile, r)
		for i, cell := range recs[1] {
			if cell != "" && strings.ContainsRune(dangerous, rune(cell[0])) {
				t.Errorf("%s/%s %s = %q starts a formula", s.kind, s.profile, recs[0][i], cell)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	r := eventRow()
	r.Person.Name = `Müller, "Ada"`
	r.Event.Location = "Floor 3,\nDesk 4"
	r.Event.Details = map[string]string{"note": "said \"fine\",\r\nthen left", "reason": "a;b=c"}
	second := eventRow()
	second.Event.Seq = 43
	recs := export(t, domain.ExportCustodyLog, domain.ProfileDefault, r, second)
	col := func(name string) string { return recs[1][slices.Index(recs[0], name)] }
	for name, want := range map[string]string{
		"person_name": `Müller, "Ada"`,
		"location":    "Floor 3, Desk 4", // one line per cell
		"details":     `note=said "fine", then left; reason=a;b=c`,
	} {
		if got := col(name); got != want {
			t.Errorf("%s read back as %q, want %q", name, got, want)
		}
	}
	if recs[2][0] != "43" {
		t.Errorf("the row after the multi-line cells reads seq %q", recs[2][0])
	}
}

func TestBOM(t *testing.T) {
	for _, bom := range []bool{false, true} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, domain.ExportAssets, domain.ProfileServiceNow, bom)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		want := "asset_tag,serial_number,manufacturer,model_id,model_category,install_status,substatus,assigned_to,assigned,u_custody_state,u_bears_data,sys_updated_on\n"
		if bom {
			want = "\xef\xbb\xbf" + want
		}
		if buf.String() != want {
			t.Errorf("bom=%v: output %q, want %q", bom, buf.String(), want)
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	if _, err := NewWriter(failingWriter{}, domain.ExportCustodyLog, domain.ProfileDefault, true); err == nil ||
		!strings.Contains(err.Error(), "disk full") {
		t.Errorf("NewWriter with a byte order mark on a failing writer: %v", err)
	}
	w, err := NewWriter(failingWriter{}, domain.ExportCustodyLog, domain.ProfileDefault, false) // the header is buffered
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(eventRow()); err != nil {
		t.Fatalf("a buffered write failed: %v", err)
	}
	if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Flush on a failing writer: %v", err)
	}
}

// TestConstantMemoryPerRow checks what the benchmark shows: a custody-log
// row costs at most one allocation (the string its formatted cells share),
// however many rows came before.
func TestConstantMemoryPerRow(t *testing.T) {
	w, err := NewWriter(io.Discard, domain.ExportCustodyLog, domain.ProfileDefault, false)
	if err != nil {
		t.Fatal(err)
	}
	r := eventRow()
	allocs := testing.AllocsPerRun(2000, func() {
		r.Event.Seq++
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("a custody-log row costs %.0f allocations, want at most 1", allocs)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkWriter writes 100,000 custody-log rows per iteration, cycling
// through a thousand distinct events, to io.Discard.
func BenchmarkWriter(b *testing.B) {
	const rows = 100_000
	src := make([]domain.ExportRow, 1000)
	for i := range src {
		r := eventRow()
		r.Event.ID = fmt.Sprintf("0195e4c2-7a1b-7c3d-8e4f-%012d", i)
		r.Asset.Serial = fmt.Sprintf("PF3ABC%05d", i)
		r.Asset.AssetTag = fmt.Sprintf("ACME-%05d", i)
		r.Event.RecordedAt = recorded.Add(time.Duration(i) * time.Second)
		if i%3 == 0 {
			r.Event.Details["note"] = `moved to "Desk 4", floor 3`
		}
		src[i] = r
	}
	b.ReportAllocs()
	for b.Loop() {
		w, err := NewWriter(io.Discard, domain.ExportCustodyLog, domain.ProfileDefault, true)
		if err != nil {
			b.Fatal(err)
		}
		for i := range rows {
			r := src[i%len(src)]
			r.Event.Seq = int64(i + 1)
			if err := w.Write(r); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	perRow := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / rows
	b.ReportMetric(perRow, "ns/row")
	b.ReportMetric(1e9/perRow, "rows/s")
}
