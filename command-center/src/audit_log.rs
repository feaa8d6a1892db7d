//! `GET /api/v1/audit`: the audit log as admins read it (the writer is `audit`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{Officer, Role};
use crate::error::{ApiError, Params};
use crate::state::AppState;

#[derive(Deserialize)]
struct AuditQuery {
    /// Only records older than this id (paging backwards).
    before: Option<i64>,
    limit: Option<i64>,
    action: Option<String>,
}

#[derive(Serialize, sqlx::FromRow)]
struct AuditRecord {
    id: i64,
    at: DateTime<Utc>,
    officer_id: Option<i64>,
    username: Option<String>,
    action: String,
    target: Option<String>,
    division_code: Option<String>,
    /// What the writer recorded with the action; its keys depend on the action.
    detail: Value,
    remote_addr: Option<String>,
}

/// `GET /api/v1/audit?before=&limit=&action=`: admins only, newest first, the records of the
/// admin's divisions. Records with no division (sign-ins with an unknown user name) are shown
/// to admins of a top-level division only.
async fn list(
    State(state): State<AppState>,
    officer: Officer,
    Params(q): Params<AuditQuery>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    officer.require(Role::Admin, "only an admin may read the audit log")?;
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let rows: Vec<AuditRecord> = sqlx::query_as(concat!(
        scope_cte!(),
        "SELECT a.id, a.at, a.officer_id, o.username, a.action, a.target, a.division_code,
                a.detail, a.remote_addr
         FROM audit_log a LEFT JOIN officers o ON o.id = a.officer_id
         WHERE (a.division_code IN (SELECT code FROM scope)
                OR (a.division_code IS NULL
                    AND EXISTS (SELECT 1 FROM divisions WHERE code = $1 AND parent_code IS NULL)))
           AND ($2::bigint IS NULL OR a.id < $2)
           AND ($3::text IS NULL OR a.action = $3)
         ORDER BY a.id DESC LIMIT $4"
    ))
    .bind(&officer.division_code)
    .bind(q.before)
    .bind(&q.action)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows))
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/audit", get(list))
}
