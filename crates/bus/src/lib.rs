//! The MQTT connection every geohazard service uses: [`Bus`] for consuming and publishing, and
//! [`ConfirmedBus`] for an adapter that must know when the broker has each of its messages.
//!
//! What it takes care of, learned from rumqttc's issue tracker:
//! - the event loop is polled in its own task, which never awaits a publish or an ack;
//! - reconnects back off exponentially (100 ms to 30 s);
//! - subscriptions are renewed when the broker says the session is not present;
//! - with manual acks, a message is acknowledged only on the connection it arrived on: after a
//!   reconnect the broker redelivers whatever was not acknowledged, and an ack for an old packet
//!   id could otherwise acknowledge a different message;
//! - the maximum packet size is raised from rumqttc's 10 KiB default;
//! - what the consumer holds (taken off the broker, not yet released) is bounded in bytes, so
//!   a consumer that cannot make progress (its database is away) stops reading and the broker
//!   keeps the rest, however large the messages.
//!
//! [`Bus`] is for consumers; [`Connection`] is for a publisher that keeps its own store of what
//! it sends and must know what the broker has accepted (the firmware-bridge), and
//! [`ConfirmedBus`] is a [`Connection`] shared by many callers who each wait for the broker's
//! word. All take their options from [`BusConfig`] and their URL from [`BrokerUrl`].

pub mod confirm;
mod confirmed;
mod connection;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, Publish, QoS};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

pub use confirm::AckTracker;
pub use confirmed::ConfirmedBus;
pub use connection::{Connection, Lost, Received};
pub use rumqttc::{self, QoS as Qos};

/// How to reach the broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BusConfig {
    /// `mqtt://[user[:password]@]host[:port]`.
    pub url: String,
    pub client_id: String,
    /// Keep the session (subscriptions and unacknowledged messages) across reconnects.
    #[serde(default = "default_true")]
    pub persistent_session: bool,
    /// Largest packet accepted or sent; must be at least the broker's own limit, or a large
    /// message would make the connection fail over and over.
    #[serde(default = "default_max_packet")]
    pub max_packet_bytes: usize,
    /// Outgoing QoS 1 messages in flight before publish waits.
    #[serde(default = "default_inflight")]
    pub inflight: u16,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_secs: u64,
    /// Payload bytes taken off the broker and not yet released by the consumer, at most; none
    /// for no bound beyond the consumer's queue length.
    #[serde(default)]
    pub max_held_bytes: Option<usize>,
}

fn default_true() -> bool {
    true
}
fn default_max_packet() -> usize {
    16 * 1024 * 1024
}
fn default_inflight() -> u16 {
    1000
}
fn default_keep_alive() -> u64 {
    30
}

impl BusConfig {
    pub fn new(url: impl Into<String>, client_id: impl Into<String>) -> BusConfig {
        BusConfig {
            url: url.into(),
            client_id: client_id.into(),
            persistent_session: true,
            max_packet_bytes: default_max_packet(),
            inflight: default_inflight(),
            keep_alive_secs: default_keep_alive(),
            max_held_bytes: None,
        }
    }

    /// rumqttc options from this configuration.
    pub fn mqtt_options(&self) -> anyhow::Result<MqttOptions> {
        let broker = BrokerUrl::parse(&self.url)?;
        let mut options = MqttOptions::new(&self.client_id, broker.host, broker.port);
        options
            .set_clean_session(!self.persistent_session)
            .set_keep_alive(Duration::from_secs(self.keep_alive_secs.max(5)))
            .set_max_packet_size(self.max_packet_bytes, self.max_packet_bytes)
            .set_inflight(self.inflight)
            .set_manual_acks(true);
        if let Some((user, password)) = broker.credentials {
            options.set_credentials(user, password);
        }
        Ok(options)
    }
}

