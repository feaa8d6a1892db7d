//! `/api/v1/supervision`: integrated supervision (综合监管). The figures of a division in the
//! caller's scope over a day or a month (`geohazard_reports::figures`, with the exceptions by
//! name), the stored daily and monthly reports, and each report as a workbook (XLSX), a
//! printable zh-CN page and a PDF (headless Chromium's print). A division or report outside the
//! caller's scope is answered like one that does not exist; every download is in the audit log.

use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{NaiveDate, Utc};
use geohazard_api::ErrorBody;
use geohazard_api::supervision::{Figures, FiguresQuery, ReportDetail, ReportRow, ReportsQuery};
use geohazard_domain::{AuditAction, OfficerId, Permission};
use geohazard_reports::{Period, PeriodKind, stored};
use serde_json::json;

use crate::audit::{self, Entry};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::error::{ApiError, Id, Params};
use crate::state::AppState;

const MAY_NOT_READ: &str = "your role may not read supervision figures";

/// The Chromium binary that prints reports to PDF (`[command_center.reports] chromium`), as the
/// service gives it to the routes.
#[derive(Debug, Clone)]
pub struct Printer {
    pub chromium: String,
}

/// Reports printed to PDF at once, at most: each is a headless Chromium.
static PRINTING: LazyLock<tokio::sync::Semaphore> =
    LazyLock::new(|| tokio::sync::Semaphore::new(2));

/// The division asked for, if it is in the caller's scope (else 404); the caller's own when
/// none is named.
fn division_of(caller: &Caller, asked: Option<&str>) -> Result<String, ApiError> {
    match asked {
        None => Ok(caller.scope.root().to_owned()),
        Some(d) if caller.scope.contains(d) => Ok(d.to_owned()),
        Some(_) => Err(ApiError::NotFound),
    }
}

fn period_of(q: &FiguresQuery) -> Result<Period, ApiError> {
    let kind = match q.period.as_deref().unwrap_or("day") {
        "day" => PeriodKind::Day,
        "month" => PeriodKind::Month,
        other => {
            return Err(ApiError::bad_request(format!(
                "period: {:?} is not one of day, month",
                other.chars().take(20).collect::<String>()
            )));
        }
    };
    let date = match q.date.as_deref() {
        None => Period::date_of(Utc::now()),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
            ApiError::bad_request("date: a day as YYYY-MM-DD (China Standard Time)")
        })?,
    };
    Ok(Period::of(kind, date))
}

/// The figures of a division (and every division below it) over a day or a month, with the
/// exceptions by name: which gateway, which sensor, which site, which request and step.
#[utoipa::path(get, path = "/api/v1/supervision/figures", tag = "supervision", params(FiguresQuery),
    responses((status = 200, description = "The figures (online rate, completeness, warnings and response times, notifications, approvals, sites without monitoring, exceptions)", content_type = "application/json"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn figures(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<FiguresQuery>,
) -> Result<Json<Figures>, ApiError> {
    caller.require(Permission::ReadSupervision, MAY_NOT_READ)?;
    let division = division_of(&caller, q.division.as_deref())?;
    let period = period_of(&q)?;
    let figures = geohazard_reports::figures(&state.pool, &division, &period)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(figures))
}

/// The stored daily and monthly reports of the divisions in scope, newest period first.
#[utoipa::path(get, path = "/api/v1/supervision/reports", tag = "supervision", params(ReportsQuery),
    responses((status = 200, description = "The stored reports", content_type = "application/json"),
              (status = 404, body = ErrorBody)))]
pub(super) async fn reports(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ReportsQuery>,
) -> Result<Json<Vec<ReportRow>>, ApiError> {
    caller.require(Permission::ReadSupervision, MAY_NOT_READ)?;
    let division = match q.division.as_deref() {
        None => None,
        Some(d) => Some(division_of(&caller, Some(d))?),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    Ok(Json(
        stored::list(
            &state.pool,
            caller.scope.divisions(),
            division.as_deref(),
            limit,
        )
        .await?,
    ))
}

async fn read(state: &AppState, caller: &Caller, id: i64) -> Result<ReportDetail, ApiError> {
    caller.require(Permission::ReadSupervision, MAY_NOT_READ)?;
    let (report, figures, raised) = stored::get(&state.pool, caller.scope.divisions(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ReportDetail {
        report,
        figures,
        raised,
    })
}

/// A stored report: its figures as computed when its period ended and the exception reports
/// it raised.
#[utoipa::path(get, path = "/api/v1/supervision/reports/{id}", tag = "supervision", params(("id" = i64, Path)),
    responses((status = 200, description = "The report", content_type = "application/json"),
              (status = 404, body = ErrorBody)))]
