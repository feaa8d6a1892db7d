//! A sensor's readings in scope: raw, or hourly rollups.

use chrono::{DateTime, Utc};
use geohazard_domain::{Scope, SensorId};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// `raw` readings or `hourly` rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Raw,
    Hourly,
}

/// One raw reading.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RawPoint {
    pub ts: DateTime<Utc>,
    pub value: f64,
    pub quality: i16,
}

/// One hour's rollup.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HourlyPoint {
    pub ts: DateTime<Utc>,
    pub n: i64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// The hour's total: a rain gauge's rain in the hour (its readings are increments).
    pub sum: f64,
}

/// Raw readings or hourly rollups, oldest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Points {
    Raw(Vec<RawPoint>),
    Hourly(Vec<HourlyPoint>),
}

impl Points {
    /// Keeps the first `limit`; true when there were more.
    pub fn truncate(&mut self, limit: usize) -> bool {
        fn cut<T>(v: &mut Vec<T>, limit: usize) -> bool {
            let more = v.len() > limit;
            v.truncate(limit);
            more
        }
        match self {
            Points::Raw(v) => cut(v, limit),
            Points::Hourly(v) => cut(v, limit),
        }
    }
}

/// The unit of a sensor in scope; `None` when absent or out of scope.
pub async fn sensor_unit(
    db: &PgPool,
    scope: &Scope,
    sensor: SensorId,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT se.unit FROM sensors se
         JOIN hazard_sites s ON s.id = se.site_id
         WHERE se.id = $2 AND s.division_code = ANY($1)",
    )
    .bind(scope.divisions())
    .bind(sensor)
    .fetch_optional(db)
    .await
}

/// Up to `limit` points of `sensor` in `[from, to)`, oldest first. The sensor must have been
/// found in scope first (`sensor_unit`).
pub async fn points(
    db: &PgPool,
    sensor: SensorId,
    resolution: Resolution,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Points> {
    Ok(match resolution {
        Resolution::Raw => Points::Raw(
            sqlx::query_as(
                "SELECT ts, value, quality FROM readings
                 WHERE sensor_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4",
            )
            .bind(sensor)
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(db)
            .await?,
        ),
        Resolution::Hourly => Points::Hourly(
            sqlx::query_as(
                "SELECT bucket AS ts, n::int8 AS n, vmin AS min, vmax AS max, vsum / n AS mean, vsum AS sum
                 FROM readings_hourly
                 WHERE sensor_id = $1 AND bucket >= $2 AND bucket < $3 ORDER BY bucket LIMIT $4",
            )
            .bind(sensor)
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(db)
            .await?,
        ),
    })
}
