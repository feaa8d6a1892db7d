//! Commands from the center to a gateway, `gh/v1/gw/{gateway}/cmd`, and the gateway's answers
//! on `gh/v1/gw/{gateway}/cmd/ack`. Every command gets exactly one ack with its `id`: an unknown
//! or malformed command gets `ok: false` and an error, never silence.
//!
//! A payload is read in two steps: the [`CommandEnvelope`] (`{id, name, args}`) first, so that
//! even a command that cannot be executed is answered under its id; then the typed
//! [`Command`] from the envelope's name and args, once.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A command as it travels: an id, a name and the name's args, not yet checked against the
/// name. Gateways other than the firmware-bridge (the universal-type endpoint) read their own
/// command set from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    /// Chosen by the center, unique per command; the ack carries it back.
    pub id: String,
    /// What to do, e.g. `set_interval`, `snapshot`, `live_view`, `status`, `reload_config`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
}

/// A payload that is not a command envelope at all.
#[derive(Debug, thiserror::Error)]
#[error("malformed command: {error}")]
pub struct MalformedCommand {
    /// The command's id if one could be read, else empty, so the center can match the error.
    pub id: String,
    pub error: serde_json::Error,
}

impl CommandEnvelope {
    /// Reads the payload of `.../cmd`.
    pub fn decode(payload: &[u8]) -> Result<CommandEnvelope, MalformedCommand> {
        serde_json::from_slice(payload).map_err(|error| MalformedCommand {
            id: CommandEnvelope::id_of(payload),
            error,
        })
    }

    /// The id of a payload that may not be a valid command (empty when none can be read).
    pub fn id_of(payload: &[u8]) -> String {
        #[derive(Deserialize)]
        struct IdOnly {
            id: String,
        }
        serde_json::from_slice::<IdOnly>(payload)
            .map(|c| c.id)
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a command always serializes")
    }
}

/// A command a firmware-bridge gateway executes, with its checked args.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    SetInterval(SetIntervalArgs),
    /// Args may be omitted: every camera.
    Snapshot(SnapshotArgs),
    LiveView(LiveViewArgs),
    /// No args; the ack's `result` is the current [`crate::GatewayStatus`].
    Status,
    /// No args; re-reads the gateway's configuration file.
    ReloadConfig,
}

/// Why an envelope is not a command the firmware-bridge executes.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command `{name}`; known commands: {}", names::ALL.join(", "))]
    Unknown { name: String },
    #[error("bad args for `{name}`: {error}")]
    BadArgs {
        name: &'static str,
        error: serde_json::Error,
    },
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
    /// Every name, in the order error messages list them.
    pub const ALL: [&str; 5] = [SET_INTERVAL, SNAPSHOT, LIVE_VIEW, STATUS, RELOAD_CONFIG];
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::SetInterval(_) => names::SET_INTERVAL,
            Command::Snapshot(_) => names::SNAPSHOT,
            Command::LiveView(_) => names::LIVE_VIEW,
            Command::Status => names::STATUS,
            Command::ReloadConfig => names::RELOAD_CONFIG,
        }
    }

    /// The typed command an envelope names. Absent (null) args are an empty object, so
    /// commands whose args are all optional may omit them; `status` and `reload_config` take
    /// none and ignore any given.
    pub fn parse(envelope: &CommandEnvelope) -> Result<Command, CommandError> {
        fn args<T: serde::de::DeserializeOwned>(
            name: &'static str,
            args: &Value,
        ) -> Result<T, CommandError> {
            let args = if args.is_null() {
                Value::Object(Default::default())
            } else {
                args.clone()
            };
            serde_json::from_value(args).map_err(|error| CommandError::BadArgs { name, error })
        }
        let a = &envelope.args;
        Ok(match envelope.name.as_str() {
            names::SET_INTERVAL => Command::SetInterval(args(names::SET_INTERVAL, a)?),
            names::SNAPSHOT => Command::Snapshot(args(names::SNAPSHOT, a)?),
            names::LIVE_VIEW => Command::LiveView(args(names::LIVE_VIEW, a)?),
            names::STATUS => Command::Status,
            names::RELOAD_CONFIG => Command::ReloadConfig,
            other => {
                return Err(CommandError::Unknown {
                    name: other.to_owned(),
                });
            }
        })
    }

    /// The command as it is sent, under `id`. Empty args are left out, as a sender writing
    /// JSON by hand would.
    pub fn envelope(&self, id: impl Into<String>) -> CommandEnvelope {
        fn value<T: Serialize>(args: &T) -> Value {
            match serde_json::to_value(args).expect("command args always serialize") {
                Value::Object(m) if m.is_empty() => Value::Null,
                v => v,
            }
        }
        let args = match self {
            Command::SetInterval(a) => value(a),
            Command::Snapshot(a) => value(a),
            Command::LiveView(a) => value(a),
            Command::Status | Command::ReloadConfig => Value::Null,
        };
        CommandEnvelope {
            id: id.into(),
            name: self.name().to_owned(),
            args,
        }
    }
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

