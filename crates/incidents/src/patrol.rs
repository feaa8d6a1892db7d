//! Patrols of the mass-monitoring network (群测群防): a schedule per site (every so many hours
//! in the rainy season's months, less often or never otherwise), the checklist a monitor
//! completes on the phone, each patrol stored with its time, position and answers; and the
//! coverage officers read: per site and per division, what is due, what is done, what is
//! overdue.

use chrono::{DateTime, Utc};
use geohazard_domain::{OfficerId, Scope, SiteId};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::field::{self, FieldError, Photo, Reach};

/// `patrols.id`
pub type PatrolId = i64;

geohazard_domain::closed_set!(
    /// An item of a patrol checklist: what the monitor looks at.
    PatrolItem {
        /// New or wider cracks on the slope (坡体裂缝).
        Cracks => "cracks",
        /// Bulging at the slope's foot (坡脚鼓胀).
        Bulging => "bulging",
        /// Spring or well water turning muddy, or its flow changing (泉水变浑).
        SpringTurbidity => "spring_turbidity",
        /// New seepage or wet ground (渗水).
        Seepage => "seepage",
        /// Falling stones or a fresh scarp (落石/陡坎).
        Rockfall => "rockfall",
        /// Trees or poles leaning (树木歪斜).
        TreeTilt => "tree_tilt",
        /// Cracks in houses or walls (房屋开裂).
        HouseCracks => "house_cracks",
        /// Drains blocked (排水沟堵塞).
        DrainBlocked => "drain_blocked",
        /// Warning signs and the evacuation route in order (警示牌与撤离路线).
        SignsAndRoute => "signs_and_route",
    }
);

/// Every patrol's hours in force this month in the agencies' zone (China Standard Time).
const MONTH_NOW: &str = "extract(month FROM now() AT TIME ZONE 'Asia/Shanghai')::smallint";

/// A site's patrol schedule as written.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// Hours between patrols in the season (24: daily).
    pub interval_hours: i32,
    /// The season's months, 1–12 (empty: all year).
    #[serde(default)]
    pub season: Vec<i16>,
    /// Hours between patrols outside the season (none: no patrol then).
    pub off_season_hours: Option<i32>,
    /// The checklist.
    pub items: Vec<PatrolItem>,
    /// The monitor it is given to (else the site's people patrol it).
    pub monitor: Option<OfficerId>,
}

impl ScheduleInput {
    /// What is wrong with it, if anything.
    pub fn problem(&self) -> Option<String> {
        let hours = 1..=8760;
        if !hours.contains(&self.interval_hours) {
            return Some("interval_hours: 1 to 8760".into());
        }
        if self.off_season_hours.is_some_and(|h| !hours.contains(&h)) {
            return Some("off_season_hours: 1 to 8760".into());
        }
        if self.season.iter().any(|m| !(1..=12).contains(m)) {
            return Some("season: months 1 to 12".into());
        }
        if self.items.is_empty() || self.items.len() > 30 {
            return Some("items: 1 to 30 checklist items".into());
        }
        let mut seen = self.items.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.items.len() {
            return Some("items: each item once".into());
        }
        None
    }
}

/// Writes site `site`'s schedule (site and monitor in scope). Returns whether there was one.
pub async fn put_schedule(
    conn: &mut PgConnection,
    scope: &Scope,
    site: SiteId,
    input: &ScheduleInput,
    by: OfficerId,
) -> Result<bool, FieldError> {
    field::site_division(conn, scope, Reach::Scope, site).await?;
    if let Some(monitor) = input.monitor {
        let ok: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM officers WHERE id = $1 AND division_code = ANY($2)
                            AND role IN ('village_monitor', 'field_staff'))",
        )
        .bind(monitor)
        .bind(scope.divisions())
        .fetch_one(&mut *conn)
        .await?;
        if !ok {
            return Err(FieldError::Invalid(
                "monitor: a village monitor or field staff member in scope".into(),
            ));
        }
    }
    let existed: bool = sqlx::query_scalar(
        "INSERT INTO patrol_schedules (site_id, interval_hours, season, off_season_hours, items,
                                       monitor_officer_id, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (site_id) DO UPDATE SET interval_hours = EXCLUDED.interval_hours,
             season = EXCLUDED.season, off_season_hours = EXCLUDED.off_season_hours,
             items = EXCLUDED.items, monitor_officer_id = EXCLUDED.monitor_officer_id,
             updated_by = EXCLUDED.updated_by, updated_at = now()
         RETURNING xmax <> 0",
    )
    .bind(site)
    .bind(input.interval_hours)
    .bind(&input.season)
    .bind(input.off_season_hours)
    .bind(input.items.iter().map(|i| i.as_str()).collect::<Vec<_>>())
    .bind(input.monitor)
    .bind(by)
    .fetch_one(&mut *conn)
    .await?;
    Ok(existed)
}

