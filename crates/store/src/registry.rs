//! The registry: divisions, hazard sites, responsible people, gateways and sensors.

use std::collections::HashMap;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

// The registry's closed sets are the domain's; named here too, where the registry's callers
// have always found them.
pub use geohazard_domain::{DivisionLevel, SensorKind, SiteKind, UnknownName};

/// A GeoJSON geometry value for the database, from a `geo` geometry.
pub fn geometry_to_json(g: &geo::Geometry<f64>) -> serde_json::Value {
    serde_json::to_value(geojson::Geometry::from(g)).expect("GeoJSON always serializes")
}

/// Why a value is not a geometry we can use.
#[derive(Debug, thiserror::Error)]
pub enum GeometryError {
    #[error("not a GeoJSON geometry: {0}")]
    NotGeoJson(#[from] serde_json::Error),
    #[error("not a usable geometry: {0}")]
    Unusable(#[from] geojson::Error),
}

/// A `geo` geometry from a stored or submitted GeoJSON value.
pub fn geometry_from_json(v: &serde_json::Value) -> Result<geo::Geometry<f64>, GeometryError> {
    let g: geojson::Geometry = serde_json::from_value(v.clone())?;
    Ok(geo::Geometry::<f64>::try_from(g)?)
}

#[derive(Debug, Clone)]
pub struct NewDivision<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub level: DivisionLevel,
    pub parent_code: Option<&'a str>,
    pub boundary: Option<geo::Geometry<f64>>,
}

/// Adds a division, or updates its name and boundary when the code exists.
pub async fn upsert_division(pool: &PgPool, d: &NewDivision<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO divisions (code, name, level, parent_code, boundary) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, boundary = EXCLUDED.boundary",
    )
    .bind(d.code)
    .bind(d.name)
    .bind(d.level.as_str())
    .bind(d.parent_code)
    .bind(d.boundary.as_ref().map(geometry_to_json))
    .execute(pool)
    .await?;
    Ok(())
}

/// The most specific division whose boundary contains the point, if any has a boundary there.
pub async fn division_containing(
    pool: &PgPool,
    point: geo::Point<f64>,
) -> sqlx::Result<Option<String>> {
    use geo::Contains;
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT code, boundary FROM divisions WHERE boundary IS NOT NULL ORDER BY length(code) DESC, code DESC",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().find_map(|(code, boundary)| {
        geometry_from_json(&boundary)
            .ok()
            .filter(|g| g.contains(&point))
            .map(|_| code)
    }))
}

#[derive(Debug, Clone)]
pub struct NewSite<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub kind: SiteKind,
    pub division_code: &'a str,
    pub location: geo::Point<f64>,
    pub threat_zone: Option<geo::Polygon<f64>>,
    pub scale_class: Option<&'a str>,
    pub volume_m3: Option<f64>,
    pub threatened_people: i32,
    pub threatened_property: f64,
}

/// Adds a hazard site (or updates it by code) and returns its id.
pub async fn upsert_site(pool: &PgPool, s: &NewSite<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO hazard_sites (code, name, kind, division_code, longitude, latitude, threat_zone,
                                   scale_class, volume_m3, threatened_people, threatened_property)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
             division_code = EXCLUDED.division_code, longitude = EXCLUDED.longitude,
             latitude = EXCLUDED.latitude, threat_zone = EXCLUDED.threat_zone,
             scale_class = EXCLUDED.scale_class, volume_m3 = EXCLUDED.volume_m3,
             threatened_people = EXCLUDED.threatened_people,
             threatened_property = EXCLUDED.threatened_property
         RETURNING id",
    )
    .bind(s.code)
    .bind(s.name)
    .bind(s.kind.as_str())
    .bind(s.division_code)
    .bind(s.location.x())
    .bind(s.location.y())
    .bind(
        s.threat_zone
            .as_ref()
            .map(|p| geometry_to_json(&geo::Geometry::Polygon(p.clone()))),
    )
    .bind(s.scale_class)
    .bind(s.volume_m3)
    .bind(s.threatened_people)
    .bind(s.threatened_property)
    .fetch_one(pool)
    .await
}

