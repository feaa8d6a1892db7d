//! Physical models of the field: what a rain gauge, crack meter, GNSS station, inclinometer,
//! piezometer, soil-moisture probe or mud-level gauge at a hazard site would measure over time.
//!
//! Used by every simulator (the all-in-one demo's gateways, the Modbus sensor simulator, tests),
//! so that simulated data has the same shape everywhere: diurnal temperature effects, sensor
//! noise, a rain event, and a slope whose creep accelerates towards failure.
//!
//! Models are deterministic for a given seed. Time is "scenario time" in seconds since the
//! scenario started; a demo may run scenario time faster than the wall clock.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What a simulated sensor measures, with its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// Rainfall in the sampling interval, mm.
    RainGauge,
    /// Crack opening, mm.
    CrackMeter,
    /// Horizontal displacement, mm.
    Gnss,
    /// Tilt, degrees.
    Inclinometer,
    /// Pore-water level above the sensor, m.
    Piezometer,
    /// Volumetric soil water content, %.
    SoilMoisture,
    /// Water or mud level in a gully, m.
    MudLevel,
}

impl SensorKind {
    pub fn unit(self) -> &'static str {
        match self {
            SensorKind::RainGauge => "mm",
            SensorKind::CrackMeter | SensorKind::Gnss => "mm",
            SensorKind::Inclinometer => "deg",
            SensorKind::Piezometer | SensorKind::MudLevel => "m",
            SensorKind::SoilMoisture => "%",
        }
    }
}

/// A rain event: intensity rises linearly to its peak and falls back (a triangular hyetograph).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct RainEvent {
    /// Scenario second the rain starts.
    pub start_s: f64,
    /// How long it rains, seconds.
    pub duration_s: f64,
    /// Peak intensity, mm/h.
    pub peak_mm_per_h: f64,
}

impl RainEvent {
    /// Intensity at scenario time `t`, mm/h.
    pub fn intensity(&self, t: f64) -> f64 {
        let x = (t - self.start_s) / self.duration_s;
        if !(0.0..=1.0).contains(&x) {
            return 0.0;
        }
        self.peak_mm_per_h * (1.0 - (2.0 * x - 1.0).abs())
    }

    /// Rain that fell from the start up to scenario time `t`, mm (the integral of intensity).
    pub fn accumulated(&self, t: f64) -> f64 {
        let total = self.peak_mm_per_h * self.duration_s / 3600.0 / 2.0;
        let x = ((t - self.start_s) / self.duration_s).clamp(0.0, 1.0);
        // Integral of the triangle, normalised to 1 over [0, 1].
        let frac = if x <= 0.5 {
            2.0 * x * x
        } else {
            1.0 - 2.0 * (1.0 - x) * (1.0 - x)
        };
        total * frac
    }
}

/// A slope creeping at a steady rate that starts to accelerate (tertiary creep, as before a
/// failure): displacement = v0·t + extra, where extra grows exponentially after `onset_s`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Creep {
    /// Steady-state velocity, mm/day.
    pub steady_mm_per_day: f64,
    /// Scenario second acceleration begins.
    pub onset_s: f64,
    /// e-folding time of the acceleration, seconds.
    pub efold_s: f64,
}

impl Creep {
    pub fn displacement(&self, t: f64) -> f64 {
        let steady = self.steady_mm_per_day * t / 86_400.0;
        if t <= self.onset_s {
            return steady;
        }
        // Exponential growth whose initial slope equals the steady velocity, so the curve is smooth.
        let v0_per_s = self.steady_mm_per_day / 86_400.0;
        steady + v0_per_s * self.efold_s * (((t - self.onset_s) / self.efold_s).exp() - 1.0)
    }
}

/// One simulated sensor.
#[derive(Debug, Clone)]
pub struct SensorModel {
    pub kind: SensorKind,
    /// Value when nothing happens (an installed crack meter reads its initial opening, ...).
    pub baseline: f64,
    /// Standard deviation of measurement noise, in the sensor's unit.
    pub noise: f64,
    /// Amplitude of the daily thermal cycle, in the sensor's unit.
    pub diurnal: f64,
    pub rain: Option<RainEvent>,
    pub creep: Option<Creep>,
    rng: StdRng,
    last_t: Option<f64>,
}

