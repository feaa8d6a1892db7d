//! geohazard's command-center: the duty officers' HTTP API and live WebSocket.
//!
//! Officers sign in (`POST /api/v1/login`) and send the session token as a bearer token. Every
//! query is scoped by administrative division: an officer sees the objects of their own
//! division and of every division below it, and anything else answers 404 exactly like an id
//! that does not exist. Everything an officer does is written to the audit log. See
//! `command-center/README.md` for the endpoints.

/// `WITH RECURSIVE scope(code)`: the division bound as `$1` and every division below it.
/// A literal, so queries built with `concat!` stay static strings.
macro_rules! scope_cte {
    () => {
        "WITH RECURSIVE scope(code) AS (
             SELECT code FROM divisions WHERE code = $1
             UNION
             SELECT d.code FROM divisions d JOIN scope ON d.parent_code = scope.code
         ) "
    };
}

// Layers, each importing only those above it: `error`, `audit` (the writer) and `state` are
// leaves; `auth` (sessions, the `Officer` extractor, sign-in) stands on them;
// `authz` (scope and permissions) and `idempotency` on `auth`; the handlers (`routes` by
// resource, `console`, `live`, `video`, `web`) on those; `app_channel` (a live socket's
// notifications), `readings_push` (a site view's readings) and `receipts` (the SMS provider's
// callback) on `state`; `service` (health, metrics, request ids) beside them; `connections`
// serves them.
mod app_channel;
mod audit;
mod auth;
mod authz;
mod connections;
mod console;
mod consult_hub;
mod consult_room;
mod error;
mod feeds;
mod gateway_broker;
mod idempotency;
mod incident_feed;
mod janus;
mod live;
mod readings_push;
mod receipts;
mod routes;
mod service;
mod state;
mod video;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use auth::open_session;
pub use console::ConsoleSettings;
pub use gateway_broker::{BrokerTold, GatewayKeySettings};
pub use geohazard_domain::Role;
pub use geohazard_register::officers::{NewOfficer, add_officer, set_officer_password};
pub use janus::{ConsultSettings, IceServer};
pub use receipts::ReceiptSettings;
pub use state::{LoginStats, Settings};
pub use video::VideoSettings;

use crate::error::ApiError;
use crate::state::AppState;

/// The `[command_center]` configuration section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandCenterConfig {
    /// Where the API listens.
    pub listen: SocketAddr,
    pub db_connections: u32,
    /// The API's own settings: sessions, body limit, live sockets.
    pub api: Settings,
    /// The duty-room console: base-map tiles.
    pub console: ConsoleSettings,
    /// Camera frames: the frame store, its retention, live views.
    pub video: VideoSettings,
    /// The SMS provider's delivery receipt callback.
    pub sms_receipts: ReceiptSettings,
    /// Consultation rooms: the media server (Janus) and the browsers' STUN/TURN servers.
    pub consult: ConsultSettings,
    /// Approval deadlines: reminders and overdue steps.
    pub approvals: ApprovalSettings,
    /// Supervision reports: how often the scheduler looks for due daily and monthly reports,
    /// and the lines whose crossing raises an exception report.
    pub reports: ReportSettings,
    /// Gateways' keys issued from the console: the broker's password file and pid file.
    pub gateway_keys: GatewayKeySettings,
    /// The regional meteorological risk warning: the scheduled run, the publisher, the model.
    pub forecast: geohazard_forecast::issue::ForecastSettings,
}

/// The `[command_center.reports]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportSettings {
    /// Seconds between looks for due reports (one replica at a time in the cluster).
    pub schedule_s: u64,
    pub lines: geohazard_reports::Lines,
    /// The Chromium binary that prints a report to PDF (headless; `chromium` on Debian).
    pub chromium: String,
}

impl Default for ReportSettings {
    fn default() -> ReportSettings {
        ReportSettings {
            schedule_s: 300,
            lines: geohazard_reports::Lines::default(),
            chromium: "chromium".into(),
        }
    }
}

/// The `[command_center.approvals]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalSettings {
    /// How often pending steps are checked for reminders and deadlines, milliseconds (one
    /// replica at a time in the cluster).
    pub deadline_pass_ms: u64,
}

impl Default for ApprovalSettings {
    fn default() -> ApprovalSettings {
        ApprovalSettings {
            deadline_pass_ms: 60_000,
        }
    }
}

impl Default for CommandCenterConfig {
    fn default() -> CommandCenterConfig {
        CommandCenterConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            db_connections: 16,
            api: Settings::default(),
            console: ConsoleSettings::default(),
            video: VideoSettings::default(),
            sms_receipts: ReceiptSettings::default(),
            consult: ConsultSettings::default(),
            approvals: ApprovalSettings::default(),
            reports: ReportSettings::default(),
            gateway_keys: GatewayKeySettings::default(),
            forecast: Default::default(),
        }
    }
}

