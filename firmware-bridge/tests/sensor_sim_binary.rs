//! The `sensor-sim` binary: a demo simulator that exports the bridge configuration matching it.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use geohazard_firmware_bridge::BridgeConfig;
use geohazard_protocol::Topic;
use geohazard_testkit::{Broker, eventually, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_simulator_and_its_exported_bridge_config_work_together() {
    init_logs();
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("bridge.toml");
    let port = free_port();
    let mut sim = tokio::process::Command::new(env!("CARGO_BIN_EXE_sensor-sim"))
        .args(["--demo", "14", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--gateway", "gw-demo", "--mqtt-url", &broker.url()])
        .arg("--queue-dir")
        .arg(dir.path().join("queue"))
        .arg("--export-bridge-config")
        .arg(&exported)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sensor-sim starts");
    geohazard_testkit::wait_for_port(port, Duration::from_secs(20))
        .await
        .unwrap();
    let config = BridgeConfig::load(Some(&exported)).expect("the exported configuration loads");
    // 14 sensors (two of each kind) and the supply voltage.
    assert_eq!(config.points.len(), 15);
    let rec = Recorder::start(
        broker.port(),
        "rec-demo",
        true,
        &[&Topic::telemetry("gw-demo")],
    )
    .await;
    let bridge = RunningBridge::start(config.clone());
    let channels: Vec<String> = config.points.iter().map(|p| p.channel.clone()).collect();
    eventually(
        Duration::from_secs(30),
        "a reading from every demo sensor",
        || async {
            let missing = channels
                .iter()
                .filter(|c| c.as_str() != "supply-v" && rec.readings("gw-demo", c).is_empty())
                .count();
            // Rain gauges publish from their second read on.
            (missing == 0).then_some(())
        },
    )
    .await;
    // Values in the physical ranges of the field-sim models.
    let crack = rec.readings("gw-demo", "s000")[0].value;
    assert!((11.0..13.0).contains(&crack), "crack meter read {crack} mm");
    let mud = rec.readings("gw-demo", "s006")[0].value;
    assert!((0.0..1.0).contains(&mud), "mud level read {mud} m");
    bridge.stop().await;
    sim.start_kill().unwrap();
}
