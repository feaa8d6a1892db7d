//! Who is told of a warning change, queued in the transaction that stores it: the site's
//! responsible people and the county duty roster, then the city's and the province's as the
//! warning is referred up; an app notification for each, an SMS for those with a phone when the
//! hazard is serious enough. An app notification stays `pending` until a client of the person
//! confirms receiving it (the command-center's app channel); delivery of SMS, and the SMS
//! fallback of app notifications nobody confirmed, is the delivery worker's ([`crate::Delivery`]).

use std::sync::Arc;

use geohazard_protocol::warning::{Warning, WarningCategory, WarningTransition};
use sqlx::PgConnection;
use tokio::sync::Notify;

use crate::policy::WarningPolicy;

/// Wakes the delivery worker in the same process when a transaction queued SMS (a poll finds
/// them too, later, and a worker running alone relies on it). Clones share one signal; a signal
/// given while nobody waits is kept for the next wait.
#[derive(Debug, Clone, Default)]
pub struct Queued(Arc<Notify>);

impl Queued {
    /// Returns once SMS were queued since the last wait returned.
    pub async fn notified(&self) {
        self.0.notified().await
    }

    /// Call once the transaction that queued them committed.
    pub fn signal(&self) {
        self.0.notify_one();
    }
}

/// How far up the administrative levels a warning has been referred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The site's people and the county's duty roster.
    County,
    City,
    Province,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::County, Step::City, Step::Province];

    /// The `warnings.escalation_step` column: 0, 1 or 2.
    pub fn from_column(step: i32) -> Result<Step, sqlx::Error> {
        match step {
            0 => Ok(Step::County),
            1 => Ok(Step::City),
            2 => Ok(Step::Province),
            other => Err(sqlx::Error::Decode(
                format!("escalation_step {other} is not 0, 1 or 2").into(),
            )),
        }
    }

    pub fn column(self) -> i32 {
        self as i32
    }

    /// The next step up, none past the province.
    pub fn next(self) -> Option<Step> {
        Step::ALL.get(self as usize + 1).copied()
    }

    /// The `divisions.level` whose duty roster this step reaches.
    pub fn division_level(self) -> &'static str {
        match self {
            Step::County => "county",
            Step::City => "city",
            Step::Province => "province",
        }
    }
}

/// People to tell at a referral step, with their phone numbers.
async fn recipients(
    conn: &mut PgConnection,
    site: &str,
    step: Step,
) -> sqlx::Result<Vec<(i64, Option<String>)>> {
    sqlx::query_as(
        "WITH RECURSIVE chain AS (
             SELECT d.code, d.level, d.parent_code FROM divisions d
             JOIN hazard_sites h ON h.division_code = d.code WHERE h.code = $1
             UNION ALL
             SELECT d.code, d.level, d.parent_code FROM divisions d JOIN chain c ON d.code = c.parent_code
         )
         SELECT p.id, p.phone FROM people p WHERE p.id IN (
             SELECT r.person_id FROM duty_roster r
             WHERE r.division_code IN (SELECT code FROM chain WHERE level = $2)
               AND r.starts_at <= now() AND r.ends_at > now()
             UNION
             SELECT sr.person_id FROM site_responsibles sr JOIN hazard_sites h ON h.id = sr.site_id
             WHERE $3 AND h.code = $1)
         ORDER BY p.id",
    )
    .bind(site)
    .bind(step.division_level())
    .bind(step == Step::County)
    .fetch_all(conn)
    .await
}

/// What a forecast sent again tells the phone: the first forecast after level messages that
/// had none, or one materially earlier than the forecast they carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForecastNews {
    First,
    Earlier,
}

fn message_text(
    policy: &WarningPolicy,
    site_name: &str,
    w: &Warning,
    news: Option<ForecastNews>,
) -> String {
    let what = if w.category == WarningCategory::Device {
        "设备故障".to_owned()
    } else if w.transition == WarningTransition::ForecastUpdated {
        let news = match news {
            Some(ForecastNews::First) => "已有失稳时间预测",
            _ => "失稳预测时间提前",
        };
        format!("{}预警（{news}）", w.level.name_zh())
    } else {
        format!("{}预警", w.level.name_zh())
    };
    format!(
        "【{}】{}({}) {}：{}。请尽快确认处置。",
        policy.sender_name,
        site_name,
        w.site,
        what,
        w.summary_in_chinese()
    )
}

