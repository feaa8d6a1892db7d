//! `/api/v1/audit`: the audit log as those who may read it see it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::types::{AuditQuery, AuditRecord};
use geohazard_domain::Permission;

use crate::authz::Caller;
use crate::error::{ApiError, Params};
use crate::state::AppState;

/// Newest first, the records of the caller's divisions. Records with no division (sign-ins
/// with an unknown user name) are shown to officers of a top-level division only.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditRecord>), (status = 403, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<AuditQuery>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    caller.require(
        Permission::ReadAudit,
        "only an admin may read the audit log",
    )?;
    Ok(Json(
        geohazard_audit::list(&state.pool, &caller.scope, &q).await?,
    ))
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/audit", get(list))
}
