//! Readings pushed to the console's open site views over its live socket: no polling.
//!
//! The collector confirms each committed telemetry message to its gateway on
//! `gh/v1/gw/{gateway}/telemetry/ack`; one subscription to those per command-center says which
//! gateways have new readings in the store ([`StoredFeed`]). A socket whose console watches
//! sensors (`{"type":"watch","sensors":[id, ...]}` when a site view opens, `[]` when it closes)
//! then reads those sensors' last 24 hours from the store and sends each reading it has not
//! sent yet: `{"type":"readings","sensor":id,"points":[{"ts":"...","value":...}]}`. A reading
//! stored late, older than the newest, is sent like any other: the chart puts it in its place.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geohazard_bus::{Bus, BusConfig, Qos};
use geohazard_protocol::topic::Topic;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Every gateway's telemetry confirmations.
const ALL_TELEMETRY_ACKS: &str = "gh/v1/gw/+/telemetry/ack";

/// At most this many sensors watched per socket (a site view has a handful).
const MAX_WATCHED: usize = 64;

/// Gateway codes whose readings were just committed.
#[derive(Clone)]
pub struct StoredFeed(broadcast::Sender<Arc<str>>);

impl StoredFeed {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.0.subscribe()
    }
}

/// Subscribes to the collector's confirmations and feeds them to the sockets until `shutdown`.
pub async fn start(
    mqtt_url: &str,
    client_id: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<StoredFeed> {
    let mut config = BusConfig::new(mqtt_url, client_id);
    // A console that missed a confirmation reads the readings over HTTP when it reopens a view.
    config.persistent_session = false;
    let mut bus = Bus::start(
        &config,
        vec![(ALL_TELEMETRY_ACKS.to_owned(), Qos::AtMostOnce)],
        None,
        1024,
    )?;
    if let Err(e) = bus.wait_subscribed(Duration::from_secs(10)).await {
        tracing::warn!(error = %e, "the readings feed is not subscribed yet; it keeps trying");
    }
    let (tx, _) = broadcast::channel(1024);
    let feed = StoredFeed(tx.clone());
    tokio::spawn(async move {
        let acker = bus.acker();
        loop {
            let delivery = tokio::select! {
                _ = shutdown.cancelled() => break,
                d = bus.recv() => match d { Some(d) => d, None => break },
            };
            if let Some(gateway) = acked_gateway(delivery.topic()) {
                // No receivers is fine: nobody is watching.
                let _ = tx.send(gateway.into());
            }
            acker.ack(&delivery).await;
        }
        bus.shutdown().await;
    });
    Ok(feed)
}

/// The gateway of `gh/v1/gw/{gateway}/telemetry/ack`.
fn acked_gateway(topic: &str) -> Option<&str> {
    let gateway = topic
        .strip_prefix("gh/v1/gw/")?
        .strip_suffix("/telemetry/ack")?;
    (Topic::telemetry_ack(gateway) == topic && !gateway.contains('/')).then_some(gateway)
}

/// What a console sends on its live socket.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Watch {
        sensors: Vec<i32>,
    },
    #[serde(other)]
    Other,
}

#[derive(Serialize, sqlx::FromRow)]
struct Point {
    ts: DateTime<Utc>,
    value: f64,
}

#[derive(Serialize)]
struct ReadingsMessage<'a> {
    r#type: &'static str,
    sensor: i32,
    points: &'a [Point],
}

/// One sensor a socket watches: its gateway, and the readings already sent.
struct Watched {
    gateway: String,
    sent: HashSet<DateTime<Utc>>,
}

/// The sensors one socket watches.
pub struct Watch {
    /// Division codes in the officer's scope.
    scope: HashSet<String>,
    sensors: HashMap<i32, Watched>,
}

impl Watch {
    pub fn new(scope: HashSet<String>) -> Watch {
        Watch {
            scope,
            sensors: HashMap::new(),
        }
    }

