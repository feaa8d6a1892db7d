//! What the lifecycle decides by configuration: who hears of a warning by SMS, and how long an
//! unacknowledged warning waits before it is referred up. The analyzer's `[notifier]` section
//! holds these beside its delivery settings.

use std::time::Duration;

use geohazard_protocol::warning::WarningLevel;
use serde::{Deserialize, Serialize};

/// Seconds a warning of each level may stay unacknowledged before it is referred up (county →
/// city → province). `None`: never referred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AckDeadlines {
    pub blue: Option<f64>,
    pub yellow: Option<f64>,
    pub orange: Option<f64>,
    pub red: Option<f64>,
}

impl Default for AckDeadlines {
    fn default() -> Self {
        AckDeadlines {
            blue: None,
            yellow: Some(7200.0),
            orange: Some(1800.0),
            red: Some(600.0),
        }
    }
}

impl AckDeadlines {
    pub fn get(&self, level: WarningLevel) -> Option<Duration> {
        match level {
            WarningLevel::Blue => self.blue,
            WarningLevel::Yellow => self.yellow,
            WarningLevel::Orange => self.orange,
            WarningLevel::Red => self.red,
        }
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
    }
}

/// The lifecycle's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WarningPolicy {
    /// Hazard warnings from this level up go out by SMS; all go to the app.
    pub sms_min_level: WarningLevel,
    pub ack_deadlines: AckDeadlines,
    /// Name put in messages, e.g. 【地灾监测】.
    pub sender_name: String,
}

impl Default for WarningPolicy {
    fn default() -> Self {
        WarningPolicy {
            sms_min_level: WarningLevel::Yellow,
            ack_deadlines: AckDeadlines::default(),
            sender_name: "地灾监测".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_that_are_negative_or_not_finite_mean_never() {
        let d = AckDeadlines {
            blue: Some(-1.0),
            yellow: Some(f64::NAN),
            orange: Some(1800.0),
            red: None,
        };
        assert_eq!(d.get(WarningLevel::Blue), None);
        assert_eq!(d.get(WarningLevel::Yellow), None);
        assert_eq!(d.get(WarningLevel::Orange), Some(Duration::from_secs(1800)));
        assert_eq!(d.get(WarningLevel::Red), None);
    }
}
