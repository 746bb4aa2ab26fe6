package domain

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MaxCaseItems bounds how many assets one case tracks, so opening a case for
// someone recorded as holding a warehouse cannot hold a transaction for long.
const MaxCaseItems = 1000

// OpenCaseInput opens an off-boarding case for a departing employee.
type OpenCaseInput struct {
	PersonID string
	// LastDay and DueDate are calendar dates; their time of day is ignored.
	// A zero DueDate defaults to LastDay plus the tenant's SLA policy
	// OffboardingDueDays.
	LastDay        time.Time
	DueDate        time.Time
	Note           string
	IdempotencyKey string `json:"-"`
}

// OpenCase opens an off-boarding case. Its expected items are the assets the
// custody record says the person holds now (DEPLOYED to them); assets handed
// to them while the case is open join it. A person holding nothing gets a
// case that is complete at once. A person has at most one open case.
func (s *Service) OpenCase(ctx context.Context, in OpenCaseInput) (*OffboardingCase, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("open off-boarding case: %w", err)
	}
	var errs UserErrors
	personID := text(&errs, in.PersonID, true, 100, "input", "personId")
	lastDay := calendarDate(&errs, in.LastDay, "input", "lastDay")
	var dueDate time.Time
	if !in.DueDate.IsZero() {
		dueDate = calendarDate(&errs, in.DueDate, "input", "dueDate")
	}
	note := text(&errs, in.Note, false, 2000, "input", "note")
	if !lastDay.IsZero() && !dueDate.IsZero() && dueDate.Before(lastDay) {
		errs.Add(CodeInvalid, "the due date cannot be before the last day", "input", "dueDate")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var c *OffboardingCase
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		if err := tx.LockLog(); err != nil {
			return fmt.Errorf("lock the custody log: %w", err)
		}
		return idempotent(tx, who, "openCase", in.IdempotencyKey, in, func() (any, error) {
			person, err := tx.GetPerson(personID)
			if err != nil {
				return nil, notFoundAs(err, "person", "input", "personId")
			}
			if existing, err := tx.LockOpenCaseOf(person.ID); err == nil {
				return nil, userError(CodeDuplicate, "this person already has an open off-boarding case ("+existing.ID+")", "input", "personId")
			} else if !errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("look up open case: %w", err)
			}
			held, err := heldAssets(tx, person.ID)
			if err != nil {
				return nil, err
			}
			due := dueDate
			if due.IsZero() {
				policy, err := slaPolicy(ctx, tx)
				if err != nil {
					return nil, err
				}
				due = lastDay.AddDate(0, 0, policy.OffboardingDueDays)
			}
			now := s.timestamp()
			c = &OffboardingCase{ID: NewID(), PersonID: person.ID, LastDay: lastDay, DueDate: due, Note: note,
				State: CaseOpen, OpenedByID: who.MemberID, OpenedAt: now, Version: 1}
			if err := tx.CreateCase(c); err != nil {
				if errors.Is(err, ErrDuplicate) {
					return nil, userError(CodeDuplicate, "this person already has an open off-boarding case", "input", "personId")
				}
				return nil, fmt.Errorf("create case: %w", err)
			}
			for _, a := range held {
				if err := tx.PutCaseItem(&CaseItem{CaseID: c.ID, AssetID: a.ID, Expected: true, Status: ItemOutstanding, AddedAt: now}); err != nil {
					return nil, fmt.Errorf("add case item: %w", err)
				}
			}
			m, err := appendEvent(tx, caseEvent(c, EventOffboardingOpened, who.MemberID, now, map[string]string{
				"lastDay": c.LastDay.Format(time.DateOnly), "dueDate": c.DueDate.Format(time.DateOnly),
				"expectedItems": strconv.Itoa(len(held)),
			}), c.PersonID)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
			if len(held) == 0 {
				m, err := s.completeCase(tx, c, who.MemberID, now)
				if err != nil {
					return nil, err
				}
				msgs = append(msgs, m)
			}
			return c.ID, nil
		}, func(stored []byte) error {
			return replayID(stored, "case", func(id string) (err error) { c, err = tx.GetCase(id); return err })
		})
	})
	if err != nil {
		return nil, fmt.Errorf("open off-boarding case: %w", err)
	}
	s.publish(ctx, msgs)
	return c, nil
}

