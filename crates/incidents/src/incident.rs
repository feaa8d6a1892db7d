//! An incident in the database: opened from a warning (by a person, or automatically on red),
//! moved through its states, assessed (regraded), with every change a timeline entry. Each
//! entry point locks what it changes, asks [`crate::decide`] and applies the decision in the
//! caller's transaction, so the caller's audit entry commits or fails with it.

use geohazard_domain::{PersonId, Scope, WarningId, WarningLevel};
use serde_json::json;
use sqlx::PgConnection;

use crate::decide::{Decision, IncidentClass, IncidentStatus, decide, grade};
use crate::field::ReportKind;

/// `incidents.id`
pub type IncidentId = i64;

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// No such object in the caller's scope.
    #[error("not found")]
    NotFound,
    /// The state machine refuses the change.
    #[error("an incident cannot go from {from} to {to}")]
    Refused {
        from: IncidentStatus,
        to: IncidentStatus,
    },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// How an incident came to be for a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Opened now.
    New(IncidentId),
    /// The warning already belongs to this incident: nothing was opened.
    Existing(IncidentId),
}

impl Opened {
    pub fn id(self) -> IncidentId {
        match self {
            Opened::New(id) | Opened::Existing(id) => id,
        }
    }
}

/// Adds a timeline entry.
pub async fn timeline(
    conn: &mut PgConnection,
    incident: IncidentId,
    kind: &str,
    person: Option<PersonId>,
    detail: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO incident_events (incident_id, kind, person_id, detail) VALUES ($1, $2, $3, $4)",
    )
    .bind(incident)
    .bind(kind)
    .bind(person)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE incidents SET updated_at = now() WHERE id = $1")
        .bind(incident)
        .execute(&mut *conn)
        .await?;
    announce(conn, incident).await
}

/// The PostgreSQL channel that says an incident changed: `{division}:{id}`, sent when the
/// transaction commits. It only says that: listeners read the incident from the store.
pub const CHANGED_CHANNEL: &str = "geohazard_incident";

