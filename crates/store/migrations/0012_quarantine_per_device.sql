-- The same refused bytes from two devices are two refusals, each naming its own device: every
-- universal-type device publishes on `$dp`/`$dr`, so topic, reason and bytes alone would count a
-- second device's refusal as a repeat of the first device's row.
DROP INDEX quarantine_same_refusal_idx;
CREATE UNIQUE INDEX quarantine_same_refusal_idx
    ON quarantine (topic, coalesce(gateway_code, ''), reason, coalesce(reading_index, -1), md5(payload), payload_size);
