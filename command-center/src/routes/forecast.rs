//! `/api/v1/forecast`: the regional geohazard meteorological risk warning (区域地质灾害气象风险
//! 预警) for the officers, and `/public/forecast` for everyone (no sign-in). Officers import the
//! susceptibility zoning and rainfall (a malformed file is answered 400 naming its line), run
//! the model, review the draft (its level areas as GeoJSON, each division's level, the sites
//! inside), adjust a division's level with a reason, submit it; a second officer approves it,
//! which releases it (notified through `geohazard_notify`, published as CAP 1.2); a release may
//! be revised (a new draft whose release is a CAP `Update`) or withdrawn (a CAP `Cancel`).
//! `geohazard_forecast` decides and stores; this module checks the role, scopes by division,
//! audits and, with an `Idempotency-Key`, does a change once.
//!
//! Warnings are issued by a province or a city: a run is made for the caller's own division,
//! which must be one; an officer sees and acts on the warnings of the divisions in scope only.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{Days, NaiveDate, Utc};
use geohazard_api::{ApiError, ErrorBody};
use geohazard_domain::{AuditAction, Permission, WarningLevel};
use geohazard_forecast::decide::{Refusal, State as WarningState};
use geohazard_forecast::grid::{GridError, GridSpec};
use geohazard_forecast::issue::{
    self, CST, ForecastSettings, GridKind, IssueError, Released, Stored,
};
use geohazard_forecast::{micaps, public, site_release, stations, zoning};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::incidents::{created, entry, idempotent};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{Body, Id, Params};
use crate::idempotency::{self, IdempotencyKey};
use crate::state::AppState;

const MAY_NOT_PREPARE: &str = "your role may not prepare regional warnings";
const MAY_NOT_APPROVE: &str = "your role may not approve or withdraw regional warnings";
const NOT_AN_AGENCY: &str =
    "regional warnings are issued by a province or a city: your division is neither";
/// Largest file imported (a province's grid at 0.01° is a few MB of text).
const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

/// The settings the handlers share (publisher, model).
pub type Settings = Arc<ForecastSettings>;

fn answer(e: IssueError) -> ApiError {
    match e {
        IssueError::NotFound => ApiError::NotFound,
        IssueError::Invalid(m) => ApiError::bad_request(m),
        IssueError::Conflict(m) => ApiError::Conflict(m),
        IssueError::Refused(Refusal::OwnDraft) => ApiError::Forbidden(
            "you ran, adjusted or submitted this draft: a second officer approves it",
        ),
        IssueError::Refused(Refusal::NotDraft) => {
            ApiError::Conflict("only a draft can be changed, submitted or approved".into())
        }
        IssueError::Refused(Refusal::NotReleased) => {
            ApiError::Conflict("only a released warning can be revised or withdrawn".into())
        }
        IssueError::Db(e) => e.into(),
    }
}

fn bad_file(what: &str, e: GridError) -> ApiError {
    ApiError::bad_request(format!("{what}: line {}: {}", e.line, e.message))
}

/// The path of `what` done to regional warning `id`.
fn on_warning(id: i64, what: &str) -> String {
    format!("/api/v1/forecast/warnings/{id}/{what}")
}

/// The path of `what` done to the publication of site warning `id`.
fn on_site_warning(id: i64, what: &str) -> String {
    format!("/api/v1/forecast/site-warnings/{id}/{what}")
}

/// The grid of the newest zoning: rain is put on it.
async fn zoning_grid(pool: &PgPool) -> Result<GridSpec, ApiError> {
    issue::list_grid_spec(pool).await?.ok_or_else(|| {
        ApiError::Conflict("import a susceptibility zoning first: rain is put on its grid".into())
    })
}

/// A warning without its cells: what lists show.
fn summary(w: &Stored) -> Value {
    json!({
        "id": w.id,
        "division_code": w.division_code,
        "for_date": w.for_date,
        "valid_from": w.valid_from,
        "valid_to": w.valid_to,
        "state": w.state,
        "trigger": w.trigger,
        "highest": w.product.highest(),
        "text_zh": w.text_zh,
        "prepared_by": w.prepared_by,
        "approved_by": w.approved_by,
        "submitted_at": w.submitted_at,
        "submitted_by": w.submitted_by,
        "released_at": w.released_at,
        "cancelled_at": w.cancelled_at,
        "replaces": w.replaces,
        "created_at": w.created_at,
        "counts": {
            "divisions": w.product.divisions.len(),
            "sites": w.product.sites.len(),
        },
    })
}

