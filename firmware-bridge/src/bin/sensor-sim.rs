//! `sensor-sim --config SIM.toml` serves a simulator configuration;
//! `sensor-sim --demo N [--listen 127.0.0.1:5020] [--gateway gw-demo] [--mqtt-url URL]
//! [--queue-dir DIR] [--export-bridge-config bridge.toml]` serves N demo sensors and writes
//! the matching bridge configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use geohazard_firmware_bridge::{SimConfig, demo, run_sensor_sim};
use geohazard_runtime::ConfigArgs;

/// Modbus sensor simulator: serves simulated field sensors over Modbus TCP.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The simulator configuration (TOML) to serve; not with --demo.
    #[command(flatten)]
    config: ConfigArgs,
    /// Serve N demo sensors (two of each kind, in turn) instead of a configuration file.
    #[arg(long, value_name = "N")]
    demo: Option<usize>,
    /// With --demo: where the Modbus TCP server listens.
    #[arg(long, default_value = "127.0.0.1:5020")]
    listen: SocketAddr,
    /// With --demo: the gateway code of the exported bridge configuration.
    #[arg(long, default_value = "gw-demo")]
    gateway: String,
    /// With --demo: the broker of the exported bridge configuration.
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    mqtt_url: String,
    /// With --demo: the queue folder of the exported bridge configuration.
    #[arg(long, default_value = "/tmp/gh-bridge-queue")]
    queue_dir: PathBuf,
    /// With --demo: write the bridge configuration that reads these sensors to this file.
    #[arg(long, value_name = "FILE")]
    export_bridge_config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    geohazard_runtime::init_tracing();
    let config = match (cli.demo, &cli.config.config) {
        (Some(_), Some(_)) => anyhow::bail!("--demo and --config exclude each other"),
        (Some(n), None) => {
            let sensors = demo::sensor_list(n);
            let (sim, bridge) = demo::matching_maps(
                &cli.gateway,
                &sensors,
                cli.listen,
                &cli.mqtt_url,
                cli.queue_dir,
                1.0,
            );
            if let Some(path) = &cli.export_bridge_config {
                std::fs::write(path, bridge.to_toml())
                    .with_context(|| format!("writing {}", path.display()))?;
                tracing::info!(path = %path.display(), "bridge configuration written");
            }
            sim
        }
        (None, Some(path)) => {
            let shown = path.display();
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("simulator configuration {shown}"))?;
            toml::from_str::<SimConfig>(&text)
                .with_context(|| format!("simulator configuration {shown}"))?
        }
        (None, None) => anyhow::bail!("give a simulator configuration (--config FILE) or --demo N"),
    };
    run_sensor_sim(config, geohazard_runtime::shutdown_on_signal()).await
}
