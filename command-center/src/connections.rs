//! The HTTP server's connections: how many may be open, and how long one may stay open
//! without asking anything.
//!
//! A connection must send a complete request head within `idle_timeout_s` of opening, and
//! again within `idle_timeout_s` of its previous answer (hyper's header-read timeout covers both
//! the idle keep-alive wait and headers that trickle in); a request must be answered within
//! `request_timeout_s` (a body that trickles in ends with 408). At most `max_connections` are
//! open at once, WebSockets included: more are closed as soon as they are accepted, so idle
//! clients can never use up the process's files and `/healthz` keeps answering.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::state::Settings;

/// A connection with its place under the cap: the place is given back when the socket closes,
/// also after a WebSocket upgrade has taken it over.
struct Counted {
    stream: TcpStream,
    _place: OwnedSemaphorePermit,
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

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish (for at most
/// 30 s).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let places = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let idle_timeout = Duration::from_secs(settings.idle_timeout_s.max(1));
    let request_timeout = Duration::from_secs(settings.request_timeout_s.max(1));
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
        let Ok(place) = places.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached: connection closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Counted {
            stream,
            _place: place,
        });
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let app = app.clone();
            async move {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                let answer = tokio::time::timeout(request_timeout, app.oneshot(req)).await;
                Ok::<_, std::convert::Infallible>(match answer {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => ApiError::Status(
                        StatusCode::REQUEST_TIMEOUT,
                        "the request took too long to arrive".into(),
                    )
                    .into_response(),
                })
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(idle_timeout);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let connection = builder.serve_connection(io, service).with_upgrades();
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
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
    // Every connection gives its place back when it closes (live sockets close at shutdown too).
    let all = u32::try_from(settings.max_connections.max(1)).unwrap_or(u32::MAX);
    if tokio::time::timeout(Duration::from_secs(30), places.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish within 30 s of shutdown");
    }
    Ok(())
}
