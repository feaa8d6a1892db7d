//! `analyzer [--config FILE]`: the analyzer service. Settings from the TOML file's `[database]`,
//! `[mqtt]` and `[analyzer]` sections (see analyzer/analyzer.example.toml), each key overridable
//! as `GEOHAZARD_<SECTION>__<KEY>` (e.g. `GEOHAZARD_ANALYZER__ENGINE__TIME_SCALE=60`, the same
//! key the all-in-one reads); `DATABASE_URL` and `MQTT_URL` override the URLs.

use clap::Parser;
use geohazard_analyzer::AnalyzerConfig;
use geohazard_runtime::{ConfigArgs, DatabaseSection, MqttSection};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(
    name = "analyzer",
    about = "geohazard's analyzer: four-level warnings from the live telemetry"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

/// The service's file: the all-in-one's sections it needs.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Config {
    database: DatabaseSection,
    mqtt: MqttSection,
    analyzer: AnalyzerConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geohazard_runtime::init_tracing();
    let cli = Cli::parse();
    let mut config: Config = cli.config.load()?;
    let db = config.database.required_url()?;
    // As in the all-in-one: the broker is the process's [mqtt] one.
    if let Some(url) = config.mqtt.resolved_url() {
        config.analyzer.mqtt.url = url;
    }
    let connections = config.database.max_connections.unwrap_or(8);
    let store = geohazard_store::Store::open(&db, connections, config.database.migrates()).await?;
    let shutdown = geohazard_runtime::shutdown_on_signal();
    geohazard_analyzer::run(config.analyzer, store, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // The Jail's closure returns figment's own error type, which is large.
    #[allow(clippy::result_large_err)]
    fn the_example_file_and_the_all_in_one_environment_keys_configure_the_service() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GEOHAZARD_ANALYZER__ENGINE__TIME_SCALE", "60");
            jail.set_env("GEOHAZARD_ANALYZER__NOTIFIER__SMS_MIN_LEVEL", "orange");
            let example = concat!(env!("CARGO_MANIFEST_DIR"), "/analyzer.example.toml");
            let c: Config = geohazard_runtime::load_config(Some(example.as_ref()))
                .map_err(|e| e.to_string())?;
            assert_eq!(c.analyzer.engine.time_scale, 60.0);
            assert_eq!(
                c.analyzer.notifier.sms_min_level,
                geohazard_protocol::WarningLevel::Orange
            );
            assert_eq!(c.analyzer.mqtt.client_id, "geohazard-analyzer");
            assert_eq!(c.mqtt.url.as_deref(), Some("mqtt://127.0.0.1:1883"));
            Ok(())
        });
    }
}