/// A site's schedule with where its patrols stand.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ScheduleView {
    pub site_id: SiteId,
    pub site_code: String,
    pub site_name: String,
    #[serde(rename = "division")]
    pub division_code: String,
    pub division_name: String,
    pub longitude: f64,
    pub latitude: f64,
    pub interval_hours: i32,
    pub season: Vec<i16>,
    pub off_season_hours: Option<i32>,
    #[sqlx(try_from = "Vec<String>")]
    #[schema(value_type = Vec<PatrolItem>)]
    pub items: Items,
    pub monitor_officer_id: Option<OfficerId>,
    pub monitor_name: Option<String>,
    /// Hours between patrols now (in or out of season); none: no patrol is due now.
    pub due_hours: Option<i32>,
    pub last_at: Option<DateTime<Utc>>,
    pub last_by: Option<String>,
    /// Items found not in order on the last patrol.
    pub last_anomalies: Option<i32>,
    /// When the next patrol is due.
    pub next_due_at: Option<DateTime<Utc>>,
    /// Patrolled within the hours in force.
    pub done: bool,
    /// Its due time has passed without a patrol.
    pub overdue: bool,
}

/// A checklist read from the store (a name it does not know fails the read).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Items(pub Vec<PatrolItem>);

impl TryFrom<Vec<String>> for Items {
    type Error = geohazard_domain::UnknownName;
    fn try_from(v: Vec<String>) -> Result<Items, Self::Error> {
        v.iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()
            .map(Items)
    }
}

/// Schedules of the sites in scope (within `sites`' reach), overdue first, then by code.
pub async fn schedules(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    sites: Reach,
    site: Option<SiteId>,
) -> sqlx::Result<Vec<ScheduleView>> {
    let (own, officer, person) = sites.binds();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH s AS (
             SELECT ps.*, h.code AS site_code, h.name AS site_name, h.division_code,
                    d.name AS division_name, h.longitude, h.latitude,
                    COALESCE(NULLIF(m.display_name, ''), m.username) AS monitor_name,
                    CASE WHEN cardinality(ps.season) = 0 OR {MONTH_NOW} = ANY(ps.season)
                         THEN ps.interval_hours ELSE ps.off_season_hours END AS due_hours,
                    l.at AS last_at, l.by AS last_by, l.anomalies AS last_anomalies
             FROM patrol_schedules ps JOIN hazard_sites h ON h.id = ps.site_id
             JOIN divisions d ON d.code = h.division_code
             LEFT JOIN officers m ON m.id = ps.monitor_officer_id
             LEFT JOIN LATERAL (SELECT p.at, p.anomalies,
                                       COALESCE(NULLIF(o.display_name, ''), o.username) AS by
                                FROM patrols p JOIN officers o ON o.id = p.officer_id
                                WHERE p.site_id = ps.site_id ORDER BY p.at DESC LIMIT 1) l ON true
             WHERE h.division_code = ANY($1) AND ($5::bigint IS NULL OR h.id = $5) AND {})
         SELECT s.site_id, s.site_code, s.site_name, s.division_code, s.division_name,
                s.longitude, s.latitude, s.interval_hours, s.season, s.off_season_hours,
                s.items, s.monitor_officer_id, s.monitor_name, s.due_hours, s.last_at, s.last_by,
                s.last_anomalies,
                COALESCE(s.last_at, s.created_at) + make_interval(hours => s.due_hours) AS next_due_at,
                COALESCE(s.last_at > now() - make_interval(hours => s.due_hours), false) AS done,
                COALESCE(COALESCE(s.last_at, s.created_at) + make_interval(hours => s.due_hours) < now(),
                         false) AS overdue
         FROM s ORDER BY overdue DESC, s.site_code",
        field::own_site(2, 3, 4)
    )))
    .bind(scope.divisions())
    .bind(own)
    .bind(officer)
    .bind(person)
    .bind(site)
    .fetch_all(db)
    .await
}

/// Per division: the sites with a patrol due now, those patrolled within their hours, those
/// overdue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DivisionCoverage {
    pub division: String,
    pub division_name: String,
    pub due: usize,
    pub done: usize,
    pub overdue: usize,
}

/// Patrol coverage: each site's schedule and how each division stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    pub divisions: Vec<DivisionCoverage>,
    pub sites: Vec<ScheduleView>,
}

/// The coverage of the sites in scope.
pub async fn coverage(db: &sqlx::PgPool, scope: &Scope) -> sqlx::Result<Coverage> {
    let sites = schedules(db, scope, Reach::Scope, None).await?;
    let mut divisions: Vec<DivisionCoverage> = vec![];
    for s in sites.iter().filter(|s| s.due_hours.is_some()) {
        let i = match divisions.iter().position(|d| d.division == s.division_code) {
            Some(i) => i,
            None => {
                divisions.push(DivisionCoverage {
                    division: s.division_code.clone(),
                    division_name: s.division_name.clone(),
                    due: 0,
                    done: 0,
                    overdue: 0,
                });
                divisions.len() - 1
            }
        };
        let d = &mut divisions[i];
        d.due += 1;
        d.done += usize::from(s.done);
        d.overdue += usize::from(s.overdue);
    }
    divisions.sort_by(|a, b| a.division.cmp(&b.division));
    Ok(Coverage { divisions, sites })
}

