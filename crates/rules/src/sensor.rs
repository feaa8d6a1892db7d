//! One sensor's hazard rules evaluated on its newest reading: the window and what is learnt
//! from it (the daily cycle, the steady velocity), and the order the rules are judged in. The
//! analyzer runs it on live readings; a backtest runs it over stored history.

use crate::levels::{IdCurve, Persistence};
use crate::methods::{self, DAY_MS, HOUR_MS};
use crate::rules::{self, Evaluation, NotJudged, RainScreen, SensorRules};
use crate::window::Window;
use geohazard_warnings::evidence::GaugeConfirmation;

/// The hazard a rule judges (the analyzer's warning source, without the sensor's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Hazard {
    Threshold,
    Rate,
    Trend,
    Rain,
}

/// The rules whose ability to judge a sensor is stored (`sensor_judgement.rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JudgedRule {
    Rate,
    Trend,
}

impl JudgedRule {
    pub fn as_str(self) -> &'static str {
        match self {
            JudgedRule::Rate => "rate",
            JudgedRule::Trend => "trend",
        }
    }
}

/// What the evaluation needs beside the sensor's rules and window.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub unit: &'a str,
    /// The sensor's sampling interval in the engine's clock.
    pub interval_ms: i64,
    /// The I–D curve of the site's region, when it has one.
    pub id_curve: Option<IdCurve>,
    /// Whether a trend warning holds for the sensor (its steady velocity is then frozen).
    pub trend_holding: bool,
    /// The newest reading arrived after a newer one (a point threshold does not judge it).
    pub late: bool,
}

/// The outcome of one reading.
#[derive(Debug)]
pub struct Evaluated {
    /// The newest reading the rules looked at.
    pub ts: i64,
    pub value: f64,
    /// The sensor's typical time between readings.
    pub gap_ms: i64,
    pub evals: Vec<(Hazard, Evaluation, Persistence)>,
    pub judgements: Vec<(JudgedRule, Result<(), NotJudged>)>,
    /// What the screen of a rain gauge's window found (rain gauges only).
    pub rain: Option<RainScreen>,
}

/// One sensor's window and what is learnt from it.
#[derive(Debug)]
pub struct SensorEval {
    pub window: Window,
    /// Estimated steady-state velocity and the hour of reading time it was estimated in.
    steady: Option<(f64, usize)>,
    steady_hour: i64,
    /// The daily (thermal) cycle (sin, cos amplitudes) and the hour it was fitted in.
    cycle: Option<(f64, f64)>,
    cycle_hour: i64,
}

/// The median time between a sensor's last readings.
pub fn typical_gap_ms(raw: &[(i64, f64)]) -> Option<i64> {
    let tail = &raw[raw.len().saturating_sub(17)..];
    let mut gaps: Vec<f64> = tail.windows(2).map(|w| (w[1].0 - w[0].0) as f64).collect();
    methods::median(&mut gaps)
        .map(|g| g as i64)
        .filter(|g| *g > 0)
}

/// How far back the deformation rules of a sensor look, at its sampling rate.
pub fn deformation_span_ms(r: &SensorRules, gap_ms: i64) -> i64 {
    let mut span = 0;
    if let Some(p) = &r.rate {
        span = span
            .max(rules::span_ms(p.window_h, p.min_points, gap_ms))
            .max(rules::span_ms(
                p.accel_window_h,
                p.min_points.max(5) + 2,
                gap_ms,
            ));
    }
    if let Some(p) = &r.trend {
        let ip = &p.inverse_velocity;
        span = span
            .max(rules::span_ms(p.window_h, p.min_points, gap_ms))
            .max(
                rules::span_ms(ip.window_h, ip.min_bins, gap_ms)
                    + rules::span_ms(ip.smooth_h, 6, gap_ms),
            );
    }
    span
}

impl SensorEval {
    pub fn new(raw_horizon_ms: i64, long_horizon_ms: i64) -> SensorEval {
        SensorEval {
            window: Window::new(raw_horizon_ms, long_horizon_ms),
            steady: None,
            steady_hour: i64::MIN,
            cycle: None,
            cycle_hour: i64::MIN,
        }
    }

