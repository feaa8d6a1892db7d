-- A site camera brought into a consultation room: its live view is a participant's tile for
-- everyone in the room (who may not see the camera otherwise).
ALTER TABLE consult_events DROP CONSTRAINT consult_events_kind_check;
ALTER TABLE consult_events ADD CONSTRAINT consult_events_kind_check
    CHECK (kind IN ('opened', 'joined', 'left', 'chat', 'annotation', 'posting', 'decision',
                    'closed', 'camera'));
