//! What the duty-room console reads besides the core API: its settings (base-map tiles), the
//! divisions in scope with their boundaries, a site's responsible people, and the thresholds
//! to draw on a sensor's chart.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use geohazard_warnings::rules::{RuleKind, ThresholdParams};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

use crate::auth::Officer;
use crate::error::{ApiError, Id};
use crate::state::AppState;

/// The `[command_center.console]` configuration section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleSettings {
    /// Base-map tiles, a Leaflet URL template such as
    /// `https://tiles.example.gov.cn/{z}/{x}/{y}.png` (an agency's own tile server or a public
    /// one). None, or tiles that cannot load: division boundaries on a plain background.
    pub tile_url: Option<String>,
    /// Attribution shown on the map for those tiles.
    pub tile_attribution: String,
}

/// `GET /api/v1/console`: the console's settings, as configured.
async fn settings(
    _officer: Officer,
    Extension(console): Extension<Arc<ConsoleSettings>>,
) -> Json<Arc<ConsoleSettings>> {
    Json(console)
}

#[derive(Serialize, sqlx::FromRow)]
struct DivisionRow {
    code: String,
    name: String,
    level: String,
    parent_code: Option<String>,
    boundary: Option<Value>,
}

/// `GET /api/v1/divisions`: the officer's division and every one below it, with boundaries
/// (GeoJSON) for the map.
async fn divisions(
    State(state): State<AppState>,
    officer: Officer,
) -> Result<Json<Vec<DivisionRow>>, ApiError> {
    let rows = sqlx::query_as(concat!(
        scope_cte!(),
        "SELECT d.code, d.name, d.level, d.parent_code, d.boundary
         FROM divisions d JOIN scope ON scope.code = d.code ORDER BY d.code"
    ))
    .bind(&officer.division_code)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows))
}

/// 404 unless site `id` is in the officer's divisions.
pub async fn require_site(state: &AppState, officer: &Officer, id: i64) -> Result<(), ApiError> {
    let found: Option<i64> = sqlx::query_scalar(concat!(
        scope_cte!(),
        "SELECT s.id FROM hazard_sites s JOIN scope ON scope.code = s.division_code WHERE s.id = $2"
    ))
    .bind(&officer.division_code)
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    found.map(|_| ()).ok_or(ApiError::NotFound)
}

#[derive(Serialize, sqlx::FromRow)]
struct PersonRow {
    name: String,
    phone: Option<String>,
    role: String,
}

/// `GET /api/v1/sites/{id}/people`: who answers for the site, with phone numbers.
async fn people(
    State(state): State<AppState>,
    officer: Officer,
    Id(id): Id,
) -> Result<Json<Vec<PersonRow>>, ApiError> {
    require_site(&state, &officer, id).await?;
    let rows = sqlx::query_as(
        "SELECT p.name, p.phone, r.role FROM site_responsibles r JOIN people p ON p.id = r.person_id
         WHERE r.site_id = $1
         ORDER BY array_position(ARRAY['monitor','township_official','county_official','engineer'], r.role), p.name",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows))
}

/// `GET /api/v1/sensors/{id}/thresholds`: the lines to draw on a sensor's chart. Without a
/// threshold rule: no direction and no levels (`{}`).
#[derive(Serialize)]
struct ThresholdLines<D, L> {
    sensor: i32,
    direction: Option<D>,
    levels: L,
}

/// The levels of a sensor without a threshold rule.
#[derive(Serialize)]
struct NoLevels {}

/// `GET /api/v1/sensors/{id}/thresholds`: the threshold rule in force for the sensor (kind,
/// site and sensor scopes merged, as the analyzer merges them), for the chart's lines.
async fn thresholds(
    State(state): State<AppState>,
    officer: Officer,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let sensor = i32::try_from(id).map_err(|_| ApiError::NotFound)?;
    let site: i64 = sqlx::query_scalar("SELECT site_id FROM sensors WHERE id = $1")
        .bind(sensor)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(ApiError::NotFound)?;
    require_site(&state, &officer, site).await?;
    let rule: Option<ThresholdParams> =
        geohazard_warnings::rules::sensor_rule(&state.pool, sensor, RuleKind::Threshold).await?;
    Ok(match rule {
        Some(t) => Json(ThresholdLines {
            sensor,
            direction: Some(t.direction),
            levels: t.levels,
        })
        .into_response(),
        None => Json(ThresholdLines::<(), _> {
            sensor,
            direction: None,
            levels: NoLevels {},
        })
        .into_response(),
    })
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/console", get(settings))
        .route("/api/v1/divisions", get(divisions))
        .route("/api/v1/sites/{id}/people", get(people))
        .route("/api/v1/sensors/{id}/thresholds", get(thresholds))
}
