package exportcsv

import (
	"github.com/custody-dev/custody/domain"
)

// column is one column of a profile: its header name and how a row fills
// it. Each cell function adds exactly one cell.
type column struct {
	name string
	cell func(b *builder, r *domain.ExportRow)
}

// shape is a kind in a profile.
type shape struct {
	kind    domain.ExportKind
	profile domain.ExportProfile
}

// profiles holds every column set. The pairs must be exactly those
// domain.ProfileKinds allows (a test checks).
var profiles = map[shape][]column{
	{domain.ExportCustodyLog, domain.ProfileDefault}:         custodyLogDefault,
	{domain.ExportHandOffs, domain.ProfileDefault}:           handOffsDefault,
	{domain.ExportHandOffs, domain.ProfileServiceNow}:        handOffsServiceNow,
	{domain.ExportAssets, domain.ProfileDefault}:             assetsDefault,
	{domain.ExportAssets, domain.ProfileServiceNow}:          assetsServiceNow,
	{domain.ExportOffboarding, domain.ProfileDefault}:        offboardingDefault,
	{domain.ExportOffboarding, domain.ProfileSuccessFactors}: offboardingSuccessFactors,
	{domain.ExportCertificates, domain.ProfileDefault}:       certificatesDefault,
}

// Zero records stand in for the ones a row does not have, so a cell
// function reads a field without checking for nil and a missing record
// gives empty cells. They are never written to.
var (
	noEvent     domain.CustodyEvent
	noAsset     domain.Asset
	noPerson    domain.Person
	noMember    domain.Member
	noSignature domain.Signature
	noCase      domain.OffboardingCase
	noItem      domain.CaseItem
	noCert      domain.Certificate
	noLine      domain.PickupLine
	noSanitize  domain.SanitizationRecord
)

// or returns p, or zero when p is nil.
func or[T any](p, zero *T) *T {
	if p != nil {
		return p
	}
	return zero
}

func event(r *domain.ExportRow) *domain.CustodyEvent { return or(r.Event, &noEvent) }
func asset(r *domain.ExportRow) *domain.Asset        { return or(r.Asset, &noAsset) }
func person(r *domain.ExportRow) *domain.Person      { return or(r.Person, &noPerson) }
func actor(r *domain.ExportRow) *domain.Member       { return or(r.Actor, &noMember) }
func signature(r *domain.ExportRow) *domain.Signature {
	return or(r.Signature, &noSignature)
}
func offCase(r *domain.ExportRow) *domain.OffboardingCase { return or(r.Case, &noCase) }
func item(r *domain.ExportRow) *domain.CaseItem           { return or(r.Item, &noItem) }
func cert(r *domain.ExportRow) *domain.Certificate        { return or(r.Certificate, &noCert) }
func line(r *domain.ExportRow) *domain.PickupLine         { return or(r.Line, &noLine) }
func sanitization(r *domain.ExportRow) *domain.SanitizationRecord {
	return or(r.Sanitization, &noSanitize)
}

// Cell functions shared by several profiles.
var (
	assetSerial = func(b *builder, r *domain.ExportRow) { b.str(asset(r).Serial) }
	assetTag    = func(b *builder, r *domain.ExportRow) { b.str(asset(r).AssetTag) }
	assetMake   = func(b *builder, r *domain.ExportRow) { b.str(asset(r).Make) }
	assetModel  = func(b *builder, r *domain.ExportRow) { b.str(asset(r).Model) }
	// makeModel is ServiceNow's model_id: a reference to the model
	// (cmdb_model) by display name, which is the manufacturer and the
	// model's name.
	makeModel     = func(b *builder, r *domain.ExportRow) { a := asset(r); b.join(" ", a.Make, a.Model) }
	personEmpID   = func(b *builder, r *domain.ExportRow) { b.str(person(r).EmployeeID) }
	personName    = func(b *builder, r *domain.ExportRow) { b.str(person(r).Name) }
	personEmail   = func(b *builder, r *domain.ExportRow) { b.str(person(r).Email) }
	eventSeq      = func(b *builder, r *domain.ExportRow) { b.int(r.Event != nil, event(r).Seq) }
	eventID       = func(b *builder, r *domain.ExportRow) { b.str(event(r).ID) }
	eventLocation = func(b *builder, r *domain.ExportRow) { b.str(event(r).Location) }
)

