-- Exports, embedded SQLite: the indexes of
-- migrations/postgres/00008_exports.sql (which explains them), but for
-- custody_events_recorded_idx. SQLite gathers no statistics here, so it
-- cannot tell a narrow date range from a wide one; it reads a date range
-- in log order (the (tenant_id, seq) key, checked with EXPLAIN QUERY PLAN),
-- which is one pass over the log per export whatever the range. Reading
-- the index instead would sort the rest of the range for every page: for
-- a range of most of the log, pages whose cost grows with the log.

-- +goose Up
CREATE INDEX custody_events_type_idx ON custody_events (tenant_id, type, seq);
CREATE INDEX custody_events_location_idx ON custody_events (tenant_id, location, seq);
CREATE INDEX custody_events_from_person_idx ON custody_events (tenant_id, from_custodian_ref, seq)
    WHERE from_custodian_kind = 'PERSON';
CREATE INDEX custody_events_to_person_idx ON custody_events (tenant_id, to_custodian_ref, seq)
    WHERE to_custodian_kind = 'PERSON';

-- +goose Down
DROP INDEX IF EXISTS custody_events_to_person_idx;
DROP INDEX IF EXISTS custody_events_from_person_idx;
DROP INDEX IF EXISTS custody_events_location_idx;
DROP INDEX IF EXISTS custody_events_type_idx;
