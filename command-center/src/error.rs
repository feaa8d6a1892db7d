//! Errors as JSON `{"error": "..."}` with their status code, and extractors whose rejections
//! take the same form.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a handler answers when it cannot do what was asked.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request itself is wrong.
    BadRequest(String),
    /// 401: no valid session (or a failed sign-in). Always a generic message.
    Unauthorized,
    /// 403: signed in, in scope, but the role may not do this.
    Forbidden(&'static str),
    /// 404: absent, or outside the officer's divisions (the two are not told apart).
    NotFound,
    /// 409: the object is not in a state that allows this.
    Conflict(String),
    /// Any other status with its message (extractor rejections such as 413, 415).
    Status(StatusCode, String),
    /// 429 or 503: refused for now; `Retry-After` says in how many seconds to try again.
    RetryLater {
        status: StatusCode,
        message: String,
        retry_after_s: u64,
    },
    /// 500: logged with its cause; the client learns nothing more.
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::BadRequest(msg.into())
    }
}

/// The body of every error answer.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

fn error_body(message: &str) -> Json<ErrorBody<'_>> {
    Json(ErrorBody { error: message })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    error_body("not signed in, or the session has ended"),
                )
                    .into_response();
            }
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m.to_owned()),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not found".to_owned()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::Status(s, m) => (s, m),
            ApiError::RetryLater {
                status,
                message,
                retry_after_s,
            } => {
                let retry_after = retry_after_s.max(1).to_string();
                return (
                    status,
                    [(header::RETRY_AFTER, retry_after)],
                    error_body(&message),
                )
                    .into_response();
            }
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        };
        (status, error_body(&message)).into_response()
    }
}

/// PostgreSQL cannot store a NUL character in text: refuse it as a bad request instead of
/// letting the query fail.
const NUL_REFUSED: &str = "a NUL character is not allowed";

fn has_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        ApiError::Internal(e.into())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::Internal(e)
    }
}

/// A JSON request body; a malformed or oversized one is answered in JSON.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        if has_nul(&value) {
            return Err(ApiError::bad_request(NUL_REFUSED));
        }
        serde_json::from_value(value).map(Body).map_err(|e| {
            ApiError::Status(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Failed to deserialize the JSON body into the target type: {e}"),
            )
        })
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    ApiError::Status(e.status(), e.body_text())
}

/// Query parameters; bad ones are a JSON 400.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::bad_request(NUL_REFUSED));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e: QueryRejection| ApiError::Status(e.status(), e.body_text()))
    }
}

/// An id in the path; a malformed one is a JSON 400.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|p| Id(p.0))
            .map_err(|e: PathRejection| ApiError::Status(e.status(), e.body_text()))
    }
}
