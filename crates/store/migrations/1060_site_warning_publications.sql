-- Site warnings in the public release (信息发布), when an officer chooses: a published site
-- warning is in the public CAP feed and on the public page; its alert is updated when its level
-- changes while published and cancelled when it is closed or the officer withdraws it.
-- (1060–1069 are the site release's.)
CREATE TABLE site_publications (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    warning_id    bigint NOT NULL REFERENCES warnings (id) ON DELETE CASCADE,
    -- The site's division, for scoping.
    division_code text NOT NULL REFERENCES divisions (code),
    state         text NOT NULL DEFAULT 'published'
                  CHECK (state IN ('published', 'withdrawn', 'ended')),
    -- The level as last published (an Update follows the warning's level).
    level         text NOT NULL CHECK (level IN ('blue', 'yellow', 'orange', 'red')),
    -- The officer's words for the public, in Chinese (checked: no phone numbers).
    text_zh       text NOT NULL DEFAULT '' CHECK (length(text_zh) <= 500),
    published_by  bigint NOT NULL REFERENCES officers (id),
    published_at  timestamptz NOT NULL DEFAULT now(),
    -- Withdrawn by an officer (with a reason), or ended when the warning closed.
    ended_at      timestamptz,
    ended_by      bigint REFERENCES officers (id),
    reason        text CHECK (length(reason) <= 2000),
    CHECK ((state = 'published') = (ended_at IS NULL))
);
-- One publication in force per warning.
CREATE UNIQUE INDEX site_publications_one_live ON site_publications (warning_id)
    WHERE state = 'published';
CREATE INDEX site_publications_live_idx ON site_publications (state, id);

-- The CAP feed holds regional warnings' alerts and published site warnings' alerts.
ALTER TABLE forecast_cap_alerts
    ALTER COLUMN warning_id DROP NOT NULL,
    ADD COLUMN site_publication_id bigint REFERENCES site_publications (id) ON DELETE CASCADE,
    ADD CONSTRAINT forecast_cap_alerts_subject_check
        CHECK ((warning_id IS NULL) <> (site_publication_id IS NULL));
CREATE INDEX forecast_cap_alerts_site_idx ON forecast_cap_alerts (site_publication_id, id)
    WHERE site_publication_id IS NOT NULL;
