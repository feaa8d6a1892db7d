//! Commands over MQTT: every one answered, bad ones with a clear error, set_interval effective.

mod common;

use std::time::Duration;

use common::*;
use geohazard_firmware_bridge::{CameraConfig, DataType};
use geohazard_protocol::Topic;
use geohazard_testkit::{Broker, eventually};
use serde_json::json;

const GW: &str = "gw-cmd";

/// A broker, a simulator, a recorder of telemetry, acks and status, a connected bridge, its queue.
type Setup = (
    Broker,
    geohazard_firmware_bridge::SimHandle,
    Recorder,
    RunningBridge,
    tempfile::TempDir,
);

async fn setup(interval_s: f64) -> Setup {
    setup_with(interval_s, |_| {}).await
}

async fn setup_with(
    interval_s: f64,
    adjust: impl FnOnce(&mut geohazard_firmware_bridge::BridgeConfig),
) -> Setup {
    init_logs();
    let broker = Broker::start().await;
    let mut a = point("slow-a", 1, 0, DataType::U16, constant(1.0));
    a.interval_s = interval_s;
    let mut b = point("slow-b", 1, 1, DataType::U16, constant(2.0));
    b.interval_s = interval_s;
    let points = vec![a, b];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let rec = Recorder::start(
        broker.port(),
        "rec-cmd",
        true,
        &[
            &Topic::telemetry(GW),
            &Topic::command_ack(GW),
            &Topic::status(GW),
        ],
    )
    .await;
    let mut config = bridge_config(GW, &sim, &points, &broker, queue.path());
    adjust(&mut config);
    let bridge = RunningBridge::start(config);
    // Connected once the retained online status is there.
    eventually(
        Duration::from_secs(20),
        "the bridge's online status",
        || async {
            rec.on(&Topic::status(GW))
                .iter()
                .any(|p| p.starts_with(br#"{"online":true"#))
                .then_some(())
        },
    )
    .await;
    (broker, sim, rec, bridge, queue)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_commands_get_error_acks_and_the_bridge_goes_on() {
    let (_broker, _sim, rec, bridge, _q) = setup(1.0).await;

    rec.send_raw(
        GW,
        br#"{"id": "c1", "name": "set_interval", "args": {"interval_s": "fast"}}"#,
    )
    .await;
    let ack = rec.wait_ack(GW, "c1", Duration::from_secs(10)).await;
    assert_refused(&ack, "bad args for `set_interval`");

    rec.send_raw(
        GW,
        br#"{"id": "c2", "name": "set_interval", "args": {"interval_s": 5, "chanel": "x"}}"#,
    )
    .await;
    let ack = rec.wait_ack(GW, "c2", Duration::from_secs(10)).await;
    assert_refused(&ack, "chanel");

    // Not JSON at all: answered with an empty id.
    rec.send_raw(GW, b"\xff{not json").await;
    let ack = rec.wait_ack(GW, "", Duration::from_secs(10)).await;
    assert_refused(&ack, "malformed command");

    // JSON with an id but no name: the id comes back with the error.
    rec.send_raw(GW, br#"{"id": "c3"}"#).await;
    let ack = rec.wait_ack(GW, "c3", Duration::from_secs(10)).await;
    assert_refused(&ack, "missing field `name`");

    let ack = rec.command(GW, "c4", "self_destruct", json!({})).await;
    assert_refused(&ack, "unknown command `self_destruct`");

    let ack = rec
        .command(
            GW,
            "c5",
            "set_interval",
            json!({"interval_s": 1, "channel": "nope"}),
        )
        .await;
    assert_refused(&ack, "unknown channel `nope`");

    let ack = rec
        .command(GW, "c6", "snapshot", serde_json::Value::Null)
        .await;
    assert_refused(&ack, "no camera");

    let ack = rec
        .command(GW, "c7", "reload_config", serde_json::Value::Null)
        .await;
    assert_refused(&ack, "in-memory");

    // Still alive: status answers with the firmware version and queue depth.
    let ack = rec
        .command(GW, "c8", "status", serde_json::Value::Null)
        .await;
    assert!(ack.ok, "{ack:?}");
    assert_eq!(ack.result["firmware"], env!("CARGO_PKG_VERSION"));
    assert!(ack.result["queue_depth"].is_u64());

    // `status` and `reload_config` take no arguments: one given is refused, not ignored.
    let ack = rec
        .command(GW, "c9", "status", json!({"verbose": true}))
        .await;
    assert_refused(&ack, "takes no arguments");
    let ack = rec.command(GW, "c10", "status", json!({})).await;
    assert!(ack.ok, "{ack:?}");
    bridge.stop().await;
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Waits until `channel` has `n` readings polled after `after_ms`; returns their poll times
/// (the readings' own timestamps, taken by the bridge as it polls).
async fn polls_after(rec: &Recorder, channel: &str, after_ms: i64, n: usize) -> Vec<i64> {
    eventually(
        Duration::from_secs(30),
        &format!("{n} polls of {channel}"),
        || async {
            let ts: Vec<i64> = rec
                .readings(GW, channel)
                .iter()
                .map(|r| r.ts)
                .filter(|ts| *ts > after_ms)
                .take(n)
                .collect();
            (ts.len() == n).then_some(ts)
        },
    )
    .await
}

/// Milliseconds between consecutive polls, sorted.
fn gaps(polls: &[i64]) -> Vec<i64> {
    let mut g: Vec<i64> = polls.windows(2).map(|w| w[1] - w[0]).collect();
    g.sort_unstable();
    g
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_interval_speeds_up_one_channel_for_a_while_then_reverts() {
    let (_broker, _sim, rec, bridge, _q) = setup(2.0).await;

    let sent = now_ms();
    let ack = rec
        .command(
            GW,
            "fast",
            "set_interval",
            json!({"channel": "slow-a", "interval_s": 0.2, "duration_s": 3}),
        )
        .await;
    assert!(ack.ok, "{ack:?}");
    let acked = now_ms();
    // slow-a every 0.2 s (the median gap: one late poll does not count) ...
    let fast = gaps(&polls_after(&rec, "slow-a", acked, 8).await);
    assert!(
        fast[fast.len() / 2] < 600,
        "slow-a every 0.2 s polled {fast:?} ms apart"
    );
    // ... while slow-b keeps its configured 2 s.
    let slow = gaps(&polls_after(&rec, "slow-b", sent, 3).await);
    assert!(slow[0] >= 1000, "slow-b polled {slow:?} ms apart");

    // After duration_s (3 s from the command at the latest) the configured 2 s is back.
    let reverted = gaps(&polls_after(&rec, "slow-a", acked + 3500, 3).await);
    assert!(
        reverted[0] >= 1000,
        "after the override ended: slow-a polled {reverted:?} ms apart"
    );

    // For every channel, until reset.
    let ack = rec
        .command(GW, "all", "set_interval", json!({"interval_s": 0.25}))
        .await;
    assert!(ack.ok, "{ack:?}");
    let all = gaps(&polls_after(&rec, "slow-b", now_ms(), 7).await);
    assert!(
        all[all.len() / 2] < 600,
        "slow-b every 0.25 s polled {all:?} ms apart"
    );
    let ack = rec
        .command(GW, "reset", "set_interval", json!({"reset": true}))
        .await;
    assert!(ack.ok, "{ack:?}");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_config_applies_a_new_register_map_and_refuses_a_broken_file() {
    init_logs();
    let gw = "gw-reload";
    let broker = Broker::start().await;
    let points = vec![
        point("first", 1, 0, DataType::U16, constant(1.0)),
        point("added", 1, 1, DataType::U16, constant(2.0)),
    ];
    let sim = sim(points.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    let full = bridge_config(gw, &sim, &points, &broker, &dir.path().join("q"));
    let mut first_only = full.clone();
    first_only.points.truncate(1);
    std::fs::write(&path, first_only.to_toml()).unwrap();
    let rec = Recorder::start(
        broker.port(),
        "rec-reload",
        true,
        &[&Topic::telemetry(gw), &Topic::command_ack(gw)],
    )
    .await;
    let config = geohazard_firmware_bridge::BridgeConfig::load(Some(&path)).unwrap();
    let bridge = RunningBridge::start(config);
    eventually(
        Duration::from_secs(20),
        "readings of the first map",
        || async { (!rec.readings(gw, "first").is_empty()).then_some(()) },
    )
    .await;
    assert!(rec.readings(gw, "added").is_empty());

    std::fs::write(&path, "gateway = \"gw-reload\"\n[mqtt]\nurl = 42\n").unwrap();
    let ack = rec
        .command(gw, "r1", "reload_config", serde_json::Value::Null)
        .await;
    assert_refused(&ack, "configuration");

    std::fs::write(&path, full.to_toml()).unwrap();
    let ack = rec
        .command(gw, "r2", "reload_config", serde_json::Value::Null)
        .await;
    assert!(ack.ok, "{ack:?}");
    assert_eq!(ack.result["points"], 2);
    eventually(
        Duration::from_secs(20),
        "readings of the added point",
        || async { (!rec.readings(gw, "added").is_empty()).then_some(()) },
    )
    .await;
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retained_status_carries_supply_voltage_queue_depth_and_firmware() {
    use geohazard_firmware_bridge::StatusRole;
    use geohazard_protocol::GatewayStatus;
    init_logs();
    let gw = "gw-status";
    let broker = Broker::start().await;
    let mut supply = point("supply", 1, 0, DataType::U16, constant(12.87));
    supply.scale = 0.01;
    let points = vec![supply];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let mut config = bridge_config(gw, &sim, &points, &broker, queue.path());
    config.points[0].status = Some(StatusRole::SupplyV);
    config.status.interval_s = 1.0;
    let bridge = RunningBridge::start(config);
    let with_supply = |rec: &Recorder| {
        rec.on(&Topic::status(gw))
            .iter()
            .filter_map(|p| GatewayStatus::decode(p, 4096).ok())
            .find(|s| s.supply_v.is_some())
    };
    // Once the bridge has published a status with the supply voltage ...
    let early = Recorder::start(broker.port(), "rec-status-1", true, &[&Topic::status(gw)]).await;
    eventually(
        Duration::from_secs(20),
        "a status with the supply voltage",
        || async { with_supply(&early).map(|_| ()) },
    )
    .await;
    // ... a subscriber that comes later gets it, retained.
    let rec = Recorder::start(broker.port(), "rec-status", true, &[&Topic::status(gw)]).await;
    let status = eventually(
        Duration::from_secs(20),
        "the retained status with the supply voltage",
        || async { with_supply(&rec) },
    )
    .await;
    assert!(status.online);
    assert!((status.supply_v.unwrap() - 12.87).abs() < 1e-9);
    assert_eq!(status.firmware.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert!(status.queue_depth.is_some() && status.uptime_s.is_some() && status.ts.is_some());
    bridge.stop().await;
    // A clean stop marks the gateway offline too (the will only fires on a lost link).
    eventually(Duration::from_secs(10), "the offline status", || async {
        rec.on(&Topic::status(gw))
            .last()
            .and_then(|p| GatewayStatus::decode(p, 4096).ok())
            .filter(|s| !s.online)
    })
    .await;
}

/// Each id's acks, counted.
fn ack_counts(rec: &Recorder) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for a in rec.acks(GW) {
        *counts.entry(a.id).or_insert(0) += 1;
    }
    counts
}

/// Sends one more command and waits for its answer: the bridge has read (and answered)
/// everything the broker delivered before it.
async fn settle(rec: &Recorder, id: &str) {
    let ack = rec.command(GW, id, "status", serde_json::Value::Null).await;
    assert!(ack.ok, "{ack:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_commands_at_once_get_two_hundred_acks_each_once() {
    let (_broker, _sim, rec, bridge, _q) = setup(1.0).await;
    let ids: Vec<String> = (0..200).map(|i| format!("burst-{i}")).collect();
    // Cheap commands that succeed: the burst tests the queue, not the handlers.
    for id in &ids {
        rec.send_command(GW, id, "set_interval", json!({"reset": true}))
            .await;
    }
    eventually(
        Duration::from_secs(30),
        "an ack for every command",
        || async { (ack_counts(&rec).len() == ids.len()).then_some(()) },
    )
    .await;
    // Nothing doubled either, up to a command sent after them all.
    settle(&rec, "settle").await;
    let counts = ack_counts(&rec);
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "acks of {id}");
    }
    assert_eq!(rec.acks(GW).len(), 201);
    // 200 is within the queue's bound: every one was executed.
    assert!(rec.acks(GW).iter().all(|a| a.ok), "a command was refused");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_queue_bound_commands_are_answered_busy_never_dropped() {
    let (_broker, _sim, rec, bridge, _q) = setup_with(1.0, |c| {
        c.commands.max_waiting = 2;
        c.cameras.push(CameraConfig::test_pattern("cam1"));
    })
    .await;
    // Snapshots take a while: the handlers fall behind and the small queue overflows.
    let ids: Vec<String> = (0..60).map(|i| format!("flood-{i}")).collect();
    for id in &ids {
        rec.send_command(GW, id, "snapshot", json!({})).await;
    }
    eventually(
        Duration::from_secs(60),
        "an ack for every command",
        || async { (ack_counts(&rec).len() == ids.len()).then_some(()) },
    )
    .await;
    settle(&rec, "settle").await;
    let counts = ack_counts(&rec);
    assert!(
        ids.iter().all(|id| counts.get(id) == Some(&1)),
        "an id acked twice"
    );
    let refused: Vec<_> = rec.acks(GW).into_iter().filter(|a| !a.ok).collect();
    for a in &refused {
        assert_refused(a, "busy: 2 commands are already waiting");
    }
    assert!(!refused.is_empty(), "the queue never overflowed");
    assert!(refused.len() < ids.len(), "nothing was executed");
    eprintln!(
        "{} commands at once: {} executed, {} answered busy",
        ids.len(),
        ids.len() - refused.len(),
        refused.len()
    );
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sent_while_the_gateway_is_offline_is_executed_when_it_comes_back() {
    let (broker, sim, rec, bridge, queue) = setup(1.0).await;
    // Let the first connection's subscription settle in the broker's session.
    let ack = rec
        .command(GW, "before", "set_interval", json!({"reset": true}))
        .await;
    assert!(ack.ok, "{ack:?}");
    bridge.stop().await;
    // Really gone: the broker has closed the gateway's connection.
    eventually(
        Duration::from_secs(10),
        "the broker to see the bridge leave",
        || async {
            broker
                .log()
                .lines()
                .any(|l| {
                    l.contains(GW)
                        && (l.contains("closed its connection") || l.contains("disconnected"))
                })
                .then_some(())
        },
    )
    .await;

    // Seen by another subscriber: the broker has the command before the bridge comes back.
    let watcher =
        Recorder::start(broker.port(), "rec-cmd-watch", true, &[&Topic::command(GW)]).await;
    rec.send_command(
        GW,
        "while-away",
        "set_interval",
        json!({"interval_s": 0.2, "channel": "slow-a"}),
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "the command at the broker",
        || async { (!watcher.on(&Topic::command(GW)).is_empty()).then_some(()) },
    )
    .await;

    let points = vec![
        point("slow-a", 1, 0, DataType::U16, constant(1.0)),
        point("slow-b", 1, 1, DataType::U16, constant(2.0)),
    ];
    let bridge = RunningBridge::start(bridge_config(GW, &sim, &points, &broker, queue.path()));
    let ack = rec
        .wait_ack(GW, "while-away", Duration::from_secs(20))
        .await;
    assert!(ack.ok, "{ack:?}");
    assert_eq!(ack.result["interval_s"], json!(0.2));
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_broker_forgets_the_session_the_bridge_subscribes_again() {
    let (broker, _sim, rec, bridge, _q) = setup(1.0).await;
    let ack = rec
        .command(GW, "before", "set_interval", json!({"reset": true}))
        .await;
    assert!(ack.ok, "{ack:?}");

    // A clean-session connection under the gateway's client id takes the session over and,
    // when it leaves, the broker discards it: the bridge comes back to no session at all.
    let mut o = rumqttc::MqttOptions::new(GW, "127.0.0.1", broker.port());
    o.set_clean_session(true);
    let (intruder, mut events) = rumqttc::AsyncClient::new(o, 10);
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Incoming::ConnAck(_)) =
                events.poll().await.expect("the intruder connects")
            {
                break;
            }
        }
    })
    .await
    .expect("the intruder's CONNACK");
    intruder.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while events.poll().await.is_ok() {}
    })
    .await;
    drop(events);

    // The bridge reconnects (its will announced it offline) and must subscribe anew: its
    // subscription is made before its online status is published, on the same connection.
    eventually(
        Duration::from_secs(30),
        "the bridge online again after the offline will",
        || async {
            let statuses = rec.on(&Topic::status(GW));
            let offline = statuses
                .iter()
                .rposition(|p| p.starts_with(br#"{"online":false"#))?;
            statuses[offline..]
                .iter()
                .any(|p| p.starts_with(br#"{"online":true"#))
                .then_some(())
        },
    )
    .await;
    let ack = rec
        .command(GW, "after", "set_interval", json!({"reset": true}))
        .await;
    assert!(ack.ok, "{ack:?}");
    bridge.stop().await;
}
