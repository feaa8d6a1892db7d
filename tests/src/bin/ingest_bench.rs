//! Ingest benchmark: sustained readings/s and messages/s through a real Mosquitto into the
//! store, beside a raw `COPY` of the same rows in the same run.
//!
//! `cargo run --release -p geohazard-e2e --bin ingest-bench -- [single_messages] [batched_messages] [readings_per_batch] [--mode partitioned|timescaledb]`
//!
//! The store is on `DATABASE_URL`'s server (else the local default); `--mode timescaledb` needs
//! a server with TimescaleDB preloaded, `--mode partitioned` works on any.

use std::time::{Duration, Instant};

use clap::Parser;
use geohazard_bus::{Bus, BusConfig};
use geohazard_collector::CollectorConfig;
use geohazard_collector::MessageLabels;
use geohazard_e2e::{RunningCollector, register_gateway};
use geohazard_protocol::{Quality, Reading, TelemetryBatch, Topic};
use geohazard_store::{StorageMode, Store};
use geohazard_testkit::{Broker, TestDb};

const GATEWAYS: usize = 4;
const SENSORS_PER_GATEWAY: usize = 50;

#[derive(Parser)]
#[command(about = "Ingest throughput through a real Mosquitto into the store, beside a raw COPY")]
struct Args {
    /// Messages of one reading each.
    #[arg(default_value_t = 100_000)]
    single_messages: usize,
    /// Messages of several readings each.
    #[arg(default_value_t = 2_000)]
    batched_messages: usize,
    /// Readings in each batched message.
    #[arg(default_value_t = 500)]
    readings_per_batch: usize,
    /// The storage mode; else the server's own.
    #[arg(long, value_enum)]
    mode: Option<Mode>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Mode {
    Partitioned,
    Timescaledb,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (single, batched, per_batch) = (
        args.single_messages,
        args.batched_messages,
        args.readings_per_batch,
    );

    let broker = Broker::start().await;
    let db = match args.mode {
        Some(Mode::Partitioned) => TestDb::create_in(StorageMode::Partitioned).await,
        Some(Mode::Timescaledb) => TestDb::create_in(StorageMode::TimescaleDb).await,
        None => TestDb::create().await,
    };
    let store = Store::connect(&db.url, 8).await?;
    let channels: Vec<String> = (0..SENSORS_PER_GATEWAY).map(|i| format!("s{i}")).collect();
    let channel_refs: Vec<&str> = channels.iter().map(String::as_str).collect();
    for g in 0..GATEWAYS {
        register_gateway(&store, &format!("bench-{g}"), &channel_refs).await;
    }
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut gateways: Vec<Bus> = (0..GATEWAYS)
        .map(|g| {
            Bus::start(
                &BusConfig::new(broker.url(), format!("bench-{g}")),
                vec![],
                None,
                1024,
            )
            .unwrap()
        })
        .collect();
    // Connection set-up is not timed (with no subscriptions, "subscribed" means connected).
    for gateway in &mut gateways {
        gateway.wait_subscribed(Duration::from_secs(10)).await?;
    }

    let t0 = chrono::Utc::now().timestamp_millis() - 20 * 86_400_000;
    let stored = || {
        collector
            .metrics
            .messages
            .get_or_create(&MessageLabels {
                kind: "telemetry",
                outcome: "stored",
            })
            .get()
    };

    // Phase 1: one reading per message.
    let single_payloads: Vec<(usize, Vec<u8>)> = (0..single)
        .map(|i| {
            let g = i % GATEWAYS;
            let batch = TelemetryBatch {
                seq: i as u64,
                readings: vec![Reading {
                    sensor: channels[(i / GATEWAYS) % SENSORS_PER_GATEWAY].clone(),
                    ts: t0 + (i / GATEWAYS / SENSORS_PER_GATEWAY) as i64 * 1000,
                    value: i as f64 * 0.001,
                    quality: Quality::Good,
                }],
            };
            (g, batch.to_json())
        })
        .collect();
    let started = Instant::now();
    publish_all(&gateways, single_payloads).await;
    wait_until(|| stored() >= single as u64).await;
    let single_secs = started.elapsed().as_secs_f64();
    let handled_before = stored();

    // Phase 2: batches of readings.
    let t1 = t0 + 10 * 86_400_000;
    let mut rows = Vec::with_capacity(batched * per_batch);
    let batched_payloads: Vec<(usize, Vec<u8>)> = (0..batched)
        .map(|m| {
            let g = m % GATEWAYS;
            let readings = (0..per_batch)
                .map(|k| {
                    let n = m / GATEWAYS * per_batch + k;
                    let r = Reading {
                        sensor: channels[n % SENSORS_PER_GATEWAY].clone(),
                        ts: t1 + (n / SENSORS_PER_GATEWAY) as i64 * 1000,
                        value: n as f64 * 0.01,
                        quality: Quality::Good,
                    };
                    rows.push((g, n % SENSORS_PER_GATEWAY, r.ts, r.value));
                    r
                })
                .collect();
            (
                g,
                TelemetryBatch {
                    seq: m as u64,
                    readings,
                }
                .to_json(),
            )
        })
        .collect();
    let started = Instant::now();
    publish_all(&gateways, batched_payloads).await;
    wait_until(|| stored() >= handled_before + batched as u64).await;
    let batched_secs = started.elapsed().as_secs_f64();

    let in_store: i64 = sqlx::query_scalar("SELECT count(*) FROM readings")
        .fetch_one(&store.pool)
        .await?;
    let expected = (single + batched * per_batch) as i64;
    assert_eq!(in_store, expected, "every reading is stored exactly once");
    collector.stop().await;

    // Baseline: the same batched rows by raw COPY into a table of the same shape.
    let copy_secs = copy_baseline(&store, &rows).await?;

    let single_rate = single as f64 / single_secs;
    let batched_rate = (batched * per_batch) as f64 / batched_secs;
    let copy_rate = rows.len() as f64 / copy_secs;
    println!(
        "ingest through Mosquitto into PostgreSQL ({} mode)",
        if store.mode == StorageMode::Partitioned {
            "partitioned"
        } else {
            "timescaledb"
        }
    );
    println!(
        "single-reading messages: {single} in {single_secs:.2} s = {single_rate:.0} messages/s"
    );
    println!(
        "batched messages: {batched} x {per_batch} readings in {batched_secs:.2} s = {:.0} messages/s, {batched_rate:.0} readings/s",
        batched as f64 / batched_secs
    );
    println!(
        "raw COPY of the same {} rows: {copy_secs:.2} s = {copy_rate:.0} rows/s",
        rows.len()
    );
    println!(
        "batched ingest / raw COPY = {:.2}",
        batched_rate / copy_rate
    );
    Ok(())
}

async fn publish_all(gateways: &[Bus], payloads: Vec<(usize, Vec<u8>)>) {
    let mut per_gateway: Vec<Vec<Vec<u8>>> = vec![Vec::new(); gateways.len()];
    for (g, p) in payloads {
        per_gateway[g].push(p);
    }
    let mut tasks = Vec::new();
    for (g, payloads) in per_gateway.into_iter().enumerate() {
        let client = gateways[g].client().clone();
        tasks.push(tokio::spawn(async move {
            let topic = Topic::telemetry(&format!("bench-{g}"));
            for p in payloads {
                client
                    .publish(topic.clone(), rumqttc::QoS::AtLeastOnce, false, p)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn wait_until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "ingest did not finish in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn copy_baseline(store: &Store, rows: &[(usize, usize, i64, f64)]) -> anyhow::Result<f64> {
    sqlx::query("CREATE TABLE copy_baseline (LIKE readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (sensor_id, ts))")
        .execute(&store.pool)
        .await?;
    let sensor_ids: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT g.code, s.channel, s.id FROM sensors s JOIN gateways g ON g.id = s.gateway_id",
    )
    .fetch_all(&store.pool)
    .await?;
    let ids: std::collections::HashMap<(String, String), i32> = sensor_ids
        .into_iter()
        .map(|(g, c, id)| ((g, c), id))
        .collect();
    let mut text = String::with_capacity(rows.len() * 48);
    for (g, s, ts, v) in rows {
        let id = ids[&(format!("bench-{g}"), format!("s{s}"))];
        let t = chrono::DateTime::from_timestamp_millis(*ts)
            .unwrap()
            .to_rfc3339();
        text.push_str(&format!("{id}\t{t}\t{v}\t0\n"));
    }
    let started = Instant::now();
    let mut conn = store.pool.acquire().await?;
    let mut copy = conn
        .copy_in_raw("COPY copy_baseline (sensor_id, ts, value, quality) FROM STDIN")
        .await?;
    copy.send(text.as_bytes()).await?;
    copy.finish().await?;
    Ok(started.elapsed().as_secs_f64())
}
