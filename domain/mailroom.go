package domain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AssetCategory classifies equipment.
type AssetCategory string

// Asset categories.
const (
	CategoryLaptop       AssetCategory = "LAPTOP"
	CategoryDesktop      AssetCategory = "DESKTOP"
	CategoryPhone        AssetCategory = "PHONE"
	CategoryTablet       AssetCategory = "TABLET"
	CategoryMonitor      AssetCategory = "MONITOR"
	CategoryServer       AssetCategory = "SERVER"
	CategoryNetwork      AssetCategory = "NETWORK"
	CategoryStorageMedia AssetCategory = "STORAGE_MEDIA"
	CategoryPeripheral   AssetCategory = "PERIPHERAL"
	CategoryOther        AssetCategory = "OTHER"
)

// Valid reports whether c is a known category.
func (c AssetCategory) Valid() bool {
	switch c {
	case CategoryLaptop, CategoryDesktop, CategoryPhone, CategoryTablet, CategoryMonitor,
		CategoryServer, CategoryNetwork, CategoryStorageMedia, CategoryPeripheral, CategoryOther:
		return true
	}
	return false
}

// Limits on one mutation, so a single request cannot hold a transaction for long.
const (
	MaxAssetsPerParcel  = 500
	MaxAssetsPerHandOff = 100
)

// ReceiveParcelInput is a parcel scanned at the dock.
type ReceiveParcelInput struct {
	Carrier        string
	TrackingNumber string
	Sender         string
	RecipientID    string
	// ReturnCaseID marks a parcel shipped back by a departing employee: it
	// links to their open off-boarding case and needs no recipient.
	ReturnCaseID   string
	Location       string
	Note           string
	DeviceTime     *time.Time
	IdempotencyKey string `json:"-"`
}

// ReceiveParcel records a parcel at the receiving dock and appends a
// PARCEL_RECEIVED event. A retry with the same idempotency key returns the
// first parcel.
func (s *Service) ReceiveParcel(ctx context.Context, in ReceiveParcelInput) (*Parcel, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("receive parcel: %w", err)
	}
	var errs UserErrors
	p := &Parcel{State: ParcelReceived, ReceivedByID: who.MemberID, Version: 1}
	p.Carrier = text(&errs, in.Carrier, true, 100, "input", "carrier")
	p.TrackingNumber = text(&errs, in.TrackingNumber, true, 100, "input", "trackingNumber")
	p.Sender = text(&errs, in.Sender, true, 200, "input", "sender")
	p.ReturnCaseID = text(&errs, in.ReturnCaseID, false, 100, "input", "returnCaseId")
	p.RecipientID = text(&errs, in.RecipientID, p.ReturnCaseID == "", 100, "input", "recipientId")
	if p.ReturnCaseID != "" && p.RecipientID != "" {
		errs.Add(CodeInvalid, "a return parcel has no recipient: give either recipientId or returnCaseId", "input", "recipientId")
	}
	p.Location = text(&errs, in.Location, true, 200, "input", "location")
	p.Note = text(&errs, in.Note, false, 2000, "input", "note")
	in.DeviceTime = deviceTime(&errs, in.DeviceTime, "input", "deviceTime")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		return idempotent(tx, who, "receiveParcel", in.IdempotencyKey, in, func() (any, error) {
			personID := p.RecipientID
			details := map[string]string{"carrier": p.Carrier, "trackingNumber": p.TrackingNumber, "sender": p.Sender}
			if p.ReturnCaseID != "" {
				c, err := tx.GetCase(p.ReturnCaseID)
				if err != nil {
					return nil, notFoundAs(err, "off-boarding case", "input", "returnCaseId")
				}
				if c.State != CaseOpen {
					return nil, userError(CodeCaseNotOpen, "the off-boarding case is already completed", "input", "returnCaseId")
				}
				personID, details["case"] = c.PersonID, c.ID
			} else {
				recipient, err := tx.GetPerson(p.RecipientID)
				if err != nil {
					return nil, notFoundAs(err, "recipient", "input", "recipientId")
				}
				if recipient.Status == PersonTerminated {
					return nil, userError(CodeInactivePerson, "the recipient has left the company", "input", "recipientId")
				}
			}
			p.ID = NewID()
			p.ReceivedAt = s.timestamp()
			if err := tx.CreateParcel(p); err != nil {
				return nil, fmt.Errorf("create parcel: %w", err)
			}
			if p.Note != "" {
				details["note"] = p.Note
			}
			m, err := appendEvent(tx, &CustodyEvent{
				TenantID: p.TenantID, ParcelID: p.ID, Type: EventParcelReceived,
				FromCustodian: Custodian{Kind: CustodianNone},
				ToCustodian:   Custodian{Kind: CustodianLocation, Ref: p.Location},
				ActorID:       who.MemberID, Location: p.Location, DeviceTime: utc(in.DeviceTime),
				RecordedAt: p.ReceivedAt, Details: details,
			}, personID)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
			return p.ID, nil
		}, func(stored []byte) error {
			var id string
			if err := json.Unmarshal(stored, &id); err != nil {
				return fmt.Errorf("decode stored parcel id: %w", err)
			}
			got, err := tx.GetParcel(id)
			if err != nil {
				return fmt.Errorf("load stored parcel: %w", err)
			}
			p = got
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("receive parcel: %w", err)
	}
	s.publish(ctx, msgs)
	return p, nil
}

