//! `/api/v1/sites/{id}/plan` and `/api/v1/sites/{id}/card`: each site's emergency plan, and its
//! prevention card as the printable page (zh-CN, one A4 sheet). A village monitor reads only
//! the plans of the sites they answer for; duty officers write them (audited, before and after).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use geohazard_api::incidents::{Plan, PlanInput};
use geohazard_api::{ApiError, ErrorBody};
use geohazard_domain::{AuditAction, OfficerId, Permission, PersonId, Role, SiteId};
use geohazard_incidents::plan::{self, Reader};
use serde_json::{Value, json};

use crate::audit::{self, Entry};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{Body, Id};
use crate::state::AppState;

fn reader(caller: &Caller) -> Reader {
    if caller.officer.role == Role::VillageMonitor {
        Reader::Monitor(PersonId(caller.officer.person_id))
    } else {
        Reader::Scope
    }
}

async fn read(state: &AppState, caller: &Caller, id: SiteId) -> Result<Plan, ApiError> {
    caller.require(Permission::ReadSites, "your role may not read the registry")?;
    plan::get(&state.pool, &caller.scope, reader(caller), id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// A site's emergency plan (empty until written).
#[utoipa::path(get, path = "/api/v1/sites/{id}/plan", tag = "plans", params(("id" = i64, Path)),
    responses((status = 200, body = Plan), (status = 404, body = ErrorBody)))]
pub(super) async fn get_plan(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<SiteId>,
) -> Result<Json<Plan>, ApiError> {
    Ok(Json(read(&state, &caller, id).await?))
}

/// Writes a site's emergency plan.
#[utoipa::path(put, path = "/api/v1/sites/{id}/plan", tag = "plans", params(("id" = i64, Path)),
    request_body = PlanInput,
    responses((status = 200, body = Plan), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn put_plan(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<SiteId>,
    Body(raw): Body<Value>,
) -> Result<Json<Plan>, ApiError> {
    caller.require(
        Permission::ManageIncidents,
        "your role may not write emergency plans",
    )?;
    let Body(input) = Body::<PlanInput>::from_value(raw)?;
    if let Some(problem) = input.problem() {
        return Err(ApiError::bad_request(problem));
    }
    let before = plan::get(&state.pool, &caller.scope, Reader::Scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut tx = state.pool.begin().await?;
    if !plan::put(
        &mut tx,
        &caller.scope,
        id,
        &input,
        OfficerId(caller.officer.id),
    )
    .await?
    {
        return Err(ApiError::NotFound);
    }
    let after = plan::get(&mut *tx, &caller.scope, Reader::Scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    audit::record(
        &mut *tx,
        &Entry {
            officer_id: Some(OfficerId(caller.officer.id)),
            action: AuditAction::PlanUpdate,
            target: Some(format!("site:{id}")),
            division_code: Some(after.division_code.clone()),
            detail: json!({"before": &before, "after": &after}),
            remote_addr: remote,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// The site's prevention card (防灾明白卡): a printable zh-CN page, one A4 sheet.
#[utoipa::path(get, path = "/api/v1/sites/{id}/card", tag = "plans", params(("id" = i64, Path)),
    responses((status = 200, description = "The card, HTML for printing", content_type = "text/html"),
              (status = 404, body = ErrorBody)))]
pub(super) async fn card(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<SiteId>,
) -> Result<Response, ApiError> {
    let plan = read(&state, &caller, id).await?;
    let mut response = (StatusCode::OK, plan::card_html(&plan)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    Ok(response)
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sites/{id}/plan", get(get_plan).put(put_plan))
        .route("/api/v1/sites/{id}/card", get(card))
}
