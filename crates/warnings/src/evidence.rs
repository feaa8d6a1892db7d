//! What a rule saw when it judged, as stored with a warning and its transitions (the `evidence`
//! column and field, read by the console and by people). Typed when written (the analyzer) and
//! when read (the command-center's detail, a console's live message): the shape is fixed in one
//! place, the `method` tag and field names are the stored JSON's, and a stored row this code
//! cannot read is an error naming its warning, never passed on as it is.
//!
//! A number that is not finite is stored as `null` (JSON has no NaN) and read back as NaN.

use geohazard_protocol::GatewayStatus;
use geohazard_protocol::warning::WarningLevel as Level;
use serde::{Deserialize, Deserializer, Serialize};

use crate::rules::{Direction, IdCurve, Thresholds};

/// An `f64` field that may have been stored as `null` (NaN or an infinity when written).
fn finite_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The evidence of one evaluation, by method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Evidence {
    Threshold(ThresholdEvidence),
    Rate(RateEvidence),
    Rainfall(RainfallEvidence),
    ImprovedTangentAngle(TrendEvidence),
    GatewayStatus(GatewayStatusEvidence),
    Silence(SilenceEvidence),
    Stuck(StuckEvidence),
    SuspectReading(SuspectEvidence),
    Combined(CombinedEvidence),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdEvidence {
    pub ts: i64,
    #[serde(deserialize_with = "finite_or_null")]
    pub value: f64,
    pub unit: String,
    pub direction: Direction,
    pub thresholds: Thresholds,
    #[serde(deserialize_with = "finite_or_null")]
    pub hysteresis: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateEvidence {
    pub ts: i64,
    #[serde(deserialize_with = "finite_or_null")]
    pub velocity_mm_per_day: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub velocity_t: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub velocity_se: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub velocity_judged: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub judged_window_h: f64,
    pub acceleration_mm_per_day2: Option<f64>,
    pub acceleration_t: Option<f64>,
    #[serde(deserialize_with = "finite_or_null")]
    pub min_t: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub fit_r2: f64,
    pub points: usize,
    pub spikes_rejected: usize,
    #[serde(deserialize_with = "finite_or_null")]
    pub window_h: f64,
    pub thresholds: Thresholds,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RainfallEvidence {
    pub ts: i64,
    pub windows: Vec<RainWindowEvidence>,
    pub id_curve: IdCurve,
    #[serde(deserialize_with = "finite_or_null")]
    pub id_ratio_max: f64,
    pub id_level: Option<Level>,
    pub antecedent: AntecedentEvidence,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RainWindowEvidence {
    #[serde(deserialize_with = "finite_or_null")]
    pub hours: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub mm: f64,
    pub level: Option<Level>,
    #[serde(deserialize_with = "finite_or_null")]
    pub id_threshold_mm_per_h: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub id_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AntecedentEvidence {
    #[serde(deserialize_with = "finite_or_null")]
    pub k: f64,
    pub daily_mm: Vec<f64>,
    #[serde(deserialize_with = "finite_or_null")]
    pub effective_mm: f64,
    pub level: Option<Level>,
    pub drained: bool,
    #[serde(deserialize_with = "finite_or_null")]
    pub active_mm: f64,
}

/// The improved tangent angle, with the inverse-velocity forecast once the slope accelerates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendEvidence {
    pub ts: i64,
    #[serde(deserialize_with = "finite_or_null")]
    pub alpha_deg: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub velocity_mm_per_day: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub velocity_se: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub velocity_z: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub steady_velocity_mm_per_day: f64,
    pub steady_from: SteadyFrom,
    pub points: usize,
    pub spikes_rejected: usize,
    #[serde(deserialize_with = "finite_or_null")]
    pub window_h: f64,
    pub thresholds_deg: Thresholds,
    /// `null` while the angle holds no level, or when no velocities could be fitted.
    pub inverse_velocity: Option<InverseVelocityEvidence>,
    pub failure_forecast_ts: Option<i64>,
    pub failure_band_h: Option<f64>,
}

/// Where the steady-state velocity came from: `"configured"`, or `{"estimated_from_days": n}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SteadyFrom {
    Configured(Configured),
    Estimated { estimated_from_days: usize },
}

/// The string `"configured"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Configured {
    Configured,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InverseVelocityEvidence {
    /// Always `inverse_velocity`.
    pub method: InverseVelocityMethod,
    pub bins: usize,
    /// The fit, absent when there were too few velocities to fit.
    #[serde(flatten)]
    pub fit: Option<InverseVelocityFit>,
    pub accepted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InverseVelocityMethod {
    InverseVelocity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InverseVelocityFit {
    #[serde(deserialize_with = "finite_or_null")]
    pub bin_h: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub smooth_h: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub slope_per_day: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub intercept: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub r2: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub slope_t: f64,
    pub failure_forecast_ts: Option<i64>,
    pub band_h: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayStatusEvidence {
    pub status: GatewayStatus,
    #[serde(deserialize_with = "finite_or_null")]
    pub min_battery_pct: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub min_supply_v: f64,
}

/// Silence is judged on the wall clock; its end is seen on a reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SilenceEvidence {
    Gateway {
        gateway: String,
        #[serde(deserialize_with = "finite_or_null")]
        silent_for_s: f64,
        #[serde(deserialize_with = "finite_or_null")]
        limit_s: f64,
    },
    Sensor {
        #[serde(deserialize_with = "finite_or_null")]
        silent_for_s: f64,
        #[serde(deserialize_with = "finite_or_null")]
        limit_s: f64,
    },
    /// Heard again, at this reading.
    Over { ts: i64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StuckEvidence {
    #[serde(deserialize_with = "finite_or_null")]
    pub value: f64,
    pub identical_samples: usize,
    pub limit: u32,
    pub ts: i64,
}

/// A reading far out of line with its neighbours in time: waiting for the next reading, or
/// refuted by it (and left out of every sum).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuspectEvidence {
    pub ts: i64,
    #[serde(deserialize_with = "finite_or_null")]
    pub value: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub neighbours_max: f64,
    #[serde(deserialize_with = "finite_or_null")]
    pub ratio_limit: f64,
    pub refuted: bool,
    /// Another gauge within this radius may confirm it (0 in evidence stored before there was
    /// confirmation by other gauges).
    #[serde(default)]
    pub radius_km: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<GaugeConfirmation>,
}

/// Another gauge's rain over the hours of a suspect reading, enough to confirm it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaugeConfirmation {
    /// The suspect reading's time.
    pub ts: i64,
    /// The confirming gauge (`{gateway}/{channel}`), its distance and its rain over those hours.
    pub gauge: String,
    pub distance_km: f64,
    pub mm: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombinedEvidence {
    pub rain_level: Option<Level>,
    pub displacement_level: Option<Level>,
    pub raise_by: u8,
}

impl Evidence {
    /// A reading of `value` (in `unit`) at reading time `ts` (ms) against lines to go above, with
    /// no band: the simplest evidence, as tests and tools raise a warning by hand.
    pub fn threshold(ts: i64, value: f64, unit: &str, thresholds: Thresholds) -> Evidence {
        Evidence::Threshold(ThresholdEvidence {
            ts,
            value,
            unit: unit.to_owned(),
            direction: Direction::Above,
            thresholds,
            hysteresis: 0.0,
        })
    }

    /// Rewrites every instant (epoch milliseconds of reading time) with `f`: the engine judges
    /// in scenario time, warnings are stored in wall-clock time.
    pub fn map_instants(&mut self, f: impl Fn(i64) -> i64) {
        match self {
            Evidence::Threshold(e) => e.ts = f(e.ts),
            Evidence::Rate(e) => e.ts = f(e.ts),
            Evidence::Rainfall(e) => e.ts = f(e.ts),
            Evidence::ImprovedTangentAngle(e) => {
                e.ts = f(e.ts);
                e.failure_forecast_ts = e.failure_forecast_ts.map(&f);
                if let Some(fit) = e.inverse_velocity.as_mut().and_then(|iv| iv.fit.as_mut()) {
                    fit.failure_forecast_ts = fit.failure_forecast_ts.map(&f);
                }
            }
            Evidence::SuspectReading(e) => {
                e.ts = f(e.ts);
                if let Some(c) = e.confirmed_by.as_mut() {
                    c.ts = f(c.ts);
                }
            }
            Evidence::Silence(SilenceEvidence::Over { ts })
            | Evidence::Stuck(StuckEvidence { ts, .. }) => *ts = f(*ts),
            Evidence::Silence(_) | Evidence::GatewayStatus(_) | Evidence::Combined(_) => {}
        }
    }

    /// The forecast's 95 % band, hours of the engine's clock.
    pub fn failure_band_h(&self) -> Option<f64> {
        match self {
            Evidence::ImprovedTangentAngle(e) => e.failure_band_h,
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("evidence always serializes")
    }
}

/// The evidence stored with warning `warning`, typed: an error naming the warning when this code
/// cannot read it (a shape it does not know is not passed on as it is).
pub fn stored(warning: i64, json: serde_json::Value) -> sqlx::Result<Evidence> {
    serde_json::from_value(json).map_err(|e| {
        sqlx::Error::Decode(
            format!("warning {warning}: stored evidence this code cannot read: {e}").into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trend() -> Evidence {
        Evidence::ImprovedTangentAngle(TrendEvidence {
            ts: 64_000,
            alpha_deg: 81.0,
            velocity_mm_per_day: 2.5,
            velocity_se: 0.1,
            velocity_z: 2.0,
            steady_velocity_mm_per_day: 0.5,
            steady_from: SteadyFrom::Estimated {
                estimated_from_days: 4,
            },
            points: 36,
            spikes_rejected: 0,
            window_h: 6.0,
            thresholds_deg: Thresholds::some(65.0, 80.0, 85.0, 89.0),
            inverse_velocity: Some(InverseVelocityEvidence {
                method: InverseVelocityMethod::InverseVelocity,
                bins: 12,
                fit: Some(InverseVelocityFit {
                    bin_h: 1.0,
                    smooth_h: 6.0,
                    slope_per_day: -0.5,
                    intercept: 1.0,
                    r2: 0.9,
                    slope_t: 7.0,
                    failure_forecast_ts: Some(124_000),
                    band_h: Some(3.0),
                }),
                accepted: true,
            }),
            failure_forecast_ts: Some(124_000),
            failure_band_h: Some(3.0),
        })
    }

    #[test]
    fn evidence_keeps_the_stored_json_shape() {
        let e = trend().to_json();
        assert_eq!(e["method"], "improved_tangent_angle");
        assert_eq!(e["steady_from"], json!({"estimated_from_days": 4}));
        assert_eq!(e["inverse_velocity"]["method"], "inverse_velocity");
        assert_eq!(e["inverse_velocity"]["failure_forecast_ts"], 124_000);
        assert_eq!(e["thresholds_deg"]["red"], 89.0);
        let short = InverseVelocityEvidence {
            method: InverseVelocityMethod::InverseVelocity,
            bins: 3,
            fit: None,
            accepted: false,
        };
        assert_eq!(
            serde_json::to_value(short).unwrap(),
            json!({"method": "inverse_velocity", "bins": 3, "accepted": false})
        );
        let configured = SteadyFrom::Configured(Configured::Configured);
        assert_eq!(
            serde_json::to_value(configured).unwrap(),
            json!("configured")
        );
        let over = Evidence::Silence(SilenceEvidence::Over { ts: 5 });
        assert_eq!(over.to_json(), json!({"method": "silence", "ts": 5}));
    }

    #[test]
    fn only_instants_move_to_the_wall_clock() {
        let mut e = trend();
        e.map_instants(|ms| ms / 60);
        let v = e.to_json();
        assert_eq!(v["ts"], 64_000 / 60);
        assert_eq!(v["failure_forecast_ts"], 124_000 / 60);
        assert_eq!(v["inverse_velocity"]["failure_forecast_ts"], 124_000 / 60);
        assert_eq!(v["velocity_mm_per_day"], 2.5);
        assert_eq!(v["failure_band_h"], 3.0);
    }
}
