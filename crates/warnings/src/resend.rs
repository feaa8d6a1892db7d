//! When a failure forecast is sent again by SMS: only when it moved materially earlier than the
//! forecast people's phones already hold. A pure rule, so jitter of the forecast (which moves a
//! little with every velocity window) can be shown to send nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A forecast is sent again when it is earlier than the one last sent by more than
/// `earlier_fraction` of the time that one left, and by at least `earlier_min_h` hours. A
/// forecast that moves later is never sent again (the phones hold the earlier, safer time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForecastResend {
    pub earlier_fraction: f64,
    pub earlier_min_h: f64,
}

impl Default for ForecastResend {
    fn default() -> Self {
        ForecastResend {
            earlier_fraction: 0.25,
            earlier_min_h: 3.0,
        }
    }
}

impl ForecastResend {
    /// `sent`: the forecast the last SMS carried; `new`: the forecast now; `now`: the reading
    /// time it was made at.
    pub fn materially_earlier(
        &self,
        sent: DateTime<Utc>,
        new: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        let hours = |d: chrono::TimeDelta| d.num_milliseconds() as f64 / 3_600_000.0;
        let earlier = hours(sent - new);
        let left = hours(sent - now).max(0.0);
        earlier > (self.earlier_fraction * left).max(self.earlier_min_h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: f64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis((h * 3_600_000.0) as i64).unwrap()
    }

    #[test]
    fn only_a_move_earlier_beyond_the_configured_share_of_the_time_left_is_sent_again() {
        let rule = ForecastResend::default();
        // Sent at hour 0: failure at hour 40. A quarter of 40 h is 10 h.
        let (now, sent) = (at(0.0), at(40.0));
        assert!(!rule.materially_earlier(sent, at(31.0), now), "9 h earlier");
        assert!(rule.materially_earlier(sent, at(29.0), now), "11 h earlier");
        assert!(!rule.materially_earlier(sent, at(60.0), now), "later");
        // Near the end the floor of 3 h holds: 2.5 h earlier with 4 h left is jitter.
        assert!(!rule.materially_earlier(at(4.0), at(1.5), at(0.0)));
        assert!(rule.materially_earlier(at(4.0), at(0.5), at(0.0)));
        // Configurable.
        let strict = ForecastResend {
            earlier_fraction: 0.5,
            earlier_min_h: 1.0,
        };
        assert!(!strict.materially_earlier(sent, at(29.0), now));
        assert!(strict.materially_earlier(sent, at(19.0), now));
    }

    #[test]
    fn a_forecast_that_jitters_about_the_one_sent_never_counts() {
        let rule = ForecastResend::default();
        let sent = at(30.0);
        for i in 0..200 {
            let now = at(i as f64 * 0.1);
            let jitter = ((i * 7919) % 13) as f64 / 13.0 * 6.0 - 3.0;
            let new = at(30.0 + jitter);
            assert!(
                !rule.materially_earlier(sent, new, now),
                "{i}: {jitter:+.2} h"
            );
        }
    }
}
