-- The register kept from the console (0500–0549): hazard sites carry a version for concurrent
-- edits (the second save against an old version is refused), and every change to the official
-- register (a new site, an edit, a retirement) is a row of `register_changes` with the site
-- before and after. Today every change is applied at once (`state = 'applied'`); an approval
-- step can later write `pending` rows and apply them when decided, without changing the pages.

ALTER TABLE hazard_sites
    -- Raised by one on every change; the API's ETag and If-Match.
    ADD COLUMN version    integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    -- Set when the site leaves the official register (its status is then 'closed').
    ADD COLUMN retired_at timestamptz;

-- Codes are looked up whatever their case (an import matches a register's rows by code).
CREATE INDEX hazard_sites_code_lower_idx ON hazard_sites (lower(code));

CREATE TABLE register_changes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    -- Who asked for it (NULL if their account was removed).
    officer_id    bigint REFERENCES officers (id) ON DELETE SET NULL,
    -- 'site.create', 'site.update', 'site.retire'.
    kind          text NOT NULL CHECK (kind ~ '^[a-z_]+\.[a-z_]+$'),
    site_id       bigint REFERENCES hazard_sites (id),
    -- The division the change concerns (scoping, like the audit log).
    division_code text NOT NULL REFERENCES divisions (code),
    -- The site as it was (NULL for a new one) and as it is after the change.
    before        jsonb,
    after         jsonb NOT NULL,
    -- The site's version after the change.
    version       integer NOT NULL,
    -- 'applied' today; 'pending', 'rejected' once an approval step is put in front.
    state         text NOT NULL DEFAULT 'applied' CHECK (state IN ('pending', 'applied', 'rejected')),
    -- The file a change came with, when it was imported (its name), else NULL.
    source        text CHECK (length(source) <= 200)
);
CREATE INDEX register_changes_site_idx ON register_changes (site_id, version);
CREATE INDEX register_changes_division_idx ON register_changes (division_code, at DESC);
