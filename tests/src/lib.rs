//! Shared set-up for the end-to-end tests: a registered site with a gateway and sensors, a
//! running collector, and a gateway-like publisher.

use std::time::Duration;

use geohazard_bus::{Bus, BusConfig};
use geohazard_collector::{Collector, CollectorConfig, Metrics};
use geohazard_protocol::{Quality, Reading, TelemetryBatch, Topic};
use geohazard_store::Store;
use tokio_util::sync::CancellationToken;

pub use geohazard_testkit::fixtures::register_gateway;

/// A collector running in this process, stoppable.
pub struct RunningCollector {
    pub metrics: Metrics,
    pub shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningCollector {
    pub async fn start(mqtt_url: &str, store: Store, config: CollectorConfig) -> RunningCollector {
        let mut registry = prometheus_client::registry::Registry::default();
        let mut collector = Collector::start(config, mqtt_url, store, &mut registry).unwrap();
        collector
            .wait_subscribed(Duration::from_secs(10))
            .await
            .expect("the collector subscribes");
        let metrics = collector.metrics.clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(collector.run(shutdown.clone()));
        RunningCollector {
            metrics,
            shutdown,
            task,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A field gateway's MQTT side, for publishing test traffic.
pub struct TestGateway {
    pub code: String,
    pub bus: Bus,
    seq: u64,
}

impl TestGateway {
    pub fn connect(mqtt_url: &str, code: &str) -> TestGateway {
        let bus = Bus::start(&BusConfig::new(mqtt_url, code), vec![], None, 16).unwrap();
        TestGateway {
            code: code.to_owned(),
            bus,
            seq: 0,
        }
    }

    /// Publishes raw bytes on this gateway's telemetry topic, QoS 1.
    pub async fn publish_raw(&self, payload: impl Into<Vec<u8>>) {
        self.bus
            .client()
            .publish(
                Topic::telemetry(&self.code),
                rumqttc::QoS::AtLeastOnce,
                false,
                payload.into(),
            )
            .await
            .unwrap();
    }

    /// Publishes a batch of readings `(channel, ts_ms, value)` with the next sequence number.
    pub async fn publish(&mut self, readings: &[(&str, i64, f64)]) -> TelemetryBatch {
        self.seq += 1;
        let batch = TelemetryBatch {
            seq: self.seq,
            readings: readings
                .iter()
                .map(|(ch, ts, v)| Reading {
                    sensor: (*ch).to_owned(),
                    ts: *ts,
                    value: *v,
                    quality: Quality::Good,
                })
                .collect(),
        };
        self.publish_raw(batch.to_json()).await;
        batch
    }
}

/// Unix milliseconds `minutes_ago` minutes before now, rounded to the second.
pub fn minutes_ago(minutes: i64) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    (now - minutes * 60_000) / 1000 * 1000
}

pub async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&store.pool)
        .await
        .unwrap()
}

/// `ALTER DATABASE ... ALLOW_CONNECTIONS`, and with `false` its sessions ended: the database
/// refuses every connection with SQLSTATE 55000, as when an operator locks it or the server is
/// starting up or shutting down.
pub async fn allow_connections(db: &geohazard_testkit::TestDb, allow: bool) -> anyhow::Result<()> {
    use sqlx::Connection;
    let admin_url = geohazard_testkit::database::with_database(&db.url, "postgres");
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {allow}",
        db.name
    )))
    .execute(&mut admin)
    .await?;
    if !allow {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&db.name)
        .execute(&mut admin)
        .await?;
    }
    Ok(())
}
