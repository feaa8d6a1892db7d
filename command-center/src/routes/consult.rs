//! `/api/v1/consult/rooms`: remote consultation rooms — opening one (for an incident or on its
//! own, with divisions and people invited), the rooms the caller may enter, one room with its
//! whole log, closing it, and its minutes as a printable page. What happens inside a room goes
//! over its socket (`consult_room`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use geohazard_api::types::{OpenRoomRequest, RoomDetail};
use geohazard_consult::rooms::{self, NewRoom, Refused, Viewer};
use geohazard_consult::{EventKind, Room, RoomEvent};
use geohazard_domain::{AuditAction, OfficerId, Permission};
use serde_json::json;

use crate::audit::{self, Entry};
use crate::auth::RemoteAddr;
use crate::authz::Caller;
use crate::consult_hub::Consult;
use crate::error::{ApiError, Body, Id};
use crate::state::AppState;

const MAY_NOT_TAKE_PART: &str = "your role may not take part in consultations";
const MAY_NOT_RUN: &str = "your role may not open or close consultations";

fn viewer(caller: &Caller) -> Viewer<'_> {
    Viewer {
        officer_id: caller.officer.id,
        division_code: &caller.officer.division_code,
        scope: caller.scope.divisions(),
    }
}

fn refused(e: Refused) -> ApiError {
    match e {
        Refused::Closed => crate::consult_room::room_closed(),
        Refused::NoRoom => ApiError::NotFound,
        Refused::Invalid(m) => ApiError::Status(StatusCode::UNPROCESSABLE_ENTITY, m),
        Refused::Store(e) => e.into(),
    }
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Room>>, ApiError> {
    caller.require(Permission::ReadIncidents, MAY_NOT_TAKE_PART)?;
    Ok(Json(rooms::list(&state.pool, viewer(&caller), 500).await?))
}

async fn open(
    State(state): State<AppState>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Body(req): Body<OpenRoomRequest>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageIncidents, MAY_NOT_RUN)?;
    let title = req.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ApiError::Status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "title: 1 to 200 characters".into(),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(ApiError::Status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "title: holds control characters".into(),
        ));
    }
    if req.invited_divisions.len() > 100 || req.invited_officers.len() > 200 {
        return Err(ApiError::Status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invited_divisions: at most 100; invited_officers: at most 200".into(),
        ));
    }
    // A room for an incident writes its decisions into that incident's timeline: only an
    // incident the officer can see.
    if let Some(incident) = req.incident_id
        && geohazard_incidents::view::get(&state.pool, &caller.scope, incident)
            .await?
            .is_none()
    {
        return Err(ApiError::Status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "incident_id: no such incident in your divisions".into(),
        ));
    }
    let room = rooms::open(
        &state.pool,
        viewer(&caller),
        &NewRoom {
            title,
            incident_id: req.incident_id,
            invited_divisions: &req.invited_divisions,
            invited_officers: &req.invited_officers,
        },
    )
    .await
    .map_err(refused)?;
    audit::record(
        &state.pool,
        &Entry {
            officer_id: Some(OfficerId(caller.officer.id)),
            action: AuditAction::ConsultOpen,
            target: Some(format!("consult_room:{}", room.id)),
            division_code: Some(room.division_code.clone()),
            detail: json!({"before": null, "after": room}),
            remote_addr: remote,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(room)).into_response())
}

