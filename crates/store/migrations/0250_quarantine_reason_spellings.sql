-- The video consumer wrote two reasons under spellings of their own (`bad_topic`,
-- `bad_timestamp`); they are `invalid_topic` and `invalid_timestamp` like everywhere else. A
-- refusal already on record under the right name takes the misspelled row's repeats.
UPDATE quarantine q
SET repeats = q.repeats + o.repeats,
    received_at = least(q.received_at, o.received_at),
    last_received_at = greatest(q.last_received_at, o.last_received_at)
FROM quarantine o
WHERE (o.reason, q.reason) IN (('bad_topic', 'invalid_topic'), ('bad_timestamp', 'invalid_timestamp'))
  AND o.topic = q.topic
  AND coalesce(o.reading_index, -1) = coalesce(q.reading_index, -1)
  AND md5(o.payload) = md5(q.payload)
  AND o.payload_size = q.payload_size;

DELETE FROM quarantine o
USING quarantine q
WHERE (o.reason, q.reason) IN (('bad_topic', 'invalid_topic'), ('bad_timestamp', 'invalid_timestamp'))
  AND o.topic = q.topic
  AND coalesce(o.reading_index, -1) = coalesce(q.reading_index, -1)
  AND md5(o.payload) = md5(q.payload)
  AND o.payload_size = q.payload_size;

UPDATE quarantine SET reason = 'invalid_topic' WHERE reason = 'bad_topic';
UPDATE quarantine SET reason = 'invalid_timestamp' WHERE reason = 'bad_timestamp';
