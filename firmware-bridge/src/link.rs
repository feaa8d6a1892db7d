//! The MQTT link: queued messages published at QoS 1 over a [`geohazard_bus::Connection`] and
//! removed from the queue only on their PUBACK.
//!
//! Each connection starts from a fresh rumqttc client, so rumqttc never replays (or silently
//! drops) anything on its own: after a reconnect, everything not yet acknowledged is sent again
//! from the on-disk queue, oldest first. The broker side is a persistent session under the
//! gateway code (`clean_session = false`), so commands sent while the gateway is away wait there.
//!
//! With `queue.until_confirmed`, a telemetry message's PUBACK only stops its resending on this
//! connection: it leaves the queue when the collector confirms its `seq` on
//! `gh/v1/gw/{gateway}/telemetry/ack` (the seq is its id in the readings lane). A broker that
//! crashes before saving it cannot lose it: it is sent again after the reconnect, and a collector
//! that took it but never confirmed it (restarted meanwhile) gets it again after
//! `queue.confirm_timeout_s`, doubling up to `queue.confirm_timeout_max_s` while none comes.
//!
//! Commands are taken with manual acks: each is written to the queue's `commands` lane before
//! the broker hears it was received (see `commands`).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use geohazard_bus::rumqttc::{LastWill, QoS};
use geohazard_bus::{BusConfig, Connection, Lost, Received};
use geohazard_protocol::{GatewayStatus, TelemetryAck, Topic};
use geohazard_runtime::Backoff;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::commands::{Accepted, Waiting};
use crate::config::BridgeConfig;
use crate::direct::Direct;
use crate::queue::{Lane, Message, Next, QueueHandle};

/// Frames are large: at most this many in flight, so readings are never stuck behind them.
const FRAMES_IN_FLIGHT: usize = 2;
/// How long a clean shutdown waits for the broker to take the offline status.
const GOODBYE: Duration = Duration::from_secs(2);

pub(crate) struct Link {
    pub config: BridgeConfig,
    pub queue: QueueHandle,
    pub direct: mpsc::Receiver<Direct>,
    pub commands: mpsc::UnboundedSender<Accepted>,
    pub waiting: Waiting,
    pub connected: watch::Sender<bool>,
    /// The retained status published when a connection comes up.
    pub online_status: Arc<dyn Fn() -> GatewayStatus + Send + Sync>,
}

/// A queued message in flight: it comes back when the broker has it.
#[derive(Debug, Clone, Copy)]
struct Queued {
    lane: Lane,
    id: u64,
}

enum SessionEnd {
    Cancelled,
    Lost(Lost),
}

impl Link {
    fn connection(&self) -> anyhow::Result<Connection<Queued>> {
        let gateway = &self.config.gateway;
        let m = &self.config.mqtt;
        let mut bus = BusConfig::new(&m.url, m.client_id_for(gateway));
        // The broker keeps the command subscription and the commands sent while we are away.
        bus.persistent_session = true;
        // rumqttc's default is 10 KiB: frames need the configured limit.
        bus.max_packet_bytes = m.max_packet_bytes;
        bus.inflight = (m.max_inflight * 2 + 16).min(u16::MAX as usize) as u16;
        bus.keep_alive_secs = m.keep_alive_s;
        let mut options = bus.mqtt_options()?;
        // A command's delivery is acknowledged once it is on disk (or answered `busy`).
        options.set_manual_acks(true);
        options.set_last_will(LastWill::new(
            Topic::status(gateway),
            GatewayStatus::offline().to_json(),
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(user) = &m.username {
            options.set_credentials(
                user,
                m.password
                    .as_ref()
                    .map(|p| p.expose().clone())
                    .unwrap_or_default(),
            );
        }
        let mut subscriptions = vec![(Topic::command(gateway), QoS::AtLeastOnce)];
        if self.config.queue.until_confirmed {
            subscriptions.push((Topic::telemetry_ack(gateway), QoS::AtLeastOnce));
        }
        let min = Duration::from_millis(m.reconnect_min_ms.max(10));
        let max = Duration::from_millis(m.reconnect_max_ms);
        // Jitter keeps a fleet of gateways from reconnecting in lockstep.
        let backoff = Backoff::new(min, max).with_jitter();
        Ok(Connection::new(options, subscriptions, backoff))
    }

    pub async fn run(mut self, cancel: CancellationToken) -> anyhow::Result<()> {
        let mut conn = self.connection()?;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = conn.connect() => {}
            }
            let end = self.session(&mut conn, &cancel).await;
            let _ = self.connected.send(false);
            if let Err(e) = self.queue.flush().await {
                warn!("queue head not saved: {e}");
            }
            match end {
                SessionEnd::Cancelled => return Ok(()),
                SessionEnd::Lost(why) => conn.lost(&why),
            }
        }
    }

