//! `GET /api/v1/live`: a WebSocket of warning changes for the officer's divisions, and the app
//! notifications of the officer's person with the client's receipts (`app_channel`).
//!
//! One MQTT subscription (`gh/v1/warning/#`) per command-center feeds a broadcast channel; each
//! socket reads it through its own receiver, a bounded window on the channel. Each warning
//! change is serialised once, when it enters the channel: every socket sends the same shared
//! bytes (at 11,000 sockets, one serialisation per socket was most of a delivery's time). A socket that
//! falls behind by more than the window loses the oldest events and is sent
//! `{"type":"resync"}` (re-read `GET /api/v1/warnings`); a socket that does not accept a
//! message in time is closed. Neither ever holds up the feed or the other sockets.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use geohazard_bus::{Bus, BusConfig, Qos};
use geohazard_domain::PersonId;
use geohazard_protocol::topic::ALL_WARNINGS;
use geohazard_protocol::warning::Warning;
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::app_channel::AppChannel;
use crate::auth::{self, Officer};
use crate::error::ApiError;
use crate::feeds::{LiveMessage, LiveWarning};
use crate::incident_feed::Changed;
use crate::readings_push::{Readings, StoredFeed};
use crate::state::AppState;

/// Feeds warning changes from MQTT into `live` until `shutdown`. A message only says that a
/// warning changed: what goes to consoles is that warning as the store holds it (state, level,
/// summary, evidence, latest transition), so a forged or stale message can show nothing the
/// store does not hold. The bus reconnects by itself.
pub async fn run_feed(
    mut bus: Bus,
    pool: sqlx::PgPool,
    live: broadcast::Sender<Arc<LiveWarning>>,
    open_incident_on_red: bool,
    shutdown: CancellationToken,
) {
    let acker = bus.acker();
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = bus.recv() => match d {
                Some(d) => d,
                None => break,
            },
        };
        match Warning::decode(delivery.payload()) {
            Ok(w) => match geohazard_warnings::as_stored(&pool, w.id).await {
                // No receivers is fine: nobody is watching.
                Ok(Some(stored)) => {
                    if open_incident_on_red
                        && stored.level == geohazard_protocol::warning::WarningLevel::Red
                        && stored.state != geohazard_protocol::warning::WarningState::Closed
                    {
                        open_on_red(&pool, stored.id).await;
                    }
                    let _ = live.send(Arc::new(LiveWarning::new(stored)));
                }
                Ok(None) => tracing::warn!(
                    topic = delivery.topic(),
                    id = w.id,
                    site = ?w.site,
                    "a warning message that is not in the store: not passed on"
                ),
                // Not told to consoles now; they re-read the warnings over HTTP on resync.
                Err(e) => {
                    tracing::warn!(error = %e, id = w.id, "reading a warning from the store")
                }
            },
            Err(e) => {
                tracing::warn!(topic = delivery.topic(), error = %e.detail, "unreadable warning message")
            }
        }
        acker.ack(&delivery).await;
    }
    bus.shutdown().await;
}

/// Opens the incident of a red warning, once per cluster.
async fn open_on_red(pool: &sqlx::PgPool, warning: i64) {
    match geohazard_incidents::incident::open_on_red(pool, geohazard_domain::WarningId(warning))
        .await
    {
        Ok(Some(opened)) => {
            tracing::info!(
                warning,
                incident = opened.id(),
                "incident opened on a red warning"
            )
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, warning, "opening the incident of a red warning"),
    }
}

/// Connects to the broker for the live feed and the outbox. Returns the bus (hand it to
/// [`run_feed`]) once the subscription is confirmed, or after `wait` if the broker is slow (the
/// bus keeps trying).
pub async fn connect(url: &str, client_id: &str, wait: Duration) -> anyhow::Result<Bus> {
    let mut config = BusConfig::new(url, client_id);
    // Stateless: a console that missed something re-reads the warnings over HTTP.
    config.persistent_session = false;
    let mut bus = Bus::start(
        &config,
        vec![(ALL_WARNINGS.to_owned(), Qos::AtLeastOnce)],
        None,
        1024,
    )?;
    if let Err(e) = bus.wait_subscribed(wait).await {
        tracing::warn!(error = %e, "the live feed is not subscribed yet; it keeps trying");
    }
    Ok(bus)
}

/// The division codes an officer sees: its own and all below it.
async fn scope_codes(state: &AppState, division: &str) -> sqlx::Result<HashSet<String>> {
    let codes: Vec<String> = sqlx::query_scalar(concat!(scope_cte!(), "SELECT code FROM scope"))
        .bind(division)
        .fetch_all(&state.pool)
        .await?;
    Ok(codes.into_iter().collect())
}

