//! The registry and warnings, as an officer may see them: only objects whose division is the
//! officer's or below it. Anything else answers 404, exactly like an id that does not exist.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use geohazard_protocol::warning::{WarningLevel, WarningState, WarningTransition};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

use crate::audit::{self, Entry};
use crate::auth::{Officer, RemoteAddr, Role};
use crate::error::{ApiError, Body, Id, Params};
use crate::state::AppState;
use crate::stored::Stored;

/// A location read from `longitude` and `latitude` columns, written as a GeoJSON Point.
#[derive(sqlx::FromRow)]
struct Point {
    longitude: f64,
    latitude: f64,
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut point = s.serialize_struct("Point", 2)?;
        point.serialize_field("type", "Point")?;
        point.serialize_field("coordinates", &[self.longitude, self.latitude])?;
        point.end()
    }
}

/// A location that may be unknown: a Point, or null.
#[derive(sqlx::FromRow)]
struct MaybePoint {
    longitude: Option<f64>,
    latitude: Option<f64>,
}

impl Serialize for MaybePoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.longitude, self.latitude) {
            (Some(longitude), Some(latitude)) => Point {
                longitude,
                latitude,
            }
            .serialize(s),
            _ => s.serialize_none(),
        }
    }
}

/// The highest level among a site's unclosed warnings, by rank.
const SITE_WARNING_LEVEL: &str =
    "(SELECT w.level FROM warnings w WHERE w.site_id = s.id AND w.state <> 'closed'
      ORDER BY array_position(ARRAY['blue','yellow','orange','red'], w.level) DESC LIMIT 1)";

/// A division as a site names it.
#[derive(Serialize, sqlx::FromRow)]
struct DivisionRef {
    #[serde(rename = "code")]
    division_code: String,
    #[serde(rename = "name")]
    division_name: String,
    #[serde(rename = "level")]
    division_level: String,
}

/// A site as the list and the detail show it.
#[derive(Serialize, sqlx::FromRow)]
struct Site {
    id: i64,
    code: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[sqlx(flatten)]
    division: DivisionRef,
    status: String,
    #[sqlx(flatten)]
    location: Point,
    scale_class: Option<String>,
    volume_m3: Option<f64>,
    threatened_people: i32,
    threatened_property: f64,
    /// Only in the detail (GeoJSON, as registered).
    #[serde(skip)]
    threat_zone: Option<Value>,
    /// The highest level among its unclosed warnings.
    warning_level: Option<Stored<WarningLevel>>,
    created_at: DateTime<Utc>,
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
struct SitesQuery {
    /// Only sites of this kind (`landslide`, ...).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Only sites with this status (`monitoring`, `emergency`, ...).
    status: Option<String>,
}

/// `GET /api/v1/sites?type=&status=`: the sites in the officer's divisions.
async fn sites(
    State(state): State<AppState>,
    officer: Officer,
    Params(q): Params<SitesQuery>,
) -> Result<Json<Vec<Site>>, ApiError> {
    let sites: Vec<Site> = sqlx::query_as(sqlx::AssertSqlSafe(site_query(
        "WHERE ($2::text IS NULL OR s.kind = $2) AND ($3::text IS NULL OR s.status = $3)",
    )))
    .bind(&officer.division_code)
    .bind(&q.kind)
    .bind(&q.status)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(sites))
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

/// A sensor as the site detail shows it.
#[derive(Serialize, sqlx::FromRow)]
struct Sensor {
    id: i32,
    channel: String,
    kind: String,
    unit: String,
    #[sqlx(flatten)]
    location: MaybePoint,
    elevation_m: Option<f64>,
    depth_m: Option<f64>,
    sampling_interval_s: i32,
    active: bool,
    /// The code of the gateway it is wired to.
    gateway: String,
    gateway_online: bool,
}

/// `GET /api/v1/sites/{id}`: the site with its threat zone and what is on it.
#[derive(Serialize)]
struct SiteDetail {
    #[serde(flatten)]
    site: Site,
    /// GeoJSON, as registered.
    threat_zone: Option<Value>,
    gateways: Vec<GatewayRow>,
    sensors: Vec<Sensor>,
    /// Its unclosed warnings.
    warnings: Vec<WarningView>,
}

/// `GET /api/v1/sites/{id}`: a site with its gateways (online or not), sensors and unclosed
/// warnings.
async fn site(
    State(state): State<AppState>,
    officer: Officer,
    Id(id): Id,
) -> Result<Json<SiteDetail>, ApiError> {
    let mut site: Site = sqlx::query_as(sqlx::AssertSqlSafe(site_query("WHERE s.id = $2")))
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
    let sensors: Vec<Sensor> = sqlx::query_as(
        "SELECT se.id, se.channel, se.kind, se.unit, se.longitude, se.latitude, se.elevation_m,
                se.depth_m, se.sampling_interval_s, se.active, g.code AS gateway,
                g.online AS gateway_online
         FROM sensors se JOIN gateways g ON g.id = se.gateway_id
         WHERE se.site_id = $1 ORDER BY se.id",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let warnings: Vec<WarningView> = sqlx::query_as(sqlx::AssertSqlSafe(warning_query(
        "WHERE w.site_id = $2 AND w.state <> 'closed'",
        "",
    )))
    .bind(&officer.division_code)
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(SiteDetail {
        threat_zone: site.threat_zone.take(),
        site,
        gateways,
        sensors,
        warnings,
    }))
}

