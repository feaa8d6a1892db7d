//! Telemetry kept until the collector confirms it (`queue.until_confirmed`): what the broker took
//! but no collector confirmed is sent again after `queue.confirm_timeout_s`, with the link up.

mod common;

use std::time::Duration;

use common::*;
use geohazard_firmware_bridge::DataType;
use geohazard_protocol::{TelemetryAck, Topic};
use geohazard_testkit::{Broker, eventually};
use rumqttc::QoS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_the_collector_never_confirmed_is_sent_again_without_a_reconnect() {
    init_logs();
    let gw = "gw-confirm";
    let broker = Broker::start().await;
    let points = vec![point("a", 1, 0, DataType::U16, constant(1.0))];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let mut config = bridge_config(gw, &sim, &points, &broker, queue.path());
    config.queue.until_confirmed = true;
    config.queue.confirm_timeout_s = 1.0;
    config.queue.confirm_timeout_max_s = 4.0;
    // The only online status is the one published when the link comes up.
    config.status.interval_s = 3600.0;
    // A collector that took the first messages and died before confirming them.
    let rec = Recorder::start(
        broker.port(),
        "rec-confirm",
        true,
        &[
            &Topic::telemetry(gw),
            &Topic::status(gw),
            &Topic::command_ack(gw),
        ],
    )
    .await;
    let bridge = RunningBridge::start(config);
    eventually(Duration::from_secs(20), "the first message", || async {
        (!rec.batches(gw).is_empty()).then_some(())
    })
    .await;

    let first = rec.batches(gw)[0].clone();
    let again = eventually(
        Duration::from_secs(60),
        "the unconfirmed first message sent again",
        || async {
            let copies: Vec<_> = rec
                .batches(gw)
                .into_iter()
                .filter(|b| b.seq == first.seq)
                .collect();
            (copies.len() >= 2).then_some(copies)
        },
    )
    .await;
    assert_eq!(again[1], first, "the copy differs from the first");
    // Without a reconnect: one connection, one online status.
    let online = rec
        .on(&Topic::status(gw))
        .iter()
        .filter(|p| p.starts_with(br#"{"online":true"#))
        .count();
    assert_eq!(online, 1, "the link went down and up again");

    // Confirmed at last: nothing is left waiting.
    let confirm = |seqs: Vec<u64>| TelemetryAck { seqs }.to_json();
    eventually(
        Duration::from_secs(30),
        "an empty queue once everything is confirmed",
        || async {
            let seqs: Vec<u64> = rec.batches(gw).iter().map(|b| b.seq).collect();
            rec.client
                .publish(
                    Topic::telemetry_ack(gw),
                    QoS::AtLeastOnce,
                    false,
                    confirm(seqs),
                )
                .await
                .unwrap();
            let ack = rec
                .command(
                    gw,
                    &format!("depth-{}", rec.acks(gw).len()),
                    "status",
                    serde_json::Value::Null,
                )
                .await;
            (ack.result["queue_depth"] == 0).then_some(())
        },
    )
    .await;
    bridge.stop().await;
}
