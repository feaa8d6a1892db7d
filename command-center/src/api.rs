//! The registry and warnings, as an officer may see them: only objects whose division is the
//! officer's or below it. Anything else answers 404, exactly like an id that does not exist.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::{self, Entry};
use crate::auth::{Officer, RemoteAddr, Role};
use crate::error::{ApiError, Body, Id, Params};
use crate::state::AppState;

/// GeoJSON Point for a longitude and latitude.
fn point(longitude: f64, latitude: f64) -> Value {
    json!({"type": "Point", "coordinates": [longitude, latitude]})
}

/// The highest level among a site's unclosed warnings, by rank.
const SITE_WARNING_LEVEL: &str =
    "(SELECT w.level FROM warnings w WHERE w.site_id = s.id AND w.state <> 'closed'
      ORDER BY array_position(ARRAY['blue','yellow','orange','red'], w.level) DESC LIMIT 1)";

#[derive(sqlx::FromRow)]
struct SiteRow {
    id: i64,
    code: String,
    name: String,
    kind: String,
    division_code: String,
    division_name: String,
    division_level: String,
    status: String,
    longitude: f64,
    latitude: f64,
    scale_class: Option<String>,
    volume_m3: Option<f64>,
    threatened_people: i32,
    threatened_property: f64,
    threat_zone: Option<Value>,
    warning_level: Option<String>,
    created_at: DateTime<Utc>,
}

impl SiteRow {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "type": self.kind,
            "division": {"code": self.division_code, "name": self.division_name, "level": self.division_level},
            "status": self.status,
            "location": point(self.longitude, self.latitude),
            "scale_class": self.scale_class,
            "volume_m3": self.volume_m3,
            "threatened_people": self.threatened_people,
            "threatened_property": self.threatened_property,
            "warning_level": self.warning_level,
            "created_at": self.created_at,
        })
    }
}

fn site_query(where_clause: &str) -> String {
    format!(
        "{cte} SELECT s.id, s.code, s.name, s.kind, s.division_code, d.name AS division_name,
                d.level AS division_level, s.status, s.longitude, s.latitude, s.scale_class,
                s.volume_m3, s.threatened_people, s.threatened_property, s.threat_zone,
                {SITE_WARNING_LEVEL} AS warning_level, s.created_at
         FROM hazard_sites s
         JOIN scope ON scope.code = s.division_code
         JOIN divisions d ON d.code = s.division_code
         {where_clause}
         ORDER BY s.code",
        cte = scope_cte!()
    )
}

#[derive(Deserialize)]
pub struct SitesQuery {
    /// Only sites of this kind (`landslide`, ...).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Only sites with this status (`monitoring`, `emergency`, ...).
    pub status: Option<String>,
}

/// `GET /api/v1/sites?type=&status=`: the sites in the officer's divisions.
pub async fn sites(
    State(state): State<AppState>,
    officer: Officer,
    Params(q): Params<SitesQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let rows: Vec<SiteRow> = sqlx::query_as(sqlx::AssertSqlSafe(site_query(
        "WHERE ($2::text IS NULL OR s.kind = $2) AND ($3::text IS NULL OR s.status = $3)",
    )))
    .bind(&officer.division_code)
    .bind(&q.kind)
    .bind(&q.status)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows.iter().map(SiteRow::to_json).collect()))
}

