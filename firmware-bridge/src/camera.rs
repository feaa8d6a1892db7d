//! Cameras: GStreamer pipelines (RTSP, V4L2 or a test pattern) ending in `jpegenc ! appsink`.
//! Snapshots (on a timer, on command, on a local trigger) go through the disk queue; live view
//! streams low-rate frames at QoS 0 for a limited time, only while the link is up.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use geohazard_bus::rumqttc::QoS;
use geohazard_protocol::Topic;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::{AppSink, AppSinkCallbacks};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{CameraConfig, CameraSource};
use crate::direct::Direct;
use crate::queue::{Lane, Message, QueueError, QueueHandle};

/// How long a pipeline may take to give its first frame (an RTSP camera can be slow to start).
const FIRST_FRAME: Duration = Duration::from_secs(15);
/// Most live frames waiting for the link at once; more are dropped.
const LIVE_FRAMES_WAITING: usize = 4;
/// Qualities tried in turn when a frame is larger than the limit.
const QUALITY_STEPS: [u8; 5] = [85, 65, 45, 30, 15];

/// Why a camera gave no picture.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("GStreamer: {0}")]
    Init(gst::glib::Error),
    #[error("pipeline `{text}`: {error}")]
    Pipeline {
        text: String,
        error: gst::glib::Error,
    },
    #[error("not a pipeline")]
    NotAPipeline,
    #[error("pipeline has no {0}")]
    Missing(&'static str),
    #[error("cannot start pipeline `{text}`: {error}")]
    Start {
        text: String,
        error: gst::StateChangeError,
    },
    #[error("pipeline stopped")]
    Stopped,
    /// The pipeline's own error message, or why there was no frame.
    #[error("{0}")]
    NoFrame(String),
    #[error(
        "frame of {size} bytes exceeds the {limit} byte limit even at quality {quality}: lower the camera's width/height or raise mqtt.max_packet_bytes"
    )]
    TooLarge {
        size: usize,
        limit: usize,
        quality: u8,
    },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("camera task stopped")]
    TaskStopped,
}

/// Initializes GStreamer once per process; a failure is reported to every caller, not just the first.
pub fn init_gstreamer() -> Result<(), CameraError> {
    static INIT: OnceLock<Result<(), gst::glib::Error>> = OnceLock::new();
    INIT.get_or_init(gst::init)
        .clone()
        .map_err(CameraError::Init)
}

/// The pipeline text for a camera; `fps` adds a rate limit (live view).
pub fn pipeline_description(cfg: &CameraConfig, quality: u8, fps: Option<f64>) -> String {
    let source = match &cfg.source {
        CameraSource::Rtsp { url } => {
            format!("rtspsrc location=\"{url}\" latency=200 protocols=tcp ! decodebin")
        }
        CameraSource::V4l2 { device } => format!("v4l2src device=\"{device}\""),
        CameraSource::Test { pattern } => format!(
            "videotestsrc is-live=true pattern={}",
            pattern.as_deref().unwrap_or("smpte")
        ),
    };
    let rate = match fps {
        // Fractions of a frame per second: 0.2 fps is 1/5.
        Some(f) => format!(
            " ! videorate ! video/x-raw,framerate={}/1000",
            (f * 1000.0).round().max(1.0) as u32
        ),
        None => String::new(),
    };
    format!(
        "{source} ! videoconvert ! videoscale ! video/x-raw,width={w},height={h}{rate} ! \
         jpegenc name=enc quality={quality} ! appsink name=sink max-buffers=2 drop=true sync=false",
        w = cfg.width,
        h = cfg.height,
    )
}

/// A running pipeline whose JPEG frames arrive on a channel.
struct Running {
    pipeline: gst::Pipeline,
    encoder: gst::Element,
    frames: mpsc::Receiver<Bytes>,
}

impl Running {
    fn start(cfg: &CameraConfig, quality: u8, fps: Option<f64>) -> Result<Running, CameraError> {
        init_gstreamer()?;
        let text = pipeline_description(cfg, quality, fps);
        let pipeline = match gst::parse::launch(&text) {
            Ok(p) => p,
            Err(error) => return Err(CameraError::Pipeline { text, error }),
        }
        .downcast::<gst::Pipeline>()
        .map_err(|_| CameraError::NotAPipeline)?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<AppSink>().ok())
            .ok_or(CameraError::Missing("appsink"))?;
        let encoder = pipeline
            .by_name("enc")
            .ok_or(CameraError::Missing("encoder"))?;
        let (tx, frames) = mpsc::channel(4);
        sink.set_callbacks(
            AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    // A slow consumer loses frames, never blocks the pipeline.
                    let _ = tx.try_send(Bytes::copy_from_slice(map.as_slice()));
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        if let Err(error) = pipeline.set_state(gst::State::Playing) {
            return Err(CameraError::Start { text, error });
        }
        Ok(Running {
            pipeline,
            encoder,
            frames,
        })
    }