/// Adds a person responsible for a site in the given role; returns the person's id.
pub async fn add_responsible(
    pool: &PgPool,
    site_id: i64,
    name: &str,
    phone: &str,
    division_code: &str,
    role: &str,
) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM people WHERE name = $1 AND phone = $2")
            .bind(name)
            .bind(phone)
            .fetch_optional(&mut *tx)
            .await?;
    let person_id =
        match existing {
            Some(id) => id,
            None => sqlx::query_scalar(
                "INSERT INTO people (name, phone, division_code) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(name)
            .bind(phone)
            .bind(division_code)
            .fetch_one(&mut *tx)
            .await?,
        };
    sqlx::query(
        "INSERT INTO site_responsibles (site_id, person_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(site_id)
    .bind(person_id)
    .bind(role)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(person_id)
}

/// Hashes a device or user password with argon2id (PHC string). Slow on purpose (tens of
/// milliseconds, ~19 MiB): from async code, call it through `spawn_blocking`.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password with default parameters")
        .to_string()
}

/// Runs argon2 work on a blocking thread, never on an async worker (it would stall every task
/// sharing that worker). A panic in it is the caller's panic.
async fn argon2_off_the_workers<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(v) => v,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only when the runtime shuts down, which drops the caller too.
            Err(e) => panic!("argon2 work cancelled: {e}"),
        },
    }
}

/// Adds a gateway (or updates its site and name by code) and returns its id. When a password is
/// given it is stored as an argon2 hash.
pub async fn upsert_gateway(
    pool: &PgPool,
    code: &str,
    site_id: Option<i64>,
    name: &str,
    password: Option<&str>,
) -> sqlx::Result<i64> {
    let password_hash = match password {
        Some(p) => {
            let p = p.to_owned();
            Some(argon2_off_the_workers(move || hash_password(&p)).await)
        }
        None => None,
    };
    sqlx::query_scalar(
        "INSERT INTO gateways (code, site_id, name, password_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (code) DO UPDATE SET site_id = EXCLUDED.site_id, name = EXCLUDED.name,
             password_hash = COALESCE(EXCLUDED.password_hash, gateways.password_hash)
         RETURNING id",
    )
    .bind(code)
    .bind(site_id)
    .bind(name)
    .bind(password_hash)
    .fetch_one(pool)
    .await
}

/// Issues new MQTT credentials to a registered gateway: a random key, stored as an argon2 hash
/// and returned once. `None` when no gateway has that code.
pub async fn issue_gateway_key(pool: &PgPool, code: &str) -> sqlx::Result<Option<String>> {
    let key = new_secret(24);
    let hash = {
        let key = key.clone();
        argon2_off_the_workers(move || hash_password(&key)).await
    };
    let updated = sqlx::query(
        "UPDATE gateways SET password_hash = $2, key_issued_at = now(), key_revoked_at = NULL
         WHERE code = $1",
    )
    .bind(code)
    .bind(hash)
    .execute(pool)
    .await?;
    Ok((updated.rows_affected() == 1).then_some(key))
}

/// A random secret of `len` letters and digits (gateway keys, generated passwords).
pub fn new_secret(len: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Why a gateway's key could not be checked (as opposed to being wrong).
#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    #[error("cannot look up the key: {0}")]
    Store(#[from] sqlx::Error),
    #[error("{0}: try again in a moment")]
    Busy(#[from] geohazard_secrets::Busy),
}

/// Whether `password` is the key of the gateway with this code: false for an unknown gateway, a
/// gateway without a key, or a wrong key; an error when the key cannot be looked up, or when
/// the process's argon2 checks are all busy. The one check of a gateway's (or universal-type
/// device's) credentials; argon2 runs in the process's bounded pool of checks
/// ([`geohazard_secrets::PasswordChecks::shared`]), so a reconnect storm cannot grow memory.
pub async fn verify_gateway_password(
    pool: &PgPool,
    code: &str,
    password: &str,
) -> Result<bool, KeyCheckError> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM gateways WHERE code = $1")
            .bind(code)
            .fetch_optional(pool)
            .await?;
    let Some(hash) = hash.flatten() else {
        return Ok(false);
    };
    Ok(geohazard_secrets::PasswordChecks::shared()
        .verify(password.as_bytes(), &hash)
        .await?)
}

#[derive(Debug, Clone)]
pub struct NewSensor<'a> {
    pub gateway_id: i64,
    pub channel: &'a str,
    pub site_id: i64,
    pub kind: SensorKind,
    pub unit: &'a str,
    pub location: Option<geo::Point<f64>>,
    pub elevation_m: Option<f64>,
    pub depth_m: Option<f64>,
    pub sampling_interval_s: i32,
}

