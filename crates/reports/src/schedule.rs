//! The scheduler: once a day has ended (China Standard Time), the daily duty report of every
//! province, city and county is produced; once a month has ended, the monthly report. One
//! replica at a time in the cluster (`geohazard_store::cluster::exclusively`), and each report
//! once (stored under its unique key).

use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::period::Period;
use crate::stored::{Lines, generate};

/// Produces the reports due at `now` that are not stored yet; returns how many were made.
pub async fn produce_due(pool: &PgPool, now: DateTime<Utc>, lines: &Lines) -> sqlx::Result<u64> {
    let today = Period::date_of(now);
    let yesterday = Period::day(today.pred_opt().unwrap_or(today));
    let first = today.with_day(1).unwrap_or(today);
    let last_month = Period::month(first.pred_opt().unwrap_or(first));
    let divisions: Vec<String> = sqlx::query_scalar(
        "SELECT code FROM divisions WHERE level IN ('province', 'city', 'county') ORDER BY code",
    )
    .fetch_all(pool)
    .await?;
    let mut made = 0;
    for d in &divisions {
        for p in [&yesterday, &last_month] {
            if generate(pool, d, p, lines).await?.is_some() {
                made += 1;
            }
        }
    }
    Ok(made)
}

/// Looks for due reports every `every` until `shutdown`.
pub async fn run(pool: PgPool, every: Duration, lines: Lines, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let work = produce_due(&pool, Utc::now(), &lines);
        match geohazard_store::cluster::exclusively(&pool, "reports.schedule", work).await {
            Ok(Some(Ok(n))) if n > 0 => tracing::info!(reports = n, "supervision reports produced"),
            Ok(Some(Err(e))) | Err(e) => {
                tracing::warn!(error = %e, "producing supervision reports")
            }
            _ => {}
        }
    }
}
