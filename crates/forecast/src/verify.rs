//! Verification of issued warnings against what happened: per cell and day, a warning at or
//! above a level with an event is a hit, an event without one a miss, a warning without an
//! event a false alarm. Probability of detection (POD = H/(H+M)), false alarm ratio
//! (FAR = F/(H+F)), critical success index (CSI = H/(H+M+F)) and the Heidke skill score.

use std::collections::BTreeMap;

use geohazard_domain::WarningLevel;
use ndarray::Array2;
use serde::Serialize;

use crate::areas::Levels;

/// The contingency table of one verification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub hits: u64,
    pub misses: u64,
    pub false_alarms: u64,
    pub correct_negatives: u64,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl Counts {
    pub fn add(&mut self, warned: bool, event: bool) {
        match (warned, event) {
            (true, true) => self.hits += 1,
            (false, true) => self.misses += 1,
            (true, false) => self.false_alarms += 1,
            (false, false) => self.correct_negatives += 1,
        }
    }

    pub fn pod(&self) -> Option<f64> {
        ratio(self.hits, self.hits + self.misses)
    }

    pub fn far(&self) -> Option<f64> {
        ratio(self.false_alarms, self.hits + self.false_alarms)
    }

    pub fn csi(&self) -> Option<f64> {
        ratio(self.hits, self.hits + self.misses + self.false_alarms)
    }

    /// Heidke skill score: 1 perfect, 0 no better than chance.
    pub fn hss(&self) -> Option<f64> {
        let (a, b, c, d) = (
            self.hits as f64,
            self.false_alarms as f64,
            self.misses as f64,
            self.correct_negatives as f64,
        );
        let den = (a + c) * (c + d) + (a + b) * (b + d);
        (den > 0.0).then(|| 2.0 * (a * d - b * c) / den)
    }
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.false_alarms += o.false_alarms;
        self.correct_negatives += o.correct_negatives;
    }
}

/// A season's verification: per level (warned at or above it), overall and per division.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Verification {
    /// Index: the level's rank (blue 0 … red 3).
    pub per_level: [Counts; 4],
    pub per_division: BTreeMap<String, [Counts; 4]>,
}

impl Verification {
    /// Adds another verification's counts (e.g. another agency's grid) to this one.
    pub fn merge(&mut self, other: &Verification) {
        for (a, b) in self.per_level.iter_mut().zip(other.per_level) {
            *a += b;
        }
        for (d, counts) in &other.per_division {
            let mine = self.per_division.entry(d.clone()).or_default();
            for (a, b) in mine.iter_mut().zip(counts) {
                *a += *b;
            }
        }
    }
}

/// One day: the levels issued and where events happened.
pub struct Day<'a> {
    pub issued: &'a Levels,
    pub events: &'a Array2<bool>,
}

/// Verifies a season. `division_of[[r, c]]` names a cell's division (none: counted only overall).
pub fn verify(days: &[Day], division_of: &Array2<Option<String>>) -> Verification {
    let mut v = Verification::default();
    for day in days {
        for ((r, c), issued) in day.issued.indexed_iter() {
            let event = day.events[[r, c]];
            for level in WarningLevel::ALL {
                let warned = issued.is_some_and(|l| l >= level);
                v.per_level[level.rank()].add(warned, event);
                if let Some(d) = &division_of[[r, c]] {
                    v.per_division.entry(d.clone()).or_default()[level.rank()].add(warned, event);
                }
            }
        }
    }
    v
}
