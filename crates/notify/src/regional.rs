//! Notifications of a released regional (forecast) warning: not tied to one site's warning, so
//! they name the regional warning (`notifications.forecast_warning_id`). The app notification
//! and the SMS go out like a site warning's (the delivery worker sends the SMS; its level is
//! the reason's part before `@`).

use sqlx::PgConnection;

/// Queues, once per (warning, person, channel, reason), an app notification for `person` and an
/// SMS when `sms` and they have a phone. `reason` is `{level}@{what}`, e.g. `orange@division:510101`;
/// `body` is the Chinese text, `body_en` the English line the field app shows beside it.
/// Returns whether an SMS was queued.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue_regional(
    conn: &mut PgConnection,
    forecast_warning_id: i64,
    person: i64,
    phone: Option<&str>,
    reason: &str,
    body: &str,
    body_en: &str,
    sms: bool,
) -> sqlx::Result<bool> {
    let mut channels = vec![("app", None)];
    if let (true, Some(phone)) = (sms, phone) {
        channels.push(("sms", Some(phone)));
    }
    let mut queued_sms = false;
    for (channel, phone) in channels {
        let r = sqlx::query(
            "INSERT INTO notifications (forecast_warning_id, person_id, channel, reason, phone, body, body_en)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (forecast_warning_id, person_id, channel, reason)
                 WHERE forecast_warning_id IS NOT NULL DO NOTHING",
        )
        .bind(forecast_warning_id)
        .bind(person)
        .bind(channel)
        .bind(reason)
        .bind(phone)
        .bind(body)
        .bind(body_en)
        .execute(&mut *conn)
        .await?;
        queued_sms |= channel == "sms" && r.rows_affected() > 0;
    }
    Ok(queued_sms)
}
