package storage

import (
	"strings"

	"github.com/custody-dev/custody/domain"
)

// The reads of the ITAM and HRIS imports (issue 6): one statement per batch
// of records, whatever its size, over the unique indexes of 00001.

// FindPeople implements domain.Tx: one statement over the (tenant_id,
// employee_id) unique key and the (tenant_id, lower(email)) unique index.
// Each email is folded by the database's own lower(), the function the
// index is built on, so a match here is exactly a collision there (SQLite's
// lower() folds ASCII only; Go's would fold more and miss the index).
func (t *txn) FindPeople(employeeIDs, emails []string) ([]*domain.Person, error) {
	employeeIDs, emails = nonEmpty(employeeIDs), nonEmpty(emails)
	if len(employeeIDs) == 0 && len(emails) == 0 {
		return nil, nil
	}
	byEmail := "lower(people.email) IN (" + strings.TrimSuffix(strings.Repeat("lower(?),", len(emails)), ",") + ")"
	emailArgs := make([]any, len(emails))
	for i, e := range emails {
		emailArgs[i] = e
	}
	q := t.scoped("people")
	switch {
	case len(emails) == 0:
		q = q.Where("people.employee_id IN ?", employeeIDs)
	case len(employeeIDs) == 0:
		q = q.Where(byEmail, emailArgs...)
	default:
		q = q.Where("(people.employee_id IN ? OR "+byEmail+")", append([]any{employeeIDs}, emailArgs...)...)
	}
	var rows []personRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError("find people", err)
	}
	return mapRows(rows, (*personRow).domain), nil
}
