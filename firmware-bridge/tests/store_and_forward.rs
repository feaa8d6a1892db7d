//! The disk queue under a broker outage and under a killed bridge: nothing queued is lost.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::*;
use geohazard_firmware_bridge::DataType;
use geohazard_firmware_bridge::{DiskQueue, Lane};
use geohazard_protocol::{GatewayStatus, TelemetryBatch, Topic};
use geohazard_testkit::{Broker, eventually};

/// Checks what a subscriber received: every seq from 1 to `last`, first copies in order, and
/// any redelivered copy identical to the first. Returns the number of redelivered copies.
fn assert_complete_and_ordered(batches: &[TelemetryBatch], last: u64) -> usize {
    let mut first: HashMap<u64, &TelemetryBatch> = HashMap::new();
    let mut order = Vec::new();
    let mut duplicates = 0;
    for b in batches {
        match first.get(&b.seq) {
            Some(f) => {
                assert_eq!(*f, b, "a redelivered message differs from the first copy");
                duplicates += 1;
            }
            None => {
                first.insert(b.seq, b);
                order.push(b.seq);
            }
        }
    }
    let missing: Vec<u64> = (1..=last).filter(|s| !first.contains_key(s)).collect();
    assert!(missing.is_empty(), "messages lost: seq {missing:?}");
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "messages out of order: {order:?}"
    );
    duplicates
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_polled_while_the_broker_is_down_are_delivered_once_in_order_after_it_returns() {
    init_logs();
    let gw = "gw-outage";
    let mut broker = Broker::start().await;
    let points = vec![
        point("a", 1, 0, DataType::U16, constant(1.0)),
        point("b", 1, 1, DataType::U16, constant(2.0)),
        point("c", 2, 0, DataType::U16, constant(3.0)),
    ];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    // A persistent session: the broker keeps what arrives for it while it is disconnected.
    let rec = Recorder::start(broker.port(), "rec-outage", false, &[&Topic::telemetry(gw)]).await;
    let config = bridge_config(gw, &sim, &points, &broker, queue.path());
    // Messages made in the last fsync interval are not published yet when the bridge stops
    // (they are kept for the next start).
    let unsynced = config.queue.sync_interval_ms / config.batch.max_delay_ms;
    let bridge = RunningBridge::start(config);
    eventually(Duration::from_secs(20), "first telemetry", || async {
        (rec.batches(gw).len() >= 3).then_some(())
    })
    .await;

    broker.stop().await;
    let down_from = chrono::Utc::now().timestamp_millis();
    // The outage lasts while the bridge polls slave 1 (channels a and b) 20 times.
    let polled = sim.requests(1);
    eventually(
        Duration::from_secs(30),
        "20 polls during the outage",
        || async { (sim.requests(1) - polled >= 20).then_some(()) },
    )
    .await;
    let down_to = chrono::Utc::now().timestamp_millis();
    broker.restart().await;

    // Readings taken during the outage arrive after it.
    eventually(
        Duration::from_secs(30),
        "readings from the outage",
        || async {
            let during = rec
                .readings(gw, "a")
                .iter()
                .filter(|r| r.ts > down_from && r.ts < down_to)
                .count();
            (during >= 5).then_some(())
        },
    )
    .await;
    // And the backlog drains: the bridge itself says its queue is (nearly) empty.
    let acks = Recorder::start(
        broker.port(),
        "rec-outage-acks",
        true,
        &[&Topic::command_ack(gw)],
    )
    .await;
    let mut asked = 0;
    eventually(Duration::from_secs(30), "an empty queue", || {
        asked += 1;
        let id = format!("depth-{asked}");
        let acks = &acks;
        async move {
            let status = acks
                .command(gw, &id, "status", serde_json::Value::Null)
                .await;
            (status.result["queue_depth"].as_u64()? <= 1).then_some(())
        }
    })
    .await;
    bridge.stop().await;

    // Everything the bridge queued has been acknowledged, except what it made in its last fsync
    // interval (kept for the next start), and the subscriber has all of it.
    let q = DiskQueue::open(queue.path(), 1 << 30, 1 << 20).unwrap();
    assert!(
        q.depth() <= 1 + unsynced,
        "{} messages still queued after the link came back",
        q.depth()
    );
    let last = match q.next_after(Lane::Readings, None) {
        Some(first_waiting) => first_waiting - 1,
        None => q.next_id(Lane::Readings) - 1,
    };
    drop(q);
    let batches = eventually(
        Duration::from_secs(20),
        "every queued message at the subscriber",
        || async {
            let b = rec.batches(gw);
            b.iter().any(|x| x.seq == last).then_some(b)
        },
    )
    .await;
    let duplicates = assert_complete_and_ordered(&batches, last);
    // QoS 1 allows a redelivery of what was in flight when the broker went down, no more.
    assert!(duplicates <= 2, "{duplicates} redelivered messages");
    for ch in ["a", "b", "c"] {
        let ts: Vec<i64> = rec.readings(gw, ch).iter().map(|r| r.ts).collect();
        assert!(
            ts.windows(2).all(|w| w[0] < w[1]),
            "{ch} readings out of order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_killed_with_a_full_queue_loses_nothing_that_was_queued() {
    init_logs();
    let gw = "gw-kill";
    let mut broker = Broker::start().await;
    broker.stop().await; // the link is down from the start: everything goes to the queue
    let points: Vec<_> = (0..16)
        .map(|i| {
            point(
                &format!("s{i:02}"),
                1 + i / 8,
                (i % 8) as u16,
                DataType::U16,
                constant(i as f64),
            )
        })
        .collect();
    let sim = sim(points.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let queue_dir = dir.path().join("queue");
    let mut config = bridge_config(gw, &sim, &points, &broker, &queue_dir);
    for p in &mut config.points {
        p.interval_s = 0.1;
    }
    config.queue.max_bytes = 48 * 1024;
    config.queue.segment_bytes = 4 * 1024;
    let config_path = dir.path().join("bridge.toml");
    std::fs::write(&config_path, config.to_toml()).unwrap();

    let spawn = || spawn_bridge_binary(&config_path);
    let mut child = spawn();
    // Full: the bound is reached and the oldest readings have started to be dropped.
    let queue_bytes = || -> u64 {
        std::fs::read_dir(queue_dir.join("readings"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    eventually(Duration::from_secs(60), "a full queue", || async {
        (queue_bytes() >= 44 * 1024).then_some(())
    })
    .await;
    // A drop moves the head and saves it at once (and nothing else does while offline).
    let head = queue_dir.join("readings").join("head");
    eventually(
        Duration::from_secs(60),
        "the oldest readings dropped",
        || async {
            let head: u64 = std::fs::read_to_string(&head).ok()?.trim().parse().ok()?;
            (head > 1).then_some(())
        },
    )
    .await;
    child.start_kill().unwrap(); // SIGKILL: no shutdown code runs
    child.wait().await.unwrap();

    // What the dead bridge left queued on disk.
    let queued: Vec<TelemetryBatch> = {
        let q = DiskQueue::open(&queue_dir, 1 << 30, 1 << 20).unwrap();
        q.pending(Lane::Readings)
            .unwrap()
            .iter()
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect()
    };
    assert!(queued.len() > 20, "only {} messages queued", queued.len());
    let queued_seqs: BTreeSet<u64> = queued.iter().map(|b| b.seq).collect();

    broker.restart().await;
    let rec = Recorder::start(
        broker.port(),
        "rec-kill",
        true,
        &[&Topic::telemetry(gw), &Topic::status(gw)],
    )
    .await;
    let mut child = spawn();
    let received = eventually(Duration::from_secs(60), "every queued message", || async {
        let got: BTreeSet<u64> = rec.batches(gw).iter().map(|b| b.seq).collect();
        queued_seqs.is_subset(&got).then_some(got)
    })
    .await;
    // Replayed in order: the queued ones arrive oldest first, before anything newer.
    let order: Vec<u64> = rec.batches(gw).iter().map(|b| b.seq).collect();
    let replay: Vec<u64> = order
        .iter()
        .copied()
        .filter(|s| queued_seqs.contains(s))
        .collect();
    assert!(
        replay.windows(2).all(|w| w[0] < w[1]),
        "replay out of order"
    );
    for b in rec
        .batches(gw)
        .iter()
        .filter(|b| queued_seqs.contains(&b.seq))
    {
        let original = queued.iter().find(|q| q.seq == b.seq).unwrap();
        assert_eq!(
            original, b,
            "a replayed message differs from what was queued"
        );
    }
    // New messages continue the numbering after the replayed ones.
    let newest = *queued_seqs.last().unwrap();
    eventually(
        Duration::from_secs(20),
        "fresh telemetry after the replay",
        || async { rec.batches(gw).iter().any(|b| b.seq > newest).then_some(()) },
    )
    .await;
    assert!(received.len() >= queued_seqs.len());

    // SIGKILL again, now connected: the broker publishes the last will.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    eventually(Duration::from_secs(20), "the offline last will", || async {
        rec.on(&Topic::status(gw))
            .last()
            .and_then(|p| GatewayStatus::decode(p, 4096).ok())
            .filter(|s| !s.online)
    })
    .await;
}
