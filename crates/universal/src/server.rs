//! The TCP side: one task per device connection, speaking MQTT 3.1.1 with rumqttc's codec.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use geohazard_bus::rumqttc::QoS;
use geohazard_bus::rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, Packet, PubAck, Publish, SubAck, Subscribe,
    SubscribeReasonCode, UnsubAck,
};
use geohazard_bus::rumqttc::mqttbytes::{Error as CodecError, Protocol};
use geohazard_bus::{BusConfig, ConfirmedBus};
use geohazard_protocol::{
    CommandAck, CommandEnvelope as Command, GatewayStatus, TelemetryAck, Topic, is_valid_identifier,
};
use geohazard_store::Store;
use geohazard_store::quarantine::{self, QuarantineReason, QuarantineRow};
use geohazard_store::registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::UniversalConfig;
use crate::command;
use crate::frame::{self, Frame, Refusal};
use crate::health::{self, Stats};

/// A bound endpoint, ready to run.
pub struct UniversalEndpoint {
    listener: TcpListener,
    shared: Arc<Shared>,
    /// Messages on the connected devices' command topics.
    commands: mpsc::UnboundedReceiver<geohazard_bus::rumqttc::Publish>,
}

struct Session {
    id: u64,
    outbox: mpsc::UnboundedSender<Publish>,
    kick: CancellationToken,
}

struct Shared {
    config: UniversalConfig,
    store: Store,
    /// Our broker: a device's message is acknowledged only once it is there.
    upstream: ConfirmedBus,
    sessions: Mutex<HashMap<String, Session>>,
    /// Commands sent to devices and not yet answered: (device, msgid) → our command id.
    pending: Mutex<HashMap<(String, String), String>>,
    next_id: AtomicU64,
    /// Telemetry `seq`: the platform protocol has no counter, so the endpoint numbers messages
    /// by receipt time in ms (kept increasing), which stays monotonic across restarts.
    last_seq: AtomicU64,
    /// Open device connections, at most `max_connections`.
    connections: Arc<tokio::sync::Semaphore>,
    /// Prefix of this run's msgids, so a late reply to an earlier run's command matches nothing.
    run: String,
    /// Data frames sent on and not yet confirmed committed by the collector: (device, seq) →
    /// who waits to acknowledge the frame to its device.
    uncommitted: Arc<Mutex<Uncommitted>>,
    /// What `/metrics` reports.
    stats: Arc<Stats>,
}

/// Frames waiting for the collector's confirmation: (device, seq) → who waits for it.
type Uncommitted = HashMap<(String, u64), tokio::sync::oneshot::Sender<()>>;

/// A PUBACK (or nothing, for QoS 0) once what it waits for is done; an error disconnects the
/// device unacknowledged.
type Later = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;

/// Acknowledgements a device may be owed at once before its connection stops being read.
const MAX_UNACKED: usize = 64;

/// Runs the endpoint when `config.listen` is set, until `shutdown`; otherwise just waits.
pub async fn run(
    config: UniversalConfig,
    mqtt_url: &str,
    store: Store,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if config.listen.is_none() {
        tracing::debug!("universal-type endpoint is off (no listen address)");
        shutdown.cancelled().await;
        return Ok(());
    }
    UniversalEndpoint::bind(config, mqtt_url, store)
        .await?
        .run(shutdown)
        .await
}