/// A broker address as every geohazard component writes it:
/// `mqtt://[user[:password]@]host[:port]` (`tcp://` is accepted as a synonym; the port defaults
/// to 1883; user and password are percent-decoded). The one parser of MQTT URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    /// User name and password, when the URL carries a user.
    pub credentials: Option<(String, String)>,
}

impl BrokerUrl {
    pub fn parse(text: &str) -> anyhow::Result<BrokerUrl> {
        let shown = || geohazard_runtime::redact_url(text);
        let url = url::Url::parse(text).with_context(|| format!("MQTT URL `{}`", shown()))?;
        if url.scheme() != "mqtt" && url.scheme() != "tcp" {
            bail!("MQTT URL `{}`: only mqtt:// is supported", shown());
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .with_context(|| format!("MQTT URL `{}` has no host", shown()))?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = (!url.username().is_empty())
            .then(|| (decode(url.username()), decode(url.password().unwrap_or(""))));
        Ok(BrokerUrl {
            // IPv6 literals come back bracketed; the socket address wants them bare.
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: url.port().unwrap_or(1883),
            credentials,
        })
    }
}

/// The URL for a service's further MQTT connection named `connection` (`video`, `readings`,
/// `universal`): the same broker and password, the user name `{user}-{connection}`; a URL
/// without a user is returned as it is. The shipped broker's services' listener takes each
/// connection's user name as its client id (no service's credentials can take another's
/// session), so each connection of a process signs in as a user of its own.
pub fn connection_url(url: &str, connection: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url)
        .with_context(|| format!("MQTT URL `{}`", geohazard_runtime::redact_url(url)))?;
    if parsed.username().is_empty() {
        return Ok(url.to_owned());
    }
    // The user name as written (percent-encoded) plus a suffix that needs no encoding.
    let user = format!("{}-{connection}", parsed.username());
    parsed.set_username(&user).map_err(|()| {
        anyhow::anyhow!(
            "MQTT URL `{}` takes no user",
            geohazard_runtime::redact_url(url)
        )
    })?;
    Ok(parsed.to_string())
}

/// A readiness check named `broker` that passes while `linked` says the connection is up.
fn link_check(linked: Arc<AtomicBool>) -> Arc<dyn geohazard_runtime::ReadinessCheck> {
    geohazard_runtime::health::check("broker", move || {
        let up = linked.load(Ordering::Acquire);
        async move {
            if up {
                Ok(())
            } else {
                Err("not connected to the MQTT broker".to_owned())
            }
        }
    })
}

/// The filter to subscribe to: `filter` itself, or shared among the members of `group`
/// (`$share/{group}/{filter}`), so that several instances split the stream between them.
pub fn shared_subscription(group: Option<&str>, filter: &str) -> String {
    match group {
        Some(group) => format!("$share/{group}/{filter}"),
        None => filter.to_owned(),
    }
}

/// One message from the broker, tagged with the connection it arrived on. It counts as held
/// (see [`Held`]) until it and all its clones are dropped.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub publish: Publish,
    connection: u64,
    _held: Arc<HeldGuard>,
}

/// What a consumer holds: messages taken off the broker and not yet dropped, and their payload
/// bytes, within a budget of bytes. When the budget is spent the next message waits for room
/// (a single message larger than the budget still passes, alone) while the connection goes on
/// answering the broker; what the broker sends meanwhile is bounded by its in-flight window
/// (`max_inflight_bytes` in deploy/mosquitto.conf, the collector's budget), the rest it queues.
#[derive(Debug, Clone)]
pub struct Held {
    budget: usize,
    room: Arc<Semaphore>,
    messages: Arc<AtomicI64>,
    bytes: Arc<AtomicI64>,
}

impl Held {
    fn new(max_bytes: Option<usize>) -> Held {
        // u32: a semaphore takes at most that many permits at once.
        let budget = max_bytes
            .unwrap_or(u32::MAX as usize)
            .clamp(1, u32::MAX as usize);
        Held {
            budget,
            room: Arc::new(Semaphore::new(budget)),
            messages: Arc::default(),
            bytes: Arc::default(),
        }
    }

