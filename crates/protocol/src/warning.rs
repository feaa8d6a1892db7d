//! Warnings, `gh/v1/warning/{division}/{site}`: a state change of one site's warning, published
//! after the change is stored (by the analyzer, or the command-center for an acknowledgement).
//!
//! ```json
//! {"id": 17, "site": "LS-001", "division": "511525", "source": "trend:gw-01/crack-1",
//!  "category": "hazard", "level": "orange", "state": "open", "transition": "escalated",
//!  "at": 1764212400000, "reading_ts": 1764212100000, "failure_forecast_ts": 1764240000000,
//!  "summary": "tangent angle 83.1° (orange ≥ 80°)", "summary_zh": "改进切线角 83.1°（橙色 ≥ 80°）",
//!  "evidence": {"...": "..."}}
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::reject::MessageReject;

/// A name read from the wire or a database column that is not one of the enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown warning {what} `{value}`")]
pub struct UnknownName {
    /// What was parsed: `level`, `state`, `category`, `transition` or `source`.
    pub what: &'static str,
    pub value: String,
}

impl From<geohazard_domain::UnknownName> for UnknownName {
    fn from(e: geohazard_domain::UnknownName) -> UnknownName {
        UnknownName {
            what: e.kind,
            value: e.name,
        }
    }
}

impl UnknownName {
    fn new(what: &'static str, value: &str) -> UnknownName {
        UnknownName {
            what,
            value: value.chars().take(200).collect(),
        }
    }
}

pub use geohazard_domain::WarningLevel;

/// A warning's one line for people, in English and in Chinese: duty officers and field staff
/// read Chinese first (console, SMS, app), the English is for the English console and the logs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub en: String,
    pub zh: String,
}

impl Summary {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Summary {
        Summary {
            en: en.into(),
            zh: zh.into(),
        }
    }

    /// The line for a Chinese reader: the Chinese one, or the English one from a sender (or a
    /// stored warning) that has none.
    pub fn chinese_or_english<'a>(zh: &'a str, en: &'a str) -> &'a str {
        if zh.is_empty() { en } else { zh }
    }

    /// Adds a clause to both.
    pub fn push(&mut self, en: &str, zh: &str) {
        self.en.push_str(en);
        self.zh.push_str(zh);
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

impl FromStr for WarningCategory {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "hazard" => Ok(WarningCategory::Hazard),
            "device" => Ok(WarningCategory::Device),
            other => Err(UnknownName::new("category", other)),
        }
    }
}

/// What raised a warning: one rule on one sensor, a site rule, or a device fault. Sensors are
/// named by their label `{gateway}/{channel}`. Written and read as one string (the `source`
/// column and field): `threshold:{sensor}`, `rate:{sensor}`, `trend:{sensor}`, `rain:{sensor}`,
/// `site:combined`, `device:…` (see [`DeviceFault`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum WarningSource {
    /// A sensor's value against its four lines.
    Threshold { sensor: String },
    /// A deformation sensor's velocity and acceleration.
    Rate { sensor: String },
    /// A deformation sensor's tangent angle (and failure forecast).
    Trend { sensor: String },
    /// A rain gauge's accumulations, intensity and antecedent rain.
    Rain { sensor: String },
    /// Rain together with ground movement at one site.
    SiteCombined,
    /// The monitoring equipment, not the ground.
    Device(DeviceFault),
}

/// A fault of the monitoring equipment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceFault {
    /// `device:silent:gateway:{gateway}`: nothing heard from the gateway for too long.
    GatewaySilent { gateway: String },
    /// `device:power:gateway:{gateway}`: low battery or supply in its status.
    GatewayPower { gateway: String },
    /// `device:silent:{sensor}`: one sensor silent while its gateway talks.
    SensorSilent { sensor: String },
    /// `device:stuck:{sensor}`: the same value over and over.
    Stuck { sensor: String },
    /// `device:supply:{sensor}`: a supply-voltage sensor below its line.
    Supply { sensor: String },
    /// `device:suspect:{sensor}`: a reading far out of line with its neighbours in time, held
    /// out of the hazard rules until the next readings confirm or refute it.
    Suspect { sensor: String },
}

impl WarningSource {
    /// Device faults are equipment; everything else is the ground.
    pub fn category(&self) -> WarningCategory {
        match self {
            WarningSource::Device(_) => WarningCategory::Device,
            _ => WarningCategory::Hazard,
        }
    }
}

impl fmt::Display for WarningSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarningSource::Threshold { sensor } => write!(f, "threshold:{sensor}"),
            WarningSource::Rate { sensor } => write!(f, "rate:{sensor}"),
            WarningSource::Trend { sensor } => write!(f, "trend:{sensor}"),
            WarningSource::Rain { sensor } => write!(f, "rain:{sensor}"),
            WarningSource::SiteCombined => f.write_str("site:combined"),
            WarningSource::Device(d) => match d {
                DeviceFault::GatewaySilent { gateway } => {
                    write!(f, "device:silent:gateway:{gateway}")
                }
                DeviceFault::GatewayPower { gateway } => {
                    write!(f, "device:power:gateway:{gateway}")
                }
                DeviceFault::SensorSilent { sensor } => write!(f, "device:silent:{sensor}"),
                DeviceFault::Stuck { sensor } => write!(f, "device:stuck:{sensor}"),
                DeviceFault::Supply { sensor } => write!(f, "device:supply:{sensor}"),
                DeviceFault::Suspect { sensor } => write!(f, "device:suspect:{sensor}"),
            },
        }
    }
}

