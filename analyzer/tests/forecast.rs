//! Failure forecasts (issue 22): none where nothing fails, the red SMS carries the current
//! one, or says none is established yet and the first one follows by SMS.

mod common;

use common::*;
use geohazard_store::registry::SensorKind;
use geohazard_testkit::fixtures;

/// Events of warnings of one sensor that carry a failure forecast.
async fn forecasts_of(w: &World, channel: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT w.source, e.transition FROM warning_events e JOIN warnings w ON w.id = e.warning_id
         WHERE w.source LIKE '%/' || $1 AND e.evidence ? 'failure_forecast_ts'
           AND e.evidence->>'failure_forecast_ts' IS NOT NULL",
    )
    .bind(channel)
    .fetch_all(&w.store.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steadily_moving_daily_gnss_stations_get_no_failure_forecast() {
    let w = World::new().await;
    let analyzer = w.start(w.config("analyzer-steady-gnss")).await;
    let publisher = w.publisher().await;
    let mut noise = Noise::new(31);
    let start = (now_ms() / DAY - 120) * DAY;
    // 120 days at 0.5-30 mm/d with 2-4 mm of scatter: some fast enough for warnings, none
    // failing.
    let mut n = 0;
    for (i, (v, sd)) in [
        (0.8, 2.0),
        (2.5, 3.5),
        (4.0, 2.5),
        (6.0, 4.0),
        (9.0, 3.0),
        (30.0, 3.0),
    ]
    .into_iter()
    .enumerate()
    {
        let channel = format!("gnss-{i}");
        w.sensor(&channel, SensorKind::Gnss, "mm", 86_400).await;
        let series: Vec<(i64, f64)> = (0..120)
            .map(|d| (start + d * DAY, 50.0 + v * d as f64 + noise.gauss(sd)))
            .collect();
        n += publisher.replay(&channel, &series, 1).await;
    }
    analyzer.handled(n).await;
    for i in 0..6 {
        assert_eq!(
            forecasts_of(&w, &format!("gnss-{i}")).await,
            vec![],
            "gnss-{i}"
        );
    }
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_red_sms_carries_the_failure_forecast() {
    let w = World::new().await;
    let sensor = w.sensor("crack-1", SensorKind::CrackMeter, "mm", 600).await;
    fixtures::on_duty_now(&w.store, "Duty officer", "13800000001", COUNTY).await;
    let tf = now_ms() - 2 * HOUR;
    let onset = tf - 8 * DAY;
    let mut noise = Noise::new(32);
    let series: Vec<(i64, f64)> = (0..)
        .map(|i| onset - 20 * DAY + i * 10 * MIN)
        .take_while(|t| *t < tf - 5 * MIN)
        .map(|t| (t, accelerating(t, 0.8, (onset, tf), (0.2, 0.1), &mut noise)))
        .collect();
    // The steady weeks are in the store; the acceleration arrives live.
    let split = series.partition_point(|r| r.0 < onset);
    w.store_readings(sensor, &series[..split]).await;
    let analyzer = w.start(w.config("analyzer-red-sms")).await;
    let publisher = w.publisher().await;
    let n = publisher.replay("crack-1", &series[split..], 12).await;
    analyzer.handled(n).await;
    let red: Vec<(String, String)> = sqlx::query_as(
        "SELECT w.source, n.body FROM notifications n JOIN warnings w ON w.id = n.warning_id
         WHERE n.channel = 'sms' AND n.reason LIKE 'red@%' ORDER BY n.id",
    )
    .fetch_all(&w.store.pool)
    .await
    .unwrap();
    assert!(!red.is_empty(), "a red SMS was queued");
    for (source, body) in &red {
        assert!(
            body.contains("预测失稳时间"),
            "the red SMS of {source} has no forecast: {body}"
        );
    }
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_raised_before_any_forecast_says_so_by_sms_and_the_first_forecast_follows_by_sms() {
    let w = World::new().await;
    let sensor = w.sensor("crack-2", SensorKind::CrackMeter, "mm", 600).await;
    fixtures::on_duty_now(&w.store, "Duty officer", "13800000002", COUNTY).await;
    // Steady at 25 mm/d for weeks (red by the velocity line from the first reading; no
    // acceleration, so no forecast), then 1/v falling linearly to failure over 3 days.
    let tf = now_ms() - 2 * HOUR;
    let onset = tf - 3 * DAY;
    let fast = onset - 36 * HOUR;
    let v1 = 25.0;
    let day = |ms: i64| ms as f64 / DAY as f64;
    let mut noise = Noise::new(33);
    let series: Vec<(i64, f64)> = (0..)
        .map(|i| fast - 20 * DAY + i * 10 * MIN)
        .take_while(|t| *t < tf - 30 * MIN)
        .map(|t| {
            let creep = if t <= onset {
                v1 * day(t - onset)
            } else {
                let l = day(tf - onset);
                v1 * l * (l / day(tf - t)).ln()
            };
            (t, 20.0 + creep + noise.gauss(0.1))
        })
        .collect();
    let split = series.partition_point(|r| r.0 < fast);
    w.store_readings(sensor, &series[..split]).await;
    let analyzer = w.start(w.config("analyzer-red-first-forecast")).await;
    let publisher = w.publisher().await;
    let n = publisher.replay("crack-2", &series[split..], 12).await;
    analyzer.handled(n).await;
    let sms: Vec<(String, String)> = sqlx::query_as(
        "SELECT n.reason, n.body FROM notifications n WHERE n.channel = 'sms' ORDER BY n.id",
    )
    .fetch_all(&w.store.pool)
    .await
    .unwrap();
    let first_red = sms
        .iter()
        .position(|m| m.0.starts_with("red@"))
        .unwrap_or_else(|| panic!("a red SMS was queued: {sms:#?}"));
    assert!(
        sms[first_red].1.contains("失稳时间：尚无可靠预测")
            && !sms[first_red].1.contains("预测失稳时间"),
        "the first red came before any forecast and says so: {}",
        sms[first_red].1
    );
    for (reason, body) in sms.iter().filter(|m| m.0.starts_with("red@")) {
        assert!(
            body.contains("预测失稳时间") || body.contains("尚无可靠预测"),
            "a red SMS ({reason}) neither carries a forecast nor says there is none: {body}"
        );
    }
    let first_forecast = sms[first_red..]
        .iter()
        .find(|m| m.1.contains("预测失稳时间"))
        .unwrap_or_else(|| panic!("the first forecast reached the phone: {sms:#?}"));
    assert!(
        first_forecast.0.starts_with("forecast ") && first_forecast.1.contains("已有失稳时间预测"),
        "{first_forecast:?}"
    );
    analyzer.stop().await;
}
