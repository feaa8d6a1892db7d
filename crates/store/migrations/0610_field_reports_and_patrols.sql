-- The field's own records (crates/incidents: field, patrol): a task's assignment told to its
-- people through the notification queue; rapid hazard reports (灾情速报) from the field app
-- with their photos; patrol schedules per site (群测群防) and each patrol done on the phone.
-- (0610–0619 are the field's.)

-- A task's assignment reaches its people by the app channel (and by SMS as the policy says,
-- or when nobody confirms it in time): a notification is about a task too. (The subject check
-- that names task_id comes after every migration that redefines it: 0990.)
ALTER TABLE notifications
    ADD COLUMN task_id bigint REFERENCES tasks (id) ON DELETE CASCADE;
CREATE UNIQUE INDEX notifications_task_once_idx ON notifications (task_id, person_id, channel, reason)
    WHERE task_id IS NOT NULL;

-- A rapid report from the field: what, where (the phone's position), people at risk, text.
CREATE TABLE field_reports (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The site's division when a site is named, else the reporter's.
    division_code  text NOT NULL REFERENCES divisions (code),
    officer_id     bigint NOT NULL REFERENCES officers (id),
    site_id        bigint REFERENCES hazard_sites (id),
    kind           text NOT NULL CHECK (kind IN ('landslide', 'rockfall', 'debris_flow',
                       'subsidence', 'ground_fissure', 'other')),
    text           text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
    people_at_risk integer NOT NULL DEFAULT 0 CHECK (people_at_risk >= 0),
    longitude      double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    latitude       double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    accuracy_m     double precision CHECK (accuracy_m >= 0),
    received_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX field_reports_division_idx ON field_reports (division_code, id DESC);

-- A patrol schedule per site: every `interval_hours` in the months of `season` (the rainy
-- season; empty: all year), every `off_season_hours` otherwise (NULL: no patrol then); the
-- checklist the monitor completes; the monitor it is given to (else the site's people).
CREATE TABLE patrol_schedules (
    site_id          bigint PRIMARY KEY REFERENCES hazard_sites (id) ON DELETE CASCADE,
    interval_hours   integer NOT NULL CHECK (interval_hours BETWEEN 1 AND 8760),
    season           smallint[] NOT NULL DEFAULT '{}'
                     CHECK (season <@ '{1,2,3,4,5,6,7,8,9,10,11,12}'::smallint[]),
    off_season_hours integer CHECK (off_season_hours BETWEEN 1 AND 8760),
    items            text[] NOT NULL CHECK (cardinality(items) BETWEEN 1 AND 30),
    monitor_officer_id bigint REFERENCES officers (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       bigint REFERENCES officers (id)
);

-- A patrol done: who, when, where, each checklist item's answer.
CREATE TABLE patrols (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint NOT NULL REFERENCES hazard_sites (id) ON DELETE CASCADE,
    officer_id  bigint NOT NULL REFERENCES officers (id),
    at          timestamptz NOT NULL DEFAULT now(),
    longitude   double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    latitude    double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    accuracy_m  double precision CHECK (accuracy_m >= 0),
    -- [{"item", "ok", "note"}]
    answers     jsonb NOT NULL CHECK (jsonb_typeof(answers) = 'array'),
    -- Items not ok.
    anomalies   integer NOT NULL DEFAULT 0 CHECK (anomalies >= 0),
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 2000)
);
CREATE INDEX patrols_site_idx ON patrols (site_id, at DESC);

-- Photos of reports and patrols, checked (JPEG or PNG by their first bytes, bounded) before
-- they are stored.
CREATE TABLE field_photos (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id    bigint REFERENCES field_reports (id) ON DELETE CASCADE,
    patrol_id    bigint REFERENCES patrols (id) ON DELETE CASCADE,
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    bytes        bytea NOT NULL CHECK (length(bytes) BETWEEN 8 AND 2097152),
    CHECK ((report_id IS NULL) <> (patrol_id IS NULL))
);
CREATE INDEX field_photos_report_idx ON field_photos (report_id) WHERE report_id IS NOT NULL;
CREATE INDEX field_photos_patrol_idx ON field_photos (patrol_id) WHERE patrol_id IS NOT NULL;
