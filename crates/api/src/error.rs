//! Errors as JSON `{"error": "...", "code": "..."}` with their status code. The message is for
//! people and may change; the code is for programs and does not.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The stable codes of error answers.
pub mod code {
    pub const BAD_REQUEST: &str = "bad_request";
    /// The body is JSON but not what the route takes.
    pub const INVALID_BODY: &str = "invalid_body";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const FORBIDDEN: &str = "forbidden";
    pub const NOT_FOUND: &str = "not_found";
    /// No route has this path.
    pub const NO_SUCH_ROUTE: &str = "no_such_route";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const CONFLICT: &str = "conflict";
    /// Only an open warning can be acknowledged.
    pub const WARNING_NOT_OPEN: &str = "warning_not_open";
    /// A consultation room that is closed takes nothing more.
    pub const CONSULT_ROOM_CLOSED: &str = "consult_room_closed";
    /// An approval's form or action names a field that is wrong (`error` names the field).
    pub const INVALID_FORM: &str = "invalid_form";
    /// Someone acted on this approval step first.
    pub const APPROVAL_STEP_TAKEN: &str = "approval_step_taken";
    /// The approval's state, or the caller's part in it, does not allow this action.
    pub const APPROVAL_REFUSED: &str = "approval_refused";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    /// Refused for now; `Retry-After` says when to try again.
    pub const BUSY: &str = "busy";
    pub const INTERNAL: &str = "internal";
    /// An `Idempotency-Key` that is not 1 to 200 visible ASCII characters.
    pub const IDEMPOTENCY_KEY_INVALID: &str = "idempotency_key_invalid";
    /// The same `Idempotency-Key` was sent before with another request.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    /// The first request with this `Idempotency-Key` is still being answered.
    pub const IDEMPOTENCY_KEY_IN_FLIGHT: &str = "idempotency_key_in_flight";
    /// A field of a register entry refused; the answer names it (`field`, `problems`).
    pub const INVALID_FIELD: &str = "invalid_field";
    /// The entry changed since the version the change was made on (`current`, `changed`).
    pub const VERSION_CONFLICT: &str = "version_conflict";
    /// A change to a register entry needs `If-Match` with the version it was made on.
    pub const VERSION_REQUIRED: &str = "version_required";
    /// A register file with bad rows: nothing imported (`problems`, one per bad cell).
    pub const IMPORT_REFUSED: &str = "import_refused";
    /// The body is not a register file (XLSX or CSV with known headings).
    pub const UNREADABLE_FILE: &str = "unreadable_file";
    /// Any other status.
    /// An incident's status change its state machine does not allow.
    pub const INCIDENT_TRANSITION_REFUSED: &str = "incident_transition_refused";
    /// A task's status change its state machine does not allow.
    pub const TASK_TRANSITION_REFUSED: &str = "task_transition_refused";
    pub const ERROR: &str = "error";

    /// The code of an answer that says no more than its status.
    pub fn of_status(status: axum::http::StatusCode) -> &'static str {
        match status.as_u16() {
            400 => BAD_REQUEST,
            401 => UNAUTHORIZED,
            403 => FORBIDDEN,
            404 => NOT_FOUND,
            405 => METHOD_NOT_ALLOWED,
            409 => CONFLICT,
            413 => PAYLOAD_TOO_LARGE,
            415 => UNSUPPORTED_MEDIA_TYPE,
            422 => INVALID_BODY,
            429 => TOO_MANY_REQUESTS,
            503 => BUSY,
            500 => INTERNAL,
            _ => ERROR,
        }
    }
}

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
    /// Any other status with its message (extractor rejections such as 413, 415); its code
    /// follows from the status.
    Status(StatusCode, String),
    /// A status with a code of its own (one of `code`).
    Coded {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
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

    pub fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Coded {
            status,
            code,
            message: message.into(),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// For people: what went wrong.
    pub error: String,
    /// For programs: a stable code, e.g. `not_found`, `warning_not_open`.
    pub code: String,
}

fn body(code: &str, message: String) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: message,
        code: code.to_owned(),
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, code::BAD_REQUEST, m),
            ApiError::Unauthorized => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    body(
                        code::UNAUTHORIZED,
                        "not signed in, or the session has ended".into(),
                    ),
                )
                    .into_response();
            }
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, code::FORBIDDEN, m.to_owned()),
            ApiError::NotFound => (StatusCode::NOT_FOUND, code::NOT_FOUND, "not found".into()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, code::CONFLICT, m),
            ApiError::Status(s, m) => (s, code::of_status(s), m),
            ApiError::Coded {
                status,
                code,
                message,
            } => (status, code, message),
            ApiError::RetryLater {
                status,
                message,
                retry_after_s,
            } => {
                let retry_after = retry_after_s.max(1).to_string();
                return (
                    status,
                    [(header::RETRY_AFTER, retry_after)],
                    body(code::of_status(status), message),
                )
                    .into_response();
            }
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    code::INTERNAL,
                    "internal error".to_owned(),
                )
            }
        };
        (status, body(code, message)).into_response()
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
