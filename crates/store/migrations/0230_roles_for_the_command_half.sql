-- The roles of the command half (geohazard_domain::Role): supervisors, field staff and village
-- monitors sign in beside viewers, duty officers and admins.
ALTER TABLE officers DROP CONSTRAINT officers_role_check;
ALTER TABLE officers ADD CONSTRAINT officers_role_check CHECK (role IN
    ('viewer', 'duty_officer', 'supervisor', 'admin', 'field_staff', 'village_monitor'));
