package domain

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxCertifications bounds the certifications recorded for one vendor (one
// per scheme).
const MaxCertifications = 3

// VendorInput engages an ITAD vendor.
type VendorInput struct {
	Name           string
	ContactEmail   string
	Certifications []Certification
	IdempotencyKey string `json:"-"`
}

// EngageVendor records an ITAD vendor the tenant works with, with the
// certifications the tenant verified. Staff of the vendor then get tokens
// with the itad_vendor role linked to it (custody token create --vendor).
func (s *Service) EngageVendor(ctx context.Context, in VendorInput) (*Vendor, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("engage vendor: %w", err)
	}
	var errs UserErrors
	v := &Vendor{EngagedByID: who.MemberID, Version: 1}
	v.Name = text(&errs, in.Name, true, 200, "input", "name")
	v.ContactEmail = contactEmail(&errs, in.ContactEmail, "input", "contactEmail")
	v.Certifications = certifications(&errs, in.Certifications, "input", "certifications")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		return idempotent(tx, who, "engageVendor", in.IdempotencyKey, in, func() (any, error) {
			v.ID = NewID()
			v.EngagedAt = s.timestamp()
			v.UpdatedAt = v.EngagedAt
			if err := tx.CreateVendor(v); err != nil {
				var dup *DuplicateError
				if errors.As(err, &dup) {
					return nil, userError(CodeDuplicate, "a vendor of this name is already engaged", "input", "name")
				}
				return nil, fmt.Errorf("create vendor: %w", err)
			}
			return v.ID, nil
		}, func(stored []byte) error {
			return replayID(stored, "vendor", func(id string) (err error) { v, err = tx.GetVendor(id); return err })
		})
	})
	if err != nil {
		return nil, fmt.Errorf("engage vendor: %w", err)
	}
	return v, nil
}

// SetVendorCertifications replaces a vendor's certifications with those the
// tenant verified now (a renewal, a new scheme, a lapsed one removed).
func (s *Service) SetVendorCertifications(ctx context.Context, vendorID string, certs []Certification) (*Vendor, error) {
	if _, err := actor(ctx); err != nil {
		return nil, fmt.Errorf("set vendor certifications: %w", err)
	}
	var errs UserErrors
	id := text(&errs, vendorID, true, 100, "input", "vendorId")
	list := certifications(&errs, certs, "input", "certifications")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var v *Vendor
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if v, err = tx.GetVendor(id); err != nil {
			return notFoundAs(err, "vendor", "input", "vendorId")
		}
		v.Certifications, v.UpdatedAt = list, s.timestamp()
		v.Version++
		if err := tx.UpdateVendor(v); err != nil {
			if errors.Is(err, ErrConcurrentModification) {
				return userError(CodeConcurrentUpdate, "the vendor was changed by another request at the same moment; reload it and try again", "input", "vendorId")
			}
			return fmt.Errorf("update vendor: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set vendor certifications: %w", err)
	}
	return v, nil
}

// ExpiredCertifications returns the vendor's certifications that are no
// longer valid on day. A vendor with none at all, or with an expired one,
// must not be given pickups (the disposition rules check it).
func ExpiredCertifications(v *Vendor, day time.Time) []Certification {
	var out []Certification
	for _, c := range v.Certifications {
		if !c.ValidOn(day) {
			out = append(out, c)
		}
	}
	return out
}

// VendorCertified reports whether v holds at least one certification and
// every one is valid on day.
func VendorCertified(v *Vendor, day time.Time) bool {
	return len(v.Certifications) > 0 && len(ExpiredCertifications(v, day)) == 0
}

// Today returns the current calendar date (UTC) at the service's clock.
func (s *Service) Today() time.Time { return s.today() }

// contactEmail validates an optional contact address.
func contactEmail(errs *UserErrors, value string, field ...string) string {
	v := text(errs, value, false, 320, field...)
	if v == "" {
		return ""
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
		errs.Add(CodeInvalid, "must be an email address such as ops@vendor.example", field...)
	}
	return v
}

// certifications validates a vendor's certifications: known schemes, one
// per scheme, a certificate number and an expiry date each.
func certifications(errs *UserErrors, in []Certification, field ...string) []Certification {
	if len(in) > MaxCertifications {
		errs.Add(CodeInvalid, fmt.Sprintf("at most %d certifications, one per scheme", MaxCertifications), field...)
		return nil
	}
	out := make([]Certification, 0, len(in))
	seen := map[CertificationScheme]bool{}
	for i, c := range in {
		f := append(slices.Clone(field), strconv.Itoa(i))
		if !c.Scheme.Valid() {
			errs.Add(CodeInvalid, "unknown certification scheme", append(f, "scheme")...)
		} else if seen[c.Scheme] {
			errs.Add(CodeInvalid, "one certification per scheme", append(f, "scheme")...)
		}
		seen[c.Scheme] = true
		number := text(errs, c.Number, true, 100, append(f, "number")...)
		expires := calendarDate(errs, c.ExpiresOn, append(f, "expiresOn")...)
		out = append(out, Certification{Scheme: c.Scheme, Number: number, ExpiresOn: expires})
	}
	slices.SortFunc(out, func(a, b Certification) int { return strings.Compare(string(a.Scheme), string(b.Scheme)) })
	return out
}

// Vendor returns a vendor by id, or nil.
func (s *Service) Vendor(ctx context.Context, id string) (*Vendor, error) {
	return get(ctx, s.store, "vendor", func(tx Tx) (*Vendor, error) { return tx.GetVendor(id) })
}

// Vendors lists the tenant's vendors in the order they were engaged.
func (s *Service) Vendors(ctx context.Context, first *int, after string) (Page[*Vendor], error) {
	return list(ctx, s.store, "vendors", first, after, func(tx Tx, p PageRequest) ([]*Vendor, error) {
		return tx.ListVendors(p)
	})
}

// VendorsByID loads vendors in one statement (dataloaders).
func (s *Service) VendorsByID(ctx context.Context, ids []string) ([]*Vendor, error) {
	return batch(ctx, s.store, "vendors", func(tx Tx) ([]*Vendor, error) { return tx.GetVendors(ids) })
}