async fn visible_room(state: &AppState, caller: &Caller, id: i64) -> Result<Room, ApiError> {
    caller.require(Permission::ReadIncidents, MAY_NOT_TAKE_PART)?;
    rooms::visible(&state.pool, viewer(caller), id)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<Json<RoomDetail>, ApiError> {
    let room = visible_room(&state, &caller, id).await?;
    let events = rooms::events(&state.pool, id).await?;
    let present = rooms::present(&state.pool, id).await?;
    Ok(Json(RoomDetail {
        room,
        events,
        present,
    }))
}

async fn close(
    State(state): State<AppState>,
    Extension(consult): Extension<Arc<Consult>>,
    caller: Caller,
    RemoteAddr(remote): RemoteAddr,
    Id(id): Id<i64>,
) -> Result<Json<Room>, ApiError> {
    let before = visible_room(&state, &caller, id).await?;
    caller.require(Permission::ManageIncidents, MAY_NOT_RUN)?;
    if !caller.scope.contains(&before.division_code) {
        return Err(ApiError::Forbidden(
            "only the division that opened the room, or one above it, closes it",
        ));
    }
    let (event, media) = rooms::close(&state.pool, id, caller.officer.id)
        .await
        .map_err(refused)?;
    consult.publish(event);
    if let Some(media) = media {
        let janus = consult.janus.clone();
        tokio::spawn(async move {
            if let Err(e) = janus.destroy_room(media).await {
                tracing::warn!(error = %e, room = media, "destroying a media room");
            }
        });
    }
    let after = visible_room(&state, &caller, id).await?;
    audit::record(
        &state.pool,
        &Entry {
            officer_id: Some(OfficerId(caller.officer.id)),
            action: AuditAction::ConsultClose,
            target: Some(format!("consult_room:{id}")),
            division_code: Some(after.division_code.clone()),
            detail: json!({"before": {"state": before.state}, "after": {"state": after.state}}),
            remote_addr: remote,
        },
    )
    .await?;
    Ok(Json(after))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Times in the agency's zone (China Standard Time), labelled.
fn local(at: chrono::DateTime<chrono::Utc>) -> String {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    at.with_timezone(&cst)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn what(e: &RoomEvent) -> (&'static str, String) {
    let text = |k: &str| e.body[k].as_str().unwrap_or("").to_owned();
    match e.kind {
        EventKind::Opened => ("开启 Opened", text("title")),
        EventKind::Joined => ("进入 Joined", String::new()),
        EventKind::Left => ("离开 Left", String::new()),
        EventKind::Chat => ("发言 Chat", text("text")),
        EventKind::Annotation => (
            "标注 Annotation",
            format!(
                "{} {}",
                e.body["geometry"]["type"].as_str().unwrap_or(""),
                text("label")
            ),
        ),
        EventKind::Posting => (
            "资料 Posting",
            format!(
                "{} #{} {}",
                e.body["kind"].as_str().unwrap_or(""),
                text("ref"),
                text("caption")
            ),
        ),
        EventKind::Decision => ("决策 Decision", text("text")),
        EventKind::Closed => ("结束 Closed", String::new()),
        EventKind::Camera => (
            "现场视频 Camera",
            format!("{}/{}", text("gateway"), text("camera")),
        ),
        EventKind::ScreenShared => ("共享屏幕 Screen shared", String::new()),
        EventKind::ScreenStopped => ("停止共享屏幕 Screen sharing ended", String::new()),
    }
}

/// `GET /api/v1/consult/rooms/{id}/minutes`: the minutes (会商纪要) as a printable page:
/// the room, its decisions with their evidence, then everything said, in order.
async fn minutes(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<Response, ApiError> {
    let room = visible_room(&state, &caller, id).await?;
    let events = rooms::events(&state.pool, id).await?;
    let who = |e: &RoomEvent| {
        escape(&format!(
            "{} ({})",
            e.officer_name.as_deref().unwrap_or("—"),
            e.division_name.as_deref().unwrap_or("—")
        ))
    };
    let mut decisions = String::new();
    for e in events.iter().filter(|e| e.kind == EventKind::Decision) {
        let evidence: Vec<String> = e.body["evidence"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|id| id.as_i64())
            .filter_map(|id| events.iter().find(|x| x.id == id))
            .map(|x| escape(&format!("#{} {}", x.id, what(x).1)))
            .collect();
        decisions.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            local(e.at),
            who(e),
            escape(e.body["text"].as_str().unwrap_or("")),
            evidence.join("<br>")
        ));
    }
    let mut log = String::new();
    for e in &events {
        let (kind, text) = what(e);
        log.push_str(&format!(
            "<tr><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.id,
            local(e.at),
            who(e),
            kind,
            escape(&text)
        ));
    }
    let page = format!(
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>会商纪要 Minutes — {title}</title>
<style>body{{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:2em;color:#111}}
table{{border-collapse:collapse;width:100%;margin-bottom:2em}}td,th{{border:1px solid #999;padding:4px 6px;text-align:left;vertical-align:top}}
th{{background:#eee}}@media print{{body{{margin:0}}}}</style></head><body>
<h1>会商纪要 <small>Consultation minutes</small></h1>
<p><b>{title}</b></p>
<p>会商室 Room #{id} · 发起单位 Opened by: {division} · {opener} · 事件 Incident: {incident} · 状态 State: {state}</p>
<p>开始 Opened: {opened} · 结束 Closed: {closed} (北京时间 UTC+8)</p>
<h2>决策记录 Decisions</h2>
<table><tr><th>时间 Time (UTC+8)</th><th>决策人 Who</th><th>决策 Decision</th><th>依据 Evidence</th></tr>{decisions}</table>
<h2>会商记录 Log</h2>
<table><tr><th>#</th><th>时间 Time (UTC+8)</th><th>人员 Who</th><th>类型 Kind</th><th>内容 What</th></tr>{log}</table>
</body></html>"#,
        title = escape(&room.title),
        division = escape(&room.division_name),
        opener = escape(&room.opened_by_name),
        incident = room
            .incident_id
            .map(|i| format!("#{i}"))
            .unwrap_or_else(|| "—".into()),
        state = room.state.as_str(),
        opened = local(room.opened_at),
        closed = room.closed_at.map(local).unwrap_or_else(|| "—".into()),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        page,
    )
        .into_response())
}

#[derive(serde::Deserialize)]
struct DecisionsQuery {
    incident_id: i64,
}

/// `GET /api/v1/consult/decisions?incident_id=`: the decisions taken in the rooms of an
/// incident that the caller may enter, oldest first — for the incident's timeline.
async fn decisions(
    State(state): State<AppState>,
    caller: Caller,
    crate::error::Params(q): crate::error::Params<DecisionsQuery>,
) -> Result<Json<Vec<RoomEvent>>, ApiError> {
    caller.require(Permission::ReadIncidents, MAY_NOT_TAKE_PART)?;
    let rooms: std::collections::HashSet<i64> = rooms::list(&state.pool, viewer(&caller), 5000)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    Ok(Json(
        rooms::decisions_for_incident(&state.pool, q.incident_id)
            .await?
            .into_iter()
            .filter(|e| rooms.contains(&e.room_id))
            .collect(),
    ))
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/consult/rooms", get(list).post(open))
        .route("/api/v1/consult/rooms/{id}", get(detail))
        .route("/api/v1/consult/rooms/{id}/close", post(close))
        .route("/api/v1/consult/rooms/{id}/minutes", get(minutes))
        .route("/api/v1/consult/decisions", get(decisions))
}
