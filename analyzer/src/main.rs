//! `analyzer [config.toml]`: the analyzer service. Settings from the TOML file, overridden by
//! `GEOHAZARD_ANALYZER_*` environment variables (`__` separates nested keys, e.g.
//! `GEOHAZARD_ANALYZER_MQTT__URL`); the database URL from `DATABASE_URL`.

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use geohazard_analyzer::AnalyzerConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geohazard_runtime::init_tracing();
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "analyzer.toml".into());
    let config: AnalyzerConfig = Figment::from(Serialized::defaults(AnalyzerConfig::default()))
        .merge(Toml::file(&path))
        .merge(Env::prefixed("GEOHAZARD_ANALYZER_").split("__"))
        .extract()
        .with_context(|| format!("configuration from {path} and GEOHAZARD_ANALYZER_*"))?;
    let db = std::env::var("DATABASE_URL").context("DATABASE_URL is not set")?;
    let store = geohazard_store::Store::connect(&db, 8).await?;
    let shutdown = geohazard_runtime::shutdown_on_signal();
    geohazard_analyzer::run(config, store, shutdown).await
}
