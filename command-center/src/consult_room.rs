//! `GET /api/v1/consult/rooms/{id}/socket`: a participant in a consultation room. Admission is
//! checked before the upgrade (signed in, may take part, may see the room, the room is open);
//! then the socket is given the room's whole log (late joiners see everything said, drawn,
//! posted and decided), is counted present, and carries:
//!
//! - from the participant: `chat`, `annotate`, `post`, `decide` (stored, then sent to everyone
//!   in the room, the sender too) and the media signalling `media.join`, `media.publish`,
//!   `media.subscribe`, `media.start`, `media.receive` (`video`: whether the others' video
//!   comes, their sound always does), `media.leave`, and `media.screen` / `media.screen_stop`
//!   (a shared screen, published as a second feed marked as a screen; its start and end go
//!   into the room's log), which the command-center relays to Janus on the participant's
//!   behalf, only into this room's media room;
//! - to the participant: `welcome`, `event` (a stored event), `media.*` answers and
//!   `error` (`field`, `message`) for what was refused.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use geohazard_consult::rooms::{self, Refused, Viewer};
use geohazard_consult::{ClientMessage, EventKind, Room, RoomEvent, RoomState};
use geohazard_domain::{AuditAction, OfficerId, Permission, permits};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::audit::{self, Entry};
use crate::auth::{self, Officer};
use crate::consult_hub::Consult;
use crate::error::{ApiError, Id, code};
use crate::janus::{Janus, JanusError, Session};
use crate::live::SocketSlot;
use crate::state::AppState;

/// Largest message a participant may send, bytes (an SDP offer is a few kB).
const MAX_MESSAGE_BYTES: usize = 128 * 1024;

async fn socket(
    State(state): State<AppState>,
    Extension(consult): Extension<Arc<Consult>>,
    headers: HeaderMap,
    Id(id): Id<i64>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let officer = auth::officer_of(&state, &headers).await?;
    let room = admitted(&state, &officer, id).await?;
    let ws = ws.map_err(|e| ApiError::Status(e.status(), e.body_text()))?;
    let slot = SocketSlot::take(&state, &officer)?;
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let mut participant = Participant {
                socket,
                state,
                consult,
                officer,
                slot,
                room,
                media: None,
            };
            participant.serve().await;
        }))
}

/// Room `id` if `officer` may take part in it now: a role that may, a room they may see, open.
pub(crate) async fn admitted(
    state: &AppState,
    officer: &Officer,
    id: i64,
) -> Result<Room, ApiError> {
    if !permits(
        officer.role,
        Permission::ReadIncidents,
        geohazard_domain::Ownership::Unowned,
    ) {
        return Err(ApiError::Forbidden(
            "your role may not take part in consultations",
        ));
    }
    let scope = geohazard_register::scope_of(&state.pool, &officer.division_code)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let viewer = Viewer {
        officer_id: officer.id,
        division_code: &officer.division_code,
        scope: scope.divisions(),
    };
    let room = rooms::visible(&state.pool, viewer, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if room.state != RoomState::Open {
        return Err(room_closed());
    }
    Ok(room)
}

pub fn room_closed() -> ApiError {
    ApiError::coded(
        StatusCode::CONFLICT,
        code::CONSULT_ROOM_CLOSED,
        "the consultation room is closed",
    )
}

/// A participant's media: their Janus session, their publishing handle and feed, and a handle
/// per feed they receive.
struct Media {
    session: Session,
    room: i64,
    publisher: u64,
    feed: i64,
    /// The shared screen's handle and feed, while the participant shares it.
    screen: Option<(u64, i64)>,
    /// Screen feeds of this participant that ended (stopped, or refused after Janus gave them
    /// a feed): their "gone" is news to the others only, never to the one who shared.
    ended_screens: HashSet<i64>,
    subscribers: HashMap<i64, Subscription>,
    /// Whether the others' video is relayed to the participant (off while audio only).
    receive_video: bool,
}

/// A feed the participant receives: its Janus handle and the `mid`s of its video streams.
struct Subscription {
    handle: u64,
    video_mids: Vec<String>,
}

impl Subscription {
    /// Has Janus relay this feed's video to the participant, or stop (its sound goes on).
    async fn relay_video(&self, session: &Session, on: bool) -> Result<(), JanusError> {
        if self.video_mids.is_empty() {
            return Ok(());
        }
        let streams: Vec<Value> = self
            .video_mids
            .iter()
            .map(|mid| json!({"mid": mid, "send": on}))
            .collect();
        session
            .request(
                self.handle,
                json!({"request": "configure", "streams": streams}),
            )
            .await
            .map(|_| ())
    }
}

impl Media {
    /// The participant's own feeds (camera, and screen while shared).
    fn own(&self) -> Vec<i64> {
        std::iter::once(self.feed)
            .chain(self.screen.map(|(_, f)| f))
            .collect()
    }
}

/// What ends a publisher's Janus display name when it is a shared screen.
const SCREEN_MARK: &str = "|screen";

struct Participant {
    socket: WebSocket,
    state: AppState,
    consult: Arc<Consult>,
    officer: Officer,
    /// Its place among the session's live sockets, and what says the session ended.
    slot: SocketSlot,
    room: Room,
    media: Option<Media>,
}

/// A refusal sent back on the socket.
struct Refusal {
    field: &'static str,
    message: String,
}

fn refusal(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        field,
        message: message.into(),
    }
}

