//! Camera frames at the center.
//!
//! A consumer of `gh/v1/gw/+/video/#` checks every frame (a whole JPEG, within
//! `max_frame_bytes`, from a registered gateway), writes it to the frame store on disk and
//! indexes it in `video_frames`; anything else is quarantined with its reason, like refused
//! telemetry, and counted. Retention deletes frames by age and by total size. Officers read a
//! camera's latest frame and its frames over a time range, and watch a live view: the center
//! sends the bridge's `live_view` command and relays the frames over a WebSocket, rate-capped,
//! until the officer stops or the time is up; every start is audited. When a hazard warning is
//! raised or escalated to orange or red, the site's gateways are asked for a `snapshot`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use geohazard_bus::rumqttc::{AsyncClient, QoS};
use geohazard_bus::{Bus, BusConfig, Qos};
use geohazard_protocol::command::{Command, LiveViewAction, LiveViewArgs, SnapshotArgs};
use geohazard_protocol::topic::{ALL_VIDEO, Topic};
use geohazard_protocol::warning::{WarningCategory, WarningLevel, WarningTransition};
use geohazard_runtime::Backoff;
use geohazard_store::quarantine::{self, QuarantineReason, QuarantineRow};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::audit::{self, Entry};
use crate::auth::{self, Officer, RemoteAddr};
use crate::console::{gateway_in_scope, require_site};
use crate::error::{ApiError, Id, Params};
use crate::state::AppState;

/// The `[command_center.video]` configuration section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct VideoSettings {
    /// The frame store's folder.
    pub dir: PathBuf,
    /// Frames older than this are deleted, hours.
    pub max_age_h: u64,
    /// When the store holds more than this, the oldest frames are deleted, bytes: checked as
    /// each frame is written (and by the retention run).
    pub max_total_bytes: u64,
    /// Bytes of frames one gateway may have stored per minute; the excess is refused (and
    /// counted in one quarantine row per camera, reason `rate_exceeded`).
    pub max_gateway_bytes_per_minute: u64,
    /// Larger frames are refused (and quarantined with the reason), bytes.
    pub max_frame_bytes: usize,
    /// A live view sends a console at most this many frames per second.
    pub live_max_fps: f64,
    /// A live view ends after this long unless stopped before, seconds (the bridge allows 600).
    pub live_max_s: u64,
    /// Live views one session may have open at once; more are refused (429).
    pub live_max_views_per_session: usize,
    /// Live views of one camera open at once (they share its one capture); more are refused.
    pub live_max_viewers_per_camera: usize,
    /// How often retention runs, seconds.
    pub retention_every_s: u64,
    /// The frame consumer's MQTT client id. Its session is kept, so snapshots sent while the
    /// command-center is down wait at the broker and are stored when it returns.
    pub client_id: String,
    /// Several command-centers share the frames (`$share/{group}/…`), each with its own
    /// `client_id`; none: this one takes them all.
    pub shared_group: Option<String>,
}

impl Default for VideoSettings {
    fn default() -> VideoSettings {
        VideoSettings {
            dir: PathBuf::from("var/frames"),
            max_age_h: 30 * 24,
            max_total_bytes: 20 << 30,
            // 1 MiB/s: a live view at 5 fps of 200 kB frames, with snapshots besides.
            max_gateway_bytes_per_minute: 64 << 20,
            max_frame_bytes: 2 << 20,
            live_max_fps: 2.0,
            live_max_s: 120,
            live_max_views_per_session: 4,
            live_max_viewers_per_camera: 32,
            retention_every_s: 300,
            client_id: "geohazard-command-center-video".to_owned(),
            shared_group: None,
        }
    }
}

/// One frame as it arrived.
#[derive(Debug)]
struct Frame {
    gateway: String,
    camera: String,
    jpeg: Bytes,
}

/// The video service the handlers share.
pub struct Video {
    settings: VideoSettings,
    /// For commands to gateways.
    client: AsyncClient,
    /// Every accepted frame, for live views.
    frames: broadcast::Sender<Arc<Frame>>,
    /// Frames stored, and frames refused (not a JPEG, too large, unknown gateway).
    pub(crate) stored: AtomicU64,
    pub(crate) refused: AtomicU64,
    /// Warnings whose snapshot this replica claimed, and those another replica had claimed.
    pub(crate) snapshots_asked: AtomicU64,
    pub(crate) snapshots_left: AtomicU64,
    /// Live views open per camera and per session.
    views: std::sync::Mutex<Views>,
    /// Bytes stored per gateway in its current minute.
    rates: std::sync::Mutex<HashMap<String, (tokio::time::Instant, u64)>>,
    /// Bytes the frame store holds (`None`: not read from the database yet).
    held: tokio::sync::Mutex<Option<u64>>,
    /// Cancelled once the frame consumer has stopped: what it took is stored and acknowledged,
    /// and it has left the broker.
    consumer_stopped: CancellationToken,
}

/// Live views open per (gateway, camera) — the last one to close tells the bridge to stop —
/// and per session (by token hash).
#[derive(Default)]
struct Views {
    per_camera: HashMap<(String, String), usize>,
    per_session: HashMap<Vec<u8>, usize>,
}