// heldAssets returns the assets DEPLOYED to a person, at most MaxCaseItems.
func heldAssets(tx Tx, personID string) ([]*Asset, error) {
	var held []*Asset
	after := ""
	for {
		page, err := tx.ListAssets(AssetFilter{HolderID: personID, States: []AssetState{StateDeployed}},
			PageRequest{First: MaxPageSize, After: after})
		if err != nil {
			return nil, fmt.Errorf("list held assets: %w", err)
		}
		held = append(held, page...)
		if len(held) > MaxCaseItems {
			return nil, userError(CodeInvalid, fmt.Sprintf("the person holds more than %d assets; split the off-boarding", MaxCaseItems), "input", "personId")
		}
		if len(page) < MaxPageSize {
			return held, nil
		}
		after = page[len(page)-1].ID
	}
}

// caseEvent is a case-level custody event: it concerns a person's case, not
// one asset, so it has no state and no custodian change.
func caseEvent(c *OffboardingCase, t EventType, actorID string, at time.Time, details map[string]string) *CustodyEvent {
	if details == nil {
		details = map[string]string{}
	}
	details["case"], details["person"] = c.ID, c.PersonID
	none := Custodian{Kind: CustodianNone}
	return &CustodyEvent{TenantID: c.TenantID, Type: t, FromCustodian: none, ToCustodian: none,
		ActorID: actorID, RecordedAt: at, Details: details}
}

// completeCase marks c completed and logs it.
func (s *Service) completeCase(tx Tx, c *OffboardingCase, actorID string, at time.Time) (Message, error) {
	c.State, c.CompletedAt = CaseCompleted, &at
	c.Version++
	if err := tx.UpdateCase(c); err != nil {
		return Message{}, fmt.Errorf("complete case: %w", err)
	}
	return appendEvent(tx, caseEvent(c, EventOffboardingCompleted, actorID, at, nil), c.PersonID)
}

// completeIfDone completes an open case once none of its items (as read and
// updated in this transaction) is outstanding.
func (s *Service) completeIfDone(tx Tx, c *OffboardingCase, items []*CaseItem, actorID string, at time.Time) ([]Message, error) {
	if c.State != CaseOpen {
		return nil, nil
	}
	for _, it := range items {
		if it.Status == ItemOutstanding {
			return nil, nil
		}
	}
	m, err := s.completeCase(tx, c, actorID, at)
	if err != nil {
		return nil, err
	}
	return []Message{m}, nil
}

// caseItems reads a case's items once per change: the item to change is
// found among them, and they decide whether the case completes.
func caseItems(tx Tx, caseID string) ([]*CaseItem, error) {
	items, err := tx.ListCaseItems([]string{caseID})
	if err != nil {
		return nil, fmt.Errorf("list case items: %w", err)
	}
	return items, nil
}

// findItem returns the item of items for an asset, or nil.
func findItem(items []*CaseItem, assetID string) *CaseItem {
	for _, it := range items {
		if it.AssetID == assetID {
			return it
		}
	}
	return nil
}

// WriteOffInput writes off an outstanding item of an open case.
type WriteOffInput struct {
	CaseID  string
	AssetID string
	Kind    WriteOffKind
	Reason  string
	// ApprovedBy names who approved keeping the item (required for
	// WriteOffKept).
	ApprovedBy     string
	IdempotencyKey string `json:"-"`
}

