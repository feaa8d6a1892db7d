//! The verification of what was issued, from the database: for every released regional
//! warning of a season whose period is over, the events of its period — field reports, incidents
//! (at their sites) and site warnings that reached orange or red — are put on its grid, and
//! [`crate::verify::verify`] counts hits, misses and false alarms per level and division (the
//! county, or the smallest division with a boundary, holding each cell's centre).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use ndarray::Array2;
use serde::Serialize;
use sqlx::PgPool;

use crate::issue::{self, COLUMNS, Row, Stored};
use crate::verify::{self, Counts, Day, Verification};
use geohazard_domain::WarningLevel;

/// One level's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelFigures {
    /// Warned at or above this level.
    pub level: WarningLevel,
    #[serde(flatten)]
    pub counts: Counts,
    pub pod: Option<f64>,
    pub far: Option<f64>,
    pub csi: Option<f64>,
    pub hss: Option<f64>,
}

impl LevelFigures {
    fn of(level: WarningLevel, counts: Counts) -> LevelFigures {
        LevelFigures {
            level,
            counts,
            pod: counts.pod(),
            far: counts.far(),
            csi: counts.csi(),
            hss: counts.hss(),
        }
    }

    fn all(counts: &[Counts; 4]) -> Vec<LevelFigures> {
        WarningLevel::ALL
            .into_iter()
            .map(|l| LevelFigures::of(l, counts[l.rank()]))
            .collect()
    }
}

/// One division's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DivisionFigures {
    pub code: String,
    pub name: String,
    pub levels: Vec<LevelFigures>,
}

/// A season verified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Season {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The released warnings verified (their period over), by day.
    pub warnings: Vec<i64>,
    /// Cell-days with an event.
    pub event_cells: u64,
    /// Events counted (several may fall in one cell on one day).
    pub events: u64,
    pub per_level: Vec<LevelFigures>,
    pub per_division: Vec<DivisionFigures>,
}

/// Where something happened, and when.
type Event = (f64, f64);

/// The events of `[from, to)` under the agency `division`: field reports at their place,
/// incidents at each of their sites, site warnings (hazard, not device) that reached orange or
/// red at their site.
async fn events(
    pool: &PgPool,
    division: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "WITH RECURSIVE tree AS (
             SELECT code FROM divisions WHERE code = $1
             UNION ALL SELECT d.code FROM divisions d JOIN tree t ON d.parent_code = t.code)
         SELECT f.longitude, f.latitude FROM field_reports f JOIN tree t ON t.code = f.division_code
          WHERE f.received_at >= $2 AND f.received_at < $3
         UNION ALL
         SELECT h.longitude, h.latitude FROM incidents i
           JOIN incident_sites s ON s.incident_id = i.id
           JOIN hazard_sites h ON h.id = s.site_id
           JOIN tree t ON t.code = h.division_code
          WHERE i.opened_at >= $2 AND i.opened_at < $3
         UNION ALL
         SELECT h.longitude, h.latitude FROM warnings w
           JOIN hazard_sites h ON h.id = w.site_id
           JOIN tree t ON t.code = h.division_code
          WHERE w.category = 'hazard' AND w.peak_level IN ('orange', 'red')
            AND w.raised_at >= $2 AND w.raised_at < $3",
    )
    .bind(division)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// Verifies the released regional warnings of the agencies in `divisions` for the days `from`
/// to `to` (inclusive) whose period ended by `now`.
pub async fn season(
    pool: &PgPool,
    divisions: &[String],
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> sqlx::Result<Season> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM forecast_warnings
          WHERE state = 'released' AND division_code = ANY($1) AND for_date BETWEEN $2 AND $3
            AND valid_to <= $4
          ORDER BY division_code, for_date, id"
    )))
    .bind(divisions)
    .bind(from)
    .bind(to)
    .bind(now)
    .fetch_all(pool)
    .await?;
    let warnings: Vec<Stored> = rows
        .into_iter()
        .map(issue::from_row)
        .collect::<sqlx::Result<_>>()?;

    let mut total = Verification::default();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let (mut n_events, mut event_cells) = (0, 0);
    // One verification per agency and grid: each has its own cells and divisions.
    let mut groups: BTreeMap<(String, String), Vec<&Stored>> = BTreeMap::new();
    for w in &warnings {
        let grid = serde_json::to_string(&w.spec).unwrap_or_default();
        groups
            .entry((w.division_code.clone(), grid))
            .or_default()
            .push(w);
    }
    for ((agency, _), group) in groups {
        let spec = group[0].spec;
        let mut conn = pool.acquire().await?;
        let below = issue::divisions_below(&mut conn, &agency).await?;
        drop(conn);
        for d in &below {
            names.insert(d.code.clone(), d.name.clone());
        }
        let division_of = Array2::from_shape_fn(spec.shape(), |(r, c)| {
            use geo::{Area, Contains};
            let (lon, lat) = spec.centre(r, c);
            below
                .iter()
                .filter(|d| d.boundary.contains(&geo::Point::new(lon, lat)))
                .min_by(|a, b| {
                    a.boundary
                        .unsigned_area()
                        .total_cmp(&b.boundary.unsigned_area())
                })
                .map(|d| d.code.clone())
        });
        let mut issued = vec![];
        let mut happened = vec![];
        for w in group {
            let mut grid = Array2::from_elem(spec.shape(), false);
            for (lon, lat) in events(pool, &agency, w.valid_from, w.valid_to).await? {
                if let Some(cell) = spec.cell_at(lon, lat) {
                    n_events += 1;
                    grid[cell] = true;
                }
            }
            event_cells += grid.iter().filter(|e| **e).count() as u64;
            issued.push(issue::decode(&spec, &w.levels));
            happened.push(grid);
        }
        let days: Vec<Day> = issued
            .iter()
            .zip(&happened)
            .map(|(issued, events)| Day { issued, events })
            .collect();
        total.merge(&verify::verify(&days, &division_of));
    }
    Ok(Season {
        from,
        to,
        warnings: warnings.iter().map(|w| w.id).collect(),
        event_cells,
        events: n_events,
        per_level: LevelFigures::all(&total.per_level),
        per_division: total
            .per_division
            .iter()
            .map(|(code, counts)| DivisionFigures {
                name: names.get(code).cloned().unwrap_or_else(|| code.clone()),
                code: code.clone(),
                levels: LevelFigures::all(counts),
            })
            .collect(),
    })
}
