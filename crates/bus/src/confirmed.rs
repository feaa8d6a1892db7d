//! A connection whose every publish and subscription returns only once the broker has confirmed
//! it (PUBACK, SUBACK): for an adapter that may acknowledge its own clients only when what they
//! sent is safe with our broker (the universal-type device endpoint).
//!
//! Unlike [`Bus`](crate::Bus), it forwards requests rather than storing data, so: incoming
//! messages are acknowledged on arrival; subscriptions come and go while it runs; and the session
//! is fresh at every connection, every subscription made again after each reconnect.
//!
//! How: every request goes through one lock, so the event loop sends them in the order they were
//! queued; an [`AckTracker`] pairs each waiter with its packet id and wakes it on the
//! acknowledgement. Each connection has a rumqttc client of its own: with a fresh session,
//! rumqttc silently drops what a lost connection had in hand (in flight, or queued and not yet
//! sent), which would leave waiters paired with the wrong acknowledgements. So when a connection
//! is lost its waiters fail (their senders try again) and the next connection starts afresh.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use rumqttc::{
    AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, Publish, QoS, SubscribeFilter,
};
use tokio::sync::{mpsc, oneshot};

use crate::{AckTracker, BusConfig};

/// Waiters for the broker's acknowledgements.
type Waiters = AckTracker<oneshot::Sender<()>>;

/// See the module documentation. Cloning gives another handle on the same connection.
#[derive(Clone)]
pub struct ConfirmedBus {
    inner: Arc<Inner>,
}

struct Inner {
    /// The connection requests go to now.
    current: Mutex<Arc<Connection>>,
    /// Requests leave in the order their waiters were queued.
    send_order: tokio::sync::Mutex<()>,
    /// What we subscribe to, made again after every reconnect.
    filters: Mutex<HashSet<String>>,
    /// How long to wait for a confirmation.
    timeout: Duration,
    /// Asked to disconnect: no reconnecting any more.
    stopping: AtomicBool,
}

/// One rumqttc client and the waiters for what was sent through it.
struct Connection {
    client: AsyncClient,
    /// `None` once the connection has ended: its waiters have failed.
    waiters: Mutex<Option<ConnectionWaiters>>,
}

#[derive(Default)]
struct ConnectionWaiters {
    /// Publishes waiting for their PUBACK.
    publishes: Waiters,
    /// Subscriptions waiting for their SUBACK.
    subscriptions: Waiters,
}

impl Connection {
    fn new(options: &MqttOptions) -> (Arc<Connection>, EventLoop) {
        let (client, eventloop) = AsyncClient::new(options.clone(), 1024);
        let connection = Connection {
            client,
            waiters: Mutex::new(Some(ConnectionWaiters::default())),
        };
        (Arc::new(connection), eventloop)
    }

    /// Runs `f` on the waiters; `None` once the connection has ended.
    fn waiters<T>(&self, f: impl FnOnce(&mut ConnectionWaiters) -> T) -> Option<T> {
        lock(&self.waiters).as_mut().map(f)
    }

    /// The connection has ended: every waiter fails (its sender is dropped).
    fn end(&self) {
        lock(&self.waiters).take();
    }
}

impl ConfirmedBus {
    /// Connects in the background (always with a fresh session, whatever `config` says);
    /// messages on the subscriptions arrive on the receiver. A request not confirmed within
    /// `timeout` fails.
    pub fn start(
        config: &BusConfig,
        timeout: Duration,
    ) -> anyhow::Result<(ConfirmedBus, mpsc::UnboundedReceiver<Publish>)> {
        let config = BusConfig {
            persistent_session: false,
            ..config.clone()
        };
        let mut options = config.mqtt_options()?;
        options.set_manual_acks(false);
        let (connection, eventloop) = Connection::new(&options);
        let bus = ConfirmedBus {
            inner: Arc::new(Inner {
                current: Mutex::new(connection.clone()),
                send_order: tokio::sync::Mutex::default(),
                filters: Mutex::default(),
                timeout,
                stopping: AtomicBool::new(false),
            }),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(bus.clone(), options, connection, eventloop, tx));
        Ok((bus, rx))
    }