    fn set_quality(&self, q: u8) {
        self.encoder.set_property("quality", q as i32);
    }

    /// The pipeline's error, if it reported one.
    fn error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(e) => Some(format!(
                "{} ({})",
                e.error(),
                e.debug().map(|d| d.to_string()).unwrap_or_default()
            )),
            _ => None,
        }
    }

    async fn next_frame(&mut self, within: Duration) -> Result<Bytes, CameraError> {
        match tokio::time::timeout(within, self.frames.recv()).await {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(CameraError::Stopped),
            Err(_) => Err(CameraError::NoFrame(
                self.error()
                    .unwrap_or_else(|| format!("no frame within {within:?}")),
            )),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Where frames go.
#[derive(Clone)]
pub struct FrameSink {
    pub gateway: String,
    pub queue: QueueHandle,
    pub direct: mpsc::Sender<Direct>,
    pub connected: watch::Receiver<bool>,
    /// Largest JPEG accepted (the MQTT packet limit less the topic and header).
    pub max_frame_bytes: usize,
}

/// What a snapshot produced.
#[derive(Debug, Clone, Serialize)]
pub struct FrameInfo {
    pub camera: String,
    pub captured_at_ms: i64,
    pub bytes: usize,
    pub quality: u8,
}

enum Request {
    Snapshot(
        &'static str,
        oneshot::Sender<Result<FrameInfo, CameraError>>,
    ),
    LiveStart {
        duration: Duration,
        fps: f64,
        reply: oneshot::Sender<Result<(), CameraError>>,
    },
    LiveStop(oneshot::Sender<bool>),
}

/// Talks to one camera's task.
#[derive(Clone)]
pub struct CameraHandle {
    pub name: String,
    tx: mpsc::Sender<Request>,
}

impl CameraHandle {
    pub async fn snapshot(&self, reason: &'static str) -> Result<FrameInfo, CameraError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Snapshot(reason, reply))
            .await
            .map_err(|_| CameraError::TaskStopped)?;
        rx.await.map_err(|_| CameraError::TaskStopped)?
    }

    /// Asks for a snapshot without waiting (local triggers); a busy camera skips it.
    pub fn trigger(&self) {
        let (reply, _) = oneshot::channel();
        let _ = self.tx.try_send(Request::Snapshot("trigger", reply));
    }

    pub async fn live_start(&self, duration: Duration, fps: f64) -> Result<(), CameraError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::LiveStart {
                duration,
                fps,
                reply,
            })
            .await
            .map_err(|_| CameraError::TaskStopped)?;
        rx.await.map_err(|_| CameraError::TaskStopped)?
    }

    /// Whether a live view was running.
    pub async fn live_stop(&self) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Request::LiveStop(reply)).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

pub fn spawn_camera(cfg: CameraConfig, sink: FrameSink, cancel: CancellationToken) -> CameraHandle {
    let (tx, rx) = mpsc::channel(8);
    let name = cfg.name.clone();
    tokio::spawn(camera_task(cfg, sink, rx, cancel));
    CameraHandle { name, tx }
}

struct Live {
    running: Running,
    until: Instant,
}

