//! The collector end to end: a real Mosquitto, a real PostgreSQL, messages over the wire.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use geohazard_collector::CollectorConfig;
use geohazard_e2e::{
    RunningCollector, TestGateway, WAIT, collector_after_retained_status, count, minutes_ago,
    register_gateway, wait_for_count, with_gateway as setup,
};
use geohazard_protocol::GatewayStatus;
use geohazard_store::Store;
use geohazard_testkit::{Broker, eventually};

#[tokio::test]
async fn a_batch_published_over_mqtt_is_queryable_with_its_values() {
    let (broker, _db, store) = setup(&["crack-1", "rain-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    let t0 = minutes_ago(100);
    let readings: Vec<(&str, i64, f64)> = (0..100)
        .map(|i| {
            (
                if i % 2 == 0 { "crack-1" } else { "rain-1" },
                t0 + i * 60_000,
                i as f64 * 0.25,
            )
        })
        .collect();
    gw.publish(&readings).await;
    wait_for_count(&store, "SELECT count(*) FROM readings", 100).await;

    let (value, ts): (f64, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT r.value, r.ts FROM readings r JOIN sensors s ON s.id = r.sensor_id
         WHERE s.channel = 'rain-1' ORDER BY r.ts DESC LIMIT 1",
    )
    .fetch_one(&store.pool)
    .await
    .unwrap();
    assert_eq!(value, 99.0 * 0.25);
    assert_eq!(ts.timestamp_millis(), t0 + 99 * 60_000);
    let (online, seq): (bool, Option<i64>) =
        sqlx::query_as("SELECT online, last_seq FROM gateways WHERE code = 'gw-1'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(online);
    assert_eq!(seq, Some(1));
    assert_eq!(count(&store, "SELECT count(*) FROM quarantine").await, 0);
    collector.stop().await;
}

#[tokio::test]
async fn a_redelivered_batch_is_stored_and_rolled_up_once() {
    let (broker, _db, store) = setup(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let gw = TestGateway::connect(&broker.url(), "gw-1");
    let t0 = minutes_ago(30);
    let batch = geohazard_protocol::TelemetryBatch {
        seq: 5,
        readings: (0..20)
            .map(|i| geohazard_protocol::Reading {
                sensor: "crack-1".into(),
                ts: t0 + i * 1000,
                value: 1.0,
                quality: Default::default(),
            })
            .collect(),
    };
    // The same message three times, as a gateway replaying after a lost PUBACK would send it.
    for _ in 0..3 {
        gw.publish_raw(batch.to_json()).await;
    }
    eventually(WAIT, "all three copies to be handled", || async {
        let handled: u64 = collector
            .metrics
            .messages
            .get_or_create(&geohazard_collector::MessageLabels {
                kind: "telemetry",
                outcome: "stored",
            })
            .get();
        (handled == 3).then_some(())
    })
    .await;
    assert_eq!(count(&store, "SELECT count(*) FROM readings").await, 20);
    assert_eq!(
        count(&store, "SELECT sum(n)::int8 FROM readings_hourly").await,
        20
    );
    let duplicates = collector
        .metrics
        .readings
        .get_or_create(&geohazard_collector::ReadingLabels {
            outcome: "duplicate",
        })
        .get();
    assert_eq!(duplicates, 40);
    collector.stop().await;
}

#[tokio::test]
async fn a_batch_weeks_late_from_a_gateways_store_and_forward_is_rolled_up_at_once() {
    let (broker, _db, store) = setup(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    // Today's readings first, then three weeks of hourly readings the gateway held during an
    // outage: the hourly rollup has every one of them as soon as they are stored.
    let now = minutes_ago(5);
    gw.publish(&[("crack-1", now, 1.0)]).await;
    let backlog: Vec<(&str, i64, f64)> = (1..=21 * 24)
        .map(|h| ("crack-1", now - h * 3_600_000, h as f64))
        .collect();
    for chunk in backlog.chunks(100) {
        gw.publish(chunk).await;
    }
    wait_for_count(&store, "SELECT count(*) FROM readings", 1 + 21 * 24).await;
    assert_eq!(
        count(&store, "SELECT sum(n)::int8 FROM readings_hourly").await,
        1 + 21 * 24
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM readings_hourly WHERE vmin = vmax AND vsum = vmin AND n = 1"
        )
        .await,
        1 + 21 * 24,
        "one reading in each hour, rolled up with its own value"
    );
    collector.stop().await;
}

#[tokio::test]
async fn readings_older_than_the_retention_are_quarantined_at_the_door_and_not_stored() {
    let (broker, _db, store) = setup(&["crack-1"]).await;
    sqlx::query("UPDATE storage_settings SET retention = interval '30 days'")
        .execute(&store.pool)
        .await
        .unwrap();
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    let day = 24 * 60;
    gw.publish(&[
        ("crack-1", minutes_ago(31 * day), 1.0),
        ("crack-1", minutes_ago(29 * day), 2.0),
        ("crack-1", minutes_ago(400 * day), 3.0),
        ("crack-1", minutes_ago(1), 4.0),
    ])
    .await;
    wait_for_count(&store, "SELECT count(*) FROM quarantine", 2).await;
    let refused: Vec<(String, Option<i32>, String)> = sqlx::query_as(
        "SELECT reason, reading_index, detail FROM quarantine ORDER BY reading_index",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    assert_eq!(
        refused
            .iter()
            .map(|r| (r.0.as_str(), r.1))
            .collect::<Vec<_>>(),
        vec![("beyond_retention", Some(0)), ("beyond_retention", Some(2))]
    );
    assert!(refused[0].2.contains("retention"), "{}", refused[0].2);
    wait_for_count(&store, "SELECT count(*) FROM readings", 2).await;
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM readings WHERE value IN (2, 4)"
        )
        .await,
        2
    );
    assert_eq!(
        count(&store, "SELECT sum(n)::int8 FROM readings_hourly").await,
        2
    );
    collector.stop().await;
}

#[tokio::test]
async fn a_batch_with_three_bad_readings_stores_the_good_ones_and_quarantines_the_bad_with_reasons()
{
    let (broker, _db, store) = setup(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let gw = TestGateway::connect(&broker.url(), "gw-1");
    let t = minutes_ago(10);
    let future = chrono::Utc::now().timestamp_millis() + 86_400_000;
    let payload = format!(
        r#"{{"seq":9,"readings":[
            {{"sensor":"crack-1","ts":{t},"value":1.0}},
            {{"sensor":"crack-1","ts":{},"value":"NaN"}},
            {{"sensor":"crack-1","ts":{},"value":2.0}},
            {{"sensor":"crack-1","ts":{future},"value":3.0}},
            {{"sensor":"crack-9","ts":{},"value":4.0}},
            {{"sensor":"crack-1","ts":{},"value":5.0}}
        ]}}"#,
        t + 1000,
        t + 2000,
        t + 3000,
        t + 4000
    );
    gw.publish_raw(payload).await;
    wait_for_count(&store, "SELECT count(*) FROM quarantine", 3).await;
    assert_eq!(count(&store, "SELECT count(*) FROM readings").await, 3);
    let rows: Vec<(String, Option<i32>, String, String)> = sqlx::query_as(
        "SELECT reason, reading_index, gateway_code, convert_from(payload, 'UTF8') FROM quarantine ORDER BY reading_index",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    let summary: Vec<(&str, Option<i32>)> = rows.iter().map(|r| (r.0.as_str(), r.1)).collect();
    assert_eq!(
        summary,
        vec![
            ("non_finite_value", Some(1)),
            ("timestamp_in_future", Some(3)),
            ("unknown_sensor", Some(4))
        ]
    );
    assert!(rows.iter().all(|r| r.2 == "gw-1"));
    assert!(
        rows[0].3.contains("NaN"),
        "the refused reading is kept: {}",
        rows[0].3
    );
    assert!(rows[2].3.contains("crack-9"));
    collector.stop().await;
}

#[tokio::test]
async fn an_unknown_gateways_message_is_quarantined_and_the_stream_goes_on() {
    let (broker, _db, store) = setup(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut ghost = TestGateway::connect(&broker.url(), "ghost");
    ghost.publish(&[("crack-1", minutes_ago(1), 1.0)]).await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    gw.publish(&[("crack-1", minutes_ago(1), 2.0)]).await;
    wait_for_count(&store, "SELECT count(*) FROM readings", 1).await;
    wait_for_count(&store, "SELECT count(*) FROM quarantine WHERE reason = 'unknown_gateway' AND gateway_code = 'ghost' AND reading_index IS NULL", 1).await;
    collector.stop().await;
}

#[tokio::test]
async fn malformed_oversized_and_hostile_messages_are_quarantined_whole_and_nothing_else_is_lost() {
    let (broker, _db, store) = setup(&["crack-1"]).await;
    let config = CollectorConfig::default();
    let limit = config.limits.max_payload_bytes;
    let collector = RunningCollector::start(&broker.url(), store.clone(), config).await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    gw.publish_raw("{\"seq\": 1, \"readings\": [").await;
    gw.publish_raw(vec![b'x'; limit + 1]).await;
    gw.publish_raw(r#"{"seq":"one","readings":[]}"#).await;
    gw.publish_raw(vec![0xff, 0xfe, 0x00, 0x41]).await;
    gw.publish_raw(format!(
        r#"{{"seq":2,"readings":[{{"sensor":"x'); DROP TABLE readings;--","ts":{},"value":1}}]}}"#,
        minutes_ago(1)
    ))
    .await;
    gw.publish(&[("crack-1", minutes_ago(1), 7.5)]).await;

    wait_for_count(&store, "SELECT count(*) FROM readings", 1).await;
    wait_for_count(&store, "SELECT count(*) FROM quarantine", 5).await;
    let reasons: Vec<(String, i32, i32)> =
        sqlx::query_as("SELECT reason, length(payload), payload_size FROM quarantine ORDER BY id")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    let names: Vec<&str> = reasons.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "malformed_json",
            "oversized_payload",
            "wrong_type",
            "malformed_json",
            "invalid_channel"
        ]
    );
    // The oversized payload is kept in part, with its real size beside it.
    assert_eq!(reasons[1].1, 64 * 1024);
    assert_eq!(reasons[1].2, (limit + 1) as i32);
    collector.stop().await;
}

#[tokio::test]
async fn status_messages_and_the_last_will_keep_the_gateways_online_state() {
    let (broker, _db, store) = setup(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let gateway = TestGateway::connect_with_will(&broker.url(), "gw-1");
    let online = GatewayStatus {
        online: true,
        firmware: Some("1.4.2".into()),
        queue_depth: Some(0),
        supply_v: Some(12.6),
        ..Default::default()
    };
    gateway.publish_status(&online).await;
    wait_for_count(
        &store,
        "SELECT count(*) FROM gateways WHERE online AND firmware_version = '1.4.2'",
        1,
    )
    .await;
    // The gateway vanishes without a DISCONNECT (power cut): the broker publishes its will.
    drop(gateway);
    wait_for_count(
        &store,
        "SELECT count(*) FROM gateways WHERE NOT online AND firmware_version = '1.4.2'",
        1,
    )
    .await;
    collector.stop().await;
}

#[tokio::test]
async fn readings_survive_a_broker_restart_mid_stream() {
    let (mut broker, _db, store) = setup(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    let t0 = minutes_ago(60);
    // The gateway keeps publishing, at a gateway's pace, while the broker goes down and comes
    // back: some messages before, some during the outage, the rest after.
    let published = Arc::new(AtomicU64::new(0));
    let publisher = {
        let published = published.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                gw.publish(&[("crack-1", t0 + i * 1000, i as f64)]).await;
                published.fetch_add(1, Ordering::Release);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            gw
        })
    };
    let published_reach = |n: u64| {
        let published = published.clone();
        eventually(WAIT, "the gateway to publish more", move || {
            let reached = published.load(Ordering::Acquire) >= n;
            async move { reached.then_some(()) }
        })
    };
    published_reach(25).await;
    broker.stop().await;
    let during = published.load(Ordering::Acquire) + 20;
    published_reach(during).await;
    broker.restart().await;
    let _gw = publisher.await.unwrap();
    wait_for_count(&store, "SELECT count(*) FROM readings", 100).await;
    assert_eq!(
        count(&store, "SELECT sum(value)::int8 FROM readings").await,
        (0..100).sum::<i64>()
    );
    collector.stop().await;
}

#[tokio::test]
async fn the_collector_holds_and_then_delivers_everything_across_a_database_restart() {
    let broker = Broker::start().await;
    let dir = tempfile_dir();
    let cluster =
        geohazard_store::LocalCluster::start(dir.path(), geohazard_testkit::free_port(), false)
            .await
            .unwrap();
    cluster.ensure_database("geohazard").await.unwrap();
    let store = Store::connect(&cluster.url("geohazard"), 4).await.unwrap();
    register_gateway(&store, "gw-1", &["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    let t0 = minutes_ago(60);
    for i in 0..20 {
        gw.publish(&[("crack-1", t0 + i * 1000, 1.0)]).await;
    }
    wait_for_count(&store, "SELECT count(*) FROM readings", 20).await;

    cluster.stop().await.unwrap();
    for i in 20..60 {
        gw.publish(&[("crack-1", t0 + i * 1000, 1.0)]).await;
    }
    // Holding what it has (each attempt waits out the pool's connect timeout) when the
    // database comes back.
    eventually(
        WAIT,
        "the collector to notice the database is away",
        || async { (collector.metrics.db_retries.get() > 0).then_some(()) },
    )
    .await;
    let _cluster = geohazard_store::LocalCluster::start(dir.path(), cluster.port(), false)
        .await
        .unwrap();
    wait_for_count(&store, "SELECT count(*) FROM readings", 60).await;
    collector.stop().await;
}

fn tempfile_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn a_refused_message_sent_again_is_one_quarantine_row_with_a_repeat_count() {
    let (broker, _db, store) = setup(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let gw = TestGateway::connect(&broker.url(), "gw-1");
    for _ in 0..3 {
        gw.publish_raw("not json at all").await;
    }
    eventually(WAIT, "three refusals counted", || async {
        let repeats: Option<i32> =
            sqlx::query_scalar("SELECT repeats FROM quarantine WHERE reason = 'malformed_json'")
                .fetch_optional(&store.pool)
                .await
                .unwrap();
        (repeats == Some(3)).then_some(())
    })
    .await;
    assert_eq!(count(&store, "SELECT count(*) FROM quarantine").await, 1);
    collector.stop().await;
}

#[tokio::test]
async fn a_retained_status_replayed_to_a_new_collector_does_not_make_an_old_gateway_look_fresh() {
    let (broker, _db, store) = setup(&["crack-1"]).await;
    let an_hour_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let status = GatewayStatus {
        online: true,
        ts: Some(an_hour_ago),
        firmware: Some("2.0.0".into()),
        ..Default::default()
    };
    let collector = collector_after_retained_status(&broker, &store, &status).await;
    wait_for_count(
        &store,
        "SELECT count(*) FROM gateways WHERE firmware_version = '2.0.0'",
        1,
    )
    .await;
    let seen: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_seen_at FROM gateways WHERE code = 'gw-1'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(seen.map(|t| t.timestamp_millis()), Some(an_hour_ago));
    collector.stop().await;
}

/// A small deterministic generator (splitmix64): the same values on every run.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[tokio::test]
async fn random_values_sent_over_mqtt_are_stored_bit_exact() {
    let (broker, _db, store) = setup(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    let mut state = 23;
    let t0 = minutes_ago(24 * 60);
    // Half of them sensor-like decimals (123.60000000000001 is one), half any bit pattern of
    // moderate magnitude: each is sent as its shortest round-trip text, which must parse back
    // to the very same f64.
    let sent: Vec<(&str, i64, f64)> = (0..20_000)
        .map(|i| {
            let r = splitmix64(&mut state);
            let value = if i % 2 == 0 {
                let digits = (r % 10_000_000_000) as f64;
                let scaled = digits / 10f64.powi((r >> 40) as i32 % 12);
                if r >> 63 == 1 { -scaled } else { scaled }
            } else {
                let exponent = 1023 - 60 + (r >> 52) % 120;
                f64::from_bits((r & 0x800f_ffff_ffff_ffff) | (exponent << 52))
            };
            ("crack-1", t0 + i * 1000, value)
        })
        .collect();
    for chunk in sent.chunks(1000) {
        gw.publish(chunk).await;
    }
    wait_for_count(&store, "SELECT count(*) FROM readings", sent.len() as i64).await;
    let stored: Vec<(chrono::DateTime<chrono::Utc>, f64)> =
        sqlx::query_as("SELECT ts, value FROM readings ORDER BY ts")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    let off: Vec<String> = sent
        .iter()
        .zip(&stored)
        .filter(|((_, _, v), (_, s))| v.to_bits() != s.to_bits())
        .map(|((_, ts, v), (at, s))| {
            assert_eq!(at.timestamp_millis(), *ts);
            format!("sent {v:?}, stored {s:?}")
        })
        .collect();
    assert!(
        off.is_empty(),
        "{} of {} values not stored bit-exact, e.g. {:?}",
        off.len(),
        sent.len(),
        &off[..off.len().min(5)]
    );
    collector.stop().await;
}

#[tokio::test]
async fn a_status_the_store_refuses_is_quarantined_and_does_not_count_as_heard_from() {
    let (broker, _db, store) = setup(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    // A NUL inside a fault's error text: valid JSON, but PostgreSQL's jsonb cannot hold it.
    let status = r#"{"online":true,"faults":[{"channel":"crack-1","device":"rs485","slave":3,"error":"timeout\u0000","since":1764212300000}]}"#;
    gw.bus
        .client()
        .publish(
            geohazard_protocol::Topic::status("gw-1"),
            geohazard_bus::rumqttc::QoS::AtLeastOnce,
            false,
            status,
        )
        .await
        .unwrap();
    wait_for_count(
        &store,
        "SELECT count(*) FROM quarantine WHERE reason = 'store_rejected' AND gateway_code = 'gw-1'
             AND topic = 'gh/v1/gw/gw-1/status' AND reading_index IS NULL",
        1,
    )
    .await;
    let payload: Vec<u8> = sqlx::query_scalar("SELECT payload FROM quarantine")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(payload, status.as_bytes());
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM gateways WHERE code = 'gw-1' AND last_seen_at IS NULL AND NOT online"
        )
        .await,
        1,
        "a refused status neither marks the gateway heard from nor online"
    );
    // The stream goes on.
    gw.publish(&[("crack-1", minutes_ago(1), 1.0)]).await;
    wait_for_count(&store, "SELECT count(*) FROM readings", 1).await;
    collector.stop().await;
}
