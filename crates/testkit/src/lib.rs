//! Real services for tests. Every test gets its own broker process on a free port (so tests run
//! in parallel and one may restart its broker), and its own fresh database.

#[cfg(feature = "api")]
pub mod api;
pub mod broker;
#[cfg(feature = "browser")]
pub mod browser;
pub mod database;
pub mod fixtures;
pub mod netns;
mod world;

pub use broker::Broker;
pub use database::{TestDb, storage_modes};
pub use world::{World, publish_warning, publisher};

use std::net::TcpListener;
use std::time::Duration;

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the loopback interface gives out ports")
}

/// Nothing accepted connections on a port in time.
#[derive(Debug, thiserror::Error)]
#[error("nothing listens on 127.0.0.1:{port} after {timeout:?}")]
pub struct NotListening {
    pub port: u16,
    pub timeout: Duration,
}

/// Waits until something accepts TCP connections on `port`.
pub async fn wait_for_port(port: u16, timeout: Duration) -> Result<(), NotListening> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(NotListening { port, timeout });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops a process the way an operator or systemd does (SIGTERM) and waits at most `timeout`
/// for it to exit; `None` if it did not.
pub async fn terminate(
    child: &mut tokio::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
    }
    tokio::time::timeout(timeout, child.wait())
        .await
        .ok()
        .and_then(Result::ok)
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
