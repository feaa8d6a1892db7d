//! `/api/v1/field-reports`, `/api/v1/field-photos/{id}`, `/api/v1/patrols`,
//! `/api/v1/patrol-schedules`, `/api/v1/sites/{id}/patrol-schedule`: what the field sends —
//! rapid hazard reports with photos and patrols of the mass-monitoring network — and what
//! officers read of it (the stream of reports, patrol coverage). Photos are checked before they
//! are stored (JPEG or PNG by their first bytes, at most 1 MiB each) and a refused one is
//! answered with the reason. Field people read only their own records and village monitors
//! reach only the sites they answer for. Changes are audited, and done once per
//! `Idempotency-Key` however often a phone retries.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use geohazard_api::{ApiError, ErrorBody};
use geohazard_domain::{AuditAction, OfficerId, Ownership, Permission, PersonId, Role, SiteId};
use geohazard_incidents::field::{self, NewReport, Reach, ReportView};
use geohazard_incidents::patrol::{
    self, Coverage, NewPatrol, PatrolView, ScheduleInput, ScheduleView,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::incidents::{created, entry, idempotent};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{Body, Id, Params};
use crate::idempotency::{self, IdempotencyKey};
use crate::state::AppState;

const MAY_NOT_REPORT: &str = "your role may not file field reports";
const MAY_NOT_READ: &str = "your role may not read field reports";
const MAY_NOT_SCHEDULE: &str = "your role may not write patrol schedules";
const MAY_NOT_READ_COVERAGE: &str = "your role may not read patrol coverage";
/// A report or a patrol with its photos (three of at most 1 MiB, base64), bytes.
const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

/// The sites a caller reaches: a village monitor only those they answer for.
fn reach(caller: &Caller) -> Reach {
    if caller.officer.role == Role::VillageMonitor {
        own(caller)
    } else {
        Reach::Scope
    }
}

fn own(caller: &Caller) -> Reach {
    Reach::Own {
        officer: OfficerId(caller.officer.id),
        person: PersonId(caller.officer.person_id),
    }
}

/// Whose reports and photos the caller reads: all in scope for those who read incidents, else
/// their own (403 for a role that may neither).
fn reader(caller: &Caller) -> Result<Option<OfficerId>, ApiError> {
    if geohazard_domain::permits(
        caller.officer.role,
        Permission::ReadIncidents,
        Ownership::Unowned,
    ) {
        return Ok(None);
    }
    caller.require_on(Permission::ReportHazard, Ownership::Own, MAY_NOT_READ)?;
    Ok(Some(OfficerId(caller.officer.id)))
}

/// Files a rapid hazard report (灾情速报) from the field: what, where, people at risk, photos.
#[utoipa::path(post, path = "/api/v1/field-reports", tag = "field", request_body = NewReport,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ReportView), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(super) async fn create_report(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require_on(Permission::ReportHazard, Ownership::Own, MAY_NOT_REPORT)?;
    let (fingerprint, report): (_, NewReport) =
        idempotency::read("POST", "/api/v1/field-reports", raw)?;
    let photos = field::photos(&report.photos)?;
    let by = OfficerId(caller.officer.id);
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let id = field::create(tx, &caller.scope, reach(&caller), by, &report, &photos).await?;
        let after = field::list(&mut *tx, &caller.scope, None, None, Some(id), 1)
            .await?
            .pop()
            .ok_or(ApiError::NotFound)?;
        Ok(created(
            &caller,
            AuditAction::FieldReport,
            format!("field_report:{id}"),
            after.division_code.clone(),
            after,
            json!({}),
        ))
    })
    .await
}

/// `GET /api/v1/field-reports` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ReportsQuery {
    /// Only reports after this id (the live stream's catch-up).
    after: Option<i64>,
    /// At most this many, newest first (1 to 500, default 100).
    limit: Option<i64>,
}

/// The stream of field reports in scope, newest first (field people: their own).
#[utoipa::path(get, path = "/api/v1/field-reports", tag = "field", params(ReportsQuery),
    responses((status = 200, body = Vec<ReportView>), (status = 403, body = ErrorBody)))]
pub(super) async fn reports(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ReportsQuery>,
) -> Result<Json<Vec<ReportView>>, ApiError> {
    let own = reader(&caller)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    Ok(Json(
        field::list(&state.pool, &caller.scope, own, q.after, None, limit).await?,
    ))
}

/// A photo of a report or a patrol (JPEG or PNG, as checked when it came).
#[utoipa::path(get, path = "/api/v1/field-photos/{id}", tag = "field", params(("id" = i64, Path)),
    responses((status = 200, description = "The photo", content_type = "image/jpeg"),
              (status = 404, body = ErrorBody)))]