async fn camera_task(
    cfg: CameraConfig,
    sink: FrameSink,
    mut requests: mpsc::Receiver<Request>,
    cancel: CancellationToken,
) {
    let interval = cfg.snapshot_interval_s.map(Duration::from_secs_f64);
    let mut next_snapshot = interval.map(|i| Instant::now() + i);
    let mut live: Option<Live> = None;
    loop {
        let live_until = live.as_ref().map(|l| l.until);
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = sleep_until_opt(next_snapshot) => {
                next_snapshot = interval.map(|i| Instant::now() + i);
                if let Err(e) = snapshot(&cfg, &sink, &mut live, "interval").await {
                    warn!(camera = %cfg.name, "interval snapshot failed: {e}");
                }
            }
            _ = sleep_until_opt(live_until) => {
                info!(camera = %cfg.name, "live view ended (duration reached)");
                live = None;
            }
            frame = next_live_frame(&mut live) => match frame {
                Some(f) => send_live(&cfg, &sink, f).await,
                None => {
                    let why = live.as_ref().and_then(|l| l.running.error()).unwrap_or_default();
                    warn!(camera = %cfg.name, "live view pipeline stopped {why}");
                    live = None;
                }
            },
            req = requests.recv() => match req {
                None => break,
                Some(Request::Snapshot(reason, reply)) => {
                    let r = snapshot(&cfg, &sink, &mut live, reason).await;
                    if let Err(e) = &r {
                        warn!(camera = %cfg.name, reason, "snapshot failed: {e}");
                    }
                    let _ = reply.send(r);
                }
                Some(Request::LiveStart { duration, fps, reply }) => {
                    live = None; // a new request replaces a running view
                    let r = Running::start(&cfg, cfg.quality, Some(fps)).map(|running| {
                        info!(camera = %cfg.name, fps, ?duration, "live view started");
                        live = Some(Live { running, until: Instant::now() + duration });
                    });
                    let _ = reply.send(r);
                }
                Some(Request::LiveStop(reply)) => {
                    let _ = reply.send(live.take().is_some());
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn next_live_frame(live: &mut Option<Live>) -> Option<Bytes> {
    match live {
        Some(l) => l.running.frames.recv().await,
        None => std::future::pending().await,
    }
}

async fn send_live(cfg: &CameraConfig, sink: &FrameSink, frame: Bytes) {
    if !*sink.connected.borrow() {
        return; // live view is for now: nothing is kept for later
    }
    if frame.len() > sink.max_frame_bytes {
        warn!(camera = %cfg.name, bytes = frame.len(), limit = sink.max_frame_bytes, "live frame too large: skipped (lower width/height or quality)");
        return;
    }
    let topic = Topic::video(
        &sink.gateway,
        &cfg.name,
        chrono::Utc::now().timestamp_millis(),
    );
    let d = Direct {
        topic,
        payload: frame,
        qos: QoS::AtMostOnce,
        retain: false,
    };
    // Frames are large: a slow link gets a few at a time, not a channel full of them.
    if sink.direct.max_capacity() - sink.direct.capacity() >= LIVE_FRAMES_WAITING
        || sink.direct.try_send(d).is_err()
    {
        debug!(camera = %cfg.name, "live frame dropped: link busy");
    }
}

/// Takes one frame that fits the size limit (lowering the quality if needed) and queues it.
async fn snapshot(
    cfg: &CameraConfig,
    sink: &FrameSink,
    live: &mut Option<Live>,
    reason: &str,
) -> Result<FrameInfo, CameraError> {
    let is_live = live.is_some();
    let mut own = None;
    let running = match live {
        Some(l) => &mut l.running,
        None => own.insert(Running::start(cfg, cfg.quality, None)?),
    };
    let mut steps: Vec<u8> = std::iter::once(cfg.quality)
        .chain(QUALITY_STEPS.into_iter().filter(|q| *q < cfg.quality))
        .collect();
    steps.dedup();
    let mut last_size = 0;
    let mut frame = None;
    for (n, q) in steps.iter().enumerate() {
        if n > 0 {
            running.set_quality(*q);
            // Frames already in the pipeline were encoded at the old quality.
            while running.frames.try_recv().is_ok() {}
        }
        let f = running.next_frame(FIRST_FRAME).await?;
        if f.len() <= sink.max_frame_bytes {
            frame = Some((f, *q));
            break;
        }
        last_size = f.len();
        debug!(camera = %cfg.name, bytes = f.len(), quality = q, "frame too large, lowering quality");
    }
    if is_live {
        running.set_quality(cfg.quality);
    }
    drop(own);
    let Some((frame, quality)) = frame else {
        return Err(CameraError::TooLarge {
            size: last_size,
            limit: sink.max_frame_bytes,
            quality: steps.last().copied().unwrap_or(cfg.quality),
        });
    };
    let captured_at_ms = chrono::Utc::now().timestamp_millis();
    let msg = Message {
        topic: Topic::video(&sink.gateway, &cfg.name, captured_at_ms),
        payload: frame.clone(),
    };
    // Durable before the command's ack says it was taken.
    sink.queue.push(Lane::Frames, msg).await?;
    info!(camera = %cfg.name, reason, bytes = frame.len(), quality, "snapshot queued");
    Ok(FrameInfo {
        camera: cfg.name.clone(),
        captured_at_ms,
        bytes: frame.len(),
        quality,
    })
}