// WriteOffItem closes an outstanding item without a return: LOST makes the
// asset LOST (liability stays recorded with the person); KEPT_WITH_APPROVAL
// leaves it DEPLOYED to them with the approval logged. The case completes
// when nothing is outstanding any more.
func (s *Service) WriteOffItem(ctx context.Context, in WriteOffInput) (*OffboardingCase, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("write off case item: %w", err)
	}
	var errs UserErrors
	caseID := text(&errs, in.CaseID, true, 100, "input", "caseId")
	assetID := text(&errs, in.AssetID, true, 100, "input", "assetId")
	reason := text(&errs, in.Reason, true, 2000, "input", "reason")
	approvedBy := text(&errs, in.ApprovedBy, in.Kind == WriteOffKept, 200, "input", "approvedBy")
	if !in.Kind.Valid() {
		errs.Add(CodeInvalid, "unknown write-off kind", "input", "kind")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var c *OffboardingCase
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		if err := tx.LockLog(); err != nil {
			return fmt.Errorf("lock the custody log: %w", err)
		}
		return idempotent(tx, who, "writeOffCaseItem", in.IdempotencyKey, in, func() (any, error) {
			var err error
			if c, err = tx.LockCase(caseID); err != nil {
				return nil, notFoundAs(err, "off-boarding case", "input", "caseId")
			}
			if c.State != CaseOpen {
				return nil, userError(CodeCaseNotOpen, "the case is already completed", "input", "caseId")
			}
			items, err := caseItems(tx, c.ID)
			if err != nil {
				return nil, err
			}
			item := findItem(items, assetID)
			if item == nil {
				return nil, userError(CodeNotFound, "the asset is not an item of this case", "input", "assetId")
			}
			if item.Status != ItemOutstanding {
				return nil, userError(CodeNotOutstanding, "the item is already "+string(item.Status), "input", "assetId")
			}
			a, err := tx.GetAsset(item.AssetID)
			if err != nil {
				return nil, fmt.Errorf("load case asset: %w", err)
			}
			now := s.timestamp()
			details := map[string]string{"case": c.ID, "reason": reason, "writeOff": string(in.Kind)}
			var m Message
			if in.Kind == WriteOffLost {
				// Liability stays recorded with the holder; the place is unknown.
				m, err = s.transition(tx, a, EventReportedLost, transitionFacts{actorID: who.MemberID, at: now,
					custodian: a.Custodian, personID: c.PersonID, details: details}, "input", "assetId")
			} else {
				details["approvedBy"] = approvedBy
				m, err = s.annotate(tx, a, EventRetentionApproved, who.MemberID, now, c.PersonID, details)
			}
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
			item.Status, item.WriteOff, item.WriteOffReason, item.ApprovedBy = ItemWrittenOff, in.Kind, reason, approvedBy
			item.EventID, item.ResolvedAt, item.ResolvedByID = m.EventID, &now, who.MemberID
			if err := tx.PutCaseItem(item); err != nil {
				return nil, fmt.Errorf("write off item: %w", err)
			}
			done, err := s.completeIfDone(tx, c, items, who.MemberID, now)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, done...)
			return c.ID, nil
		}, func(stored []byte) error {
			return replayID(stored, "case", func(id string) (err error) { c, err = tx.GetCase(id); return err })
		})
	})
	if err != nil {
		return nil, fmt.Errorf("write off case item: %w", err)
	}
	s.publish(ctx, msgs)
	return c, nil
}

// annotate appends an asset event that changes neither state nor custodian
// (a recorded decision about the asset) and links the asset to it.
func (s *Service) annotate(tx Tx, a *Asset, t EventType, actorID string, at time.Time, personID string, details map[string]string) (Message, error) {
	e := &CustodyEvent{TenantID: a.TenantID, AssetID: a.ID, ParcelID: a.ParcelID, Type: t,
		FromState: a.State, ToState: a.State, FromCustodian: a.Custodian, ToCustodian: a.Custodian,
		ActorID: actorID, Location: a.Custodian.Ref, RecordedAt: at, Details: details}
	if a.Custodian.Kind != CustodianLocation {
		e.Location = ""
	}
	m, err := appendEvent(tx, e, personID)
	if err != nil {
		return Message{}, err
	}
	a.LastEventID, a.UpdatedAt = e.ID, at
	a.Version++
	if err := tx.UpdateAsset(a); err != nil {
		if errors.Is(err, ErrConcurrentModification) {
			return Message{}, userError(CodeConcurrentUpdate, "the asset was changed by another request at the same moment; reload it and try again")
		}
		return Message{}, fmt.Errorf("update asset: %w", err)
	}
	return m, nil
}

