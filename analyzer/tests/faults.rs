//! Faulty sensors and replayed history (issue 22): a single bad reading, a stuck crack meter that
//! catches up, a rain reading a hundred times its neighbours and a frozen daily GNSS station are
//! device events, never a hazard level; an analyzer restarted on old data keeps its history.

mod common;

use common::*;
use geohazard_store::registry::SensorKind;

/// A crack meter creeping at `v` mm/d, read every 10 minutes, with gauge noise and a daily
/// thermal swing, as the skill bench's crack meters.
fn crack(from: i64, to: i64, v: f64, noise: f64, swing: f64, seed: u64) -> Vec<(i64, f64)> {
    let mut n = Noise::new(seed);
    (0..)
        .map(|i| from + i * 10 * MIN)
        .take_while(|t| *t <= to)
        .map(|t| {
            let d = t as f64 / DAY as f64;
            let since = (t - from) as f64 / DAY as f64;
            let thermal = swing * (2.0 * std::f64::consts::PI * (d - 0.375)).sin();
            (t, 20.0 + v * since + thermal + n.gauss(noise))
        })
        .collect()
}

/// Hazard warnings (not device faults) at yellow or above, with every level they reached.
async fn hazard_levels(w: &World) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT w.source, e.to_level FROM warning_events e JOIN warnings w ON w.id = e.warning_id
         WHERE w.category = 'hazard' ORDER BY e.id",
    )
    .fetch_all(&w.store.pool)
    .await
    .unwrap()
}

