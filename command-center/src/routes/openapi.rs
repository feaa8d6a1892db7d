//! `GET /api/v1/openapi.json`: the API described from its code. The handlers here carry their
//! own descriptions (`#[utoipa::path]`); the routes of the modules that serve sessions, the
//! console's extras, the live socket and video are described in `OTHER_ROUTES` below.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use utoipa::OpenApi;
use utoipa::openapi::HttpMethod;
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::response::ResponseBuilder;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "geohazard command-center API",
        description = "地质灾害监测预警指挥中心 API: sites, readings, warnings, devices, audit. Every error answer is JSON `{error, code}`; `code` is stable."
    ),
    paths(
        super::sites::list,
        super::sites::detail,
        super::readings::list,
        super::warnings::list,
        super::warnings::detail,
        super::warnings::acknowledge,
        super::gateways::list,
        super::health::get_health,
        super::audit::list,
        super::incidents::list,
        super::incidents::detail,
        super::incidents::open,
        super::incidents::open_from_report,
        super::incidents::status,
        super::incidents::assess,
        super::incidents::teams,
        super::incidents::create_team,
        super::incidents::nearest,
        super::incidents::create_task,
        super::incidents::tasks,
        super::incidents::task,
        super::incidents::task_status,
        super::incidents::position,
        super::plans::get_plan,
        super::plans::put_plan,
        super::plans::card,
        super::register::create,
        super::register::entry,
        super::register::update,
        super::register::retire,
        super::register::changes,
        super::register::import,
        super::register::export,
        super::register_lists::import,
        super::register_lists::export,
        super::supervision::figures,
        super::supervision::reports,
        super::supervision::report,
        super::supervision::xlsx,
        super::supervision::page,
        super::supervision::pdf,
        super::gateway_keys::list,
        super::gateway_keys::register,
        super::gateway_keys::issue,
        super::gateway_keys::revoke,
        super::people::list,
        super::people::create,
        super::people::update,
        super::people::site_people,
        super::people::set_site_people,
        super::people::roster,
        super::people::add_to_roster,
        super::people::remove_from_roster,
        super::officers::list,
        super::officers::create,
        super::officers::update,
        super::officers::reset_password,
        super::divisions::import,
        super::divisions::rename,
        super::attachments::list,
        super::attachments::upload,
        super::attachments::download,
        super::attachments::remove,
        super::sensors::list,
        super::sensors::create,
        super::sensors::update,
        super::rules::view,
        super::rules::update,
        super::rules::backtest,
        super::lists::warnings,
        super::lists::sites,
        super::field::create_report,
        super::field::reports,
        super::field::photo,
        super::field::schedules,
        super::field::put_schedule,
        super::field::create_patrol,
        super::field::coverage,
        super::forecast::list,
        super::forecast::detail,
        super::forecast::import,
        super::forecast::run,
        super::forecast::adjust,
        super::forecast::submit,
        super::forecast::approve,
        super::forecast::revise,
        super::forecast::withdraw,
        super::forecast::discard,
        super::forecast::verification,
        super::forecast::site_publication,
        super::forecast::site_publish,
        super::forecast::site_withdraw,
        openapi_json,
    ),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// Routes served by modules that do not describe themselves: (method, path, tag, summary).
