//! `GET /api/v1/live`: a WebSocket of warning changes for the officer's divisions, and the app
//! notifications of the officer's person with the client's receipts (`app_channel`).
//!
//! A client names the feeds its page shows, `?feeds=notifications,incidents` (see [`Feed`]),
//! and its socket carries only those: the field app's socket does not take every warning change
//! in scope, only its person's notifications and the incident changes that make it re-read its
//! tasks. A socket without the `warnings` feed does not even read the warning channel, so a
//! warning change wakes only the sockets that show it. Without `feeds` a socket carries them
//! all (the console names them all); an unknown or empty feed is refused with 400 before the
//! upgrade. Choosing feeds costs no query: it only decides which channels a socket reads.
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

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
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
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::app_channel::AppChannel;
use crate::auth::{self, Officer};
use crate::error::ApiError;
use crate::feeds::{LiveMessage, LiveWarning};
use crate::incident_feed::{Changed, IncidentChanged};
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

/// What a live socket can carry. A client names those its page shows in `?feeds=`, separated
/// by commas; the socket carries nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// `{"type":"warning"}`: every warning change in scope (and `resync` when some were missed).
    Warnings,
    /// `{"type":"incident"}`: an incident in scope changed.
    Incidents,
    /// `{"type":"deliveries"}`: the deliveries of a warning in scope changed.
    Deliveries,
    /// `{"type":"field_report"}`: a rapid report came from the field.
    FieldReports,
    /// `{"type":"patrol"}`: a patrol was done.
    Patrols,
    /// `{"type":"readings"}`: the readings of the sensors the client watches
    /// (`{"type":"watch","sensors":[...]}`).
    Readings,
    /// `{"type":"notification"}`: the app notifications of the officer's person, with the
    /// client's receipts.
    Notifications,
}

impl Feed {
    const ALL: [Feed; 7] = [
        Feed::Warnings,
        Feed::Incidents,
        Feed::Deliveries,
        Feed::FieldReports,
        Feed::Patrols,
        Feed::Readings,
        Feed::Notifications,
    ];

    fn name(self) -> &'static str {
        match self {
            Feed::Warnings => "warnings",
            Feed::Incidents => "incidents",
            Feed::Deliveries => "deliveries",
            Feed::FieldReports => "field_reports",
            Feed::Patrols => "patrols",
            Feed::Readings => "readings",
            Feed::Notifications => "notifications",
        }
    }

    /// The feed an incident-channel change belongs to.
    fn of(changed: Changed) -> Feed {
        match changed {
            Changed::Incident => Feed::Incidents,
            Changed::Deliveries => Feed::Deliveries,
            Changed::FieldReport => Feed::FieldReports,
            Changed::Patrol => Feed::Patrols,
            Changed::AppNotification => Feed::Notifications,
        }
    }
}

/// The feeds one socket carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Feeds(u8);

impl Feeds {
    const ALL: Feeds = Feeds((1 << Feed::ALL.len()) - 1);

    /// A client's `feeds` parameter: every feed when absent; 400's message when it names an
    /// unknown feed or none.
    fn parse(list: Option<&str>) -> Result<Feeds, String> {
        let Some(list) = list else {
            return Ok(Feeds::ALL);
        };
        let known = || {
            Feed::ALL
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut feeds = Feeds(0);
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some(feed) = Feed::ALL.into_iter().find(|f| f.name() == name) else {
                let shown: String = name.chars().take(40).collect();
                return Err(format!(
                    "unknown live feed `{shown}`; the feeds are: {}",
                    known()
                ));
            };
            feeds.0 |= 1 << feed as u8;
        }
        if feeds.0 == 0 {
            return Err(format!("name at least one live feed: {}", known()));
        }
        Ok(feeds)
    }

    fn has(self, feed: Feed) -> bool {
        self.0 & (1 << feed as u8) != 0
    }

    /// Whether the socket reads the incident channel (for any of the feeds it carries).
    fn reads_incident_channel(self) -> bool {
        [
            Feed::Incidents,
            Feed::Deliveries,
            Feed::FieldReports,
            Feed::Patrols,
        ]
        .into_iter()
        .any(|f| self.has(f))
    }

    fn names(self) -> Vec<&'static str> {
        Feed::ALL
            .into_iter()
            .filter(|f| self.has(*f))
            .map(Feed::name)
            .collect()
    }
}

/// `GET /api/v1/live`'s query.
#[derive(Deserialize)]
struct LiveQuery {
    /// The feeds the client shows, `warnings,incidents,...`; all when absent.
    feeds: Option<String>,
}

