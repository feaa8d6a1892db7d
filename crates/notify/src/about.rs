//! Notifications about something other than a warning (an approval's reminder or overdue step,
//! a supervision exception report): queued on the app channel in the caller's transaction, once
//! per (subject, person, reason).

use sqlx::PgConnection;

/// What a notification is about, besides a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum About {
    /// An approval request (`approval_instances.id`).
    Approval(i64),
    /// A supervision report whose figure crossed a line (`supervision_reports.id`).
    Report(i64),
}

/// Queues an app notification about `about` for `person`, in Chinese with its English line.
/// `reason` makes it once: the same reason for the same person and subject is queued once.
/// Returns whether it was new.
pub async fn enqueue_about(
    conn: &mut PgConnection,
    about: About,
    person: i64,
    reason: &str,
    text_zh: &str,
    text_en: &str,
) -> sqlx::Result<bool> {
    let sql = match about {
        About::Approval(_) => {
            "INSERT INTO notifications (approval_id, person_id, channel, reason, body, body_en)
             VALUES ($1, $2, 'app', $3, $4, $5)
             ON CONFLICT (approval_id, person_id, channel, reason) WHERE approval_id IS NOT NULL
             DO NOTHING"
        }
        About::Report(_) => {
            "INSERT INTO notifications (report_id, person_id, channel, reason, body, body_en)
             VALUES ($1, $2, 'app', $3, $4, $5)
             ON CONFLICT (report_id, person_id, channel, reason) WHERE report_id IS NOT NULL
             DO NOTHING"
        }
    };
    let (About::Approval(id) | About::Report(id)) = about;
    let r = sqlx::query(sql)
        .bind(id)
        .bind(person)
        .bind(reason)
        .bind(text_zh)
        .bind(text_en)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
