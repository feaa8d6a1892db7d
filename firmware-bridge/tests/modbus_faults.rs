//! A slave that fails: once in the log, in the status message while it lasts, on its readings.

mod common;

use std::time::Duration;

use common::*;
use geohazard_firmware_bridge::{DataType, PointConfig};
use geohazard_protocol::{GatewayStatus, Quality, Topic};
use geohazard_testkit::{Broker, eventually};

const WAIT: Duration = Duration::from_secs(20);

fn statuses(rec: &Recorder, gateway: &str) -> Vec<GatewayStatus> {
    rec.on(&Topic::status(gateway))
        .iter()
        .map(|p| GatewayStatus::decode(p, 1 << 20).expect("the status decodes"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modbus_exception_is_logged_once_reported_in_the_status_and_marks_the_slave_suspect() {
    capture_logs();
    let broker = Broker::start().await;
    let points = vec![point("sound", 1, 0, DataType::U16, constant(7.0))];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let mut config = bridge_config("gw-exc", &sim, &points, &broker, queue.path());
    // A register the slave does not have: it answers "illegal data address" at every poll.
    let mut ghost = PointConfig::holding("ghost", &config.modbus[0].name, 1, 40);
    ghost.interval_s = 0.2;
    config.points.push(ghost);
    config.status.interval_s = 1.0;
    // A late answer on a busy machine would be a second change of state: not what is tested.
    config.modbus[0].timeout_ms = 1000;
    let rec = Recorder::start(
        broker.port(),
        "rec-exc",
        true,
        &[&Topic::telemetry("gw-exc"), &Topic::status("gw-exc")],
    )
    .await;
    let bridge = RunningBridge::start(config);

    let fault = eventually(WAIT, "the failing point in the status", || async {
        statuses(&rec, "gw-exc")
            .into_iter()
            .flat_map(|s| s.faults)
            .find(|f| f.channel == "ghost")
    })
    .await;
    assert_eq!(fault.slave, 1);
    assert!(fault.error.contains("IllegalDataAddress"), "{fault:?}");

    // The slave's other readings still come, flagged; 15 polls of the failing point meanwhile.
    // Judged by when they were polled, not by arrival: a reading polled just before the fault
    // was known may be delivered after the status that reports it (queued lane vs direct).
    let fault_known_ms = chrono::Utc::now().timestamp_millis();
    let polled_since = || {
        rec.readings("gw-exc", "sound")
            .into_iter()
            .filter(|r| r.ts > fault_known_ms)
            .collect::<Vec<_>>()
    };
    eventually(WAIT, "15 more readings of the sound point", || async {
        (polled_since().len() >= 15).then_some(())
    })
    .await;
    let sound = polled_since();
    assert!(
        sound
            .iter()
            .all(|r| r.quality == Quality::Suspect && r.value == 7.0),
        "{sound:?}"
    );
    assert!(rec.readings("gw-exc", "ghost").is_empty());
    assert_eq!(
        log_lines_with(&["ghost", "exception"]),
        1,
        "one log line per change of state, not per poll"
    );
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_slave_is_in_the_status_while_it_is_silent_and_leaves_it_when_it_answers() {
    capture_logs();
    let broker = Broker::start().await;
    let points = vec![
        point("steady", 1, 0, DataType::U16, constant(3.0)),
        point("mute", 2, 0, DataType::U16, constant(4.0)),
    ];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let mut config = bridge_config("gw-mute", &sim, &points, &broker, queue.path());
    config.status.interval_s = 1.0;
    config.modbus[0].timeout_ms = 1000;
    let rec = Recorder::start(
        broker.port(),
        "rec-mute",
        true,
        &[&Topic::telemetry("gw-mute"), &Topic::status("gw-mute")],
    )
    .await;
    let bridge = RunningBridge::start(config);
    eventually(WAIT, "readings of the slave", || async {
        rec.readings("gw-mute", "mute").first().map(|_| ())
    })
    .await;

    sim.set_silent(2, true);
    let fault = eventually(WAIT, "the silent slave in the status", || async {
        statuses(&rec, "gw-mute")
            .into_iter()
            .flat_map(|s| s.faults)
            .find(|f| f.channel == "mute")
    })
    .await;
    assert_eq!(fault.slave, 2);
    assert!(fault.error.contains("does not answer"), "{fault:?}");
    let sent = statuses(&rec, "gw-mute").len();

    sim.set_silent(2, false);
    eventually(WAIT, "a status without faults", || async {
        statuses(&rec, "gw-mute")
            .into_iter()
            .skip(sent)
            .find(|s| s.online && s.faults.is_empty())
    })
    .await;
    // A slave down and back: two log lines in all, however many polls it missed.
    assert_eq!(log_lines_with(&["slave=2", "does not answer"]), 1);
    assert_eq!(log_lines_with(&["slave=2", "answers again"]), 1);
    // Readings of the other slave were never marked.
    assert!(
        rec.readings("gw-mute", "steady")
            .iter()
            .all(|r| r.quality == Quality::Good)
    );
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_that_closes_its_socket_is_reported_as_having_closed_the_connection() {
    capture_logs();
    let broker = Broker::start().await;
    // A Modbus TCP "slave" that takes each request and hangs up without an answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hangups = tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 12];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
            drop(socket);
        }
    });
    let points = vec![point("hangup", 1, 0, DataType::U16, constant(1.0))];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let mut config = bridge_config("gw-hangup", &sim, &points, &broker, queue.path());
    config.modbus[0].transport = geohazard_firmware_bridge::Transport::Tcp {
        address: addr.to_string(),
    };
    config.modbus[0].timeout_ms = 5000;
    config.status.interval_s = 1.0;
    let rec = Recorder::start(
        broker.port(),
        "rec-hangup",
        true,
        &[&Topic::status("gw-hangup")],
    )
    .await;
    let bridge = RunningBridge::start(config);
    let fault = eventually(WAIT, "the point in the status", || async {
        statuses(&rec, "gw-hangup")
            .into_iter()
            .flat_map(|s| s.faults)
            .find(|f| f.channel == "hangup")
    })
    .await;
    assert!(
        fault.error.contains("the slave closed the connection"),
        "{fault:?}"
    );
    assert_eq!(
        log_lines_with(&["slave does not answer", "the slave closed the connection"]),
        1
    );
    bridge.stop().await;
    hangups.abort();
}
