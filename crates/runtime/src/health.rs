//! One service shape: every service answers `GET /healthz` (the process is alive), `GET /readyz`
//! (it can do its work: its [`ReadinessCheck`]s pass, else 503 naming what fails) and
//! `GET /metrics` (Prometheus text of its own work). A service with an HTTP server of its own
//! merges [`router`] into it; the others run [`serve`] on their health address.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// What a readiness check's answer is: `Err` says, for the operator, what is wrong.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One thing a service needs to do its work (the database answers, the broker is connected,
/// the schema is current).
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &str;
    fn check(&self) -> CheckFuture<'_>;
}

struct FnCheck<F> {
    name: &'static str,
    check: F,
}

impl<F, Fut> ReadinessCheck for FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    fn name(&self) -> &str {
        self.name
    }
    fn check(&self) -> CheckFuture<'_> {
        Box::pin((self.check)())
    }
}

/// A readiness check from a function.
pub fn check<F, Fut>(name: &'static str, check: F) -> Arc<dyn ReadinessCheck>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(FnCheck { name, check })
}

/// A check that takes longer than this fails: a database that does not answer is not ready.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// What a service exposes: its metrics and its readiness checks.
#[derive(Clone, Default)]
pub struct Endpoints {
    pub registry: Arc<Registry>,
    pub checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl Endpoints {
    pub fn new(registry: Arc<Registry>, checks: Vec<Arc<dyn ReadinessCheck>>) -> Endpoints {
        Endpoints { registry, checks }
    }

    /// Runs every check (at once); the failures by name.
    pub async fn failures(&self) -> Vec<(String, String)> {
        let runs = self.checks.iter().map(|c| async move {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, c.check()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
            };
            outcome.err().map(|e| (c.name().to_owned(), e))
        });
        futures::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

/// `/healthz`, `/readyz` and `/metrics` for `endpoints`, to serve alone or merged into a
/// service's own router.
pub fn router<S: Clone + Send + Sync + 'static>(endpoints: Endpoints) -> axum::Router<S> {
    let ready = endpoints.clone();
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let endpoints = ready.clone();
                async move { readyz(&endpoints).await }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let registry = endpoints.registry.clone();
                async move { metrics(&registry) }
            }),
        )
}

async fn readyz(endpoints: &Endpoints) -> Response {
    let failures = endpoints.failures().await;
    if failures.is_empty() {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let mut body = String::from("not ready\n");
    for (name, why) in failures {
        body.push_str(&format!("{name}: {why}\n"));
    }
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

fn metrics(registry: &Registry) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves [`router`] on `addr` until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    endpoints: Endpoints,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the health endpoint to {addr}"))?;
    serve_on(listener, endpoints, shutdown).await
}

/// [`serve`] on a listener already bound (port 0 in tests).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    endpoints: Endpoints,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "health at /healthz, /readyz; metrics at /metrics");
    axum::serve(listener, router::<()>(endpoints))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

/// A metric read at each scrape from a value the service keeps anyway (an atomic counter, a
/// queue's length), so the service's own bookkeeping is what is exported.
pub struct Observed<F> {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    read: F,
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

impl<F> fmt::Debug for Observed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl<F: Fn() -> u64 + Send + Sync + 'static> Collector for Observed<F> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let value = (self.read)();
        match self.kind {
            Kind::Counter => {
                let metric = ConstCounter::new(value);
                let e =
                    encoder.encode_descriptor(self.name, self.help, None, metric.metric_type())?;
                metric.encode(e)
            }
            Kind::Gauge => {
                let metric = ConstGauge::new(value as i64);
                let e =
                    encoder.encode_descriptor(self.name, self.help, None, metric.metric_type())?;
                metric.encode(e)
            }
        }
    }
}

/// Registers a counter read from `read` at each scrape (`name` without `_total`).
pub fn observe_counter(
    registry: &mut Registry,
    name: &'static str,
    help: &'static str,
    read: impl Fn() -> u64 + Send + Sync + 'static,
) {
    observe(registry, name, help, Kind::Counter, read);
}

/// Registers a gauge read from `read` at each scrape.
pub fn observe_gauge(
    registry: &mut Registry,
    name: &'static str,
    help: &'static str,
    read: impl Fn() -> u64 + Send + Sync + 'static,
) {
    observe(registry, name, help, Kind::Gauge, read);
}

fn observe(
    registry: &mut Registry,
    name: &'static str,
    help: &'static str,
    kind: Kind,
    read: impl Fn() -> u64 + Send + Sync + 'static,
) {
    registry.register_collector(Box::new(Observed {
        name,
        help,
        kind,
        read,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_names_every_failing_check_and_only_those() {
        let endpoints = Endpoints::new(
            Arc::default(),
            vec![
                check("database", || async { Ok(()) }),
                check("broker", || async { Err("not connected".to_owned()) }),
            ],
        );
        assert_eq!(
            endpoints.failures().await,
            vec![("broker".to_owned(), "not connected".to_owned())]
        );
    }

    #[test]
    fn an_observed_counter_is_read_at_each_scrape() {
        let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut registry = Registry::default();
        let read = n.clone();
        observe_counter(&mut registry, "geohazard_test_polls", "polls", move || {
            read.load(std::sync::atomic::Ordering::Relaxed)
        });
        n.store(7, std::sync::atomic::Ordering::Relaxed);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("geohazard_test_polls_total 7"), "{text}");
    }
}
