//! Nothing lost end to end when the broker is killed with SIGKILL while it holds a backlog: a
//! real firmware-bridge (polling a simulated logger over Modbus TCP), a real Mosquitto
//! configured by `deploy/mosquitto.conf` and `deploy/mosquitto.acl` as shipped (autosave every
//! 30 s, authentication), a real collector and PostgreSQL.

use std::collections::BTreeSet;
use std::time::Duration;

use geohazard_collector::CollectorConfig;
use geohazard_e2e::{RunningCollector, count, register_gateway, subscriber};
use geohazard_firmware_bridge::{DiskQueue, Lane};
use geohazard_firmware_bridge::{demo, run_bridge, start_sensor_sim};
use geohazard_protocol::{GatewayStatus, TelemetryBatch, Topic};
use geohazard_store::Store;
use geohazard_testkit::{Broker, TestDb, eventually};
use tokio_util::sync::CancellationToken;

const GW: &str = "gw-crash";
const GW_KEY: &str = "gw-crash-key";
const COLLECTOR: &str = "geohazard-collector";
const COLLECTOR_KEY: &str = "collector-key";
/// Reads the gateway's status beside the collector (the services' listener takes user names as
/// client ids: a second connection as the collector would take its session).
const ANALYZER: &str = "geohazard-analyzer";
const ANALYZER_KEY: &str = "analyzer-key";

/// Every telemetry message the bridge ever queued, from a copy of its queue folder read from
/// the start (the bridge runs with one segment, which is never deleted while it runs).
fn everything_queued(queue: &std::path::Path) -> Vec<TelemetryBatch> {
    let copy = tempfile::tempdir().unwrap();
    let readings = copy.path().join("readings");
    std::fs::create_dir_all(&readings).unwrap();
    for entry in std::fs::read_dir(queue.join("readings")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "head" {
            std::fs::copy(entry.path(), readings.join(entry.file_name())).unwrap();
        }
    }
    let q = DiskQueue::open(copy.path(), 1 << 34, 1 << 34).unwrap();
    q.pending(Lane::Readings)
        .unwrap()
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_with_a_backlog_loses_no_reading_the_bridge_made() {
    let mut broker = Broker::start_as_shipped(
        &[(GW, GW_KEY)],
        &[(COLLECTOR, COLLECTOR_KEY), (ANALYZER, ANALYZER_KEY)],
    )
    .await;
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    let sensors = demo::sensor_list(8);
    let queue = tempfile::tempdir().unwrap();
    let sim_addr = format!("127.0.0.1:{}", geohazard_testkit::free_port())
        .parse()
        .unwrap();
    let (sim_config, mut bridge) =
        demo::matching_maps(GW, &sensors, sim_addr, &broker.url(), queue.path(), 0.1);
    // Every channel the bridge reports (the demo adds its supply voltage) is registered.
    let channels: Vec<&str> = bridge.points.iter().map(|p| p.channel.as_str()).collect();
    register_gateway(&store, GW, &channels).await;
    bridge.mqtt.username = Some(GW.into());
    bridge.mqtt.password = Some(GW_KEY.into());
    bridge.mqtt.reconnect_min_ms = 100;
    bridge.mqtt.reconnect_max_ms = 1000;
    bridge.batch.max_delay_ms = 100;
    bridge.status.interval_s = 1.0;
    // One segment for the whole test (it is deleted only when the bridge reopens the queue).
    bridge.queue.segment_bytes = bridge.queue.max_bytes / 2;
    assert!(bridge.queue.until_confirmed, "the shipped default");
    // Messages made in the last fsync interval are not published yet when the bridge stops.
    let unsynced = (bridge.queue.sync_interval_ms / bridge.batch.max_delay_ms) as usize;
    let _sim = start_sensor_sim(sim_config).await.unwrap();
    let stop_bridge = CancellationToken::new();
    let bridge_task = tokio::spawn(run_bridge(bridge, stop_bridge.clone()));

    let collector_url = broker.service_url_as(COLLECTOR, COLLECTOR_KEY);
    let collector =
        RunningCollector::start(&collector_url, store.clone(), CollectorConfig::default()).await;
    eventually(Duration::from_secs(30), "the first readings", || async {
        (count(&store, "SELECT count(*) FROM readings").await > 50).then_some(())
    })
    .await;
    // The collector goes away: the broker holds a backlog for its persistent session, and has
    // acknowledged every message of it to the bridge.
    collector.stop().await;
    let stored_before = count(&store, "SELECT count(*) FROM readings").await;
    // Waits until the bridge has made `more` messages since this was called.
    let queued = queue.path();
    let bridge_makes = |more: usize, what: &'static str| {
        let target = everything_queued(queued).len() + more;
        eventually(Duration::from_secs(30), what, move || async move {
            (everything_queued(queued).len() >= target).then_some(())
        })
    };
    bridge_makes(30, "a backlog at the broker").await;
    broker.kill().await; // long before the 30 s autosave
    bridge_makes(5, "readings made while the broker is down").await;
    broker.restart().await;
    let collector =
        RunningCollector::start(&collector_url, store.clone(), CollectorConfig::default()).await;

    // The bridge learns what is committed through the shipped ACL: its queue drains.
    let status_url = broker.service_url_as(ANALYZER, ANALYZER_KEY);
    let mut status = subscriber(&status_url, "crash-test-status", Topic::status(GW)).await;
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let d = status
                .recv()
                .await
                .expect("the status subscription stays up");
            let s = GatewayStatus::decode(d.payload(), 65536).unwrap();
            // What was made in the last fsync interval is not published yet, so not confirmed.
            if s.online && s.queue_depth.is_some_and(|n| n <= 3 + unsynced as u64) {
                break;
            }
        }
    })
    .await
    .expect("the bridge's queue drains once the collector confirms");
    stop_bridge.cancel();
    bridge_task.await.unwrap().unwrap();

    let readings_of = |batches: Vec<TelemetryBatch>| -> BTreeSet<(String, i64)> {
        batches
            .into_iter()
            .flat_map(|b| b.readings.into_iter().map(|r| (r.sensor, r.ts)))
            .collect()
    };
    let all = everything_queued(queue.path());
    // What the bridge still keeps (the last batches, made as it stopped or in its last fsync
    // interval) goes at its next start.
    let kept: Vec<TelemetryBatch> = DiskQueue::open(queue.path(), 1 << 34, 1 << 34)
        .unwrap()
        .pending(Lane::Readings)
        .unwrap()
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).unwrap())
        .collect();
    assert!(
        kept.len() <= 3 + unsynced,
        "{} messages never confirmed",
        kept.len()
    );
    let kept = readings_of(kept);
    let made: BTreeSet<(String, i64)> = readings_of(all).difference(&kept).cloned().collect();
    assert!(made.len() as i64 > stored_before, "no backlog was made");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let missing = loop {
        let rows: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
            "SELECT s.channel, r.ts FROM readings r JOIN sensors s ON s.id = r.sensor_id",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        let stored: BTreeSet<(String, i64)> = rows
            .into_iter()
            .map(|(c, t)| (c, t.timestamp_millis()))
            .collect();
        let missing: Vec<&(String, i64)> = made.difference(&stored).collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break missing.len();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let quarantined: Vec<(String, String)> =
        sqlx::query_as("SELECT reason, detail FROM quarantine LIMIT 3")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    assert_eq!(
        missing,
        0,
        "{missing} of {} readings the bridge made are not stored; quarantine: {quarantined:?}",
        made.len()
    );
    assert_eq!(count(&store, "SELECT count(*) FROM quarantine").await, 0);
    collector.stop().await;
}
