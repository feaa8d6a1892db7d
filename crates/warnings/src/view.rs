//! Warnings as officers read them, always through a `Scope`: lists, one warning with its
//! evidence, and its transitions.

use chrono::{DateTime, Utc};
use geohazard_domain::{Scope, SensorId, SiteId, Stored, WarningId};
use geohazard_protocol::warning::{WarningLevel, WarningState, WarningTransition};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::evidence::{self, Evidence};

/// A site as a warning names it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SiteRef {
    #[serde(rename = "id")]
    pub site_id: SiteId,
    #[serde(rename = "code")]
    pub site_code: String,
    #[serde(rename = "name")]
    pub site_name: String,
}

/// A warning as the lists and the detail show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WarningView {
    pub id: WarningId,
    #[sqlx(flatten)]
    pub site: SiteRef,
    /// The site's division code.
    #[serde(rename = "division")]
    pub division_code: String,
    pub source: String,
    pub category: String,
    pub sensor_id: Option<SensorId>,
    /// blue, yellow, orange or red.
    #[schema(value_type = String)]
    pub level: Stored<WarningLevel>,
    #[schema(value_type = String)]
    pub peak_level: Stored<WarningLevel>,
    /// open, acknowledged or closed.
    #[schema(value_type = String)]
    pub state: Stored<WarningState>,
    pub summary: String,
    pub summary_zh: String,
    pub raised_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub reading_ts: Option<DateTime<Utc>>,
    pub failure_forecast_at: Option<DateTime<Utc>>,
    pub crossings: i32,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The name of the person who acknowledged it.
    pub acknowledged_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub escalation_step: i32,
    /// Only in the detail: what the rule saw, by `method` (`crates/warnings/src/evidence.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    #[sqlx(skip)]
    pub evidence: Option<Evidence>,
}

/// Warnings in scope (`$1`, the scope's divisions), with their evidence when `evidence`. `tail`
/// follows the ORDER BY.
fn query(where_clause: &str, tail: &str, evidence: bool) -> String {
    let evidence = if evidence { ", w.evidence" } else { "" };
    format!(
        "SELECT w.id, w.site_id, s.code AS site_code, s.name AS site_name, s.division_code,
                w.source, w.category, w.sensor_id, w.level, w.peak_level, w.state, w.summary,
                w.summary_zh, w.raised_at, w.updated_at, w.reading_ts, w.failure_forecast_at, w.crossings,
                w.acknowledged_at, p.name AS acknowledged_by, w.closed_at, w.escalation_step
                {evidence}
         FROM warnings w
         JOIN hazard_sites s ON s.id = w.site_id
         LEFT JOIN people p ON p.id = w.acknowledged_by
         WHERE s.division_code = ANY($1) AND {where_clause}
         ORDER BY w.updated_at DESC, w.id DESC {tail}"
    )
}

/// Warnings in scope in one of `states`, raised in `[from, to)` when given, newest change
/// first, at most `limit`.
pub async fn list(
    db: &PgPool,
    scope: &Scope,
    states: &[WarningState],
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    limit: i64,
) -> sqlx::Result<Vec<WarningView>> {
    let states: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    sqlx::query_as(sqlx::AssertSqlSafe(query(
        "w.state = ANY($2) AND ($4::timestamptz IS NULL OR w.raised_at >= $4)
         AND ($5::timestamptz IS NULL OR w.raised_at < $5)",
        "LIMIT $3",
        false,
    )))
    .bind(scope.divisions())
    .bind(states)
    .bind(limit)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
}

/// The UTC offset of the IANA time zone `zone` now, as the database knows it (for times in
/// files: a zone that changes its offset, unlike China's, is shown at today's offset).
pub async fn zone_offset(db: &PgPool, zone: &str) -> sqlx::Result<chrono::FixedOffset> {
    let secs: i32 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM (now() AT TIME ZONE $1) - (now() AT TIME ZONE 'UTC'))::int",
    )
    .bind(zone)
    .fetch_one(db)
    .await?;
    Ok(chrono::FixedOffset::east_opt(secs)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset")))
}

