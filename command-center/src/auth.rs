//! Sign-in, sessions and the `Officer` extractor.
//!
//! A session token is 32 random bytes, given to the client once as 64 hex digits; the database
//! keeps only its SHA-256, so a copy of `officer_sessions` signs nobody in. Every route but
//! `POST /api/v1/login` needs a session: `Authorization: Bearer <token>` (API clients), or the
//! console's `gh_session` cookie (`HttpOnly; SameSite=Strict`), so the browser's scripts never
//! hold the token and no URL carries it (frames, images, WebSockets send the cookie). A request
//! that changes something with the cookie must also carry the session's CSRF token in
//! `X-CSRF-Token`: a page of another origin can make the browser send the cookie, not read the
//! token. No route takes a token in its URL: API clients open the live socket with the bearer
//! header on the upgrade request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, http::header};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

pub use geohazard_domain::Role;
use geohazard_domain::{AuditAction, OfficerId};

use crate::audit::{self, Entry};
use crate::error::{ApiError, Body};
use crate::state::{AppState, LoginStats};

/// The signed-in officer of a request.
#[derive(Debug, Clone, Serialize)]
pub struct Officer {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// The officer sees this division and everything below it.
    pub division_code: String,
    pub role: Role,
    #[serde(skip)]
    pub person_id: i64,
    #[serde(skip)]
    pub token_hash: Vec<u8>,
}

/// A new random session token: (the token for the client, its SHA-256 for the database).
pub fn new_token() -> (String, Vec<u8>) {
    let bytes: [u8; 32] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    (token, Sha256::digest(bytes).to_vec())
}

/// A new session of `officer_id` that lasts `ttl_s` seconds: (its token, when it expires).
/// Only the token's hash is stored.
pub async fn open_session(
    pool: &sqlx::PgPool,
    officer_id: i64,
    ttl_s: u64,
) -> sqlx::Result<(String, DateTime<Utc>)> {
    let (token, hash) = new_token();
    let expires_at = sqlx::query_scalar(
        "INSERT INTO officer_sessions (token_hash, officer_id, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3)) RETURNING expires_at",
    )
    .bind(&hash)
    .bind(officer_id)
    .bind(ttl_s as f64)
    .fetch_one(pool)
    .await?;
    Ok((token, expires_at))
}

/// The SHA-256 of a token the client presents, or `None` when it is not 64 hex digits.
pub fn token_hash(token: &str) -> Option<Vec<u8>> {
    if token.len() != 64 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..32)
        .map(|i| u8::from_str_radix(token.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    bytes.map(|b| Sha256::digest(b).to_vec())
}

/// A current session and its officer, as [`current_sessions`] finds it.
#[derive(sqlx::FromRow)]
pub(crate) struct CurrentSession {
    pub token_hash: Vec<u8>,
    id: i64,
    username: String,
    display_name: String,
    division_code: String,
    role: String,
    person_id: i64,
}

/// The sessions among `hashes` (token hashes) that are current, each with its officer: not
/// signed out (sign-out deletes the row), not expired, of an officer not disabled. It refreshes
/// their `last_used_at`, at most one write a minute per session, not one per use. The one rule
/// of a session's validity: every request ([`authenticate`]) and the live sockets' periodic
/// check (`live::run_session_checks`, all open sessions in one query) go through it.
pub(crate) async fn current_sessions(
    pool: &sqlx::PgPool,
    hashes: &[Vec<u8>],
) -> sqlx::Result<Vec<CurrentSession>> {
    sqlx::query_as(
        "WITH alive AS (
             SELECT s.token_hash, s.last_used_at < now() - interval '1 minute' AS stale,
                    o.id, o.username, o.display_name, o.division_code, o.role, o.person_id
             FROM officer_sessions s JOIN officers o ON o.id = s.officer_id
             WHERE s.token_hash = ANY($1) AND s.expires_at > now() AND NOT o.disabled
         ), touched AS (
             UPDATE officer_sessions s SET last_used_at = now()
             FROM alive a WHERE a.stale AND s.token_hash = a.token_hash
         )
         SELECT token_hash, id, username, display_name, division_code, role, person_id
         FROM alive",
    )
    .bind(hashes)
    .fetch_all(pool)
    .await
}

/// The officer a token belongs to; 401 when the token is unknown or expired, or the officer
/// is disabled.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Officer, ApiError> {
    let hash = token_hash(token).ok_or(ApiError::Unauthorized)?;
    let row = current_sessions(&state.pool, std::slice::from_ref(&hash))
        .await?
        .pop()
        .ok_or(ApiError::Unauthorized)?;
    Ok(Officer {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        division_code: row.division_code,
        role: row.role.parse().map_err(anyhow::Error::from)?,
        person_id: row.person_id,
        token_hash: hash,
    })
}