pub(super) async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<Json<ReportDetail>, ApiError> {
    Ok(Json(read(&state, &caller, id).await?))
}

/// Records the download of report `r` as `format` in the audit log.
async fn audited(
    state: &AppState,
    caller: &Caller,
    remote: Option<String>,
    r: &ReportRow,
    format: &str,
) -> Result<(), ApiError> {
    audit::record(
        &state.pool,
        &Entry {
            officer_id: Some(OfficerId(caller.officer.id)),
            action: AuditAction::ReportDownload,
            target: Some(format!("report:{}", r.id)),
            division_code: Some(r.division_code.clone()),
            detail: json!({"format": format, "kind": r.kind, "label": r.label}),
            remote_addr: remote,
        },
    )
    .await?;
    Ok(())
}

/// `attachment` (or `inline`) with a file name made of the report's division, kind and label.
fn file(
    content_type: &'static str,
    disposition: &str,
    r: &ReportRow,
    ext: &str,
    bytes: Vec<u8>,
) -> Result<Response, ApiError> {
    let name = format!(
        "{disposition}; filename=\"supervision-{}-{}-{}.{ext}\"",
        r.division_code, r.kind, r.label
    );
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&name).map_err(anyhow::Error::from)?,
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response())
}

/// A stored report as an XLSX workbook: summary, gateways, sensors, exceptions.
#[utoipa::path(get, path = "/api/v1/supervision/reports/{id}/xlsx", tag = "supervision", params(("id" = i64, Path)),
    responses((status = 200, description = "The report as a workbook", body = Vec<u8>,
               content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              (status = 404, body = ErrorBody)))]
pub(super) async fn xlsx(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
) -> Result<Response, ApiError> {
    let d = read(&state, &caller, id).await?;
    let bytes = geohazard_reports::xlsx::workbook(&d.figures).map_err(anyhow::Error::from)?;
    audited(&state, &caller, remote, &d.report, "xlsx").await?;
    file(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "attachment",
        &d.report,
        "xlsx",
        bytes,
    )
}

/// A stored report as a printable zh-CN page (English beside).
#[utoipa::path(get, path = "/api/v1/supervision/reports/{id}/html", tag = "supervision", params(("id" = i64, Path)),
    responses((status = 200, description = "The report, HTML for printing", content_type = "text/html"),
              (status = 404, body = ErrorBody)))]
pub(super) async fn page(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
) -> Result<Response, ApiError> {
    let d = read(&state, &caller, id).await?;
    audited(&state, &caller, remote, &d.report, "html").await?;
    let mut response = file(
        "text/html; charset=utf-8",
        "inline",
        &d.report,
        "html",
        geohazard_reports::html::page(&d.figures).into_bytes(),
    )?;
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    Ok(response)
}

/// A stored report as a PDF, the printable page printed by headless Chromium.
#[utoipa::path(get, path = "/api/v1/supervision/reports/{id}/pdf", tag = "supervision", params(("id" = i64, Path)),
    responses((status = 200, description = "The report as a PDF", body = Vec<u8>, content_type = "application/pdf"),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn pdf(
    State(state): State<AppState>,
    Extension(printer): Extension<Arc<Printer>>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
) -> Result<Response, ApiError> {
    let d = read(&state, &caller, id).await?;
    let html = geohazard_reports::html::page(&d.figures);
    let bytes = {
        let _turn = PRINTING.acquire().await.map_err(anyhow::Error::from)?;
        geohazard_reports::pdf::print(&printer.chromium, &html)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, report = id, "printing a report");
                ApiError::Status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the report could not be printed to PDF now".into(),
                )
            })?
    };
    audited(&state, &caller, remote, &d.report, "pdf").await?;
    file("application/pdf", "attachment", &d.report, "pdf", bytes)
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/supervision/figures", get(figures))
        .route("/api/v1/supervision/reports", get(reports))
        .route("/api/v1/supervision/reports/{id}", get(report))
        .route("/api/v1/supervision/reports/{id}/xlsx", get(xlsx))
        .route("/api/v1/supervision/reports/{id}/html", get(page))
        .route("/api/v1/supervision/reports/{id}/pdf", get(pdf))
}