impl From<JanusError> for Refusal {
    fn from(e: JanusError) -> Refusal {
        refusal("media", e.to_string())
    }
}

impl From<Refused> for Refusal {
    fn from(e: Refused) -> Refusal {
        match e {
            Refused::Closed => refusal("room", "the consultation room is closed"),
            Refused::NoRoom => refusal("room", "no such room"),
            Refused::Invalid(m) => {
                let (field, message) = m.split_once(": ").unwrap_or(("body", &m));
                let field = match field {
                    "evidence" => "evidence",
                    _ => "body",
                };
                refusal(field, message)
            }
            Refused::Store(e) => {
                tracing::error!(error = %e, "storing a consultation event");
                refusal("room", "the room could not store this; try again")
            }
        }
    }
}

/// Whether the loop goes on.
enum Flow {
    Go,
    Stop,
}

impl Participant {
    async fn send(&mut self, v: Value) -> Result<(), ()> {
        let timeout = Duration::from_secs(self.state.settings.live_send_timeout_s.max(1));
        match tokio::time::timeout(
            timeout,
            self.socket.send(Message::Text(v.to_string().into())),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    async fn serve(&mut self) {
        let room = self.room.id;
        let mut events = self.consult.subscribe(room);
        let joined = match rooms::record(
            &self.state.pool,
            room,
            self.officer.id,
            EventKind::Joined,
            &json!({}),
        )
        .await
        {
            Ok(e) => e,
            Err(e) => {
                let r = Refusal::from(e);
                let _ = self
                    .send(json!({"type": "error", "field": r.field, "message": r.message}))
                    .await;
                return;
            }
        };
        let last_sent = joined.id;
        self.consult.publish(joined);
        let welcome = async {
            let history = rooms::events(&self.state.pool, room).await?;
            let present = rooms::present(&self.state.pool, room).await?;
            Ok::<_, sqlx::Error>(json!({
                "type": "welcome",
                "me": {"id": self.officer.id, "name": self.officer.display_name,
                       "division": self.officer.division_code},
                "room": self.room,
                "history": history,
                "present": present,
                "media": self.consult.janus.configured(),
                "ice_servers": self.consult.janus.ice_servers(),
            }))
        }
        .await;
        let Ok(welcome) = welcome else { return };
        let last_sent = welcome["history"]
            .as_array()
            .and_then(|h| h.last())
            .and_then(|e| e["id"].as_i64())
            .unwrap_or(last_sent);
        if self.send(welcome).await.is_err() {
            self.leave().await;
            return;
        }
        let ended = self.slot.ended();
        tokio::pin!(ended);
        let shutdown = self.state.shutdown.clone();
        loop {
            let flow = tokio::select! {
                _ = shutdown.cancelled() => Flow::Stop,
                event = events.recv() => self.pass_on(event, last_sent).await,
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => self.receive(&text).await,
                    Some(Ok(Message::Binary(_))) => {
                        self.refuse(refusal("type", "messages are JSON text")).await
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Flow::Stop,
                    Some(Ok(_)) => Flow::Go,
                },
                event = media_event(&mut self.media) => self.relay_media_event(event).await,
                _ = &mut ended => {
                    let _ = self.send(json!({"type": "session_ended"})).await;
                    Flow::Stop
                }
            };
            if let Flow::Stop = flow {
                break;
            }
        }
        self.leave().await;
    }

    /// Ends the participant's media (their Janus session goes with it); a screen they were
    /// still sharing ends in the room's log too.
    async fn end_media(&mut self) {
        if let Some((_, feed)) = self.media.take().and_then(|m| m.screen) {
            self.log_screen(EventKind::ScreenStopped, feed).await;
        }
    }

    /// Writes a screen sharing's start or end (`kind`) into the room's log and tells everyone
    /// in the room. The sharing does not depend on it: a room closed meanwhile takes nothing
    /// more, and a store failure is logged.
    async fn log_screen(&mut self, kind: EventKind, feed: i64) {
        match rooms::record(
            &self.state.pool,
            self.room.id,
            self.officer.id,
            kind,
            &json!({"feed": feed}),
        )
        .await
        {
            Ok(event) => self.consult.publish(event),
            Err(Refused::Closed) => {}
            Err(e) => tracing::error!(error = %e, kind = kind.as_str(), "logging a screen share"),
        }
    }

    async fn leave(&mut self) {
        self.end_media().await;
        if let Ok(left) = rooms::record(
            &self.state.pool,
            self.room.id,
            self.officer.id,
            EventKind::Left,
            &json!({}),
        )
        .await
        {
            self.consult.publish(left);
        }
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.socket.send(Message::Close(None)),
        )
        .await;
    }

    async fn pass_on(
        &mut self,
        event: Result<Arc<RoomEvent>, broadcast::error::RecvError>,
        last_sent: i64,
    ) -> Flow {
        match event {
            Ok(e) if e.id <= last_sent => Flow::Go,
            Ok(e) => {
                let closed = e.kind == EventKind::Closed;
                if self
                    .send(json!({"type": "event", "event": *e}))
                    .await
                    .is_err()
                    || closed
                {
                    return Flow::Stop;
                }
                Flow::Go
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                match self.send(json!({"type": "resync", "missed": missed})).await {
                    Ok(()) => Flow::Go,
                    Err(()) => Flow::Stop,
                }
            }
            Err(broadcast::error::RecvError::Closed) => Flow::Stop,
        }
    }

    async fn refuse(&mut self, r: Refusal) -> Flow {
        self.refuse_ref(r, Value::Null).await
    }

    async fn refuse_ref(&mut self, r: Refusal, reference: Value) -> Flow {
        match self
            .send(
                json!({"type": "error", "field": r.field, "message": r.message, "ref": reference}),
            )
            .await
        {
            Ok(()) => Flow::Go,
            Err(()) => Flow::Stop,
        }
    }

    /// Handles a participant's message; the answer (or refusal) carries the message's `ref`
    /// (a short string or number of the client's choosing) back.
    async fn receive(&mut self, text: &str) -> Flow {
        let reference = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("ref").cloned())
            .filter(|r| r.is_i64() || r.as_str().is_some_and(|s| s.len() <= 64))
            .unwrap_or(Value::Null);
        let outcome = self.handle(text).await;
        match outcome {
            Ok(Some(mut answer)) => {
                answer["ref"] = reference;
                match self.send(answer).await {
                    Ok(()) => Flow::Go,
                    Err(()) => Flow::Stop,
                }
            }
            Ok(None) => Flow::Go,
            Err(r) => self.refuse_ref(r, reference).await,
        }
    }

