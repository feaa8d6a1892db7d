//! What every handler shares.

use std::sync::Arc;

use geohazard_protocol::warning::Warning;
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
    /// HTTP connections open at once, at most (WebSockets included); more are closed at once.
    /// Keep it well below the process's open-file limit.
    pub max_connections: usize,
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
    /// How often a live socket's session is checked again (sign-out, expiry, disabled), seconds.
    pub live_recheck_s: u64,
    /// Live sockets one session may have open at once; more are refused (429).
    pub live_max_sockets_per_session: usize,
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
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            session_ttl_s: 12 * 3600,
            max_connections: 1000,
            idle_timeout_s: 20,
            request_timeout_s: 30,
            body_limit_bytes: 64 * 1024,
            live_queue: 1024,
            live_send_timeout_s: 10,
            live_recheck_s: 60,
            live_max_sockets_per_session: 4,
            login_max_failures: 5,
            login_max_failures_per_address: 30,
            login_window_s: 15 * 60,
            login_max_concurrent_hashes: 4,
            login_hash_wait_ms: 1000,
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
    pub live: broadcast::Sender<Arc<Warning>>,
    /// Warning changes made here (acknowledgements) to publish on MQTT; `None` without a broker.
    pub outbox: Option<Outbox>,
    /// Cancelled at shutdown: live sockets close.
    pub shutdown: CancellationToken,
    /// Bounds the password checks running at once.
    pub hashing: Arc<tokio::sync::Semaphore>,
    pub login_stats: crate::auth::LoginStats,
    /// Open live sockets per session.
    pub live_sockets: crate::live::SocketCount,
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
    ) -> AppState {
        let (live, _) = broadcast::channel(settings.live_queue.max(1));
        let hashing = Arc::new(tokio::sync::Semaphore::new(
            settings.login_max_concurrent_hashes.max(1),
        ));
        AppState(Arc::new(Inner {
            pool,
            settings,
            live,
            outbox,
            shutdown,
            live_sockets: Default::default(),
            hashing,
            login_stats: Default::default(),
        }))
    }
}
