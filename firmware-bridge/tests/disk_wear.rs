//! Grouped fsyncs (`queue.sync_interval_ms`, issue 23 item 8): fewer fsyncs, and a bridge killed
//! mid-load still loses nothing it queued, sends nothing twice under a new seq, and counts rain
//! neither lost nor twice across the kill.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use geohazard_firmware_bridge::{BridgeConfig, DataType, SimPoint, SimSource};
use geohazard_protocol::{TelemetryAck, Topic};
use geohazard_testkit::{Broker, eventually};
use rumqttc::QoS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MM_PER_TIP: f64 = 0.2;

fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A counter in a bridge's `/metrics`.
async fn metric(addr: std::net::SocketAddr, name: &str) -> Option<u64> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nhost: x\r\n\r\n")
        .await
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).await.ok()?;
    body.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

/// 24 registers polled every 100 ms (about ten telemetry messages a second) and a rain gauge.
fn load_points() -> Vec<SimPoint> {
    let mut points: Vec<SimPoint> = (0..24)
        .map(|i| {
            let mut p = point(
                &format!("s{i:02}"),
                1 + i / 8,
                (i % 8) as u16,
                DataType::U16,
                constant(i as f64),
            );
            p.interval_s = 0.1;
            p
        })
        .collect();
    let mut rain = point(
        "rain-1",
        4,
        0,
        DataType::U16,
        SimSource::RainCounter {
            mm_per_tip: MM_PER_TIP,
            start: 1000,
            seed: 1,
            rain: None,
        },
    );
    rain.interval_s = 0.1;
    points.push(rain);
    points
}

