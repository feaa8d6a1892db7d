//! `/api/v1/incidents`, `/api/v1/teams`, `/api/v1/tasks`, `/api/v1/positions`: emergency
//! response. Incidents are opened from warnings and moved on by duty officers; tasks are given
//! to teams and moved on by the people they are given to (field staff and village monitors see
//! and move only their own); the field app reports positions. Every change is decided by
//! `geohazard_incidents`, applied with its audit entry (before and after) in one transaction,
//! and, with an `Idempotency-Key`, done once however often a phone retries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use geohazard_api::incidents::{
    Figures, IncidentDetail, IncidentStatus, IncidentStatusRequest, IncidentView, IncidentsQuery,
    NearestQuery, NewPosition, NewTask, NewTeam, Suggestion, TaskDetail, TaskStatus,
    TaskStatusRequest, TaskView, Team,
};
use geohazard_api::{ApiError, ErrorBody};
use geohazard_domain::{AuditAction, OfficerId, Ownership, Permission, PersonId, WarningId};
use geohazard_incidents::dispatch::{self, Whose};
use geohazard_incidents::incident::{self, Opened};
use geohazard_incidents::{TaskChange, view};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::audit::{self, Entry};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{Body, Id, Params};
use crate::idempotency::{self, IdempotencyKey};
use crate::state::AppState;

const MAY_NOT_READ: &str = "your role may not read incidents";
const MAY_NOT_MANAGE: &str = "your role may not run incidents";
const MAY_NOT_DISPATCH: &str = "your role may not dispatch tasks";
const MAY_NOT_READ_TASKS: &str = "your role may not read tasks";
const MAY_NOT_UPDATE_TASKS: &str = "your role may not move tasks on";
/// Longest note or reason, in characters.
const MAX_TEXT_CHARS: usize = 2000;

/// Whose tasks the caller reads and moves on: field people only their own.
fn whose(caller: &Caller) -> Whose {
    if geohazard_domain::permits(caller.officer.role, Permission::ReadTask, Ownership::Others) {
        Whose::All
    } else {
        Whose::Own(OfficerId(caller.officer.id))
    }
}

fn text_field(name: &str, value: &str, max: usize, required: bool) -> Result<(), ApiError> {
    let n = value.trim().chars().count();
    if required && n == 0 {
        return Err(ApiError::bad_request(format!("{name} is required")));
    }
    if value.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{name} is too long: at most {max} characters"
        )));
    }
    Ok(())
}

/// 422 naming `field` unless it is a name of the closed set `T` (a clearer answer than the
/// body decoder's).
fn named<T: std::str::FromStr>(raw: &Value, field: &str, names: &str) -> Result<(), ApiError> {
    match raw.get(field).and_then(Value::as_str) {
        Some(s) if s.parse::<T>().is_err() => Err(ApiError::Status(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{field}: `{}` is not one of {names}",
                s.chars().take(50).collect::<String>()
            ),
        )),
        _ => Ok(()),
    }
}

/// 422 naming the first of `fields` that is present but not a whole number from 0 to 2^31 − 1.
fn counts(raw: &Value, fields: &[&str]) -> Result<(), ApiError> {
    for field in fields {
        if let Some(v) = raw.get(*field)
            && v.as_u64().is_none_or(|n| n > i32::MAX as u64)
        {
            return Err(ApiError::Status(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{field}: a whole number from 0 to 2147483647, not {v}"),
            ));
        }
    }
    Ok(())
}

/// An idempotent change: claims the key, runs `act` in the transaction, records the audit entry
/// `act` returns, stores the answer with the key, commits. A retry with the key gets the first
/// answer.
pub(super) async fn idempotent<T, F>(
    state: &AppState,
    caller: &Caller,
    key: &IdempotencyKey,
    fingerprint: Vec<u8>,
    remote: Option<String>,
    act: F,
) -> Result<Response, ApiError>
where
    T: Serialize,
    F: AsyncFnOnce(&mut PgConnection) -> Result<Change<T>, ApiError>,
{
    let mut tx = state.pool.begin().await?;
    let claimed = match idempotency::claim(&mut tx, caller.officer.id, key, &fingerprint).await? {
        Ok(claimed) => claimed,
        Err(answer) => return Ok(answer),
    };
    let (status, answer, entry) = act(&mut *tx).await?;
    record(&mut tx, remote, entry).await?;
    claimed.complete(&mut tx, status, &answer).await?;
    tx.commit().await?;
    Ok((status, Json(answer)).into_response())
}

