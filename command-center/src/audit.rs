//! The audit log: everything an officer does, and every refused sign-in.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{Officer, Role};
use crate::error::{ApiError, Params};
use crate::state::AppState;

/// One audit record to write.
#[derive(Debug, Clone)]
pub struct Entry {
    pub officer_id: Option<i64>,
    /// e.g. `login`, `login_failed`, `logout`, `warning.acknowledge`.
    pub action: &'static str,
    /// What was acted on, e.g. `warning:17`.
    pub target: Option<String>,
    /// The division the action concerns: the object's, else the officer's.
    pub division_code: Option<String>,
    pub detail: Value,
    pub remote_addr: Option<String>,
}

impl Entry {
    /// An officer acting on their own account (sign-in, sign-out).
    pub fn account(officer: &Officer, action: &'static str, remote_addr: Option<String>) -> Entry {
        Entry {
            officer_id: Some(officer.id),
            action,
            target: Some(format!("officer:{}", officer.username)),
            division_code: Some(officer.division_code.clone()),
            detail: Value::Object(Default::default()),
            remote_addr,
        }
    }
}

pub async fn record(db: impl sqlx::PgExecutor<'_>, e: &Entry) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (officer_id, action, target, division_code, detail, remote_addr)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.officer_id)
    .bind(e.action)
    .bind(&e.target)
    .bind(&e.division_code)
    .bind(&e.detail)
    .bind(&e.remote_addr)
    .execute(db)
    .await?;
    Ok(())
}

/// Rewrites the record `id` (reserved earlier, e.g. a sign-in attempt before its password was
/// checked) with what finally happened.
pub async fn settle(db: impl sqlx::PgExecutor<'_>, id: i64, e: &Entry) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE audit_log SET officer_id = $2, action = $3, target = $4, division_code = $5,
                detail = $6, remote_addr = $7
         WHERE id = $1",
    )
    .bind(id)
    .bind(e.officer_id)
    .bind(e.action)
    .bind(&e.target)
    .bind(&e.division_code)
    .bind(&e.detail)
    .bind(&e.remote_addr)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct AuditQuery {
    /// Only records older than this id (paging backwards).
    pub before: Option<i64>,
    pub limit: Option<i64>,
    pub action: Option<String>,
}

#[derive(Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub officer_id: Option<i64>,
    pub username: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub division_code: Option<String>,
    pub detail: Value,
    pub remote_addr: Option<String>,
}

/// `GET /api/v1/audit?before=&limit=&action=`: admins only, newest first, the records of the
/// admin's divisions. Records with no division (sign-ins with an unknown user name) are shown
/// to admins of a top-level division only.
pub async fn list(
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
