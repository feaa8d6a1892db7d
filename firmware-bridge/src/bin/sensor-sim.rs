//! `sensor-sim SIM.toml` serves a simulator configuration;
//! `sensor-sim --demo N --listen 127.0.0.1:5020 [--gateway gw-demo] [--mqtt-url URL]
//! [--queue-dir DIR] [--export-bridge-config bridge.toml]` serves N demo sensors and writes
//! the matching bridge configuration.

use geohazard_firmware_bridge::{SimConfig, demo, run_sensor_sim};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geohazard_firmware_bridge::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let config = if let Some(n) = opt("--demo") {
        let n: usize = n
            .parse()
            .map_err(|_| anyhow::anyhow!("--demo takes a number"))?;
        let listen = opt("--listen").unwrap_or_else(|| "127.0.0.1:5020".into());
        let addr = listen
            .parse()
            .map_err(|e| anyhow::anyhow!("--listen {listen}: {e}"))?;
        let sensors = demo::sensor_list(n);
        let (sim, bridge) = demo::matching_maps(
            &opt("--gateway").unwrap_or_else(|| "gw-demo".into()),
            &sensors,
            addr,
            &opt("--mqtt-url").unwrap_or_else(|| "mqtt://127.0.0.1:1883".into()),
            opt("--queue-dir").unwrap_or_else(|| "/tmp/gh-bridge-queue".into()),
            1.0,
        );
        if let Some(path) = opt("--export-bridge-config") {
            std::fs::write(&path, bridge.to_toml())?;
            tracing::info!(%path, "bridge configuration written");
        }
        sim
    } else if let Some(path) = args.first() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("simulator configuration {path}: {e}"))?;
        toml::from_str::<SimConfig>(&text)
            .map_err(|e| anyhow::anyhow!("simulator configuration {path}: {e}"))?
    } else {
        anyhow::bail!(
            "usage: sensor-sim SIM.toml | sensor-sim --demo N [--listen ADDR] [--export-bridge-config PATH]"
        );
    };
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        s.cancel();
    });
    run_sensor_sim(config, shutdown).await
}
