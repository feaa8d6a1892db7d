-- The app channel delivers for real: an app notification stays 'pending' until a signed-in
-- client of its person (console, field app) says it has received it ('delivered', with the
-- time), and the person's confirmation is kept; one nobody confirms in time goes out by SMS
-- (`sms_fallback_at`, once). (0300–0319 are the notifier's.)
ALTER TABLE notifications
    ADD COLUMN confirmed_at    timestamptz,
    ADD COLUMN sms_fallback_at timestamptz;

-- Rows the old code stored as 'sent' were never delivered to anyone: they are not counted as
-- sent, and not sent by SMS now either.
UPDATE notifications SET status = 'failed', sent_at = NULL, provider = NULL, sms_fallback_at = now()
WHERE channel = 'app' AND status = 'sent';

CREATE INDEX notifications_app_pending_idx ON notifications (person_id, id)
    WHERE channel = 'app' AND status = 'pending';
