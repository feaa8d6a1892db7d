//! Issuing, persisted: input grids stored as they are imported; a run (scheduled once per
//! cluster, or on demand) computes a draft from the newest inputs; officers adjust it with a
//! reason; a second officer approves, which in one transaction releases it, supersedes the
//! day's earlier release, writes its CAP alert (an `Update` referencing the alerts it revises)
//! and queues the notifications of the people of every affected division and site; a release
//! may be cancelled (a CAP `Cancel`). Each change is decided by [`crate::decide`] first.

use chrono::{DateTime, Days, FixedOffset, NaiveDate, TimeZone, Utc};
use geo::MultiPolygon;
use geohazard_domain::WarningLevel;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

use crate::areas::{self, Division, Product, SitePoint};
use crate::cap::{self, MsgType, Reference};
use crate::decide::{Change, Current, Decision, Refusal, State, decide};
use crate::grid::{Grid, GridSpec};
use crate::model::{self, ModelParams};

/// China Standard Time, the agencies' zone: days and hours of warnings are counted in it.
pub const CST: FixedOffset = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");

/// What may go wrong issuing.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("not found")]
    NotFound,
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The request or the inputs are not usable; the text says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The request does not fit the object's state now; the text says why.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Who publishes: the CAP sender id and the agency's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publisher {
    pub sender: String,
    pub sender_name: String,
}

impl Default for Publisher {
    fn default() -> Self {
        Publisher {
            sender: "geohazard@localhost".into(),
            sender_name: "地质灾害气象风险预警中心".into(),
        }
    }
}

/// An input grid's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridKind {
    Susceptibility,
    Observed,
    Forecast,
}

impl GridKind {
    fn as_str(self) -> &'static str {
        match self {
            GridKind::Susceptibility => "susceptibility",
            GridKind::Observed => "observed",
            GridKind::Forecast => "forecast",
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// Stores an input grid; `date` is the day the rain fell or is forecast for (none for
/// susceptibility). Returns its id.
pub async fn store_grid(
    db: impl sqlx::PgExecutor<'_>,
    kind: GridKind,
    date: Option<NaiveDate>,
    period_h: Option<i32>,
    spec: &GridSpec,
    cells: &Array2<f64>,
    source: &str,
    officer: Option<i64>,
) -> Result<i64, IssueError> {
    if (kind == GridKind::Susceptibility) != date.is_none() {
        return Err(IssueError::Invalid(
            "date: a rain grid needs its day, a susceptibility grid has none".into(),
        ));
    }
    if cells.dim() != spec.shape() {
        return Err(IssueError::Invalid("the values do not fit the grid".into()));
    }
    let id = sqlx::query_scalar(
        "INSERT INTO forecast_grids (kind, valid_date, period_h, spec, cells, source, uploaded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(kind.as_str())
    .bind(date)
    .bind(period_h)
    .bind(json!(spec))
    .bind(cells.iter().copied().collect::<Vec<f64>>())
    .bind(source.chars().take(200).collect::<String>())
    .bind(officer)
    .fetch_one(db)
    .await?;
    Ok(id)
}

async fn newest_grid(
    conn: &mut PgConnection,
    kind: GridKind,
    date: Option<NaiveDate>,
) -> sqlx::Result<Option<(i64, GridSpec, Array2<f64>)>> {
    let row: Option<(i64, Value, Vec<f64>)> = sqlx::query_as(
        "SELECT id, spec, cells FROM forecast_grids
         WHERE kind = $1 AND valid_date IS NOT DISTINCT FROM $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(kind.as_str())
    .bind(date)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, spec, cells)) = row else {
        return Ok(None);
    };
    let spec: GridSpec = serde_json::from_value(spec)
        .map_err(|e| sqlx::Error::Decode(format!("forecast_grids {id} spec: {e}").into()))?;
    let a = Array2::from_shape_vec(spec.shape(), cells)
        .map_err(|e| sqlx::Error::Decode(format!("forecast_grids {id} cells: {e}").into()))?;
    Ok(Some((id, spec, a)))
}

fn encode(levels: &Array2<Option<WarningLevel>>) -> Vec<i16> {
    levels
        .iter()
        .map(|l| l.map_or(-1, |l| l.rank() as i16))
        .collect()
}

pub(crate) fn decode(spec: &GridSpec, v: &[i16]) -> Array2<Option<WarningLevel>> {
    Array2::from_shape_fn(spec.shape(), |(r, c)| {
        let x = v.get(r * spec.ncols + c).copied().unwrap_or(-1);
        usize::try_from(x).ok().and_then(WarningLevel::from_rank)
    })
}

fn boundary(v: Value) -> Option<MultiPolygon<f64>> {
    let g: geojson::Geometry = serde_json::from_value(v).ok()?;
    match geo::Geometry::<f64>::try_from(&g).ok()? {
        geo::Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        geo::Geometry::MultiPolygon(mp) => Some(mp),
        _ => None,
    }
}

/// The divisions below `root` that have a boundary.
pub(crate) async fn divisions_below(
    conn: &mut PgConnection,
    root: &str,
) -> sqlx::Result<Vec<Division>> {
    let rows: Vec<(String, String, Value)> = sqlx::query_as(
        "WITH RECURSIVE below AS (
             SELECT code FROM divisions WHERE parent_code = $1
             UNION ALL SELECT d.code FROM divisions d JOIN below b ON d.parent_code = b.code)
         SELECT d.code, d.name, d.boundary FROM divisions d JOIN below b USING (code)
         WHERE d.boundary IS NOT NULL ORDER BY d.code",
    )
    .bind(root)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(code, name, b)| {
            boundary(b).map(|boundary| Division {
                code,
                name,
                boundary,
            })
        })
        .collect())
}

