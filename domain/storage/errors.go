package storage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/custody-dev/custody/domain"
	sqlitedriver "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
)

// duplicateKeys maps a unique constraint or index (the same names on both
// dialects) to the logical key of domain.DuplicateError.
var duplicateKeys = map[string]string{
	"tenants_slug_key":       "slug",
	"people_employee_id_key": "employeeId",
	"people_email_key":       "email",
	"assets_serial_key":      "serial",
	"assets_asset_tag_key":   "assetTag",
	"ledger_keys_active_key": "activeSigningKey",
	// A partial unique index: one OPEN case per person.
	"offboarding_cases_open_person_key": "person",
	// An expression index (lower(name)): SQLite names it too.
	"vendors_name_key": "name",
}

// sqliteColumnKeys maps the "table.column" SQLite names in a UNIQUE failure
// (it reports columns, not constraint names) to the same logical keys.
var sqliteColumnKeys = map[string]string{
	"tenants.slug":                "slug",
	"people.employee_id":          "employeeId",
	"assets.serial":               "serial",
	"assets.asset_tag":            "assetTag",
	"ledger_keys.tenant_id":       "activeSigningKey",
	"offboarding_cases.person_id": "person",
}

// SQLite extended result codes (sqlite3.h).
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// dbError translates a driver error of operation op: unique collisions
// become *domain.DuplicateError, a reference to a row the tenant does not
// have becomes domain.ErrNotFound, anything else is wrapped with op.
func dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	if key, ok := uniqueViolation(err); ok {
		return fmt.Errorf("%s: %w", op, &domain.DuplicateError{Key: key})
	}
	if foreignKeyViolation(err) {
		return fmt.Errorf("%s: a referenced record does not exist: %w", op, domain.ErrNotFound)
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}

// uniqueViolation reports whether err is a unique-key collision and on which
// logical key ("id" for a primary key, the constraint name when unknown).
func uniqueViolation(err error) (string, bool) {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		if pg.Code != "23505" {
			return "", false
		}
		if key, ok := duplicateKeys[pg.ConstraintName]; ok {
			return key, true
		}
		if strings.HasSuffix(pg.ConstraintName, "_pkey") {
			return "id", true
		}
		return pg.ConstraintName, true
	}
	var lite *sqlitedriver.Error
	if !errors.As(err, &lite) {
		return "", false
	}
	switch lite.Code() {
	case sqliteConstraintPrimaryKey:
		return "id", true
	case sqliteConstraintUnique:
	default:
		return "", false
	}
	// "UNIQUE constraint failed: assets.tenant_id, assets.serial" or, for an
	// expression index, "UNIQUE constraint failed: index 'people_email_key'".
	msg := lite.Error()
	_, detail, _ := strings.Cut(msg, "UNIQUE constraint failed: ")
	detail, _, _ = strings.Cut(detail, " (")
	if name, ok := strings.CutPrefix(detail, "index '"); ok {
		name = strings.TrimSuffix(name, "'")
		if key, ok := duplicateKeys[name]; ok {
			return key, true
		}
		return name, true
	}
	for col := range strings.SplitSeq(detail, ",") {
		if key, ok := sqliteColumnKeys[strings.TrimSpace(col)]; ok {
			return key, true
		}
	}
	return detail, true
}

// foreignKeyViolation reports whether err is a foreign key violation.
func foreignKeyViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23503"
	}
	var lite *sqlitedriver.Error
	return errors.As(err, &lite) && lite.Code() == sqliteConstraintForeignKey
}
