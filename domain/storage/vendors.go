package storage

import (
	"cmp"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/custody-dev/custody/domain"
)

// ITAD vendors and their staff's link to them (migrations 00005).

// CreateVendor implements domain.Tx. A vendor whose name another vendor of
// the tenant has, in any case, gives a *domain.DuplicateError with Key
// "name" (the unique index vendors_name_key), even from concurrent
// transactions. v is left as stored: certifications sorted by scheme, their
// dates at midnight UTC, times in UTC microseconds.
func (t *txn) CreateVendor(v *domain.Vendor) error {
	const op = "create vendor"
	if v == nil {
		return errors.New(op + ": nil vendor")
	}
	if err := newRecordID(&v.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := canonicalRefs(need("engagedById", &v.EngagedByID)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	r, err := vendorRowOf(v)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := insert(t.g, t.tenant, "vendors", r).Error; err != nil {
		return dbError(op, err)
	}
	r.storedIn(t.tenant, v)
	return nil
}

// UpdateVendor implements domain.Tx. It writes the name, contact and
// certifications; who engaged the vendor and when never change.
func (t *txn) UpdateVendor(v *domain.Vendor) error {
	const op = "update vendor"
	if v == nil {
		return errors.New(op + ": nil vendor")
	}
	r, err := vendorRowOf(v)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := t.update(op, "vendors", v.ID, v.Version, r.updates()); err != nil {
		return err
	}
	v.TenantID, v.Certifications, v.UpdatedAt = t.tenant, r.Certifications, r.UpdatedAt.Time
	return nil
}

// GetVendor implements domain.Tx.
func (t *txn) GetVendor(id string) (*domain.Vendor, error) {
	var r vendorRow
	if err := t.getByID("get vendor", "vendors", id, &r); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// GetVendors implements domain.Tx.
func (t *txn) GetVendors(ids []string) ([]*domain.Vendor, error) {
	rows, err := getByIDs[vendorRow](t, "get vendors", "vendors", ids)
	return mapRows(rows, (*vendorRow).domain), err
}

// ListVendors implements domain.Tx.
func (t *txn) ListVendors(p domain.PageRequest) ([]*domain.Vendor, error) {
	q, err := page(t.scoped("vendors"), "vendors", p)
	if err != nil {
		return nil, err
	}
	var rows []vendorRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("list vendors", err)
	}
	return mapRows(rows, (*vendorRow).domain), nil
}

type vendorRow struct {
	TenantID       string         `gorm:"column:tenant_id;primaryKey"`
	ID             string         `gorm:"column:id;primaryKey"`
	Name           string         `gorm:"column:name"`
	ContactEmail   string         `gorm:"column:contact_email"`
	Certifications certifications `gorm:"column:certifications"`
	EngagedAt      stamp          `gorm:"column:engaged_at"`
	EngagedByID    string         `gorm:"column:engaged_by_id"`
	UpdatedAt      stamp          `gorm:"column:updated_at;autoUpdateTime:false"`
	Version        int            `gorm:"column:version"`
}

func vendorRowOf(v *domain.Vendor) (*vendorRow, error) {
	certs, err := storedCertifications(v.Certifications)
	if err != nil {
		return nil, err
	}
	return &vendorRow{ID: v.ID, Name: v.Name, ContactEmail: v.ContactEmail, Certifications: certs,
		EngagedAt: newStamp(v.EngagedAt), EngagedByID: v.EngagedByID, UpdatedAt: newStamp(v.UpdatedAt),
		Version: v.Version}, nil
}

func (r *vendorRow) domain() *domain.Vendor {
	return &domain.Vendor{ID: r.ID, TenantID: r.TenantID, Name: r.Name, ContactEmail: r.ContactEmail,
		Certifications: r.Certifications, EngagedAt: r.EngagedAt.Time,
		EngagedByID: r.EngagedByID, UpdatedAt: r.UpdatedAt.Time, Version: r.Version}
}

// updates returns the columns an optimistic update writes. Who engaged the
// vendor and when are facts of its creation and never change.
func (r *vendorRow) updates() map[string]any {
	return map[string]any{"name": r.Name, "contact_email": r.ContactEmail, "certifications": r.Certifications,
		"updated_at": r.UpdatedAt, "version": r.Version}
}

// storedIn writes back to v what the row stores.
func (r *vendorRow) storedIn(tenant string, v *domain.Vendor) {
	v.TenantID, v.Certifications = tenant, r.Certifications
	v.EngagedAt, v.UpdatedAt = r.EngagedAt.Time, r.UpdatedAt.Time
}

func (r *vendorRow) setTenant(t string) { r.TenantID = t }

// certifications is a vendor's certifications column: a JSON array of
// {scheme, number, expiresOn}, expiresOn a calendar date (YYYY-MM-DD), in
// the order storedCertifications gives them. An empty list reads back as nil.
type certifications []domain.Certification

// certificationJSON is one stored certification.
type certificationJSON struct {
	Scheme    string `json:"scheme"`
	Number    string `json:"number"`
	ExpiresOn string `json:"expiresOn"`
}

// dateLayout is how a calendar date is written inside JSON.
const dateLayout = time.DateOnly

// storedCertifications returns in as stored: sorted by scheme (then number
// and date, so that equal lists give equal text), each date the calendar day
// of ExpiresOn in its own location, at midnight UTC; nil when empty. An
// unknown scheme is refused, as a CHECK would refuse it.
func storedCertifications(in []domain.Certification) (certifications, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(certifications, len(in))
	for i, c := range in {
		if !c.Scheme.Valid() {
			return nil, fmt.Errorf("unknown certification scheme %q", c.Scheme)
		}
		out[i] = domain.Certification{Scheme: c.Scheme, Number: c.Number, ExpiresOn: newDate(c.ExpiresOn).Time}
	}
	slices.SortFunc(out, func(a, b domain.Certification) int {
		return cmp.Or(cmp.Compare(a.Scheme, b.Scheme), cmp.Compare(a.Number, b.Number), a.ExpiresOn.Compare(b.ExpiresOn))
	})
	return out, nil
}

// Value implements driver.Valuer: the JSON text, "[]" for none.
func (c certifications) Value() (driver.Value, error) {
	list := make([]certificationJSON, len(c))
	for i, cert := range c {
		list[i] = certificationJSON{Scheme: string(cert.Scheme), Number: cert.Number,
			ExpiresOn: cert.ExpiresOn.Format(dateLayout)}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("storage: encode certifications: %w", err)
	}
	return string(b), nil
}

// Scan implements sql.Scanner for jsonb (Postgres) and text (SQLite).
func (c *certifications) Scan(v any) error {
	var raw []byte
	switch v := v.(type) {
	case string:
		raw = []byte(v)
	case []byte:
		raw = v
	default:
		return fmt.Errorf("storage: cannot read %T as certifications", v)
	}
	var list []certificationJSON
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("storage: bad stored certifications: %w", err)
	}
	*c = nil
	for _, j := range list {
		day, err := time.Parse(dateLayout, j.ExpiresOn)
		if err != nil {
			return fmt.Errorf("storage: bad stored certification date %q: %w", j.ExpiresOn, err)
		}
		*c = append(*c, domain.Certification{Scheme: domain.CertificationScheme(j.Scheme), Number: j.Number,
			ExpiresOn: day})
	}
	return nil
}