/// One open live view's place; given back when dropped.
struct ViewSlot {
    video: Arc<Video>,
    camera: (String, String),
    session: Vec<u8>,
    released: bool,
}

impl ViewSlot {
    /// A place for one more view of `camera` by `officer`'s session, or 429 when the session or
    /// the camera has its maximum open.
    fn take(
        video: &Arc<Video>,
        officer: &Officer,
        camera: (String, String),
    ) -> Result<ViewSlot, ApiError> {
        let s = &video.settings;
        let mut views = video.views();
        let (session_max, camera_max) = (
            s.live_max_views_per_session.max(1),
            s.live_max_viewers_per_camera.max(1),
        );
        let refused = if views
            .per_session
            .get(&officer.token_hash)
            .copied()
            .unwrap_or(0)
            >= session_max
        {
            Some(format!(
                "此会话已打开 {session_max} 个实时画面 / this session already has {session_max} live views open"
            ))
        } else if views.per_camera.get(&camera).copied().unwrap_or(0) >= camera_max {
            Some(format!(
                "该摄像头已有 {camera_max} 个实时画面 / this camera already has {camera_max} live views open"
            ))
        } else {
            None
        };
        if let Some(message) = refused {
            return Err(ApiError::RetryLater {
                status: StatusCode::TOO_MANY_REQUESTS,
                message,
                retry_after_s: 10,
            });
        }
        *views
            .per_session
            .entry(officer.token_hash.clone())
            .or_default() += 1;
        *views.per_camera.entry(camera.clone()).or_default() += 1;
        Ok(ViewSlot {
            video: video.clone(),
            camera,
            session: officer.token_hash.clone(),
            released: false,
        })
    }

    /// Gives the place back; whether it was the camera's last view.
    fn release(mut self) -> bool {
        self.give_back()
    }

    fn give_back(&mut self) -> bool {
        if self.released {
            return false;
        }
        self.released = true;
        let mut views = self.video.views();
        decrement(&mut views.per_session, &self.session);
        decrement(&mut views.per_camera, &self.camera)
    }
}

impl Drop for ViewSlot {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// One less under `key`; whether none is left.
fn decrement<K: std::hash::Hash + Eq + Clone>(counts: &mut HashMap<K, usize>, key: &K) -> bool {
    let n = counts.get(key).copied().unwrap_or(1).saturating_sub(1);
    if n == 0 {
        counts.remove(key);
    } else {
        counts.insert(key.clone(), n);
    }
    n == 0
}

impl Video {
    /// Counts `bytes` more from `gateway` in its current minute, unless that would pass the
    /// limit: then `false`, and nothing is counted.
    fn within_rate(&self, gateway: &str, bytes: u64) -> bool {
        let now = tokio::time::Instant::now();
        let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        let (since, used) = rates.entry(gateway.to_owned()).or_insert((now, 0));
        if now.duration_since(*since) >= Duration::from_secs(60) {
            (*since, *used) = (now, 0);
        }
        if *used + bytes > self.settings.max_gateway_bytes_per_minute {
            return false;
        }
        *used += bytes;
        true
    }

    fn views(&self) -> std::sync::MutexGuard<'_, Views> {
        self.views.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the frame consumer has stopped (after the shutdown it was started with).
    pub async fn stopped(&self) {
        self.consumer_stopped.cancelled().await;
    }
}

/// Why a frame is refused, as the quarantine names it, or `None` when it is acceptable.
fn check_frame(jpeg: &[u8], max_bytes: usize) -> Option<(QuarantineReason, String)> {
    if jpeg.len() > max_bytes {
        return Some((
            QuarantineReason::FrameTooLarge,
            format!("{} bytes, more than the {max_bytes} allowed", jpeg.len()),
        ));
    }
    // A whole JPEG: start-of-image, a marker, and end-of-image.
    if jpeg.len() < 4 || jpeg[..3] != [0xFF, 0xD8, 0xFF] || jpeg[jpeg.len() - 2..] != [0xFF, 0xD9] {
        return Some((
            QuarantineReason::FrameNotJpeg,
            "not a whole JPEG image (no SOI/EOI markers)".to_owned(),
        ));
    }
    None
}

fn frame_path(gateway: &str, camera: &str, captured_at_ms: i64) -> String {
    format!("{gateway}/{camera}/{captured_at_ms}.jpg")
}

/// Starts the frame consumer, retention and the snapshot-on-warning task.
pub async fn start(
    settings: VideoSettings,
    pool: PgPool,
    mqtt_url: &str,
    warnings: broadcast::Sender<Arc<crate::feeds::LiveWarning>>,
    shutdown: CancellationToken,
) -> anyhow::Result<Arc<Video>> {
    // A kept session: what is taken is acknowledged only once stored, and the broker keeps
    // QoS 1 snapshots for us while we are away (live frames, QoS 0, are not kept).
    let mut config = BusConfig::new(mqtt_url, settings.client_id.clone());
    // Oversized frames must still arrive, to be refused with a reason rather than cut the link.
    config.max_packet_bytes = config.max_packet_bytes.max(settings.max_frame_bytes * 4);
    let filter = geohazard_bus::shared_subscription(settings.shared_group.as_deref(), ALL_VIDEO);
    let mut bus = Bus::start(&config, vec![(filter, Qos::AtLeastOnce)], None, 256)?;
    if let Err(e) = bus.wait_subscribed(Duration::from_secs(10)).await {
        tracing::warn!(error = %e, "the frame consumer is not subscribed yet; it keeps trying");
    }
    let (frames, _) = broadcast::channel(64);
    let video = Arc::new(Video {
        settings,
        client: bus.client().clone(),
        frames,
        stored: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        snapshots_asked: AtomicU64::new(0),
        snapshots_left: AtomicU64::new(0),
        views: Default::default(),
        rates: Default::default(),
        held: Default::default(),
        consumer_stopped: CancellationToken::new(),
    });
    tokio::spawn(consume(bus, video.clone(), pool.clone(), shutdown.clone()));
    tokio::spawn(retention(video.clone(), pool.clone(), shutdown.clone()));
    tokio::spawn(snapshot_on_warning(
        video.clone(),
        pool,
        warnings.subscribe(),
        shutdown,
    ));
    Ok(video)
}

async fn consume(mut bus: Bus, video: Arc<Video>, pool: PgPool, shutdown: CancellationToken) {
    // However it ends.
    let _stopped = video.consumer_stopped.clone().drop_guard();
    let acker = bus.acker();
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = bus.recv() => match d { Some(d) => d, None => break },
        };
        // Nothing is acknowledged before it is stored or quarantined: a database outage
        // retries the frame instead of losing it.
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        loop {
            match accept(&video, &pool, delivery.topic(), delivery.payload()).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "storing a frame; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = backoff.wait() => {}
                    }
                }
            }
        }
        acker.ack(&delivery).await;
    }
    bus.shutdown().await;
}

