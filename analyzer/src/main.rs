//! `analyzer [config.toml]`: the analyzer service. Settings from the TOML file, overridden by
//! `GEOHAZARD_ANALYZER_*` environment variables (`__` separates nested keys, e.g.
//! `GEOHAZARD_ANALYZER_MQTT__URL`); the database URL from `DATABASE_URL`.

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use geohazard_analyzer::AnalyzerConfig;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "analyzer.toml".into());
    let config: AnalyzerConfig = Figment::new()
        .merge(Toml::file(&path))
        .merge(Env::prefixed("GEOHAZARD_ANALYZER_").split("__"))
        .extract()
        .with_context(|| format!("configuration from {path} and GEOHAZARD_ANALYZER_*"))?;
    let db = std::env::var("DATABASE_URL").context("DATABASE_URL is not set")?;
    let store = geohazard_store::Store::connect(&db, 8).await?;
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        // SIGINT from a terminal, SIGTERM from systemd or a container runtime.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        on_signal.cancel();
    });
    geohazard_analyzer::run(config, store, shutdown).await
}
