//! Commands over MQTT: every one answered, bad ones with a clear error, set_interval effective.

mod common;

use std::time::Duration;

use common::*;
use geohazard_firmware_bridge::config::DataType;
use geohazard_protocol::Topic;
use geohazard_testkit::{Broker, eventually};
use serde_json::json;

const GW: &str = "gw-cmd";

async fn setup(
    interval_s: f64,
) -> (
    Broker,
    geohazard_firmware_bridge::SimHandle,
    Recorder,
    RunningBridge,
    tempfile::TempDir,
) {
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
    let bridge = RunningBridge::start(bridge_config(GW, &sim, &points, &broker, queue.path()));
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
    assert!(!ack.ok);
    assert!(
        ack.error
            .as_deref()
            .unwrap()
            .contains("bad args for `set_interval`"),
        "{ack:?}"
    );

    rec.send_raw(
        GW,
        br#"{"id": "c2", "name": "set_interval", "args": {"interval_s": 5, "chanel": "x"}}"#,
    )
    .await;
    let ack = rec.wait_ack(GW, "c2", Duration::from_secs(10)).await;
    assert!(
        !ack.ok && ack.error.as_deref().unwrap().contains("chanel"),
        "{ack:?}"
    );

    // Not JSON at all: answered with an empty id.
    rec.send_raw(GW, b"\xff{not json").await;
    let ack = rec.wait_ack(GW, "", Duration::from_secs(10)).await;
    assert!(!ack.ok);
    assert!(
        ack.error
            .as_deref()
            .unwrap()
            .starts_with("malformed command"),
        "{ack:?}"
    );

    // JSON with an id but no name: the id comes back with the error.
    rec.send_raw(GW, br#"{"id": "c3"}"#).await;
    let ack = rec.wait_ack(GW, "c3", Duration::from_secs(10)).await;
    assert!(
        !ack.ok
            && ack
                .error
                .as_deref()
                .unwrap()
                .contains("missing field `name`"),
        "{ack:?}"
    );

    let ack = rec.command(GW, "c4", "self_destruct", json!({})).await;
    assert!(!ack.ok);
    assert!(
        ack.error
            .as_deref()
            .unwrap()
            .contains("unknown command `self_destruct`"),
        "{ack:?}"
    );

    let ack = rec
        .command(
            GW,
            "c5",
            "set_interval",
            json!({"interval_s": 1, "channel": "nope"}),
        )
        .await;
    assert!(
        !ack.ok
            && ack
                .error
                .as_deref()
                .unwrap()
                .contains("unknown channel `nope`"),
        "{ack:?}"
    );

    let ack = rec
        .command(GW, "c6", "snapshot", serde_json::Value::Null)
        .await;
    assert!(
        !ack.ok && ack.error.as_deref().unwrap().contains("no camera"),
        "{ack:?}"
    );

    let ack = rec
        .command(GW, "c7", "reload_config", serde_json::Value::Null)
        .await;
    assert!(
        !ack.ok && ack.error.as_deref().unwrap().contains("in-memory"),
        "{ack:?}"
    );

    // Still alive: status answers with the firmware version and queue depth.
    let ack = rec
        .command(GW, "c8", "status", serde_json::Value::Null)
        .await;
    assert!(ack.ok, "{ack:?}");
    assert_eq!(ack.result["firmware"], env!("CARGO_PKG_VERSION"));
    assert!(ack.result["queue_depth"].is_u64());
    bridge.stop().await;
}

fn count_between(rec: &Recorder, channel: &str, from_ms: i64, to_ms: i64) -> usize {
    rec.readings(GW, channel)
        .iter()
        .filter(|r| r.ts >= from_ms && r.ts < to_ms)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_interval_speeds_up_one_channel_for_a_while_then_reverts() {
    let (_broker, _sim, rec, bridge, _q) = setup(2.0).await;
    let now = || chrono::Utc::now().timestamp_millis();

    let ack = rec
        .command(
            GW,
            "fast",
            "set_interval",
            json!({"channel": "slow-a", "interval_s": 0.2, "duration_s": 3}),
        )
        .await;
    assert!(ack.ok, "{ack:?}");
    let t0 = now();
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let t1 = now();
    // Let the last batch arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fast = count_between(&rec, "slow-a", t0, t1);
    let other = count_between(&rec, "slow-b", t0, t1);
    assert!(
        fast >= 9,
        "slow-a every 0.2 s gave {fast} readings in 2.6 s"
    );
    assert!(
        other <= 2,
        "slow-b is not in emergency mode but gave {other} readings in 2.6 s"
    );

    // After duration_s the configured 2 s interval is back.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let t2 = now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let t3 = now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = count_between(&rec, "slow-a", t2, t3);
    assert!(
        (1..=3).contains(&after),
        "after the override ended: {after} readings in 4 s"
    );

    // For every channel, until reset.
    let ack = rec
        .command(GW, "all", "set_interval", json!({"interval_s": 0.25}))
        .await;
    assert!(ack.ok, "{ack:?}");
    let t4 = now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t5 = now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(count_between(&rec, "slow-b", t4, t5) >= 6);
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
    let config = geohazard_firmware_bridge::BridgeConfig::load(&path).unwrap();
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
    assert!(
        !ack.ok && ack.error.as_deref().unwrap().contains("configuration"),
        "{ack:?}"
    );

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
