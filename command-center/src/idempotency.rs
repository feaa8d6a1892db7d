//! `Idempotency-Key` on POSTs that create or change something: field phones retry on bad
//! links, and a retry must be answered like the first request without doing it twice. The key
//! is claimed in the action's own transaction (`geohazard_store::idempotency`), so two
//! duplicates sent at once are done once: the second waits on the key, then gets the answer.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use geohazard_store::idempotency::{self, Claim};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::error::{ApiError, Body, code};

pub const HEADER: &str = "idempotency-key";
/// Set on an answer that repeats a stored one.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The request's `Idempotency-Key`, if it sent one: 1 to 200 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(HEADER) else {
            return Ok(IdempotencyKey(None));
        };
        let key = value.to_str().ok().filter(|k| {
            (1..=200).contains(&k.len()) && k.bytes().all(|b| (b'!'..=b'~').contains(&b))
        });
        match key {
            Some(key) => Ok(IdempotencyKey(Some(key.to_owned()))),
            None => Err(ApiError::coded(
                StatusCode::BAD_REQUEST,
                code::IDEMPOTENCY_KEY_INVALID,
                "an Idempotency-Key is 1 to 200 visible ASCII characters",
            )),
        }
    }
}

/// A request as a key remembers it: its method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &serde_json::Value) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body.to_string().as_bytes());
    h.finalize().to_vec()
}

/// A change's request, `method path` with the JSON body `raw`: its fingerprint, and the body
/// read as `T`.
pub fn read<T: DeserializeOwned>(
    method: &str,
    path: &str,
    raw: serde_json::Value,
) -> Result<(Vec<u8>, T), ApiError> {
    let fingerprint = fingerprint(method, path, &raw);
    let Body(body) = Body::<T>::from_value(raw)?;
    Ok((fingerprint, body))
}

/// An idempotent action under way in `tx`.
pub struct Claimed<'k> {
    officer: i64,
    key: Option<&'k str>,
}

/// Claims the key in `tx` before the action. `Err(answer)`: answer that instead (the stored
/// answer of the same request, or a refusal when the key was used with another request).
pub async fn claim<'k>(
    tx: &mut PgConnection,
    officer: i64,
    key: &'k IdempotencyKey,
    fingerprint: &[u8],
) -> Result<Result<Claimed<'k>, Response>, ApiError> {
    let Some(key) = key.0.as_deref() else {
        return Ok(Ok(Claimed { officer, key: None }));
    };
    Ok(
        match idempotency::claim(tx, officer, key, fingerprint).await? {
            Claim::Fresh => Ok(Claimed {
                officer,
                key: Some(key),
            }),
            Claim::Done { status, answer } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                Err((status, [(REPLAYED, "true")], Json(answer)).into_response())
            }
            Claim::Mismatch => Err(ApiError::coded(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::IDEMPOTENCY_KEY_REUSED,
                "this Idempotency-Key was used with another request",
            )
            .into_response()),
        },
    )
}

impl Claimed<'_> {
    /// Keeps the action's answer with its key, in `tx` (nothing without a key).
    pub async fn complete<T: Serialize>(
        &self,
        tx: &mut PgConnection,
        status: StatusCode,
        answer: &T,
    ) -> Result<(), ApiError> {
        if let Some(key) = self.key {
            let answer = serde_json::to_value(answer).map_err(anyhow::Error::from)?;
            idempotency::complete(tx, self.officer, key, status.as_u16(), &answer).await?;
        }
        Ok(())
    }
}
