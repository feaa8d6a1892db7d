//! Analyzer: thresholds and trends over the live telemetry stream, four-level warnings, notifier.
//!
//! [`run`] subscribes to telemetry (its own subscription, or a shared group so several
//! analyzers split the load), keeps per-sensor windows warmed from the store, evaluates the
//! rules on reading time as readings arrive, keeps one warning per site and source in the
//! database, publishes every change on `gh/v1/warning/{division}/{site}` and NOTIFY `warnings`,
//! and notifies people by SMS and app with referral up the administrative levels.
//! Methods and their sources: docs/analyzer.md.

pub mod config;
pub mod engine;
pub mod levels;
pub mod methods;
pub mod notifier;
pub mod registry;
pub mod rules;
pub mod sms;
pub mod warnings;
pub mod window;

use std::sync::Arc;
use std::time::Duration;

use geohazard_bus::{Bus, Qos};
use geohazard_protocol::topic::{ALL_STATUS, ALL_TELEMETRY};
use geohazard_store::Store;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

pub use config::AnalyzerConfig;
pub use engine::Stats;

/// Runs the analyzer until `shutdown` is cancelled.
pub async fn run(
    config: AnalyzerConfig,
    store: Store,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with(config, store, shutdown, None, Arc::default()).await
}

/// [`run`], telling `ready` once the windows are warm and the broker confirmed the
/// subscriptions (tests and the all-in-one wait for it before publishing), and counting into
/// `stats`.
pub async fn run_with(
    config: AnalyzerConfig,
    store: Store,
    shutdown: CancellationToken,
    ready: Option<oneshot::Sender<()>>,
    stats: Arc<engine::Stats>,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let filter = |f: &str| geohazard_bus::shared_subscription(config.shared_group.as_deref(), f);
    let subscriptions = vec![
        (filter(ALL_TELEMETRY), Qos::AtLeastOnce),
        (filter(ALL_STATUS), Qos::AtLeastOnce),
    ];
    let mut bus = Bus::start(&config.mqtt, subscriptions, None, config.queue)?;
    let (outbox_tx, outbox_rx) = tokio::sync::mpsc::unbounded_channel();
    let publisher = tokio::spawn(engine::run_publisher(bus.client().clone(), outbox_rx));
    let mut engine =
        engine::Engine::start(store.pool.clone(), config.clone(), outbox_tx.clone(), stats).await?;
    let provider = sms::build_provider(
        &config.notifier.sms,
        Duration::from_millis(config.notifier.request_timeout_ms),
    )?;
    let tasks = CancellationToken::new();
    let outbox = tokio::spawn(notifier::run_outbox(
        store.pool.clone(),
        engine.notifier_config(),
        provider,
        tasks.clone(),
    ));
    let referrals = tokio::spawn(notifier::run_referrals(
        store.pool.clone(),
        engine.notifier_config(),
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
    let _ = tokio::join!(outbox, referrals);
    drop(engine);
    let _ = tokio::time::timeout(Duration::from_secs(2), publisher).await;
    bus.shutdown().await;
    Ok(())
}