/// The registered sites (not closed) in `root` and below.
async fn sites_below(conn: &mut PgConnection, root: &str) -> sqlx::Result<Vec<SitePoint>> {
    let rows: Vec<(String, String, String, f64, f64)> = sqlx::query_as(
        "WITH RECURSIVE tree AS (
             SELECT code FROM divisions WHERE code = $1
             UNION ALL SELECT d.code FROM divisions d JOIN tree t ON d.parent_code = t.code)
         SELECT h.code, h.name, h.division_code, h.longitude, h.latitude FROM hazard_sites h
         JOIN tree t ON t.code = h.division_code WHERE h.status <> 'closed' ORDER BY h.code",
    )
    .bind(root)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(code, name, division_code, lon, lat)| SitePoint {
            code,
            name,
            division_code,
            lon,
            lat,
        })
        .collect())
}

/// The rain the system's own gauges measured on `date` (the 24 hours from 08:00 that day, CST,
/// as a warning's day): per rain gauge with a place (its own, else its site's), the sum of its
/// readings (each the rain since the one before), bad readings left out. Gauges that reported
/// nothing that day are not listed.
pub async fn gauge_rain(
    db: impl sqlx::PgExecutor<'_>,
    date: NaiveDate,
) -> sqlx::Result<Vec<crate::stations::StationRain>> {
    let (from, to) = validity(date);
    let rows: Vec<(i32, String, f64, f64, f64)> = sqlx::query_as(
        "SELECT s.id, g.code || '/' || s.channel, coalesce(s.longitude, h.longitude),
                coalesce(s.latitude, h.latitude), sum(r.value)
         FROM sensors s JOIN gateways g ON g.id = s.gateway_id JOIN hazard_sites h ON h.id = s.site_id
         JOIN readings r ON r.sensor_id = s.id AND r.ts >= $1 AND r.ts < $2 AND r.quality < 2
         WHERE s.kind = 'rain_gauge'
         GROUP BY s.id, g.code, s.channel, s.longitude, s.latitude, h.longitude, h.latitude
         ORDER BY s.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.4.is_finite() && r.4 >= 0.0)
        .map(
            |(_, station, lon, lat, rain_mm)| crate::stations::StationRain {
                station: format!("gauge:{station}"),
                lon,
                lat,
                rain_mm,
            },
        )
        .collect())
}

/// The 24 hours a warning for `date` covers: 08:00 that day to 08:00 the next, CST.
pub fn validity(date: NaiveDate) -> (DateTime<FixedOffset>, DateTime<FixedOffset>) {
    let from = CST
        .from_local_datetime(&date.and_hms_opt(8, 0, 0).expect("08:00 exists"))
        .single()
        .expect("CST has no gaps");
    (from, from + chrono::Duration::hours(24))
}

/// A run: the newest susceptibility grid, the forecast for `date` and the observed rain of the
/// days before, through the model; specks removed; stored as a draft of `division` (the
/// agency's). `officer`: who asked (none for the schedule). Returns the draft's id.
pub async fn run(
    pool: &PgPool,
    division: &str,
    date: NaiveDate,
    params: &ModelParams,
    officer: Option<i64>,
) -> Result<i64, IssueError> {
    let mut conn = pool.acquire().await?;
    run_on(&mut conn, division, date, params, officer).await
}

