-- Online approval (网上审批): workflows as data, their instances and every action on them; what
-- an approval changes in the register; reminders through the notification queue.
-- (0700–0749 are the approvals' and the supervision reports'.)

-- A workflow: who proposes (at which division level) and the steps after that, each acted on by
-- the given roles at the given division level above the proposer, with its deadline and when a
-- reminder goes before it. `effect` names what a final approval does (the approvals crate's
-- kinds); the engine reads this row and knows nothing else of the kind.
CREATE TABLE approval_workflows (
    kind           text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z_.]{0,63}$'),
    name_zh        text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 100),
    name_en        text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 100),
    proposer_level text NOT NULL CHECK (proposer_level IN ('province', 'city', 'county', 'township')),
    -- [{"level","roles":[...],"due_s","remind_before_s","name_zh","name_en"}, ...]
    steps          jsonb NOT NULL CHECK (jsonb_typeof(steps) = 'array' AND jsonb_array_length(steps) BETWEEN 1 AND 10),
    effect         text NOT NULL CHECK (length(effect) BETWEEN 1 AND 64)
);

INSERT INTO approval_workflows (kind, name_zh, name_en, proposer_level, steps, effect) VALUES
('site.register', '新增隐患点登记', 'Register a new hazard site', 'county',
 '[{"level":"city","roles":["supervisor","admin"],"due_s":259200,"remind_before_s":86400,"name_zh":"市级审核","name_en":"City review"},
   {"level":"province","roles":["supervisor","admin"],"due_s":432000,"remind_before_s":86400,"name_zh":"省级审批","name_en":"Province approval"}]',
 'site.register'),
('site.retire', '隐患点治理后核销', 'Retire a hazard site after remediation', 'county',
 '[{"level":"city","roles":["supervisor","admin"],"due_s":259200,"remind_before_s":86400,"name_zh":"市级审核","name_en":"City review"},
   {"level":"province","roles":["supervisor","admin"],"due_s":432000,"remind_before_s":86400,"name_zh":"省级审批","name_en":"Province approval"}]',
 'site.retire'),
('risk.assessment', '建设项目地质灾害危险性评估备案', 'Risk-assessment filing for a construction project', 'county',
 '[{"level":"city","roles":["supervisor","admin"],"due_s":604800,"remind_before_s":86400,"name_zh":"市级备案","name_en":"City filing"}]',
 'none'),
('device.acceptance', '监测设备验收', 'Acceptance of monitoring devices', 'county',
 '[{"level":"city","roles":["supervisor","admin"],"due_s":432000,"remind_before_s":86400,"name_zh":"市级验收","name_en":"City acceptance"}]',
 'device.acceptance'),
('plan.approval', '隐患点应急预案审批', 'Approval of a site''s emergency plan', 'county',
 '[{"level":"city","roles":["supervisor","admin"],"due_s":259200,"remind_before_s":86400,"name_zh":"市级审核","name_en":"City review"},
   {"level":"province","roles":["supervisor","admin"],"due_s":432000,"remind_before_s":86400,"name_zh":"省级审批","name_en":"Province approval"}]',
 'plan.approval'),
('threshold.change', '预警阈值调整', 'Change of a site''s warning thresholds', 'county',
 '[{"level":"city","roles":["supervisor","admin"],"due_s":172800,"remind_before_s":43200,"name_zh":"市级审核","name_en":"City review"},
   {"level":"province","roles":["supervisor","admin"],"due_s":259200,"remind_before_s":43200,"name_zh":"省级审批","name_en":"Province approval"}]',
 'threshold.change');

