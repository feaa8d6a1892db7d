-- An incident opened from a field report (速报): one per report, two officers' clicks at once
-- making one.
ALTER TABLE field_reports ADD COLUMN incident_id bigint REFERENCES incidents (id);
CREATE INDEX field_reports_incident_idx ON field_reports (incident_id) WHERE incident_id IS NOT NULL;
