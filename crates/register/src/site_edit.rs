//! Changing the official register of hazard sites: create, edit, retire, always within the
//! officer's scope, each in the caller's transaction with its audit entry (before and after)
//! and a `register_changes` row, so an approval step can later be put in front of them.
//! Every change raises the site's `version`; a change made against an older version is
//! refused with the current site and the fields that changed since.

use chrono::{DateTime, Utc};
use geohazard_audit::Entry;
use geohazard_domain::{AuditAction, OfficerId, Scope, SiteId, SiteStatus};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row as _};

use crate::site_input::{FieldError, Reason, SiteRecord};

pub use geohazard_audit::Actor;

/// A site of the register as stored: its id, version and fields.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisteredSite {
    pub id: SiteId,
    pub version: i32,
    #[serde(flatten)]
    pub record: SiteRecord,
    pub retired_at: Option<DateTime<Utc>>,
}

/// What became of a change.
#[derive(Debug)]
pub enum Outcome {
    Done(RegisteredSite),
    /// Absent or outside the scope (the two are not told apart).
    NotFound,
    /// The site changed since `base` version: the current one and what changed.
    Conflict {
        current: RegisteredSite,
        changed: Vec<&'static str>,
    },
    /// A field refused by the store's state (a duplicate code).
    Invalid(Vec<FieldError>),
}

#[derive(sqlx::FromRow)]
struct Row {
    id: SiteId,
    version: i32,
    code: String,
    name: String,
    kind: String,
    division_code: String,
    longitude: f64,
    latitude: f64,
    threat_zone: Option<Value>,
    scale_class: Option<String>,
    volume_m3: Option<f64>,
    threatened_people: i32,
    threatened_property: f64,
    status: String,
    monitor_name: Option<String>,
    monitor_phone: Option<String>,
    retired_at: Option<DateTime<Utc>>,
}

impl Row {
    fn into_site(self) -> sqlx::Result<RegisteredSite> {
        let bad = |e: geohazard_domain::UnknownName| sqlx::Error::Decode(Box::new(e));
        Ok(RegisteredSite {
            id: self.id,
            version: self.version,
            retired_at: self.retired_at,
            record: SiteRecord {
                code: self.code,
                name: self.name,
                kind: self.kind.parse().map_err(bad)?,
                division_code: self.division_code,
                longitude: self.longitude,
                latitude: self.latitude,
                threat_zone: self.threat_zone,
                scale_class: self.scale_class,
                volume_m3: self.volume_m3,
                threatened_people: self.threatened_people,
                threatened_property: self.threatened_property,
                status: self.status.parse().map_err(bad)?,
                monitor_name: self.monitor_name,
                monitor_phone: self.monitor_phone,
            },
        })
    }
}

/// The register's columns of sites (`s`) with their first monitor, for `WHERE {filter}`.
fn select(filter: &str) -> String {
    format!(
        "SELECT s.id, s.version, s.code, s.name, s.kind, s.division_code, s.longitude, s.latitude,
                s.threat_zone, s.scale_class, s.volume_m3, s.threatened_people,
                s.threatened_property, s.status, m.name AS monitor_name, m.phone AS monitor_phone,
                s.retired_at
         FROM hazard_sites s
         LEFT JOIN LATERAL (SELECT p.name, p.phone FROM site_responsibles r
                            JOIN people p ON p.id = r.person_id
                            WHERE r.site_id = s.id AND r.role = 'monitor'
                            ORDER BY p.id LIMIT 1) m ON true
         WHERE s.division_code = ANY($1) AND {filter}"
    )
}

/// One site of the register in scope; `lock` holds it until the transaction ends.
pub async fn get(
    db: &mut PgConnection,
    scope: &Scope,
    id: SiteId,
    lock: bool,
) -> sqlx::Result<Option<RegisteredSite>> {
    let mut sql = select("s.id = $2");
    if lock {
        sql.push_str(" FOR UPDATE OF s");
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.divisions())
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.map(Row::into_site).transpose()
}

/// Every site of the register in scope (retired ones too), by code.
pub async fn all(db: &mut PgConnection, scope: &Scope) -> sqlx::Result<Vec<RegisteredSite>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(select("true") + " ORDER BY s.code"))
        .bind(scope.divisions())
        .fetch_all(db)
        .await?;
    rows.into_iter().map(Row::into_site).collect()
}

