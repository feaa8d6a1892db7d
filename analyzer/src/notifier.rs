//! SMS delivery: the outbox the lifecycle (`geohazard_warnings`) queues into, sent with retries,
//! backoff, per-recipient rate limits and every attempt stored; delivery receipts; and the
//! referral loop that refers overdue warnings up and publishes the change.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geohazard_protocol::warning::{Summary, WarningLevel};
use geohazard_runtime::Backoff;
use geohazard_warnings::{Lifecycle, Outbox, SmsQueued};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::NotifierConfig;
use crate::sms::{SmsMessage, SmsProvider};

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
    summary_zh: String,
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

/// The pause before the next attempt after `attempts` failed ones: `retry_base_ms`, doubled per
/// attempt, capped at `retry_max_ms`.
fn retry_delay(cfg: &NotifierConfig, attempts: i32) -> Duration {
    let mut b = Backoff::new(
        Duration::from_millis(cfg.retry_base_ms),
        Duration::from_millis(cfg.retry_max_ms),
    );
    for _ in 1..attempts.clamp(1, 20) {
        b.next_delay();
    }
    b.next_delay()
}

/// Sends the SMS that are due, once. Returns how many were handed to the provider.
async fn send_due(
    pool: &PgPool,
    cfg: &NotifierConfig,
    provider: Option<&dyn SmsProvider>,
) -> sqlx::Result<usize> {
    let batch: Vec<Outgoing> = sqlx::query_as(
        "WITH claimed AS (
             UPDATE notifications SET status = 'sending', attempts = attempts + 1
             WHERE id IN (SELECT id FROM notifications
                          WHERE status = 'pending' AND channel = 'sms' AND next_attempt_at <= now()
                          ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED)
             RETURNING id, person_id, phone, body, attempts, warning_id)
         SELECT c.id, c.person_id, c.phone, c.body, c.attempts, h.code AS site, w.level,
                w.summary, w.summary_zh
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
) -> sqlx::Result<bool> {
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
    let level: WarningLevel = match m.level.parse() {
        Ok(l) => l,
        Err(e) => {
            // Not sent at a guessed level: failed, with the reason stored.
            tracing::error!(notification = m.id, error = %e, "SMS of a warning whose level is unknown");
            attempt(pool, m.id, m.attempts, "failed", None, &e.to_string()).await?;
            set_status(pool, m.id, "failed", None, None).await?;
            return Ok(false);
        }
    };
    let msg = SmsMessage {
        notification_id: m.id,
        phone,
        text: m.body.clone(),
        site: m.site.clone(),
        level: level.name_zh().into(),
        // In Chinese: the provider's template around it is.
        summary: Summary::chinese_or_english(&m.summary_zh, &m.summary)
            .chars()
            .take(60)
            .collect(),
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
                let wait = retry_delay(cfg, m.attempts);
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

/// Pauses between passes of a loop: the poll interval while passes succeed, growing up to a
/// minute while they fail (the database is away).
fn pass_backoff(poll: Duration) -> Backoff {
    Backoff::new(poll, poll.max(Duration::from_secs(60))).with_jitter()
}

/// The outbox loop: sends due SMS until shut down, woken early by `queued`.
pub async fn run_outbox(
    pool: PgPool,
    cfg: Arc<NotifierConfig>,
    provider: Option<Box<dyn SmsProvider>>,
    queued: SmsQueued,
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
    let mut failing = pass_backoff(poll);
    loop {
        let pause = match send_due(&pool, &cfg, provider.as_deref()).await {
            Ok(n) => {
                failing.reset();
                if n > 0 {
                    continue;
                }
                poll
            }
            Err(e) => {
                tracing::warn!(error = %e, "SMS outbox pass failed");
                failing.next_delay()
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = queued.notified() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// The referral loop: overdue warnings go up a level, and their change is published.
pub async fn run_referrals(
    pool: PgPool,
    lifecycle: Lifecycle,
    poll: Duration,
    outbox: Outbox,
    shutdown: CancellationToken,
) {
    let mut failing = pass_backoff(poll);
    loop {
        let pause = match lifecycle.refer_overdue(&pool).await {
            Ok(referred) => {
                failing.reset();
                for w in referred {
                    tracing::info!(warning = w.id, site = %w.site, "warning referred up: not acknowledged in time");
                    let _ = outbox.send(w);
                }
                poll
            }
            Err(e) => {
                tracing::warn!(error = %e, "referral pass failed");
                failing.next_delay()
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_the_cap() {
        let cfg = NotifierConfig {
            retry_base_ms: 2_000,
            retry_max_ms: 10_000,
            ..NotifierConfig::default()
        };
        let waits: Vec<u64> = (1..=5)
            .map(|n| retry_delay(&cfg, n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [2_000, 4_000, 8_000, 10_000, 10_000]);
        assert_eq!(retry_delay(&cfg, 0), Duration::from_millis(2_000));
    }
}