impl CommandAck {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an ack always serializes")
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(payload: &[u8]) -> Result<Command, Box<dyn std::error::Error>> {
        let envelope = CommandEnvelope::decode(payload)?;
        Ok(Command::parse(&envelope)?)
    }

    #[test]
    fn the_wire_form_of_each_command_is_what_senders_have_always_written() {
        let live = Command::LiveView(LiveViewArgs {
            camera: "cam1".into(),
            action: LiveViewAction::Start,
            duration_s: Some(60.0),
            fps: None,
        });
        for (command, wire) in [
            (
                Command::Snapshot(SnapshotArgs::default()),
                json!({"id": "c1", "name": "snapshot"}),
            ),
            (
                live,
                json!({"id": "c1", "name": "live_view",
                       "args": {"camera": "cam1", "action": "start", "duration_s": 60.0}}),
            ),
            (
                Command::SetInterval(SetIntervalArgs {
                    reset: true,
                    ..Default::default()
                }),
                json!({"id": "c1", "name": "set_interval", "args": {"reset": true}}),
            ),
            (Command::Status, json!({"id": "c1", "name": "status"})),
            (
                Command::ReloadConfig,
                json!({"id": "c1", "name": "reload_config"}),
            ),
        ] {
            let bytes = command.envelope("c1").to_json();
            let sent: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(sent, wire);
            // And it reads back as the same command.
            assert_eq!(parse(&bytes).unwrap(), command);
        }
    }

    #[test]
    fn absent_or_null_args_of_an_all_optional_command_are_empty_args() {
        for payload in [
            br#"{"id": "a", "name": "snapshot"}"#.as_slice(),
            br#"{"id": "a", "name": "snapshot", "args": null}"#,
            br#"{"id": "a", "name": "snapshot", "args": {}}"#,
        ] {
            assert_eq!(
                parse(payload).unwrap(),
                Command::Snapshot(SnapshotArgs::default())
            );
        }
    }

    #[test]
    fn each_kind_of_bad_command_is_refused_with_a_reason_that_names_it() {
        let e = parse(br#"{"id": "c1", "name": "set_interval", "args": {"interval_s": "fast"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bad args for `set_interval`"), "{e}");
        let e = parse(br#"{"id": "c2", "name": "set_interval", "args": {"chanel": "x"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("chanel"), "{e}");
        let e = parse(br#"{"id": "c3", "name": "self_destruct"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("unknown command `self_destruct`; known commands: set_interval, snapshot, live_view, status, reload_config"), "{e}");
        let e = parse(br#"{"id": "c4", "name": "live_view"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `camera`"), "{e}");
    }

    #[test]
    fn a_malformed_envelope_still_gives_its_id_when_one_can_be_read() {
        let e = CommandEnvelope::decode(br#"{"id": "c3"}"#).unwrap_err();
        assert_eq!(e.id, "c3");
        assert!(
            e.to_string()
                .starts_with("malformed command: missing field `name`"),
            "{e}"
        );
        let e = CommandEnvelope::decode(b"\xff{not json").unwrap_err();
        assert_eq!(e.id, "");
        assert!(e.to_string().starts_with("malformed command"), "{e}");
        assert_eq!(CommandEnvelope::id_of(br#"{"id": 7}"#), "");
    }
}
