//! Site warnings in the public release, when an officer chooses (信息发布): an officer publishes
//! an open site warning (typically orange or red) with words for the public; its CAP alert goes
//! to the same feed as the regional warnings' (area: the site's threat zone, or a circle round
//! the site, with its division's GB/T 2260 code). While it is published, [`reconcile`] follows
//! the warning: a changed level is an `Update`, a closed warning a `Cancel`; the officer may
//! withdraw it (a `Cancel`). Each later alert references every earlier one of the publication.
//! Only what was published appears, and only what the public may read: the site, its kind and
//! division, the level, the officer's words (refused if they hold a phone number).

use chrono::{DateTime, Utc};
use geohazard_domain::WarningLevel;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::cap::{self, MsgType, Reference, SiteAlert, SiteArea};
use crate::issue::{CST, IssueError, Publisher, reason_given};

/// Longest text for the public, in characters.
pub const MAX_PUBLIC_TEXT: usize = 500;
/// The radius of the circle given for a site without a threat zone, km.
pub const DEFAULT_RADIUS_KM: f64 = 0.5;

/// A publication as the console and the public page show it.
#[derive(Debug, Clone, Serialize)]
pub struct Publication {
    pub id: i64,
    pub warning_id: i64,
    pub site_code: String,
    pub site_name: String,
    pub division_code: String,
    pub division_name: String,
    /// published, withdrawn or ended (the warning closed).
    pub state: String,
    pub level: WarningLevel,
    pub text_zh: String,
    pub published_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// The public headline and description of its latest alert (Chinese).
    pub headline_zh: String,
    pub description_zh: String,
    /// Its CAP alerts, oldest first: (identifier, msgType, sent).
    pub cap: Vec<(String, String, DateTime<Utc>)>,
}

/// The Chinese and English names of a site's kind.
fn kind_names(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "landslide" => ("滑坡", "landslide"),
        "rockfall" => ("崩塌", "rockfall"),
        "debris_flow" => ("泥石流", "debris flow"),
        "subsidence" => ("地面塌陷", "subsidence"),
        "fissure" => ("地裂缝", "ground fissure"),
        _ => ("地质灾害", "geohazard"),
    }
}

/// Whether a text holds something like a phone number: seven or more digits in a row (spaces,
/// hyphens and full-width digits counted as a phone is written).
pub fn has_phone_number(text: &str) -> bool {
    let mut run = 0;
    for ch in text.chars() {
        if ch.is_ascii_digit() || ('０'..='９').contains(&ch) {
            run += 1;
            if run >= 7 {
                return true;
            }
        } else if !matches!(ch, ' ' | '-' | '－') {
            run = 0;
        }
    }
    false
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    warning_id: i64,
    site_code: String,
    site_name: String,
    kind: String,
    longitude: f64,
    latitude: f64,
    threat_zone: Option<Value>,
    division_code: String,
    division_name: String,
    state: String,
    level: String,
    text_zh: String,
    published_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    reason: Option<String>,
}

const SELECT: &str = "SELECT p.id, p.warning_id, h.code AS site_code, h.name AS site_name, h.kind,
        h.longitude, h.latitude, h.threat_zone, p.division_code, d.name AS division_name, p.state,
        p.level, p.text_zh, p.published_at, p.ended_at, p.reason
    FROM site_publications p JOIN warnings w ON w.id = p.warning_id
    JOIN hazard_sites h ON h.id = w.site_id JOIN divisions d ON d.code = p.division_code";

fn level_of(s: &str) -> sqlx::Result<WarningLevel> {
    s.parse()
        .map_err(|e: geohazard_domain::UnknownName| sqlx::Error::Decode(e.to_string().into()))
}

/// The threat zone's outer ring, if it is a polygon CAP can carry (4 points or more).
fn area_of(r: &Row) -> SiteArea {
    let ring = r.threat_zone.clone().and_then(|v| {
        let g: geojson::Geometry = serde_json::from_value(v).ok()?;
        let p = match geo::Geometry::<f64>::try_from(&g).ok()? {
            geo::Geometry::Polygon(p) => p,
            geo::Geometry::MultiPolygon(mp) => mp.0.into_iter().next()?,
            _ => return None,
        };
        let ring: Vec<(f64, f64)> = p.exterior().coords().map(|c| (c.x, c.y)).collect();
        (ring.len() >= 4 && ring.first() == ring.last()).then_some(ring)
    });
    match ring {
        Some(ring) => SiteArea::Polygon(ring),
        None => SiteArea::Circle {
            lon: r.longitude,
            lat: r.latitude,
            radius_km: DEFAULT_RADIUS_KM,
        },
    }
}

