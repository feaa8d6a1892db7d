//! The MQTT link: one rumqttc client per connection, its event loop polled in its own task,
//! queued messages published at QoS 1 and removed from the queue only on their PUBACK.
//!
//! Each connection starts from a fresh rumqttc client, so rumqttc never replays (or silently
//! drops) anything on its own: after a reconnect, everything not yet acknowledged is sent again
//! from the on-disk queue, oldest first. The broker side is a persistent session under the
//! gateway code (`clean_session = false`), so commands sent while the gateway is away wait there.
//!
//! With `queue.until_confirmed`, a telemetry message's PUBACK only stops its resending on this
//! connection: it leaves the queue when the collector confirms its `seq` on
//! `gh/v1/gw/{gateway}/telemetry/ack` (the seq is its id in the readings lane). A broker that
//! crashes before saving it cannot lose it: it is sent again after the reconnect.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use geohazard_bus::AckTracker;
use geohazard_protocol::{GatewayStatus, TelemetryAck, Topic};
use rumqttc::{
    AsyncClient, ConnectionError, Event, Incoming, LastWill, MqttOptions, Outgoing, QoS,
    SubscribeFilter, SubscribeReasonCode,
};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::config::BridgeConfig;
use crate::queue::{DiskQueue, Lane};

/// A message published without the disk queue: command acks, status, live-view frames.
#[derive(Debug, Clone)]
pub struct Direct {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
}

impl Direct {
    /// A command's acknowledgement on the gateway's `cmd/ack` topic.
    pub fn command_ack(gateway: &str, ack: &geohazard_protocol::CommandAck) -> Direct {
        Direct {
            topic: Topic::command_ack(gateway),
            payload: Bytes::from(ack.to_json()),
            qos: QoS::AtLeastOnce,
            retain: false,
        }
    }
}

/// Frames are large: at most this many in flight, so readings are never stuck behind them.
const FRAMES_IN_FLIGHT: usize = 2;

pub struct Link {
    pub config: BridgeConfig,
    pub queue: Arc<Mutex<DiskQueue>>,
    pub queued: Arc<Notify>,
    pub direct: mpsc::Receiver<Direct>,
    pub commands: mpsc::Sender<Bytes>,
    pub connected: watch::Sender<bool>,
    /// The retained status published when a connection comes up.
    pub online_status: Arc<dyn Fn() -> GatewayStatus + Send + Sync>,
}

#[derive(Debug, Clone, Copy)]
enum Tracked {
    Queue(Lane, u64),
    Direct,
}

enum SessionEnd {
    Cancelled,
    Lost(String),
}

