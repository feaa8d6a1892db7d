//! The people of the register: who answers for each site (the village monitor of the
//! mass-monitoring network, the township and county officials, the engineer) and the duty
//! roster (who is on duty for a division, and when). Notification (`geohazard_notify`) finds
//! a site's recipients in exactly these rows (`site_responsibles`, `duty_roster`), so what an
//! officer keeps here is who is told. Always within a `Scope`: a person, a site or a roster
//! entry outside it reads exactly like one that does not exist.

use chrono::{DateTime, Utc};
use geohazard_domain::{PersonId, Scope, SiteId, SiteRole};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::site_input::{FieldError, Reason, checked_division, checked_phone, checked_text};

/// A person of the register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Person {
    pub id: PersonId,
    pub name: String,
    /// Digits only (5 to 20), as SMS are sent to it.
    pub phone: Option<String>,
    pub division_code: String,
    pub division_name: String,
    /// The user name when this person is an officer who signs in.
    pub officer: Option<String>,
}

/// A person as an officer types them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonInput {
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    pub division_code: Option<String>,
}

/// A person checked: name, phone (digits) and a division in scope.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonRecord {
    pub name: String,
    pub phone: Option<String>,
    pub division_code: String,
}

/// Checks a person for an officer with `scope`: the record, or every problem found.
pub fn check_person(input: &PersonInput, scope: &Scope) -> Result<PersonRecord, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = checked_text(&mut errors, "name", input.name.as_deref(), 100, true);
    let phone = checked_text(&mut errors, "phone", input.phone.as_deref(), 24, false)
        .and_then(|p| checked_phone(&mut errors, "phone", &p));
    let division = checked_division(&mut errors, scope, input.division_code.as_deref(), true);
    match (name, division) {
        (Some(name), Some(division_code)) if errors.is_empty() => Ok(PersonRecord {
            name,
            phone,
            division_code,
        }),
        _ => Err(errors),
    }
}

const SELECT_PERSON: &str = "SELECT p.id, p.name, p.phone, p.division_code,
        d.name AS division_name, o.username AS officer
    FROM people p JOIN divisions d ON d.code = p.division_code
    LEFT JOIN officers o ON o.person_id = p.id";

/// The people in scope, by name; only those answering for `site` when given.
pub async fn list(
    db: &mut PgConnection,
    scope: &Scope,
    site: Option<SiteId>,
) -> sqlx::Result<Vec<Person>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_PERSON} WHERE p.division_code = ANY($1)
           AND ($2::int8 IS NULL OR p.id IN (SELECT person_id FROM site_responsibles
                                             WHERE site_id = $2))
         ORDER BY p.name, p.id"
    )))
    .bind(scope.divisions())
    .bind(site)
    .fetch_all(db)
    .await
}

/// A person in scope; `None` when absent or outside it.
pub async fn get(
    db: &mut PgConnection,
    scope: &Scope,
    id: PersonId,
) -> sqlx::Result<Option<Person>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_PERSON} WHERE p.id = $1 AND p.division_code = ANY($2)"
    )))
    .bind(id)
    .bind(scope.divisions())
    .fetch_optional(db)
    .await
}

/// Adds a person (checked) and returns them.
pub async fn create(
    tx: &mut PgConnection,
    scope: &Scope,
    rec: &PersonRecord,
) -> sqlx::Result<Person> {
    let id: PersonId = sqlx::query_scalar(
        "INSERT INTO people (name, phone, division_code) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(&rec.name)
    .bind(&rec.phone)
    .bind(&rec.division_code)
    .fetch_one(&mut *tx)
    .await?;
    Ok(get(tx, scope, id).await?.expect("the person just added"))
}

/// Changes a person in scope; the person before and after, `None` when out of scope. An
/// officer's person keeps its name in step with the officer's display name.
pub async fn update(
    tx: &mut PgConnection,
    scope: &Scope,
    id: PersonId,
    rec: &PersonRecord,
) -> sqlx::Result<Option<(Person, Person)>> {
    let Some(before) = get(tx, scope, id).await? else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE people SET name = $2, phone = $3, division_code = $4, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&rec.name)
    .bind(&rec.phone)
    .bind(&rec.division_code)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE officers SET display_name = $2 WHERE person_id = $1")
        .bind(id)
        .bind(&rec.name)
        .execute(&mut *tx)
        .await?;
    let after = get(tx, scope, id).await?.expect("a person stays in scope");
    Ok(Some((before, after)))
}

