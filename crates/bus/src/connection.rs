//! A connection for a publisher that keeps its own store of what it sends (the firmware-bridge's
//! disk queue) and must know which of its messages the broker has accepted.
//!
//! Unlike [`crate::Bus`], every connection starts from a fresh rumqttc client: rumqttc never
//! replays (or silently drops) a publish on its own, and after a reconnect the owner sends again
//! whatever was not confirmed. What this shares with [`crate::Bus`]: the event loop polled in a
//! task of its own that never awaits a publish, the options from [`crate::BusConfig`], the
//! [`Backoff`] between attempts, and subscriptions renewed whenever the broker comes back
//! without our session.
//!
//! Each publish carries a token (or none); [`Connection::next`] hands the token back when the
//! broker has acknowledged the publish (QoS 1), or when it was written (QoS 0), through
//! [`AckTracker`]. A subscription made while connected may carry a token too, handed back with
//! the broker's answer (SUBACK).

use std::time::Duration;

use bytes::Bytes;
use geohazard_runtime::Backoff;
use rumqttc::{
    AsyncClient, ClientError, ConnectionError, Event, Incoming, MqttOptions, Outgoing, Publish,
    QoS, SubscribeFilter, SubscribeReasonCode,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, warn};

use crate::AckTracker;

/// A connection that lasted this long was a success: the next failure starts the backoff over.
const STABLE: Duration = Duration::from_secs(30);
/// Requests waiting for the event loop; a publish beyond that waits for room.
const REQUESTS: usize = 64;