async fn refuse(
    video: &Video,
    pool: &PgPool,
    topic: &str,
    gateway: Option<&str>,
    reason: QuarantineReason,
    detail: String,
    payload: &[u8],
) -> anyhow::Result<()> {
    tracing::info!(topic, %reason, %detail, "frame refused");
    let mut conn = pool.acquire().await?;
    quarantine::insert(
        &mut conn,
        &[QuarantineRow::new(
            topic, gateway, reason, detail, None, payload,
        )],
    )
    .await?;
    video.refused.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Stores one frame, or quarantines it with the reason.
async fn accept(video: &Video, pool: &PgPool, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
    let (gateway, camera, captured_at_ms) = match Topic::parse(topic) {
        Ok(Topic::Video {
            gateway,
            camera,
            captured_at_ms,
        }) => (gateway, camera, captured_at_ms),
        Ok(_) | Err(_) => {
            return refuse(
                video,
                pool,
                topic,
                None,
                QuarantineReason::InvalidTopic,
                "not a video topic".into(),
                payload,
            )
            .await;
        }
    };
    if let Some((reason, detail)) = check_frame(payload, video.settings.max_frame_bytes) {
        return refuse(video, pool, topic, Some(&gateway), reason, detail, payload).await;
    }
    let known: Option<i64> = sqlx::query_scalar("SELECT id FROM gateways WHERE code = $1")
        .bind(&gateway)
        .fetch_optional(pool)
        .await?;
    // A frame time has the bounds a reading time has: one dated in 2100 would stay its
    // camera's "latest" for good.
    let limits = geohazard_protocol::Limits::default();
    let now_ms = Utc::now().timestamp_millis();
    let in_bounds =
        (limits.min_timestamp_ms..=limits.max_timestamp_ms(now_ms)).contains(&captured_at_ms);
    let Some(captured_at) =
        DateTime::<Utc>::from_timestamp_millis(captured_at_ms).filter(|_| in_bounds)
    else {
        return refuse(
            video,
            pool,
            topic,
            Some(&gateway),
            QuarantineReason::InvalidTimestamp,
            format!("{captured_at_ms} is not a time between 2000 and now"),
            payload,
        )
        .await;
    };
    if known.is_none() {
        return refuse(
            video,
            pool,
            topic,
            Some(&gateway),
            QuarantineReason::UnknownGateway,
            format!("gateway `{gateway}` is not registered"),
            payload,
        )
        .await;
    }
    let bytes = payload.len() as u64;
    if !video.within_rate(&gateway, bytes) {
        // One row per camera, counting repeats: a flood must not fill the quarantine instead.
        let camera_topic = format!("gh/v1/gw/{gateway}/video/{camera}");
        let limit = video.settings.max_gateway_bytes_per_minute;
        let detail = format!("more than {limit} bytes of frames from this gateway in a minute");
        return refuse(
            video,
            pool,
            &camera_topic,
            Some(&gateway),
            QuarantineReason::RateExceeded,
            detail,
            &[],
        )
        .await;
    }
    // The store's size is held at every write, not only by the periodic retention run.
    let mut held = video.held.lock().await;
    let total = match *held {
        Some(total) => total,
        None => stored_bytes(pool).await?,
    };
    *held = Some(if total + bytes > video.settings.max_total_bytes {
        enforce_retention(video, pool, bytes).await?.1
    } else {
        total
    });
    let relative = frame_path(&gateway, &camera, captured_at_ms);
    let path = video.settings.dir.join(&relative);
    write_atomically(&path, payload).await?;
    let inserted = sqlx::query(
        "INSERT INTO video_frames (gateway_code, camera, captured_at, bytes, path)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (gateway_code, camera, captured_at) DO NOTHING",
    )
    .bind(&gateway)
    .bind(&camera)
    .bind(captured_at)
    .bind(payload.len() as i32)
    .bind(&relative)
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 1
        && let Some(total) = held.as_mut()
    {
        *total += bytes;
    }
    drop(held);
    video.stored.fetch_add(1, Ordering::Relaxed);
    let _ = video.frames.send(Arc::new(Frame {
        gateway,
        camera,
        jpeg: Bytes::copy_from_slice(payload),
    }));
    Ok(())
}

/// Writes a file whole or not at all: a reader never sees half a frame.
async fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("a frame path has a folder")?;
    tokio::fs::create_dir_all(dir).await?;
    let tmp = path.with_extension("part");
    tokio::fs::write(&tmp, bytes)
        .await
        .with_context(|| format!("writing {}", tmp.display()))?;
    tokio::fs::rename(&tmp, path).await?;
    Ok(())
}