/// What a change answers (its status and body) and the audit entry it leaves, if any.
pub(super) type Change<T> = (StatusCode, T, Option<Entry>);

/// Records `change`'s audit entry (from `remote`) in `tx`, commits it and answers.
pub(super) async fn commit<T: Serialize>(
    mut tx: Transaction<'_, Postgres>,
    remote: Option<String>,
    (status, answer, entry): Change<T>,
) -> Result<Response, ApiError> {
    record(&mut tx, remote, entry).await?;
    tx.commit().await?;
    Ok((status, Json(answer)).into_response())
}

async fn record(
    db: &mut PgConnection,
    remote: Option<String>,
    entry: Option<Entry>,
) -> Result<(), ApiError> {
    if let Some(mut entry) = entry {
        entry.remote_addr = remote;
        audit::record(db, &entry).await?;
    }
    Ok(())
}

/// The answer to a save: 201 with `after` if there was nothing `before`, else 200; audited as
/// `action` on `target` in `division` with both.
pub(super) fn saved<B: Serialize, T: Serialize>(
    caller: &Caller,
    action: AuditAction,
    target: String,
    division: String,
    before: Option<B>,
    after: T,
) -> Change<T> {
    let status = if before.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let audit = entry(
        caller,
        action,
        target,
        &division,
        json!({"before": before, "after": &after}),
    );
    (status, after, Some(audit))
}

/// The answer to a creation: 201 with `after`, audited as `action` on `target` in `division`
/// from nothing to `after` (with the fields of the object `also`, if any).
pub(super) fn created<T: Serialize>(
    caller: &Caller,
    action: AuditAction,
    target: String,
    division: String,
    after: T,
    also: Value,
) -> Change<T> {
    let mut detail = json!({"before": null, "after": &after});
    if let (Value::Object(detail), Value::Object(also)) = (&mut detail, also) {
        detail.extend(also);
    }
    let audit = entry(caller, action, target, &division, detail);
    (StatusCode::CREATED, after, Some(audit))
}

pub(super) fn entry(
    caller: &Caller,
    action: AuditAction,
    target: String,
    division: &str,
    detail: Value,
) -> Entry {
    Entry {
        officer_id: Some(OfficerId(caller.officer.id)),
        action,
        target: Some(target),
        division_code: Some(division.to_owned()),
        detail,
        remote_addr: None,
    }
}

fn person(caller: &Caller) -> PersonId {
    PersonId(caller.officer.person_id)
}

/// Open incidents in scope (by default all but closed), newest change first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentsQuery),
    responses((status = 200, body = Vec<IncidentView>), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<IncidentsQuery>,
) -> Result<Json<Vec<IncidentView>>, ApiError> {
    caller.require(Permission::ReadIncidents, MAY_NOT_READ)?;
    let statuses: Vec<IncidentStatus> = match q.status.as_deref() {
        None | Some("") => IncidentStatus::ALL
            .iter()
            .copied()
            .filter(|s| *s != IncidentStatus::Closed)
            .collect(),
        Some(list) => list
            .split(',')
            .map(|s| {
                s.trim().parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "status: `{}` is not one of open, responding, stabilised, closed",
                        s.chars().take(50).collect::<String>()
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(Json(
        view::list(&state.pool, &caller.scope, &statuses, 500).await?,
    ))
}

/// One incident with its sites, timeline, tasks and the latest positions of its people.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody)))]
pub(super) async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<Json<IncidentDetail>, ApiError> {
    caller.require(Permission::ReadIncidents, MAY_NOT_READ)?;
    let incident = view::get(&state.pool, &caller.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(IncidentDetail {
        sites: view::sites(&state.pool, id).await?,
        timeline: view::timeline(&state.pool, id).await?,
        tasks: dispatch::tasks(&state.pool, &caller.scope, whose(&caller), Some(id)).await?,
        positions: dispatch::positions(&state.pool, id).await?,
        plan: match incident.site_ids.first() {
            Some(site) => {
                geohazard_incidents::plan::get(
                    &state.pool,
                    &caller.scope,
                    geohazard_incidents::plan::Reader::Scope,
                    geohazard_domain::SiteId(*site),
                )
                .await?
            }
            None => None,
        },
        incident,
    }))
}

/// Opens an incident from a warning (one per warning: 201 with the new one, 200 with the one it
/// has).
#[utoipa::path(post, path = "/api/v1/warnings/{id}/incident", tag = "incidents",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = IncidentView), (status = 200, body = IncidentView),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn open(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(warning): Id<WarningId>,
    key: IdempotencyKey,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageIncidents, MAY_NOT_MANAGE)?;
    let path = format!("/api/v1/warnings/{warning}/incident");
    let fingerprint = idempotency::fingerprint("POST", &path, &Value::Null);
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let opened =
            incident::open_from_warning(tx, warning, Some(&caller.scope), Some(person(&caller)))
                .await?;
        answer_opened(tx, &caller, opened, ("warning", warning.0)).await
    })
    .await
}