/// Queues the messages of one referral step: an app notification for every recipient and an
/// SMS for those with a phone when the warning is a hazard at or above `sms_min_level`. The
/// reason `{level}@{step}` makes each (recipient, channel) get it once, however often the
/// warning crosses that level again. Returns whether any SMS was queued.
pub async fn enqueue_for_step(
    conn: &mut PgConnection,
    policy: &WarningPolicy,
    w: &Warning,
    step: Step,
) -> sqlx::Result<bool> {
    let reason = format!("{}@{}", w.level, step.column());
    enqueue(conn, policy, w, step, &reason, None).await
}

/// [`enqueue_for_step`] under a reason of the caller's: each (recipient, channel) gets one
/// message per reason.
async fn enqueue(
    conn: &mut PgConnection,
    policy: &WarningPolicy,
    w: &Warning,
    step: Step,
    reason: &str,
    news: Option<ForecastNews>,
) -> sqlx::Result<bool> {
    let site_name: String = sqlx::query_scalar("SELECT name FROM hazard_sites WHERE code = $1")
        .bind(&w.site)
        .fetch_one(&mut *conn)
        .await?;
    let text = message_text(policy, &site_name, w, news);
    let sms = w.category == WarningCategory::Hazard && w.level >= policy.sms_min_level;
    let people = recipients(conn, &w.site, step).await?;
    let mut queued_sms = false;
    for (person, phone) in people {
        // Pending until a client of the person confirms it: nothing has delivered it yet.
        sqlx::query(
            "INSERT INTO notifications (warning_id, person_id, channel, reason, body)
             VALUES ($1, $2, 'app', $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(w.id)
        .bind(person)
        .bind(reason)
        .bind(&text)
        .execute(&mut *conn)
        .await?;
        if let (true, Some(phone)) = (sms, phone) {
            let r = sqlx::query(
                "INSERT INTO notifications (warning_id, person_id, channel, reason, phone, body)
                 VALUES ($1, $2, 'sms', $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(w.id)
            .bind(person)
            .bind(reason)
            .bind(&phone)
            .bind(&text)
            .execute(&mut *conn)
            .await?;
            queued_sms |= r.rows_affected() > 0;
        }
    }
    Ok(queued_sms)
}

/// The referral steps a warning has reached so far, county first.
async fn reached(conn: &mut PgConnection, w: &Warning) -> sqlx::Result<Vec<Step>> {
    let step: i32 = sqlx::query_scalar("SELECT escalation_step FROM warnings WHERE id = $1")
        .bind(w.id)
        .fetch_one(&mut *conn)
        .await?;
    let reached = Step::from_column(step)?;
    Ok(Step::ALL.into_iter().filter(|s| *s <= reached).collect())
}

/// A new or higher level: everyone reached so far hears of it. Returns whether any SMS was
/// queued.
pub async fn enqueue_for_level(
    conn: &mut PgConnection,
    policy: &WarningPolicy,
    w: &Warning,
) -> sqlx::Result<bool> {
    let mut queued = false;
    for s in reached(conn, w).await? {
        queued |= enqueue_for_step(conn, policy, w, s).await?;
    }
    Ok(queued)
}

/// A failure forecast that moved materially earlier, or the first one after level messages
/// that had none (the caller judged it so, `news` says which): everyone reached
/// so far hears of it again, once per forecast (reason `forecast {epoch ms}@{step}`). Returns
/// whether any SMS was queued.
pub async fn enqueue_forecast_update(
    conn: &mut PgConnection,
    policy: &WarningPolicy,
    w: &Warning,
    news: ForecastNews,
) -> sqlx::Result<bool> {
    let Some(forecast) = w.failure_forecast_ts else {
        return Ok(false);
    };
    let mut queued = false;
    for s in reached(conn, w).await? {
        let reason = format!("forecast {forecast}@{}", s.column());
        queued |= enqueue(conn, policy, w, s, &reason, Some(news)).await?;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referral_steps_go_county_city_province_and_stop() {
        assert_eq!(Step::County.next(), Some(Step::City));
        assert_eq!(Step::City.next(), Some(Step::Province));
        assert_eq!(Step::Province.next(), None);
        for s in Step::ALL {
            assert_eq!(Step::from_column(s.column()).unwrap(), s);
        }
        assert!(Step::from_column(3).is_err());
        assert!(Step::from_column(-1).is_err());
    }
}
