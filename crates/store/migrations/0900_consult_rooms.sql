-- Remote consultation rooms (crates/consult): a room, whom it invites, and its ordered log.
CREATE TABLE consult_rooms (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    -- The incident it was opened for, by id only (the incidents crate owns incidents).
    incident_id   bigint,
    division_code text NOT NULL REFERENCES divisions (code),
    opened_by     bigint NOT NULL REFERENCES officers (id),
    state         text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    opened_at     timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    -- The media server's (Janus video-room) room, made at the first media join.
    media_room    bigint UNIQUE,
    CHECK ((state = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX consult_rooms_division_idx ON consult_rooms (division_code);
CREATE INDEX consult_rooms_incident_idx ON consult_rooms (incident_id) WHERE incident_id IS NOT NULL;

CREATE TABLE consult_invited_divisions (
    room_id       bigint NOT NULL REFERENCES consult_rooms (id) ON DELETE CASCADE,
    division_code text NOT NULL REFERENCES divisions (code),
    PRIMARY KEY (room_id, division_code)
);
CREATE INDEX consult_invited_divisions_code_idx ON consult_invited_divisions (division_code);

CREATE TABLE consult_invited_officers (
    room_id    bigint NOT NULL REFERENCES consult_rooms (id) ON DELETE CASCADE,
    officer_id bigint NOT NULL REFERENCES officers (id) ON DELETE CASCADE,
    PRIMARY KEY (room_id, officer_id)
);
CREATE INDEX consult_invited_officers_officer_idx ON consult_invited_officers (officer_id);

-- Everything that happens in a room, in order: replayed to late joiners, printed as minutes.
CREATE TABLE consult_events (
    id         bigserial PRIMARY KEY,
    room_id    bigint NOT NULL REFERENCES consult_rooms (id) ON DELETE CASCADE,
    officer_id bigint REFERENCES officers (id) ON DELETE SET NULL,
    kind       text NOT NULL CHECK (kind IN ('opened', 'joined', 'left', 'chat', 'annotation',
                                             'posting', 'decision', 'closed')),
    body       jsonb NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consult_events_room_idx ON consult_events (room_id, id);