/// The level areas as a GeoJSON FeatureCollection, red first.
fn areas(w: &Stored) -> Value {
    json!({
        "type": "FeatureCollection",
        "features": w.product.areas.iter().map(|a| json!({
            "type": "Feature",
            "properties": {"level": a.level, "cells": a.cells, "colour": public::colour(a.level)},
            "geometry": a.geometry,
        })).collect::<Vec<_>>(),
    })
}

/// Each division's level (as the product holds it), for the audit entries.
fn division_levels(w: &Stored) -> Value {
    w.product
        .divisions
        .iter()
        .map(|d| (d.code.clone(), json!(d.level)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn released(r: &Released) -> Value {
    json!({
        "warning": summary(&r.warning),
        "cap_identifier": r.cap_identifier,
        "superseded": r.superseded,
        "notifications": r.notifications,
    })
}

/// The regional warnings of the divisions in scope, newest first.
#[utoipa::path(get, path = "/api/v1/forecast/warnings", tag = "forecast",
    responses((status = 200, description = "Warnings without their cells"), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Value>>, ApiError> {
    caller.require(Permission::ReadWarnings, "your role may not read warnings")?;
    let list = issue::list(&state.pool, caller.scope.divisions(), 200).await?;
    Ok(Json(list.iter().map(summary).collect()))
}

/// One warning: its level areas (GeoJSON), each division's level, the sites in each level's
/// area, the adjustments with their reasons and the CAP alerts published.
#[utoipa::path(get, path = "/api/v1/forecast/warnings/{id}", tag = "forecast",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The warning"), (status = 404, body = ErrorBody)))]
pub(super) async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::ReadWarnings, "your role may not read warnings")?;
    let w = issue::get(&state.pool, id, Some(caller.scope.divisions()))
        .await?
        .ok_or(ApiError::NotFound)?;
    let adjustments = issue::adjustments(&state.pool, id).await?;
    let cap: Vec<Value> = issue::cap_feed(&state.pool, 36_500)
        .await?
        .into_iter()
        .filter(|e| e.warning_id == Some(id))
        .map(|e| json!({"identifier": e.identifier, "msg_type": e.msg_type, "sent": e.sent}))
        .collect();
    let mut out = summary(&w);
    out["grid"] = json!(w.spec);
    out["areas"] = areas(&w);
    out["divisions"] = json!(w.product.divisions);
    out["sites"] = json!(w.product.sites);
    out["adjustments"] = json!(adjustments);
    out["cap"] = json!(cap);
    out["may_approve"] = json!(
        w.state == WarningState::Draft
            && w.submitted_at.is_some()
            && !w.prepared_by.contains(&caller.officer.id)
            && caller.require(Permission::Approve, MAY_NOT_APPROVE).is_ok()
    );
    Ok(Json(out))
}

#[derive(Deserialize)]
pub(super) struct SeasonQuery {
    /// First and last day (agency's zone) of the season; by default the 122 days to today.
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

/// Longest season verified at once, in days.
const MAX_SEASON_DAYS: i64 = 400;

/// The verification of the released regional warnings of the divisions in scope whose period is
/// over, for the days `from` to `to`: hits, misses and false alarms per level (warned at or
/// above it) and per division, with POD, FAR, CSI and the Heidke skill score (the computation
/// of BENCHMARKS.md, `geohazard_forecast::verify`).
#[utoipa::path(get, path = "/api/v1/forecast/verification", tag = "forecast",
    params(("from" = Option<String>, Query), ("to" = Option<String>, Query)),
    responses((status = 200, description = "The season's figures"), (status = 400, body = ErrorBody)))]
pub(super) async fn verification(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<SeasonQuery>,
) -> Result<Json<geohazard_forecast::verified::Season>, ApiError> {
    caller.require(Permission::ReadWarnings, "your role may not read warnings")?;
    let today = Utc::now().with_timezone(&CST).date_naive();
    let to = q.to.unwrap_or(today);
    let from = q.from.unwrap_or(to - Days::new(121));
    if from > to || (to - from).num_days() >= MAX_SEASON_DAYS {
        return Err(ApiError::bad_request(format!(
            "from and to: a season of 1 to {MAX_SEASON_DAYS} days, from before to"
        )));
    }
    let season = geohazard_forecast::verified::season(
        &state.pool,
        caller.scope.divisions(),
        from,
        to,
        Utc::now(),
    )
    .await?;
    Ok(Json(season))
}

#[derive(Deserialize)]
struct ImportRequest {
    /// susceptibility, forecast or observed.
    kind: String,
    /// esri_ascii, geotiff (base64) or geojson (susceptibility), micaps4 or stations_csv (rain).
    format: String,
    content: String,
    /// The day the rain is forecast for or fell (agency's zone); a MICAPS file's own day by
    /// default.
    date: Option<NaiveDate>,
    period_h: Option<i32>,
    /// The file's name, kept as the grid's source.
    name: Option<String>,
    /// The grid GeoJSON zoning is rasterised on (default: the newest zoning's grid).
    spec: Option<GridSpec>,
}

/// Imports a susceptibility zoning (ESRI ASCII grid, GeoTIFF sent base64-encoded, or GeoJSON
/// polygons) or a rainfall
/// forecast or observation (MICAPS category-4 or station CSV) onto the zoning's grid. A
/// malformed file is answered 400 naming its line.
#[utoipa::path(post, path = "/api/v1/forecast/grids", tag = "forecast",
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "The grid stored"), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub(super) async fn import(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::RequestApproval, MAY_NOT_PREPARE)?;
    if !issue::may_issue(&state.pool, caller.scope.root()).await? {
        return Err(ApiError::Forbidden(NOT_AN_AGENCY));
    }
    let (fingerprint, req): (_, ImportRequest) =
        idempotency::read("POST", "/api/v1/forecast/grids", raw)?;
    let text = req.content.as_str();
    let source = req.name.clone().unwrap_or_else(|| req.format.clone());
    let (kind, date, period_h, spec, cells) = match (req.kind.as_str(), req.format.as_str()) {
        ("susceptibility", "esri_ascii") => {
            let g = zoning::from_esri_ascii(text).map_err(|e| bad_file("zoning", e))?;
            (
                GridKind::Susceptibility,
                None,
                None,
                g.spec,
                g.values.mapv(f64::from),
            )
        }
        ("susceptibility", "geotiff") => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| {
                    ApiError::bad_request(format!("zoning: a GeoTIFF is sent base64-encoded: {e}"))
                })?;
            let g = zoning::from_geotiff(&bytes)
                .map_err(|e| ApiError::bad_request(format!("zoning: {e}")))?;
            (
                GridKind::Susceptibility,
                None,
                None,
                g.spec,
                g.values.mapv(f64::from),
            )
        }
        ("susceptibility", "geojson") => {
            let spec = match req.spec {
                Some(s) => s,
                None => zoning_grid(&state.pool).await?,
            };
            if !(spec.cell > 0.0 && spec.ncols > 0 && spec.nrows > 0)
                || spec.ncols * spec.nrows > 4_000_000
            {
                return Err(ApiError::bad_request(
                    "spec: a cell size above 0 and 1 to 4,000,000 cells",
                ));
            }
            let g = zoning::from_geojson(text, spec)
                .map_err(|e| ApiError::bad_request(format!("zoning: {e}")))?;
            (
                GridKind::Susceptibility,
                None,
                None,
                g.spec,
                g.values.mapv(f64::from),
            )
        }
        (rain @ ("forecast" | "observed"), format @ ("micaps4" | "stations_csv")) => {
            let kind = if rain == "forecast" {
                GridKind::Forecast
            } else {
                GridKind::Observed
            };
            let spec = zoning_grid(&state.pool).await?;
            if format == "micaps4" {
                let m = micaps::read(text).map_err(|e| bad_file("MICAPS", e))?;
                let cells = m
                    .on_cells(&spec)
                    .map_err(|e| ApiError::bad_request(format!("MICAPS: {e}")))?;
                let date = req.date.unwrap_or(m.issued.date());
                let period = req.period_h.or(i32::try_from(m.period_h).ok());
                (kind, Some(date), period, spec, cells)
            } else {
                let rows = stations::read_csv(text).map_err(|e| bad_file("stations", e))?;
                let date = req.date.ok_or_else(|| {
                    ApiError::bad_request("date: the day a station table's rain is for")
                })?;
                (
                    kind,
                    Some(date),
                    req.period_h,
                    spec,
                    stations::on_cells(&spec, &rows),
                )
            }
        }
        (kind, format) => {
            return Err(ApiError::bad_request(format!(
                "kind and format: susceptibility as esri_ascii, geotiff or geojson, forecast or observed as micaps4 or stations_csv; not {} as {}",
                kind.chars().take(30).collect::<String>(),
                format.chars().take(30).collect::<String>()
            )));
        }
    };
    if period_h.is_some_and(|p| p <= 0) {
        return Err(ApiError::bad_request("period_h: more than 0 hours"));
    }
    let officer = caller.officer.id;
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let id = issue::store_grid(
            &mut *tx,
            kind,
            date,
            period_h,
            &spec,
            &cells,
            &source,
            Some(officer),
        )
        .await
        .map_err(answer)?;
        let after = json!({
            "id": id, "kind": req.kind, "format": req.format, "date": date,
            "period_h": period_h, "spec": spec, "cells": cells.len(), "source": source,
            "max": cells.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        });
        Ok(created(
            &caller,
            AuditAction::ForecastImport,
            format!("forecast_grid:{id}"),
            caller.scope.root().to_owned(),
            after,
            json!({}),
        ))
    })
    .await
}

