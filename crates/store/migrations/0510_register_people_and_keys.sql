-- The register kept from the console, continued (0510–0519): gateways' keys issued, rotated
-- and revoked by officers, and people edited beside the sites they answer for.

ALTER TABLE gateways
    -- When the key in `password_hash` was issued; NULL before the first.
    ADD COLUMN key_issued_at  timestamptz,
    -- When the gateway's key was revoked (then `password_hash` is NULL); a new key clears it.
    ADD COLUMN key_revoked_at timestamptz;

ALTER TABLE people
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE INDEX people_division_idx ON people (division_code);
CREATE INDEX site_responsibles_person_idx ON site_responsibles (person_id);