/// One person answering for a site, in one role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SitePerson {
    pub person_id: PersonId,
    pub role: SiteRole,
    pub name: String,
    pub phone: Option<String>,
}

/// A person's role at a site, as an officer sets it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SitePersonInput {
    pub person_id: PersonId,
    /// monitor, township_official, county_official or engineer.
    pub role: String,
}

/// The people answering for a site (in scope, else `None`), by role.
pub async fn site_people(
    db: &mut PgConnection,
    scope: &Scope,
    site: SiteId,
) -> sqlx::Result<Option<Vec<SitePerson>>> {
    if !crate::sites::in_scope(&mut *db, scope, site).await? {
        return Ok(None);
    }
    Ok(Some(
        sqlx::query_as(
            "SELECT r.person_id, r.role, p.name, p.phone
             FROM site_responsibles r JOIN people p ON p.id = r.person_id
             WHERE r.site_id = $1
             ORDER BY array_position(ARRAY['monitor', 'township_official', 'county_official',
                                           'engineer'], r.role), p.name, p.id",
        )
        .bind(site)
        .fetch_all(db)
        .await?,
    ))
}

/// What setting a site's people did.
pub enum SitePeopleOutcome {
    NotFound,
    Invalid(Vec<FieldError>),
    /// Before and after.
    Done(Vec<SitePerson>, Vec<SitePerson>),
}

/// Makes exactly `wanted` the people answering for `site`: every person in scope, every role
/// one of the site roles.
pub async fn set_site_people(
    tx: &mut PgConnection,
    scope: &Scope,
    site: SiteId,
    wanted: &[SitePersonInput],
) -> sqlx::Result<SitePeopleOutcome> {
    // Locks the site, so two officers' lists do not interleave.
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM hazard_sites WHERE id = $1 AND division_code = ANY($2) FOR UPDATE",
    )
    .bind(site)
    .bind(scope.divisions())
    .fetch_optional(&mut *tx)
    .await?;
    if found.is_none() {
        return Ok(SitePeopleOutcome::NotFound);
    }
    let mut errors = Vec::new();
    let mut rows: Vec<(PersonId, SiteRole)> = Vec::new();
    for w in wanted {
        let role = w.role.parse::<SiteRole>().ok();
        if role.is_none() {
            errors.push(FieldError::new("role", &w.role, Reason::UnknownRole));
        }
        if get(tx, scope, w.person_id).await?.is_none() {
            errors.push(FieldError::new(
                "person_id",
                w.person_id.0.to_string(),
                Reason::UnknownPerson,
            ));
        }
        if let Some(role) = role
            && !rows.contains(&(w.person_id, role))
        {
            rows.push((w.person_id, role));
        }
    }
    if !errors.is_empty() {
        return Ok(SitePeopleOutcome::Invalid(errors));
    }
    let before = site_people(tx, scope, site).await?.unwrap_or_default();
    sqlx::query("DELETE FROM site_responsibles WHERE site_id = $1")
        .bind(site)
        .execute(&mut *tx)
        .await?;
    for (person, role) in &rows {
        sqlx::query("INSERT INTO site_responsibles (site_id, person_id, role) VALUES ($1, $2, $3)")
            .bind(site)
            .bind(person)
            .bind(role)
            .execute(&mut *tx)
            .await?;
    }
    let after = site_people(tx, scope, site).await?.unwrap_or_default();
    Ok(SitePeopleOutcome::Done(before, after))
}

/// Who is on duty for a division, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RosterEntry {
    pub id: i64,
    pub division_code: String,
    pub division_name: String,
    pub person_id: PersonId,
    pub person_name: String,
    pub phone: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The duty (default `duty_officer`; free text up to 40 characters, e.g. 带班领导).
    pub role: String,
}

