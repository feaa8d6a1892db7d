//! `Connection` against a real Mosquitto: every publish confirmed with its own token,
//! subscriptions renewed when the broker lost the session, the last will only on a lost link.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use geohazard_bus::rumqttc::{LastWill, MqttOptions, QoS};
use geohazard_bus::{BusConfig, Connection, Received};
use geohazard_runtime::Backoff;
use geohazard_testkit::Broker;

const WAIT: Duration = Duration::from_secs(20);

fn options(broker: &Broker, client_id: &str) -> MqttOptions {
    let mut o = BusConfig::new(broker.url(), client_id)
        .mqtt_options()
        .unwrap();
    o.set_manual_acks(false);
    o
}

fn connection(options: MqttOptions, subscriptions: &[&str]) -> Connection<u32> {
    let subscriptions = subscriptions
        .iter()
        .map(|f| (f.to_string(), QoS::AtLeastOnce))
        .collect();
    let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
    Connection::new(options, subscriptions, backoff)
}

/// The next message on a subscription, skipping confirmations.
async fn next_message(conn: &mut Connection<u32>, within: Duration) -> Option<(String, Bytes)> {
    tokio::time::timeout(within, async {
        loop {
            match conn.next().await {
                Ok(Received::Message(p)) => return Some((p.topic, p.payload)),
                Ok(Received::Confirmed(_) | Received::Subscribed { .. }) => {}
                Err(_) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// The retained message on `topic`, as a new subscriber sees it.
async fn retained(broker: &Broker, topic: &str) -> Bytes {
    let mut reader = connection(options(broker, "retained-reader"), &[topic]);
    tokio::time::timeout(WAIT, reader.connect())
        .await
        .expect("the reader connects");
    let (_, payload) = next_message(&mut reader, WAIT)
        .await
        .expect("a retained message");
    payload
}

#[tokio::test]
async fn every_publish_comes_back_confirmed_with_its_own_token() {
    let broker = Broker::start().await;
    let mut conn = connection(options(&broker, "publisher"), &[]);
    tokio::time::timeout(WAIT, conn.connect())
        .await
        .expect("connects");
    let mut expected = BTreeSet::new();
    for n in 0..300u32 {
        // QoS 1 is confirmed by its PUBACK, QoS 0 once written; untracked ones never come back.
        let qos = if n % 10 == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        let token = (n % 7 != 0).then_some(n);
        expected.extend(token);
        conn.publish("test/data", qos, false, Bytes::from(n.to_string()), token)
            .await
            .unwrap();
    }
    let mut confirmed = BTreeSet::new();
    tokio::time::timeout(WAIT, async {
        while confirmed.len() < expected.len() {
            match conn.next().await.expect("the connection stays up") {
                Received::Confirmed(t) => assert!(confirmed.insert(t), "{t} confirmed twice"),
                Received::Message(p) => panic!("unexpected message on {}", p.topic),
                Received::Subscribed { .. } => panic!("no subscription was made with a token"),
            }
        }
    })
    .await
    .expect("every confirmation in time");
    assert_eq!(confirmed, expected);
}

#[tokio::test]
async fn after_the_broker_forgets_the_session_the_subscriptions_are_made_again() {
    let broker = Broker::start().await;
    let mut conn = connection(options(&broker, "subscriber"), &["test/cmd"]);
    let mut sender = connection(options(&broker, "sender"), &[]);
    tokio::time::timeout(WAIT, conn.connect()).await.unwrap();
    tokio::time::timeout(WAIT, sender.connect()).await.unwrap();

    // Sends until one arrives: the subscription is confirmed only after the connection is up.
    async fn delivered(conn: &mut Connection<u32>, sender: &mut Connection<u32>, text: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{text} never arrived"
            );
            sender
                .publish(
                    "test/cmd",
                    QoS::AtLeastOnce,
                    false,
                    Bytes::from(text.to_owned()),
                    None,
                )
                .await
                .unwrap();
            if let Some((_, p)) = next_message(conn, Duration::from_millis(500)).await
                && p == text.as_bytes()
            {
                return;
            }
        }
    }
    delivered(&mut conn, &mut sender, "before").await;

    // A clean-session client under the same id takes the session over: when it leaves, the
    // broker has discarded it, subscriptions and all.
    let mut intruder = connection(
        {
            let mut o = options(&broker, "subscriber");
            o.set_clean_session(true);
            o
        },
        &[],
    );
    tokio::time::timeout(WAIT, intruder.connect())
        .await
        .unwrap();
    intruder.close(None, Duration::from_secs(2)).await;
    let why = tokio::time::timeout(WAIT, async {
        loop {
            if let Err(e) = conn.next().await {
                return e;
            }
        }
    })
    .await
    .expect("the takeover ends the first connection");
    conn.lost(&why);
    tokio::time::timeout(WAIT, conn.connect()).await.unwrap();
    delivered(&mut conn, &mut sender, "after").await;
}

#[tokio::test]
async fn the_last_will_speaks_for_a_lost_link_and_a_clean_close_says_goodbye_instead() {
    let broker = Broker::start().await;
    let with_will = || {
        let mut o = options(&broker, "gateway");
        o.set_last_will(LastWill::new("test/status", "lost", QoS::AtLeastOnce, true));
        o
    };

    let mut conn = connection(with_will(), &[]);
    tokio::time::timeout(WAIT, conn.connect()).await.unwrap();
    conn.publish(
        "test/status",
        QoS::AtLeastOnce,
        true,
        Bytes::from("up"),
        Some(1),
    )
    .await
    .unwrap();
    assert!(matches!(conn.next().await, Ok(Received::Confirmed(1))));
    drop(conn); // no DISCONNECT: the broker sees the link drop
    geohazard_testkit::eventually(WAIT, "the last will", || async {
        (retained(&broker, "test/status").await == "lost").then_some(())
    })
    .await;

    let mut conn = connection(with_will(), &[]);
    tokio::time::timeout(WAIT, conn.connect()).await.unwrap();
    conn.close(
        Some(("test/status".into(), Bytes::from("bye"))),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(retained(&broker, "test/status").await, "bye");
}

#[test]
fn a_further_connection_signs_in_as_the_users_name_with_its_own_suffix() {
    let url = geohazard_bus::connection_url(
        "mqtt://geohazard-collector:p%40ss@10.0.0.5:1884",
        "universal",
    )
    .unwrap();
    let parsed = geohazard_bus::BrokerUrl::parse(&url).unwrap();
    assert_eq!(
        parsed.credentials,
        Some(("geohazard-collector-universal".into(), "p@ss".into()))
    );
    assert_eq!((parsed.host.as_str(), parsed.port), ("10.0.0.5", 1884));
    let odd = geohazard_bus::connection_url("mqtt://a%2Fb:pw@h", "video").unwrap();
    assert_eq!(
        geohazard_bus::BrokerUrl::parse(&odd).unwrap().credentials,
        Some(("a/b-video".into(), "pw".into()))
    );
    // Anonymous (an open test broker): nothing to add to.
    assert_eq!(
        geohazard_bus::connection_url("mqtt://127.0.0.1:1883", "video").unwrap(),
        "mqtt://127.0.0.1:1883"
    );
}