/// What the frame store holds, bytes.
async fn stored_bytes(pool: &PgPool) -> sqlx::Result<u64> {
    let total: i64 = sqlx::query_scalar("SELECT coalesce(sum(bytes), 0)::int8 FROM video_frames")
        .fetch_one(pool)
        .await?;
    Ok(total as u64)
}

/// Deletes frames older than `max_age_h`, then the oldest until the store is within
/// `max_total_bytes` with `room` bytes to spare; rows and files together. The frames deleted
/// and the bytes the store then holds.
async fn enforce_retention(video: &Video, pool: &PgPool, room: u64) -> anyhow::Result<(u64, u64)> {
    let s = &video.settings;
    let mut deleted = 0;
    loop {
        let rows: Vec<(String,)> = sqlx::query_as(
            "DELETE FROM video_frames WHERE id IN (
                 SELECT id FROM video_frames WHERE captured_at < now() - make_interval(hours => $1)
                 ORDER BY captured_at LIMIT 1000) RETURNING path",
        )
        .bind(s.max_age_h as i32)
        .fetch_all(pool)
        .await?;
        deleted += remove_files(&s.dir, &rows).await;
        if rows.len() < 1000 {
            break;
        }
    }
    let target = s.max_total_bytes.saturating_sub(room) as i64;
    let total = loop {
        let total = stored_bytes(pool).await? as i64;
        let excess = total - target;
        if excess <= 0 {
            break total;
        }
        // The oldest frames that together cover the excess.
        let rows: Vec<(String,)> = sqlx::query_as(
            "DELETE FROM video_frames WHERE id IN (
                 SELECT id FROM (SELECT id, bytes, sum(bytes) OVER (ORDER BY captured_at, id) AS running
                                 FROM video_frames) f
                 WHERE running - bytes < $1
                 ORDER BY running LIMIT 1000) RETURNING path",
        )
        .bind(excess)
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            break total;
        }
        deleted += remove_files(&s.dir, &rows).await;
    };
    Ok((deleted, total as u64))
}

async fn remove_files(dir: &Path, rows: &[(String,)]) -> u64 {
    for (path,) in rows {
        if let Err(e) = tokio::fs::remove_file(dir.join(path)).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path, error = %e, "deleting an expired frame");
        }
    }
    rows.len() as u64
}

async fn retention(video: Arc<Video>, pool: PgPool, shutdown: CancellationToken) {
    let mut every =
        tokio::time::interval(Duration::from_secs(video.settings.retention_every_s.max(1)));
    // The first run one period after start: a restart loop does not scan the store each time.
    every.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let mut held = video.held.lock().await;
        match enforce_retention(&video, &pool, 0).await {
            Ok((deleted, total)) => {
                *held = Some(total);
                if deleted > 0 {
                    tracing::info!(frames = deleted, "frame retention: deleted");
                }
            }
            Err(e) => tracing::warn!(error = format!("{e:#}"), "frame retention"),
        }
    }
}

/// Sends a command to a gateway. Commands are QoS 1; the bridge answers on `cmd/ack`.
async fn command(video: &Video, gateway: &str, cmd: Command) -> anyhow::Result<()> {
    let cmd = cmd.envelope(format!("cc-{:016x}", rand::random::<u64>()));
    video
        .client
        .publish(
            Topic::command(gateway),
            QoS::AtLeastOnce,
            false,
            cmd.to_json(),
        )
        .await?;
    Ok(())
}

