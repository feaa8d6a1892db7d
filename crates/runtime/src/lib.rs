//! What every geohazard service binary shares: configuration (one TOML file plus environment
//! overrides), structured logging, graceful shutdown, the Prometheus metrics endpoint, and the
//! retry backoff.
//!
//! The one configuration convention: every binary takes `--config FILE` (or `GEOHAZARD_CONFIG`)
//! through [`ConfigArgs`], reads it with [`load_config`], and any key can be overridden by the
//! environment as `GEOHAZARD_<SECTION>__<KEY>` (the file's tables joined by `__`), e.g.
//! `GEOHAZARD_ANALYZER__ENGINE__TIME_SCALE=60`. Standalone and all-in-one read the same keys.

mod backoff;
pub mod health;
pub mod janus;
pub mod mosquitto;
mod secret;

pub use backoff::Backoff;
pub use health::{Endpoints, ReadinessCheck};
pub use secret::Secret;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

/// The flags every geohazard binary shares; `#[command(flatten)]` it into the binary's parser.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// TOML configuration file; every key can also be set as GEOHAZARD_<SECTION>__<KEY>.
    #[arg(long, short, global = true, env = "GEOHAZARD_CONFIG")]
    pub config: Option<std::path::PathBuf>,
}

impl ConfigArgs {
    /// The configuration: defaults, the file, then the environment ([`load_config`]).
    pub fn load<T: Serialize + DeserializeOwned + Default>(&self) -> anyhow::Result<T> {
        load_config(self.config.as_deref())
    }
}

/// `GEOHAZARD_*` variables that are not configuration keys (the file's path, the log format,
/// a password given to a subcommand).
const NOT_CONFIG_KEYS: [&str; 3] = ["config", "log_format", "officer_password"];

/// Loads configuration: defaults, then the TOML file (if given), then environment variables
/// `GEOHAZARD_<SECTION>__<KEY>` (double underscore between levels), e.g.
/// `GEOHAZARD_COLLECTOR__MAX_BATCH_READINGS=50000`.
pub fn load_config<T: Serialize + DeserializeOwned + Default>(
    path: Option<&Path>,
) -> anyhow::Result<T> {
    Figment::from(Serialized::defaults(T::default()))
        .merge(config_file(path)?)
        .merge(env_overrides())
        .extract()
        .context("reading the configuration")
}

/// The TOML file alone (nothing when `path` is None), for a loader that cannot use
/// [`load_config`] (a configuration with required keys and no defaults). A named file that
/// does not exist is an error, not an empty configuration.
pub fn config_file(path: Option<&Path>) -> anyhow::Result<Figment> {
    let mut figment = Figment::new();
    if let Some(path) = path {
        anyhow::ensure!(
            path.exists(),
            "configuration file {} does not exist",
            path.display()
        );
        figment = figment.merge(Toml::file(path));
    }
    Ok(figment)
}

/// The environment overrides alone, `GEOHAZARD_<SECTION>__<KEY>` as keys `section.key` (see
/// [`config_file`]).
pub fn env_overrides() -> Env {
    Env::prefixed("GEOHAZARD_")
        .filter(|key| !NOT_CONFIG_KEYS.iter().any(|k| key == *k))
        .split("__")
}

/// Logs to stderr: human-readable by default, JSON lines when `GEOHAZARD_LOG_FORMAT=json`.
/// Verbosity from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // The embedded broker logs every connection at info: keep it to warnings by default.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rumqttd=warn,sqlx=warn"));
    use std::io::IsTerminal;
    // Colour codes only for a person at a terminal: a log file or journald gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = if std::env::var("GEOHAZARD_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second call (tests, all-in-one) keeps the first subscriber.
    let _ = result;
}

/// A token cancelled on Ctrl-C or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        cancel.cancel();
    });
    token
}

/// Serves `GET /metrics` (and `/healthz`, `/readyz` with no checks) until `shutdown`; a
/// service with readiness checks uses [`health::serve`].
pub async fn serve_metrics(
    addr: SocketAddr,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    health::serve(addr, Endpoints::new(registry, vec![]), shutdown).await
}

/// `[database]`: where the store is.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DatabaseSection {
    /// A PostgreSQL URL. `DATABASE_URL` overrides it. The all-in-one starts a private cluster
    /// when neither is set.
    pub url: Option<String>,
    pub max_connections: Option<u32>,
    /// Whether the service brings the schema up to date at start (the default). Set `false`
    /// where services run as a role that cannot change the schema and `geohazard migrate`
    /// runs as a deploy step; a service then refuses to start on a schema that is behind.
    pub migrate: Option<bool>,
}

impl DatabaseSection {
    /// The URL to use: `DATABASE_URL`, else the configured one.
    pub fn resolved_url(&self) -> Option<String> {
        std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| self.url.clone())
    }

    /// Whether to run migrations at start ([`DatabaseSection::migrate`], default yes).
    pub fn migrates(&self) -> bool {
        self.migrate.unwrap_or(true)
    }

    /// [`DatabaseSection::resolved_url`] for a service that cannot run without a database.
    pub fn required_url(&self) -> anyhow::Result<String> {
        self.resolved_url()
            .context("no database: set DATABASE_URL or [database] url")
    }
}

/// `[mqtt]`: where the broker is.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MqttSection {
    /// `mqtt://[user[:password]@]host[:port]`. `MQTT_URL` overrides it. The all-in-one runs an
    /// embedded broker when neither is set.
    pub url: Option<String>,
}

impl MqttSection {
    /// The URL to use: `MQTT_URL`, else the configured one.
    pub fn resolved_url(&self) -> Option<String> {
        std::env::var("MQTT_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| self.url.clone())
    }

    /// [`MqttSection::resolved_url`] for a service that cannot run without a broker.
    pub fn required_url(&self) -> anyhow::Result<String> {
        self.resolved_url()
            .context("no broker: set MQTT_URL or [mqtt] url")
    }
}

/// `url` fit to be shown in a log line or an error: the password in its user part
/// (`scheme://user:password@host`) and any `password=` query parameter replaced by `***`.
/// Everything that shows a database or broker URL goes through this.
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    match base.find("://") {
        Some(i) => {
            let (scheme, rest) = base.split_at(i + 3);
            let authority_end = rest.find(['/', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            out.push_str(scheme);
            match authority.rsplit_once('@') {
                Some((user_info, host)) => {
                    match user_info.split_once(':') {
                        Some((user, _)) => {
                            out.push_str(user);
                            out.push_str(":***");
                        }
                        None => out.push_str(user_info),
                    }
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(base),
    }
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_in_urls_are_never_shown() {
        for (url, shown) in [
            (
                "postgres://geohazard:s3cret@db.internal:5432/geohazard",
                "postgres://geohazard:***@db.internal:5432/geohazard",
            ),
            (
                "mqtt://geohazard-collector:p%40ss:word@10.0.0.5:1884",
                "mqtt://geohazard-collector:***@10.0.0.5:1884",
            ),
            (
                "postgres://db/geohazard?sslmode=require&password=s3cret",
                "postgres://db/geohazard?sslmode=require&password=***",
            ),
            ("mqtt://127.0.0.1:1883", "mqtt://127.0.0.1:1883"),
            ("mqtt://device@127.0.0.1", "mqtt://device@127.0.0.1"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
    }
}