    /// Handles a text message from the console; the messages to send it at once (every
    /// reading of the last 24 h of the sensors it now watches).
    pub async fn client_message(&mut self, pool: &sqlx::PgPool, text: &str) -> Vec<String> {
        let Ok(ClientMessage::Watch { mut sensors }) = serde_json::from_str(text) else {
            return Vec::new();
        };
        sensors.truncate(MAX_WATCHED);
        let rows: Vec<(i32, String, String)> = match sqlx::query_as(
            "SELECT se.id, g.code, s.division_code
             FROM sensors se JOIN gateways g ON g.id = se.gateway_id
             JOIN hazard_sites s ON s.id = se.site_id
             WHERE se.id = ANY($1)",
        )
        .bind(&sensors)
        .fetch_all(pool)
        .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading the watched sensors");
                return Vec::new();
            }
        };
        // Only what the officer may see; the rest is left out as if it did not exist.
        self.sensors = rows
            .into_iter()
            .filter(|(_, _, division)| self.scope.contains(division))
            .map(|(id, gateway, _)| {
                let sent = HashSet::new();
                (id, Watched { gateway, sent })
            })
            .collect();
        let all: Vec<i32> = self.sensors.keys().copied().collect();
        self.unsent(pool, &all).await
    }

    /// Readings of `gateway` were committed: the messages with the watched sensors' readings
    /// not sent yet.
    pub async fn stored(&mut self, pool: &sqlx::PgPool, gateway: &str) -> Vec<String> {
        let ids: Vec<i32> = self
            .sensors
            .iter()
            .filter(|(_, w)| w.gateway == gateway)
            .map(|(id, _)| *id)
            .collect();
        self.unsent(pool, &ids).await
    }

    /// Whether the socket watches a sensor of `gateway`.
    fn watches_gateway(&self, gateway: &str) -> bool {
        self.sensors.values().any(|w| w.gateway == gateway)
    }

    /// Something was missed: the messages with every watched sensor's unsent readings.
    async fn all(&mut self, pool: &sqlx::PgPool) -> Vec<String> {
        let all: Vec<i32> = self.sensors.keys().copied().collect();
        self.unsent(pool, &all).await
    }

    async fn unsent(&mut self, pool: &sqlx::PgPool, ids: &[i32]) -> Vec<String> {
        let mut out = Vec::new();
        for id in ids {
            let points: Vec<Point> = match sqlx::query_as(
                "SELECT ts, value FROM readings
                 WHERE sensor_id = $1 AND ts > now() - interval '24 hours' ORDER BY ts",
            )
            .bind(id)
            .fetch_all(pool)
            .await
            {
                Ok(points) => points,
                Err(e) => {
                    tracing::warn!(error = %e, sensor = id, "reading a watched sensor");
                    continue;
                }
            };
            let Some(watched) = self.sensors.get_mut(id) else {
                continue;
            };
            let new: Vec<Point> = points
                .into_iter()
                .filter(|p| watched.sent.insert(p.ts))
                .collect();
            if !new.is_empty() {
                let message = ReadingsMessage {
                    r#type: "readings",
                    sensor: *id,
                    points: &new,
                };
                out.push(serde_json::to_string(&message).expect("readings serialize"));
            }
        }
        out
    }
}

/// A live socket's part in the readings push: what its console watches, and the feed.
pub struct Readings {
    watch: Watch,
    feed: Option<broadcast::Receiver<Arc<str>>>,
}

/// What [`Readings::next`] found: readings of one gateway stored, or some missed.
pub struct Stored(Option<Arc<str>>);

impl Readings {
    pub fn new(feed: Option<&StoredFeed>, scope: HashSet<String>) -> Readings {
        Readings {
            watch: Watch::new(scope),
            feed: feed.map(StoredFeed::subscribe),
        }
    }

    /// Waits until readings of a watched sensor's gateway are stored (forever while nothing
    /// is watched). Cancel-safe: use it in `select!`, then [`Readings::unsent`].
    pub async fn next(&mut self) -> Stored {
        let Readings { watch, feed } = self;
        let Some(feed) = feed.as_mut().filter(|_| !watch.sensors.is_empty()) else {
            return std::future::pending().await;
        };
        loop {
            match feed.recv().await {
                Ok(gateway) if watch.watches_gateway(&gateway) => return Stored(Some(gateway)),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return Stored(None),
                Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
            }
        }
    }

    /// The messages with the readings `stored` tells of.
    pub async fn unsent(&mut self, pool: &sqlx::PgPool, stored: Stored) -> Vec<String> {
        match stored.0 {
            Some(gateway) => self.watch.stored(pool, &gateway).await,
            None => self.watch.all(pool).await,
        }
    }

    /// A text message from the console: the messages to answer it with.
    pub async fn client_text(&mut self, pool: &sqlx::PgPool, text: &str) -> Vec<String> {
        self.watch.client_message(pool, text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_telemetry_confirmation_topic_names_a_gateway() {
        assert_eq!(acked_gateway("gh/v1/gw/gw-01/telemetry/ack"), Some("gw-01"));
        assert_eq!(acked_gateway("gh/v1/gw/gw-01/telemetry"), None);
        assert_eq!(acked_gateway("gh/v1/gw/a/b/telemetry/ack"), None);
        assert_eq!(acked_gateway("gh/v1/warning/x/telemetry/ack"), None);
    }
}
