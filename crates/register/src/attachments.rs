//! Photos and documents attached to a hazard site: checked by their content (the same
//! first-bytes test as the field reports' photos, `geohazard_domain::media`) and by their
//! size before they are stored, in the database as those photos are; listed, read and removed
//! within the officer's scope, each upload and removal audited.

use chrono::{DateTime, Utc};
use geohazard_audit::Entry;
use geohazard_domain::{AuditAction, Scope, SiteId, media};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;

use crate::site_edit::Actor;

/// Largest file accepted, bytes.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// Files per site, at most.
pub const MAX_PER_SITE: i64 = 200;

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Larger than [`MAX_BYTES`].
    TooLarge(usize),
    /// Its content is none of the types taken, or not the type its name says.
    Type,
    /// The site has [`MAX_PER_SITE`] files already.
    TooMany,
}

/// A file checked: its name (control characters and path taken out) and its type by content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub filename: String,
    pub content_type: &'static str,
}

/// Checks a file named `filename` holding `bytes`: a JPEG or PNG photo, or a PDF, DOCX or
/// XLSX document, told by its content, and named with an extension of that same type.
pub fn check(filename: &str, bytes: &[u8]) -> Result<Checked, Refused> {
    if bytes.len() > MAX_BYTES {
        return Err(Refused::TooLarge(bytes.len()));
    }
    let content_type = media::image_type(bytes)
        .or_else(|| media::document_type(bytes))
        .ok_or(Refused::Type)?;
    let base = filename.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    name = name.trim().to_owned();
    let claimed = name
        .rsplit_once('.')
        .and_then(|(_, ext)| media::type_of_extension(ext));
    if name.is_empty() {
        name = format!("file.{}", media::extension_of(content_type));
    } else if claimed != Some(content_type) {
        return Err(Refused::Type);
    }
    Ok(Checked {
        filename: name,
        content_type,
    })
}

/// A file attached to a site, as lists show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Attachment {
    pub id: i64,
    pub site_id: SiteId,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i32,
    pub uploaded_at: DateTime<Utc>,
    pub uploaded_by: Option<String>,
}

const COLUMNS: &str = "a.id, a.site_id, a.filename, a.content_type, length(a.bytes) AS size_bytes,
     a.uploaded_at, COALESCE(NULLIF(o.display_name, ''), o.username) AS uploaded_by
     FROM site_attachments a JOIN hazard_sites s ON s.id = a.site_id
     LEFT JOIN officers o ON o.id = a.officer_id";

/// The files of site `site` in scope, oldest first; `None` when the site is not in scope.
pub async fn list(
    db: &mut PgConnection,
    scope: &Scope,
    site: SiteId,
) -> sqlx::Result<Option<Vec<Attachment>>> {
    if !crate::sites::in_scope(&mut *db, scope, site).await? {
        return Ok(None);
    }
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} WHERE a.site_id = $1 ORDER BY a.id"
    )))
    .bind(site)
    .fetch_all(db)
    .await?;
    Ok(Some(rows))
}

/// Attaches a checked file to site `site` (in scope), audited; `Ok(None)` when the site is
/// not in scope.
pub async fn add(
    tx: &mut PgConnection,
    scope: &Scope,
    actor: &Actor,
    site: SiteId,
    file: &Checked,
    bytes: &[u8],
) -> sqlx::Result<Option<Result<Attachment, Refused>>> {
    let division: Option<String> = sqlx::query_scalar(
        "SELECT division_code FROM hazard_sites WHERE id = $1 AND division_code = ANY($2)
         FOR UPDATE",
    )
    .bind(site)
    .bind(scope.divisions())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(division) = division else {
        return Ok(None);
    };
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM site_attachments WHERE site_id = $1")
        .bind(site)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_PER_SITE {
        return Ok(Some(Err(Refused::TooMany)));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO site_attachments (site_id, filename, content_type, bytes, officer_id)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(site)
    .bind(&file.filename)
    .bind(file.content_type)
    .bind(bytes)
    .bind(actor.officer_id)
    .fetch_one(&mut *tx)
    .await?;
    let after = one(tx, scope, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    audit(
        tx,
        actor,
        AuditAction::SiteAttach,
        &division,
        None,
        Some(&after),
    )
    .await?;
    Ok(Some(Ok(after)))
}

async fn one(db: &mut PgConnection, scope: &Scope, id: i64) -> sqlx::Result<Option<Attachment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} WHERE a.id = $1 AND s.division_code = ANY($2)"
    )))
    .bind(id)
    .bind(scope.divisions())
    .fetch_optional(db)
    .await
}

/// A file in scope: its name, type and bytes.
pub async fn content(
    db: &mut PgConnection,
    scope: &Scope,
    id: i64,
) -> sqlx::Result<Option<(String, String, Vec<u8>)>> {
    sqlx::query_as(
        "SELECT a.filename, a.content_type, a.bytes FROM site_attachments a
         JOIN hazard_sites s ON s.id = a.site_id
         WHERE a.id = $1 AND s.division_code = ANY($2)",
    )
    .bind(id)
    .bind(scope.divisions())
    .fetch_optional(db)
    .await
}

/// Removes a file in scope, audited with what it was; `false` when absent or out of scope.
pub async fn remove(
    tx: &mut PgConnection,
    scope: &Scope,
    actor: &Actor,
    id: i64,
) -> sqlx::Result<bool> {
    let Some(before) = one(tx, scope, id).await? else {
        return Ok(false);
    };
    let division: String = sqlx::query_scalar(
        "DELETE FROM site_attachments a USING hazard_sites s
         WHERE a.id = $1 AND s.id = a.site_id RETURNING s.division_code",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    audit(
        tx,
        actor,
        AuditAction::SiteDetach,
        &division,
        Some(&before),
        None,
    )
    .await?;
    Ok(true)
}

async fn audit(
    tx: &mut PgConnection,
    actor: &Actor,
    action: AuditAction,
    division: &str,
    before: Option<&Attachment>,
    after: Option<&Attachment>,
) -> sqlx::Result<()> {
    let site = before.or(after).map_or(0, |a| a.site_id.0);
    geohazard_audit::record(
        &mut *tx,
        &Entry {
            officer_id: Some(actor.officer_id),
            action,
            target: Some(format!("site:{site}")),
            division_code: Some(division.to_owned()),
            detail: json!({"before": before, "after": after}),
            remote_addr: actor.remote_addr.clone(),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];

    #[test]
    fn a_file_is_taken_by_its_content_and_a_name_of_the_same_type() {
        assert_eq!(
            check("C:\\照片\\坡体裂缝.JPG", JPEG),
            Ok(Checked {
                filename: "坡体裂缝.JPG".into(),
                content_type: "image/jpeg"
            })
        );
        assert_eq!(
            check("调查报告.pdf", b"%PDF-1.4\n").unwrap().content_type,
            media::PDF
        );
        // A JPEG named a PDF, HTML named a photo, a script: refused.
        assert_eq!(check("报告.pdf", JPEG), Err(Refused::Type));
        assert_eq!(check("photo.jpg", b"<html><script>"), Err(Refused::Type));
        assert_eq!(check("run.exe", JPEG), Err(Refused::Type));
        let mut big = JPEG.to_vec();
        big.resize(MAX_BYTES + 1, 0);
        assert_eq!(
            check("big.jpg", &big),
            Err(Refused::TooLarge(MAX_BYTES + 1))
        );
    }
}
