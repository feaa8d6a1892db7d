-- The command-center: duty officers who sign in to the API, their sessions, and the audit log
-- of everything they do. (0200–0299 are the command-center's.)

CREATE TABLE officers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    display_name  text NOT NULL DEFAULT '' CHECK (length(display_name) <= 100),
    -- The officer sees this division and everything below it in the divisions tree.
    division_code text NOT NULL REFERENCES divisions (code),
    role          text NOT NULL CHECK (role IN ('viewer', 'duty_officer', 'admin')),
    -- The officer as a person: warnings.acknowledged_by and warning_events.person_id name people.
    person_id     bigint NOT NULL UNIQUE REFERENCES people (id),
    -- argon2 PHC string.
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX officers_division_idx ON officers (division_code);

-- A signed-in officer. The bearer token is 32 random bytes given to the client once; only its
-- SHA-256 is stored, so a copy of this table signs nobody in.
CREATE TABLE officer_sessions (
    token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    officer_id   bigint NOT NULL REFERENCES officers (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL DEFAULT now(),
    CHECK (expires_at > created_at)
);
CREATE INDEX officer_sessions_officer_idx ON officer_sessions (officer_id);
CREATE INDEX officer_sessions_expires_idx ON officer_sessions (expires_at);

-- Everything an officer does (and every refused sign-in), scoped by division like the rest.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    -- NULL for a sign-in attempt with an unknown user name.
    officer_id    bigint REFERENCES officers (id) ON DELETE SET NULL,
    -- e.g. 'login', 'login_failed', 'logout', 'warning.acknowledge'.
    action        text NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    -- What was acted on, e.g. 'warning:17', 'officer:duty1'.
    target        text,
    -- The division the action concerns (the object's, else the officer's).
    division_code text REFERENCES divisions (code),
    detail        jsonb NOT NULL DEFAULT '{}',
    remote_addr   text
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_division_idx ON audit_log (division_code, at DESC);
CREATE INDEX audit_log_officer_idx ON audit_log (officer_id, at DESC);
-- Sign-in throttling counts recent failures.
CREATE INDEX audit_log_login_failed_idx ON audit_log (at DESC) WHERE action = 'login_failed';
