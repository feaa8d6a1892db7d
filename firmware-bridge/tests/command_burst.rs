//! A burst of commands: every one answered once, and the log says a busy link once in a while,
//! not once per command.

mod common;

use std::time::{Duration, Instant};

use common::*;
use geohazard_firmware_bridge::DataType;
use geohazard_protocol::Topic;
use geohazard_testkit::{Broker, eventually};

const GW: &str = "gw-burst";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_status_commands_get_a_thousand_answers_and_few_busy_link_warnings() {
    capture_logs();
    let broker = Broker::start().await;
    let points = vec![point("a", 1, 0, DataType::U16, constant(1.0))];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let mut config = bridge_config(GW, &sim, &points, &broker, queue.path());
    config.commands.max_waiting = 2000;
    let rec = Recorder::start(
        broker.port(),
        "rec-burst",
        true,
        &[&Topic::command_ack(GW), &Topic::status(GW)],
    )
    .await;
    let bridge = RunningBridge::start(config);
    eventually(Duration::from_secs(20), "the bridge online", || async {
        (!rec.on(&Topic::status(GW)).is_empty()).then_some(())
    })
    .await;

    let started = Instant::now();
    let ids: Vec<String> = (0..1000).map(|i| format!("st-{i}")).collect();
    // Each `status` also publishes the retained status: a thousand of them crowd the link.
    for id in &ids {
        rec.send_command(GW, id, "status", serde_json::Value::Null)
            .await;
    }
    eventually(
        Duration::from_secs(120),
        "an answer to every status command",
        || async {
            let acks = rec.acks(GW);
            let answered: std::collections::HashSet<&str> =
                acks.iter().map(|a| a.id.as_str()).collect();
            ids.iter()
                .all(|id| answered.contains(id.as_str()))
                .then_some(())
        },
    )
    .await;
    let minutes = started.elapsed().as_secs() / 60;
    let warnings = log_lines_with(&["status not published"]);
    // The first skip is said at once, then at most once a minute with the count.
    assert!(
        warnings as u64 <= 1 + minutes,
        "{warnings} busy-link warnings in {minutes} whole minutes"
    );
    assert!(rec.acks(GW).iter().all(|a| a.ok));
    assert_eq!(rec.acks(GW).len(), ids.len());
    bridge.stop().await;
}
