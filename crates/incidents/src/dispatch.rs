//! Dispatch: field teams (members, capabilities, a base), the nearest available teams to a
//! place with an estimated arrival, tasks given to a team or one of its members (decide +
//! persist, every change time-stamped and attributed on the task and the incident's timeline),
//! and the positions the field app reports.

use chrono::{DateTime, Utc};
use geo::{Distance, Haversine, Point};
use geohazard_domain::{OfficerId, PersonId, Scope};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;

use crate::decide::{
    Decision, IncidentStatus, TaskChange, TaskDecision, TaskStatus, decide, decide_task,
};
use crate::incident::{self, IncidentError, IncidentId};

/// `tasks.id`
pub type TaskId = i64;
/// `teams.id`
pub type TeamId = i64;

geohazard_domain::closed_set!(
    /// What a team does.
    TeamKind {
        Rescue => "rescue",
        Engineering => "engineering",
        Monitoring => "monitoring",
        Medical => "medical",
    }
);

/// Mountain roads wind: the distance driven is taken as this many times the great-circle one.
pub const ROAD_FACTOR: f64 = 1.4;

/// A team to register.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewTeam {
    pub division: String,
    pub name: String,
    pub kind: TeamKind,
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// [longitude, latitude] of its base.
    pub base: [f64; 2],
    /// Average road speed, km/h (default 40).
    pub speed_kmh: Option<f64>,
    /// Member officer ids; the first is the leader.
    #[serde(default)]
    pub members: Vec<OfficerId>,
}

/// A member as a team shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    pub officer_id: OfficerId,
    pub name: String,
    pub leader: bool,
}

/// A team as the console shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Team {
    pub id: TeamId,
    #[serde(rename = "division")]
    pub division_code: String,
    pub name: String,
    pub kind: TeamKind,
    pub capabilities: Vec<String>,
    pub base_longitude: f64,
    pub base_latitude: f64,
    pub speed_kmh: f64,
    pub available: bool,
    /// Working on a task not yet done or declined.
    pub busy: bool,
    #[sqlx(json)]
    pub members: Vec<MemberJson>,
}

/// A member as stored in the team's JSON aggregate.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberJson {
    pub officer_id: i64,
    pub name: String,
    pub leader: bool,
}

/// A suggested team for a place.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub team: Team,
    /// Great-circle distance from where the team is (its latest member position within the
    /// hour, else its base), km.
    pub distance_km: f64,
    /// Estimated arrival: the distance × [`ROAD_FACTOR`] at the team's speed, minutes.
    pub eta_minutes: f64,
    /// Where the distance was measured from: `position` or `base`.
    pub from: &'static str,
}

const TEAM_SELECT: &str = "SELECT t.id, t.division_code, t.name, t.kind, t.capabilities,
        t.base_longitude, t.base_latitude, t.speed_kmh, t.available,
        EXISTS (SELECT 1 FROM tasks k WHERE k.team_id = t.id
                AND k.status IN ('assigned', 'accepted', 'en_route', 'on_site')) AS busy,
        COALESCE((SELECT jsonb_agg(jsonb_build_object('officer_id', m.officer_id,
                    'name', COALESCE(NULLIF(o.display_name, ''), o.username), 'leader', m.leader)
                    ORDER BY m.leader DESC, m.officer_id)
                  FROM team_members m JOIN officers o ON o.id = m.officer_id
                  WHERE m.team_id = t.id), '[]'::jsonb) AS members
    FROM teams t WHERE t.division_code = ANY($1)";

/// Registers a team in `scope` with its members (officers of its division's scope).
pub async fn create_team(
    conn: &mut PgConnection,
    scope: &Scope,
    team: &NewTeam,
) -> Result<TeamId, IncidentError> {
    if !scope.contains(&team.division) {
        return Err(IncidentError::NotFound);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO teams (division_code, name, kind, capabilities, base_longitude, base_latitude, speed_kmh)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&team.division)
    .bind(&team.name)
    .bind(team.kind)
    .bind(&team.capabilities)
    .bind(team.base[0])
    .bind(team.base[1])
    .bind(team.speed_kmh.unwrap_or(40.0))
    .fetch_one(&mut *conn)
    .await?;
    for (i, member) in team.members.iter().enumerate() {
        let added = sqlx::query(
            "INSERT INTO team_members (team_id, officer_id, leader)
             SELECT $1, o.id, $3 FROM officers o WHERE o.id = $2 AND o.division_code = ANY($4)",
        )
        .bind(id)
        .bind(member)
        .bind(i == 0)
        .bind(scope.divisions())
        .execute(&mut *conn)
        .await?;
        if added.rows_affected() == 0 {
            return Err(IncidentError::NotFound);
        }
    }
    Ok(id)
}