/// The answer to an opening: 201 with the new incident (audited, naming what it was opened
/// from), 200 with the one that was there.
async fn answer_opened(
    tx: &mut PgConnection,
    caller: &Caller,
    opened: Opened,
    (from, id): (&str, i64),
) -> Result<Change<IncidentView>, ApiError> {
    let after = view::get(&mut *tx, &caller.scope, opened.id())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(match opened {
        Opened::New(incident) => created(
            caller,
            AuditAction::IncidentOpen,
            format!("incident:{incident}"),
            after.division_code.clone(),
            after,
            json!({from: id}),
        ),
        Opened::Existing(_) => (StatusCode::OK, after, None),
    })
}

/// Opens an incident from a field report (速报) in scope (one per report: 201 with the new one,
/// 200 with the one it has).
#[utoipa::path(post, path = "/api/v1/field-reports/{id}/incident", tag = "incidents",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = IncidentView), (status = 200, body = IncidentView),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn open_from_report(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(report): Id<i64>,
    key: IdempotencyKey,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageIncidents, MAY_NOT_MANAGE)?;
    let path = format!("/api/v1/field-reports/{report}/incident");
    let fingerprint = idempotency::fingerprint("POST", &path, &Value::Null);
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let opened = incident::open_from_report(tx, report, &caller.scope, person(&caller)).await?;
        answer_opened(tx, &caller, opened, ("field_report", report)).await
    })
    .await
}

/// Moves an incident on: open → responding → stabilised → closed (409 for a move its state
/// machine refuses).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/status", tag = "incidents",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = IncidentStatusRequest,
    responses((status = 200, body = IncidentView), (status = 409, body = ErrorBody)))]
pub(super) async fn status(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageIncidents, MAY_NOT_MANAGE)?;
    named::<IncidentStatus>(&raw, "status", "open, responding, stabilised, closed")?;
    let path = format!("/api/v1/incidents/{id}/status");
    let (fingerprint, req): (_, IncidentStatusRequest) = idempotency::read("POST", &path, raw)?;
    let note = req.note.unwrap_or_default();
    text_field("note", &note, MAX_TEXT_CHARS, false)?;
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let from = incident::change_status(
            tx,
            &caller.scope,
            id,
            req.status,
            Some(person(&caller)),
            &note,
        )
        .await?;
        let after = view::get(&mut *tx, &caller.scope, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let audit = from.map(|from| {
            entry(
                &caller,
                AuditAction::IncidentStatus,
                format!("incident:{id}"),
                &after.division_code,
                json!({"before": {"status": from}, "after": {"status": after.status}, "note": note}),
            )
        });
        Ok((StatusCode::OK, after, audit))
    })
    .await
}

/// Records the figures of an assessment; the class follows from them (the national plan's
/// grading).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/assessment", tag = "incidents",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = IncidentView), (status = 409, body = ErrorBody)))]
pub(super) async fn assess(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageIncidents, MAY_NOT_MANAGE)?;
    counts(&raw, &["casualties", "threatened_people"])?;
    let path = format!("/api/v1/incidents/{id}/assessment");
    let (fingerprint, figures): (_, Figures) = idempotency::read("POST", &path, raw)?;
    if !figures.losses.is_finite() || figures.losses < 0.0 {
        return Err(ApiError::bad_request(
            "losses must be a number of 10,000 CNY, zero or more",
        ));
    }
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let before = view::get(&mut *tx, &caller.scope, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        incident::assess(tx, &caller.scope, id, figures, Some(person(&caller))).await?;
        let after = view::get(&mut *tx, &caller.scope, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let audit = entry(
            &caller,
            AuditAction::IncidentAssess,
            format!("incident:{id}"),
            &after.division_code,
            json!({"before": &before, "after": &after}),
        );
        Ok((StatusCode::OK, after, Some(audit)))
    })
    .await
}

