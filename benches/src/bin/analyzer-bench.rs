//! `cargo run --release -p geohazard-benches --bin analyzer-bench [-- --sensors N --rate R
//! --probes P --flood F --queue Q]`
//!
//! Starts a private Mosquitto and a fresh database (as the tests do), registers N sensors on
//! 100 gateways (crack meters, rain gauges, piezometers, with the default rules), runs one
//! analyzer, and measures:
//! 1. latency: from the MQTT publish of a threshold-crossing reading to the stored, published
//!    warning arriving at a subscriber, while R readings/s of background telemetry flow;
//! 2. throughput: how fast the analyzer evaluates a flood of readings, and so how many sensors
//!    it keeps up with at a given sampling interval.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use geohazard_benches::{World, percentile};
use geohazard_bus::rumqttc::QoS;
use geohazard_protocol::{Quality, Reading, TelemetryBatch, Topic};
use geohazard_store::registry::{
    self, DivisionLevel, NewDivision, NewSensor, NewSite, SensorKind, SiteKind,
};
use rand::{Rng, SeedableRng};

const GATEWAYS: usize = 100;
const STEP_MS: i64 = 600_000;

#[derive(Parser)]
#[command(
    name = "analyzer-bench",
    about = "The analyzer's warning latency under load, and its throughput"
)]
struct Args {
    /// Sensors registered, on 100 gateways.
    #[arg(long, default_value_t = 2000)]
    sensors: usize,
    /// Background telemetry offered during the latency phase, readings per second.
    #[arg(long, default_value_t = 10_000)]
    rate: usize,
    /// Threshold crossings timed (each raised and closed again).
    #[arg(long, default_value_t = 200)]
    probes: usize,
    /// Readings in the throughput flood.
    #[arg(long, default_value_t = 1_000_000)]
    flood: usize,
    /// The analyzer's delivery queue.
    #[arg(long, default_value_t = 4096)]
    queue: usize,
}

struct Fleet {
    /// (gateway code, channel, kind) per sensor.
    sensors: Vec<(String, String, SensorKind)>,
    /// Next reading time per sensor.
    next_ts: Vec<i64>,
    value: Vec<f64>,
    rng: rand::rngs::StdRng,
    cursor: usize,
}

