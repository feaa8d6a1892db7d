//! Shared set-up for the end-to-end tests: a registered site with a gateway and sensors, a
//! running collector, and a gateway-like publisher.

use std::time::Duration;

use geohazard_bus::{Bus, BusConfig};
use geohazard_collector::{Collector, CollectorConfig, Metrics};
use geohazard_protocol::{Quality, Reading, TelemetryBatch, Topic};
use geohazard_store::Store;
use geohazard_store::registry::{self, NewDivision, NewSensor, NewSite, SensorKind, SiteKind};
use tokio_util::sync::CancellationToken;

/// Registers a county, a landslide site, and a gateway `code` with one sensor per channel.
pub async fn register_gateway(store: &Store, code: &str, channels: &[&str]) -> i64 {
    for (c, name, level, parent) in [
        ("510000", "Sichuan", registry::DivisionLevel::Province, None),
        (
            "511500",
            "Yibin",
            registry::DivisionLevel::City,
            Some("510000"),
        ),
        (
            "511525",
            "Gao",
            registry::DivisionLevel::County,
            Some("511500"),
        ),
    ] {
        registry::upsert_division(
            &store.pool,
            &NewDivision {
                code: c,
                name,
                level,
                parent_code: parent,
                boundary: None,
            },
        )
        .await
        .unwrap();
    }
    let site = registry::upsert_site(
        &store.pool,
        &NewSite {
            code: &format!("site-{code}"),
            name: "test slope",
            kind: SiteKind::Landslide,
            division_code: "511525",
            location: geo::Point::new(104.5, 28.4),
            threat_zone: None,
            scale_class: Some("medium"),
            volume_m3: Some(2.0e5),
            threatened_people: 120,
            threatened_property: 800.0,
        },
    )
    .await
    .unwrap();
    let gw = registry::upsert_gateway(&store.pool, code, Some(site), code, None)
        .await
        .unwrap();
    for ch in channels {
        registry::upsert_sensor(
            &store.pool,
            &NewSensor {
                gateway_id: gw,
                channel: ch,
                site_id: site,
                kind: SensorKind::CrackMeter,
                unit: "mm",
                location: None,
                elevation_m: None,
                depth_m: None,
                sampling_interval_s: 60,
            },
        )
        .await
        .unwrap();
    }
    gw
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
