//! The notifier: who is told (the site's responsible people and the county duty roster, then
//! the city's and the province's when nobody acknowledges), by SMS and app; the SMS outbox
//! with retries, backoff, per-recipient rate limits and every attempt stored; delivery receipts.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geohazard_protocol::warning::{Warning, WarningCategory, WarningLevel};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::NotifierConfig;
use crate::sms::{SmsMessage, SmsProvider};

/// Wakes the outbox when a transaction queued SMS (a poll would find them too, later).
static WAKE: Notify = Notify::const_new();

/// The division levels whose duty roster each referral step reaches.
fn step_level(step: u8) -> &'static str {
    match step {
        0 => "county",
        1 => "city",
        _ => "province",
    }
}

pub fn level_name_cn(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Blue => "蓝色",
        WarningLevel::Yellow => "黄色",
        WarningLevel::Orange => "橙色",
        WarningLevel::Red => "红色",
    }
}

/// People to tell at a referral step, with their phone numbers.
async fn recipients(
    conn: &mut PgConnection,
    site: &str,
    step: u8,
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
    .bind(step_level(step))
    .bind(step == 0)
    .fetch_all(conn)
    .await
}

fn message_text(cfg: &NotifierConfig, site_name: &str, w: &Warning) -> String {
    let what = if w.category == WarningCategory::Device {
        "设备故障".to_owned()
    } else {
        format!("{}预警", level_name_cn(w.level))
    };
    format!(
        "【{}】{}({}) {}：{}。请尽快确认处置。",
        cfg.sender_name, site_name, w.site, what, w.summary
    )
}

