-- The analyzer: rules, warnings with their transitions, duty rosters, notifications.

-- Rule parameters as JSON, per sensor kind, overridable per site (for one kind) and per sensor.
-- An override is merged onto the kind's parameters key by key (JSON merge patch), so it may
-- change one threshold and keep the rest. `rule` names the method: threshold, rate, rainfall,
-- trend, health, combined (site rules: scope 'site' with sensor_kind NULL, or 'kind' with
-- sensor_kind 'site' for the default).
CREATE TABLE analyzer_rules (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope       text NOT NULL CHECK (scope IN ('kind', 'site', 'sensor')),
    sensor_kind text,
    site_id     bigint REFERENCES hazard_sites (id) ON DELETE CASCADE,
    sensor_id   integer REFERENCES sensors (id) ON DELETE CASCADE,
    rule        text NOT NULL CHECK (rule IN ('threshold', 'rate', 'rainfall', 'trend', 'health', 'combined')),
    params      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    enabled     boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (scope <> 'kind' OR (sensor_kind IS NOT NULL AND site_id IS NULL AND sensor_id IS NULL)),
    CHECK (scope <> 'site' OR (site_id IS NOT NULL AND sensor_id IS NULL)),
    CHECK (scope <> 'sensor' OR (sensor_id IS NOT NULL AND site_id IS NULL AND sensor_kind IS NULL)),
    UNIQUE NULLS NOT DISTINCT (scope, sensor_kind, site_id, sensor_id, rule)
);

-- Rainfall intensity–duration threshold I = a·D^-b (I in mm/h, D in hours) per region. A site
-- uses its own division's curve, else the nearest ancestor's, else the rule's default.
CREATE TABLE rainfall_id_thresholds (
    division_code text PRIMARY KEY REFERENCES divisions (code) ON DELETE CASCADE,
    a             double precision NOT NULL CHECK (a > 0),
    b             double precision NOT NULL CHECK (b >= 0),
    source        text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Who is on duty for a division (county, city, province command center) and when.
CREATE TABLE duty_roster (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    division_code text NOT NULL REFERENCES divisions (code) ON DELETE CASCADE,
    person_id     bigint NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    role          text NOT NULL DEFAULT 'duty_officer' CHECK (length(role) BETWEEN 1 AND 40),
    CHECK (ends_at > starts_at)
);
CREATE INDEX duty_roster_division_idx ON duty_roster (division_code, starts_at, ends_at);

CREATE TABLE warnings (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id             bigint NOT NULL REFERENCES hazard_sites (id) ON DELETE CASCADE,
    -- What raised it: 'rain:{channel}', 'trend:{channel}', 'device:gateway:{code}', 'site:combined', ...
    source              text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
    category            text NOT NULL CHECK (category IN ('hazard', 'device')),
    sensor_id           integer REFERENCES sensors (id) ON DELETE SET NULL,
    level               text NOT NULL CHECK (level IN ('blue', 'yellow', 'orange', 'red')),
    peak_level          text NOT NULL CHECK (peak_level IN ('blue', 'yellow', 'orange', 'red')),
    state               text NOT NULL CHECK (state IN ('open', 'acknowledged', 'closed')),
    summary             text NOT NULL DEFAULT '',
    evidence            jsonb NOT NULL,
    raised_at           timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- Reading time of the latest evidence.
    reading_ts          timestamptz,
    failure_forecast_at timestamptz,
    -- How often the condition was seen again while this warning was open.
    crossings           integer NOT NULL DEFAULT 1,
    acknowledged_at     timestamptz,
    acknowledged_by     bigint REFERENCES people (id),
    closed_at           timestamptz,
    -- 0: the site's people and the county duty roster; 1: + city; 2: + province.
    escalation_step     integer NOT NULL DEFAULT 0 CHECK (escalation_step BETWEEN 0 AND 2),
    -- When the next referral is due if nobody acknowledges; NULL when none is due.
    escalation_due_at   timestamptz
);
-- No alarm storm: one open warning per site and source.
CREATE UNIQUE INDEX warnings_one_open_idx ON warnings (site_id, source) WHERE state <> 'closed';
CREATE INDEX warnings_due_idx ON warnings (escalation_due_at) WHERE state = 'open';
CREATE INDEX warnings_site_idx ON warnings (site_id, raised_at DESC);

-- Every transition with its evidence and who acted.
CREATE TABLE warning_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    warning_id bigint NOT NULL REFERENCES warnings (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT now(),
    transition text NOT NULL CHECK (transition IN ('raised', 'escalated', 'de_escalated', 'acknowledged', 'referred', 'closed')),
    from_level text,
    to_level   text,
    -- 'analyzer' or 'person'.
    actor      text NOT NULL CHECK (actor IN ('analyzer', 'person')),
    person_id  bigint REFERENCES people (id),
    evidence   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX warning_events_warning_idx ON warning_events (warning_id, id);

-- One message to one person on one channel for one reason (a level reached, a referral step):
-- the unique key makes "once per recipient per step" hold even across analyzer restarts.
CREATE TABLE notifications (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    warning_id          bigint NOT NULL REFERENCES warnings (id) ON DELETE CASCADE,
    person_id           bigint NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    channel             text NOT NULL CHECK (channel IN ('sms', 'app')),
    reason              text NOT NULL,
    phone               text,
    body                text NOT NULL,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'rate_limited')),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    provider            text,
    provider_message_id text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    delivered_at        timestamptz,
    read_at             timestamptz,
    UNIQUE (warning_id, person_id, channel, reason)
);
CREATE INDEX notifications_pending_idx ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_person_idx ON notifications (person_id, channel, sent_at);
CREATE INDEX notifications_provider_idx ON notifications (provider, provider_message_id);

