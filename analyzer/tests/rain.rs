//! A rain event replayed through the broker: the rainfall rules raise one warning that climbs
//! blue → yellow → orange, stored with its evidence, published on MQTT.

mod common;

use common::*;
use geohazard_store::registry::SensorKind;
use std::time::Duration;

/// Rain in each 10-minute step of a triangular storm peaking at `peak` mm/h over `hours`.
fn storm(start: i64, hours: f64, peak: f64) -> Vec<(i64, f64)> {
    let dur = hours * HOUR as f64;
    let acc = |t: f64| {
        let x = ((t - start as f64) / dur).clamp(0.0, 1.0);
        let total = peak * hours / 2.0;
        total
            * if x <= 0.5 {
                2.0 * x * x
            } else {
                1.0 - 2.0 * (1.0 - x) * (1.0 - x)
            }
    };
    (1..=(hours * 6.0) as i64)
        .map(|i| {
            let t = start + i * 10 * MIN;
            // Tipping-bucket resolution, 0.1 mm.
            (
                t,
                ((acc(t as f64) - acc((t - 10 * MIN) as f64)) * 10.0).round() / 10.0,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rain_event_raises_one_warning_that_climbs_blue_yellow_orange() {
    let w = World::new().await;
    w.sensor("rain-1", SensorKind::RainGauge, "mm", 600).await;
    let analyzer = w.start(w.config("analyzer-rain")).await;
    let watcher = w.warning_watcher().await;
    let publisher = w.publisher().await;

    let series = storm(now_ms() - 8 * HOUR, 6.0, 30.0);
    let total: f64 = series.iter().map(|r| r.1).sum();
    assert!((85.0..95.0).contains(&total), "storm total {total}");
    let n = publisher.replay("rain-1", &series, 3).await;
    analyzer.handled(n).await;

    let source = "rain:gw-01/rain-1";
    let events = w.events(source).await;
    let path: Vec<(String, String)> = events
        .iter()
        .map(|(t, l, _)| (t.clone(), l.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        path,
        vec![
            ("raised".to_owned(), "blue".to_owned()),
            ("escalated".to_owned(), "yellow".to_owned()),
            ("escalated".to_owned(), "orange".to_owned()),
        ],
        "one warning climbing in order"
    );
    // The orange step says why: some window's accumulation crossed its orange threshold.
    let orange = &events[2].2;
    assert_eq!(orange["method"], "rainfall");
    assert!(
        orange["windows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["level"] == "orange"),
        "{orange}"
    );
    assert!(orange["id_ratio_max"].as_f64().unwrap() > 1.0);
    let open: Vec<_> = w.warnings().await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].2, "orange");

    // Published on MQTT in the same order, on the site's topic.
    let published = eventually_published(&watcher, 3).await;
    let levels: Vec<&str> = published.iter().map(|m| m.level.as_str()).collect();
    assert_eq!(levels, ["blue", "yellow", "orange"]);
    assert!(
        published
            .iter()
            .all(|m| m.site == SITE && m.division == COUNTY)
    );

    analyzer.stop().await;
}

async fn eventually_published(m: &Mqtt, n: usize) -> Vec<geohazard_protocol::warning::Warning> {
    geohazard_testkit::eventually(Duration::from_secs(10), "warnings on MQTT", || {
        let got = m.warnings();
        async move { (got.len() >= n).then_some(got) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_analyzer_remembers_the_rain_and_continues_its_open_warning() {
    let w = World::new().await;
    let sensor = w.sensor("rain-1", SensorKind::RainGauge, "mm", 600).await;
    let series = storm(now_ms() - 8 * HOUR, 6.0, 30.0);
    let (before, after) = series.split_at(24);
    // The first four hours fell while the analyzer was down; the collector stored them.
    w.store_readings(sensor, before).await;
    let analyzer = w.start(w.config("analyzer-warm")).await;
    let publisher = w.publisher().await;
    let n = publisher.replay("rain-1", after, 3).await;
    analyzer.handled(n).await;
    w.store_readings(sensor, after).await;
    let live: f64 = after.iter().map(|r| r.1).sum();
    assert!(
        live < 30.0,
        "the live part alone ({live} mm) is far from orange"
    );
    assert_eq!(
        w.warnings().await,
        vec![(
            "rain:gw-01/rain-1".to_owned(),
            "hazard".to_owned(),
            "orange".to_owned(),
            "open".to_owned()
        )],
        "orange needs the rain from before the start"
    );
    let events_before = w.events("rain:gw-01/rain-1").await.len();
    analyzer.stop().await;

    // A restart: the window comes back from the store and the open warning is continued, not
    // raised again nor closed.
    let analyzer = w.start(w.config("analyzer-warm-2")).await;
    let last = series.last().unwrap().0;
    let n = publisher
        .replay("rain-1", &[(last + 10 * MIN, 0.0)], 1)
        .await;
    analyzer.handled(n).await;
    assert_eq!(w.events("rain:gw-01/rain-1").await.len(), events_before);
    assert_eq!(w.warnings().await.len(), 1);
    assert_eq!(w.warnings().await[0].2, "orange");
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_rain_with_moving_ground_raises_the_site_one_level_higher() {
    let w = World::new().await;
    w.sensor("rain-1", SensorKind::RainGauge, "mm", 600).await;
    let crack = w.sensor("crack-1", SensorKind::CrackMeter, "mm", 600).await;
    // This slope's crack meter is sensitive: 1 mm/d is already worth attention.
    w.sensor_rule(
        crack,
        "rate",
        serde_json::json!({"velocity_mm_per_day": {"blue": 1.0, "yellow": 10.0, "orange": 20.0, "red": 40.0}}),
    )
    .await;
    let analyzer = w.start(w.config("analyzer-combined")).await;
    let publisher = w.publisher().await;
    let end = now_ms() - HOUR;
    let mut n = publisher
        .replay(
            "crack-1",
            // Two days: the rules judge a crack meter once they know its daily cycle.
            &steady_crack(end - 2 * DAY, end, 10 * MIN, 3.0, 2),
            24,
        )
        .await;
    n += publisher
        .replay("rain-1", &storm(end - 7 * HOUR, 6.0, 30.0), 6)
        .await;
    analyzer.handled(n).await;
    let rate = w.events("rate:gw-01/crack-1").await;
    assert_eq!(rate.last().unwrap().1.as_deref(), Some("blue"));
    // Steady creep: whatever acceleration the parabola fits is noise, and the summary does not
    // state it as a finding.
    let (summary, evidence): (String, serde_json::Value) = sqlx::query_as(
        "SELECT summary, evidence FROM warnings WHERE source = 'rate:gw-01/crack-1'",
    )
    .fetch_one(&w.store.pool)
    .await
    .unwrap();
    assert!(
        evidence["acceleration_t"].as_f64().unwrap() < 3.0,
        "{evidence}"
    );
    assert!(!summary.contains("acceleration"), "{summary}");
    let combined = w.events("site:combined").await;
    let last = combined.last().expect("a combined warning");
    assert_eq!(
        last.1.as_deref(),
        Some("orange"),
        "orange rain + ground at blue: raised, but red (evacuation) needs the ground at orange"
    );
    assert_eq!(last.2["displacement_level"], "blue");
    let rain = w.events("rain:gw-01/rain-1").await;
    assert_eq!(rain.last().unwrap().1.as_deref(), Some("orange"));
    assert!(
        combined.iter().all(|e| e.1.as_deref() != Some("red")),
        "{combined:?}"
    );
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_rain_total_of_50_mm_is_spread_over_its_day_and_raises_no_red() {
    let w = World::new().await;
    w.sensor("rain-1", SensorKind::RainGauge, "mm", 86_400)
        .await;
    let analyzer = w.start(w.config("analyzer-daily-rain")).await;
    let publisher = w.publisher().await;
    let day0 = (now_ms() / DAY - 5) * DAY;
    let series: Vec<(i64, f64)> = (0..5)
        .map(|d| (day0 + d * DAY, if d == 3 { 50.0 } else { 0.0 }))
        .collect();
    let n = publisher.replay("rain-1", &series, 1).await;
    analyzer.handled(n).await;
    let events = w.events("rain:gw-01/rain-1").await;
    let levels: Vec<_> = events.iter().filter_map(|e| e.1.clone()).collect();
    assert_eq!(levels, ["blue"], "50 mm in a day is 50 mm in 24 h, ~2 mm/h");
    let windows = events[0].2["windows"].as_array().unwrap().clone();
    let hour = windows.iter().find(|w| w["hours"] == 1.0).unwrap();
    assert!(hour["mm"].as_f64().unwrap() < 2.5, "{hour}");
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn antecedent_rain_no_longer_holds_yellow_once_a_dry_day_has_drained_the_ground() {
    let w = World::new().await;
    w.sensor("rain-1", SensorKind::RainGauge, "mm", 3600).await;
    let analyzer = w.start(w.config("analyzer-antecedent")).await;
    let publisher = w.publisher().await;
    // Five days of steady 1.5 mm/h (36 mm a day: no window reaches yellow, the effective
    // antecedent rain does), then two dry days read every hour.
    let start = (now_ms() / HOUR - 7 * 24 - 2) * HOUR;
    let series: Vec<(i64, f64)> = (1..=7 * 24)
        .map(|h| (start + h * HOUR, if h <= 5 * 24 { 1.5 } else { 0.0 }))
        .collect();
    let n = publisher.replay("rain-1", &series, 6).await;
    analyzer.handled(n).await;
    let events = w.events("rain:gw-01/rain-1").await;
    let peak = events.iter().filter_map(|e| e.1.clone()).max_by_key(|l| {
        ["blue", "yellow", "orange", "red"]
            .iter()
            .position(|x| x == l)
    });
    assert_eq!(peak.as_deref(), Some("yellow"), "{events:?}");
    let last = events.last().unwrap();
    assert!(
        last.1.as_deref() != Some("yellow"),
        "two dry days later the yellow is over: {:?}",
        last.2["antecedent"]
    );
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regional_intensity_duration_curve_is_found_through_the_division_tree() {
    let w = World::new().await;
    w.sensor("rain-1", SensorKind::RainGauge, "mm", 600).await;
    // The province's own curve, much stricter than Caine's global one; the site is in a county.
    sqlx::query("INSERT INTO rainfall_id_thresholds (division_code, a, b, source) VALUES ($1, 3.0, 0.5, 'test')")
        .bind(PROVINCE)
        .execute(&w.store.pool)
        .await
        .unwrap();
    let analyzer = w.start(w.config("analyzer-id")).await;
    let publisher = w.publisher().await;
    // Steady 10 mm/h for three hours: only blue by accumulation, and by Caine's curve.
    let start = now_ms() - 5 * HOUR;
    let series: Vec<(i64, f64)> = (1..=18)
        .map(|i| (start + i * 10 * MIN, 10.0 / 6.0))
        .collect();
    let n = publisher.replay("rain-1", &series, 3).await;
    analyzer.handled(n).await;
    let events = w.events("rain:gw-01/rain-1").await;
    let last = &events.last().expect("a rain warning").2;
    assert_eq!(last["id_curve"]["a"], 3.0);
    assert_eq!(last["id_level"], "red", "{last}");
    let accumulation_levels: Vec<&str> = last["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["level"].as_str())
        .collect();
    assert!(
        accumulation_levels.iter().all(|l| *l == "blue"),
        "{accumulation_levels:?}"
    );
    assert_eq!(w.warnings().await[0].2, "red");
    analyzer.stop().await;
}
