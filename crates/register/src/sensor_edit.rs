//! Sensors in the register, kept from the console: kind, unit, expected interval, position,
//! the gateway and point (channel) their readings come from, and the site they watch; within
//! the officer's scope (the site and the gateway both theirs), each field refused by name.

use geohazard_domain::{Scope, SensorId, SensorKind, SiteId};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::site_input::{FieldError, Reason, checked_text};

/// A sensor as the register shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RegisteredSensor {
    pub id: SensorId,
    pub gateway_code: String,
    /// The point (channel) the gateway reports it as.
    pub channel: String,
    pub site_id: SiteId,
    pub site_code: String,
    pub division_code: String,
    pub kind: SensorKind,
    pub unit: String,
    /// How often a reading is expected, seconds.
    pub sampling_interval_s: i32,
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
    pub elevation_m: Option<f64>,
    pub depth_m: Option<f64>,
    pub active: bool,
}

/// A sensor as an officer registers or edits it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SensorInput {
    pub gateway_code: Option<String>,
    pub channel: Option<String>,
    pub site_id: Option<SiteId>,
    /// rain_gauge, crack_meter, gnss, inclinometer, piezometer, soil_moisture, mud_level,
    /// water_level, supply_voltage, other.
    pub kind: Option<String>,
    pub unit: Option<String>,
    /// 1 to 86400 seconds; 60 when not given.
    pub sampling_interval_s: Option<i64>,
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
    pub elevation_m: Option<f64>,
    pub depth_m: Option<f64>,
    /// true when not given.
    pub active: Option<bool>,
}

const SELECT: &str = "SELECT se.id, g.code AS gateway_code, se.channel, se.site_id,
        s.code AS site_code, s.division_code, se.kind, se.unit, se.sampling_interval_s,
        se.longitude, se.latitude, se.elevation_m, se.depth_m, se.active
    FROM sensors se JOIN gateways g ON g.id = se.gateway_id
    JOIN hazard_sites s ON s.id = se.site_id";

/// The sensors in scope (of one site if given), by site and point.
pub async fn list(
    db: &mut PgConnection,
    scope: &Scope,
    site: Option<SiteId>,
) -> sqlx::Result<Vec<RegisteredSensor>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE s.division_code = ANY($1) AND ($2::int8 IS NULL OR se.site_id = $2)
         ORDER BY s.code, g.code, se.channel"
    )))
    .bind(scope.divisions())
    .bind(site)
    .fetch_all(db)
    .await
}

async fn get(
    db: &mut PgConnection,
    scope: &Scope,
    id: SensorId,
) -> sqlx::Result<Option<RegisteredSensor>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE se.id = $2 AND s.division_code = ANY($1)"
    )))
    .bind(scope.divisions())
    .bind(id)
    .fetch_optional(db)
    .await
}

/// What a save did.
pub enum Saved {
    /// The sensor before (none: new) and after.
    Done(Box<(Option<RegisteredSensor>, RegisteredSensor)>),
    Invalid(Vec<FieldError>),
    /// The sensor to edit is absent or out of scope.
    NotFound,
}

fn number_in(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    v: Option<f64>,
    limit: f64,
) -> Option<f64> {
    let x = v?;
    if x.is_finite() && (-limit..=limit).contains(&x) {
        Some(x)
    } else {
        errors.push(FieldError::new(field, x.to_string(), Reason::OutOfRange));
        None
    }
}

