//! Rapid hazard reports (灾情速报) from the field app: what was seen, where (the phone's
//! position, and the site when one is named), people at risk, and photos — each photo checked
//! before it is stored (JPEG or PNG by its first bytes, at most [`MAX_PHOTO_BYTES`]). Read
//! through a `Scope`; field people read only their own. Every new report (and patrol) is
//! announced on [`FIELD_CHANNEL`] when its transaction commits, for the consoles' live stream.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use geohazard_domain::{OfficerId, PersonId, Scope, SiteId};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// `field_reports.id`
pub type ReportId = i64;

/// The PostgreSQL channel announcing a new field record: `{division}:{report|patrol}:{id}`.
pub const FIELD_CHANNEL: &str = "geohazard_field";

/// Largest photo accepted, bytes (the phone scales its photos down before sending).
pub const MAX_PHOTO_BYTES: usize = 1024 * 1024;
/// Photos per report or patrol, at most.
pub const MAX_PHOTOS: usize = 3;

geohazard_domain::closed_set!(
    /// What a rapid report is about.
    ReportKind {
        Landslide => "landslide",
        Rockfall => "rockfall",
        DebrisFlow => "debris_flow",
        Subsidence => "subsidence",
        GroundFissure => "ground_fissure",
        Other => "other",
    }
);

impl ReportKind {
    /// The hazard's name as Chinese reports say it (滑坡 …).
    pub fn name_zh(self) -> &'static str {
        match self {
            ReportKind::Landslide => "滑坡",
            ReportKind::Rockfall => "崩塌",
            ReportKind::DebrisFlow => "泥石流",
            ReportKind::Subsidence => "地面塌陷",
            ReportKind::GroundFissure => "地裂缝",
            ReportKind::Other => "地质灾害",
        }
    }
}

/// Whose records a query reaches.
#[derive(Debug, Clone, Copy)]
pub enum Reach {
    /// Everything in scope.
    Scope,
    /// A field person's own: what they filed, the sites they answer for.
    Own {
        officer: OfficerId,
        person: PersonId,
    },
}

impl Reach {
    /// (own only, officer, person) for binding.
    pub(crate) fn binds(self) -> (bool, i64, i64) {
        match self {
            Reach::Scope => (false, 0, 0),
            Reach::Own { officer, person } => (true, officer.0, person.0),
        }
    }
}

/// Why a photo was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoRefused {
    #[error("at most {MAX_PHOTOS} photos")]
    TooMany,
    #[error("photo {0}: not base64")]
    NotBase64(usize),
    #[error("photo {n}: {bytes} bytes, at most {MAX_PHOTO_BYTES}")]
    TooLarge { n: usize, bytes: usize },
    #[error("photo {0}: neither a JPEG nor a PNG image (by its first bytes)")]
    NotAnImage(usize),
}

/// A checked photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

pub use geohazard_domain::media::image_type;

/// Decodes and checks the photos as sent (base64, or a `data:` URL), first to last; the first
/// that fails names itself (counted from 1).
pub fn photos(raw: &[String]) -> Result<Vec<Photo>, PhotoRefused> {
    if raw.len() > MAX_PHOTOS {
        return Err(PhotoRefused::TooMany);
    }
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            let n = i + 1;
            let data = match s.strip_prefix("data:") {
                Some(url) => url.split_once(',').map_or("", |(_, d)| d),
                None => s.as_str(),
            };
            // Refused before decoding when even the text is too long.
            if data.len() > (MAX_PHOTO_BYTES / 3 + 1) * 4 {
                return Err(PhotoRefused::TooLarge {
                    n,
                    bytes: data.len() / 4 * 3,
                });
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|_| PhotoRefused::NotBase64(n))?;
            if bytes.len() > MAX_PHOTO_BYTES {
                return Err(PhotoRefused::TooLarge {
                    n,
                    bytes: bytes.len(),
                });
            }
            let content_type = image_type(&bytes).ok_or(PhotoRefused::NotAnImage(n))?;
            Ok(Photo {
                content_type,
                bytes,
            })
        })
        .collect()
}

/// A rapid report as the field app sends it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// The site it is about, when known.
    pub site: Option<SiteId>,
    pub kind: ReportKind,
    /// What was seen (1 to 2000 characters).
    pub text: String,
    #[serde(default)]
    pub people_at_risk: u32,
    pub longitude: f64,
    pub latitude: f64,
    pub accuracy_m: Option<f64>,
    /// JPEG or PNG, base64 (or `data:` URLs), at most three of at most 1 MiB each.
    #[serde(default)]
    pub photos: Vec<String>,
}

