//! Point thresholds: persistence and hysteresis keep a hovering value from flapping; late,
//! duplicate and broken input is handled without losing the stream.

mod common;

use common::*;
use geohazard_store::registry::SensorKind;
use serde_json::json;

async fn piezometer(w: &World) -> i32 {
    let id = w.sensor("p-1", SensorKind::Piezometer, "m", 600).await;
    w.sensor_rule(
        id,
        "threshold",
        json!({"levels": {"yellow": 5.0, "orange": 6.0, "red": 7.0}, "hysteresis": 0.2}),
    )
    .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_hovering_at_the_line_raises_once_and_does_not_flap() {
    let w = World::new().await;
    piezometer(&w).await;
    let analyzer = w.start(w.config("analyzer-hover")).await;
    let publisher = w.publisher().await;
    let start = now_ms() - 2 * DAY;
    let mut noise = Noise::new(4);
    let mut series: Vec<(i64, f64)> = (0..20).map(|i| (i, 4.0 + i as f64 * 0.05)).collect();
    series.extend((20..220).map(|i| (i, 5.0 + noise.gauss(0.08))));
    series.extend((220..226).map(|i| (i, 4.2)));
    let series: Vec<(i64, f64)> = series
        .into_iter()
        .map(|(i, v)| (start + i * 10 * MIN, v))
        .collect();
    let crossings = series
        .windows(2)
        .filter(|p| (p[0].1 >= 5.0) != (p[1].1 >= 5.0))
        .count();
    assert!(
        crossings > 40,
        "the series crosses the line {crossings} times"
    );
    let n = publisher.replay("p-1", &series, 10).await;
    analyzer.handled(n).await;
    let path: Vec<(String, Option<String>)> = w
        .events("threshold:gw-01/p-1")
        .await
        .into_iter()
        .map(|(t, l, _)| (t, l))
        .collect();
    assert_eq!(
        path,
        vec![
            ("raised".to_owned(), Some("yellow".to_owned())),
            ("closed".to_owned(), None)
        ],
        "one warning for the whole hover, closed once the value left the band"
    );
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_unknown_late_and_duplicate_input_never_stops_the_analyzer() {
    let w = World::new().await;
    piezometer(&w).await;
    let analyzer = w.start(w.config("analyzer-bad")).await;
    let publisher = w.publisher().await;
    let topic = geohazard_protocol::Topic::telemetry(GATEWAY);
    let t0 = now_ms() - HOUR;
    let junk: Vec<Vec<u8>> = vec![
        b"{not json".to_vec(),
        b"".to_vec(),
        format!(r#"{{"seq":1,"readings":[{{"sensor":"p-1","ts":{t0},"value":"NaN"}}]}}"#)
            .into_bytes(),
        format!(r#"{{"seq":2,"readings":[{{"sensor":"p-1","ts":{t0},"value":1e400}}]}}"#)
            .into_bytes(),
        format!(r#"{{"seq":3,"readings":[{{"sensor":"nobody","ts":{t0},"value":9}}]}}"#)
            .into_bytes(),
        format!(
            r#"{{"seq":4,"readings":[{{"sensor":"p-1","ts":{},"value":9}}]}}"#,
            now_ms() + DAY
        )
        .into_bytes(),
        vec![0xff, 0xfe, 0x00],
    ];
    for j in &junk {
        publisher.raw(&topic, j.clone()).await;
    }
    // An unregistered gateway and a topic outside the protocol.
    publisher
        .raw(
            &geohazard_protocol::Topic::telemetry("ghost"),
            b"{\"seq\":1,\"readings\":[]}".to_vec(),
        )
        .await;
    let mut sent = junk.len() as u64 + 1;
    // Then real readings over the red line: newest first, the older ones late, and every
    // message twice (a redelivery).
    let over: Vec<(i64, f64)> = (0..4).map(|i| (t0 + i * MIN, 7.5)).rev().collect();
    for r in &over {
        sent += publisher.replay("p-1", &[*r], 1).await;
        sent += publisher.replay("p-1", &[*r], 1).await;
    }
    analyzer.handled(sent).await;
    assert!(
        !analyzer.task.is_finished(),
        "the analyzer is still running"
    );
    // Only the newest reading is "now": late readings do not count towards persistence, so
    // the red warning waits for readings that arrive in order.
    assert_eq!(w.warnings().await, vec![]);
    let in_order: Vec<(i64, f64)> = (5..8).map(|i| (t0 + i * MIN, 7.5)).collect();
    sent += publisher.replay("p-1", &in_order, 1).await;
    analyzer.handled(sent).await;
    let warnings = w.warnings().await;
    assert_eq!(
        warnings,
        vec![(
            "threshold:gw-01/p-1".to_owned(),
            "hazard".to_owned(),
            "red".to_owned(),
            "open".to_owned()
        )]
    );
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_warning_stays_acknowledged_going_down_and_reopens_going_up() {
    let w = World::new().await;
    piezometer(&w).await;
    let monitor = geohazard_store::registry::add_responsible(
        &w.store.pool,
        w.site_id,
        "Monitor",
        "13900000000",
        COUNTY,
        "monitor",
    )
    .await
    .unwrap();
    let analyzer = w.start(w.config("analyzer-states")).await;
    let publisher = w.publisher().await;
    let t0 = now_ms() - DAY;
    let run = |from: i64, value: f64| -> Vec<(i64, f64)> {
        (0..3)
            .map(|i| (t0 + (from + i) * 10 * MIN, value))
            .collect()
    };
    let state = || async {
        sqlx::query_as::<_, (String, String)>("SELECT level, state FROM warnings")
            .fetch_one(&w.store.pool)
            .await
            .unwrap()
    };
    let mut sent = publisher.replay("p-1", &run(0, 7.5), 1).await;
    analyzer.handled(sent).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM warnings")
        .fetch_one(&w.store.pool)
        .await
        .unwrap();
    w.acknowledge(id, monitor).await.unwrap();
    sent += publisher.replay("p-1", &run(3, 5.5), 1).await;
    analyzer.handled(sent).await;
    assert_eq!(
        state().await,
        ("yellow".to_owned(), "acknowledged".to_owned())
    );
    sent += publisher.replay("p-1", &run(6, 7.5), 1).await;
    analyzer.handled(sent).await;
    assert_eq!(
        state().await,
        ("red".to_owned(), "open".to_owned()),
        "a higher level needs a new acknowledgement"
    );
    let path: Vec<(String, Option<String>)> = w
        .events("threshold:gw-01/p-1")
        .await
        .into_iter()
        .map(|(t, l, _)| (t, l))
        .collect();
    let expected: Vec<(String, Option<String>)> = [
        ("raised", "red"),
        ("acknowledged", "red"),
        ("de_escalated", "yellow"),
        ("escalated", "red"),
    ]
    .iter()
    .map(|(t, l)| (t.to_string(), Some(l.to_string())))
    .collect();
    assert_eq!(path, expected);
    analyzer.stop().await;
}