/// Adds a sensor (or updates it by gateway and channel) and returns its id.
pub async fn upsert_sensor(pool: &PgPool, s: &NewSensor<'_>) -> sqlx::Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO sensors (gateway_id, channel, site_id, kind, unit, longitude, latitude,
                              elevation_m, depth_m, sampling_interval_s)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (gateway_id, channel) DO UPDATE SET site_id = EXCLUDED.site_id,
             kind = EXCLUDED.kind, unit = EXCLUDED.unit, longitude = EXCLUDED.longitude,
             latitude = EXCLUDED.latitude, elevation_m = EXCLUDED.elevation_m,
             depth_m = EXCLUDED.depth_m, sampling_interval_s = EXCLUDED.sampling_interval_s
         RETURNING id",
    )
    .bind(s.gateway_id)
    .bind(s.channel)
    .bind(s.site_id)
    .bind(s.kind.as_str())
    .bind(s.unit)
    .bind(s.location.map(|p| p.x()))
    .bind(s.location.map(|p| p.y()))
    .bind(s.elevation_m)
    .bind(s.depth_m)
    .bind(s.sampling_interval_s)
    .fetch_one(pool)
    .await
}

/// A gateway as the collector needs it: its id and its active sensors by channel.
#[derive(Debug, Clone)]
pub struct GatewaySensors {
    pub gateway_id: i64,
    pub sensors: HashMap<String, i32>,
}

/// Loads a gateway and its active sensors by code; `None` when it is not registered.
pub async fn gateway_sensors(pool: &PgPool, code: &str) -> sqlx::Result<Option<GatewaySensors>> {
    let Some(gateway_id): Option<i64> =
        sqlx::query_scalar("SELECT id FROM gateways WHERE code = $1")
            .bind(code)
            .fetch_optional(pool)
            .await?
    else {
        return Ok(None);
    };
    let sensors: Vec<(String, i32)> =
        sqlx::query_as("SELECT channel, id FROM sensors WHERE gateway_id = $1 AND active")
            .bind(gateway_id)
            .fetch_all(pool)
            .await?;
    Ok(Some(GatewaySensors {
        gateway_id,
        sensors: sensors.into_iter().collect(),
    }))
}

/// Records that gateways were heard from: last seen (never moved backwards), latest telemetry
/// sequence number, and online.
pub async fn touch_gateways(
    conn: &mut PgConnection,
    ids: &[i64],
    seen_at: &[DateTime<Utc>],
    seqs: &[Option<i64>],
) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE gateways g SET
             last_seen_at = GREATEST(g.last_seen_at, v.seen_at),
             last_seq = COALESCE(v.seq, g.last_seq),
             online = true
         FROM UNNEST($1::int8[], $2::timestamptz[], $3::int8[]) AS v(id, seen_at, seq)
         WHERE g.id = v.id",
    )
    .bind(ids)
    .bind(seen_at)
    .bind(seqs)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a gateway's status message (or its last will): online state, firmware, the status
/// itself, and when it was heard from (`None` for a retained status of unknown age; last seen
/// never moves backwards).
pub async fn apply_status(
    conn: &mut PgConnection,
    gateway_id: i64,
    status: &geohazard_protocol::GatewayStatus,
    heard_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE gateways SET online = $2, last_status = $3,
             firmware_version = COALESCE($4, firmware_version),
             last_seen_at = GREATEST(last_seen_at, $5)
         WHERE id = $1",
    )
    .bind(gateway_id)
    .bind(status.online)
    .bind(serde_json::to_value(status).expect("status serializes"))
    .bind(status.firmware.as_deref())
    .bind(heard_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that a universal-type device connected through the endpoint `endpoint` (its client
/// id): from now on that endpoint answers for it.
pub async fn set_universal_endpoint(pool: &PgPool, code: &str, endpoint: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE gateways SET universal_endpoint = $2
         WHERE code = $1 AND universal_endpoint IS DISTINCT FROM $2",
    )
    .bind(code)
    .bind(endpoint)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether the gateway `code` is a universal-type device last connected through `endpoint`.
pub async fn is_universal_device_of(
    pool: &PgPool,
    code: &str,
    endpoint: &str,
) -> sqlx::Result<bool> {
    let ours: Option<bool> = sqlx::query_scalar(
        "SELECT universal_endpoint IS NOT DISTINCT FROM $2 FROM gateways WHERE code = $1",
    )
    .bind(code)
    .bind(endpoint)
    .fetch_optional(pool)
    .await?;
    Ok(ours.unwrap_or(false))
}