pub(super) async fn photo(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<Response, ApiError> {
    let own = reader(&caller)?;
    let (content_type, bytes) = field::photo(&state.pool, &caller.scope, own, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(super::files::stored(&content_type, bytes, None))
}

/// `GET /api/v1/patrol-schedules` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SchedulesQuery {
    /// Only the sites the caller patrols (the field app); village monitors get only theirs.
    mine: Option<bool>,
}

/// Patrol schedules of the sites in scope, with where each stands (due, done, overdue).
#[utoipa::path(get, path = "/api/v1/patrol-schedules", tag = "field", params(SchedulesQuery),
    responses((status = 200, body = Vec<ScheduleView>)))]
pub(super) async fn schedules(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<SchedulesQuery>,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    caller.require(Permission::ReadSites, "your role may not read the registry")?;
    let sites = if q.mine.unwrap_or(false) {
        own(&caller)
    } else {
        reach(&caller)
    };
    Ok(Json(
        patrol::schedules(&state.pool, &caller.scope, sites, None).await?,
    ))
}

/// Writes a site's patrol schedule: the hours between patrols in and out of the season, the
/// checklist, the monitor.
#[utoipa::path(put, path = "/api/v1/sites/{id}/patrol-schedule", tag = "field",
    params(("id" = i64, Path)), request_body = ScheduleInput,
    responses((status = 200, body = ScheduleView), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(super) async fn put_schedule(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<SiteId>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageIncidents, MAY_NOT_SCHEDULE)?;
    let path = format!("/api/v1/sites/{id}/patrol-schedule");
    let (fingerprint, input): (_, ScheduleInput) = idempotency::read("PUT", &path, raw)?;
    if let Some(problem) = input.problem() {
        return Err(ApiError::coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            geohazard_api::code::INVALID_BODY,
            problem,
        ));
    }
    let by = OfficerId(caller.officer.id);
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let before = patrol::schedules(&mut *tx, &caller.scope, Reach::Scope, Some(id))
            .await?
            .pop();
        patrol::put_schedule(tx, &caller.scope, id, &input, by).await?;
        let after = patrol::schedules(&mut *tx, &caller.scope, Reach::Scope, Some(id))
            .await?
            .pop()
            .ok_or(ApiError::NotFound)?;
        let audit = entry(
            &caller,
            AuditAction::PatrolSchedule,
            format!("site:{id}"),
            &after.division_code,
            json!({"before": before, "after": &after}),
        );
        Ok((StatusCode::OK, after, Some(audit)))
    })
    .await
}

/// A patrol done: each checklist item's answer, the phone's position, photos.
#[utoipa::path(post, path = "/api/v1/patrols", tag = "field", request_body = NewPatrol,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = PatrolView), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(super) async fn create_patrol(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require_on(Permission::ReportHazard, Ownership::Own, MAY_NOT_REPORT)?;
    let (fingerprint, p): (_, NewPatrol) = idempotency::read("POST", "/api/v1/patrols", raw)?;
    let photos = field::photos(&p.photos)?;
    let by = OfficerId(caller.officer.id);
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let (id, division) =
            patrol::complete(tx, &caller.scope, reach(&caller), by, &p, &photos).await?;
        let after = patrol::patrols(&mut *tx, &caller.scope, None, Some(id), 1)
            .await?
            .pop()
            .ok_or(ApiError::NotFound)?;
        Ok(created(
            &caller,
            AuditAction::PatrolReport,
            format!("patrol:{id}"),
            division,
            after,
            json!({}),
        ))
    })
    .await
}

/// Patrol coverage: per division the sites due, done within their hours and overdue; per site
/// its schedule, last patrol and next due time.
#[utoipa::path(get, path = "/api/v1/patrols/coverage", tag = "field",
    responses((status = 200, body = Coverage), (status = 403, body = ErrorBody)))]
pub(super) async fn coverage(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Coverage>, ApiError> {
    caller.require(Permission::ReadIncidents, MAY_NOT_READ_COVERAGE)?;
    Ok(Json(patrol::coverage(&state.pool, &caller.scope).await?))
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/field-reports",
            post(create_report)
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                .get(reports),
        )
        .route("/api/v1/field-photos/{id}", get(photo))
        .route("/api/v1/patrol-schedules", get(schedules))
        .route("/api/v1/sites/{id}/patrol-schedule", put(put_schedule))
        .route(
            "/api/v1/patrols",
            post(create_patrol).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/api/v1/patrols/coverage", get(coverage))
}
