//! The per-source tracker that adds persistence to four-level thresholds with hysteresis
//! (`geohazard_warnings::rules`), so a value hovering at a line or a single odd reading does not
//! make a warning flap.

use geohazard_protocol::warning::WarningLevel;
pub use geohazard_warnings::rules::{
    Assessment, Direction, IdCurve, LevelLines, Persistence, Thresholds,
};

pub type Level = WarningLevel;

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

    const T: Thresholds = Thresholds::some(1.0, 2.0, 3.0, 4.0);

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
