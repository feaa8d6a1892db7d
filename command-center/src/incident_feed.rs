//! Incident changes for the live sockets: every change of an incident (its status, timeline,
//! tasks, the positions of its people) is announced by PostgreSQL `NOTIFY` when its
//! transaction commits (`geohazard_incidents::incident::CHANGED_CHANNEL`), to every
//! command-center on the database; so is every new field report and patrol
//! (`geohazard_incidents::field::FIELD_CHANNEL`), and app notifications queued for a person
//! (`geohazard_notify::QUEUED_CHANNEL`: a task's assignment), for that person's sockets. The
//! announcement only names the incident and its division; a console shown it re-reads the
//! incident from the store.
//!
//! The same listener passes on changes of a warning's deliveries
//! (`geohazard_notify::receipts::CHANGED_CHANNEL`: a receipt, a confirmation, a send or its
//! failure), which a console with that warning open re-reads the same way.

use std::sync::Arc;
use std::time::Duration;

use geohazard_incidents::field::FIELD_CHANNEL;
use geohazard_incidents::incident::CHANGED_CHANNEL;
use geohazard_notify::QUEUED_CHANNEL;
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
    /// A rapid report came from the field.
    FieldReport,
    /// A patrol was done.
    Patrol,
    /// App notifications were queued for a person (`id`: the person; no division).
    AppNotification,
}

/// An incident changed (or a warning's deliveries, or a field record came): which one, in which
/// division.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentChanged {
    pub division: String,
    pub id: i64,
    pub what: Changed,
}

impl IncidentChanged {
    /// From a notification's payload, `{division}:{id}`.
    fn parse(what: Changed, payload: &str) -> Option<IncidentChanged> {
        let (division, id) = payload.split_once(':')?;
        Some(IncidentChanged {
            division: division.to_owned(),
            id: id.parse().ok()?,
            what,
        })
    }

    /// From a field record's payload, `{division}:{report|patrol}:{id}`.
    fn parse_field(payload: &str) -> Option<IncidentChanged> {
        let (division, rest) = payload.split_once(':')?;
        let (what, id) = rest.split_once(':')?;
        Some(IncidentChanged {
            division: division.to_owned(),
            id: id.parse().ok()?,
            what: match what {
                "report" => Changed::FieldReport,
                "patrol" => Changed::Patrol,
                _ => return None,
            },
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
        .listen_all([
            CHANGED_CHANNEL,
            DELIVERIES_CHANNEL,
            FIELD_CHANNEL,
            QUEUED_CHANNEL,
        ])
        .await?;
    loop {
        let n = listener.recv().await?;
        let change = match n.channel() {
            FIELD_CHANNEL => IncidentChanged::parse_field(n.payload()),
            QUEUED_CHANNEL => n.payload().parse().ok().map(|person| IncidentChanged {
                division: String::new(),
                id: person,
                what: Changed::AppNotification,
            }),
            DELIVERIES_CHANNEL => IncidentChanged::parse(Changed::Deliveries, n.payload()),
            _ => IncidentChanged::parse(Changed::Incident, n.payload()),
        };
        match change {
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
                division: "511525".into(),
                id: 42,
                what: Changed::Deliveries,
            })
        );
        assert_eq!(
            IncidentChanged::parse_field("511525:report:7").map(|c| (c.what, c.id)),
            Some((Changed::FieldReport, 7))
        );
        assert_eq!(
            IncidentChanged::parse_field("511525:patrol:8").map(|c| c.what),
            Some(Changed::Patrol)
        );
        assert_eq!(IncidentChanged::parse_field("511525:task:8"), None);
        assert_eq!(IncidentChanged::parse(Changed::Incident, "511525"), None);
        assert_eq!(IncidentChanged::parse(Changed::Incident, "511525:x"), None);
    }
}