/// Why a connection ended (or never came up).
#[derive(Debug, thiserror::Error)]
pub enum Lost {
    #[error("{0}")]
    Connection(#[from] ConnectionError),
    #[error("publish: {0}")]
    Client(#[from] ClientError),
    #[error("expected CONNACK, got {0}")]
    NoConnAck(String),
    #[error("the event loop ended")]
    Ended,
    #[error("not connected")]
    NotConnected,
}

/// What the broker sent that the owner must act on.
#[derive(Debug)]
pub enum Received<T> {
    /// A publish made with this token was acknowledged (QoS 1) or written (QoS 0).
    Confirmed(T),
    /// The broker answered a subscription made with this token: granted, or refused.
    Subscribed { token: T, granted: bool },
    /// A message on one of the subscriptions.
    Message(Publish),
}

#[derive(Debug)]
enum Token<T> {
    Owner(T),
    Untracked,
    Goodbye,
    /// The subscriptions made again at connect.
    Renewal,
}

struct Session<T> {
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
    poller: tokio::task::JoinHandle<()>,
    tracker: AckTracker<Token<T>>,
    /// Subscriptions waiting for their SUBACK.
    subscribing: AckTracker<Token<T>>,
    started: Instant,
}

impl<T> Drop for Session<T> {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// One connection after another to the broker, for a single owner task.
pub struct Connection<T> {
    options: MqttOptions,
    subscriptions: Vec<(String, QoS)>,
    backoff: Backoff,
    /// Whether the broker's stored session holds our subscriptions (a SUBACK was seen).
    subscribed: bool,
    /// Failures in a row, for the log.
    failures: u32,
    /// The next attempt waits for the backoff first.
    retry_later: bool,
    session: Option<Session<T>>,
}

impl<T> Connection<T> {
    /// `options` from [`crate::BusConfig::mqtt_options`] (plus a last will, credentials);
    /// `subscriptions` are made at the first connection and renewed whenever the broker has no
    /// session for us.
    pub fn new(
        options: MqttOptions,
        subscriptions: Vec<(String, QoS)>,
        backoff: Backoff,
    ) -> Connection<T> {
        Connection {
            options,
            subscriptions,
            backoff,
            subscribed: false,
            failures: 0,
            retry_later: false,
            session: None,
        }
    }

    /// Connects with a fresh client, retrying (after the backoff) until the broker accepts;
    /// asks for the subscriptions when its session does not hold them. Cancel-safe.
    pub async fn connect(&mut self) {
        loop {
            if std::mem::take(&mut self.retry_later) {
                // Set again until the wait is over, in case this future is dropped meanwhile.
                self.retry_later = true;
                self.backoff.wait().await;
                self.retry_later = false;
            }
            match self.try_connect().await {
                Ok(()) => return,
                Err(why) => self.lost(&why),
            }
        }
    }

    async fn try_connect(&mut self) -> Result<(), Lost> {
        self.session = None;
        let (client, mut eventloop) = AsyncClient::new(self.options.clone(), REQUESTS);
        let (tx, events) = mpsc::unbounded_channel();
        // The event loop only polls and forwards: nothing in it ever awaits a publish.
        let poller = tokio::spawn(async move {
            loop {
                let event = eventloop.poll().await;
                let end = event.is_err();
                if tx.send(event).is_err() || end {
                    break;
                }
            }
        });
        let session = self.session.insert(Session {
            client,
            events,
            poller,
            tracker: AckTracker::default(),
            subscribing: AckTracker::default(),
            started: Instant::now(),
        });
        // The first event is the CONNACK or the reason there is none.
        let ack = match session.events.recv().await {
            Some(Ok(Event::Incoming(Incoming::ConnAck(ack)))) => ack,
            Some(Ok(other)) => return Err(Lost::NoConnAck(format!("{other:?}"))),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(Lost::Ended),
        };
        if !ack.session_present {
            self.subscribed = false;
        }
        if !self.subscribed && !self.subscriptions.is_empty() {
            let filters = self
                .subscriptions
                .iter()
                .map(|(filter, qos)| SubscribeFilter::new(filter.clone(), *qos));
            session.client.subscribe_many(filters).await?;
            session.subscribing.queued(Token::Renewal);
        }
        // The owner says it at info level, with what it is.
        debug!(
            session_present = ack.session_present,
            "connected to the MQTT broker"
        );
        Ok(())
    }

    /// The connection is lost (a failure from [`Connection::next`] or a publish): the next
    /// [`Connection::connect`] waits for the backoff first.
    pub fn lost(&mut self, why: &Lost) {
        if let Some(s) = self.session.take()
            && s.started.elapsed() > STABLE
        {
            self.backoff.reset();
            self.failures = 0;
        }
        self.failures += 1;
        if self.failures == 1 || self.failures.is_power_of_two() {
            warn!(failures = self.failures, retry_in = ?self.backoff.peek(), "broker link down: {why}");
        } else {
            debug!(failures = self.failures, "broker link down: {why}");
        }
        self.retry_later = true;
    }

    /// Hands a publish to the client; `token` comes back from [`Connection::next`] once the
    /// broker has it.
    pub async fn publish(
        &mut self,
        topic: impl Into<String>,
        qos: QoS,
        retain: bool,
        payload: Bytes,
        token: Option<T>,
    ) -> Result<(), Lost> {
        let token = token.map_or(Token::Untracked, Token::Owner);
        self.send(topic.into(), qos, retain, payload, token).await
    }

    async fn send(
        &mut self,
        topic: String,
        qos: QoS,
        retain: bool,
        payload: Bytes,
        token: Token<T>,
    ) -> Result<(), Lost> {
        let session = self.session.as_mut().ok_or(Lost::NotConnected)?;
        session
            .client
            .publish_bytes(topic, qos, retain, payload)
            .await?;
        // Before its events are read: they are read only by this owner, after this returns.
        session.tracker.queued(token);
        Ok(())
    }

    /// Subscribes to `filter` from now on: at once, and again whenever the broker has no session
    /// for us. `token` comes back from [`Connection::next`] with the broker's answer. Fails (the
    /// filter still recorded) when not connected.
    pub async fn subscribe(
        &mut self,
        filter: String,
        qos: QoS,
        token: Option<T>,
    ) -> Result<(), Lost> {
        if !self.subscriptions.iter().any(|(f, _)| *f == filter) {
            self.subscriptions.push((filter.clone(), qos));
        }
        let session = self.session.as_mut().ok_or(Lost::NotConnected)?;
        session.client.subscribe(filter, qos).await?;
        session
            .subscribing
            .queued(token.map_or(Token::Untracked, Token::Owner));
        Ok(())
    }

    /// Acknowledges a message taken with manual acks (`MqttOptions::set_manual_acks(true)`):
    /// until then the broker keeps it and delivers it again to the next connection.
    pub async fn ack(&mut self, message: &Publish) -> Result<(), Lost> {
        let session = self.session.as_mut().ok_or(Lost::NotConnected)?;
        session.client.ack(message).await?;
        Ok(())
    }

    /// Stops subscribing to `filter`.
    pub async fn unsubscribe(&mut self, filter: &str) -> Result<(), Lost> {
        self.subscriptions.retain(|(f, _)| f != filter);
        let session = self.session.as_mut().ok_or(Lost::NotConnected)?;
        session.client.unsubscribe(filter).await?;
        Ok(())
    }

    /// The next thing to act on. Cancel-safe: an event is taken and handled without a pause.
    pub async fn next(&mut self) -> Result<Received<T>, Lost> {
        let session = self.session.as_mut().ok_or(Lost::NotConnected)?;
        loop {
            let event = match session.events.recv().await {
                Some(Ok(event)) => event,
                Some(Err(e)) => return Err(e.into()),
                None => return Err(Lost::Ended),
            };
            match event {
                Event::Outgoing(Outgoing::Publish(pkid)) => {
                    if let Some(Token::Owner(t)) = session.tracker.sent(pkid) {
                        return Ok(Received::Confirmed(t));
                    }
                }
                Event::Outgoing(Outgoing::AwaitAck(pkid)) => session.tracker.held(pkid),
                Event::Incoming(Incoming::PubAck(ack)) => {
                    if let Some(Token::Owner(t)) = session.tracker.acked(ack.pkid) {
                        return Ok(Received::Confirmed(t));
                    }
                }
                Event::Outgoing(Outgoing::Subscribe(pkid)) => {
                    session.subscribing.sent(pkid);
                }
                Event::Incoming(Incoming::SubAck(s)) => {
                    let granted = !s
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, SubscribeReasonCode::Failure));
                    let renewal = match session.subscribing.acked(s.pkid) {
                        Some(Token::Owner(token)) => {
                            return Ok(Received::Subscribed { token, granted });
                        }
                        Some(Token::Renewal) => {
                            self.subscribed = granted;
                            true
                        }
                        _ => false,
                    };
                    if !granted {
                        let filters: Vec<&str> = match renewal {
                            true => self.subscriptions.iter().map(|(f, _)| f.as_str()).collect(),
                            false => vec![],
                        };
                        error!(
                            ?filters,
                            "the broker refused a subscription: its messages will not arrive"
                        );
                    }
                }
                Event::Incoming(Incoming::Publish(p)) => return Ok(Received::Message(p)),
                _ => {}
            }
        }
    }

    /// Ends the connection cleanly: publishes `goodbye` (QoS 1, retained; what the last will
    /// would have said) and waits up to `within` for the broker to take it, then disconnects.
    pub async fn close(&mut self, goodbye: Option<(String, Bytes)>, within: Duration) {
        if let Some((topic, payload)) = goodbye {
            if self
                .send(topic, QoS::AtLeastOnce, true, payload, Token::Goodbye)
                .await
                .is_err()
            {
                self.session = None;
                return;
            }
            let Some(session) = self.session.as_mut() else {
                return;
            };
            let _ = tokio::time::timeout(within, async {
                while let Some(Ok(event)) = session.events.recv().await {
                    match event {
                        Event::Outgoing(Outgoing::Publish(pkid)) => {
                            session.tracker.sent(pkid);
                        }
                        Event::Outgoing(Outgoing::AwaitAck(pkid)) => session.tracker.held(pkid),
                        Event::Incoming(Incoming::PubAck(ack)) => {
                            if let Some(Token::Goodbye) = session.tracker.acked(ack.pkid) {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            })
            .await;
        }
        if let Some(mut session) = self.session.take()
            && session.client.disconnect().await.is_ok()
        {
            // Let the event loop write the DISCONNECT, so the broker drops the last will.
            let _ = tokio::time::timeout(within, async {
                while let Some(Ok(event)) = session.events.recv().await {
                    if let Event::Outgoing(Outgoing::Disconnect) = event {
                        break;
                    }
                }
            })
            .await;
        }
    }
}
