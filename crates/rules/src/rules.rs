//! Rules: their parameters (JSON in `analyzer_rules`, per sensor kind with per-site and
//! per-sensor overrides merged key by key by `geohazard_warnings::rules`) and their evaluation
//! over a sensor's window.

use geohazard_protocol::Summary;
use serde::{Deserialize, Serialize};

pub use geohazard_warnings::ForecastResend;
pub use geohazard_warnings::rules::ThresholdParams;

use crate::levels::{Assessment, Direction, IdCurve, Level, LevelLines, Persistence, Thresholds};
use crate::methods::{self, DAY_MS, HOUR_MS};
use crate::window::Window;
pub use geohazard_warnings::evidence::GaugeConfirmation;
use geohazard_warnings::evidence::{
    AntecedentEvidence, Configured, Evidence, InverseVelocityEvidence, InverseVelocityFit,
    InverseVelocityMethod, RainWindowEvidence, RainfallEvidence, RateEvidence, SteadyFrom,
    ThresholdEvidence, TrendEvidence,
};

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
    /// Levels are judged on the velocity's lower confidence bound, v − z·SE: a creep just
    /// under a line does not cross it with every window's noise.
    pub velocity_z: f64,
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
            velocity_mm_per_day: Thresholds::some(2.0, 5.0, 10.0, 20.0),
            acceleration_mm_per_day2: Thresholds::default(),
            min_t: 3.0,
            velocity_z: 2.0,
            hysteresis_fraction: 0.15,
            // An hour of reading time as well: a velocity near a line must stay over (or under)
            // it that long before the level changes, so a creep close to the blue line does
            // not flap with every window's noise.
            persistence: Persistence {
                readings: 2,
                seconds: 3600,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RainWindow {
    pub hours: f64,
    pub levels: Thresholds,
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
    /// Antecedent rain alone raises more than blue only while the last 24 h brought at least
    /// this much rain: after a dry day the ground has drained, and wet ground is a reason for
    /// attention before the next rain, not a warning that holds for days.
    pub antecedent_active_mm: f64,
    pub hysteresis_fraction: f64,
    pub persistence: Persistence,
    /// A reading of at least `suspect_min_mm` and `suspect_ratio` times the largest of its
    /// neighbours in time (two each side within three sampling intervals, each counted as at
    /// least `suspect_floor_mm_per_h` times the hours one reading covers) is suspect: a device check, held out of the sums until the
    /// next reading confirms it (comes within the ratio) or refutes it (then it is dropped
    /// from every sum, antecedent ones included).
    pub suspect_ratio: f64,
    pub suspect_min_mm: f64,
    pub suspect_floor_mm_per_h: f64,
    /// Another rain gauge within this many kilometres (the sensors' locations, else their
    /// sites') confirms a suspect reading when it caught at least `confirm_fraction` of it over
    /// the same hours (one of its own readings either side): a real storm seen by two gauges
    /// counts at once. Without such a gauge, the reading waits for the gauge's next reading.
    pub confirm_radius_km: f64,
    pub confirm_fraction: f64,
}

impl Default for RainfallParams {
    fn default() -> Self {
        let w = |hours, t: Thresholds| RainWindow { hours, levels: t };
        RainfallParams {
            windows: vec![
                w(1.0, Thresholds::some(10.0, 20.0, 30.0, 50.0)),
                w(3.0, Thresholds::some(20.0, 40.0, 60.0, 90.0)),
                w(6.0, Thresholds::some(30.0, 50.0, 80.0, 110.0)),
                w(12.0, Thresholds::some(40.0, 60.0, 100.0, 130.0)),
                w(24.0, Thresholds::some(50.0, 80.0, 120.0, 150.0)),
                w(72.0, Thresholds::some(80.0, 120.0, 180.0, 250.0)),
            ],
            id_curve: IdCurve { a: 14.82, b: 0.39 },
            id_ratio_levels: Thresholds::some(1.0, 1.5, 2.5, 4.0),
            id_min_rain_mm: 5.0,
            antecedent_k: 0.84,
            antecedent_days: 14,
            antecedent_levels: Thresholds::some(60.0, 100.0, 150.0, 200.0),
            antecedent_active_mm: 10.0,
            hysteresis_fraction: 0.1,
            persistence: Persistence::readings(1),
            suspect_ratio: 50.0,
            suspect_min_mm: 20.0,
            suspect_floor_mm_per_h: 1.0,
            confirm_radius_km: 10.0,
            confirm_fraction: 0.1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InverseVelocityParams {
    /// 1/v is fitted over this many hours of velocities.
    pub window_h: f64,
    /// A velocity every `bin_h` hours, each the slope over the `smooth_h` hours before it (a
    /// moving window: 1/v of raw differences is mostly noise), placed at the middle of its span.
    pub bin_h: f64,
    pub smooth_h: f64,
    pub min_bins: usize,
    /// The fall of 1/v must stand out from its scatter by this many standard errors.
    pub min_slope_t: f64,
    /// A forecast is given when the fit is confident: its own band (the failure time's
    /// statistical error, without the model error below) narrower than this fraction of the
    /// time left or than `band_max_h` hours; and when the published band (with the model error)
    /// is narrower than the time left.
    pub band_max_fraction: f64,
    pub band_max_h: f64,
    /// Acceleration must be established: the fitted 1/v at the window's start this many times
    /// its value at the window's end (the velocity rose by that factor across the window).
    /// A steady slope's 1/v wanders about a constant and gives no forecast.
    pub min_velocity_gain: f64,
    /// The published band's half-width: the fit's own band — 2 standard errors of the failure
    /// time, with the error inflated for the overlap of the velocity windows (each `smooth_h`
    /// long, one every `bin_h`, so their errors are correlated: √(smooth_h / bin_h)) — and a
    /// model error of this fraction of the time left (creep does not follow α = 2 exactly),
    /// added in quadrature. The model error says where failure may fall; it is no measure of
    /// whether acceleration is established or failure near, so the gate and the level raised
    /// by a forecast go by the fit's own band (gating on the published one held back the
    /// forecast and its red: BENCHMARKS.md, issue 22).
    ///
    /// Calibrated, not fitted to the bench: on synthetic Voight creeps with α uniform in
    /// 1.7–2.2 (seeds 1–5 of `the_band_holds_the_failure_time_on_creeps_it_was_not_calibrated_on`'s
    /// generator, the skill bench's seeds held out), the fraction, in steps of 0.025, at which
    /// the accepted forecasts of the last 24 h held the failure time nearest the band's nominal
    /// 95 %: 0.275 held 94.3 % (0.20 86.7 %, 0.10 70.5 %, 0.30 would pass 95 %). As the gate goes
    /// by the fit's own band, the wider published band costs few forecasts (4,053 against
    /// 4,110 at 0.075); the misses are mostly creeps with α < 1.85, whose 1/v is convex and
    /// forecast early (the safe side).
    pub model_error_fraction: f64,
    /// A confident forecast (the far end of the fit's own band) within these hours raises the
    /// level itself: red without waiting for the velocity to cross a line.
    pub level_within_h: Thresholds,
    /// While a warning holds, a new forecast is stored and published when it moves by more than
    /// this fraction of the time left, and at least `tolerance_h` hours.
    pub tolerance_fraction: f64,
    pub tolerance_h: f64,
    /// A stored forecast update is also sent by SMS when it is materially earlier than the
    /// forecast the SMS already carried: by more than this share of the time that one left
    /// and at least these hours.
    pub resend: ForecastResend,
}

impl Default for InverseVelocityParams {
    fn default() -> Self {
        InverseVelocityParams {
            window_h: 24.0,
            bin_h: 1.0,
            smooth_h: 6.0,
            min_bins: 8,
            min_slope_t: 3.0,
            band_max_fraction: 0.5,
            band_max_h: 6.0,
            min_velocity_gain: 1.3,
            model_error_fraction: 0.275,
            level_within_h: Thresholds {
                red: Some(24.0),
                ..Thresholds::default()
            },
            tolerance_fraction: 0.1,
            tolerance_h: 1.0,
            resend: ForecastResend::default(),
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
    /// The angle is taken from the velocity's lower confidence bound, v − z·SE: a velocity
    /// that noise alone could give does not steepen the angle.
    pub velocity_z: f64,
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
            velocity_z: 2.0,
            angle_deg: Thresholds::some(65.0, 80.0, 85.0, 89.0),
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
    /// Identical consecutive values covering `stuck_h` hours of reading time (each reading
    /// covering one sampling interval), and at least this many of them, are a stuck sensor;
    /// `null` to skip (rain gauges). A time span, so a station read once a day is judged in
    /// days, not in a month of readings.
    pub stuck_samples: Option<u32>,
    pub stuck_h: f64,
    /// A supply-voltage sensor below this is a fault.
    pub min_supply_v: Option<f64>,
}

impl Default for HealthParams {
    fn default() -> Self {
        HealthParams {
            silence_multiple: 3.0,
            stuck_samples: Some(3),
            stuck_h: 5.0,
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
    /// Red (evacuation) from the combination needs the ground itself at least at this level:
    /// rain on a slope whose movement is only worth attention is not a reason to evacuate.
    pub red_min_displacement_level: Level,
}

impl Default for CombinedParams {
    fn default() -> Self {
        CombinedParams {
            rain_min_level: Level::Yellow,
            displacement_min_level: Level::Blue,
            raise_by: 1,
            red_min_displacement_level: Level::Orange,
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

impl SensorRules {
    /// The rules of a sensor (`scope`) merged from `set` as the analyzer evaluates them; a rule
    /// whose parameters do not parse is left out (and logged, `label` naming the sensor).
    pub fn from_set(
        set: &geohazard_warnings::rules::RuleSet,
        scope: geohazard_warnings::rules::Scope<'_>,
        label: &str,
    ) -> SensorRules {
        use geohazard_warnings::rules::RuleKind;
        SensorRules {
            threshold: set.params(scope, RuleKind::Threshold, label),
            rate: set.params(scope, RuleKind::Rate, label),
            rainfall: set.params(scope, RuleKind::Rainfall, label),
            trend: set.params(scope, RuleKind::Trend, label),
            health: set.params(scope, RuleKind::Health, label),
        }
    }
}

/// The outcome of one rule on one reading.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub assessment: Assessment,
    pub summary: Summary,
    pub evidence: Evidence,
    /// The failure forecast, in the engine's clock.
    pub forecast_ms: Option<i64>,
}

/// Why a rule could not judge a sensor's data (stored in `sensor_judgement.reason`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotJudged {
    #[error("{have} readings over {span_h:.1} h; needs {need} over {need_h:.1} h")]
    TooFewReadings {
        have: usize,
        span_h: f64,
        need: usize,
        need_h: f64,
    },
    #[error("no line fits the readings")]
    NoLineFits,
    #[error("no steady velocity yet: needs {days} days of daily means")]
    NoSteadyVelocity { days: u32 },
    #[error("learning the daily cycle: needs 36 h of readings")]
    LearningDailyCycle,
}

/// A rule's window in time, widened for sparse sensors to hold at least `min_points` readings
/// (`gap_ms`: the sensor's typical time between readings): a 6-hour velocity window is 6 days
/// for a GNSS station read once a day.
pub fn span_ms(window_h: f64, min_points: usize, gap_ms: i64) -> i64 {
    ((window_h * HOUR_MS as f64) as i64).max(min_points.max(3) as i64 * gap_ms)
}

/// Readings with time in (from, to] of a series in time order.
pub fn between(pts: &[(i64, f64)], from_ms: i64, to_ms: i64) -> &[(i64, f64)] {
    let a = pts.partition_point(|r| r.0 <= from_ms);
    let b = pts.partition_point(|r| r.0 <= to_ms);
    &pts[a..b.max(a)]
}

/// A velocity needs enough points spread over at least half its window: a slope from the
/// first hour after a start or a gap is mostly noise. `Err` says what is missing.
fn enough(pts: &[(i64, f64)], min_points: usize, win_ms: i64) -> Result<(), NotJudged> {
    let span = pts.last().map(|l| l.0).unwrap_or(0) - pts.first().map(|f| f.0).unwrap_or(0);
    if pts.len() >= min_points.max(3) && span >= win_ms / 2 {
        Ok(())
    } else {
        Err(NotJudged::TooFewReadings {
            have: pts.len(),
            span_h: span as f64 / HOUR_MS as f64,
            need: min_points.max(3),
            need_h: win_ms as f64 / 2.0 / HOUR_MS as f64,
        })
    }
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn eval_threshold(p: &ThresholdParams, ts: i64, value: f64, unit: &str) -> Evaluation {
    let a = p.levels.assess(value, p.direction, p.hysteresis);
    let summary = match a.up.and_then(|l| p.levels.get(l).map(|t| (l, t))) {
        Some((l, t)) => {
            let sign = if p.direction == Direction::Above {
                "≥"
            } else {
                "≤"
            };
            Summary::new(
                format!("value {value} {unit} {sign} {l} threshold {t} {unit}"),
                format!("测值 {value} {unit} {sign} {}阈值 {t} {unit}", l.name_zh()),
            )
        }
        None => Summary::new(
            format!("value {value} {unit}"),
            format!("测值 {value} {unit}"),
        ),
    };
    Evaluation {
        assessment: a,
        summary,
        evidence: Evidence::Threshold(ThresholdEvidence {
            ts,
            value,
            unit: unit.to_owned(),
            direction: p.direction,
            thresholds: p.levels,
            hysteresis: p.hysteresis,
        }),
        forecast_ms: None,
    }
}

/// `series`: the sensor's recent readings with the daily cycle taken out, in time order;
/// `gap_ms`: its typical time between readings.
pub fn eval_rate(
    p: &RateParams,
    series: &[(i64, f64)],
    ts: i64,
    gap_ms: i64,
) -> Result<Evaluation, NotJudged> {
    let win_ms = span_ms(p.window_h, p.min_points, gap_ms);
    let pts = between(series, ts - win_ms, ts);
    enough(pts, p.min_points, win_ms)?;
    let (fit, rejected) =
        methods::robust_velocity(pts, p.spike_k, p.spike_min).ok_or(NotJudged::NoLineFits)?;
    let n = pts.len();
    let accel_ms = span_ms(p.accel_window_h, p.min_points.max(5) + 2, gap_ms);
    let accel_pts = between(series, ts - accel_ms, ts);
    let accel = if accel_pts.len() >= p.min_points.max(5) {
        methods::robust_acceleration(accel_pts, p.spike_k, p.spike_min)
    } else {
        None
    };
    // What does not stand out from the scatter is judged as no movement at all.
    let significant = |x: f64, t: f64| if t >= p.min_t { x } else { 0.0 };
    let confident = |f: &methods::LineFit| {
        let t = f.slope_t();
        let se = if t > 0.0 && t.is_finite() {
            f.slope.abs() / t
        } else {
            0.0
        };
        (significant(f.slope, t) - p.velocity_z * se).max(0.0)
    };
    // Near failure the velocity doubles within hours and a 6 h line lags behind it: the
    // halves and quarters of the window are judged too, each on its own lower confidence
    // bound (a short window's larger error keeps its noise from raising anything).
    let mut v_confident = confident(&fit);
    let mut judged_window_ms = win_ms;
    // The window that decides is the one stated: a level comes with the numbers that raised it.
    let (mut fit, mut rejected, mut n) = (fit, rejected, n);
    for part in [2, 4] {
        let short_ms = win_ms / part;
        let short = between(series, ts - short_ms, ts);
        if short.len() >= p.min_points
            && enough(short, p.min_points, short_ms).is_ok()
            && let Some((f, r)) = methods::robust_velocity(short, p.spike_k, p.spike_min)
            && confident(&f) > v_confident
        {
            v_confident = confident(&f);
            judged_window_ms = short_ms;
            (fit, rejected, n) = (f, r, short.len());
        }
    }
    let v = fit.slope;
    let v_t = fit.slope_t();
    let v_se = if v_t > 0.0 && v_t.is_finite() {
        v.abs() / v_t
    } else {
        0.0
    };
    let judged_h = judged_window_ms as f64 / HOUR_MS as f64;
    let a = p
        .velocity_mm_per_day
        .assess_fraction(v_confident, Direction::Above, p.hysteresis_fraction)
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
    Ok(Evaluation {
        assessment: a,
        // Only figures that stand out from the scatter are stated as findings.
        summary: match (v_t >= p.min_t, accel.filter(|(_, t)| *t >= p.min_t)) {
            (true, Some((a, _))) => Summary::new(
                format!("velocity {v:.2} mm/d over {judged_h:.1} h, acceleration {a:.2} mm/d²"),
                format!("近 {judged_h:.1} 小时变形速率 {v:.2} mm/d，加速度 {a:.2} mm/d²"),
            ),
            (true, None) => Summary::new(
                format!("velocity {v:.2} mm/d over {judged_h:.1} h"),
                format!("近 {judged_h:.1} 小时变形速率 {v:.2} mm/d"),
            ),
            (false, Some((a, _))) => Summary::new(
                format!("acceleration {a:.2} mm/d²"),
                format!("变形加速度 {a:.2} mm/d²"),
            ),
            (false, None) => Summary::new("no significant movement", "无明显变形"),
        },
        evidence: Evidence::Rate(RateEvidence {
            ts,
            velocity_mm_per_day: r3(v),
            velocity_t: r3(v_t.min(1e6)),
            velocity_se: r3(v_se),
            velocity_judged: r3(v_confident),
            judged_window_h: r3(judged_h),
            acceleration_mm_per_day2: accel.map(|(a, _)| r3(a)),
            acceleration_t: accel.map(|(_, t)| r3(t.min(1e6))),
            min_t: p.min_t,
            fit_r2: r3(fit.r2),
            points: n,
            spikes_rejected: rejected,
            window_h: r3(win_ms as f64 / HOUR_MS as f64),
            thresholds: p.velocity_mm_per_day,
        }),
        forecast_ms: None,
    })
}

/// A rain reading out of line with its neighbours (see [`RainfallParams::suspect_ratio`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuspectRain {
    pub ts: i64,
    pub mm: f64,
    /// The largest neighbour it was compared with, mm.
    pub neighbours_mm: f64,
    /// How many times that neighbour (or the floor) it is.
    pub times: f64,
}

/// What the screen of a gauge's window found: readings refuted by the readings after them
/// (taken out of the window), the newest reading when it is suspect and waits for the next one,
/// and suspect readings another gauge nearby confirmed (they count).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RainScreen {
    pub refuted: Vec<SuspectRain>,
    pub pending: Option<SuspectRain>,
    pub confirmed: Vec<(SuspectRain, GaugeConfirmation)>,
}

/// The readings of a gauge's window orders of magnitude above their neighbours in time.
pub fn suspect_rain(p: &RainfallParams, raw: &[(i64, f64)], interval_ms: i64) -> Vec<SuspectRain> {
    let reach = 3 * interval_ms.max(1);
    // A daily total after a dry day is ordinary: the floor grows with what one reading covers.
    let floor = p.suspect_floor_mm_per_h * interval_ms as f64 / HOUR_MS as f64;
    let n = raw.len();
    let mut found = Vec::new();
    for i in 0..n {
        let (ts, mm) = raw[i];
        if mm < p.suspect_min_mm.max(f64::MIN_POSITIVE) {
            continue;
        }
        let near = |j: &usize| (raw[*j].0 - ts).abs() <= reach;
        let before = (i.saturating_sub(2)..i).filter(near).map(|j| raw[j].1);
        let after: Vec<f64> = (i + 1..(i + 3).min(n))
            .filter(near)
            .map(|j| raw[j].1)
            .collect();
        let neighbours = before.chain(after.iter().copied()).fold(0.0, f64::max);
        if mm < p.suspect_ratio * neighbours.max(floor) {
            continue;
        }
        found.push(SuspectRain {
            ts,
            mm,
            neighbours_mm: neighbours,
            times: mm / neighbours.max(floor).max(f64::MIN_POSITIVE),
        });
    }
    found
}

/// Whether another gauge's rain confirms a suspect reading (see
/// [`RainfallParams::confirm_fraction`]): it caught at least that fraction of it.
pub fn confirms(p: &RainfallParams, suspect: &SuspectRain, other_mm: f64) -> bool {
    other_mm > 0.0 && other_mm >= p.confirm_fraction * suspect.mm
}

/// Settles the suspect readings of a gauge's window: one another gauge confirmed counts; the
/// newest waits for the next reading; any other was refuted by the readings after it and is
/// taken out of the window (and so out of every sum, antecedent ones included).
pub fn screen_rain(
    w: &mut Window,
    suspects: Vec<SuspectRain>,
    confirmations: &[GaugeConfirmation],
) -> RainScreen {
    let newest = w.latest_ts();
    let mut screen = RainScreen::default();
    for s in suspects {
        if let Some(c) = confirmations.iter().find(|c| c.ts == s.ts) {
            screen.confirmed.push((s, c.clone()));
        } else if Some(s.ts) == newest {
            screen.pending = Some(s);
        } else {
            screen.refuted.push(s);
        }
    }
    for s in &screen.refuted {
        w.remove(s.ts);
    }
    screen
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

/// `interval_ms`: the gauge's sampling interval, the longest span one reading's rain is spread
/// over.
pub fn eval_rainfall(
    p: &RainfallParams,
    curve: IdCurve,
    w: &mut Window,
    ts: i64,
    interval_ms: i64,
) -> Evaluation {
    let mut hours: Vec<f64> = p.windows.iter().map(|x| x.hours).collect();
    hours.push(24.0);
    let acc = methods::accumulations(w.raw(), ts, &hours, interval_ms);
    let day0 = acc[hours.len() - 1];
    let mut a = Assessment::default();
    let mut windows = Vec::new();
    let mut worst: Option<(Level, Summary)> = None;
    let mut note = |l: Option<Level>, text: Summary| {
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
        note(
            wa.up,
            Summary::new(
                format!("{:.1} mm in {} h", mm, win.hours),
                format!("{} 小时雨量 {:.1} mm", win.hours, mm),
            ),
        );
        a = a.max(wa);
        let threshold_i = methods::id_threshold(curve.a, curve.b, win.hours);
        let ratio = if *mm >= p.id_min_rain_mm {
            (mm / win.hours) / threshold_i
        } else {
            0.0
        };
        id_ratio_max = id_ratio_max.max(ratio);
        windows.push(RainWindowEvidence {
            hours: win.hours,
            mm: r3(*mm),
            level: wa.up,
            id_threshold_mm_per_h: r3(threshold_i),
            id_ratio: r3(ratio),
        });
    }
    let ida =
        p.id_ratio_levels
            .assess_fraction(id_ratio_max, Direction::Above, p.hysteresis_fraction);
    note(
        ida.up,
        Summary::new(
            format!("intensity {id_ratio_max:.2}× the I–D threshold"),
            format!("雨强为 I–D 临界线的 {id_ratio_max:.2} 倍"),
        ),
    );
    a = a.max(ida);
    let mut daily = vec![day0];
    daily.extend(daily_rain(w, ts, p.antecedent_days));
    let effective = methods::antecedent_rainfall(&daily, p.antecedent_k);
    let mut ea =
        p.antecedent_levels
            .assess_fraction(effective, Direction::Above, p.hysteresis_fraction);
    let drained = day0 < p.antecedent_active_mm;
    if drained {
        let cap = |l: Option<Level>| l.map(|l| l.min(Level::Blue));
        ea = Assessment {
            up: cap(ea.up),
            hold: cap(ea.hold),
        };
    }
    note(
        ea.up,
        Summary::new(
            format!("effective rainfall {effective:.1} mm"),
            format!("有效降雨量 {effective:.1} mm"),
        ),
    );
    a = a.max(ea);
    let summary = worst
        .map(|(l, t)| {
            Summary::new(
                format!("{} ({l})", t.en),
                format!("{}（{}）", t.zh, l.name_zh()),
            )
        })
        .unwrap_or_else(|| Summary::new("rainfall below thresholds", "降雨未达阈值"));
    Evaluation {
        assessment: a,
        summary,
        evidence: Evidence::Rainfall(RainfallEvidence {
            ts,
            windows,
            id_curve: curve,
            id_ratio_max: r3(id_ratio_max),
            id_level: ida.up,
            antecedent: AntecedentEvidence {
                k: p.antecedent_k,
                daily_mm: daily.iter().map(|d| r3(*d)).collect(),
                effective_mm: r3(effective),
                level: ea.up,
                drained,
                active_mm: p.antecedent_active_mm,
            },
        }),
        forecast_ms: None,
    }
}

/// Steady-state velocity: the median of day-to-day changes of the daily mean (from hourly
/// means) over the long window before `before_ms`. Daily means cancel the thermal cycle; a
/// median, so the days of an acceleration under way do not count as "steady" until they are the
/// majority (and the engine freezes it while a trend warning holds). A day needs most of the
/// readings a day holds at the sensor's rate: 18 hours for a sensor read every hour or more
/// often, one reading for a daily one. Returns the velocity and how many day-to-day changes it
/// rests on.
pub fn steady_velocity(
    w: &Window,
    before_ms: i64,
    min_days: u32,
    gap_ms: i64,
) -> Option<(f64, usize)> {
    let end_day = before_ms.div_euclid(DAY_MS as i64);
    let first = w.hours(i64::MIN, i64::MAX).next()?.0;
    let start_day = (first * HOUR_MS).div_euclid(DAY_MS as i64);
    let per_day = (DAY_MS / gap_ms.max(1) as f64).min(24.0);
    let min_hours = ((0.75 * per_day).floor() as usize).max(1);
    let mut previous: Option<(i64, f64)> = None;
    let mut velocities = Vec::new();
    for day in start_day..end_day {
        let h0 = day * 24;
        let means: Vec<f64> = w.hours(h0, h0 + 24).filter_map(|(_, b)| b.mean()).collect();
        if means.len() < min_hours {
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

/// An accepted failure forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    pub at_ms: i64,
    /// The published band's half-width (the fit's own with the model error), stored and sent.
    pub band_ms: f64,
    /// The fit's own band's half-width: how confident the fit is and how near failure is.
    pub fit_band_ms: f64,
}

impl Forecast {
    /// Hours from `ts` to the far end of the fit's own band: the latest failure the fit allows,
    /// what [`InverseVelocityParams::level_within_h`] is judged on.
    pub fn far_end_h(&self, ts: i64) -> f64 {
        (self.at_ms as f64 + self.fit_band_ms - ts as f64) / HOUR_MS as f64
    }
}

/// The inverse-velocity forecast over a cleaned series (see [`InverseVelocityParams`]).
pub fn forecast(
    ip: &InverseVelocityParams,
    series: &[(i64, f64)],
    ts: i64,
    gap_ms: i64,
    spike_k: f64,
    spike_min: f64,
) -> (Option<InverseVelocityEvidence>, Option<Forecast>) {
    let smooth_ms = span_ms(ip.smooth_h, 6, gap_ms);
    let step_ms = ((ip.bin_h * HOUR_MS as f64) as i64).max(gap_ms).max(60_000);
    let window_ms = ((ip.window_h * HOUR_MS as f64) as i64).max(ip.min_bins as i64 * step_ms);
    let mut velocities = Vec::new();
    let mut to = ts;
    while to > ts - window_ms {
        let seg = between(series, to - smooth_ms, to);
        if enough(seg, 4, smooth_ms).is_ok()
            && let Some((f, _)) = methods::robust_velocity(seg, spike_k, spike_min)
        {
            velocities.push((to - smooth_ms / 2, f.slope));
        }
        to -= step_ms;
    }
    velocities.reverse();
    if velocities.len() < ip.min_bins {
        let too_few = InverseVelocityEvidence {
            method: InverseVelocityMethod::InverseVelocity,
            bins: velocities.len(),
            fit: None,
            accepted: false,
        };
        return (Some(too_few), None);
    }
    let Some(iv) = methods::inverse_velocity(&velocities, ts) else {
        return (None, None);
    };
    let overlap = (smooth_ms as f64 / step_ms as f64).max(1.0).sqrt();
    let fit_band_ms = iv.failure_se_ms.map(|se| 2.0 * se * overlap);
    let band_ms = iv.failure_ms.zip(fit_band_ms).map(|(f, fit)| {
        let model = 2.0 * ip.model_error_fraction * (f - ts).max(0) as f64;
        (fit.powi(2) + model.powi(2)).sqrt()
    });
    // 1/v at the first velocity and now, on the fitted line (days relative to now).
    let first_day = velocities
        .first()
        .map(|v| (v.0 - ts) as f64 / DAY_MS)
        .unwrap_or(0.0);
    let inverse_then = iv.fit.intercept + iv.fit.slope * first_day;
    let gain = inverse_then / iv.fit.intercept;
    let accelerating = iv.fit.intercept > 0.0 && gain >= ip.min_velocity_gain;
    let accepted = match (iv.failure_ms, fit_band_ms, band_ms) {
        (Some(f), Some(fit), Some(band)) => {
            let left = (f - ts) as f64;
            iv.slope_t >= ip.min_slope_t
                && accelerating
                && band < left
                && fit <= (ip.band_max_fraction * left).max(ip.band_max_h * HOUR_MS as f64)
        }
        _ => false,
    };
    let evidence = InverseVelocityEvidence {
        method: InverseVelocityMethod::InverseVelocity,
        bins: velocities.len(),
        fit: Some(InverseVelocityFit {
            bin_h: ip.bin_h,
            smooth_h: r3(smooth_ms as f64 / HOUR_MS as f64),
            slope_per_day: iv.fit.slope,
            intercept: iv.fit.intercept,
            r2: r3(iv.fit.r2),
            slope_t: r3(iv.slope_t.min(1e6)),
            failure_forecast_ts: iv.failure_ms,
            band_h: band_ms.map(|b| r3(b / HOUR_MS as f64)),
        }),
        accepted,
    };
    let forecast = match (iv.failure_ms, band_ms, fit_band_ms) {
        (Some(at_ms), Some(band_ms), Some(fit_band_ms)) if accepted => Some(Forecast {
            at_ms,
            band_ms,
            fit_band_ms,
        }),
        _ => None,
    };
    (Some(evidence), forecast)
}

/// `series`: the recent readings with the daily cycle taken out, in time order.
pub fn eval_trend(
    p: &TrendParams,
    series: &[(i64, f64)],
    ts: i64,
    gap_ms: i64,
    estimated_steady: Option<(f64, usize)>,
) -> Result<Evaluation, NotJudged> {
    let win_ms = span_ms(p.window_h, p.min_points, gap_ms);
    let (v_steady_raw, steady_from) = match p.steady_velocity_mm_per_day {
        Some(v) => (v, SteadyFrom::Configured(Configured::Configured)),
        None => {
            let (v, days) = estimated_steady.ok_or(NotJudged::NoSteadyVelocity {
                days: p.min_baseline_days + 1,
            })?;
            let from = SteadyFrom::Estimated {
                estimated_from_days: days,
            };
            (v, from)
        }
    };
    let v_steady = v_steady_raw
        .max(p.min_steady_mm_per_day)
        .max(f64::MIN_POSITIVE);
    let pts = between(series, ts - win_ms, ts);
    enough(pts, p.min_points, win_ms)?;
    let n = pts.len();
    let (fit, rejected) =
        methods::robust_velocity(pts, p.spike_k, p.spike_min).ok_or(NotJudged::NoLineFits)?;
    let se = fit.slope.abs() / fit.slope_t().max(f64::MIN_POSITIVE);
    let se = if se.is_finite() { se } else { 0.0 };
    let v_confident = (fit.slope - p.velocity_z * se).max(0.0);
    let alpha = methods::tangent_angle_deg(v_confident, v_steady);
    let mut a = p
        .angle_deg
        .assess(alpha, Direction::Above, p.hysteresis_deg);
    // Inverse velocity only once the slope accelerates: on a steady slope 1/v has no trend.
    let (inverse, forecast) = if a.hold.is_some() {
        forecast(
            &p.inverse_velocity,
            series,
            ts,
            gap_ms,
            p.spike_k,
            p.spike_min,
        )
    } else {
        (None, None)
    };
    // A confident forecast of failure soon is itself a reason for the level.
    if let Some(f) = forecast {
        a = a.max(
            p.inverse_velocity
                .level_within_h
                .assess(f.far_end_h(ts), Direction::Below, 0.0),
        );
    }
    // The engine adds the forecast to the summary, in wall-clock time.
    Ok(Evaluation {
        assessment: a,
        summary: Summary::new(
            format!(
                "tangent angle {alpha:.1}° (v {:.2} ± {:.2} mm/d, steady {:.2} mm/d)",
                fit.slope,
                p.velocity_z * se,
                v_steady
            ),
            format!(
                "改进切线角 {alpha:.1}°（速率 {:.2} ± {:.2} mm/d，等速段 {:.2} mm/d）",
                fit.slope,
                p.velocity_z * se,
                v_steady
            ),
        ),
        evidence: Evidence::ImprovedTangentAngle(TrendEvidence {
            ts,
            alpha_deg: r3(alpha),
            velocity_mm_per_day: r3(fit.slope),
            velocity_se: r3(se),
            velocity_z: p.velocity_z,
            steady_velocity_mm_per_day: r3(v_steady),
            steady_from,
            points: n,
            spikes_rejected: rejected,
            window_h: r3(win_ms as f64 / HOUR_MS as f64),
            thresholds_deg: p.angle_deg,
            inverse_velocity: inverse,
            failure_forecast_ts: forecast.map(|f| f.at_ms),
            failure_band_h: forecast.map(|f| r3(f.band_ms / HOUR_MS as f64)),
        }),
        forecast_ms: forecast.map(|f| f.at_ms),
    })
}

/// How many of the newest readings equal the newest one, and the time of the first of them.
pub fn identical_run(raw: &[(i64, f64)]) -> (usize, i64) {
    let Some(&(last_ts, last)) = raw.last() else {
        return (0, 0);
    };
    let n = raw.iter().rev().take_while(|r| r.1 == last).count();
    (n, raw.get(raw.len() - n).map(|r| r.0).unwrap_or(last_ts))
}

/// The readings that are not part of a stuck spell (see [`is_stuck`]): while a sensor is stuck
/// its readings say nothing of the ground, and the catch-up when it comes free is a step of
/// the device, not a movement; left out, the velocities after it are fitted from the readings
/// after it alone.
pub fn without_stuck(
    points: &[(i64, f64)],
    gap_ms: i64,
    h: Option<&HealthParams>,
) -> Vec<(i64, f64)> {
    let Some((min, hours)) = h.and_then(|h| h.stuck_samples.map(|m| (m, h.stuck_h))) else {
        return points.to_vec();
    };
    let mut out = Vec::with_capacity(points.len());
    let mut i = 0;
    while i < points.len() {
        let v = points[i].1;
        let n = points[i..].iter().take_while(|r| r.1 == v).count();
        let run = &points[i..i + n];
        if !is_stuck(n, run[0].0, run[n - 1].0, gap_ms, min, hours) {
            out.extend_from_slice(run);
        }
        i += n;
    }
    out
}

/// Whether a run of `n` identical readings from `first_ts` to `last_ts` is a stuck sensor:
/// at least `min` readings covering `hours` of reading time, the last one covering a
/// sampling interval (`gap_ms`) of its own.
pub fn is_stuck(n: usize, first_ts: i64, last_ts: i64, gap_ms: i64, min: u32, hours: f64) -> bool {
    let covered = last_ts - first_ts + gap_ms;
    n >= min.max(2) as usize && covered as f64 >= hours * HOUR_MS as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overrides_change_one_key_and_keep_the_rest() {
        let mut base = serde_json::to_value(RateParams::default()).unwrap();
        geohazard_warnings::rules::merge(
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
        let e = eval_rainfall(&p, p.id_curve, &mut w, ev.len() as i64 * 600_000, 600_000);
        assert_eq!(e.assessment.up, Some(Level::Orange), "{:?}", e.evidence);
    }

    /// Voight creeps like the skill bench's (α uniform in 1.7–2.2, 0.5–2 mm/d at the onset
    /// 5–15 days before failure, 0.1–0.4 mm gauge noise, 0.2–0.8 mm daily swing, a reading every
    /// 10 minutes): each creep's failure time and its readings of the last 5 days. A generator
    /// of its own (xorshift), so the calibration does not depend on a crate's random stream.
    fn synthetic_creeps(seed: u64, creeps: usize) -> Vec<(i64, Vec<(i64, f64)>)> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..creeps)
            .map(|_| {
                let alpha = 1.7 + 0.5 * next();
                let to_failure_d = 5.0 + 10.0 * next();
                let v0 = 0.5 + 1.5 * next();
                let noise = 0.1 + 0.3 * next();
                let swing = 0.2 + 0.6 * next();
                let phase = next() * std::f64::consts::TAU;
                let failure = 100 * DAY_MS as i64 + (next() * DAY_MS) as i64;
                let onset = failure - (to_failure_d * DAY_MS) as i64;
                let a = v0.powf(1.0 - alpha) / ((alpha - 1.0) * to_failure_d);
                let keep_from = failure - 5 * DAY_MS as i64;
                let (mut x, mut t, mut readings) = (10.0, onset, Vec::new());
                while t < failure - 300_000 {
                    for m in 0..10 {
                        let tau = (t + m * 60_000 - onset) as f64 / DAY_MS;
                        let v = (v0.powf(1.0 - alpha) - a * (alpha - 1.0) * tau)
                            .max(1e-9)
                            .powf(-1.0 / (alpha - 1.0));
                        x += v * 60_000.0 / DAY_MS;
                    }
                    t += 600_000;
                    if t >= keep_from {
                        let day = std::f64::consts::TAU * t as f64 / DAY_MS;
                        let (u1, u2) = (next().max(1e-12), next());
                        let gauss = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                        readings.push((t, x + swing * (day + phase).sin() + noise * gauss));
                    }
                }
                (failure, readings)
            })
            .collect()
    }

    /// The forecast at `now` as the engine makes it, its daily cycle fitted over 3 days and
    /// taken out.
    fn forecast_at(
        ip: &InverseVelocityParams,
        readings: &[(i64, f64)],
        now: i64,
    ) -> (Option<InverseVelocityEvidence>, Option<Forecast>) {
        let recent = |days: i64| between(readings, now - days * DAY_MS as i64, now);
        let clean = methods::without_cycle(recent(2), methods::diurnal_cycle(recent(3)));
        forecast(ip, &clean, now, 600_000, 3.5, 0.0)
    }

    /// The forecasts accepted every half hour of a creep's last 24 h: (time of the newest
    /// reading, forecast).
    fn last_day_forecasts(
        ip: &InverseVelocityParams,
        failure: i64,
        readings: &[(i64, f64)],
    ) -> Vec<(i64, Forecast)> {
        let mut out = Vec::new();
        let mut at = failure - 24 * HOUR_MS;
        while at < failure - 600_000 {
            let now = readings[readings.partition_point(|r| r.0 <= at) - 1].0;
            if let (_, Some(f)) = forecast_at(ip, readings, now) {
                out.push((now, f));
            }
            at += HOUR_MS / 2;
        }
        out
    }

    /// Seeds 2026, 7 and 99 (the skill bench's), 24 creeps each, not the calibration's 1–5.
    fn held_out_creeps() -> Vec<(i64, Vec<(i64, f64)>)> {
        [2026, 7, 99]
            .into_iter()
            .flat_map(|seed| synthetic_creeps(seed, 24))
            .collect()
    }

    #[test]
    fn the_band_holds_the_failure_time_on_creeps_it_was_not_calibrated_on() {
        let creeps = held_out_creeps();
        let coverage = |ip: &InverseVelocityParams| {
            let (mut given, mut held) = (0, 0);
            for (failure, readings) in &creeps {
                for (_, f) in last_day_forecasts(ip, *failure, readings) {
                    given += 1;
                    held += (((f.at_ms - failure) as f64).abs() <= f.band_ms) as usize;
                }
            }
            (given, held as f64 / given as f64)
        };
        let calibrated = InverseVelocityParams::default();
        let (given, held) = coverage(&calibrated);
        println!(
            "band held the failure time on {:.1} % of {given} forecasts",
            100.0 * held
        );
        // Near its nominal 95 % either way: a band that holds everything is too wide to use.
        assert!(
            (held - 0.95).abs() <= 0.05,
            "{:.1} % of {given} forecasts",
            100.0 * held
        );
        // Most creeps still get a forecast in their last 24 h: the band is not so wide that
        // the gate (narrower than half the time left, or 6 h) drops them.
        assert!(given > 1000, "{given} forecasts");
        // The uncalibrated 10 % model error held less.
        let (_, before) = coverage(&InverseVelocityParams {
            model_error_fraction: 0.1,
            ..calibrated
        });
        assert!(before < held, "{before} {held}");
    }

    /// Issue 22, item 7: the model error calibrated into the published band (27.5 % of the
    /// time left instead of 10 %) must not hold back the forecast or the red it raises. When
    /// the gate and the level went by the published band, it did: the model error alone is
    /// 35 % of the time left, most of the gate's 50 %, so on these creeps red came later on 58
    /// of 72 and 4 lost their forecast 12 h before failure. They go by the fit's own band;
    /// the one gate left on the published band is item 6's: narrower than the time left. It
    /// may hold back a red the 10 % band would raise in the last hours, and only where the
    /// published band is wider than the time left.
    #[test]
    fn the_published_bands_model_error_does_not_delay_the_forecast_or_the_red_it_raises() {
        let red = |ip: &InverseVelocityParams, now: i64, f: &Forecast| {
            let a = ip
                .level_within_h
                .assess(f.far_end_h(now), Direction::Below, 0.0);
            a.up == Some(Level::Red)
        };
        // Per creep: a forecast by 12 h before failure; when the forecast first raised red.
        let skill = |ip: &InverseVelocityParams, failure: i64, readings: &[(i64, f64)]| {
            let forecasts = last_day_forecasts(ip, failure, readings);
            let by_12h = forecasts
                .iter()
                .any(|(now, _)| *now <= failure - 12 * HOUR_MS);
            let first_red = forecasts.iter().find(|(now, f)| red(ip, *now, f));
            (by_12h, first_red.map(|r| r.0))
        };
        let calibrated = InverseVelocityParams::default();
        let uncalibrated = InverseVelocityParams {
            model_error_fraction: 0.1,
            ..calibrated.clone()
        };
        let (mut confident, mut reds, mut leads) = (0, 0, Vec::new());
        for (failure, readings) in held_out_creeps() {
            let (by_12h, red_at) = skill(&calibrated, failure, &readings);
            let (by_12h_before, red_at_before) = skill(&uncalibrated, failure, &readings);
            assert!(
                by_12h || !by_12h_before,
                "forecast 12 h before failure lost"
            );
            // Where the 10 % band's red came first, the calibrated forecast then was refused
            // by item 6's gate alone.
            let item_6 = |b: i64| match forecast_at(&calibrated, &readings, b).0 {
                Some(InverseVelocityEvidence {
                    fit: Some(fit),
                    accepted: false,
                    ..
                }) => fit
                    .failure_forecast_ts
                    .zip(fit.band_h)
                    .is_some_and(|(f, band)| band * HOUR_MS as f64 >= (f - b) as f64),
                _ => false,
            };
            let held_back = red_at_before.filter(|b| red_at.is_none_or(|r| r > *b));
            assert!(
                held_back.is_none_or(item_6),
                "red {:?} h before failure, {:?} h with the 10 % band",
                red_at.map(|r| (failure - r) as f64 / HOUR_MS as f64),
                red_at_before.map(|r| (failure - r) as f64 / HOUR_MS as f64)
            );
            confident += by_12h as usize;
            reds += red_at.is_some() as usize;
            leads.extend(red_at.map(|r| (failure - r) as f64 / HOUR_MS as f64));
        }
        println!(
            "of 72 creeps: {confident} with a forecast 12 h before failure, {reds} raised to red by it (lead median {:.1} h)",
            methods::median(&mut leads).unwrap_or(f64::NAN)
        );
        // Most of the 72: a gate that gave no forecast at all would pass the comparison above.
        assert!(confident > 36 && reds > 36, "{confident} {reds} of 72");
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