    async fn handle(&mut self, text: &str) -> Result<Option<Value>, Refusal> {
        let v: Value = serde_json::from_str(text)
            .map_err(|_| refusal("type", "a message is a JSON object with a \"type\""))?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| refusal("type", "a message is a JSON object with a \"type\""))?
            .to_owned();
        if text.contains('\0') {
            return Err(refusal("body", "a NUL character is not allowed"));
        }
        if let Some(media) = kind.strip_prefix("media.") {
            return self.signal(media, &v).await.map(Some);
        }
        let message = ClientMessage::parse(&kind, &v).map_err(|e| Refusal {
            field: e.field,
            message: e.message,
        })?;
        if let ClientMessage::Camera { gateway, .. } = &message {
            // Only a camera its bringer may watch; then everyone in the room may.
            crate::console::gateway_in_scope(&self.state, &self.officer, gateway)
                .await
                .map_err(|_| refusal("gateway", "no such gateway in your divisions"))?;
        }
        let (kind, body) = message.event();
        let event =
            rooms::record(&self.state.pool, self.room.id, self.officer.id, kind, &body).await?;
        if kind == EventKind::Decision {
            let entry = Entry {
                officer_id: Some(OfficerId(self.officer.id)),
                action: AuditAction::ConsultDecide,
                target: Some(format!("consult_room:{}", self.room.id)),
                division_code: Some(self.room.division_code.clone()),
                detail: json!({"before": null, "after": event.body, "event": event.id,
                               "incident_id": self.room.incident_id}),
                remote_addr: None,
            };
            if let Err(e) = audit::record(&self.state.pool, &entry).await {
                tracing::error!(error = %e, "auditing a consultation decision");
            }
        }
        self.consult.publish(event);
        Ok(None)
    }

    fn media_mut(&mut self) -> Result<&mut Media, Refusal> {
        self.media
            .as_mut()
            .ok_or_else(|| refusal("type", "send media.join first"))
    }

    /// Relays one signalling message to Janus, for this room only.
    async fn signal(&mut self, kind: &str, v: &Value) -> Result<Value, Refusal> {
        let janus = self.consult.janus.clone();
        match kind {
            "join" => {
                if self.media.is_some() {
                    return Err(refusal("type", "already joined"));
                }
                let media = self.join(&janus).await?;
                let publishers = publishers_of(
                    &media
                        .session
                        .request(
                            media.publisher,
                            json!({"request": "listparticipants", "room": media.room}),
                        )
                        .await?,
                    &media.own(),
                );
                let feed = media.feed;
                self.media = Some(media);
                Ok(
                    json!({"type": "media.joined", "feed": feed, "publishers": publishers,
                          "ice_servers": janus.ice_servers()}),
                )
            }
            "publish" => {
                let jsep = sdp(v, "offer")?;
                let media = self.media_mut()?;
                let answer = media
                    .session
                    .message(
                        media.publisher,
                        json!({"request": "configure", "audio": true, "video": true}),
                        Some(jsep),
                    )
                    .await?;
                Ok(json!({"type": "media.answer", "jsep": answer["jsep"]}))
            }
            "subscribe" => {
                let feed = feed_of(v)?;
                let media = self.media_mut()?;
                if media.own().contains(&feed) {
                    return Err(refusal("feed", "that is your own feed"));
                }
                if media.subscribers.contains_key(&feed) {
                    return Err(refusal("feed", "already receiving that feed"));
                }
                let publishing = janus.publishers(&media.session, media.room).await?;
                if !publishing.contains(&feed) {
                    return Err(refusal("feed", "no such feed publishing in this room"));
                }
                let handle = media.session.attach().await?;
                let offer = media
                    .session
                    .request(
                        handle,
                        json!({"request": "join", "ptype": "subscriber", "room": media.room,
                               "streams": [{"feed": feed}]}),
                    )
                    .await;
                let offer = match offer {
                    Ok(o) => o,
                    Err(e) => {
                        media.session.detach(handle).await;
                        return Err(e.into());
                    }
                };
                let video_mids = offer["streams"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["type"] == "video")
                    .filter_map(|s| s["mid"].as_str().map(str::to_owned))
                    .collect();
                media
                    .subscribers
                    .insert(feed, Subscription { handle, video_mids });
                Ok(json!({"type": "media.offer", "feed": feed, "jsep": offer["jsep"]}))
            }
            "start" => {
                let feed = feed_of(v)?;
                let jsep = sdp(v, "answer")?;
                let media = self.media_mut()?;
                let subscription = media
                    .subscribers
                    .get(&feed)
                    .ok_or_else(|| refusal("feed", "send media.subscribe for that feed first"))?;
                media
                    .session
                    .message(subscription.handle, json!({"request": "start"}), Some(jsep))
                    .await?;
                if !media.receive_video {
                    subscription.relay_video(&media.session, false).await?;
                }
                Ok(json!({"type": "media.started", "feed": feed}))
            }
            "receive" => {
                let video = v
                    .get("video")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| refusal("video", "must be true or false"))?;
                let media = self.media_mut()?;
                media.receive_video = video;
                for subscription in media.subscribers.values() {
                    subscription.relay_video(&media.session, video).await?;
                }
                Ok(json!({"type": "media.receiving", "video": video}))
            }
            "screen" => {
                let jsep = sdp(v, "offer")?;
                let display = self.display();
                let media = self.media_mut()?;
                if media.screen.is_some() {
                    return Err(refusal("type", "already sharing the screen"));
                }
                let handle = media.session.attach().await?;
                let mut given_feed = None;
                let shared = async {
                    let joined = media
                        .session
                        .request(
                            handle,
                            json!({"request": "join", "ptype": "publisher", "room": media.room,
                                   "display": format!("{display}{SCREEN_MARK}")}),
                        )
                        .await?;
                    let feed = joined["id"]
                        .as_i64()
                        .ok_or_else(|| refusal("media", "the media server gave no feed"))?;
                    given_feed = Some(feed);
                    let answer = media
                        .session
                        .message(
                            handle,
                            json!({"request": "configure", "audio": true, "video": true}),
                            Some(jsep),
                        )
                        .await?;
                    Ok::<_, Refusal>((feed, answer))
                }
                .await;
                match shared {
                    Ok((feed, answer)) => {
                        media.screen = Some((handle, feed));
                        self.log_screen(EventKind::ScreenShared, feed).await;
                        Ok(
                            json!({"type": "media.screen_answer", "feed": feed, "jsep": answer["jsep"]}),
                        )
                    }
                    Err(e) => {
                        media.ended_screens.extend(given_feed);
                        media.session.detach(handle).await;
                        Err(e)
                    }
                }
            }
            "screen_stop" => {
                let media = self.media_mut()?;
                let (handle, feed) = media
                    .screen
                    .take()
                    .ok_or_else(|| refusal("type", "not sharing the screen"))?;
                // Leaving the room unpublishes the feed: everyone else is told it is gone.
                let _ = media
                    .session
                    .request(handle, json!({"request": "leave"}))
                    .await;
                media.ended_screens.insert(feed);
                media.session.detach(handle).await;
                self.log_screen(EventKind::ScreenStopped, feed).await;
                Ok(json!({"type": "media.screen_stopped", "feed": feed}))
            }
            "leave" => {
                self.media_mut()?;
                self.end_media().await;
                Ok(json!({"type": "media.left"}))
            }
            _ => Err(refusal(
                "type",
                "unknown signalling: media.join, media.publish, media.subscribe, media.start, media.receive, media.screen, media.screen_stop or media.leave",
            )),
        }
    }

    /// A Janus session publishing into this room's media room (made at the first join).
    async fn join(&mut self, janus: &Janus) -> Result<Media, Refusal> {
        if !janus.configured() {
            return Err(JanusError::NotConfigured.into());
        }
        let title = format!("consult {}", self.room.id);
        let media_room =
            rooms::media_room(&self.state.pool, self.room.id, || janus.create_room(&title))
                .await??;
        let session = janus.session().await?;
        let publisher = session.attach().await?;
        let joined = session
            .request(
                publisher,
                json!({"request": "join", "ptype": "publisher", "room": media_room,
                       "display": self.display()}),
            )
            .await?;
        let feed = joined["id"]
            .as_i64()
            .ok_or_else(|| refusal("media", "the media server gave no feed"))?;
        Ok(Media {
            session,
            room: media_room,
            publisher,
            feed,
            screen: None,
            ended_screens: HashSet::new(),
            subscribers: HashMap::new(),
            receive_video: true,
        })
    }

    /// The participant as Janus shows them to the others: `officer id|name`.
    fn display(&self) -> String {
        let name: String = self.officer.display_name.chars().take(60).collect();
        format!("{}|{name}", self.officer.id)
    }

    async fn relay_media_event(&mut self, event: Option<Value>) -> Flow {
        let Some(event) = event else {
            // The media session ended under us.
            self.end_media().await;
            return match self.send(json!({"type": "media.ended"})).await {
                Ok(()) => Flow::Go,
                Err(()) => Flow::Stop,
            };
        };
        let data = &event["plugindata"]["data"];
        let own = self.media.as_ref().map(Media::own).unwrap_or_default();
        let message = if data["publishers"].is_array() {
            Some(json!({"type": "media.publishers", "publishers": publishers_of(data, &own)}))
        } else if let Some(feed) = data["unpublished"].as_i64().or(data["leaving"].as_i64()) {
            let mut own_screen = false;
            if let Some(m) = self.media.as_mut() {
                if let Some(subscription) = m.subscribers.remove(&feed) {
                    m.session.detach(subscription.handle).await;
                }
                // Janus may tell of one's own ended screen twice (unpublished, then leaving).
                own_screen = m.ended_screens.contains(&feed);
            }
            (!own_screen).then(|| json!({"type": "media.gone", "feed": feed}))
        } else if event["janus"] == "hangup" {
            Some(json!({"type": "media.hangup", "reason": event["reason"]}))
        } else {
            None
        };
        match message {
            Some(m) => match self.send(m).await {
                Ok(()) => Flow::Go,
                Err(()) => Flow::Stop,
            },
            None => Flow::Go,
        }
    }
}

