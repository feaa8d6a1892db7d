//! Device health for the console: gateways with their last status (battery, supply voltage,
//! signal, queue depth), silent sensors, device warnings, and what was quarantined per gateway
//! over the last day (a misconfigured gateway shows up there, with the reason).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Officer;
use crate::error::{ApiError, Params};
use crate::state::AppState;

/// A gateway as the console shows it.
#[derive(Serialize, sqlx::FromRow)]
struct GatewayHealth {
    id: i64,
    code: String,
    name: String,
    site_id: Option<i64>,
    site_code: Option<String>,
    site_name: Option<String>,
    online: bool,
    last_seen_at: Option<DateTime<Utc>>,
    firmware_version: Option<String>,
    battery_pct: Option<f64>,
    supply_v: Option<f64>,
    signal_dbm: Option<f64>,
    queue_depth: Option<i64>,
}

/// Gateways of the sites in scope (`$1`), `$2` one site or all.
const GATEWAYS: &str = concat!(
    scope_cte!(),
    "SELECT g.id, g.code, g.name, g.site_id, s.code AS site_code, s.name AS site_name,
            gateway_online_now(g.id, g.online, g.last_seen_at) AS online,
            g.last_seen_at, g.firmware_version,
            (g.last_status->>'battery_pct')::float8 AS battery_pct,
            (g.last_status->>'supply_v')::float8 AS supply_v,
            (g.last_status->>'signal_dbm')::float8 AS signal_dbm,
            (g.last_status->>'queue_depth')::int8 AS queue_depth
     FROM gateways g
     JOIN hazard_sites s ON s.id = g.site_id
     JOIN scope ON scope.code = s.division_code
     WHERE ($2::int8 IS NULL OR g.site_id = $2)
     ORDER BY online, g.code"
);

#[derive(Deserialize)]
struct GatewaysQuery {
    site: Option<i64>,
}

async fn gateway_rows(
    state: &AppState,
    officer: &Officer,
    site: Option<i64>,
) -> sqlx::Result<Vec<GatewayHealth>> {
    sqlx::query_as(GATEWAYS)
        .bind(&officer.division_code)
        .bind(site)
        .fetch_all(&state.pool)
        .await
}

/// `GET /api/v1/gateways?site=`: gateways in scope (offline first) with their last status.
async fn gateways(
    State(state): State<AppState>,
    officer: Officer,
    Params(q): Params<GatewaysQuery>,
) -> Result<Json<Vec<GatewayHealth>>, ApiError> {
    Ok(Json(gateway_rows(&state, &officer, q.site).await?))
}

#[derive(Serialize, sqlx::FromRow)]
struct SilentSensor {
    id: i32,
    channel: String,
    kind: String,
    gateway: String,
    site_code: String,
    sampling_interval_s: i32,
    last_reading_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, sqlx::FromRow)]
struct QuarantineSummary {
    gateway_code: Option<String>,
    reason: String,
    messages: i64,
    last_at: DateTime<Utc>,
    detail: String,
}

/// `GET /api/v1/health`: what the device-health tab shows.
#[derive(Serialize)]
struct Health {
    gateways: Vec<GatewayHealth>,
    silent_sensors: Vec<SilentSensor>,
    quarantine: Vec<QuarantineSummary>,
}

/// `GET /api/v1/health`: gateways, silent sensors (nothing for three sampling intervals),
/// active device warnings, and quarantined messages per gateway and reason over the last day.
/// Quarantine rows of gateways nobody registered are shown to top-level officers only.
async fn health(State(state): State<AppState>, officer: Officer) -> Result<Json<Health>, ApiError> {
    let gateways = gateway_rows(&state, &officer, None).await?;
    let silent_sensors: Vec<SilentSensor> = sqlx::query_as(concat!(
        scope_cte!(),
        "SELECT se.id, se.channel, se.kind, g.code AS gateway, s.code AS site_code,
                se.sampling_interval_s, last.ts AS last_reading_at
         FROM sensors se
         JOIN gateways g ON g.id = se.gateway_id
         JOIN hazard_sites s ON s.id = se.site_id
         JOIN scope ON scope.code = s.division_code
         LEFT JOIN LATERAL (SELECT r.ts FROM readings r WHERE r.sensor_id = se.id
                            ORDER BY r.ts DESC LIMIT 1) last ON true
         WHERE se.active
           AND (last.ts IS NULL OR last.ts < now() - make_interval(secs => 3 * se.sampling_interval_s))
         ORDER BY last.ts NULLS FIRST, se.id
         LIMIT 1000"
    ))
    .bind(&officer.division_code)
    .fetch_all(&state.pool)
    .await?;
    let quarantine: Vec<QuarantineSummary> = sqlx::query_as(concat!(
        scope_cte!(),
        "SELECT q.gateway_code, q.reason, sum(q.repeats)::int8 AS messages,
                max(q.last_received_at) AS last_at,
                (array_agg(q.detail ORDER BY q.last_received_at DESC))[1] AS detail
         FROM quarantine q
         LEFT JOIN gateways g ON g.code = q.gateway_code
         LEFT JOIN hazard_sites s ON s.id = g.site_id
         WHERE q.last_received_at > now() - interval '1 day'
           AND (s.division_code IN (SELECT code FROM scope)
                OR (s.id IS NULL
                    AND EXISTS (SELECT 1 FROM divisions WHERE code = $1 AND parent_code IS NULL)))
         GROUP BY q.gateway_code, q.reason
         ORDER BY messages DESC, q.gateway_code
         LIMIT 500"
    ))
    .bind(&officer.division_code)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(Health {
        gateways,
        silent_sensors,
        quarantine,
    }))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/gateways", get(gateways))
        .route("/api/v1/health", get(health))
}