#[derive(Serialize, sqlx::FromRow)]
struct GatewayRow {
    id: i64,
    code: String,
    name: String,
    online: bool,
    last_seen_at: Option<DateTime<Utc>>,
    firmware_version: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SensorRow {
    id: i32,
    channel: String,
    kind: String,
    unit: String,
    longitude: Option<f64>,
    latitude: Option<f64>,
    elevation_m: Option<f64>,
    depth_m: Option<f64>,
    sampling_interval_s: i32,
    active: bool,
    gateway: String,
    gateway_online: bool,
}

/// `GET /api/v1/sites/{id}`: a site with its gateways (online or not), sensors and unclosed
/// warnings.
pub async fn site(
    State(state): State<AppState>,
    officer: Officer,
    Id(id): Id,
) -> Result<Json<Value>, ApiError> {
    let row: SiteRow = sqlx::query_as(sqlx::AssertSqlSafe(site_query("WHERE s.id = $2")))
        .bind(&officer.division_code)
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(ApiError::NotFound)?;
    let gateways: Vec<GatewayRow> = sqlx::query_as(
        "SELECT id, code, name, online, last_seen_at, firmware_version
         FROM gateways WHERE site_id = $1 ORDER BY code",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let sensors: Vec<SensorRow> = sqlx::query_as(
        "SELECT se.id, se.channel, se.kind, se.unit, se.longitude, se.latitude, se.elevation_m,
                se.depth_m, se.sampling_interval_s, se.active, g.code AS gateway,
                g.online AS gateway_online
         FROM sensors se JOIN gateways g ON g.id = se.gateway_id
         WHERE se.site_id = $1 ORDER BY se.id",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let warnings: Vec<WarningRow> = sqlx::query_as(sqlx::AssertSqlSafe(warning_query(
        "WHERE w.site_id = $2 AND w.state <> 'closed'",
        "",
    )))
    .bind(&officer.division_code)
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let mut site = row.to_json();
    site["threat_zone"] = row.threat_zone.clone().unwrap_or(Value::Null);
    site["gateways"] = json!(gateways);
    site["sensors"] = sensors
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "channel": s.channel,
                "kind": s.kind,
                "unit": s.unit,
                "location": match (s.longitude, s.latitude) {
                    (Some(lon), Some(lat)) => point(lon, lat),
                    _ => Value::Null,
                },
                "elevation_m": s.elevation_m,
                "depth_m": s.depth_m,
                "sampling_interval_s": s.sampling_interval_s,
                "active": s.active,
                "gateway": s.gateway,
                "gateway_online": s.gateway_online,
            })
        })
        .collect();
    site["warnings"] = warnings.iter().map(WarningRow::to_json).collect();
    Ok(Json(site))
}

/// Raw readings may be asked for at most this far apart.
pub const MAX_RAW_RANGE: Duration = Duration::days(31);
/// Hourly rollups may be asked for at most this far apart.
pub const MAX_HOURLY_RANGE: Duration = Duration::days(2 * 366);
/// Rows returned when the request names no limit, and the most it may name.
pub const DEFAULT_ROWS: i64 = 10_000;
pub const MAX_ROWS: i64 = 100_000;

#[derive(Deserialize)]
pub struct ReadingsQuery {
    /// RFC 3339; default: `to` minus one day.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive; default: now.
    pub to: Option<DateTime<Utc>>,
    /// `raw` (default) or `hourly`.
    pub resolution: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Raw,
    Hourly,
}

/// Checks a readings request: the range, its length for the resolution, the row limit.
pub fn readings_bounds(
    q: &ReadingsQuery,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, Resolution, i64), ApiError> {
    let resolution = match q.resolution.as_deref().unwrap_or("raw") {
        "raw" => Resolution::Raw,
        "hourly" => Resolution::Hourly,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown resolution `{other}` (raw or hourly)"
            )));
        }
    };
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - Duration::days(1));
    if from >= to {
        return Err(ApiError::bad_request("`from` must be before `to`"));
    }
    let (max, name) = match resolution {
        Resolution::Raw => (MAX_RAW_RANGE, "31 days for raw readings"),
        Resolution::Hourly => (MAX_HOURLY_RANGE, "2 years for hourly readings"),
    };
    if to - from > max {
        return Err(ApiError::bad_request(format!(
            "the range is too long: at most {name}"
        )));
    }
    let limit = q.limit.unwrap_or(DEFAULT_ROWS);
    if !(1..=MAX_ROWS).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_ROWS}"
        )));
    }
    Ok((from, to, resolution, limit))
}