// custodyLogDefault: one row per event of the custody log. The person is
// the event's person custodian (the receiver, else the sender); custodians
// read "KIND:ref" (builder.custodian); details "key=value; ..." by key.
var custodyLogDefault = []column{
	{"seq", eventSeq},
	{"event_id", eventID},
	{"recorded_at", func(b *builder, r *domain.ExportRow) { b.time(event(r).RecordedAt, layoutDefault) }},
	{"type", func(b *builder, r *domain.ExportRow) { b.str(string(event(r).Type)) }},
	{"serial", assetSerial},
	{"asset_tag", assetTag},
	{"model", assetModel},
	{"from_state", func(b *builder, r *domain.ExportRow) { b.str(string(event(r).FromState)) }},
	{"to_state", func(b *builder, r *domain.ExportRow) { b.str(string(event(r).ToState)) }},
	{"from_custodian", func(b *builder, r *domain.ExportRow) { b.custodian(event(r).FromCustodian, r.Person) }},
	{"to_custodian", func(b *builder, r *domain.ExportRow) { b.custodian(event(r).ToCustodian, r.Person) }},
	{"employee_id", personEmpID},
	{"person_name", personName},
	{"location", eventLocation},
	{"actor", func(b *builder, r *domain.ExportRow) { b.str(actor(r).Name) }},
	{"device_time", func(b *builder, r *domain.ExportRow) { b.timePtr(event(r).DeviceTime, layoutDefault) }},
	{"signature_id", func(b *builder, r *domain.ExportRow) { b.str(event(r).SignatureID) }},
	{"details", func(b *builder, r *domain.ExportRow) { b.details(event(r).Details) }},
}

// handOffsDefault: one row per signed hand-off with the signature's
// evidence (the image and consent text are referred to by their hashes).
// handed_off_at is when the server recorded the hand-off, signed_at when
// the person signed; handed_off_by is the member who recorded it.
var handOffsDefault = []column{
	{"seq", eventSeq},
	{"handed_off_at", func(b *builder, r *domain.ExportRow) { b.time(event(r).RecordedAt, layoutDefault) }},
	{"serial", assetSerial},
	{"asset_tag", assetTag},
	{"make", assetMake},
	{"model", assetModel},
	{"employee_id", personEmpID},
	{"person_name", personName},
	{"email", personEmail},
	{"location", eventLocation},
	{"handed_off_by", func(b *builder, r *domain.ExportRow) { b.str(actor(r).Name) }},
	{"signed_name", func(b *builder, r *domain.ExportRow) { b.str(signature(r).TypedName) }},
	{"signed_at", func(b *builder, r *domain.ExportRow) { b.time(signature(r).SignedAt, layoutDefault) }},
	{"signature_method", func(b *builder, r *domain.ExportRow) { b.str(string(signature(r).Method)) }},
	{"consent_version", func(b *builder, r *domain.ExportRow) { b.str(signature(r).ConsentVersion) }},
	{"consent_sha256", func(b *builder, r *domain.ExportRow) { b.str(signature(r).ConsentSHA256) }},
	{"image_sha256", func(b *builder, r *domain.ExportRow) { b.str(signature(r).ImageSHA256) }},
	{"event_id", eventID},
}

// handOffsServiceNow: each hand-off as an update of the alm_hardware
// record's assignment, for an import set coalescing on asset_tag or
// serial_number. assigned_to references the user by email; assigned is the
// signature's time, as Custody's deployment date (Asset.DeployedAt) is, so
// this export and the ASSETS one agree; the event's time when there is no
// signature on record.
var handOffsServiceNow = []column{
	{"asset_tag", assetTag},
	{"serial_number", assetSerial},
	{"manufacturer", assetMake},
	{"model_id", makeModel},
	{"assigned_to", personEmail},
	{"assigned", func(b *builder, r *domain.ExportRow) {
		t := signature(r).SignedAt
		if t.IsZero() {
			t = event(r).RecordedAt
		}
		b.time(t, layoutServiceNow)
	}},
	{"install_status", func(b *builder, r *domain.ExportRow) {
		if r.Event == nil {
			b.str("")
			return
		}
		b.str(InstallStatusInUse)
	}},
	// In use has no substatus.
	{"substatus", func(b *builder, _ *domain.ExportRow) { b.str("") }},
	{"location", eventLocation},
}