    /// Evaluates the hazard rules `r` on the window as of its newest reading. `confirm` finds
    /// other gauges' confirmations of suspect rain readings (none: they wait for the next
    /// reading). `None` when the window is empty.
    pub fn evaluate(
        &mut self,
        r: &SensorRules,
        cx: Context<'_>,
        confirm: impl FnOnce(&rules::RainfallParams, &[rules::SuspectRain]) -> Vec<GaugeConfirmation>,
    ) -> Option<Evaluated> {
        let (now_ts, now_value) = self.window.latest()?;
        let mut evals: Vec<(Hazard, Evaluation, Persistence)> = Vec::new();
        // A point threshold judges readings in time order: a late one does not change the
        // current value, so it neither counts towards persistence nor against it.
        if let Some(p) = r.threshold.as_ref().filter(|_| !cx.late) {
            evals.push((
                Hazard::Threshold,
                rules::eval_threshold(p, now_ts, now_value, cx.unit),
                p.persistence,
            ));
        }
        let interval_ms = cx.interval_ms;
        let gap_ms = typical_gap_ms(self.window.raw()).unwrap_or(interval_ms);
        let mut judgements: Vec<(JudgedRule, Result<(), NotJudged>)> = Vec::new();
        // A sensor repeating one value says nothing new of the ground, and with the daily cycle
        // taken out its flat readings read as movement against the cycle (a crack meter stuck
        // at a high reading raised yellow an hour in: issue 22). While the newest readings are
        // such a run the deformation rules hold their levels; once it is long enough to be
        // stuck it is left out (`without_stuck`), and a run that ends is judged with the rest.
        let repeating = r
            .health
            .as_ref()
            .and_then(|h| h.stuck_samples)
            .is_some_and(|min| rules::identical_run(self.window.raw()).0 >= min.max(2) as usize);
        if (r.rate.is_some() || r.trend.is_some()) && !repeating {
            // Velocities and angles are judged on the series with its daily (thermal) cycle
            // taken out, refitted once per hour of reading time. A sensor read more often than
            // every 3 hours is judged only once the cycle is known: before that, a thermal
            // swing would read as movement.
            let hour = now_ts.div_euclid(HOUR_MS);
            if hour != self.cycle_hour {
                self.cycle = methods::diurnal_cycle(&rules::without_stuck(
                    self.window.raw_between(now_ts - 3 * DAY_MS as i64, now_ts),
                    gap_ms,
                    r.health.as_ref(),
                ));
                self.cycle_hour = hour;
            }
            let needs_cycle = gap_ms < 3 * HOUR_MS;
            let span = deformation_span_ms(r, gap_ms);
            let series = methods::without_cycle(
                &rules::without_stuck(
                    self.window.raw_between(now_ts - span, now_ts),
                    gap_ms,
                    r.health.as_ref(),
                ),
                self.cycle,
            );
            let learning = needs_cycle && self.cycle.is_none();
            if let Some(p) = &r.rate {
                let e = match learning {
                    true => Err(NotJudged::LearningDailyCycle),
                    false => rules::eval_rate(p, &series, now_ts, gap_ms),
                };
                judgements.push((
                    JudgedRule::Rate,
                    e.as_ref().map(|_| ()).map_err(Clone::clone),
                ));
                if let Ok(e) = e {
                    evals.push((Hazard::Rate, e, p.persistence));
                }
            }
            if let Some(p) = &r.trend {
                // The steady velocity is frozen while a trend warning holds: the acceleration
                // must not become the baseline it is measured against.
                if p.steady_velocity_mm_per_day.is_none()
                    && hour != self.steady_hour
                    && (!cx.trend_holding || self.steady.is_none())
                {
                    // Re-estimated once per hour of reading time: it moves slowly by design.
                    let before = now_ts - rules::span_ms(p.window_h, p.min_points, gap_ms);
                    self.steady =
                        rules::steady_velocity(&self.window, before, p.min_baseline_days, gap_ms);
                    self.steady_hour = hour;
                }
                let e = match learning {
                    true => Err(NotJudged::LearningDailyCycle),
                    false => rules::eval_trend(p, &series, now_ts, gap_ms, self.steady),
                };
                judgements.push((
                    JudgedRule::Trend,
                    e.as_ref().map(|_| ()).map_err(Clone::clone),
                ));
                if let Ok(e) = e {
                    evals.push((Hazard::Trend, e, p.persistence));
                }
            }
        }
        let mut rain = None;
        if let Some(p) = &r.rainfall {
            let curve = cx.id_curve.unwrap_or(p.id_curve);
            // A single reading orders of magnitude above its neighbours is a device check, and
            // counts towards no hazard level until the next reading or another gauge nearby
            // confirms it.
            let suspects = rules::suspect_rain(p, self.window.raw(), interval_ms);
            let confirmations = match suspects.is_empty() {
                true => Vec::new(),
                false => confirm(p, &suspects),
            };
            let screen = rules::screen_rain(&mut self.window, suspects, &confirmations);
            let held = screen
                .pending
                .and_then(|s| self.window.remove(s.ts).map(|v| (s.ts, v)));
            let eval = rules::eval_rainfall(p, curve, &mut self.window, now_ts, interval_ms);
            if let Some((t, v)) = held {
                self.window.insert(t, v);
            }
            evals.push((Hazard::Rain, eval, p.persistence));
            rain = Some(screen);
        }
        Some(Evaluated {
            ts: now_ts,
            value: now_value,
            gap_ms,
            evals,
            judgements,
            rain,
        })
    }
}
