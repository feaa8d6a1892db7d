-- Emergency response (crates/incidents): incidents opened from warnings, their timeline, field
-- teams and the tasks dispatched to them, and the positions the field app reports.
-- (0600–0649 are the incidents'.)

CREATE TABLE incidents (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The division it is run in (its first site's): every query is scoped by it.
    division_code text NOT NULL REFERENCES divisions (code),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    -- Graded by the national geohazard emergency plan: casualties, people threatened, losses.
    class         text NOT NULL CHECK (class IN ('small', 'medium', 'large', 'huge')),
    status        text NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'responding', 'stabilised', 'closed')),
    casualties          integer NOT NULL DEFAULT 0 CHECK (casualties >= 0),
    threatened_people   integer NOT NULL DEFAULT 0 CHECK (threatened_people >= 0),
    -- Direct economic loss, 10,000 CNY.
    losses              double precision NOT NULL DEFAULT 0 CHECK (losses >= 0),
    opened_at     timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz
);
CREATE INDEX incidents_division_idx ON incidents (division_code, status);

CREATE TABLE incident_sites (
    incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    site_id     bigint NOT NULL REFERENCES hazard_sites (id),
    PRIMARY KEY (incident_id, site_id)
);

-- A warning belongs to at most one incident.
CREATE TABLE incident_warnings (
    incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    warning_id  bigint NOT NULL UNIQUE REFERENCES warnings (id),
    PRIMARY KEY (incident_id, warning_id)
);

-- The timeline: everything that happened, time-stamped and attributed (a person, or the system).
CREATE TABLE incident_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    person_id   bigint REFERENCES people (id),
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_events_incident_idx ON incident_events (incident_id, id);

CREATE TABLE teams (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    division_code text NOT NULL REFERENCES divisions (code),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind          text NOT NULL CHECK (kind IN ('rescue', 'engineering', 'monitoring', 'medical')),
    capabilities  text[] NOT NULL DEFAULT '{}',
    base_longitude double precision NOT NULL CHECK (base_longitude BETWEEN -180 AND 180),
    base_latitude  double precision NOT NULL CHECK (base_latitude BETWEEN -90 AND 90),
    -- Average road speed to a site, km/h: the estimated arrival.
    speed_kmh     double precision NOT NULL DEFAULT 40 CHECK (speed_kmh > 0),
    available     boolean NOT NULL DEFAULT true
);

CREATE TABLE team_members (
    team_id    bigint NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    officer_id bigint NOT NULL REFERENCES officers (id) ON DELETE CASCADE,
    leader     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (team_id, officer_id)
);
CREATE INDEX team_members_officer_idx ON team_members (officer_id);

CREATE TABLE tasks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    team_id      bigint NOT NULL REFERENCES teams (id),
    -- The person it is given to; NULL: the whole team.
    assignee_officer_id bigint REFERENCES officers (id),
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    status       text NOT NULL DEFAULT 'assigned'
                 CHECK (status IN ('assigned', 'accepted', 'declined', 'en_route', 'on_site', 'done')),
    decline_reason text,
    deadline     timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_incident_idx ON tasks (incident_id);
CREATE INDEX tasks_team_idx ON tasks (team_id, status);

-- Every state change of a task, time-stamped and attributed.
CREATE TABLE task_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id    bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT now(),
    from_status text,
    to_status  text NOT NULL,
    officer_id bigint REFERENCES officers (id),
    note       text NOT NULL DEFAULT ''
);
CREATE INDEX task_events_task_idx ON task_events (task_id, id);

-- Positions the field app reports while its person is on a task.
CREATE TABLE field_positions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    officer_id bigint NOT NULL REFERENCES officers (id) ON DELETE CASCADE,
    task_id    bigint REFERENCES tasks (id) ON DELETE SET NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    longitude  double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    latitude   double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    accuracy_m double precision CHECK (accuracy_m >= 0)
);
CREATE INDEX field_positions_officer_idx ON field_positions (officer_id, at DESC);
CREATE INDEX field_positions_task_idx ON field_positions (task_id, at DESC);
