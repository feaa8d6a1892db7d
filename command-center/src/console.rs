//! What the duty-room console reads besides the core API: its settings (base-map tiles), the
//! divisions in scope with their boundaries, a site's responsible people, and the thresholds
//! to draw on a sensor's chart.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use geohazard_warnings::rules::{RuleKind, ThresholdParams};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use geohazard_domain::{Permission, SensorId, SiteId};
use geohazard_register::sites::{self, Division};

use crate::auth::Officer;
use crate::authz::Caller;
use crate::error::{ApiError, Id};
use crate::state::AppState;

/// The `[command_center.console]` configuration section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleSettings {
    /// Base-map tiles, a Leaflet URL template such as
    /// `https://tiles.example.gov.cn/{z}/{x}/{y}.png` (an agency's own tile server or a public
    /// one). None, or tiles that cannot load: division boundaries on a plain background.
    pub tile_url: Option<String>,
    /// Attribution shown on the map for those tiles.
    pub tile_attribution: String,
    /// The agency's time zone (IANA name): every time the console shows is in this zone and
    /// labelled with it, whatever zone the duty-room PC is set to.
    pub time_zone: String,
}

impl Default for ConsoleSettings {
    fn default() -> ConsoleSettings {
        ConsoleSettings {
            tile_url: None,
            tile_attribution: String::new(),
            time_zone: "Asia/Shanghai".into(),
        }
    }
}

/// `GET /api/v1/console`: the console's settings, as configured.
async fn settings(
    _officer: Officer,
    Extension(console): Extension<Arc<ConsoleSettings>>,
) -> Json<Arc<ConsoleSettings>> {
    Json(console)
}

/// `GET /api/v1/divisions`: the officer's division and every one below it, with boundaries
/// (GeoJSON) for the map.
async fn divisions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Division>>, ApiError> {
    caller.require(Permission::ReadSites, "your role may not read the registry")?;
    Ok(Json(sites::divisions(&state.pool, &caller.scope).await?))
}

/// 404 unless site `id` is in the officer's divisions.
pub async fn require_site(state: &AppState, officer: &Officer, id: i64) -> Result<(), ApiError> {
    let scope = geohazard_register::scope_of(&state.pool, &officer.division_code)
        .await?
        .ok_or(ApiError::NotFound)?;
    if sites::in_scope(&state.pool, &scope, SiteId(id)).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// `GET /api/v1/sensors/{id}/thresholds`: the lines to draw on a sensor's chart. Without a
/// threshold rule: no direction and no levels (`{}`).
#[derive(Serialize)]
struct ThresholdLines<D, L> {
    sensor: i32,
    direction: Option<D>,
    levels: L,
    /// For a rain gauge: the hours of the accumulations its rainfall rule sets, when it sets
    /// them (the console falls back to the analyzer's default windows).
    rain_windows_h: Option<Vec<f64>>,
}

/// The windows a rainfall rule sets, in hours.
#[derive(Deserialize)]
struct RainRule {
    windows: Option<Vec<RainWindow>>,
}
#[derive(Deserialize)]
struct RainWindow {
    hours: f64,
}

/// The levels of a sensor without a threshold rule.
#[derive(Serialize)]
struct NoLevels {}

/// `GET /api/v1/sensors/{id}/thresholds`: the threshold rule in force for the sensor (kind,
/// site and sensor scopes merged, as the analyzer merges them), for the chart's lines.
async fn thresholds(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadReadings, "your role may not read readings")?;
    let sensor = i32::try_from(id).map_err(|_| ApiError::NotFound)?;
    sites::of_sensor(&state.pool, &caller.scope, SensorId(sensor))
        .await?
        .ok_or(ApiError::NotFound)?;
    let rule: Option<ThresholdParams> =
        geohazard_warnings::rules::sensor_rule(&state.pool, sensor, RuleKind::Threshold).await?;
    let rain: Option<RainRule> =
        geohazard_warnings::rules::sensor_rule(&state.pool, sensor, RuleKind::Rainfall).await?;
    let rain_windows_h = rain
        .and_then(|r| r.windows)
        .map(|w| w.into_iter().map(|w| w.hours).collect());
    Ok(match rule {
        Some(t) => Json(ThresholdLines {
            sensor,
            direction: Some(t.direction),
            levels: t.levels,
            rain_windows_h,
        })
        .into_response(),
        None => Json(ThresholdLines::<(), _> {
            sensor,
            direction: None,
            levels: NoLevels {},
            rain_windows_h,
        })
        .into_response(),
    })
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/console", get(settings))
        .route("/api/v1/divisions", get(divisions))
        .route("/api/v1/sensors/{id}/thresholds", get(thresholds))
}

/// The division of a gateway's site, if the gateway is in the officer's scope; else 404.
pub(crate) async fn gateway_in_scope(
    state: &AppState,
    officer: &Officer,
    gateway: &str,
) -> Result<String, ApiError> {
    sqlx::query_scalar(concat!(
        scope_cte!(),
        "SELECT s.division_code FROM gateways g JOIN hazard_sites s ON s.id = g.site_id
         JOIN scope ON scope.code = s.division_code WHERE g.code = $2"
    ))
    .bind(&officer.division_code)
    .bind(gateway)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(ApiError::NotFound)
}
