//! The endpoint's own `/healthz`, `/readyz` and `/metrics` (`geohazard_runtime::health`), on
//! `[collector.universal] health_addr`: ready while the store answers with a current schema and
//! our broker is connected; metrics of the devices it serves and what it forwards for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use geohazard_bus::ConfirmedBus;
use geohazard_runtime::Endpoints;
use geohazard_runtime::health::{observe_counter, observe_gauge};
use geohazard_store::Store;
use tokio::sync::Semaphore;

/// What the endpoint counts, read at each scrape.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Device messages our broker confirmed (telemetry, status, command replies).
    pub forwarded: AtomicU64,
    /// Device messages refused and quarantined.
    pub quarantined: AtomicU64,
    /// CONNECTs refused (unknown device, bad key, not a universal-type gateway).
    pub refused: AtomicU64,
    /// Commands sent to devices.
    pub commands: AtomicU64,
}

/// A metric's name, its help and where in [`Stats`] it counts.
type Counter = (&'static str, &'static str, fn(&Stats) -> &AtomicU64);

/// The endpoint's readiness checks and metrics.
pub(crate) fn endpoints(
    stats: &Arc<Stats>,
    connections: &Arc<Semaphore>,
    max_connections: usize,
    store: &Store,
    upstream: &ConfirmedBus,
) -> Endpoints {
    let mut registry = prometheus_client::registry::Registry::default();
    let counters: [Counter; 4] = [
        (
            "geohazard_universal_messages_forwarded",
            "Device messages our broker confirmed",
            |s| &s.forwarded,
        ),
        (
            "geohazard_universal_messages_quarantined",
            "Device messages refused and quarantined",
            |s| &s.quarantined,
        ),
        (
            "geohazard_universal_connects_refused",
            "Device CONNECTs refused",
            |s| &s.refused,
        ),
        (
            "geohazard_universal_commands_sent",
            "Commands sent to devices",
            |s| &s.commands,
        ),
    ];
    for (name, help, field) in counters {
        let s = stats.clone();
        observe_counter(&mut registry, name, help, move || field(&s).load(Relaxed));
    }
    let open = connections.clone();
    observe_gauge(
        &mut registry,
        "geohazard_universal_connections",
        "Device connections open",
        move || max_connections.saturating_sub(open.available_permits()) as u64,
    );
    let mut checks = store.readiness_checks();
    checks.push(upstream.readiness_check());
    Endpoints::new(Arc::new(registry), checks)
}
