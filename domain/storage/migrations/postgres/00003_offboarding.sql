-- Off-boarding: a departing employee's case, the assets it expects back (its
-- items) and the returns scanned at the dock. Same conventions as 00001:
-- tenant_id leads every key and index, foreign keys carry tenant_id, RLS on
-- every table.
--
-- Dates (last_day, due_date) are calendar dates stored as midnight UTC in
-- timestamptz, the one time type of the schema, so both dialects and the
-- adapter's stamp type read and write them like every other time.

-- +goose Up

-- A case is OPEN until nothing is outstanding, then COMPLETED. Whether an
-- open case is overdue depends on the clock, so it is never stored.
CREATE TABLE offboarding_cases (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    person_id    uuid        NOT NULL,
    last_day     timestamptz NOT NULL,
    due_date     timestamptz NOT NULL,
    note         text        NOT NULL,
    state        text        NOT NULL,
    opened_by_id uuid        NOT NULL,
    opened_at    timestamptz NOT NULL,
    completed_at timestamptz,
    version      integer     NOT NULL,
    CONSTRAINT offboarding_cases_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT offboarding_cases_person_fkey FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id),
    CONSTRAINT offboarding_cases_opened_by_fkey FOREIGN KEY (tenant_id, opened_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT offboarding_cases_state_check CHECK (state IN ('OPEN', 'COMPLETED')),
    CONSTRAINT offboarding_cases_completed_check CHECK ((state = 'COMPLETED') = (completed_at IS NOT NULL)),
    CONSTRAINT offboarding_cases_dates_check CHECK (
        last_day = date_trunc('day', last_day, 'UTC') AND due_date = date_trunc('day', due_date, 'UTC')
        AND due_date >= last_day)
);
-- A person has at most one open case (CreateCase: DuplicateError "person");
-- it is also how LockOpenCaseOf finds it.
CREATE UNIQUE INDEX offboarding_cases_open_person_key ON offboarding_cases (tenant_id, person_id) WHERE state = 'OPEN';
CREATE INDEX offboarding_cases_state_idx ON offboarding_cases (tenant_id, state, id);
-- Overdue lists: open cases due before a date.
CREATE INDEX offboarding_cases_due_idx ON offboarding_cases (tenant_id, state, due_date, id);
CREATE INDEX offboarding_cases_person_idx ON offboarding_cases (tenant_id, person_id, id);

-- An asset scanned back into custody, with or without a case expecting it.
-- unmatched says no open case did (then case_id is NULL).
CREATE TABLE asset_returns (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL,
    asset_id       uuid        NOT NULL,
    event_id       uuid        NOT NULL,
    from_person_id uuid        NOT NULL,
    received_by_id uuid        NOT NULL,
    location       text        NOT NULL,
    condition      text        NOT NULL,
    note           text        NOT NULL,
    signature_id   uuid,
    parcel_id      uuid,
    case_id        uuid,
    unmatched      boolean     NOT NULL,
    device_time    timestamptz,
    recorded_at    timestamptz NOT NULL,
    CONSTRAINT asset_returns_pkey PRIMARY KEY (tenant_id, id),
    -- Also the target of the items' (tenant_id, case_id, return_id) key: an
    -- item can only be resolved by a return counted toward its own case.
    CONSTRAINT asset_returns_case_key UNIQUE (tenant_id, case_id, id),
    CONSTRAINT asset_returns_asset_fkey FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id),
    CONSTRAINT asset_returns_event_fkey FOREIGN KEY (tenant_id, event_id) REFERENCES custody_events (tenant_id, id),
    CONSTRAINT asset_returns_from_person_fkey FOREIGN KEY (tenant_id, from_person_id) REFERENCES people (tenant_id, id),
    CONSTRAINT asset_returns_received_by_fkey FOREIGN KEY (tenant_id, received_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT asset_returns_signature_fkey FOREIGN KEY (tenant_id, signature_id) REFERENCES signatures (tenant_id, id),
    CONSTRAINT asset_returns_parcel_fkey FOREIGN KEY (tenant_id, parcel_id) REFERENCES parcels (tenant_id, id),
    CONSTRAINT asset_returns_case_fkey FOREIGN KEY (tenant_id, case_id) REFERENCES offboarding_cases (tenant_id, id),
    CONSTRAINT asset_returns_condition_check CHECK (condition IN ('GOOD', 'WORN', 'DAMAGED', 'INCOMPLETE', 'NOT_WORKING')),
    CONSTRAINT asset_returns_unmatched_check CHECK (unmatched = (case_id IS NULL))
);
CREATE INDEX asset_returns_asset_idx ON asset_returns (tenant_id, asset_id, id);
-- Returns to follow up: few, so a partial index.
CREATE INDEX asset_returns_unmatched_idx ON asset_returns (tenant_id, id) WHERE unmatched;

