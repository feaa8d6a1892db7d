//! Shared parts of the bridge's tests: a recording MQTT client, simulator points, a bridge task.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use geohazard_firmware_bridge::{BridgeConfig, SimConfig, SimHandle, run_bridge, start_sensor_sim};
use geohazard_firmware_bridge::{DataType, Function, WordOrder};
use geohazard_firmware_bridge::{SimPoint, SimSource};
use geohazard_protocol::{CommandAck, CommandEnvelope, Reading, TelemetryBatch, Topic};
use geohazard_testkit::Broker;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Everything this test binary logs, to count what a failure writes (instead of [`init_logs`]:
/// one subscriber per test binary).
pub fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .init();
        logs
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captured log lines holding every one of `words`.
pub fn log_lines_with(words: &[&str]) -> usize {
    let text = String::from_utf8_lossy(&capture_logs().lock().unwrap()).into_owned();
    text.lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .count()
}

/// Records every message on its subscriptions; resubscribes when the broker lost the session.
pub struct Recorder {
    pub client: AsyncClient,
    messages: Arc<Mutex<Vec<(String, Bytes)>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    pub async fn start(port: u16, id: &str, clean_session: bool, filters: &[&str]) -> Recorder {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_clean_session(clean_session);
        o.set_max_packet_size(8 << 20, 8 << 20);
        o.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(o, 100);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (subscribed_tx, mut subscribed_rx) = tokio::sync::mpsc::channel(4);
        let filters: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
        let m = messages.clone();
        let c = client.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                        if !ack.session_present {
                            for f in &filters {
                                // Never await a request inside the poll loop: try_ only.
                                c.try_subscribe(f.clone(), QoS::AtLeastOnce).unwrap();
                            }
                        } else {
                            let _ = subscribed_tx.try_send(());
                        }
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        let _ = subscribed_tx.try_send(());
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        m.lock().unwrap().push((p.topic.clone(), p.payload.clone()));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), subscribed_rx.recv())
            .await
            .expect("the recorder subscribes");
        Recorder {
            client,
            messages,
            task,
        }
    }

    pub fn messages(&self) -> Vec<(String, Bytes)> {
        self.messages.lock().unwrap().clone()
    }

    pub fn on(&self, topic: &str) -> Vec<Bytes> {
        self.messages()
            .into_iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| p)
            .collect()
    }

    /// Telemetry batches in arrival order.
    pub fn batches(&self, gateway: &str) -> Vec<TelemetryBatch> {
        self.on(&Topic::telemetry(gateway))
            .iter()
            .map(|p| serde_json::from_slice(p).expect("telemetry from the bridge decodes"))
            .collect()
    }

    /// Every reading of one channel, in arrival order (duplicates of a redelivered batch removed).
    pub fn readings(&self, gateway: &str, channel: &str) -> Vec<Reading> {
        let mut seen = std::collections::HashSet::new();
        self.batches(gateway)
            .into_iter()
            .filter(|b| seen.insert(b.seq))
            .flat_map(|b| b.readings)
            .filter(|r| r.sensor == channel)
            .collect()
    }

    pub fn acks(&self, gateway: &str) -> Vec<CommandAck> {
        self.on(&Topic::command_ack(gateway))
            .iter()
            .map(|p| serde_json::from_slice(p).expect("acks decode"))
            .collect()
    }

    pub async fn send_raw(&self, gateway: &str, payload: &[u8]) {
        self.client
            .publish(
                Topic::command(gateway),
                QoS::AtLeastOnce,
                false,
                payload.to_vec(),
            )
            .await
            .unwrap();
    }

    /// Sends a command and waits for its ack.
    pub async fn command(
        &self,
        gateway: &str,
        id: &str,
        name: &str,
        args: serde_json::Value,
    ) -> CommandAck {
        self.send_command(gateway, id, name, args).await;
        self.wait_ack(gateway, id, Duration::from_secs(30)).await
    }

    pub async fn send_command(&self, gateway: &str, id: &str, name: &str, args: serde_json::Value) {
        let cmd = CommandEnvelope {
            id: id.into(),
            name: name.into(),
            args,
        };
        self.send_raw(gateway, &cmd.to_json()).await;
    }

    pub async fn wait_ack(&self, gateway: &str, id: &str, within: Duration) -> CommandAck {
        geohazard_testkit::eventually(within, &format!("the ack of command `{id}`"), || async {
            self.acks(gateway).into_iter().find(|a| a.id == id)
        })
        .await
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The ack says the command failed, and why.
#[track_caller]
pub fn assert_refused(ack: &CommandAck, reason: &str) {
    assert!(!ack.ok, "expected a refusal: {ack:?}");
    let e = ack.error.as_deref().unwrap_or_default();
    assert!(e.contains(reason), "error `{e}` does not say `{reason}`");
}

pub fn point(
    channel: &str,
    slave: u8,
    address: u16,
    data_type: DataType,
    source: SimSource,
) -> SimPoint {
    SimPoint {
        channel: channel.into(),
        slave,
        function: Function::Holding,
        address,
        data_type,
        word_order: WordOrder::HighFirst,
        scale: 1.0,
        offset: 0.0,
        interval_s: 0.2,
        source,
    }
}

pub fn constant(v: f64) -> SimSource {
    SimSource::Constant { value: v }
}

pub async fn sim(points: Vec<SimPoint>) -> SimHandle {
    start_sensor_sim(SimConfig {
        listen: "127.0.0.1:0".into(),
        speed: 1.0,
        tick_ms: 100,
        points,
    })
    .await
    .expect("the simulator starts")
}

/// A bridge configuration reading everything the simulator serves, fast, with a short timeout.
pub fn bridge_config(
    gateway: &str,
    sim: &SimHandle,
    points: &[SimPoint],
    broker: &Broker,
    queue: &std::path::Path,
) -> BridgeConfig {
    let sim_cfg = SimConfig {
        listen: sim.addr().to_string(),
        speed: 1.0,
        tick_ms: 100,
        points: points.to_vec(),
    };
    let mut c = sim_cfg.bridge_config(gateway, sim.addr(), &broker.url(), queue);
    c.modbus[0].timeout_ms = 300;
    c.batch.max_delay_ms = 100;
    c.mqtt.reconnect_min_ms = 100;
    c.mqtt.reconnect_max_ms = 1000;
    // No collector confirms in these tests: the broker's PUBACK ends a message's stay.
    c.queue.until_confirmed = false;
    c
}

/// The `firmware-bridge` binary as a child process (killed when dropped), logging to stderr.
pub fn spawn_bridge_binary(config_path: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_firmware-bridge"))
        .arg("--config")
        .arg(config_path)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the bridge binary starts")
}

pub struct RunningBridge {
    pub cancel: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl RunningBridge {
    pub fn start(config: BridgeConfig) -> RunningBridge {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_bridge(config, cancel.clone()));
        RunningBridge { cancel, task }
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the bridge stops")
            .expect("the bridge task does not panic")
            .expect("the bridge ends without error");
    }
}