// assetsDefault: the asset register as it stands, one row per asset, with
// the person holding it (if a person does).
var assetsDefault = []column{
	{"asset_id", func(b *builder, r *domain.ExportRow) { b.str(asset(r).ID) }},
	{"serial", assetSerial},
	{"asset_tag", assetTag},
	{"make", assetMake},
	{"model", assetModel},
	{"category", func(b *builder, r *domain.ExportRow) { b.str(asset(r).Category) }},
	{"bears_data", func(b *builder, r *domain.ExportRow) { b.bool(r.Asset != nil, asset(r).BearsData) }},
	{"state", func(b *builder, r *domain.ExportRow) { b.str(string(asset(r).State)) }},
	{"condition", func(b *builder, r *domain.ExportRow) { b.str(asset(r).Condition) }},
	{"holder_employee_id", personEmpID},
	{"holder_name", personName},
	{"holder_email", personEmail},
	{"deployed_at", func(b *builder, r *domain.ExportRow) { b.timePtr(asset(r).DeployedAt, layoutDefault) }},
	{"itam_ref", func(b *builder, r *domain.ExportRow) { b.str(asset(r).ITAMRef) }},
	{"created_at", func(b *builder, r *domain.ExportRow) { b.time(asset(r).CreatedAt, layoutDefault) }},
	{"updated_at", func(b *builder, r *domain.ExportRow) { b.time(asset(r).UpdatedAt, layoutDefault) }},
}

// assetsServiceNow: the alm_hardware columns a ServiceNow hardware export
// has and an import accepts (Custody's importer accepts exactly this
// header). install_status and substatus follow serviceNowStates;
// u_custody_state and u_bears_data are custom fields carrying Custody's
// own state and data flag, so a round trip loses nothing.
var assetsServiceNow = []column{
	{"asset_tag", assetTag},
	{"serial_number", assetSerial},
	{"manufacturer", assetMake},
	{"model_id", makeModel},
	{"model_category", func(b *builder, r *domain.ExportRow) { b.str(asset(r).Category) }},
	{"install_status", func(b *builder, r *domain.ExportRow) { b.str(serviceNowState(r.Asset).installStatus) }},
	{"substatus", func(b *builder, r *domain.ExportRow) { b.str(serviceNowState(r.Asset).substatus) }},
	{"assigned_to", personEmail},
	{"assigned", func(b *builder, r *domain.ExportRow) { b.timePtr(asset(r).DeployedAt, layoutServiceNow) }},
	{"u_custody_state", func(b *builder, r *domain.ExportRow) { b.str(string(asset(r).State)) }},
	{"u_bears_data", func(b *builder, r *domain.ExportRow) { b.bool(r.Asset != nil, asset(r).BearsData) }},
	{"sys_updated_on", func(b *builder, r *domain.ExportRow) { b.time(asset(r).UpdatedAt, layoutServiceNow) }},
}

// offboardingDefault: one row per item of an off-boarding case (a case
// without items has one row with the item's cells empty). case_status is
// the case's status when the export was taken (WithNow).
var offboardingDefault = []column{
	{"case_id", func(b *builder, r *domain.ExportRow) { b.str(offCase(r).ID) }},
	{"employee_id", personEmpID},
	{"person_name", personName},
	{"email", personEmail},
	{"department", func(b *builder, r *domain.ExportRow) { b.str(person(r).Department) }},
	{"last_day", func(b *builder, r *domain.ExportRow) { b.time(offCase(r).LastDay, layoutDate) }},
	{"due_date", func(b *builder, r *domain.ExportRow) { b.time(offCase(r).DueDate, layoutDate) }},
	{"case_state", func(b *builder, r *domain.ExportRow) { b.str(string(offCase(r).State)) }},
	{"case_status", func(b *builder, r *domain.ExportRow) {
		if r.Case == nil {
			b.str("")
			return
		}
		b.str(string(r.Case.Status(b.now)))
	}},
	{"serial", assetSerial},
	{"asset_tag", assetTag},
	{"model", assetModel},
	{"item_status", func(b *builder, r *domain.ExportRow) { b.str(string(item(r).Status)) }},
	{"expected", func(b *builder, r *domain.ExportRow) { b.bool(r.Item != nil, item(r).Expected) }},
	{"resolved_at", func(b *builder, r *domain.ExportRow) { b.timePtr(item(r).ResolvedAt, layoutDefault) }},
	{"write_off", func(b *builder, r *domain.ExportRow) { b.str(string(item(r).WriteOff)) }},
	{"write_off_reason", func(b *builder, r *domain.ExportRow) { b.str(item(r).WriteOffReason) }},
}

// SAP SuccessFactors equipment return statuses (cust_ReturnStatus).
const (
	// ReturnNotApplicable is the status of a case's row when the person
	// held nothing to give back.
	ReturnNotApplicable = "NOT_APPLICABLE"
)

