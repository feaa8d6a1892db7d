//! `/api/v1/sensors/{id}/readings`: a sensor's readings, raw or hourly.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use geohazard_api::ErrorBody;
use geohazard_api::types::{Readings, ReadingsQuery, Resolution};
use geohazard_domain::{Permission, SensorId};
use geohazard_register::readings;

use crate::authz::Caller;
use crate::error::{ApiError, Id, Params};
use crate::state::AppState;

/// Raw readings may be asked for at most this far apart.
const MAX_RAW_RANGE: Duration = Duration::days(31);
/// Hourly rollups may be asked for at most this far apart.
const MAX_HOURLY_RANGE: Duration = Duration::days(2 * 366);
/// Rows returned when the request names no limit, and the most it may name.
const DEFAULT_ROWS: i64 = 10_000;
const MAX_ROWS: i64 = 100_000;

/// Checks a readings request: the range, its length for the resolution, the row limit.
fn bounds(
    q: &ReadingsQuery,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, Resolution, i64), ApiError> {
    let resolution = q.resolution.unwrap_or(Resolution::Raw);
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - Duration::days(1));
    if from >= to {
        return Err(ApiError::bad_request("`from` must be before `to`"));
    }
    let (max, name) = match resolution {
        Resolution::Raw => (MAX_RAW_RANGE, "31 days for raw readings"),
        Resolution::Hourly => (MAX_HOURLY_RANGE, "2 years for hourly readings"),
    };
    if to - from > max {
        return Err(ApiError::bad_request(format!(
            "the range is too long: at most {name}"
        )));
    }
    let limit = q.limit.unwrap_or(DEFAULT_ROWS);
    if !(1..=MAX_ROWS).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_ROWS}"
        )));
    }
    Ok((from, to, resolution, limit))
}

/// A range of a sensor's readings, oldest first; `truncated` says the limit cut the range
/// short (ask again from the last point).
#[utoipa::path(get, path = "/api/v1/sensors/{id}/readings", tag = "readings",
    params(("id" = i32, Path), ReadingsQuery),
    responses((status = 200, body = Readings), (status = 400, body = ErrorBody),
               (status = 404, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
    Params(q): Params<ReadingsQuery>,
) -> Result<Json<Readings>, ApiError> {
    caller.require(Permission::ReadReadings, "your role may not read readings")?;
    let (from, to, resolution, limit) = bounds(&q, Utc::now())?;
    let sensor = SensorId(i32::try_from(id).map_err(|_| ApiError::NotFound)?);
    let unit = readings::sensor_unit(&state.pool, &caller.scope, sensor)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut points = readings::points(&state.pool, sensor, resolution, from, to, limit + 1).await?;
    let truncated = points.truncate(limit as usize);
    Ok(Json(Readings {
        sensor,
        unit,
        resolution,
        from,
        to,
        truncated,
        points,
    }))
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/sensors/{id}/readings", get(list))
}