/// A roster entry as an officer types it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RosterInput {
    pub division_code: Option<String>,
    pub person_id: Option<PersonId>,
    /// RFC 3339 with its offset, e.g. 2026-12-07T08:00:00+08:00.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

/// Which roster entries: in scope, of one division (and those below it) if given, overlapping
/// [from, to) if given.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RosterQuery {
    pub division: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

const SELECT_ROSTER: &str = "SELECT r.id, r.division_code, d.name AS division_name, r.person_id,
        p.name AS person_name, p.phone, r.starts_at, r.ends_at, r.role
    FROM duty_roster r JOIN divisions d ON d.code = r.division_code
    JOIN people p ON p.id = r.person_id";

/// The roster entries in scope that `q` asks for, by start.
pub async fn roster(
    db: &mut PgConnection,
    scope: &Scope,
    q: &RosterQuery,
) -> sqlx::Result<Vec<RosterEntry>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ROSTER} WHERE r.division_code = ANY($1)
           AND ($2::text IS NULL OR r.division_code = $2 OR d.parent_code = $2)
           AND ($3::timestamptz IS NULL OR r.ends_at > $3)
           AND ($4::timestamptz IS NULL OR r.starts_at < $4)
         ORDER BY r.starts_at, r.division_code, r.id LIMIT 2000"
    )))
    .bind(scope.divisions())
    .bind(&q.division)
    .bind(q.from)
    .bind(q.to)
    .fetch_all(db)
    .await
}

async fn roster_entry(
    db: &mut PgConnection,
    scope: &Scope,
    id: i64,
) -> sqlx::Result<Option<RosterEntry>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ROSTER} WHERE r.id = $1 AND r.division_code = ANY($2)"
    )))
    .bind(id)
    .bind(scope.divisions())
    .fetch_optional(db)
    .await
}

fn time_of(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    v: &Option<String>,
) -> Option<DateTime<Utc>> {
    let s = checked_text(errors, field, v.as_deref(), 40, true)?;
    match DateTime::parse_from_rfc3339(&s) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(field, s, Reason::BadTime));
            None
        }
    }
}

/// Adds a roster entry: the division and the person in scope, the end after the start.
pub async fn add_to_roster(
    tx: &mut PgConnection,
    scope: &Scope,
    input: &RosterInput,
) -> sqlx::Result<Result<RosterEntry, Vec<FieldError>>> {
    let mut errors = Vec::new();
    let division = checked_division(&mut errors, scope, input.division_code.as_deref(), true);
    match input.person_id {
        None => errors.push(FieldError::new("person_id", "", Reason::Required)),
        Some(p) => {
            if get(tx, scope, p).await?.is_none() {
                errors.push(FieldError::new(
                    "person_id",
                    p.0.to_string(),
                    Reason::UnknownPerson,
                ));
            }
        }
    }
    let starts = time_of(&mut errors, "starts_at", &input.starts_at);
    let ends = time_of(&mut errors, "ends_at", &input.ends_at);
    if let (Some(s), Some(e)) = (starts, ends)
        && e <= s
    {
        errors.push(FieldError::new(
            "ends_at",
            input.ends_at.clone().unwrap_or_default(),
            Reason::EndsBeforeStart,
        ));
    }
    let role = checked_text(&mut errors, "role", input.role.as_deref(), 40, false)
        .unwrap_or_else(|| "duty_officer".to_owned());
    let (Some(division), Some(person), Some(starts), Some(ends)) =
        (division, input.person_id, starts, ends)
    else {
        return Ok(Err(errors));
    };
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO duty_roster (division_code, person_id, starts_at, ends_at, role)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&division)
    .bind(person)
    .bind(starts)
    .bind(ends)
    .bind(&role)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Ok(roster_entry(tx, scope, id)
        .await?
        .expect("the entry just added")))
}

/// Takes a roster entry in scope off the roster; the entry, `None` when out of scope.
pub async fn remove_from_roster(
    tx: &mut PgConnection,
    scope: &Scope,
    id: i64,
) -> sqlx::Result<Option<RosterEntry>> {
    let Some(entry) = roster_entry(tx, scope, id).await? else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM duty_roster WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(Some(entry))
}
