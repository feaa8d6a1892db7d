-- POSTs sent with an `Idempotency-Key` (field phones retry on bad links): the first one's
-- answer is kept with a fingerprint of its request; a repeat with the same key and request gets
-- that answer without the action being done again, the same key with another request is
-- refused. The row is written in the action's own transaction, so a concurrent duplicate waits
-- on the key and then reads the answer.
CREATE TABLE idempotency_keys (
    officer_id  bigint NOT NULL REFERENCES officers (id) ON DELETE CASCADE,
    key         text NOT NULL CHECK (key ~ '^[!-~]{1,200}$'),
    -- SHA-256 of the method, the path and the body.
    fingerprint bytea NOT NULL CHECK (length(fingerprint) = 32),
    status      smallint NOT NULL CHECK (status BETWEEN 200 AND 599),
    answer      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (officer_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