/// The token of `Authorization: Bearer <token>`, if the header is there.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The console's session cookie.
pub const SESSION_COOKIE: &str = "gh_session";

/// The header a cookie session's state-changing requests carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The token of the `gh_session` cookie, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value.trim())
        })
}

/// The `Set-Cookie` value that gives the browser its session (`max_age_s` 0: ends it). Not
/// `Secure`: a duty room may serve the console over plain HTTP on its own network.
pub fn session_set_cookie(token: &str, max_age_s: u64) -> String {
    format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}")
}

/// The CSRF token of a session: derived from the session's token hash, so it is bound to the
/// session and needs no storage, and knowing it gives no way to the session token.
pub fn csrf_token(token_hash: &[u8]) -> String {
    Sha256::new()
        .chain_update(b"geohazard csrf\0")
        .chain_update(token_hash)
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 403 unless the request's `Origin`, when it names one, is the host the request was sent to:
/// a cookie comes along on a WebSocket opened by any page, a header cannot be added to one.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(ApiError::Forbidden("a request from another origin")),
    }
}

/// The officer of a request that carries its session as a bearer header (API clients, also on a
/// WebSocket upgrade) or the session cookie (browsers: `<img>` and WebSocket requests send it).
/// A token in the URL is never read: URLs end up in logs and histories.
pub async fn officer_of(state: &AppState, headers: &HeaderMap) -> Result<Officer, ApiError> {
    let token = match (bearer(headers), session_cookie(headers)) {
        (Some(token), _) => token.to_owned(),
        (None, Some(token)) => {
            same_origin(headers)?;
            token.to_owned()
        }
        (None, None) => return Err(ApiError::Unauthorized),
    };
    authenticate(state, &token).await
}

impl FromRequestParts<AppState> for Officer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Officer, ApiError> {
        if let Some(token) = bearer(&parts.headers) {
            return authenticate(state, token).await;
        }
        let token = session_cookie(&parts.headers).ok_or(ApiError::Unauthorized)?;
        let officer = authenticate(state, token).await?;
        if !parts.method.is_safe() {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if sent != Some(csrf_token(&officer.token_hash).as_str()) {
                return Err(ApiError::Forbidden(
                    "a request without the session's X-CSRF-Token",
                ));
            }
        }
        Ok(officer)
    }
}

/// The client's address as the listener saw it (no proxy headers are trusted).
pub struct RemoteAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RemoteAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<RemoteAddr, Infallible> {
        Ok(RemoteAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        ))
    }
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
    /// The console's sign-in: the session goes into the `gh_session` cookie, not the answer.
    #[serde(default)]
    cookie: bool,
}

/// What a successful sign-in answers.
#[derive(Serialize)]
struct LoginResponse {
    /// The bearer token: 64 hex digits, shown only this once (not to a cookie sign-in).
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// What a cookie session's state-changing requests send in `X-CSRF-Token`.
    csrf_token: String,
    expires_at: DateTime<Utc>,
    officer: Officer,
}

/// The audit entry of an officer acting on their own account (sign-in, sign-out).
fn account_entry(officer: &Officer, action: AuditAction, remote_addr: Option<String>) -> Entry {
    Entry {
        officer_id: Some(OfficerId(officer.id)),
        action,
        target: Some(format!("officer:{}", officer.username)),
        division_code: Some(officer.division_code.clone()),
        detail: json!({}),
        remote_addr,
    }
}

#[derive(sqlx::FromRow)]
struct Credentials {
    id: i64,
    password_hash: String,
    disabled: bool,
    division_code: String,
}

/// A hash to verify against when the user name is unknown, so that answer takes as long as a
/// wrong password. Computed on first use, on a blocking thread like every other hash.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| geohazard_store::registry::hash_password("no such officer"))
}

/// Counts one password check for as long as it lives.
struct Hashing<'a>(&'a LoginStats);

