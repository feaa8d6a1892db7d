//! Notifications of a task given to a team or a person (`notifications.task_id`): an app
//! notification for each person told, and an SMS as [`TaskSms`] says — at once, only when no
//! client confirmed the app notification in time (the delivery worker's fallback), or never.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// When a task's assignment goes out by SMS besides the app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSms {
    /// An SMS with the app notification, to everyone told who has a phone.
    AtOnce,
    /// An SMS only when no client of the person confirmed the app notification within the
    /// notifier's `app_fallback_s`.
    #[default]
    Unconfirmed,
    /// The app only.
    Never,
}

/// The PostgreSQL channel saying that app notifications were queued for a person (the payload
/// is the person's id), when the transaction commits: their open clients look at once.
pub const QUEUED_CHANNEL: &str = "geohazard_app_notification";

/// Queues, once per (task, person, channel, reason), the app notification of `person` and,
/// as `sms` says, an SMS to `phone`. Returns whether an SMS was queued now.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue_task(
    conn: &mut PgConnection,
    task: i64,
    person: i64,
    phone: Option<&str>,
    reason: &str,
    text_zh: &str,
    text_en: &str,
    sms: TaskSms,
) -> sqlx::Result<bool> {
    sqlx::query(
        "INSERT INTO notifications (task_id, person_id, channel, reason, body, body_en, sms_fallback_at)
         VALUES ($1, $2, 'app', $3, $4, $5, CASE WHEN $6 THEN now() END)
         ON CONFLICT (task_id, person_id, channel, reason) WHERE task_id IS NOT NULL DO NOTHING",
    )
    .bind(task)
    .bind(person)
    .bind(reason)
    .bind(text_zh)
    .bind(text_en)
    // At once or never: the worker's fallback has nothing more to send.
    .bind(sms != TaskSms::Unconfirmed)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2::text)")
        .bind(QUEUED_CHANNEL)
        .bind(person.to_string())
        .execute(&mut *conn)
        .await?;
    let (TaskSms::AtOnce, Some(phone)) = (sms, phone) else {
        return Ok(false);
    };
    let r = sqlx::query(
        "INSERT INTO notifications (task_id, person_id, channel, reason, phone, body, body_en)
         VALUES ($1, $2, 'sms', $3, $4, $5, $6)
         ON CONFLICT (task_id, person_id, channel, reason) WHERE task_id IS NOT NULL DO NOTHING",
    )
    .bind(task)
    .bind(person)
    .bind(reason)
    .bind(phone)
    .bind(text_zh)
    .bind(text_en)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}
