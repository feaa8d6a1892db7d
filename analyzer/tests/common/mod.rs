//! A real broker, a real database, a registry with one site, and a running analyzer; helpers to
//! replay series through the broker and read back what the analyzer stored and published.
#![allow(dead_code)]

use geohazard_domain::{PersonId, WarningId};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use geohazard_analyzer::{AnalyzerConfig, Stats};
use geohazard_bus::BusConfig;
use geohazard_bus::rumqttc::{self, AsyncClient, Event, MqttOptions, Packet, QoS};
use geohazard_protocol::warning::Warning;
use geohazard_protocol::{TelemetryBatch, Topic};
use geohazard_store::Store;
use geohazard_store::registry::{self, NewSensor, SensorKind};
use geohazard_testkit::{Broker, TestDb, eventually, fixtures};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[allow(unused_imports)] // each test file uses some of them
pub use geohazard_testkit::fixtures::{CITY, COUNTY, PROVINCE};
pub const SITE: &str = "LS-001";
pub const GATEWAY: &str = "gw-01";

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 86_400_000;

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub struct World {
    pub broker: Broker,
    pub db: TestDb,
    pub store: Store,
    pub site_id: i64,
    pub gateway_id: i64,
}

impl World {
    /// A broker, a database and the registry: province → city → county, one landslide site,
    /// one gateway.
    pub async fn new() -> World {
        let broker = Broker::start().await;
        let db = TestDb::create().await;
        let store = Store::connect(&db.url, 8).await.expect("store");
        let pool = &store.pool;
        let site_id = fixtures::register_site(&store, SITE).await;
        let gateway_id = registry::upsert_gateway(pool, GATEWAY, Some(site_id), "gw", None)
            .await
            .unwrap();
        World {
            broker,
            db,
            store,
            site_id,
            gateway_id,
        }
    }

    pub async fn sensor(
        &self,
        channel: &str,
        kind: SensorKind,
        unit: &str,
        interval_s: i32,
    ) -> i32 {
        self.sensor_at(channel, kind, unit, interval_s, None).await
    }

    /// [`World::sensor`] installed at `location` (longitude, latitude); `None`: at its site.
    pub async fn sensor_at(
        &self,
        channel: &str,
        kind: SensorKind,
        unit: &str,
        interval_s: i32,
        location: Option<(f64, f64)>,
    ) -> i32 {
        registry::upsert_sensor(
            &self.store.pool,
            &NewSensor {
                gateway_id: self.gateway_id,
                channel,
                site_id: self.site_id,
                kind,
                unit,
                location: location.map(|(lon, lat)| geo::Point::new(lon, lat)),
                elevation_m: None,
                depth_m: None,
                sampling_interval_s: interval_s,
            },
        )
        .await
        .unwrap()
    }

    /// `person` acknowledges warning `id`, as an officer would through the command-center.
    pub async fn acknowledge(&self, id: i64, person: i64) -> Option<Warning> {
        let mut conn = self.store.pool.acquire().await.unwrap();
        geohazard_warnings::acknowledge(&mut conn, WarningId(id), PersonId(person), None)
            .await
            .unwrap()
    }

    /// Stores readings as the collector would (partitions, rollups).
    pub async fn store_readings(&self, sensor: i32, series: &[(i64, f64)]) {
        let mut rows = geohazard_store::ReadingRows::default();
        for (t, v) in series {
            rows.push(
                sensor,
                chrono::DateTime::from_timestamp_millis(*t).unwrap(),
                *v,
                0,
            );
        }
        fixtures::store_readings(&self.store, &rows).await;
    }

    /// A per-sensor rule override (JSON merged onto the kind's rule).
    pub async fn sensor_rule(&self, sensor_id: i32, rule: &str, params: Value) {
        sqlx::query(
            "INSERT INTO analyzer_rules (scope, sensor_id, rule, params) VALUES ('sensor', $1, $2, $3)",
        )
        .bind(sensor_id)
        .bind(rule)
        .bind(params)
        .execute(&self.store.pool)
        .await
        .unwrap();
    }

    pub fn config(&self, client: &str) -> AnalyzerConfig {
        let mut c = AnalyzerConfig::new(BusConfig::new(self.broker.url(), client));
        c.notifier.poll_ms = 100;
        c
    }

    /// Starts the analyzer and waits until it is subscribed.
    pub async fn start(&self, config: AnalyzerConfig) -> Analyzer {
        let shutdown = CancellationToken::new();
        let stats = Arc::new(Stats::default());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(geohazard_analyzer::run_with(
            config,
            self.store.clone(),
            shutdown.clone(),
            Some(tx),
            stats.clone(),
        ));
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the analyzer starts in time")
            .expect("the analyzer starts");
        Analyzer {
            shutdown,
            stats,
            task,
        }
    }

    pub async fn publisher(&self) -> Mqtt {
        Mqtt::connect(
            &self.broker,
            &format!("pub-{}", rand::random::<u32>()),
            None,
        )
        .await
    }

    pub async fn warning_watcher(&self) -> Mqtt {
        Mqtt::connect(
            &self.broker,
            &format!("watch-{}", rand::random::<u32>()),
            Some(geohazard_protocol::topic::ALL_WARNINGS),
        )
        .await
    }

