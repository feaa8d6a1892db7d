//! Commands behind a camera that never answers: they survive the bridge being stopped or killed
//! (answered after the restart), and they hold up no command for another target.

mod common;

use std::time::Duration;

use common::*;
use geohazard_firmware_bridge::{BridgeConfig, CameraConfig, CameraSource, DataType};
use geohazard_protocol::{CommandAck, Topic};
use geohazard_testkit::{Broker, eventually};
use serde_json::json;

/// An RTSP "camera" that accepts connections and never says a word; the listener lives as long
/// as the returned guard.
fn dead_camera(name: &str) -> (CameraConfig, std::net::TcpListener) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut c = CameraConfig::test_pattern(name);
    c.source = CameraSource::Rtsp {
        url: format!("rtsp://127.0.0.1:{port}/stream"),
    };
    (c, listener)
}

/// How many acks each of `ids` got.
fn answers(rec: &Recorder, gw: &str, ids: &[String]) -> Vec<usize> {
    let acks = rec.acks(gw);
    ids.iter()
        .map(|id| acks.iter().filter(|a| &a.id == id).count())
        .collect()
}

/// How many different answers each of `ids` got: an answer sent again is the same bytes, a
/// command executed again answers anew (a status with its own time and uptime, a snapshot with
/// its own frame).
fn distinct_answers(rec: &Recorder, gw: &str, ids: &[String]) -> Vec<usize> {
    let acks: Vec<(CommandAck, Vec<u8>)> = rec
        .on(&Topic::command_ack(gw))
        .iter()
        .map(|p| (serde_json::from_slice(p).expect("acks decode"), p.to_vec()))
        .collect();
    ids.iter()
        .map(|id| {
            let answers: std::collections::HashSet<&Vec<u8>> = acks
                .iter()
                .filter(|(a, _)| &a.id == id)
                .map(|(_, bytes)| bytes)
                .collect();
            answers.len()
        })
        .collect()
}

