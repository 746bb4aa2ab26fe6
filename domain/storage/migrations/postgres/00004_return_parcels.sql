-- Return parcels: a departing employee who works remotely ships equipment
-- back. Such a parcel has no recipient; it links to the sender's off-boarding
-- case instead, and every parcel has exactly one of the two.

-- +goose Up
ALTER TABLE parcels ALTER COLUMN recipient_id DROP NOT NULL;
ALTER TABLE parcels ADD COLUMN return_case_id uuid;
ALTER TABLE parcels ADD CONSTRAINT parcels_return_case_fkey
    FOREIGN KEY (tenant_id, return_case_id) REFERENCES offboarding_cases (tenant_id, id);
ALTER TABLE parcels ADD CONSTRAINT parcels_recipient_or_case_check
    CHECK ((recipient_id IS NULL) <> (return_case_id IS NULL));
CREATE INDEX parcels_return_case_idx ON parcels (tenant_id, return_case_id, id) WHERE return_case_id IS NOT NULL;

-- +goose Down
DROP INDEX parcels_return_case_idx;
ALTER TABLE parcels DROP CONSTRAINT parcels_recipient_or_case_check;
ALTER TABLE parcels DROP CONSTRAINT parcels_return_case_fkey;
ALTER TABLE parcels DROP COLUMN return_case_id;
ALTER TABLE parcels ALTER COLUMN recipient_id SET NOT NULL;
