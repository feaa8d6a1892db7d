-- Rules kept from the console (issue 24, 1030–1039): each rule row carries a version for
-- concurrent edits (the API's ETag and If-Match, as sites have), and every change is a row of
-- `register_changes` (kind 'rule.update', the rule before and after). A rule of a sensor kind
-- concerns every division: its change row names the division of the officer who made it.

ALTER TABLE analyzer_rules
    ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);
