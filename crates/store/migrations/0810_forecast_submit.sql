-- A regional warning's draft is submitted for approval by an officer who prepared it; an
-- adjustment after that takes the submission back (the approver must see what is approved).
-- Only a submitted draft is approved (by a second officer: decide refuses the preparers).
ALTER TABLE forecast_warnings
    ADD COLUMN submitted_at timestamptz,
    ADD COLUMN submitted_by bigint REFERENCES officers (id),
    ADD CONSTRAINT forecast_warnings_submitted_check
        CHECK ((submitted_at IS NULL) = (submitted_by IS NULL));
