//! The endpoint's connection to our broker. Unlike `geohazard_bus::Bus` it reports when the
//! broker has accepted a message (its PUBACK), because a device may be acknowledged only then.
//!
//! How: every publish is QoS 1 and goes through one lock, so the event loop sends them in the
//! order they were queued; `geohazard_bus::AckTracker` pairs each waiter with its packet id and
//! wakes it on the acknowledgement (resends after a reconnect included).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use geohazard_bus::rumqttc::{self, AsyncClient, Event, EventLoop, Incoming, Outgoing, QoS};
use geohazard_bus::{AckTracker, BusConfig};
use tokio::sync::{mpsc, oneshot};

/// Waiters for the broker's acknowledgements (PUBACK or SUBACK).
type Waiters = AckTracker<oneshot::Sender<()>>;

/// A message from our broker for a device: a command on `gh/v1/gw/{device}/cmd`.
#[derive(Debug)]
pub struct CommandDelivery {
    pub device: String,
    pub payload: Vec<u8>,
}

#[derive(Clone)]
pub struct Upstream {
    client: AsyncClient,
    waiters: Arc<Mutex<Waiters>>,
    subscriptions: Arc<Mutex<Waiters>>,
    send_lock: Arc<tokio::sync::Mutex<()>>,
    /// Devices whose command topic we subscribe to, renewed after every reconnect.
    devices: Arc<Mutex<HashSet<String>>>,
    timeout: Duration,
}

impl Upstream {
    /// Connects in the background; commands for subscribed devices arrive on the receiver.
    pub fn start(
        mqtt_url: &str,
        client_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<(Upstream, mpsc::UnboundedReceiver<CommandDelivery>)> {
        let mut config = BusConfig::new(mqtt_url, client_id);
        // Subscriptions follow the connected devices, so a fresh session each time is right.
        config.persistent_session = false;
        let mut options = config.mqtt_options()?;
        options.set_manual_acks(false);
        let (client, eventloop) = AsyncClient::new(options, 1024);
        let upstream = Upstream {
            client,
            waiters: Arc::default(),
            subscriptions: Arc::default(),
            send_lock: Arc::default(),
            devices: Arc::default(),
            timeout,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(eventloop, upstream.clone(), tx));
        Ok((upstream, rx))
    }

    /// Publishes at QoS 1 and waits until the broker has acknowledged it.
    pub async fn publish_confirmed(
        &self,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    ) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let _order = self.send_lock.lock().await;
            lock(&self.waiters).queued(tx);
            self.client
                .publish(topic, QoS::AtLeastOnce, retain, payload)
                .await
                .context("the broker connection has ended")?;
        }
        tokio::time::timeout(self.timeout, rx)
            .await
            .context("our broker did not acknowledge in time")?
            .context("the broker connection has ended")
    }

    /// Starts forwarding commands for `device`; returns once the broker confirmed it.
    pub async fn follow(&self, device: &str) -> anyhow::Result<()> {
        self.devices
            .lock()
            .expect("not poisoned")
            .insert(device.to_owned());
        self.subscribe(vec![device.to_owned()]).await
    }

    async fn subscribe(&self, devices: Vec<String>) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let _order = self.send_lock.lock().await;
            lock(&self.subscriptions).queued(tx);
            let filters = devices.iter().map(|d| {
                rumqttc::SubscribeFilter::new(
                    geohazard_protocol::Topic::command(d),
                    QoS::AtLeastOnce,
                )
            });
            self.client
                .subscribe_many(filters)
                .await
                .context("the broker connection has ended")?;
        }
        tokio::time::timeout(self.timeout, rx)
            .await
            .context("our broker did not confirm the subscription in time")?
            .context("the broker connection has ended")
    }

    /// Stops forwarding commands for `device`.
    pub async fn unfollow(&self, device: &str) {
        self.devices.lock().expect("not poisoned").remove(device);
        let topic = geohazard_protocol::Topic::command(device);
        let _ = self.client.unsubscribe(topic).await;
    }

    pub fn disconnect(&self) {
        let _ = self.client.try_disconnect();
    }
}

fn lock(waiters: &Mutex<Waiters>) -> std::sync::MutexGuard<'_, Waiters> {
    waiters.lock().expect("no code panics while holding it")
}

fn wake(waiters: &Mutex<Waiters>, pkid: u16) {
    if let Some(waiter) = lock(waiters).acked(pkid) {
        let _ = waiter.send(());
    }
}

async fn drive(
    mut eventloop: EventLoop,
    upstream: Upstream,
    commands: mpsc::UnboundedSender<CommandDelivery>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                lock(&upstream.waiters).sent(pkid);
            }
            Ok(Event::Outgoing(Outgoing::AwaitAck(pkid))) => lock(&upstream.waiters).held(pkid),
            Ok(Event::Incoming(Incoming::PubAck(ack))) => wake(&upstream.waiters, ack.pkid),
            Ok(Event::Outgoing(Outgoing::Subscribe(pkid))) => {
                lock(&upstream.subscriptions).sent(pkid);
            }
            Ok(Event::Incoming(Incoming::SubAck(ack))) => wake(&upstream.subscriptions, ack.pkid),
            Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                backoff = Duration::from_millis(100);
                tracing::info!("universal endpoint connected to our broker");
                let devices: Vec<String> = upstream
                    .devices
                    .lock()
                    .expect("not poisoned")
                    .iter()
                    .cloned()
                    .collect();
                if !devices.is_empty() {
                    // Through the ordered path (not from this loop, which must keep polling).
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        if let Err(e) = upstream.subscribe(devices).await {
                            tracing::warn!(error = %e, "cannot renew the devices' command subscriptions");
                        }
                    });
                }
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                if let Ok(geohazard_protocol::Topic::Command { gateway }) =
                    geohazard_protocol::Topic::parse(&p.topic)
                    && commands
                        .send(CommandDelivery {
                            device: gateway,
                            payload: p.payload.to_vec(),
                        })
                        .is_err()
                {
                    return;
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(rumqttc::ConnectionError::RequestsDone) => return,
            Err(e) => {
                // Subscriptions in flight are not resent (publishes are): fail their waiters.
                lock(&upstream.subscriptions).forget_sent();
                tracing::warn!(error = %e, retry_in = ?backoff, "universal endpoint lost our broker");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
