//! A task's assignment told to its people through `geohazard_notify`: the app channel for each
//! (its field app shows it and confirms it), and SMS as the policy ([`TaskSms`]) says. Queued
//! in the transaction that gives the task, once per person.

use geohazard_domain::{OfficerId, PersonId};
pub use geohazard_notify::TaskSms;
use sqlx::PgConnection;

use crate::dispatch::TaskId;

/// The reason of an assignment's notifications: one per (task, person, channel).
pub const REASON: &str = "assigned";

#[derive(sqlx::FromRow)]
struct About {
    title: String,
    incident_title: String,
    site_name: Option<String>,
    deadline: Option<chrono::DateTime<chrono::Utc>>,
}

/// Queues the notifications of task `task` for `people` (the assignee, else the team's
/// members). Returns whether an SMS was queued now.
pub async fn tell(
    conn: &mut PgConnection,
    task: TaskId,
    people: &[(OfficerId, PersonId)],
    sms: TaskSms,
    sender: &str,
) -> sqlx::Result<bool> {
    let about: About = sqlx::query_as(
        "SELECT k.title, i.title AS incident_title, k.deadline,
                (SELECT h.name FROM incident_sites s JOIN hazard_sites h ON h.id = s.site_id
                 WHERE s.incident_id = i.id ORDER BY s.site_id LIMIT 1) AS site_name
         FROM tasks k JOIN incidents i ON i.id = k.incident_id WHERE k.id = $1",
    )
    .bind(task)
    .fetch_one(&mut *conn)
    .await?;
    let (zh, en) = texts(&about, sender);
    let mut queued = false;
    for (_, person) in people {
        let phone: Option<String> = sqlx::query_scalar("SELECT phone FROM people WHERE id = $1")
            .bind(person)
            .fetch_one(&mut *conn)
            .await?;
        queued |= geohazard_notify::enqueue_task(
            conn,
            task,
            person.0,
            phone.as_deref(),
            REASON,
            &zh,
            &en,
            sms,
        )
        .await?;
    }
    Ok(queued)
}

fn texts(a: &About, sender: &str) -> (String, String) {
    let place_zh = a
        .site_name
        .as_deref()
        .map(|s| format!("，{s}"))
        .unwrap_or_default();
    let place_en = a
        .site_name
        .as_deref()
        .map(|s| format!(", {s}"))
        .unwrap_or_default();
    // Deadlines in China Standard Time, the agencies' zone.
    let deadline = a.deadline.map(|d| {
        (d + chrono::Duration::hours(8))
            .format("%m-%d %H:%M")
            .to_string()
    });
    let zh = format!(
        "【{sender}】新任务：{}（{}{place_zh}）{}。请在外业App中接受或拒绝。",
        a.title,
        a.incident_title,
        deadline
            .as_deref()
            .map(|d| format!("，期限 {d}"))
            .unwrap_or_default()
    );
    let en = format!(
        "New task: {} ({}{place_en}){}. Accept or decline it in the field app.",
        a.title,
        a.incident_title,
        deadline
            .as_deref()
            .map(|d| format!(", due {d} (UTC+8)"))
            .unwrap_or_default()
    );
    (zh, en)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_texts_name_the_task_the_incident_the_site_and_the_deadline_in_china_time() {
        let a = About {
            title: "转移群众".into(),
            incident_title: "白岩滑坡".into(),
            site_name: Some("高县白岩".into()),
            deadline: Some("2026-07-01T04:30:00Z".parse().unwrap()),
        };
        let (zh, en) = texts(&a, "地灾监测");
        assert_eq!(
            zh,
            "【地灾监测】新任务：转移群众（白岩滑坡，高县白岩），期限 07-01 12:30。请在外业App中接受或拒绝。"
        );
        assert!(
            en.starts_with("New task: 转移群众 (白岩滑坡, 高县白岩), due 07-01 12:30"),
            "{en}"
        );
    }
}
