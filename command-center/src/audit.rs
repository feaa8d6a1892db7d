//! The audit log's writer: everything an officer does, and every refused sign-in, is recorded
//! here. It knows nothing of sessions or HTTP, so sign-in and every handler can use it; admins
//! read the log through `audit_log`.

use serde_json::Value;

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