impl Link {
    fn options(&self) -> anyhow::Result<MqttOptions> {
        let (host, port) = self.config.mqtt.host_port()?;
        let mut o = MqttOptions::new(
            self.config.mqtt.client_id_for(&self.config.gateway),
            host,
            port,
        );
        o.set_keep_alive(self.config.keep_alive());
        // The broker keeps the command subscription and the commands sent while we are away.
        o.set_clean_session(false);
        // rumqttc's default is 10 KiB: frames need the configured limit.
        let max = self.config.mqtt.max_packet_bytes;
        o.set_max_packet_size(max, max);
        o.set_inflight((self.config.mqtt.max_inflight * 2 + 16).min(u16::MAX as usize) as u16);
        o.set_last_will(LastWill::new(
            Topic::status(&self.config.gateway),
            GatewayStatus::offline().to_json(),
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(user) = &self.config.mqtt.username {
            o.set_credentials(user, self.config.mqtt.password.clone().unwrap_or_default());
        }
        Ok(o)
    }

    pub async fn run(mut self, cancel: CancellationToken) -> anyhow::Result<()> {
        let options = self.options()?;
        let min = Duration::from_millis(self.config.mqtt.reconnect_min_ms.max(10));
        let max = Duration::from_millis(self.config.mqtt.reconnect_max_ms).max(min);
        let mut backoff = min;
        let mut failures = 0u32;
        // Whether the broker's stored session holds our command subscription (SUBACK seen).
        let mut subscribed = false;
        loop {
            let (client, mut eventloop) = AsyncClient::new(options.clone(), 64);
            let (ev_tx, ev_rx) = mpsc::unbounded_channel();
            // The event loop only polls and forwards: nothing in it ever awaits a publish.
            let poller = tokio::spawn(async move {
                loop {
                    let ev = eventloop.poll().await;
                    let end = ev.is_err();
                    if ev_tx.send(ev).is_err() || end {
                        break;
                    }
                }
            });
            let started = tokio::time::Instant::now();
            let end = self.session(&client, ev_rx, &mut subscribed, &cancel).await;
            poller.abort();
            let _ = self.connected.send(false);
            if let Err(e) = self.queue.lock().expect("queue lock").flush() {
                warn!("queue head not saved: {e}");
            }
            match end {
                SessionEnd::Cancelled => return Ok(()),
                SessionEnd::Lost(why) => {
                    if started.elapsed() > Duration::from_secs(30) {
                        backoff = min;
                        failures = 0;
                    }
                    failures += 1;
                    if failures == 1 || failures.is_power_of_two() {
                        warn!(failures, "broker link down: {why}; retrying in {backoff:?}");
                    } else {
                        debug!(failures, "broker link down: {why}");
                    }
                    // Jitter keeps a fleet of gateways from reconnecting in lockstep.
                    let jitter = rand::random_range(0.8..1.2);
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(backoff.mul_f64(jitter)) => {}
                    }
                    backoff = (backoff * 2).min(max);
                }
            }
        }
    }

    async fn session(
        &mut self,
        client: &AsyncClient,
        mut events: mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
        subscribed: &mut bool,
        cancel: &CancellationToken,
    ) -> SessionEnd {
        let gateway = self.config.gateway.clone();
        let cmd_topic = Topic::command(&gateway);
        // The first event is the CONNACK or the reason there is none.
        tokio::select! {
            _ = cancel.cancelled() => return SessionEnd::Cancelled,
            ev = events.recv() => match ev {
                Some(Ok(Event::Incoming(Incoming::ConnAck(ack)))) => {
                    if !ack.session_present {
                        *subscribed = false;
                    }
                }
                Some(Ok(other)) => return SessionEnd::Lost(format!("expected CONNACK, got {other:?}")),
                Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                None => return SessionEnd::Lost("event loop ended".into()),
            }
        }
        info!(gateway = %gateway, "connected to the broker");
        // Subscribe when the broker has no session for us (first start, session expired, broker
        // lost it) or never confirmed the subscriptions; otherwise the session already has them.
        let until_confirmed = self.config.queue.until_confirmed;
        let confirm_topic = Topic::telemetry_ack(&gateway);
        if !*subscribed {
            let mut filters = vec![SubscribeFilter::new(cmd_topic.clone(), QoS::AtLeastOnce)];
            if until_confirmed {
                filters.push(SubscribeFilter::new(
                    confirm_topic.clone(),
                    QoS::AtLeastOnce,
                ));
            }
            if let Err(e) = client.subscribe_many(filters).await {
                return SessionEnd::Lost(format!("subscribe: {e}"));
            }
        }
        // A fresh tracker per connection: each starts from a fresh client with nothing in flight.
        let mut tracker: AckTracker<Tracked> = AckTracker::default();
        let mut in_flight = [0usize; 2];
        let mut cursor: [Option<u64>; 2] = [None, None];
        let window = self.config.mqtt.max_inflight;
        let max_packet = self.config.mqtt.max_packet_bytes;
        let status = (self.online_status)();
        let status_msg = Direct {
            topic: Topic::status(&gateway),
            payload: Bytes::from(status.to_json()),
            qos: QoS::AtLeastOnce,
            retain: true,
        };
        if let Err(e) = publish(client, &status_msg).await {
            return SessionEnd::Lost(e);
        }
        tracker.queued(Tracked::Direct);
        let _ = self.connected.send(true);

        loop {
            let next = if in_flight[0] + in_flight[1] < window {
                let q = self.queue.lock().expect("queue lock");
                q.next_after(Lane::Readings, cursor[0])
                    .map(|id| (Lane::Readings, id))
                    .or_else(|| {
                        (in_flight[1] < FRAMES_IN_FLIGHT)
                            .then(|| q.next_after(Lane::Frames, cursor[1]))
                            .flatten()
                            .map(|id| (Lane::Frames, id))
                    })
            } else {
                None
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    self.say_goodbye(client, &mut events).await;
                    return SessionEnd::Cancelled;
                }
                ev = events.recv() => {
                    let ev = match ev {
                        Some(Ok(ev)) => ev,
                        Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                        None => return SessionEnd::Lost("event loop ended".into()),
                    };
                    match ev {
                        Event::Outgoing(Outgoing::Publish(pkid)) => {
                            // Only direct messages go at QoS 0; nothing to confirm for them.
                            tracker.sent(pkid);
                        }
                        Event::Outgoing(Outgoing::AwaitAck(pkid)) => tracker.held(pkid),
                        Event::Incoming(Incoming::PubAck(ack)) => {
                            if let Some(Tracked::Queue(lane, id)) = tracker.acked(ack.pkid) {
                                in_flight[lane_index(lane)] -= 1;
                                // A confirmed message waits for the collector's word instead.
                                if !(until_confirmed && lane == Lane::Readings) {
                                    self.forget(lane, id);
                                }
                            }
                        }
                        Event::Incoming(Incoming::SubAck(s)) => {
                            *subscribed = !s.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure));
                            if !*subscribed {
                                error!(commands = %cmd_topic, confirmations = %confirm_topic, "the broker refused a subscription: commands or confirmations will not arrive");
                            }
                        }
                        Event::Incoming(Incoming::Publish(p)) if p.topic == confirm_topic => {
                            match serde_json::from_slice::<TelemetryAck>(&p.payload) {
                                Ok(confirmed) => {
                                    for seq in confirmed.seqs {
                                        self.forget(Lane::Readings, seq);
                                    }
                                }
                                Err(e) => warn!("unreadable telemetry confirmation ignored: {e}"),
                            }
                        }
                        Event::Incoming(Incoming::Publish(p)) => {
                            if p.topic == cmd_topic {
                                if let Err(TrySendError::Full(payload)) = self.commands.try_send(p.payload) {
                                    // Never silently: the center hears at once that it must retry.
                                    let waiting = self.config.commands.max_waiting;
                                    let ack = crate::commands::busy(&payload, waiting);
                                    warn!(id = %ack.id, "command refused: {waiting} commands already wait");
                                    if let Err(e) = publish(client, &Direct::command_ack(&gateway, &ack)).await {
                                        return SessionEnd::Lost(e);
                                    }
                                    tracker.queued(Tracked::Direct);
                                }
                            } else {
                                debug!(topic = %p.topic, "message on an unexpected topic ignored");
                            }
                        }
                        _ => {}
                    }
                }
                d = self.direct.recv() => {
                    let Some(d) = d else { return SessionEnd::Cancelled };
                    if d.payload.len() + d.topic.len() + 16 > max_packet {
                        error!(topic = %d.topic, bytes = d.payload.len(), max_packet, "message larger than mqtt.max_packet_bytes: not sent");
                        continue;
                    }
                    if let Err(e) = publish(client, &d).await {
                        return SessionEnd::Lost(e);
                    }
                    tracker.queued(Tracked::Direct);
                }
                _ = async {}, if next.is_some() => {
                    let (lane, id) = next.expect("guarded");
                    cursor[lane_index(lane)] = Some(id);
                    let msg = self.queue.lock().expect("queue lock").read(lane, id);
                    let msg = match msg {
                        Ok(Some(m)) => m,
                        Ok(None) => continue, // dropped by the queue policy meanwhile
                        Err(e) => {
                            error!("queued {lane:?} message {id} is unreadable and is skipped: {e}");
                            let _ = self.queue.lock().expect("queue lock").ack(lane, id);
                            continue;
                        }
                    };
                    if msg.payload.len() + msg.topic.len() + 16 > max_packet {
                        error!(topic = %msg.topic, bytes = msg.payload.len(), max_packet, "queued message larger than mqtt.max_packet_bytes: dropped");
                        let _ = self.queue.lock().expect("queue lock").ack(lane, id);
                        continue;
                    }
                    let d = Direct { topic: msg.topic, payload: msg.payload, qos: QoS::AtLeastOnce, retain: false };
                    if let Err(e) = publish(client, &d).await {
                        return SessionEnd::Lost(e);
                    }
                    tracker.queued(Tracked::Queue(lane, id));
                    in_flight[lane_index(lane)] += 1;
                }
                _ = self.queued.notified(), if next.is_none() && in_flight[0] + in_flight[1] < window => {}
            }
        }
    }

    /// The message is delivered for good: it leaves the queue.
    fn forget(&self, lane: Lane, id: u64) {
        if let Err(e) = self.queue.lock().expect("queue lock").ack(lane, id) {
            error!("queue ack of {lane:?} {id} failed: {e}");
        }
    }

    /// A clean shutdown: mark the gateway offline ourselves (the will only fires on a lost link).
    async fn say_goodbye(
        &self,
        client: &AsyncClient,
        events: &mut mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
    ) {
        let bye = Direct {
            topic: Topic::status(&self.config.gateway),
            payload: Bytes::from(GatewayStatus::offline().to_json()),
            qos: QoS::AtLeastOnce,
            retain: true,
        };
        if publish(client, &bye).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(ev)) = events.recv().await {
                if let Event::Incoming(Incoming::PubAck(_)) = ev {
                    // Any ack after the goodbye was sent is good enough to leave.
                    break;
                }
            }
        })
        .await;
        let _ = client.disconnect().await;
    }
}

fn lane_index(lane: Lane) -> usize {
    match lane {
        Lane::Readings => 0,
        Lane::Frames => 1,
    }
}

async fn publish(client: &AsyncClient, d: &Direct) -> Result<(), String> {
    client
        .publish_bytes(d.topic.clone(), d.qos, d.retain, d.payload.clone())
        .await
        .map_err(|e| format!("publish: {e}"))
}