/// Announces on [`CHANGED_CHANNEL`] that `incident` changed, when the caller's transaction
/// commits (and not if it does not).
pub async fn announce(conn: &mut PgConnection, incident: IncidentId) -> sqlx::Result<()> {
    sqlx::query(
        "SELECT pg_notify($2, division_code || ':' || id::text) FROM incidents WHERE id = $1",
    )
    .bind(incident)
    .bind(CHANGED_CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}

/// Opens an incident from warning `warning` (in `scope`, when a person opens it; `None`: the
/// system, on red), graded from its site's people threatened, linking the warning and its site.
/// A warning belongs to one incident: opening it again answers the incident it has.
pub async fn open_from_warning(
    conn: &mut PgConnection,
    warning: WarningId,
    scope: Option<&Scope>,
    person: Option<PersonId>,
) -> Result<Opened, IncidentError> {
    // The warning row is locked: two opens of one warning at once make one incident.
    let row: Option<(i64, String, String, String, i32, String)> = sqlx::query_as(
        "SELECT h.id, h.division_code, h.name, w.level, h.threatened_people, h.code
         FROM warnings w JOIN hazard_sites h ON h.id = w.site_id
         WHERE w.id = $1 FOR UPDATE OF w",
    )
    .bind(warning)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((site, division, name, level, threatened, code)) = row else {
        return Err(IncidentError::NotFound);
    };
    if scope.is_some_and(|s| !s.contains(&division)) {
        return Err(IncidentError::NotFound);
    }
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT incident_id FROM incident_warnings WHERE warning_id = $1")
            .bind(warning)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(id) = existing {
        return Ok(Opened::Existing(id));
    }
    let threatened = threatened.max(0);
    let class = grade(0, threatened as u32, 0.0);
    let level_zh = level.parse().unwrap_or(WarningLevel::Blue).name_zh();
    let title = format!("{name}({code}){level_zh}预警险情");
    let id = insert(conn, &division, &title, class, threatened, Some(site)).await?;
    sqlx::query("INSERT INTO incident_warnings (incident_id, warning_id) VALUES ($1, $2)")
        .bind(id)
        .bind(warning)
        .execute(&mut *conn)
        .await?;
    timeline(
        conn,
        id,
        "opened",
        person,
        json!({"warning": warning, "level": level, "site": code, "class": class,
               "automatic": person.is_none()}),
    )
    .await?;
    Ok(Opened::New(id))
}

/// Opens an incident from field report `report` (in `scope`; a report belongs to one incident:
/// opening it again answers the incident it has), graded from the people it says are at risk
/// (or its site's people threatened, whichever is more), linking its site when it names one.
pub async fn open_from_report(
    conn: &mut PgConnection,
    report: i64,
    scope: &Scope,
    person: PersonId,
) -> Result<Opened, IncidentError> {
    // The report row is locked: two opens of one report at once make one incident.
    type ReportRow = (
        String,
        Option<i64>,
        ReportKind,
        i32,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<i32>,
    );
    let row: Option<ReportRow> = sqlx::query_as(
        "SELECT r.division_code, r.site_id, r.kind, r.people_at_risk, r.incident_id, h.code,
                h.name, h.threatened_people
         FROM field_reports r LEFT JOIN hazard_sites h ON h.id = r.site_id
         WHERE r.id = $1 FOR UPDATE OF r",
    )
    .bind(report)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((division, site, kind, at_risk, existing, code, name, threatened)) = row else {
        return Err(IncidentError::NotFound);
    };
    if !scope.contains(&division) {
        return Err(IncidentError::NotFound);
    }
    if let Some(id) = existing {
        return Ok(Opened::Existing(id));
    }
    let threatened = at_risk.max(threatened.unwrap_or(0)).max(0);
    let class = grade(0, threatened as u32, 0.0);
    let place = match (&name, &code) {
        (Some(name), Some(code)) => format!("{name}({code})"),
        _ => String::new(),
    };
    let title = format!("{place}{}灾情速报", kind.name_zh());
    let id = insert(conn, &division, &title, class, threatened, site).await?;
    sqlx::query("UPDATE field_reports SET incident_id = $2 WHERE id = $1")
        .bind(report)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    timeline(
        conn,
        id,
        "opened",
        Some(person),
        json!({"report": report, "kind": kind, "site": code, "class": class,
               "people_at_risk": at_risk, "automatic": false}),
    )
    .await?;
    Ok(Opened::New(id))
}

/// A new incident, open, with its site when it has one; returns its id.
async fn insert(
    conn: &mut PgConnection,
    division: &str,
    title: &str,
    class: IncidentClass,
    threatened: i32,
    site: Option<i64>,
) -> sqlx::Result<IncidentId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (division_code, title, class, threatened_people)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(division)
    .bind(title.chars().take(200).collect::<String>())
    .bind(class)
    .bind(threatened)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(site) = site {
        sqlx::query("INSERT INTO incident_sites (incident_id, site_id) VALUES ($1, $2)")
            .bind(id)
            .bind(site)
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}

/// The incident's status, locked for the caller's transaction; `None` outside `scope`.
async fn lock(
    conn: &mut PgConnection,
    scope: &Scope,
    id: IncidentId,
) -> Result<IncidentStatus, IncidentError> {
    let status: Option<IncidentStatus> = sqlx::query_scalar(
        "SELECT status FROM incidents WHERE id = $1 AND division_code = ANY($2) FOR UPDATE",
    )
    .bind(id)
    .bind(scope.divisions())
    .fetch_optional(&mut *conn)
    .await?;
    status.ok_or(IncidentError::NotFound)
}

/// Moves incident `id` to `to` if the state machine allows it. `Ok(None)`: it was there
/// already (nothing stored); `Ok(Some(from))`: moved from `from`.
pub async fn change_status(
    conn: &mut PgConnection,
    scope: &Scope,
    id: IncidentId,
    to: IncidentStatus,
    person: Option<PersonId>,
    note: &str,
) -> Result<Option<IncidentStatus>, IncidentError> {
    let current = lock(conn, scope, id).await?;
    apply(conn, id, decide(current, to), person, note).await
}

/// Applies an incident decision in `conn` (the row, its timeline entry).
pub(crate) async fn apply(
    conn: &mut PgConnection,
    id: IncidentId,
    decision: Decision,
    person: Option<PersonId>,
    note: &str,
) -> Result<Option<IncidentStatus>, IncidentError> {
    match decision {
        Decision::Same => Ok(None),
        Decision::Refuse { from, to } => Err(IncidentError::Refused { from, to }),
        Decision::Move { from, to } => {
            sqlx::query(
                "UPDATE incidents SET status = $2,
                     closed_at = CASE WHEN $2 = 'closed' THEN now() ELSE NULL END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(to)
            .execute(&mut *conn)
            .await?;
            timeline(
                conn,
                id,
                "status",
                person,
                json!({"from": from, "to": to, "note": note}),
            )
            .await?;
            Ok(Some(from))
        }
    }
}

/// The figures an assessment gives: deaths, people threatened, direct losses (10,000 CNY).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    pub casualties: u32,
    pub threatened_people: u32,
    pub losses: f64,
}

/// Records an assessment: the figures, and the class they grade to. Returns (class before,
/// class now).
pub async fn assess(
    conn: &mut PgConnection,
    scope: &Scope,
    id: IncidentId,
    figures: Figures,
    person: Option<PersonId>,
) -> Result<(IncidentClass, IncidentClass), IncidentError> {
    let status = lock(conn, scope, id).await?;
    if status == IncidentStatus::Closed {
        return Err(IncidentError::Refused {
            from: status,
            to: status,
        });
    }
    let before: IncidentClass = sqlx::query_scalar("SELECT class FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let class = grade(
        figures.casualties,
        figures.threatened_people,
        figures.losses,
    );
    sqlx::query(
        "UPDATE incidents SET class = $2, casualties = $3, threatened_people = $4, losses = $5
         WHERE id = $1",
    )
    .bind(id)
    .bind(class)
    .bind(i32::try_from(figures.casualties).unwrap_or(i32::MAX))
    .bind(i32::try_from(figures.threatened_people).unwrap_or(i32::MAX))
    .bind(figures.losses)
    .execute(&mut *conn)
    .await?;
    timeline(
        conn,
        id,
        "assessed",
        person,
        json!({"figures": figures, "class_before": before, "class": class}),
    )
    .await?;
    Ok((before, class))
}

/// Opens an incident for a red warning without a person (the command-center's live feed calls
/// this for each red warning it sees): every replica sees the warning, one opens, once
/// (`geohazard_store::cluster::claim_once`). `None` when another replica, or an earlier call,
/// took it.
pub async fn open_on_red(
    pool: &sqlx::PgPool,
    warning: WarningId,
) -> Result<Option<Opened>, IncidentError> {
    if !geohazard_store::cluster::claim_once(pool, "incident.open_on_red", &warning.to_string())
        .await?
    {
        return Ok(None);
    }
    let mut tx = pool.begin().await?;
    let opened = open_from_warning(&mut tx, warning, None, None).await?;
    tx.commit().await?;
    Ok(Some(opened))
}