/// One open live socket (a live feed or a consultation room) of a session; gives its place
/// back when dropped.
pub(crate) struct SocketSlot {
    state: AppState,
    session: Vec<u8>,
    ended: CancellationToken,
}

impl SocketSlot {
    /// A place for one more socket of `officer`'s session, or 429 when it has its maximum open.
    pub(crate) fn take(state: &AppState, officer: &Officer) -> Result<SocketSlot, ApiError> {
        let max = state.settings.live_max_sockets_per_session.max(1);
        let Some(ended) = state.live_sockets.take(&officer.token_hash, max) else {
            return Err(ApiError::RetryLater {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: format!("this session already has {max} live connections open"),
                retry_after_s: 10,
            });
        };
        Ok(SocketSlot {
            state: state.clone(),
            session: officer.token_hash.clone(),
            ended,
        })
    }

    /// Returns when the session has ended (signed out, expired, officer disabled), as
    /// [`run_session_checks`] found: the socket says so and closes.
    pub(crate) fn ended(&self) -> WaitForCancellationFutureOwned {
        self.ended.clone().cancelled_owned()
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.state.live_sockets.release(&self.session);
    }
}

/// Every `live_recheck_s`, checks the sessions of every open live socket of this
/// command-center in one query (`auth::current_sessions`, the rule every request follows), and
/// ends the sockets of those that were signed out, expired or whose officer was disabled; it
/// keeps the others' `last_used_at` current (at most one write a minute each, as a request does). One query per interval, not one per socket: at 11,000
/// sockets those were ~180 statements a second on the pool and cores the fan-out uses. A failed
/// check ends nothing: the next interval tries again.
pub async fn run_session_checks(state: AppState) {
    let mut every =
        tokio::time::interval(Duration::from_secs(state.settings.live_recheck_s.max(1)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let sessions = state.live_sockets.sessions();
        if sessions.is_empty() {
            continue;
        }
        let current = auth::current_sessions(&state.pool, &sessions).await;
        match current {
            Ok(current) => {
                let current: HashSet<Vec<u8>> = current.into_iter().map(|s| s.token_hash).collect();
                for session in sessions.iter().filter(|s| !current.contains(*s)) {
                    state.live_sockets.end(session);
                }
            }
            Err(e) => tracing::warn!(error = %e, "checking the live sockets' sessions"),
        }
    }
}

/// `GET /api/v1/live`: authenticates (bearer header or session cookie, never a token in the URL)
/// before the upgrade, so a bad or missing session is a plain 401. A request that is not a WebSocket upgrade gets a JSON error.
async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
    readings: Option<Extension<StoredFeed>>,
    query: Result<Query<LiveQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let officer = auth::officer_of(&state, &headers).await?;
    let query = query.map_err(|e| ApiError::Status(e.status(), e.body_text()))?;
    let feeds = Feeds::parse(query.feeds.as_deref()).map_err(ApiError::bad_request)?;
    let ws = ws.map_err(|e| ApiError::Status(e.status(), e.body_text()))?;
    let slot = SocketSlot::take(&state, &officer)?;
    let scope = scope_codes(&state, &officer.division_code).await?;
    // Subscribe before the upgrade: nothing published after the `ready` message is missed. A
    // socket reads only the channels of its feeds: one that shows no warnings is never woken
    // by a warning change.
    let channels = Channels {
        warnings: feeds.has(Feed::Warnings).then(|| state.live.subscribe()),
        incidents: feeds
            .reads_incident_channel()
            .then(|| state.incidents.subscribe()),
        readings: Readings::new(
            readings.as_deref().filter(|_| feeds.has(Feed::Readings)),
            scope.clone(),
        ),
    };
    // A client says little (receipts, the sensors a site view watches): a read buffer of 4 KiB,
    // grown when a message needs it, instead of 128 KiB per socket, most of an idle socket's
    // memory.
    Ok(ws
        .read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| async move {
            // On the sockets' own runtime: a warning change wakes every socket at once, and on the
            // request runtime each step of a sign-in or an acknowledgement would then wait behind
            // all of them in the run queue.
            let served = sockets_runtime().spawn(async move {
                serve_socket(socket, state, officer, &slot, scope, feeds, channels).await;
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

/// The in-process channels one socket reads: only those of its feeds (`None`: not read).
struct Channels {
    warnings: Option<broadcast::Receiver<Arc<LiveWarning>>>,
    incidents: Option<broadcast::Receiver<Arc<IncidentChanged>>>,
    /// Without the `readings` feed, one with no stored feed: it never wakes.
    readings: Readings,
}

/// The next message of a channel the socket reads; never, for one it does not.
async fn recv_if_read<T: Clone>(
    rx: &mut Option<broadcast::Receiver<T>>,
) -> Result<T, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next warning message for a socket with the `warnings` feed; never, for one without.
async fn next_warning(
    rx: &mut Option<broadcast::Receiver<Arc<LiveWarning>>>,
    scope: &HashSet<String>,
) -> Outgoing {
    match rx {
        Some(rx) => next_outgoing(rx, scope).await,
        None => std::future::pending().await,
    }
}

/// Returns when the person's notifications may have changed; never, without the feed.
async fn app_wake(app: &mut Option<AppChannel>) {
    match app {
        Some(app) => app.wake().await,
        None => std::future::pending().await,
    }
}

async fn serve_socket(
    mut socket: WebSocket,
    state: AppState,
    officer: Officer,
    slot: &SocketSlot,
    scope: HashSet<String>,
    feeds: Feeds,
    channels: Channels,
) {
    let Channels {
        warnings: mut rx,
        mut incidents,
        mut readings,
    } = channels;
    let send_timeout = Duration::from_secs(state.settings.live_send_timeout_s.max(1));
    let hello = LiveMessage::Ready {
        officer: &officer.username,
        divisions: scope.len(),
        feeds: feeds.names(),
    };
    if send(&mut socket, hello.text(), send_timeout).await.is_err() {
        return;
    }
    tracing::debug!(officer = %officer.username, "live socket open");
    let mut app = feeds
        .has(Feed::Notifications)
        .then(|| AppChannel::new(&state, PersonId(officer.person_id)));
    let ended = slot.ended();
    tokio::pin!(ended);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            out = next_warning(&mut rx, &scope) => match out {
                Outgoing::Text(text) => {
                    if send(&mut socket, text, send_timeout).await.is_err() {
                        tracing::info!(officer = %officer.username, "live socket too slow or gone: closed");
                        return;
                    }
                }
                Outgoing::Closed => break,
            },
            change = recv_if_read(&mut incidents) => match change {
                Ok(c) if feeds.has(Feed::of(c.what)) && scope.contains(&c.division) => {
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
            _ = app_wake(&mut app) => {
                let due = match app.as_mut() {
                    Some(app) => app.due().await,
                    None => Vec::new(),
                };
                for text in due {
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
                    let watch = is_watch(&text);
                    let replies = match (watch, app.as_mut()) {
                        (true, _) if feeds.has(Feed::Readings) => {
                            readings.client_text(&state.pool, &text).await
                        }
                        (false, Some(app)) => app.receive(&text).await.into_iter().collect(),
                        // Nothing is read or stored for a feed the socket does not carry.
                        _ => {
                            let feed = if watch { Feed::Readings } else { Feed::Notifications };
                            let message = format!(
                                "this live socket does not carry the `{}` feed (open it with ?feeds=...,{})",
                                feed.name(),
                                feed.name()
                            );
                            vec![LiveMessage::Error { message: &message }.text()]
                        }
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
            _ = &mut ended => {
                let _ = send(&mut socket, LiveMessage::SessionEnded.text(), send_timeout).await;
                break;
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

    #[test]
    fn a_client_gets_the_feeds_it_names_every_feed_when_it_names_none_and_a_refusal_for_an_unknown_one()
     {
        let field = Feeds::parse(Some("notifications, incidents")).unwrap();
        assert_eq!(field.names(), ["incidents", "notifications"]);
        assert!(!field.has(Feed::Warnings) && !field.has(Feed::Readings));
        assert!(field.reads_incident_channel());
        assert!(
            !Feeds::parse(Some("notifications"))
                .unwrap()
                .reads_incident_channel()
        );
        assert_eq!(Feeds::parse(None), Ok(Feeds::ALL));
        assert_eq!(Feeds::ALL.names().len(), Feed::ALL.len());
        let all = Feed::ALL.map(Feed::name).join(",");
        assert_eq!(Feeds::parse(Some(&all)), Ok(Feeds::ALL));
        let refused = Feeds::parse(Some("warnings,maps")).unwrap_err();
        assert!(
            refused.contains("`maps`") && refused.contains("warnings, incidents, deliveries"),
            "{refused}"
        );
        assert!(Feeds::parse(Some("")).is_err() && Feeds::parse(Some(" , ")).is_err());
        // A long name is not echoed whole.
        assert!(Feeds::parse(Some(&"x".repeat(5000))).unwrap_err().len() < 300);
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