    async fn session(
        &mut self,
        conn: &mut Connection<Queued>,
        cancel: &CancellationToken,
    ) -> SessionEnd {
        let gateway = self.config.gateway.clone();
        let cmd_topic = Topic::command(&gateway);
        let confirm_topic = Topic::telemetry_ack(&gateway);
        let until_confirmed = self.config.queue.until_confirmed;
        let window = self.config.mqtt.max_inflight;
        let max_packet = self.config.mqtt.max_packet_bytes;
        info!(gateway = %gateway, "connected to the broker");
        // Fresh per connection: a fresh client has nothing in flight, and everything not yet
        // acknowledged is sent again from the oldest.
        let mut in_flight = [0usize; 3];
        let mut cursor: [Option<u64>; 3] = [None, None, None];
        // Telemetry the broker took, waiting for the collector's confirmation: (resend at, id),
        // and each id's resend time.
        let mut unconfirmed: BTreeSet<(Instant, u64)> = BTreeSet::new();
        let mut resend_at: HashMap<u64, Instant> = HashMap::new();
        let confirm_min = Duration::from_secs_f64(self.config.queue.confirm_timeout_s);
        let confirm_max = Duration::from_secs_f64(self.config.queue.confirm_timeout_max_s);
        let mut confirm_wait = confirm_min;
        // Read ahead from the queue, so its thread is asked once per batch, not per message.
        let mut ready: VecDeque<Next> = VecDeque::new();
        // The last read found nothing more to send: wait for a push or a confirmation.
        let mut drained = false;

        let status = (self.online_status)();
        let status = Bytes::from(status.to_json());
        if let Err(e) = conn
            .publish(
                Topic::status(&gateway),
                QoS::AtLeastOnce,
                true,
                status,
                None,
            )
            .await
        {
            return SessionEnd::Lost(e);
        }
        let _ = self.connected.send(true);

        loop {
            let busy = in_flight[0] + in_flight[1];
            let room = window.saturating_sub(busy);
            // Refill once a quarter of the window is free (or nothing is in flight).
            if ready.is_empty() && !drained && room > 0 && (busy == 0 || room >= window / 4) {
                let frames = FRAMES_IN_FLIGHT.saturating_sub(in_flight[1]).min(room);
                match self.queue.next(cursor, room, frames).await {
                    Ok(batch) => {
                        drained = batch.is_empty();
                        for n in batch {
                            cursor[lane_index(n.lane)] = Some(n.id);
                            ready.push_back(n);
                        }
                    }
                    Err(e) => {
                        error!("the link cannot read the queue: {e}");
                        return SessionEnd::Cancelled;
                    }
                }
            }
            let next_resend = unconfirmed.first().map(|(at, _)| *at);
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    // A clean shutdown: mark the gateway offline ourselves (the will only fires
                    // on a lost link).
                    let bye = Bytes::from(GatewayStatus::offline().to_json());
                    conn.close(Some((Topic::status(&gateway), bye)), GOODBYE).await;
                    return SessionEnd::Cancelled;
                }
                received = conn.next() => match received {
                    Err(e) => return SessionEnd::Lost(e),
                    Ok(Received::Confirmed(Queued { lane, id })) => {
                        in_flight[lane_index(lane)] -= 1;
                        drained = false;
                        // A confirmed message waits for the collector's word instead.
                        if until_confirmed && lane == Lane::Readings {
                            let at = Instant::now() + confirm_wait;
                            if let Some(old) = resend_at.insert(id, at) {
                                unconfirmed.remove(&(old, id));
                            }
                            unconfirmed.insert((at, id));
                        } else {
                            self.queue.ack(lane, id);
                        }
                    }
                    Ok(Received::Message(p)) if p.topic == confirm_topic => {
                        match serde_json::from_slice::<TelemetryAck>(&p.payload) {
                            Ok(confirmed) => {
                                for seq in confirmed.seqs {
                                    if let Some(at) = resend_at.remove(&seq) {
                                        unconfirmed.remove(&(at, seq));
                                        // The collector is there: back to the shortest wait.
                                        confirm_wait = confirm_min;
                                    }
                                    self.queue.ack(Lane::Readings, seq);
                                }
                            }
                            Err(e) => warn!("unreadable telemetry confirmation ignored: {e}"),
                        }
                        if let Err(e) = conn.ack(&p).await {
                            return SessionEnd::Lost(e);
                        }
                    }
                    Ok(Received::Message(p)) if p.topic == cmd_topic => {
                        if let Err(e) = self.take_command(conn, &p).await {
                            return SessionEnd::Lost(e);
                        }
                    }
                    Ok(Received::Message(p)) => {
                        debug!(topic = %p.topic, "message on an unexpected topic ignored");
                        if let Err(e) = conn.ack(&p).await {
                            return SessionEnd::Lost(e);
                        }
                    }
                    // The link subscribes only at connect, with no tokens.
                    Ok(Received::Subscribed { .. }) => {}
                },
                d = self.direct.recv() => {
                    let Some(d) = d else { return SessionEnd::Cancelled };
                    if d.payload.len() + d.topic.len() + 16 > max_packet {
                        error!(topic = %d.topic, bytes = d.payload.len(), max_packet, "message larger than mqtt.max_packet_bytes: not sent");
                        continue;
                    }
                    if let Err(e) = conn.publish(d.topic, d.qos, d.retain, d.payload, None).await {
                        return SessionEnd::Lost(e);
                    }
                }
                _ = async {}, if !ready.is_empty() && busy < window => {
                    let Next { lane, id, message } = ready.pop_front().expect("guarded");
                    let msg = match message {
                        Ok(Some(m)) => m,
                        Ok(None) => continue, // dropped by the queue policy meanwhile
                        Err(e) => {
                            error!("queued {lane:?} message {id} is unreadable and is skipped: {e}");
                            self.queue.ack(lane, id);
                            continue;
                        }
                    };
                    if msg.payload.len() + msg.topic.len() + 16 > max_packet {
                        error!(topic = %msg.topic, bytes = msg.payload.len(), max_packet, "queued message larger than mqtt.max_packet_bytes: dropped");
                        self.queue.ack(lane, id);
                        continue;
                    }
                    let token = Some(Queued { lane, id });
                    if let Err(e) = conn.publish(msg.topic, QoS::AtLeastOnce, false, msg.payload, token).await {
                        return SessionEnd::Lost(e);
                    }
                    in_flight[lane_index(lane)] += 1;
                }
                _ = self.queue.queued(), if ready.is_empty() && drained => drained = false,
                _ = sleep_until_opt(next_resend) => {
                    let now = Instant::now();
                    let mut due = Vec::new();
                    while let Some(&(at, id)) = unconfirmed.first() {
                        if at > now {
                            break;
                        }
                        unconfirmed.pop_first();
                        resend_at.remove(&id);
                        due.push(id);
                    }
                    warn!(
                        messages = due.len(),
                        waited = ?confirm_wait,
                        "telemetry not confirmed by the collector in time: sending it again"
                    );
                    confirm_wait = (confirm_wait * 2).min(confirm_max);
                    match self.queue.read_again(Lane::Readings, due).await {
                        // Ahead of what waits: they are the oldest.
                        Ok(again) => {
                            for n in again.into_iter().rev() {
                                ready.push_front(n);
                            }
                        }
                        Err(e) => {
                            error!("the link cannot read the queue: {e}");
                            return SessionEnd::Cancelled;
                        }
                    }
                }
            }
        }
    }

    /// Takes a command from the broker: on disk first, then its delivery acknowledged, then
    /// handed to its target's queue. One that finds its target's queue full is answered `busy`.
    async fn take_command(
        &mut self,
        conn: &mut Connection<Queued>,
        p: &geohazard_bus::rumqttc::Publish,
    ) -> Result<(), Lost> {
        let target = crate::commands::target_of(&p.payload);
        let max = self.config.commands.max_waiting;
        if !self.waiting.try_add(&target, max) {
            // Never silently: the center hears at once that it must retry.
            let ack = crate::commands::busy(&p.payload, max, &target);
            warn!(id = %ack.id, %target, "command refused: {max} commands already wait");
            self.store_answer(conn, &ack).await?;
            return conn.ack(p).await;
        }
        let command = Message {
            topic: p.topic.clone(),
            payload: p.payload.clone(),
        };
        match self.queue.push(Lane::Commands, command).await {
            Ok(journal_id) => {
                conn.ack(p).await?;
                let _ = self.commands.send(Accepted {
                    journal_id,
                    payload: p.payload.clone(),
                });
            }
            Err(e) => {
                self.waiting.done(&target);
                let ack = geohazard_protocol::CommandAck::failure(
                    geohazard_protocol::CommandEnvelope::id_of(&p.payload),
                    format!("not executed: the gateway cannot store the command ({e})"),
                );
                error!(id = %ack.id, "command not stored: {e}");
                self.store_answer(conn, &ack).await?;
                conn.ack(p).await?;
            }
        }
        Ok(())
    }

    /// Puts an answer in the `answers` lane (published from there), or publishes it now when the
    /// queue cannot take it.
    async fn store_answer(
        &mut self,
        conn: &mut Connection<Queued>,
        ack: &geohazard_protocol::CommandAck,
    ) -> Result<(), Lost> {
        let d = Direct::command_ack(&self.config.gateway, ack);
        let msg = Message {
            topic: d.topic.clone(),
            payload: d.payload.clone(),
        };
        match self.queue.push(Lane::Answers, msg).await {
            Ok(_) => Ok(()),
            Err(e) => {
                error!(id = %ack.id, "command answer not stored: {e}; sending it directly");
                conn.publish(d.topic, d.qos, d.retain, d.payload, None)
                    .await
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

fn lane_index(lane: Lane) -> usize {
    match lane {
        Lane::Readings => 0,
        Lane::Frames => 1,
        Lane::Answers => 2,
        Lane::Commands => unreachable!("commands are never published"),
    }
}