    /// Publishes at QoS 1 and waits until the broker has acknowledged it.
    pub async fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    ) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let _order = self.inner.send_order.lock().await;
            let connection = self.current();
            connection
                .waiters(|w| w.publishes.queued(tx))
                .context("the broker connection has ended")?;
            connection
                .client
                .publish(topic, QoS::AtLeastOnce, retain, payload)
                .await
                .context("the broker connection has ended")?;
        }
        self.confirmed(rx, "our broker did not acknowledge in time")
            .await
    }

    /// Subscribes to `filter` (QoS 1) from now on, also after every reconnect; returns once the
    /// broker confirmed it.
    pub async fn subscribe(&self, filter: String) -> anyhow::Result<()> {
        lock(&self.inner.filters).insert(filter.clone());
        self.subscribe_now(vec![filter]).await
    }

    async fn subscribe_now(&self, filters: Vec<String>) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let _order = self.inner.send_order.lock().await;
            let connection = self.current();
            connection
                .waiters(|w| w.subscriptions.queued(tx))
                .context("the broker connection has ended")?;
            let filters = filters
                .into_iter()
                .map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce));
            connection
                .client
                .subscribe_many(filters)
                .await
                .context("the broker connection has ended")?;
        }
        self.confirmed(rx, "our broker did not confirm the subscription in time")
            .await
    }

    /// Stops subscribing to `filter`.
    pub async fn unsubscribe(&self, filter: &str) {
        lock(&self.inner.filters).remove(filter);
        let _ = self.current().client.unsubscribe(filter).await;
    }

    /// Disconnects cleanly; the connection task then ends.
    pub fn disconnect(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        let _ = self.current().client.try_disconnect();
    }

    fn current(&self) -> Arc<Connection> {
        lock(&self.inner.current).clone()
    }

    async fn confirmed(&self, rx: oneshot::Receiver<()>, late: &'static str) -> anyhow::Result<()> {
        tokio::time::timeout(self.inner.timeout, rx)
            .await
            .context(late)?
            .context("the broker connection has ended")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().expect("no code panics while holding it")
}

/// Wakes the waiter an acknowledgement confirms, if there is one.
fn wake(waiter: Option<Option<oneshot::Sender<()>>>) {
    if let Some(waiter) = waiter.flatten() {
        let _ = waiter.send(());
    }
}

async fn drive(
    bus: ConfirmedBus,
    options: MqttOptions,
    mut connection: Arc<Connection>,
    mut eventloop: EventLoop,
    incoming: mpsc::UnboundedSender<Publish>,
) {
    let mut backoff =
        geohazard_runtime::Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
    // Whether this event loop has been connected (a failed connect attempt leaves it as new).
    let mut connected = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                connection.waiters(|w| w.publishes.sent(pkid));
            }
            Ok(Event::Outgoing(Outgoing::AwaitAck(pkid))) => {
                connection.waiters(|w| w.publishes.held(pkid));
            }
            Ok(Event::Incoming(Incoming::PubAck(ack))) => {
                wake(connection.waiters(|w| w.publishes.acked(ack.pkid)))
            }
            Ok(Event::Outgoing(Outgoing::Subscribe(pkid))) => {
                connection.waiters(|w| w.subscriptions.sent(pkid));
            }
            Ok(Event::Incoming(Incoming::SubAck(ack))) => {
                wake(connection.waiters(|w| w.subscriptions.acked(ack.pkid)))
            }
            Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                connected = true;
                backoff.reset();
                tracing::info!(client_id = %options.client_id(), "connected to the MQTT broker");
                let filters: Vec<String> = lock(&bus.inner.filters).iter().cloned().collect();
                if !filters.is_empty() {
                    // Through the ordered path (not from this loop, which must keep polling).
                    let bus = bus.clone();
                    tokio::spawn(async move {
                        if let Err(e) = bus.subscribe_now(filters).await {
                            tracing::warn!(error = %e, "cannot renew the subscriptions");
                        }
                    });
                }
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                if incoming.send(p).is_err() {
                    break;
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(rumqttc::ConnectionError::RequestsDone) => break,
            Err(e) => {
                if bus.inner.stopping.load(Ordering::Acquire) {
                    break;
                }
                tracing::warn!(error = %e, retry_in = ?backoff.peek(), "MQTT connection lost");
                if connected {
                    // What this connection had in hand is gone: its waiters fail, and the next
                    // connection starts from a client of its own.
                    connection.end();
                    (connection, eventloop) = Connection::new(&options);
                    *lock(&bus.inner.current) = connection.clone();
                    connected = false;
                }
                backoff.wait().await;
            }
        }
    }
    connection.end();
}