/// Why a field record was not stored.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    /// Not in scope, not theirs, or not there.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// SQL true when site `h` is one officer `$o`/person `$p` answers for (patrol schedule or the
/// site's people), or `$own` is false.
pub(crate) fn own_site(own: usize, officer: usize, person: usize) -> String {
    format!(
        "(NOT ${own} OR EXISTS (SELECT 1 FROM patrol_schedules ps WHERE ps.site_id = h.id
              AND ps.monitor_officer_id = ${officer})
          OR EXISTS (SELECT 1 FROM site_responsibles r WHERE r.site_id = h.id AND r.person_id = ${person}))"
    )
}

/// The division of `site` when it is in scope and within `sites`' reach.
pub(crate) async fn site_division(
    conn: &mut PgConnection,
    scope: &Scope,
    sites: Reach,
    site: SiteId,
) -> Result<String, FieldError> {
    let (own, officer, person) = sites.binds();
    let division: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT h.division_code FROM hazard_sites h
         WHERE h.id = $1 AND h.division_code = ANY($2) AND {}",
        own_site(3, 4, 5)
    )))
    .bind(site)
    .bind(scope.divisions())
    .bind(own)
    .bind(officer)
    .bind(person)
    .fetch_optional(&mut *conn)
    .await?;
    division.ok_or(FieldError::NotFound)
}

pub(crate) async fn store_photos(
    conn: &mut PgConnection,
    column: &str,
    id: i64,
    photos: &[Photo],
) -> sqlx::Result<()> {
    for p in photos {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO field_photos ({column}, content_type, bytes) VALUES ($1, $2, $3)"
        )))
        .bind(id)
        .bind(p.content_type)
        .bind(&p.bytes)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Announces a new report or patrol when the caller's transaction commits.