/// A warning raised or escalated to orange or red gets a picture: every gateway of its site is
/// asked for a snapshot of every camera.
async fn snapshot_on_warning(
    video: Arc<Video>,
    pool: PgPool,
    mut warnings: broadcast::Receiver<Arc<crate::feeds::LiveWarning>>,
    shutdown: CancellationToken,
) {
    loop {
        let w = tokio::select! {
            _ = shutdown.cancelled() => return,
            w = warnings.recv() => match w {
                Ok(w) => w,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "snapshot trigger fell behind");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let wanted = w.category == WarningCategory::Hazard
            && matches!(
                w.transition,
                WarningTransition::Raised | WarningTransition::Escalated
            )
            && w.level >= WarningLevel::Orange;
        if !wanted {
            continue;
        }
        // Every command-center replica hears the warning; the one that claims it asks, once.
        let key = format!("{}:{}", w.id, w.level.as_str());
        match geohazard_store::cluster::claim_once(&pool, "snapshot_on_warning", &key).await {
            Ok(true) => {
                video.snapshots_asked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {
                video.snapshots_left.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, site = %w.site, "claiming a warning's snapshot");
                continue;
            }
        }
        let gateways: Vec<String> = match sqlx::query_scalar(
            "SELECT g.code FROM gateways g JOIN hazard_sites s ON s.id = g.site_id WHERE s.code = $1",
        )
        .bind(&w.site)
        .fetch_all(&pool)
        .await
        {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, site = %w.site, "finding the site's gateways for a snapshot");
                continue;
            }
        };
        for gateway in gateways {
            tracing::info!(%gateway, site = %w.site, level = ?w.level, "asking for a snapshot");
            if let Err(e) =
                command(&video, &gateway, Command::Snapshot(SnapshotArgs::default())).await
            {
                tracing::warn!(error = %e, %gateway, "sending a snapshot command");
            }
        }
    }
}

// ---- the API -------------------------------------------------------------------------------

/// A camera route's gateway and camera, which must be identifiers (400 otherwise: a NUL or a
/// `..` never reaches the database or the frame store).
fn camera_route(gateway: &str, camera: &str) -> Result<(), ApiError> {
    if geohazard_protocol::is_valid_identifier(gateway)
        && geohazard_protocol::is_valid_identifier(camera)
    {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "网关和摄像头名称须为标识符 / gateway and camera must be identifiers",
        ))
    }
}

async fn jpeg(video: &Video, relative: &str) -> Result<Response, ApiError> {
    let bytes = tokio::fs::read(video.settings.dir.join(relative))
        .await
        .map_err(|_| ApiError::NotFound)?;
    let mut r = bytes.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    Ok(r)
}

#[derive(Serialize, sqlx::FromRow)]
struct CameraRow {
    gateway: String,
    camera: String,
    latest_id: i64,
    captured_at: DateTime<Utc>,
    bytes: i32,
}

/// `GET /api/v1/sites/{id}/cameras`: the site's cameras (those that sent a frame) with their
/// latest frame.
async fn site_cameras(
    State(state): State<AppState>,
    officer: Officer,
    Id(id): Id,
) -> Result<Json<Vec<CameraRow>>, ApiError> {
    require_site(&state, &officer, id).await?;
    let rows = sqlx::query_as(
        "SELECT DISTINCT ON (f.gateway_code, f.camera) f.gateway_code AS gateway, f.camera,
                f.id AS latest_id, f.captured_at, f.bytes
         FROM video_frames f JOIN gateways g ON g.code = f.gateway_code
         WHERE g.site_id = $1
         ORDER BY f.gateway_code, f.camera, f.captured_at DESC",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows))
}

/// `GET /api/v1/frames/{id}`: one stored frame, as JPEG. An `<img>` sends the session cookie.
async fn frame(
    State(state): State<AppState>,
    Extension(video): Extension<Arc<Video>>,
    officer: Officer,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let (gateway, path): (String, String) =
        sqlx::query_as("SELECT gateway_code, path FROM video_frames WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?
            .ok_or(ApiError::NotFound)?;
    gateway_in_scope(&state, &officer, &gateway).await?;
    jpeg(&video, &path).await
}

/// `GET /api/v1/cameras/{gateway}/{camera}/latest`: the latest frame.
async fn latest(
    State(state): State<AppState>,
    Extension(video): Extension<Arc<Video>>,
    officer: Officer,
    UrlPath((gateway, camera)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    camera_route(&gateway, &camera)?;
    gateway_in_scope(&state, &officer, &gateway).await?;
    let path: String = sqlx::query_scalar(
        "SELECT path FROM video_frames WHERE gateway_code = $1 AND camera = $2
         ORDER BY captured_at DESC LIMIT 1",
    )
    .bind(&gateway)
    .bind(&camera)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(ApiError::NotFound)?;
    jpeg(&video, &path).await
}

#[derive(Deserialize)]
struct RangeQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
}

/// One stored frame, without its image (`GET /api/v1/frames/{id}`).
#[derive(Serialize, sqlx::FromRow)]
struct FrameRef {
    id: i64,
    captured_at: DateTime<Utc>,
    bytes: i32,
}

/// `GET /api/v1/cameras/{gateway}/{camera}/frames`: a camera's frames over a range.
#[derive(Serialize)]
struct CameraFrames {
    gateway: String,
    camera: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Oldest first.
    frames: Vec<FrameRef>,
}

/// `GET /api/v1/cameras/{gateway}/{camera}/frames?from=&to=&limit=`: the frames over a time
/// range (default the last day), oldest first, each with its id for `/api/v1/frames/{id}`.
async fn frames(
    State(state): State<AppState>,
    officer: Officer,
    UrlPath((gateway, camera)): UrlPath<(String, String)>,
    Params(q): Params<RangeQuery>,
) -> Result<Json<CameraFrames>, ApiError> {
    camera_route(&gateway, &camera)?;
    gateway_in_scope(&state, &officer, &gateway).await?;
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::days(1));
    if from >= to {
        return Err(ApiError::bad_request("`from` must be before `to`"));
    }
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let frames: Vec<FrameRef> = sqlx::query_as(
        "SELECT id, captured_at, bytes FROM video_frames
         WHERE gateway_code = $1 AND camera = $2 AND captured_at >= $3 AND captured_at < $4
         ORDER BY captured_at LIMIT $5",
    )
    .bind(&gateway)
    .bind(&camera)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(CameraFrames {
        gateway,
        camera,
        from,
        to,
        frames,
    }))
}