const OTHER_ROUTES: &[(HttpMethod, &str, &str, &str)] = &[
    (
        HttpMethod::Get,
        "/api/v1/consult/rooms",
        "consult",
        "The consultation rooms the caller may enter",
    ),
    (
        HttpMethod::Post,
        "/api/v1/consult/rooms",
        "consult",
        "Open a room: {title, incident_id?, invited_divisions?, invited_officers?}",
    ),
    (
        HttpMethod::Get,
        "/api/v1/consult/rooms/{id}",
        "consult",
        "A room, its whole log and who is present",
    ),
    (
        HttpMethod::Post,
        "/api/v1/consult/rooms/{id}/close",
        "consult",
        "Close a room (its media room is destroyed)",
    ),
    (
        HttpMethod::Get,
        "/api/v1/consult/rooms/{id}/minutes",
        "consult",
        "The room's minutes as a printable page",
    ),
    (
        HttpMethod::Get,
        "/api/v1/consult/decisions",
        "consult",
        "?incident_id=: decisions of an incident's rooms, for its timeline",
    ),
    (
        HttpMethod::Get,
        "/api/v1/consult/rooms/{id}/socket",
        "consult",
        "WebSocket: chat, annotations, postings, decisions, presence, media signalling",
    ),
    (
        HttpMethod::Get,
        "/api/v1/approvals",
        "approvals",
        "The caller's approval queue: counts and the requests of a box (to_act, mine, all)",
    ),
    (
        HttpMethod::Post,
        "/api/v1/approvals",
        "approvals",
        "File an approval request: {kind, title, form, attachments}; with an Idempotency-Key a retry gets the first answer",
    ),
    (
        HttpMethod::Get,
        "/api/v1/approvals/workflows",
        "approvals",
        "The approval workflows, as data",
    ),
    (
        HttpMethod::Get,
        "/api/v1/approvals/register-pending",
        "approvals",
        "Open requests to register or retire sites (shown as pending in the register)",
    ),
    (
        HttpMethod::Get,
        "/api/v1/approvals/{id}",
        "approvals",
        "One approval request with its steps and full history",
    ),
    (
        HttpMethod::Post,
        "/api/v1/approvals/{id}/actions",
        "approvals",
        "Act on a request: {action: approve|reject|return|comment|withdraw|resubmit, step, comment}",
    ),
    (
        HttpMethod::Post,
        "/api/v1/login",
        "session",
        "Sign in: {username, password} → {token, expires_at, officer}",
    ),
    (
        HttpMethod::Post,
        "/api/v1/logout",
        "session",
        "End the session the request was made with",
    ),
    (
        HttpMethod::Get,
        "/api/v1/me",
        "session",
        "The signed-in officer",
    ),
    (
        HttpMethod::Get,
        "/api/v1/console",
        "console",
        "The console's settings (base-map tiles)",
    ),
    (
        HttpMethod::Get,
        "/api/v1/divisions",
        "console",
        "The divisions in scope with their boundaries",
    ),
    (
        HttpMethod::Get,
        "/api/v1/sensors/{id}/thresholds",
        "readings",
        "The threshold lines of a sensor's chart",
    ),
    (
        HttpMethod::Get,
        "/api/v1/live",
        "live",
        "WebSocket: the feeds the client names (?feeds=warnings,incidents,deliveries,field_reports,patrols,readings,notifications; all when absent) of the divisions in scope",
    ),
    (
        HttpMethod::Get,
        "/api/v1/sites/{id}/cameras",
        "video",
        "A site's cameras",
    ),
    (
        HttpMethod::Get,
        "/api/v1/frames/{id}",
        "video",
        "One stored camera frame (JPEG)",
    ),
    (
        HttpMethod::Get,
        "/api/v1/cameras/{gateway}/{camera}/latest",
        "video",
        "A camera's latest frame (JPEG)",
    ),
    (
        HttpMethod::Get,
        "/api/v1/cameras/{gateway}/{camera}/frames",
        "video",
        "A camera's stored frames",
    ),
    (
        HttpMethod::Get,
        "/api/v1/cameras/{gateway}/{camera}/live",
        "video",
        "A camera's live view",
    ),
    (
        HttpMethod::Get,
        "/api/v1/consult/rooms/{room}/cameras/{gateway}/{camera}/live",
        "consult",
        "A site camera brought into a consultation room, watched by anyone in the room",
    ),
    (
        HttpMethod::Get,
        "/api/v1/messages",
        "console",
        "The message catalogue: every text of the console and the server in zh-CN and English",
    ),
    (
        HttpMethod::Post,
        "/api/v1/sms/receipts/{provider}",
        "notifications",
        "An SMS provider's delivery receipts, the body signed with the shared secret",
    ),
];

/// The API's OpenAPI document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        for (method, path, tag, summary) in OTHER_ROUTES {
            let operation = OperationBuilder::new()
                .summary(Some(*summary))
                .tag(*tag)
                .response("200", ResponseBuilder::new().description("OK"))
                .response(
                    "default",
                    ResponseBuilder::new().description("An error: JSON `{error, code}`"),
                );
            doc.paths
                .add_path_operation(*path, vec![method.clone()], operation);
        }
        doc
    })
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(super) async fn openapi_json() -> Response {
    Json(document()).into_response()
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(openapi_json))
}
