//! `POST /api/v1/sms/receipts/{provider}`: an SMS provider's delivery receipts. Not an officer's
//! request: the provider signs the body with a secret shared with it (HMAC-SHA256 in the
//! `X-Geohazard-Signature` header, `sha256=<hex>`), and a body whose signature does not verify
//! is refused (401) and stores nothing. The body is one receipt or an array of them:
//! `{"message_id": "...", "delivered": true, "status": "DELIVRD", "reported_at": "RFC 3339"}`.
//! Without a configured secret the endpoint does not exist (404).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Extension, Json, Router};
use geohazard_notify::receipts::{self, Receipt, SIGNATURE_HEADER};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// The `[command_center.sms_receipts]` settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReceiptSettings {
    /// The secret shared with the SMS provider for signing its receipt callbacks; unset, the
    /// endpoint is off.
    pub secret: Option<String>,
}

async fn receive(
    Extension(settings): Extension<Arc<ReceiptSettings>>,
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Some(secret) = settings.secret.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::NotFound);
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !receipts::verify(secret.as_bytes(), &body, signature) {
        tracing::warn!(%provider, "an SMS receipt callback with a bad or missing signature: refused");
        return Err(ApiError::Status(
            StatusCode::UNAUTHORIZED,
            format!("the body's signature ({SIGNATURE_HEADER}) does not verify"),
        ));
    }
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => items,
        one => vec![one],
    };
    let mut parsed = Vec::with_capacity(items.len());
    for (i, raw) in items.into_iter().enumerate() {
        let r: Receipt = serde_json::from_value(raw.clone())
            .map_err(|e| ApiError::bad_request(format!("receipt {i}: {e}")))?;
        parsed.push((r, raw));
    }
    let mut matched = 0;
    for (r, raw) in &parsed {
        let id = geohazard_notify::record_receipt(
            &state.pool,
            &provider,
            &r.message_id,
            r.delivered,
            &r.status,
            r.reported_at,
            Some(raw.clone()),
        )
        .await?;
        matched += usize::from(id.is_some());
    }
    Ok(Json(json!({"received": parsed.len(), "matched": matched})))
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/sms/receipts/{provider}", post(receive))
}
