//! The app channel's end in the command-center: a live socket of a signed-in officer carries
//! the app notifications of the officer's person. Pending ones are pushed when the socket opens
//! and whenever new ones are there. One task per command-center ([`run_pending`]) asks the store
//! whose notifications are pending when a warning change goes by on the feed (its notifications
//! were queued in the transaction that stored it), when the store says some were queued for a
//! person (as a task's assignment does), and every poll interval (referrals, anything else); a socket reads its person's notifications only when that person's figures changed.
//! (Each socket asking on every change and every poll put 11,000 queries per warning change on
//! the pool at 11,000 sockets, and sign-ins waited behind them.) The client answers
//! `{"type":"delivered","id":N}` on receipt and `{"type":"confirmed","id":N}` when the person
//! presses confirm, and the store
//! keeps both times (`geohazard_notify::app`). A notification no client receives in time goes
//! out by SMS (the delivery worker).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use geohazard_domain::{NotificationId, PersonId};
use geohazard_notify::app::{self, AppNotification, ClientReceipt};
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::{broadcast, watch};

use crate::feeds::PendingApp;
use crate::incident_feed::{Changed, IncidentChanged};
use crate::state::AppState;

/// What the app channel sends a client, as `{"type": ..., ...}`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum AppMessage<'a> {
    Notification(&'a AppNotification),
    /// A client message that was not understood or not allowed; nothing was changed.
    Error {
        message: String,
    },
}

impl AppMessage<'_> {
    fn text(&self) -> String {
        serde_json::to_string(self).expect("an app message serializes")
    }
}

/// One socket's app channel.
pub struct AppChannel {
    pool: PgPool,
    person: PersonId,
    /// Pushed on this socket and still pending: not pushed again.
    pushed: HashSet<NotificationId>,
    pending: watch::Receiver<Arc<PendingApp>>,
    /// The person's figures when last read; `None` before the first read.
    seen: Option<Option<(i64, NotificationId)>>,
}

/// Keeps `state.app_pending` up to date until shutdown: one query when warning changes go by
/// (a burst is one query) and every `app_notification_poll_ms`.
pub async fn run_pending(state: AppState) {
    let mut feed = state.live.subscribe();
    let mut incidents = state.incidents.subscribe();
    let mut poll = tokio::time::interval(Duration::from_millis(
        state.settings.app_notification_poll_ms.max(10),
    ));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            r = feed.recv() => {
                if let Err(broadcast::error::RecvError::Closed) = r {
                    return;
                }
                // Whatever else went by meanwhile is covered by the same query.
                use broadcast::error::TryRecvError;
                while !matches!(
                    feed.try_recv(),
                    Err(TryRecvError::Empty | TryRecvError::Closed)
                ) {}
            }
            queued = app_notification_queued(&mut incidents) => {
                if !queued {
                    return;
                }
            }
            _ = poll.tick() => {}
        }
        match app::pending_by_person(&state.pool).await {
            Ok(now) => {
                state.app_pending.send_if_modified(|was| {
                    let changed = **was != now;
                    if changed {
                        *was = Arc::new(now);
                    }
                    changed
                });
            }
            // The next change or poll tries again; sockets keep what they have.
            Err(e) => tracing::warn!(error = %e, "reading whose app notifications are pending"),
        }
    }
}

impl AppChannel {
    pub fn new(state: &AppState, person: PersonId) -> AppChannel {
        AppChannel {
            pool: state.pool.clone(),
            person,
            pushed: HashSet::new(),
            pending: state.app_pending.subscribe(),
            seen: None,
        }
    }

    /// Returns when the person's pending notifications may have changed (the first call at
    /// once: what is pending when the socket opens).
    pub async fn wake(&mut self) {
        loop {
            let now = self.pending.borrow_and_update().get(&self.person).copied();
            if self.seen != Some(now) {
                self.seen = Some(now);
                return;
            }
            if self.pending.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The texts of the person's pending notifications not pushed on this socket yet.
    pub async fn due(&mut self) -> Vec<String> {
        let pending = match app::pending(&self.pool, self.person).await {
            Ok(p) => p,
            Err(e) => {
                // The next wake-up tries again; nothing is marked, so nothing is lost.
                tracing::warn!(error = %e, person = %self.person, "reading pending app notifications");
                return Vec::new();
            }
        };
        let still: HashSet<NotificationId> = pending.iter().map(|n| n.id).collect();
        self.pushed.retain(|id| still.contains(id));
        pending
            .iter()
            .filter(|n| self.pushed.insert(n.id))
            .map(|n| AppMessage::Notification(n).text())
            .collect()
    }

    /// Applies a client's text message; returns an error message to send back when it was not
    /// a receipt of one of the person's notifications.
    pub async fn receive(&mut self, text: &str) -> Option<String> {
        let receipt: ClientReceipt = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                return Some(
                    AppMessage::Error {
                        message: format!("not a delivered or confirmed message: {e}"),
                    }
                    .text(),
                );
            }
        };
        match app::receive(&self.pool, self.person, receipt).await {
            Ok(Some(_)) => None,
            Ok(None) => Some(
                AppMessage::Error {
                    message: format!("notification {} is not yours", receipt.id()),
                }
                .text(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "storing an app notification's receipt");
                Some(
                    AppMessage::Error {
                        message: format!(
                            "notification {}: not stored, send it again",
                            receipt.id()
                        ),
                    }
                    .text(),
                )
            }
        }
    }
}

/// Returns true once app notifications were said to be queued for someone (or some sayings were
/// missed), false when the feed has closed.
async fn app_notification_queued(rx: &mut broadcast::Receiver<Arc<IncidentChanged>>) -> bool {
    loop {
        match rx.recv().await {
            Ok(c) if c.what == Changed::AppNotification => return true,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return true,
            Err(broadcast::error::RecvError::Closed) => return false,
        }
    }
}