impl<'a> Hashing<'a> {
    fn start(stats: &'a LoginStats) -> Hashing<'a> {
        let now = stats.hashing_now.fetch_add(1, Ordering::SeqCst) + 1;
        stats.hashing_peak.fetch_max(now, Ordering::SeqCst);
        Hashing(stats)
    }
}

impl Drop for Hashing<'_> {
    fn drop(&mut self) {
        self.0.hashing_now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A sign-in attempt either gets its audit row reserved (as a failure until it succeeds) or is
/// refused for now.
enum Attempt {
    Reserved(i64),
    /// Too many recent failures for the user name (`user_name`) or the address (`address`).
    Throttled {
        why: &'static str,
        retry_after_s: u64,
    },
}

/// Counts the recent failures for this user name and address and, unless there are too many,
/// reserves this attempt's `login_failed` row before the password is checked. Under an advisory
/// lock per user name and per address, so concurrent attempts on any number of command-center
/// instances are counted one after the other: no more than the limit are ever checked.
async fn reserve_attempt(
    state: &AppState,
    username: &str,
    remote: Option<&str>,
) -> Result<Attempt, ApiError> {
    let s = &state.settings;
    let target = format!("officer:{username}");
    let mut tx = state.pool.begin().await?;
    // Always user name first, then address: two attempts never wait on each other in a cycle.
    sqlx::query("SELECT pg_advisory_xact_lock(1, hashtext($1))")
        .bind(&target)
        .execute(&mut *tx)
        .await?;
    if let Some(remote) = remote {
        sqlx::query("SELECT pg_advisory_xact_lock(2, hashtext($1))")
            .bind(remote)
            .execute(&mut *tx)
            .await?;
    }
    let (by_user, by_address, user_free_in, address_free_in): (i64, i64, Option<f64>, Option<f64>) =
        sqlx::query_as(
            "SELECT count(*) FILTER (WHERE target = $1),
                    count(*) FILTER (WHERE remote_addr = $2),
                    extract(epoch FROM min(at) FILTER (WHERE target = $1)
                        + make_interval(secs => $3) - clock_timestamp())::float8,
                    extract(epoch FROM min(at) FILTER (WHERE remote_addr = $2)
                        + make_interval(secs => $3) - clock_timestamp())::float8
             FROM audit_log
             WHERE action = 'login_failed' AND at > clock_timestamp() - make_interval(secs => $3)",
        )
        .bind(&target)
        .bind(remote)
        .bind(s.login_window_s as f64)
        .fetch_one(&mut *tx)
        .await?;
    let retry = |free_in: Option<f64>| free_in.unwrap_or(1.0).ceil().max(1.0) as u64;
    if by_user >= i64::from(s.login_max_failures) {
        return Ok(Attempt::Throttled {
            why: "user_name",
            retry_after_s: retry(user_free_in),
        });
    }
    if by_address >= i64::from(s.login_max_failures_per_address) {
        return Ok(Attempt::Throttled {
            why: "address",
            retry_after_s: retry(address_free_in),
        });
    }
    // Stamped with the clock, not the transaction's start: it waited for the lock.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, action, target, detail, remote_addr)
         VALUES (clock_timestamp(), 'login_failed', $1, '{\"reason\": \"checking\"}', $2)
         RETURNING id",
    )
    .bind(&target)
    .bind(remote)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Attempt::Reserved(id))
}

/// The answer when every password check is taken: come back in a moment; the reserved attempt
/// is settled as busy, not counted as a failure.
async fn refuse_busy(
    state: &AppState,
    attempt: i64,
    username: &str,
    remote: Option<String>,
) -> ApiError {
    state
        .login_stats
        .refused_busy
        .fetch_add(1, Ordering::Relaxed);
    let entry = refusal(AuditAction::LoginBusy, username, None, "busy", remote);
    if let Err(e) = audit::settle(&state.pool, attempt, &entry).await {
        return e.into();
    }
    ApiError::RetryLater {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "sign-in is busy: try again in a moment".into(),
        retry_after_s: 1,
    }
}

/// The audit entry of a refused sign-in with its real reason (`action`: login_failed,
/// login_throttled or login_busy).
fn refusal(
    action: AuditAction,
    username: &str,
    officer: Option<&Credentials>,
    reason: &str,
    remote: Option<String>,
) -> Entry {
    Entry {
        officer_id: officer.map(|c| OfficerId(c.id)),
        action,
        target: Some(format!("officer:{username}")),
        division_code: officer.map(|c| c.division_code.clone()),
        detail: json!({ "reason": reason }),
        remote_addr: remote,
    }
}

/// What the client of a failed sign-in sees: it does not tell the reasons apart.
fn invalid_credentials() -> ApiError {
    ApiError::Status(
        StatusCode::UNAUTHORIZED,
        "invalid username or password".into(),
    )
}

