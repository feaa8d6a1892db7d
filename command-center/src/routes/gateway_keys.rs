//! Gateways in the register and their keys, from the console (`/api/v1/register/gateways`):
//! register a gateway at a site in scope; issue, rotate and revoke its MQTT key. The key is in
//! the answer once and nowhere else (stored as an argon2 hash, never logged, never kept for an
//! idempotent replay); the broker's password file is changed and the broker reloaded before
//! the change is committed, so a key the store holds is a key the broker takes. Admins, within
//! their divisions; every change audited with the gateway before and after.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::register::{GatewayInput, GatewayKeyIssued, InvalidFields, RegisteredGateway};
use geohazard_domain::{AuditAction, Permission};
use geohazard_register::gateway_keys::{self, Registered};
use serde_json::json;

use super::incidents::{commit, saved};
use super::register::{audit, invalid, lang_of};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Body};
use crate::gateway_broker::{self, BrokerTold};
use crate::state::AppState;

const MAY_NOT_READ: &str = "your role may not read devices";
const MAY_NOT_CHANGE: &str = "your role may not change the register";

/// The gateways in the caller's divisions with the state of their keys.
#[utoipa::path(get, path = "/api/v1/register/gateways", tag = "register",
    responses((status = 200, body = Vec<RegisteredGateway>), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<RegisteredGateway>>, ApiError> {
    caller.require(Permission::ReadDevices, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    Ok(Json(gateway_keys::list(&mut db, &caller.scope).await?))
}

/// Registers a gateway at a site in scope (201), or changes the name and site of one in scope
/// with that code (200). It has no key until one is issued.
#[utoipa::path(post, path = "/api/v1/register/gateways", tag = "register",
    request_body = GatewayInput,
    responses((status = 201, body = RegisteredGateway), (status = 200, body = RegisteredGateway),
               (status = 403, body = ErrorBody), (status = 422, body = InvalidFields)))]
pub(super) async fn register(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Body(input): Body<GatewayInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let lang = lang_of(&headers, None);
    let mut tx = state.pool.begin().await?;
    let (before, after) = match gateway_keys::register(&mut tx, &caller.scope, &input).await? {
        Registered::Done(change) => *change,
        Registered::Invalid(errors) => return Ok(invalid(errors, lang)),
    };
    let change = saved(
        &caller,
        AuditAction::GatewayRegister,
        format!("gateway:{}", after.code),
        after
            .division_code
            .clone()
            .unwrap_or_else(|| caller.scope.root().to_owned()),
        before,
        after,
    );
    commit(tx, remote, change).await
}

/// Gives the gateway `code` in scope the key `key` (its argon2 hash stored), or none (revoked);
/// audited; the broker's password file changed and the broker reloaded before the commit.
async fn change_key(
    state: &AppState,
    caller: &Caller,
    remote: Option<String>,
    code: &str,
    key: Option<&str>,
) -> Result<(RegisteredGateway, BrokerTold), ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let mut tx = state.pool.begin().await?;
    let before = gateway_keys::get_for_update(&mut tx, &caller.scope, code)
        .await?
        .ok_or(ApiError::NotFound)?;
    let hash = match key {
        Some(key) => {
            let key = key.to_owned();
            Some(
                tokio::task::spawn_blocking(move || geohazard_store::registry::hash_password(&key))
                    .await
                    .map_err(anyhow::Error::from)?,
            )
        }
        None => None,
    };
    let after = gateway_keys::set_key(&mut tx, &caller.scope, before.id, hash.as_deref()).await?;
    let action = match (key, before.has_key) {
        (None, _) => AuditAction::GatewayKeyRevoke,
        (Some(_), true) => AuditAction::GatewayKeyRotate,
        (Some(_), false) => AuditAction::GatewayKeyIssue,
    };
    audit(
        &mut tx,
        caller,
        remote,
        action,
        format!("gateway:{}", after.code),
        after.division_code.clone(),
        json!({"before": before, "after": after}),
    )
    .await?;
    let told = gateway_broker::put_key(&state.gateway_keys, &after.code, key).await?;
    tracing::info!(gateway = %after.code, %action, broker = ?told, "gateway key changed");
    tx.commit().await?;
    Ok((after, told))
}

/// Issues the gateway a new key: its first, or one replacing the key it has (rotation: the old
/// one is refused and its connection closed at once). The key is in this answer only.
#[utoipa::path(post, path = "/api/v1/register/gateways/{code}/key", tag = "register",
    params(("code" = String, Path)),
    responses((status = 200, body = GatewayKeyIssued), (status = 403, body = ErrorBody),
               (status = 404, body = ErrorBody)))]
pub(super) async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let key = geohazard_store::registry::new_secret(24);
    let (gateway, broker) = change_key(&state, &caller, remote, &code, Some(&key)).await?;
    Ok(Json(GatewayKeyIssued {
        gateway,
        key,
        broker,
    })
    .into_response())
}

/// Revokes the gateway's key: the broker disconnects it and refuses it at once.
#[utoipa::path(delete, path = "/api/v1/register/gateways/{code}/key", tag = "register",
    params(("code" = String, Path)),
    responses((status = 200, body = RegisteredGateway), (status = 403, body = ErrorBody),
               (status = 404, body = ErrorBody)))]
pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let (gateway, _) = change_key(&state, &caller, remote, &code, None).await?;
    Ok(Json(gateway).into_response())
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/register/gateways", get(list).post(register))
        .route(
            "/api/v1/register/gateways/{code}/key",
            post(issue).delete(revoke),
        )
}
