//! `firmware-bridge CONFIG.toml`: runs the bridge until SIGINT or SIGTERM.

use std::path::PathBuf;

use geohazard_firmware_bridge::{BridgeConfig, run_bridge};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geohazard_firmware_bridge::init_logging();
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("GH_BRIDGE_CONFIG").map(PathBuf::from))
        .ok_or_else(|| {
            anyhow::anyhow!("usage: firmware-bridge CONFIG.toml (or GH_BRIDGE_CONFIG)")
        })?;
    let config = BridgeConfig::load(&path)?;
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        s.cancel();
    });
    run_bridge(config, shutdown).await
}