/// [`run`] on a connection (a transaction: the API's run is stored with its audit entry).
pub async fn run_on(
    conn: &mut PgConnection,
    division: &str,
    date: NaiveDate,
    params: &ModelParams,
    officer: Option<i64>,
) -> Result<i64, IssueError> {
    params.check().map_err(IssueError::Invalid)?;
    let (sus_id, spec, sus) = newest_grid(conn, GridKind::Susceptibility, None)
        .await?
        .ok_or_else(|| IssueError::Invalid("no susceptibility grid has been imported".into()))?;
    let (fc_id, fc_spec, forecast) = newest_grid(conn, GridKind::Forecast, Some(date))
        .await?
        .ok_or_else(|| {
            IssueError::Invalid(format!("no rainfall forecast for {date} has been imported"))
        })?;
    if fc_spec.shape() != spec.shape() {
        return Err(IssueError::Invalid(format!(
            "the forecast for {date} is not on the susceptibility grid"
        )));
    }
    let mut past = vec![];
    let mut used_observed = vec![];
    for back in 1..=params.antecedent_days as u64 {
        let day = date - Days::new(back);
        match newest_grid(conn, GridKind::Observed, Some(day)).await? {
            Some((id, s, a)) if s.shape() == spec.shape() => {
                used_observed.push(json!({"date": day, "grid": id}));
                past.push(a);
            }
            // A day without imported observations takes the system's own gauges; without
            // those either it counts as dry. The inputs say which.
            _ => {
                let gauges = gauge_rain(&mut *conn, day).await?;
                used_observed.push(json!({"date": day, "grid": null, "gauges": gauges.len()}));
                past.push(crate::stations::on_cells(&spec, &gauges));
            }
        }
    }
    let sus = Grid {
        spec,
        values: sus.mapv(|v| v.clamp(0.0, 4.0) as u8),
    };
    let raw = model::levels(params, &sus, &past, &forecast);
    let levels = areas::remove_specks(&raw, params.min_area_cells);
    let divisions = divisions_below(conn, division).await?;
    let sites = sites_below(conn, division).await?;
    let product = Product::of(&spec, &levels, &divisions, &sites);
    let (from, to) = validity(date);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO forecast_warnings (division_code, for_date, valid_from, valid_to, trigger, spec,
                model_levels, levels, product, params, inputs, prepared_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(division)
    .bind(date)
    .bind(from)
    .bind(to)
    .bind(if officer.is_some() { "on_demand" } else { "schedule" })
    .bind(json!(spec))
    .bind(encode(&levels))
    .bind(json!(product))
    .bind(json!(params))
    .bind(json!({"susceptibility": sus_id, "forecast": fc_id, "observed": used_observed}))
    .bind(officer.into_iter().collect::<Vec<i64>>())
    .fetch_one(&mut *conn)
    .await?;
    tracing::info!(warning = id, %date, division, highest = ?product.highest(), "regional warning drafted");
    Ok(id)
}

/// A regional warning as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub id: i64,
    pub division_code: String,
    pub for_date: NaiveDate,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub state: State,
    pub trigger: String,
    pub spec: GridSpec,
    /// -1 none, 0 blue … 3 red, row-major from the south-west.
    pub model_levels: Vec<i16>,
    pub levels: Vec<i16>,
    pub product: Product,
    pub text_zh: String,
    pub prepared_by: Vec<i64>,
    pub approved_by: Option<i64>,
    pub released_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub replaces: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// Submitted for approval (by one who prepared it); an adjustment takes it back.
    pub submitted_at: Option<DateTime<Utc>>,
    pub submitted_by: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: i64,
    division_code: String,
    for_date: NaiveDate,
    valid_from: DateTime<Utc>,
    valid_to: DateTime<Utc>,
    state: String,
    trigger: String,
    spec: Value,
    model_levels: Vec<i16>,
    levels: Vec<i16>,
    product: Value,
    text_zh: String,
    prepared_by: Vec<i64>,
    approved_by: Option<i64>,
    released_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    replaces: Option<i64>,
    created_at: DateTime<Utc>,
    submitted_at: Option<DateTime<Utc>>,
    submitted_by: Option<i64>,
}

pub(crate) const COLUMNS: &str =
    "id, division_code, for_date, valid_from, valid_to, state, trigger, spec,
    model_levels, levels, product, text_zh, prepared_by, approved_by, released_at, cancelled_at,
    replaces, created_at, submitted_at, submitted_by";