fn yellow_or_above(levels: &[(String, Option<String>)]) -> Vec<(String, Option<String>)> {
    levels
        .iter()
        .filter(|(_, l)| matches!(l.as_deref(), Some("yellow" | "orange" | "red")))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_crack_meter_reading_a_hundred_times_too_large_raises_no_yellow_or_above() {
    let w = World::new().await;
    w.sensor("crack-1", SensorKind::CrackMeter, "mm", 600).await;
    let analyzer = w.start(w.config("analyzer-x100")).await;
    let publisher = w.publisher().await;
    let end = now_ms() - HOUR;
    let mut series = crack(end - 7 * DAY, end, 1.0, 0.2, 0.5, 21);
    // A reading a hundred times its value, four days in: the cycle fit and every window
    // after it see it for three days.
    let at = series.len() - 3 * 144;
    series[at].1 *= 100.0;
    let n = publisher.replay("crack-1", &series, 24).await;
    analyzer.handled(n).await;
    assert_eq!(yellow_or_above(&hazard_levels(&w).await), vec![]);
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crack_meter_stuck_for_two_days_that_catches_up_is_a_device_event_not_a_hazard() {
    let w = World::new().await;
    w.sensor("crack-1", SensorKind::CrackMeter, "mm", 600).await;
    let analyzer = w.start(w.config("analyzer-catch-up")).await;
    let publisher = w.publisher().await;
    let end = now_ms() - HOUR;
    let mut series = crack(end - 8 * DAY, end, 2.0, 0.1, 0.3, 22);
    // Stuck at one value for 48 h, from four days before the end; then the true value again.
    let from = series.len() - 4 * 144;
    let stuck_value = series[from].1;
    for r in &mut series[from..from + 288] {
        r.1 = stuck_value;
    }
    let n = publisher.replay("crack-1", &series, 24).await;
    analyzer.handled(n).await;
    let stuck = w.events("device:stuck:gw-01/crack-1").await;
    assert_eq!(
        stuck.first().and_then(|e| e.1.as_deref()),
        Some("blue"),
        "the stuck spell is a device fault: {stuck:?}"
    );
    let hazards = hazard_levels(&w).await;
    assert_eq!(yellow_or_above(&hazards), vec![], "{hazards:?}");
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_level_states_the_velocity_that_raised_it() {
    let w = World::new().await;
    w.sensor("crack-1", SensorKind::CrackMeter, "mm", 600).await;
    let analyzer = w.start(w.config("analyzer-judged-velocity")).await;
    let publisher = w.publisher().await;
    let end = now_ms() - HOUR;
    // Steady at 1 mm/d for four days, then 30 mm/d for the last three hours: the short
    // sub-windows see it before the 6 h line does.
    let mut series = crack(end - 4 * DAY, end, 1.0, 0.05, 0.1, 23);
    let onset = end - 3 * HOUR;
    for r in series.iter_mut().filter(|r| r.0 > onset) {
        r.1 += 30.0 * (r.0 - onset) as f64 / DAY as f64;
    }
    let n = publisher.replay("crack-1", &series, 6).await;
    analyzer.handled(n).await;
    let rate = w.events("rate:gw-01/crack-1").await;
    assert!(!rate.is_empty(), "the velocity rule raised a level");
    for (_, level, e) in &rate {
        let judged = e["velocity_judged"].as_f64().unwrap();
        let stated = e["velocity_mm_per_day"].as_f64().unwrap();
        let se = e["velocity_se"].as_f64().unwrap();
        let t = e["velocity_t"].as_f64().unwrap();
        let expected = if t >= 3.0 {
            (stated - 2.0 * se).max(0.0)
        } else {
            0.0
        };
        assert!(
            (expected - judged).abs() < 0.01,
            "{level:?}: the stated velocity {stated} ± 2·{se} is not the one judged {judged}: {e}"
        );
    }
    analyzer.stop().await;
}

/// Hourly rain: `mm` per hour ending at each hour.
fn hourly(from: i64, mm: &[f64]) -> Vec<(i64, f64)> {
    mm.iter()
        .enumerate()
        .map(|(i, v)| (from + (i as i64 + 1) * HOUR, *v))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rain_reading_a_hundred_times_the_hours_around_it_is_a_device_check_not_a_red() {
    let w = World::new().await;
    w.sensor("rain-1", SensorKind::RainGauge, "mm", 3600).await;
    let analyzer = w.start(w.config("analyzer-rain-spike")).await;
    let publisher = w.publisher().await;
    let start = (now_ms() / HOUR - 10 * 24) * HOUR;
    // Dry days, a light rain of under 2 mm an hour with one reading of 177.8 mm in it, then
    // dry days again.
    let mut mm = vec![0.0; 3 * 24];
    mm.extend([0.4, 1.2, 1.8, 1.5, 177.8, 1.7, 1.1, 0.6, 0.2]);
    mm.extend(vec![0.0; 6 * 24]);
    let series = hourly(start, &mm);
    let n = publisher.replay("rain-1", &series, 1).await;
    analyzer.handled(n).await;
    assert_eq!(
        hazard_levels(&w).await,
        vec![],
        "neither the hour nor the antecedent sums hold the refuted reading"
    );
    let suspect = w.events("device:suspect:gw-01/rain-1").await;
    assert_eq!(
        suspect.first().and_then(|e| e.1.as_deref()),
        Some("blue"),
        "the reading raised a device check: {suspect:?}"
    );
    assert_eq!(
        suspect.last().map(|e| e.1.clone()),
        Some(None),
        "refuted by the next reading, the check is over"
    );
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudburst_confirmed_by_the_next_hour_still_raises_red() {
    let w = World::new().await;
    w.sensor("rain-1", SensorKind::RainGauge, "mm", 3600).await;
    let analyzer = w.start(w.config("analyzer-rain-burst")).await;
    let publisher = w.publisher().await;
    let start = (now_ms() / HOUR - 3 * 24) * HOUR;
    let mut mm = vec![0.0; 24];
    mm.extend([0.8, 1.5, 70.0, 45.0, 12.0, 2.0]);
    mm.extend(vec![0.0; 12]);
    let n = publisher.replay("rain-1", &hourly(start, &mm), 1).await;
    analyzer.handled(n).await;
    let rain = w.events("rain:gw-01/rain-1").await;
    assert!(
        rain.iter().any(|e| e.1.as_deref() == Some("red")),
        "{:?}",
        rain.iter().map(|e| e.1.clone()).collect::<Vec<_>>()
    );
    analyzer.stop().await;
}

/// Rain gauges around the site (104.5 E, 28.4 N): 2 km north of it, 40 km north, 40 km east.
const AT_SITE: (f64, f64) = (104.5, 28.4);
const TWO_KM_NORTH: (f64, f64) = (104.5, 28.418);
const FORTY_KM_NORTH: (f64, f64) = (104.5, 28.76);
const FORTY_KM_EAST: (f64, f64) = (104.91, 28.4);

/// The levels the rain warning of a gauge reached, in order.
async fn rain_levels(w: &World, channel: &str) -> Vec<Option<String>> {
    let source = format!("rain:gw-01/{channel}");
    w.events(&source).await.into_iter().map(|e| e.1).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_rain_spike_beside_a_quiet_gauge_two_km_away_raises_nothing() {
    let w = World::new().await;
    for (ch, at) in [("rain-a", AT_SITE), ("rain-b", TWO_KM_NORTH)] {
        w.sensor_at(ch, SensorKind::RainGauge, "mm", 3600, Some(at))
            .await;
    }
    let analyzer = w.start(w.config("analyzer-rain-quiet-neighbour")).await;
    let publisher = w.publisher().await;
    let start = (now_ms() / HOUR - 3 * 24) * HOUR;
    let light = [0.4, 1.2, 1.8, 1.5, 1.6, 1.7, 1.1, 0.6, 0.2];
    let mut b = vec![0.0; 24];
    b.extend(light);
    b.extend(vec![0.0; 24]);
    let mut a = b.clone();
    a[24 + 4] = 177.8;
    let mut n = publisher.replay("rain-b", &hourly(start, &b), 1).await;
    n += publisher.replay("rain-a", &hourly(start, &a), 1).await;
    analyzer.handled(n).await;
    assert_eq!(
        hazard_levels(&w).await,
        vec![],
        "the gauge nearby saw 1.6 mm that hour: nothing confirms 177.8 mm"
    );
    let suspect = w.events("device:suspect:gw-01/rain-a").await;
    let levels: Vec<_> = suspect.iter().map(|e| e.1.clone()).collect();
    assert_eq!(
        levels,
        vec![Some("blue".to_owned()), None],
        "a device check, over once the next reading refuted it"
    );
    assert_eq!(suspect[1].2["refuted"], true, "{}", suspect[1].2);
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudburst_seen_by_two_gauges_raises_red_at_once_and_a_lone_gauge_waits_for_its_next_reading()
 {
    let w = World::new().await;
    let wide = w
        .sensor_at(
            "rain-d",
            SensorKind::RainGauge,
            "mm",
            3600,
            Some(FORTY_KM_EAST),
        )
        .await;
    for (ch, at) in [
        ("rain-a", AT_SITE),
        ("rain-b", TWO_KM_NORTH),
        ("rain-c", FORTY_KM_NORTH),
    ] {
        w.sensor_at(ch, SensorKind::RainGauge, "mm", 3600, Some(at))
            .await;
    }
    // The same gauge 40 km away, with a radius of 50 km configured for it.
    w.sensor_rule(
        wide,
        "rainfall",
        serde_json::json!({"confirm_radius_km": 50.0}),
    )
    .await;
    let analyzer = w.start(w.config("analyzer-rain-two-gauges")).await;
    let publisher = w.publisher().await;
    let start = (now_ms() / HOUR - 3 * 24) * HOUR;
    // A cloudburst of one hour between dry hours: 65 mm is 65× the hour before it.
    let storm = |burst: f64, around: [f64; 4]| {
        let mut mm = vec![0.0; 24];
        mm.extend([around[0], around[1], burst, around[2], around[3]]);
        mm.extend(vec![0.0; 12]);
        mm
    };
    let b = storm(41.0, [0.6, 1.1, 0.7, 0.2]);
    let burst = storm(65.0, [0.4, 1.0, 0.9, 0.3]);
    let mut n = publisher.replay("rain-b", &hourly(start, &b), 1).await;
    for ch in ["rain-a", "rain-c", "rain-d"] {
        n += publisher.replay(ch, &hourly(start, &burst), 1).await;
    }
    analyzer.handled(n).await;

    let red = Some("red".to_owned());
    assert_eq!(
        rain_levels(&w, "rain-a").await.first(),
        Some(&red),
        "confirmed by the gauge 2 km away (41 mm that hour): red with the burst itself"
    );
    assert!(
        w.events("device:suspect:gw-01/rain-a").await.is_empty(),
        "a confirmed reading is no device check"
    );
    assert_eq!(
        rain_levels(&w, "rain-b").await.first(),
        Some(&Some("orange".to_owned()))
    );
    assert_eq!(
        rain_levels(&w, "rain-c").await,
        Vec::<Option<String>>::new(),
        "no gauge within 10 km: held out until the next hour refuted it, no level at all"
    );
    let lone: Vec<_> = w
        .events("device:suspect:gw-01/rain-c")
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(
        lone,
        vec![Some("blue".to_owned()), None],
        "a device check, then refuted"
    );
    assert_eq!(
        rain_levels(&w, "rain-d").await.first(),
        Some(&red),
        "with a radius of 50 km the gauges 40 km away confirm it"
    );
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_daily_gnss_station_is_flagged_within_days_not_a_month() {
    let w = World::new().await;
    w.sensor("gnss-1", SensorKind::Gnss, "mm", 86_400).await;
    let analyzer = w.start(w.config("analyzer-frozen-gnss")).await;
    let publisher = w.publisher().await;
    let mut noise = Noise::new(24);
    let start = (now_ms() / DAY - 30) * DAY;
    // Twenty days moving at 2 mm/d, then the same fix every day for five days.
    let mut series: Vec<(i64, f64)> = (0..20)
        .map(|d| (start + d * DAY, 100.0 + 2.0 * d as f64 + noise.gauss(2.0)))
        .collect();
    let frozen = series.last().unwrap().1;
    series.extend((20..25).map(|d| (start + d * DAY, frozen)));
    let n = publisher.replay("gnss-1", &series, 1).await;
    analyzer.handled(n).await;
    let stuck = w.events("device:stuck:gw-01/gnss-1").await;
    assert_eq!(
        stuck.first().and_then(|e| e.1.as_deref()),
        Some("blue"),
        "five identical daily fixes: {stuck:?}"
    );
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyzer_restarted_on_replayed_history_weeks_old_keeps_its_window_and_reaches_red() {
    let w = World::new().await;
    let sensor = w.sensor("crack-1", SensorKind::CrackMeter, "mm", 600).await;
    // History being imported: the slope failed three weeks ago by the wall clock.
    let tf = now_ms() - 21 * DAY;
    let onset = tf - 8 * DAY;
    let mut noise = Noise::new(25);
    let series: Vec<(i64, f64)> = (0..)
        .map(|i| onset - 20 * DAY + i * 10 * MIN)
        .take_while(|t| *t < tf - 5 * MIN)
        .map(|t| (t, accelerating(t, 1.0, (onset, tf), (0.2, 0.1), &mut noise)))
        .collect();
    // Everything up to 20 h before the failure was imported before the restart.
    let split = series.partition_point(|r| r.0 < tf - 20 * HOUR);
    w.store_readings(sensor, &series[..split]).await;
    let analyzer = w.start(w.config("analyzer-replayed")).await;
    let publisher = w.publisher().await;
    let n = publisher.replay("crack-1", &series[split..], 6).await;
    analyzer.handled(n).await;
    let levels = hazard_levels(&w).await;
    assert!(
        levels.iter().any(|l| l.1.as_deref() == Some("red")),
        "no red after the restart: {levels:?}"
    );
    analyzer.stop().await;
}
