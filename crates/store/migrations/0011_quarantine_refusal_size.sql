-- Only the first 64 KiB of a refused payload are kept: two oversized messages that share them are
-- still different refusals when their real sizes differ, so the size is part of what makes a
-- refusal "the same" (each row keeps its real size).
DROP INDEX quarantine_same_refusal_idx;
CREATE UNIQUE INDEX quarantine_same_refusal_idx
    ON quarantine (topic, reason, coalesce(reading_index, -1), md5(payload), payload_size);
