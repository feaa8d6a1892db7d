//! `ConfirmedBus` against a real Mosquitto: a publish returns only once the broker has it, and
//! subscriptions outlive a broker restart (the session is fresh, so they are made again).

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
