//! The register of hazard sites kept from the console: create, edit and retire a site
//! (`/api/v1/sites`), import a county's register file and export it
//! (`/api/v1/register/...`), and the list of changes made. Within the caller's scope, each
//! change audited with the site before and after; an edit carries the version it was made on
//! (`If-Match`), and one made on an older version is refused with what changed since.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::register::{
    ChangesQuery, ExportQuery, FieldProblem, ImportDone, ImportQuery, ImportRefused, InvalidFields,
    RegisterChange, RegisteredSite, RowProblem, SiteConflict, SiteInput,
};
use geohazard_audit::Entry;
use geohazard_domain::{AuditAction, OfficerId, Permission, SiteId, catalogue};
use geohazard_register::site_edit::{self, Actor, Outcome};
use geohazard_register::site_file;
use geohazard_register::site_input::{self, FieldError};
use geohazard_register::table_file::{self, Cell, Layout};
use serde_json::json;
use sqlx::{Postgres, Transaction};

use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Body, Id, Params, code};
use crate::state::AppState;

const MAY_NOT_READ: &str = "your role may not read sites";
const MAY_NOT_CHANGE: &str = "your role may not change the register";
/// A county's register file: a few thousand rows of XLSX is well under this.
const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The language of texts in answers: `?lang=`, else `Accept-Language`, else Chinese.
pub(super) fn lang_of(headers: &HeaderMap, asked: Option<&str>) -> &'static str {
    let wanted = asked.map(str::to_owned).or_else(|| {
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    match wanted {
        Some(l) if l.trim_start().to_ascii_lowercase().starts_with("en") => "en",
        _ => "zh-CN",
    }
}

pub(super) fn text(key: &str, lang: &str) -> String {
    catalogue::message(key, lang).unwrap_or(key).to_owned()
}

pub(super) fn etag(version: i32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits in quotes")
}

/// The version an edit was made on, from `If-Match` (`"3"`, `W/"3"`).
fn if_match(headers: &HeaderMap) -> Result<i32, ApiError> {
    version_in(
        headers,
        "send If-Match with the version (ETag) of the site the change was made on",
    )
}

/// The version in `If-Match` (`"3"`, `W/"3"`); 428 with `missing` when there is none.
pub(super) fn version_in(headers: &HeaderMap, missing: &'static str) -> Result<i32, ApiError> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            ApiError::coded(
                StatusCode::PRECONDITION_REQUIRED,
                code::VERSION_REQUIRED,
                missing,
            )
        })
}

pub(super) fn invalid(errors: Vec<FieldError>, lang: &str) -> Response {
    let problems: Vec<FieldProblem> = errors
        .into_iter()
        .map(|e| FieldProblem {
            field: e.field.to_owned(),
            value: e.value,
            reason: e.reason.as_str().to_owned(),
            message: e.reason.text(lang).to_owned(),
        })
        .collect();
    let first = problems
        .first()
        .map(|p| p.field.clone())
        .unwrap_or_default();
    let error = problems
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                text(&format!("register.field.{}", p.field), lang),
                p.message
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(InvalidFields {
            error,
            code: code::INVALID_FIELD.to_owned(),
            field: first,
            problems,
        }),
    )
        .into_response()
}

fn site_answer(status: StatusCode, site: RegisteredSite) -> Response {
    (status, [(header::ETAG, etag(site.version))], Json(site)).into_response()
}

/// The answer to a change: the site (committing `tx`), or why not (rolling it back).
async fn answer(
    tx: Transaction<'_, Postgres>,
    outcome: Outcome,
    ok: StatusCode,
    lang: &str,
) -> Result<Response, ApiError> {
    match outcome {
        Outcome::Done(site) => {
            tx.commit().await?;
            Ok(site_answer(ok, site))
        }
        Outcome::NotFound => Err(ApiError::NotFound),
        Outcome::Invalid(errors) => Ok(invalid(errors, lang)),
        Outcome::Conflict { current, changed } => Ok((
            StatusCode::CONFLICT,
            [(header::ETAG, etag(current.version))],
            Json(SiteConflict {
                error: format!(
                    "the site was changed by someone else (now version {}): {}",
                    current.version,
                    changed.join(", ")
                ),
                code: code::VERSION_CONFLICT.to_owned(),
                current,
                changed: changed.into_iter().map(str::to_owned).collect(),
            }),
        )
            .into_response()),
    }
}

pub(super) fn actor(caller: &Caller, remote: Option<String>, source: Option<String>) -> Actor {
    Actor {
        officer_id: OfficerId(caller.officer.id),
        remote_addr: remote,
        source,
    }
}

/// Adds a site to the register (admins, in their divisions).
#[utoipa::path(post, path = "/api/v1/sites", tag = "register", request_body = SiteInput,
    responses((status = 201, body = RegisteredSite), (status = 403, body = ErrorBody),
               (status = 422, body = InvalidFields)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Body(input): Body<SiteInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let lang = lang_of(&headers, None);
    let rec = match site_input::check(&input, &caller.scope) {
        Ok(rec) => rec,
        Err(errors) => return Ok(invalid(errors, lang)),
    };
    let mut tx = state.pool.begin().await?;
    let outcome =
        site_edit::create(&mut tx, &caller.scope, &actor(&caller, remote, None), &rec).await?;
    answer(tx, outcome, StatusCode::CREATED, lang).await
}

