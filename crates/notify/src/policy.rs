//! What the lifecycle decides by configuration: who hears of a warning by SMS, and how long an
//! unacknowledged warning waits before it is referred up. The analyzer's `[notifier]` section
//! holds these beside its delivery settings.

use std::time::Duration;

use geohazard_domain::PerLevel;
use geohazard_protocol::warning::WarningLevel;
use serde::{Deserialize, Serialize};

/// Seconds a warning of each level may stay unacknowledged before it is referred up (county →
/// city → province) by default: yellow 2 h, orange 30 min, red 10 min; blue never.
pub const DEFAULT_ACK_DEADLINES: PerLevel<Option<f64>> =
    PerLevel::new(None, Some(7200.0), Some(1800.0), Some(600.0));

/// The lifecycle's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WarningPolicy {
    /// Hazard warnings from this level up go out by SMS; all go to the app.
    pub sms_min_level: WarningLevel,
    /// Seconds a warning of each level may stay unacknowledged before it is referred up
    /// (county → city → province); `None`, negative or not finite: never referred.
    pub ack_deadlines: PerLevel<Option<f64>>,
    /// Name put in messages, e.g. 【地灾监测】.
    pub sender_name: String,
}

impl Default for WarningPolicy {
    fn default() -> Self {
        WarningPolicy {
            sms_min_level: WarningLevel::Yellow,
            ack_deadlines: DEFAULT_ACK_DEADLINES,
            sender_name: "地灾监测".into(),
        }
    }
}

impl WarningPolicy {
    /// How long a warning at `level` may wait for an acknowledgement before it is referred up.
    pub fn ack_deadline(&self, level: WarningLevel) -> Option<Duration> {
        self.ack_deadlines
            .get(level)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_that_are_negative_or_not_finite_mean_never() {
        let d = WarningPolicy {
            ack_deadlines: PerLevel::new(Some(-1.0), Some(f64::NAN), Some(1800.0), None),
            ..WarningPolicy::default()
        };
        assert_eq!(d.ack_deadline(WarningLevel::Blue), None);
        assert_eq!(d.ack_deadline(WarningLevel::Yellow), None);
        assert_eq!(
            d.ack_deadline(WarningLevel::Orange),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(d.ack_deadline(WarningLevel::Red), None);
    }
}
