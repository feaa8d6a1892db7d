//! The collector as its own service: `collector --config FILE`. With `[collector.universal]
//! listen` set, the same process also serves the universal-type device endpoint.

use anyhow::Context;
use clap::Parser;
use geohazard_collector::CollectorConfig;
use geohazard_runtime::{ConfigArgs, DatabaseSection, MqttSection};
use geohazard_universal::UniversalConfig;
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(
    version,
    about = "geohazard collector: MQTT ingest into PostgreSQL, and the universal-type device endpoint"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Config {
    database: DatabaseSection,
    mqtt: MqttSection,
    collector: CollectorSection,
}

/// `[collector]`: the ingest pipeline's keys, and `[collector.universal]` for the endpoint.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct CollectorSection {
    #[serde(flatten)]
    ingest: CollectorConfig,
    universal: UniversalConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geohazard_runtime::init_tracing();
    let config: Config = Cli::parse().config.load()?;
    let db_url = config.database.required_url()?;
    let mqtt_url = config.mqtt.required_url()?;
    let CollectorSection { ingest, universal } = config.collector;
    let store =
        geohazard_store::Store::open(&db_url, ingest.db_connections, config.database.migrates())
            .await?;
    let shutdown = geohazard_runtime::shutdown_on_signal();
    let mut tasks = tokio::task::JoinSet::new();
    {
        let (url, store, shutdown) = (mqtt_url.clone(), store.clone(), shutdown.clone());
        tasks.spawn(async move { geohazard_collector::run(ingest, &url, store, shutdown).await });
    }
    if universal.listen.is_some() {
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            geohazard_universal::run(universal, &mqtt_url, store, shutdown).await
        });
    }
    // Whichever ends first stops the other: a half-working service would look healthy while
    // devices could not connect or nothing was stored.
    let mut outcome = Ok(());
    while let Some(done) = tasks.join_next().await {
        shutdown.cancel();
        outcome = outcome.and(done.context("a task panicked").and_then(|r| r));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipelines_keys_and_the_endpoints_share_the_collector_section() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("geohazard.toml");
        std::fs::write(
            &file,
            "[collector]\nmax_batch_readings = 50000\nshared_group = \"collectors\"\n\
             [collector.limits]\nmax_payload_bytes = 4096\n\
             [collector.universal]\nlisten = \"127.0.0.1:1884\"\nclient_id = \"uni-2\"\n",
        )
        .unwrap();
        let config: Config = geohazard_runtime::load_config(Some(&file)).unwrap();
        let CollectorSection { ingest, universal } = config.collector;
        assert_eq!(ingest.max_batch_readings, 50_000);
        assert_eq!(ingest.shared_group.as_deref(), Some("collectors"));
        assert_eq!(ingest.limits.max_payload_bytes, 4096);
        assert_eq!(ingest.queue, CollectorConfig::default().queue);
        assert_eq!(universal.listen, Some(([127, 0, 0, 1], 1884).into()));
        assert_eq!(universal.client_id, "uni-2");
        assert_eq!(
            universal.max_connections,
            UniversalConfig::default().max_connections
        );
    }
}
