//! The referral loop: warnings nobody acknowledged in time go up the administrative levels
//! (the lifecycle decides and stores it, and queues the next step's notifications), and each
//! referral is published.

use std::time::Duration;

use geohazard_notify::pass_backoff;
use geohazard_warnings::{Lifecycle, Outbox};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

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