/// Queues the messages of one referral step: an app notification for every recipient and an
/// SMS for those with a phone when the warning is a hazard at or above `sms_min_level`. The
/// reason `{level}@{step}` makes each (recipient, channel) get it once, however often the
/// warning crosses that level again.
pub async fn enqueue_for_step(
    conn: &mut PgConnection,
    cfg: &NotifierConfig,
    w: &Warning,
    step: u8,
) -> sqlx::Result<()> {
    let site_name: String = sqlx::query_scalar("SELECT name FROM hazard_sites WHERE code = $1")
        .bind(&w.site)
        .fetch_one(&mut *conn)
        .await?;
    let text = message_text(cfg, &site_name, w);
    let reason = format!("{}@{step}", w.level);
    let sms = w.category == WarningCategory::Hazard && w.level >= cfg.sms_min_level;
    let people = recipients(conn, &w.site, step).await?;
    let mut queued_sms = false;
    for (person, phone) in people {
        let app_id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO notifications (warning_id, person_id, channel, reason, body, status, sent_at, provider)
             VALUES ($1, $2, 'app', $3, $4, 'sent', now(), 'app')
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(w.id)
        .bind(person)
        .bind(&reason)
        .bind(&text)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = app_id {
            let payload = json!({"notification_id": id, "person_id": person, "warning_id": w.id,
                "site": w.site, "level": w.level, "category": w.category, "text": text});
            sqlx::query("SELECT pg_notify('notifications', $1)")
                .bind(payload.to_string())
                .execute(&mut *conn)
                .await?;
        }
        if let (true, Some(phone)) = (sms, phone) {
            let r = sqlx::query(
                "INSERT INTO notifications (warning_id, person_id, channel, reason, phone, body)
                 VALUES ($1, $2, 'sms', $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(w.id)
            .bind(person)
            .bind(&reason)
            .bind(&phone)
            .bind(&text)
            .execute(&mut *conn)
            .await?;
            queued_sms |= r.rows_affected() > 0;
        }
    }
    if queued_sms {
        WAKE.notify_one();
    }
    Ok(())
}

/// A new or higher level: everyone reached so far hears of it.
pub async fn enqueue_for_level(
    conn: &mut PgConnection,
    cfg: &NotifierConfig,
    w: &Warning,
) -> sqlx::Result<()> {
    let step: i32 = sqlx::query_scalar("SELECT escalation_step FROM warnings WHERE id = $1")
        .bind(w.id)
        .fetch_one(&mut *conn)
        .await?;
    for s in 0..=step.clamp(0, 2) as u8 {
        enqueue_for_step(conn, cfg, w, s).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Outgoing {
    id: i64,
    person_id: i64,
    phone: Option<String>,
    body: String,
    attempts: i32,
    site: String,
    level: String,
    summary: String,
}

async fn attempt(
    pool: &PgPool,
    id: i64,
    n: i32,
    outcome: &str,
    http_status: Option<u16>,
    detail: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO notification_attempts (notification_id, attempt, outcome, http_status, detail)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(n)
    .bind(outcome)
    .bind(http_status.map(i32::from))
    .bind(detail)
    .execute(pool)
    .await?;
    Ok(())
}

fn backoff(cfg: &NotifierConfig, attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    Duration::from_millis(
        cfg.retry_base_ms
            .saturating_mul(1u64 << exp)
            .min(cfg.retry_max_ms),
    )
}

/// Sends the SMS that are due, once. Returns how many were handed to the provider.
pub async fn send_due(
    pool: &PgPool,
    cfg: &NotifierConfig,
    provider: Option<&dyn SmsProvider>,
) -> anyhow::Result<usize> {
    let batch: Vec<Outgoing> = sqlx::query_as(
        "WITH claimed AS (
             UPDATE notifications SET status = 'sending', attempts = attempts + 1
             WHERE id IN (SELECT id FROM notifications
                          WHERE status = 'pending' AND channel = 'sms' AND next_attempt_at <= now()
                          ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED)
             RETURNING id, person_id, phone, body, attempts, warning_id)
         SELECT c.id, c.person_id, c.phone, c.body, c.attempts, h.code AS site, w.level, w.summary
         FROM claimed c JOIN warnings w ON w.id = c.warning_id JOIN hazard_sites h ON h.id = w.site_id",
    )
    .fetch_all(pool)
    .await?;
    let sends = batch.into_iter().map(|m| send_one(pool, cfg, provider, m));
    let results = futures::future::join_all(sends).await;
    let mut sent = 0;
    for r in results {
        match r {
            Ok(true) => sent += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not record an SMS attempt"),
        }
    }
    Ok(sent)
}

async fn send_one(
    pool: &PgPool,
    cfg: &NotifierConfig,
    provider: Option<&dyn SmsProvider>,
    m: Outgoing,
) -> anyhow::Result<bool> {
    let recent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE person_id = $1 AND channel = 'sms'
             AND status IN ('sent', 'delivered') AND sent_at > now() - make_interval(secs => $2)",
    )
    .bind(m.person_id)
    .bind(cfg.rate_limit_window_s as f64)
    .fetch_one(pool)
    .await?;
    if recent >= i64::from(cfg.rate_limit_count) {
        // The app notification still reaches the person; SMS stops flooding their phone.
        let detail = format!(
            "rate limit: {} SMS in {} s already",
            recent, cfg.rate_limit_window_s
        );
        attempt(pool, m.id, m.attempts, "failed", None, &detail).await?;
        set_status(pool, m.id, "rate_limited", None, None).await?;
        return Ok(false);
    }
    let (Some(provider), Some(phone)) = (provider, m.phone.clone()) else {
        attempt(
            pool,
            m.id,
            m.attempts,
            "failed",
            None,
            "no SMS provider configured",
        )
        .await?;
        set_status(pool, m.id, "failed", None, None).await?;
        return Ok(false);
    };
    let level: WarningLevel = m.level.parse().unwrap_or(WarningLevel::Red);
    let msg = SmsMessage {
        notification_id: m.id,
        phone,
        text: m.body.clone(),
        site: m.site.clone(),
        level: level_name_cn(level).into(),
        summary: m.summary.chars().take(60).collect(),
    };
    match provider.send(&msg).await {
        Ok(sent) => {
            attempt(pool, m.id, m.attempts, "sent", Some(sent.http_status), "").await?;
            set_status(
                pool,
                m.id,
                "sent",
                Some(provider.name()),
                sent.message_id.as_deref(),
            )
            .await?;
            Ok(true)
        }
        Err(e) => {
            let retry = e.retryable && m.attempts < cfg.max_attempts as i32;
            tracing::warn!(notification = m.id, attempt = m.attempts, retry, error = %e.detail, "SMS not sent");
            attempt(
                pool,
                m.id,
                m.attempts,
                if retry { "retry" } else { "failed" },
                e.http_status,
                &e.detail,
            )
            .await?;
            if retry {
                let wait = backoff(cfg, m.attempts);
                sqlx::query(
                    "UPDATE notifications SET status = 'pending', provider = $2,
                         next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                )
                .bind(m.id)
                .bind(provider.name())
                .bind(wait.as_secs_f64())
                .execute(pool)
                .await?;
            } else {
                set_status(pool, m.id, "failed", Some(provider.name()), None).await?;
            }
            Ok(false)
        }
    }
}

async fn set_status(
    pool: &PgPool,
    id: i64,
    status: &str,
    provider: Option<&str>,
    message_id: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE notifications SET status = $2, provider = COALESCE($3, provider),
             provider_message_id = COALESCE($4, provider_message_id),
             sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END
         WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(provider)
    .bind(message_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores a provider's delivery receipt and marks the message delivered (or failed). Returns
/// the notification it belongs to, if it is known. The HTTP callback endpoint that calls this
/// belongs to the command-center.
pub async fn record_receipt(
    pool: &PgPool,
    provider: &str,
    provider_message_id: &str,
    delivered: bool,
    status_code: &str,
    reported_at: Option<DateTime<Utc>>,
    raw: Option<Value>,
) -> sqlx::Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE notifications SET
             status = CASE WHEN $3 THEN 'delivered' ELSE 'failed' END,
             delivered_at = CASE WHEN $3 THEN COALESCE($4, now()) ELSE delivered_at END
         WHERE provider = $1 AND provider_message_id = $2 AND status IN ('sent', 'delivered', 'failed')
         RETURNING id",
    )
    .bind(provider)
    .bind(provider_message_id)
    .bind(delivered)
    .bind(reported_at)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO notification_receipts (notification_id, provider, provider_message_id, delivered,
             status_code, reported_at, raw) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(provider)
    .bind(provider_message_id)
    .bind(delivered)
    .bind(status_code)
    .bind(reported_at)
    .bind(raw)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The outbox loop: sends due SMS until shut down.
pub async fn run_outbox(
    pool: PgPool,
    cfg: Arc<NotifierConfig>,
    provider: Option<Box<dyn SmsProvider>>,
    shutdown: CancellationToken,
) {
    // Messages caught mid-send by a crash are sent again: better twice than never.
    if let Err(e) =
        sqlx::query("UPDATE notifications SET status = 'pending' WHERE status = 'sending'")
            .execute(&pool)
            .await
    {
        tracing::warn!(error = %e, "could not requeue interrupted SMS");
    }
    let poll = Duration::from_millis(cfg.poll_ms.max(10));
    loop {
        match send_due(&pool, &cfg, provider.as_deref()).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "SMS outbox pass failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = WAKE.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// The referral loop: overdue warnings go up a level, and their change is published.
pub async fn run_referrals(
    pool: PgPool,
    cfg: Arc<NotifierConfig>,
    mqtt: crate::engine::Outbox,
    shutdown: CancellationToken,
) {
    let poll = Duration::from_millis(cfg.poll_ms.max(10));
    loop {
        match crate::warnings::refer_overdue(&pool, &cfg).await {
            Ok(referred) => {
                for w in referred {
                    tracing::info!(warning = w.id, site = %w.site, "warning referred up: not acknowledged in time");
                    let _ = mqtt.send(w);
                }
            }
            Err(e) => tracing::warn!(error = %e, "referral pass failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
