//! Divisions kept from the console (`/api/v1/divisions/...`): a GeoJSON FeatureCollection of
//! codes, names and boundaries imported (each feature checked first; nothing stored while any
//! is bad, the report naming feature, field, value and reason in the officer's language; a
//! known code updated), and a division's name edited. Admins only, within their own division
//! and those below it; every change audited with before and after.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::register::{
    DivisionNameInput, DivisionRecord, DivisionsDone, DivisionsImportQuery, DivisionsRefused,
    FeatureProblem,
};
use geohazard_domain::{AuditAction, Permission};
use geohazard_register::divisions;
use geohazard_register::site_input::{FieldError, checked_text};
use serde_json::json;

use super::register::{ImportStart, actor, invalid, lang_of, text};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Body, Id, Params, code};
use crate::state::AppState;

const MAY_NOT_CHANGE: &str = "your role may not change the register";
/// A county's townships at survey detail stay well under this.
const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

fn refused(problems: Vec<FeatureProblem>, lang: &str) -> Response {
    let mut features: Vec<u32> = problems.iter().map(|p| p.feature).collect();
    features.dedup();
    let error = text("divisions.import.refused", lang).replace("{n}", &features.len().to_string());
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(DivisionsRefused {
            error,
            code: code::IMPORT_REFUSED.to_owned(),
            bad_features: features.len(),
            problems,
        }),
    )
        .into_response()
}

/// Imports divisions from a GeoJSON FeatureCollection (the body): each feature a Polygon or
/// MultiPolygon (or no geometry, keeping a known division's boundary) with its GB/T 2260 code
/// (`code`, `adcode`) and name (`name`); level and parent follow from the code (a `parent`
/// given must agree). With any bad feature nothing is imported.
#[utoipa::path(post, path = "/api/v1/divisions/import", tag = "register",
    params(DivisionsImportQuery),
    request_body(content = Object, content_type = "application/geo+json"),
    responses((status = 200, body = DivisionsDone), (status = 422, body = DivisionsRefused),
               (status = 403, body = ErrorBody)))]
pub(super) async fn import(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Params(q): Params<DivisionsImportQuery>,
    file: Bytes,
) -> Result<Response, ApiError> {
    let start = ImportStart::new(&caller, &headers, q.lang.as_deref(), q.filename.as_deref())?;
    let lang = start.lang;
    let features = start.read(divisions::features(&file), "divisions.import.not_geojson")?;
    let mut tx = state.pool.begin().await?;
    let known =
        divisions::known(&mut tx, &caller.scope, &divisions::codes_named(&features)).await?;
    let checked = divisions::check(&features, &known, lang);
    if !checked.problems.is_empty() {
        return Ok(refused(checked.problems, lang));
    }
    let who = actor(&caller, remote.clone(), start.filename.clone());
    let summary = divisions::apply(&mut tx, &who, &checked.divisions).await?;
    start
        .finish(
            tx,
            &caller,
            remote,
            AuditAction::DivisionImport,
            json!({"created": summary.created, "updated": summary.updated,
                   "unchanged": summary.unchanged, "features": features.len()}),
            q.dry_run,
        )
        .await?;
    Ok(Json(DivisionsDone {
        summary,
        dry_run: q.dry_run,
    })
    .into_response())
}

/// Gives a division in the caller's scope a new name (1 to 100 characters).
#[utoipa::path(put, path = "/api/v1/divisions/{code}", tag = "register",
    params(("code" = String, Path)), request_body = DivisionNameInput,
    responses((status = 200, body = DivisionRecord), (status = 404, body = ErrorBody),
               (status = 422, body = geohazard_api::register::InvalidFields)))]
pub(super) async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Id(division): Id<String>,
    Body(input): Body<DivisionNameInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let lang = lang_of(&headers, None);
    if !caller.scope.contains(&division) {
        return Err(ApiError::NotFound);
    }
    let mut errors: Vec<FieldError> = Vec::new();
    let Some(name) = checked_text(&mut errors, "name", Some(&input.name), 100, true) else {
        return Ok(invalid(errors, lang));
    };
    let mut tx = state.pool.begin().await?;
    let who = actor(&caller, remote, None);
    let after = divisions::rename(&mut tx, &caller.scope, &who, &division, &name)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(after).into_response())
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/divisions/import",
            post(import).layer(DefaultBodyLimit::max(MAX_FILE_BYTES)),
        )
        .route("/api/v1/divisions/{code}", put(rename))
}
