//! Device health: silence (judged on the wall clock), stuck values and low power raise device
//! faults, never hazard warnings, and clear when the device is well again.

mod common;

use std::time::Duration;

use common::*;
use geohazard_protocol::{GatewayStatus, Topic};
use geohazard_store::registry::SensorKind;
use geohazard_testkit::eventually;

async fn open_device_faults(w: &World) -> Vec<(String, String, String)> {
    w.warnings()
        .await
        .into_iter()
        .filter(|(_, _, _, state)| state == "open")
        .map(|(source, category, level, _)| (source, category, level))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_gateway_raises_a_device_fault_that_clears_when_it_talks_again() {
    let w = World::new().await;
    // Sampling every second: silent after 3 s (3 intervals).
    w.sensor("p-1", SensorKind::Piezometer, "m", 1).await;
    let mut config = w.config("analyzer-silence");
    config.engine.health_check_ms = 200;
    let analyzer = w.start(config).await;
    let publisher = w.publisher().await;
    let watcher = w.warning_watcher().await;
    let t0 = now_ms() - 10_000;
    for i in 0..4 {
        publisher
            .replay("p-1", &[(t0 + i * 1000, 3.0 + i as f64 * 0.01)], 1)
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    analyzer.handled(4).await;
    assert_eq!(
        open_device_faults(&w).await,
        vec![],
        "not silent while it talks"
    );

    // Then nothing.
    let fault = eventually(Duration::from_secs(10), "a silence fault", || async {
        let open = open_device_faults(&w).await;
        (!open.is_empty()).then_some(open)
    })
    .await;
    assert_eq!(
        fault,
        vec![(
            "device:silent:gateway:gw-01".to_owned(),
            "device".to_owned(),
            "blue".to_owned()
        )],
        "one fault for the gateway, none per sensor, no hazard"
    );
    let events = w.events("device:silent:gateway:gw-01").await;
    assert!(events[0].2["silent_for_s"].as_f64().unwrap() >= 3.0);
    let (summary_zh,): (String,) = sqlx::query_as(
        "SELECT summary_zh FROM warnings WHERE source = 'device:silent:gateway:gw-01'",
    )
    .fetch_one(&w.store.pool)
    .await
    .unwrap();
    assert!(
        summary_zh.starts_with("网关 gw-01 已 ") && summary_zh.contains(" 秒 未上报（限 3 秒）"),
        "{summary_zh}"
    );

    publisher.replay("p-1", &[(now_ms(), 3.1)], 1).await;
    eventually(Duration::from_secs(10), "the fault to close", || async {
        open_device_faults(&w).await.is_empty().then_some(())
    })
    .await;
    let transitions: Vec<String> = w
        .events("device:silent:gateway:gw-01")
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(transitions, ["raised", "closed"]);
    let published = watcher.warnings();
    let closed = eventually(Duration::from_secs(10), "the closing published", || async {
        watcher
            .warnings()
            .into_iter()
            .find(|m| m.transition == geohazard_protocol::warning::WarningTransition::Closed)
    })
    .await;
    assert_eq!(closed.summary_zh, "网关 gw-01 恢复上报");
    assert!(
        published
            .iter()
            .any(|m| m.source == "device:silent:gateway:gw-01"
                && m.category == geohazard_protocol::warning::WarningCategory::Device)
    );
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_sensor_and_a_flat_battery_raise_device_faults() {
    let w = World::new().await;
    w.sensor("p-1", SensorKind::Piezometer, "m", 600).await;
    let analyzer = w.start(w.config("analyzer-stuck")).await;
    let publisher = w.publisher().await;
    let t0 = now_ms() - DAY;
    // 29 identical values are still fine; the 30th makes it stuck.
    let flat: Vec<(i64, f64)> = (0..29).map(|i| (t0 + i * 10 * MIN, 3.25)).collect();
    let mut sent = publisher.replay("p-1", &flat, 10).await;
    analyzer.handled(sent).await;
    assert_eq!(open_device_faults(&w).await, vec![]);
    sent += publisher
        .replay("p-1", &[(t0 + 29 * 10 * MIN, 3.25)], 1)
        .await;
    let status = GatewayStatus {
        online: true,
        battery_pct: Some(8.0),
        ..GatewayStatus::default()
    };
    publisher
        .raw(&Topic::status(GATEWAY), status.to_json())
        .await;
    analyzer.handled(sent + 1).await;
    let mut faults: Vec<String> = open_device_faults(&w)
        .await
        .into_iter()
        .map(|f| f.0)
        .collect();
    faults.sort();
    assert_eq!(
        faults,
        ["device:power:gateway:gw-01", "device:stuck:gw-01/p-1"]
    );
    // A changing value ends the stuck fault.
    publisher
        .replay("p-1", &[(t0 + 30 * 10 * MIN, 3.31)], 1)
        .await;
    analyzer.handled(sent + 2).await;
    let faults: Vec<String> = open_device_faults(&w)
        .await
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(faults, ["device:power:gateway:gw-01"]);
    analyzer.stop().await;
}
