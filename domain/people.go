package domain

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
)

// PersonInput creates a person. Every field but Department is required.
type PersonInput struct {
	EmployeeID string
	Name       string
	Email      string
	Department string
	Status     PersonStatus // defaults to ACTIVE
}

// PersonPatch updates a person; nil fields stay unchanged.
type PersonPatch struct {
	ID         string
	EmployeeID *string
	Name       *string
	Email      *string
	Department *string
	Status     *PersonStatus
}

// CreatePerson records an employee as known from the HRIS.
func (s *Service) CreatePerson(ctx context.Context, in PersonInput) (*Person, error) {
	if in.Status == "" {
		in.Status = PersonActive
	}
	p := &Person{ID: NewID(), Status: in.Status, Version: 1}
	var errs UserErrors
	p.EmployeeID = text(&errs, in.EmployeeID, true, 100, "input", "employeeId")
	p.Name = text(&errs, in.Name, true, 200, "input", "name")
	p.Email = validEmail(&errs, in.Email, "input", "email")
	p.Department = text(&errs, in.Department, false, 200, "input", "department")
	if !p.Status.Valid() {
		errs.Add(CodeInvalid, "unknown status", "input", "status")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		p.CreatedAt, p.UpdatedAt = s.timestamp(), s.timestamp()
		return duplicateAsUserError(tx.CreatePerson(p))
	})
	if err != nil {
		return nil, fmt.Errorf("create person: %w", err)
	}
	return p, nil
}

// UpdatePerson changes a person's HR data.
func (s *Service) UpdatePerson(ctx context.Context, patch PersonPatch) (*Person, error) {
	var out *Person
	err := s.store.Update(ctx, func(tx Tx) error {
		p, err := tx.GetPerson(patch.ID)
		if err != nil {
			return notFoundAs(err, "person", "input", "id")
		}
		var errs UserErrors
		if patch.EmployeeID != nil {
			p.EmployeeID = text(&errs, *patch.EmployeeID, true, 100, "input", "employeeId")
		}
		if patch.Name != nil {
			p.Name = text(&errs, *patch.Name, true, 200, "input", "name")
		}
		if patch.Email != nil {
			p.Email = validEmail(&errs, *patch.Email, "input", "email")
		}
		if patch.Department != nil {
			p.Department = text(&errs, *patch.Department, false, 200, "input", "department")
		}
		if patch.Status != nil {
			if !patch.Status.Valid() {
				errs.Add(CodeInvalid, "unknown status", "input", "status")
			}
			p.Status = *patch.Status
		}
		if err := errs.Err(); err != nil {
			return err
		}
		p.Version++
		p.UpdatedAt = s.timestamp()
		if err := duplicateAsUserError(tx.UpdatePerson(p)); err != nil {
			return err
		}
		out = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update person: %w", err)
	}
	return out, nil
}

// validEmail checks an address and returns it trimmed.
func validEmail(errs *UserErrors, value string, field ...string) string {
	v := text(errs, value, true, 320, field...)
	if v == "" || len(v) > 320 {
		return v
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
		errs.Add(CodeInvalid, "is not an email address", field...)
	}
	return v
}

// duplicateAsUserError turns a unique-key collision into a user error.
func duplicateAsUserError(err error) error {
	var dup *DuplicateError
	if !errors.As(err, &dup) {
		return err
	}
	switch dup.Key {
	case "employeeId":
		return userError(CodeDuplicate, "another person already has this employee id", "input", "employeeId")
	case "email":
		return userError(CodeDuplicate, "another person already has this email", "input", "email")
	}
	return userError(CodeDuplicate, "duplicate "+dup.Key, "input", dup.Key)
}
