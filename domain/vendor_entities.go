package domain

import "time"

// CertificationScheme names an ITAD industry certification.
type CertificationScheme string

// Certification schemes an ITAD vendor may hold.
const (
	SchemeR2v3      CertificationScheme = "R2V3"
	SchemeEStewards CertificationScheme = "E_STEWARDS"
	SchemeNAIDAAA   CertificationScheme = "NAID_AAA"
)

// Valid reports whether s is a known scheme.
func (s CertificationScheme) Valid() bool {
	return s == SchemeR2v3 || s == SchemeEStewards || s == SchemeNAIDAAA
}

// Certification is one certificate an ITAD vendor holds, as the tenant
// verified it: the scheme, the certificate number and its expiry date.
type Certification struct {
	Scheme CertificationScheme
	Number string
	// ExpiresOn is a calendar date (midnight UTC); the certificate is valid
	// through that whole day.
	ExpiresOn time.Time
}

// ValidOn reports whether the certificate is still valid on day.
func (c Certification) ValidOn(day time.Time) bool {
	return !day.After(c.ExpiresOn)
}

// Vendor is an ITAD vendor organisation the tenant engages: who picks up
// retired assets, sanitizes them and certifies their disposal. Vendor staff
// are members with the itad_vendor role whose VendorID names it. Each tenant
// keeps its own record of a vendor (one vendor serves many tenants, each of
// which verifies its certifications itself).
type Vendor struct {
	ID             string
	TenantID       string
	Name           string
	ContactEmail   string
	Certifications []Certification
	EngagedAt      time.Time
	EngagedByID    string
	UpdatedAt      time.Time
	Version        int
}
