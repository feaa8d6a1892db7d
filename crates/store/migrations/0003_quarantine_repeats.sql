-- The same refused bytes arriving again (a redelivery, or a gateway repeating itself) are one
-- quarantine row with a repeat count, not a storm of rows.
ALTER TABLE quarantine
    ADD COLUMN repeats integer NOT NULL DEFAULT 1,
    ADD COLUMN last_received_at timestamptz NOT NULL DEFAULT now();

CREATE UNIQUE INDEX quarantine_same_refusal_idx
    ON quarantine (topic, reason, coalesce(reading_index, -1), md5(payload));
