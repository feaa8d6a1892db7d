//! Commands from the center to a gateway, `gh/v1/gw/{gateway}/cmd`, and the gateway's answers
//! on `gh/v1/gw/{gateway}/cmd/ack`. Every command gets exactly one ack with its `id`: an unknown
//! or malformed command gets `ok: false` and an error, never silence.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Chosen by the center, unique per command; the ack carries it back.
    pub id: String,
    /// What to do, e.g. `set_interval`, `snapshot`, `live_view`, `status`, `reload_config`.
    pub name: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub args: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandAck {
    /// The command's id; empty when the command was too malformed to carry one.
    pub id: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub result: serde_json::Value,
}

impl Command {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a command always serializes")
    }
}

impl CommandAck {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an ack always serializes")
    }
}

/// The command names a gateway understands, and the shapes of their `args`.
/// Unknown fields in `args` are refused, so a typo gets an error ack rather than a default.
pub mod names {
    /// Args: [`super::SetIntervalArgs`].
    pub const SET_INTERVAL: &str = "set_interval";
    /// Args: [`super::SnapshotArgs`] (may be omitted).
    pub const SNAPSHOT: &str = "snapshot";
    /// Args: [`super::LiveViewArgs`].
    pub const LIVE_VIEW: &str = "live_view";
    /// No args; the ack's `result` is the current [`crate::GatewayStatus`].
    pub const STATUS: &str = "status";
    /// No args; re-reads the gateway's configuration file.
    pub const RELOAD_CONFIG: &str = "reload_config";
}

/// `set_interval`: `{"interval_s": 10, "channel": "crack-1", "duration_s": 3600}` polls one
/// channel (or, without `channel`, every channel) every 10 s for an hour, then returns to the
/// configured interval. Without `duration_s` the change lasts until reset or restart.
/// `{"reset": true}` (optionally with `channel`) returns to the configured intervals now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SetIntervalArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Seconds between polls; at least 0.1. Required unless `reset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}

/// `snapshot`: `{"camera": "cam1"}`, or no args for every camera. The frames arrive on
/// `gh/v1/gw/{gateway}/video/{camera}/{captured_at_ms}`; the ack's `result` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SnapshotArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveViewAction {
    Start,
    Stop,
}

/// `live_view`: `{"camera": "cam1", "action": "start", "duration_s": 60, "fps": 1}` streams
/// low-rate frames (QoS 0, never queued) for at most `duration_s` (default 60, at most 600) at
/// `fps` (default 1, 0.1 to 5). `{"camera": "cam1", "action": "stop"}` ends it early.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveViewArgs {
    pub camera: String,
    pub action: LiveViewAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
}

impl CommandAck {
    pub fn success(id: impl Into<String>, result: serde_json::Value) -> CommandAck {
        CommandAck {
            id: id.into(),
            ok: true,
            error: None,
            result,
        }
    }

    pub fn failure(id: impl Into<String>, error: impl Into<String>) -> CommandAck {
        CommandAck {
            id: id.into(),
            ok: false,
            error: Some(error.into()),
            result: serde_json::Value::Null,
        }
    }
}
