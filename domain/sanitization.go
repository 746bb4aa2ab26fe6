package domain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// At the vendor: per serial, the sanitization record (NIST SP 800-88) and
// the outcome. A data-bearing asset reaches no outcome unsanitized.

// SanitizationInput is the vendor's record of one asset's sanitization.
type SanitizationInput struct {
	OrderID string
	// Serial and/or AssetTag name the received line.
	Serial             string
	AssetTag           string
	Method             SanitizationMethod
	Technique          string
	Tool               string
	ToolVersion        string
	VerificationMethod string
	VerificationResult VerificationResult
	PerformedAt        time.Time
	TechnicianName     string
	// TechnicianAttests must be true: the technician attests, by recording,
	// that the sanitization was performed as stated.
	TechnicianAttests bool
	ValidatorName     string
	ValidatedAt       time.Time
	IdempotencyKey    string `json:"-"`
}

// maxClockSkew is how far a reported time may be off our clock either way
// (device clocks drift).
const maxClockSkew = 5 * time.Minute

// RecordSanitization records how a received asset was sanitized: CLEAR or
// PURGE make it SANITIZED (event SANITIZED), DESTROY makes it DESTROYED and
// is also its outcome. A failed verification is not a sanitization.
func (s *Service) RecordSanitization(ctx context.Context, in SanitizationInput) (*SanitizationRecord, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("record sanitization: %w", err)
	}
	var errs UserErrors
	r := &SanitizationRecord{Method: in.Method, VerificationResult: in.VerificationResult, RecordedByID: who.MemberID}
	orderID := text(&errs, in.OrderID, true, 100, "input", "orderId")
	serial := normalizeIdentifier(text(&errs, in.Serial, false, 200, "input", "serial"))
	tag := normalizeIdentifier(text(&errs, in.AssetTag, false, 200, "input", "assetTag"))
	r.Technique = text(&errs, in.Technique, true, 500, "input", "technique")
	r.Tool = text(&errs, in.Tool, true, 200, "input", "tool")
	r.ToolVersion = text(&errs, in.ToolVersion, true, 100, "input", "toolVersion")
	r.VerificationMethod = text(&errs, in.VerificationMethod, true, 500, "input", "verificationMethod")
	r.TechnicianName = text(&errs, in.TechnicianName, true, 200, "input", "technicianName")
	r.ValidatorName = text(&errs, in.ValidatorName, true, 200, "input", "validatorName")
	if serial == "" && tag == "" {
		errs.Add(CodeRequired, "a serial or an asset tag is required", "input", "serial")
	}
	if !in.Method.Valid() {
		errs.Add(CodeInvalid, "the method must be CLEAR, PURGE or DESTROY (NIST SP 800-88)", "input", "method")
	}
	switch in.VerificationResult {
	case VerificationPassed:
	case VerificationFailed:
		errs.Add(CodeInvalid, "a sanitization whose verification failed is not a sanitization: repeat it, or destroy the media", "input", "verificationResult")
	default:
		errs.Add(CodeInvalid, "the verification result must be PASSED", "input", "verificationResult")
	}
	if !in.TechnicianAttests {
		errs.Add(CodeRequired, "the technician must attest the sanitization", "input", "technicianAttests")
	}
	if r.TechnicianName != "" && strings.EqualFold(r.TechnicianName, r.ValidatorName) {
		errs.Add(CodeInvalid, "the validation must be by a second person, not the technician", "input", "validatorName")
	}
	now := s.timestamp()
	r.PerformedAt = pastTime(&errs, in.PerformedAt, now, "input", "performedAt")
	r.ValidatedAt = pastTime(&errs, in.ValidatedAt, now, "input", "validatedAt")
	if !r.PerformedAt.IsZero() && r.ValidatedAt.Before(r.PerformedAt) {
		errs.Add(CodeInvalid, "the validation cannot precede the sanitization", "input", "validatedAt")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		return idempotent(tx, who, "recordSanitization", in.IdempotencyKey, in, func() (any, error) {
			o, err := s.orderIn(ctx, tx, orderID, PickupReceived)
			if err != nil {
				return nil, err
			}
			// The vendor's clock may be a little behind ours, as it may be
			// ahead (pastTime), and a time given to the second can read
			// earlier than a pickup in the same second.
			if o.PickedUpAt != nil && r.PerformedAt.Before(o.PickedUpAt.Add(-maxClockSkew)) {
				return nil, userError(CodeInvalid, "the sanitization cannot precede the pickup", "input", "performedAt")
			}
			l, err := receivedLine(tx, o.ID, serial, tag)
			if err != nil {
				return nil, err
			}
			if l.Outcome != nil {
				return nil, userError(CodeIllegalTransition, "this asset already has its outcome ("+string(l.Outcome.Kind)+")", "input", "serial")
			}
			a, err := tx.GetAsset(l.AssetID)
			if err != nil {
				return nil, fmt.Errorf("load asset: %w", err)
			}
			event := EventSanitized
			if r.Method == SanitizeDestroy {
				event = EventDestroyed
			}
			m, err := s.transition(tx, a, event, transitionFacts{actorID: who.MemberID, at: now, custodian: a.Custodian,
				details: map[string]string{"order": o.ID, "vendor": o.VendorID, "method": string(r.Method),
					"technique": r.Technique, "tool": r.Tool, "toolVersion": r.ToolVersion,
					"verification": r.VerificationMethod, "verificationResult": string(r.VerificationResult),
					"performedAt": r.PerformedAt.Format(time.RFC3339)}}, "input", "serial")
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
			r.OrderID, r.AssetID, r.AttestedAt, r.RecordedAt, r.EventID = o.ID, a.ID, now, now, m.EventID
			if err := tx.CreateSanitization(r); err != nil {
				if errors.Is(err, ErrDuplicate) {
					return nil, userError(CodeDuplicate, "this asset already has a sanitization record", "input", "serial")
				}
				return nil, fmt.Errorf("store sanitization: %w", err)
			}
			if r.Method == SanitizeDestroy {
				l.Outcome = &Outcome{Kind: OutcomeDestroyed, Note: r.Technique, RecordedAt: now, RecordedByID: who.MemberID}
				if err := tx.PutPickupLine(l); err != nil {
					return nil, fmt.Errorf("record destruction outcome: %w", err)
				}
			}
			return []string{o.ID, a.ID}, nil
		}, func(stored []byte) error {
			return replaySanitization(tx, stored, r)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("record sanitization: %w", err)
	}
	s.publish(ctx, msgs)
	return r, nil
}

// replaySanitization loads the record an earlier identical request made.
func replaySanitization(tx Tx, stored []byte, r *SanitizationRecord) error {
	var ids []string
	if err := decodeStored(stored, &ids); err != nil || len(ids) != 2 {
		return fmt.Errorf("decode stored sanitization: %w", errors.Join(err, errors.New("malformed")))
	}
	recs, err := tx.ListSanitizations(ids[:1])
	if err != nil {
		return fmt.Errorf("load stored sanitization: %w", err)
	}
	for _, x := range recs {
		if x.AssetID == ids[1] {
			*r = *x
			return nil
		}
	}
	return fmt.Errorf("load stored sanitization: %w", ErrNotFound)
}

// compact drops empty details, so the log holds only facts that were given.
func compact(details map[string]string) map[string]string {
	for k, v := range details {
		if v == "" {
			delete(details, k)
		}
	}
	return details
}

// decodeStored decodes an idempotent mutation's stored result.
func decodeStored(stored []byte, v any) error {
	if err := json.Unmarshal(stored, v); err != nil {
		return fmt.Errorf("decode stored result: %w", err)
	}
	return nil
}

// pastTime validates a required time that has already happened.
func pastTime(errs *UserErrors, t time.Time, now time.Time, field ...string) time.Time {
	switch {
	case t.IsZero():
		errs.Add(CodeRequired, "is required", field...)
	case t.Before(minDeviceTime):
		errs.Add(CodeInvalid, "must be after the year 2000", field...)
	case t.After(now.Add(maxClockSkew)):
		errs.Add(CodeInvalid, "cannot be in the future", field...)
	default:
		return t.UTC().Truncate(time.Microsecond)
	}
	return time.Time{}
}

// receivedLine finds the RECEIVED line of an order named by a serial and/or
// tag; both, when given, must name the same line.
func receivedLine(tx Tx, orderID, serial, tag string) (*PickupLine, error) {
	lines, err := tx.FindPickupLines(orderID, serial, tag)
	if err != nil {
		return nil, fmt.Errorf("find line: %w", err)
	}
	var found *PickupLine
	for _, l := range lines {
		if l.Status != LineReceived {
			continue
		}
		if (serial != "" && l.Serial != serial) || (tag != "" && l.AssetTag != tag) {
			return nil, userError(CodeInvalid, "the serial and the asset tag name different lines", "input", "serial")
		}
		found = l
	}
	if found == nil {
		return nil, userError(CodeNotFound, "no received line of this order has this serial or asset tag", "input", "serial")
	}
	return found, nil
}

// OutcomeInput records what became of one received asset.
type OutcomeInput struct {
	OrderID                 string
	Serial                  string
	AssetTag                string
	Kind                    OutcomeKind
	Buyer                   string
	BuyerCountry            string
	DownstreamVendor        string
	DownstreamCertification string
	Note                    string
	IdempotencyKey          string `json:"-"`
}

// outcomeEvents maps an outcome to the custody event that records it.
var outcomeEvents = map[OutcomeKind]EventType{
	OutcomeReused: EventRemarketed, OutcomeRemarketed: EventRemarketed, OutcomeExported: EventRemarketed,
	OutcomeRecycled: EventRecycled, OutcomeDestroyed: EventDestroyed,
}

// RecordOutcome records a received asset's outcome (event REMARKETED,
// RECYCLED or DESTROYED). A data-bearing asset must be sanitized first.
func (s *Service) RecordOutcome(ctx context.Context, in OutcomeInput) (*PickupLine, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("record outcome: %w", err)
	}
	var errs UserErrors
	orderID := text(&errs, in.OrderID, true, 100, "input", "orderId")
	serial := normalizeIdentifier(text(&errs, in.Serial, false, 200, "input", "serial"))
	tag := normalizeIdentifier(text(&errs, in.AssetTag, false, 200, "input", "assetTag"))
	out := &Outcome{Kind: in.Kind, RecordedByID: who.MemberID}
	needBuyer := in.Kind == OutcomeRemarketed || in.Kind == OutcomeExported
	needRecycler := in.Kind == OutcomeRecycled
	out.Buyer = text(&errs, in.Buyer, needBuyer, 200, "input", "buyer")
	out.BuyerCountry = strings.ToUpper(text(&errs, in.BuyerCountry, in.Kind == OutcomeExported, 2, "input", "buyerCountry"))
	out.DownstreamVendor = text(&errs, in.DownstreamVendor, needRecycler, 200, "input", "downstreamVendor")
	out.DownstreamCertification = text(&errs, in.DownstreamCertification, needRecycler, 200, "input", "downstreamCertification")
	out.Note = text(&errs, in.Note, false, 2000, "input", "note")
	if serial == "" && tag == "" {
		errs.Add(CodeRequired, "a serial or an asset tag is required", "input", "serial")
	}
	if !in.Kind.Valid() {
		errs.Add(CodeInvalid, "unknown outcome", "input", "outcome")
	}
	if out.BuyerCountry != "" && (len(out.BuyerCountry) != 2 || strings.Trim(out.BuyerCountry, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
		errs.Add(CodeInvalid, "must be an ISO 3166 two-letter country code", "input", "buyerCountry")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var line *PickupLine
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		return idempotent(tx, who, "recordOutcome", in.IdempotencyKey, in, func() (any, error) {
			o, err := s.orderIn(ctx, tx, orderID, PickupReceived)
			if err != nil {
				return nil, err
			}
			if line, err = receivedLine(tx, o.ID, serial, tag); err != nil {
				return nil, err
			}
			if line.Outcome != nil {
				return nil, userError(CodeIllegalTransition, "this asset already has its outcome ("+string(line.Outcome.Kind)+")", "input", "serial")
			}
			a, err := tx.GetAsset(line.AssetID)
			if err != nil {
				return nil, fmt.Errorf("load asset: %w", err)
			}
			if line.BearsData && a.State == StateAtVendor {
				return nil, userError(CodeSanitizationRequired,
					"this asset bears data: record its sanitization (NIST SP 800-88) before its outcome", "input", "serial")
			}
			now := s.timestamp()
			m, err := s.transition(tx, a, outcomeEvents[out.Kind], transitionFacts{actorID: who.MemberID, at: now, custodian: a.Custodian,
				details: compact(map[string]string{"order": o.ID, "vendor": o.VendorID, "outcome": string(out.Kind),
					"buyer": out.Buyer, "buyerCountry": out.BuyerCountry, "downstreamVendor": out.DownstreamVendor,
					"downstreamCertification": out.DownstreamCertification})}, "input", "outcome")
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
			out.RecordedAt = now
			line.Outcome = out
			if err := tx.PutPickupLine(line); err != nil {
				return nil, fmt.Errorf("record outcome: %w", err)
			}
			return []string{o.ID, line.AssetID}, nil
		}, func(stored []byte) error {
			var ids []string
			if err := decodeStored(stored, &ids); err != nil || len(ids) != 2 {
				return fmt.Errorf("decode stored outcome: %w", errors.Join(err, errors.New("malformed")))
			}
			lines, err := tx.ListPickupLines(ids[:1])
			if err != nil {
				return fmt.Errorf("load stored outcome: %w", err)
			}
			for _, l := range lines {
				if l.AssetID == ids[1] {
					line = l
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("record outcome: %w", err)
	}
	s.publish(ctx, msgs)
	return line, nil
}

// Sanitizations loads the sanitization records of many orders in one
// statement (dataloaders); the orders were checked visible when loaded.
func (s *Service) Sanitizations(ctx context.Context, orderIDs []string) ([]*SanitizationRecord, error) {
	return batch(ctx, s.store, "sanitization records", func(tx Tx) ([]*SanitizationRecord, error) {
		return tx.ListSanitizations(orderIDs)
	})
}