// offboardingSuccessFactors: an SAP SuccessFactors employee equipment
// return, as an MDF custom object: one record per item, keyed by
// externalCode ("<case id>-<asset id>", or the case id for a case without
// items, so a re-import updates rather than duplicates). cust_ReturnStatus
// is the item's status (RETURNED, OUTSTANDING, WRITTEN_OFF) or
// NOT_APPLICABLE; cust_ReturnDate is the day a RETURNED item came back.
var offboardingSuccessFactors = []column{
	{"externalCode", func(b *builder, r *domain.ExportRow) {
		caseID := offCase(r).ID
		if caseID == "" {
			caseID = item(r).CaseID
		}
		b.join("-", caseID, item(r).AssetID)
	}},
	{"userId", personEmpID},
	{"cust_LastWorkingDay", func(b *builder, r *domain.ExportRow) { b.time(offCase(r).LastDay, layoutDate) }},
	{"cust_DueDate", func(b *builder, r *domain.ExportRow) { b.time(offCase(r).DueDate, layoutDate) }},
	{"cust_EquipmentType", func(b *builder, r *domain.ExportRow) { b.str(asset(r).Category) }},
	{"cust_Manufacturer", assetMake},
	{"cust_Model", assetModel},
	{"cust_SerialNumber", assetSerial},
	{"cust_AssetTag", assetTag},
	{"cust_ReturnStatus", func(b *builder, r *domain.ExportRow) {
		switch {
		case r.Item != nil:
			b.str(string(r.Item.Status))
		case r.Case != nil:
			b.str(ReturnNotApplicable)
		default:
			b.str("")
		}
	}},
	{"cust_ReturnDate", func(b *builder, r *domain.ExportRow) {
		if it := item(r); it.Status == domain.ItemReturned {
			b.timePtr(it.ResolvedAt, layoutDate)
			return
		}
		b.str("")
	}},
}

// certificatesDefault: one row per certified asset, as its certificate
// states it: the manifest line's identifiers, the NIST SP 800-88
// sanitization record (empty for an asset that bears no data and was not
// sanitized) and the outcome. verification is the result with the method
// ("PASSED (full read-back)"); outcome_detail is worded as on the PDF
// (domain.OutcomeDetail).
var certificatesDefault = []column{
	{"certificate_number", func(b *builder, r *domain.ExportRow) { b.str(cert(r).Number) }},
	{"issued_at", func(b *builder, r *domain.ExportRow) { b.time(cert(r).IssuedAt, layoutDefault) }},
	{"vendor", func(b *builder, r *domain.ExportRow) { b.str(r.VendorName) }},
	{"order_id", func(b *builder, r *domain.ExportRow) {
		switch {
		case cert(r).OrderID != "":
			b.str(cert(r).OrderID)
		case r.Order != nil && r.Order.ID != "":
			b.str(r.Order.ID)
		default:
			b.str(line(r).OrderID)
		}
	}},
	{"serial", func(b *builder, r *domain.ExportRow) { b.str(line(r).Serial) }},
	{"asset_tag", func(b *builder, r *domain.ExportRow) { b.str(line(r).AssetTag) }},
	{"make", func(b *builder, r *domain.ExportRow) { b.str(line(r).Make) }},
	{"model", func(b *builder, r *domain.ExportRow) { b.str(line(r).Model) }},
	{"bears_data", func(b *builder, r *domain.ExportRow) { b.bool(r.Line != nil, line(r).BearsData) }},
	{"sanitization_method", func(b *builder, r *domain.ExportRow) { b.str(string(sanitization(r).Method)) }},
	{"technique", func(b *builder, r *domain.ExportRow) { b.str(sanitization(r).Technique) }},
	{"tool", func(b *builder, r *domain.ExportRow) { b.str(sanitization(r).Tool) }},
	{"tool_version", func(b *builder, r *domain.ExportRow) { b.str(sanitization(r).ToolVersion) }},
	{"verification", func(b *builder, r *domain.ExportRow) {
		s := sanitization(r)
		from := b.begin()
		b.buf = append(b.buf, s.VerificationResult...)
		if s.VerificationMethod != "" {
			if len(b.buf) > from {
				b.buf = append(b.buf, ' ')
			}
			b.buf = append(b.buf, '(')
			b.buf = append(b.buf, s.VerificationMethod...)
			b.buf = append(b.buf, ')')
		}
		b.end(from)
	}},
	{"performed_at", func(b *builder, r *domain.ExportRow) { b.time(sanitization(r).PerformedAt, layoutDefault) }},
	{"technician", func(b *builder, r *domain.ExportRow) { b.str(sanitization(r).TechnicianName) }},
	{"validator", func(b *builder, r *domain.ExportRow) { b.str(sanitization(r).ValidatorName) }},
	{"outcome", func(b *builder, r *domain.ExportRow) {
		if o := line(r).Outcome; o != nil {
			b.str(string(o.Kind))
			return
		}
		b.str("")
	}},
	{"outcome_detail", func(b *builder, r *domain.ExportRow) {
		if o := line(r).Outcome; o != nil {
			b.str(domain.OutcomeDetail(o))
			return
		}
		b.str("")
	}},
}

