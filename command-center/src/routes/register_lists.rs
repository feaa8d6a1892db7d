//! The register's people, gateways and sensors as files (`/api/v1/register/{people,gateways,
//! sensors}/import` and `.../export`), like the register of sites: an XLSX or CSV file under
//! the usual Chinese headings, every row checked and applied in one transaction through the
//! same code as a change from the console; with any bad row nothing is imported and the answer
//! lists each problem by row and column in the officer's language. A row naming an entry
//! already in scope updates it. Each change audited with before and after, and the import as
//! a whole.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::register::{ExportQuery, ImportDone, ImportQuery, ImportRefused};
use geohazard_domain::{AuditAction, Permission};
use geohazard_register::list_file::{self, List};
use serde_json::json;

use super::register::{ImportStart, audit, exported, refused};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{self, ApiError, Params};
use crate::state::AppState;

/// People, gateways or sensors of a county: a few thousand rows of XLSX is well under this.
const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The list a request's route names: `/api/v1/register/<list>/import` or `.../export`.
///
/// The routes are the lists' own paths, not one `/api/v1/register/{list}/...` route: that one
/// would lose `/api/v1/register/people/import` to `/api/v1/register/people/{id}` (a static
/// segment wins, and that route has no POST). So an unknown list is the router's 404.
pub(super) struct ListOfRoute(List);

impl<S: Send + Sync> FromRequestParts<S> for ListOfRoute {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let route = MatchedPath::from_request_parts(parts, state).await.ok();
        route
            .as_ref()
            .and_then(|r| r.as_str().strip_prefix("/api/v1/register/"))
            .and_then(|rest| rest.split('/').next())
            .and_then(|name| name.parse().ok())
            .map(ListOfRoute)
            .ok_or_else(|| {
                ApiError::coded(
                    StatusCode::NOT_FOUND,
                    error::code::NO_SUCH_ROUTE,
                    "not found",
                )
            })
    }
}

/// Imports a list: people (姓名, 联系电话, 行政区划代码; a person already in scope with the phone,
/// else the name and division, is updated), gateways (网关编号, 名称, 隐患点编号; a known code in
/// scope is updated) or sensors (隐患点编号, 网关编号, 测点（通道）, 传感器类型, 单位, 采样间隔(秒),
/// 经度, 纬度, 高程(m), 埋深(m), 启用; a known gateway and point in scope is updated).
#[utoipa::path(post, path = "/api/v1/register/{list}/import", tag = "register",
    params(("list" = inline(List), Path), ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ImportDone), (status = 422, body = ImportRefused),
               (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn import(
    ListOfRoute(list): ListOfRoute,
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Params(q): Params<ImportQuery>,
    file: Bytes,
) -> Result<Response, ApiError> {
    let start = ImportStart::new(&caller, &headers, q.lang.as_deref(), q.filename.as_deref())?;
    let table = start.read(list.layout().read(&file), "register.import.not_a_table")?;
    let mut tx = state.pool.begin().await?;
    let imported = list_file::import(
        &mut tx,
        &caller.scope,
        list,
        &table,
        q.division.as_deref(),
        start.lang,
    )
    .await?;
    if !imported.problems.is_empty() {
        // Nothing of the file stays: the transaction is dropped, rolled back.
        return Ok(refused(imported.problems, start.lang));
    }
    for change in imported.changes {
        audit(
            &mut tx,
            &caller,
            remote.clone(),
            change.action,
            change.target,
            change.division_code,
            json!({"before": change.before, "after": change.after,
                   "source": start.filename}),
        )
        .await?;
    }
    let summary = imported.summary;
    start
        .finish(
            tx,
            &caller,
            remote,
            AuditAction::RegisterImport,
            json!({"list": list.as_str(), "created": summary.created,
                   "updated": summary.updated, "unchanged": summary.unchanged,
                   "rows": imported.rows}),
            q.dry_run,
        )
        .await?;
    Ok(Json(ImportDone {
        summary,
        ignored_columns: imported.ignored_columns,
        dry_run: q.dry_run,
    })
    .into_response())
}

/// The people, gateways or sensors of the caller's divisions as a file: XLSX (default) or CSV.
#[utoipa::path(get, path = "/api/v1/register/{list}/export", tag = "register",
    params(("list" = inline(List), Path), ExportQuery),
    responses((status = 200, description = "the list as a file (XLSX or CSV)", body = Vec<u8>,
               content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
               (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn export(
    ListOfRoute(list): ListOfRoute,
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ExportQuery>,
) -> Result<Response, ApiError> {
    let (permission, refusal) = match list {
        List::People => (Permission::ReadSites, "your role may not read sites"),
        List::Gateways | List::Sensors => {
            (Permission::ReadDevices, "your role may not read devices")
        }
    };
    caller.require(permission, refusal)?;
    let mut db = state.pool.acquire().await?;
    let rows = list_file::export(&mut db, &caller.scope, list).await?;
    exported(
        q.format.as_deref(),
        list.as_str(),
        &caller,
        list.layout(),
        rows,
    )
}

pub(super) fn routes() -> Router<AppState> {
    let limit = || DefaultBodyLimit::max(MAX_FILE_BYTES);
    Router::new()
        .route(
            "/api/v1/register/people/import",
            post(import).layer(limit()),
        )
        .route(
            "/api/v1/register/gateways/import",
            post(import).layer(limit()),
        )
        .route(
            "/api/v1/register/sensors/import",
            post(import).layer(limit()),
        )
        .route("/api/v1/register/people/export", get(export))
        .route("/api/v1/register/gateways/export", get(export))
        .route("/api/v1/register/sensors/export", get(export))
}
