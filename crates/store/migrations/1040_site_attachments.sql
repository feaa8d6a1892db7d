-- Photos and documents attached to a hazard site from the console (issue 24), kept in the
-- database like the field reports' photos: checked by their content before they are stored
-- (JPEG, PNG, PDF, DOCX, XLSX), bounded in size.
CREATE TABLE site_attachments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      bigint NOT NULL REFERENCES hazard_sites (id) ON DELETE CASCADE,
    filename     text NOT NULL CHECK (length(filename) BETWEEN 1 AND 200),
    content_type text NOT NULL CHECK (content_type IN (
                     'image/jpeg', 'image/png', 'application/pdf',
                     'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
                     'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')),
    bytes        bytea NOT NULL CHECK (length(bytes) BETWEEN 8 AND 20971520),
    officer_id   bigint REFERENCES officers (id) ON DELETE SET NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX site_attachments_site_idx ON site_attachments (site_id, id);
