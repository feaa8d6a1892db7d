-- Regional geohazard meteorological risk warning (区域地质灾害气象风险预警) and its public
-- release: the input grids, the warnings with their review, adjustments and approval, the CAP
-- feed, and notifications of a released warning. (0800–0849 are the forecast's.)

-- Input grids: the susceptibility zoning (classes 0–4), observed daily rain (the day it fell)
-- and forecast rain (the day it covers, in the agency's zone). Values row-major, row 0 the
-- southernmost; `spec` is {west, south, cell, ncols, nrows}. The newest row of a kind and day wins.
CREATE TABLE forecast_grids (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('susceptibility', 'observed', 'forecast')),
    valid_date  date CHECK ((kind = 'susceptibility') = (valid_date IS NULL)),
    period_h    integer CHECK (period_h > 0),
    spec        jsonb NOT NULL,
    cells       double precision[] NOT NULL,
    source      text NOT NULL DEFAULT '' CHECK (length(source) <= 200),
    uploaded_by bigint REFERENCES officers (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX forecast_grids_kind_idx ON forecast_grids (kind, valid_date, id DESC);

-- A regional warning: a run's draft, reviewed, adjusted, approved by a second officer, released.
CREATE TABLE forecast_warnings (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The issuing agency's division (a province, a city): the warning covers its grid.
    division_code  text NOT NULL REFERENCES divisions (code),
    -- The day it is for, in the agency's zone; valid from/to as published.
    for_date       date NOT NULL,
    valid_from     timestamptz NOT NULL,
    valid_to       timestamptz NOT NULL CHECK (valid_to > valid_from),
    state          text NOT NULL DEFAULT 'draft'
                   CHECK (state IN ('draft', 'released', 'superseded', 'cancelled', 'discarded')),
    trigger        text NOT NULL CHECK (trigger IN ('schedule', 'on_demand')),
    spec           jsonb NOT NULL,
    -- Levels per cell as the model gave them and as they stand: -1 none, 0 blue … 3 red.
    model_levels   smallint[] NOT NULL,
    levels         smallint[] NOT NULL,
    -- Areas (GeoJSON), divisions and sites of `levels`, kept with every change.
    product        jsonb NOT NULL,
    params         jsonb NOT NULL,
    inputs         jsonb NOT NULL,
    text_zh        text NOT NULL DEFAULT '' CHECK (length(text_zh) <= 2000),
    -- Officers who ran or adjusted it: none of them approves it.
    prepared_by    bigint[] NOT NULL DEFAULT '{}',
    approved_by    bigint REFERENCES officers (id),
    released_at    timestamptz,
    cancelled_at   timestamptz,
    -- The released warning this one updates (its CAP `Update` references that one's alerts).
    replaces       bigint REFERENCES forecast_warnings (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX forecast_warnings_day_idx ON forecast_warnings (division_code, for_date, id DESC);
-- One released warning per agency and day at a time.
CREATE UNIQUE INDEX forecast_warnings_one_released ON forecast_warnings (division_code, for_date)
    WHERE state = 'released';

CREATE TABLE forecast_adjustments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    warning_id    bigint NOT NULL REFERENCES forecast_warnings (id) ON DELETE CASCADE,
    officer_id    bigint NOT NULL REFERENCES officers (id),
    -- The division whose cells were set, and to what (NULL: no level).
    division_code text NOT NULL REFERENCES divisions (code),
    level         text CHECK (level IN ('blue', 'yellow', 'orange', 'red')),
    cells         integer NOT NULL,
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX forecast_adjustments_warning_idx ON forecast_adjustments (warning_id, id);

-- The public CAP 1.2 feed: every alert published, the XML as sent.
CREATE TABLE forecast_cap_alerts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    warning_id  bigint NOT NULL REFERENCES forecast_warnings (id) ON DELETE CASCADE,
    identifier  text NOT NULL UNIQUE,
    msg_type    text NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    sent        timestamptz NOT NULL,
    xml         text NOT NULL
);
CREATE INDEX forecast_cap_alerts_warning_idx ON forecast_cap_alerts (warning_id, id);

-- Runs claimed once per cluster: (division, day) of the scheduled run.
-- (cluster_job_claims serves; nothing to add.)

-- Notifications of a released regional warning: the people of each affected division and site.
ALTER TABLE notifications ALTER COLUMN warning_id DROP NOT NULL;
ALTER TABLE notifications
    ADD COLUMN forecast_warning_id bigint REFERENCES forecast_warnings (id) ON DELETE CASCADE,
    DROP CONSTRAINT notifications_subject_check,
    ADD CONSTRAINT notifications_subject_check
        CHECK (warning_id IS NOT NULL OR approval_id IS NOT NULL OR report_id IS NOT NULL
               OR forecast_warning_id IS NOT NULL);
CREATE UNIQUE INDEX notifications_forecast_once
    ON notifications (forecast_warning_id, person_id, channel, reason)
    WHERE forecast_warning_id IS NOT NULL;