impl Fleet {
    /// The next `n` readings round-robin over the fleet, grouped into one batch per gateway.
    fn batches(&mut self, n: usize) -> Vec<(String, TelemetryBatch)> {
        let mut by_gw: std::collections::BTreeMap<String, Vec<Reading>> = Default::default();
        for _ in 0..n {
            let i = self.cursor;
            self.cursor = (self.cursor + 1) % self.sensors.len();
            let (gw, ch, kind) = &self.sensors[i];
            let ts = self.next_ts[i];
            self.next_ts[i] += STEP_MS;
            let noise: f64 = self.rng.random::<f64>() - 0.5;
            let v = match kind {
                SensorKind::CrackMeter => {
                    self.value[i] += 0.5 / 144.0;
                    self.value[i] + 0.04 * noise
                }
                SensorKind::RainGauge => (self.rng.random::<f64>() * 0.3 * 10.0).round() / 10.0,
                _ => self.value[i] + 0.02 * noise,
            };
            by_gw.entry(gw.clone()).or_default().push(Reading {
                sensor: ch.clone(),
                ts,
                value: v,
                quality: Quality::Good,
            });
        }
        by_gw
            .into_iter()
            .map(|(gw, readings)| (gw, TelemetryBatch { seq: 0, readings }))
            .collect()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geohazard_benches::init_tracing();
    let a = Args::parse();
    let world = World::start().await?;
    let pool = &world.store.pool;
    registry::upsert_division(
        pool,
        &NewDivision {
            code: "510000",
            name: "Province",
            level: DivisionLevel::Province,
            parent_code: None,
            boundary: None,
        },
    )
    .await?;
    let site = registry::upsert_site(
        pool,
        &NewSite {
            code: "BENCH",
            name: "Benchmark site",
            kind: SiteKind::Landslide,
            division_code: "510000",
            location: geo_point(),
            threat_zone: None,
            scale_class: None,
            volume_m3: None,
            threatened_people: 0,
            threatened_property: 0.0,
        },
    )
    .await?;
    let start_ts = chrono::Utc::now().timestamp_millis() - 40 * 86_400_000;
    let mut fleet = Fleet {
        sensors: Vec::new(),
        next_ts: Vec::new(),
        value: Vec::new(),
        rng: rand::rngs::StdRng::seed_from_u64(1),
        cursor: 0,
    };
    let mut gateway_ids = Vec::new();
    for g in 0..GATEWAYS {
        let code = format!("gw-{g:03}");
        gateway_ids.push((
            code.clone(),
            registry::upsert_gateway(pool, &code, Some(site), "", None).await?,
        ));
    }
    for i in 0..a.sensors {
        let (code, gid) = &gateway_ids[i % GATEWAYS];
        let kind = match i % 10 {
            0..=3 => SensorKind::CrackMeter,
            4..=6 => SensorKind::RainGauge,
            _ => SensorKind::Piezometer,
        };
        let channel = format!("s{i}");
        registry::upsert_sensor(
            pool,
            &NewSensor {
                gateway_id: *gid,
                channel: &channel,
                site_id: site,
                kind,
                unit: "mm",
                location: None,
                elevation_m: None,
                depth_m: None,
                sampling_interval_s: 3600,
            },
        )
        .await?;
        fleet.sensors.push((code.clone(), channel, kind));
        fleet.next_ts.push(start_ts);
        fleet.value.push(if kind == SensorKind::CrackMeter {
            12.0
        } else {
            3.0
        });
    }
    // The trend rule of every crack meter works (a steady velocity is given, no baseline needed).
    sqlx::query(
        "UPDATE analyzer_rules SET params = '{\"steady_velocity_mm_per_day\": 0.5}'
         WHERE scope = 'kind' AND sensor_kind = 'crack_meter' AND rule = 'trend'",
    )
    .execute(pool)
    .await?;
    // The probe: a piezometer whose red line is 7 m, crossed on one reading.
    let probe_gw = registry::upsert_gateway(pool, "gw-probe", Some(site), "", None).await?;
    let probe = registry::upsert_sensor(
        pool,
        &NewSensor {
            gateway_id: probe_gw,
            channel: "probe",
            site_id: site,
            kind: SensorKind::Piezometer,
            unit: "m",
            location: None,
            elevation_m: None,
            depth_m: None,
            sampling_interval_s: 3600,
        },
    )
    .await?;
    sqlx::query(
        "INSERT INTO analyzer_rules (scope, sensor_id, rule, params) VALUES ('sensor', $1, 'threshold',
         '{\"levels\": {\"red\": 7.0}, \"persistence\": {\"readings\": 1}}')",
    )
    .bind(probe)
    .execute(pool)
    .await?;

    let mut config = world.analyzer_config("bench-analyzer");
    config.engine.health_check_ms = 60_000;
    config.queue = a.queue;
    let analyzer = world.start_analyzer(config).await?;
    let stats = analyzer.stats.clone();

