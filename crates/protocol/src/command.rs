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