/// Registers a sensor (`id` none) or changes sensor `id`, in scope.
pub async fn save(
    tx: &mut PgConnection,
    scope: &Scope,
    id: Option<SensorId>,
    input: &SensorInput,
) -> sqlx::Result<Saved> {
    let before = match id {
        None => None,
        Some(id) => match get(tx, scope, id).await? {
            None => return Ok(Saved::NotFound),
            some => some,
        },
    };
    let mut errors = Vec::new();
    let gateway = checked_text(
        &mut errors,
        "gateway_code",
        input.gateway_code.as_deref(),
        64,
        true,
    );
    let channel = checked_text(&mut errors, "channel", input.channel.as_deref(), 64, true);
    if let Some(c) = &channel
        && !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
    {
        errors.push(FieldError::new("channel", c, Reason::BadCode));
    }
    let kind_text = checked_text(&mut errors, "kind", input.kind.as_deref(), 32, true);
    let kind: Option<SensorKind> = kind_text.as_deref().and_then(|k| match k.parse() {
        Ok(kind) => Some(kind),
        Err(_) => {
            errors.push(FieldError::new("kind", k, Reason::UnknownKind));
            None
        }
    });
    let unit = checked_text(&mut errors, "unit", input.unit.as_deref(), 16, true);
    let interval = input.sampling_interval_s.unwrap_or(60);
    if !(1..=86_400).contains(&interval) {
        errors.push(FieldError::new(
            "sampling_interval_s",
            interval.to_string(),
            Reason::OutOfRange,
        ));
    }
    let longitude = number_in(&mut errors, "longitude", input.longitude, 180.0);
    let latitude = number_in(&mut errors, "latitude", input.latitude, 90.0);
    let elevation = number_in(&mut errors, "elevation_m", input.elevation_m, 10_000.0);
    let depth = number_in(&mut errors, "depth_m", input.depth_m, 10_000.0);
    let site_ok = match input.site_id {
        None => {
            errors.push(FieldError::new("site_id", "", Reason::Required));
            false
        }
        Some(site) => crate::sites::in_scope(&mut *tx, scope, site).await?,
    };
    if !site_ok && let Some(site) = input.site_id {
        errors.push(FieldError::new(
            "site_id",
            site.0.to_string(),
            Reason::OutOfScope,
        ));
    }
    let gateway_id: Option<i64> = match &gateway {
        None => None,
        Some(code) => {
            let found: Option<i64> = sqlx::query_scalar(
                "SELECT g.id FROM gateways g JOIN hazard_sites s ON s.id = g.site_id
                 WHERE g.code = $1 AND s.division_code = ANY($2)",
            )
            .bind(code)
            .bind(scope.divisions())
            .fetch_optional(&mut *tx)
            .await?;
            if found.is_none() {
                errors.push(FieldError::new("gateway_code", code, Reason::OutOfScope));
            }
            found
        }
    };
    if let (Some(g), Some(c)) = (gateway_id, &channel) {
        let taken: Option<SensorId> =
            sqlx::query_scalar("SELECT id FROM sensors WHERE gateway_id = $1 AND channel = $2")
                .bind(g)
                .bind(c)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() && taken != id {
            errors.push(FieldError::new("channel", c, Reason::DuplicateCode));
        }
    }
    if !errors.is_empty() {
        return Ok(Saved::Invalid(errors));
    }
    let (Some(gateway_id), Some(channel), Some(kind), Some(unit)) =
        (gateway_id, channel, kind, unit)
    else {
        unreachable!("a missing required field is an error");
    };
    let query = match id {
        None => sqlx::query_scalar(
            "INSERT INTO sensors (gateway_id, channel, site_id, kind, unit, sampling_interval_s,
                                  longitude, latitude, elevation_m, depth_m, active)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE $12::int4 IS NULL
             RETURNING id",
        ),
        Some(_) => sqlx::query_scalar(
            "UPDATE sensors SET gateway_id = $1, channel = $2, site_id = $3, kind = $4,
                    unit = $5, sampling_interval_s = $6, longitude = $7, latitude = $8,
                    elevation_m = $9, depth_m = $10, active = $11
             WHERE id = $12 RETURNING id",
        ),
    };
    let saved: SensorId = query
        .bind(gateway_id)
        .bind(&channel)
        .bind(input.site_id)
        .bind(kind)
        .bind(&unit)
        .bind(interval as i32)
        .bind(longitude)
        .bind(latitude)
        .bind(elevation)
        .bind(depth)
        .bind(input.active.unwrap_or(true))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let after = get(tx, scope, saved)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok(Saved::Done(Box::new((before, after))))
}
