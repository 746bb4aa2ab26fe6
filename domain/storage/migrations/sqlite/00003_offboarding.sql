-- Off-boarding, embedded SQLite: the same tables, keys and rules as
-- migrations/postgres/00003_offboarding.sql (which explains them). Dates are
-- stamps at midnight UTC; booleans are 0/1.

-- +goose Up
CREATE TABLE offboarding_cases (
    tenant_id    TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    person_id    TEXT    NOT NULL,
    last_day     TEXT    NOT NULL,
    due_date     TEXT    NOT NULL,
    note         TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    opened_by_id TEXT    NOT NULL,
    opened_at    TEXT    NOT NULL,
    completed_at TEXT,
    version      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, opened_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT offboarding_cases_state_check CHECK (state IN ('OPEN', 'COMPLETED')),
    CONSTRAINT offboarding_cases_completed_check CHECK ((state = 'COMPLETED') = (completed_at IS NOT NULL)),
    CONSTRAINT offboarding_cases_dates_check CHECK (
        substr(last_day, 11) = 'T00:00:00.000000Z' AND substr(due_date, 11) = 'T00:00:00.000000Z'
        AND due_date >= last_day)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX offboarding_cases_open_person_key ON offboarding_cases (tenant_id, person_id) WHERE state = 'OPEN';
CREATE INDEX offboarding_cases_state_idx ON offboarding_cases (tenant_id, state, id);
CREATE INDEX offboarding_cases_due_idx ON offboarding_cases (tenant_id, state, due_date, id);
CREATE INDEX offboarding_cases_person_idx ON offboarding_cases (tenant_id, person_id, id);

CREATE TABLE asset_returns (
    tenant_id      TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    asset_id       TEXT    NOT NULL,
    event_id       TEXT    NOT NULL,
    from_person_id TEXT    NOT NULL,
    received_by_id TEXT    NOT NULL,
    location       TEXT    NOT NULL,
    condition      TEXT    NOT NULL,
    note           TEXT    NOT NULL,
    signature_id   TEXT,
    parcel_id      TEXT,
    case_id        TEXT,
    unmatched      INTEGER NOT NULL CHECK (unmatched IN (0, 1)),
    device_time    TEXT,
    recorded_at    TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT asset_returns_case_key UNIQUE (tenant_id, case_id, id),
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES custody_events (tenant_id, id),
    FOREIGN KEY (tenant_id, from_person_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, received_by_id) REFERENCES members (tenant_id, id),
    FOREIGN KEY (tenant_id, signature_id) REFERENCES signatures (tenant_id, id),
    FOREIGN KEY (tenant_id, parcel_id) REFERENCES parcels (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES offboarding_cases (tenant_id, id),
    CONSTRAINT asset_returns_condition_check CHECK (condition IN ('GOOD', 'WORN', 'DAMAGED', 'INCOMPLETE', 'NOT_WORKING')),
    CONSTRAINT asset_returns_unmatched_check CHECK (unmatched = (case_id IS NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX asset_returns_asset_idx ON asset_returns (tenant_id, asset_id, id);
CREATE INDEX asset_returns_unmatched_idx ON asset_returns (tenant_id, id) WHERE unmatched;

CREATE TABLE offboarding_case_items (
    tenant_id        TEXT    NOT NULL,
    case_id          TEXT    NOT NULL,
    asset_id         TEXT    NOT NULL,
    expected         INTEGER NOT NULL CHECK (expected IN (0, 1)),
    status           TEXT    NOT NULL,
    added_at         TEXT    NOT NULL,
    return_id        TEXT,
    write_off        TEXT,
    write_off_reason TEXT    NOT NULL,
    approved_by      TEXT    NOT NULL,
    event_id         TEXT,
    resolved_at      TEXT,
    resolved_by_id   TEXT,
    PRIMARY KEY (tenant_id, case_id, asset_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES offboarding_cases (tenant_id, id),
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id, return_id) REFERENCES asset_returns (tenant_id, case_id, id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES custody_events (tenant_id, id),
    FOREIGN KEY (tenant_id, resolved_by_id) REFERENCES members (tenant_id, id),
    CONSTRAINT offboarding_case_items_status_check CHECK (status IN ('OUTSTANDING', 'RETURNED', 'WRITTEN_OFF')),
    CONSTRAINT offboarding_case_items_write_off_check CHECK (write_off IN ('LOST', 'KEPT_WITH_APPROVAL')),
    CONSTRAINT offboarding_case_items_returned_check CHECK (status <> 'RETURNED' OR return_id IS NOT NULL),
    CONSTRAINT offboarding_case_items_written_off_check CHECK (status <> 'WRITTEN_OFF' OR write_off IS NOT NULL),
    CONSTRAINT offboarding_case_items_resolved_check CHECK ((status = 'OUTSTANDING') = (resolved_at IS NULL))
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE IF EXISTS offboarding_case_items;
DROP TABLE IF EXISTS asset_returns;
DROP TABLE IF EXISTS offboarding_cases;