/// Raw readings may be asked for at most this far apart.
const MAX_RAW_RANGE: Duration = Duration::days(31);
/// Hourly rollups may be asked for at most this far apart.
const MAX_HOURLY_RANGE: Duration = Duration::days(2 * 366);
/// Rows returned when the request names no limit, and the most it may name.
const DEFAULT_ROWS: i64 = 10_000;
const MAX_ROWS: i64 = 100_000;

#[derive(Deserialize)]
struct ReadingsQuery {
    /// RFC 3339; default: `to` minus one day.
    from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive; default: now.
    to: Option<DateTime<Utc>>,
    /// `raw` (default) or `hourly`.
    resolution: Option<Resolution>,
    limit: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Resolution {
    Raw,
    Hourly,
}

/// Checks a readings request: the range, its length for the resolution, the row limit.
fn readings_bounds(
    q: &ReadingsQuery,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, Resolution, i64), ApiError> {
    let resolution = q.resolution.unwrap_or(Resolution::Raw);
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

/// One raw reading.
#[derive(Serialize, sqlx::FromRow)]
struct RawPoint {
    ts: DateTime<Utc>,
    value: f64,
    quality: i16,
}

/// One hour's rollup.
#[derive(Serialize, sqlx::FromRow)]
struct HourlyPoint {
    ts: DateTime<Utc>,
    n: i64,
    min: f64,
    max: f64,
    mean: f64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Points {
    Raw(Vec<RawPoint>),
    Hourly(Vec<HourlyPoint>),
}

impl Points {
    /// Keeps the first `limit`; true when there were more.
    fn truncate(&mut self, limit: usize) -> bool {
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

/// `GET /api/v1/sensors/{id}/readings`: a range of a sensor's readings, oldest first.
#[derive(Serialize)]
struct Readings {
    sensor: i32,
    unit: String,
    resolution: Resolution,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// The limit cut the range short: ask again from the last point.
    truncated: bool,
    points: Points,
}

/// `GET /api/v1/sensors/{id}/readings?from=&to=&resolution=raw|hourly&limit=`: oldest first;
/// `truncated` says the limit cut the range short (ask again from the last point).
async fn readings(
    State(state): State<AppState>,
    officer: Officer,
    Id(id): Id,
    Params(q): Params<ReadingsQuery>,
) -> Result<Json<Readings>, ApiError> {
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
    let mut points = match resolution {
        Resolution::Raw => Points::Raw(
            sqlx::query_as(
                "SELECT ts, value, quality FROM readings
                 WHERE sensor_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4",
            )
            .bind(sensor)
            .bind(from)
            .bind(to)
            .bind(limit + 1)
            .fetch_all(&state.pool)
            .await?,
        ),
        Resolution::Hourly => Points::Hourly(
            sqlx::query_as(
                "SELECT bucket AS ts, n::int8 AS n, vmin AS min, vmax AS max, vsum / n AS mean
                 FROM readings_hourly
                 WHERE sensor_id = $1 AND bucket >= $2 AND bucket < $3 ORDER BY bucket LIMIT $4",
            )
            .bind(sensor)
            .bind(from)
            .bind(to)
            .bind(limit + 1)
            .fetch_all(&state.pool)
            .await?,
        ),
    };
    let truncated = points.truncate(limit as usize);
    Ok(Json(Readings {
        sensor,
        unit,
        resolution,
        from,
        to,
        truncated,
        points,
    }))
}

/// A site as a warning names it.
#[derive(Serialize, sqlx::FromRow)]
struct SiteRef {
    #[serde(rename = "id")]
    site_id: i64,
    #[serde(rename = "code")]
    site_code: String,
    #[serde(rename = "name")]
    site_name: String,
}

/// A warning as the lists and the detail show it.
#[derive(Serialize, sqlx::FromRow)]
struct WarningView {
    id: i64,
    #[sqlx(flatten)]
    site: SiteRef,
    /// The site's division code.
    #[serde(rename = "division")]
    division_code: String,
    source: String,
    category: String,
    sensor_id: Option<i32>,
    level: Stored<WarningLevel>,
    peak_level: Stored<WarningLevel>,
    state: Stored<WarningState>,
    summary: String,
    summary_zh: String,
    raised_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    reading_ts: Option<DateTime<Utc>>,
    failure_forecast_at: Option<DateTime<Utc>>,
    crossings: i32,
    acknowledged_at: Option<DateTime<Utc>>,
    /// The name of the person who acknowledged it.
    acknowledged_by: Option<String>,
    closed_at: Option<DateTime<Utc>>,
    escalation_step: i32,
    /// Only in the detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<Value>,
}

/// Warnings in scope: `$1` is the officer's division. `tail` follows the WHERE clause.
fn warning_query(where_clause: &str, tail: &str) -> String {
    warning_query_with(where_clause, tail, "NULL::jsonb")
}

fn warning_query_with(where_clause: &str, tail: &str, evidence: &str) -> String {
    format!(
        "{cte} SELECT w.id, w.site_id, s.code AS site_code, s.name AS site_name, s.division_code,
                w.source, w.category, w.sensor_id, w.level, w.peak_level, w.state, w.summary,
                w.summary_zh, w.raised_at, w.updated_at, w.reading_ts, w.failure_forecast_at, w.crossings,
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

/// Which warnings a list asks for.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StateFilter {
    /// Not yet acknowledged.
    Open,
    /// Open or acknowledged.
    #[default]
    Active,
    Acknowledged,
    Closed,
    All,
}

impl StateFilter {
    fn states(self) -> Vec<&'static str> {
        use WarningState::*;
        let states: &[WarningState] = match self {
            StateFilter::Open => &[Open],
            StateFilter::Active => &[Open, Acknowledged],
            StateFilter::Acknowledged => &[Acknowledged],
            StateFilter::Closed => &[Closed],
            StateFilter::All => &[Open, Acknowledged, Closed],
        };
        states.iter().map(|s| s.as_str()).collect()
    }
}

#[derive(Deserialize)]
struct WarningsQuery {
    /// `open`, `active` (the default), `acknowledged`, `closed` or `all`.
    state: Option<StateFilter>,
    limit: Option<i64>,
}

/// `GET /api/v1/warnings?state=open|active|acknowledged|closed|all&limit=`: newest change first.
async fn warnings(
    State(state): State<AppState>,
    officer: Officer,
    Params(q): Params<WarningsQuery>,
) -> Result<Json<Vec<WarningView>>, ApiError> {
    let states = q.state.unwrap_or_default().states();
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    let warnings: Vec<WarningView> = sqlx::query_as(sqlx::AssertSqlSafe(warning_query(
        "WHERE w.state = ANY($2)",
        "LIMIT $3",
    )))
    .bind(&officer.division_code)
    .bind(states)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(warnings))
}

/// One warning in scope, with its evidence.
async fn load_warning(
    state: &AppState,
    officer: &Officer,
    id: i64,
) -> Result<WarningView, ApiError> {
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

/// One transition of a warning.
#[derive(Serialize, sqlx::FromRow)]
struct WarningEvent {
    at: DateTime<Utc>,
    transition: Stored<WarningTransition>,
    from_level: Option<Stored<WarningLevel>>,
    to_level: Option<Stored<WarningLevel>>,
    actor: String,
    /// The name of the person who made it, if a person did.
    person: Option<String>,
    evidence: Value,
}

/// `GET /api/v1/warnings/{id}`: a warning with its evidence and its transitions.
#[derive(Serialize)]
struct WarningDetail {
    #[serde(flatten)]
    warning: WarningView,
    /// Oldest first.
    events: Vec<WarningEvent>,
}

/// `GET /api/v1/warnings/{id}`: one warning with its evidence and its transitions.
async fn warning(
    State(state): State<AppState>,
    officer: Officer,
    Id(id): Id,
) -> Result<Json<WarningDetail>, ApiError> {
    let warning = load_warning(&state, &officer, id).await?;
    let events: Vec<WarningEvent> = sqlx::query_as(
        "SELECT e.at, e.transition, e.from_level, e.to_level, e.actor, p.name AS person,
                e.evidence
             FROM warning_events e LEFT JOIN people p ON p.id = e.person_id
             WHERE e.warning_id = $1 ORDER BY e.id",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(WarningDetail { warning, events }))
}

#[derive(Deserialize)]
struct AcknowledgeRequest {
    #[serde(default)]
    note: Option<String>,
}

/// Longest note accepted with an acknowledgement, in characters.
const MAX_NOTE_CHARS: usize = 2000;

/// `POST /api/v1/warnings/{id}/acknowledge` {note}: duty officers and admins. The change is
/// stored by the analyzer's state machine, audited, and published on MQTT like every other
/// warning change.
async fn acknowledge(
    State(state): State<AppState>,
    officer: Officer,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id,
    Body(req): Body<AcknowledgeRequest>,
) -> Result<Json<WarningView>, ApiError> {
    officer.require(Role::DutyOfficer, "your role may not acknowledge warnings")?;
    let note = req.note.unwrap_or_default();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::bad_request(format!(
            "the note is too long: at most {MAX_NOTE_CHARS} characters"
        )));
    }
    let before = load_warning(&state, &officer, id).await?;
    if before.state.0 != WarningState::Open {
        return Err(ApiError::Conflict(format!(
            "the warning is {}: only an open warning can be acknowledged",
            before.state.0.as_str()
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
            now.state.0.as_str()
        )));
    };
    audit::record(
        &mut *tx,
        &Entry {
            officer_id: Some(officer.id),
            action: "warning.acknowledge",
            target: Some(format!("warning:{id}")),
            division_code: Some(before.division_code.clone()),
            detail: json!({"note": note, "site": before.site.site_code, "level": before.level,
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
    Ok(Json(load_warning(&state, &officer, id).await?))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sites", get(sites))
        .route("/api/v1/sites/{id}", get(site))
        .route("/api/v1/sensors/{id}/readings", get(readings))
        .route("/api/v1/warnings", get(warnings))
        .route("/api/v1/warnings/{id}", get(warning))
        .route("/api/v1/warnings/{id}/acknowledge", post(acknowledge))
}
