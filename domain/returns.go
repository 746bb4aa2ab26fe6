package domain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/custody-dev/custody/tenancy"
)

// ReturnInput scans an asset back into custody.
type ReturnInput struct {
	// Serial or AssetTag identifies the asset, as scanned (normalised like
	// at serialization). When both are given they must name the same asset.
	Serial   string
	AssetTag string
	// FromPersonID is who hands it back; empty means the recorded holder.
	FromPersonID string
	Location     string
	Condition    ReturnCondition
	Note         string
	// Signature is the returning person's, when one is captured.
	Signature *SignatureInput
	// ParcelID is the return parcel the asset arrived in (remote employees).
	ParcelID       string
	DeviceTime     *time.Time
	IdempotencyKey string `json:"-"`
}

// ReturnResult is a recorded return, the asset it moved and the case it
// counted toward (nil when it matched none).
type ReturnResult struct {
	Return *Return
	Asset  *Asset
	Case   *OffboardingCase
}

// returnIDs is the stored result of an idempotent return.
type returnIDs struct {
	ReturnID string `json:"returnId"`
}

// ReturnAsset records "received from X at T by Y": the asset moves from its
// holder to the receiving location (RETURN_RECEIVED), in the condition seen,
// optionally signed by the person returning it. It counts toward the open
// off-boarding case of the holder (or of the person returning it, or of the
// return parcel's case): an expected item becomes RETURNED, anything else is
// added as an unexpected return. A return that matches no open case is
// recorded all the same and flagged. The case completes when nothing is
// outstanding.
func (s *Service) ReturnAsset(ctx context.Context, in ReturnInput) (*ReturnResult, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("record return: %w", err)
	}
	var errs UserErrors
	serial := normalizeIdentifier(text(&errs, in.Serial, false, 200, "input", "serial"))
	tag := normalizeIdentifier(text(&errs, in.AssetTag, false, 200, "input", "assetTag"))
	if serial == "" && tag == "" {
		errs.Add(CodeRequired, "a serial or an asset tag is required", "input", "serial")
	}
	fromID := text(&errs, in.FromPersonID, false, 100, "input", "fromPersonId")
	location := text(&errs, in.Location, true, 200, "input", "location")
	note := text(&errs, in.Note, false, 2000, "input", "note")
	parcelID := text(&errs, in.ParcelID, false, 100, "input", "parcelId")
	if !in.Condition.Valid() {
		errs.Add(CodeInvalid, "unknown condition", "input", "condition")
	}
	devTime := deviceTime(&errs, in.DeviceTime, "input", "deviceTime")
	var sig *Signature
	if in.Signature != nil {
		sig = validateSignature(&errs, *in.Signature, tenancy.ClientInfoFrom(ctx))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	res := &ReturnResult{}
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		if err := tx.LockLog(); err != nil {
			return fmt.Errorf("lock the custody log: %w", err)
		}
		return idempotent(tx, who, "returnAsset", in.IdempotencyKey, in, func() (any, error) {
			a, err := findScanned(tx, serial, tag)
			if err != nil {
				return nil, err
			}
			if _, err := Next(a.State, EventReturnReceived); err != nil {
				return nil, userError(CodeIllegalTransition, err.Error(), "input", "serial")
			}
			holderID := a.HolderID()
			if fromID == "" {
				fromID = holderID
			}
			if fromID == "" {
				return nil, userError(CodeRequired, "no person holds this asset; say who returned it", "input", "fromPersonId")
			}
			if _, err := tx.GetPerson(fromID); err != nil {
				return nil, notFoundAs(err, "person", "input", "fromPersonId")
			}
			var parcel *Parcel
			if parcelID != "" {
				if parcel, err = tx.GetParcel(parcelID); err != nil {
					return nil, notFoundAs(err, "parcel", "input", "parcelId")
				}
				if parcel.ReturnCaseID == "" {
					return nil, userError(CodeInvalid, "this parcel was not received as a return", "input", "parcelId")
				}
			}
			c, err := matchCase(tx, parcel, holderID, fromID)
			if err != nil {
				return nil, err
			}
			now := s.timestamp()
			r := &Return{ID: NewID(), AssetID: a.ID, FromPersonID: fromID, ReceivedByID: who.MemberID,
				Location: location, Condition: in.Condition, Note: note, ParcelID: parcelID,
				Unmatched: c == nil, DeviceTime: devTime, RecordedAt: now}
			details := map[string]string{"condition": string(in.Condition), "fromPerson": fromID}
			if note != "" {
				details["note"] = note
			}
			if parcel != nil {
				details["returnParcel"] = parcel.ID
			}
			if c != nil {
				r.CaseID, details["case"] = c.ID, c.ID
			} else {
				details["unmatched"] = "no open off-boarding case expected this return"
			}
			if sig != nil {
				sig.ID, sig.SignerID, sig.CapturedByID, sig.SignedAt = NewID(), fromID, who.MemberID, now
				if err := tx.CreateSignature(sig); err != nil {
					return nil, fmt.Errorf("store signature: %w", err)
				}
				r.SignatureID = sig.ID
				for k, v := range signatureFacts(sig) {
					details[k] = v
				}
			}
			a.Condition = string(in.Condition)
			m, err := s.transition(tx, a, EventReturnReceived, transitionFacts{actorID: who.MemberID, at: now,
				deviceTime: devTime, location: location, custodian: Custodian{Kind: CustodianLocation, Ref: location},
				signatureID: r.SignatureID, personID: fromID, details: details}, "input", "serial")
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
			r.EventID = m.EventID
			if err := tx.CreateReturn(r); err != nil {
				return nil, fmt.Errorf("store return: %w", err)
			}
			if c != nil {
				done, err := s.countReturn(tx, c, r, who.MemberID, now)
				if err != nil {
					return nil, err
				}
				msgs = append(msgs, done...)
			}
			res.Return, res.Asset, res.Case = r, a, c
			return returnIDs{ReturnID: r.ID}, nil
		}, func(stored []byte) error {
			var ids returnIDs
			if err := json.Unmarshal(stored, &ids); err != nil {
				return fmt.Errorf("decode stored return: %w", err)
			}
			r, err := oneReturn(tx, ids.ReturnID)
			if err != nil {
				return fmt.Errorf("load stored return: %w", err)
			}
			res.Return = r
			if res.Asset, err = tx.GetAsset(r.AssetID); err != nil {
				return fmt.Errorf("load returned asset: %w", err)
			}
			if r.CaseID != "" {
				if res.Case, err = tx.GetCase(r.CaseID); err != nil {
					return fmt.Errorf("load return's case: %w", err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("record return: %w", err)
	}
	s.publish(ctx, msgs)
	return res, nil
}

// findScanned finds the asset a return scan names.
func findScanned(tx Tx, serial, tag string) (*Asset, error) {
	var bySerial, byTag *Asset
	var err error
	if serial != "" {
		if bySerial, err = tx.GetAssetBySerial(serial); errors.Is(err, ErrNotFound) {
			return nil, userError(CodeNotFound, "no asset of this organisation has this serial", "input", "serial")
		} else if err != nil {
			return nil, fmt.Errorf("find asset by serial: %w", err)
		}
	}
	if tag != "" {
		if byTag, err = tx.GetAssetByTag(tag); errors.Is(err, ErrNotFound) {
			return nil, userError(CodeNotFound, "no asset of this organisation has this asset tag", "input", "assetTag")
		} else if err != nil {
			return nil, fmt.Errorf("find asset by tag: %w", err)
		}
	}
	switch {
	case bySerial != nil && byTag != nil && bySerial.ID != byTag.ID:
		return nil, userError(CodeInvalid, "the serial and the asset tag belong to different assets", "input", "assetTag")
	case bySerial != nil:
		return bySerial, nil
	default:
		return byTag, nil
	}
}

// matchCase finds, and locks, the open case a return counts toward: the
// holder's (the custody record says who must give it back), else that of the
// person returning it, else the return parcel's.
func matchCase(tx Tx, parcel *Parcel, holderID, fromID string) (*OffboardingCase, error) {
	for _, person := range []string{holderID, fromID} {
		if person == "" {
			continue
		}
		c, err := tx.LockOpenCaseOf(person)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("look up open case: %w", err)
		}
	}
	if parcel != nil {
		c, err := tx.LockCase(parcel.ReturnCaseID)
		if err != nil {
			return nil, fmt.Errorf("load return parcel's case: %w", err)
		}
		if c.State == CaseOpen {
			return c, nil
		}
	}
	return nil, nil
}

// countReturn marks the returned asset's item of c RETURNED (adding it as
// unexpected when c did not expect it) and completes c if nothing is
// outstanding.
func (s *Service) countReturn(tx Tx, c *OffboardingCase, r *Return, actorID string, at time.Time) ([]Message, error) {
	items, err := caseItems(tx, c.ID)
	if err != nil {
		return nil, err
	}
	item := findItem(items, r.AssetID)
	if item == nil {
		item = &CaseItem{CaseID: c.ID, AssetID: r.AssetID, Expected: false, AddedAt: at}
	}
	item.Status, item.ReturnID, item.EventID = ItemReturned, r.ID, r.EventID
	// Written off, then back after all: the log keeps the write-off; the
	// item says where things stand now.
	item.WriteOff, item.WriteOffReason, item.ApprovedBy = "", "", ""
	item.ResolvedAt, item.ResolvedByID = &at, actorID
	if err := tx.PutCaseItem(item); err != nil {
		return nil, fmt.Errorf("mark case item returned: %w", err)
	}
	return s.completeIfDone(tx, c, items, actorID, at)
}

// DispositionInput moves a returned asset on: back to stock, or retired.
type DispositionInput struct {
	AssetID string
	// Location is where a restocked asset is kept (default: where it is).
	Location string
	// Reason is required to retire.
	Reason         string
	IdempotencyKey string `json:"-"`
}

// Restock puts a returned asset back in stock (RESTOCKED → IN_STOCK).
func (s *Service) Restock(ctx context.Context, in DispositionInput) (*Asset, error) {
	return s.dispose(ctx, "restockAsset", EventRestocked, in)
}

// Retire decommissions an asset (RETIRED) with a reason: from stock, from a
// return, or straight from serialization.
func (s *Service) Retire(ctx context.Context, in DispositionInput) (*Asset, error) {
	return s.dispose(ctx, "retireAsset", EventRetired, in)
}

// dispose records a restock or a retirement.
func (s *Service) dispose(ctx context.Context, op string, event EventType, in DispositionInput) (*Asset, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var errs UserErrors
	assetID := text(&errs, in.AssetID, true, 100, "input", "assetId")
	location := text(&errs, in.Location, false, 200, "input", "location")
	reason := text(&errs, in.Reason, event == EventRetired, 2000, "input", "reason")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var a *Asset
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		return idempotent(tx, who, op, in.IdempotencyKey, in, func() (any, error) {
			var err error
			if a, err = tx.GetAsset(assetID); err != nil {
				return nil, notFoundAs(err, "asset", "input", "assetId")
			}
			place := location
			if place == "" && a.Custodian.Kind == CustodianLocation {
				place = a.Custodian.Ref
			}
			custodian := a.Custodian
			if place != "" {
				custodian = Custodian{Kind: CustodianLocation, Ref: place}
			}
			var details map[string]string
			if reason != "" {
				details = map[string]string{"reason": reason}
			}
			m, err := s.transition(tx, a, event, transitionFacts{actorID: who.MemberID, at: s.timestamp(),
				location: place, custodian: custodian, details: details}, "input", "assetId")
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
			return a.ID, nil
		}, func(stored []byte) error {
			return replayID(stored, "asset", func(id string) (err error) { a, err = tx.GetAsset(id); return err })
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	s.publish(ctx, msgs)
	return a, nil
}

// Returns lists returns, newest last.
func (s *Service) Returns(ctx context.Context, f ReturnFilter, first *int, after string) (Page[*Return], error) {
	return list(ctx, s.store, "returns", first, after, func(tx Tx, p PageRequest) ([]*Return, error) {
		return tx.ListReturns(f, p)
	})
}

// ReturnsByID loads returns in one statement (dataloaders).
func (s *Service) ReturnsByID(ctx context.Context, ids []string) ([]*Return, error) {
	return batch(ctx, s.store, "returns", func(tx Tx) ([]*Return, error) { return tx.GetReturns(ids) })
}

// Return returns a return by id, or nil.
func (s *Service) Return(ctx context.Context, id string) (*Return, error) {
	return get(ctx, s.store, "return", func(tx Tx) (*Return, error) {
		return oneReturn(tx, id)
	})
}

// oneReturn loads a return by id; ErrNotFound if absent.
func oneReturn(tx Tx, id string) (*Return, error) {
	rs, err := tx.GetReturns([]string{id})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, ErrNotFound
	}
	return rs[0], nil
}
