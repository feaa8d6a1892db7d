//! Extractors whose rejections are answered like every other error (`geohazard_api::ApiError`:
//! JSON with a stable `code`).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

pub use geohazard_api::{ApiError, code};

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

/// A JSON request body; a malformed or oversized one is answered in JSON.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        Body::from_value(value)
    }
}

impl<T: DeserializeOwned> Body<T> {
    /// The body from JSON already read (the idempotency layer reads it first).
    pub fn from_value(value: serde_json::Value) -> Result<Body<T>, ApiError> {
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
pub struct Id<T = i64>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Id(p.0))
            .map_err(|e: PathRejection| ApiError::Status(e.status(), e.body_text()))
    }
}
