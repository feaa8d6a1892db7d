//! What every handler shares: the settings, the pool, the live feed, and the counters that
//! sign-in and the live sockets keep. A leaf below the handlers: it imports none of them
//! (only the broker key settings' type).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard};

use geohazard_warnings::Outbox;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Settings of the API itself (the `[command_center]` section's HTTP part).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// How long a session lasts from sign-in, seconds (default 12 h: a duty shift).
    pub session_ttl_s: u64,
    /// HTTP connections open at once, at most, of every kind (kept below the process's
    /// open-file limit, raised to its hard limit at start). When all are taken, the connection
    /// idle longest is closed for a new one.
    pub max_connections: usize,
    /// Connections one address may have open at once; more are closed at once.
    pub max_connections_per_address: usize,
    /// Requests being answered at once; more wait up to 2 s, then get 503.
    pub max_requests: usize,
    /// WebSockets (live feeds and camera views) open at once; more are answered 503.
    pub max_live_sockets: usize,
    /// A connection that has not sent a complete request head this many seconds after it
    /// opened, or after its previous answer, is closed.
    pub idle_timeout_s: u64,
    /// A request (headers and body) must have arrived and been answered within this many
    /// seconds, else 408.
    pub request_timeout_s: u64,
    /// Largest request body accepted, bytes.
    pub body_limit_bytes: usize,
    /// Warning events a live socket may fall behind by before it is told to resync.
    pub live_queue: usize,
    /// Seconds a live socket may take to accept one message before it is dropped.
    pub live_send_timeout_s: u64,
    /// How often the sessions of the open live sockets are checked again (sign-out, expiry,
    /// disabled officer), seconds: one query for all of them; an ended session's sockets close.
    pub live_recheck_s: u64,
    /// Live sockets one session may have open at once; more are refused (429).
    pub live_max_sockets_per_session: usize,
    /// Open an incident, once per cluster, for every warning that reaches red (else a duty
    /// officer opens one from the warning).
    pub open_incident_on_red: bool,
    /// How often a live socket looks for app notifications of its person besides when a
    /// warning change goes by, milliseconds.
    pub app_notification_poll_ms: u64,
    /// Failed sign-ins for one user name within `login_window_s` after which sign-in is refused
    /// (429) until the window has passed: password guessing gets a handful of tries.
    pub login_max_failures: u32,
    /// Failed sign-ins from one address within the window after which it is refused (higher:
    /// a duty room shares an address).
    pub login_max_failures_per_address: u32,
    pub login_window_s: u64,
    /// Password checks (argon2, ~19 MiB each) running at once, at most.
    pub login_max_concurrent_hashes: usize,
    /// How long a sign-in waits for a password check to be free before it is answered 503
    /// with `Retry-After`, milliseconds.
    pub login_hash_wait_ms: u64,
    /// When a task's assignment goes out by SMS besides the app: `at_once`, `unconfirmed`
    /// (when no client confirmed it within the notifier's `app_fallback_s`), `never`.
    pub task_sms: geohazard_notify::TaskSms,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            session_ttl_s: 12 * 3600,
            max_connections: 30_000,
            max_connections_per_address: 512,
            max_requests: 512,
            max_live_sockets: 20_000,
            idle_timeout_s: 20,
            request_timeout_s: 30,
            body_limit_bytes: 64 * 1024,
            live_queue: 1024,
            live_send_timeout_s: 10,
            live_recheck_s: 60,
            live_max_sockets_per_session: 4,
            app_notification_poll_ms: 5_000,
            open_incident_on_red: false,
            login_max_failures: 5,
            login_max_failures_per_address: 30,
            login_window_s: 15 * 60,
            login_max_concurrent_hashes: 4,
            login_hash_wait_ms: 1000,
            task_sms: geohazard_notify::TaskSms::default(),
        }
    }
}