impl FromStr for WarningSource {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        let unknown = || UnknownName::new("source", s);
        // Sensor labels and gateway codes are identifiers: never empty, never a `:`.
        let name = |rest: &str| {
            (!rest.is_empty() && !rest.contains(':'))
                .then(|| rest.to_owned())
                .ok_or_else(unknown)
        };
        if s == "site:combined" {
            return Ok(WarningSource::SiteCombined);
        }
        let (kind, rest) = s.split_once(':').ok_or_else(unknown)?;
        Ok(match kind {
            "threshold" => WarningSource::Threshold {
                sensor: name(rest)?,
            },
            "rate" => WarningSource::Rate {
                sensor: name(rest)?,
            },
            "trend" => WarningSource::Trend {
                sensor: name(rest)?,
            },
            "rain" => WarningSource::Rain {
                sensor: name(rest)?,
            },
            "device" => WarningSource::Device(match rest.split_once(':').ok_or_else(unknown)? {
                ("silent", r) => match r.strip_prefix("gateway:") {
                    Some(gateway) => DeviceFault::GatewaySilent {
                        gateway: name(gateway)?,
                    },
                    None => DeviceFault::SensorSilent { sensor: name(r)? },
                },
                ("power", r) => DeviceFault::GatewayPower {
                    gateway: name(r.strip_prefix("gateway:").ok_or_else(unknown)?)?,
                },
                ("stuck", r) => DeviceFault::Stuck { sensor: name(r)? },
                ("supply", r) => DeviceFault::Supply { sensor: name(r)? },
                ("suspect", r) => DeviceFault::Suspect { sensor: name(r)? },
                _ => return Err(unknown()),
            }),
            _ => return Err(unknown()),
        })
    }
}

impl From<WarningSource> for String {
    fn from(s: WarningSource) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for WarningSource {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
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
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "open" => Ok(WarningState::Open),
            "acknowledged" => Ok(WarningState::Acknowledged),
            "closed" => Ok(WarningState::Closed),
            other => Err(UnknownName::new("state", other)),
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
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "raised" => Ok(WarningTransition::Raised),
            "escalated" => Ok(WarningTransition::Escalated),
            "de_escalated" => Ok(WarningTransition::DeEscalated),
            "acknowledged" => Ok(WarningTransition::Acknowledged),
            "referred" => Ok(WarningTransition::Referred),
            "closed" => Ok(WarningTransition::Closed),
            "forecast_updated" => Ok(WarningTransition::ForecastUpdated),
            other => Err(UnknownName::new("transition", other)),
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
    /// What raised it, e.g. `rain:gw-01/rain-1`, `trend:gw-01/crack-1`,
    /// `device:silent:gateway:gw-01`, `site:combined` ([`WarningSource`] as a string).
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
    /// One line for people, in English.
    pub summary: String,
    /// The same line in Chinese (empty from a sender that has none).
    #[serde(default)]
    pub summary_zh: String,
    /// The readings and figures that caused the change.
    #[serde(default)]
    pub evidence: serde_json::Value,
}

impl Warning {
    /// Its line for a Chinese reader (see [`Summary::chinese_or_english`]).
    pub fn summary_in_chinese(&self) -> &str {
        Summary::chinese_or_english(&self.summary_zh, &self.summary)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a warning always serializes")
    }

    pub fn decode(payload: &[u8]) -> Result<Warning, MessageReject> {
        serde_json::from_slice(payload).map_err(|e| MessageReject {
            reason: crate::reject::reason_of_json_error(&e),
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
            summary_zh: "甲".into(),
            evidence: serde_json::json!({"alpha_deg": 81.0}),
        };
        let json = String::from_utf8(w.to_json()).unwrap();
        assert!(json.contains(r#""transition":"de_escalated""#));
        assert!(!json.contains("failure_forecast_ts"));
        assert_eq!(Warning::decode(json.as_bytes()).unwrap(), w);
        assert!(Warning::decode(br#"{"id":1}"#).is_err());
    }

    #[test]
    fn sources_round_trip_through_their_strings_and_unknown_ones_are_refused() {
        for s in [
            "threshold:gw-01/p-1",
            "threshold:mud-1",
            "rate:gw-01/crack-1",
            "trend:gw-01/crack-1",
            "rain:gw-01/rain-1",
            "site:combined",
            "device:silent:gateway:gw-01",
            "device:power:gateway:gw-01",
            "device:silent:gw-01/p-1",
            "device:stuck:gw-01/p-1",
            "device:supply:gw-01/v-1",
            "device:suspect:gw-01/rain-1",
        ] {
            let parsed: WarningSource = s.parse().unwrap();
            assert_eq!(parsed.to_string(), s);
            assert_eq!(
                parsed.category() == WarningCategory::Device,
                s.starts_with("device:")
            );
        }
        for bad in [
            "",
            "threshold:",
            "flood:gw-01/x",
            "site:other",
            "device:power:gw-01",
            "device:melted:gw-01/p-1",
            "rain:a:b",
        ] {
            assert_eq!(
                bad.parse::<WarningSource>().unwrap_err().what,
                "source",
                "{bad}"
            );
        }
        assert!("purple".parse::<WarningLevel>().is_err());
        assert!("half-open".parse::<WarningState>().is_err());
        assert!("thing".parse::<WarningCategory>().is_err());
    }
}