    /// Messages held now.
    pub fn messages(&self) -> i64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Payload bytes held now.
    pub fn bytes(&self) -> i64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Waits until there is room for `size` more bytes, and holds them.
    async fn take(&self, size: usize) -> HeldGuard {
        let permits = size.clamp(1, self.budget) as u32;
        let permit = self
            .room
            .clone()
            .acquire_many_owned(permits)
            .await
            .expect("the semaphore is never closed");
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size as i64, Ordering::Relaxed);
        HeldGuard {
            _permit: permit,
            size: size as i64,
            messages: self.messages.clone(),
            bytes: self.bytes.clone(),
        }
    }
}

#[derive(Debug)]
struct HeldGuard {
    _permit: OwnedSemaphorePermit,
    size: i64,
    messages: Arc<AtomicI64>,
    bytes: Arc<AtomicI64>,
}

impl Drop for HeldGuard {
    fn drop(&mut self) {
        self.messages.fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(self.size, Ordering::Relaxed);
    }
}

impl Delivery {
    pub fn topic(&self) -> &str {
        &self.publish.topic
    }
    pub fn payload(&self) -> &[u8] {
        &self.publish.payload
    }
}

/// A connection to the broker: a client for publishing and acknowledging, and the stream of
/// messages on the subscriptions it was given.
pub struct Bus {
    client: AsyncClient,
    deliveries: mpsc::Receiver<Delivery>,
    connection: Arc<AtomicU64>,
    linked: Arc<AtomicBool>,
    subscribed: watch::Receiver<u64>,
    acks: mpsc::UnboundedSender<AfterCommit>,
    held: Held,
    task: tokio::task::JoinHandle<()>,
    ack_task: tokio::task::JoinHandle<()>,
}

impl Bus {
    /// Starts the connection in the background. `subscriptions` are made (and renewed whenever
    /// the broker lost the session); `last_will` is published by the broker if we vanish.
    pub fn start(
        config: &BusConfig,
        subscriptions: Vec<(String, QoS)>,
        last_will: Option<LastWill>,
        queue: usize,
    ) -> anyhow::Result<Bus> {
        let mut options = config.mqtt_options()?;
        if let Some(will) = last_will {
            options.set_last_will(will);
        }
        // Room for every ack the consumer may send while the event loop is busy handing over
        // deliveries, so an ack never has to wait for the loop (which may be waiting for us).
        options.set_request_channel_capacity(queue * 2 + 1024);
        let (client, eventloop) = AsyncClient::new(options, queue * 2 + 1024);
        let (tx, deliveries) = mpsc::channel(queue.max(1));
        let connection = Arc::new(AtomicU64::new(0));
        let linked = Arc::new(AtomicBool::new(false));
        let (subscribed_tx, subscribed) = watch::channel(0);
        let held = Held::new(config.max_held_bytes);
        let task = tokio::spawn(drive(
            eventloop,
            client.clone(),
            subscriptions,
            tx,
            (connection.clone(), linked.clone()),
            subscribed_tx,
            held.clone(),
        ));
        let (acks, ack_queue) = mpsc::unbounded_channel();
        let ack_task = tokio::spawn(forward_acks(client.clone(), ack_queue));
        Ok(Bus {
            client,
            deliveries,
            connection,
            linked,
            subscribed,
            acks,
            held,
            task,
            ack_task,
        })
    }

    /// What the consumer holds now.
    pub fn held(&self) -> Held {
        self.held.clone()
    }

    /// How many times the broker accepted the connection: 1 while the first one lasts.
    pub fn connections(&self) -> u64 {
        self.connection.load(Ordering::Acquire)
    }

    /// A readiness check that passes while the broker connection is up.
    pub fn readiness_check(&self) -> Arc<dyn geohazard_runtime::ReadinessCheck> {
        link_check(self.linked.clone())
    }

