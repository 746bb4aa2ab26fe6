package importcsv

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/custody-dev/custody/domain"
)

// AssetProfile names the column set an asset file is read with.
type AssetProfile string

// Asset profiles. The package comment lists each one's columns.
const (
	// ProfileServiceNow is a ServiceNow hardware asset (alm_hardware)
	// export, including Custody's own SERVICENOW export of the asset
	// register, which it reads back without edits.
	ProfileServiceNow AssetProfile = "servicenow"
	// ProfileLansweeper is a Lansweeper asset report exported as CSV.
	ProfileLansweeper AssetProfile = "lansweeper"
	// ProfileCustody is Custody's own DEFAULT export of the asset register.
	ProfileCustody AssetProfile = "custody"
	// ProfileMapping is any CSV, read through a mapping from Custody's
	// fields to the file's column names (ParseMapping).
	ProfileMapping AssetProfile = "mapping"
)

// AssetProfiles lists every asset profile, for validation and help texts.
var AssetProfiles = []AssetProfile{ProfileServiceNow, ProfileLansweeper, ProfileCustody, ProfileMapping}

// ParseAssetProfile reads a profile name, ignoring case.
func ParseAssetProfile(s string) (AssetProfile, error) {
	p := AssetProfile(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(AssetProfiles, p) {
		return "", fmt.Errorf("importcsv: unknown asset profile %q: use one of %s", s, joinProfiles())
	}
	return p, nil
}

func joinProfiles() string {
	names := make([]string, len(AssetProfiles))
	for i, p := range AssetProfiles {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// field is what a column gives: one of AssetRow's or PersonRow's fields.
type field uint8

const (
	fNone field = iota
	fSerial
	fTag
	fMake
	fModel
	// fModelRef is ServiceNow's model reference: the manufacturer's name,
	// a space and the model's (exportcsv's model_id), or a model name
	// that does not start with the manufacturer.
	fModelRef
	fCategory
	fBearsData
	// fAssignee and fAssigneeAlt both give AssetRow.Assignee; the second
	// is read when the first is empty (Custody's export has the holder's
	// employee id and email).
	fAssignee
	fAssigneeAlt
	fITAMRef
	fInstallStatus
	fState
	fCondition
	fEmployeeID
	fName
	fFirstName
	fLastName
	fEmail
	fDepartment
	fStatus
	nFields
)

// fieldInfo is how a field is named in messages and mappings and the
// longest value it takes, in bytes: the domain's limit where it has one
// (domain.validateNewAssets, CreatePerson), else 200.
var fieldInfo = [nFields]struct {
	name string
	max  int
}{
	fSerial: {"serial", 100},
	fTag:    {"asset tag", 100},
	fMake:   {"make", 100},
	fModel:  {"model", 200},
	// The manufacturer (100), a space and the model (200).
	fModelRef:      {"model", 301},
	fCategory:      {"category", 200},
	fBearsData:     {"bears data", 200},
	fAssignee:      {"assignee", 320},
	fAssigneeAlt:   {"assignee", 320},
	fITAMRef:       {"ITAM reference", 200},
	fInstallStatus: {"install status", 200},
	fState:         {"state", 200},
	fCondition:     {"condition", 200},
	fEmployeeID:    {"employee id", 100},
	fName:          {"name", 200},
	fFirstName:     {"first name", 200},
	fLastName:      {"last name", 200},
	fEmail:         {"email", 320},
	fDepartment:    {"department", 200},
	fStatus:        {"status", 200},
}

// column is a header a profile reads: its spellings (the first is the one
// messages and documentation use) and the field it gives.
type column struct {
	names []string
	f     field
}

// spec is a profile's header rules.
type spec struct {
	name    string
	columns []column
	// ignored are columns a strict profile accepts and does not read.
	ignored []string
	// strict refuses a column that is neither read nor ignored: in a file
	// of a known shape, an unknown column means the wrong file or a
	// renamed field, which would otherwise be lost silently.
	strict bool
	// strictCategory reads categories as Custody's own names only.
	strictCategory bool
	// serviceNowStatus normalises install_status labels to choice values.
	serviceNowStatus bool
	// required are fields whose column must be in the header; at least
	// one of anyOf must be too.
	required []field
	anyOf    []field
}

// key is a header cell as profiles compare it: without a table prefix
// ("tblAssetCustom.Serialnumber" is "Serialnumber", the name a Lansweeper
// report gives a column it was not given an alias for), lower case,
// without spaces, underscores, hyphens or dots, so "Serial number",
// "serial_number" and "SerialNumber" are the same column.
func key(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '.'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToLower(s) {
		switch r {
		case ' ', '_', '-', '.', '\t':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// serviceNowSpec reads the alm_hardware columns of Custody's SERVICENOW
// asset export (exportcsv.Columns(domain.ExportAssets,
// domain.ProfileServiceNow)) and the ones a ServiceNow list export of
// alm_hardware commonly has. The ignored fields are those of the Hardware
// Asset form, as documented at
// https://www.servicenow.com/docs/r/it-asset-management/hardware-asset-management/asset-record-fields.html
// (by their column names), and the system fields every table has.
var serviceNowSpec = spec{
	name: string(ProfileServiceNow),
	columns: []column{
		{[]string{"asset_tag"}, fTag},
		{[]string{"serial_number"}, fSerial},
		{[]string{"manufacturer"}, fMake},
		// Custody's export says model_id; alm_hardware's own field is
		// model. Both reference the model by its display name.
		{[]string{"model_id", "model"}, fModelRef},
		{[]string{"model_category"}, fCategory},
		{[]string{"install_status"}, fInstallStatus},
		{[]string{"assigned_to"}, fAssignee},
		{[]string{"u_custody_state"}, fState},
		{[]string{"u_bears_data"}, fBearsData},
		{[]string{"sys_id"}, fITAMRef},
	},
	ignored: []string{
		// Written by Custody's export: the substatus follows from the
		// state, assigned is the deployment date the hand-off recorded,
		// sys_updated_on is when the record last changed.
		"substatus", "assigned", "sys_updated_on",
		"display_name", "ci", "quantity", "asset_function", "sys_class_name", "comments", "stockroom",
		"managed_by", "owned_by", "parent", "location", "department", "company", "install_date",
		"request_line", "invoice_number", "cost", "vendor", "opened", "gl_account", "cost_center",
		"acquisition_method", "expenditure_type", "po_number", "purchase_date", "order_date",
		"disposal_reason", "beneficiary", "resale_price", "retirement_date", "retired",
		"depreciation", "depreciation_date", "salvage_value", "residual", "residual_date",
		"lease_id", "warranty_expiration", "support_group",
		"sys_created_on", "sys_created_by", "sys_updated_by", "sys_mod_count", "sys_domain", "sys_tags",
	},
	strict:           true,
	serviceNowStatus: true,
	anyOf:            []field{fSerial, fTag},
}

// lansweeperSpec reads a Lansweeper asset report. Lansweeper's reports are
// SQL over its database and export their columns under the field names
// (or aliases) of its tables: tblAssets.AssetID and AssetName,
// tsysAssetTypes.AssetTypename, tblAssetCustom.Serialnumber, Manufacturer,
// Model, BarCode and State, as in the report views at
// https://help.ivanti.com/ch/help/en_US/CSM/10.5/documentation_bundle/mapps_and_integrations/csm_intergrations/lansweeper_integration-_view_examples.html
// and Lansweeper's own "How Lansweeper uniquely identifies assets"
// (https://community.lansweeper.com/t5/scanning-your-network/how-lansweeper-uniquely-identifies-assets/ta-p/64370).
// The variants are the labels Lansweeper's web console shows.
//
// Unknown columns are ignored: a report carries whatever its author
// selected (IP and MAC addresses, OS, warranty dates, custom fields), and
// none of it is Custody's. tblAssets.Username is deliberately not read:
// it is the last account that logged on, not the person accountable for
// the device, and importing it would record hand-offs that never
// happened; use the mapping profile to read an assignee from a column
// that says who holds the asset.
var lansweeperSpec = spec{
	name: string(ProfileLansweeper),
	columns: []column{
		{[]string{"Serialnumber", "Serial", "Serial number"}, fSerial},
		// BarCode is the asset-tag field of Lansweeper's asset pages.
		{[]string{"BarCode", "AssetTag", "Asset tag"}, fTag},
		{[]string{"Manufacturer"}, fMake},
		{[]string{"Model"}, fModel},
		{[]string{"AssetTypename", "Type"}, fCategory},
		// tblAssetCustom.State, or tblState.Statename: as given.
		{[]string{"State", "Statename"}, fInstallStatus},
		{[]string{"AssetID"}, fITAMRef},
	},
	anyOf: []field{fSerial, fTag},
}

// custodySpec reads Custody's DEFAULT asset export
// (exportcsv.Columns(domain.ExportAssets, domain.ProfileDefault)).
var custodySpec = spec{
	name: string(ProfileCustody),
	columns: []column{
		{[]string{"serial"}, fSerial},
		{[]string{"asset_tag"}, fTag},
		{[]string{"make"}, fMake},
		{[]string{"model"}, fModel},
		{[]string{"category"}, fCategory},
		{[]string{"bears_data"}, fBearsData},
		{[]string{"state"}, fState},
		{[]string{"condition"}, fCondition},
		{[]string{"holder_employee_id"}, fAssignee},
		{[]string{"holder_email"}, fAssigneeAlt},
		{[]string{"itam_ref"}, fITAMRef},
	},
	// asset_id is the asset's id in the tenant it was exported from; the
	// holder's name is the person record's; the times are the source
	// tenant's records, which an import does not rewrite.
	ignored:        []string{"asset_id", "holder_name", "deployed_at", "created_at", "updated_at"},
	strict:         true,
	strictCategory: true,
	anyOf:          []field{fSerial, fTag},
}

// hrisSpec reads an HRIS export of people.
var hrisSpec = spec{
	name: "hris",
	columns: []column{
		{[]string{"employee_id", "employeeId", "userId", "employee_number", "person_id_external", "worker_id"}, fEmployeeID},
		{[]string{"name", "full_name", "display_name", "employee_name"}, fName},
		{[]string{"first_name", "firstName", "given_name"}, fFirstName},
		{[]string{"last_name", "lastName", "surname", "family_name"}, fLastName},
		{[]string{"email", "e-mail", "email_address", "work_email"}, fEmail},
		{[]string{"department", "dept", "department_name"}, fDepartment},
		{[]string{"status", "employment_status", "employee_status", "emplStatus"}, fStatus},
	},
	ignored: []string{
		"title", "job_title", "manager", "manager_id", "manager_email", "location", "office", "phone", "mobile",
		"hire_date", "start_date", "termination_date", "end_date", "last_day", "cost_center", "company",
		"division", "country", "employee_type", "middle_name", "preferred_name",
	},
	strict:   true,
	required: []field{fEmployeeID, fEmail},
}

// mappingFields are the field names a mapping uses, with their synonyms.
var mappingFields = map[string]field{
	"serial": fSerial, "serial_number": fSerial,
	"tag": fTag, "asset_tag": fTag,
	"make": fMake, "manufacturer": fMake,
	"model":          fModel,
	"category":       fCategory,
	"bears_data":     fBearsData,
	"assignee":       fAssignee,
	"itam_ref":       fITAMRef,
	"install_status": fInstallStatus,
	"state":          fState,
	"condition":      fCondition,
}

// mappingFieldNames is the list of mapping fields for messages.
const mappingFieldNames = "serial, tag, make, model, category, bears_data, assignee, itam_ref, install_status, state, condition"

// ParseMapping reads a mapping written as "field=Column,field=Column",
// for instance "serial=Serial No,tag=Tag,make=Vendor,model=Model". Spaces
// around names are ignored; a column name cannot contain a comma. The
// fields are those of mappingFields: serial, tag, make, model, category,
// bears_data, assignee, itam_ref, install_status, state, condition.
func ParseMapping(s string) (map[string]string, error) {
	m := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		f, col, ok := strings.Cut(part, "=")
		f, col = strings.TrimSpace(f), strings.TrimSpace(col)
		if !ok || f == "" || col == "" {
			return nil, fmt.Errorf("importcsv: mapping %q: write each entry as field=Column", part)
		}
		if _, dup := m[f]; dup {
			return nil, fmt.Errorf("importcsv: mapping: field %q is mapped twice", f)
		}
		m[f] = col
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("importcsv: the mapping is empty: map at least serial or tag, as serial=Serial No")
	}
	return m, nil
}

// mappingSpec builds the spec of a user's mapping. The file's other
// columns are ignored: the user named the ones that matter.
func mappingSpec(mapping map[string]string) (spec, error) {
	if len(mapping) == 0 {
		return spec{}, &FileError{Message: "the mapping profile needs a mapping from fields to columns, as serial=Serial No,tag=Tag"}
	}
	s := spec{name: string(ProfileMapping), anyOf: []field{fSerial, fTag}}
	fields := make([]string, 0, len(mapping))
	for f := range mapping {
		fields = append(fields, f)
	}
	sort.Strings(fields) // messages in a stable order
	seen := map[field]string{}
	cols := map[string]string{}
	for _, name := range fields {
		f, ok := mappingFields[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			return spec{}, &FileError{Message: fmt.Sprintf("the mapping names an unknown field %q: use %s", name, mappingFieldNames)}
		}
		if other, dup := seen[f]; dup {
			return spec{}, &FileError{Message: fmt.Sprintf("the mapping gives the %s twice (%s and %s)", fieldInfo[f].name, other, name)}
		}
		seen[f] = name
		col := strings.TrimSpace(mapping[name])
		if key(col) == "" {
			return spec{}, &FileError{Message: fmt.Sprintf("the mapping gives no column for %s", name)}
		}
		if other, dup := cols[key(col)]; dup {
			return spec{}, &FileError{Message: fmt.Sprintf("the mapping reads column %q for both %s and %s", col, other, name)}
		}
		cols[key(col)] = name
		s.columns = append(s.columns, column{[]string{col}, f})
		// A mapped column must be in the file: a typo in the mapping
		// would otherwise import every row without that field.
		s.required = append(s.required, f)
	}
	if seen[fSerial] == "" && seen[fTag] == "" {
		return spec{}, &FileError{Message: "the mapping must give the serial or the asset tag (serial=... or tag=...)"}
	}
	return s, nil
}

// specFor returns the spec of an asset profile.
func specFor(profile AssetProfile, mapping map[string]string) (spec, error) {
	if profile != ProfileMapping && len(mapping) > 0 {
		return spec{}, fmt.Errorf("importcsv: a column mapping is only read with the mapping profile, not %q", profile)
	}
	switch profile {
	case ProfileServiceNow:
		return serviceNowSpec, nil
	case ProfileLansweeper:
		return lansweeperSpec, nil
	case ProfileCustody:
		return custodySpec, nil
	case ProfileMapping:
		return mappingSpec(mapping)
	}
	return spec{}, fmt.Errorf("importcsv: unknown asset profile %q: use one of %s", profile, joinProfiles())
}

// Categories. A category cell is read in two ways. Custody's own names
// (LAPTOP, DESKTOP...) are read as they are, in any case; the custody
// profile reads nothing else. The other profiles also read other systems'
// names by their words: ServiceNow's model categories ("Computer", "Server",
// "Computer Peripheral", "Network Gear", "IP Phone", "Handheld Computing",
// "Storage Device"...) and Lansweeper's asset types ("Windows", "Linux",
// "Apple Mac", "Monitor", "Printer", "Switch", "Router", "Wireless Access
// point", "NAS", "iPhone", "Android", "Tablet", "VMware Guest"...). Where
// several words match, the first rule below wins: "Computer Peripheral" is
// a peripheral, "Windows Server" a server. A name no rule knows is OTHER.
//
// Lansweeper's OS-named types (Windows, Linux, Apple Mac) and ServiceNow's
// "Computer" do not say laptop or desktop; they are read as DESKTOP. Both
// bear data, which is what custody and disposition depend on.
// A virtual machine is refused: Custody tracks physical equipment.
var categoryRules = []struct {
	cat   domain.AssetCategory
	words []string
}{
	{"", []string{"virtual", "vm", "vmware", "hyperv", "guest"}},
	{domain.CategoryPeripheral, []string{"peripheral", "peripherals", "printer", "printers", "keyboard", "mouse",
		"dock", "docking", "headset", "webcam", "scanner", "projector", "accessory", "accessories", "ups"}},
	{domain.CategoryMonitor, []string{"monitor", "monitors", "display", "displays", "screen"}},
	{domain.CategoryTablet, []string{"tablet", "tablets", "ipad"}},
	{domain.CategoryLaptop, []string{"laptop", "laptops", "notebook", "notebooks", "macbook", "chromebook", "portable"}},
	{domain.CategoryPhone, []string{"phone", "phones", "smartphone", "iphone", "android", "mobile", "handheld", "cell"}},
	{domain.CategoryServer, []string{"server", "servers", "blade"}},
	{domain.CategoryStorageMedia, []string{"storage", "disk", "drive", "hdd", "ssd", "nas", "san", "tape", "usb"}},
	{domain.CategoryNetwork, []string{"network", "switch", "router", "firewall", "wireless", "wifi", "access",
		"gateway", "gear"}},
	{domain.CategoryDesktop, []string{"desktop", "desktops", "workstation", "computer", "computers", "pc", "windows",
		"linux", "mac", "unix", "chromeos", "thin", "client"}},
}

// categoryWords indexes categoryRules by word: the rule's position.
var categoryWords = func() map[string]int {
	m := map[string]int{}
	for i, r := range categoryRules {
		for _, w := range r.words {
			m[w] = i
		}
	}
	return m
}()

// allCategories is the list of Custody's categories for messages.
var allCategories = []domain.AssetCategory{domain.CategoryLaptop, domain.CategoryDesktop, domain.CategoryPhone,
	domain.CategoryTablet, domain.CategoryMonitor, domain.CategoryServer, domain.CategoryNetwork,
	domain.CategoryStorageMedia, domain.CategoryPeripheral, domain.CategoryOther}

// category reads a category cell. ok is false with a message when the
// cell cannot be read; printer is set when the words name a printer.
func category(v string, strict bool) (cat domain.AssetCategory, printer bool, msg string) {
	up := domain.AssetCategory(strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(v), " ", "_")))
	if up.Valid() {
		return up, false, ""
	}
	if strict {
		return "", false, fmt.Sprintf("unknown category %q: use one of %s", v, categoryList())
	}
	best := len(categoryRules)
	for _, w := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool {
		return r == ' ' || r == '_' || r == '-' || r == '/' || r == '(' || r == ')' || r == ',' || r == '&' || r == '.'
	}) {
		if i, ok := categoryWords[w]; ok && i < best {
			best = i
		}
		if w == "printer" || w == "printers" || w == "mfp" || w == "copier" {
			printer = true
		}
	}
	switch {
	case best == 0:
		return "", false, fmt.Sprintf("%q is a virtual machine: Custody tracks physical equipment only", v)
	case best == len(categoryRules):
		return domain.CategoryOther, printer, ""
	}
	return categoryRules[best].cat, printer, ""
}

func categoryList() string {
	s := make([]string, len(allCategories))
	for i, c := range allCategories {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// bearsDataByDefault says whether equipment of a category stores data,
// for a file that does not say. Computers, phones, tablets, servers and
// storage do; so does network gear (configurations, keys and credentials)
// and, to be safe, equipment of no known category: taking a data-bearing
// asset for an inert one is what leaks data at disposal, while the other
// mistake costs a sanitization record. Monitors and peripherals do not,
// except printers: a multifunction printer keeps scans and print jobs on
// its disk.
func bearsDataByDefault(c domain.AssetCategory, printer bool) bool {
	switch c {
	case domain.CategoryMonitor:
		return false
	case domain.CategoryPeripheral:
		return printer
	}
	return true
}

// ServiceNow install_status labels (English) and their choice values,
// which exportcsv writes. A value is read as it is.
var installStatusLabels = map[string]string{
	"inuse":         "1",
	"onorder":       "2",
	"inmaintenance": "3",
	"instock":       "6",
	"retired":       "7",
	"missing":       "8",
	"intransit":     "9",
	"consumed":      "10",
}

// installStatusNames are the English labels of the choice values, for
// messages.
var installStatusNames = map[string]string{
	"1": "In use", "2": "On order", "3": "In maintenance", "6": "In stock",
	"7": "Retired", "8": "Missing", "9": "In transit", "10": "Consumed",
}

// activeInstallStatus tells the install_status values of an asset the
// company has or is about to have in hand, which an import may create
// (domain.AssetRecord.Inactive): 1 In use, 6 In stock, 9 In transit (on
// its way to a person or a stockroom), 2 On order (it will arrive) and 3 In
// maintenance (it comes back). Every other value, 7 Retired, 8 Missing, 10
// Consumed and any value an instance added, says the asset is gone or
// unknown, and so does not create one.
func activeInstallStatus(v string) bool {
	switch v {
	case "", "1", "2", "3", "6", "9":
		return true
	}
	return false
}

// describeInstallStatus is an install_status value with its label when it
// has one: "7 (Retired)".
func describeInstallStatus(v string) string {
	if name, ok := installStatusNames[v]; ok {
		return v + " (" + name + ")"
	}
	return v
}

// installStatus reads a ServiceNow install_status: a choice value (digits)
// as it is, an English label as its value.
func installStatus(v string) (string, bool) {
	if v == "" {
		return "", true
	}
	if strings.Trim(v, "0123456789") == "" {
		return v, true
	}
	s, ok := installStatusLabels[key(v)]
	return s, ok
}

// HRIS statuses, by key (lower case, no spaces, underscores or hyphens).
// "leaving" and "on notice" are ACTIVE: the person works until their last
// day, and their departure is an off-boarding case, not an HR status.
// Suspended and furloughed people are ON_LEAVE: still employed, away.
var personStatuses = map[string]domain.PersonStatus{
	"active": domain.PersonActive, "employed": domain.PersonActive, "current": domain.PersonActive,
	"working": domain.PersonActive, "hired": domain.PersonActive, "rehired": domain.PersonActive,
	"leaving": domain.PersonActive, "onnotice": domain.PersonActive, "noticeperiod": domain.PersonActive,

	"onleave": domain.PersonOnLeave, "leave": domain.PersonOnLeave, "leaveofabsence": domain.PersonOnLeave,
	"loa": domain.PersonOnLeave, "paidleave": domain.PersonOnLeave, "unpaidleave": domain.PersonOnLeave,
	"parentalleave": domain.PersonOnLeave, "maternityleave": domain.PersonOnLeave,
	"paternityleave": domain.PersonOnLeave, "sickleave": domain.PersonOnLeave, "medicalleave": domain.PersonOnLeave,
	"sabbatical": domain.PersonOnLeave, "suspended": domain.PersonOnLeave, "furlough": domain.PersonOnLeave,
	"furloughed": domain.PersonOnLeave,

	"terminated": domain.PersonTerminated, "inactive": domain.PersonTerminated, "left": domain.PersonTerminated,
	"leaver": domain.PersonTerminated, "former": domain.PersonTerminated, "separated": domain.PersonTerminated,
	"resigned": domain.PersonTerminated, "retired": domain.PersonTerminated, "deceased": domain.PersonTerminated,
	"dismissed": domain.PersonTerminated, "exited": domain.PersonTerminated, "offboarded": domain.PersonTerminated,
	"termed": domain.PersonTerminated, "withdrawn": domain.PersonTerminated,
}

// personStatus reads an HRIS status; "" stays "" (the domain's default,
// ACTIVE, applies when a person is created).
func personStatus(v string) (domain.PersonStatus, bool) {
	if v == "" {
		return "", true
	}
	s, ok := personStatuses[key(v)]
	return s, ok
}
