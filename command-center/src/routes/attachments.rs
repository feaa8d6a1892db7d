//! A site's photos and documents (`/api/v1/sites/{id}/attachments`,
//! `/api/v1/site-attachments/{id}`): uploaded as the request body and checked by content and
//! size (JPEG, PNG, PDF, DOCX, XLSX; the name's extension must say the same type), listed,
//! downloaded and deleted within the caller's scope; uploads and deletions audited.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use geohazard_api::ErrorBody;
use geohazard_api::register::{Attachment, AttachmentQuery};
use geohazard_domain::{Permission, SiteId};
use geohazard_register::attachments::{self, MAX_BYTES, Refused};

use super::register::{lang_of, text};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Id, Params, code};
use crate::state::AppState;

const MAY_NOT_READ: &str = "your role may not read sites";
const MAY_NOT_CHANGE: &str = "your role may not change the register";

fn refusal(why: Refused, lang: &str) -> ApiError {
    match why {
        Refused::TooLarge(_) => ApiError::coded(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::PAYLOAD_TOO_LARGE,
            text("attachments.refused.size", lang)
                .replace("{mb}", &(MAX_BYTES / 1024 / 1024).to_string()),
        ),
        Refused::Type => ApiError::coded(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            text("attachments.refused.type", lang),
        ),
        Refused::TooMany => ApiError::coded(
            StatusCode::CONFLICT,
            code::CONFLICT,
            format!("a site holds at most {} files", attachments::MAX_PER_SITE),
        ),
    }
}

/// The photos and documents of a site in scope, oldest first.
#[utoipa::path(get, path = "/api/v1/sites/{id}/attachments", tag = "register",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Attachment>), (status = 404, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Id(site): Id<SiteId>,
) -> Result<Json<Vec<Attachment>>, ApiError> {
    caller.require(Permission::ReadSites, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    Ok(Json(
        attachments::list(&mut db, &caller.scope, site)
            .await?
            .ok_or(ApiError::NotFound)?,
    ))
}

/// Attaches a photo or document (the body) to a site in scope.
#[utoipa::path(post, path = "/api/v1/sites/{id}/attachments", tag = "register",
    params(("id" = i64, Path), AttachmentQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Attachment), (status = 404, body = ErrorBody),
               (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    headers: HeaderMap,
    Id(site): Id<SiteId>,
    Params(q): Params<AttachmentQuery>,
    file: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let lang = lang_of(&headers, q.lang.as_deref());
    let checked = attachments::check(&q.filename, &file).map_err(|why| refusal(why, lang))?;
    let actor = caller.actor(remote, None);
    let mut tx = state.pool.begin().await?;
    let added = attachments::add(&mut tx, &caller.scope, &actor, site, &checked, &file)
        .await?
        .ok_or(ApiError::NotFound)?
        .map_err(|why| refusal(why, lang))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

/// A site's file, downloaded under its name as the type it was checked to be.
#[utoipa::path(get, path = "/api/v1/site-attachments/{id}", tag = "register",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
              (status = 404, body = ErrorBody)))]
pub(super) async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadSites, MAY_NOT_READ)?;
    let mut db = state.pool.acquire().await?;
    let (filename, content_type, bytes) = attachments::content(&mut db, &caller.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(super::files::stored(&content_type, bytes, Some(&filename)))
}

/// Removes a site's file.
#[utoipa::path(delete, path = "/api/v1/site-attachments/{id}", tag = "register",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(super) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageRegister, MAY_NOT_CHANGE)?;
    let actor = caller.actor(remote, None);
    let mut tx = state.pool.begin().await?;
    if !attachments::remove(&mut tx, &caller.scope, &actor, id).await? {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/sites/{id}/attachments",
            get(list)
                .post(upload)
                .layer(DefaultBodyLimit::max(MAX_BYTES + 64 * 1024)),
        )
        .route(
            "/api/v1/site-attachments/{id}",
            get(download).merge(delete(remove)),
        )
}
