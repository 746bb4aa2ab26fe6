package storage

import (
	"context"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/google/uuid"
	"gorm.io/gorm"
)

// The reads of the exports (issue 6; indexes: migrations 00008): keyset
// pages of the custody log, the evidence of signatures without their bulk,
// and the credential a signed download link names.

// fromPerson and toPerson are the two sides of ListEvents' PersonID filter:
// the person sent, or received, custody. The kind is a literal, the
// condition of the partial indexes custody_events_from_person_idx and
// custody_events_to_person_idx: a bound parameter could not prove it to
// SQLite's planner, nor to a generic (cached) plan on Postgres.
const (
	fromPerson = "(custody_events.from_custodian_kind = '" + string(domain.CustodianPerson) +
		"' AND custody_events.from_custodian_ref = ?)"
	toPerson = "(custody_events.to_custodian_kind = '" + string(domain.CustodianPerson) +
		"' AND custody_events.to_custodian_ref = ?)"
)

// ListEvents implements domain.Tx: one query (after customPlans' SET on
// Postgres), keyset on seq, read with readRows as ScanEvents reads (an
// export pages through millions of events). Each filter is served by an index of 00008 or 00001 (see
// there); an AssetID or PersonID that is not a record id names no event,
// so the page is empty without a statement.
//
// A PersonID page is the union of two disjoint arms, the events the person
// sent and the others they received, each a range of its partial index,
// put in seq order (MERGE (UNION ALL) on SQLite). With the equivalent OR,
// SQLite, which has no statistics, used neither index but read the
// tenant's whole log: four seconds for a person's 35 events among 200,000,
// against 12 ms. On SQLite each arm also names its index (scopedVia):
// otherwise it prefers a location's, far larger than a person's.
func (t *txn) ListEvents(f domain.EventFilter, afterSeq int64, limit int) ([]*domain.CustodyEvent, error) {
	const op = "list events"
	if limit <= 0 {
		return nil, nil
	}
	var asset, person string
	if f.AssetID != "" {
		id, ok := canonicalID(f.AssetID)
		if !ok {
			return nil, nil
		}
		asset = id
	}
	if f.PersonID != "" {
		id, ok := canonicalID(f.PersonID)
		if !ok {
			return nil, nil
		}
		person = id
	}
	filtered := func(q *gorm.DB) *gorm.DB {
		q = q.Select(eventColumns).Where("custody_events.seq > ?", afterSeq)
		// Stored times are whole microseconds, so rounding a bound up keeps
		// its meaning exactly: t >= From iff t >= ceil(From), t < To iff
		// t < ceil(To). Truncating would let in an event a sub-microsecond
		// From excludes, and drop one a sub-microsecond To admits.
		if f.From != nil {
			q = q.Where("custody_events.recorded_at >= ?", newStamp(ceilMicrosecond(*f.From)))
		}
		if f.To != nil {
			q = q.Where("custody_events.recorded_at < ?", newStamp(ceilMicrosecond(*f.To)))
		}
		if len(f.Types) > 0 {
			types := make([]string, len(f.Types))
			for i, typ := range f.Types {
				types[i] = string(typ)
			}
			q = q.Where("custody_events.type IN ?", types)
		}
		if asset != "" {
			q = q.Where("custody_events.asset_id = ?", asset)
		}
		if f.Location != "" {
			q = q.Where("custody_events.location = ?", f.Location)
		}
		return q
	}
	var q *gorm.DB
	if person == "" {
		q = filtered(t.scoped("custody_events")).Order("custody_events.seq").Limit(limit)
	} else {
		sent := filtered(t.scopedVia("custody_events", "custody_events_from_person_idx")).Where(fromPerson, person)
		received := filtered(t.scopedVia("custody_events", "custody_events_to_person_idx")).
			Where(toPerson, person).Where("NOT "+fromPerson, person)
		q = t.g.Raw("? UNION ALL ? ORDER BY seq LIMIT ?", sent, received, limit)
	}
	if err := t.customPlans(); err != nil {
		return nil, dbError(op, err)
	}
	rows, err := readRows(q, op, make([]eventRow, 0, min(limit, 1024)), (*eventRow).scanDest)
	if err != nil {
		return nil, err
	}
	return events(rows)
}

// customPlans makes Postgres plan each later statement of the transaction
// for its own parameters. An export runs the same page statement again and
// again, and after five runs Postgres may switch to one generic plan that
// ignores them: with unknown date bounds it guesses a narrow range, reads
// the whole range through custody_events_recorded_idx and sorts it, for
// every page. Exporting a two-year range of 200,000 events took 54 s that
// way (pages of up to a second), and 2.3 s planned page by page, reading
// custody_events_seq_key in order (measured for 00008). Planning a page
// costs a millisecond or less. SQLite plans every statement anew. The
// setting lasts until the transaction ends and changes no result.
func (t *txn) customPlans() error {
	if t.g.Dialector.Name() != DialectPostgres {
		return nil
	}
	return t.g.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error
}

// ceilMicrosecond rounds t up to the next whole microsecond, if it is not
// one already.
func ceilMicrosecond(t time.Time) time.Time {
	c := t.Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

// signatureFactColumns are the columns of signatures except image and
// consent_text, which can be large (an image up to 512 KiB, TOASTed on
// Postgres): the signature's facts and the hashes that bind them.
const signatureFactColumns = "signatures.tenant_id, signatures.id, signatures.signer_id, signatures.typed_name, " +
	"signatures.image_type, signatures.image_sha256, signatures.consent_version, signatures.consent_sha256, " +
	"signatures.method, signatures.device_id, signatures.ip_address, signatures.user_agent, " +
	"signatures.device_time, signatures.signed_at, signatures.captured_by_id"

// GetSignatureFacts implements domain.Tx in one statement, like
// GetSignatures but never reading image or consent_text: the signatures
// come back with a nil Image and an empty ConsentText.
func (t *txn) GetSignatureFacts(ids []string) ([]*domain.Signature, error) {
	valid := canonicalIDs(ids)
	if len(valid) == 0 {
		return nil, nil
	}
	var rows []signatureRow
	err := t.scoped("signatures").Select(signatureFactColumns).Where("signatures.id IN ?", valid).
		Order("signatures.id").Find(&rows).Error
	if err != nil {
		return nil, dbError("get signature facts", err)
	}
	return mapRows(rows, (*signatureRow).domain), nil
}

// AuthenticateTokenID resolves a token of tenantID by its id, as
// Authenticate resolves one by its hash: unknown, revoked, of another
// tenant, or a malformed tenant or token id give ErrUnauthenticated.
func (db *DB) AuthenticateTokenID(ctx context.Context, tenantID, tokenID string) (*domain.Credential, error) {
	id, ok := canonicalID(tokenID)
	if _, err := uuid.Parse(tenantID); err != nil || !ok {
		return nil, domain.ErrUnauthenticated
	}
	return db.credential(ctx, "authenticate token id", tenantID, "api_tokens.id = ?", id)
}
