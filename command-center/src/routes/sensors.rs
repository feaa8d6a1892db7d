//! Sensors in the register from the console (`/api/v1/register/sensors`): listed, registered
//! and edited (kind, unit, expected interval, position, gateway and point, site) by admins
//! within their divisions, each field refused by name; every change audited with the sensor
//! before and after.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::register::{InvalidFields, RegisteredSensor, SensorInput, SensorsQuery};
use geohazard_domain::{AuditAction, Permission, SensorId};
use geohazard_register::sensor_edit::{self, Saved};

use super::incidents::{commit, saved};
use super::register::{invalid, lang_of};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Body, Id, Params};
use crate::state::AppState;

const MAY_NOT_READ: &str = "your role may not read devices";
const MAY_NOT_CHANGE: &str = "your role may not change the register";

/// The sensors of the caller's divisions (of one site if asked).
#[utoipa::path(get, path = "/api/v1/register/sensors", tag = "register", params(SensorsQuery),
    responses((status = 200, body = Vec<RegisteredSensor>), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<SensorsQuery>,
) -> Result<Json<Vec<RegisteredSensor>>, ApiError> {
    caller.require(Permission::ReadDevices, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    Ok(Json(
        sensor_edit::list(&mut db, &caller.scope, q.site).await?,
    ))
}

async fn save(
    state: &AppState,
    caller: &Caller,
    remote: Option<String>,
    headers: &HeaderMap,
    id: Option<SensorId>,
    input: &SensorInput,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let lang = lang_of(headers, None);
    let mut tx = state.pool.begin().await?;
    let (before, after) = match sensor_edit::save(&mut tx, &caller.scope, id, input).await? {
        Saved::Done(change) => *change,
        Saved::Invalid(errors) => return Ok(invalid(errors, lang)),
        Saved::NotFound => return Err(ApiError::NotFound),
    };
    let change = saved(
        caller,
        AuditAction::SensorRegister,
        format!("sensor:{}", after.id.0),
        after.division_code.clone(),
        before,
        after,
    );
    commit(tx, remote, change).await
}

/// Registers a sensor on a gateway and site in scope.
#[utoipa::path(post, path = "/api/v1/register/sensors", tag = "register",
    request_body = SensorInput,
    responses((status = 201, body = RegisteredSensor), (status = 403, body = ErrorBody),
               (status = 422, body = InvalidFields)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Body(input): Body<SensorInput>,
) -> Result<Response, ApiError> {
    save(&state, &caller, remote, &headers, None, &input).await
}

/// Changes a sensor in scope (every field given again).
#[utoipa::path(put, path = "/api/v1/register/sensors/{id}", tag = "register",
    params(("id" = i32, Path)), request_body = SensorInput,
    responses((status = 200, body = RegisteredSensor), (status = 404, body = ErrorBody),
               (status = 422, body = InvalidFields)))]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Id(id): Id<SensorId>,
    Body(input): Body<SensorInput>,
) -> Result<Response, ApiError> {
    save(&state, &caller, remote, &headers, Some(id), &input).await
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/register/sensors", get(list).post(create))
        .route("/api/v1/register/sensors/{id}", put(update))
}
