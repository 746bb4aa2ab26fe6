package domain

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// MaxCorrectionFacts bounds the corrected facts one correction may carry.
const MaxCorrectionFacts = 20

// CorrectionInput corrects the record of an earlier custody event.
type CorrectionInput struct {
	EventID string
	Reason  string
	// Facts are the corrected values, e.g. {"location": "Dock B"}.
	Facts          map[string]string
	IdempotencyKey string `json:"-"`
}

// CorrectEvent appends a CORRECTION event that points at an earlier event,
// with the reason and the corrected facts. Nothing is rewritten: the original
// stays in the log, and both verify.
func (s *Service) CorrectEvent(ctx context.Context, in CorrectionInput) (*CustodyEvent, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("correct event: %w", err)
	}
	var errs UserErrors
	reason := text(&errs, in.Reason, true, 2000, "input", "reason")
	if len(in.Facts) > MaxCorrectionFacts {
		errs.Add(CodeInvalid, fmt.Sprintf("at most %d corrected facts", MaxCorrectionFacts), "input", "facts")
	}
	details := map[string]string{}
	keys := make([]string, 0, len(in.Facts))
	for k := range in.Facts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := strings.TrimSpace(k)
		if key == "" || len(key) > 100 || key == "corrects" || key == "reason" || key == "case" {
			errs.Add(CodeInvalid, "fact names must be 1 to 100 characters and not corrects, reason or case", "input", "facts", k)
			continue
		}
		details[key] = text(&errs, in.Facts[k], false, 2000, "input", "facts", k)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var out *CustodyEvent
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		return idempotent(tx, who, "correctEvent", in.IdempotencyKey, in, func() (any, error) {
			orig, err := tx.GetEvent(in.EventID)
			if err != nil {
				return nil, notFoundAs(err, "custody event", "input", "eventId")
			}
			details["corrects"] = orig.ID
			details["reason"] = reason
			if c := orig.Details["case"]; c != "" {
				// A correction of an off-boarding event belongs to its case,
				// so those who follow the case hear it.
				details["case"] = c
			}
			e := &CustodyEvent{TenantID: orig.TenantID, AssetID: orig.AssetID, ParcelID: orig.ParcelID,
				Type: EventCorrection, FromCustodian: orig.ToCustodian, ToCustodian: orig.ToCustodian,
				ActorID: who.MemberID, Location: orig.Location, RecordedAt: s.timestamp(), Details: details}
			var asset *Asset
			if orig.AssetID != "" {
				if asset, err = tx.GetAsset(orig.AssetID); err != nil {
					return nil, fmt.Errorf("load corrected asset: %w", err)
				}
				e.FromState, e.ToState = asset.State, asset.State
				e.FromCustodian, e.ToCustodian = asset.Custodian, asset.Custodian
			}
			m, err := appendEvent(tx, e, "")
			if err != nil {
				return nil, err
			}
			if asset != nil {
				asset.LastEventID, asset.UpdatedAt = e.ID, e.RecordedAt
				asset.Version++
				if err := tx.UpdateAsset(asset); err != nil {
					return nil, fmt.Errorf("link asset to its correction: %w", err)
				}
			}
			msgs = append(msgs, m)
			out = e
			return e.ID, nil
		}, func(stored []byte) error {
			var id string
			if err := json.Unmarshal(stored, &id); err != nil {
				return fmt.Errorf("decode stored correction: %w", err)
			}
			var err error
			out, err = tx.GetEvent(id)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("correct event: %w", err)
	}
	s.publish(ctx, msgs)
	return out, nil
}
