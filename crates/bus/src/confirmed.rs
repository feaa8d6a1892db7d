//! A shared handle whose every publish and subscription returns only once the broker has
//! confirmed it (PUBACK, SUBACK): for an adapter that may acknowledge its own clients only when
//! what they sent is safe with our broker (the universal-type device endpoint).
//!
//! It is a [`Connection`] driven by a task of its own: callers queue requests, the task hands
//! each to the connection with the caller's waiter as its token, and wakes the waiter when the
//! token comes back. So it shares with the firmware-bridge's link the fresh client per
//! connection (rumqttc drops what a lost connection had in hand; a waiter paired with it fails
//! and its sender tries again), the pairing of acknowledgements, the backoff and the renewal of
//! subscriptions. What it adds: requests leave in the order they were queued; subscriptions
//! come and go while it runs; the session is fresh at every connection (every subscription made
//! again) and incoming messages are acknowledged on arrival, since it forwards requests rather
//! than storing data.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use geohazard_runtime::Backoff;
use rumqttc::{Publish, QoS};
use tokio::sync::{mpsc, oneshot, watch};

use crate::{BusConfig, Connection, Lost, Received};

/// How long a clean disconnect may take.
const GOODBYE: Duration = Duration::from_secs(2);
/// Requests waiting for the connection task; a caller beyond that waits (within its timeout).
const REQUESTS: usize = 1024;

/// Woken with the broker's answer: confirmed, or refused.
type Waiter = oneshot::Sender<bool>;

enum Request {
    Publish {
        topic: String,
        payload: Bytes,
        retain: bool,
        waiter: Waiter,
    },
    Subscribe {
        filter: String,
        waiter: Waiter,
    },
    Unsubscribe {
        filter: String,
    },
}

/// See the module documentation. Cloning gives another handle on the same connection.
#[derive(Clone)]
pub struct ConfirmedBus {
    requests: mpsc::Sender<Request>,
    stop: watch::Sender<bool>,
    /// How long to wait for a confirmation.
    timeout: Duration,
    /// Whether the connection to the broker is up now.
    linked: Arc<AtomicBool>,
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
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
        let connection = Connection::new(options, vec![], backoff);
        let (requests, queue) = mpsc::channel(REQUESTS);
        let (stop, stopped) = watch::channel(false);
        let (incoming, messages) = mpsc::unbounded_channel();
        let linked = Arc::new(AtomicBool::new(false));
        tokio::spawn(drive(connection, queue, stopped, incoming, linked.clone()));
        let bus = ConfirmedBus {
            requests,
            stop,
            timeout,
            linked,
        };
        Ok((bus, messages))
    }

    /// Publishes at QoS 1 and waits until the broker has acknowledged it.
    pub async fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    ) -> anyhow::Result<()> {
        let request = |waiter| Request::Publish {
            topic,
            payload: payload.into(),
            retain,
            waiter,
        };
        self.confirmed(request, "our broker did not acknowledge in time")
            .await
    }

    /// Subscribes to `filter` (QoS 1) from now on, also after every reconnect; returns once the
    /// broker confirmed it.
    pub async fn subscribe(&self, filter: String) -> anyhow::Result<()> {
        let request = |waiter| Request::Subscribe { filter, waiter };
        self.confirmed(
            request,
            "our broker did not confirm the subscription in time",
        )
        .await
    }

    /// Stops subscribing to `filter`.
    pub async fn unsubscribe(&self, filter: &str) {
        let filter = filter.to_owned();
        let _ = self.requests.send(Request::Unsubscribe { filter }).await;
    }

    /// A readiness check that passes while the broker connection is up.
    pub fn readiness_check(&self) -> Arc<dyn geohazard_runtime::ReadinessCheck> {
        crate::link_check(self.linked.clone())
    }

    /// Disconnects cleanly; the connection task then ends.
    pub fn disconnect(&self) {
        self.stop.send_replace(true);
    }

    /// Queues the request and waits for the broker's answer, all within the timeout.
    async fn confirmed(
        &self,
        request: impl FnOnce(Waiter) -> Request,
        late: &'static str,
    ) -> anyhow::Result<()> {
        let (waiter, answer) = oneshot::channel();
        let asked = async {
            self.requests
                .send(request(waiter))
                .await
                .ok()
                .context("the broker connection has ended")?;
            answer.await.context("the broker connection was lost")
        };
        let granted = tokio::time::timeout(self.timeout, asked)
            .await
            .context(late)??;
        if !granted {
            bail!("our broker refused the subscription");
        }
        Ok(())
    }
}

async fn drive(
    mut connection: Connection<Waiter>,
    mut requests: mpsc::Receiver<Request>,
    mut stopped: watch::Receiver<bool>,
    incoming: mpsc::UnboundedSender<Publish>,
    linked: Arc<AtomicBool>,
) {
    loop {
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return,
            _ = connection.connect() => {}
        }
        tracing::info!("connected to the MQTT broker");
        linked.store(true, Ordering::Release);
        let lost = tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => None,
            lost = serve(&mut connection, &mut requests, &incoming) => lost,
        };
        linked.store(false, Ordering::Release);
        match lost {
            // The waiters of what this connection had in hand fail with it.
            Some(why) => connection.lost(&why),
            None => {
                connection.close(None, GOODBYE).await;
                return;
            }
        }
    }
}

/// Serves one connection: `Some(why)` when it is lost, `None` when there is no one left to serve.
async fn serve(
    connection: &mut Connection<Waiter>,
    requests: &mut mpsc::Receiver<Request>,
    incoming: &mpsc::UnboundedSender<Publish>,
) -> Option<Lost> {
    loop {
        let sent = tokio::select! {
            received = connection.next() => match received {
                Ok(Received::Confirmed(waiter)) => {
                    let _ = waiter.send(true);
                    Ok(())
                }
                Ok(Received::Subscribed { token, granted }) => {
                    let _ = token.send(granted);
                    Ok(())
                }
                Ok(Received::Message(publish)) => match incoming.send(publish) {
                    Ok(()) => Ok(()),
                    Err(_) => return None,
                },
                Err(why) => Err(why),
            },
            request = requests.recv() => match request {
                None => return None,
                // Its caller has given up (and told its client so): not sent late.
                Some(Request::Publish { waiter, .. }) if waiter.is_closed() => Ok(()),
                Some(Request::Publish { topic, payload, retain, waiter }) => {
                    connection
                        .publish(topic, QoS::AtLeastOnce, retain, payload, Some(waiter))
                        .await
                }
                Some(Request::Subscribe { filter, waiter }) => {
                    connection.subscribe(filter, QoS::AtLeastOnce, Some(waiter)).await
                }
                Some(Request::Unsubscribe { filter }) => connection.unsubscribe(&filter).await,
            },
        };
        if let Err(why) = sent {
            return Some(why);
        }
    }
}