// ServiceNow alm_hardware install_status choice values. Values, not labels:
// labels are translated per instance.
const (
	// InstallStatusInUse is "In use".
	InstallStatusInUse = "1"
	// InstallStatusInStock is "In stock".
	InstallStatusInStock = "6"
	// InstallStatusRetired is "Retired".
	InstallStatusRetired = "7"
	// InstallStatusMissing is "Missing".
	InstallStatusMissing = "8"
	// InstallStatusInTransit is "In transit".
	InstallStatusInTransit = "9"
)

// snState is an alm_hardware install_status with its substatus.
type snState struct{ installStatus, substatus string }

// serviceNowStates maps every Custody asset state to ServiceNow's
// install_status and substatus (choice values; the substatus must be one
// ServiceNow offers under that install_status):
//
//	Custody state         install_status   substatus
//	SERIALIZED            6 In stock       available (reserved when it has an intended recipient)
//	AWAITING_COLLECTION   6 In stock       reserved
//	DEPLOYED              1 In use         (none: In use has no substatus)
//	RETURN_RECEIVED       6 In stock       (empty)
//	IN_STOCK              6 In stock       available
//	RETIRED               6 In stock       pending_disposal
//	STAGED                6 In stock       pending_disposal
//	PICKED_UP             9 In transit     pending_disposal
//	AT_VENDOR             7 Retired        pending_disposal
//	SANITIZED             7 Retired        pending_disposal
//	DESTROYED             7 Retired        disposed
//	REMARKETED            7 Retired        (empty)
//	RECYCLED              7 Retired        disposed
//	CLOSED                7 Retired        (empty)
//	LOST                  8 Missing        lost
//	STOLEN                8 Missing        stolen
//
// Why: ServiceNow reads In stock + Pending disposal as "no longer used, in
// the stockroom waiting to be disposed of", which is a RETIRED or STAGED
// asset still on the premises; Retired is for what has left the company's
// hands, so the asset becomes Retired when the vendor has it, Pending
// disposal until its outcome is known. On the vendor's truck (PICKED_UP)
// it is In transit, which offers Pending disposal too. A RETURN_RECEIVED
// asset is back but not yet assessed: no substatus says so in every
// ServiceNow release, so it is left empty. A REMARKETED asset was sold or
// reused as is (donated), and a CLOSED one could have had any outcome: the
// asset record does not say which, so the substatus is left empty; the
// disposition write-back (package itamcsv) states it per line. An empty
// substatus leaves ServiceNow's value alone when the import does not copy
// empty fields, its default. Custody has no state for On order (2), In
// maintenance (3) or Consumed (10): it knows an asset only once it arrives.
// u_custody_state carries the exact state in any case.
var serviceNowStates = map[domain.AssetState]snState{
	domain.StateSerialized:         {InstallStatusInStock, "available"},
	domain.StateAwaitingCollection: {InstallStatusInStock, "reserved"},
	domain.StateDeployed:           {InstallStatusInUse, ""},
	domain.StateReturnReceived:     {InstallStatusInStock, ""},
	domain.StateInStock:            {InstallStatusInStock, "available"},
	domain.StateRetired:            {InstallStatusInStock, "pending_disposal"},
	domain.StateStaged:             {InstallStatusInStock, "pending_disposal"},
	domain.StatePickedUp:           {InstallStatusInTransit, "pending_disposal"},
	domain.StateAtVendor:           {InstallStatusRetired, "pending_disposal"},
	domain.StateSanitized:          {InstallStatusRetired, "pending_disposal"},
	domain.StateDestroyed:          {InstallStatusRetired, "disposed"},
	domain.StateRemarketed:         {InstallStatusRetired, ""},
	domain.StateRecycled:           {InstallStatusRetired, "disposed"},
	domain.StateClosed:             {InstallStatusRetired, ""},
	domain.StateLost:               {InstallStatusMissing, "lost"},
	domain.StateStolen:             {InstallStatusMissing, "stolen"},
}

// serviceNowState is an asset's ServiceNow state: serviceNowStates, with a
// SERIALIZED asset that is meant for someone reserved for them. A missing
// asset or an unknown state gives empty cells, which an import leaves
// alone.
func serviceNowState(a *domain.Asset) snState {
	if a == nil {
		return snState{}
	}
	s := serviceNowStates[a.State]
	if a.State == domain.StateSerialized && a.IntendedRecipientID != "" {
		s.substatus = "reserved"
	}
	return s
}
