-- The analyzer's warning skill (issue 14): a forecast that moves while a warning holds is a
-- transition of its own, and each sensor's rules say whether they can judge its data.

ALTER TABLE warning_events DROP CONSTRAINT warning_events_transition_check;
ALTER TABLE warning_events ADD CONSTRAINT warning_events_transition_check CHECK (transition IN
    ('raised', 'escalated', 'de_escalated', 'acknowledged', 'referred', 'closed', 'forecast_updated'));

-- Per sensor and rule: whether the analyzer has enough data to judge it (false: not judged,
-- with the reason, e.g. too few readings in the window, no steady baseline yet, the daily cycle
-- not learnt yet). Written by the analyzer when the state changes; read by the command-center.
CREATE TABLE sensor_judgement (
    sensor_id  integer NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    rule       text NOT NULL,
    judged     boolean NOT NULL,
    reason     text,
    -- Reading time of the evaluation that changed the state.
    reading_ts timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, rule)
);
CREATE INDEX sensor_judgement_not_judged_idx ON sensor_judgement (sensor_id) WHERE NOT judged;
