//! The critical-rainfall model: a cell's effective rainfall is the forecast rain plus the
//! effective antecedent rainfall, a decaying sum of the past days' rain
//! (`Σ_{i=1..n} k^i · r_i`, `r_1` yesterday's), judged against the critical rainfall lines of
//! the cell's susceptibility class: the highest level whose line it reaches (blue 四级 … red
//! 一级). Class 0 is never warned.

use geohazard_domain::WarningLevel;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::grid::Grid;

/// Critical lines in millimetres of effective rainfall, per susceptibility class 1–4
/// (`by_class[class - 1]`), for blue, yellow, orange, red; each row rising.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriticalLines {
    pub by_class: [[f64; 4]; 4],
}

impl Default for CriticalLines {
    /// Lines of the common practice's shape: the more susceptible, the less rain it takes.
    fn default() -> Self {
        CriticalLines {
            by_class: [
                [70.0, 100.0, 150.0, 220.0],
                [50.0, 75.0, 110.0, 160.0],
                [35.0, 55.0, 80.0, 120.0],
                [25.0, 40.0, 60.0, 90.0],
            ],
        }
    }
}

impl CriticalLines {
    /// Every line positive and each class's rising; else what is wrong.
    pub fn check(&self) -> Result<(), String> {
        for (k, row) in self.by_class.iter().enumerate() {
            if row.iter().any(|v| !v.is_finite() || *v <= 0.0)
                || row.windows(2).any(|w| w[0] >= w[1])
            {
                return Err(format!(
                    "critical lines of class {}: four positive values rising from blue to red",
                    k + 1
                ));
            }
        }
        Ok(())
    }

    /// The level effective rainfall `rain` reaches in class `class` (none for class 0).
    pub fn level(&self, class: u8, rain: f64) -> Option<WarningLevel> {
        let row = self.by_class.get((class as usize).checked_sub(1)?)?;
        WarningLevel::ALL
            .into_iter()
            .rev()
            .find(|l| rain >= row[l.rank()])
    }
}

/// The model's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelParams {
    /// The daily decay `k` of antecedent rain, 0 < k < 1.
    pub decay: f64,
    /// How many past days count.
    pub antecedent_days: usize,
    pub lines: CriticalLines,
    /// Areas of fewer cells than this are specks: they take their surroundings' level.
    pub min_area_cells: usize,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            decay: 0.8,
            antecedent_days: 10,
            lines: CriticalLines::default(),
            min_area_cells: 3,
        }
    }
}

impl ModelParams {
    pub fn check(&self) -> Result<(), String> {
        if !(self.decay > 0.0 && self.decay < 1.0) {
            return Err(format!("decay must be between 0 and 1, not {}", self.decay));
        }
        if self.antecedent_days > 60 {
            return Err("antecedent_days is at most 60".into());
        }
        self.lines.check()
    }
}

/// Effective antecedent rainfall per cell: `past[0]` is yesterday's rain, `past[1]` the day
/// before, …; days past `antecedent_days` do not count.
pub fn effective_antecedent(
    params: &ModelParams,
    past: &[Array2<f64>],
    shape: (usize, usize),
) -> Array2<f64> {
    let mut sum = Array2::zeros(shape);
    let mut weight = 1.0;
    for day in past.iter().take(params.antecedent_days) {
        weight *= params.decay;
        sum.scaled_add(weight, day);
    }
    sum
}

/// The level of every cell, before specks are removed.
pub fn levels(
    params: &ModelParams,
    susceptibility: &Grid<u8>,
    past: &[Array2<f64>],
    forecast: &Array2<f64>,
) -> Array2<Option<WarningLevel>> {
    let shape = susceptibility.spec.shape();
    let effective = effective_antecedent(params, past, shape) + forecast;
    let mut out = Array2::from_elem(shape, None);
    for ((r, c), l) in out.indexed_iter_mut() {
        *l = params
            .lines
            .level(susceptibility.values[[r, c]], effective[[r, c]]);
    }
    out
}

/// The baseline the model is measured against: a warning wherever the forecast rain alone
/// reaches one fixed line, whatever the susceptibility (blue at `line`, yellow at 1.5×, orange
/// at 2×, red at 3×).
pub fn baseline_levels(forecast: &Array2<f64>, line: f64) -> Array2<Option<WarningLevel>> {
    forecast.mapv(|rain| {
        WarningLevel::ALL
            .into_iter()
            .rev()
            .find(|l| rain >= line * [1.0, 1.5, 2.0, 3.0][l.rank()])
    })
}