/// One checklist item's answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub item: PatrolItem,
    /// In order (nothing seen).
    pub ok: bool,
    #[serde(default)]
    pub note: String,
}

/// A patrol as the field app sends it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatrol {
    pub site: SiteId,
    /// One answer per item of the site's checklist.
    pub answers: Vec<Answer>,
    #[serde(default)]
    pub note: String,
    pub longitude: f64,
    pub latitude: f64,
    pub accuracy_m: Option<f64>,
    /// JPEG or PNG, base64, at most three of at most 1 MiB each.
    #[serde(default)]
    pub photos: Vec<String>,
}

/// Stores a patrol of `by` on a scheduled site within `sites`' reach: every checklist item
/// answered once, nothing else. Returns it with the site's division.
pub async fn complete(
    conn: &mut PgConnection,
    scope: &Scope,
    sites: Reach,
    by: OfficerId,
    patrol: &NewPatrol,
    photos: &[Photo],
) -> Result<(PatrolId, String), FieldError> {
    field::check_position(patrol.longitude, patrol.latitude, patrol.accuracy_m)?;
    if patrol.note.chars().count() > 2000
        || patrol.answers.iter().any(|a| a.note.chars().count() > 500)
    {
        return Err(FieldError::Invalid(
            "note: at most 2000 characters, an item's note at most 500".into(),
        ));
    }
    let division = field::site_division(conn, scope, sites, patrol.site).await?;
    let items: Option<Vec<String>> =
        sqlx::query_scalar("SELECT items FROM patrol_schedules WHERE site_id = $1")
            .bind(patrol.site)
            .fetch_optional(&mut *conn)
            .await?;
    let items = items.ok_or(FieldError::NotFound)?;
    let mut answered: Vec<&str> = patrol.answers.iter().map(|a| a.item.as_str()).collect();
    answered.sort();
    let mut wanted: Vec<&str> = items.iter().map(String::as_str).collect();
    wanted.sort();
    if answered != wanted {
        return Err(FieldError::Invalid(format!(
            "answers: one for each item of the checklist ({})",
            items.join(", ")
        )));
    }
    let anomalies = patrol.answers.iter().filter(|a| !a.ok).count() as i32;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO patrols (site_id, officer_id, longitude, latitude, accuracy_m, answers,
                              anomalies, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(patrol.site)
    .bind(by)
    .bind(patrol.longitude)
    .bind(patrol.latitude)
    .bind(patrol.accuracy_m)
    .bind(sqlx::types::Json(&patrol.answers))
    .bind(anomalies)
    .bind(patrol.note.trim())
    .fetch_one(&mut *conn)
    .await?;
    field::store_photos(conn, "patrol_id", id, photos).await?;
    field::announce(conn, &division, "patrol", id).await?;
    Ok((id, division))
}

/// A patrol as read back.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PatrolView {
    pub id: PatrolId,
    pub site_id: SiteId,
    pub site_code: String,
    pub site_name: String,
    #[serde(rename = "division")]
    pub division_code: String,
    pub officer_id: OfficerId,
    pub by: String,
    pub at: DateTime<Utc>,
    pub longitude: f64,
    pub latitude: f64,
    pub accuracy_m: Option<f64>,
    #[sqlx(json)]
    pub answers: Vec<Answer>,
    pub anomalies: i32,
    pub note: String,
    pub photo_ids: Vec<i64>,
}

/// Patrols in scope (a field person's own only), newest first.
pub async fn patrols(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    own: Option<OfficerId>,
    id: Option<PatrolId>,
    limit: i64,
) -> sqlx::Result<Vec<PatrolView>> {
    sqlx::query_as(
        "SELECT p.id, p.site_id, h.code AS site_code, h.name AS site_name, h.division_code,
                p.officer_id, COALESCE(NULLIF(o.display_name, ''), o.username) AS by, p.at,
                p.longitude, p.latitude, p.accuracy_m, p.answers, p.anomalies, p.note,
                ARRAY(SELECT f.id FROM field_photos f WHERE f.patrol_id = p.id ORDER BY f.id) AS photo_ids
         FROM patrols p JOIN hazard_sites h ON h.id = p.site_id JOIN officers o ON o.id = p.officer_id
         WHERE h.division_code = ANY($1) AND ($2::bigint IS NULL OR p.officer_id = $2)
           AND ($3::bigint IS NULL OR p.id = $3)
         ORDER BY p.id DESC LIMIT $4",
    )
    .bind(scope.divisions())
    .bind(own)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}
