//! The audit log: everything an officer does, and every refused sign-in, is written here, and
//! read back by those who may (within their scope). It knows nothing of sessions or HTTP, so
//! sign-in and every handler can use it.

use chrono::{DateTime, Utc};
use geohazard_domain::{AuditAction, AuditEntryId, OfficerId, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

/// One audit record to write.
#[derive(Debug, Clone)]
pub struct Entry {
    pub officer_id: Option<OfficerId>,
    pub action: AuditAction,
    /// What was acted on, e.g. `warning:17`.
    pub target: Option<String>,
    /// The division the action concerns: the object's, else the officer's.
    pub division_code: Option<String>,
    pub detail: Value,
    pub remote_addr: Option<String>,
}

/// Who makes a change, and from where (for the audit log).
#[derive(Debug, Clone)]
pub struct Actor {
    pub officer_id: OfficerId,
    pub remote_addr: Option<String>,
    /// The file a change came with (an import), else `None`.
    pub source: Option<String>,
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

/// Which records a reader asks for.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only records older than this id (paging backwards).
    pub before: Option<AuditEntryId>,
    /// At most this many (1 to 1000; default 200).
    pub limit: Option<i64>,
    /// Only this action.
    pub action: Option<AuditAction>,
}

/// One record as read back.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: AuditEntryId,
    pub at: DateTime<Utc>,
    pub officer_id: Option<OfficerId>,
    pub username: Option<String>,
    pub action: AuditAction,
    pub target: Option<String>,
    pub division_code: Option<String>,
    /// What the writer recorded with the action; its keys depend on the action.
    pub detail: Value,
    pub remote_addr: Option<String>,
}

/// Newest first, the records of the divisions in `scope`. Records with no division (sign-ins
/// with an unknown user name) only for a scope that sees unassigned records.
pub async fn list(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    q: &AuditQuery,
) -> sqlx::Result<Vec<AuditRecord>> {
    sqlx::query_as(
        "SELECT a.id, a.at, a.officer_id, o.username, a.action, a.target, a.division_code,
                a.detail, a.remote_addr
         FROM audit_log a LEFT JOIN officers o ON o.id = a.officer_id
         WHERE (a.division_code = ANY($1) OR (a.division_code IS NULL AND $2))
           AND ($3::bigint IS NULL OR a.id < $3)
           AND ($4::text IS NULL OR a.action = $4)
         ORDER BY a.id DESC LIMIT $5",
    )
    .bind(scope.divisions())
    .bind(scope.sees_unassigned())
    .bind(q.before)
    .bind(q.action)
    .bind(q.limit.unwrap_or(200).clamp(1, 1000))
    .fetch_all(db)
    .await
}
