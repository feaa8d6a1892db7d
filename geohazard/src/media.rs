//! The all-in-one's media server for consultation rooms: Debian's Janus, configured in
//! `{data_dir}/janus/`, its REST API on loopback only (only the command-center talks to it),
//! its media on the machine's own addresses. Janus missing or failing to start is not fatal:
//! the rooms then have chat, the shared map and the decision log, without video.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use geohazard_runtime::janus::{self, JanusFiles};
use serde::{Deserialize, Serialize};
use tokio::process::Child;
use tokio_util::sync::CancellationToken;

/// `[embedded_media]`: Janus started by the all-in-one unless
/// `[command_center.consult] janus_url` names one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaSettings {
    pub enabled: bool,
    /// Port of Janus's REST API (loopback only).
    pub port: u16,
    /// The UDP ports its media uses, first and last.
    pub rtp_ports: (u16, u16),
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            enabled: true,
            port: 18088,
            rtp_ports: (20000, 20999),
        }
    }
}

/// A running Janus: its REST URL and the video-room plugin's admin key for the command-center.
pub struct EmbeddedMedia {
    child: Child,
    pub url: String,
    pub admin_key: String,
}

/// Starts Janus and waits until its REST API listens; `None` (with the reason logged) when it
/// is not installed or does not come up.
pub async fn start(data_dir: &Path, settings: &MediaSettings) -> Option<EmbeddedMedia> {
    if !settings.enabled {
        return None;
    }
    match spawn(data_dir, settings).await {
        Ok(media) => {
            tracing::info!(url = %media.url, "embedded media server (Janus) listening");
            Some(media)
        }
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "no media server: consultation rooms have chat, map and decisions but no video"
            );
            None
        }
    }
}

async fn spawn(data_dir: &Path, settings: &MediaSettings) -> anyhow::Result<EmbeddedMedia> {
    let binary = janus::binary();
    anyhow::ensure!(
        binary.exists(),
        "{} is not installed (package janus; run deploy/install-deps.sh)",
        binary.display()
    );
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], settings.port));
    let files = JanusFiles::write(&data_dir.join("janus"), listen, settings.rtp_ports)
        .context("writing Janus's configuration")?;
    let log_path = files.dir.join("janus.log");
    let mut child = tokio::process::Command::new(&binary)
        .args(files.args())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log_path)?)
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(listen).await.is_err() {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("Janus stopped at start ({status}):\n{}", log());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "Janus did not listen on {listen} within 20 s:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(EmbeddedMedia {
        child,
        url: files.url(),
        admin_key: files.admin_key,
    })
}

impl EmbeddedMedia {
    /// Runs until shutdown, then stops Janus. Janus ending on its own is logged, not fatal:
    /// rooms lose their video, monitoring goes on.
    pub async fn supervise(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            status = self.child.wait() => {
                tracing::error!(
                    status = ?status,
                    "the media server (Janus) stopped: consultation rooms have no video until \
                     the all-in-one restarts"
                );
                shutdown.cancelled().await;
            }
        }
        let _ = self.child.kill().await;
        Ok(())
    }
}
