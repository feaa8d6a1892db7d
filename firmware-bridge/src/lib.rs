//! Firmware bridge: runs on a field gateway; Modbus polling, camera capture, store-and-forward
//! to MQTT. See the crate README for the configuration, command and queue references.
//!
//! ```text
//! pollers --Reading--> batcher --TelemetryBatch--> DiskQueue --link, QoS 1--> broker
//! cameras --snapshot JPEG----------------------->  DiskQueue
//! cameras --live JPEG (QoS 0) / acks / status --> link (direct) ----------> broker
//! broker --cmd--> commands --> schedule, cameras, reload
//! ```
//!
//! The disk queue runs on a thread of its own (appends, fsyncs, reads); the link is a
//! `geohazard_bus::Connection`, a fresh MQTT client per connection that reports each PUBACK.

mod camera;
mod commands;
mod config;
mod counters;
pub mod demo;
mod direct;
mod link;
mod modbus;
mod queue;
mod schedule;
mod sim;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use geohazard_bus::rumqttc::QoS;
use geohazard_protocol::{GatewayStatus, Reading, TelemetryBatch, Topic};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use config::{
    BatchConfig, BridgeConfig, CameraConfig, CameraSource, CommandsConfig, CounterConfig, DataType,
    Function, InvalidConfig, ModbusDevice, MqttConfig, Parity, PointConfig, QueueConfig,
    StatusConfig, StatusRole, Transport, TriggerConfig, WordOrder,
};
pub use queue::{DiskQueue, Lane, Message, QueueError, QueueStats};
pub use sim::{
    SIM_DEVICE, SimConfig, SimHandle, SimPoint, SimSource, run_sensor_sim, start_sensor_sim,
    start_sensor_sim_rtu,
};

use camera::{CameraHandle, FrameSink};
use counters::CounterStore;
use direct::Direct;
use link::Link;
use modbus::{PollOutput, SharedFaults, SharedStatusValues};
use queue::QueueHandle;
use schedule::Schedule;

/// Reported in the status message.
const FIRMWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

struct Trigger {
    cfg: TriggerConfig,
    camera: CameraHandle,
    last: Option<Instant>,
}

struct Workers {
    cancel: CancellationToken,
    cameras: Vec<CameraHandle>,
    triggers: Vec<Trigger>,
}

/// What the tasks of one bridge share.
pub(crate) struct Runtime {
    config: Mutex<BridgeConfig>,
    schedule: Arc<Schedule>,
    status_values: SharedStatusValues,
    faults: SharedFaults,
    counters: Arc<CounterStore>,
    queue: QueueHandle,
    direct: mpsc::Sender<Direct>,
    connected: watch::Receiver<bool>,
    readings: mpsc::Sender<Reading>,
    /// Readings the pollers produced (each a successful poll of a point).
    polled: std::sync::atomic::AtomicU64,
    started: Instant,
    workers: Mutex<Workers>,
    /// Status publishes skipped because the link was busy, since the last warning about it.
    status_skipped: Mutex<(u64, Option<Instant>)>,
}

/// A link too busy for the status is said at most this often (with the count), not per skip.
const SKIPPED_STATUS_WARNING_EVERY: Duration = Duration::from_secs(60);

impl Runtime {
    fn gateway(&self) -> String {
        self.config.lock().expect("config lock").gateway.clone()
    }

    pub(crate) fn status(&self) -> GatewayStatus {
        let v = self.status_values.lock().expect("status lock").clone();
        GatewayStatus {
            online: true,
            ts: Some(chrono::Utc::now().timestamp_millis()),
            firmware: Some(FIRMWARE_VERSION.to_owned()),
            uptime_s: Some(self.started.elapsed().as_secs()),
            queue_depth: Some(self.queue.depth()),
            supply_v: v.supply_v,
            battery_pct: v.battery_pct,
            signal_dbm: v.signal_dbm,
            faults: self
                .faults
                .lock()
                .expect("faults lock")
                .values()
                .cloned()
                .collect(),
        }
    }