/// The id of the site with `code`, in any division (codes are unique across the register),
/// and whether it is in scope.
pub async fn by_code(
    db: &mut PgConnection,
    scope: &Scope,
    code: &str,
) -> sqlx::Result<Option<(SiteId, bool)>> {
    sqlx::query_as(
        "SELECT id, division_code = ANY($1) FROM hazard_sites WHERE lower(code) = lower($2)",
    )
    .bind(scope.divisions())
    .bind(code)
    .fetch_optional(db)
    .await
}

/// Adds a site to the register.
pub async fn create(
    tx: &mut PgConnection,
    scope: &Scope,
    actor: &Actor,
    rec: &SiteRecord,
) -> sqlx::Result<Outcome> {
    if by_code(tx, scope, &rec.code).await?.is_some() {
        return Ok(duplicate(rec));
    }
    let id: Option<SiteId> = bind_record(
        sqlx::query(
            "INSERT INTO hazard_sites (code, name, kind, division_code, longitude, latitude,
                                       threat_zone, scale_class, volume_m3, threatened_people,
                                       threatened_property, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (code) DO NOTHING RETURNING id",
        ),
        rec,
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|row| row.get(0));
    let Some(id) = id else {
        // Another officer added the same code at the same moment.
        return Ok(duplicate(rec));
    };
    set_monitor(tx, id, rec).await?;
    let after = get(tx, scope, id, false)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    record_change(tx, actor, AuditAction::SiteCreate, None, &after).await?;
    Ok(Outcome::Done(after))
}

/// Binds a site's fields as `$1` to `$12`: code, name, type, division, longitude, latitude,
/// threat zone, scale, volume, people, property, status.
fn bind_record<'q>(
    query: Query<'q, Postgres, PgArguments>,
    rec: &'q SiteRecord,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(&rec.code)
        .bind(&rec.name)
        .bind(rec.kind.as_str())
        .bind(&rec.division_code)
        .bind(rec.longitude)
        .bind(rec.latitude)
        .bind(&rec.threat_zone)
        .bind(&rec.scale_class)
        .bind(rec.volume_m3)
        .bind(rec.threatened_people)
        .bind(rec.threatened_property)
        .bind(rec.status.as_str())
}

fn duplicate(rec: &SiteRecord) -> Outcome {
    Outcome::Invalid(vec![FieldError::new(
        "code",
        rec.code.clone(),
        Reason::DuplicateCode,
    )])
}