/// Snapshots wait behind a camera that never answers; the bridge binary is stopped with
/// `signal`; started again with the camera working, it answers every one of them, once.
async fn waiting_commands_survive(gw: &str, signal: i32) {
    init_logs();
    let broker = Broker::start().await;
    let points = vec![point("a", 1, 0, DataType::U16, constant(1.0))];
    let sim = sim(points.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (camera, _listener) = dead_camera("cam1");
    let mut config = bridge_config(gw, &sim, &points, &broker, &dir.path().join("queue"));
    config.cameras.push(camera);
    let config_path = dir.path().join("bridge.toml");
    std::fs::write(&config_path, config.to_toml()).unwrap();
    let spawn = || spawn_bridge_binary(&config_path);
    let rec = Recorder::start(
        broker.port(),
        &format!("rec-{gw}"),
        true,
        &[&Topic::command_ack(gw), &Topic::status(gw)],
    )
    .await;
    let mut child = spawn();
    eventually(Duration::from_secs(30), "the bridge online", || async {
        rec.on(&Topic::status(gw))
            .iter()
            .any(|p| p.starts_with(br#"{"online":true"#))
            .then_some(())
    })
    .await;

    let ids: Vec<String> = (0..5).map(|i| format!("snap-{i}")).collect();
    for id in &ids {
        rec.send_command(gw, id, "snapshot", json!({"camera": "cam1"}))
            .await;
    }
    // Answered: the bridge has taken every command sent before it.
    let probe = rec
        .command(gw, "probe", "status", serde_json::Value::Null)
        .await;
    assert!(probe.ok, "{probe:?}");
    assert_eq!(
        answers(&rec, gw, &ids),
        [0; 5],
        "a snapshot of the dead camera was answered"
    );

    let pid = child.id().expect("running") as i32;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the bridge exits on the signal")
        .unwrap();

    // The camera works again.
    let mut config = BridgeConfig::load(Some(&config_path)).unwrap();
    config.cameras[0] = CameraConfig::test_pattern("cam1");
    std::fs::write(&config_path, config.to_toml()).unwrap();
    let mut child = spawn();
    eventually(
        Duration::from_secs(60),
        "an answer to every waiting snapshot after the restart",
        || async { answers(&rec, gw, &ids).iter().all(|n| *n > 0).then_some(()) },
    )
    .await;
    // Nothing answered twice, up to a command sent after them all.
    let last = rec
        .command(gw, "last", "status", serde_json::Value::Null)
        .await;
    assert!(last.ok, "{last:?}");
    // Nothing executed twice: one answer each, the status answered before the stop included.
    let probe = ["probe".to_owned()];
    assert_eq!(distinct_answers(&rec, gw, &ids), [1; 5]);
    assert_eq!(distinct_answers(&rec, gw, &probe), [1]);
    // After a SIGTERM each answer is sent once. After a kill -9 an answer the broker confirmed
    // just before the kill, not yet marked sent on disk, goes out again, the same bytes: at
    // least once, like every message of the protocol.
    if signal == libc::SIGTERM {
        assert_eq!(answers(&rec, gw, &ids), [1; 5]);
        assert_eq!(answers(&rec, gw, &probe), [1]);
    }
    for a in rec.acks(gw).iter().filter(|a| ids.contains(&a.id)) {
        assert!(a.ok, "{a:?}");
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_waiting_behind_a_dead_camera_are_answered_after_a_sigterm_and_restart() {
    waiting_commands_survive("gw-term", libc::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_waiting_behind_a_dead_camera_are_answered_after_a_kill_9_and_restart() {
    waiting_commands_survive("gw-kill", libc::SIGKILL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_camera_holds_up_neither_status_nor_set_interval_nor_another_camera() {
    init_logs();
    let gw = "gw-dead-cam";
    let broker = Broker::start().await;
    let points = vec![point("a", 1, 0, DataType::U16, constant(1.0))];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let (dead, _listener) = dead_camera("dead");
    let mut config = bridge_config(gw, &sim, &points, &broker, queue.path());
    config.cameras.push(dead);
    config.cameras.push(CameraConfig::test_pattern("alive"));
    let rec = Recorder::start(
        broker.port(),
        "rec-dead-cam",
        true,
        &[&Topic::command_ack(gw), &Topic::status(gw)],
    )
    .await;
    let bridge = RunningBridge::start(config);
    eventually(Duration::from_secs(30), "the bridge online", || async {
        (!rec.on(&Topic::status(gw)).is_empty()).then_some(())
    })
    .await;

    // As many snapshots of the dead camera as there used to be handlers, then the others.
    let dead: Vec<String> = (0..8).map(|i| format!("dead-{i}")).collect();
    for id in &dead {
        rec.send_command(gw, id, "snapshot", json!({"camera": "dead"}))
            .await;
    }
    rec.send_command(gw, "status", "status", serde_json::Value::Null)
        .await;
    rec.send_command(
        gw,
        "faster",
        "set_interval",
        json!({"interval_s": 0.5, "duration_s": 60}),
    )
    .await;
    rec.send_command(gw, "alive", "snapshot", json!({"camera": "alive"}))
        .await;
    let mut others = Vec::new();
    for id in ["status", "faster", "alive"] {
        let ack = rec.wait_ack(gw, id, Duration::from_secs(60)).await;
        assert!(ack.ok, "{ack:?}");
        others.push(ack);
    }
    // All three were answered while the dead camera had not yet given up on its first snapshot.
    let acks = rec.acks(gw);
    let first_dead = acks.iter().position(|a| dead.contains(&a.id));
    let last_other = acks
        .iter()
        .rposition(|a| ["status", "faster", "alive"].contains(&a.id.as_str()))
        .unwrap();
    assert!(
        first_dead.is_none_or(|d| d > last_other),
        "the others waited for the dead camera: answers in order {:?}",
        acks.iter().map(|a| a.id.as_str()).collect::<Vec<_>>()
    );
    bridge.stop().await;
}
