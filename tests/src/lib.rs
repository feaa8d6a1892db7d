//! Shared set-up for the end-to-end tests: a registered site with a gateway and sensors, a
//! running collector, a gateway-like publisher, and waiting for the store to show something.

use std::time::Duration;

use geohazard_bus::rumqttc::{LastWill, QoS};
use geohazard_bus::{Bus, BusConfig};
use geohazard_collector::{Collector, CollectorConfig, Metrics};
use geohazard_protocol::{GatewayStatus, Quality, Reading, TelemetryBatch, Topic};
use geohazard_store::Store;
use geohazard_testkit::{Broker, TestDb, eventually};
use tokio_util::sync::CancellationToken;

pub use geohazard_testkit::fixtures::register_gateway;

/// How long a test waits for what it expects (generous: the machine may be busy).
pub const WAIT: Duration = Duration::from_secs(30);

/// A broker, a fresh database and its store, with gateway `gw-1` registered with `channels`.
pub async fn with_gateway(channels: &[&str]) -> (Broker, TestDb, Store) {
    let broker = Broker::start().await;
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    register_gateway(&store, "gw-1", channels).await;
    (broker, db, store)
}

/// Waits until `sql` (a count) gives `expected`; panics after [`WAIT`].
pub async fn wait_for_count(store: &Store, sql: &str, expected: i64) {
    eventually(WAIT, &format!("`{sql}` to reach {expected}"), || async {
        (count(store, sql).await == expected).then_some(())
    })
    .await;
}

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

/// A client of `mqtt_url` subscribed (QoS 1) to `topic`, once the broker has confirmed it.
pub async fn subscriber(mqtt_url: &str, client_id: &str, topic: String) -> Bus {
    let mut bus = Bus::start(
        &BusConfig::new(mqtt_url, client_id),
        vec![(topic, QoS::AtLeastOnce)],
        None,
        64,
    )
    .unwrap();
    bus.wait_subscribed(WAIT).await.unwrap();
    bus
}

/// Leaves `status` retained for gateway `gw-1` (which then goes away) and only afterwards
/// starts a collector: it receives the status only as a retained message.
pub async fn collector_after_retained_status(
    broker: &Broker,
    store: &Store,
    status: &GatewayStatus,
) -> RunningCollector {
    let gateway = TestGateway::connect(&broker.url(), "gw-1");
    gateway.publish_status(status).await;
    gateway.bus.shutdown().await;
    RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await
}

/// A field gateway's MQTT side, for publishing test traffic.
pub struct TestGateway {
    pub code: String,
    pub bus: Bus,
    seq: u64,
}

impl TestGateway {
    pub fn connect(mqtt_url: &str, code: &str) -> TestGateway {
        TestGateway::start(mqtt_url, code, None)
    }

    /// Connects with the last will a gateway leaves: its status, offline, retained.
    pub fn connect_with_will(mqtt_url: &str, code: &str) -> TestGateway {
        let will = LastWill::new(
            Topic::status(code),
            GatewayStatus::offline().to_json(),
            QoS::AtLeastOnce,
            true,
        );
        TestGateway::start(mqtt_url, code, Some(will))
    }

    fn start(mqtt_url: &str, code: &str, will: Option<LastWill>) -> TestGateway {
        let bus = Bus::start(&BusConfig::new(mqtt_url, code), vec![], will, 16).unwrap();
        TestGateway {
            code: code.to_owned(),
            bus,
            seq: 0,
        }
    }

    /// Publishes raw bytes on this gateway's telemetry topic, QoS 1.
    pub async fn publish_raw(&self, payload: impl Into<Vec<u8>>) {
        self.publish_on(Topic::telemetry(&self.code), payload.into(), false)
            .await;
    }

    /// Publishes its status, retained as a gateway does.
    pub async fn publish_status(&self, status: &GatewayStatus) {
        self.publish_on(Topic::status(&self.code), status.to_json(), true)
            .await;
    }

    async fn publish_on(&self, topic: String, payload: Vec<u8>, retain: bool) {
        self.bus
            .client()
            .publish(topic, QoS::AtLeastOnce, retain, payload)
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