/// The API's routes over `state`.
fn router(state: AppState) -> Router {
    let limit = state.settings.body_limit_bytes;
    Router::new()
        .merge(auth::routes())
        .merge(routes::routes())
        .merge(live::routes())
        .merge(web::routes())
        .merge(console::routes())
        .merge(video::routes())
        .merge(receipts::routes())
        .merge(consult_room::routes())
        .method_not_allowed_fallback(|| async {
            ApiError::coded(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                error::code::METHOD_NOT_ALLOWED,
                "method not allowed",
            )
        })
        .fallback(|| async {
            ApiError::coded(
                axum::http::StatusCode::NOT_FOUND,
                error::code::NO_SUCH_ROUTE,
                "not found",
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// A running command-center.
pub struct Server {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    /// Ends after `shutdown` is cancelled and the open requests are done.
    pub task: JoinHandle<anyhow::Result<()>>,
    /// The state behind the routes.
    state: AppState,
}

impl Server {
    /// What sign-in is doing: password checks running, at most at once, refused as busy.
    pub fn login_stats(&self) -> &LoginStats {
        &self.state.login_stats
    }
}

/// The command-center's MQTT connections besides its live feed's (which signs in as the URL's
/// user): the readings' confirmations and the cameras', each as the URL's user name plus
/// `-readings` and `-video`, with the same password (see [`geohazard_bus::connection_url`]).
pub const MQTT_CONNECTIONS: [&str; 2] = ["readings", "video"];

/// Starts the command-center: the MQTT live feed and outbox, the expired-session sweeper, and
/// the HTTP server on `config.listen`. The database must be migrated (`Store::connect` does it).
pub async fn start(
    config: &CommandCenterConfig,
    pool: PgPool,
    mqtt_url: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<Server> {
    let client_id = format!("command-center-{:08x}", rand::random::<u32>());
    let bus = live::connect(mqtt_url, &client_id, Duration::from_secs(10)).await?;
    let mut checks = geohazard_store::readiness_checks(&pool);
    checks.push(bus.readiness_check());
    let (outbox, outbox_rx) = geohazard_warnings::outbox();
    // The analyzer's publisher: the same topics and QoS for every warning change.
    tokio::spawn(geohazard_warnings::run_publisher(
        bus.client().clone(),
        outbox_rx,
    ));
    let state = AppState::new(
        pool.clone(),
        config.api.clone(),
        Some(outbox),
        shutdown.clone(),
        config.gateway_keys.clone(),
    );
    let video = video::start(
        config.video.clone(),
        pool.clone(),
        &geohazard_bus::connection_url(mqtt_url, MQTT_CONNECTIONS[1])?,
        state.live.clone(),
        shutdown.clone(),
    )
    .await?;
    tokio::spawn(live::run_feed(
        bus,
        pool.clone(),
        state.live.clone(),
        config.api.open_incident_on_red,
        shutdown.clone(),
    ));
    tokio::spawn(app_channel::run_pending(state.clone()));
    tokio::spawn(live::run_session_checks(state.clone()));
    tokio::spawn(incident_feed::run(
        pool.clone(),
        state.incidents.clone(),
        shutdown.clone(),
    ));
    let readings = readings_push::start(
        &geohazard_bus::connection_url(mqtt_url, MQTT_CONNECTIONS[0])?,
        &format!("{client_id}-readings"),
        shutdown.clone(),
    )
    .await?;
    tokio::spawn(geohazard_approvals::deadlines::run(
        pool.clone(),
        Duration::from_millis(config.approvals.deadline_pass_ms.max(10)),
        shutdown.clone(),
    ));
    tokio::spawn(geohazard_reports::schedule::run(
        pool.clone(),
        Duration::from_secs(config.reports.schedule_s.max(1)),
        config.reports.lines.clone(),
        shutdown.clone(),
    ));
    let forecast = Arc::new(config.forecast.clone());
    tokio::spawn(routes::forecast::schedule(
        pool.clone(),
        forecast.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(sweep_sessions(pool, shutdown.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the API to {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "command-center API listening");
    let frame_consumer = video.clone();
    let requests = service::RequestMetrics::default();
    let endpoints = service::endpoints(&state, &video, &requests, checks);
    let app = router(state.clone())
        .merge(geohazard_runtime::health::router(endpoints))
        .layer(axum::middleware::from_fn_with_state(
            requests,
            service::count_requests,
        ))
        .layer(Extension(Arc::new(config.console.clone())))
        .layer(Extension(Arc::new(config.sms_receipts.clone())))
        .layer(Extension(Arc::new(routes::Printer {
            chromium: config.reports.chromium.clone(),
        })))
        .layer(Extension(forecast))
        .layer(Extension(video))
        .layer(Extension(readings))
        .layer(Extension(consult_hub::Consult::new(janus::Janus::new(
            config.consult.clone(),
        ))));
    let app = service::with_request_ids(app);
    let settings = config.api.clone();
    let task = tokio::spawn(async move {
        let served = connections::serve(listener, app, &settings, shutdown)
            .await
            .context("serving the API");
        // The frames it took are stored and acknowledged before the command-center ends.
        frame_consumer.stopped().await;
        served
    });
    Ok(Server { addr, task, state })
}

/// Serves until `shutdown`.
pub async fn run(
    config: &CommandCenterConfig,
    pool: PgPool,
    mqtt_url: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    start(config, pool, mqtt_url, shutdown).await?.task.await?
}

/// The API's OpenAPI document (also served at `/api/v1/openapi.json`).
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    routes::openapi::document()
}

/// Deletes expired sessions every hour (they are refused anyway; this keeps the table small),
/// and idempotency keys older than a week.
async fn sweep_sessions(pool: PgPool, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Err(e) = sqlx::query("DELETE FROM officer_sessions WHERE expires_at < now()")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "sweeping expired sessions");
        }
        if let Err(e) = geohazard_store::idempotency::sweep(&pool, 7).await {
            tracing::warn!(error = %e, "sweeping idempotency keys");
        }
    }
}
