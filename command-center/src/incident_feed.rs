//! Incident changes for the live sockets: every change of an incident (its status, timeline,
//! tasks, the positions of its people) is announced by PostgreSQL `NOTIFY` when its
//! transaction commits (`geohazard_incidents::incident::CHANGED_CHANNEL`), to every
//! command-center on the database. The announcement only names the incident and its division;
//! a console shown it re-reads the incident from the store.
//!
//! The same listener passes on changes of a warning's deliveries
//! (`geohazard_notify::receipts::CHANGED_CHANNEL`: a receipt, a confirmation, a send or its
//! failure), which a console with that warning open re-reads the same way.

use std::sync::Arc;
use std::time::Duration;

use geohazard_incidents::incident::CHANGED_CHANNEL;
use geohazard_notify::receipts::CHANGED_CHANNEL as DELIVERIES_CHANNEL;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// The incident `id`.
    Incident,
    /// The deliveries of the notifications of warning `id`.
    Deliveries,
}

/// An incident (or a warning's deliveries) changed: which one, in which division.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentChanged {
    pub what: Changed,
    pub division: String,
    pub id: i64,
}

impl IncidentChanged {
    /// From a notification's payload, `{division}:{id}`.
    fn parse(what: Changed, payload: &str) -> Option<IncidentChanged> {
        let (division, id) = payload.split_once(':')?;
        Some(IncidentChanged {
            what,
            division: division.to_owned(),
            id: id.parse().ok()?,
        })
    }
}

/// Listens for incident changes until `shutdown`, reconnecting after a lost connection.
pub async fn run(
    pool: PgPool,
    changes: broadcast::Sender<Arc<IncidentChanged>>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            Err(e) = listen(&pool, &changes) => {
                tracing::warn!(error = %e, "listening for incident changes; again in a second");
            },
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Passes the changes on until the connection fails.
async fn listen(
    pool: &PgPool,
    changes: &broadcast::Sender<Arc<IncidentChanged>>,
) -> sqlx::Result<std::convert::Infallible> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([CHANGED_CHANNEL, DELIVERIES_CHANNEL])
        .await?;
    loop {
        let n = listener.recv().await?;
        let what = if n.channel() == DELIVERIES_CHANNEL {
            Changed::Deliveries
        } else {
            Changed::Incident
        };
        match IncidentChanged::parse(what, n.payload()) {
            // No receivers is fine: nobody is watching.
            Some(change) => {
                let _ = changes.send(Arc::new(change));
            }
            None => tracing::warn!(payload = n.payload(), "an unreadable incident change"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_names_its_division_and_incident() {
        assert_eq!(
            IncidentChanged::parse(Changed::Deliveries, "511525:42"),
            Some(IncidentChanged {
                what: Changed::Deliveries,
                division: "511525".into(),
                id: 42
            })
        );
        assert_eq!(IncidentChanged::parse(Changed::Incident, "511525"), None);
        assert_eq!(IncidentChanged::parse(Changed::Incident, "511525:x"), None);
    }
}
