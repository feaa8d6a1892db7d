//! A sensor's sliding window: raw readings over the recent horizon (kept in time order whatever
//! order they arrive in) and hourly sums over the long horizon, for rainfall antecedents and
//! steady-state creep velocities.

use std::collections::{BTreeMap, VecDeque};

use crate::methods::HOUR_MS;

/// Readings kept whatever their age, so that rules at any sampling interval have enough.
pub const MIN_KEEP: usize = 32;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Hour {
    pub n: u32,
    pub sum: f64,
}

impl Hour {
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// What became of one reading offered to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Newer than anything before.
    Newest,
    /// Older than the newest, filed in its place.
    Late,
    /// Same sensor and time as one already held: a redelivery.
    Duplicate,
    /// Older than the raw horizon: the store has it, the live analysis no longer needs it.
    TooOld,
}

#[derive(Debug, Clone)]
pub struct Window {
    raw: VecDeque<(i64, f64)>,
    hourly: BTreeMap<i64, Hour>,
    raw_horizon_ms: i64,
    long_horizon_ms: i64,
}

impl Window {
    pub fn new(raw_horizon_ms: i64, long_horizon_ms: i64) -> Window {
        Window {
            raw: VecDeque::new(),
            hourly: BTreeMap::new(),
            raw_horizon_ms,
            long_horizon_ms: long_horizon_ms.max(raw_horizon_ms),
        }
    }

    pub fn latest_ts(&self) -> Option<i64> {
        self.raw.back().map(|r| r.0)
    }

    pub fn latest(&self) -> Option<(i64, f64)> {
        self.raw.back().copied()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.raw.len()
    }

    /// Adds an hourly bucket from the store (warm-up), for hours older than any raw reading.
    pub fn warm_hour(&mut self, hour_start_ms: i64, n: u32, sum: f64) {
        if n > 0 && sum.is_finite() {
            self.hourly
                .insert(hour_start_ms.div_euclid(HOUR_MS), Hour { n, sum });
        }
    }

    pub fn insert(&mut self, ts: i64, value: f64) -> Insert {
        if !value.is_finite() {
            return Insert::TooOld;
        }
        let outcome = match self.raw.back() {
            None => {
                self.raw.push_back((ts, value));
                Insert::Newest
            }
            Some(&(last, _)) if ts > last => {
                self.raw.push_back((ts, value));
                Insert::Newest
            }
            Some(&(last, _)) => {
                if ts < last - self.raw_horizon_ms {
                    return Insert::TooOld;
                }
                match self.raw.binary_search_by_key(&ts, |r| r.0) {
                    Ok(_) => return Insert::Duplicate,
                    Err(i) => {
                        self.raw.insert(i, (ts, value));
                        Insert::Late
                    }
                }
            }
        };
        let h = self.hourly.entry(ts.div_euclid(HOUR_MS)).or_default();
        h.n += 1;
        h.sum += value;
        self.prune();
        outcome
    }

    /// Takes the reading at `ts` out of the window and out of its hour's sum.
    pub fn remove(&mut self, ts: i64) -> Option<f64> {
        let i = self.raw.binary_search_by_key(&ts, |r| r.0).ok()?;
        let (_, value) = self.raw.remove(i)?;
        let hour = ts.div_euclid(HOUR_MS);
        if let Some(h) = self.hourly.get_mut(&hour) {
            h.n = h.n.saturating_sub(1);
            h.sum -= value;
            if h.n == 0 {
                self.hourly.remove(&hour);
            }
        }
        Some(value)
    }

    fn prune(&mut self) {
        let Some(last) = self.latest_ts() else { return };
        let raw_cut = last - self.raw_horizon_ms;
        // A sparse sensor (a GNSS station read once a day) keeps its last readings beyond the
        // horizon: its rules' windows are widened to hold enough of them.
        while self.raw.len() > MIN_KEEP && self.raw.front().is_some_and(|r| r.0 < raw_cut) {
            self.raw.pop_front();
        }
        let hour_cut = (last - self.long_horizon_ms).div_euclid(HOUR_MS);
        while self
            .hourly
            .first_key_value()
            .is_some_and(|(h, _)| *h < hour_cut)
        {
            self.hourly.pop_first();
        }
    }

    /// Raw readings with time in (from, to], in time order.
    pub fn raw_between(&mut self, from_ms: i64, to_ms: i64) -> &[(i64, f64)] {
        let s = self.raw.make_contiguous();
        let a = s.partition_point(|r| r.0 <= from_ms);
        let b = s.partition_point(|r| r.0 <= to_ms);
        &s[a..b.max(a)]
    }

    /// How many raw readings have time in (from, to], and their sum (a rain gauge's rain).
    pub fn sum_between(&self, from_ms: i64, to_ms: i64) -> (usize, f64) {
        let a = self.raw.partition_point(|r| r.0 <= from_ms);
        let b = self.raw.partition_point(|r| r.0 <= to_ms).max(a);
        (b - a, self.raw.range(a..b).map(|r| r.1).sum())
    }

    /// All raw readings, in time order.
    pub fn raw(&mut self) -> &[(i64, f64)] {
        self.raw.make_contiguous()
    }

    /// Hourly buckets (hour index, bucket) from `from_hour` up to, not including, `to_hour`.
    pub fn hours(&self, from_hour: i64, to_hour: i64) -> impl Iterator<Item = (i64, Hour)> + '_ {
        self.hourly.range(from_hour..to_hour).map(|(h, b)| (*h, *b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_readings_are_filed_in_order_and_duplicates_absorbed() {
        let mut w = Window::new(10 * HOUR_MS, 48 * HOUR_MS);
        assert_eq!(w.insert(3_000, 3.0), Insert::Newest);
        assert_eq!(w.insert(1_000, 1.0), Insert::Late);
        assert_eq!(w.insert(2_000, 2.0), Insert::Late);
        assert_eq!(w.insert(2_000, 2.0), Insert::Duplicate);
        assert_eq!(w.raw(), &[(1_000, 1.0), (2_000, 2.0), (3_000, 3.0)]);
        assert_eq!(w.hours(0, 1).next().unwrap().1, Hour { n: 3, sum: 6.0 });
        assert_eq!(w.raw_between(1_000, 3_000), &[(2_000, 2.0), (3_000, 3.0)]);
        assert_eq!(w.sum_between(1_000, 3_000), (2, 5.0));
        assert_eq!(w.sum_between(3_000, 9_000), (0, 0.0));
        assert_eq!(w.remove(2_000), Some(2.0));
        assert_eq!(w.raw(), &[(1_000, 1.0), (3_000, 3.0)]);
        assert_eq!(w.hours(0, 1).next().unwrap().1, Hour { n: 2, sum: 4.0 });
    }

    #[test]
    fn the_window_forgets_what_falls_out_of_its_horizons() {
        let mut w = Window::new(2 * HOUR_MS, 5 * HOUR_MS);
        for h in 0..10 * MIN_KEEP as i64 {
            w.insert(h * HOUR_MS, 1.0);
        }
        assert_eq!(w.len(), MIN_KEEP);
        assert_eq!(w.insert(HOUR_MS, 1.0), Insert::TooOld);
        assert_eq!(w.hours(0, 1000).count(), 6);
        assert_eq!(w.insert(20 * HOUR_MS, f64::NAN), Insert::TooOld);
    }
}
