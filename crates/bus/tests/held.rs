//! A consumer whose byte budget is full keeps its broker connection: the shipped Mosquitto
//! (deploy/mosquitto.conf) drops a client that sends nothing for 1.5 keep-alives, and then keeps
//! the backlog as an offline client's queue, up to its byte limit.

use std::collections::BTreeSet;
use std::time::Duration;

use geohazard_bus::rumqttc::QoS;
use geohazard_bus::{Bus, BusConfig, Qos};
use geohazard_testkit::Broker;

const GW: &str = "gw-held";
const GW_KEY: &str = "gateway key";
const COLLECTOR: &str = "geohazard-collector";
const COLLECTOR_KEY: &str = "collector key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_holding_its_whole_byte_budget_stays_connected_and_gets_every_message() {
    let broker = Broker::start_as_shipped(&[(GW, GW_KEY)], &[(COLLECTOR, COLLECTOR_KEY)]).await;
    let topic = format!("gh/v1/gw/{GW}/telemetry");
    // A consumer with a budget of two messages and a short keep-alive (the broker drops it
    // after 1.5 keep-alives of silence: 7.5 s).
    let mut config = BusConfig::new(
        broker.service_url_as(COLLECTOR, COLLECTOR_KEY),
        "held-consumer",
    );
    config.keep_alive_secs = 5;
    config.max_held_bytes = Some(2 * 100_000);
    let mut consumer = Bus::start(
        &config,
        vec![("gh/v1/gw/+/telemetry".into(), Qos::AtLeastOnce)],
        None,
        100,
    )
    .unwrap();
    consumer
        .wait_subscribed(Duration::from_secs(20))
        .await
        .unwrap();
    let mut publisher = Bus::start(
        &BusConfig::new(broker.url_as(GW, GW_KEY), GW),
        vec![],
        None,
        100,
    )
    .unwrap();
    publisher
        .wait_subscribed(Duration::from_secs(20))
        .await
        .unwrap();
    let sent = 20u32;
    for n in 0..sent {
        let mut payload = vec![b' '; 100_000];
        payload[..4].copy_from_slice(&n.to_be_bytes());
        publisher
            .client()
            .publish(topic.clone(), QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
    // The consumer takes two and sits on them (a database away) for three keep-alives.
    let first = consumer.recv().await.unwrap();
    let second = consumer.recv().await.unwrap();
    assert_eq!(consumer.held().messages(), 2);
    tokio::time::sleep(Duration::from_secs(16)).await;
    assert_eq!(
        consumer.connections(),
        1,
        "the broker never dropped the consumer while it held its budget"
    );
    // The database is back: everything arrives, once, on the first connection.
    let mut got = BTreeSet::new();
    let acker = consumer.acker();
    for d in [first, second] {
        got.insert(u32::from_be_bytes(d.payload()[..4].try_into().unwrap()));
        assert!(acker.ack(&d).await);
    }
    while got.len() < sent as usize {
        let d = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
            .await
            .expect("the rest of the messages")
            .unwrap();
        got.insert(u32::from_be_bytes(d.payload()[..4].try_into().unwrap()));
        assert!(
            acker.ack(&d).await,
            "delivered on the connection it came on"
        );
    }
    assert_eq!(got, (0..sent).collect::<BTreeSet<_>>());
    assert_eq!(consumer.connections(), 1);
    consumer.shutdown().await;
    publisher.shutdown().await;
}
