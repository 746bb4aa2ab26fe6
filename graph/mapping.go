package graph

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/model"
)

// This file maps GraphQL inputs to domain inputs and domain values to the
// GraphQL shapes that differ from them. Global ids are decoded here; an id
// that names nothing of the expected type is reported exactly like a record
// that does not exist in the tenant.

// str dereferences an optional input string.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// optional shows an empty domain string as null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// derefTime dereferences an optional input time; omitted is the zero time,
// which the domain reads as "use the default".
func derefTime(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return *p
}

// ids collects global-id decoding problems as user errors, worded as the
// domain words a record missing from the tenant.
type ids struct{ errs domain.UserErrors }

// one decodes a required global id of type typeName.
func (d *ids) one(typeName, gid, what string, field ...string) string {
	id, ok := idOf(typeName, gid)
	if !ok {
		d.errs.Add(domain.CodeNotFound, what+" not found", field...)
	}
	return id
}

// list decodes global ids of type typeName, naming each bad one by position.
func (d *ids) list(typeName string, gids []string, what string, field ...string) []string {
	out := make([]string, len(gids))
	for i, gid := range gids {
		out[i] = d.one(typeName, gid, what, append(field[:len(field):len(field)], strconv.Itoa(i))...)
	}
	return out
}

func personInput(in model.PersonCreateInput) domain.PersonInput {
	out := domain.PersonInput{EmployeeID: in.EmployeeID, Name: in.Name, Email: in.Email, Department: str(in.Department)}
	if in.Status != nil {
		out.Status = *in.Status
	}
	return out
}

func personPatch(in model.PersonUpdateInput) (domain.PersonPatch, error) {
	var d ids
	return domain.PersonPatch{
		ID:         d.one(typePerson, in.ID, "person", "input", "id"),
		EmployeeID: in.EmployeeID, Name: in.Name, Email: in.Email, Department: in.Department, Status: in.Status,
	}, d.errs.Err()
}

func receiveParcelInput(in model.ParcelReceiveInput) (domain.ReceiveParcelInput, error) {
	var d ids
	out := domain.ReceiveParcelInput{
		Carrier: in.Carrier, TrackingNumber: in.TrackingNumber, Sender: in.Sender,
		Location: in.Location, Note: str(in.Note), DeviceTime: in.DeviceTime,
		IdempotencyKey: str(in.IdempotencyKey),
	}
	if in.RecipientID != nil {
		out.RecipientID = d.one(typePerson, *in.RecipientID, "recipient", "input", "recipientId")
	}
	if in.ReturnCaseID != nil {
		out.ReturnCaseID = d.one(typeOffboardingCase, *in.ReturnCaseID, "off-boarding case", "input", "returnCaseId")
	}
	return out, d.errs.Err()
}

func openCaseInput(in model.OffboardingCaseOpenInput) (domain.OpenCaseInput, error) {
	var d ids
	return domain.OpenCaseInput{
		PersonID: d.one(typePerson, in.PersonID, "person", "input", "personId"),
		LastDay:  in.LastDay, DueDate: derefTime(in.DueDate), Note: str(in.Note), IdempotencyKey: str(in.IdempotencyKey),
	}, d.errs.Err()
}

func writeOffInput(in model.OffboardingItemWriteOffInput) (domain.WriteOffInput, error) {
	var d ids
	return domain.WriteOffInput{
		CaseID:  d.one(typeOffboardingCase, in.CaseID, "off-boarding case", "input", "caseId"),
		AssetID: d.one(typeAsset, in.AssetID, "asset", "input", "assetId"),
		Kind:    in.Kind, Reason: in.Reason, ApprovedBy: str(in.ApprovedBy), IdempotencyKey: str(in.IdempotencyKey),
	}, d.errs.Err()
}

