//! `ConfirmedBus` against a real Mosquitto: a publish returns only once the broker has it,
//! subscriptions outlive a broker restart (the session is fresh, so they are made again), many
//! callers at once are each answered, and what a caller gave up on is not sent late.

use std::collections::BTreeSet;
use std::time::Duration;

use geohazard_bus::{BusConfig, ConfirmedBus};
use geohazard_testkit::Broker;

/// Beyond the longest reconnect pause (30 s).
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_publish_fails_while_the_broker_is_down_and_subscriptions_return_after_its_restart() {
    let mut broker = Broker::start().await;
    let config = BusConfig::new(broker.url(), "confirmed-under-test");
    let (bus, mut incoming) = ConfirmedBus::start(&config, Duration::from_secs(2)).unwrap();
    bus.subscribe("test/echo".into()).await.unwrap();
    bus.publish("test/echo".into(), b"before".to_vec(), false)
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, incoming.recv()).await.unwrap();
    assert_eq!(first.unwrap().payload.as_ref(), b"before");

    broker.stop().await;
    let unconfirmed = bus
        .publish("test/other".into(), b"lost?".to_vec(), false)
        .await;
    assert!(unconfirmed.is_err(), "confirmed with no broker");

    broker.restart().await;
    // Published again until one arrives: proof the subscription was made again on the new
    // session (Mosquitto forgot it with the clean session).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no echo after the restart"
        );
        if bus
            .publish("test/echo".into(), b"after".to_vec(), false)
            .await
            .is_err()
        {
            continue; // not reconnected yet
        }
        match tokio::time::timeout(Duration::from_millis(500), incoming.recv()).await {
            Ok(Some(p)) if p.payload.as_ref() == b"after" => break,
            _ => {}
        }
    }
    bus.disconnect();
}

#[tokio::test]
async fn two_hundred_callers_at_once_are_each_confirmed_and_every_message_arrives() {
    let broker = Broker::start().await;
    let config = BusConfig::new(broker.url(), "confirmed-burst");
    let (bus, mut incoming) = ConfirmedBus::start(&config, Duration::from_secs(20)).unwrap();
    bus.subscribe("burst/+".into()).await.unwrap();
    let callers: Vec<_> = (0..200)
        .map(|i| {
            let bus = bus.clone();
            tokio::spawn(async move {
                bus.publish(format!("burst/{i}"), i.to_string().into_bytes(), false)
                    .await
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap().expect("confirmed");
    }
    let mut seen = BTreeSet::new();
    while seen.len() < 200 {
        let p = tokio::time::timeout(WAIT, incoming.recv())
            .await
            .expect("every message arrives")
            .unwrap();
        seen.insert(p.topic);
    }
    bus.unsubscribe("burst/+").await;
    // In order with the unsubscribe: once this is confirmed, the broker has dropped the filter.
    bus.publish("burst/after".into(), b"x".to_vec(), false)
        .await
        .unwrap();
    let late = tokio::time::timeout(Duration::from_millis(500), incoming.recv()).await;
    assert!(late.is_err(), "a message after unsubscribing: {late:?}");
    bus.disconnect();
}

#[tokio::test]
async fn a_publish_its_caller_gave_up_on_while_the_broker_was_down_is_never_sent() {
    let mut broker = Broker::start().await;
    let config = BusConfig::new(broker.url(), "confirmed-gave-up");
    let (bus, _incoming) = ConfirmedBus::start(&config, Duration::from_secs(2)).unwrap();
    bus.publish("late/ready".into(), b"1".to_vec(), false)
        .await
        .unwrap();
    broker.stop().await;
    // Retained, so a reader after the restart would see it had it been sent late.
    let gave_up = bus
        .publish("late/value".into(), b"stale".to_vec(), true)
        .await;
    assert!(gave_up.is_err(), "confirmed with no broker");
    broker.restart().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while bus
        .publish("late/ready".into(), b"2".to_vec(), false)
        .await
        .is_err()
    {
        assert!(tokio::time::Instant::now() < deadline, "never reconnected");
    }
    let reader_config = BusConfig::new(broker.url(), "confirmed-gave-up-reader");
    let (reader, mut seen) = ConfirmedBus::start(&reader_config, WAIT).unwrap();
    reader.subscribe("late/value".into()).await.unwrap();
    let retained = tokio::time::timeout(Duration::from_secs(1), seen.recv()).await;
    assert!(
        retained.is_err(),
        "the message its caller was told had failed was sent: {retained:?}"
    );
    reader.disconnect();
    bus.disconnect();
}
