//! `cargo run --release -p geohazard-benches --bin skill-bench [-- --seed S --series N
//! --rain-years Y]`
//!
//! The analyzer's warning skill, measured from outside: seeded synthetic series are replayed
//! through a private Mosquitto into one analyzer with the default rules (as the field would send
//! them), and what it stored is scored against the truth the generator knows.
//!
//! - N accelerating crack meters (Voight's dv/dt = A·vᵅ, α 1.7–2.2, failing 5–15 days after the
//!   onset, 30 days of steady creep before it), read every 10 minutes with gauge noise of
//!   0.1–0.4 mm and a daily thermal swing of 0.2–0.8 mm amplitude, and their steady twins (same
//!   creep rate, noise and swing, no acceleration);
//! - 8 GNSS stations read once a day for 120 days: 7 creeping steadily at 0.5–9 mm/d with 2–4 mm
//!   scatter, and one moving at 30 mm/d;
//! - six years of hourly rain from a seasonal storm generator, with landslide days set by a
//!   hidden groundwater-bucket model (not by the analyzer's rules).
//!
//! - sensor faults on seeds of their own (issue 22): steady crack meters with one reading ×100,
//!   steady crack meters stuck for 48 h that then catch up, hourly rain gauges with one reading
//!   100× the hours around it (beside a clean twin), daily GNSS stations frozen for 10 days;
//! - accelerating crack meters replayed weeks after the fact, the analyzer restarted 20 h before
//!   each failure with the history before that in the store.
//!
//! It prints red lead times, the failure forecast's error at first red and 24 h / 6 h before
//! failure next to a naive inverse-velocity baseline, false yellow/orange/red per steady
//! sensor-month, and rainfall alert days against the landslide days caught.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use geohazard_benches::{Client, World, median};
use geohazard_bus::rumqttc::QoS;
use geohazard_protocol::{TelemetryBatch, Topic};
use geohazard_store::Store;
use geohazard_store::registry::{self, NewSensor, SensorKind};
use geohazard_testkit::fixtures;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const DAY: i64 = 86_400_000;
const DAY_MS: f64 = 86_400_000.0;
const HOUR: i64 = 3_600_000;
const STEP: i64 = 600_000;

#[derive(Parser)]
#[command(
    name = "skill-bench",
    about = "The analyzer's warning skill against seeded synthetic series"
)]
struct Args {
    /// Seed of the series.
    #[arg(long, default_value_t = 1000)]
    seed: u64,
    /// Accelerating crack meters (each with a steady twin).
    #[arg(long, default_value_t = 10)]
    series: usize,
    /// Years of hourly rain.
    #[arg(long, default_value_t = 6)]
    rain_years: u32,
    /// Series per kind of sensor fault (spike, stuck then catching up, rain spike, frozen daily
    /// GNSS), on seeds of their own.
    #[arg(long, default_value_t = 4)]
    faults: usize,
    /// Accelerating series replayed weeks after the fact, the analyzer restarted 20 h before
    /// their failure.
    #[arg(long, default_value_t = 5)]
    restarts: usize,
}

fn gauss(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// One crack meter's story: its readings and, for an accelerating one, its failure time.
struct Creep {
    channel: String,
    readings: Vec<(i64, f64)>,
    failure_ms: Option<i64>,
    alpha: f64,
    v0: f64,
    noise: f64,
    swing: f64,
}

/// Voight's law dv/dt = A·vᵅ from v0 at the onset, with A set so that failure (v → ∞) comes
/// `to_failure` after it; before the onset, steady creep at v0. Integrated by the minute.
fn crack_series(
    rng: &mut StdRng,
    channel: String,
    end_ms: i64,
    accelerating: Option<(f64, f64)>,
    v0: f64,
    noise: f64,
    swing: f64,
) -> Creep {
    let steady_days = 30.0;
    let (alpha, to_failure_d) = accelerating.unwrap_or((2.0, 10.0));
    let total_d = steady_days + to_failure_d;
    let start = end_ms - (total_d * DAY_MS) as i64;
    let onset = start + (steady_days * DAY_MS) as i64;
    let failure = onset + (to_failure_d * DAY_MS) as i64;
    let a = v0.powf(1.0 - alpha) / ((alpha - 1.0) * to_failure_d);
    let phase = rng.random::<f64>() * std::f64::consts::TAU;
    let mut day_swing = swing;
    let mut x = 10.0;
    let mut readings = Vec::new();
    let mut t = start;
    // The last reading 10 minutes before failure.
    while t < failure - STEP / 2 {
        let next = t + STEP;
        let mut u = t;
        while u < next {
            let v = if accelerating.is_some() && u > onset {
                let tau = (u - onset) as f64 / DAY_MS;
                (v0.powf(1.0 - alpha) - a * (alpha - 1.0) * tau)
                    .max(1e-9)
                    .powf(-1.0 / (alpha - 1.0))
            } else {
                v0
            };
            x += v * 60_000.0 / DAY_MS;
            u += 60_000;
        }
        t = next;
        if t.rem_euclid(DAY) < STEP {
            // The weather changes the swing from day to day.
            day_swing = swing * (1.0 + 0.15 * gauss(rng));
        }
        let d = t as f64 / DAY_MS;
        let thermal = day_swing * (std::f64::consts::TAU * d + phase).sin();
        readings.push((t, x + thermal + noise * gauss(rng)));
    }
    Creep {
        channel,
        readings,
        failure_ms: accelerating.map(|_| failure),
        alpha,
        v0,
        noise,
        swing,
    }
}

/// Naive inverse velocity (the baseline): 1-day velocities every 6 h over the last 4
/// days from the raw readings, a straight line through 1/v.
fn naive_forecast(readings: &[(i64, f64)], at: i64) -> Option<i64> {
    let value_at = |t: i64| {
        let i = readings.partition_point(|r| r.0 <= t);
        (i > 0).then(|| readings[i - 1].1)
    };
    let mut v = Vec::new();
    let mut t = at - 4 * DAY;
    while t <= at {
        if let (Some(now), Some(before)) = (value_at(t), value_at(t - DAY)) {
            v.push((t, now - before));
        }
        t += 6 * HOUR;
    }
    let (x, y): (Vec<f64>, Vec<f64>) = v
        .iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(t, v)| ((t - at) as f64 / DAY_MS, 1.0 / v))
        .unzip();
    let (slope, intercept) = least_squares(&x, &y)?;
    (slope < 0.0).then(|| at + (-intercept / slope * DAY_MS) as i64)
}