/// The state behind the router: cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub settings: Settings,
    /// Warning events for the live sockets, fed from MQTT.
    pub live: broadcast::Sender<Arc<crate::feeds::LiveWarning>>,
    /// Whose app notifications are pending, for the live sockets
    /// (`app_channel::run_pending` keeps it).
    pub app_pending: tokio::sync::watch::Sender<Arc<crate::feeds::PendingApp>>,
    /// Incident changes for the live sockets, fed from PostgreSQL notifications.
    pub incidents: broadcast::Sender<Arc<crate::incident_feed::IncidentChanged>>,
    /// Warning changes made here (acknowledgements) to publish on MQTT; `None` without a broker.
    pub outbox: Option<Outbox>,
    /// Cancelled at shutdown: live sockets close.
    pub shutdown: CancellationToken,
    /// Bounds the password checks running at once.
    pub hashing: Arc<tokio::sync::Semaphore>,
    pub login_stats: LoginStats,
    /// Open live sockets per session.
    pub live_sockets: SocketCount,
    /// Where gateways' keys go for the broker.
    pub gateway_keys: crate::gateway_broker::GatewayKeySettings,
}

/// Password checks running now, the most ever at once, and sign-ins refused because the
/// checks were all busy: argon2 takes ~19 MiB each, so their number is bounded.
#[derive(Debug, Default)]
pub struct LoginStats {
    pub hashing_now: AtomicUsize,
    pub hashing_peak: AtomicUsize,
    pub refused_busy: AtomicU64,
}

/// The live sockets open per session (by token hash), each session with the token that ends
/// them: one check per interval for every session with sockets open (`live::run_session_checks`)
/// cancels it when the session was signed out, expired or its officer disabled.
#[derive(Default)]
pub struct SocketCount(Mutex<HashMap<Vec<u8>, (usize, CancellationToken)>>);

impl SocketCount {
    fn lock(&self) -> MutexGuard<'_, HashMap<Vec<u8>, (usize, CancellationToken)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one more socket of `session`, unless it has `max` open already: the token
    /// cancelled when the session ends.
    pub fn take(&self, session: &[u8], max: usize) -> Option<CancellationToken> {
        let mut open = self.lock();
        let (count, ended) = open.entry(session.to_vec()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ended.clone())
    }

    /// Live sockets open now, over every session: the consoles and field apps connected.
    pub fn open(&self) -> usize {
        self.lock().values().map(|(count, _)| count).sum()
    }

    /// The sessions with sockets open and not yet ended.
    pub fn sessions(&self) -> Vec<Vec<u8>> {
        self.lock()
            .iter()
            .filter(|(_, (_, ended))| !ended.is_cancelled())
            .map(|(session, _)| session.clone())
            .collect()
    }

    /// Ends every socket of `session`: each is told and closes.
    pub fn end(&self, session: &[u8]) {
        if let Some((_, ended)) = self.lock().get(session) {
            ended.cancel();
        }
    }

    /// Gives back a place [`SocketCount::take`] counted.
    pub fn release(&self, session: &[u8]) {
        let mut open = self.lock();
        if let Some((count, _)) = open.get_mut(session) {
            *count -= 1;
            if *count == 0 {
                open.remove(session);
            }
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        pool: PgPool,
        settings: Settings,
        outbox: Option<Outbox>,
        shutdown: CancellationToken,
        gateway_keys: crate::gateway_broker::GatewayKeySettings,
    ) -> AppState {
        let (live, _) = broadcast::channel(settings.live_queue.max(1));
        let (incidents, _) = broadcast::channel(settings.live_queue.max(1));
        let hashing = Arc::new(tokio::sync::Semaphore::new(
            settings.login_max_concurrent_hashes.max(1),
        ));
        AppState(Arc::new(Inner {
            pool,
            settings,
            live,
            app_pending: tokio::sync::watch::Sender::new(Default::default()),
            incidents,
            outbox,
            shutdown,
            live_sockets: Default::default(),
            hashing,
            login_stats: Default::default(),
            gateway_keys,
        }))
    }
}