    /// (transition, to_level, evidence) of every event of the warnings of one source, in order.
    pub async fn events(&self, source: &str) -> Vec<(String, Option<String>, Value)> {
        sqlx::query_as(
            "SELECT e.transition, e.to_level, e.evidence FROM warning_events e
             JOIN warnings w ON w.id = e.warning_id WHERE w.source = $1 ORDER BY e.id",
        )
        .bind(source)
        .fetch_all(&self.store.pool)
        .await
        .unwrap()
    }

    /// (source, category, level, state) of every warning.
    pub async fn warnings(&self) -> Vec<(String, String, String, String)> {
        sqlx::query_as("SELECT source, category, level, state FROM warnings ORDER BY id")
            .fetch_all(&self.store.pool)
            .await
            .unwrap()
    }
}

pub struct Analyzer {
    pub shutdown: CancellationToken,
    pub stats: Arc<Stats>,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Analyzer {
    /// Waits until the analyzer has handled `n` messages.
    pub async fn handled(&self, n: u64) {
        let stats = self.stats.clone();
        eventually(
            Duration::from_secs(60),
            "the analyzer to handle the replay",
            || {
                let stats = stats.clone();
                async move { (stats.messages.load(Ordering::Relaxed) >= n).then_some(()) }
            },
        )
        .await;
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let r = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the analyzer stops in time")
            .expect("the analyzer task did not panic");
        r.expect("the analyzer ran without error");
    }
}

/// A plain MQTT client for a test: publishes, and collects warnings when subscribed.
pub struct Mqtt {
    pub client: AsyncClient,
    pub received: Arc<Mutex<Vec<Warning>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Mqtt {
    async fn connect(broker: &Broker, id: &str, subscribe: Option<&str>) -> Mqtt {
        let mut o = MqttOptions::new(id, broker.host(), broker.port());
        o.set_max_packet_size(16 << 20, 16 << 20)
            .set_clean_session(true);
        let (client, mut el) = AsyncClient::new(o, 10_000);
        let received = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tx = Some(tx);
        let sink = received.clone();
        let want_sub = subscribe.is_some();
        if let Some(f) = subscribe {
            client.subscribe(f, QoS::AtLeastOnce).await.unwrap();
        }
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) if !want_sub => {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Ok(w) = Warning::decode(&p.payload) {
                            sink.lock().unwrap().push(w);
                        }
                    }
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::RequestsDone) => return,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("connected in time")
            .unwrap();
        Mqtt {
            client,
            received,
            task,
        }
    }

    /// Publishes readings of one channel in batches; returns the number of messages.
    pub async fn replay(&self, channel: &str, series: &[(i64, f64)], batch: usize) -> u64 {
        let mut n = 0;
        for (i, chunk) in series.chunks(batch.max(1)).enumerate() {
            let b = TelemetryBatch::of_channel(i as u64, channel, chunk);
            self.raw(&Topic::telemetry(GATEWAY), b.to_json()).await;
            n += 1;
        }
        n
    }

    pub async fn raw(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    pub fn warnings(&self) -> Vec<Warning> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Mqtt {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Gaussian noise, deterministic per seed.
pub struct Noise(StdRng);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(StdRng::seed_from_u64(seed))
    }
    pub fn gauss(&mut self, sd: f64) -> f64 {
        let u1: f64 = self.0.random::<f64>().max(1e-12);
        let u2: f64 = self.0.random();
        sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// A crack meter on a slope creeping steadily at `v` mm/day, with a daily thermal swing of
/// ±0.05 mm and 0.02 mm of noise (the field simulator's crack meter).
pub fn steady_crack(from: i64, to: i64, step: i64, v: f64, seed: u64) -> Vec<(i64, f64)> {
    let mut n = Noise::new(seed);
    (0..)
        .map(|i| from + i * step)
        .take_while(|t| *t <= to)
        .map(|t| {
            let d = t as f64 / DAY as f64;
            let since = (t - from) as f64 / DAY as f64;
            (
                t,
                12.0 + v * since + 0.05 * (2.0 * std::f64::consts::PI * d).sin() + n.gauss(0.02),
            )
        })
        .collect()
}

/// Crack opening of a slope creeping at `v0` mm/d that starts to accelerate at `onset` towards
/// failure at `tf` (Fukuzono/Voight with α = 2: velocity v0·L/(tf − t), so 1/v falls linearly to
/// zero at tf), with a daily thermal swing of `swing` mm and gauge noise of `sd` mm.
pub fn accelerating(
    t: i64,
    v0: f64,
    (onset, tf): (i64, i64),
    (swing, sd): (f64, f64),
    noise: &mut Noise,
) -> f64 {
    let day = |ms: i64| ms as f64 / DAY as f64;
    let creep = if t <= onset {
        v0 * day(t - onset)
    } else {
        let l = day(tf - onset);
        v0 * l * (l / day(tf - t)).ln()
    };
    20.0 + creep + swing * (2.0 * std::f64::consts::PI * day(t)).sin() + noise.gauss(sd)
}
