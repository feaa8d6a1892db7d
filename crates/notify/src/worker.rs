//! The delivery worker: the SMS outbox the queue fills, sent with retries, backoff,
//! per-recipient rate limits and every attempt stored; and the app channel's fallback, an SMS
//! for an app notification no client of the person confirmed within the delay. It runs as a
//! component of the analyzer and the all-in-one, or alone (`geohazard notify`).

use std::time::Duration;

use geohazard_protocol::warning::{Summary, WarningLevel};
use geohazard_runtime::Backoff;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::NotifierConfig;
use crate::queue::Queued;
use crate::sms::{SmsMessage, SmsProvider, build_provider};

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
    /// About a task's assignment, not a warning: no level.
    task: bool,
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
             RETURNING id, person_id, phone, body, attempts, warning_id, reason, task_id)
         SELECT c.id, c.person_id, c.phone, c.body, c.attempts, COALESCE(h.code, '') AS site,
                COALESCE(w.level, split_part(c.reason, '@', 1)) AS level,
                COALESCE(w.summary, '') AS summary, COALESCE(w.summary_zh, c.body) AS summary_zh,
                c.task_id IS NOT NULL AS task
         FROM claimed c LEFT JOIN warnings w ON w.id = c.warning_id
         LEFT JOIN hazard_sites h ON h.id = w.site_id",
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
        Err(_) if m.task => {
            // A task's assignment: the template's level says what it is.
            let msg = SmsMessage {
                notification_id: m.id,
                phone,
                text: m.body.clone(),
                site: m.site.clone(),
                level: "任务".into(),
                summary: m.body.chars().take(60).collect(),
            };
            return deliver(pool, cfg, provider, &m, &msg).await;
        }
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
    deliver(pool, cfg, provider, &m, &msg).await
}

/// Hands `msg` to the provider and records the attempt and the outcome.
async fn deliver(
    pool: &PgPool,
    cfg: &NotifierConfig,
    provider: &dyn SmsProvider,
    m: &Outgoing,
    msg: &SmsMessage,
) -> sqlx::Result<bool> {
    match provider.send(msg).await {
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
                crate::receipts::announce(pool, m.id).await?;
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
    crate::receipts::announce(pool, id).await
}

/// Pauses between passes of a loop: the poll interval while passes succeed, growing up to a
/// minute while they fail (the database is away).
pub fn pass_backoff(poll: Duration) -> Backoff {
    Backoff::new(poll, poll.max(Duration::from_secs(60))).with_jitter()
}

/// Queues an SMS for every app notification of a hazard (or of a task's assignment) that no
/// client of its person has confirmed within `after`: same text, same reason (so it is one SMS
/// with the one the level may already have queued), to the person's phone. Each app notification falls back once; it
/// stays `pending`, so a client that connects later still gets it. Returns how many SMS were
/// queued.
async fn fall_back_to_sms(pool: &PgPool, after: Duration) -> sqlx::Result<u64> {
    let queued = sqlx::query(
        "WITH due AS (
             UPDATE notifications SET sms_fallback_at = now()
             WHERE id IN (SELECT n.id FROM notifications n LEFT JOIN warnings w ON w.id = n.warning_id
                          WHERE n.channel = 'app' AND n.status = 'pending'
                            AND n.sms_fallback_at IS NULL
                            AND (w.category = 'hazard' OR n.task_id IS NOT NULL)
                            AND n.created_at <= now() - make_interval(secs => $1)
                          ORDER BY n.id LIMIT 100 FOR UPDATE OF n SKIP LOCKED)
             RETURNING warning_id, task_id, person_id, reason, body, body_en)
         INSERT INTO notifications (warning_id, task_id, person_id, channel, reason, phone, body, body_en)
         SELECT d.warning_id, d.task_id, d.person_id, 'sms', d.reason, p.phone, d.body, d.body_en
         FROM due d JOIN people p ON p.id = d.person_id WHERE p.phone IS NOT NULL
         ON CONFLICT DO NOTHING",
    )
    .bind(after.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(queued.rows_affected())
}

/// The delivery worker with its SMS provider built (a bad provider configuration is an error
/// at start, not later).
pub struct Delivery {
    cfg: NotifierConfig,
    provider: Option<Box<dyn SmsProvider>>,
}

impl Delivery {
    pub fn new(cfg: NotifierConfig) -> anyhow::Result<Delivery> {
        let provider = build_provider(&cfg.sms, Duration::from_millis(cfg.request_timeout_ms))?;
        Ok(Delivery { cfg, provider })
    }

    /// Sends due SMS and falls back from the app to SMS until shut down, woken early by
    /// `queued`.
    pub async fn run(self, pool: PgPool, queued: Queued, shutdown: CancellationToken) {
        run(pool, self.cfg, self.provider, queued, shutdown).await
    }
}

async fn run(
    pool: PgPool,
    cfg: NotifierConfig,
    provider: Option<Box<dyn SmsProvider>>,
    queued: Queued,
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
    let fallback = cfg.app_fallback();
    let poll = Duration::from_millis(cfg.poll_ms.max(10));
    let mut failing = pass_backoff(poll);
    tracing::info!(
        provider = provider.as_ref().map(|p| p.name()),
        ?fallback,
        "notification delivery running"
    );
    loop {
        let pass = async {
            if let Some(after) = fallback {
                let n = fall_back_to_sms(&pool, after).await?;
                if n > 0 {
                    tracing::info!(
                        sms = n,
                        "app notifications nobody confirmed: sent by SMS instead"
                    );
                }
            }
            send_due(&pool, &cfg, provider.as_deref()).await
        };
        let pause = match pass.await {
            Ok(n) => {
                failing.reset();
                if n > 0 {
                    continue;
                }
                poll
            }
            Err(e) => {
                tracing::warn!(error = %e, "delivery pass failed");
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
