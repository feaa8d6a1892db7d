//! `/api/v1/warnings`: warnings in the caller's divisions, and acknowledging them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use geohazard_api::types::{AcknowledgeRequest, WarningDetail, WarningView, WarningsQuery};
use geohazard_api::{ErrorBody, code};
use geohazard_domain::{AuditAction, OfficerId, Permission, PersonId, WarningId};
use geohazard_protocol::warning::WarningState;
use geohazard_warnings::view;
use serde_json::{Value, json};

use crate::audit::{self, Entry};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Body, Id, Params};
use crate::idempotency::{self, IdempotencyKey};
use crate::state::AppState;

const MAY_NOT_READ: &str = "your role may not read warnings";

/// Newest change first.
#[utoipa::path(get, path = "/api/v1/warnings", tag = "warnings", params(WarningsQuery),
    responses((status = 200, body = Vec<WarningView>), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<WarningsQuery>,
) -> Result<Json<Vec<WarningView>>, ApiError> {
    caller.require(Permission::ReadWarnings, MAY_NOT_READ)?;
    let states = q.state.unwrap_or_default().states();
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    Ok(Json(
        view::list(&state.pool, &caller.scope, states, (q.from, q.to), limit).await?,
    ))
}

/// One warning with its evidence and its transitions.
#[utoipa::path(get, path = "/api/v1/warnings/{id}", tag = "warnings", params(("id" = i64, Path)),
    responses((status = 200, body = WarningDetail), (status = 404, body = ErrorBody)))]
pub(super) async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<WarningId>,
) -> Result<Json<WarningDetail>, ApiError> {
    caller.require(Permission::ReadWarnings, MAY_NOT_READ)?;
    let warning = view::get(&state.pool, &caller.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let events = view::events(&state.pool, &warning).await?;
    let deliveries = view::deliveries(&state.pool, &warning).await?;
    Ok(Json(WarningDetail {
        warning,
        events,
        deliveries,
    }))
}

/// Longest note accepted with an acknowledgement, in characters.
const MAX_NOTE_CHARS: usize = 2000;

fn not_open(state: WarningState) -> ApiError {
    ApiError::coded(
        StatusCode::CONFLICT,
        code::WARNING_NOT_OPEN,
        format!(
            "the warning is {}: only an open warning can be acknowledged",
            state.as_str()
        ),
    )
}

/// Duty officers and admins. The change is stored by the warnings' state machine, audited,
/// and published on MQTT like every other warning change. With an `Idempotency-Key`, a retry
/// is answered like the first request.
#[utoipa::path(post, path = "/api/v1/warnings/{id}/acknowledge", tag = "warnings",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = AcknowledgeRequest,
    responses((status = 200, body = WarningView), (status = 403, body = ErrorBody),
               (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
               (status = 422, body = ErrorBody)))]
pub(super) async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<WarningId>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(
        Permission::AcknowledgeWarning,
        "your role may not acknowledge warnings",
    )?;
    let path = format!("/api/v1/warnings/{id}/acknowledge");
    let (fingerprint, req): (_, AcknowledgeRequest) = idempotency::read("POST", &path, raw)?;
    let note = req.note.unwrap_or_default();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::bad_request(format!(
            "the note is too long: at most {MAX_NOTE_CHARS} characters"
        )));
    }
    let officer = &caller.officer;
    let before = view::get(&state.pool, &caller.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // The key, the acknowledgement and its audit entry commit together, or none does.
    let mut tx = state.pool.begin().await?;
    let claimed = match idempotency::claim(&mut tx, officer.id, &key, &fingerprint).await? {
        Ok(claimed) => claimed,
        Err(answer) => return Ok(answer),
    };
    if before.state.0 != WarningState::Open {
        return Err(not_open(before.state.0));
    }
    let Some(message) =
        geohazard_warnings::acknowledge(&mut tx, id, PersonId(officer.person_id), Some(&note))
            .await?
    else {
        // Someone else acknowledged it, or it closed, since we looked.
        drop(tx);
        let now = view::get(&state.pool, &caller.scope, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        return Err(not_open(now.state.0));
    };
    audit::record(
        &mut *tx,
        &Entry {
            officer_id: Some(OfficerId(officer.id)),
            action: AuditAction::WarningAcknowledge,
            target: Some(format!("warning:{id}")),
            division_code: Some(before.division_code.clone()),
            detail: json!({"note": note, "site": before.site.site_code, "level": before.level,
                           "source": before.source}),
            remote_addr: remote,
        },
    )
    .await?;
    let answer = view::get(&mut *tx, &caller.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    claimed.complete(&mut tx, StatusCode::OK, &answer).await?;
    tx.commit().await?;
    tracing::info!(warning = %id, officer = %officer.username, "warning acknowledged");
    if let Some(outbox) = &state.outbox {
        let _ = outbox.send(message);
    }
    Ok(Json(answer).into_response())
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/warnings", get(list))
        .route("/api/v1/warnings/{id}", get(detail))
        .route("/api/v1/warnings/{id}/acknowledge", post(acknowledge))
}