#[derive(Deserialize, Default)]
struct RunRequest {
    /// The day the warning is for (agency's zone); today by default.
    date: Option<NaiveDate>,
}

/// Runs the model now for the caller's division (a province or city): a draft from the newest
/// zoning, the day's forecast and the observed rain of the days before.
#[utoipa::path(post, path = "/api/v1/forecast/runs", tag = "forecast",
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "The draft"), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub(super) async fn run(
    State(state): State<AppState>,
    Extension(settings): Extension<Settings>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::RequestApproval, MAY_NOT_PREPARE)?;
    if !issue::may_issue(&state.pool, caller.scope.root()).await? {
        return Err(ApiError::Forbidden(NOT_AN_AGENCY));
    }
    let (fingerprint, req): (_, RunRequest) =
        idempotency::read("POST", "/api/v1/forecast/runs", raw)?;
    let date = req
        .date
        .unwrap_or_else(|| Utc::now().with_timezone(&CST).date_naive());
    let division = caller.scope.root().to_owned();
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let id = issue::run_on(
            tx,
            &division,
            date,
            &settings.model,
            Some(caller.officer.id),
        )
        .await
        .map_err(answer)?;
        let w = issue::get(&mut *tx, id, None)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(created(
            &caller,
            AuditAction::ForecastRun,
            format!("forecast:{id}"),
            division.clone(),
            summary(&w),
            json!({"divisions": division_levels(&w)}),
        ))
    })
    .await
}