/// Teams in scope.
pub async fn teams(db: impl sqlx::PgExecutor<'_>, scope: &Scope) -> sqlx::Result<Vec<Team>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{TEAM_SELECT} ORDER BY t.id")))
        .bind(scope.divisions())
        .fetch_all(db)
        .await
}

/// One team in scope.
pub async fn team(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    id: TeamId,
) -> sqlx::Result<Option<Team>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{TEAM_SELECT} AND t.id = $2")))
        .bind(scope.divisions())
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The available teams in scope not busy on a task, nearest first to `to` ([longitude,
/// latitude]), at most `limit`, of `kind` when given.
pub async fn nearest(
    db: &sqlx::PgPool,
    scope: &Scope,
    to: [f64; 2],
    kind: Option<TeamKind>,
    limit: usize,
) -> sqlx::Result<Vec<Suggestion>> {
    let all = teams(db, scope).await?;
    // Where each team's members were last seen within the hour.
    let seen: Vec<(i64, f64, f64)> = sqlx::query_as(
        "SELECT DISTINCT ON (m.team_id) m.team_id, p.longitude, p.latitude
         FROM team_members m JOIN field_positions p ON p.officer_id = m.officer_id
         WHERE p.at > now() - interval '1 hour' ORDER BY m.team_id, p.at DESC",
    )
    .fetch_all(db)
    .await?;
    let target = Point::new(to[0], to[1]);
    let mut out: Vec<Suggestion> = all
        .into_iter()
        .filter(|t| t.available && !t.busy && kind.is_none_or(|k| k == t.kind))
        .map(|team| {
            let (from, at) = match seen.iter().find(|(id, ..)| *id == team.id) {
                Some((_, lon, lat)) => ("position", Point::new(*lon, *lat)),
                None => ("base", Point::new(team.base_longitude, team.base_latitude)),
            };
            let distance_km = Haversine.distance(at, target) / 1000.0;
            let eta_minutes = distance_km * ROAD_FACTOR / team.speed_kmh * 60.0;
            Suggestion {
                team,
                distance_km,
                eta_minutes,
                from,
            }
        })
        .collect();
    out.sort_by(|a, b| a.distance_km.total_cmp(&b.distance_km));
    out.truncate(limit);
    Ok(out)
}

/// A task as the console and the field app show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TaskView {
    pub id: TaskId,
    pub incident_id: IncidentId,
    pub incident_title: String,
    #[serde(rename = "division")]
    pub division_code: String,
    pub team_id: TeamId,
    pub team_name: String,
    pub assignee_officer_id: Option<OfficerId>,
    pub assignee_name: Option<String>,
    pub title: String,
    pub status: TaskStatus,
    pub decline_reason: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The incident's first site, where to go.
    pub site_name: Option<String>,
    pub site_longitude: Option<f64>,
    pub site_latitude: Option<f64>,
}

const TASK_SELECT: &str = "SELECT k.id, k.incident_id, i.title AS incident_title, i.division_code,
        k.team_id, t.name AS team_name, k.assignee_officer_id,
        COALESCE(NULLIF(o.display_name, ''), o.username) AS assignee_name,
        k.title, k.status, k.decline_reason, k.deadline, k.created_at, k.updated_at,
        h.name AS site_name, h.longitude AS site_longitude, h.latitude AS site_latitude
    FROM tasks k JOIN incidents i ON i.id = k.incident_id JOIN teams t ON t.id = k.team_id
    LEFT JOIN officers o ON o.id = k.assignee_officer_id
    LEFT JOIN LATERAL (SELECT h.name, h.longitude, h.latitude FROM incident_sites s
        JOIN hazard_sites h ON h.id = s.site_id WHERE s.incident_id = i.id
        ORDER BY s.site_id LIMIT 1) h ON true
    WHERE i.division_code = ANY($1)";

/// Whose tasks a query reads: every task in scope, or only a field person's own.
#[derive(Debug, Clone, Copy)]
pub enum Whose {
    All,
    /// Given to this officer, or to a team of theirs without a person named.
    Own(OfficerId),
}

/// SQL true when task `k` belongs to officer `$2`.
const OWN: &str = "(k.assignee_officer_id = $2 OR (k.assignee_officer_id IS NULL AND EXISTS
        (SELECT 1 FROM team_members m WHERE m.team_id = k.team_id AND m.officer_id = $2)))";