fn alert<'a>(
    r: &'a Row,
    publisher: &Publisher,
    identifier: String,
    sent: DateTime<chrono::FixedOffset>,
    msg_type: MsgType,
    references: Vec<Reference>,
    level: WarningLevel,
) -> SiteAlert<'a> {
    let (kind_zh, kind_en) = kind_names(&r.kind);
    SiteAlert {
        identifier,
        sender: publisher.sender.clone(),
        sender_name: publisher.sender_name.clone(),
        sent,
        msg_type,
        references,
        level,
        site_name: &r.site_name,
        kind_zh,
        kind_en,
        division_code: &r.division_code,
        division_name: &r.division_name,
        area: area_of(r),
        text_zh: &r.text_zh,
    }
}

async fn row(conn: &mut PgConnection, id: i64) -> sqlx::Result<Row> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE p.id = $1")))
        .bind(id)
        .fetch_one(conn)
        .await
}

async fn cap_of(
    conn: &mut PgConnection,
    id: i64,
) -> sqlx::Result<Vec<(String, String, DateTime<Utc>)>> {
    sqlx::query_as(
        "SELECT identifier, msg_type, sent FROM forecast_cap_alerts
         WHERE site_publication_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// Writes the next alert of publication `id` at `level`.
async fn publish_cap(
    conn: &mut PgConnection,
    publisher: &Publisher,
    id: i64,
    msg_type: MsgType,
    level: WarningLevel,
) -> sqlx::Result<String> {
    let r = row(conn, id).await?;
    let earlier = cap_of(conn, id).await?;
    let references = earlier
        .iter()
        .map(|(identifier, _, sent)| Reference {
            identifier: identifier.clone(),
            sent: sent.with_timezone(&CST),
        })
        .collect();
    let clean: String = publisher
        .sender
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
        .collect();
    let identifier = format!("{clean}.site.{id}.{}", earlier.len() + 1);
    let now = Utc::now().with_timezone(&CST);
    let sent = now - chrono::Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos()));
    let xml = cap::site_to_xml(&alert(
        &r,
        publisher,
        identifier.clone(),
        sent,
        msg_type,
        references,
        level,
    ));
    sqlx::query(
        "INSERT INTO forecast_cap_alerts (site_publication_id, identifier, msg_type, sent, xml)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(&identifier)
    .bind(msg_type.as_str())
    .bind(sent)
    .bind(&xml)
    .execute(conn)
    .await?;
    Ok(identifier)
}

async fn publication(
    conn: &mut PgConnection,
    publisher: &Publisher,
    r: Row,
) -> sqlx::Result<Publication> {
    let cap = cap_of(conn, r.id).await?;
    let level = level_of(&r.level)?;
    let msg_type = match cap.last().map(|c| c.1.as_str()) {
        Some("Cancel") => MsgType::Cancel,
        _ => MsgType::Alert,
    };
    let a = alert(
        &r,
        publisher,
        String::new(),
        r.published_at.with_timezone(&CST),
        msg_type,
        vec![],
        level,
    );
    let (headline_zh, description_zh) = (cap::site_headline_zh(&a), cap::site_description_zh(&a));
    Ok(Publication {
        id: r.id,
        warning_id: r.warning_id,
        site_code: r.site_code,
        site_name: r.site_name,
        division_code: r.division_code,
        division_name: r.division_name,
        state: r.state,
        level,
        text_zh: r.text_zh,
        published_at: r.published_at,
        ended_at: r.ended_at,
        reason: r.reason,
        headline_zh,
        description_zh,
        cap,
    })
}

/// The latest publication of site warning `warning_id` (its site in `divisions`), if any.
pub async fn of_warning(
    conn: &mut PgConnection,
    warning_id: i64,
    divisions: &[String],
    publisher: &Publisher,
) -> sqlx::Result<Option<Publication>> {
    let r: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE p.warning_id = $1 AND p.division_code = ANY($2) ORDER BY p.id DESC LIMIT 1"
    )))
    .bind(warning_id)
    .bind(divisions)
    .fetch_optional(&mut *conn)
    .await?;
    match r {
        Some(r) => publication(conn, publisher, r).await.map(Some),
        None => Ok(None),
    }
}