/// The unclosed warnings of a site in scope.
pub async fn unclosed_of_site(
    db: &PgPool,
    scope: &Scope,
    site: SiteId,
) -> sqlx::Result<Vec<WarningView>> {
    sqlx::query_as(sqlx::AssertSqlSafe(query(
        "w.site_id = $2 AND w.state <> 'closed'",
        "",
        false,
    )))
    .bind(scope.divisions())
    .bind(site)
    .fetch_all(db)
    .await
}

/// A warning with its evidence as stored.
#[derive(sqlx::FromRow)]
struct Detail {
    #[sqlx(flatten)]
    view: WarningView,
    evidence: Value,
}

/// One warning in scope, with its evidence typed; `None` when absent or out of scope. Evidence
/// this code cannot read is an error naming the warning.
pub async fn get(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    id: WarningId,
) -> sqlx::Result<Option<WarningView>> {
    let found: Option<Detail> = sqlx::query_as(sqlx::AssertSqlSafe(query("w.id = $2", "", true)))
        .bind(scope.divisions())
        .bind(id)
        .fetch_optional(db)
        .await?;
    found
        .map(|Detail { mut view, evidence }| {
            view.evidence = Some(evidence::stored(view.id.0, evidence)?);
            Ok(view)
        })
        .transpose()
}

/// One transition of a warning.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WarningEvent {
    pub at: DateTime<Utc>,
    #[schema(value_type = String)]
    pub transition: Stored<WarningTransition>,
    #[schema(value_type = Option<String>)]
    pub from_level: Option<Stored<WarningLevel>>,
    #[schema(value_type = Option<String>)]
    pub to_level: Option<Stored<WarningLevel>>,
    pub actor: String,
    /// The name of the person who made it, if a person did.
    pub person: Option<String>,
    pub evidence: Value,
}

/// The transitions of a warning already read in scope (by `get`), oldest first.
pub async fn events(db: &PgPool, warning: &WarningView) -> sqlx::Result<Vec<WarningEvent>> {
    sqlx::query_as(
        "SELECT e.at, e.transition, e.from_level, e.to_level, e.actor, p.name AS person,
                e.evidence
             FROM warning_events e LEFT JOIN people p ON p.id = e.person_id
             WHERE e.warning_id = $1 ORDER BY e.id",
    )
    .bind(warning.id)
    .fetch_all(db)
    .await
}

/// One person told of a warning on one channel, and how far the message got: from the
/// `notifications` table that `geohazard_notify` keeps.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WarningDelivery {
    pub person: String,
    #[schema(value_type = String)]
    pub channel: Stored<geohazard_domain::Channel>,
    /// Why this person was told: a level reached or a referral step.
    pub reason: String,
    #[schema(value_type = String)]
    pub status: Stored<geohazard_domain::NotificationStatus>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the person confirmed it (app channel).
    pub confirmed_at: Option<DateTime<Utc>>,
    /// What the provider said on the last attempt that did not go through.
    pub last_error: Option<String>,
}

/// Who was notified of a warning already read in scope (by `get`), in the order they were
/// queued.
pub async fn deliveries(db: &PgPool, warning: &WarningView) -> sqlx::Result<Vec<WarningDelivery>> {
    sqlx::query_as(
        "SELECT p.name AS person, n.channel, n.reason, n.status, n.attempts, n.created_at,
                n.sent_at, n.delivered_at, n.confirmed_at,
                (SELECT NULLIF(a.detail, '') FROM notification_attempts a
                  WHERE a.notification_id = n.id AND a.outcome <> 'sent'
                  ORDER BY a.attempt DESC LIMIT 1) AS last_error
             FROM notifications n JOIN people p ON p.id = n.person_id
             WHERE n.warning_id = $1 ORDER BY n.created_at, n.id",
    )
    .bind(warning.id)
    .fetch_all(db)
    .await
}
