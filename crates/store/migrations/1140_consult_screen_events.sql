-- Screen sharing in a consultation room enters the room's log: who started sharing their
-- screen and when it ended, replayed to late joiners and in the minutes.
ALTER TABLE consult_events DROP CONSTRAINT consult_events_kind_check;
ALTER TABLE consult_events ADD CONSTRAINT consult_events_kind_check
    CHECK (kind IN ('opened', 'joined', 'left', 'chat', 'annotation', 'posting', 'decision',
                    'closed', 'camera', 'screen_shared', 'screen_stopped'));
