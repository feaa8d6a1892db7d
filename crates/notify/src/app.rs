//! The app channel in the store: the notifications a person's signed-in clients are shown, and
//! what a client says back (received: `delivered` with the time; the person pressed confirm:
//! the confirmation time). A client marks only its own person's notifications. The socket that
//! carries them is the command-center's.

use chrono::{DateTime, Utc};
use geohazard_domain::{Channel, NotificationId, NotificationStatus, PersonId, WarningId};
use geohazard_protocol::warning::{WarningCategory, WarningLevel};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// A notification as a client receives it: `{"type":"notification", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppNotification {
    pub id: NotificationId,
    pub warning_id: Option<WarningId>,
    /// The task whose assignment it tells of, if it does.
    pub task_id: Option<i64>,
    /// The level the notification is about.
    pub level: Option<WarningLevel>,
    pub text_zh: String,
    pub text_en: String,
    pub created_at: DateTime<Utc>,
}

/// What a client sends back, `{"type": ..., "id": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientReceipt {
    /// The client has it (sent automatically on receipt).
    Delivered { id: NotificationId },
    /// The person pressed confirm.
    Confirmed { id: NotificationId },
}

impl ClientReceipt {
    pub fn id(self) -> NotificationId {
        match self {
            ClientReceipt::Delivered { id } | ClientReceipt::Confirmed { id } => id,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: NotificationId,
    /// `None`: a notification about an approval (its English text is `body_en`).
    warning_id: Option<WarningId>,
    task_id: Option<i64>,
    /// A regional (forecast) warning's notification: its reason is `{level}@{what}` too.
    forecast_warning_id: Option<i64>,
    reason: String,
    body: String,
    body_en: Option<String>,
    created_at: DateTime<Utc>,
    site: Option<String>,
    site_name: Option<String>,
    category: Option<String>,
    summary: Option<String>,
}

/// The English line beside the Chinese text the notification was queued with.
fn text_en(r: &Row, level: Option<WarningLevel>) -> String {
    if let Some(en) = &r.body_en {
        return en.clone();
    }
    let what = match (
        r.category
            .as_deref()
            .unwrap_or("")
            .parse::<WarningCategory>(),
        level,
    ) {
        (Ok(WarningCategory::Device), _) => "Device fault".to_owned(),
        (_, Some(level)) => format!("{} warning", capitalized(level.as_str())),
        (_, None) => "Warning".to_owned(),
    };
    format!(
        "{what} at {} ({}): {}. Please acknowledge.",
        r.site_name.as_deref().unwrap_or(""),
        r.site.as_deref().unwrap_or(""),
        r.summary.as_deref().unwrap_or("")
    )
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Whose app notifications no client has received yet: each person's count and newest id. One
/// query for every socket of a command-center, which then reads [`pending`] only for a person
/// whose figures changed.
pub async fn pending_by_person(
    pool: &PgPool,
) -> sqlx::Result<std::collections::HashMap<PersonId, (i64, NotificationId)>> {
    let rows: Vec<(PersonId, i64, NotificationId)> = sqlx::query_as(
        "SELECT person_id, count(*), max(id) FROM notifications
         WHERE channel = $1 AND status = $2 AND person_id IS NOT NULL
         GROUP BY person_id",
    )
    .bind(Channel::App)
    .bind(NotificationStatus::Pending)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(person, n, newest)| (person, (n, newest)))
        .collect())
}

/// The app notifications of `person` no client has received yet, oldest first.
pub async fn pending(pool: &PgPool, person: PersonId) -> sqlx::Result<Vec<AppNotification>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT n.id, n.warning_id, n.task_id, n.forecast_warning_id, n.reason, n.body, n.body_en,
                n.created_at, h.code AS site,
                h.name AS site_name, w.category, w.summary
         FROM notifications n LEFT JOIN warnings w ON w.id = n.warning_id
         LEFT JOIN hazard_sites h ON h.id = w.site_id
         WHERE n.person_id = $1 AND n.channel = $2 AND n.status = $3
         ORDER BY n.id LIMIT 200",
    )
    .bind(person)
    .bind(Channel::App)
    .bind(NotificationStatus::Pending)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            // The reason is `{level}@{step}`: the level this notification tells of.
            let level = (r.warning_id.is_some() || r.forecast_warning_id.is_some())
                .then(|| r.reason.split('@').next())
                .flatten()
                .and_then(|l| l.parse().ok());
            AppNotification {
                id: r.id,
                warning_id: r.warning_id,
                task_id: r.task_id,
                level,
                text_en: text_en(&r, level),
                text_zh: r.body,
                created_at: r.created_at,
            }
        })
        .collect())
}

/// Applies what a client of `person` said. Returns when the notification was delivered, or
/// `None` when it is not an app notification of that person (nothing is changed). Saying it
/// again changes nothing: the first times are kept.
pub async fn receive(
    pool: &PgPool,
    person: PersonId,
    receipt: ClientReceipt,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let confirmed = matches!(receipt, ClientReceipt::Confirmed { .. });
    let mut tx = pool.begin().await?;
    let delivered: Option<DateTime<Utc>> = sqlx::query_scalar(
        "UPDATE notifications SET status = $4,
             delivered_at = COALESCE(delivered_at, now()),
             confirmed_at = CASE WHEN $5 THEN COALESCE(confirmed_at, now()) ELSE confirmed_at END
         WHERE id = $1 AND person_id = $2 AND channel = $3
         RETURNING delivered_at",
    )
    .bind(receipt.id())
    .bind(person)
    .bind(Channel::App)
    .bind(NotificationStatus::Delivered)
    .bind(confirmed)
    .fetch_optional(&mut *tx)
    .await?;
    if delivered.is_some() {
        crate::receipts::announce(&mut *tx, receipt.id().0).await?;
    }
    tx.commit().await?;
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_says_delivered_or_confirmed_with_the_notifications_id() {
        let d: ClientReceipt = serde_json::from_str(r#"{"type":"delivered","id":7}"#).unwrap();
        assert_eq!(
            d,
            ClientReceipt::Delivered {
                id: NotificationId(7)
            }
        );
        let c: ClientReceipt = serde_json::from_str(r#"{"type":"confirmed","id":8}"#).unwrap();
        assert_eq!(c.id(), NotificationId(8));
        assert!(serde_json::from_str::<ClientReceipt>(r#"{"type":"read","id":8}"#).is_err());
        assert!(serde_json::from_str::<ClientReceipt>(r#"{"type":"delivered"}"#).is_err());
    }
}
