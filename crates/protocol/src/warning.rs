//! Warnings, `gh/v1/warning/{division}/{site}`: a state change of one site's warning, published
//! by the analyzer after the change is stored.
//!
//! ```json
//! {"id": 17, "site": "LS-001", "division": "511525", "source": "trend:crack-1",
//!  "category": "hazard", "level": "orange", "state": "open", "transition": "escalated",
//!  "at": 1764212400000, "reading_ts": 1764212100000, "failure_forecast_ts": 1764240000000,
//!  "summary": "tangent angle 83.1° (orange ≥ 80°)", "evidence": {"...": "..."}}
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::reject::{MessageReject, RejectReason};

/// The four warning levels, lowest to highest (blue: attention, yellow: caution, orange: alert,
/// red: alarm). Ordered, so `Level::Red > Level::Yellow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningLevel {
    Blue,
    Yellow,
    Orange,
    Red,
}

impl WarningLevel {
    pub const ALL: [WarningLevel; 4] = [
        WarningLevel::Blue,
        WarningLevel::Yellow,
        WarningLevel::Orange,
        WarningLevel::Red,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WarningLevel::Blue => "blue",
            WarningLevel::Yellow => "yellow",
            WarningLevel::Orange => "orange",
            WarningLevel::Red => "red",
        }
    }

    /// 0 for blue up to 3 for red.
    pub fn rank(self) -> usize {
        self as usize
    }

    pub fn from_rank(rank: usize) -> Option<WarningLevel> {
        Self::ALL.get(rank).copied()
    }

    /// The next level up, capped at red.
    pub fn raised(self) -> WarningLevel {
        Self::from_rank(self.rank() + 1).unwrap_or(WarningLevel::Red)
    }
}

impl fmt::Display for WarningLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WarningLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "blue" => Ok(WarningLevel::Blue),
            "yellow" => Ok(WarningLevel::Yellow),
            "orange" => Ok(WarningLevel::Orange),
            "red" => Ok(WarningLevel::Red),
            other => Err(format!("unknown warning level `{other}`")),
        }
    }
}

/// What a warning is about: the ground (a hazard) or the monitoring equipment (a device fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningCategory {
    Hazard,
    Device,
}

impl WarningCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCategory::Hazard => "hazard",
            WarningCategory::Device => "device",
        }
    }
}

/// Where a warning is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningState {
    Open,
    Acknowledged,
    Closed,
}

impl WarningState {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningState::Open => "open",
            WarningState::Acknowledged => "acknowledged",
            WarningState::Closed => "closed",
        }
    }
}

impl FromStr for WarningState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(WarningState::Open),
            "acknowledged" => Ok(WarningState::Acknowledged),
            "closed" => Ok(WarningState::Closed),
            other => Err(format!("unknown warning state `{other}`")),
        }
    }
}

/// The change a message reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningTransition {
    /// A new warning.
    Raised,
    /// Its level went up.
    Escalated,
    /// Its level went down.
    DeEscalated,
    /// A person acknowledged it.
    Acknowledged,
    /// Not acknowledged in time: referred to the next administrative level's duty roster.
    Referred,
    /// The condition is over (or a person closed it).
    Closed,
    /// The level holds, and its failure-time forecast moved by more than the set tolerance.
    ForecastUpdated,
}

impl WarningTransition {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningTransition::Raised => "raised",
            WarningTransition::Escalated => "escalated",
            WarningTransition::DeEscalated => "de_escalated",
            WarningTransition::Acknowledged => "acknowledged",
            WarningTransition::Referred => "referred",
            WarningTransition::Closed => "closed",
            WarningTransition::ForecastUpdated => "forecast_updated",
        }
    }
}

impl FromStr for WarningTransition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "raised" => Ok(WarningTransition::Raised),
            "escalated" => Ok(WarningTransition::Escalated),
            "de_escalated" => Ok(WarningTransition::DeEscalated),
            "acknowledged" => Ok(WarningTransition::Acknowledged),
            "referred" => Ok(WarningTransition::Referred),
            "closed" => Ok(WarningTransition::Closed),
            "forecast_updated" => Ok(WarningTransition::ForecastUpdated),
            other => Err(format!("unknown warning transition `{other}`")),
        }
    }
}

/// One warning state change as published on `gh/v1/warning/{division}/{site}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// The warning's id in the center's database; all changes of one warning share it.
    pub id: i64,
    /// Site code.
    pub site: String,
    /// The site's division code.
    pub division: String,
    /// What raised it, e.g. `rain:rain-1`, `trend:crack-1`, `device:gateway:gw-01`, `site:combined`.
    pub source: String,
    pub category: WarningCategory,
    pub level: WarningLevel,
    pub state: WarningState,
    pub transition: WarningTransition,
    /// When the change happened, Unix milliseconds.
    pub at: i64,
    /// Time of the reading that caused it, Unix milliseconds (absent for wall-clock causes such
    /// as a silent gateway or a person's acknowledgement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading_ts: Option<i64>,
    /// Forecast failure time from the inverse-velocity method, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_forecast_ts: Option<i64>,
    /// One line for people.
    pub summary: String,
    /// The readings and figures that caused the change.
    #[serde(default)]
    pub evidence: serde_json::Value,
}

impl Warning {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a warning always serializes")
    }

    pub fn decode(payload: &[u8]) -> Result<Warning, MessageReject> {
        serde_json::from_slice(payload).map_err(|e| MessageReject {
            reason: RejectReason::from_json_error(&e),
            detail: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_cap_at_red() {
        assert!(WarningLevel::Red > WarningLevel::Orange);
        assert!(WarningLevel::Yellow > WarningLevel::Blue);
        assert_eq!(WarningLevel::Blue.raised(), WarningLevel::Yellow);
        assert_eq!(WarningLevel::Red.raised(), WarningLevel::Red);
        for l in WarningLevel::ALL {
            assert_eq!(l.as_str().parse::<WarningLevel>(), Ok(l));
        }
    }

    #[test]
    fn a_warning_round_trips_through_json() {
        let w = Warning {
            id: 3,
            site: "LS-001".into(),
            division: "511525".into(),
            source: "trend:crack-1".into(),
            category: WarningCategory::Hazard,
            level: WarningLevel::Orange,
            state: WarningState::Open,
            transition: WarningTransition::DeEscalated,
            at: 1_764_212_400_000,
            reading_ts: Some(1_764_212_300_000),
            failure_forecast_ts: None,
            summary: "x".into(),
            evidence: serde_json::json!({"alpha_deg": 81.0}),
        };
        let json = String::from_utf8(w.to_json()).unwrap();
        assert!(json.contains(r#""transition":"de_escalated""#));
        assert!(!json.contains("failure_forecast_ts"));
        assert_eq!(Warning::decode(json.as_bytes()).unwrap(), w);
        assert!(Warning::decode(br#"{"id":1}"#).is_err());
    }
}
