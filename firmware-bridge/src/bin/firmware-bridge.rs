//! `firmware-bridge [--config FILE]`: runs the bridge until SIGINT or SIGTERM. The file (or
//! `GEOHAZARD_CONFIG`) is optional: every key can also be set as `GEOHAZARD_<SECTION>__<KEY>`.

use clap::Parser;
use geohazard_firmware_bridge::{BridgeConfig, run_bridge};
use geohazard_runtime::ConfigArgs;

/// Field gateway: Modbus polling, camera capture, store-and-forward to MQTT.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    geohazard_runtime::init_tracing();
    let config = BridgeConfig::load(cli.config.config.as_deref())?;
    run_bridge(config, geohazard_runtime::shutdown_on_signal()).await
}