#[derive(Deserialize)]
struct AdjustRequest {
    division: String,
    /// blue, yellow, orange, red; null or "none": no level.
    level: Option<String>,
    reason: String,
}

/// Sets the level of every cell of a division (in scope, under the warning's agency) with a
/// reason; the submission, if any, is taken back.
#[utoipa::path(post, path = "/api/v1/forecast/warnings/{id}/adjust", tag = "forecast",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The warning after"), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(super) async fn adjust(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::RequestApproval, MAY_NOT_PREPARE)?;
    let (fingerprint, req): (_, AdjustRequest) =
        idempotency::read("POST", &on_warning(id, "adjust"), raw)?;
    let level: Option<WarningLevel> = match req.level.as_deref() {
        None | Some("none") => None,
        Some(l) => Some(l.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "level: `{}` is not one of blue, yellow, orange, red, none",
                l.chars().take(30).collect::<String>()
            ))
        })?),
    };
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let (before, after) = issue::adjust(
            tx,
            id,
            caller.scope.divisions(),
            caller.officer.id,
            &req.division,
            level,
            &req.reason,
        )
        .await
        .map_err(answer)?;
        let audit = entry(
            &caller,
            AuditAction::ForecastAdjust,
            format!("forecast:{id}"),
            &req.division,
            json!({
                "division": req.division, "level": level, "reason": req.reason.trim(),
                "before": division_levels(&before), "after": division_levels(&after),
            }),
        );
        Ok((StatusCode::OK, summary(&after), Some(audit)))
    })
    .await
}