// NewAsset describes one item found in a parcel.
type NewAsset struct {
	Serial    string
	AssetTag  string
	Make      string
	Model     string
	Category  AssetCategory
	BearsData bool
	ITAMRef   string
	Condition string
}

// SerializeParcelInput turns a received parcel into serialized assets.
type SerializeParcelInput struct {
	ParcelID       string
	Assets         []NewAsset
	DeviceTime     *time.Time
	IdempotencyKey string `json:"-"`
}

// normalizeIdentifier canonicalises a serial or asset tag: surrounding and
// inner whitespace removed, upper case, so scans of the same label match.
func normalizeIdentifier(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// SerializeParcel creates one asset per item of a RECEIVED parcel, each with a
// serial and/or an asset tag unique in the tenant, and appends a SERIALIZED
// event for each.
func (s *Service) SerializeParcel(ctx context.Context, in SerializeParcelInput) (*Parcel, []*Asset, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("serialize parcel: %w", err)
	}
	assets, errs := validateNewAssets(in.Assets)
	in.DeviceTime = deviceTime(&errs, in.DeviceTime, "input", "deviceTime")
	if strings.TrimSpace(in.ParcelID) == "" {
		errs.Add(CodeRequired, "is required", "input", "parcelId")
	}
	if err := errs.Err(); err != nil {
		return nil, nil, err
	}
	var parcel *Parcel
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		return idempotent(tx, who, "serializeParcel", in.IdempotencyKey, in, func() (any, error) {
			p, err := tx.GetParcel(in.ParcelID)
			if err != nil {
				return nil, notFoundAs(err, "parcel", "input", "parcelId")
			}
			if p.State != ParcelReceived {
				return nil, userError(CodeIllegalTransition, "this parcel was already serialized", "input", "parcelId")
			}
			if p.ReturnCaseID != "" {
				return nil, userError(CodeIllegalTransition,
					"a return parcel holds assets already on record: scan each one as a return", "input", "parcelId")
			}
			if err := checkIdentifiersFree(tx, assets); err != nil {
				return nil, err
			}
			now := s.timestamp()
			ids := make([]string, len(assets))
			for i, a := range assets {
				a.ID, a.ParcelID, a.State = NewID(), p.ID, StateSerialized
				a.Custodian = Custodian{Kind: CustodianLocation, Ref: p.Location}
				a.IntendedRecipientID = p.RecipientID
				a.Version, a.CreatedAt, a.UpdatedAt = 1, now, now
				if err := tx.CreateAsset(a); err != nil {
					return nil, duplicateIdentifier(err, i)
				}
				m, err := appendEvent(tx, &CustodyEvent{
					TenantID: a.TenantID, AssetID: a.ID, ParcelID: p.ID, Type: EventSerialized,
					ToState: StateSerialized, FromCustodian: a.Custodian, ToCustodian: a.Custodian,
					ActorID: who.MemberID, Location: p.Location, DeviceTime: utc(in.DeviceTime), RecordedAt: now,
					Details: assetFacts(a),
				}, p.RecipientID)
				if err != nil {
					return nil, err
				}
				a.LastEventID = m.EventID
				a.Version++
				if err := tx.UpdateAsset(a); err != nil {
					return nil, fmt.Errorf("link asset to its event: %w", err)
				}
				msgs = append(msgs, m)
				ids[i] = a.ID
			}
			p.State = ParcelSerialized
			p.Version++
			if err := tx.UpdateParcel(p); err != nil {
				return nil, fmt.Errorf("mark parcel serialized: %w", err)
			}
			parcel = p
			return ids, nil
		}, func(stored []byte) error {
			var ids []string
			if err := json.Unmarshal(stored, &ids); err != nil {
				return fmt.Errorf("decode stored asset ids: %w", err)
			}
			var err error
			if parcel, err = tx.GetParcel(in.ParcelID); err != nil {
				return fmt.Errorf("load stored parcel: %w", err)
			}
			assets, err = loadInOrder(tx, ids)
			return err
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("serialize parcel: %w", err)
	}
	s.publish(ctx, msgs)
	return parcel, assets, nil
}

// validateNewAssets checks and normalises the items of a parcel, including
// duplicates within the request itself.
func validateNewAssets(in []NewAsset) ([]*Asset, UserErrors) {
	var errs UserErrors
	switch {
	case len(in) == 0:
		errs.Add(CodeRequired, "a parcel must yield at least one asset", "input", "assets")
		return nil, errs
	case len(in) > MaxAssetsPerParcel:
		errs.Add(CodeInvalid, fmt.Sprintf("at most %d assets per parcel", MaxAssetsPerParcel), "input", "assets")
		return nil, errs
	}
	seenSerial, seenTag := map[string]int{}, map[string]int{}
	out := make([]*Asset, len(in))
	for i, n := range in {
		at := func(f string) []string { return []string{"input", "assets", strconv.Itoa(i), f} }
		a := &Asset{Serial: normalizeIdentifier(n.Serial), AssetTag: normalizeIdentifier(n.AssetTag), BearsData: n.BearsData}
		if !printable(a.Serial) {
			errs.Add(CodeInvalid, "must be valid UTF-8 text without NUL characters", at("serial")...)
		}
		if !printable(a.AssetTag) {
			errs.Add(CodeInvalid, "must be valid UTF-8 text without NUL characters", at("assetTag")...)
		}
		if a.Serial == "" && a.AssetTag == "" {
			errs.Add(CodeRequired, "a manufacturer serial or a company asset tag is required", at("serial")...)
		}
		if len(a.Serial) > 100 {
			errs.Add(CodeInvalid, "must be at most 100 characters", at("serial")...)
		}
		if len(a.AssetTag) > 100 {
			errs.Add(CodeInvalid, "must be at most 100 characters", at("assetTag")...)
		}
		if j, dup := seenSerial[a.Serial]; dup && a.Serial != "" {
			errs.Add(CodeDuplicateSerial, fmt.Sprintf("serial %s is also given for asset %d", a.Serial, j), at("serial")...)
		}
		if j, dup := seenTag[a.AssetTag]; dup && a.AssetTag != "" {
			errs.Add(CodeDuplicateAssetTag, fmt.Sprintf("asset tag %s is also given for asset %d", a.AssetTag, j), at("assetTag")...)
		}
		seenSerial[a.Serial], seenTag[a.AssetTag] = i, i
		a.Make = text(&errs, n.Make, true, 100, at("make")...)
		a.Model = text(&errs, n.Model, true, 200, at("model")...)
		if !n.Category.Valid() {
			errs.Add(CodeInvalid, "unknown category", at("category")...)
		}
		a.Category = string(n.Category)
		a.ITAMRef = text(&errs, n.ITAMRef, false, 200, at("itamRef")...)
		a.Condition = text(&errs, n.Condition, false, 200, at("condition")...)
		out[i] = a
	}
	return out, errs
}

// checkIdentifiersFree refuses serials and tags already used in the tenant,
// naming the offending item, with one lookup for the whole parcel. The unique
// indexes catch a concurrent insert.
func checkIdentifiersFree(tx Tx, assets []*Asset) error {
	serials, tags := make([]string, len(assets)), make([]string, len(assets))
	for i, a := range assets {
		serials[i], tags[i] = a.Serial, a.AssetTag
	}
	existing, err := tx.FindAssetsByIdentifiers(serials, tags)
	if err != nil {
		return fmt.Errorf("look up identifiers: %w", err)
	}
	usedSerial, usedTag := map[string]bool{}, map[string]bool{}
	for _, a := range existing {
		usedSerial[a.Serial], usedTag[a.AssetTag] = true, true
	}
	var errs UserErrors
	for i, a := range assets {
		at := func(f string) []string { return []string{"input", "assets", strconv.Itoa(i), f} }
		if a.Serial != "" && usedSerial[a.Serial] {
			errs.Add(CodeDuplicateSerial, "an asset with serial "+a.Serial+" already exists", at("serial")...)
		}
		if a.AssetTag != "" && usedTag[a.AssetTag] {
			errs.Add(CodeDuplicateAssetTag, "an asset with tag "+a.AssetTag+" already exists", at("assetTag")...)
		}
	}
	return errs.Err()
}

// duplicateIdentifier maps a unique-index collision on insert (a concurrent
// serialization won the race) to the user error for item i.
func duplicateIdentifier(err error, i int) error {
	var dup *DuplicateError
	if errors.As(err, &dup) {
		if dup.Key == "assetTag" {
			return userError(CodeDuplicateAssetTag, "an asset with this tag already exists", "input", "assets", strconv.Itoa(i), "assetTag")
		}
		return userError(CodeDuplicateSerial, "an asset with this serial already exists", "input", "assets", strconv.Itoa(i), "serial")
	}
	return fmt.Errorf("create asset: %w", err)
}

// assetFacts are the identifying facts recorded with the SERIALIZED event.
func assetFacts(a *Asset) map[string]string {
	d := map[string]string{"make": a.Make, "model": a.Model, "category": a.Category,
		"bearsData": strconv.FormatBool(a.BearsData)}
	if a.Serial != "" {
		d["serial"] = a.Serial
	}
	if a.AssetTag != "" {
		d["assetTag"] = a.AssetTag
	}
	return d
}

// NotifyRecipientInput announces assets to their recipient: either the given
// assets or every asset of a parcel.
type NotifyRecipientInput struct {
	AssetIDs       []string
	ParcelID       string
	IdempotencyKey string `json:"-"`
}

// NotifyRecipient moves SERIALIZED assets to AWAITING_COLLECTION and publishes
// a RECIPIENT_NOTIFIED event for each, which notification channels and
// subscriptions pick up.
func (s *Service) NotifyRecipient(ctx context.Context, in NotifyRecipientInput) ([]*Asset, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("notify recipient: %w", err)
	}
	if (len(in.AssetIDs) == 0) == (in.ParcelID == "") {
		return nil, userError(CodeRequired, "give either assetIds or parcelId", "input", "assetIds")
	}
	if len(in.AssetIDs) > MaxAssetsPerParcel {
		return nil, userError(CodeInvalid, fmt.Sprintf("at most %d assets at once", MaxAssetsPerParcel), "input", "assetIds")
	}
	var out []*Asset
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		return idempotent(tx, who, "notifyRecipient", in.IdempotencyKey, in, func() (any, error) {
			assets, field, err := s.targetAssets(tx, in.AssetIDs, in.ParcelID)
			if err != nil {
				return nil, err
			}
			now := s.timestamp()
			ids := make([]string, len(assets))
			for i, a := range assets {
				m, err := s.transition(tx, a, EventRecipientNotified, transitionFacts{
					actorID: who.MemberID, at: now, location: a.Custodian.Ref, custodian: a.Custodian,
					personID: a.IntendedRecipientID, details: map[string]string{"recipientId": a.IntendedRecipientID},
				}, append(field, strconv.Itoa(i))...)
				if err != nil {
					return nil, err
				}
				msgs = append(msgs, m)
				ids[i] = a.ID
			}
			out = assets
			return ids, nil
		}, func(stored []byte) error {
			var ids []string
			if err := json.Unmarshal(stored, &ids); err != nil {
				return fmt.Errorf("decode stored asset ids: %w", err)
			}
			out, err = loadInOrder(tx, ids)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("notify recipient: %w", err)
	}
	s.publish(ctx, msgs)
	return out, nil
}

// targetAssets loads the assets a bulk mutation names, or all of a parcel's.
// It returns the input field that names them, for error paths.
func (s *Service) targetAssets(tx Tx, ids []string, parcelID string) ([]*Asset, []string, error) {
	if parcelID != "" {
		if _, err := tx.GetParcel(parcelID); err != nil {
			return nil, nil, notFoundAs(err, "parcel", "input", "parcelId")
		}
		var all []*Asset
		after := ""
		for {
			page, err := tx.ListAssets(AssetFilter{ParcelID: parcelID}, PageRequest{First: MaxPageSize, After: after})
			if err != nil {
				return nil, nil, fmt.Errorf("list parcel assets: %w", err)
			}
			all = append(all, page...)
			if len(page) < MaxPageSize {
				break
			}
			after = page[len(page)-1].ID
		}
		if len(all) == 0 {
			return nil, nil, userError(CodeIllegalTransition, "the parcel has not been serialized yet", "input", "parcelId")
		}
		return all, []string{"input", "parcelId"}, nil
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			return nil, nil, userError(CodeInvalid, "asset listed twice", "input", "assetIds", strconv.Itoa(i))
		}
		seen[id] = true
	}
	assets, err := loadInOrder(tx, ids)
	if err != nil {
		var missing *missingAssetError
		if errors.As(err, &missing) {
			return nil, nil, userError(CodeNotFound, "asset not found", "input", "assetIds", strconv.Itoa(missing.index))
		}
		return nil, nil, err
	}
	return assets, []string{"input", "assetIds"}, nil
}

