//! Hazard sites in scope, with their gateways and sensors.

use chrono::{DateTime, Utc};
use geohazard_domain::{
    DivisionLevel, GatewayId, Scope, SensorId, SensorKind, SiteId, SiteKind, SiteStatus, Stored,
};
use geohazard_protocol::warning::WarningLevel;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::geojson::{MaybePoint, Point};

/// A division as a site names it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DivisionRef {
    #[serde(rename = "code")]
    pub division_code: String,
    #[serde(rename = "name")]
    pub division_name: String,
    #[serde(rename = "level")]
    pub division_level: DivisionLevel,
}

/// A site as the list and the detail show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Site {
    pub id: SiteId,
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: SiteKind,
    #[sqlx(flatten)]
    pub division: DivisionRef,
    pub status: SiteStatus,
    #[sqlx(flatten)]
    #[schema(value_type = crate::geojson::GeoJsonPoint)]
    pub location: Point,
    pub scale_class: Option<String>,
    pub volume_m3: Option<f64>,
    pub threatened_people: i32,
    pub threatened_property: f64,
    /// Only in the detail (GeoJSON, as registered).
    #[serde(skip)]
    #[schema(ignore)]
    pub threat_zone: Option<Value>,
    /// The highest level among its unclosed warnings.
    #[schema(value_type = Option<String>)]
    pub warning_level: Option<Stored<WarningLevel>>,
    pub created_at: DateTime<Utc>,
}

/// The highest level among a site's unclosed warnings, by rank.
const SITE_WARNING_LEVEL: &str =
    "(SELECT w.level FROM warnings w WHERE w.site_id = s.id AND w.state <> 'closed'
      ORDER BY array_position(ARRAY['blue','yellow','orange','red'], w.level) DESC LIMIT 1)";

/// Sites in scope (`$1`, the scope's divisions) that match `where_clause`.
fn site_query(where_clause: &str) -> String {
    format!(
        "SELECT s.id, s.code, s.name, s.kind, s.division_code, d.name AS division_name,
                d.level AS division_level, s.status, s.longitude, s.latitude, s.scale_class,
                s.volume_m3, s.threatened_people, s.threatened_property, s.threat_zone,
                {SITE_WARNING_LEVEL} AS warning_level, s.created_at
         FROM hazard_sites s
         JOIN divisions d ON d.code = s.division_code
         WHERE s.division_code = ANY($1) AND {where_clause}
         ORDER BY s.code"
    )
}

/// The sites in scope, of one kind and status if given.
pub async fn list(
    db: &PgPool,
    scope: &Scope,
    kind: Option<SiteKind>,
    status: Option<SiteStatus>,
) -> sqlx::Result<Vec<Site>> {
    sqlx::query_as(sqlx::AssertSqlSafe(site_query(
        "($2::text IS NULL OR s.kind = $2) AND ($3::text IS NULL OR s.status = $3)",
    )))
    .bind(scope.divisions())
    .bind(kind)
    .bind(status)
    .fetch_all(db)
    .await
}

/// One site in scope, with its threat zone; `None` when absent or out of scope.
pub async fn get(db: &PgPool, scope: &Scope, id: SiteId) -> sqlx::Result<Option<Site>> {
    sqlx::query_as(sqlx::AssertSqlSafe(site_query("s.id = $2")))
        .bind(scope.divisions())
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A gateway as the site detail shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SiteGateway {
    pub id: GatewayId,
    pub code: String,
    pub name: String,
    pub online: bool,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub firmware_version: Option<String>,
}

/// A sensor as the site detail shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Sensor {
    pub id: SensorId,
    pub channel: String,
    pub kind: SensorKind,
    pub unit: String,
    #[sqlx(flatten)]
    #[schema(value_type = Option<crate::geojson::GeoJsonPoint>)]
    pub location: MaybePoint,
    pub elevation_m: Option<f64>,
    pub depth_m: Option<f64>,
    pub sampling_interval_s: i32,
    pub active: bool,
    /// The code of the gateway it is wired to.
    pub gateway: String,
    pub gateway_online: bool,
}

/// The gateways of a site already read in scope (by `get`).
pub async fn gateways(db: &PgPool, site: &Site) -> sqlx::Result<Vec<SiteGateway>> {
    sqlx::query_as(
        "SELECT id, code, name, online, last_seen_at, firmware_version
         FROM gateways WHERE site_id = $1 ORDER BY code",
    )
    .bind(site.id)
    .fetch_all(db)
    .await
}

/// The sensors of a site already read in scope (by `get`).
pub async fn sensors(db: &PgPool, site: &Site) -> sqlx::Result<Vec<Sensor>> {
    sqlx::query_as(
        "SELECT se.id, se.channel, se.kind, se.unit, se.longitude, se.latitude, se.elevation_m,
                se.depth_m, se.sampling_interval_s, se.active, g.code AS gateway,
                gateway_online_now(g.id, g.online, g.last_seen_at) AS gateway_online
         FROM sensors se JOIN gateways g ON g.id = se.gateway_id
         WHERE se.site_id = $1 ORDER BY se.id",
    )
    .bind(site.id)
    .fetch_all(db)
    .await
}

/// Whether site `id` exists and is in scope.
pub async fn in_scope(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    id: SiteId,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM hazard_sites WHERE id = $2 AND division_code = ANY($1))",
    )
    .bind(scope.divisions())
    .bind(id)
    .fetch_one(db)
    .await
}

/// The site a sensor in scope is on; `None` when absent or out of scope.
pub async fn of_sensor(
    db: &PgPool,
    scope: &Scope,
    sensor: SensorId,
) -> sqlx::Result<Option<SiteId>> {
    sqlx::query_scalar(
        "SELECT s.id FROM sensors se JOIN hazard_sites s ON s.id = se.site_id
         WHERE se.id = $2 AND s.division_code = ANY($1)",
    )
    .bind(scope.divisions())
    .bind(sensor)
    .fetch_optional(db)
    .await
}

/// A division in scope, with its boundary for the map.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Division {
    pub code: String,
    pub name: String,
    pub level: DivisionLevel,
    pub parent_code: Option<String>,
    /// GeoJSON.
    pub boundary: Option<Value>,
}

/// The divisions in scope, by code.
pub async fn divisions(db: &PgPool, scope: &Scope) -> sqlx::Result<Vec<Division>> {
    sqlx::query_as(
        "SELECT code, name, level, parent_code, boundary FROM divisions
         WHERE code = ANY($1) ORDER BY code",
    )
    .bind(scope.divisions())
    .fetch_all(db)
    .await
}
