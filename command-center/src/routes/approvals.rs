//! `/api/v1/approvals`: online approval. Filing a request, acting on one (approve, reject,
//! return, comment, withdraw, resubmit), each person's queue with its counts, a request with
//! its full history, the workflows, and the register's pending site requests. The engine
//! (`geohazard_approvals`) decides and stores; this module checks the role, scopes by
//! division and answers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use geohazard_api::approvals::{
    ApprovalAction, ApprovalDetail, ApprovalQueue, ApprovalsQuery, NewApproval, RegisterRequest,
    Workflow,
};
use geohazard_api::code;
use geohazard_approvals::engine::{self, ActRequest, Boxes, EngineError, NewRequest, Who};
use geohazard_approvals::{ApprovalState, Refusal, Shipped, model};
use geohazard_domain::Permission;
use serde_json::Value;

use super::incidents::idempotent;
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Body, Id, Params};
use crate::idempotency::{self, IdempotencyKey};
use crate::state::AppState;

const MAY_NOT_READ: &str = "your role has no part in approvals";

/// Reading approvals: proposers and approvers.
fn may_read(caller: &Caller) -> Result<(), ApiError> {
    caller
        .require(Permission::RequestApproval, MAY_NOT_READ)
        .or_else(|_| caller.require(Permission::Approve, MAY_NOT_READ))
}

fn who(caller: &Caller, remote: Option<String>) -> Who {
    Who {
        officer_id: caller.officer.id,
        role: caller.officer.role,
        division_code: caller.officer.division_code.clone(),
        scope: caller.scope.clone(),
        remote_addr: remote,
    }
}

fn answer(e: EngineError) -> ApiError {
    match e {
        EngineError::NotFound => ApiError::NotFound,
        EngineError::Forbidden(m) => ApiError::Forbidden(m),
        EngineError::Form(f) => ApiError::coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            code::INVALID_FORM,
            f.to_string(),
        ),
        EngineError::Refused(r @ Refusal::StaleStep { .. }) => ApiError::coded(
            StatusCode::CONFLICT,
            code::APPROVAL_STEP_TAKEN,
            r.to_string(),
        ),
        EngineError::Refused(
            r @ (Refusal::OwnRequest | Refusal::NotYourStep | Refusal::NotProposer),
        ) => ApiError::coded(StatusCode::FORBIDDEN, code::APPROVAL_REFUSED, r.to_string()),
        EngineError::Refused(r) => {
            ApiError::coded(StatusCode::CONFLICT, code::APPROVAL_REFUSED, r.to_string())
        }
        EngineError::Db(e) => ApiError::Internal(e.into()),
    }
}

/// The workflows, as data.
async fn workflows(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Workflow>>, ApiError> {
    may_read(&caller)?;
    let mut conn = state.pool.acquire().await?;
    Ok(Json(model::workflows(&mut conn).await?))
}

/// The caller's queue: counts, and the requests of one box (`to_act`, `mine`, `all`).
async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ApprovalsQuery>,
) -> Result<Json<ApprovalQueue>, ApiError> {
    may_read(&caller)?;
    let boxes = match q.r#box.as_deref().unwrap_or("to_act") {
        "to_act" => Boxes::ToAct,
        "mine" => Boxes::Mine,
        "all" => Boxes::All,
        other => {
            return Err(ApiError::bad_request(format!(
                "box: {other:?} is not one of to_act, mine, all"
            )));
        }
    };
    let filter = match q.state.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<ApprovalState>().map_err(|_| {
            ApiError::bad_request(format!(
                "state: {s:?} is not one of pending, returned, approved, rejected, withdrawn"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let who = who(&caller, None);
    let counts = engine::counts(&state.pool, &who).await?;
    let items = engine::list(&state.pool, &who, boxes, filter, limit).await?;
    Ok(Json(ApprovalQueue { counts, items }))
}

/// Files a request (duty officers and admins of the proposing division level). With an
/// `Idempotency-Key`, a retry after a lost answer gets the first answer, not a second request.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(
        Permission::RequestApproval,
        "your role may not file approval requests",
    )?;
    let (fingerprint, req): (_, NewApproval) = idempotency::read("POST", "/api/v1/approvals", raw)?;
    let who = who(&caller, remote);
    // The engine audits the filing itself: no entry for `idempotent` to record.
    idempotent(&state, &caller, &key, fingerprint, None, async |tx| {
        let view = engine::submit(
            tx,
            &Shipped,
            &who,
            &NewRequest {
                kind: &req.kind,
                title: &req.title,
                form: &req.form,
                attachments: &req.attachments,
            },
        )
        .await
        .map_err(answer)?;
        tracing::info!(approval = view.id, kind = %view.kind, officer = %caller.officer.username, "approval filed");
        Ok((StatusCode::CREATED, view, None))
    })
    .await
}

/// One request with its steps and history.
async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<Json<ApprovalDetail>, ApiError> {
    may_read(&caller)?;
    let mut conn = state.pool.acquire().await?;
    let instance = engine::get(&mut conn, &caller.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let steps = model::workflow(&mut conn, &instance.kind)
        .await?
        .map(|w| w.steps)
        .unwrap_or_default();
    let history = engine::history(&mut conn, id).await?;
    Ok(Json(ApprovalDetail {
        instance,
        steps,
        history,
    }))
}

/// An action on a request. Approve, reject and return need the approvers' permission (and the
/// engine checks the step is the caller's); withdraw and resubmit are the proposer's.
async fn act(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    Body(req): Body<ApprovalAction>,
) -> Result<Json<geohazard_api::approvals::InstanceView>, ApiError> {
    may_read(&caller)?;
    let view = engine::act(
        &state.pool,
        &Shipped,
        &who(&caller, remote),
        id,
        &ActRequest {
            action: req.action,
            step: req.step,
            comment: &req.comment,
            form: req.form.as_ref(),
            attachments: req.attachments.as_deref(),
        },
    )
    .await
    .map_err(answer)?;
    tracing::info!(approval = id, action = %req.action, officer = %caller.officer.username, "approval action");
    Ok(Json(view))
}

/// Open requests to register or retire sites: the register shows them as pending.
async fn register_pending(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<RegisterRequest>>, ApiError> {
    caller.require(Permission::ReadSites, "your role may not read sites")?;
    Ok(Json(
        engine::register_requests(&state.pool, &caller.scope).await?,
    ))
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/approvals", get(queue).post(create))
        .route("/api/v1/approvals/workflows", get(workflows))
        .route("/api/v1/approvals/register-pending", get(register_pending))
        .route("/api/v1/approvals/{id}", get(detail))
        .route("/api/v1/approvals/{id}/actions", post(act))
}
