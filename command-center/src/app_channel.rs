//! The app channel's end in the command-center: a live socket of a signed-in officer carries
//! the app notifications of the officer's person. Pending ones are pushed when the socket opens
//! and whenever new ones may be there (a warning change went by on the feed, whose
//! notifications were queued in the transaction that stored it; the store said some were
//! queued for the person, as a task's assignment does; or the poll interval passed,
//! for referrals and anything else); the client answers `{"type":"delivered","id":N}` on
//! receipt and `{"type":"confirmed","id":N}` when the person presses confirm, and the store
//! keeps both times (`geohazard_notify::app`). A notification no client receives in time goes
//! out by SMS (the delivery worker).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use geohazard_domain::{NotificationId, PersonId};
use geohazard_notify::app::{self, AppNotification, ClientReceipt};
use geohazard_protocol::warning::Warning;
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::broadcast;
use tokio::time::Interval;

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
    feed: broadcast::Receiver<Arc<Warning>>,
    /// Said when notifications were queued for a person (a task's assignment).
    incidents: broadcast::Receiver<Arc<IncidentChanged>>,
    poll: Interval,
}

impl AppChannel {
    pub fn new(state: &AppState, person: PersonId) -> AppChannel {
        let poll = Duration::from_millis(state.settings.app_notification_poll_ms.max(10));
        AppChannel {
            pool: state.pool.clone(),
            person,
            pushed: HashSet::new(),
            feed: state.live.subscribe(),
            incidents: state.incidents.subscribe(),
            poll: tokio::time::interval(poll),
        }
    }

    /// Returns when new notifications may be due (the first call at once).
    pub async fn wake(&mut self) {
        tokio::select! {
            // A lagging or closed feed wakes too; the store says what is due.
            r = self.feed.recv() => {
                if let Err(broadcast::error::RecvError::Closed) = r {
                    std::future::pending::<()>().await;
                }
            }
            queued = queued_for(&mut self.incidents, self.person) => {
                if !queued {
                    std::future::pending::<()>().await;
                }
            }
            _ = self.poll.tick() => {}
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

/// Returns true once notifications were said to be queued for `person` (or some sayings were
/// missed), false when the feed has closed.
async fn queued_for(rx: &mut broadcast::Receiver<Arc<IncidentChanged>>, person: PersonId) -> bool {
    loop {
        match rx.recv().await {
            Ok(c) if c.what == Changed::AppNotification && c.id == person.0 => return true,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return true,
            Err(broadcast::error::RecvError::Closed) => return false,
        }
    }
}