/// A site as the register holds it, with its version as `ETag` (the form an edit starts from).
#[utoipa::path(get, path = "/api/v1/sites/{id}/register", tag = "register",
    params(("id" = i64, Path)),
    responses((status = 200, body = RegisteredSite), (status = 404, body = ErrorBody)))]
pub(super) async fn entry(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<SiteId>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadSites, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    let site = site_edit::get(&mut db, &caller.scope, id, false)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(site_answer(StatusCode::OK, site))
}

/// Replaces a site's fields; `If-Match` names the version the change was made on.
#[utoipa::path(put, path = "/api/v1/sites/{id}", tag = "register",
    params(("id" = i64, Path), ("If-Match" = String, Header)), request_body = SiteInput,
    responses((status = 200, body = RegisteredSite), (status = 404, body = ErrorBody),
               (status = 409, body = SiteConflict), (status = 422, body = InvalidFields),
               (status = 428, body = ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<SiteId>,
    headers: HeaderMap,
    Body(input): Body<SiteInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let lang = lang_of(&headers, None);
    let base = if_match(&headers)?;
    // A site out of scope is answered like an absent one, whatever the body holds.
    if !geohazard_register::sites::in_scope(&state.pool, &caller.scope, id).await? {
        return Err(ApiError::NotFound);
    }
    let rec = match site_input::check(&input, &caller.scope) {
        Ok(rec) => rec,
        Err(errors) => return Ok(invalid(errors, lang)),
    };
    let mut tx = state.pool.begin().await?;
    let outcome = site_edit::update(
        &mut tx,
        &caller.scope,
        &actor(&caller, remote, None),
        id,
        Some(base),
        &rec,
    )
    .await?;
    answer(tx, outcome, StatusCode::OK, lang).await
}

/// Takes a site off the official register (status closed); `If-Match` as for an edit.
#[utoipa::path(post, path = "/api/v1/sites/{id}/retire", tag = "register",
    params(("id" = i64, Path), ("If-Match" = String, Header)),
    responses((status = 200, body = RegisteredSite), (status = 404, body = ErrorBody),
               (status = 409, body = SiteConflict), (status = 428, body = ErrorBody)))]
pub(super) async fn retire(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<SiteId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let lang = lang_of(&headers, None);
    let base = if_match(&headers)?;
    let mut tx = state.pool.begin().await?;
    let outcome = site_edit::retire(
        &mut tx,
        &caller.scope,
        &actor(&caller, remote, None),
        id,
        base,
    )
    .await?;
    answer(tx, outcome, StatusCode::OK, lang).await
}

/// The changes made to the register in the caller's divisions, newest first.
#[utoipa::path(get, path = "/api/v1/register/changes", tag = "register", params(ChangesQuery),
    responses((status = 200, body = Vec<RegisterChange>), (status = 401, body = ErrorBody)))]
pub(super) async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ChangesQuery>,
) -> Result<Json<Vec<RegisterChange>>, ApiError> {
    caller.require(Permission::ReadSites, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    Ok(Json(
        site_edit::changes(&mut db, &caller.scope, q.site, q.limit.unwrap_or(200)).await?,
    ))
}

/// What every import starts with: the caller may change the register; the report's language
/// (`?lang=`, else `Accept-Language`); the file's name as recorded with the changes.
pub(super) struct ImportStart {
    pub lang: &'static str,
    pub filename: Option<String>,
}

impl ImportStart {
    pub fn new(
        caller: &Caller,
        headers: &HeaderMap,
        lang: Option<&str>,
        filename: Option<&str>,
    ) -> Result<Self, ApiError> {
        caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
        Ok(ImportStart {
            lang: lang_of(headers, lang),
            filename: filename.map(|f| f.chars().filter(|c| !c.is_control()).take(200).collect()),
        })
    }

    /// The file as read, or 422 `unreadable_file` saying `message` (a catalogue key).
    pub fn read<T>(&self, read: Option<T>, message: &str) -> Result<T, ApiError> {
        read.ok_or_else(|| {
            ApiError::coded(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::UNREADABLE_FILE,
                text(message, self.lang),
            )
        })
    }

    /// Records the import as a whole (`action`, with `detail` and whether it was a dry run),
    /// then commits `tx`, or rolls it back on a dry run.
    pub async fn finish(
        &self,
        mut tx: Transaction<'_, Postgres>,
        caller: &Caller,
        remote: Option<String>,
        action: AuditAction,
        mut detail: serde_json::Value,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        detail["dry_run"] = json!(dry_run);
        let target = self
            .filename
            .as_ref()
            .map_or_else(|| "file".to_owned(), |f| format!("file:{f}"));
        audit(&mut tx, caller, remote, action, target, None, detail).await?;
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(())
    }
}

pub(super) fn refused(problems: Vec<RowProblem>, lang: &str) -> Response {
    let mut rows: Vec<u32> = problems.iter().map(|p| p.row).collect();
    rows.dedup();
    let error = text("register.import.refused", lang).replace("{n}", &rows.len().to_string());
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(ImportRefused {
            error,
            code: code::IMPORT_REFUSED.to_owned(),
            bad_rows: rows.len(),
            problems,
        }),
    )
        .into_response()
}