/// Submits a draft for approval (the submitter joins its preparers).
#[utoipa::path(post, path = "/api/v1/forecast/warnings/{id}/submit", tag = "forecast",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The warning after"), (status = 409, body = ErrorBody)))]
pub(super) async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
) -> Result<Response, ApiError> {
    caller.require(Permission::RequestApproval, MAY_NOT_PREPARE)?;
    let fingerprint = idempotency::fingerprint("POST", &on_warning(id, "submit"), &Value::Null);
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let (before, after) = issue::submit(tx, id, caller.scope.divisions(), caller.officer.id)
            .await
            .map_err(answer)?;
        let audit = (before.submitted_at.is_none()).then(|| {
            entry(
                &caller,
                AuditAction::ForecastSubmit,
                format!("forecast:{id}"),
                &after.division_code,
                json!({"before": summary(&before), "after": summary(&after)}),
            )
        });
        Ok((StatusCode::OK, summary(&after), audit))
    })
    .await
}

#[derive(Deserialize, Default)]
struct ApproveRequest {
    /// The approver's words for the public (Chinese), may be empty.
    #[serde(default)]
    text_zh: String,
}

/// Approves a submitted draft, by an officer who neither ran, adjusted nor submitted it, which
/// releases it: the day's earlier release is superseded (a CAP `Update`), the alert is
/// published and the people of every affected division and site are notified.
#[utoipa::path(post, path = "/api/v1/forecast/warnings/{id}/approve", tag = "forecast",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Released: the CAP identifier and notifications"),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn approve(
    State(state): State<AppState>,
    Extension(settings): Extension<Settings>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::Approve, MAY_NOT_APPROVE)?;
    let (fingerprint, req): (_, ApproveRequest) =
        idempotency::read("POST", &on_warning(id, "approve"), raw)?;
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let before = issue::get(&mut *tx, id, Some(caller.scope.divisions()))
            .await?
            .ok_or(ApiError::NotFound)?;
        if before.state == WarningState::Draft && before.submitted_at.is_none() {
            return Err(ApiError::Conflict(
                "the draft has not been submitted for approval".into(),
            ));
        }
        let r = issue::approve(
            tx,
            id,
            caller.scope.divisions(),
            caller.officer.id,
            &req.text_zh,
            &settings.publisher,
        )
        .await
        .map_err(answer)?;
        let after = released(&r);
        let audit = entry(
            &caller,
            AuditAction::ForecastApprove,
            format!("forecast:{id}"),
            &r.warning.division_code,
            json!({"before": summary(&before), "after": &after, "divisions": division_levels(&r.warning)}),
        );
        Ok((StatusCode::OK, after, Some(audit)))
    })
    .await
}

/// Revises a released warning: a new draft for the same day with its levels; approved, it
/// supersedes this one with a CAP `Update`.
#[utoipa::path(post, path = "/api/v1/forecast/warnings/{id}/revise", tag = "forecast",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "The new draft"), (status = 409, body = ErrorBody)))]
pub(super) async fn revise(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
) -> Result<Response, ApiError> {
    caller.require(Permission::RequestApproval, MAY_NOT_PREPARE)?;
    let fingerprint = idempotency::fingerprint("POST", &on_warning(id, "revise"), &Value::Null);
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let new = issue::revise(tx, id, caller.scope.divisions(), caller.officer.id)
            .await
            .map_err(answer)?;
        let w = issue::get(&mut *tx, new, None)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(created(
            &caller,
            AuditAction::ForecastRun,
            format!("forecast:{new}"),
            w.division_code.clone(),
            summary(&w),
            json!({"revises": id}),
        ))
    })
    .await
}

#[derive(Deserialize)]
struct ReasonRequest {
    reason: String,
}

/// Withdraws a released warning: a CAP `Cancel` referencing its alerts back to the original.
#[utoipa::path(post, path = "/api/v1/forecast/warnings/{id}/withdraw", tag = "forecast",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Withdrawn: the CAP identifier"),
              (status = 409, body = ErrorBody)))]
