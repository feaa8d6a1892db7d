//! What a sensor's rules would have raised over a stretch of stored history: its readings fed
//! one by one, in time order, through the analyzer's own evaluation ([`SensorEval`]) and level
//! trackers ([`Tracker`]), as if the analyzer had started at the stretch's beginning with its
//! window warm. A sensor is judged alone: a suspect rain reading waits for the gauge's next
//! reading, as it does when no other gauge is near. Device faults are not part of it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

use crate::levels::{IdCurve, Level, Tracker};
use crate::methods::{DAY_MS, HOUR_MS};
use crate::rules::SensorRules;
use crate::sensor::{Context, Hazard, SensorEval};
use crate::window::Insert;

/// The analyzer's default horizons (`[analyzer.engine] raw_horizon_h`, `long_horizon_days`).
pub const RAW_HORIZON_MS: i64 = 72 * HOUR_MS;
pub const LONG_HORIZON_MS: i64 = 30 * DAY_MS as i64;

/// The sensor as the evaluation needs it.
#[derive(Debug, Clone)]
pub struct Sensor {
    pub unit: String,
    pub sampling_interval_s: i32,
    pub id_curve: Option<IdCurve>,
}

/// One level change of a warning: when (reading time), to which level (`None`: closed), why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Step {
    pub at: DateTime<Utc>,
    #[schema(value_type = Option<String>)]
    pub level: Option<Level>,
    pub summary_zh: String,
    pub summary_en: String,
}

/// A warning the rules would have raised: from raising to closing (or still open at the end).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Warning {
    pub hazard: Hazard,
    pub raised_at: DateTime<Utc>,
    #[schema(value_type = String)]
    pub peak: Level,
    pub closed_at: Option<DateTime<Utc>>,
    pub steps: Vec<Step>,
}

/// How many warnings reached each level at their peak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ByLevel {
    pub blue: u32,
    pub yellow: u32,
    pub orange: u32,
    pub red: u32,
}

