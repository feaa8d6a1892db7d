//! `/api/v1/gateways`: the gateways of the sites in the caller's divisions.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::types::{GatewayHealth, GatewaysQuery};
use geohazard_domain::Permission;
use geohazard_register::devices;

use crate::authz::Caller;
use crate::error::{ApiError, Params};
use crate::state::AppState;

/// Gateways in scope (offline first) with their last status, of one site if asked.
#[utoipa::path(get, path = "/api/v1/gateways", tag = "devices", params(GatewaysQuery),
    responses((status = 200, body = Vec<GatewayHealth>), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<GatewaysQuery>,
) -> Result<Json<Vec<GatewayHealth>>, ApiError> {
    caller.require(Permission::ReadDevices, "your role may not read devices")?;
    Ok(Json(
        devices::gateways(&state.pool, &caller.scope, q.site).await?,
    ))
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/gateways", get(list))
}