impl UniversalEndpoint {
    /// Binds the listener and connects to our broker.
    pub async fn bind(
        config: UniversalConfig,
        mqtt_url: &str,
        store: Store,
    ) -> anyhow::Result<UniversalEndpoint> {
        let listen = config
            .listen
            .ok_or_else(|| anyhow::anyhow!("the universal-type endpoint has no listen address"))?;
        let listener = TcpListener::bind(listen).await?;
        let max_connections = config.max_connections;
        // A user of its own beside the collector's (the services' listener ties client ids to
        // user names): `{user}-universal`.
        let upstream_url = geohazard_bus::connection_url(mqtt_url, crate::MQTT_CONNECTION)?;
        let (upstream, commands) = ConfirmedBus::start(
            &BusConfig::new(upstream_url, config.client_id.clone()),
            Duration::from_secs(config.broker_timeout_secs),
        )?;
        // Every gateway's commands, connected or not: a command to one of our devices that is
        // not connected is answered at once (the rest, for gateways on our broker, are ignored).
        if let Err(e) = upstream.subscribe(Topic::command("+")).await {
            tracing::warn!(error = %e, "command subscription not confirmed yet; it is renewed on every reconnect");
        }
        // The collector's confirmations that telemetry is committed: a device's data frame is
        // acknowledged to it only then.
        if let Err(e) = upstream.subscribe(Topic::telemetry_ack("+")).await {
            tracing::warn!(error = %e, "confirmation subscription not confirmed yet; it is renewed on every reconnect");
        }
        tracing::info!(addr = %listener.local_addr()?, "universal-type endpoint listening");
        let now = chrono::Utc::now().timestamp_millis();
        Ok(UniversalEndpoint {
            listener,
            commands,
            shared: Arc::new(Shared {
                config,
                store,
                upstream,
                sessions: Mutex::default(),
                pending: Mutex::default(),
                next_id: AtomicU64::new(1),
                last_seq: AtomicU64::new(0),
                run: format!("{:x}", now / 1000),
                uncommitted: Arc::default(),
                connections: Arc::new(tokio::sync::Semaphore::new(max_connections)),
                stats: Arc::default(),
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts devices until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let UniversalEndpoint {
            listener,
            shared,
            mut commands,
        } = self;
        if let Some(addr) = shared.config.health_addr {
            let endpoints = health::endpoints(
                &shared.stats,
                &shared.connections,
                shared.config.max_connections,
                &shared.store,
                &shared.upstream,
            );
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                if let Err(e) = geohazard_runtime::health::serve(addr, endpoints, shutdown).await {
                    tracing::error!(error = %e, "the universal-type endpoint's health endpoint failed");
                }
            });
        }
        let dispatcher = {
            let shared = shared.clone();
            tokio::spawn(async move {
                while let Some(p) = commands.recv().await {
                    if let Some(device) = committed_topic(&p.topic) {
                        shared.committed(device, &p.payload);
                    } else if let Ok(Topic::Command { gateway }) = Topic::parse(&p.topic) {
                        tokio::spawn(shared.clone().dispatch(gateway, p.payload));
                    }
                }
            })
        };
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "cannot accept a device connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = shared.connections.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "too many device connections; refusing one");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (shared, shutdown) = (shared.clone(), shutdown.clone());
            tokio::spawn(async move {
                shared.serve(stream, peer, shutdown).await;
                drop(permit);
            });
        }
        dispatcher.abort();
        shared.upstream.disconnect();
        Ok(())
    }
}

/// The device of a collector's confirmation topic (`gh/v1/gw/{device}/telemetry/ack`).
fn committed_topic(topic: &str) -> Option<&str> {
    let rest = topic
        .strip_prefix("gh/v1/gw/")?
        .strip_suffix("/telemetry/ack")?;
    (Topic::telemetry_ack(rest) == topic).then_some(rest)
}

/// A data frame with our broker, until the collector confirms it committed.
struct Committed {
    rx: tokio::sync::oneshot::Receiver<()>,
    seq: u64,
    limit: Duration,
    _forget: Forget,
}

impl Committed {
    async fn wait(self) -> anyhow::Result<()> {
        match tokio::time::timeout(self.limit, self.rx).await {
            Ok(Ok(())) => Ok(()),
            _ => anyhow::bail!(
                "the collector did not confirm telemetry {} committed within {:?}",
                self.seq,
                self.limit
            ),
        }
    }
}

/// Takes a frame off the waiting list when its wait ends, however it ends.
struct Forget(Arc<Mutex<Uncommitted>>, (String, u64));

impl Drop for Forget {
    fn drop(&mut self) {
        self.0.lock().expect("not poisoned").remove(&self.1);
    }
}

/// Reads MQTT packets from a device.
struct Reader {
    half: OwnedReadHalf,
    buf: BytesMut,
    max: usize,
}

enum ReadError {
    Closed,
    Io(std::io::Error),
    Protocol(CodecError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Closed => f.write_str("connection closed"),
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Protocol(e) => write!(f, "not MQTT 3.1.1: {e}"),
        }
    }
}