    let mut watch = world.client("bench-watch", 1000, 100_000);
    watch
        .client
        .subscribe(geohazard_protocol::topic::ALL_WARNINGS, QoS::AtLeastOnce)
        .await?;
    let probe = world.client("bench-probe", 1000, 100_000);
    let load_loop = world.client("bench-load", 1000, 100_000);
    let load_client = load_loop.client.clone();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Background load at `rate` readings/s, in 100 ticks per second.
    let running = Arc::new(AtomicBool::new(true));
    let per_tick = (a.rate / 100).max(1);
    let load = {
        let running = running.clone();
        let load_client = load_client.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut published = 0u64;
            while running.load(Ordering::Relaxed) {
                tick.tick().await;
                for (gw, b) in fleet.batches(per_tick) {
                    published += b.readings.len() as u64;
                    let _ = load_client
                        .publish(Topic::telemetry(&gw), QoS::AtLeastOnce, false, b.to_json())
                        .await;
                }
            }
            (fleet, published)
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let phase_start = Instant::now();
    let readings_at_start = stats.readings.load(Ordering::Relaxed);

    let mut latencies = Vec::new();
    let probe_t0 = chrono::Utc::now().timestamp_millis() - 3_600_000;
    for i in 0..a.probes as i64 * 2 {
        let value = if i % 2 == 0 { 8.0 } else { 3.0 };
        let batch = TelemetryBatch {
            seq: i as u64,
            readings: vec![Reading {
                sensor: "probe".into(),
                ts: probe_t0 + i * 1000,
                value,
                quality: Quality::Good,
            }],
        };
        let sent = Instant::now();
        probe
            .client
            .publish(
                Topic::telemetry("gw-probe"),
                QoS::AtLeastOnce,
                false,
                batch.to_json(),
            )
            .await?;
        loop {
            let (at, w) = tokio::time::timeout(Duration::from_secs(10), watch.warnings.recv())
                .await
                .context("no warning within 10 s")?
                .context("watcher ended")?;
            if w.source == "threshold:gw-probe/probe" {
                latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let phase = phase_start.elapsed().as_secs_f64();
    let evaluated = stats.readings.load(Ordering::Relaxed) - readings_at_start;
    running.store(false, Ordering::Relaxed);
    let (mut fleet, published) = load.await?;
    // Let the analyzer drain the background load before the flood.
    let target = published;
    let drain_start = Instant::now();
    while stats.readings.load(Ordering::Relaxed) < target
        && drain_start.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backlog_s = drain_start.elapsed().as_secs_f64();

    // Throughput: a flood, as fast as the broker takes it.
    let before = stats.readings.load(Ordering::Relaxed);
    let flood_start = Instant::now();
    let mut sent = 0usize;
    while sent < a.flood {
        let n = 1000.min(a.flood - sent);
        for (gw, b) in fleet.batches(n) {
            load_client
                .publish(Topic::telemetry(&gw), QoS::AtLeastOnce, false, b.to_json())
                .await?;
        }
        sent += n;
    }
    eprintln!(
        "flood published in {:.1} s",
        flood_start.elapsed().as_secs_f64()
    );
    let mut last_report = Instant::now();
    while stats.readings.load(Ordering::Relaxed) < before + a.flood as u64
        && flood_start.elapsed() < Duration::from_secs(600)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!(
                "flood: {} messages handled, {} acked by the broker; {} of {} readings evaluated after {:.0} s",
                stats.messages.load(Ordering::Relaxed),
                load_loop.acked.load(Ordering::Relaxed),
                stats.readings.load(Ordering::Relaxed) - before,
                a.flood,
                flood_start.elapsed().as_secs_f64()
            );
        }
    }
    let flood_s = flood_start.elapsed().as_secs_f64();
    let flood_done = stats.readings.load(Ordering::Relaxed) - before;
    let throughput = flood_done as f64 / flood_s;

    latencies.sort_by(f64::total_cmp);
    println!("## analyzer benchmark");
    println!(
        "sensors: {} on {} gateways (40% crack meters: rate, trend, health; 30% rain gauges: rainfall, health; 30% piezometers: health)",
        a.sensors, GATEWAYS
    );
    println!(
        "background load: {:.0} readings/s offered, {:.0} readings/s evaluated during the latency phase ({:.1} s); backlog drained {:.2} s after the load stopped",
        published as f64 / (phase + 3.0),
        evaluated as f64 / phase,
        phase,
        backlog_s
    );
    println!(
        "publish → stored and published warning, {} transitions: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "throughput: {} readings in {:.1} s = {:.0} readings/s evaluated; at one reading per sensor per minute that is {:.0} sensors, per 10 minutes {:.0} sensors",
        flood_done,
        flood_s,
        throughput,
        throughput * 60.0,
        throughput * 600.0
    );
    let hwm = geohazard_benches::peak_rss_kb();
    println!(
        "peak resident memory of the benchmark process (analyzer, its windows of {} sensors, and the load generator): {} kB",
        a.sensors, hwm
    );
    analyzer.stop().await;
    Ok(())
}

fn geo_point() -> geo::Point<f64> {
    geo::Point::new(104.0, 30.0)
}
