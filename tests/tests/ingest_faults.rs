//! The collector under faults found by outside testing: a database that refuses connections,
//! wild status clocks, look-alike oversized messages, odd telemetry, and the confirmations a
//! gateway needs before it may forget what it sent.

use geohazard_collector::{CollectorConfig, FailureLabels};
use geohazard_e2e::{
    RunningCollector, TestGateway, WAIT, allow_connections, collector_after_retained_status, count,
    minutes_ago, subscriber, wait_for_count, with_gateway,
};
use geohazard_protocol::{GatewayStatus, TelemetryAck, Topic};
use geohazard_store::Store;
use geohazard_testkit::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_refusing_connections_holds_every_message_and_stores_all_once_it_allows_them_again()
 {
    let (broker, db, store) = with_gateway(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    let t0 = minutes_ago(120);
    for i in 0..10 {
        gw.publish(&[("crack-1", t0 + i * 1000, 1.0)]).await;
    }
    wait_for_count(&store, "SELECT count(*) FROM readings", 10).await;

    allow_connections(&db, false).await.unwrap();
    // More than the broker's in-flight window (1,000): skipped messages would stall it for good.
    for i in 10..1_210 {
        gw.publish(&[("crack-1", t0 + i * 1000, 1.0)]).await;
    }
    let transient = || {
        collector
            .metrics
            .store_failures
            .get_or_create(&FailureLabels { class: "transient" })
            .get()
    };
    // Held, not skipped: as many as the broker's in-flight window lets through.
    eventually(WAIT, "the messages held while refused", || async {
        (collector.metrics.held.messages() >= 1_000 && transient() >= 3).then_some(())
    })
    .await;
    allow_connections(&db, true).await.unwrap();
    for i in 1_210..1_220 {
        gw.publish(&[("crack-1", t0 + i * 1000, 1.0)]).await;
    }

    // The test's own pool lost its sessions too: check through a fresh one.
    let check = Store::connect(&db.url, 1).await.unwrap();
    wait_for_count(&check, "SELECT count(*) FROM readings", 1_220).await;
    assert_eq!(
        count(&check, "SELECT count(*) FROM quarantine").await,
        0,
        "a good reading was quarantined because the database was away"
    );
    eventually(WAIT, "nothing held any more", || async {
        (collector.metrics.held.messages() == 0).then_some(())
    })
    .await;
    let refused = collector
        .metrics
        .store_failures
        .get_or_create(&FailureLabels {
            class: "data_refused",
        })
        .get();
    assert_eq!(refused, 0);
    collector.stop().await;
}

#[tokio::test]
async fn a_retained_status_from_a_wild_clock_is_quarantined_and_does_not_move_last_seen() {
    let (broker, _db, store) = with_gateway(&["crack-1"]).await;
    let status = GatewayStatus {
        online: true,
        ts: Some(9_999_999_999_999), // the year 2286
        firmware: Some("6.6.6".into()),
        ..Default::default()
    };
    let collector = collector_after_retained_status(&broker, &store, &status).await;
    wait_for_count(
        &store,
        "SELECT count(*) FROM quarantine WHERE reason = 'timestamp_in_future' AND topic = 'gh/v1/gw/gw-1/status'",
        1,
    )
    .await;
    let (seen, firmware): (Option<chrono::DateTime<chrono::Utc>>, Option<String>) =
        sqlx::query_as("SELECT last_seen_at, firmware_version FROM gateways WHERE code = 'gw-1'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(
        seen.is_none_or(|t| t <= chrono::Utc::now()),
        "last_seen_at moved to {seen:?}"
    );
    assert_ne!(firmware.as_deref(), Some("6.6.6"));
    collector.stop().await;
}

#[tokio::test]
async fn a_status_with_a_number_the_store_cannot_hold_is_quarantined_as_out_of_range() {
    let (broker, _db, store) = with_gateway(&["crack-1"]).await;
    // The protocol's queue depth is unsigned 64-bit; the store's numbers are signed.
    let status = GatewayStatus {
        online: true,
        queue_depth: Some(u64::MAX),
        firmware: Some("6.6.7".into()),
        ..Default::default()
    };
    let collector = collector_after_retained_status(&broker, &store, &status).await;
    wait_for_count(
        &store,
        "SELECT count(*) FROM quarantine WHERE reason = 'out_of_range' AND topic = 'gh/v1/gw/gw-1/status'",
        1,
    )
    .await;
    let (status, firmware): (Option<serde_json::Value>, Option<String>) =
        sqlx::query_as("SELECT last_status, firmware_version FROM gateways WHERE code = 'gw-1'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(status.is_none(), "stored: {status:?}");
    assert_ne!(firmware.as_deref(), Some("6.6.7"));
    collector.stop().await;
}

#[tokio::test]
async fn look_alike_oversized_messages_empty_batches_and_odd_fields_are_each_refused_with_their_reason()
 {
    let (broker, _db, store) = with_gateway(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let gw = TestGateway::connect(&broker.url(), "gw-1");
    // Two oversized messages that share their first 64 KiB (and more) but not their size.
    let oversized = |size: usize| {
        let mut p = br#"{"seq":1,"readings":["#.to_vec();
        p.resize(size, b' ');
        p
    };
    gw.publish_raw(oversized(1_100_000)).await;
    gw.publish_raw(oversized(1_500_000)).await;
    gw.publish_raw(r#"{"seq":2,"readings":[]}"#).await;
    let now = chrono::Utc::now().timestamp_millis();
    gw.publish_raw(format!(
        r#"{{"seq":3,"readings":[
            {{"sensor":"crack-1","ts":9223372036854775808,"value":1}},
            {{"sensor":"crack-1","ts":{now},"value":2,"quality":null}},
            {{"sensor":"crack-1","ts":{now},"value":3}}
        ]}}"#
    ))
    .await;
    wait_for_count(&store, "SELECT count(*) FROM readings", 1).await;
    wait_for_count(&store, "SELECT count(*) FROM quarantine", 5).await;
    let sizes: Vec<i32> = sqlx::query_scalar(
        "SELECT payload_size FROM quarantine WHERE reason = 'oversized_payload' ORDER BY payload_size",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    assert_eq!(sizes, vec![1_100_000, 1_500_000]);
    let reasons: Vec<(String, Option<i32>)> = sqlx::query_as(
        "SELECT reason, reading_index FROM quarantine WHERE reason <> 'oversized_payload' ORDER BY reason",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    assert_eq!(
        reasons,
        vec![
            ("invalid_quality".to_owned(), Some(1)),
            ("no_readings".to_owned(), None),
            ("timestamp_in_future".to_owned(), Some(0)),
        ]
    );
    collector.stop().await;
}

#[tokio::test]
async fn the_collector_confirms_to_each_gateway_the_telemetry_seqs_it_committed() {
    let (broker, _db, store) = with_gateway(&["crack-1"]).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let mut confirmations = subscriber(
        &broker.url(),
        "gw-1-confirmations",
        Topic::telemetry_ack("gw-1"),
    )
    .await;
    let mut gw = TestGateway::connect(&broker.url(), "gw-1");
    let t0 = minutes_ago(10);
    for i in 0..3 {
        gw.publish(&[("crack-1", t0 + i * 1000, 1.0)]).await; // seq 1, 2, 3
    }
    // Refused, but committed to the quarantine: confirmed too, or the gateway would resend it.
    gw.publish_raw(r#"{"seq":4,"readings":[]}"#).await;
    let mut confirmed = std::collections::BTreeSet::new();
    tokio::time::timeout(WAIT, async {
        while confirmed.len() < 4 {
            let d = confirmations.recv().await.expect("the connection stays up");
            let ack: TelemetryAck = serde_json::from_slice(d.payload()).unwrap();
            confirmed.extend(ack.seqs);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {confirmed:?} confirmed"));
    assert_eq!(confirmed.into_iter().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    // Confirmed means committed.
    assert_eq!(count(&store, "SELECT count(*) FROM readings").await, 3);
    collector.stop().await;
}
