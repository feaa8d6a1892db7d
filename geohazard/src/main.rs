//! `geohazard`: the whole system in one process for a single machine.
//!
//! `geohazard run` starts the collector (with the universal-type device endpoint when
//! configured), the analyzer and the command-center's API, an embedded MQTT broker unless a
//! broker URL is configured, a private PostgreSQL cluster unless a database
//! URL is configured, and simulated field gateways for the demo sites.
//! `geohazard migrate` only brings the database schema up to date.

mod broker;
mod demo;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use geohazard_analyzer::AnalyzerConfig;
use geohazard_collector::{Collector, CollectorConfig};
use geohazard_command_center::CommandCenterConfig;
use geohazard_runtime::{ConfigArgs, DatabaseSection, MqttSection};
use geohazard_store::{LocalCluster, Store};
use geohazard_universal::UniversalConfig;
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(
    version,
    about = "geohazard monitoring and emergency command, all in one process"
)]
struct Cli {
    // --config FILE; see deploy/geohazard.example.toml.
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service (the default).
    Run,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Issue new MQTT credentials to a registered gateway and print its key (shown only once).
    GatewayKey {
        /// The gateway's code (its MQTT client id and user name).
        code: String,
        /// Also add the credentials to this Mosquitto password file (with mosquitto_passwd).
        #[arg(long)]
        mosquitto_passwd: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
struct LocalDatabase {
    /// Port of the private PostgreSQL cluster started when no database URL is configured.
    port: u16,
    name: String,
}

impl Default for LocalDatabase {
    fn default() -> Self {
        LocalDatabase {
            port: 54329,
            name: "geohazard".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
struct EmbeddedBroker {
    /// Port of the embedded broker started when no broker URL is configured (loopback only).
    port: u16,
}

impl Default for EmbeddedBroker {
    fn default() -> Self {
        EmbeddedBroker { port: 18830 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
struct Config {
    /// Where the private database cluster and other local state live.
    data_dir: PathBuf,
    database: DatabaseSection,
    local_database: LocalDatabase,
    mqtt: MqttSection,
    embedded_broker: EmbeddedBroker,
    collector: CollectorSection,
    analyzer: AnalyzerConfig,
    command_center: CommandCenterConfig,
    demo: demo::DemoConfig,
}

/// `[collector]`: the ingest pipeline's keys, and `[collector.universal]` for the endpoint, as
/// the standalone collector reads them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct CollectorSection {
    #[serde(flatten)]
    ingest: CollectorConfig,
    universal: UniversalConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("var"),
            database: DatabaseSection::default(),
            local_database: LocalDatabase::default(),
            mqtt: MqttSection::default(),
            embedded_broker: EmbeddedBroker::default(),
            collector: CollectorSection {
                ingest: CollectorConfig {
                    metrics_addr: Some(([127, 0, 0, 1], 9464).into()),
                    ..CollectorConfig::default()
                },
                universal: UniversalConfig::default(),
            },
            analyzer: AnalyzerConfig::default(),
            command_center: CommandCenterConfig {
                // One machine, one user: the API stays on loopback unless configured otherwise.
                listen: ([127, 0, 0, 1], 8080).into(),
                ..CommandCenterConfig::default()
            },
            demo: demo::DemoConfig::default(),
        }
    }
}

/// The database to use: the configured one, or the private cluster (started if need be).
async fn database(config: &Config) -> anyhow::Result<(String, Option<LocalCluster>)> {
    if let Some(url) = config.database.resolved_url() {
        return Ok((url, None));
    }
    let dir = config.data_dir.join("postgres");
    tracing::info!(dir = %dir.display(), port = config.local_database.port, "starting the private PostgreSQL cluster");
    let cluster = LocalCluster::start(&dir, config.local_database.port, true)
        .await
        .context("starting the private PostgreSQL cluster (is PostgreSQL installed? run deploy/install-deps.sh)")?;
    cluster.ensure_database(&config.local_database.name).await?;
    Ok((cluster.url(&config.local_database.name), Some(cluster)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geohazard_runtime::init_tracing();
    let cli = Cli::parse();
    let config: Config = cli.config.load()?;
    let (db_url, cluster) = database(&config).await?;
    // `migrate` is the deploy step: it always migrates; `run` does unless told not to.
    let migrate = config.database.migrates() || matches!(cli.command, Some(Command::Migrate));
    let store = Store::open(&db_url, config.collector.ingest.db_connections + 4, migrate)
        .await
        .context("connecting to the database")?;
    tracing::info!(mode = ?store.mode, "database schema is up to date");
    match cli.command {
        Some(Command::Migrate) => return Ok(()),
        Some(Command::GatewayKey {
            code,
            mosquitto_passwd,
        }) => return issue_gateway_key(&store, &code, mosquitto_passwd.as_deref()).await,
        Some(Command::Run) | None => {}
    }

    let shutdown = geohazard_runtime::shutdown_on_signal();
    // The services' URL, and the one the demo gateways use (with their own keys).
    let (mqtt_url, devices_url) = match config.mqtt.resolved_url() {
        Some(url) => (url.clone(), url),
        None => {
            let embedded = broker::start_embedded(
                config.embedded_broker.port,
                config.collector.ingest.limits.max_payload_bytes + 4096,
                store.pool.clone(),
            )
            .await?;
            (embedded.services_url, embedded.devices_url)
        }
    };

    let mut tasks = tokio::task::JoinSet::new();
    // One registry, one metrics endpoint, for every service in the process.
    let mut registry = prometheus_client::registry::Registry::default();
    let collector = Collector::start(
        config.collector.ingest.clone(),
        &mqtt_url,
        store.clone(),
        &mut registry,
    )?;
    let metrics = collector.metrics.clone();
    tasks.spawn(collector.serve(registry, shutdown.clone()));
    if config.collector.universal.listen.is_some() {
        let (universal, url, store) = (
            config.collector.universal.clone(),
            mqtt_url.clone(),
            store.clone(),
        );
        let shutdown = shutdown.clone();
        tasks
            .spawn(async move { geohazard_universal::run(universal, &url, store, shutdown).await });
    }
    {
        let mut analyzer = config.analyzer.clone();
        analyzer.mqtt.url = mqtt_url.clone();
        if config.demo.enabled {
            // The demo's scenario runs faster than its wall-clock timestamps: rates are judged
            // in scenario time so a 0.5 mm/day creep is not taken for 30 mm/day.
            analyzer.engine.time_scale = config.demo.time_scale;
        }
        tasks.spawn(geohazard_analyzer::run(
            analyzer,
            store.clone(),
            shutdown.clone(),
        ));
    }
    let geohazard_command_center::Server {
        addr: api_addr,
        task: api_task,
        ..
    } = geohazard_command_center::start(
        &config.command_center,
        store.pool.clone(),
        &mqtt_url,
        shutdown.clone(),
    )
    .await?;
    tasks.spawn(async move { api_task.await.context("the command-center panicked")? });
    if config.demo.enabled {
        demo::seed(&store, config.demo.interval_secs).await?;
        demo::ensure_officer(&store, &config.data_dir, api_addr).await?;
        tasks.spawn(demo::run_gateways(
            store.clone(),
            devices_url,
            config.demo.clone(),
            config.data_dir.clone(),
            shutdown.clone(),
        ));
    }
    tasks.spawn(report_progress(metrics, store.clone(), shutdown.clone()));

    tracing::info!(
        database = %geohazard_runtime::redact_url(&db_url),
        mqtt = %geohazard_runtime::redact_url(&mqtt_url),
        metrics = ?config.collector.ingest.metrics_addr,
        api = %format!("http://{}/api/v1", api_addr),
        "geohazard is running; Ctrl-C stops it"
    );
    let mut failed = false;
    while let Some(done) = tasks.join_next().await {
        // A service that ends before shutdown was asked for is a failure too: data would stop
        // flowing while the process looked alive.
        let outcome = done.context("a service panicked").and_then(|r| r);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "a service failed; stopping");
        } else if !shutdown.is_cancelled() {
            tracing::error!("a service stopped on its own; stopping");
        }
        if outcome.is_err() || !shutdown.is_cancelled() {
            failed = true;
            shutdown.cancel();
        }
    }
    if let Some(cluster) = cluster {
        cluster.stop().await?;
    }
    anyhow::ensure!(!failed, "stopped because a service failed");
    Ok(())
}

async fn issue_gateway_key(
    store: &Store,
    code: &str,
    mosquitto_passwd: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let key = geohazard_store::registry::issue_gateway_key(&store.pool, code)
        .await?
        .with_context(|| format!("no gateway `{code}` is registered"))?;
    if let Some(file) = mosquitto_passwd {
        add_to_mosquitto_passwd(file, code, &key)?;
    }
    println!("{key}");
    Ok(())
}

/// Adds `user` with `key` to a Mosquitto password file with `mosquitto_passwd`. The key goes to
/// its standard input (it asks twice), never on its command line, where `ps` would show it.
fn add_to_mosquitto_passwd(file: &std::path::Path, user: &str, key: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut cmd = std::process::Command::new("mosquitto_passwd");
    if !file.exists() {
        cmd.arg("-c");
    }
    let mut child = cmd
        .arg(file)
        .arg(user)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("running mosquitto_passwd (package mosquitto)")?;
    let mut stdin = child.stdin.take().context("mosquitto_passwd's stdin")?;
    stdin
        .write_all(format!("{key}\n{key}\n").as_bytes())
        .context("giving mosquitto_passwd the key")?;
    drop(stdin);
    let status = child.wait().context("waiting for mosquitto_passwd")?;
    anyhow::ensure!(status.success(), "mosquitto_passwd failed: {status}");
    Ok(())
}

/// Logs what the collector did every 10 s, so one can watch data arrive, and how many gateways
/// are online.
async fn report_progress(
    metrics: geohazard_collector::Metrics,
    store: Store,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    use geohazard_collector::ReadingLabels;
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let count = |outcome| {
            metrics
                .readings
                .get_or_create(&ReadingLabels { outcome })
                .get()
        };
        let online: Result<i64, _> =
            sqlx::query_scalar("SELECT count(*) FROM gateways WHERE online")
                .fetch_one(&store.pool)
                .await;
        tracing::info!(
            readings_stored = count("stored"),
            readings_duplicate = count("duplicate"),
            readings_rejected = count("rejected"),
            gateways_online = online.unwrap_or(-1),
            "collector"
        );
    }
}