    /// The client, for publishing.
    pub fn client(&self) -> &AsyncClient {
        &self.client
    }

    /// The next message; `None` once the connection task has ended.
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.deliveries.recv().await
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.deliveries.try_recv().ok()
    }

    /// A handle that acknowledges deliveries, for a task other than the receiving one.
    pub fn acker(&self) -> Acker {
        Acker {
            acks: self.acks.clone(),
            connection: self.connection.clone(),
        }
    }

    /// Waits until the subscriptions are confirmed by the broker (SUBACK), or the session was
    /// resumed with them.
    pub async fn wait_subscribed(&mut self, timeout: Duration) -> anyhow::Result<()> {
        tokio::time::timeout(timeout, self.subscribed.wait_for(|n| *n > 0))
            .await
            .context("the broker did not confirm the subscriptions in time")?
            .context("the connection task ended")?;
        Ok(())
    }

    /// Disconnects cleanly (no last will) and stops the connection task.
    pub async fn shutdown(mut self) {
        let _ = self.client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.task).await;
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.task.abort();
        self.ack_task.abort();
    }
}

/// Acknowledges deliveries once what they carry is safe.
///
/// Acks go through an unbounded queue to a task of their own, so acknowledging never waits:
/// otherwise a consumer blocked on a full request channel stops taking deliveries, the event
/// loop blocks handing over the next one and never drains the acks — a deadlock under bursts.
/// The queue holds at most one small entry per delivered message (and per confirmation).
#[derive(Clone)]
pub struct Acker {
    acks: mpsc::UnboundedSender<AfterCommit>,
    connection: Arc<AtomicU64>,
}

/// What is sent once a consumer's work is committed.
enum AfterCommit {
    Ack(Publish),
    /// A message of the consumer's own, QoS 1, not retained (a confirmation to the sender).
    Publish {
        topic: String,
        payload: Vec<u8>,
    },
}

impl Acker {
    /// Acknowledges a QoS 1 delivery. Returns false (and sends nothing) when the delivery came on
    /// an earlier connection: the broker will redeliver it, and storing it again is harmless.
    pub async fn ack(&self, delivery: &Delivery) -> bool {
        if delivery.publish.qos == QoS::AtMostOnce {
            return true;
        }
        if delivery.connection != self.connection.load(Ordering::Acquire) {
            return false;
        }
        self.acks
            .send(AfterCommit::Ack(delivery.publish.clone()))
            .is_ok()
    }

    /// Publishes a message (QoS 1, not retained) in order with the acknowledgements, without
    /// ever waiting: for telling a sender what was committed.
    pub fn publish(&self, topic: String, payload: Vec<u8>) -> bool {
        self.acks
            .send(AfterCommit::Publish { topic, payload })
            .is_ok()
    }
}