func returnInput(in model.AssetReturnReceiveInput) (domain.ReturnInput, error) {
	var d ids
	out := domain.ReturnInput{
		Serial: str(in.Serial), AssetTag: str(in.AssetTag), Location: in.Location, Condition: in.Condition,
		Note: str(in.Note), DeviceTime: in.DeviceTime, IdempotencyKey: str(in.IdempotencyKey),
	}
	if in.FromPersonID != nil {
		out.FromPersonID = d.one(typePerson, *in.FromPersonID, "person", "input", "fromPersonId")
	}
	if in.ParcelID != nil {
		out.ParcelID = d.one(typeParcel, *in.ParcelID, "parcel", "input", "parcelId")
	}
	if in.Signature != nil {
		sig := signatureInput(in.Signature)
		out.Signature = &sig
	}
	return out, d.errs.Err()
}

// caseFilter maps Query.offboardingCases' filter.
func caseFilter(f *model.OffboardingCaseFilter) (status domain.CaseStatus, personID string, ok bool) {
	if f == nil {
		return "", "", true
	}
	if f.Status != nil {
		status = *f.Status
	}
	if f.PersonID != nil {
		if personID, ok = idOf(typePerson, *f.PersonID); !ok {
			return "", "", false
		}
	}
	return status, personID, true
}

// returnFilter maps Query.assetReturns' filter.
func returnFilter(f *model.AssetReturnFilter) (out domain.ReturnFilter, ok bool) {
	if f == nil {
		return out, true
	}
	out.UnmatchedOnly = f.UnmatchedOnly != nil && *f.UnmatchedOnly
	if f.CaseID != nil {
		if out.CaseID, ok = idOf(typeOffboardingCase, *f.CaseID); !ok {
			return out, false
		}
	}
	if f.AssetID != nil {
		if out.AssetID, ok = idOf(typeAsset, *f.AssetID); !ok {
			return out, false
		}
	}
	return out, true
}

// filterItems keeps a case's items with the given status and expectedness.
func filterItems(items []*domain.CaseItem, status *domain.CaseItemStatus, expected *bool) []*domain.CaseItem {
	out := make([]*domain.CaseItem, 0, len(items))
	for _, it := range items {
		if (status == nil || it.Status == *status) && (expected == nil || it.Expected == *expected) {
			out = append(out, it)
		}
	}
	return out
}

func serializeParcelInput(in model.ParcelSerializeInput) (domain.SerializeParcelInput, error) {
	var d ids
	out := domain.SerializeParcelInput{
		ParcelID:   d.one(typeParcel, in.ParcelID, "parcel", "input", "parcelId"),
		Assets:     make([]domain.NewAsset, len(in.Assets)),
		DeviceTime: in.DeviceTime, IdempotencyKey: str(in.IdempotencyKey),
	}
	for i, a := range in.Assets {
		out.Assets[i] = domain.NewAsset{
			Serial: str(a.Serial), AssetTag: str(a.AssetTag), Make: a.Make, Model: a.Model,
			Category: a.Category, BearsData: a.BearsData, ITAMRef: str(a.ItamRef), Condition: str(a.Condition),
		}
	}
	return out, d.errs.Err()
}

func notifyRecipientInput(in model.RecipientNotifyInput) (domain.NotifyRecipientInput, error) {
	var d ids
	out := domain.NotifyRecipientInput{IdempotencyKey: str(in.IdempotencyKey)}
	if len(in.AssetIds) > 0 {
		out.AssetIDs = d.list(typeAsset, in.AssetIds, "asset", "input", "assetIds")
	}
	if in.ParcelID != nil {
		out.ParcelID = d.one(typeParcel, *in.ParcelID, "parcel", "input", "parcelId")
	}
	return out, d.errs.Err()
}

// imageTypes maps the schema's image formats to the MIME types the domain stores.
var imageTypes = map[model.SignatureImageFormat]string{
	model.SignatureImageFormatPNG: domain.ImagePNG,
	model.SignatureImageFormatSVG: domain.ImageSVG,
}

func handOffInput(in model.AssetHandOffInput) (domain.HandOffInput, error) {
	var d ids
	out := domain.HandOffInput{
		AssetIDs:       d.list(typeAsset, in.AssetIds, "asset", "input", "assetIds"),
		RecipientID:    d.one(typePerson, in.RecipientID, "recipient", "input", "recipientId"),
		Location:       str(in.Location),
		IdempotencyKey: str(in.IdempotencyKey),
	}
	if in.Signature != nil {
		out.Signature = signatureInput(in.Signature)
	}
	return out, d.errs.Err()
}