pub(crate) fn from_row(r: Row) -> sqlx::Result<Stored> {
    let id = r.id;
    let bad = |what: &str, e: String| {
        sqlx::Error::Decode(format!("forecast_warnings {id}: {what}: {e}").into())
    };
    Ok(Stored {
        id,
        state: r
            .state
            .parse()
            .map_err(|e: geohazard_domain::UnknownName| bad("state", e.to_string()))?,
        spec: serde_json::from_value(r.spec).map_err(|e| bad("spec", e.to_string()))?,
        product: serde_json::from_value(r.product).map_err(|e| bad("product", e.to_string()))?,
        division_code: r.division_code,
        for_date: r.for_date,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
        trigger: r.trigger,
        model_levels: r.model_levels,
        levels: r.levels,
        text_zh: r.text_zh,
        prepared_by: r.prepared_by,
        approved_by: r.approved_by,
        released_at: r.released_at,
        cancelled_at: r.cancelled_at,
        replaces: r.replaces,
        created_at: r.created_at,
        submitted_at: r.submitted_at,
        submitted_by: r.submitted_by,
    })
}

/// One regional warning, if its agency's division is in `divisions` (none: any).
pub async fn get(
    db: impl sqlx::PgExecutor<'_>,
    id: i64,
    divisions: Option<&[String]>,
) -> sqlx::Result<Option<Stored>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM forecast_warnings WHERE id = $1 AND ($2::text[] IS NULL OR division_code = ANY($2))"
    )))
    .bind(id)
    .bind(divisions)
    .fetch_optional(db)
    .await?;
    row.map(from_row).transpose()
}

/// Regional warnings whose agency is in `divisions`, newest first.
pub async fn list(pool: &PgPool, divisions: &[String], limit: i64) -> sqlx::Result<Vec<Stored>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM forecast_warnings WHERE division_code = ANY($1) ORDER BY id DESC LIMIT $2"
    )))
    .bind(divisions)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// What the public may see: released warnings not yet expired, newest first.
pub async fn released_now(pool: &PgPool) -> sqlx::Result<Vec<Stored>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM forecast_warnings WHERE state = 'released' AND valid_to > now()
         ORDER BY valid_from DESC, id DESC"
    )))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// An adjustment's answer: the warning after it.
async fn lock(
    conn: &mut PgConnection,
    id: i64,
    divisions: &[String],
) -> Result<Stored, IssueError> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM forecast_warnings WHERE id = $1 AND division_code = ANY($2) FOR UPDATE"
    )))
    .bind(id)
    .bind(divisions)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(from_row).transpose()?.ok_or(IssueError::NotFound)
}

fn current(w: &Stored) -> Current {
    Current {
        state: w.state,
        prepared_by: w.prepared_by.clone(),
    }
}