/// `GET /api/v1/sensors/{id}/readings?from=&to=&resolution=raw|hourly&limit=`: oldest first;
/// `truncated` says the limit cut the range short (ask again from the last point).
pub async fn readings(
    State(state): State<AppState>,
    officer: Officer,
    Id(id): Id,
    Params(q): Params<ReadingsQuery>,
) -> Result<Json<Value>, ApiError> {
    let (from, to, resolution, limit) = readings_bounds(&q, Utc::now())?;
    let unit: String = sqlx::query_scalar(concat!(
        scope_cte!(),
        "SELECT se.unit FROM sensors se
         JOIN hazard_sites s ON s.id = se.site_id
         JOIN scope ON scope.code = s.division_code
         WHERE se.id = $2"
    ))
    .bind(&officer.division_code)
    .bind(i32::try_from(id).map_err(|_| ApiError::NotFound)?)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(ApiError::NotFound)?;
    let sensor = id as i32;
    let mut points: Vec<Value> = match resolution {
        Resolution::Raw => {
            let rows: Vec<(DateTime<Utc>, f64, i16)> = sqlx::query_as(
                "SELECT ts, value, quality FROM readings
                 WHERE sensor_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4",
            )
            .bind(sensor)
            .bind(from)
            .bind(to)
            .bind(limit + 1)
            .fetch_all(&state.pool)
            .await?;
            rows.into_iter()
                .map(|(ts, value, quality)| json!({"ts": ts, "value": value, "quality": quality}))
                .collect()
        }
        Resolution::Hourly => {
            let rows: Vec<(DateTime<Utc>, i64, f64, f64, f64)> = sqlx::query_as(
                "SELECT bucket, n::int8, vmin, vmax, vsum / n FROM readings_hourly
                 WHERE sensor_id = $1 AND bucket >= $2 AND bucket < $3 ORDER BY bucket LIMIT $4",
            )
            .bind(sensor)
            .bind(from)
            .bind(to)
            .bind(limit + 1)
            .fetch_all(&state.pool)
            .await?;
            rows.into_iter()
                .map(|(ts, n, min, max, mean)| {
                    json!({"ts": ts, "n": n, "min": min, "max": max, "mean": mean})
                })
                .collect()
        }
    };
    let truncated = points.len() as i64 > limit;
    points.truncate(limit as usize);
    Ok(Json(json!({
        "sensor": sensor,
        "unit": unit,
        "resolution": match resolution { Resolution::Raw => "raw", Resolution::Hourly => "hourly" },
        "from": from,
        "to": to,
        "truncated": truncated,
        "points": points,
    })))
}

#[derive(sqlx::FromRow)]
struct WarningRow {
    id: i64,
    site_id: i64,
    site_code: String,
    site_name: String,
    division_code: String,
    source: String,
    category: String,
    sensor_id: Option<i32>,
    level: String,
    peak_level: String,
    state: String,
    summary: String,
    raised_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    reading_ts: Option<DateTime<Utc>>,
    failure_forecast_at: Option<DateTime<Utc>>,
    crossings: i32,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<String>,
    closed_at: Option<DateTime<Utc>>,
    escalation_step: i32,
    evidence: Option<Value>,
}

impl WarningRow {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "site": {"id": self.site_id, "code": self.site_code, "name": self.site_name},
            "division": self.division_code,
            "source": self.source,
            "category": self.category,
            "sensor_id": self.sensor_id,
            "level": self.level,
            "peak_level": self.peak_level,
            "state": self.state,
            "summary": self.summary,
            "raised_at": self.raised_at,
            "updated_at": self.updated_at,
            "reading_ts": self.reading_ts,
            "failure_forecast_at": self.failure_forecast_at,
            "crossings": self.crossings,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "closed_at": self.closed_at,
            "escalation_step": self.escalation_step,
        });
        if let Some(e) = &self.evidence {
            v["evidence"] = e.clone();
        }
        v
    }
}

/// Warnings in scope: `$1` is the officer's division. `tail` follows the WHERE clause.
fn warning_query(where_clause: &str, tail: &str) -> String {
    warning_query_with(where_clause, tail, "NULL::jsonb")
}

fn warning_query_with(where_clause: &str, tail: &str, evidence: &str) -> String {
    format!(
        "{cte} SELECT w.id, w.site_id, s.code AS site_code, s.name AS site_name, s.division_code,
                w.source, w.category, w.sensor_id, w.level, w.peak_level, w.state, w.summary,
                w.raised_at, w.updated_at, w.reading_ts, w.failure_forecast_at, w.crossings,
                w.acknowledged_at, p.name AS acknowledged_by, w.closed_at, w.escalation_step,
                {evidence} AS evidence
         FROM warnings w
         JOIN hazard_sites s ON s.id = w.site_id
         JOIN scope ON scope.code = s.division_code
         LEFT JOIN people p ON p.id = w.acknowledged_by
         {where_clause}
         ORDER BY w.updated_at DESC, w.id DESC {tail}",
        cte = scope_cte!()
    )
}