/// Publishes the open site warning `warning_id` (its site in `divisions`) by `officer`, with
/// `text_zh` for the public: a CAP `Alert` at its current level. Refused when the warning is
/// closed or a device fault, when it is already published, or when the text is too long or
/// holds a phone number.
pub async fn publish(
    tx: &mut PgConnection,
    warning_id: i64,
    divisions: &[String],
    officer: i64,
    text_zh: &str,
    publisher: &Publisher,
) -> Result<Publication, IssueError> {
    let text = text_zh.trim();
    if text.chars().count() > MAX_PUBLIC_TEXT {
        return Err(IssueError::Invalid(format!(
            "text_zh: at most {MAX_PUBLIC_TEXT} characters"
        )));
    }
    if has_phone_number(text) {
        return Err(IssueError::Invalid(
            "text_zh: the public text may not hold a phone number".into(),
        ));
    }
    let w: Option<(String, String, String, String)> = sqlx::query_as(
        "SELECT w.state, w.category, w.level, h.division_code FROM warnings w
         JOIN hazard_sites h ON h.id = w.site_id
         WHERE w.id = $1 AND h.division_code = ANY($2) FOR UPDATE OF w",
    )
    .bind(warning_id)
    .bind(divisions)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((state, category, level, division)) = w else {
        return Err(IssueError::NotFound);
    };
    if state == "closed" {
        return Err(IssueError::Conflict(
            "the warning is closed: only an open warning is published".into(),
        ));
    }
    if category != "hazard" {
        return Err(IssueError::Invalid(
            "a device fault is not published: only hazard warnings are".into(),
        ));
    }
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO site_publications (warning_id, division_code, level, text_zh, published_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (warning_id) WHERE state = 'published' DO NOTHING RETURNING id",
    )
    .bind(warning_id)
    .bind(&division)
    .bind(&level)
    .bind(text)
    .bind(officer)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Err(IssueError::Conflict(
            "the warning is already published".into(),
        ));
    };
    publish_cap(tx, publisher, id, MsgType::Alert, level_of(&level)?).await?;
    let r = row(tx, id).await?;
    Ok(publication(tx, publisher, r).await?)
}

/// Withdraws the publication of site warning `warning_id` (its site in `divisions`) by
/// `officer` with a reason: a CAP `Cancel` referencing its earlier alerts.
pub async fn withdraw(
    tx: &mut PgConnection,
    warning_id: i64,
    divisions: &[String],
    officer: i64,
    reason: &str,
    publisher: &Publisher,
) -> Result<Publication, IssueError> {
    let reason = reason_given(reason)?;
    let live: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, level FROM site_publications
         WHERE warning_id = $1 AND division_code = ANY($2) AND state = 'published' FOR UPDATE",
    )
    .bind(warning_id)
    .bind(divisions)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, level)) = live else {
        return Err(IssueError::Conflict("the warning is not published".into()));
    };
    publish_cap(tx, publisher, id, MsgType::Cancel, level_of(&level)?).await?;
    sqlx::query(
        "UPDATE site_publications SET state = 'withdrawn', ended_at = now(), ended_by = $2, reason = $3
         WHERE id = $1",
    )
    .bind(id)
    .bind(officer)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    let r = row(tx, id).await?;
    Ok(publication(tx, publisher, r).await?)
}

/// Brings the published site warnings in line with their warnings: a changed level is an
/// `Update` at the new level, a closed warning a `Cancel` (the publication ends). Returns the
/// alerts written. Publications another replica is reconciling are left to it.
pub async fn reconcile(pool: &PgPool, publisher: &Publisher) -> sqlx::Result<usize> {
    let mut tx = pool.begin().await?;
    let due: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT p.id, w.level, w.state FROM site_publications p JOIN warnings w ON w.id = p.warning_id
         WHERE p.state = 'published' AND (w.state = 'closed' OR w.level <> p.level)
         ORDER BY p.id FOR UPDATE OF p SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (id, level, state) in &due {
        let level = level_of(level)?;
        if state == "closed" {
            publish_cap(&mut tx, publisher, *id, MsgType::Cancel, level).await?;
            sqlx::query(
                "UPDATE site_publications SET state = 'ended', ended_at = now(),
                        reason = '预警已解除' WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        } else {
            publish_cap(&mut tx, publisher, *id, MsgType::Update, level).await?;
            sqlx::query("UPDATE site_publications SET level = $2 WHERE id = $1")
                .bind(id)
                .bind(level.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    if !due.is_empty() {
        tracing::info!(alerts = due.len(), "published site warnings followed");
    }
    Ok(due.len())
}

/// The site warnings published now, highest level first, for the public page.
pub async fn live(pool: &PgPool, publisher: &Publisher) -> sqlx::Result<Vec<Publication>> {
    let mut conn = pool.acquire().await?;
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE p.state = 'published'
         ORDER BY array_position(ARRAY['red', 'orange', 'yellow', 'blue'], p.level), p.published_at DESC"
    )))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = vec![];
    for r in rows {
        out.push(publication(&mut conn, publisher, r).await?);
    }
    Ok(out)
}