/// `POST /api/v1/login` {username, password} → {token, csrf_token, expires_at, officer};
/// with `"cookie": true` the token is set as the `gh_session` cookie instead.
async fn login(
    State(state): State<AppState>,
    RemoteAddr(remote): RemoteAddr,
    Body(req): Body<LoginRequest>,
) -> Result<Response, ApiError> {
    let username: String = req.username.chars().take(64).collect();
    let cookie = req.cookie;
    let attempt = match reserve_attempt(&state, &username, remote.as_deref()).await? {
        Attempt::Reserved(id) => id,
        Attempt::Throttled { why, retry_after_s } => {
            tracing::warn!(?username, why, "sign-in throttled");
            let entry = refusal(AuditAction::LoginThrottled, &username, None, why, remote);
            audit::record(&state.pool, &entry).await?;
            return Err(ApiError::RetryLater {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "too many failed sign-ins: try again later".into(),
                retry_after_s,
            });
        }
    };
    // Bounded concurrent password checks: the excess is told to come back soon, quickly and
    // without costing memory, and its reserved attempt does not count as a failure.
    let wait = Duration::from_millis(state.settings.login_hash_wait_ms);
    let permit = match tokio::time::timeout(wait, state.hashing.clone().acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        _ => return Err(refuse_busy(&state, attempt, &username, remote).await),
    };
    let found: Option<Credentials> = sqlx::query_as(
        "SELECT id, password_hash, disabled, division_code FROM officers WHERE username = $1",
    )
    .bind(&username)
    .fetch_optional(&state.pool)
    .await?;
    let phc = found.as_ref().map(|c| c.password_hash.clone());
    let password = req.password;
    // argon2 is deliberately slow and memory-hungry: checked in the process's bounded pool.
    let hashing = Hashing::start(&state.login_stats);
    let phc: &str = phc.as_deref().unwrap_or_else(|| dummy_hash());
    let verified = geohazard_secrets::PasswordChecks::shared()
        .verify(password.as_bytes(), phc)
        .await;
    // Counted out before the next check may start.
    drop(hashing);
    drop(permit);
    let Ok(verified) = verified else {
        return Err(refuse_busy(&state, attempt, &username, remote).await);
    };
    let refused = match &found {
        None => Some("unknown_user"),
        Some(_) if !verified => Some("wrong_password"),
        Some(c) if c.disabled => Some("disabled"),
        Some(_) => None,
    };
    if let Some(reason) = refused {
        tracing::info!(?username, reason, "sign-in refused");
        let entry = refusal(
            AuditAction::LoginFailed,
            &username,
            found.as_ref(),
            reason,
            remote,
        );
        audit::settle(&state.pool, attempt, &entry).await?;
        return Err(invalid_credentials());
    }
    let credentials = found.expect("refused above when absent");
    let (token, expires_at) =
        open_session(&state.pool, credentials.id, state.settings.session_ttl_s).await?;
    let officer = authenticate(&state, &token).await?;
    audit::settle(
        &state.pool,
        attempt,
        &account_entry(&officer, AuditAction::Login, remote),
    )
    .await?;
    let answer = LoginResponse {
        token: (!cookie).then(|| token.clone()),
        csrf_token: csrf_token(&officer.token_hash),
        expires_at,
        officer,
    };
    let mut response = Json(answer).into_response();
    if cookie {
        let cookie = session_set_cookie(&token, state.settings.session_ttl_s);
        response.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).map_err(anyhow::Error::from)?,
        );
    }
    Ok(response)
}

/// `POST /api/v1/logout`: ends the session the request was made with (and its cookie).
async fn logout(
    State(state): State<AppState>,
    RemoteAddr(remote): RemoteAddr,
    officer: Officer,
) -> Result<impl IntoResponse, ApiError> {
    sqlx::query("DELETE FROM officer_sessions WHERE token_hash = $1")
        .bind(&officer.token_hash)
        .execute(&state.pool)
        .await?;
    audit::record(
        &state.pool,
        &account_entry(&officer, AuditAction::Logout, remote),
    )
    .await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_set_cookie("", 0))],
    ))
}

/// `GET /api/v1/me`'s answer.
#[derive(Serialize)]
struct Me {
    #[serde(flatten)]
    officer: Officer,
    /// For a console reloaded on a cookie session: what it sends in `X-CSRF-Token`.
    csrf_token: String,
}

/// `GET /api/v1/me`: the signed-in officer.
async fn me(officer: Officer) -> Json<Me> {
    let csrf_token = csrf_token(&officer.token_hash);
    Json(Me {
        officer,
        csrf_token,
    })
}

/// A sign-in's answer carries a session token: no cache may keep it.
async fn no_store(mut r: axum::response::Response) -> axum::response::Response {
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/login",
            post(login).layer(axum::middleware::map_response(no_store)),
        )
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_hashes_to_what_was_stored_and_garbage_to_nothing() {
        let (token, stored) = new_token();
        assert_eq!(token.len(), 64);
        assert_eq!(token_hash(&token), Some(stored));
        assert_eq!(token_hash("abc"), None);
        assert_eq!(token_hash(&"zz".repeat(32)), None);
        assert_eq!(token_hash(&"é".repeat(32)), None);
        assert_ne!(new_token().0, token);
    }
}