-- One asset of a case: expected (held when the case opened or handed over
-- while it is open) or an unexpected return. PutCaseItem upserts on the key.
CREATE TABLE offboarding_case_items (
    tenant_id        uuid        NOT NULL,
    case_id          uuid        NOT NULL,
    asset_id         uuid        NOT NULL,
    expected         boolean     NOT NULL,
    status           text        NOT NULL,
    added_at         timestamptz NOT NULL,
    return_id        uuid,
    write_off        text,
    write_off_reason text        NOT NULL,
    approved_by      text        NOT NULL,
    event_id         uuid,
    resolved_at      timestamptz,
    resolved_by_id   uuid,
    CONSTRAINT offboarding_case_items_pkey PRIMARY KEY (tenant_id, case_id, asset_id),
    CONSTRAINT offboarding_case_items_case_fkey FOREIGN KEY (tenant_id, case_id) REFERENCES offboarding_cases (tenant_id, id),
    CONSTRAINT offboarding_case_items_asset_fkey FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id),
    CONSTRAINT offboarding_case_items_return_fkey FOREIGN KEY (tenant_id, case_id, return_id)
        REFERENCES asset_returns (tenant_id, case_id, id),
    CONSTRAINT offboarding_case_items_event_fkey FOREIGN KEY (tenant_id, event_id) REFERENCES custody_events (tenant_id, id),
    CONSTRAINT offboarding_case_items_resolved_by_fkey FOREIGN KEY (tenant_id, resolved_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT offboarding_case_items_status_check CHECK (status IN ('OUTSTANDING', 'RETURNED', 'WRITTEN_OFF')),
    CONSTRAINT offboarding_case_items_write_off_check CHECK (write_off IN ('LOST', 'KEPT_WITH_APPROVAL')),
    CONSTRAINT offboarding_case_items_returned_check CHECK (status <> 'RETURNED' OR return_id IS NOT NULL),
    CONSTRAINT offboarding_case_items_written_off_check CHECK (status <> 'WRITTEN_OFF' OR write_off IS NOT NULL),
    CONSTRAINT offboarding_case_items_resolved_check CHECK ((status = 'OUTSTANDING') = (resolved_at IS NULL))
);

ALTER TABLE offboarding_cases ENABLE ROW LEVEL SECURITY;
ALTER TABLE offboarding_cases FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON offboarding_cases
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE asset_returns ENABLE ROW LEVEL SECURITY;
ALTER TABLE asset_returns FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON asset_returns
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

ALTER TABLE offboarding_case_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE offboarding_case_items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON offboarding_case_items
    USING (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('custody.tenant_id', true), '')::uuid);

-- Returns are written once; cases and their items change as items resolve.
-- No DELETE. SELECT ... FOR UPDATE (LockCase) needs UPDATE on the table.
GRANT SELECT, INSERT ON asset_returns TO custody_app;
GRANT SELECT, INSERT, UPDATE ON offboarding_cases, offboarding_case_items TO custody_app;

-- +goose Down
DROP TABLE IF EXISTS offboarding_case_items, asset_returns, offboarding_cases;