func signatureInput(s *model.SignatureInput) domain.SignatureInput {
	return domain.SignatureInput{
		TypedName: s.TypedName, ImageFormat: imageTypes[s.ImageFormat], ImageBase64: s.ImageBase64,
		ConsentText: s.ConsentText, ConsentVersion: s.ConsentVersion, Method: s.Method,
		DeviceID: str(s.DeviceID), DeviceTime: s.DeviceTime,
	}
}

// The filters below report ok=false when an id in them names nothing of the
// expected type: such a filter matches nothing, like an id of another tenant.

func assetFilter(f *model.AssetFilter) (out domain.AssetFilter, ok bool) {
	if f == nil {
		return out, true
	}
	out = domain.AssetFilter{States: f.States, Search: str(f.Search)}
	ok = true
	if f.HolderID != nil {
		out.HolderID, ok = idOf(typePerson, *f.HolderID)
	}
	if ok && f.ParcelID != nil {
		out.ParcelID, ok = idOf(typeParcel, *f.ParcelID)
	}
	return out, ok
}

func parcelFilter(f *model.ParcelFilter) (out domain.ParcelFilter, ok bool) {
	if f == nil {
		return out, true
	}
	if f.State != nil {
		out.State = *f.State
	}
	if f.RecipientID != nil {
		out.RecipientID, ok = idOf(typePerson, *f.RecipientID)
		return out, ok
	}
	return out, true
}

func personFilter(f *model.PersonFilter) domain.PersonFilter {
	if f == nil {
		return domain.PersonFilter{}
	}
	out := domain.PersonFilter{Search: str(f.Search)}
	if f.Status != nil {
		out.Status = *f.Status
	}
	return out
}

// custodianRef is a custodian's public reference: a person is named by
// global id, a location by name, a vendor by id.
func custodianRef(c *domain.Custodian) *string {
	switch c.Kind {
	case domain.CustodianNone:
		return nil
	case domain.CustodianPerson:
		id := EncodeID(typePerson, c.Ref)
		return &id
	}
	return optional(c.Ref)
}

// details lists an event's facts sorted by key, so responses are stable.
func details(m map[string]string) []*model.KeyValue {
	out := make([]*model.KeyValue, 0, len(m))
	for k, v := range m {
		out = append(out, &model.KeyValue{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// signatureImage presents a stored signature image.
func signatureImage(s *domain.Signature) (*model.SignatureImage, error) {
	img := &model.SignatureImage{Base64: base64.StdEncoding.EncodeToString(s.Image), Sha256: s.ImageSHA256}
	switch s.ImageType {
	case domain.ImagePNG:
		img.Format = model.SignatureImageFormatPNG
	case domain.ImageSVG:
		img.Format = model.SignatureImageFormatSVG
	default:
		return nil, fmt.Errorf("present signature %s: unknown stored image type %q", s.ID, s.ImageType)
	}
	return img, nil
}

// optionalState shows an empty state (parcel-level events) as null.
func optionalState(s domain.AssetState) *domain.AssetState {
	if s == "" {
		return nil
	}
	return &s
}

func vendorEngageInput(in model.VendorEngageInput) (domain.VendorInput, error) {
	return domain.VendorInput{Name: in.Name, ContactEmail: str(in.ContactEmail),
		Certifications: certificationInputs(in.Certifications), IdempotencyKey: str(in.IdempotencyKey)}, nil
}

func certificationInputs(in []*model.CertificationInput) []domain.Certification {
	out := make([]domain.Certification, len(in))
	for i, c := range in {
		out[i] = domain.Certification{Scheme: c.Scheme, Number: c.Number, ExpiresOn: c.ExpiresOn}
	}
	return out
}

func scanInput(in *model.PickupScanInput) domain.ScanInput {
	if in == nil {
		return domain.ScanInput{}
	}
	return domain.ScanInput{Serial: str(in.Serial), AssetTag: str(in.AssetTag), Model: str(in.Model), DeviceTime: in.DeviceTime}
}
