//! The command-center as a service among the others: `/healthz`, `/readyz` (database, broker,
//! schema) and `/metrics` of its own work (requests, sign-ins, live consoles, camera frames),
//! and a request id on every request and every log line it causes.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use geohazard_runtime::health::{observe_counter, observe_gauge};
use geohazard_runtime::{Endpoints, ReadinessCheck};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::state::AppState;
use crate::video::Video;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// `2xx`, `4xx`, ...
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    /// `ok`, `refused` (wrong password, throttled, busy).
    outcome: &'static str,
}

/// The counters the request layer keeps.
#[derive(Clone, Default)]
pub(crate) struct RequestMetrics {
    requests: Family<RequestLabels, Counter>,
    sign_ins: Family<SignInLabels, Counter>,
}

/// The metrics registry and readiness checks of a command-center.
pub(crate) fn endpoints(
    state: &AppState,
    video: &Arc<Video>,
    requests: &RequestMetrics,
    checks: Vec<Arc<dyn ReadinessCheck>>,
) -> Endpoints {
    let mut registry = Registry::default();
    registry.register(
        "geohazard_command_center_requests",
        "HTTP requests answered, by method and status class",
        requests.requests.clone(),
    );
    registry.register(
        "geohazard_command_center_sign_ins",
        "Sign-in attempts, by outcome",
        requests.sign_ins.clone(),
    );
    let s = state.clone();
    observe_gauge(
        &mut registry,
        "geohazard_command_center_live_sockets",
        "Live sockets open (consoles and field apps)",
        move || s.live_sockets.open() as u64,
    );
    let v = video.clone();
    observe_counter(
        &mut registry,
        "geohazard_command_center_frames_stored",
        "Camera frames stored",
        move || v.stored.load(Relaxed),
    );
    let v = video.clone();
    observe_counter(
        &mut registry,
        "geohazard_command_center_frames_refused",
        "Camera frames refused and quarantined",
        move || v.refused.load(Relaxed),
    );
    let v = video.clone();
    observe_counter(
        &mut registry,
        "geohazard_command_center_snapshots_asked",
        "Warnings whose camera snapshots this replica asked for",
        move || v.snapshots_asked.load(Relaxed),
    );
    let v = video.clone();
    observe_counter(
        &mut registry,
        "geohazard_command_center_snapshots_left",
        "Warnings whose snapshots another replica had already asked for",
        move || v.snapshots_left.load(Relaxed),
    );
    Endpoints::new(Arc::new(registry), checks)
}

/// Counts every answered request, and sign-in attempts by outcome.
pub(crate) async fn count_requests(
    State(metrics): State<RequestMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let sign_in =
        request.method() == axum::http::Method::POST && request.uri().path() == "/api/v1/login";
    let response = next.run(request).await;
    let status = response.status();
    let class = match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            status: class,
        })
        .inc();
    if sign_in {
        let outcome = if status.is_success() { "ok" } else { "refused" };
        metrics
            .sign_ins
            .get_or_create(&SignInLabels { outcome })
            .inc();
    }
    response
}

/// Every request gets an `x-request-id` (the caller's, else a new UUID), answered back and
/// carried by the span of every log line the request causes.
pub(crate) fn with_request_ids(router: axum::Router) -> axum::Router {
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request| {
        let id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info_span!("request", method = %request.method(), path = request.uri().path(), request_id = id)
    });
    // Outermost first: the id is set before the span is made, and copied to the answer.
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