#[derive(Deserialize)]
pub struct WarningsQuery {
    /// `open` (not yet acknowledged), `active` (open or acknowledged, the default),
    /// `acknowledged`, `closed` or `all`.
    pub state: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/warnings?state=open|active|acknowledged|closed|all&limit=`: newest change first.
pub async fn warnings(
    State(state): State<AppState>,
    officer: Officer,
    Params(q): Params<WarningsQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let states: &[&str] = match q.state.as_deref().unwrap_or("active") {
        "open" => &["open"],
        "active" => &["open", "acknowledged"],
        "acknowledged" => &["acknowledged"],
        "closed" => &["closed"],
        "all" => &["open", "acknowledged", "closed"],
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown state `{other}` (open, active, acknowledged, closed or all)"
            )));
        }
    };
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    let rows: Vec<WarningRow> = sqlx::query_as(sqlx::AssertSqlSafe(warning_query(
        "WHERE w.state = ANY($2)",
        "LIMIT $3",
    )))
    .bind(&officer.division_code)
    .bind(states)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows.iter().map(WarningRow::to_json).collect()))
}

async fn load_warning(
    state: &AppState,
    officer: &Officer,
    id: i64,
) -> Result<WarningRow, ApiError> {
    sqlx::query_as(sqlx::AssertSqlSafe(warning_query_with(
        "WHERE w.id = $2",
        "",
        "w.evidence",
    )))
    .bind(&officer.division_code)
    .bind(id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(ApiError::NotFound)
}

/// A warning transition: at, transition, from, to, actor, person's name, evidence.
type EventRow = (
    DateTime<Utc>,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Value,
);

/// `GET /api/v1/warnings/{id}`: one warning with its evidence and its transitions.
pub async fn warning(
    State(state): State<AppState>,
    officer: Officer,
    Id(id): Id,
) -> Result<Json<Value>, ApiError> {
    let row = load_warning(&state, &officer, id).await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT e.at, e.transition, e.from_level, e.to_level, e.actor, p.name, e.evidence
             FROM warning_events e LEFT JOIN people p ON p.id = e.person_id
             WHERE e.warning_id = $1 ORDER BY e.id",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let mut v = row.to_json();
    v["events"] = events
        .into_iter()
        .map(|(at, transition, from, to, actor, person, evidence)| {
            json!({"at": at, "transition": transition, "from_level": from, "to_level": to,
                   "actor": actor, "person": person, "evidence": evidence})
        })
        .collect();
    Ok(Json(v))
}

#[derive(Deserialize)]
pub struct AcknowledgeRequest {
    #[serde(default)]
    pub note: Option<String>,
}

/// Longest note accepted with an acknowledgement, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// `POST /api/v1/warnings/{id}/acknowledge` {note}: duty officers and admins. The change is
/// stored by the analyzer's state machine, audited, and published on MQTT like every other
/// warning change.
pub async fn acknowledge(
    State(state): State<AppState>,
    officer: Officer,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id,
    Body(req): Body<AcknowledgeRequest>,
) -> Result<Json<Value>, ApiError> {
    officer.require(Role::DutyOfficer, "your role may not acknowledge warnings")?;
    let note = req.note.unwrap_or_default();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::bad_request(format!(
            "the note is too long: at most {MAX_NOTE_CHARS} characters"
        )));
    }
    let before = load_warning(&state, &officer, id).await?;
    if before.state != "open" {
        return Err(ApiError::Conflict(format!(
            "the warning is {}: only an open warning can be acknowledged",
            before.state
        )));
    }
    // The acknowledgement and its audit entry commit together, or neither does.
    let mut tx = state.pool.begin().await?;
    let Some(message) =
        geohazard_warnings::acknowledge(&mut tx, id, officer.person_id, Some(&note)).await?
    else {
        // Someone else acknowledged it, or it closed, since we looked.
        let now = load_warning(&state, &officer, id).await?;
        return Err(ApiError::Conflict(format!(
            "the warning is {}: only an open warning can be acknowledged",
            now.state
        )));
    };
    audit::record(
        &mut *tx,
        &Entry {
            officer_id: Some(officer.id),
            action: "warning.acknowledge",
            target: Some(format!("warning:{id}")),
            division_code: Some(before.division_code.clone()),
            detail: json!({"note": note, "site": before.site_code, "level": before.level,
                           "source": before.source}),
            remote_addr: remote,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(warning = id, officer = %officer.username, "warning acknowledged");
    if let Some(outbox) = &state.outbox {
        let _ = outbox.send(message);
    }
    let after = load_warning(&state, &officer, id).await?;
    Ok(Json(after.to_json()))
}
