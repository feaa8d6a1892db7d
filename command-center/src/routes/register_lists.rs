//! The register's people, gateways and sensors as files (`/api/v1/register/{people,gateways,
//! sensors}/import` and `.../export`), like the register of sites: an XLSX or CSV file under
//! the usual Chinese headings, every row checked and applied in one transaction through the
//! same code as a change from the console; with any bad row nothing is imported and the answer
//! lists each problem by row and column in the officer's language. A row naming an entry
//! already in scope updates it. Each change audited with before and after, and the import as
//! a whole.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
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
use crate::error::{ApiError, Params};
use crate::state::AppState;

/// People, gateways or sensors of a county: a few thousand rows of XLSX is well under this.
const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

async fn import(
    list: List,
    state: AppState,
    caller: Caller,
    remote: Option<String>,
    headers: HeaderMap,
    q: ImportQuery,
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

async fn export(
    list: List,
    state: AppState,
    caller: Caller,
    q: ExportQuery,
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

/// Imports people (姓名, 联系电话, 行政区划代码); a person already in scope with the phone (else
/// the name and division) is updated.
#[utoipa::path(post, path = "/api/v1/register/people/import", tag = "register",
    params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ImportDone), (status = 422, body = ImportRefused),
               (status = 403, body = ErrorBody)))]
pub(super) async fn import_people(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Params(q): Params<ImportQuery>,
    file: Bytes,
) -> Result<Response, ApiError> {
    import(List::People, state, caller, remote, headers, q, file).await
}

/// Imports gateways (网关编号, 名称, 隐患点编号); a known code in scope is updated.
#[utoipa::path(post, path = "/api/v1/register/gateways/import", tag = "register",
    params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ImportDone), (status = 422, body = ImportRefused),
               (status = 403, body = ErrorBody)))]
pub(super) async fn import_gateways(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Params(q): Params<ImportQuery>,
    file: Bytes,
) -> Result<Response, ApiError> {
    import(List::Gateways, state, caller, remote, headers, q, file).await
}

/// Imports sensors (隐患点编号, 网关编号, 测点（通道）, 传感器类型, 单位, 采样间隔(秒), 经度, 纬度,
/// 高程(m), 埋深(m), 启用); a known gateway and point in scope is updated.
#[utoipa::path(post, path = "/api/v1/register/sensors/import", tag = "register",
    params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ImportDone), (status = 422, body = ImportRefused),
               (status = 403, body = ErrorBody)))]
pub(super) async fn import_sensors(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Params(q): Params<ImportQuery>,
    file: Bytes,
) -> Result<Response, ApiError> {
    import(List::Sensors, state, caller, remote, headers, q, file).await
}

/// The people of the caller's divisions as a file: XLSX (default) or CSV.
#[utoipa::path(get, path = "/api/v1/register/people/export", tag = "register",
    params(ExportQuery),
    responses((status = 200, description = "the people as a file (XLSX or CSV)", body = Vec<u8>,
               content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
               (status = 400, body = ErrorBody)))]
pub(super) async fn export_people(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ExportQuery>,
) -> Result<Response, ApiError> {
    export(List::People, state, caller, q).await
}

/// The gateways of the caller's divisions as a file: XLSX (default) or CSV.
#[utoipa::path(get, path = "/api/v1/register/gateways/export", tag = "register",
    params(ExportQuery),
    responses((status = 200, description = "the gateways as a file (XLSX or CSV)", body = Vec<u8>,
               content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
               (status = 400, body = ErrorBody)))]
pub(super) async fn export_gateways(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ExportQuery>,
) -> Result<Response, ApiError> {
    export(List::Gateways, state, caller, q).await
}

/// The sensors of the caller's divisions as a file: XLSX (default) or CSV.
#[utoipa::path(get, path = "/api/v1/register/sensors/export", tag = "register",
    params(ExportQuery),
    responses((status = 200, description = "the sensors as a file (XLSX or CSV)", body = Vec<u8>,
               content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
               (status = 400, body = ErrorBody)))]
pub(super) async fn export_sensors(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ExportQuery>,
) -> Result<Response, ApiError> {
    export(List::Sensors, state, caller, q).await
}

pub(super) fn routes() -> Router<AppState> {
    let limit = || DefaultBodyLimit::max(MAX_FILE_BYTES);
    Router::new()
        .route(
            "/api/v1/register/people/import",
            post(import_people).layer(limit()),
        )
        .route(
            "/api/v1/register/gateways/import",
            post(import_gateways).layer(limit()),
        )
        .route(
            "/api/v1/register/sensors/import",
            post(import_sensors).layer(limit()),
        )
        .route("/api/v1/register/people/export", get(export_people))
        .route("/api/v1/register/gateways/export", get(export_gateways))
        .route("/api/v1/register/sensors/export", get(export_sensors))
}
