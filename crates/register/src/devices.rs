//! Device health in scope: gateways with their last status (battery, supply voltage, signal,
//! queue depth), silent sensors, and what was quarantined per gateway over the last day.

use chrono::{DateTime, Utc};
use geohazard_domain::{GatewayId, Scope, SensorId, SensorKind, SiteId};
use serde::Serialize;
use sqlx::PgPool;

/// A gateway as the console shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct GatewayHealth {
    pub id: GatewayId,
    pub code: String,
    pub name: String,
    pub site_id: Option<SiteId>,
    pub site_code: Option<String>,
    pub site_name: Option<String>,
    pub online: bool,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub firmware_version: Option<String>,
    pub battery_pct: Option<f64>,
    pub supply_v: Option<f64>,
    pub signal_dbm: Option<f64>,
    pub queue_depth: Option<i64>,
}

/// Gateways of the sites in scope (offline first), of one site if given.
pub async fn gateways(
    db: &PgPool,
    scope: &Scope,
    site: Option<SiteId>,
) -> sqlx::Result<Vec<GatewayHealth>> {
    sqlx::query_as(
        "SELECT g.id, g.code, g.name, g.site_id, s.code AS site_code, s.name AS site_name,
                gateway_online_now(g.id, g.online, g.last_seen_at) AS online,
                g.last_seen_at, g.firmware_version,
                (g.last_status->>'battery_pct')::float8 AS battery_pct,
                (g.last_status->>'supply_v')::float8 AS supply_v,
                (g.last_status->>'signal_dbm')::float8 AS signal_dbm,
                (g.last_status->>'queue_depth')::int8 AS queue_depth
         FROM gateways g
         JOIN hazard_sites s ON s.id = g.site_id
         WHERE s.division_code = ANY($1) AND ($2::int8 IS NULL OR g.site_id = $2)
         ORDER BY online, g.code",
    )
    .bind(scope.divisions())
    .bind(site)
    .fetch_all(db)
    .await
}

/// An active sensor that has sent nothing for three sampling intervals.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SilentSensor {
    pub id: SensorId,
    pub channel: String,
    pub kind: SensorKind,
    pub gateway: String,
    pub site_code: String,
    pub sampling_interval_s: i32,
    pub last_reading_at: Option<DateTime<Utc>>,
}

/// Silent sensors in scope, longest silent first.
pub async fn silent_sensors(db: &PgPool, scope: &Scope) -> sqlx::Result<Vec<SilentSensor>> {
    sqlx::query_as(
        "SELECT se.id, se.channel, se.kind, g.code AS gateway, s.code AS site_code,
                se.sampling_interval_s, last.ts AS last_reading_at
         FROM sensors se
         JOIN gateways g ON g.id = se.gateway_id
         JOIN hazard_sites s ON s.id = se.site_id
         LEFT JOIN LATERAL (SELECT r.ts FROM readings r WHERE r.sensor_id = se.id
                            ORDER BY r.ts DESC LIMIT 1) last ON true
         WHERE se.active AND s.division_code = ANY($1)
           AND (last.ts IS NULL OR last.ts < now() - make_interval(secs => 3 * se.sampling_interval_s))
         ORDER BY last.ts NULLS FIRST, se.id
         LIMIT 1000",
    )
    .bind(scope.divisions())
    .fetch_all(db)
    .await
}

/// Quarantined messages of one gateway for one reason over the last day.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct QuarantineSummary {
    pub gateway_code: Option<String>,
    /// A `QuarantineReason` code (its names are the catalogue's `reason.<code>`).
    #[schema(value_type = String)]
    pub reason: geohazard_domain::QuarantineReason,
    pub messages: i64,
    pub last_at: DateTime<Utc>,
    pub detail: String,
}

/// What was quarantined over the last day per gateway and reason, for the gateways in scope;
/// rows of gateways nobody registered only for a scope that sees unassigned objects.
pub async fn quarantine(db: &PgPool, scope: &Scope) -> sqlx::Result<Vec<QuarantineSummary>> {
    sqlx::query_as(
        "SELECT q.gateway_code, q.reason, sum(q.repeats)::int8 AS messages,
                max(q.last_received_at) AS last_at,
                (array_agg(q.detail ORDER BY q.last_received_at DESC))[1] AS detail
         FROM quarantine q
         LEFT JOIN gateways g ON g.code = q.gateway_code
         LEFT JOIN hazard_sites s ON s.id = g.site_id
         WHERE q.last_received_at > now() - interval '1 day'
           AND (s.division_code = ANY($1) OR (s.id IS NULL AND $2))
         GROUP BY q.gateway_code, q.reason
         ORDER BY messages DESC, q.gateway_code
         LIMIT 500",
    )
    .bind(scope.divisions())
    .bind(scope.sees_unassigned())
    .fetch_all(db)
    .await
}