/// Imports a county's register (the body: an XLSX or CSV file, one row a site under the usual
/// Chinese headings). Every row is checked first: with any bad row nothing is imported and the
/// answer lists each problem by row and column in the officer's language. A code already in
/// the register updates that site.
#[utoipa::path(post, path = "/api/v1/register/import", tag = "register", params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ImportDone), (status = 422, body = ImportRefused),
               (status = 403, body = ErrorBody)))]
pub(super) async fn import(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Params(q): Params<ImportQuery>,
    file: Bytes,
) -> Result<Response, ApiError> {
    let start = ImportStart::new(&caller, &headers, q.lang.as_deref(), q.filename.as_deref())?;
    let lang = start.lang;
    let table = start.read(site_file::read_table(&file), "register.import.not_a_table")?;
    let mut checked = site_file::check_table(&table, &caller.scope, q.division.as_deref(), lang);
    let mut tx = state.pool.begin().await?;
    site_file::check_codes_in_store(&mut tx, &caller.scope, &mut checked, lang).await?;
    if !checked.problems.is_empty() {
        return Ok(refused(checked.problems, lang));
    }
    let who = actor(&caller, remote.clone(), start.filename.clone());
    let summary = match site_file::apply(&mut tx, &caller.scope, &who, &checked.sites).await? {
        Ok(summary) => summary,
        Err(refusals) => {
            let problems = refusals
                .into_iter()
                .map(|(row, e)| RowProblem {
                    row,
                    column: checked.code_column.clone(),
                    field: e.field,
                    value: e.value,
                    reason: e.reason,
                    message: e.reason.text(lang).to_owned(),
                })
                .collect();
            return Ok(refused(problems, lang));
        }
    };
    start
        .finish(
            tx,
            &caller,
            remote,
            AuditAction::SiteImport,
            json!({"created": summary.created, "updated": summary.updated,
                   "unchanged": summary.unchanged, "rows": checked.sites.len()}),
            q.dry_run,
        )
        .await?;
    Ok(Json(ImportDone {
        summary,
        ignored_columns: checked.ignored_columns,
        dry_run: q.dry_run,
    })
    .into_response())
}

/// The register of the caller's divisions as a file: XLSX (default) or CSV, under the same
/// headings an import reads.
#[utoipa::path(get, path = "/api/v1/register/export", tag = "register", params(ExportQuery),
    responses((status = 200, description = "the register as a file (XLSX or CSV)", body = Vec<u8>,
               content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
               (status = 400, body = ErrorBody)))]
pub(super) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ExportQuery>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadSites, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    let sites = site_edit::all(&mut db, &caller.scope).await?;
    exported(
        q.format.as_deref(),
        "register",
        &caller,
        &site_file::SITES,
        site_file::rows_of(&sites),
    )
}

/// A list of the register as a file to download: XLSX (default) or CSV (`format`), named
/// `<name>-<division>.<ext>`.
pub(super) fn exported(
    format: Option<&str>,
    name: &str,
    caller: &Caller,
    layout: &Layout,
    rows: Vec<Vec<Cell>>,
) -> Result<Response, ApiError> {
    let (bytes, content_type, ext) = match format.unwrap_or("xlsx") {
        "xlsx" => (
            table_file::export_xlsx(layout, rows)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        "csv" => (
            table_file::export_csv(layout, rows)?,
            "text/csv; charset=utf-8",
            "csv",
        ),
        _ => return Err(ApiError::bad_request("format: xlsx or csv")),
    };
    super::lists::attachment(
        content_type,
        &format!("{name}-{}.{ext}", caller.scope.root()),
        bytes,
    )
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sites", post(create))
        .route("/api/v1/sites/{id}", put(update))
        .route("/api/v1/sites/{id}/register", get(entry))
        .route("/api/v1/sites/{id}/retire", post(retire))
        .route("/api/v1/register/changes", get(changes))
        .route(
            "/api/v1/register/import",
            post(import).layer(DefaultBodyLimit::max(MAX_FILE_BYTES)),
        )
        .route("/api/v1/register/export", get(export))
}

/// Writes the audit entry of a change to the register by `caller`, in `db`'s transaction.
pub(super) async fn audit(
    db: &mut sqlx::PgConnection,
    caller: &Caller,
    remote: Option<String>,
    action: AuditAction,
    target: String,
    division: Option<String>,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    geohazard_audit::record(
        db,
        &Entry {
            officer_id: Some(OfficerId(caller.officer.id)),
            action,
            target: Some(target),
            division_code: division.or_else(|| Some(caller.scope.root().to_owned())),
            detail,
            remote_addr: remote,
        },
    )
    .await?;
    Ok(())
}
