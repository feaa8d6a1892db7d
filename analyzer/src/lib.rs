//! Analyzer: thresholds and trends over the live telemetry stream, four-level warnings, notifier.
//!
//! [`run`] subscribes to telemetry (its own subscription, or a shared group so several
//! analyzers split the load), keeps per-sensor windows warmed from the store, evaluates the
//! rules on reading time as readings arrive, keeps one warning per site and source in the
//! database through the warning lifecycle (`geohazard_warnings`), publishes every change on
//! `gh/v1/warning/{division}/{site}`, and delivers the SMS the lifecycle queues, with referral up
//! the administrative levels when nobody acknowledges.
//! Methods and their sources: docs/analyzer.md.

mod config;
mod engine;
mod referrals;
mod registry;

use std::sync::Arc;
use std::time::Duration;

use geohazard_bus::{Bus, Qos};
use geohazard_protocol::topic::{ALL_STATUS, ALL_TELEMETRY};
use geohazard_store::Store;
use geohazard_warnings::Lifecycle;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

pub use config::{AnalyzerConfig, EngineConfig, NotifierConfig};
pub use engine::Stats;
// Notification moved to `geohazard_notify`; these keep the analyzer's configuration whole.
pub use geohazard_notify::{
    AliyunConfig, GenericHttpConfig, SmsConfig, aliyun_signature, record_receipt,
};

/// Runs the analyzer until `shutdown` is cancelled.
pub async fn run(
    config: AnalyzerConfig,
    store: Store,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with(config, store, shutdown, None, Arc::default()).await
}

/// The analyzer's own work as Prometheus metrics, read from its counters at each scrape.
fn metrics(stats: &Arc<Stats>) -> prometheus_client::registry::Registry {
    use geohazard_runtime::health::observe_counter;
    use std::sync::atomic::Ordering::Relaxed;
    let mut registry = prometheus_client::registry::Registry::default();
    let s = stats.clone();
    observe_counter(
        &mut registry,
        "geohazard_analyzer_messages",
        "Telemetry and status messages handled",
        move || s.messages.load(Relaxed),
    );
    let s = stats.clone();
    observe_counter(
        &mut registry,
        "geohazard_analyzer_evaluations",
        "Readings evaluated against the rules",
        move || s.readings.load(Relaxed),
    );
    let s = stats.clone();
    observe_counter(
        &mut registry,
        "geohazard_analyzer_transitions",
        "Warning transitions stored and published",
        move || s.transitions.load(Relaxed),
    );
    registry
}

/// [`run`], telling `ready` once the windows are warm and the broker confirmed the
/// subscriptions (tests and the all-in-one wait for it before publishing), and counting into
/// `stats`.
pub async fn run_with(
    config: AnalyzerConfig,
    store: Store,
    shutdown: CancellationToken,
    ready: Option<oneshot::Sender<()>>,
    stats: Arc<Stats>,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let filter = |f: &str| geohazard_bus::shared_subscription(config.shared_group.as_deref(), f);
    let subscriptions = vec![
        (filter(ALL_TELEMETRY), Qos::AtLeastOnce),
        (filter(ALL_STATUS), Qos::AtLeastOnce),
    ];
    let mut bus = Bus::start(&config.mqtt, subscriptions, None, config.queue)?;
    if let Some(addr) = config.health_addr {
        let mut checks = store.readiness_checks();
        checks.push(bus.readiness_check());
        let endpoints = geohazard_runtime::Endpoints::new(Arc::new(metrics(&stats)), checks);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = geohazard_runtime::health::serve(addr, endpoints, shutdown).await {
                tracing::error!(error = %e, "health and metrics endpoint failed");
            }
        });
    }
    let (outbox_tx, outbox_rx) = geohazard_warnings::outbox();
    let publisher = tokio::spawn(geohazard_warnings::run_publisher(
        bus.client().clone(),
        outbox_rx,
    ));
    let lifecycle = Lifecycle::new(config.notifier.policy());
    let mut engine = engine::Engine::start(
        store.pool.clone(),
        config.clone(),
        lifecycle.clone(),
        outbox_tx.clone(),
        stats,
    )
    .await?;
    let tasks = CancellationToken::new();
    // The delivery worker, a component here unless `geohazard notify` runs it on its own.
    let delivery = match config.notifier.worker {
        true => Some(tokio::spawn(
            geohazard_notify::Delivery::new(config.notifier.clone())?.run(
                store.pool.clone(),
                lifecycle.sms_queued(),
                tasks.clone(),
            ),
        )),
        false => None,
    };
    let referrals = tokio::spawn(referrals::run_referrals(
        store.pool.clone(),
        lifecycle,
        Duration::from_millis(config.notifier.poll_ms.max(10)),
        outbox_tx,
        tasks.clone(),
    ));
    tokio::select! {
        r = bus.wait_subscribed(Duration::from_secs(30)) => r?,
        _ = shutdown.cancelled() => {}
    }
    tracing::info!(shared_group = ?config.shared_group, "analyzer running");
    if let Some(ready) = ready {
        let _ = ready.send(());
    }
    // The bus queues acknowledgements to a task of its own, so acking never makes the engine
    // wait on the MQTT request channel.
    let acker = bus.acker();
    let mut health =
        tokio::time::interval(Duration::from_millis(config.engine.health_check_ms.max(10)));
    let mut reload = tokio::time::interval(Duration::from_secs(config.engine.reload_s.max(1)));
    reload.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            d = bus.recv() => {
                let Some(d) = d else {
                    tracing::error!("the MQTT connection task ended");
                    break;
                };
                engine.handle(d.topic(), d.payload()).await;
                // Acknowledged once evaluated (and any warning stored). At-least-once: a
                // redelivery after a crash is absorbed by the window.
                acker.ack(&d).await;
            }
            _ = health.tick() => engine.check_silence().await,
            _ = reload.tick() => engine.reload().await,
        }
    }
    tasks.cancel();
    let _ = referrals.await;
    if let Some(delivery) = delivery {
        let _ = delivery.await;
    }
    drop(engine);
    let _ = tokio::time::timeout(Duration::from_secs(2), publisher).await;
    bus.shutdown().await;
    Ok(())
}