impl Reader {
    /// Cancel-safe: bytes read so far stay in the buffer.
    async fn packet(&mut self) -> Result<Packet, ReadError> {
        loop {
            match Packet::read(&mut self.buf, self.max) {
                Ok(p) => return Ok(p),
                Err(CodecError::InsufficientBytes(n)) => {
                    self.buf.reserve(n);
                    match self.half.read_buf(&mut self.buf).await {
                        Ok(0) => return Err(ReadError::Closed),
                        Ok(_) => {}
                        Err(e) => return Err(ReadError::Io(e)),
                    }
                }
                Err(e) => return Err(ReadError::Protocol(e)),
            }
        }
    }
}

async fn write(half: &mut OwnedWriteHalf, packet: Packet, max: usize) -> std::io::Result<()> {
    let mut buf = BytesMut::new();
    packet
        .write(&mut buf, max)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    half.write_all(&buf).await
}

/// How a device's connection ended.
#[derive(Debug, PartialEq)]
enum End {
    /// DISCONNECT: the device left on purpose.
    Clean,
    /// The link dropped, went silent, or broke the protocol: our last-will equivalent applies.
    Lost,
    /// The same device connected again; the new connection carries on.
    TakenOver,
    Shutdown,
}

impl Shared {
    async fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: CancellationToken,
    ) {
        let max = self.config.max_packet_bytes;
        let (read, mut writer) = stream.into_split();
        let mut reader = Reader {
            half: read,
            buf: BytesMut::with_capacity(4096),
            max,
        };
        let connect_timeout = Duration::from_secs(self.config.connect_timeout_secs);
        let connect = match tokio::time::timeout(connect_timeout, reader.packet()).await {
            Ok(Ok(Packet::Connect(c))) => c,
            Ok(Ok(other)) => {
                tracing::warn!(%peer, packet = ?other, "first packet is not CONNECT; closing");
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "unreadable CONNECT; closing");
                return;
            }
            Err(_) => {
                tracing::warn!(%peer, "no CONNECT in time; closing");
                return;
            }
        };
        let device = connect.client_id.clone();
        let code = self.authenticate(&connect).await;
        if code != ConnectReturnCode::Success {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, device = %device.chars().take(64).collect::<String>(), ?code, "device refused at CONNECT");
            // Slow down key guessing a little.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = write(&mut writer, Packet::ConnAck(ConnAck::new(code, false)), max).await;
            return;
        }

        let (outbox_tx, mut outbox) = mpsc::unbounded_channel();
        let kick = CancellationToken::new();
        let session_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let previous = self.sessions.lock().expect("not poisoned").insert(
            device.clone(),
            Session {
                id: session_id,
                outbox: outbox_tx,
                kick: kick.clone(),
            },
        );
        if let Some(previous) = previous {
            tracing::info!(
                device,
                "device connected again; closing its previous connection"
            );
            previous.kick.cancel();
        }
        // From now on this endpoint answers for the device, connected or not.
        if let Err(e) =
            registry::set_universal_endpoint(&self.store.pool, &device, &self.config.client_id)
                .await
        {
            tracing::warn!(device, error = %e, "cannot record which endpoint serves the device");
        }
        if write(
            &mut writer,
            Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false)),
            max,
        )
        .await
        .is_err()
        {
            self.finish(&device, session_id, End::Lost).await;
            return;
        }
        tracing::info!(%peer, device, keep_alive = connect.keep_alive, "universal-type device connected");

        // Silent for 1.5× its keep-alive: gone (MQTT 3.1.1, 3.1.2.10). Zero means no limit.
        let grace = (connect.keep_alive > 0)
            .then(|| Duration::from_millis(connect.keep_alive as u64 * 1500));
        let mut deadline = grace.map(|g| tokio::time::Instant::now() + g);
        // PUBACKs owed, in the order the messages came: the connection goes on being read
        // (pings answered) while a frame waits for the collector.
        let mut owed: std::collections::VecDeque<(Later, u16)> = Default::default();
        let end = loop {
            let silent = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break End::Shutdown,
                _ = kick.cancelled() => break End::TakenOver,
                _ = silent, if owed.len() < MAX_UNACKED => {
                    tracing::warn!(device, "device silent for 1.5× its keep-alive; dropping it");
                    break End::Lost;
                }
                done = async { (&mut owed.front_mut().expect("not empty").0).await }, if !owed.is_empty() => {
                    let (_, pkid) = owed.pop_front().expect("not empty");
                    if let Err(e) = done {
                        // Not acknowledged: the device keeps the message and resends it.
                        tracing::warn!(device, error = %e, "cannot take the device's message now; disconnecting it unacknowledged");
                        break End::Lost;
                    }
                    if write(&mut writer, Packet::PubAck(PubAck::new(pkid)), max).await.is_err() {
                        break End::Lost;
                    }
                }
                Some(publish) = outbox.recv() => {
                    if write(&mut writer, Packet::Publish(publish), max).await.is_err() {
                        break End::Lost;
                    }
                }
                r = reader.packet(), if owed.len() < MAX_UNACKED => {
                    let packet = match r {
                        Ok(p) => p,
                        Err(ReadError::Closed) => break End::Lost,
                        Err(e) => {
                            tracing::warn!(device, error = %e, "connection broken; closing");
                            break End::Lost;
                        }
                    };
                    deadline = grace.map(|g| tokio::time::Instant::now() + g);
                    match self.on_packet(&device, packet).await {
                        Ok(Reply::None) => {}
                        Ok(Reply::Later(done, pkid)) => owed.push_back((done, pkid)),
                        Ok(Reply::Send(p)) => {
                            if write(&mut writer, p, max).await.is_err() {
                                break End::Lost;
                            }
                        }
                        Ok(Reply::Disconnect) => break End::Clean,
                        Err(e) => {
                            // Not acknowledged: the device keeps the message and resends it.
                            tracing::warn!(device, error = %e, "cannot take the device's message now; disconnecting it unacknowledged");
                            break End::Lost;
                        }
                    }
                }
            }
        };
        let _ = writer.shutdown().await;
        tracing::info!(device, end = ?end, "universal-type device disconnected");
        self.finish(&device, session_id, end).await;
    }

    async fn authenticate(&self, connect: &Connect) -> ConnectReturnCode {
        if connect.protocol != Protocol::V4 {
            return ConnectReturnCode::RefusedProtocolVersion;
        }
        if !is_valid_identifier(&connect.client_id) {
            return ConnectReturnCode::BadClientId;
        }
        // The user name (the platform's product id) is not used: the device id and key decide.
        let Some(login) = &connect.login else {
            return ConnectReturnCode::BadUserNamePassword;
        };
        // argon2 takes tens of milliseconds and ~19 MiB per check: the store runs it in the
        // process's bounded pool of checks, so a reconnect storm cannot exhaust memory (beyond
        // the pool's queue a device is told to come back later).
        match registry::verify_gateway_password(
            &self.store.pool,
            &connect.client_id,
            &login.password,
        )
        .await
        {
            Ok(true) => ConnectReturnCode::Success,
            Ok(false) => ConnectReturnCode::BadUserNamePassword,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up a device's key");
                ConnectReturnCode::ServiceUnavailable
            }
        }
    }

    /// Cleans up after a connection; a lost link publishes the device offline (its last will).
    async fn finish(&self, device: &str, session_id: u64, end: End) {
        let ours = {
            let mut sessions = self.sessions.lock().expect("not poisoned");
            let ours = sessions.get(device).is_some_and(|s| s.id == session_id);
            if ours {
                sessions.remove(device);
            }
            ours
        };
        if !ours {
            return;
        }
        let unanswered: Vec<String> = {
            let mut pending = self.pending.lock().expect("not poisoned");
            let keys: Vec<_> = pending
                .keys()
                .filter(|(d, _)| d == device)
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| pending.remove(&k))
                .collect()
        };
        for id in unanswered {
            self.ack(
                device,
                CommandAck::failure(id, "the device disconnected before answering"),
            )
            .await;
        }
        if end == End::Lost {
            let topic = Topic::status(device);
            if let Err(e) = self
                .upstream
                .publish(topic, GatewayStatus::offline().to_json(), true)
                .await
            {
                tracing::warn!(device, error = %e, "cannot publish the device offline");
            }
        }
    }

    async fn on_packet(&self, device: &str, packet: Packet) -> anyhow::Result<Reply> {
        Ok(match packet {
            Packet::Publish(p) => {
                if p.qos == QoS::ExactlyOnce {
                    anyhow::bail!("QoS 2 is not supported; use QoS 1");
                }
                let committed = self.on_publish(device, &p).await?;
                if p.qos == QoS::AtLeastOnce {
                    // Acknowledged in order, once the collector committed it (a data frame).
                    let pkid = p.pkid;
                    Reply::Later(
                        Box::pin(async move {
                            if let Some(c) = committed {
                                c.wait().await?;
                            }
                            Ok::<(), anyhow::Error>(())
                        }),
                        pkid,
                    )
                } else {
                    Reply::None
                }
            }
            Packet::Subscribe(s) => Reply::Send(Packet::SubAck(suback(&s))),
            Packet::Unsubscribe(u) => Reply::Send(Packet::UnsubAck(UnsubAck::new(u.pkid))),
            Packet::PingReq => Reply::Send(Packet::PingResp),
            Packet::Disconnect => Reply::Disconnect,
            // Acks for our QoS 0 downlink never come; anything else is out of place but harmless.
            other => {
                tracing::debug!(device, packet = ?other, "ignoring packet");
                Reply::None
            }
        })
    }

    /// Handles one uplink message; returns once it is with our broker or in the quarantine, with
    /// the collector's confirmation to wait for when it is a data frame.
    async fn on_publish(&self, device: &str, p: &Publish) -> anyhow::Result<Option<Committed>> {
        let now = chrono::Utc::now().timestamp_millis();
        let refusal = match p.topic.as_str() {
            "$dp" => match frame::decode(&p.payload) {
                Ok(Frame::Status(status)) => {
                    let payload = frame::status(&status, now);
                    self.forward(Topic::status(device), payload, true).await?;
                    return Ok(None);
                }
                Ok(Frame::Data(data)) => {
                    let seq = self.seq(now);
                    match frame::telemetry(device, &data, seq) {
                        Ok(payload) => return self.commit(device, seq, payload).await.map(Some),
                        Err(r) => r,
                    }
                }
                Err(r) => r,
            },
            t if t == "$dr" || t.starts_with("$dr/") => match command::parse_reply(t, &p.payload) {
                Ok(reply) => {
                    let id = self
                        .pending
                        .lock()
                        .expect("not poisoned")
                        .remove(&(device.to_owned(), reply.msgid.clone()));
                    match id {
                        Some(id) => {
                            let ack = reply.into_ack(&id);
                            self.forward(Topic::command_ack(device), ack.to_json(), false)
                                .await?;
                            return Ok(None);
                        }
                        None => Refusal {
                            reason: QuarantineReason::UnexpectedReply,
                            detail: format!(
                                "no command awaits an answer with msgid `{}` (answered late, or never sent)",
                                reply.msgid.chars().take(64).collect::<String>()
                            ),
                        },
                    }
                }
                Err(e) => Refusal {
                    reason: QuarantineReason::MalformedReply,
                    detail: e.to_string(),
                },
            },
            _ => Refusal {
                reason: QuarantineReason::InvalidTopic,
                detail:
                    "a universal-type device publishes only on $dp (data) and $dr (command replies)"
                        .into(),
            },
        };
        tracing::warn!(device, topic = %p.topic, reason = %refusal.reason, detail = %refusal.detail, "message refused; quarantined");
        let row = QuarantineRow::new(
            &p.topic,
            Some(device),
            refusal.reason,
            refusal.detail,
            None,
            &p.payload,
        );
        let mut conn = self.store.pool.acquire().await?;
        quarantine::insert(&mut conn, &[row]).await?;
        self.stats.quarantined.fetch_add(1, Ordering::Relaxed);
        Ok(None)
    }

    /// Publishes a device's message, translated, on our broker; returns once it is confirmed.
    async fn forward(&self, topic: String, payload: Vec<u8>, retain: bool) -> anyhow::Result<()> {
        self.upstream.publish(topic, payload, retain).await?;
        self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Sends a device's telemetry to our broker; the answer waits for the collector to confirm
    /// it committed (stored, or quarantined with a reason): only then may the device forget it.
    async fn commit(&self, device: &str, seq: u64, payload: Vec<u8>) -> anyhow::Result<Committed> {
        let key = (device.to_owned(), seq);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.uncommitted
            .lock()
            .expect("not poisoned")
            .insert(key.clone(), tx);
        let committed = Committed {
            rx,
            seq,
            limit: Duration::from_secs(self.config.commit_timeout_secs),
            _forget: Forget(self.uncommitted.clone(), key),
        };
        self.forward(Topic::telemetry(device), payload, false)
            .await?;
        Ok(committed)
    }

    /// The collector's confirmation of `device`'s telemetry: wakes whoever waits on each seq.
    fn committed(&self, device: &str, payload: &[u8]) {
        let Ok(ack) = serde_json::from_slice::<TelemetryAck>(payload) else {
            tracing::warn!(device, "unreadable telemetry confirmation; ignored");
            return;
        };
        let mut waiting = self.uncommitted.lock().expect("not poisoned");
        for seq in ack.seqs {
            if let Some(tx) = waiting.remove(&(device.to_owned(), seq)) {
                let _ = tx.send(());
            }
        }
    }

    fn seq(&self, now_ms: i64) -> u64 {
        let now = now_ms.max(0) as u64;
        let prev = self
            .last_seq
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                Some(now.max(last + 1))
            })
            .expect("the closure always returns Some");
        now.max(prev + 1)
    }

    /// Sends one of our commands to its device, or answers it with an error. Commands to
    /// gateways that are not this endpoint's devices are left to them.
    async fn dispatch(self: Arc<Self>, device: String, payload: bytes::Bytes) {
        if !self.serves(&device).await {
            return;
        }
        let command: Command = match serde_json::from_slice(&payload) {
            Ok(c) => c,
            Err(e) => {
                self.ack(
                    &device,
                    CommandAck::failure("", format!("unreadable command: {e}")),
                )
                .await;
                return;
            }
        };
        let body = match command::to_cmd(&command, chrono::Utc::now().timestamp_millis()) {
            Ok(b) => b,
            Err(e) => {
                self.ack(&device, CommandAck::failure(&command.id, e.to_string()))
                    .await;
                return;
            }
        };
        let msgid = format!(
            "{}{}",
            self.run,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let key = (device.clone(), msgid.clone());
        let sent = {
            let sessions = self.sessions.lock().expect("not poisoned");
            sessions.get(&device).is_some_and(|s| {
                self.pending
                    .lock()
                    .expect("not poisoned")
                    .insert(key.clone(), command.id.clone());
                let topic = format!("$creq/{device}/{msgid}");
                s.outbox
                    .send(Publish::new(topic, QoS::AtMostOnce, body.into_bytes()))
                    .is_ok()
            })
        };
        if !sent {
            self.pending.lock().expect("not poisoned").remove(&key);
            let error = "the device is not connected to the universal-type endpoint";
            self.ack(&device, CommandAck::failure(&command.id, error))
                .await;
            return;
        }
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        tracing::info!(device, command = %command.name, msgid, "command sent to the device");
        let timeout = Duration::from_secs(self.config.command_timeout_secs);
        tokio::time::sleep(timeout).await;
        let unanswered = self.pending.lock().expect("not poisoned").remove(&key);
        if let Some(id) = unanswered {
            let error = format!("the device did not answer within {} s", timeout.as_secs());
            self.ack(&device, CommandAck::failure(id, error)).await;
        }
    }

    /// Whether `device` is connected here, or a universal-type device last connected here.
    async fn serves(&self, device: &str) -> bool {
        if self
            .sessions
            .lock()
            .expect("not poisoned")
            .contains_key(device)
        {
            return true;
        }
        match registry::is_universal_device_of(&self.store.pool, device, &self.config.client_id)
            .await
        {
            Ok(ours) => ours,
            Err(e) => {
                tracing::warn!(device, error = %e, "cannot tell whether a command is for one of our devices; leaving it");
                false
            }
        }
    }

    async fn ack(&self, device: &str, ack: CommandAck) {
        if let Err(e) = self
            .upstream
            .publish(Topic::command_ack(device), ack.to_json(), false)
            .await
        {
            tracing::warn!(device, id = %ack.id, error = %e, "cannot publish a command ack");
        }
    }
}

enum Reply {
    None,
    Send(Packet),
    /// A PUBACK for this packet id once the future is done, after every earlier one.
    Later(Later, u16),
    Disconnect,
}

/// Devices may subscribe to their command requests (`$creq/...`) only; they get them anyway,
/// as on the platform.
fn suback(s: &Subscribe) -> SubAck {
    let codes = s
        .filters
        .iter()
        .map(|f| {
            if f.path.starts_with("$creq") {
                SubscribeReasonCode::Success(QoS::AtMostOnce)
            } else {
                SubscribeReasonCode::Failure
            }
        })
        .collect();
    SubAck::new(s.pkid, codes)
}
