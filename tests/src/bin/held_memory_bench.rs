//! What the collector holds in memory while its database refuses connections: large telemetry
//! messages keep arriving during a lock (`ALTER DATABASE ... ALLOW_CONNECTIONS false`), then the
//! database comes back and everything must be stored. Run twice in one go, each collector in a
//! process of its own so its peak RSS is its own: with no byte bound (the behaviour before
//! `max_held_bytes`, bounded only by the broker's in-flight window) and with the default bound.
//!
//! `cargo run --release -p geohazard-e2e --bin held-memory-bench -- [messages] [message_kib] [lock_secs]`
//! (defaults: 1200 messages of 905 KiB, a 60 s lock).

use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use geohazard_bus::{Bus, BusConfig};
use geohazard_collector::CollectorConfig;
use geohazard_e2e::{RunningCollector, allow_connections, register_gateway};
use geohazard_protocol::Topic;
use geohazard_store::Store;
use geohazard_testkit::{Broker, TestDb};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
#[command(about = "What the collector holds in memory while its database refuses connections")]
struct Args {
    /// Telemetry messages published during the lock.
    #[arg(default_value_t = 1200)]
    messages: u64,
    /// Size of each message, KiB.
    #[arg(default_value_t = 905)]
    message_kib: usize,
    /// How long the database refuses connections, seconds.
    #[arg(default_value_t = 60)]
    lock_secs: u64,
    /// Run as the collector process of one run: `mqtt_url|db_url|max_held|messages`.
    #[arg(long, hide = true)]
    child: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(spec) = &args.child {
        return child(spec).await;
    }
    let (messages, kib) = (args.messages, args.message_kib);
    let lock = Duration::from_secs(args.lock_secs);
    let broker = Broker::start().await;
    let bounded = CollectorConfig::default().max_held_bytes;
    println!(
        "collector memory while the database refuses connections: {messages} messages of {kib} KiB during a {} s lock",
        lock.as_secs()
    );
    let mut results = Vec::new();
    for (label, max_held) in [
        ("no byte bound (before)", u32::MAX as usize),
        ("max_held_bytes = 64 MiB (after)", bounded),
    ] {
        let r = run(&broker, messages, kib, lock, max_held).await?;
        println!(
            "{label}: peak RSS {:.0} MiB, peak held {:.0} MiB in {} messages, RSS after the drain {:.0} MiB, all {messages} stored in {:.1} s after the lock",
            r.peak_rss_kib as f64 / 1024.0,
            r.peak_held_bytes as f64 / 1048576.0,
            r.peak_held_messages,
            r.rss_after_kib as f64 / 1024.0,
            r.drain_secs
        );
        results.push(r);
    }
    println!(
        "peak RSS after / before = {:.2}",
        results[1].peak_rss_kib as f64 / results[0].peak_rss_kib as f64
    );
    Ok(())
}

struct Outcome {
    peak_rss_kib: u64,
    rss_after_kib: u64,
    peak_held_bytes: i64,
    peak_held_messages: i64,
    drain_secs: f64,
}

/// One collector process through one lock.
async fn run(
    broker: &Broker,
    messages: u64,
    kib: usize,
    lock: Duration,
    max_held: usize,
) -> anyhow::Result<Outcome> {
    let db = TestDb::create().await;
    {
        let store = Store::connect(&db.url, 2).await?;
        register_gateway(&store, "gw-big", &["s0"]).await;
        store.pool.close().await;
    }
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("--child")
        .arg(format!("{}|{}|{max_held}|{messages}", broker.url(), db.url))
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let ready = lines.next_line().await?;
    assert_eq!(ready.as_deref(), Some("ready"), "the collector starts");

    allow_connections(&db, false).await?;
    let locked_at = Instant::now();
    let gateway = Bus::start(&BusConfig::new(broker.url(), "gw-big"), vec![], None, 16)?;
    let now = chrono::Utc::now().timestamp_millis();
    for seq in 0..messages {
        // A valid message: one reading, padded to size with a field receivers ignore.
        let head = format!(
            r#"{{"seq":{seq},"readings":[{{"sensor":"s0","ts":{},"value":{seq}}}],"pad":""#,
            now - 86_400_000 + seq as i64 * 1000
        );
        let mut payload = head.into_bytes();
        payload.resize(kib * 1024 - 2, b'x');
        payload.extend_from_slice(b"\"}");
        gateway
            .client()
            .publish(
                Topic::telemetry("gw-big"),
                rumqttc::QoS::AtLeastOnce,
                false,
                payload,
            )
            .await?;
    }
    tokio::time::sleep(lock.saturating_sub(locked_at.elapsed())).await;
    allow_connections(&db, true).await?;
    let unlocked_at = Instant::now();
    let done = lines.next_line().await?.expect("the collector reports");
    let drain_secs = unlocked_at.elapsed().as_secs_f64();
    child.wait().await?;
    gateway.shutdown().await;
    let f: Vec<i64> = done
        .split_whitespace()
        .map(|x| x.parse().expect("numbers"))
        .collect();
    Ok(Outcome {
        peak_rss_kib: f[0] as u64,
        rss_after_kib: f[1] as u64,
        peak_held_bytes: f[2],
        peak_held_messages: f[3],
        drain_secs,
    })
}

/// The collector side, in its own process: runs until every message's reading is stored, then prints
/// its peak RSS, its RSS then, and the most it held.
async fn child(spec: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = spec.split('|').collect();
    let (mqtt, db, max_held, messages) = (
        parts[0],
        parts[1],
        parts[2].parse()?,
        parts[3].parse::<u64>()?,
    );
    let store = Store::connect(db, 4).await?;
    let collector = RunningCollector::start(
        mqtt,
        store.clone(),
        CollectorConfig {
            client_id: format!("held-bench-{max_held}"),
            max_held_bytes: max_held,
            ..CollectorConfig::default()
        },
    )
    .await;
    println!("ready");
    let (mut peak_bytes, mut peak_messages) = (0, 0);
    for tick in 0u64.. {
        peak_bytes = peak_bytes.max(collector.metrics.held.bytes());
        peak_messages = peak_messages.max(collector.metrics.held.messages());
        // Each message carries one reading of its own; the count only grows once the
        // database is back.
        if tick % 25 == 0 {
            let stored: Option<i64> = sqlx::query_scalar("SELECT count(*) FROM readings")
                .fetch_one(&store.pool)
                .await
                .ok();
            if stored == Some(messages as i64) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    println!(
        "{} {} {peak_bytes} {peak_messages}",
        field("VmHWM:"),
        field("VmRSS:")
    );
    collector.stop().await;
    Ok(())
}
