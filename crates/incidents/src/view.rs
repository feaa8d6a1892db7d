//! Incidents as officers read them, always through a `Scope`: the board, one incident with its
//! sites, warnings and timeline.

use chrono::{DateTime, Utc};
use geohazard_domain::{Scope, SiteId, WarningId};
use serde::Serialize;
use serde_json::Value;

use crate::decide::{IncidentClass, IncidentStatus};
use crate::incident::IncidentId;

/// An incident as the board shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct IncidentView {
    pub id: IncidentId,
    #[serde(rename = "division")]
    pub division_code: String,
    pub title: String,
    pub class: IncidentClass,
    pub status: IncidentStatus,
    pub casualties: i32,
    pub threatened_people: i32,
    /// Direct losses, 10,000 CNY.
    pub losses: f64,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Its sites' ids.
    pub site_ids: Vec<i64>,
    /// Its warnings' ids.
    pub warning_ids: Vec<i64>,
}

/// A site of an incident, with what the incident view draws.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct IncidentSite {
    pub id: SiteId,
    pub code: String,
    pub name: String,
    pub longitude: f64,
    pub latitude: f64,
    /// GeoJSON Polygon, as registered.
    pub threat_zone: Option<Value>,
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// opened, status, assessed, task_assigned, task_status, note.
    pub kind: String,
    /// Who: a person's name; `None`: the system.
    pub by: Option<String>,
    pub detail: Value,
}

const SELECT: &str = "SELECT i.id, i.division_code, i.title, i.class, i.status, i.casualties,
        i.threatened_people, i.losses, i.opened_at, i.updated_at, i.closed_at,
        ARRAY(SELECT site_id FROM incident_sites s WHERE s.incident_id = i.id ORDER BY site_id) AS site_ids,
        ARRAY(SELECT warning_id FROM incident_warnings w WHERE w.incident_id = i.id ORDER BY warning_id) AS warning_ids
    FROM incidents i WHERE i.division_code = ANY($1)";

/// Incidents in scope with one of `statuses` (all when empty), newest change first.
pub async fn list(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    statuses: &[IncidentStatus],
    limit: i64,
) -> sqlx::Result<Vec<IncidentView>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} AND (cardinality($2::text[]) = 0 OR i.status = ANY($2))
         ORDER BY i.updated_at DESC, i.id DESC LIMIT $3"
    )))
    .bind(scope.divisions())
    .bind(statuses)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One incident in scope.
pub async fn get(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    id: IncidentId,
) -> sqlx::Result<Option<IncidentView>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} AND i.id = $2")))
        .bind(scope.divisions())
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The incident's timeline, oldest first (the incident must have been read in scope).
pub async fn timeline(
    db: impl sqlx::PgExecutor<'_>,
    id: IncidentId,
) -> sqlx::Result<Vec<TimelineEntry>> {
    sqlx::query_as(
        "SELECT e.id, e.at, e.kind, COALESCE(p.name, e.detail->>'by_officer') AS by, e.detail
         FROM incident_events e
         LEFT JOIN people p ON p.id = e.person_id
         WHERE e.incident_id = $1 ORDER BY e.id",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// The incident's sites (the incident must have been read in scope).
pub async fn sites(
    db: impl sqlx::PgExecutor<'_>,
    id: IncidentId,
) -> sqlx::Result<Vec<IncidentSite>> {
    sqlx::query_as(
        "SELECT h.id, h.code, h.name, h.longitude, h.latitude, h.threat_zone
         FROM incident_sites s JOIN hazard_sites h ON h.id = s.site_id
         WHERE s.incident_id = $1 ORDER BY h.id",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// The incident a warning belongs to, if any.
pub async fn of_warning(
    db: impl sqlx::PgExecutor<'_>,
    warning: WarningId,
) -> sqlx::Result<Option<IncidentId>> {
    sqlx::query_scalar("SELECT incident_id FROM incident_warnings WHERE warning_id = $1")
        .bind(warning)
        .fetch_optional(db)
        .await
}
