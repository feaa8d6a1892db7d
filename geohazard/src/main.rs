//! `geohazard`: the whole system in one process for a single machine.
//!
//! `geohazard run` starts the collector (with the universal-type device endpoint when
//! configured), the analyzer and the command-center's API, an embedded MQTT broker unless a
//! broker URL is configured, the consultation rooms' media server (Janus) unless one is
//! configured, a private PostgreSQL cluster unless a database
//! URL is configured, and simulated field gateways for the demo sites.
//! `geohazard migrate` only brings the database schema up to date. `geohazard notify` runs
//! only the notification delivery worker (`[analyzer.notifier]`), for a host of its own.

mod demo;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use geohazard::{broker, media};
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
    /// Run only the notification delivery worker: SMS, and SMS for app notifications nobody's
    /// client received in time (settings: `[analyzer.notifier]`). Set
    /// `analyzer.notifier.worker = false` on the analyzers then.
    Notify,
    /// Issue new MQTT credentials to a registered gateway and print its key (shown only once).
    GatewayKey {
        /// The gateway's code (its MQTT client id and user name).
        code: String,
        /// Also add the credentials to this Mosquitto password file (with mosquitto_passwd).
        /// Without it, and without a configured broker URL: the all-in-one's broker's file.
        #[arg(long)]
        mosquitto_passwd: Option<PathBuf>,
        /// The pid file of the Mosquitto that uses that password file, told to reload it
        /// (SIGHUP) so the key works at once. Default: /run/mosquitto/mosquitto.pid.
        #[arg(long)]
        mosquitto_pid: Option<PathBuf>,
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
    /// Port of the embedded broker's gateways' listener, started when no broker URL is
    /// configured (loopback only).
    port: u16,
    /// Port of its services' listener (loopback only); 0: any free one.
    services_port: u16,
}

impl Default for EmbeddedBroker {
    fn default() -> Self {
        EmbeddedBroker {
            port: 18830,
            services_port: 0,
        }
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
    embedded_media: media::MediaSettings,
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
            embedded_media: media::MediaSettings::default(),
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
            mosquitto_pid,
        }) => {
            let files = broker::BrokerFiles::new(&config.data_dir);
            // The all-in-one's own broker, unless the key is for another one.
            let (passwd, pid) = match (mosquitto_passwd, config.mqtt.resolved_url()) {
                (Some(file), _) => (
                    Some(file),
                    mosquitto_pid.unwrap_or_else(|| "/run/mosquitto/mosquitto.pid".into()),
                ),
                (None, None) => (Some(files.gateways_passwd()), files.pid_file()),
                (None, Some(_)) => (None, PathBuf::new()),
            };
            return issue_gateway_key(&store, &code, passwd.as_deref(), &pid).await;
        }
        Some(Command::Notify) => {
            let delivery = geohazard_notify::Delivery::new(config.analyzer.notifier.clone())?;
            let shutdown = geohazard_runtime::shutdown_on_signal();
            // Woken by its poll: the services that queue run in other processes.
            delivery
                .run(store.pool.clone(), Default::default(), shutdown)
                .await;
            if let Some(cluster) = cluster {
                cluster.stop().await?;
            }
            return Ok(());
        }
        Some(Command::Run) | None => {}
    }

    let shutdown = geohazard_runtime::shutdown_on_signal();
    let mut tasks = tokio::task::JoinSet::new();
    // Each service's URL, and the one the demo gateways use (with their own keys).
    let (urls, devices_url, demo_keys) = match config.mqtt.resolved_url() {
        Some(url) => (ServiceUrls::same(&url), url, None),
        None => {
            let embedded = broker::start_embedded(
                &config.data_dir,
                config.embedded_broker.port,
                config.embedded_broker.services_port,
            )
            .await?;
            let urls = ServiceUrls {
                collector: embedded.service_url(broker::COLLECTOR),
                analyzer: embedded.service_url(broker::ANALYZER),
                command_center: embedded.service_url(broker::COMMAND_CENTER),
            };
            let (devices, files) = (embedded.devices_url(), embedded.files.clone());
            tasks.spawn(embedded.supervise(shutdown.clone()));
            (urls, devices, Some(files))
        }
    };
    let mqtt_url = urls.collector.clone();

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
        analyzer.mqtt.url = urls.analyzer.clone();
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
    let mut command_center = config.command_center.clone();
    if command_center.consult.janus_url.is_none()
        && let Some(janus) = media::start(&config.data_dir, &config.embedded_media).await
    {
        command_center.consult.janus_url = Some(janus.url.clone());
        command_center.consult.janus_admin_key =
            geohazard_runtime::Secret::new(janus.admin_key.clone());
        tasks.spawn(janus.supervise(shutdown.clone()));
    }
    let geohazard_command_center::Server {
        addr: api_addr,
        task: api_task,
        ..
    } = geohazard_command_center::start(
        &command_center,
        store.pool.clone(),
        &urls.command_center,
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
            demo_keys,
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

/// Each service's broker URL: one each on the all-in-one's broker, whose ACL gives each its
/// own topics; the configured one for all otherwise.
struct ServiceUrls {
    collector: String,
    analyzer: String,
    command_center: String,
}

impl ServiceUrls {
    fn same(url: &str) -> ServiceUrls {
        ServiceUrls {
            collector: url.to_owned(),
            analyzer: url.to_owned(),
            command_center: url.to_owned(),
        }
    }
}

/// Issues `code` a new key; with a Mosquitto password file, adds it there and tells the broker
/// whose pid is in `pid_file` to reload, so the key works at once.
async fn issue_gateway_key(
    store: &Store,
    code: &str,
    mosquitto_passwd: Option<&std::path::Path>,
    pid_file: &std::path::Path,
) -> anyhow::Result<()> {
    let key = geohazard_store::registry::issue_gateway_key(&store.pool, code)
        .await?
        .with_context(|| format!("no gateway `{code}` is registered"))?;
    if let Some(file) = mosquitto_passwd {
        broker::add_to_mosquitto_passwd(file, code, &key)?;
        if broker::reload(pid_file)? {
            eprintln!(
                "the broker ({}) reloaded its password file",
                pid_file.display()
            );
        } else {
            eprintln!(
                "no broker runs with pid file {}: reload Mosquitto (systemctl reload mosquitto) \
                 before the gateway connects with its new key",
                pid_file.display()
            );
        }
    }
    println!("{key}");
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