/// Teams in scope, with their members and whether they are busy.
#[utoipa::path(get, path = "/api/v1/teams", tag = "dispatch",
    responses((status = 200, body = Vec<Team>)))]
pub(super) async fn teams(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Team>>, ApiError> {
    caller.require(Permission::ReadIncidents, MAY_NOT_READ)?;
    Ok(Json(dispatch::teams(&state.pool, &caller.scope).await?))
}

/// Registers a team (its division and members in scope; the first member leads).
#[utoipa::path(post, path = "/api/v1/teams", tag = "dispatch", request_body = NewTeam,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Team), (status = 400, body = ErrorBody)))]
pub(super) async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageIncidents, MAY_NOT_MANAGE)?;
    let (fingerprint, team): (_, NewTeam) = idempotency::read("POST", "/api/v1/teams", raw)?;
    text_field("name", &team.name, 100, true)?;
    let [lon, lat] = team.base;
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(ApiError::bad_request(
            "base: [longitude, latitude] within -180..180 and -90..90",
        ));
    }
    if team
        .speed_kmh
        .is_some_and(|s| !(s.is_finite() && s > 0.0 && s <= 500.0))
    {
        return Err(ApiError::bad_request("speed_kmh: more than 0, at most 500"));
    }
    if team.capabilities.len() > 50 || team.capabilities.iter().any(|c| c.chars().count() > 100) {
        return Err(ApiError::bad_request(
            "capabilities: at most 50, each at most 100 characters",
        ));
    }
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let id = dispatch::create_team(tx, &caller.scope, &team).await?;
        let after = dispatch::team(&mut *tx, &caller.scope, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(created(
            &caller,
            AuditAction::TeamCreate,
            format!("team:{id}"),
            after.division_code.clone(),
            after,
            json!({}),
        ))
    })
    .await
}

/// The available teams nearest the incident's first site, with the distance and an estimated
/// arrival.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/nearest-teams", tag = "dispatch",
    params(("id" = i64, Path), NearestQuery),
    responses((status = 200, body = Vec<Suggestion>), (status = 404, body = ErrorBody)))]
pub(super) async fn nearest(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
    Params(q): Params<NearestQuery>,
) -> Result<Json<Vec<Suggestion>>, ApiError> {
    caller.require(Permission::DispatchTask, MAY_NOT_DISPATCH)?;
    view::get(&state.pool, &caller.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let site = view::sites(&state.pool, id)
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound)?;
    let limit = q.limit.unwrap_or(5).clamp(1, 50);
    Ok(Json(
        dispatch::nearest(
            &state.pool,
            &caller.scope,
            [site.longitude, site.latitude],
            q.kind,
            limit,
        )
        .await?,
    ))
}

/// Gives an incident's task to a team or one of its members; an open incident starts
/// responding.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/tasks", tag = "dispatch",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = NewTask,
    responses((status = 201, body = TaskView), (status = 404, body = ErrorBody)))]
pub(super) async fn create_task(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::DispatchTask, MAY_NOT_DISPATCH)?;
    let path = format!("/api/v1/incidents/{id}/tasks");
    let (fingerprint, task): (_, NewTask) = idempotency::read("POST", &path, raw)?;
    text_field("title", &task.title, 200, true)?;
    let by = (OfficerId(caller.officer.id), person(&caller));
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let (task_id, told) = dispatch::create_task(tx, &caller.scope, id, &task, by).await?;
        // Its people hear of it through the notification queue, in this transaction.
        geohazard_incidents::assignment::tell(
            tx,
            task_id,
            &told,
            state.settings.task_sms,
            &geohazard_notify::WarningPolicy::default().sender_name,
        )
        .await?;
        let after = dispatch::task(&mut *tx, &caller.scope, Whose::All, task_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(created(
            &caller,
            AuditAction::TaskDispatch,
            format!("task:{task_id}"),
            after.division_code.clone(),
            after,
            json!({"incident": id}),
        ))
    })
    .await
}

/// Tasks in scope; field staff and village monitors get only their own.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "dispatch",
    responses((status = 200, body = Vec<TaskView>)))]
pub(super) async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    caller.require_on(Permission::ReadTask, Ownership::Own, MAY_NOT_READ_TASKS)?;
    Ok(Json(
        dispatch::tasks(&state.pool, &caller.scope, whose(&caller), None).await?,
    ))
}