/// The least-squares line y = intercept + slope·x: (slope, intercept); `None` with fewer than
/// two distinct x.
fn least_squares(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let n = x.len() as f64;
    if x.len() < 2 || y.len() != x.len() {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|x| (x - mx) * (x - mx)).sum();
    if sxx <= f64::EPSILON * n {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    (slope.is_finite() && intercept.is_finite()).then_some((slope, intercept))
}

/// Hourly rain of a seasonal storm climate, and the days a hidden groundwater bucket (filled
/// by rain, drained in proportion to its level) crosses a slope's critical level.
fn rain_record(rng: &mut StdRng, start: i64, years: u32) -> (Vec<(i64, f64)>, Vec<i64>) {
    let hours = years as i64 * 365 * 24;
    let mut rain = Vec::with_capacity(hours as usize);
    let mut storm_left = 0i64;
    let mut storm_peak = 0.0;
    let mut storm_len = 1i64;
    let mut bucket = 0.0f64;
    let mut landslide_days = Vec::new();
    let mut last_slide: Option<i64> = None;
    let critical = 170.0;
    for h in 0..hours {
        let t = start + (h + 1) * HOUR;
        let doy = (h / 24) % 365;
        // Wet season from May to September.
        let wet = (std::f64::consts::TAU * (doy as f64 - 120.0) / 365.0)
            .sin()
            .max(0.0);
        if storm_left == 0 && rng.random::<f64>() < (0.002 + 0.008 * wet) {
            storm_len = 2 + (rng.random::<f64>() * 30.0) as i64;
            storm_left = storm_len;
            // Heavy-tailed peaks: most storms are small, a few are violent.
            storm_peak = 1.0 + 2.5 * (-rng.random::<f64>().max(1e-9).ln()).powf(1.5);
        }
        let mm = if storm_left > 0 {
            let x = (storm_len - storm_left) as f64 / storm_len as f64;
            storm_left -= 1;
            let shape = 1.0 - (2.0 * x - 1.0).abs();
            ((storm_peak * shape * (0.6 + 0.8 * rng.random::<f64>())) * 10.0).round() / 10.0
        } else {
            0.0
        };
        rain.push((t, mm));
        bucket = bucket * (1.0 - 0.004) + mm;
        if bucket > critical && last_slide.is_none_or(|l| t - l > 20 * DAY) {
            landslide_days.push(t.div_euclid(DAY));
            last_slide = Some(t);
        }
    }
    (rain, landslide_days)
}

/// A daily GNSS station: channel, velocity mm/d, readings.
type Station = (String, f64, Vec<(i64, f64)>);

/// Publishes a sensor's readings in time order, `batch` per message; returns the messages.
async fn replay(p: &Client, gateway: &str, channel: &str, series: &[(i64, f64)]) -> u64 {
    let mut n = 0;
    for (i, chunk) in series.chunks(36).enumerate() {
        let b = TelemetryBatch::of_channel(i as u64, channel, chunk);
        p.client
            .publish(
                Topic::telemetry(gateway),
                QoS::AtLeastOnce,
                false,
                b.to_json(),
            )
            .await
            .expect("publish");
        n += 1;
    }
    n
}

/// (source, transition, to_level, reading time, evidence) of every warning event.
type Event = (String, String, Option<String>, i64, Value);

async fn events(store: &Store) -> anyhow::Result<Vec<Event>> {
    let rows: Vec<(String, String, Option<String>, Value)> = sqlx::query_as(
        "SELECT w.source, e.transition, e.to_level, e.evidence FROM warning_events e
         JOIN warnings w ON w.id = e.warning_id ORDER BY e.id",
    )
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(s, t, l, e)| {
            let ts = e["ts"].as_i64().unwrap_or(0);
            (s, t, l, ts, e)
        })
        .collect())
}

fn rank(level: &str) -> usize {
    ["blue", "yellow", "orange", "red"]
        .iter()
        .position(|l| *l == level)
        .map(|p| p + 1)
        .unwrap_or(0)
}

