//! Four-level thresholds with hysteresis, and the per-source tracker that adds persistence, so a
//! value hovering at a line or a single odd reading does not make a warning flap.

use geohazard_protocol::warning::WarningLevel;
use serde::{Deserialize, Serialize};

pub type Level = WarningLevel;

/// Whether exceeding a threshold means going above it or falling below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Above,
    Below,
}

/// One threshold per level; a missing level is skipped. For `Above`, blue < yellow < orange < red.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    pub blue: Option<f64>,
    pub yellow: Option<f64>,
    pub orange: Option<f64>,
    pub red: Option<f64>,
}

impl Thresholds {
    pub const fn new(blue: f64, yellow: f64, orange: f64, red: f64) -> Thresholds {
        Thresholds {
            blue: Some(blue),
            yellow: Some(yellow),
            orange: Some(orange),
            red: Some(red),
        }
    }

    pub fn get(&self, level: Level) -> Option<f64> {
        match level {
            Level::Blue => self.blue,
            Level::Yellow => self.yellow,
            Level::Orange => self.orange,
            Level::Red => self.red,
        }
    }

    pub fn is_empty(&self) -> bool {
        Level::ALL.iter().all(|l| self.get(*l).is_none())
    }

    /// The highest level whose threshold `x` reaches, each threshold relaxed by `slack(t)`
    /// (zero to raise, the hysteresis band to hold a level already reached).
    pub fn level(&self, x: f64, dir: Direction, slack: impl Fn(f64) -> f64) -> Option<Level> {
        if !x.is_finite() {
            return None;
        }
        Level::ALL.iter().rev().copied().find(|l| {
            self.get(*l).is_some_and(|t| match dir {
                Direction::Above => x >= t - slack(t),
                Direction::Below => x <= t + slack(t),
            })
        })
    }

    /// (level to raise to, level to hold) for `x` with an absolute hysteresis band.
    pub fn assess(&self, x: f64, dir: Direction, hysteresis: f64) -> Assessment {
        Assessment {
            up: self.level(x, dir, |_| 0.0),
            hold: self.level(x, dir, |_| hysteresis.abs()),
        }
    }

    /// The same with a band proportional to each threshold.
    pub fn assess_fraction(&self, x: f64, dir: Direction, fraction: f64) -> Assessment {
        Assessment {
            up: self.level(x, dir, |_| 0.0),
            hold: self.level(x, dir, |t| (t * fraction).abs()),
        }
    }
}

/// What one evaluation says: the level the value reaches, and the level it still holds given
/// the hysteresis band (hold ≥ up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Assessment {
    pub up: Option<Level>,
    pub hold: Option<Level>,
}

impl Assessment {
    pub fn max(self, other: Assessment) -> Assessment {
        Assessment {
            up: self.up.max(other.up),
            hold: self.hold.max(other.hold),
        }
    }
}

/// How long a new level must be seen before it is taken: N consecutive evaluations and at least
/// a duration of reading time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persistence {
    pub readings: u32,
    pub seconds: u64,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            readings: 1,
            seconds: 0,
        }
    }
}

impl Persistence {
    pub const fn readings(n: u32) -> Persistence {
        Persistence {
            readings: n,
            seconds: 0,
        }
    }
}

/// A level change the tracker accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub from: Option<Level>,
    pub to: Option<Level>,
}

/// The level of one source at one site, as readings arrive.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    pub level: Option<Level>,
    pending: Option<Pending>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    target: Option<Level>,
    up: bool,
    count: u32,
    since_ms: i64,
}

impl Tracker {
    pub fn at(level: Option<Level>) -> Tracker {
        Tracker {
            level,
            pending: None,
        }
    }