/// One open live socket of a session; gives its place back when dropped.
struct SocketSlot {
    state: AppState,
    session: Vec<u8>,
}

impl SocketSlot {
    /// A place for one more socket of `officer`'s session, or 429 when it has its maximum open.
    fn take(state: &AppState, officer: &Officer) -> Result<SocketSlot, ApiError> {
        let max = state.settings.live_max_sockets_per_session.max(1);
        if !state.live_sockets.take(&officer.token_hash, max) {
            return Err(ApiError::RetryLater {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: format!("this session already has {max} live connections open"),
                retry_after_s: 10,
            });
        }
        Ok(SocketSlot {
            state: state.clone(),
            session: officer.token_hash.clone(),
        })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.state.live_sockets.release(&self.session);
    }
}

/// `GET /api/v1/live`: authenticates (bearer header or session cookie, never a token in the URL)
/// before the upgrade, so a bad or missing session is a plain 401. A request that is not a WebSocket upgrade gets a JSON error.
async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
    readings: Option<Extension<StoredFeed>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let (officer, token) = auth::officer_of(&state, &headers).await?;
    let ws = ws.map_err(|e| ApiError::Status(e.status(), e.body_text()))?;
    let slot = SocketSlot::take(&state, &officer)?;
    let scope = scope_codes(&state, &officer.division_code).await?;
    // Subscribe before the upgrade: nothing published after the `ready` message is missed.
    let rx = state.live.subscribe();
    let readings = Readings::new(readings.as_deref(), scope.clone());
    Ok(ws.on_upgrade(move |socket| async move {
        // On the sockets' own runtime: a warning change wakes every socket at once, and on the
        // request runtime each step of a sign-in or an acknowledgement would then wait behind
        // all of them in the run queue.
        let served = sockets_runtime().spawn(async move {
            serve_socket(socket, state, officer, token, scope, rx, readings).await;
            drop(slot);
        });
        let _ = served.await;
    }))
}

/// The runtime the live sockets are served on, apart from the one answering requests: the
/// operating system shares the cores between the two, so requests are answered at their own
/// pace however many sockets a warning change wakes.
fn sockets_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores.min(4))
            .thread_name("live-sockets")
            .enable_all()
            .build()
            .expect("the live sockets' runtime starts")
    })
}

/// What to send a socket next.
#[derive(Debug, PartialEq)]
enum Outgoing {
    /// A JSON text message.
    Text(Utf8Bytes),
    /// The feed has ended (shutdown).
    Closed,
}

/// The next message for a socket watching `scope`: the next in-scope warning, or a resync
/// notice when the socket fell behind and events were dropped.
async fn next_outgoing(
    rx: &mut broadcast::Receiver<Arc<LiveWarning>>,
    scope: &HashSet<String>,
) -> Outgoing {
    loop {
        match rx.recv().await {
            // The shared bytes: a reference count, no copy.
            Ok(w) if scope.contains(&w.division) => return Outgoing::Text(w.message.clone()),
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                return Outgoing::Text(LiveMessage::Resync { missed }.text().into());
            }
            Err(broadcast::error::RecvError::Closed) => return Outgoing::Closed,
        }
    }
}

