//! A sensor's rules kept from the console (`/api/v1/register/sensors/{id}/rules`): the
//! parameters in force with where each comes from (built-in, the sensor kind's rule, the
//! site's, the sensor's own); a change to one layer's row, made on its version (`If-Match`,
//! `"0"` for a layer with no row yet) and audited with before and after; and a backtest of a
//! change over the sensor's stored readings, beside what the rules in force raised, run by the
//! analyzer's own evaluation (`geohazard_rules`). Within the caller's divisions; a sensor
//! kind's rule holds everywhere, so only a top-level officer changes it.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, extract::State};
use chrono::{DateTime, Utc};
use geohazard_api::ErrorBody;
use geohazard_api::register::{FieldProblem, InvalidFields};
use geohazard_domain::Permission;
use geohazard_rules::explain::BadParam;
use geohazard_rules::store::{
    self as rules, Backtest, Edited, RuleChange, RuleRow, SensorRulesView,
};
use geohazard_warnings::rules::{Layer, RuleKind};
use serde::{Deserialize, Serialize};

use super::register::{etag, version_in};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Body, Id, code};
use crate::state::AppState;

const MAY_NOT_READ: &str = "your role may not read devices";
const MAY_NOT_CHANGE: &str = "your role may not change the register";
const KIND_RULE: &str = "a sensor kind's rule holds in every division: only a province-level officer changes it; set the site's or the sensor's instead";

/// A change to try over stored history before it is saved.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct BacktestInput {
    pub layer: Layer,
    pub params: serde_json::Value,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn yes() -> bool {
    true
}

/// 409 `version_conflict`: the rule row changed since the version the change was made on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleConflict {
    pub error: String,
    pub code: String,
    /// The row as it is now (version 0: the layer has none).
    pub current: RuleRow,
}

fn rule_of(name: &str) -> Result<RuleKind, ApiError> {
    RuleKind::from_name(name)
        .filter(|r| RuleKind::OF_SENSORS.contains(r))
        .ok_or(ApiError::NotFound)
}

/// The version a change was made on, from `If-Match` (`"3"`; `"0"`: the layer has no row).
fn if_match(headers: &HeaderMap) -> Result<i32, ApiError> {
    version_in(
        headers,
        "send If-Match with the version of the rule row the change was made on (\"0\" for a layer with none)",
    )
}

fn invalid(bad: BadParam, value: String) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(InvalidFields {
            error: format!("{}: {}", bad.field, bad.message),
            code: code::INVALID_FIELD.to_owned(),
            field: bad.field.clone(),
            problems: vec![FieldProblem {
                field: bad.field,
                value,
                reason: "invalid_parameter".into(),
                message: bad.message,
            }],
        }),
    )
        .into_response()
}

/// Every rule of a sensor in scope: whether it applies, the parameters in force with their
/// origin, and each layer's row with its version.
#[utoipa::path(get, path = "/api/v1/register/sensors/{id}/rules", tag = "register",
    params(("id" = i32, Path)),
    responses((status = 200, body = SensorRulesView), (status = 404, body = ErrorBody)))]
pub(super) async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i32>,
) -> Result<Json<SensorRulesView>, ApiError> {
    caller.require(Permission::ReadDevices, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    rules::view(&mut db, &caller.scope, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Sets one layer's row of a sensor's rule (`If-Match`: the row's version, `"0"` for none):
/// the sensor's rules after it, or 409 with the row now, or 422 naming the parameter.
#[utoipa::path(put, path = "/api/v1/register/sensors/{id}/rules/{rule}", tag = "register",
    params(("id" = i32, Path), ("rule" = String, Path), ("If-Match" = String, Header)),
    request_body = RuleChange,
    responses((status = 200, body = SensorRulesView), (status = 403, body = ErrorBody),
               (status = 409, body = RuleConflict), (status = 422, body = InvalidFields)))]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Id((id, rule)): Id<(i32, String)>,
    Body(change): Body<RuleChange>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let rule = rule_of(&rule)?;
    let base = if_match(&headers)?;
    let actor = caller.actor(remote, None);
    let mut tx = state.pool.begin().await?;
    match rules::update(&mut tx, &caller.scope, &actor, id, rule, base, &change).await? {
        Edited::Done(view) => {
            tx.commit().await?;
            Ok(Json(view).into_response())
        }
        Edited::NotFound => Err(ApiError::NotFound),
        Edited::KindRuleAboveScope => Err(ApiError::Forbidden(KIND_RULE)),
        Edited::Invalid(bad) => Ok(invalid(bad, change.params.to_string())),
        Edited::Conflict(current) => Ok((
            StatusCode::CONFLICT,
            [(header::ETAG, etag(current.version))],
            Json(RuleConflict {
                error: format!(
                    "the rule was changed by someone else (now version {})",
                    current.version
                ),
                code: code::VERSION_CONFLICT.to_owned(),
                current,
            }),
        )
            .into_response()),
    }
}

/// What a change would have raised over the sensor's stored readings from `from` to `to`,
/// beside what the rules in force raised; nothing is saved.
#[utoipa::path(post, path = "/api/v1/register/sensors/{id}/rules/{rule}/backtest",
    tag = "register", params(("id" = i32, Path), ("rule" = String, Path)),
    request_body = BacktestInput,
    responses((status = 200, body = Backtest), (status = 404, body = ErrorBody),
               (status = 422, body = InvalidFields)))]
pub(super) async fn backtest(
    State(state): State<AppState>,
    caller: Caller,
    Id((id, rule)): Id<(i32, String)>,
    Body(input): Body<BacktestInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadDevices, MAY_NOT_READ)?;
    let rule = rule_of(&rule)?;
    let change = RuleChange {
        layer: input.layer,
        params: input.params,
        enabled: input.enabled,
    };
    let mut db = state.pool.acquire().await?;
    let scope = &caller.scope;
    match rules::backtest(&mut db, scope, id, rule, &change, input.from, input.to).await? {
        Edited::Done(b) => Ok(Json(b).into_response()),
        Edited::Invalid(bad) => {
            let value = match bad.field.as_str() {
                "to" => input.to.to_rfc3339(),
                _ => change.params.to_string(),
            };
            Ok(invalid(bad, value))
        }
        Edited::NotFound | Edited::KindRuleAboveScope | Edited::Conflict(_) => {
            Err(ApiError::NotFound)
        }
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/register/sensors/{id}/rules", get(view))
        .route(
            "/api/v1/register/sensors/{id}/rules/{rule}",
            axum::routing::put(update),
        )
        .route(
            "/api/v1/register/sensors/{id}/rules/{rule}/backtest",
            post(backtest),
        )
}
