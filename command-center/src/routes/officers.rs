//! Officer accounts from the console (`/api/v1/officers`), for admins within their divisions:
//! list, create (a generated password, shown once), change name, role, division or state, and
//! reset a password (shown once). Nobody reaches above their division (a county admin cannot
//! create or see a province officer), and nobody changes their own role, division or state.
//! Passwords are stored as argon2 hashes; each change is audited with before and after (never
//! a password).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::register::{InvalidFields, OfficerEntry, OfficerInput, OfficerPassword};
use geohazard_domain::{AuditAction, OfficerId, Permission};
use geohazard_register::officers::{self, Created, OfficerOutcome};
use serde_json::json;

use super::incidents::{commit, created, saved};
use super::register::{audit, invalid, lang_of};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Body, Id};
use crate::state::AppState;

const MAY_NOT: &str = "your role may not manage officers";

/// The officers of the caller's divisions.
#[utoipa::path(get, path = "/api/v1/officers", tag = "officers",
    responses((status = 200, body = Vec<OfficerEntry>), (status = 403, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<OfficerEntry>>, ApiError> {
    caller.require(Permission::ManageOfficers, MAY_NOT)?;
    let mut db = state.pool.acquire().await?;
    Ok(Json(officers::list(&mut db, &caller.scope).await?))
}

/// Creates an officer in a division in scope; the answer holds their first password, once.
#[utoipa::path(post, path = "/api/v1/officers", tag = "officers", request_body = OfficerInput,
    responses((status = 201, body = OfficerPassword), (status = 403, body = ErrorBody),
               (status = 422, body = InvalidFields)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Body(input): Body<OfficerInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageOfficers, MAY_NOT)?;
    let mut tx = state.pool.begin().await?;
    let Created { officer, password } =
        match officers::create(&mut tx, &caller.scope, &input).await? {
            Ok(created) => created,
            Err(errors) => return Ok(invalid(errors, lang_of(&headers, None))),
        };
    let (status, officer, audit) = created(
        &caller,
        AuditAction::OfficerCreate,
        format!("officer:{}", officer.username),
        officer.division_code.clone(),
        officer,
        json!({}),
    );
    let answer = OfficerPassword { officer, password };
    commit(tx, remote, (status, answer, audit)).await
}

/// Changes an officer in scope: the fields given (display name, role, division, disabled).
#[utoipa::path(put, path = "/api/v1/officers/{id}", tag = "officers",
    params(("id" = i64, Path)), request_body = OfficerInput,
    responses((status = 200, body = OfficerEntry), (status = 404, body = ErrorBody),
               (status = 422, body = InvalidFields)))]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<OfficerId>,
    headers: HeaderMap,
    Body(input): Body<OfficerInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageOfficers, MAY_NOT)?;
    let mut tx = state.pool.begin().await?;
    let me = OfficerId(caller.officer.id);
    let (before, after) = match officers::update(&mut tx, &caller.scope, me, id, &input).await? {
        OfficerOutcome::NotFound => return Err(ApiError::NotFound),
        OfficerOutcome::Invalid(errors) => return Ok(invalid(errors, lang_of(&headers, None))),
        OfficerOutcome::Done(change) => *change,
    };
    let change = saved(
        &caller,
        AuditAction::OfficerUpdate,
        format!("officer:{}", after.username),
        after.division_code.clone(),
        Some(before),
        after,
    );
    commit(tx, remote, change).await
}

/// Gives an officer in scope a new password (in this answer, once) and signs them out.
#[utoipa::path(post, path = "/api/v1/officers/{id}/password", tag = "officers",
    params(("id" = i64, Path)),
    responses((status = 200, body = OfficerPassword), (status = 404, body = ErrorBody)))]
pub(super) async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<OfficerId>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageOfficers, MAY_NOT)?;
    let mut tx = state.pool.begin().await?;
    let (officer, password) = officers::reset_password(&mut tx, &caller.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    audit(
        &mut tx,
        &caller,
        remote,
        AuditAction::OfficerPassword,
        format!("officer:{}", officer.username),
        Some(officer.division_code.clone()),
        json!({"officer": officer}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(OfficerPassword { officer, password }).into_response())
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/officers", get(list).post(create))
        .route("/api/v1/officers/{id}", put(update))
        .route("/api/v1/officers/{id}/password", post(reset_password))
}
