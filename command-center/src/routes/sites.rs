//! `/api/v1/sites`: the hazard sites in the caller's divisions.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::types::{Site, SiteDetail, SitesQuery};
use geohazard_domain::{Permission, SiteId};
use geohazard_register::sites;

use crate::authz::Caller;
use crate::error::{ApiError, Id, Params};
use crate::state::AppState;

const MAY_NOT: &str = "your role may not read sites";

/// The sites in the caller's divisions, of one kind and status if asked.
#[utoipa::path(get, path = "/api/v1/sites", tag = "sites", params(SitesQuery),
    responses((status = 200, body = Vec<Site>), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<SitesQuery>,
) -> Result<Json<Vec<Site>>, ApiError> {
    caller.require(Permission::ReadSites, MAY_NOT)?;
    Ok(Json(
        sites::list(&state.pool, &caller.scope, q.kind, q.status).await?,
    ))
}

/// A site with its threat zone, gateways (online or not), sensors and unclosed warnings.
#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "sites", params(("id" = i64, Path)),
    responses((status = 200, body = SiteDetail), (status = 404, body = ErrorBody)))]
pub(super) async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<SiteId>,
) -> Result<Json<SiteDetail>, ApiError> {
    caller.require(Permission::ReadSites, MAY_NOT)?;
    let mut site = sites::get(&state.pool, &caller.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let gateways = sites::gateways(&state.pool, &site).await?;
    let sensors = sites::sensors(&state.pool, &site).await?;
    let warnings =
        geohazard_warnings::view::unclosed_of_site(&state.pool, &caller.scope, id).await?;
    Ok(Json(SiteDetail {
        threat_zone: site.threat_zone.take(),
        site,
        gateways,
        sensors,
        warnings,
    }))
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sites", get(list))
        .route("/api/v1/sites/{id}", get(detail))
}
