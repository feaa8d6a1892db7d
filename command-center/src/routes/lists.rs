//! `GET /api/v1/warnings/export` and `GET /api/v1/sites/export`: the console's list view as a
//! file (XLSX or CSV), scoped by the caller's divisions like the lists it shows: the warnings
//! raised in a period, and the sites with the warnings raised at each in that period. Headings
//! in Chinese with the English beside, levels, states and kinds in Chinese, times in the
//! agency's zone (`[command_center.console] time_zone`), labelled.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, FixedOffset, Utc};
use geohazard_api::ErrorBody;
use geohazard_api::types::{ListExportQuery, StateFilter};
use geohazard_domain::{Ownership, Permission, message, permits};
use geohazard_register::sites;
use geohazard_reports::table;
use geohazard_warnings::view;

use crate::authz::Caller;
use crate::console::ConsoleSettings;
use crate::error::{ApiError, Params};
use crate::state::AppState;

/// The four levels, lowest first.
const LEVELS: [&str; 4] = ["blue", "yellow", "orange", "red"];

/// Most warnings in one file.
const MAX_ROWS: i64 = 100_000;

/// A catalogue text in Chinese, or the key when the catalogue has none.
fn zh(key: &str) -> String {
    message(key, "zh-CN").unwrap_or(key).to_owned()
}

/// The zone's name in headings: 北京时间 for China's.
fn zone_label(zone: &str) -> String {
    if zone == "Asia/Shanghai" {
        "北京时间".into()
    } else {
        zone.to_owned()
    }
}

fn at(t: Option<DateTime<Utc>>, offset: &FixedOffset) -> String {
    t.map(|t| {
        t.with_timezone(offset)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    })
    .unwrap_or_default()
}

/// What a warning's source names, in words (as the console says it).
fn source_zh(source: &str) -> String {
    let parts: Vec<&str> = source.split(':').collect();
    match parts[..] {
        ["site", ..] => zh("source.combined"),
        ["device", what, "gateway", g, ..] => {
            format!("{} · 网关 {g}", zh(&format!("source.device.{what}")))
        }
        ["device", what, ref rest @ ..] => {
            format!(
                "{} · {}",
                zh(&format!("source.device.{what}")),
                rest.join(":")
            )
        }
        [kind, ref rest @ ..] => format!("{} · {}", zh(&format!("source.{kind}")), rest.join(":")),
        [] => String::new(),
    }
}