/// Tasks in scope (of an incident, when given), newest first.
pub async fn tasks(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    whose: Whose,
    incident: Option<IncidentId>,
) -> sqlx::Result<Vec<TaskView>> {
    let (own, officer) = match whose {
        Whose::All => ("true", 0),
        Whose::Own(o) => (OWN, o.0),
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{TASK_SELECT} AND {own} AND ($3::bigint IS NULL OR k.incident_id = $3)
         ORDER BY k.id DESC LIMIT 500"
    )))
    .bind(scope.divisions())
    .bind(officer)
    .bind(incident)
    .fetch_all(db)
    .await
}

/// One task in scope and `whose`.
pub async fn task(
    db: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    whose: Whose,
    id: TaskId,
) -> sqlx::Result<Option<TaskView>> {
    let (own, officer) = match whose {
        Whose::All => ("true", 0),
        Whose::Own(o) => (OWN, o.0),
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{TASK_SELECT} AND {own} AND k.id = $3"
    )))
    .bind(scope.divisions())
    .bind(officer)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A task to give.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewTask {
    pub team: TeamId,
    /// A member of the team; none: the whole team.
    pub assignee: Option<OfficerId>,
    pub title: String,
    pub deadline: Option<DateTime<Utc>>,
}

/// Gives incident `incident` a task; an open incident starts responding. Returns the task and
/// the people to tell (the assignee, else the team's members) as (officer, person).
pub async fn create_task(
    conn: &mut PgConnection,
    scope: &Scope,
    incident: IncidentId,
    task: &NewTask,
    by: (OfficerId, PersonId),
) -> Result<(TaskId, Vec<(OfficerId, PersonId)>), IncidentError> {
    let status: Option<IncidentStatus> = sqlx::query_scalar(
        "SELECT status FROM incidents WHERE id = $1 AND division_code = ANY($2) FOR UPDATE",
    )
    .bind(incident)
    .bind(scope.divisions())
    .fetch_optional(&mut *conn)
    .await?;
    let status = status.ok_or(IncidentError::NotFound)?;
    if status == IncidentStatus::Closed {
        return Err(IncidentError::Refused {
            from: status,
            to: IncidentStatus::Responding,
        });
    }
    let team_ok: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1 AND division_code = ANY($2))",
    )
    .bind(task.team)
    .bind(scope.divisions())
    .fetch_one(&mut *conn)
    .await?;
    if !team_ok {
        return Err(IncidentError::NotFound);
    }
    let people: Vec<(OfficerId, PersonId)> = sqlx::query_as(
        "SELECT o.id, o.person_id FROM team_members m JOIN officers o ON o.id = m.officer_id
         WHERE m.team_id = $1 AND ($2::bigint IS NULL OR o.id = $2) ORDER BY o.id",
    )
    .bind(task.team)
    .bind(task.assignee)
    .fetch_all(&mut *conn)
    .await?;
    if task.assignee.is_some() && people.is_empty() {
        // The person named is not of the team.
        return Err(IncidentError::NotFound);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tasks (incident_id, team_id, assignee_officer_id, title, deadline)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(incident)
    .bind(task.team)
    .bind(task.assignee)
    .bind(&task.title)
    .bind(task.deadline)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO task_events (task_id, from_status, to_status, officer_id) VALUES ($1, NULL, 'assigned', $2)",
    )
    .bind(id)
    .bind(by.0)
    .execute(&mut *conn)
    .await?;
    incident::timeline(
        conn,
        incident,
        "task_assigned",
        Some(by.1),
        json!({"task": id, "team": task.team, "assignee": task.assignee, "title": task.title}),
    )
    .await?;
    if let Decision::Move { .. } = decide(status, IncidentStatus::Responding) {
        incident::apply(
            conn,
            incident,
            decide(status, IncidentStatus::Responding),
            Some(by.1),
            "",
        )
        .await?;
    }
    Ok((id, people))
}

/// Why a task change was not made.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("not found")]
    NotFound,
    #[error("a task cannot go from {from} to {to}")]
    Refused { from: TaskStatus, to: TaskStatus },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Moves task `id` (in scope and `whose`) on. `Ok(None)`: it was there already.
