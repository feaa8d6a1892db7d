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
//! acknowledgement (resends after a reconnect included).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, Outgoing, Publish, QoS, SubscribeFilter};
use tokio::sync::{mpsc, oneshot};

use crate::{AckTracker, BusConfig};

/// Waiters for the broker's acknowledgements.
type Waiters = AckTracker<oneshot::Sender<()>>;

/// See the module documentation. Cloning gives another handle on the same connection.
#[derive(Clone)]
pub struct ConfirmedBus {
    client: AsyncClient,
    /// Publishes waiting for their PUBACK.
    publishes: Arc<Mutex<Waiters>>,
    /// Subscriptions waiting for their SUBACK.
    subscriptions: Arc<Mutex<Waiters>>,
    /// Requests leave in the order their waiters were queued.
    send_order: Arc<tokio::sync::Mutex<()>>,
    /// What we subscribe to, made again after every reconnect.
    filters: Arc<Mutex<HashSet<String>>>,
    /// How long to wait for a confirmation.
    timeout: Duration,
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
        let (client, eventloop) = AsyncClient::new(options, 1024);
        let bus = ConfirmedBus {
            client,
            publishes: Arc::default(),
            subscriptions: Arc::default(),
            send_order: Arc::default(),
            filters: Arc::default(),
            timeout,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(eventloop, bus.clone(), tx));
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
            let _order = self.send_order.lock().await;
            lock(&self.publishes).queued(tx);
            self.client
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
        lock(&self.filters).insert(filter.clone());
        self.subscribe_now(vec![filter]).await
    }

    async fn subscribe_now(&self, filters: Vec<String>) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let _order = self.send_order.lock().await;
            lock(&self.subscriptions).queued(tx);
            let filters = filters
                .into_iter()
                .map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce));
            self.client
                .subscribe_many(filters)
                .await
                .context("the broker connection has ended")?;
        }
        self.confirmed(rx, "our broker did not confirm the subscription in time")
            .await
    }

    /// Stops subscribing to `filter`.
    pub async fn unsubscribe(&self, filter: &str) {
        lock(&self.filters).remove(filter);
        let _ = self.client.unsubscribe(filter).await;
    }

    /// Disconnects cleanly; the connection task then ends.
    pub fn disconnect(&self) {
        let _ = self.client.try_disconnect();
    }

    async fn confirmed(&self, rx: oneshot::Receiver<()>, late: &'static str) -> anyhow::Result<()> {
        tokio::time::timeout(self.timeout, rx)
            .await
            .context(late)?
            .context("the broker connection has ended")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().expect("no code panics while holding it")
}

fn wake(waiters: &Mutex<Waiters>, pkid: u16) {
    if let Some(waiter) = lock(waiters).acked(pkid) {
        let _ = waiter.send(());
    }
}

async fn drive(
    mut eventloop: EventLoop,
    bus: ConfirmedBus,
    incoming: mpsc::UnboundedSender<Publish>,
) {
    let mut backoff =
        geohazard_runtime::Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
    loop {
        match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                lock(&bus.publishes).sent(pkid);
            }
            Ok(Event::Outgoing(Outgoing::AwaitAck(pkid))) => lock(&bus.publishes).held(pkid),
            Ok(Event::Incoming(Incoming::PubAck(ack))) => wake(&bus.publishes, ack.pkid),
            Ok(Event::Outgoing(Outgoing::Subscribe(pkid))) => {
                lock(&bus.subscriptions).sent(pkid);
            }
            Ok(Event::Incoming(Incoming::SubAck(ack))) => wake(&bus.subscriptions, ack.pkid),
            Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                backoff.reset();
                tracing::info!(client_id = %eventloop.mqtt_options.client_id(), "connected to the MQTT broker");
                let filters: Vec<String> = lock(&bus.filters).iter().cloned().collect();
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
                    return;
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(rumqttc::ConnectionError::RequestsDone) => return,
            Err(e) => {
                // Subscriptions in flight are not resent (publishes are): fail their waiters.
                lock(&bus.subscriptions).forget_sent();
                tracing::warn!(error = %e, retry_in = ?backoff.peek(), "MQTT connection lost");
                backoff.wait().await;
            }
        }
    }
}
