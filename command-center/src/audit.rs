//! The audit log's writer: everything an officer does, and every refused sign-in, is recorded
//! here. It knows nothing of sessions or HTTP, so sign-in and every handler can use it; admins
//! read the log through `audit_log`.

use serde_json::Value;
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

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
    bind(
        sqlx::query(
            "INSERT INTO audit_log (officer_id, action, target, division_code, detail, remote_addr)
             VALUES ($1, $2, $3, $4, $5, $6)",
        ),
        e,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Rewrites the record `id` (reserved earlier, e.g. a sign-in attempt before its password was
/// checked) with what finally happened.
pub async fn settle(db: impl sqlx::PgExecutor<'_>, id: i64, e: &Entry) -> sqlx::Result<()> {
    bind(
        sqlx::query(
            "UPDATE audit_log SET officer_id = $1, action = $2, target = $3, division_code = $4,
                    detail = $5, remote_addr = $6
             WHERE id = $7",
        ),
        e,
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Binds an entry's fields as `$1` to `$6`: officer, action, target, division, detail, address.
fn bind<'q>(
    query: Query<'q, Postgres, PgArguments>,
    e: &'q Entry,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(e.officer_id)
        .bind(e.action)
        .bind(&e.target)
        .bind(&e.division_code)
        .bind(&e.detail)
        .bind(&e.remote_addr)
}
