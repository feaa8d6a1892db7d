//! The collector as its own service: `collector [config.toml]`.

use anyhow::Context;
use geohazard_collector::CollectorConfig;
use geohazard_runtime::{DatabaseSection, MqttSection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Config {
    database: DatabaseSection,
    mqtt: MqttSection,
    collector: CollectorConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geohazard_runtime::init_tracing();
    let path = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    let config: Config = geohazard_runtime::load_config(path.as_deref())?;
    let db_url = config
        .database
        .resolved_url()
        .context("no database: set DATABASE_URL or [database] url")?;
    let mqtt_url = config
        .mqtt
        .resolved_url()
        .context("no broker: set MQTT_URL or [mqtt] url")?;
    let store = geohazard_store::Store::connect(&db_url, config.collector.db_connections).await?;
    let shutdown = geohazard_runtime::shutdown_on_signal();
    geohazard_collector::run(config.collector, &mqtt_url, store, shutdown).await
}