/// The file, named `{what}-{division}.{ext}`.
fn file(
    caller: &Caller,
    what: &str,
    sheet: &str,
    format: Option<&str>,
    headings: &[&str],
    rows: &[Vec<String>],
) -> Result<Response, ApiError> {
    let (bytes, content_type, ext) = match format.unwrap_or("xlsx") {
        "xlsx" => (
            table::xlsx(sheet, headings, rows).map_err(anyhow::Error::from)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        "csv" => (table::csv(headings, rows), "text/csv; charset=utf-8", "csv"),
        _ => return Err(ApiError::bad_request("format: xlsx or csv")),
    };
    attachment(
        content_type,
        &format!("{what}-{}.{ext}", caller.scope.root()),
        bytes,
    )
}

/// A file to download, named `filename`.
pub(super) fn attachment(
    content_type: &'static str,
    filename: &str,
    bytes: Vec<u8>,
) -> Result<Response, ApiError> {
    let disposition = format!("attachment; filename=\"{filename}\"");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).map_err(anyhow::Error::from)?,
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The warnings raised in the period in the caller's divisions, newest change first.
#[utoipa::path(get, path = "/api/v1/warnings/export", tag = "warnings", params(ListExportQuery),
    responses((status = 200, description = "the warnings as a file (XLSX or CSV)", body = Vec<u8>,
               content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
               (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn warnings(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleSettings>>,
    caller: Caller,
    Params(q): Params<ListExportQuery>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadWarnings, "your role may not read warnings")?;
    let states = q.state.unwrap_or(StateFilter::All).states();
    let list = view::list(&state.pool, &caller.scope, states, (q.from, q.to), MAX_ROWS).await?;
    let offset = view::zone_offset(&state.pool, &console.time_zone).await?;
    let zone = zone_label(&console.time_zone);
    let raised = format!("发布时间（{zone}）Raised");
    let updated = format!("更新时间（{zone}）Updated");
    let acked = format!("确认时间（{zone}）Acknowledged");
    let closed = format!("解除时间（{zone}）Closed");
    let headings = [
        "编号 ID",
        "隐患点编号 Site code",
        "隐患点 Site",
        "行政区划 Division",
        "等级 Level",
        "最高等级 Peak level",
        "状态 State",
        "来源 Source",
        "摘要 Summary",
        &raised,
        &updated,
        "确认人 Acknowledged by",
        &acked,
        &closed,
    ];
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|w| {
            vec![
                w.id.0.to_string(),
                w.site.site_code.clone(),
                w.site.site_name.clone(),
                w.division_code.clone(),
                zh(&format!("levelname.{}", w.level.0.as_str())),
                zh(&format!("levelname.{}", w.peak_level.0.as_str())),
                zh(&format!("state.{}", w.state.0.as_str())),
                source_zh(&w.source),
                if w.summary_zh.is_empty() {
                    w.summary.clone()
                } else {
                    w.summary_zh.clone()
                },
                at(Some(w.raised_at), &offset),
                at(Some(w.updated_at), &offset),
                w.acknowledged_by.clone().unwrap_or_default(),
                at(w.acknowledged_at, &offset),
                at(w.closed_at, &offset),
            ]
        })
        .collect();
    file(
        &caller,
        "warnings",
        "预警 Warnings",
        q.format.as_deref(),
        &headings,
        &rows,
    )
}

/// The sites in the caller's divisions with their current level and the warnings raised at
/// each in the period.
#[utoipa::path(get, path = "/api/v1/sites/export", tag = "sites", params(ListExportQuery),
    responses((status = 200, description = "the sites as a file (XLSX or CSV)", body = Vec<u8>,
               content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
               (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn sites(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListExportQuery>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadSites, "your role may not read sites")?;
    let list = sites::list(&state.pool, &caller.scope, None, None).await?;
    // Warnings in the period, per site (the officer reading sites may read their warnings).
    let mut counts: HashMap<i64, (usize, &'static str, usize)> = HashMap::new();
    if permits(
        caller.officer.role,
        Permission::ReadWarnings,
        Ownership::Unowned,
    ) {
        let warnings = view::list(
            &state.pool,
            &caller.scope,
            StateFilter::All.states(),
            (q.from, q.to),
            MAX_ROWS,
        )
        .await?;
        for w in &warnings {
            let e = counts.entry(w.site.site_id.0).or_insert((0, "", 0));
            e.0 += 1;
            let peak = w.peak_level.0.as_str();
            let rank = LEVELS.iter().position(|l| *l == peak).unwrap_or(0) + 1;
            if rank > e.2 {
                e.1 = peak;
                e.2 = rank;
            }
        }
    }
    let headings = [
        "隐患点编号 Site code",
        "隐患点 Site",
        "类型 Kind",
        "行政区划 Division",
        "当前预警 Current level",
        "期间预警数 Warnings in period",
        "期间最高等级 Highest in period",
        "威胁人数 People threatened",
        "经度 Longitude",
        "纬度 Latitude",
    ];
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            let (n, peak, _) = counts.get(&s.id.0).copied().unwrap_or((0, "", 0));
            vec![
                s.code.clone(),
                s.name.clone(),
                zh(&format!("kind.{}", s.kind.as_str())),
                s.division.division_name.clone(),
                s.warning_level
                    .as_ref()
                    .map(|l| zh(&format!("levelname.{}", l.0.as_str())))
                    .unwrap_or_else(|| zh("level.none")),
                n.to_string(),
                if peak.is_empty() {
                    zh("level.none")
                } else {
                    zh(&format!("levelname.{peak}"))
                },
                s.threatened_people.to_string(),
                format!("{:.6}", s.location.longitude),
                format!("{:.6}", s.location.latitude),
            ]
        })
        .collect();
    file(
        &caller,
        "sites",
        "隐患点 Sites",
        q.format.as_deref(),
        &headings,
        &rows,
    )
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/warnings/export", get(warnings))
        .route("/api/v1/sites/export", get(sites))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_in_chinese() {
        assert!(!source_zh("threshold:gw-1/crack-1").contains("source."));
        assert!(source_zh("device:silent:gateway:gw-1").contains("网关 gw-1"));
        assert_eq!(source_zh("site:combined"), zh("source.combined"));
    }
}