    pub(crate) fn publish_status(&self) {
        let d = Direct {
            topic: Topic::status(&self.gateway()),
            payload: Bytes::from(self.status().to_json()),
            qos: QoS::AtLeastOnce,
            retain: true,
        };
        if *self.connected.borrow() && self.direct.try_send(d).is_err() {
            let mut skipped = self.status_skipped.lock().expect("not poisoned");
            skipped.0 += 1;
            if skipped
                .1
                .is_none_or(|at| at.elapsed() >= SKIPPED_STATUS_WARNING_EVERY)
            {
                warn!(
                    skipped = skipped.0,
                    "status not published: link busy ({} status messages skipped since the last such warning; said at most every {:?})",
                    skipped.0,
                    SKIPPED_STATUS_WARNING_EVERY
                );
                *skipped = (0, Some(Instant::now()));
            }
        }
    }

    /// Answers a command for good: the answer is written to the queue's `answers` lane (the link
    /// publishes it, and it stays until the broker has it, across restarts), and the command,
    /// if it came from the `commands` lane, leaves it in the same step.
    pub(crate) async fn answer(
        &self,
        journal_id: Option<u64>,
        ack: &geohazard_protocol::CommandAck,
    ) {
        let d = Direct::command_ack(&self.gateway(), ack);
        let msg = Message {
            topic: d.topic.clone(),
            payload: d.payload.clone(),
        };
        let stored = self
            .queue
            .call(move |q| {
                q.push(Lane::Answers, &msg)?;
                if let Some(id) = journal_id {
                    q.ack_now(Lane::Commands, id)?;
                }
                Ok::<_, QueueError>(())
            })
            .await;
        match stored {
            Ok(Ok(())) => self.queue.notify_queued(),
            Err(e) | Ok(Err(e)) => {
                // Not on disk: still answer now, the only copy in memory.
                error!(id = %ack.id, "command answer not stored: {e}; sending it directly");
                if self.direct.send(d).await.is_err() {
                    warn!(id = %ack.id, "command answer not sent: the bridge is stopping");
                }
            }
        }
    }

    /// A redelivered copy of a command that already waits or runs: its record goes.
    pub(crate) async fn forget_command(&self, journal_id: u64) {
        let forgotten = self
            .queue
            .call(move |q| {
                q.ack_now(Lane::Commands, journal_id)
                    .map_err(QueueError::Io)
            })
            .await;
        if let Err(e) | Ok(Err(e)) = forgotten {
            error!("redelivered command {journal_id} not removed from the queue: {e}");
        }
    }

    pub(crate) fn cameras(&self) -> Vec<CameraHandle> {
        self.workers.lock().expect("workers lock").cameras.clone()
    }

    /// (Re)starts pollers and cameras for a configuration, stopping the previous ones.
    fn start_workers(&self, config: &BridgeConfig) {
        let cancel = CancellationToken::new();
        let max_packet = config.mqtt.max_packet_bytes;
        let sink = FrameSink {
            gateway: config.gateway.clone(),
            queue: self.queue.clone(),
            direct: self.direct.clone(),
            connected: self.connected.clone(),
            // Room for the topic and MQTT header.
            max_frame_bytes: max_packet.saturating_sub(256),
        };
        let cameras: Vec<CameraHandle> = config
            .cameras
            .iter()
            .map(|c| camera::spawn_camera(c.clone(), sink.clone(), cancel.clone()))
            .collect();
        let triggers = config
            .cameras
            .iter()
            .zip(&cameras)
            .flat_map(|(c, h)| {
                c.triggers.iter().map(|t| Trigger {
                    cfg: t.clone(),
                    camera: h.clone(),
                    last: None,
                })
            })
            .collect();
        // The new pollers report their own faults; a removed point's would stay forever.
        self.faults.lock().expect("faults lock").clear();
        modbus::spawn_pollers(
            &config.modbus,
            &config.points,
            PollOutput {
                readings: self.readings.clone(),
                status: self.status_values.clone(),
                faults: self.faults.clone(),
                counters: self.counters.clone(),
                schedule: self.schedule.clone(),
            },
            cancel.clone(),
        );
        let old = std::mem::replace(
            &mut *self.workers.lock().expect("workers lock"),
            Workers {
                cancel,
                cameras,
                triggers,
            },
        );
        old.cancel.cancel();
        info!(
            points = config.points.len(),
            cameras = config.cameras.len(),
            "pollers and cameras started"
        );
    }

    fn stop_workers(&self) {
        self.workers.lock().expect("workers lock").cancel.cancel();
    }