/// One task with its changes (another's task answers 404 to field people, like one that does
/// not exist).
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "dispatch", params(("id" = i64, Path)),
    responses((status = 200, body = TaskDetail), (status = 404, body = ErrorBody)))]
pub(super) async fn task(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<Json<TaskDetail>, ApiError> {
    caller.require_on(Permission::ReadTask, Ownership::Own, MAY_NOT_READ_TASKS)?;
    let task = dispatch::task(&state.pool, &caller.scope, whose(&caller), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(TaskDetail {
        events: dispatch::task_events(&state.pool, id).await?,
        task,
    }))
}

/// Moves a task on: accepted (or declined with a reason), en route, on site, done.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/status", tag = "dispatch",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = TaskStatusRequest,
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(super) async fn task_status(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require_on(Permission::UpdateTask, Ownership::Own, MAY_NOT_UPDATE_TASKS)?;
    named::<TaskStatus>(
        &raw,
        "status",
        "accepted, declined, en_route, on_site, done",
    )?;
    let path = format!("/api/v1/tasks/{id}/status");
    let (fingerprint, req): (_, TaskStatusRequest) = idempotency::read("POST", &path, raw)?;
    let reason = req.reason.unwrap_or_default();
    let change = match req.status {
        TaskStatus::Accepted => TaskChange::Accept,
        TaskStatus::Declined => {
            text_field("reason", &reason, MAX_TEXT_CHARS, true)?;
            TaskChange::Decline(reason.trim().to_owned())
        }
        TaskStatus::EnRoute => TaskChange::EnRoute,
        TaskStatus::OnSite => TaskChange::OnSite,
        TaskStatus::Done => TaskChange::Done,
        TaskStatus::Assigned => {
            return Err(ApiError::bad_request(
                "status: a task is assigned only when it is dispatched",
            ));
        }
    };
    let by = (OfficerId(caller.officer.id), person(&caller));
    let whose = whose(&caller);
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let moved = dispatch::update_task(tx, &caller.scope, whose, id, change, by).await?;
        let after = dispatch::task(&mut *tx, &caller.scope, whose, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let audit = moved.map(|(from, to)| {
            entry(
                &caller,
                AuditAction::TaskStatus,
                format!("task:{id}"),
                &after.division_code,
                json!({"before": {"status": from}, "after": {"status": to},
                       "reason": after.decline_reason}),
            )
        });
        Ok((StatusCode::OK, after, audit))
    })
    .await
}

/// The answer to a position report.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct PositionStored {
    stored: bool,
}

/// The field app's position, on a task of the caller's when it names one.
#[utoipa::path(post, path = "/api/v1/positions", tag = "dispatch", request_body = NewPosition,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = PositionStored), (status = 404, body = ErrorBody)))]
pub(super) async fn position(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require_on(Permission::UpdateTask, Ownership::Own, MAY_NOT_UPDATE_TASKS)?;
    let (fingerprint, p): (_, NewPosition) = idempotency::read("POST", "/api/v1/positions", raw)?;
    if !(-180.0..=180.0).contains(&p.longitude) || !(-90.0..=90.0).contains(&p.latitude) {
        return Err(ApiError::bad_request(
            "longitude within -180..180 and latitude within -90..90",
        ));
    }
    if p.accuracy_m.is_some_and(|a| !(a.is_finite() && a >= 0.0)) {
        return Err(ApiError::bad_request("accuracy_m: zero or more metres"));
    }
    let officer = OfficerId(caller.officer.id);
    // Positions are their own record (who, where, when); they are not audit entries.
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        dispatch::report_position(tx, &caller.scope, officer, &p).await?;
        Ok((StatusCode::CREATED, PositionStored { stored: true }, None))
    })
    .await
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/incidents", get(list))
        .route("/api/v1/incidents/{id}", get(detail))
        .route("/api/v1/warnings/{id}/incident", post(open))
        .route(
            "/api/v1/field-reports/{id}/incident",
            post(open_from_report),
        )
        .route("/api/v1/incidents/{id}/status", post(status))
        .route("/api/v1/incidents/{id}/assessment", post(assess))
        .route("/api/v1/incidents/{id}/nearest-teams", get(nearest))
        .route("/api/v1/incidents/{id}/tasks", post(create_task))
        .route("/api/v1/teams", get(teams).post(create_team))
        .route("/api/v1/tasks", get(tasks))
        .route("/api/v1/tasks/{id}", get(task))
        .route("/api/v1/tasks/{id}/status", post(task_status))
        .route("/api/v1/positions", post(position))
}