/// The next Janus event of the participant's media session; never, without one.
async fn media_event(media: &mut Option<Media>) -> Option<Value> {
    match media {
        Some(m) => m.session.events.recv().await,
        None => std::future::pending().await,
    }
}

/// The publishing feeds in a Janus answer (`publishers` of an event, or `participants` of a
/// list) but `own`, as `{feed, officer_id, display, screen}` (`screen`: a shared screen).
fn publishers_of(data: &Value, own: &[i64]) -> Value {
    let list = data["publishers"]
        .as_array()
        .or(data["participants"].as_array())
        .cloned()
        .unwrap_or_default();
    Value::Array(
        list.into_iter()
            .filter(|p| p.get("publisher").is_none_or(|p| p.as_bool() == Some(true)))
            .filter_map(|p| {
                let feed = p["id"].as_i64()?;
                if own.contains(&feed) {
                    return None;
                }
                let display = p["display"].as_str().unwrap_or("");
                let (display, screen) = match display.strip_suffix(SCREEN_MARK) {
                    Some(d) => (d, true),
                    None => (display, false),
                };
                let (officer, name) = display.split_once('|').unwrap_or(("", display));
                Some(
                    json!({"feed": feed, "officer_id": officer.parse::<i64>().ok(),
                            "display": name, "screen": screen}),
                )
            })
            .collect(),
    )
}

fn feed_of(v: &Value) -> Result<i64, Refusal> {
    v.get("feed")
        .and_then(Value::as_i64)
        .filter(|f| *f > 0)
        .ok_or_else(|| refusal("feed", "must be the number of a feed in this room"))
}

/// The `jsep` of a message: an SDP of `kind` ("offer" or "answer").
fn sdp(v: &Value, kind: &str) -> Result<Value, Refusal> {
    let jsep = v.get("jsep").ok_or_else(|| refusal("jsep", "is missing"))?;
    if jsep["type"].as_str() != Some(kind) {
        return Err(refusal("jsep", format!("must be an SDP {kind}")));
    }
    match jsep["sdp"].as_str() {
        Some(s) if s.starts_with("v=0") && s.len() < MAX_MESSAGE_BYTES => {
            // Every candidate is in the description: nothing trickles.
            Ok(json!({"type": kind, "sdp": s, "trickle": false}))
        }
        _ => Err(refusal("jsep", "its sdp is not a session description")),
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/consult/rooms/{id}/socket", get(socket))
}
