-- A notification may be about a task's assignment (notifications.task_id, 0610): the subject
-- check names it. This comes after every migration that redefines the check (0700, 0701,
-- 0800), each of which lists the subjects known then; one that adds a subject later must list
-- task_id too. (The field's migration, outside its 0610–0619 range only because the check is
-- redefined after it.)
ALTER TABLE notifications
    DROP CONSTRAINT notifications_subject_check,
    ADD CONSTRAINT notifications_subject_check
        CHECK (warning_id IS NOT NULL OR approval_id IS NOT NULL OR report_id IS NOT NULL
               OR forecast_warning_id IS NOT NULL OR task_id IS NOT NULL);