// openCaseOf returns, locked, the person's open off-boarding case, or nil.
func openCaseOf(tx Tx, personID string) (*OffboardingCase, error) {
	c, err := tx.LockOpenCaseOf(personID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up open case: %w", err)
	}
	return c, nil
}

// addToCase makes assets just handed to a departing person expected items
// of their open case c (nil: nobody is leaving, nothing to do).
func addToCase(tx Tx, c *OffboardingCase, assets []*Asset, at time.Time) error {
	if c == nil {
		return nil
	}
	for _, a := range assets {
		if err := tx.PutCaseItem(&CaseItem{CaseID: c.ID, AssetID: a.ID, Expected: true, Status: ItemOutstanding, AddedAt: at}); err != nil {
			return fmt.Errorf("add handed-off asset to open case: %w", err)
		}
	}
	return nil
}

// calendarDate validates a date input and returns it as stored: midnight UTC
// of the date as given (its own offset's calendar day).
func calendarDate(errs *UserErrors, t time.Time, field ...string) time.Time {
	if t.IsZero() {
		errs.Add(CodeRequired, "is required", field...)
		return time.Time{}
	}
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if d.Before(minDeviceTime) || !d.Before(maxDeviceTime) {
		errs.Add(CodeInvalid, "must be between the years 2000 and 2199", field...)
		return time.Time{}
	}
	return d
}

// Case returns an off-boarding case, or nil.
func (s *Service) Case(ctx context.Context, id string) (*OffboardingCase, error) {
	return get(ctx, s.store, "off-boarding case", func(tx Tx) (*OffboardingCase, error) { return tx.GetCase(id) })
}

// Cases lists off-boarding cases. Status OVERDUE means open and past the due
// date at the service's clock.
func (s *Service) Cases(ctx context.Context, status CaseStatus, personID string, first *int, after string) (Page[*OffboardingCase], error) {
	f := CaseFilter{PersonID: personID}
	switch status {
	case "":
	case CaseStatusOpen:
		today := s.today()
		f.State, f.DueFrom = CaseOpen, &today
	case CaseStatusCompleted:
		f.State = CaseCompleted
	case CaseStatusOverdue:
		today := s.today()
		f.State, f.DueBefore = CaseOpen, &today
	default:
		return Page[*OffboardingCase]{}, &ArgumentError{Argument: "status", Message: "unknown case status"}
	}
	return list(ctx, s.store, "off-boarding cases", first, after, func(tx Tx, p PageRequest) ([]*OffboardingCase, error) {
		return tx.ListCases(f, p)
	})
}

// today is the current calendar date (UTC) at the service's clock.
func (s *Service) today() time.Time {
	now := s.now().UTC()
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

// CaseStatus returns c's status at the service's clock.
func (s *Service) CaseStatus(c *OffboardingCase) CaseStatus { return c.Status(s.now()) }

// CasesByID loads cases in one statement (dataloaders).
func (s *Service) CasesByID(ctx context.Context, ids []string) ([]*OffboardingCase, error) {
	return batch(ctx, s.store, "off-boarding cases", func(tx Tx) ([]*OffboardingCase, error) { return tx.GetCases(ids) })
}

// CaseItems loads the items of many cases in one statement (dataloaders).
func (s *Service) CaseItems(ctx context.Context, caseIDs []string) ([]*CaseItem, error) {
	return batch(ctx, s.store, "off-boarding case items", func(tx Tx) ([]*CaseItem, error) { return tx.ListCaseItems(caseIDs) })
}
