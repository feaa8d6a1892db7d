//! One bridge's run: the runtime, the batcher from pollers to the disk queue, the status
//! ticker, the command dispatcher, the link to the broker and the health endpoint, started
//! together and stopped together.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use geohazard_protocol::{Reading, TelemetryBatch, Topic};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::camera;
use crate::commands;
use crate::config::BridgeConfig;
use crate::counters::{CounterStore, Polled};
use crate::link::Link;
use crate::queue::{CounterValues, DiskQueue, Lane, Message, QueueHandle};
use crate::runtime::{FIRMWARE_VERSION, Runtime, Workers};
use crate::schedule::Schedule;

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
    // The rain counters' baselines, as the queue keeps them.
    let counters = CounterStore::new(queue.call(|q| q.counter_values()).await?);
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
    observe_counter(
        &mut registry,
        "geohazard_bridge_fsyncs",
        "fsyncs of the disk queue and the files beside it (grouped by queue.sync_interval_ms)",
        crate::queue::fsyncs,
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

/// Groups readings into telemetry messages and queues them. The message's `seq` is its queue
/// id: it keeps counting across restarts, so a gap at the center means a message was lost.
async fn batcher(rt: Arc<Runtime>, mut rx: mpsc::Receiver<Polled>, shutdown: CancellationToken) {
    let (delay, max) = {
        let c = rt.config.lock().expect("config lock");
        (
            Duration::from_millis(c.batch.max_delay_ms),
            c.batch.max_readings,
        )
    };
    let mut pending = Pending::default();
    let mut deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Some(polled) => {
                    let Some(r) = pending.add(polled) else { continue };
                    rt.polled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    rt.check_triggers(r);
                    deadline.get_or_insert_with(|| Instant::now() + delay);
                    if pending.readings.len() >= max {
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
    while let Ok(polled) = rx.try_recv() {
        pending.add(polled);
    }
    flush(&rt, &mut pending).await;
}

/// Readings gathered for the next telemetry message, each with the rain counter value it was
/// computed from, and counter values read without a reading (they go into the next record).
#[derive(Default)]
struct Pending {
    readings: Vec<Reading>,
    counters: Vec<Option<(String, u64)>>,
    loose: CounterValues,
}

impl Pending {
    /// Adds what a poller sent; returns the reading, if it was one.
    fn add(&mut self, polled: Polled) -> Option<&Reading> {
        match polled.reading {
            Some(r) => {
                self.readings.push(r);
                self.counters.push(polled.counter);
                self.readings.last()
            }
            None => {
                if let Some((key, raw)) = polled.counter {
                    self.loose.insert(key, raw);
                }
                None
            }
        }
    }
}

async fn flush(rt: &Runtime, pending: &mut Pending) {
    if pending.readings.is_empty() {
        return;
    }
    let (gateway, max_packet) = {
        let c = rt.config.lock().expect("config lock");
        (c.gateway.clone(), c.mqtt.max_packet_bytes)
    };
    let topic = Topic::telemetry(&gateway);
    let batch = std::mem::take(pending);
    // On the queue's thread: a message's seq is the id it gets there.
    let queued = rt
        .queue
        .call(move |q| queue_readings(q, &topic, batch, max_packet))
        .await;
    if let Err(e) = queued {
        error!("telemetry messages not queued, readings lost: {e}");
    }
    rt.queue.notify_queued();
}

/// Appends readings as telemetry messages, each small enough for one MQTT packet, each with
/// the rain counter values of its own readings (a power cut between two of them leaves every
/// baseline beside its reading).
fn queue_readings(q: &mut DiskQueue, topic: &str, batch: Pending, max_packet: usize) {
    let Pending {
        readings: mut rest,
        counters: mut rest_counters,
        mut loose,
    } = batch;
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
        let mut values = if take == rest.len() {
            std::mem::take(&mut loose)
        } else {
            CounterValues::new()
        };
        // In reading order: the last value of a counter in this message wins.
        values.extend(rest_counters.drain(..take).flatten());
        match q.push_telemetry(&msg, &values) {
            Ok(id) => debug_assert_eq!(id, seq),
            Err(e) => error!(
                readings = take,
                "telemetry message could not be queued, readings lost: {e}"
            ),
        }
        rest.drain(..take);
    }
}