-- Every attempt to hand a message to a provider.
CREATE TABLE notification_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    outcome         text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
    http_status     integer,
    detail          text NOT NULL DEFAULT ''
);
CREATE INDEX notification_attempts_idx ON notification_attempts (notification_id, attempt);

-- Delivery receipts the providers call back with.
CREATE TABLE notification_receipts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id     bigint REFERENCES notifications (id) ON DELETE CASCADE,
    provider            text NOT NULL,
    provider_message_id text NOT NULL,
    delivered           boolean NOT NULL,
    status_code         text NOT NULL DEFAULT '',
    reported_at         timestamptz,
    received_at         timestamptz NOT NULL DEFAULT now(),
    raw                 jsonb
);

-- Default rules, so a fresh installation warns out of the box. Values are starting points to be
-- calibrated per site; docs/analyzer.md gives their sources.
INSERT INTO analyzer_rules (scope, sensor_kind, rule, params) VALUES
('kind', 'rain_gauge', 'rainfall', '{}'),
('kind', 'rain_gauge', 'health', '{"stuck_samples": null}'),
('kind', 'crack_meter', 'rate', '{}'),
('kind', 'crack_meter', 'trend', '{}'),
('kind', 'crack_meter', 'health', '{}'),
('kind', 'gnss', 'rate', '{"velocity_mm_per_day": {"blue": 5, "yellow": 10, "orange": 20, "red": 40}}'),
('kind', 'gnss', 'trend', '{"min_steady_mm_per_day": 0.5}'),
('kind', 'gnss', 'health', '{}'),
('kind', 'inclinometer', 'rate', '{"velocity_mm_per_day": {"blue": 0.02, "yellow": 0.05, "orange": 0.1, "red": 0.2}}'),
('kind', 'inclinometer', 'trend', '{"min_steady_mm_per_day": 0.001}'),
('kind', 'inclinometer', 'health', '{}'),
('kind', 'piezometer', 'health', '{}'),
('kind', 'soil_moisture', 'health', '{}'),
('kind', 'mud_level', 'threshold', '{"levels": {"blue": 0.5, "yellow": 1.0, "orange": 1.5, "red": 2.0}, "hysteresis": 0.05}'),
('kind', 'mud_level', 'health', '{"stuck_samples": null}'),
('kind', 'water_level', 'health', '{}'),
('kind', 'supply_voltage', 'health', '{"min_supply_v": 11.0, "stuck_samples": null}'),
('kind', 'other', 'health', '{"stuck_samples": null}'),
('kind', 'site', 'combined', '{}');