/// Replaces site `id` by `rec` if it still has version `base` (any version: `None`, as an
/// import of the county's register does).
pub async fn update(
    tx: &mut PgConnection,
    scope: &Scope,
    actor: &Actor,
    id: SiteId,
    base: Option<i32>,
    rec: &SiteRecord,
) -> sqlx::Result<Outcome> {
    let Some(before) = get(tx, scope, id, true).await? else {
        return Ok(Outcome::NotFound);
    };
    if let Some(base) = base
        && before.version != base
    {
        return conflict(tx, before, base).await;
    }
    if let Some((other, _)) = by_code(tx, scope, &rec.code).await?
        && other != id
    {
        return Ok(duplicate(rec));
    }
    if before.record == *rec {
        return Ok(Outcome::Done(before));
    }
    bind_record(
        sqlx::query(
            "UPDATE hazard_sites SET code = $1, name = $2, kind = $3, division_code = $4,
                    longitude = $5, latitude = $6, threat_zone = $7, scale_class = $8,
                    volume_m3 = $9, threatened_people = $10, threatened_property = $11,
                    status = $12, version = version + 1, updated_at = now(),
                    retired_at = CASE WHEN $12 = 'closed' THEN coalesce(retired_at, now()) END
             WHERE id = $13",
        ),
        rec,
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    set_monitor(tx, id, rec).await?;
    let after = get(tx, scope, id, false)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let action = if rec.status == SiteStatus::Closed && before.record.status != SiteStatus::Closed {
        AuditAction::SiteRetire
    } else {
        AuditAction::SiteUpdate
    };
    record_change(tx, actor, action, Some(&before), &after).await?;
    Ok(Outcome::Done(after))
}

/// Takes site `id` off the official register (status closed) if it still has version `base`.
pub async fn retire(
    tx: &mut PgConnection,
    scope: &Scope,
    actor: &Actor,
    id: SiteId,
    base: i32,
) -> sqlx::Result<Outcome> {
    let Some(before) = get(tx, scope, id, true).await? else {
        return Ok(Outcome::NotFound);
    };
    let mut rec = before.record.clone();
    rec.status = SiteStatus::Closed;
    update(tx, scope, actor, id, Some(base), &rec).await
}

/// The refusal of a change made against version `base`: what changed since, as far as the
/// register's change rows tell (every field when they do not reach back that far).
async fn conflict(
    tx: &mut PgConnection,
    current: RegisteredSite,
    base: i32,
) -> sqlx::Result<Outcome> {
    let then: Option<Value> = sqlx::query_scalar(
        "SELECT after FROM register_changes WHERE site_id = $1 AND version = $2
         ORDER BY id DESC LIMIT 1",
    )
    .bind(current.id)
    .bind(base)
    .fetch_optional(&mut *tx)
    .await?;
    let changed = match then.and_then(|v| serde_json::from_value::<SiteRecord>(v).ok()) {
        Some(then) => then.changed_fields(&current.record),
        None => crate::site_input::FIELDS.to_vec(),
    };
    Ok(Outcome::Conflict { current, changed })
}

/// Makes the site's monitor the one `rec` names (none when it names none).
async fn set_monitor(tx: &mut PgConnection, id: SiteId, rec: &SiteRecord) -> sqlx::Result<()> {
    let current: Option<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT p.id, p.name, p.phone FROM site_responsibles r JOIN people p ON p.id = r.person_id
         WHERE r.site_id = $1 AND r.role = 'monitor' ORDER BY p.id LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    match (&current, &rec.monitor_name) {
        (Some((_, name, phone)), Some(want)) if name == want && *phone == rec.monitor_phone => {}
        (Some((person, name, _)), Some(want)) if name == want => {
            sqlx::query("UPDATE people SET phone = $2 WHERE id = $1")
                .bind(*person)
                .bind(&rec.monitor_phone)
                .execute(&mut *tx)
                .await?;
        }
        (_, want) => {
            if let Some((person, _, _)) = &current {
                sqlx::query(
                    "DELETE FROM site_responsibles WHERE site_id = $1 AND person_id = $2
                     AND role = 'monitor'",
                )
                .bind(id)
                .bind(*person)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(name) = want {
                sqlx::query(
                    "WITH p AS (INSERT INTO people (name, phone, division_code)
                                VALUES ($2, $3, $4) RETURNING id)
                     INSERT INTO site_responsibles (site_id, person_id, role)
                     SELECT $1, id, 'monitor' FROM p",
                )
                .bind(id)
                .bind(name)
                .bind(&rec.monitor_phone)
                .bind(&rec.division_code)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    Ok(())
}

/// The change row and the audit entry of one change, with the site before and after.
async fn record_change(
    tx: &mut PgConnection,
    actor: &Actor,
    action: AuditAction,
    before: Option<&RegisteredSite>,
    after: &RegisteredSite,
) -> sqlx::Result<()> {
    let before_json = before.map(|b| serde_json::to_value(&b.record).unwrap_or_default());
    let after_json = serde_json::to_value(&after.record).unwrap_or_default();
    sqlx::query(
        "INSERT INTO register_changes (officer_id, kind, site_id, division_code, before, after,
                                       version, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(actor.officer_id)
    .bind(action.as_str())
    .bind(after.id)
    .bind(&after.record.division_code)
    .bind(&before_json)
    .bind(&after_json)
    .bind(after.version)
    .bind(&actor.source)
    .execute(&mut *tx)
    .await?;
    geohazard_audit::record(
        &mut *tx,
        &Entry {
            officer_id: Some(actor.officer_id),
            action,
            target: Some(format!("site:{}", after.id)),
            division_code: Some(after.record.division_code.clone()),
            detail: json!({"code": after.record.code, "version": after.version,
                           "before": before_json, "after": after_json,
                           "source": actor.source}),
            remote_addr: actor.remote_addr.clone(),
        },
    )
    .await
}

/// A change to the register as the change list shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RegisterChange {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub officer_id: Option<OfficerId>,
    pub kind: String,
    pub site_id: Option<SiteId>,
    pub division_code: String,
    pub before: Option<Value>,
    pub after: Value,
    pub version: i32,
    pub state: String,
    pub source: Option<String>,
}

/// The latest changes in scope (of one site if given), newest first.
pub async fn changes(
    db: &mut PgConnection,
    scope: &Scope,
    site: Option<SiteId>,
    limit: i64,
) -> sqlx::Result<Vec<RegisterChange>> {
    sqlx::query_as(
        "SELECT id, at, officer_id, kind, site_id, division_code, before, after, version, state,
                source
         FROM register_changes
         WHERE division_code = ANY($1) AND ($2::int8 IS NULL OR site_id = $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(scope.divisions())
    .bind(site)
    .bind(limit.clamp(1, 1000))
    .fetch_all(db)
    .await
}