/// `GET /api/v1/cameras/{gateway}/{camera}/live` (WebSocket; the session cookie or a bearer
/// header, never a token in the URL): a live view. Checked and
/// audited before the upgrade (out of scope: 404); the bridge is told to start; its frames
/// come as binary messages, at most `live_max_fps`, until the socket closes or `live_max_s`.
async fn live_view(
    State(state): State<AppState>,
    Extension(video): Extension<Arc<Video>>,
    headers: HeaderMap,
    RemoteAddr(remote): RemoteAddr,
    UrlPath((gateway, camera)): UrlPath<(String, String)>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    camera_route(&gateway, &camera)?;
    let officer = auth::officer_of(&state, &headers).await?;
    let division = gateway_in_scope(&state, &officer, &gateway).await?;
    let view = View {
        officer,
        gateway,
        camera,
        division,
        room: None,
    };
    start_view(state, video, remote, view, ws).await
}

/// `GET /api/v1/consult/rooms/{id}/cameras/{gateway}/{camera}/live` (WebSocket): a site camera
/// brought into a consultation room (a `camera` event of the room), watched by anyone who may
/// take part in the room: an invited officer of another division too, admission to the room
/// standing for the camera's scope. Otherwise as the camera's own live view: capped, audited,
/// one capture serving every viewer.
async fn room_live_view(
    State(state): State<AppState>,
    Extension(video): Extension<Arc<Video>>,
    headers: HeaderMap,
    RemoteAddr(remote): RemoteAddr,
    UrlPath((room, gateway, camera)): UrlPath<(i64, String, String)>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    camera_route(&gateway, &camera)?;
    let officer = auth::officer_of(&state, &headers).await?;
    let room = crate::consult_room::admitted(&state, &officer, room).await?;
    let brought: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM consult_events WHERE room_id = $1 AND kind = 'camera'
                        AND body->>'gateway' = $2 AND body->>'camera' = $3)",
    )
    .bind(room.id)
    .bind(&gateway)
    .bind(&camera)
    .fetch_one(&state.pool)
    .await?;
    if !brought {
        return Err(ApiError::NotFound);
    }
    let view = View {
        officer,
        gateway,
        camera,
        division: room.division_code,
        room: Some(room.id),
    };
    start_view(state, video, remote, view, ws).await
}

/// A live view admitted: who watches which camera, audited under which division (and room).
struct View {
    officer: Officer,
    gateway: String,
    camera: String,
    division: String,
    room: Option<i64>,
}

/// Takes a viewing slot, audits the start, tells the bridge, and relays its frames.
async fn start_view(
    state: AppState,
    video: Arc<Video>,
    remote: Option<String>,
    view: View,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let View {
        officer,
        gateway,
        camera,
        division,
        room,
    } = view;
    let ws = ws.map_err(|e| ApiError::Status(e.status(), e.body_text()))?;
    let slot = ViewSlot::take(&video, &officer, (gateway.clone(), camera.clone()))?;
    let s = &video.settings;
    let args = LiveViewArgs {
        camera: camera.clone(),
        action: LiveViewAction::Start,
        duration_s: Some(s.live_max_s.min(600) as f64),
        fps: Some(s.live_max_fps.clamp(0.1, 5.0)),
    };
    audit::record(
        &state.pool,
        &Entry {
            officer_id: Some(geohazard_domain::OfficerId(officer.id)),
            action: geohazard_domain::AuditAction::VideoLiveView,
            target: Some(format!("camera:{gateway}/{camera}")),
            division_code: Some(division),
            detail: json!({"duration_s": args.duration_s, "fps": args.fps, "consult_room": room}),
            remote_addr: remote,
        },
    )
    .await?;
    let rx = video.frames.subscribe();
    command(&video, &gateway, Command::LiveView(args)).await?;
    tracing::info!(officer = ?officer.username, %gateway, %camera, "live view started");
    Ok(ws.on_upgrade(move |socket| relay(socket, state, slot, rx)))
}

/// The text messages of a live view (its frames are binary), as `{"type": ..., ...}`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LiveViewMessage {
    /// The view is over; `reason` `time`: it lasted `live_max_s`.
    Ended { reason: &'static str },
}