    /// A local trigger: a reading crossed a camera's limit (and its cooldown has passed).
    fn check_triggers(&self, r: &Reading) {
        let mut w = self.workers.lock().expect("workers lock");
        for t in w.triggers.iter_mut().filter(|t| t.cfg.channel == r.sensor) {
            let hit = t.cfg.above.is_some_and(|a| r.value > a)
                || t.cfg.below.is_some_and(|b| r.value < b);
            let cooled = t
                .last
                .is_none_or(|l| l.elapsed() >= Duration::from_secs_f64(t.cfg.cooldown_s));
            if hit && cooled {
                info!(camera = %t.camera.name, channel = %r.sensor, value = r.value, "trigger fired: snapshot");
                t.last = Some(Instant::now());
                t.camera.trigger();
            }
        }
    }
}

/// Runs a bridge until `shutdown` fires. Errors only for what cannot work at all (invalid
/// configuration, unusable queue folder); a broker or sensor that is down is waited for.
pub async fn run_bridge(config: BridgeConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate()?;
    if !config.cameras.is_empty()
        && let Err(e) = camera::init_gstreamer()
    {
        // Sensors matter more than pictures: poll anyway; each snapshot reports this error.
        error!("cameras unavailable: {e}");
    }
    let queue = QueueHandle::open(
        config.queue.dir.clone(),
        config.queue.max_bytes,
        config.queue.segment_bytes,
        Duration::from_millis(config.queue.sync_interval_ms),
    )
    .await
    .map_err(|e| anyhow::anyhow!("queue folder {}: {e}", config.queue.dir.display()))?;
    // Beside the queue: the data folder that survives restarts.
    let counters = {
        let dir = config.queue.dir.clone();
        tokio::task::spawn_blocking(move || CounterStore::open(&dir)).await?
    };
    let (direct_tx, direct_rx) = mpsc::channel(256);
    let (connected_tx, connected_rx) = watch::channel(false);
    let (readings_tx, readings_rx) = mpsc::channel(4096);
    let rt = Arc::new(Runtime {
        config: Mutex::new(config.clone()),
        schedule: Arc::new(Schedule::default()),
        status_values: Default::default(),
        faults: Default::default(),
        counters: Arc::new(counters),
        queue: queue.clone(),
        direct: direct_tx,
        connected: connected_rx,
        readings: readings_tx,
        polled: Default::default(),
        started: Instant::now(),
        status_skipped: Mutex::new((0, None)),
        workers: Mutex::new(Workers {
            cancel: CancellationToken::new(),
            cameras: Vec::new(),
            triggers: Vec::new(),
        }),
    });
    rt.start_workers(&config);
    if let Some(addr) = config.health_addr {
        let endpoints = health_endpoints(&rt);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = geohazard_runtime::health::serve(addr, endpoints, shutdown).await {
                error!("health and metrics endpoint: {e:#}");
            }
        });
    }
    info!(gateway = %config.gateway, firmware = FIRMWARE_VERSION, "bridge started");

    let batcher = tokio::spawn(batcher(rt.clone(), readings_rx, shutdown.clone()));
    let status_task = {
        let rt = rt.clone();
        let shutdown = shutdown.clone();
        let every = Duration::from_secs_f64(config.status.interval_s);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(Instant::now() + every, every);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => rt.publish_status(),
                }
            }
        })
    };
    let waiting = commands::Waiting::default();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    // Commands taken before the last stop and not answered: they run first.
    let unanswered = queue
        .call(|q| q.pending_with_ids(Lane::Commands))
        .await?
        .map_err(|e| anyhow::anyhow!("queue folder {}: {e}", config.queue.dir.display()))?;
    if !unanswered.is_empty() {
        info!(
            commands = unanswered.len(),
            "commands taken before the restart and not answered: executing them now"
        );
    }
    for (journal_id, m) in unanswered {
        waiting.add(&commands::target_of(&m.payload));
        let _ = cmd_tx.send(commands::Accepted {
            journal_id,
            payload: m.payload,
        });
    }
    let commands_task = tokio::spawn(commands::dispatch(
        rt.clone(),
        cmd_rx,
        waiting.clone(),
        shutdown.clone(),
    ));
    let status_rt = rt.clone();
    let link = Link {
        config,
        queue: queue.clone(),
        direct: direct_rx,
        commands: cmd_tx,
        waiting,
        connected: connected_tx,
        online_status: Arc::new(move || status_rt.status()),
    };
    let result = link.run(shutdown.clone()).await;
    shutdown.cancel();
    rt.stop_workers();
    let _ = batcher.await;
    let _ = status_task.await;
    let _ = commands_task.await;
    if let Err(e) = queue.flush().await {
        error!("queue head not saved at shutdown: {e}");
    }
    queue.close().await;
    info!("bridge stopped");
    result
}