fn write_config(dir: &std::path::Path, name: &str, config: &BridgeConfig) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config.to_toml()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_fsyncs_are_far_fewer_than_one_per_telemetry_message() {
    init_logs();
    let broker = Broker::start().await;
    let points = load_points();
    let dir = tempfile::tempdir().unwrap();
    let mut bridges = Vec::new();
    for (gw, sync_ms) in [("gw-each", 0), ("gw-grouped", 1000)] {
        let sim = sim(points.clone()).await;
        let mut config = bridge_config(gw, &sim, &points, &broker, &dir.path().join(gw));
        config.queue.sync_interval_ms = sync_ms;
        let health = free_addr();
        config.health_addr = Some(health);
        let child = spawn_bridge_binary(&write_config(dir.path(), gw, &config));
        bridges.push((gw, sim, child, health));
    }
    let rec = Recorder::start(
        broker.port(),
        "rec-fsyncs",
        true,
        &[
            &Topic::telemetry("gw-each"),
            &Topic::telemetry("gw-grouped"),
        ],
    )
    .await;
    // Both bridges up and publishing before the window opens.
    for (gw, _, _, health) in &bridges {
        eventually(Duration::from_secs(30), "telemetry from both", || async {
            metric(*health, "geohazard_bridge_fsyncs").await?;
            (!rec.batches(gw).is_empty()).then_some(())
        })
        .await;
    }
    let at = |gw: &str| rec.batches(gw).len() as u64;
    let mut start = Vec::new();
    for (gw, _, _, health) in &bridges {
        start.push((
            at(gw),
            metric(*health, "geohazard_bridge_fsyncs").await.unwrap(),
        ));
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut seen = Vec::new();
    for (i, (gw, _, _, health)) in bridges.iter().enumerate() {
        let messages = at(gw) - start[i].0;
        let fsyncs = metric(*health, "geohazard_bridge_fsyncs").await.unwrap() - start[i].1;
        seen.push((messages, fsyncs));
    }
    let [(each_msgs, each_fsyncs), (grouped_msgs, grouped_fsyncs)] = seen[..] else {
        unreachable!()
    };
    assert!(
        each_msgs >= 30 && grouped_msgs >= 30,
        "too little load: {seen:?}"
    );
    // One per message (at least) without grouping; about one a second with it (plus a head
    // file now and then: no fsync) over 6 s.
    assert!(
        each_fsyncs >= each_msgs,
        "ungrouped: {each_fsyncs} fsyncs for {each_msgs} messages"
    );
    assert!(
        grouped_fsyncs <= 12 && grouped_fsyncs * 4 < each_fsyncs,
        "grouped: {grouped_fsyncs} fsyncs for {grouped_msgs} messages in 6 s (ungrouped: {each_fsyncs})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_killed_mid_load_with_grouped_fsyncs_loses_no_telemetry_and_no_rain() {
    init_logs();
    let gw = "gw-wear-kill";
    let broker = Broker::start().await;
    let points = load_points();
    let sim = Arc::new(sim(points.clone()).await);
    let start_tips = 1000u64;
    sim.pin("rain-1", start_tips as f64);
    let dir = tempfile::tempdir().unwrap();
    let mut config = bridge_config(gw, &sim, &points, &broker, &dir.path().join("queue"));
    config.queue.sync_interval_ms = 1000;
    // A collector confirming what it received: the queue keeps each message until then.
    config.queue.until_confirmed = true;
    config.queue.confirm_timeout_s = 2.0;
    let config_path = write_config(dir.path(), "bridge", &config);
    let rec = Arc::new(
        Recorder::start(
            broker.port(),
            "rec-wear-kill",
            true,
            &[&Topic::telemetry(gw)],
        )
        .await,
    );
    let confirming = {
        let rec = rec.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let seqs: BTreeSet<u64> = rec.batches(gw).iter().map(|b| b.seq).collect();
                if seqs.is_empty() {
                    continue;
                }
                let ack = TelemetryAck {
                    seqs: seqs.into_iter().collect(),
                };
                let _ = rec
                    .client
                    .publish(
                        Topic::telemetry_ack(gw),
                        QoS::AtLeastOnce,
                        false,
                        ack.to_json(),
                    )
                    .await;
            }
        })
    };

    let mut child = spawn_bridge_binary(&config_path);
    // The gauge's baseline is read (the first reading: no rain yet) before it starts tipping.
    eventually(Duration::from_secs(30), "the rain baseline", || async {
        rec.readings(gw, "rain-1").first().map(|_| ())
    })
    .await;
    // It rains: a tip every 30 ms, through the kill and the restart.
    let tips = Arc::new(AtomicU64::new(start_tips));
    let raining = {
        let (tips, sim) = (tips.clone(), sim.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(30)).await;
                let n = tips.fetch_add(1, Ordering::Relaxed) + 1;
                sim.pin("rain-1", n as f64);
            }
        })
    };
    eventually(Duration::from_secs(30), "load before the kill", || async {
        (rec.batches(gw).len() >= 25).then_some(())
    })
    .await;
    child.start_kill().unwrap(); // SIGKILL, mid-load: no shutdown code runs
    child.wait().await.unwrap();
    let before_kill: BTreeSet<u64> = rec.batches(gw).iter().map(|b| b.seq).collect();
    tokio::time::sleep(Duration::from_secs(1)).await; // rain while the bridge is dead

    let mut child = spawn_bridge_binary(&config_path);
    tokio::time::sleep(Duration::from_secs(2)).await;
    raining.abort();
    let _ = raining.await;
    let last_tips = tips.load(Ordering::Relaxed);
    let expected = (last_tips - start_tips) as f64 * MM_PER_TIP;
    // Every tip reported once: nothing lost with the killed process, nothing counted twice
    // from a baseline older than the readings it queued.
    let total = eventually(Duration::from_secs(30), "all the rain reported", || async {
        let total: f64 = rec.readings(gw, "rain-1").iter().map(|r| r.value).sum();
        ((total - expected).abs() < 1e-6 || total > expected + 1e-6).then_some(total)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let total_later: f64 = rec.readings(gw, "rain-1").iter().map(|r| r.value).sum();
    assert!(
        (total - expected).abs() < 1e-6 && (total_later - expected).abs() < 1e-6,
        "rain reported {total} mm (then {total_later}), fell {expected} mm"
    );

    // Every seq the bridge ever published, before and after the kill, reached the collector:
    // no gap (nothing queued was lost), and the numbering went on after the old ones.
    let seqs: BTreeSet<u64> = rec.batches(gw).iter().map(|b| b.seq).collect();
    let last = *seqs.last().unwrap();
    let missing: Vec<u64> = (1..=last).filter(|s| !seqs.contains(s)).collect();
    assert!(missing.is_empty(), "telemetry lost: seq {missing:?}");
    assert!(last > *before_kill.last().unwrap());
    // A seq is one message: a copy sent again after the restart is the same message.
    let mut first = std::collections::HashMap::new();
    for b in rec.batches(gw) {
        let f = first.entry(b.seq).or_insert_with(|| b.clone());
        assert_eq!(*f, b, "seq {} names two different messages", b.seq);
    }
    child.start_kill().unwrap();
    let _ = child.wait().await;
    confirming.abort();
}
