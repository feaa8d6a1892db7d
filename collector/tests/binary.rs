//! The collector's binary as a systemd unit runs it (`collector --config FILE`): it connects,
//! serves its metrics and, when configured, the universal-type device endpoint, and stops
//! cleanly on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use geohazard_testkit::{Broker, TestDb, free_port, terminate, wait_for_port};

#[tokio::test]
async fn the_binary_reads_its_config_file_serves_metrics_and_the_universal_endpoint_and_stops_on_sigterm()
 {
    let broker = Broker::start().await;
    let db = TestDb::create().await;
    let (metrics_port, universal_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("geohazard.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n[mqtt]\nurl = \"{}\"\n\
             [collector]\nmetrics_addr = \"127.0.0.1:{metrics_port}\"\n\
             [collector.universal]\nlisten = \"127.0.0.1:{universal_port}\"\n",
            db.url,
            broker.url()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_collector"))
        .arg("--config")
        .arg(&config)
        .env_remove("DATABASE_URL")
        .env_remove("MQTT_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the collector binary starts");
    for (port, what) in [
        (metrics_port, "metrics"),
        (universal_port, "universal endpoint"),
    ] {
        wait_for_port(port, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("the {what}: {e}"));
    }
    let status = terminate(&mut child, Duration::from_secs(20))
        .await
        .expect("it stops");
    assert!(status.success(), "{status}");
}