// transitionFacts are the facts of one state change.
type transitionFacts struct {
	actorID     string
	at          time.Time
	deviceTime  *time.Time
	location    string
	custodian   Custodian // the custodian after the event
	signatureID string
	personID    string
	details     map[string]string
}

// transition moves a through event (refusing illegal transitions with a user
// error on field), writes it with an optimistic version check and appends its
// custody event.
func (s *Service) transition(tx Tx, a *Asset, event EventType, f transitionFacts, field ...string) (Message, error) {
	to, err := Next(a.State, event)
	if err != nil {
		return Message{}, userError(CodeIllegalTransition, err.Error(), field...)
	}
	e := &CustodyEvent{
		TenantID: a.TenantID, AssetID: a.ID, ParcelID: a.ParcelID, Type: event,
		FromState: a.State, ToState: to, FromCustodian: a.Custodian, ToCustodian: f.custodian,
		ActorID: f.actorID, Location: f.location, DeviceTime: utc(f.deviceTime), RecordedAt: f.at,
		SignatureID: f.signatureID, Details: f.details,
	}
	m, err := appendEvent(tx, e, f.personID)
	if err != nil {
		return Message{}, err
	}
	a.State, a.Custodian, a.LastEventID = to, f.custodian, e.ID
	a.Version++
	a.UpdatedAt = f.at
	if err := tx.UpdateAsset(a); err != nil {
		if errors.Is(err, ErrConcurrentModification) {
			return Message{}, userError(CodeConcurrentUpdate,
				"the asset was changed by another request at the same moment; reload it and try again", field...)
		}
		return Message{}, fmt.Errorf("update asset: %w", err)
	}
	return m, nil
}

// missingAssetError names the position of an id that matched no asset.
type missingAssetError struct{ index int }

// Error names the position of the missing asset.
func (e *missingAssetError) Error() string { return "asset " + strconv.Itoa(e.index) + " not found" }

// loadInOrder fetches assets by id in one statement and returns them in the
// order of ids.
func loadInOrder(tx Tx, ids []string) ([]*Asset, error) {
	found, err := tx.GetAssets(ids)
	if err != nil {
		return nil, fmt.Errorf("load assets: %w", err)
	}
	byID := make(map[string]*Asset, len(found))
	for _, a := range found {
		byID[a.ID] = a
	}
	out := make([]*Asset, len(ids))
	for i, id := range ids {
		a, ok := byID[id]
		if !ok {
			return nil, &missingAssetError{index: i}
		}
		out[i] = a
	}
	return out, nil
}

// utc normalises a client-reported time to UTC microseconds.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC().Truncate(time.Microsecond)
	return &v
}