    /// Feeds one evaluation at reading time `ts_ms`; returns the change once it has persisted.
    pub fn update(&mut self, a: Assessment, ts_ms: i64, p: Persistence) -> Option<Change> {
        let target = if a.up > self.level {
            a.up
        } else if a.hold < self.level {
            a.hold
        } else {
            self.pending = None;
            return None;
        };
        let up = target > self.level;
        let pending = match self.pending {
            Some(mut pd) if pd.up == up => {
                // Over a run of readings all beyond the line, take the least change they agree on.
                pd.target = if up {
                    pd.target.min(target)
                } else {
                    pd.target.max(target)
                };
                pd.count += 1;
                pd
            }
            _ => Pending {
                target,
                up,
                count: 1,
                since_ms: ts_ms,
            },
        };
        let held_ms = ts_ms.saturating_sub(pending.since_ms);
        if pending.count >= p.readings.max(1) && held_ms >= (p.seconds as i64).saturating_mul(1000)
        {
            let change = Change {
                from: self.level,
                to: pending.target,
            };
            self.level = pending.target;
            self.pending = None;
            Some(change)
        } else {
            self.pending = Some(pending);
            None
        }
    }

    /// Sets the level directly (derived sources, device faults).
    pub fn set(&mut self, level: Option<Level>) -> Option<Change> {
        self.pending = None;
        if level == self.level {
            return None;
        }
        let change = Change {
            from: self.level,
            to: level,
        };
        self.level = level;
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds::new(1.0, 2.0, 3.0, 4.0);

    #[test]
    fn thresholds_pick_the_highest_level_reached_in_either_direction() {
        assert_eq!(T.level(0.5, Direction::Above, |_| 0.0), None);
        assert_eq!(T.level(2.5, Direction::Above, |_| 0.0), Some(Level::Yellow));
        assert_eq!(T.level(9.0, Direction::Above, |_| 0.0), Some(Level::Red));
        let below = Thresholds::new(12.0, 11.5, 11.0, 10.5);
        assert_eq!(
            below.level(11.2, Direction::Below, |_| 0.0),
            Some(Level::Yellow)
        );
        assert_eq!(T.level(f64::NAN, Direction::Above, |_| 0.0), None);
    }

    #[test]
    fn a_hovering_value_raises_once_and_holds_inside_the_band() {
        let mut tr = Tracker::default();
        let p = Persistence::readings(3);
        let mut series = vec![2.1, 2.1, 2.1];
        // Then it hovers on the yellow line, crossing it again and again.
        series.extend((0..40).map(|i| if i % 2 == 0 { 1.9 } else { 2.1 }));
        let changes: Vec<Change> = series
            .iter()
            .enumerate()
            .filter_map(|(i, x)| tr.update(T.assess(*x, Direction::Above, 0.2), i as i64, p))
            .collect();
        assert_eq!(
            changes,
            vec![Change {
                from: None,
                to: Some(Level::Yellow)
            }]
        );
        // Without the band the same series flaps.
        let mut bare = Tracker::default();
        let flaps = series
            .iter()
            .enumerate()
            .filter_map(|(i, x)| {
                bare.update(
                    T.assess(*x, Direction::Above, 0.0),
                    i as i64,
                    Persistence::readings(1),
                )
            })
            .count();
        assert!(flaps > 10);
        // Falling out of the band for long enough lowers the level.
        for i in 0..3 {
            tr.update(T.assess(1.5, Direction::Above, 0.2), 100 + i, p);
        }
        assert_eq!(tr.level, Some(Level::Blue));
    }

    #[test]
    fn a_single_reading_beyond_the_line_is_not_enough() {
        let mut tr = Tracker::default();
        let p = Persistence::readings(3);
        assert_eq!(tr.update(T.assess(9.0, Direction::Above, 0.0), 0, p), None);
        assert_eq!(tr.update(T.assess(0.0, Direction::Above, 0.0), 1, p), None);
        assert_eq!(tr.update(T.assess(9.0, Direction::Above, 0.0), 2, p), None);
        assert_eq!(tr.level, None);
    }

    #[test]
    fn persistence_by_duration_waits_for_reading_time() {
        let mut tr = Tracker::default();
        let p = Persistence {
            readings: 1,
            seconds: 60,
        };
        assert_eq!(tr.update(T.assess(2.5, Direction::Above, 0.0), 0, p), None);
        assert_eq!(
            tr.update(T.assess(2.5, Direction::Above, 0.0), 30_000, p),
            None
        );
        assert_eq!(
            tr.update(T.assess(3.5, Direction::Above, 0.0), 60_000, p),
            Some(Change {
                from: None,
                to: Some(Level::Yellow)
            })
        );
    }
}
