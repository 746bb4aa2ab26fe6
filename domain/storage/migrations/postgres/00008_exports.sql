-- Exports (issue 6): the indexes of ListEvents, one keyset page of a
-- custody log export, "seq > after ... ORDER BY seq LIMIT n" under the
-- export's filters. Same conventions as 00001: tenant_id leads every index.
-- Each ends with seq, so with its filter the page is one range of the
-- index, already in log order: no sort, and no row read that the page does
-- not return. Without a filter the page is a range of
-- custody_events_seq_key, and an asset's a range of custody_events_asset_idx
-- (both 00001).
--
-- Measured with EXPLAIN (ANALYZE, BUFFERS) on 200,000 events of one tenant
-- beside 50,000 of another (two years, 2,000 people, 5 locations): without
-- them a filtered page read the tenant's log on from the cursor (a type:
-- 6,441 buffers for 1,000 hand-offs) or scanned the whole table in
-- parallel and sorted it (a date range, a person, a small location: 5,928
-- buffers for every page, growing with the table). Every append writes
-- each of them, so the log's other columns get none. The five took 2.5 s
-- to build on those 250,000 events; CREATE INDEX holds appends off
-- meanwhile.

-- +goose Up
-- From/To (recorded time), for a range holding a small share of the log:
-- Postgres reads it here and sorts the page (a week: 1,920 events in 1,933
-- buffers, a page's worth of the range whatever the table's size). For
-- a wide range it keeps reading custody_events_seq_key in order; ListEvents
-- makes it plan each page for its bounds (see customPlans) so that it can.
-- It takes a range's events to be spread over the log, so the first page
-- of a wide range that starts late reads the log up to it, once.
CREATE INDEX custody_events_recorded_idx ON custody_events (tenant_id, recorded_at, seq);
-- Types: the hand-off log (HANDED_OFF) and exports of other types. One type
-- is a range in log order (1,000 hand-offs in 1,010 buffers).
CREATE INDEX custody_events_type_idx ON custody_events (tenant_id, type, seq);
-- Location (exact): a dock holds a large share of the log, but an office
-- may hold 1%, whose page was a parallel scan of the whole table and a sort
-- (5,928 buffers for each page); here it is a range in log order.
CREATE INDEX custody_events_location_idx ON custody_events (tenant_id, location, seq);
-- PersonID: the events whose sender (from) or receiver (to) of custody is a
-- person, each side its own index; ListEvents reads both (UNION ALL) and
-- merges them. Partial: only the events with a person on that side (most
-- of the log moves between locations, vendors or nobody), which the
-- condition ListEvents states as this same literal.
CREATE INDEX custody_events_from_person_idx ON custody_events (tenant_id, from_custodian_ref, seq)
    WHERE from_custodian_kind = 'PERSON';
CREATE INDEX custody_events_to_person_idx ON custody_events (tenant_id, to_custodian_ref, seq)
    WHERE to_custodian_kind = 'PERSON';

-- +goose Down
DROP INDEX IF EXISTS custody_events_to_person_idx;
DROP INDEX IF EXISTS custody_events_from_person_idx;
DROP INDEX IF EXISTS custody_events_location_idx;
DROP INDEX IF EXISTS custody_events_type_idx;
DROP INDEX IF EXISTS custody_events_recorded_idx;