/// Longest reason or text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// The reason an officer gave for a change, trimmed: refused if empty or too long.
pub(crate) fn reason_given(reason: &str) -> Result<&str, IssueError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_TEXT_CHARS {
        return Err(IssueError::Invalid(format!(
            "reason: say why, in 1 to {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(reason)
}

/// Sets the level of every cell whose centre lies in `division` (which must be in `divisions`,
/// the caller's scope, and below the warning's agency) to `level` (none: no level), with a
/// reason, in the transaction `tx`. Returns the warning before and after.
pub async fn adjust(
    tx: &mut PgConnection,
    id: i64,
    divisions: &[String],
    officer: i64,
    division: &str,
    level: Option<WarningLevel>,
    reason: &str,
) -> Result<(Stored, Stored), IssueError> {
    let reason = reason_given(reason)?;
    let before = lock(tx, id, divisions).await?;
    match decide(&current(&before), Change::Adjust { by: officer }) {
        Decision::Adjust => {}
        Decision::Refuse(r) => return Err(IssueError::Refused(r)),
        other => unreachable!("adjusting decided {other:?}"),
    }
    if !divisions.iter().any(|d| d == division) {
        return Err(IssueError::Invalid(format!(
            "division: {division} is not in your divisions"
        )));
    }
    let all = divisions_below(tx, &before.division_code).await?;
    let Some(target) = all.iter().find(|d| d.code == division) else {
        return Err(IssueError::Invalid(format!(
            "division: {division} is not a division with a boundary under {}",
            before.division_code
        )));
    };
    let spec = before.spec;
    let mut levels = decode(&spec, &before.levels);
    let mut cells = 0;
    for ((r, c), l) in levels.indexed_iter_mut() {
        let (lon, lat) = spec.centre(r, c);
        if geo::Contains::contains(&target.boundary, &geo::Point::new(lon, lat)) {
            *l = level;
            cells += 1;
        }
    }
    if cells == 0 {
        return Err(IssueError::Invalid(format!(
            "division: no cell of the grid lies in {division}"
        )));
    }
    let sites = sites_below(tx, &before.division_code).await?;
    let product = Product::of(&spec, &levels, &all, &sites);
    let mut prepared = before.prepared_by.clone();
    if !prepared.contains(&officer) {
        prepared.push(officer);
    }
    sqlx::query(
        "UPDATE forecast_warnings SET levels = $2, product = $3, prepared_by = $4, updated_at = now(),
             submitted_at = NULL, submitted_by = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(encode(&levels))
    .bind(json!(product))
    .bind(&prepared)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO forecast_adjustments (warning_id, officer_id, division_code, level, cells, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(officer)
    .bind(division)
    .bind(level.map(|l| l.as_str()))
    .bind(cells)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    let after = get(&mut *tx, id, None).await?.ok_or(IssueError::NotFound)?;
    Ok((before, after))
}

/// An adjustment as stored.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Adjustment {
    pub officer_id: i64,
    pub division_code: String,
    pub level: Option<String>,
    pub cells: i32,
    pub reason: String,
    pub at: DateTime<Utc>,
}

pub async fn adjustments(pool: &PgPool, id: i64) -> sqlx::Result<Vec<Adjustment>> {
    sqlx::query_as(
        "SELECT officer_id, division_code, level, cells, reason, at FROM forecast_adjustments
         WHERE warning_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// What a release or a cancellation did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Released {
    pub warning: Stored,
    pub cap_identifier: String,
    /// The warning it superseded, if any.
    pub superseded: Option<i64>,
    pub notifications: u64,
    /// Whether SMS were queued (wake the delivery worker after commit).
    pub queued_sms: bool,
}

async fn cap_alerts_of(conn: &mut PgConnection, id: i64) -> sqlx::Result<Vec<Reference>> {
    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT identifier, sent FROM forecast_cap_alerts WHERE warning_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(identifier, sent)| Reference {
            identifier,
            sent: sent.with_timezone(&CST),
        })
        .collect())
}

async fn publish_cap(
    conn: &mut PgConnection,
    publisher: &Publisher,
    w: &Stored,
    msg_type: MsgType,
    references: Vec<Reference>,
) -> sqlx::Result<String> {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM forecast_cap_alerts WHERE warning_id = $1")
            .bind(w.id)
            .fetch_one(&mut *conn)
            .await?;
    let identifier = cap::identifier(&publisher.sender, w.id, n as i32 + 1);
    // CAP times are to the second.
    let now = Utc::now().with_timezone(&CST);
    let sent = now - chrono::Duration::nanoseconds(now.timestamp_subsec_nanos() as i64);
    let xml = cap::to_xml(&cap::Alert {
        identifier: identifier.clone(),
        sender: publisher.sender.clone(),
        sender_name: publisher.sender_name.clone(),
        sent,
        msg_type,
        references,
        effective: w.valid_from.with_timezone(&CST),
        expires: w.valid_to.with_timezone(&CST),
        text_zh: &w.text_zh,
        product: &w.product,
    });
    sqlx::query(
        "INSERT INTO forecast_cap_alerts (warning_id, identifier, msg_type, sent, xml) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(w.id)
    .bind(&identifier)
    .bind(msg_type.as_str())
    .bind(sent)
    .bind(&xml)
    .execute(conn)
    .await?;
    Ok(identifier)
}

/// The text people are told, per division or site.
fn message(publisher: &Publisher, w: &Stored, place: &str, level: WarningLevel) -> String {
    format!(
        "【{}】{}{}地质灾害气象风险{}。{}",
        publisher.sender_name,
        w.for_date.format("%m月%d日"),
        place,
        cap::headline_zh("", level).trim_start_matches("发布地质灾害气象风险"),
        cap::instruction_zh(level)
    )
}

/// The English line beside [`message`] (the field app shows both).
fn message_en(w: &Stored, place: &str, level: WarningLevel) -> String {
    let l = level.as_str();
    format!(
        "{}{} geohazard meteorological risk warning for {place} on {}. Follow the instructions of local authorities.",
        l[..1].to_uppercase(),
        &l[1..],
        w.for_date.format("%Y-%m-%d"),
    )
}

/// Approves and releases the draft `id` (in `divisions`), by `officer`, who must be another
/// than those who prepared it; `text_zh` the officer's words for the public (may be empty).
pub async fn approve(
    tx: &mut PgConnection,
    id: i64,
    divisions: &[String],
    officer: i64,
    text_zh: &str,
    publisher: &Publisher,
) -> Result<Released, IssueError> {
    if text_zh.chars().count() > MAX_TEXT_CHARS {
        return Err(IssueError::Invalid(format!(
            "text_zh: at most {MAX_TEXT_CHARS} characters"
        )));
    }
    let before = lock(tx, id, divisions).await?;
    match decide(&current(&before), Change::Approve { by: officer }) {
        Decision::Release => {}
        Decision::Refuse(r) => return Err(IssueError::Refused(r)),
        other => unreachable!("approving decided {other:?}"),
    }
    // The day's earlier release, superseded by this one.
    let previous: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM forecast_warnings WHERE division_code = $1 AND for_date = $2 AND state = 'released'
         FOR UPDATE",
    )
    .bind(&before.division_code)
    .bind(before.for_date)
    .fetch_optional(&mut *tx)
    .await?;
    let mut references = vec![];
    if let Some(p) = previous {
        let prev = get(&mut *tx, p, None).await?.ok_or(IssueError::NotFound)?;
        if let Decision::Refuse(r) = decide(&current(&prev), Change::Supersede) {
            return Err(IssueError::Refused(r));
        }
        sqlx::query(
            "UPDATE forecast_warnings SET state = 'superseded', updated_at = now() WHERE id = $1",
        )
        .bind(p)
        .execute(&mut *tx)
        .await?;
        references = cap_alerts_of(tx, p).await?;
    }
    sqlx::query(
        "UPDATE forecast_warnings SET state = 'released', approved_by = $2, released_at = now(),
             text_zh = $3, replaces = $4, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(officer)
    .bind(text_zh.trim())
    .bind(previous)
    .execute(&mut *tx)
    .await?;
    let w = get(&mut *tx, id, None).await?.ok_or(IssueError::NotFound)?;
    let msg_type = if previous.is_some() {
        MsgType::Update
    } else {
        MsgType::Alert
    };
    let cap_identifier = publish_cap(tx, publisher, &w, msg_type, references).await?;
    // The people of every affected division (on duty now) and of every site inside.
    let mut notifications = 0;
    let mut queued_sms = false;
    for d in &w.product.divisions {
        let people: Vec<(i64, Option<String>)> = sqlx::query_as(
            "SELECT p.id, p.phone FROM people p WHERE p.id IN (
                 SELECT person_id FROM duty_roster WHERE division_code = $1
                   AND starts_at <= now() AND ends_at > now()) ORDER BY p.id",
        )
        .bind(&d.code)
        .fetch_all(&mut *tx)
        .await?;
        let notice = Notice {
            zh: message(publisher, &w, &d.name, d.level),
            en: message_en(&w, &format!("division {}", d.code), d.level),
            reason: format!("{}@division:{}", d.level, d.code),
            level: d.level,
        };
        queued_sms |= tell(tx, id, &people, &notice).await?;
        notifications += people.len() as u64;
    }
    for s in &w.product.sites {
        let people: Vec<(i64, Option<String>)> = sqlx::query_as(
            "SELECT DISTINCT p.id, p.phone FROM people p JOIN site_responsibles r ON r.person_id = p.id
             JOIN hazard_sites h ON h.id = r.site_id WHERE h.code = $1 ORDER BY p.id",
        )
        .bind(&s.code)
        .fetch_all(&mut *tx)
        .await?;
        let notice = Notice {
            zh: message(publisher, &w, &format!("{}({})", s.name, s.code), s.level),
            en: message_en(&w, &format!("site {}", s.code), s.level),
            reason: format!("{}@site:{}", s.level, s.code),
            level: s.level,
        };
        queued_sms |= tell(tx, id, &people, &notice).await?;
        notifications += people.len() as u64;
    }
    tracing::info!(warning = id, officer, cap = %cap_identifier, superseded = ?previous, "regional warning released");
    Ok(Released {
        warning: w,
        cap_identifier,
        superseded: previous,
        notifications,
        queued_sms,
    })
}

/// What the people of a division or site are told of a released warning.
struct Notice {
    zh: String,
    en: String,
    /// Why they are told: `{level}@division:{code}` or `{level}@site:{code}`.
    reason: String,
    level: WarningLevel,
}

/// Queues `notice` of warning `id` to each of `people` (id, phone): by SMS too from yellow up.
/// Whether an SMS was queued.
async fn tell(
    tx: &mut PgConnection,
    id: i64,
    people: &[(i64, Option<String>)],
    notice: &Notice,
) -> Result<bool, IssueError> {
    let mut queued_sms = false;
    for (person, phone) in people {
        queued_sms |= geohazard_notify::enqueue_regional(
            tx,
            id,
            *person,
            phone.as_deref(),
            &notice.reason,
            &notice.zh,
            &notice.en,
            notice.level >= WarningLevel::Yellow,
        )
        .await?;
    }
    Ok(queued_sms)
}

/// Withdraws the released warning `id`: a CAP `Cancel` referencing its alerts and those of the
/// releases it revised, back to the original.
pub async fn cancel(
    tx: &mut PgConnection,
    id: i64,
    divisions: &[String],
    officer: i64,
    reason: &str,
    publisher: &Publisher,
) -> Result<Released, IssueError> {
    let reason = reason_given(reason)?;
    let before = lock(tx, id, divisions).await?;
    match decide(&current(&before), Change::Cancel { by: officer }) {
        Decision::Cancel => {}
        Decision::Refuse(r) => return Err(IssueError::Refused(r)),
        other => unreachable!("cancelling decided {other:?}"),
    }
    sqlx::query(
        "UPDATE forecast_warnings SET state = 'cancelled', cancelled_at = now(), text_zh = $2, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    // Every alert of the warning and of those it revised, the original first.
    let mut references = vec![];
    let mut at = Some(id);
    while let Some(w) = at {
        let mut earlier = cap_alerts_of(tx, w).await?;
        earlier.append(&mut references);
        references = earlier;
        at = sqlx::query_scalar("SELECT replaces FROM forecast_warnings WHERE id = $1")
            .bind(w)
            .fetch_one(&mut *tx)
            .await?;
    }
    let w = get(&mut *tx, id, None).await?.ok_or(IssueError::NotFound)?;
    let cap_identifier = publish_cap(tx, publisher, &w, MsgType::Cancel, references).await?;
    Ok(Released {
        warning: w,
        cap_identifier,
        superseded: None,
        notifications: 0,
        queued_sms: false,
    })
}

/// Drops a draft.
pub async fn discard(
    tx: &mut PgConnection,
    id: i64,
    divisions: &[String],
    officer: i64,
) -> Result<Stored, IssueError> {
    let before = lock(tx, id, divisions).await?;
    match decide(&current(&before), Change::Discard { by: officer }) {
        Decision::Discard => {}
        Decision::Refuse(r) => return Err(IssueError::Refused(r)),
        other => unreachable!("discarding decided {other:?}"),
    }
    sqlx::query(
        "UPDATE forecast_warnings SET state = 'discarded', updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    get(&mut *tx, id, None).await?.ok_or(IssueError::NotFound)
}

/// Whether `division` may issue regional warnings: a province or a city (the agencies that
/// publish them jointly with the meteorological bureau); a county or township may not.
pub async fn may_issue(db: impl sqlx::PgExecutor<'_>, division: &str) -> sqlx::Result<bool> {
    let level: Option<String> = sqlx::query_scalar("SELECT level FROM divisions WHERE code = $1")
        .bind(division)
        .fetch_optional(db)
        .await?;
    Ok(matches!(level.as_deref(), Some("province" | "city")))
}

/// Submits the draft `id` for approval by `officer`, who joins its preparers (so cannot
/// approve it). Submitting again changes nothing. Returns the warning before and after.
pub async fn submit(
    tx: &mut PgConnection,
    id: i64,
    divisions: &[String],
    officer: i64,
) -> Result<(Stored, Stored), IssueError> {
    let before = lock(tx, id, divisions).await?;
    // Submitting is a preparer's act on a draft, decided like an adjustment.
    match decide(&current(&before), Change::Adjust { by: officer }) {
        Decision::Adjust => {}
        Decision::Refuse(r) => return Err(IssueError::Refused(r)),
        other => unreachable!("submitting decided {other:?}"),
    }
    if before.submitted_at.is_none() {
        let mut prepared = before.prepared_by.clone();
        if !prepared.contains(&officer) {
            prepared.push(officer);
        }
        sqlx::query(
            "UPDATE forecast_warnings SET submitted_at = now(), submitted_by = $2, prepared_by = $3,
                 updated_at = now() WHERE id = $1",
        )
        .bind(id)
        .bind(officer)
        .bind(&prepared)
        .execute(&mut *tx)
        .await?;
    }
    let after = get(&mut *tx, id, None).await?.ok_or(IssueError::NotFound)?;
    Ok((before, after))
}

/// A revision of the released warning `id`: a new draft for the same day with its levels, made
/// by `officer`, to be adjusted, submitted and approved; its release supersedes `id` with a CAP
/// `Update` referencing it. Returns the new draft's id.
pub async fn revise(
    tx: &mut PgConnection,
    id: i64,
    divisions: &[String],
    officer: i64,
) -> Result<i64, IssueError> {
    let before = lock(tx, id, divisions).await?;
    if before.state != State::Released {
        return Err(IssueError::Refused(Refusal::NotReleased));
    }
    let new: i64 = sqlx::query_scalar(
        "INSERT INTO forecast_warnings (division_code, for_date, valid_from, valid_to, trigger, spec,
                model_levels, levels, product, params, inputs, text_zh, prepared_by)
         SELECT division_code, for_date, valid_from, valid_to, 'on_demand', spec, model_levels,
                levels, product, params, inputs || jsonb_build_object('revises', id), text_zh,
                ARRAY[$2]::bigint[]
         FROM forecast_warnings WHERE id = $1 RETURNING id",
    )
    .bind(id)
    .bind(officer)
    .fetch_one(&mut *tx)
    .await?;
    tracing::info!(
        warning = new,
        revises = id,
        officer,
        "regional warning revision drafted"
    );
    Ok(new)
}

/// One published CAP alert: of a regional warning or of a published site warning.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapEntry {
    pub identifier: String,
    pub warning_id: Option<i64>,
    pub site_publication_id: Option<i64>,
    pub msg_type: String,
    pub sent: DateTime<Utc>,
    pub xml: String,
}

/// The public feed: every CAP alert published in the last `days` days, newest first. Only
/// released warnings and published site warnings ever have alerts (an approval or an officer's
/// publication writes them, and what follows from those).
pub async fn cap_feed(pool: &PgPool, days: i32) -> sqlx::Result<Vec<CapEntry>> {
    type R = (
        String,
        Option<i64>,
        Option<i64>,
        String,
        DateTime<Utc>,
        String,
    );
    let rows: Vec<R> = sqlx::query_as(
        "SELECT identifier, warning_id, site_publication_id, msg_type, sent, xml
         FROM forecast_cap_alerts
         WHERE sent > now() - make_interval(days => $1) ORDER BY id DESC",
    )
    .bind(days)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(identifier, warning_id, site_publication_id, msg_type, sent, xml)| CapEntry {
                identifier,
                warning_id,
                site_publication_id,
                msg_type,
                sent,
                xml,
            },
        )
        .collect())
}

/// The scheduled run of `division` for the day of `now` (CST), if `now` is at or past `hour`:
/// claimed once per cluster, so however many replicas tick, one draft is made. Returns the
/// draft's id when this replica made it.
pub async fn scheduled(
    pool: &PgPool,
    division: &str,
    hour: u32,
    now: DateTime<Utc>,
    params: &ModelParams,
) -> Result<Option<i64>, IssueError> {
    let local = now.with_timezone(&CST);
    if chrono::Timelike::hour(&local) < hour {
        return Ok(None);
    }
    let date = local.date_naive();
    if !geohazard_store::cluster::claim_once(pool, "forecast.run", &format!("{division}:{date}"))
        .await?
    {
        return Ok(None);
    }
    run(pool, division, date, params, None).await.map(Some)
}

/// The `[command_center.forecast]` configuration section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForecastSettings {
    /// The agency's division (a province or a city) whose warning the schedule drafts; none:
    /// no scheduled run (runs on demand still work, for the officer's own division).
    pub division: Option<String>,
    /// The hour (CST, 0–23) from which the day's scheduled run is made.
    pub hour: u32,
    /// How often the schedule looks whether the day's run is due, seconds.
    pub check_every_s: u64,
    pub publisher: Publisher,
    pub model: ModelParams,
}

impl Default for ForecastSettings {
    fn default() -> Self {
        ForecastSettings {
            division: None,
            hour: 7,
            check_every_s: 60,
            publisher: Publisher::default(),
            model: ModelParams::default(),
        }
    }
}

/// The grid of the newest susceptibility zoning: rain is imported onto it.
pub async fn list_grid_spec(pool: &PgPool) -> sqlx::Result<Option<GridSpec>> {
    let spec: Option<Value> = sqlx::query_scalar(
        "SELECT spec FROM forecast_grids WHERE kind = 'susceptibility' ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    spec.map(|s| {
        serde_json::from_value(s)
            .map_err(|e| sqlx::Error::Decode(format!("forecast_grids spec: {e}").into()))
    })
    .transpose()
}

/// A published CAP alert's XML by its identifier.
pub async fn cap_alert(pool: &PgPool, identifier: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT xml FROM forecast_cap_alerts WHERE identifier = $1")
        .bind(identifier)
        .fetch_optional(pool)
        .await
}