impl SensorModel {
    pub fn new(kind: SensorKind, seed: u64) -> SensorModel {
        let (baseline, noise, diurnal) = match kind {
            SensorKind::RainGauge => (0.0, 0.0, 0.0),
            SensorKind::CrackMeter => (12.0, 0.02, 0.05),
            SensorKind::Gnss => (0.0, 1.5, 0.8),
            SensorKind::Inclinometer => (0.5, 0.005, 0.01),
            SensorKind::Piezometer => (3.2, 0.01, 0.0),
            SensorKind::SoilMoisture => (24.0, 0.2, 0.3),
            SensorKind::MudLevel => (0.15, 0.01, 0.0),
        };
        SensorModel {
            kind,
            baseline,
            noise,
            diurnal,
            rain: None,
            creep: None,
            rng: StdRng::seed_from_u64(seed),
            last_t: None,
        }
    }

    pub fn with_rain(mut self, rain: RainEvent) -> Self {
        self.rain = Some(rain);
        self
    }

    pub fn with_creep(mut self, creep: Creep) -> Self {
        self.creep = Some(creep);
        self
    }

    /// The value the sensor reports at scenario time `t` (seconds). Rain gauges report the rain
    /// since their previous sample; everything else reports its current state.
    pub fn sample(&mut self, t: f64) -> f64 {
        let previous = self.last_t.replace(t);
        let noise = self.gaussian() * self.noise;
        let thermal = self.diurnal * (2.0 * std::f64::consts::PI * t / 86_400.0).sin();
        let rain_total = self.rain.map(|r| r.accumulated(t)).unwrap_or(0.0);
        let rain_now = self.rain.map(|r| r.intensity(t)).unwrap_or(0.0);
        let creep = self.creep.map(|c| c.displacement(t)).unwrap_or(0.0);
        match self.kind {
            SensorKind::RainGauge => {
                let since = previous.unwrap_or(t);
                let fallen = self.rain.map(|r| r.accumulated(t) - r.accumulated(since));
                // A tipping bucket resolves 0.1 mm (some gauges 0.2 mm).
                (fallen.unwrap_or(0.0) * 10.0).round() / 10.0
            }
            SensorKind::CrackMeter | SensorKind::Gnss | SensorKind::Inclinometer => {
                let scale = if self.kind == SensorKind::Inclinometer {
                    0.01
                } else {
                    1.0
                };
                self.baseline + creep * scale + thermal + noise
            }
            // Groundwater and soil water follow the accumulated rain, saturating.
            SensorKind::Piezometer => {
                self.baseline + 2.0 * (1.0 - (-rain_total / 80.0).exp()) + noise
            }
            SensorKind::SoilMoisture => {
                (self.baseline + 20.0 * (1.0 - (-rain_total / 40.0).exp()) + thermal + noise)
                    .min(48.0)
            }
            // A gully's level follows the current intensity.
            SensorKind::MudLevel => self.baseline + 0.03 * rain_now + noise.abs(),
        }
    }

    fn gaussian(&mut self) -> f64 {
        // Box-Muller: two uniforms to one standard normal.
        let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rain_gauge_sums_to_the_event_total() {
        let event = RainEvent {
            start_s: 3600.0,
            duration_s: 6.0 * 3600.0,
            peak_mm_per_h: 30.0,
        };
        let mut gauge = SensorModel::new(SensorKind::RainGauge, 1).with_rain(event);
        let total: f64 = (0..=12 * 60).map(|m| gauge.sample(m as f64 * 60.0)).sum();
        // 30 mm/h peak over 6 h, triangular: 90 mm, within the gauge's 0.1 mm steps.
        assert!(
            (total - 90.0).abs() < 0.1 * 12.0 * 60.0 / 2.0,
            "total {total}"
        );
        assert!(total > 85.0);
    }

    #[test]
    fn creep_accelerates_after_onset() {
        let c = Creep {
            steady_mm_per_day: 0.5,
            onset_s: 86_400.0,
            efold_s: 43_200.0,
        };
        let v_before = c.displacement(86_400.0) - c.displacement(82_800.0);
        let v_after = c.displacement(3.0 * 86_400.0) - c.displacement(3.0 * 86_400.0 - 3600.0);
        assert!(v_after > 5.0 * v_before);
    }

    #[test]
    fn the_same_seed_gives_the_same_series() {
        let mut a = SensorModel::new(SensorKind::CrackMeter, 7);
        let mut b = SensorModel::new(SensorKind::CrackMeter, 7);
        for t in 0..10 {
            assert_eq!(a.sample(t as f64), b.sample(t as f64));
        }
    }
}