pub(super) async fn withdraw(
    State(state): State<AppState>,
    Extension(settings): Extension<Settings>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::Approve, MAY_NOT_APPROVE)?;
    let (fingerprint, req): (_, ReasonRequest) =
        idempotency::read("POST", &on_warning(id, "withdraw"), raw)?;
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let r = issue::cancel(
            tx,
            id,
            caller.scope.divisions(),
            caller.officer.id,
            &req.reason,
            &settings.publisher,
        )
        .await
        .map_err(answer)?;
        let after = released(&r);
        let audit = entry(
            &caller,
            AuditAction::ForecastCancel,
            format!("forecast:{id}"),
            &r.warning.division_code,
            json!({"before": {"state": "released"}, "after": &after, "reason": req.reason.trim()}),
        );
        Ok((StatusCode::OK, after, Some(audit)))
    })
    .await
}

/// Drops a draft.
#[utoipa::path(post, path = "/api/v1/forecast/warnings/{id}/discard", tag = "forecast",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The warning after"), (status = 409, body = ErrorBody)))]
pub(super) async fn discard(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
) -> Result<Response, ApiError> {
    caller.require(Permission::RequestApproval, MAY_NOT_PREPARE)?;
    let fingerprint = idempotency::fingerprint("POST", &on_warning(id, "discard"), &Value::Null);
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let w = issue::discard(tx, id, caller.scope.divisions(), caller.officer.id)
            .await
            .map_err(answer)?;
        let after = summary(&w);
        let audit = entry(
            &caller,
            AuditAction::ForecastDiscard,
            format!("forecast:{id}"),
            &w.division_code,
            json!({"before": {"state": "draft"}, "after": &after}),
        );
        Ok((StatusCode::OK, after, Some(audit)))
    })
    .await
}

const MAY_NOT_PUBLISH: &str = "your role may not publish site warnings";

/// The publication of a site warning in scope: the latest (published, withdrawn or ended),
/// null if it was never published.
#[utoipa::path(get, path = "/api/v1/forecast/site-warnings/{id}", tag = "forecast",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The publication, or null"), (status = 401, body = ErrorBody)))]
pub(super) async fn site_publication(
    State(state): State<AppState>,
    Extension(settings): Extension<Settings>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<Json<Option<site_release::Publication>>, ApiError> {
    caller.require(Permission::ReadWarnings, "your role may not read warnings")?;
    site_release::reconcile(&state.pool, &settings.publisher).await?;
    let mut conn = state.pool.acquire().await?;
    let p = site_release::of_warning(&mut conn, id, caller.scope.divisions(), &settings.publisher)
        .await?;
    Ok(Json(p))
}

#[derive(Deserialize, Default)]
struct PublishRequest {
    /// The officer's words for the public (Chinese, no phone numbers), may be empty.
    #[serde(default)]
    text_zh: String,
}

/// Publishes an open site warning (its site in scope) to the public feed and page: a CAP
/// `Alert` at its level; later its level changes are `Update`s and its closing a `Cancel`.
#[utoipa::path(post, path = "/api/v1/forecast/site-warnings/{id}/publish", tag = "forecast",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "Published"), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn site_publish(
    State(state): State<AppState>,
    Extension(settings): Extension<Settings>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::AcknowledgeWarning, MAY_NOT_PUBLISH)?;
    let (fingerprint, req): (_, PublishRequest) =
        idempotency::read("POST", &on_site_warning(id, "publish"), raw)?;
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let p = site_release::publish(
            tx,
            id,
            caller.scope.divisions(),
            caller.officer.id,
            &req.text_zh,
            &settings.publisher,
        )
        .await
        .map_err(answer)?;
        Ok(created(
            &caller,
            AuditAction::ForecastSitePublish,
            format!("warning:{id}"),
            p.division_code.clone(),
            json!(p),
            json!({}),
        ))
    })
    .await
}

