-- Periodic supervision reports (daily duty report, monthly report) per division, produced once
-- per cluster by the scheduler, and the exception reports raised when a figure crosses its line.

CREATE TABLE supervision_reports (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    division_code text NOT NULL REFERENCES divisions (code),
    kind          text NOT NULL CHECK (kind IN ('day', 'month')),
    -- '2026-12-06' or '2026-12' (China Standard Time).
    label         text NOT NULL CHECK (length(label) BETWEEN 7 AND 10),
    period_from   timestamptz NOT NULL,
    period_to     timestamptz NOT NULL CHECK (period_to > period_from),
    generated_at  timestamptz NOT NULL DEFAULT now(),
    -- The figures as computed then (geohazard_reports::Figures).
    figures       jsonb NOT NULL,
    UNIQUE (division_code, kind, label)
);
CREATE INDEX supervision_reports_division_idx ON supervision_reports (division_code, generated_at DESC);

-- A figure that crossed its configured line in a report.
CREATE TABLE supervision_exceptions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id     bigint NOT NULL REFERENCES supervision_reports (id) ON DELETE CASCADE,
    division_code text NOT NULL REFERENCES divisions (code),
    -- e.g. 'online_rate_below', 'approval_overdue', 'site_silent'.
    rule          text NOT NULL CHECK (length(rule) BETWEEN 1 AND 64),
    -- What crossed: a division, a site, a request.
    subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    figure        double precision,
    line          double precision,
    detail        text NOT NULL DEFAULT '',
    raised_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (report_id, rule, subject)
);
CREATE INDEX supervision_exceptions_division_idx ON supervision_exceptions (division_code, raised_at DESC);

-- Exception reports reach the people responsible through the notification queue.
ALTER TABLE notifications
    ADD COLUMN report_id bigint REFERENCES supervision_reports (id) ON DELETE CASCADE,
    DROP CONSTRAINT notifications_subject_check,
    ADD CONSTRAINT notifications_subject_check
        CHECK (warning_id IS NOT NULL OR approval_id IS NOT NULL OR report_id IS NOT NULL);
CREATE UNIQUE INDEX notifications_report_once_idx ON notifications (report_id, person_id, channel, reason)
    WHERE report_id IS NOT NULL;