pub(crate) async fn announce(
    conn: &mut PgConnection,
    division: &str,
    what: &str,
    id: i64,
) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(FIELD_CHANNEL)
        .bind(format!("{division}:{what}:{id}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Checks the plain fields of a position: within the globe, a finite accuracy.
pub fn check_position(lon: f64, lat: f64, accuracy: Option<f64>) -> Result<(), FieldError> {
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(FieldError::Invalid(
            "longitude within -180..180 and latitude within -90..90".into(),
        ));
    }
    if accuracy.is_some_and(|a| !(a.is_finite() && a >= 0.0)) {
        return Err(FieldError::Invalid(
            "accuracy_m: zero or more metres".into(),
        ));
    }
    Ok(())
}

/// Stores a rapid report of `by` (its photos checked already) in the site's division, or the
/// reporter's when no site is named. A site named must be in scope (for a village monitor, one
/// of theirs).
pub async fn create(
    conn: &mut PgConnection,
    scope: &Scope,
    sites: Reach,
    by: OfficerId,
    report: &NewReport,
    photos: &[Photo],
) -> Result<ReportId, FieldError> {
    let n = report.text.trim().chars().count();
    if n == 0 || report.text.chars().count() > 2000 {
        return Err(FieldError::Invalid("text: 1 to 2000 characters".into()));
    }
    if report.people_at_risk > i32::MAX as u32 {
        return Err(FieldError::Invalid(
            "people_at_risk: a whole number from 0 to 2147483647".into(),
        ));
    }
    check_position(report.longitude, report.latitude, report.accuracy_m)?;
    let division = match report.site {
        Some(site) => site_division(conn, scope, sites, site).await?,
        None => scope.root().to_owned(),
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO field_reports (division_code, officer_id, site_id, kind, text, people_at_risk,
                                    longitude, latitude, accuracy_m)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(&division)
    .bind(by)
    .bind(report.site)
    .bind(report.kind)
    .bind(report.text.trim())
    .bind(report.people_at_risk as i32)
    .bind(report.longitude)
    .bind(report.latitude)
    .bind(report.accuracy_m)
    .fetch_one(&mut *conn)
    .await?;
    store_photos(conn, "report_id", id, photos).await?;
    announce(conn, &division, "report", id).await?;
    Ok(id)
}

/// A report as the console's stream and the field app show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ReportView {
    pub id: ReportId,
    #[serde(rename = "division")]
    pub division_code: String,
    pub division_name: String,
    pub officer_id: OfficerId,
    pub reporter: String,
    pub site_id: Option<SiteId>,
    pub site_code: Option<String>,
    pub site_name: Option<String>,
    pub kind: ReportKind,
    pub text: String,
    pub people_at_risk: i32,
    pub longitude: f64,
    pub latitude: f64,
    pub accuracy_m: Option<f64>,
    pub received_at: DateTime<Utc>,
    /// `GET /api/v1/field-photos/{id}` of each.
    pub photo_ids: Vec<i64>,
    /// The incident opened from it, if one was.
    pub incident_id: Option<i64>,
}

/// Reports in scope (a field person's own only), newest first, at most `limit`, those after
/// `after` (an id) when given.
pub async fn list(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    own: Option<OfficerId>,
    after: Option<ReportId>,
    id: Option<ReportId>,
    limit: i64,
) -> sqlx::Result<Vec<ReportView>> {
    sqlx::query_as(
        "SELECT f.id, f.division_code, d.name AS division_name, f.officer_id,
                COALESCE(NULLIF(o.display_name, ''), o.username) AS reporter,
                f.site_id, h.code AS site_code, h.name AS site_name, f.kind, f.text,
                f.people_at_risk, f.longitude, f.latitude, f.accuracy_m, f.received_at,
                ARRAY(SELECT p.id FROM field_photos p WHERE p.report_id = f.id ORDER BY p.id) AS photo_ids,
                f.incident_id
         FROM field_reports f JOIN officers o ON o.id = f.officer_id
         JOIN divisions d ON d.code = f.division_code
         LEFT JOIN hazard_sites h ON h.id = f.site_id
         WHERE f.division_code = ANY($1) AND ($2::bigint IS NULL OR f.officer_id = $2)
           AND ($3::bigint IS NULL OR f.id > $3) AND ($4::bigint IS NULL OR f.id = $4)
         ORDER BY f.id DESC LIMIT $5",
    )
    .bind(scope.divisions())
    .bind(own)
    .bind(after)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A stored photo of a report or patrol in scope (a field person's: of their own records).
pub async fn photo(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    own: Option<OfficerId>,
    id: i64,
) -> sqlx::Result<Option<(String, Vec<u8>)>> {
    sqlx::query_as(
        "SELECT p.content_type, p.bytes FROM field_photos p
         LEFT JOIN field_reports f ON f.id = p.report_id
         LEFT JOIN patrols t ON t.id = p.patrol_id
         LEFT JOIN hazard_sites h ON h.id = t.site_id
         WHERE p.id = $1
           AND COALESCE(f.division_code, h.division_code) = ANY($2)
           AND ($3::bigint IS NULL OR COALESCE(f.officer_id, t.officer_id) = $3)",
    )
    .bind(id)
    .bind(scope.divisions())
    .bind(own)
    .fetch_optional(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn a_photo_is_a_jpeg_or_a_png_by_its_first_bytes_and_bounded() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
        let png = *b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let got = photos(&[b64(&jpeg), format!("data:image/png;base64,{}", b64(&png))]).unwrap();
        assert_eq!(got[0].content_type, "image/jpeg");
        assert_eq!(got[1].content_type, "image/png");
        assert_eq!(got[1].bytes, png);
        // An SVG, HTML or a script named a photo is refused for what it is.
        for hostile in [
            &b"<svg onload=alert(1)>"[..],
            b"<html><script>",
            b"GIF89a\0\0\0",
        ] {
            assert_eq!(
                photos(&[b64(&jpeg), b64(hostile)]),
                Err(PhotoRefused::NotAnImage(2))
            );
        }
        assert_eq!(
            photos(&["not base64!".into()]),
            Err(PhotoRefused::NotBase64(1))
        );
        let mut big = jpeg.to_vec();
        big.resize(MAX_PHOTO_BYTES + 1, 0);
        assert!(matches!(
            photos(&[b64(&big)]),
            Err(PhotoRefused::TooLarge { n: 1, .. })
        ));
        big.truncate(MAX_PHOTO_BYTES);
        assert!(
            photos(&[b64(&big)]).is_ok(),
            "exactly the bound is accepted"
        );
        assert_eq!(photos(&vec![b64(&jpeg); 4]), Err(PhotoRefused::TooMany));
    }
}