/// Withdraws a published site warning from the public, with a reason: a CAP `Cancel`.
#[utoipa::path(post, path = "/api/v1/forecast/site-warnings/{id}/withdraw", tag = "forecast",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Withdrawn"), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(super) async fn site_withdraw(
    State(state): State<AppState>,
    Extension(settings): Extension<Settings>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
    key: IdempotencyKey,
    Body(raw): Body<Value>,
) -> Result<Response, ApiError> {
    caller.require(Permission::AcknowledgeWarning, MAY_NOT_PUBLISH)?;
    let (fingerprint, req): (_, ReasonRequest) =
        idempotency::read("POST", &on_site_warning(id, "withdraw"), raw)?;
    idempotent(&state, &caller, &key, fingerprint, remote, async |tx| {
        let p = site_release::withdraw(
            tx,
            id,
            caller.scope.divisions(),
            caller.officer.id,
            &req.reason,
            &settings.publisher,
        )
        .await
        .map_err(answer)?;
        let after = json!(p);
        let audit = entry(
            &caller,
            AuditAction::ForecastSiteWithdraw,
            format!("warning:{id}"),
            &p.division_code,
            json!({"before": {"state": "published"}, "after": &after, "reason": req.reason.trim()}),
        );
        Ok((StatusCode::OK, after, Some(audit)))
    })
    .await
}

fn public_answer(content_type: &'static str, body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    response
}

/// The public page (no sign-in): the released warnings in force, their maps and text, and the
/// site warnings published (followed first: a closed one is cancelled, not shown).
async fn public_page(
    State(state): State<AppState>,
    Extension(settings): Extension<Settings>,
) -> Result<Response, ApiError> {
    site_release::reconcile(&state.pool, &settings.publisher).await?;
    let now = issue::released_now(&state.pool).await?;
    let sites = site_release::live(&state.pool, &settings.publisher).await?;
    Ok(public_answer(
        "text/html; charset=utf-8",
        public::page(&now, &sites, &settings.publisher),
    ))
}

/// The public CAP 1.2 feed (Atom, the alerts inline): released and published items only, a year
/// back (the published site warnings followed first).
async fn public_feed(
    State(state): State<AppState>,
    Extension(settings): Extension<Settings>,
) -> Result<Response, ApiError> {
    site_release::reconcile(&state.pool, &settings.publisher).await?;
    let entries = issue::cap_feed(&state.pool, 366).await?;
    Ok(public_answer(
        "application/atom+xml; charset=utf-8",
        public::atom_feed(&entries, &settings.publisher),
    ))
}

/// One published CAP alert.
async fn public_alert(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let identifier = file.strip_suffix(".xml").unwrap_or(&file);
    let xml = issue::cap_alert(&state.pool, identifier)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(public_answer("application/cap+xml; charset=utf-8", xml))
}

/// The scheduled run: looks every `check_every_s` whether the day's draft of the configured
/// division is due (once per cluster, however many replicas look), and follows the published
/// site warnings (a changed level is a CAP `Update`, a closed warning a `Cancel`).
pub async fn schedule(pool: PgPool, settings: Settings, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(settings.check_every_s.max(1)));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Err(e) = site_release::reconcile(&pool, &settings.publisher).await {
            tracing::warn!(error = %e, "following published site warnings");
        }
        let Some(division) = settings.division.clone() else {
            continue;
        };
        match issue::scheduled(&pool, &division, settings.hour, Utc::now(), &settings.model).await {
            Ok(Some(id)) => {
                tracing::info!(warning = id, division, "scheduled regional run drafted")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, division, "scheduled regional run"),
        }
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/forecast/grids",
            post(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/api/v1/forecast/runs", post(run))
        .route("/api/v1/forecast/warnings", get(list))
        .route("/api/v1/forecast/verification", get(verification))
        .route("/api/v1/forecast/warnings/{id}", get(detail))
        .route("/api/v1/forecast/warnings/{id}/adjust", post(adjust))
        .route("/api/v1/forecast/warnings/{id}/submit", post(submit))
        .route("/api/v1/forecast/warnings/{id}/approve", post(approve))
        .route("/api/v1/forecast/warnings/{id}/revise", post(revise))
        .route("/api/v1/forecast/warnings/{id}/withdraw", post(withdraw))
        .route("/api/v1/forecast/warnings/{id}/discard", post(discard))
        .route("/api/v1/forecast/site-warnings/{id}", get(site_publication))
        .route(
            "/api/v1/forecast/site-warnings/{id}/publish",
            post(site_publish),
        )
        .route(
            "/api/v1/forecast/site-warnings/{id}/withdraw",
            post(site_withdraw),
        )
        .route("/public/forecast", get(public_page))
        .route("/public/forecast/cap.xml", get(public_feed))
        .route("/public/forecast/cap/{file}", get(public_alert))
}