fn hours(ms: i64) -> f64 {
    ms as f64 / HOUR as f64
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geohazard_benches::init_tracing();
    let a = Args::parse();
    let world = World::start().await?;
    let store = &world.store;
    let pool = &store.pool;
    let deformation_site = fixtures::register_site(store, "SKILL-DEF").await;
    let rain_site = fixtures::register_site(store, "SKILL-RAIN").await;
    let gnss_site = fixtures::register_site(store, "SKILL-GNSS").await;
    let end = (chrono::Utc::now().timestamp_millis() / HOUR - 1) * HOUR;

    let mut rng = StdRng::seed_from_u64(a.seed);
    let mut creeps = Vec::new();
    for i in 0..a.series {
        let alpha = 1.7 + 0.5 * rng.random::<f64>();
        let to_failure = 5.0 + 10.0 * rng.random::<f64>();
        let v0 = 0.5 + 1.5 * rng.random::<f64>();
        let noise = 0.1 + 0.3 * rng.random::<f64>();
        let swing = 0.2 + 0.6 * rng.random::<f64>();
        // Failures spread over the last days so the series end at different hours.
        let end_i = end - (rng.random::<f64>() * 2.0 * DAY_MS) as i64;
        let fail = Some((alpha, to_failure));
        creeps.push(crack_series(
            &mut rng,
            format!("acc-{i}"),
            end_i,
            fail,
            v0,
            noise,
            swing,
        ));
        creeps.push(crack_series(
            &mut rng,
            format!("steady-{i}"),
            end_i,
            None,
            v0,
            noise,
            swing,
        ));
    }
    let gnss: Vec<Station> = (0..8)
        .map(|i| {
            let v = if i == 7 {
                30.0
            } else {
                0.5 + 8.5 * rng.random::<f64>()
            };
            let sd = 2.0 + 2.0 * rng.random::<f64>();
            let series = (0..120)
                .map(|d| {
                    let t = end - (119 - d) * DAY;
                    (t, 50.0 + v * d as f64 + sd * gauss(&mut rng))
                })
                .collect();
            (format!("gnss-{i}"), v, series)
        })
        .collect();
    let rain_start = (end / DAY - a.rain_years as i64 * 365) * DAY;
    let (rain, landslide_days) = rain_record(&mut rng, rain_start, a.rain_years);

    // Sensor faults, on a generator of their own so the series above stay as they were.
    let mut frng = StdRng::seed_from_u64(a.seed ^ 0x0fa1_7000);
    let faults = fault_series(&mut frng, end, a.faults);

    let def_gw = registry::upsert_gateway(pool, "gw-def", Some(deformation_site), "", None).await?;
    let gnss_gw = registry::upsert_gateway(pool, "gw-gnss", Some(gnss_site), "", None).await?;
    let rain_gw = registry::upsert_gateway(pool, "gw-rain", Some(rain_site), "", None).await?;
    let add = |gateway_id, site_id, channel: String, kind, interval| {
        let pool = pool.clone();
        async move {
            registry::upsert_sensor(
                &pool,
                &NewSensor {
                    gateway_id,
                    channel: &channel,
                    site_id,
                    kind,
                    unit: "mm",
                    location: None,
                    elevation_m: None,
                    depth_m: None,
                    sampling_interval_s: interval,
                },
            )
            .await
        }
    };
    for c in &creeps {
        add(
            def_gw,
            deformation_site,
            c.channel.clone(),
            SensorKind::CrackMeter,
            600,
        )
        .await?;
    }
    for (ch, _, _) in &gnss {
        add(gnss_gw, gnss_site, ch.clone(), SensorKind::Gnss, 86_400).await?;
    }
    add(
        rain_gw,
        rain_site,
        "rain-1".into(),
        SensorKind::RainGauge,
        3600,
    )
    .await?;

    let fault_site = fixtures::register_site(store, "SKILL-FAULT").await;
    let fault_gw = registry::upsert_gateway(pool, "gw-fault", Some(fault_site), "", None).await?;
    for c in faults.spikes.iter().chain(&faults.stuck) {
        add(
            fault_gw,
            fault_site,
            c.channel.clone(),
            SensorKind::CrackMeter,
            600,
        )
        .await?;
    }
    for (ch, _, _) in &faults.frozen {
        add(fault_gw, fault_site, ch.clone(), SensorKind::Gnss, 86_400).await?;
    }
    // Each rain gauge at a site of its own: its warnings are its own.
    for (i, g) in faults.rain.iter().enumerate() {
        for (twin, ch) in [("clean", &g.clean_channel), ("spike", &g.channel)] {
            let site = fixtures::register_site(store, &format!("SKILL-RAIN-{twin}-{i}")).await;
            let gw =
                registry::upsert_gateway(pool, &format!("gw-{ch}"), Some(site), "", None).await?;
            add(gw, site, ch.clone(), SensorKind::RainGauge, 3600).await?;
        }
    }
    // One duty officer for the county, so the SMS the lifecycle queues can be counted.
    fixtures::on_duty_now(store, "Duty officer", "13800000000", fixtures::COUNTY).await;
    sqlx::query("UPDATE duty_roster SET ends_at = now() + interval '7 days'")
        .execute(pool)
        .await?;

    let mut config = world.analyzer_config("skill-analyzer");
    config.engine.health_check_ms = 3_600_000;
    let analyzer = world.start_analyzer(config).await?;
    let p = world.client("skill-bench-pub", 200, 10_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let mut messages = 0;
    let mut readings = 0;
    for c in &creeps {
        messages += replay(&p, "gw-def", &c.channel, &c.readings).await;
        readings += c.readings.len();
    }
    for (ch, _, s) in &gnss {
        messages += replay(&p, "gw-gnss", ch, s).await;
        readings += s.len();
    }
    messages += replay(&p, "gw-rain", "rain-1", &rain).await;
    readings += rain.len();
    for c in faults.spikes.iter().chain(&faults.stuck) {
        messages += replay(&p, "gw-fault", &c.channel, &c.readings).await;
        readings += c.readings.len();
    }
    for (ch, _, s) in &faults.frozen {
        messages += replay(&p, "gw-fault", ch, s).await;
        readings += s.len();
    }
    for g in &faults.rain {
        for (ch, s) in [(&g.clean_channel, &g.clean), (&g.channel, &g.spiked)] {
            messages += replay(&p, &format!("gw-{ch}"), ch, s).await;
            readings += s.len();
        }
    }
    settle(&analyzer, messages, readings, Duration::from_secs(3600)).await?;
    let replay_s = started.elapsed().as_secs_f64();
    let ev = events(store).await?;

    println!(
        "## skill benchmark (seed {}, {} accelerating series and their steady twins)",
        a.seed, a.series
    );
    println!(
        "replayed {readings} readings in {messages} messages through the broker in {replay_s:.0} s"
    );
    println!();
    println!("### accelerating crack meters");
    println!(
        "| series | α | v0 mm/d | noise mm | swing mm | first red, h before failure | forecast error at first red, h (band) | naive at first red | at 24 h before | naive | at 6 h before | naive |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut red_before = 0;
    let mut within_tolerance = 0;
    let mut beats_naive = 0;
    let mut leads = Vec::new();
    let accelerating: Vec<&Creep> = creeps.iter().filter(|c| c.failure_ms.is_some()).collect();
    for c in &accelerating {
        let tf = c.failure_ms.unwrap_or(0);
        let mine = |e: &&Event| e.0.ends_with(&format!("/{}", c.channel));
        let first_red = ev
            .iter()
            .filter(mine)
            .find(|e| e.2.as_deref() == Some("red"))
            .map(|e| e.3);
        // The forecast the warning held at a moment: the latest one stored by then.
        let forecast_at = |at: i64| {
            ev.iter()
                .filter(mine)
                .filter(|e| e.0.starts_with("trend:") && e.3 <= at)
                .filter_map(|e| {
                    e.4["failure_forecast_ts"]
                        .as_i64()
                        .map(|f| (f, e.4["failure_band_h"].as_f64()))
                })
                .next_back()
        };
        let err = |f: Option<i64>| f.map(|f| hours(f - tf));
        let fmt = |e: Option<f64>| e.map(|e| format!("{e:+.1}")).unwrap_or("none".into());
        let (red_cell, at_red, naive_red) = match first_red {
            Some(r) if r < tf => {
                red_before += 1;
                let lead = tf - r;
                leads.push(hours(lead));
                let f = forecast_at(r);
                let e = err(f.map(|f| f.0));
                let naive = err(naive_forecast(&c.readings, r));
                let tolerance = hours(lead).mul_add(0.3, 0.0).max(12.0);
                if e.is_some_and(|e| e.abs() <= tolerance) {
                    within_tolerance += 1;
                }
                if e.is_some_and(|e| naive.is_none_or(|n| e.abs() <= n.abs())) {
                    beats_naive += 1;
                }
                let band = f
                    .and_then(|f| f.1)
                    .map(|b| format!(" (±{b:.1})"))
                    .unwrap_or_default();
                (
                    format!("{:.1}", hours(lead)),
                    format!("{}{band}", fmt(e)),
                    fmt(naive),
                )
            }
            Some(r) => (
                format!("after failure ({:+.1})", hours(r - tf)),
                "-".into(),
                "-".into(),
            ),
            None => ("never".into(), "-".into(), "-".into()),
        };
        let at = |h: i64| {
            let t = tf - h * HOUR;
            (
                fmt(err(forecast_at(t).map(|f| f.0))),
                fmt(err(naive_forecast(&c.readings, t))),
            )
        };
        let (f24, n24) = at(24);
        let (f6, n6) = at(6);
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {red_cell} | {at_red} | {naive_red} | {f24} | {n24} | {f6} | {n6} |",
            c.channel, c.alpha, c.v0, c.noise, c.swing
        );
    }
    let n = accelerating.len().max(1);
    println!();
    println!(
        "red before failure: {red_before} of {}; lead time median {:.1} h (min {:.1}, max {:.1})",
        accelerating.len(),
        median(leads.clone()),
        leads.iter().copied().fold(f64::INFINITY, f64::min),
        leads.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "forecast at first red within max(12 h, 30 % of lead): {within_tolerance} of {} ({:.0} %); at least as close as the naive baseline: {beats_naive} of {}",
        accelerating.len(),
        100.0 * within_tolerance as f64 / n as f64,
        accelerating.len()
    );

    let queued = queued_messages(store).await?;
    let sms: Vec<Message> = queued
        .iter()
        .filter(|m| m.channel == "sms")
        .cloned()
        .collect();
    print_forecast_skill(&accelerating, &ev, &queued);

    println!();
    println!("### steady crack meters (the twins) and daily GNSS");
    let months = |series: &[(i64, f64)]| {
        (series.last().map(|r| r.0).unwrap_or(0) - series.first().map(|r| r.0).unwrap_or(0)) as f64
            / (30.0 * DAY_MS)
    };
    let mut steady_months = 0.0;
    let mut counts = [0usize; 5];
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for c in creeps.iter().filter(|c| c.failure_ms.is_none()) {
        steady_months += months(&c.readings);
        for e in ev.iter().filter(|e| {
            e.0.ends_with(&format!("/{}", c.channel)) && (e.1 == "raised" || e.1 == "escalated")
        }) {
            counts[rank(e.2.as_deref().unwrap_or(""))] += 1;
            let rule = e.0.split(':').next().unwrap_or("").to_owned();
            *by_rule
                .entry(format!("{rule} {}", e.2.as_deref().unwrap_or("")))
                .or_default() += 1;
        }
    }
    println!("steady crack meters, warnings raised or escalated by rule and level: {by_rule:?}");
    println!(
        "steady crack meters: {:.1} sensor-months; per sensor-month: blue {:.2}, yellow {:.2}, orange {:.2}, red {:.2}",
        steady_months,
        counts[1] as f64 / steady_months,
        counts[2] as f64 / steady_months,
        counts[3] as f64 / steady_months,
        counts[4] as f64 / steady_months
    );
    for (ch, v, s) in &gnss {
        let top = ev
            .iter()
            .filter(|e| e.0.ends_with(&format!("/{ch}")))
            .filter_map(|e| e.2.as_deref())
            .max_by_key(|l| rank(l));
        let yellow_up = ev
            .iter()
            .filter(|e| {
                e.0.ends_with(&format!("/{ch}"))
                    && (e.1 == "raised" || e.1 == "escalated")
                    && e.2.as_deref().is_some_and(|l| rank(l) >= 2)
            })
            .count();
        println!(
            "GNSS {ch} (daily, {v:.1} mm/d, {:.1} months): highest level {}, {yellow_up} yellow-or-above warnings",
            months(s),
            top.unwrap_or("none")
        );
    }
    let judged: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT s.channel, j.rule, j.judged FROM sensor_judgement j JOIN sensors s ON s.id = j.sensor_id
         WHERE s.channel LIKE 'gnss-%' ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    println!(
        "GNSS rules judged at the end: {} of {}",
        judged.iter().filter(|j| j.2).count(),
        judged.len()
    );

    println!();
    println!(
        "### rainfall ({} years of hourly rain, {} landslide days)",
        a.rain_years,
        landslide_days.len()
    );
    // The rain level per day: the highest the warning reached that day.
    let mut day_level: BTreeMap<i64, usize> = BTreeMap::new();
    let mut level = 0usize;
    let mut since = rain_start;
    let mut yellow_since: Option<i64> = None;
    let mut yellow_episodes = Vec::new();
    let mark = |m: &mut BTreeMap<i64, usize>, from: i64, to: i64, l: usize| {
        if l == 0 {
            return;
        }
        for d in from.div_euclid(DAY)..=to.div_euclid(DAY) {
            let e = m.entry(d).or_default();
            *e = (*e).max(l);
        }
    };
    for e in ev.iter().filter(|e| e.0 == "rain:gw-rain/rain-1") {
        mark(&mut day_level, since, e.3, level);
        let new = e.2.as_deref().map(rank).unwrap_or(0);
        match (level >= 2, new >= 2) {
            (false, true) => yellow_since = Some(e.3),
            (true, false) => {
                if let Some(s) = yellow_since.take() {
                    yellow_episodes.push(hours(e.3 - s));
                }
            }
            _ => {}
        }
        level = new;
        since = e.3;
    }
    mark(
        &mut day_level,
        since,
        rain.last().map(|r| r.0).unwrap_or(since),
        level,
    );
    let days = |min: usize| day_level.values().filter(|l| **l >= min).count();
    let caught = |min: usize| {
        landslide_days
            .iter()
            .filter(|d| {
                day_level.get(d).is_some_and(|l| *l >= min)
                    || day_level.get(&(*d - 1)).is_some_and(|l| *l >= min)
            })
            .count()
    };
    let total_days = a.rain_years as usize * 365;
    for (name, min) in [("blue", 1), ("yellow", 2), ("orange", 3), ("red", 4)] {
        println!(
            "{name} or above: on {} of {total_days} days; caught {} of {} landslide days (on the day or the day before)",
            days(min),
            caught(min),
            landslide_days.len()
        );
    }
    println!(
        "yellow-or-above episodes: {}, median {:.0} h, longest {:.0} h",
        yellow_episodes.len(),
        median(yellow_episodes.clone()),
        yellow_episodes.iter().copied().fold(0.0, f64::max)
    );

    println!();
    println!(
        "### sensor faults (seed {} ^ 0x0fa17000, {} per kind)",
        a.seed, a.faults
    );
    print_faults(&faults, &ev, &sms);
    let steady_forecasts: usize = creeps
        .iter()
        .filter(|c| c.failure_ms.is_none())
        .map(|c| c.channel.clone())
        .chain(gnss.iter().map(|g| g.0.clone()))
        .chain(
            faults
                .spikes
                .iter()
                .chain(&faults.stuck)
                .map(|c| c.channel.clone()),
        )
        .chain(faults.frozen.iter().map(|f| f.0.clone()))
        .map(|ch| {
            ev.iter()
                .filter(|e| e.0.ends_with(&format!("/{ch}")))
                .filter(|e| e.4["failure_forecast_ts"].as_i64().is_some())
                .count()
        })
        .sum();
    let steady_series = creeps.iter().filter(|c| c.failure_ms.is_none()).count()
        + gnss.len()
        + 2 * faults.spikes.len()
        + faults.frozen.len();
    println!();
    println!(
        "forecasts stored on series that do not fail ({steady_series} series: steady twins, daily GNSS incl. 30 mm/d, fault series): {steady_forecasts}"
    );

    analyzer.stop().await;
    restart_case(&world, &mut rng, a.restarts, end).await?;
    drop(p);
    Ok(())
}

/// Waits until the analyzer has handled the replay: as many messages as were sent (a broker
/// redelivery after a lost connection counts twice, so that alone is not enough) and every
/// reading evaluated, or no new reading evaluated for 30 s after the messages are in.
async fn settle(
    analyzer: &geohazard_benches::Analyzer,
    messages: u64,
    readings: usize,
    limit: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let handled = analyzer.stats.messages.load(Ordering::Relaxed);
        let evaluated = analyzer.stats.readings.load(Ordering::Relaxed);
        if evaluated != last.0 {
            last = (evaluated, Instant::now());
        }
        if handled >= messages
            && (evaluated >= readings as u64 || last.1.elapsed() > Duration::from_secs(30))
        {
            return Ok(());
        }
        if started.elapsed() > limit {
            anyhow::bail!("the analyzer did not handle the replay in {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The red SMS of the failures, by whether a forecast was established when they went out.
#[derive(Default)]
struct RedSms {
    sent: usize,
    carrying: usize,
    while_established: usize,
    established_carrying: usize,
    before_forecast: usize,
    saying_none: usize,
    sensors_without: usize,
    later_established: usize,
    later_brought: usize,
    /// One line per red SMS without the forecast.
    missing: Vec<String>,
}

/// Band coverage, lead of red on creeps with a confident forecast 12 h before, the SMS each
/// failure sent and whether the red ones carry the forecast.
fn print_forecast_skill(accelerating: &[&Creep], ev: &[Event], messages: &[Message]) {
    let mut at_red = (0, 0);
    let mut last_day = (0, 0);
    let mut confident_12h = Vec::new();
    let mut per_failure = Vec::new();
    let mut app_per_failure = Vec::new();
    let mut resent = 0;
    let mut reds = RedSms::default();
    for c in accelerating {
        let tf = c.failure_ms.unwrap_or(0);
        let mine: Vec<&Event> = ev
            .iter()
            .filter(|e| e.0.ends_with(&format!("/{}", c.channel)))
            .collect();
        let forecast_at = |at: i64| {
            mine.iter()
                .filter(|e| e.0.starts_with("trend:") && e.3 <= at)
                .filter_map(|e| {
                    Some((
                        e.4["failure_forecast_ts"].as_i64()?,
                        e.4["failure_band_h"].as_f64()?,
                    ))
                })
                .next_back()
        };
        let holds = |(f, band): (i64, f64)| (f - tf).abs() as f64 <= band * HOUR as f64;
        let first_red = mine
            .iter()
            .find(|e| e.2.as_deref() == Some("red"))
            .map(|e| e.3);
        if let Some(f) = first_red.and_then(forecast_at) {
            at_red.1 += 1;
            at_red.0 += holds(f) as usize;
        }
        for e in mine.iter().filter(|e| e.3 >= tf - DAY && e.3 < tf) {
            if let (Some(f), Some(b)) = (
                e.4["failure_forecast_ts"].as_i64(),
                e.4["failure_band_h"].as_f64(),
            ) {
                last_day.1 += 1;
                last_day.0 += holds((f, b)) as usize;
            }
        }
        if forecast_at(tf - 12 * HOUR).is_some() {
            confident_12h.push((c.channel.clone(), c.v0, first_red.map(|r| hours(tf - r))));
        }
        let mine: Vec<&Message> = messages
            .iter()
            .filter(|m| m.source.ends_with(&format!("/{}", c.channel)))
            .collect();
        let mine_sms: Vec<&&Message> = mine.iter().filter(|m| m.channel == "sms").collect();
        per_failure.push(mine_sms.len() as f64);
        app_per_failure.push(mine.iter().filter(|m| m.channel == "app").count() as f64);
        resent += mine_sms
            .iter()
            .filter(|m| m.kind.starts_with("forecast"))
            .count();
        // Whether the store held a forecast for the sensor when a red was raised: the newest
        // forecast a trend event stored by then, the trend warning not closed since (a change
        // without a forecast keeps the stored one: it is what the console shows).
        let established = |at: i64| {
            ev.iter()
                .filter(|e| e.0.starts_with("trend:") && e.0.ends_with(&format!("/{}", c.channel)))
                .filter(|e| e.3 <= at)
                .rev()
                .take_while(|e| e.1 != "closed")
                .find_map(|e| e.4["failure_forecast_ts"].as_i64())
                .is_some_and(|f| f > at)
        };
        let mut without = false;
        for m in mine_sms.iter().filter(|m| m.kind == "red") {
            let carries = m.body.contains("预测失稳时间");
            reds.sent += 1;
            reds.carrying += carries as usize;
            if m.ts.is_some_and(established) {
                reds.while_established += 1;
                reds.established_carrying += carries as usize;
            } else {
                reds.before_forecast += 1;
                reds.saying_none += m.body.contains("尚无可靠预测") as usize;
                without |= !carries;
            }
            // Every red SMS without the forecast, explained: which rule, when, what it said.
            if !carries {
                let body: String = m.body.chars().take(60).collect();
                reds.missing.push(format!(
                    "{} {:.1} h before failure, forecast {}: {body}",
                    m.source,
                    m.ts.map(|t| hours(tf - t)).unwrap_or(f64::NAN),
                    if m.ts.is_some_and(established) {
                        "stored"
                    } else {
                        "none"
                    },
                ));
            }
        }
        // After a red without a forecast: did a later SMS bring one to the phone?
        if without {
            reds.sensors_without += 1;
            let first_without = mine_sms
                .iter()
                .position(|m| m.kind == "red" && !m.body.contains("预测失稳时间"))
                .unwrap_or(0);
            let red_at = mine_sms[first_without].ts.unwrap_or(i64::MIN);
            reds.later_established += ev.iter().any(|e| {
                e.0.starts_with("trend:")
                    && e.0.ends_with(&format!("/{}", c.channel))
                    && e.3 >= red_at
                    && e.4["failure_forecast_ts"].as_i64().is_some()
            }) as usize;
            reds.later_brought += mine_sms[first_without..]
                .iter()
                .any(|m| m.body.contains("预测失稳时间"))
                as usize;
            // What the phone got, in order: the level or forecast each SMS announced, when.
            let sent: Vec<String> = mine_sms
                .iter()
                .map(|m| {
                    let when = m.ts.map(|t| format!("{:.1} h", hours(tf - t)));
                    let carries = if m.body.contains("预测失稳时间") {
                        "with forecast"
                    } else {
                        "no forecast"
                    };
                    format!("{} {} ({carries})", m.kind, when.unwrap_or_default())
                })
                .collect();
            reds.missing
                .push(format!("{}: SMS sent: {}", c.channel, sent.join(", ")));
        }
    }
    let pct = |(a, b): (usize, usize)| 100.0 * a as f64 / b.max(1) as f64;
    println!(
        "95 % band holds the failure time: at first red {} of {} ({:.0} %); stored forecasts in the last 24 h {} of {} ({:.0} %)",
        at_red.0,
        at_red.1,
        pct(at_red),
        last_day.0,
        last_day.1,
        pct(last_day)
    );
    let early_enough = confident_12h
        .iter()
        .filter(|c| c.2.is_some_and(|l| l >= 6.0))
        .count();
    // Where red came late on such a creep, or on one of the three slowest: its warning events
    // over its last 36 h.
    let mut slow: Vec<&Creep> = accelerating.to_vec();
    slow.sort_by(|a, b| a.v0.total_cmp(&b.v0));
    let red_lead = |c: &Creep| {
        ev.iter()
            .filter(|e| e.0.ends_with(&format!("/{}", c.channel)))
            .find(|e| e.2.as_deref() == Some("red"))
            .map(|e| hours(c.failure_ms.unwrap_or(0) - e.3))
    };
    let mut late: Vec<(String, Option<f64>)> = confident_12h
        .iter()
        .filter(|c| c.2.is_none_or(|l| l < 6.0))
        .map(|c| (c.0.clone(), c.2))
        .collect();
    for c in slow.iter().take(3) {
        let lead = red_lead(c);
        if lead.is_none_or(|l| l < 6.0) && !late.iter().any(|l| l.0 == c.channel) {
            late.push((c.channel.clone(), lead));
        }
    }
    for (channel, lead) in &late {
        let Some(c) = accelerating.iter().find(|c| c.channel == *channel) else {
            continue;
        };
        let tf = c.failure_ms.unwrap_or(0);
        println!(
            "late red on {channel} (α {:.2}, v0 {:.2}, lead {lead:?}): events in its last 36 h (h before failure, source, transition, level, forecast error h, band h)",
            c.alpha, c.v0
        );
        for e in ev
            .iter()
            .filter(|e| e.0.ends_with(&format!("/{channel}")) && e.3 >= tf - 36 * HOUR)
        {
            let f = e.4["failure_forecast_ts"].as_i64().map(|f| hours(f - tf));
            println!(
                "  {:.1} {} {} {} {:?} {:?}",
                hours(tf - e.3),
                e.0,
                e.1,
                e.2.as_deref().unwrap_or("-"),
                f.map(|f| (f * 10.0).round() / 10.0),
                e.4["failure_band_h"].as_f64()
            );
            // The inverse-velocity fit behind a trend event, accepted or not: why no forecast.
            let iv = &e.4["inverse_velocity"];
            if !iv.is_null() {
                println!(
                    "      1/v fit: bins {}, accepted {}, slope t {}, r² {}, candidate error {:?} h, band {} h",
                    iv["bins"],
                    iv["accepted"],
                    iv["slope_t"],
                    iv["r2"],
                    iv["failure_forecast_ts"]
                        .as_i64()
                        .map(|f| (hours(f - tf) * 10.0).round() / 10.0),
                    iv["band_h"]
                );
            }
        }
    }
    println!(
        "creeps with a forecast stored by 12 h before failure: {}; red at least 6 h before failure on {} of them",
        confident_12h.len(),
        early_enough
    );
    let slowest: Vec<String> = slow
        .iter()
        .take(3)
        .map(|c| {
            let red = red_lead(c)
                .map(|l| format!("{l:.1} h"))
                .unwrap_or("never".into());
            format!("{} (v0 {:.2}): {red}", c.channel, c.v0)
        })
        .collect();
    println!(
        "red lead on the three slowest creeps: {}",
        slowest.join("; ")
    );
    println!(
        "messages per failure (all rules of the sensor): SMS median {:.0}, max {:.0} ({resent} forecasts sent again in all); app median {:.0}, max {:.0}",
        median(per_failure.clone()),
        per_failure.iter().copied().fold(0.0, f64::max),
        median(app_per_failure.clone()),
        app_per_failure.iter().copied().fold(0.0, f64::max),
    );
    println!(
        "red SMS carrying the failure forecast: {} of {}; sent while a forecast was established: {} (carrying it: {}); sent before any forecast: {} (saying there is none yet: {}); sensors whose red went out without a forecast: {} (a forecast established later on {}, brought by a later SMS on {})",
        reds.carrying,
        reds.sent,
        reds.while_established,
        reds.established_carrying,
        reds.before_forecast,
        reds.saying_none,
        reds.sensors_without,
        reds.later_established,
        reds.later_brought
    );
    for line in &reds.missing {
        println!("  red SMS without the forecast: {line}");
    }
}

/// Accelerating series weeks old by the wall clock (imported history): everything up to 20 h
/// before failure is in the store, a fresh analyzer starts, the rest is replayed.
async fn restart_case(world: &World, rng: &mut StdRng, n: usize, end: i64) -> anyhow::Result<()> {
    if n == 0 {
        return Ok(());
    }
    let store = &world.store;
    let pool = &store.pool;
    let site = fixtures::register_site(store, "SKILL-OLD").await;
    let gw = registry::upsert_gateway(pool, "gw-old", Some(site), "", None).await?;
    let mut series = Vec::new();
    for i in 0..n {
        let alpha = 1.7 + 0.5 * rng.random::<f64>();
        let to_failure = 5.0 + 10.0 * rng.random::<f64>();
        let v0 = 0.5 + 1.5 * rng.random::<f64>();
        let noise = 0.1 + 0.3 * rng.random::<f64>();
        let swing = 0.2 + 0.6 * rng.random::<f64>();
        let end_i = end - (10.0 + 10.0 * rng.random::<f64>()) as i64 * DAY;
        let c = crack_series(
            rng,
            format!("old-{i}"),
            end_i,
            Some((alpha, to_failure)),
            v0,
            noise,
            swing,
        );
        let id = registry::upsert_sensor(
            pool,
            &NewSensor {
                gateway_id: gw,
                channel: &c.channel,
                site_id: site,
                kind: SensorKind::CrackMeter,
                unit: "mm",
                location: None,
                elevation_m: None,
                depth_m: None,
                sampling_interval_s: 600,
            },
        )
        .await?;
        let tf = c.failure_ms.unwrap_or(0);
        let split = c.readings.partition_point(|r| r.0 < tf - 20 * HOUR);
        let mut rows = geohazard_store::ReadingRows::default();
        for (t, v) in &c.readings[..split] {
            rows.push(
                id,
                chrono::DateTime::from_timestamp_millis(*t).unwrap_or_default(),
                *v,
                0,
            );
        }
        fixtures::store_readings(store, &rows).await;
        series.push((c, split));
    }
    let analyzer = world
        .start_analyzer(world.analyzer_config("skill-restarted"))
        .await?;
    let p = world.client("skill-bench-old", 200, 10_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut messages = 0;
    for (c, split) in &series {
        messages += replay(&p, "gw-old", &c.channel, &c.readings[*split..]).await;
    }
    let readings = series
        .iter()
        .map(|(c, split)| c.readings.len() - split)
        .sum();
    settle(&analyzer, messages, readings, Duration::from_secs(1800)).await?;
    let ev = events(store).await?;
    let red: Vec<String> = series
        .iter()
        .map(|(c, _)| {
            let tf = c.failure_ms.unwrap_or(0);
            ev.iter()
                .filter(|e| e.0.ends_with(&format!("gw-old/{}", c.channel)))
                .find(|e| e.2.as_deref() == Some("red") && e.3 < tf)
                .map(|e| format!("{:.1} h", hours(tf - e.3)))
                .unwrap_or("none".into())
        })
        .collect();
    println!();
    println!(
        "### restarted on history {n} series 10-20 days old, 20 h before failure: red before failure on {} of {n} (lead: {})",
        red.iter().filter(|r| *r != "none").count(),
        red.join(", ")
    );
    analyzer.stop().await;
    drop(p);
    Ok(())
}

/// A rain gauge with one reading 100× the hours around it, and its clean twin.
struct RainSpike {
    channel: String,
    clean_channel: String,
    clean: Vec<(i64, f64)>,
    spiked: Vec<(i64, f64)>,
    at_ms: i64,
    mm: f64,
}

/// The sensor-fault cases (issue 22).
struct Faults {
    /// Steady crack meters with one reading ×100 (its time in `failure_ms`, misused as "the
    /// fault's time").
    spikes: Vec<Creep>,
    /// Steady crack meters stuck for 48 h, then catching up (the end of the spell in
    /// `failure_ms`).
    stuck: Vec<Creep>,
    rain: Vec<RainSpike>,
    frozen: Vec<Frozen>,
}

/// A daily GNSS station frozen for its last 10 days: (channel, frozen from, readings).
type Frozen = (String, i64, Vec<(i64, f64)>);

fn fault_series(rng: &mut StdRng, end: i64, n: usize) -> Faults {
    let steady = |rng: &mut StdRng, channel: String| {
        let v0 = 0.5 + 1.5 * rng.random::<f64>();
        let noise = 0.1 + 0.3 * rng.random::<f64>();
        let swing = 0.2 + 0.6 * rng.random::<f64>();
        crack_series(rng, channel, end, None, v0, noise, swing)
    };
    let mut spikes = Vec::new();
    let mut stuck = Vec::new();
    for i in 0..n {
        let mut c = steady(rng, format!("spike-{i}"));
        // Somewhere in the last five days, after the rules have their baselines.
        let at = c.readings.len() - 1 - (rng.random::<f64>() * 5.0 * 144.0) as usize;
        c.readings[at].1 *= 100.0;
        c.failure_ms = Some(c.readings[at].0);
        spikes.push(c);
        let mut c = steady(rng, format!("stuck-{i}"));
        let from =
            c.readings.len() - 1 - (4.0 * 144.0 + rng.random::<f64>() * 2.0 * 144.0) as usize;
        let value = c.readings[from].1;
        for r in &mut c.readings[from..from + 288] {
            r.1 = value;
        }
        c.failure_ms = Some(c.readings[from + 288].0);
        stuck.push(c);
    }
    let mut rain = Vec::new();
    for i in 0..n {
        let start = (end / DAY - 365) * DAY;
        let (clean, _) = rain_record(rng, start, 1);
        // An hour of light rain (0.3-2 mm) among hours under 2 mm, in the last 60 days.
        let light = |j: usize| clean[j].1 < 2.0;
        let candidates: Vec<usize> = (clean.len() - 60 * 24..clean.len() - 14 * 24)
            .filter(|j| clean[*j].1 >= 0.3 && (j - 2..=j + 2).all(light))
            .collect();
        let Some(&j) = candidates.get((rng.random::<f64>() * candidates.len() as f64) as usize)
        else {
            continue;
        };
        let around = (j - 2..=j + 2).map(|k| clean[k].1).fold(0.0, f64::max);
        let mut spiked = clean.clone();
        spiked[j].1 = (100.0 * around * 10.0).round() / 10.0;
        rain.push(RainSpike {
            channel: format!("rain-spike-{i}"),
            clean_channel: format!("rain-clean-{i}"),
            at_ms: clean[j].0,
            mm: spiked[j].1,
            clean,
            spiked,
        });
    }
    let frozen = (0..n)
        .map(|i| {
            let v = 2.0 + 3.0 * rng.random::<f64>();
            let sd = 2.0 + 2.0 * rng.random::<f64>();
            let mut series: Vec<(i64, f64)> = (0..60)
                .map(|d| (end - (59 - d) * DAY, 50.0 + v * d as f64 + sd * gauss(rng)))
                .collect();
            let from = series.len() - 10;
            let value = series[from].1;
            for r in &mut series[from..] {
                r.1 = value;
            }
            (format!("frozen-{i}"), series[from].0, series)
        })
        .collect();
    Faults {
        spikes,
        stuck,
        rain,
        frozen,
    }
}

/// A message the lifecycle queued.
#[derive(Clone)]
struct Message {
    source: String,
    /// The level it announced (`red`), or `forecast …` for a forecast sent again.
    kind: String,
    body: String,
    /// `sms` or `app`.
    channel: String,
    /// For a level's message: the reading time of the event that raised its warning to it.
    ts: Option<i64>,
}

/// Every message queued, in order.
async fn queued_messages(store: &Store) -> anyhow::Result<Vec<Message>> {
    let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT w.source, split_part(n.reason, '@', 1), coalesce(n.body, ''), n.channel,
                (SELECT e.evidence->>'ts' FROM warning_events e
                 WHERE e.warning_id = n.warning_id AND e.to_level::text = split_part(n.reason, '@', 1)
                 ORDER BY e.id LIMIT 1)
         FROM notifications n JOIN warnings w ON w.id = n.warning_id ORDER BY n.id",
    )
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(source, kind, body, channel, ts)| Message {
            source,
            kind,
            body,
            channel,
            ts: ts.and_then(|t| t.parse().ok()),
        })
        .collect())
}

/// Hazard levels raised or escalated to yellow or above on one sensor's warnings, and the reds.
fn yellow_and_red(ev: &[Event], channel: &str, from: i64, to: i64) -> (usize, usize) {
    let raised: Vec<usize> = ev
        .iter()
        .filter(|e| !e.0.starts_with("device:") && e.0.ends_with(&format!("/{channel}")))
        .filter(|e| (e.1 == "raised" || e.1 == "escalated") && e.3 >= from && e.3 <= to)
        .map(|e| rank(e.2.as_deref().unwrap_or("")))
        .filter(|l| *l >= 2)
        .collect();
    (raised.len(), raised.iter().filter(|l| **l == 4).count())
}

fn print_faults(faults: &Faults, ev: &[Event], sms: &[Message]) {
    let sms_of = |ch: &str| {
        sms.iter()
            .filter(|m| !m.source.starts_with("device:") && m.source.ends_with(&format!("/{ch}")))
            .count()
    };
    let device = |ch: &str, kind: &str| {
        ev.iter()
            .filter(|e| e.0 == format!("device:{kind}:{}", sensor_label(ch)) && e.1 == "raised")
            .count()
    };
    let mut device_sources: BTreeMap<String, usize> = BTreeMap::new();
    for e in ev
        .iter()
        .filter(|e| e.0.starts_with("device:") && e.1 == "raised")
    {
        let kind = e.0.rsplit_once('/').map(|(k, _)| k).unwrap_or(&e.0);
        *device_sources.entry(kind.to_owned()).or_default() += 1;
    }
    println!("device warnings raised, by kind and gateway: {device_sources:?}");
    println!(
        "| fault | series | yellow-or-above raised | red | hazard SMS | device warnings raised |"
    );
    println!("|---|---|---|---|---|---|");
    for (kind, series, device_kind) in [
        ("one reading ×100", &faults.spikes, "stuck"),
        ("stuck 48 h, then catching up", &faults.stuck, "stuck"),
    ] {
        let (mut y, mut r, mut m, mut d) = (0, 0, 0, 0);
        for c in series {
            let (yy, rr) = yellow_and_red(ev, &c.channel, i64::MIN, i64::MAX);
            y += yy;
            r += rr;
            m += sms_of(&c.channel);
            d += device(&c.channel, device_kind);
        }
        println!("| {kind} | {} | {y} | {r} | {m} | {d} |", series.len());
        // Each hazard level a fault raised, explained: which rule, when, on what evidence.
        for c in series {
            let fault_ms = c.failure_ms.unwrap_or(0);
            for e in ev.iter().filter(|e| {
                !e.0.starts_with("device:")
                    && e.0.ends_with(&format!("/{}", c.channel))
                    && (e.1 == "raised" || e.1 == "escalated")
                    && rank(e.2.as_deref().unwrap_or("")) >= 2
            }) {
                let evidence: String = e.4.to_string().chars().take(400).collect();
                println!(
                    "  {kind}: {} {} {} {:+.1} h from the fault: {evidence}",
                    e.0,
                    e.1,
                    e.2.as_deref().unwrap_or("-"),
                    hours(e.3 - fault_ms)
                );
            }
        }
    }
    let (mut y, mut r, mut m, mut d) = (0i64, 0i64, 0i64, 0);
    for g in &faults.rain {
        // Over the two weeks after the spike, beyond what the clean twin raised.
        let window = (g.at_ms - HOUR, g.at_ms + 14 * DAY);
        let (ys, rs) = yellow_and_red(ev, &g.channel, window.0, window.1);
        let (yc, rc) = yellow_and_red(ev, &g.clean_channel, window.0, window.1);
        y += ys as i64 - yc as i64;
        r += rs as i64 - rc as i64;
        m += sms_of(&g.channel) as i64 - sms_of(&g.clean_channel) as i64;
        d += device(&g.channel, "suspect");
    }
    println!(
        "| one hourly rain reading 100× its neighbours ({} mm), beyond its clean twin over 14 days | {} | {y} | {r} | {m} | {d} |",
        faults
            .rain
            .iter()
            .map(|g| format!("{:.0}", g.mm))
            .collect::<Vec<_>>()
            .join(", "),
        faults.rain.len()
    );
    let mut flagged = Vec::new();
    let (mut y, mut r) = (0, 0);
    for (ch, from, _) in &faults.frozen {
        let first = ev
            .iter()
            .find(|e| e.0 == format!("device:stuck:{}", sensor_label(ch)) && e.1 == "raised")
            .map(|e| e.3);
        flagged.push(
            first
                .map(|t| format!("{:.0}", (t - from) as f64 / DAY_MS))
                .unwrap_or("never".into()),
        );
        let (yy, rr) = yellow_and_red(ev, ch, *from, i64::MAX);
        y += yy;
        r += rr;
    }
    println!(
        "| daily GNSS frozen for 10 days (flagged after days: {}) | {} | {y} | {r} | - | - |",
        flagged.join(", "),
        faults.frozen.len()
    );
}

fn sensor_label(channel: &str) -> String {
    let gw = if channel.starts_with("rain-") {
        format!("gw-{channel}")
    } else {
        "gw-fault".into()
    };
    format!("{gw}/{channel}")
}
