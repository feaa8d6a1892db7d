//! What the tasks of one bridge share: its configuration, the workers (pollers, cameras,
//! triggers) it runs, the queue and the direct lane to the link, and the status it reports.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use geohazard_bus::rumqttc::QoS;
use geohazard_protocol::{GatewayStatus, Reading, Topic};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::camera::{self, CameraHandle, FrameSink};
use crate::config::{BridgeConfig, TriggerConfig};
use crate::counters::{CounterStore, Polled};
use crate::direct::Direct;
use crate::modbus::{self, PollOutput, SharedFaults, SharedStatusValues};
use crate::queue::{Lane, Message, QueueError, QueueHandle};
use crate::schedule::Schedule;

/// Reported in the status message.
pub(crate) const FIRMWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) struct Trigger {
    cfg: TriggerConfig,
    camera: CameraHandle,
    last: Option<Instant>,
}

pub(crate) struct Workers {
    pub(crate) cancel: CancellationToken,
    pub(crate) cameras: Vec<CameraHandle>,
    pub(crate) triggers: Vec<Trigger>,
}

/// What the tasks of one bridge share.
pub(crate) struct Runtime {
    pub(crate) config: Mutex<BridgeConfig>,
    pub(crate) schedule: Arc<Schedule>,
    pub(crate) status_values: SharedStatusValues,
    pub(crate) faults: SharedFaults,
    pub(crate) counters: Arc<CounterStore>,
    pub(crate) queue: QueueHandle,
    pub(crate) direct: mpsc::Sender<Direct>,
    pub(crate) connected: watch::Receiver<bool>,
    pub(crate) readings: mpsc::Sender<Polled>,
    /// Readings the pollers produced (each a successful poll of a point).
    pub(crate) polled: std::sync::atomic::AtomicU64,
    pub(crate) started: Instant,
    pub(crate) workers: Mutex<Workers>,
    /// Status publishes skipped because the link was busy, since the last warning about it.
    pub(crate) status_skipped: Mutex<(u64, Option<Instant>)>,
}

/// A link too busy for the status is said at most this often (with the count), not per skip.
const SKIPPED_STATUS_WARNING_EVERY: Duration = Duration::from_secs(60);

impl Runtime {
    pub(crate) fn gateway(&self) -> String {
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
    pub(crate) fn start_workers(&self, config: &BridgeConfig) {
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

    pub(crate) fn stop_workers(&self) {
        self.workers.lock().expect("workers lock").cancel.cancel();
    }

    /// A local trigger: a reading crossed a camera's limit (and its cooldown has passed).
    pub(crate) fn check_triggers(&self, r: &Reading) {
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