pub async fn update_task(
    conn: &mut PgConnection,
    scope: &Scope,
    whose: Whose,
    id: TaskId,
    change: TaskChange,
    by: (OfficerId, PersonId),
) -> Result<Option<(TaskStatus, TaskStatus)>, TaskError> {
    let (own, officer) = match whose {
        Whose::All => ("true", 0),
        Whose::Own(o) => (OWN, o.0),
    };
    let row: Option<(TaskStatus, IncidentId)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT k.status, k.incident_id FROM tasks k JOIN incidents i ON i.id = k.incident_id
         WHERE i.division_code = ANY($1) AND {own} AND k.id = $3 FOR UPDATE OF k"
    )))
    .bind(scope.divisions())
    .bind(officer)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let (current, incident) = row.ok_or(TaskError::NotFound)?;
    match decide_task(current, change) {
        TaskDecision::Same => Ok(None),
        TaskDecision::Refuse { from, to } => Err(TaskError::Refused { from, to }),
        TaskDecision::Move { from, to, reason } => {
            sqlx::query(
                "UPDATE tasks SET status = $2, decline_reason = COALESCE($3, decline_reason),
                     updated_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(to)
            .bind(&reason)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO task_events (task_id, from_status, to_status, officer_id, note)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(by.0)
            .bind(reason.as_deref().unwrap_or(""))
            .execute(&mut *conn)
            .await?;
            incident::timeline(
                conn,
                incident,
                "task_status",
                Some(by.1),
                json!({"task": id, "from": from, "to": to, "reason": reason}),
            )
            .await?;
            Ok(Some((from, to)))
        }
    }
}

/// One change of a task, time-stamped and attributed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TaskEvent {
    pub at: DateTime<Utc>,
    pub from_status: Option<TaskStatus>,
    pub to_status: TaskStatus,
    pub by: Option<String>,
    pub note: String,
}

/// A task's changes, oldest first (the task must have been read in scope).
pub async fn task_events(
    db: impl sqlx::PgExecutor<'_>,
    id: TaskId,
) -> sqlx::Result<Vec<TaskEvent>> {
    sqlx::query_as(
        "SELECT e.at, e.from_status, e.to_status,
                COALESCE(NULLIF(o.display_name, ''), o.username) AS by, e.note
         FROM task_events e LEFT JOIN officers o ON o.id = e.officer_id
         WHERE e.task_id = $1 ORDER BY e.id",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// A position the field app reports.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
pub struct NewPosition {
    pub longitude: f64,
    pub latitude: f64,
    pub accuracy_m: Option<f64>,
    /// The task it is reported on.
    pub task: Option<TaskId>,
}

/// Stores a position of `officer`; a task named must be theirs (in scope). Returns the
/// incident of the task, if any.
pub async fn report_position(
    conn: &mut PgConnection,
    scope: &Scope,
    officer: OfficerId,
    p: &NewPosition,
) -> Result<Option<IncidentId>, TaskError> {
    let incident = match p.task {
        Some(task) => {
            let row: Option<IncidentId> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT k.incident_id FROM tasks k JOIN incidents i ON i.id = k.incident_id
                 WHERE i.division_code = ANY($1) AND {OWN} AND k.id = $3"
            )))
            .bind(scope.divisions())
            .bind(officer)
            .bind(task)
            .fetch_optional(&mut *conn)
            .await?;
            Some(row.ok_or(TaskError::NotFound)?)
        }
        None => None,
    };
    sqlx::query(
        "INSERT INTO field_positions (officer_id, task_id, longitude, latitude, accuracy_m)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(officer)
    .bind(p.task)
    .bind(p.longitude)
    .bind(p.latitude)
    .bind(p.accuracy_m)
    .execute(&mut *conn)
    .await?;
    if let Some(incident) = incident {
        incident::announce(conn, incident).await?;
    }
    Ok(incident)
}

/// The latest position of each person on a task of an incident.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PositionView {
    pub officer_id: OfficerId,
    pub name: String,
    pub task_id: Option<TaskId>,
    pub at: DateTime<Utc>,
    pub longitude: f64,
    pub latitude: f64,
}

/// Where the people working on incident `id`'s tasks were last (the incident must have been
/// read in scope).
pub async fn positions(
    db: impl sqlx::PgExecutor<'_>,
    id: IncidentId,
) -> sqlx::Result<Vec<PositionView>> {
    sqlx::query_as(
        "SELECT DISTINCT ON (p.officer_id) p.officer_id,
                COALESCE(NULLIF(o.display_name, ''), o.username) AS name,
                p.task_id, p.at, p.longitude, p.latitude
         FROM field_positions p JOIN tasks k ON k.id = p.task_id JOIN officers o ON o.id = p.officer_id
         WHERE k.incident_id = $1 ORDER BY p.officer_id, p.at DESC, p.id DESC",
    )
    .bind(id)
    .fetch_all(db)
    .await
}
