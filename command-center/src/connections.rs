//! The HTTP server's connections: how many may be open, by whom, for what, and how long one
//! may stay open without asking anything.
//!
//! A connection must send a complete request head within `idle_timeout_s` of opening, and
//! again within `idle_timeout_s` of its previous answer (hyper's header-read timeout covers both
//! the idle keep-alive wait and headers that trickle in); a request must be answered within
//! `request_timeout_s` (a body that trickles in ends with 408).
//!
//! Three budgets, so that no kind of use crowds out another:
//! - open connections, at most `max_connections` (kept below the process's file limit, which
//!   is raised to its hard limit at start) and `max_connections_per_address` from one address.
//!   When all are taken, the connection idle longest (no request in progress, not a WebSocket)
//!   is closed for the new one: idle sockets, however many, never keep a sign-in out;
//! - requests being answered, at most `max_requests`; more wait a moment, then get 503;
//! - WebSockets (live feeds and camera views), at most `max_live_sockets` and nine tenths of
//!   the connections (the rest stay for requests), taken at the upgrade and held until the
//!   socket closes; more are answered 503. Sessions have their own limits
//!   (live sockets, camera views).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::state::Settings;

/// File descriptors kept for everything else: the database pool, the broker, frame files.
const RESERVED_FILES: usize = 256;

/// Raises the soft open-file limit to the hard one and returns it: each connection is a file.
pub fn raise_file_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
}

/// Who holds the open connections, and which of them are idle, oldest first.
#[derive(Default)]
struct Table {
    open: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Idle connections by when they became idle (a counter), each with its closer.
    idle: BTreeMap<u64, CancellationToken>,
    next: u64,
}

/// The open connections' budget, shared by the accept loop and every connection.
struct Budget {
    table: Mutex<Table>,
    max_open: usize,
    max_per_address: usize,
}

impl Budget {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection from `ip`, idle until its first request; when all are
    /// taken, the connection idle longest is closed for it. `None`: refused.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Place> {
        let mut t = self.table();
        if t.per_address.get(&ip).copied().unwrap_or(0) >= self.max_per_address {
            return None;
        }
        if t.open >= self.max_open {
            // It gives its place back as it closes, a moment after this one took it.
            let (_, closer) = t.idle.pop_first()?;
            closer.cancel();
        }
        t.open += 1;
        *t.per_address.entry(ip).or_default() += 1;
        let closer = CancellationToken::new();
        let key = t.next;
        t.next += 1;
        t.idle.insert(key, closer.clone());
        Some(Place {
            budget: self.clone(),
            ip,
            closer,
            idle_key: Mutex::new(Some(key)),
        })
    }
}

/// One connection's place: idle or busy, and its closer (cancelled when it is closed to make
/// room). Given back when the connection ends.
struct Place {
    budget: Arc<Budget>,
    ip: IpAddr,
    closer: CancellationToken,
    idle_key: Mutex<Option<u64>>,
}

impl Place {
    /// A request started: not idle.
    fn busy(&self) {
        let key = self
            .idle_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(key) = key {
            self.budget.table().idle.remove(&key);
        }
    }

    /// A request was answered: idle again, the newest idle.
    fn idle(&self) {
        if self.closer.is_cancelled() {
            return;
        }
        let mut t = self.budget.table();
        let key = t.next;
        t.next += 1;
        t.idle.insert(key, self.closer.clone());
        *self.idle_key.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let key = self
            .idle_key
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let mut t = self.budget.table();
        if let Some(key) = key {
            t.idle.remove(&key);
        }
        t.open = t.open.saturating_sub(1);
        if let Some(n) = t.per_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.per_address.remove(&self.ip);
            }
        }
    }
}

/// A connection with its place in the budgets: the places are given back when the socket
/// closes, also after a WebSocket upgrade has taken it over.
struct Counted {
    stream: TcpStream,
    _place: Arc<Place>,
    /// Its WebSocket place, once upgraded.
    _socket: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}
impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Whether a request asks to become a WebSocket.
fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// 503 with `Retry-After`, for a budget that is used up.
fn busy(what: &str) -> Response {
    let mut r = ApiError::Status(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("服务繁忙，请稍后重试 / too many {what} at once, try again shortly"),
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// The connections' budgets from the settings, within the process's file limit.
struct Budgets {
    connections: Arc<Budget>,
    requests: Arc<Semaphore>,
    sockets: Arc<Semaphore>,
}

impl Budgets {
    fn new(settings: &Settings) -> Budgets {
        let files = raise_file_limit();
        let max_open = settings
            .max_connections
            .min(files.saturating_sub(RESERVED_FILES))
            .max(1);
        if max_open < settings.max_connections {
            tracing::warn!(
                configured = settings.max_connections,
                max_open,
                files,
                "the open-file limit allows fewer connections than configured"
            );
        }
        Budgets {
            connections: Arc::new(Budget {
                table: Mutex::default(),
                max_open,
                max_per_address: settings.max_connections_per_address.max(1),
            }),
            requests: Arc::new(Semaphore::new(settings.max_requests.max(1))),
            // A tenth of the connections stays for requests: open sockets never use them all.
            sockets: Arc::new(Semaphore::new(
                settings
                    .max_live_sockets
                    .min(max_open - max_open / 10)
                    .max(1),
            )),
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish (for at most
/// 30 s).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let budgets = Budgets::new(settings);
    let idle_timeout = Duration::from_secs(settings.idle_timeout_s.max(1));
    let request_timeout = Duration::from_secs(settings.request_timeout_s.max(1));
    // Every connection's task holds a clone; shutdown waits until they are all gone.
    let tasks = Arc::new(());
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of files, most likely: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Some(place) = budgets.connections.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection limit reached: connection closed");
            continue;
        };
        let place = Arc::new(place);
        let socket_place = Arc::new(Mutex::new(None));
        let _ = stream.set_nodelay(true);
        let closer = place.closer.clone();
        let io = TokioIo::new(Counted {
            stream,
            _place: place.clone(),
            _socket: socket_place.clone(),
        });
        let (app, requests, sockets) = (
            app.clone(),
            budgets.requests.clone(),
            budgets.sockets.clone(),
        );
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (app, requests, sockets) = (app.clone(), requests.clone(), sockets.clone());
            let (place, socket_place) = (place.clone(), socket_place.clone());
            async move {
                place.busy();
                let budgets = (&requests, &sockets);
                let (response, upgraded) =
                    answer(req, peer, app, budgets, &socket_place, request_timeout).await;
                // A WebSocket is never idle: it is not closed to make room.
                if !upgraded {
                    place.idle();
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(idle_timeout);
        let (stop, task) = (shutdown.clone(), tasks.clone());
        tokio::spawn(async move {
            let _task = task;
            let connection = builder.serve_connection(io, service).with_upgrades();
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                // Closed to make room: it was idle, nothing is lost.
                _ = closer.cancelled() => Ok(()),
                _ = stop.cancelled() => {
                    // Finish the request in progress, if any, then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    // Requests in progress finish (a connection's task ends at its upgrade; live sockets close
    // at shutdown on their own).
    let finished = async {
        while Arc::strong_count(&tasks) > 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), finished)
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish within 30 s of shutdown");
    }
    Ok(())
}

/// One request's answer within the request budget, and whether the connection became a
/// WebSocket: then it took a place in the sockets' budget, kept in `socket_place` for as long
/// as the socket is open.
async fn answer(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    app: Router,
    (requests, sockets): (&Arc<Semaphore>, &Arc<Semaphore>),
    socket_place: &Mutex<Option<OwnedSemaphorePermit>>,
    request_timeout: Duration,
) -> (Response, bool) {
    // A burst waits a moment for a place rather than being refused at once.
    let Ok(Ok(_request_place)) =
        tokio::time::timeout(Duration::from_secs(2), requests.clone().acquire_owned()).await
    else {
        return (busy("requests"), false);
    };
    let upgrade = if is_upgrade(&req) {
        match sockets.clone().try_acquire_owned() {
            Ok(place) => Some(place),
            Err(_) => return (busy("live connections"), false),
        }
    } else {
        None
    };
    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
    let response = match tokio::time::timeout(request_timeout, app.oneshot(req)).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => ApiError::Status(
            StatusCode::REQUEST_TIMEOUT,
            "the request took too long to arrive".into(),
        )
        .into_response(),
    };
    let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if upgraded && let Some(place) = upgrade {
        *socket_place.lock().unwrap_or_else(|e| e.into_inner()) = Some(place);
    }
    (response, upgraded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in raise_file_limit.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
            let lowered = libc::rlimit {
                rlim_cur: limit.rlim_max.min(256),
                rlim_max: limit.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lowered), 0);
        }
        assert_eq!(raise_file_limit() as u64, limit.rlim_max);
    }
}