CREATE TABLE approval_instances (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL REFERENCES approval_workflows (kind),
    -- The proposer's division: every query is scoped by it.
    division_code text NOT NULL REFERENCES divisions (code),
    -- The site concerned, when there is one (not for a site yet to be registered).
    site_id       bigint REFERENCES hazard_sites (id),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    form          jsonb NOT NULL CHECK (jsonb_typeof(form) = 'object'),
    -- [{"name","ref"}]: references to files or plans kept elsewhere.
    attachments   jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(attachments) = 'array'),
    requested_by  bigint NOT NULL REFERENCES officers (id),
    state         text NOT NULL CHECK (state IN ('pending', 'returned', 'approved', 'rejected', 'withdrawn')),
    -- Index into the workflow's steps of the step acting now (pending), or last acted.
    step          integer NOT NULL DEFAULT 0 CHECK (step >= 0),
    step_since    timestamptz NOT NULL DEFAULT now(),
    step_due_at   timestamptz,
    -- The current step's reminder before its deadline, and its being flagged overdue.
    reminded_at   timestamptz,
    overdue_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    -- What the final approval changed (ids of rows made or changed).
    effect        jsonb
);
CREATE INDEX approval_instances_division_idx ON approval_instances (division_code, state);
CREATE INDEX approval_instances_due_idx ON approval_instances (step_due_at) WHERE state = 'pending';
CREATE INDEX approval_instances_requested_by_idx ON approval_instances (requested_by);

-- Every action, in order: the instance's full history.
CREATE TABLE approval_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id bigint NOT NULL REFERENCES approval_instances (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    -- NULL for what the deadline scheduler did (reminded, overdue).
    officer_id  bigint REFERENCES officers (id),
    action      text NOT NULL CHECK (action IN ('submit', 'approve', 'reject', 'return', 'comment',
                                                 'withdraw', 'resubmit', 'remind', 'overdue')),
    step        integer NOT NULL,
    state_after text NOT NULL,
    comment     text NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX approval_events_instance_idx ON approval_events (instance_id, id);

-- What approvals change in the register: additive columns, set only by the approvals' effects.
ALTER TABLE hazard_sites
    -- (`retired_at` itself comes with the register's own columns, migration 0500.)
    ADD COLUMN registered_by_approval bigint REFERENCES approval_instances (id),
    ADD COLUMN retired_by_approval    bigint REFERENCES approval_instances (id);
-- A device's data counts as official from its acceptance.
ALTER TABLE gateways
    ADD COLUMN accepted_at          timestamptz,
    ADD COLUMN accepted_by_approval bigint REFERENCES approval_instances (id);
-- A site's approved emergency plans (the plan itself is kept by the plans' module: a reference).
CREATE TABLE site_plan_approvals (
    site_id     bigint NOT NULL REFERENCES hazard_sites (id),
    plan_ref    text NOT NULL CHECK (length(plan_ref) BETWEEN 1 AND 200),
    approval_id bigint NOT NULL REFERENCES approval_instances (id),
    approved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, plan_ref)
);

-- Requests that will change the register once approved: the register shows them as pending.
CREATE VIEW hazard_site_requests AS
SELECT i.id AS approval_id, i.kind, i.state, i.division_code,
       coalesce(h.code, i.form ->> 'code') AS site_code,
       coalesce(h.name, i.form ->> 'name') AS site_name,
       i.site_id, i.created_at
FROM approval_instances i LEFT JOIN hazard_sites h ON h.id = i.site_id
WHERE i.kind IN ('site.register', 'site.retire') AND i.state IN ('pending', 'returned');

-- Reminders and overdue notices of approvals go through the notification queue (app channel):
-- a notification is about a warning or about an approval.
ALTER TABLE notifications
    ALTER COLUMN warning_id DROP NOT NULL,
    ADD COLUMN approval_id bigint REFERENCES approval_instances (id) ON DELETE CASCADE,
    ADD COLUMN body_en text,
    ADD CONSTRAINT notifications_subject_check CHECK (warning_id IS NOT NULL OR approval_id IS NOT NULL);
CREATE UNIQUE INDEX notifications_approval_once_idx ON notifications (approval_id, person_id, channel, reason)
    WHERE approval_id IS NOT NULL;
