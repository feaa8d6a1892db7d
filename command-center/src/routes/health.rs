//! `/api/v1/health`: device health for the console.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::types::Health;
use geohazard_domain::Permission;
use geohazard_register::devices;

use crate::authz::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Gateways, silent sensors (nothing for three sampling intervals), and quarantined messages
/// per gateway and reason over the last day. Quarantine rows of gateways nobody registered are
/// shown to top-level officers only.
#[utoipa::path(get, path = "/api/v1/health", tag = "devices",
    responses((status = 200, body = Health), (status = 401, body = ErrorBody)))]
pub(super) async fn get_health(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Health>, ApiError> {
    caller.require(Permission::ReadDevices, "your role may not read devices")?;
    Ok(Json(Health {
        gateways: devices::gateways(&state.pool, &caller.scope, None).await?,
        silent_sensors: devices::silent_sensors(&state.pool, &caller.scope).await?,
        quarantine: devices::quarantine(&state.pool, &caller.scope).await?,
    }))
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/health", get(get_health))
}