async fn forward_acks(client: AsyncClient, mut acks: mpsc::UnboundedReceiver<AfterCommit>) {
    while let Some(next) = acks.recv().await {
        let sent = match next {
            AfterCommit::Ack(publish) => client.ack(&publish).await,
            AfterCommit::Publish { topic, payload } => {
                client
                    .publish(topic, QoS::AtLeastOnce, false, payload)
                    .await
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    subscriptions: Vec<(String, QoS)>,
    deliveries: mpsc::Sender<Delivery>,
    // The connection's number, and whether it is up now.
    (connection, linked): (Arc<AtomicU64>, Arc<AtomicBool>),
    subscribed: watch::Sender<u64>,
    held: Held,
) {
    let mut backoff =
        geohazard_runtime::Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
    // Between the connection and the consumer: unbounded, but what arrives unacknowledged is
    // bounded by the broker's in-flight window (`max_inflight_messages`/`max_inflight_bytes`).
    let (arrived, waiting) = mpsc::unbounded_channel();
    let handing = tokio::spawn(hand_over(waiting, deliveries, held));
    let _stop_handing = AbortOnDrop(handing);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.reset();
                linked.store(true, Ordering::Release);
                let n = connection.fetch_add(1, Ordering::AcqRel) + 1;
                tracing::info!(
                    session_present = ack.session_present,
                    connection = n,
                    "connected to the MQTT broker"
                );
                if subscriptions.is_empty() || ack.session_present {
                    subscribed.send_replace(n);
                } else {
                    let filters = subscriptions
                        .iter()
                        .map(|(f, q)| rumqttc::SubscribeFilter::new(f.clone(), *q));
                    if let Err(e) = client.try_subscribe_many(filters) {
                        tracing::error!(error = %e, "could not queue the subscriptions");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                subscribed.send_replace(connection.load(Ordering::Acquire));
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let arrived_on = connection.load(Ordering::Acquire);
                // Never wait here: the event loop must go on answering pings while the
                // consumer is full, or the broker drops the connection and keeps the backlog as
                // an offline client's queue. What waits for room waits in `hand_over`.
                if arrived.send((publish, arrived_on)).is_err() {
                    return;
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                return;
            }
            Ok(_) => {}
            Err(rumqttc::ConnectionError::RequestsDone) => return,
            Err(e) => {
                linked.store(false, Ordering::Release);
                tracing::warn!(error = %e, retry_in = ?backoff.peek(), "MQTT connection lost");
                backoff.wait().await;
            }
        }
    }
}

/// Hands what arrived to the consumer, each message once there is room for its bytes and a
/// place in the consumer's queue: the back-pressure, kept off the connection's own loop.
async fn hand_over(
    mut waiting: mpsc::UnboundedReceiver<(Publish, u64)>,
    deliveries: mpsc::Sender<Delivery>,
    held: Held,
) {
    while let Some((publish, connection)) = waiting.recv().await {
        let held = held.take(publish.payload.len()).await;
        let delivery = Delivery {
            publish,
            connection,
            _held: Arc::new(held),
        };
        if deliveries.send(delivery).await.is_err() {
            return;
        }
    }
}

/// Ends a task when its owner ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn broker_urls_give_host_port_and_decoded_credentials() {
        let b = BrokerUrl::parse("mqtt://gw-1:p%40ss@10.0.0.5:1884").unwrap();
        assert_eq!(b.host, "10.0.0.5");
        assert_eq!(b.port, 1884);
        assert_eq!(b.credentials, Some(("gw-1".into(), "p@ss".into())));
        let b = BrokerUrl::parse("tcp://broker").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.credentials),
            ("broker", 1883, None)
        );
        for bad in ["http://broker", "mqtt://", "broker:1883", "mqtt://h:99999"] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad} accepted");
        }
        let e = BrokerUrl::parse("ws://u:secret@h").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn shared_subscriptions_prefix_the_group() {
        assert_eq!(
            shared_subscription(None, "gh/v1/gw/+/telemetry"),
            "gh/v1/gw/+/telemetry"
        );
        assert_eq!(
            shared_subscription(Some("collectors"), "gh/v1/gw/+/telemetry"),
            "$share/collectors/gh/v1/gw/+/telemetry"
        );
    }

    #[test]
    fn urls_with_credentials_become_options() {
        let c = BusConfig::new("mqtt://dev:pw@127.0.0.1:1999", "c1");
        let o = c.mqtt_options().unwrap();
        assert_eq!(o.broker_address(), ("127.0.0.1".to_owned(), 1999));
        assert_eq!(o.credentials().map(|l| l.username), Some("dev".to_owned()));
        assert!(!o.clean_session());
        assert!(BusConfig::new("http://x", "c").mqtt_options().is_err());
    }

    #[test]
    fn a_refused_url_is_shown_without_its_password() {
        for url in [
            "http://dev:hunter2@127.0.0.1:1999",
            "mqtt://dev:hunter2@[::1",
        ] {
            let e = BusConfig::new(url, "c").mqtt_options().unwrap_err();
            let shown = format!("{e:#}");
            assert!(shown.contains("dev:***@"), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }
}
