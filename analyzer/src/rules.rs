//! Rules: their parameters (JSON in `analyzer_rules`, per sensor kind with per-site and
//! per-sensor overrides merged key by key) and their evaluation over a sensor's window.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::levels::{Assessment, Direction, Level, Persistence, Thresholds};
use crate::methods::{self, DAY_MS, HOUR_MS};
use crate::window::Window;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ThresholdParams {
    pub direction: Direction,
    pub levels: Thresholds,
    /// Absolute band below (above, for `below`) a threshold within which a level is held.
    pub hysteresis: f64,
    pub persistence: Persistence,
}

impl Default for ThresholdParams {
    fn default() -> Self {
        ThresholdParams {
            direction: Direction::Above,
            levels: Thresholds::default(),
            hysteresis: 0.0,
            persistence: Persistence::readings(3),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateParams {
    /// Velocity from a line fitted over this many hours.
    pub window_h: f64,
    /// Acceleration from a parabola fitted over this many hours.
    pub accel_window_h: f64,
    pub min_points: usize,
    /// Spike rejection: robust standard deviations (1.4826·MAD) a point may stray.
    pub spike_k: f64,
    /// Never call a jump smaller than this a spike (sensor resolution), in the sensor's unit.
    pub spike_min: f64,
    pub velocity_mm_per_day: Thresholds,
    pub acceleration_mm_per_day2: Thresholds,
    /// A fitted velocity or acceleration counts only when it stands out from the scatter by this
    /// many standard errors (its t-statistic): over a short window a noisy GNSS fix can give
    /// any velocity, and noise must not raise a warning.
    pub min_t: f64,
    pub hysteresis_fraction: f64,
    pub persistence: Persistence,
}

impl Default for RateParams {
    fn default() -> Self {
        RateParams {
            window_h: 6.0,
            accel_window_h: 24.0,
            min_points: 6,
            spike_k: 3.5,
            spike_min: 0.0,
            velocity_mm_per_day: Thresholds::new(2.0, 5.0, 10.0, 20.0),
            acceleration_mm_per_day2: Thresholds::default(),
            min_t: 3.0,
            hysteresis_fraction: 0.15,
            persistence: Persistence::readings(2),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RainWindow {
    pub hours: f64,
    pub levels: Thresholds,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct IdCurve {
    pub a: f64,
    pub b: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RainfallParams {
    /// Accumulation thresholds, mm, per sliding window.
    pub windows: Vec<RainWindow>,
    /// Default I–D curve when the site's region has none (Caine 1980, global).
    pub id_curve: IdCurve,
    /// Levels on the ratio of mean intensity to the I–D threshold at the same duration.
    pub id_ratio_levels: Thresholds,
    /// Below this much rain in a window, its intensity is not compared with the curve.
    pub id_min_rain_mm: f64,
    /// Decay coefficient k of effective antecedent rainfall Σ kⁱ·Rᵢ.
    pub antecedent_k: f64,
    pub antecedent_days: u32,
    pub antecedent_levels: Thresholds,
    pub hysteresis_fraction: f64,
    pub persistence: Persistence,
}

impl Default for RainfallParams {
    fn default() -> Self {
        let w = |hours, t: Thresholds| RainWindow { hours, levels: t };
        RainfallParams {
            windows: vec![
                w(1.0, Thresholds::new(10.0, 20.0, 30.0, 50.0)),
                w(3.0, Thresholds::new(20.0, 40.0, 60.0, 90.0)),
                w(6.0, Thresholds::new(30.0, 50.0, 80.0, 110.0)),
                w(12.0, Thresholds::new(40.0, 60.0, 100.0, 130.0)),
                w(24.0, Thresholds::new(50.0, 80.0, 120.0, 150.0)),
                w(72.0, Thresholds::new(80.0, 120.0, 180.0, 250.0)),
            ],
            id_curve: IdCurve { a: 14.82, b: 0.39 },
            id_ratio_levels: Thresholds::new(1.0, 1.5, 2.5, 4.0),
            id_min_rain_mm: 5.0,
            antecedent_k: 0.84,
            antecedent_days: 14,
            antecedent_levels: Thresholds::new(60.0, 100.0, 150.0, 200.0),
            hysteresis_fraction: 0.1,
            persistence: Persistence::readings(1),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InverseVelocityParams {
    pub window_h: f64,
    pub bin_h: f64,
    pub min_bins: usize,
    /// Forecasts with a poorer fit are not reported.
    pub min_r2: f64,
}

impl Default for InverseVelocityParams {
    fn default() -> Self {
        InverseVelocityParams {
            window_h: 48.0,
            bin_h: 3.0,
            min_bins: 5,
            min_r2: 0.7,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TrendParams {
    /// Current velocity from a robust line over this many hours.
    pub window_h: f64,
    pub min_points: usize,
    pub spike_k: f64,
    pub spike_min: f64,
    /// The steady-state (constant-velocity stage) velocity; estimated from the long window when
    /// not given.
    pub steady_velocity_mm_per_day: Option<f64>,
    /// Days of hourly means the estimate needs at least.
    pub min_baseline_days: u32,
    /// Floor of the steady velocity, so a nearly still sensor does not make every wiggle steep.
    pub min_steady_mm_per_day: f64,
    /// Tangent-angle thresholds, degrees.
    pub angle_deg: Thresholds,
    pub hysteresis_deg: f64,
    pub persistence: Persistence,
    pub inverse_velocity: InverseVelocityParams,
}

impl Default for TrendParams {
    fn default() -> Self {
        TrendParams {
            window_h: 6.0,
            min_points: 6,
            spike_k: 3.5,
            spike_min: 0.0,
            steady_velocity_mm_per_day: None,
            min_baseline_days: 3,
            min_steady_mm_per_day: 0.1,
            // Xu Qiang: > 45° accelerating; 80°, 85° and 89° mark medium acceleration,
            // accelerating acceleration and imminent failure. Blue is set at 65° rather than
            // 45° so the daily thermal swing of a steady crack meter (±0.05 mm on 0.5 mm/d,
            // up to ~61° over 6 h) does not raise attention warnings.
            angle_deg: Thresholds::new(65.0, 80.0, 85.0, 89.0),
            hysteresis_deg: 2.0,
            persistence: Persistence::readings(2),
            inverse_velocity: InverseVelocityParams::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthParams {
    /// A sensor (or a gateway: all its sensors) silent for this many sampling intervals is a fault.
    pub silence_multiple: f64,
    /// This many identical consecutive values is a stuck sensor; `null` to skip (rain gauges).
    pub stuck_samples: Option<u32>,
    /// A supply-voltage sensor below this is a fault.
    pub min_supply_v: Option<f64>,
}

impl Default for HealthParams {
    fn default() -> Self {
        HealthParams {
            silence_multiple: 3.0,
            stuck_samples: Some(30),
            min_supply_v: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CombinedParams {
    pub rain_min_level: Level,
    pub displacement_min_level: Level,
    /// Levels added on top of the higher of the two.
    pub raise_by: u8,
}

impl Default for CombinedParams {
    fn default() -> Self {
        CombinedParams {
            rain_min_level: Level::Yellow,
            displacement_min_level: Level::Blue,
            raise_by: 1,
        }
    }
}

/// The rules one sensor is evaluated with, parsed.
#[derive(Debug, Clone, Default)]
pub struct SensorRules {
    pub threshold: Option<ThresholdParams>,
    pub rate: Option<RateParams>,
    pub rainfall: Option<RainfallParams>,
    pub trend: Option<TrendParams>,
    pub health: Option<HealthParams>,
}

/// JSON merge patch (RFC 7396): `patch` onto `base`.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    // A null in an override means "no value" for optional parameters.
                    b.insert(k.clone(), Value::Null);
                } else {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// The outcome of one rule on one reading.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub assessment: Assessment,
    pub summary: String,
    pub evidence: Value,
    pub forecast_ms: Option<i64>,
}

/// A velocity needs enough points spread over at least half its window: a slope from the
/// first hour after a start or a gap is mostly noise.
fn enough(pts: &[(i64, f64)], min_points: usize, win_ms: i64) -> bool {
    pts.len() >= min_points.max(3)
        && pts.last().map(|l| l.0).unwrap_or(0) - pts.first().map(|f| f.0).unwrap_or(0)
            >= win_ms / 2
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn eval_threshold(p: &ThresholdParams, ts: i64, value: f64, unit: &str) -> Evaluation {
    let a = p.levels.assess(value, p.direction, p.hysteresis);
    let summary = match a.up.and_then(|l| p.levels.get(l).map(|t| (l, t))) {
        Some((l, t)) => format!(
            "value {value} {unit} {} {l} threshold {t} {unit}",
            if p.direction == Direction::Above {
                "≥"
            } else {
                "≤"
            }
        ),
        None => format!("value {value} {unit}"),
    };
    Evaluation {
        assessment: a,
        summary,
        evidence: json!({"method": "threshold", "ts": ts, "value": value, "unit": unit,
                          "direction": p.direction, "thresholds": p.levels, "hysteresis": p.hysteresis}),
        forecast_ms: None,
    }
}

pub fn eval_rate(p: &RateParams, w: &mut Window, ts: i64) -> Option<Evaluation> {
    let win_ms = (p.window_h * HOUR_MS as f64) as i64;
    let pts = w.raw_between(ts - win_ms, ts);
    if !enough(pts, p.min_points, win_ms) {
        return None;
    }
    let (fit, rejected) = methods::robust_velocity(pts, p.spike_k, p.spike_min)?;
    let n = pts.len();
    let accel_pts = w.raw_between(ts - (p.accel_window_h * HOUR_MS as f64) as i64, ts);
    let accel = if accel_pts.len() >= p.min_points.max(5) {
        methods::robust_acceleration(accel_pts, p.spike_k, p.spike_min)
    } else {
        None
    };
    let v = fit.slope;
    let v_t = fit.slope_t();
    // What does not stand out from the scatter is judged as no movement at all.
    let significant = |x: f64, t: f64| if t >= p.min_t { x } else { 0.0 };
    let a = p
        .velocity_mm_per_day
        .assess_fraction(significant(v, v_t), Direction::Above, p.hysteresis_fraction)
        .max(
            accel
                .map(|(a, t)| {
                    p.acceleration_mm_per_day2.assess_fraction(
                        significant(a, t),
                        Direction::Above,
                        p.hysteresis_fraction,
                    )
                })
                .unwrap_or_default(),
        );
    Some(Evaluation {
        assessment: a,
        summary: format!(
            "velocity {:.2} mm/d{}",
            v,
            accel
                .map(|(a, _)| format!(", acceleration {a:.2} mm/d²"))
                .unwrap_or_default()
        ),
        evidence: json!({"method": "rate", "ts": ts, "velocity_mm_per_day": r3(v),
            "velocity_t": r3(v_t.min(1e6)), "acceleration_mm_per_day2": accel.map(|(a, _)| r3(a)),
            "acceleration_t": accel.map(|(_, t)| r3(t.min(1e6))), "min_t": p.min_t,
            "fit_r2": r3(fit.r2), "points": n, "spikes_rejected": rejected,
            "window_h": p.window_h, "thresholds": p.velocity_mm_per_day}),
        forecast_ms: None,
    })
}

/// The rain that fell on each of the `days` days before the last 24 h, from hourly sums.
fn daily_rain(w: &Window, ts: i64, days: u32) -> Vec<f64> {
    let now_hour = ts.div_euclid(HOUR_MS);
    (1..=days as i64)
        .map(|d| {
            let to = now_hour + 1 - 24 * d;
            w.hours(to - 24, to).map(|(_, h)| h.sum).sum()
        })
        .collect()
}

pub fn eval_rainfall(p: &RainfallParams, curve: IdCurve, w: &mut Window, ts: i64) -> Evaluation {
    let mut hours: Vec<f64> = p.windows.iter().map(|x| x.hours).collect();
    hours.push(24.0);
    let acc = methods::accumulations(w.raw(), ts, &hours);
    let day0 = acc[hours.len() - 1];
    let mut a = Assessment::default();
    let mut windows = Vec::new();
    let mut worst: Option<(Level, String)> = None;
    let mut note = |l: Option<Level>, text: String| {
        if let Some(l) = l
            && worst.as_ref().is_none_or(|(w, _)| l > *w)
        {
            worst = Some((l, text));
        }
    };
    let mut id_ratio_max: f64 = 0.0;
    for (win, mm) in p.windows.iter().zip(&acc) {
        let wa = win
            .levels
            .assess_fraction(*mm, Direction::Above, p.hysteresis_fraction);
        note(wa.up, format!("{:.1} mm in {} h", mm, win.hours));
        a = a.max(wa);
        let threshold_i = methods::id_threshold(curve.a, curve.b, win.hours);
        let ratio = if *mm >= p.id_min_rain_mm {
            (mm / win.hours) / threshold_i
        } else {
            0.0
        };
        id_ratio_max = id_ratio_max.max(ratio);
        windows.push(json!({"hours": win.hours, "mm": r3(*mm), "level": wa.up,
                            "id_threshold_mm_per_h": r3(threshold_i), "id_ratio": r3(ratio)}));
    }
    let ida =
        p.id_ratio_levels
            .assess_fraction(id_ratio_max, Direction::Above, p.hysteresis_fraction);
    note(
        ida.up,
        format!("intensity {:.2}× the I–D threshold", id_ratio_max),
    );
    a = a.max(ida);
    let mut daily = vec![day0];
    daily.extend(daily_rain(w, ts, p.antecedent_days));
    let effective = methods::antecedent_rainfall(&daily, p.antecedent_k);
    let ea =
        p.antecedent_levels
            .assess_fraction(effective, Direction::Above, p.hysteresis_fraction);
    note(ea.up, format!("effective rainfall {effective:.1} mm"));
    a = a.max(ea);
    let summary = worst
        .map(|(l, t)| format!("{t} ({l})"))
        .unwrap_or_else(|| "rainfall below thresholds".into());
    Evaluation {
        assessment: a,
        summary,
        evidence: json!({"method": "rainfall", "ts": ts, "windows": windows,
            "id_curve": {"a": curve.a, "b": curve.b}, "id_ratio_max": r3(id_ratio_max),
            "id_level": ida.up, "antecedent": {"k": p.antecedent_k, "daily_mm": daily.iter().map(|d| r3(*d)).collect::<Vec<_>>(),
            "effective_mm": r3(effective), "level": ea.up}}),
        forecast_ms: None,
    }
}

/// Steady-state velocity: the median of day-to-day changes of the daily mean (from hourly
/// means) over the long window before the current one. Daily means cancel the thermal cycle; a
/// median, so the days of an acceleration under way do not count as "steady" until they are the
/// majority. Returns the velocity and how many day-to-day changes it rests on.
pub fn steady_velocity(w: &Window, before_ms: i64, min_days: u32) -> Option<(f64, usize)> {
    let end_day = before_ms.div_euclid(DAY_MS as i64);
    let first = w.hours(i64::MIN, i64::MAX).next()?.0;
    let start_day = (first * HOUR_MS).div_euclid(DAY_MS as i64);
    let mut previous: Option<(i64, f64)> = None;
    let mut velocities = Vec::new();
    for day in start_day..end_day {
        let h0 = day * 24;
        let means: Vec<f64> = w.hours(h0, h0 + 24).filter_map(|(_, b)| b.mean()).collect();
        // A day needs most of its hours for the thermal cycle to cancel out.
        if means.len() < 18 {
            continue;
        }
        let mean = means.iter().sum::<f64>() / means.len() as f64;
        if let Some((d, m)) = previous
            && d == day - 1
        {
            velocities.push(mean - m);
        }
        previous = Some((day, mean));
    }
    let n = velocities.len();
    if n < min_days.max(1) as usize {
        return None;
    }
    methods::median(&mut velocities).map(|v| (v, n))
}

pub fn eval_trend(
    p: &TrendParams,
    w: &mut Window,
    ts: i64,
    estimated_steady: Option<(f64, usize)>,
) -> Option<Evaluation> {
    let win_ms = (p.window_h * HOUR_MS as f64) as i64;
    let (v_steady_raw, steady_from) = match p.steady_velocity_mm_per_day {
        Some(v) => (v, json!("configured")),
        None => {
            let (v, days) = estimated_steady?;
            (v, json!({"estimated_from_days": days}))
        }
    };
    let v_steady = v_steady_raw
        .max(p.min_steady_mm_per_day)
        .max(f64::MIN_POSITIVE);
    let pts = w.raw_between(ts - win_ms, ts);
    if !enough(pts, p.min_points, win_ms) {
        return None;
    }
    let (fit, rejected) = methods::robust_velocity(pts, p.spike_k, p.spike_min)?;
    let alpha = methods::tangent_angle_deg(fit.slope, v_steady);
    let a = p
        .angle_deg
        .assess(alpha, Direction::Above, p.hysteresis_deg);
    // Inverse velocity only once the slope accelerates: on a steady slope 1/v has no trend.
    let mut inverse = Value::Null;
    let mut forecast_ms = None;
    if a.hold.is_some() {
        let ip = &p.inverse_velocity;
        let bin_ms = ((ip.bin_h * HOUR_MS as f64) as i64).max(60_000);
        let bins = ((ip.window_h / ip.bin_h).floor() as i64).max(2);
        let mut velocities = Vec::new();
        for b in 0..bins {
            let to = ts - b * bin_ms;
            let seg = w.raw_between(to - bin_ms, to);
            if seg.len() >= 3
                && let Some((f, _)) = methods::robust_velocity(seg, p.spike_k, p.spike_min)
            {
                velocities.push((to - bin_ms / 2, f.slope));
            }
        }
        velocities.reverse();
        if velocities.len() >= ip.min_bins
            && let Some(iv) = methods::inverse_velocity(&velocities, ts)
        {
            let good = iv.fit.r2 >= ip.min_r2;
            forecast_ms = iv.failure_ms.filter(|_| good);
            inverse = json!({"method": "inverse_velocity", "bins": velocities.len(), "bin_h": ip.bin_h,
                "slope_per_day": iv.fit.slope, "intercept": iv.fit.intercept, "r2": r3(iv.fit.r2),
                "failure_forecast_ts": iv.failure_ms, "accepted": good && iv.failure_ms.is_some()});
        }
    }
    // The engine adds the forecast to the summary, in wall-clock time.
    Some(Evaluation {
        assessment: a,
        summary: format!(
            "tangent angle {alpha:.1}° (v {:.2} mm/d, steady {:.2} mm/d)",
            fit.slope, v_steady
        ),
        evidence: json!({"method": "improved_tangent_angle", "ts": ts, "alpha_deg": r3(alpha),
            "velocity_mm_per_day": r3(fit.slope), "steady_velocity_mm_per_day": r3(v_steady),
            "steady_from": steady_from, "points": pts_len(w, ts, win_ms), "spikes_rejected": rejected,
            "window_h": p.window_h, "thresholds_deg": p.angle_deg, "inverse_velocity": inverse,
            "failure_forecast_ts": forecast_ms}),
        forecast_ms,
    })
}

fn pts_len(w: &mut Window, ts: i64, win_ms: i64) -> usize {
    w.raw_between(ts - win_ms, ts).len()
}

/// How many of the newest values equal the newest one.
pub fn identical_run(w: &Window) -> usize {
    let mut it = w.tail_values(usize::MAX);
    let Some(first) = it.next() else { return 0 };
    1 + it.take_while(|v| *v == first).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_change_one_key_and_keep_the_rest() {
        let mut base = serde_json::to_value(RateParams::default()).unwrap();
        merge(
            &mut base,
            &json!({"velocity_mm_per_day": {"red": 15.0}, "window_h": 3}),
        );
        let p: RateParams = serde_json::from_value(base).unwrap();
        assert_eq!(p.velocity_mm_per_day.red, Some(15.0));
        assert_eq!(p.velocity_mm_per_day.orange, Some(10.0));
        assert_eq!(p.window_h, 3.0);
    }

    #[test]
    fn a_rain_event_of_thirty_mm_per_hour_reaches_orange_by_default() {
        let p = RainfallParams::default();
        let mut w = Window::new(72 * HOUR_MS, 30 * 24 * HOUR_MS);
        let ev = geohazard_field_sim_free::triangle(30.0, 6.0);
        for (i, mm) in ev.iter().enumerate() {
            w.insert((i as i64 + 1) * 600_000, *mm);
        }
        let e = eval_rainfall(&p, p.id_curve, &mut w, ev.len() as i64 * 600_000);
        assert_eq!(e.assessment.up, Some(Level::Orange), "{}", e.evidence);
    }

    /// A triangular hyetograph in 10-minute steps, without pulling the simulator into unit tests.
    mod geohazard_field_sim_free {
        pub fn triangle(peak: f64, hours: f64) -> Vec<f64> {
            let n = (hours * 6.0) as usize;
            (0..n)
                .map(|i| {
                    let x = (i as f64 + 0.5) / n as f64;
                    peak * (1.0 - (2.0 * x - 1.0).abs()) / 6.0
                })
                .collect()
        }
    }
}