/// What one set of rules would have raised.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub warnings: Vec<Warning>,
    pub by_level: ByLevel,
    /// Readings evaluated (those in the stretch).
    pub readings: usize,
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Runs `rules` over `readings` (time order, ms and value), the ones before `from_ms` only
/// warming the window.
pub fn run(rules: &SensorRules, sensor: &Sensor, readings: &[(i64, f64)], from_ms: i64) -> Outcome {
    let mut eval = SensorEval::new(RAW_HORIZON_MS, LONG_HORIZON_MS);
    let mut trackers: HashMap<Hazard, Tracker> = HashMap::new();
    let mut open: HashMap<Hazard, usize> = HashMap::new();
    let mut warnings: Vec<Warning> = Vec::new();
    let mut evaluated = 0;
    let interval_ms = sensor.sampling_interval_s.max(1) as i64 * 1000;
    for &(ts, value) in readings {
        let late = match eval.window.insert(ts, value) {
            Insert::Duplicate | Insert::TooOld => continue,
            Insert::Newest => false,
            Insert::Late => true,
        };
        if ts < from_ms {
            continue;
        }
        evaluated += 1;
        let cx = Context {
            unit: &sensor.unit,
            interval_ms,
            id_curve: sensor.id_curve,
            trend_holding: trackers
                .get(&Hazard::Trend)
                .is_some_and(|t| t.level.is_some()),
            late,
        };
        let Some(out) = eval.evaluate(rules, cx, |_, _| Vec::new()) else {
            continue;
        };
        for (hazard, e, persistence) in out.evals {
            let tracker = trackers.entry(hazard).or_default();
            let Some(change) = tracker.update(e.assessment, out.ts, persistence) else {
                continue;
            };
            let step = Step {
                at: time(out.ts),
                level: change.to,
                summary_zh: e.summary.zh.clone(),
                summary_en: e.summary.en.clone(),
            };
            match (open.get(&hazard).copied(), change.to) {
                (None, Some(level)) => {
                    open.insert(hazard, warnings.len());
                    warnings.push(Warning {
                        hazard,
                        raised_at: step.at,
                        peak: level,
                        closed_at: None,
                        steps: vec![step],
                    });
                }
                (Some(i), to) => {
                    let w = &mut warnings[i];
                    if let Some(level) = to {
                        w.peak = w.peak.max(level);
                    } else {
                        w.closed_at = Some(step.at);
                        open.remove(&hazard);
                    }
                    w.steps.push(step);
                }
                (None, None) => {}
            }
        }
    }
    let mut by_level = ByLevel::default();
    for w in &warnings {
        match w.peak {
            Level::Blue => by_level.blue += 1,
            Level::Yellow => by_level.yellow += 1,
            Level::Orange => by_level.orange += 1,
            Level::Red => by_level.red += 1,
        }
    }
    Outcome {
        warnings,
        by_level,
        readings: evaluated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::levels::{Persistence, Thresholds};
    use crate::rules::ThresholdParams;

    #[test]
    fn a_level_held_for_three_readings_is_raised_and_closed_when_the_value_falls_back() {
        let rules = SensorRules {
            threshold: Some(ThresholdParams {
                levels: Thresholds::some(1.0, 2.0, 3.0, 4.0),
                persistence: Persistence::readings(3),
                ..ThresholdParams::default()
            }),
            ..SensorRules::default()
        };
        let sensor = Sensor {
            unit: "m".into(),
            sampling_interval_s: 600,
            id_curve: None,
        };
        let values = [0.0, 2.5, 2.5, 2.5, 2.5, 0.0, 0.0, 0.0];
        let readings: Vec<(i64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (1_700_000_000_000 + i as i64 * 600_000, *v))
            .collect();
        let out = run(&rules, &sensor, &readings, 0);
        assert_eq!(out.readings, 8);
        assert_eq!(out.warnings.len(), 1);
        let w = &out.warnings[0];
        assert_eq!(w.peak, Level::Yellow);
        assert_eq!(w.raised_at.timestamp_millis(), readings[3].0);
        assert_eq!(
            w.closed_at.map(|t| t.timestamp_millis()),
            Some(readings[7].0)
        );
        assert_eq!(out.by_level.yellow, 1);
    }

    /// Issue 22, item 2: a crack meter that sticks is a device fault, not movement. With its
    /// daily cycle taken out, the flat readings of a stuck sensor read as movement against the
    /// cycle; stuck at a high reading, they read as a step.
    #[test]
    fn a_crack_meter_stuck_at_any_hour_of_the_day_raises_no_hazard_level_above_blue() {
        use crate::rules::{HealthParams, RateParams, TrendParams};
        let rules = SensorRules {
            rate: Some(RateParams::default()),
            trend: Some(TrendParams::default()),
            health: Some(HealthParams::default()),
            ..SensorRules::default()
        };
        let sensor = Sensor {
            unit: "mm".into(),
            sampling_interval_s: 600,
            id_curve: None,
        };
        let start = 1_790_000_000_000 / DAY_MS as i64 * DAY_MS as i64;
        let step = 600_000;
        // Gauge noise from a fixed sequence (sum of uniforms), 0.2 mm.
        let mut seed: u64 = 22;
        let mut noise = move || {
            let mut sum = 0.0;
            for _ in 0..12 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                sum += (seed >> 11) as f64 / (1u64 << 53) as f64;
            }
            0.2 * (sum - 6.0)
        };
        let clean: Vec<(i64, f64)> = (0..30 * 144)
            .map(|i| {
                let t = start + i * step;
                let d = (t - start) as f64 / DAY_MS;
                let thermal = 0.6 * (std::f64::consts::TAU * d).sin();
                (t, 10.0 + 1.0 * d + thermal + noise())
            })
            .collect();
        for hour in 0..24 {
            // Stuck for 48 h from day 25 at this hour, 0.6 mm above the reading it stuck at (a
            // high reading); then free again.
            let from = 25 * 144 + hour * 6;
            let value = clean[from].1 + 0.6;
            let mut readings = clean.clone();
            for r in &mut readings[from..from + 288] {
                r.1 = value;
            }
            let out = run(&rules, &sensor, &readings, readings[20 * 144].0);
            let raised: Vec<String> = out
                .warnings
                .iter()
                .filter(|w| w.peak > Level::Blue)
                .map(|w| format!("{:?} {:?} at {}", w.hazard, w.peak, w.raised_at))
                .collect();
            assert!(
                raised.is_empty(),
                "stuck from hour {hour}: raised {raised:?}"
            );
        }
    }
}