async fn serve_socket(
    mut socket: WebSocket,
    state: AppState,
    officer: Officer,
    token: String,
    scope: HashSet<String>,
    mut rx: broadcast::Receiver<Arc<LiveWarning>>,
    mut readings: Readings,
) {
    let send_timeout = Duration::from_secs(state.settings.live_send_timeout_s.max(1));
    let mut recheck =
        tokio::time::interval(Duration::from_secs(state.settings.live_recheck_s.max(1)));
    recheck.tick().await;
    let hello = LiveMessage::Ready {
        officer: &officer.username,
        divisions: scope.len(),
    };
    if send(&mut socket, hello.text(), send_timeout).await.is_err() {
        return;
    }
    tracing::debug!(officer = %officer.username, "live socket open");
    let mut app = AppChannel::new(&state, PersonId(officer.person_id));
    let mut incidents = state.incidents.subscribe();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            out = next_outgoing(&mut rx, &scope) => match out {
                Outgoing::Text(text) => {
                    if send(&mut socket, text, send_timeout).await.is_err() {
                        tracing::info!(officer = %officer.username, "live socket too slow or gone: closed");
                        return;
                    }
                }
                Outgoing::Closed => break,
            },
            change = incidents.recv() => match change {
                Ok(c) if scope.contains(&c.division) => {
                    let m = match c.what {
                        Changed::Incident => LiveMessage::Incident { id: c.id },
                        Changed::Deliveries => LiveMessage::Deliveries { warning: c.id },
                        Changed::FieldReport => LiveMessage::FieldReport { id: c.id },
                        Changed::Patrol => LiveMessage::Patrol { id: c.id },
                        // The app channel's, below.
                        Changed::AppNotification => continue,
                    };
                    if send(&mut socket, m.text(), send_timeout).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    if send(&mut socket, LiveMessage::Resync { missed }.text(), send_timeout).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = app.wake() => {
                for text in app.due().await {
                    if send(&mut socket, text, send_timeout).await.is_err() {
                        return;
                    }
                }
            }
            incoming = socket.recv() => match incoming {
                // Pings are answered by the socket itself. Text is either the sensors an open
                // site view watches or a receipt for an app notification.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(Message::Text(text))) => {
                    let replies = if is_watch(&text) {
                        readings.client_text(&state.pool, &text).await
                    } else {
                        app.receive(&text).await.into_iter().collect()
                    };
                    for text in replies {
                        if send(&mut socket, text, send_timeout).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(_)) => {}
            },
            stored = readings.next() => {
                for text in readings.unsent(&state.pool, stored).await {
                    if send(&mut socket, text, send_timeout).await.is_err() {
                        return;
                    }
                }
            }
            _ = recheck.tick() => {
                if auth::authenticate(&state, &token).await.is_err() {
                    let _ = send(&mut socket, LiveMessage::SessionEnded.text(), send_timeout).await;
                    break;
                }
            }
        }
    }
    let _ = tokio::time::timeout(send_timeout, socket.send(Message::Close(None))).await;
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/live", get(live))
}

async fn send(
    socket: &mut WebSocket,
    text: impl Into<Utf8Bytes>,
    timeout: Duration,
) -> Result<(), ()> {
    match tokio::time::timeout(timeout, socket.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Whether a client's text is a site view's `{"type":"watch",...}` (else it is an app receipt).
fn is_watch(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Kind>(text).is_ok_and(|k| k.kind == "watch")
}

#[cfg(test)]
mod tests {
    use super::*;
    use geohazard_protocol::warning::{
        WarningCategory, WarningLevel, WarningState, WarningTransition,
    };

    fn warning(id: i64, division: &str) -> Arc<LiveWarning> {
        Arc::new(LiveWarning::new(Warning {
            id,
            site: format!("S-{id}"),
            division: division.into(),
            source: "threshold:mud".into(),
            category: WarningCategory::Hazard,
            level: WarningLevel::Yellow,
            state: WarningState::Open,
            transition: WarningTransition::Raised,
            at: 0,
            reading_ts: None,
            failure_forecast_ts: None,
            summary: String::new(),
            summary_zh: String::new(),
            evidence: serde_json::Value::Null,
        }))
    }

    #[tokio::test]
    async fn a_socket_gets_its_own_divisions_and_a_lagging_one_is_told_to_resync() {
        let (tx, _) = broadcast::channel(4);
        let scope: HashSet<String> = ["511525".to_owned()].into();
        let mut fast = tx.subscribe();
        let mut slow = tx.subscribe();
        tx.send(warning(1, "511502")).unwrap();
        tx.send(warning(2, "511525")).unwrap();
        let Outgoing::Text(t) = next_outgoing(&mut fast, &scope).await else {
            panic!("a message")
        };
        assert!(
            t.contains(r#""id":2"#) && t.contains(r#""type":"warning""#),
            "{t}"
        );
        // The slow socket reads nothing while ten more are sent: the sender never waits.
        for i in 3..13 {
            tx.send(warning(i, "511525")).unwrap();
        }
        let Outgoing::Text(t) = next_outgoing(&mut slow, &scope).await else {
            panic!("a message")
        };
        assert!(t.contains(r#""type":"resync""#), "{t}");
        // After the resync it carries on with what the window still holds.
        let Outgoing::Text(t) = next_outgoing(&mut slow, &scope).await else {
            panic!("a message")
        };
        assert!(t.contains(r#""id":9"#), "{t}");
        drop(tx);
        for _ in 0..4 {
            let _ = next_outgoing(&mut slow, &scope).await;
        }
        assert_eq!(next_outgoing(&mut slow, &scope).await, Outgoing::Closed);
    }
}