impl LiveViewMessage {
    fn text(&self) -> String {
        serde_json::to_string(self).expect("a live view message serializes")
    }
}

async fn relay(
    mut socket: WebSocket,
    state: AppState,
    slot: ViewSlot,
    mut rx: broadcast::Receiver<Arc<Frame>>,
) {
    let video = slot.video.clone();
    let (gateway, camera) = slot.camera.clone();
    let s = &video.settings;
    let min_gap = Duration::from_secs_f64(1.0 / s.live_max_fps.max(0.01));
    let ends = tokio::time::Instant::now() + Duration::from_secs(s.live_max_s);
    let mut last_sent: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(ends) => {
                let _ = socket.send(Message::Text(LiveViewMessage::Ended { reason: "time" }.text().into())).await;
                break;
            }
            f = rx.recv() => match f {
                Ok(f) if f.gateway == gateway && f.camera == camera => {
                    let now = tokio::time::Instant::now();
                    if last_sent.is_some_and(|t| now - t < min_gap) {
                        continue;
                    }
                    last_sent = Some(now);
                    let sent = tokio::time::timeout(Duration::from_secs(5), socket.send(Message::Binary(f.jpeg.clone()))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        break;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let stop = LiveViewArgs {
        camera: camera.clone(),
        action: LiveViewAction::Stop,
        duration_s: None,
        fps: None,
    };
    let last = slot.release();
    // Another console still watching keeps the view; the bridge's own duration limit ends one
    // nobody stops.
    if last && let Err(e) = command(&video, &gateway, Command::LiveView(stop)).await {
        tracing::warn!(error = %e, %gateway, "sending live_view stop");
    }
    let _ = socket.send(Message::Close(None)).await;
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sites/{id}/cameras", get(site_cameras))
        .route("/api/v1/frames/{id}", get(frame))
        .route("/api/v1/cameras/{gateway}/{camera}/latest", get(latest))
        .route(
            "/api/v1/consult/rooms/{room}/cameras/{gateway}/{camera}/live",
            get(room_live_view),
        )
        .route("/api/v1/cameras/{gateway}/{camera}/frames", get(frames))
        .route("/api/v1/cameras/{gateway}/{camera}/live", get(live_view))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geohazard_testkit::World;

    #[test]
    fn only_whole_jpegs_within_the_limit_are_accepted() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 0xFF, 0xD9];
        assert_eq!(check_frame(&jpeg, 100), None);
        assert_eq!(
            check_frame(&jpeg, 4).unwrap().0,
            QuarantineReason::FrameTooLarge
        );
        assert_eq!(
            check_frame(b"GIF89a....", 100).unwrap().0,
            QuarantineReason::FrameNotJpeg
        );
        assert_eq!(
            check_frame(&jpeg[..6], 100).unwrap().0,
            QuarantineReason::FrameNotJpeg
        );
        assert_eq!(
            check_frame(&[], 100).unwrap().0,
            QuarantineReason::FrameNotJpeg
        );
    }

    /// Against a real PostgreSQL and real files.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retention_deletes_frames_past_the_age_then_the_oldest_beyond_the_total_size() {
        let world = World::start(4).await;
        let (store, broker) = (&world.store, &world.broker);
        let dir = tempfile::tempdir().unwrap();
        let settings = VideoSettings {
            dir: dir.path().to_owned(),
            max_age_h: 24,
            max_total_bytes: 3000,
            retention_every_s: 3600,
            ..VideoSettings::default()
        };
        let video = |settings| async {
            let (warnings, _) = broadcast::channel(4);
            let shutdown = world.shutdown.clone();
            start(
                settings,
                store.pool.clone(),
                &broker.url(),
                warnings,
                shutdown,
            )
            .await
            .unwrap()
        };
        let v = video(settings).await;
        // Frames of 1000 bytes, 49, 30, 3, 2 and 1 hours old.
        let now = Utc::now();
        let hours = chrono::Duration::hours;
        let mut paths = Vec::new();
        for age in [49, 30, 3, 2, 1] {
            let at = now - hours(age);
            let rel = format!("gw/cam1/{}.jpg", at.timestamp_millis());
            std::fs::create_dir_all(dir.path().join("gw/cam1")).unwrap();
            std::fs::write(dir.path().join(&rel), vec![0u8; 1000]).unwrap();
            sqlx::query(
                "INSERT INTO video_frames (gateway_code, camera, captured_at, bytes, path)
                 VALUES ('gw', 'cam1', $1, 1000, $2)",
            )
            .bind(at)
            .bind(&rel)
            .execute(&store.pool)
            .await
            .unwrap();
            paths.push(rel);
        }
        let (deleted, _) = enforce_retention(&v, &store.pool, 0).await.unwrap();
        // Two are too old; of the three left (3000 bytes) none has to go for size.
        assert_eq!(deleted, 2);
        let left: Vec<String> =
            sqlx::query_scalar("SELECT path FROM video_frames ORDER BY captured_at")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert_eq!(left, paths[2..].to_vec());
        for (i, p) in paths.iter().enumerate() {
            assert_eq!(dir.path().join(p).exists(), i >= 2, "{p}");
        }

        // A smaller store: the oldest go until the rest fits.
        let mut smaller = v.settings.clone();
        smaller.max_total_bytes = 1500;
        smaller.client_id = "video-smaller".into();
        let v2 = video(smaller).await;
        assert_eq!(enforce_retention(&v2, &store.pool, 0).await.unwrap().0, 2);
        let left: Vec<String> = sqlx::query_scalar("SELECT path FROM video_frames")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(left, vec![paths[4].clone()]);
        assert!(!dir.path().join(&paths[3]).exists());
        assert!(dir.path().join(&paths[4]).exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_sent_while_the_command_center_is_down_is_stored_when_it_returns() {
        let world = World::start(4).await;
        let (store, broker) = (&world.store, &world.broker);
        geohazard_testkit::fixtures::register_gateway(store, "GW-V", &[]).await;
        let dir = tempfile::tempdir().unwrap();
        let settings = VideoSettings {
            dir: dir.path().to_owned(),
            ..VideoSettings::default()
        };
        let url = broker.url();
        let run = |shutdown: CancellationToken| {
            let (warnings, _) = broadcast::channel(4);
            start(
                settings.clone(),
                store.pool.clone(),
                &url,
                warnings,
                shutdown,
            )
        };
        // Once up: its session and subscription are at the broker. Then down, cleanly.
        let first = world.shutdown.child_token();
        let away = run(first.clone()).await.unwrap();
        first.cancel();
        away.stopped().await;
        let gateway = geohazard_testkit::publisher(broker, "GW-V").await;
        let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9];
        let at = Utc::now().timestamp_millis();
        gateway
            .client()
            .publish(
                Topic::video("GW-V", "cam1", at),
                QoS::AtLeastOnce,
                false,
                jpeg.clone(),
            )
            .await
            .unwrap();
        // Back up: the frame the broker kept is stored.
        let v = run(world.shutdown.child_token()).await.unwrap();
        let stored = geohazard_testkit::eventually(
            Duration::from_secs(15),
            "the snapshot sent while away",
            || async {
                sqlx::query_scalar::<_, i32>(
                    "SELECT bytes FROM video_frames WHERE gateway_code = 'GW-V' AND camera = 'cam1'",
                )
                .fetch_optional(&store.pool)
                .await
                .unwrap()
            },
        )
        .await;
        assert_eq!(stored as usize, jpeg.len());
        assert_eq!(v.stored.load(Ordering::Relaxed), 1);
        assert_eq!(away.stored.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_flooding_gateway_is_refused_past_its_rate_and_the_store_never_passes_its_size() {
        let world = World::start(4).await;
        let (store, broker) = (&world.store, &world.broker);
        geohazard_testkit::fixtures::register_gateway(store, "GW-F", &[]).await;
        let dir = tempfile::tempdir().unwrap();
        let settings = VideoSettings {
            dir: dir.path().to_owned(),
            max_total_bytes: 5_000,
            max_gateway_bytes_per_minute: 12_000,
            ..VideoSettings::default()
        };
        let (warnings, _) = broadcast::channel(4);
        let v = start(
            settings,
            store.pool.clone(),
            &broker.url(),
            warnings,
            world.shutdown.clone(),
        )
        .await
        .unwrap();
        let gateway = geohazard_testkit::publisher(broker, "GW-F").await;
        let mut jpeg = vec![0u8; 1000];
        jpeg[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
        jpeg[998..].copy_from_slice(&[0xFF, 0xD9]);
        let now = Utc::now().timestamp_millis();
        // Twenty frames of 1000 bytes at once, and one dated in 2100.
        let mut times: Vec<i64> = (0..20).map(|i| now - 20_000 + i * 1000).collect();
        times.push(4_102_444_800_000);
        for at in times {
            gateway
                .client()
                .publish(
                    Topic::video("GW-F", "cam1", at),
                    QoS::AtLeastOnce,
                    false,
                    jpeg.clone(),
                )
                .await
                .unwrap();
        }
        geohazard_testkit::eventually(Duration::from_secs(15), "every frame handled", || async {
            let handled = v.stored.load(Ordering::Relaxed) + v.refused.load(Ordering::Relaxed);
            (handled == 21).then_some(())
        })
        .await;
        assert_eq!(v.stored.load(Ordering::Relaxed), 12);
        let held: i64 =
            sqlx::query_scalar("SELECT coalesce(sum(bytes), 0)::int8 FROM video_frames")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert!(held <= 5_000, "the frame store holds {held} bytes");
        let refusals: Vec<(String, String, i32)> = sqlx::query_as(
            "SELECT topic, reason, repeats FROM quarantine WHERE gateway_code = 'GW-F' ORDER BY reason",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert_eq!(
            refusals,
            vec![
                (
                    "gh/v1/gw/GW-F/video/cam1/4102444800000".into(),
                    "invalid_timestamp".into(),
                    1
                ),
                ("gh/v1/gw/GW-F/video/cam1".into(), "rate_exceeded".into(), 8),
            ]
        );
    }
}