/// Groups readings into telemetry messages and queues them. The message's `seq` is its queue
/// id: it keeps counting across restarts, so a gap at the center means a message was lost.
/// The bridge's `/readyz` (connected to the broker) and `/metrics` (readings polled, queue depth).
fn health_endpoints(rt: &Arc<Runtime>) -> geohazard_runtime::Endpoints {
    use geohazard_runtime::health::{check, observe_counter, observe_gauge};
    let mut registry = prometheus_client::registry::Registry::default();
    let polled = rt.clone();
    observe_counter(
        &mut registry,
        "geohazard_bridge_readings_polled",
        "Readings taken from the sensors",
        move || polled.polled.load(std::sync::atomic::Ordering::Relaxed),
    );
    let queue = rt.queue.clone();
    observe_gauge(
        &mut registry,
        "geohazard_bridge_queue_depth",
        "Messages in the disk queue not yet confirmed by the center",
        move || queue.depth(),
    );
    let connected = rt.connected.clone();
    let broker = check("broker", move || {
        let up = *connected.borrow();
        async move {
            if up {
                Ok(())
            } else {
                Err("not connected to the MQTT broker".to_owned())
            }
        }
    });
    geohazard_runtime::Endpoints::new(Arc::new(registry), vec![broker])
}

async fn batcher(rt: Arc<Runtime>, mut rx: mpsc::Receiver<Reading>, shutdown: CancellationToken) {
    let (delay, max) = {
        let c = rt.config.lock().expect("config lock");
        (
            Duration::from_millis(c.batch.max_delay_ms),
            c.batch.max_readings,
        )
    };
    let mut pending: Vec<Reading> = Vec::new();
    let mut deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Some(r) => {
                    rt.polled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    rt.check_triggers(&r);
                    pending.push(r);
                    deadline.get_or_insert_with(|| Instant::now() + delay);
                    if pending.len() >= max {
                        flush(&rt, &mut pending).await;
                        deadline = None;
                    }
                }
                None => break,
            },
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {
                flush(&rt, &mut pending).await;
                deadline = None;
            }
            _ = shutdown.cancelled() => break,
        }
    }
    while let Ok(r) = rx.try_recv() {
        pending.push(r);
    }
    flush(&rt, &mut pending).await;
}

async fn flush(rt: &Runtime, pending: &mut Vec<Reading>) {
    if pending.is_empty() {
        return;
    }
    let (gateway, max_packet) = {
        let c = rt.config.lock().expect("config lock");
        (c.gateway.clone(), c.mqtt.max_packet_bytes)
    };
    let topic = Topic::telemetry(&gateway);
    let readings = std::mem::take(pending);
    // On the queue's thread: a message's seq is the id it gets there.
    let queued = rt
        .queue
        .call(move |q| queue_readings(q, &topic, readings, max_packet))
        .await;
    if let Err(e) = queued {
        error!("telemetry messages not queued, readings lost: {e}");
    }
    rt.queue.notify_queued();
}

/// Appends readings as telemetry messages, each small enough for one MQTT packet.
fn queue_readings(q: &mut DiskQueue, topic: &str, mut rest: Vec<Reading>, max_packet: usize) {
    while !rest.is_empty() {
        let mut take = rest.len();
        // Halve until the message fits in one MQTT packet.
        let (seq, payload) = loop {
            let seq = q.next_id(Lane::Readings);
            let batch = TelemetryBatch {
                seq,
                readings: rest[..take].to_vec(),
            };
            let json = batch.to_json();
            if json.len() + topic.len() + 64 <= max_packet || take == 1 {
                break (seq, json);
            }
            take = take.div_ceil(2);
        };
        let msg = Message {
            topic: topic.to_owned(),
            payload: Bytes::from(payload),
        };
        match q.push(Lane::Readings, &msg) {
            Ok(id) => debug_assert_eq!(id, seq),
            Err(e) => error!(
                readings = take,
                "telemetry message could not be queued, readings lost: {e}"
            ),
        }
        rest.drain(..take);
    }
}
