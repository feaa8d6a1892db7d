//! Commands: ours (`gh/v1/gw/{id}/cmd`, JSON) to the platform's `$creq/{deviceId}/{msgid}` with a
//! `$cmd=name&k=v` body, and the device's `$dr` reply back to our `CommandAck`.

use geohazard_protocol::warning::WarningLevel;
use geohazard_protocol::{CommandAck, CommandEnvelope as Command};
use serde_json::{Map, Value};

use crate::mapping;

/// Why one of our commands cannot be sent to a universal-type device; the error ack says it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Untranslatable {
    #[error("args must be an object")]
    ArgsNotAnObject,
    #[error("`{command}` does not take `{arg}` on a universal-type device")]
    UnexpectedArg { command: String, arg: String },
    #[error("interval_s must be a whole number of seconds, at least 1")]
    BadInterval,
    #[error("channel must be a monitoring identifier such as L1_LF_1")]
    BadChannel,
    #[error("level must be blue, yellow, orange or red")]
    BadLevel,
    #[error("value must be a number")]
    BadValue,
    #[error("the endpoint's clock is out of range")]
    ClockOutOfRange,
    #[error("unknown command `{0}` for a universal-type device")]
    Unknown(String),
}

/// Why a device's `$dr` reply cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BadReply {
    #[error("the reply is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("the reply must be a JSON object")]
    NotAnObject,
    #[error("the reply carries no msgid")]
    NoMsgid,
}

/// Translates one of our commands into a `$cmd=...` body (see the table in
/// `docs/universal-protocol.md`), or says why it cannot.
pub fn to_cmd(command: &Command, now_ms: i64) -> Result<String, Untranslatable> {
    let empty = Map::new();
    let args = match &command.args {
        Value::Null => &empty,
        Value::Object(m) => m,
        _ => return Err(Untranslatable::ArgsNotAnObject),
    };
    let allow = |allowed: &[&str]| -> Result<(), Untranslatable> {
        match args.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(Untranslatable::UnexpectedArg {
                command: command.name.clone(),
                arg: k.clone(),
            }),
            None => Ok(()),
        }
    };
    let seconds = || -> Result<u64, Untranslatable> {
        args.get("interval_s")
            .and_then(Value::as_f64)
            .filter(|s| *s >= 1.0 && s.fract() == 0.0 && *s <= 86_400.0 * 30.0)
            .map(|s| s as u64)
            .ok_or(Untranslatable::BadInterval)
    };
    let channel = |required: bool| -> Result<Option<String>, Untranslatable> {
        match args.get("channel") {
            None if !required => Ok(None),
            Some(Value::String(c)) if mapping::Identifier::parse(c).is_some() => {
                Ok(Some(c.clone()))
            }
            _ => Err(Untranslatable::BadChannel),
        }
    };
    let body = match command.name.as_str() {
        "set_interval" => {
            allow(&["interval_s", "channel"])?;
            let mut body = format!("$cmd=setSampleInterval&interval={}", seconds()?);
            if let Some(c) = channel(false)? {
                body.push_str(&format!("&monitor={c}"));
            }
            body
        }
        "set_upload_interval" => {
            allow(&["interval_s"])?;
            format!("$cmd=setUploadInterval&interval={}", seconds()?)
        }
        "set_threshold" => {
            allow(&["channel", "level", "value"])?;
            let c = channel(true)?.expect("required");
            let level: WarningLevel = args
                .get("level")
                .and_then(Value::as_str)
                .and_then(|l| l.parse().ok())
                .ok_or(Untranslatable::BadLevel)?;
            let value = args
                .get("value")
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite())
                .ok_or(Untranslatable::BadValue)?;
            format!(
                "$cmd=setThreshold&monitor={c}&level={}&value={value}",
                mapping::code_from_level(Some(level))
            )
        }
        "reboot" => {
            allow(&[])?;
            "$cmd=reboot".into()
        }
        "status" => {
            allow(&[])?;
            "$cmd=getStatus".into()
        }
        "sync_time" => {
            allow(&[])?;
            let now = chrono::DateTime::from_timestamp_millis(now_ms)
                .ok_or(Untranslatable::ClockOutOfRange)?;
            format!("$cmd=setTime&time={}", now.format("%Y-%m-%dT%H:%M:%SZ"))
        }
        other => {
            return Err(Untranslatable::Unknown(other.chars().take(64).collect()));
        }
    };
    Ok(body)
}

/// A `$dr` reply: the msgid it answers and our ack for it (without the command id yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub msgid: String,
    pub ok: bool,
    pub error: Option<String>,
    pub result: Value,
}

/// Reads a device's reply: JSON with `msgid` and `code` (0 is success), optionally `msg` and any
/// other fields (the result). The msgid may also be the last topic level (`$dr/{msgid}`).
pub fn parse_reply(topic: &str, payload: &[u8]) -> Result<Reply, BadReply> {
    let value: Value = serde_json::from_slice(payload)?;
    let Value::Object(mut fields) = value else {
        return Err(BadReply::NotAnObject);
    };
    let msgid = match fields.remove("msgid") {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => topic
            .strip_prefix("$dr/")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or(BadReply::NoMsgid)?,
    };
    let code = fields.remove("code").and_then(|c| c.as_i64()).unwrap_or(0);
    let msg = fields
        .remove("msg")
        .and_then(|m| m.as_str().map(str::to_owned));
    let ok = code == 0;
    Ok(Reply {
        msgid,
        ok,
        error: (!ok).then(|| {
            format!(
                "device answered code {code}{}",
                msg.map(|m| format!(": {m}")).unwrap_or_default()
            )
        }),
        result: if fields.is_empty() {
            Value::Null
        } else {
            Value::Object(fields)
        },
    })
}

impl Reply {
    pub fn into_ack(self, command_id: &str) -> CommandAck {
        CommandAck {
            id: command_id.to_owned(),
            ok: self.ok,
            error: self.error,
            result: self.result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmd(name: &str, args: Value) -> Command {
        Command {
            id: "c1".into(),
            name: name.into(),
            args,
        }
    }

    #[test]
    fn our_commands_become_cmd_query_strings() {
        assert_eq!(
            to_cmd(
                &cmd(
                    "set_interval",
                    json!({"interval_s": 60, "channel": "L1_LF_1"})
                ),
                0
            ),
            Ok("$cmd=setSampleInterval&interval=60&monitor=L1_LF_1".into())
        );
        assert_eq!(
            to_cmd(
                &cmd(
                    "set_threshold",
                    json!({"channel": "L1_LF_1", "level": "red", "value": 30.5})
                ),
                0
            ),
            Ok("$cmd=setThreshold&monitor=L1_LF_1&level=0&value=30.5".into())
        );
        assert_eq!(
            to_cmd(&cmd("reboot", Value::Null), 0),
            Ok("$cmd=reboot".into())
        );
        assert_eq!(
            to_cmd(&cmd("sync_time", Value::Null), 1_764_237_600_000),
            Ok("$cmd=setTime&time=2025-11-27T10:00:00Z".into())
        );
    }

    #[test]
    fn unknown_commands_and_bad_args_are_refused_with_a_reason() {
        let e = to_cmd(&cmd("snapshot", Value::Null), 0).unwrap_err();
        assert_eq!(e, Untranslatable::Unknown("snapshot".into()));
        assert!(e.to_string().contains("unknown command `snapshot`"), "{e}");
        assert!(to_cmd(&cmd("set_interval", json!({"interval_s": 0.5})), 0).is_err());
        assert!(
            to_cmd(
                &cmd("set_interval", json!({"interval_s": 10, "duration_s": 5})),
                0
            )
            .is_err()
        );
        assert!(
            to_cmd(
                &cmd(
                    "set_interval",
                    json!({"interval_s": 10, "channel": "a&b=c"})
                ),
                0
            )
            .is_err()
        );
        assert!(
            to_cmd(
                &cmd(
                    "set_threshold",
                    json!({"channel": "L1_LF_1", "level": "purple", "value": 1})
                ),
                0
            )
            .is_err()
        );
        assert!(to_cmd(&cmd("reboot", json!([1])), 0).is_err());
    }

    #[test]
    fn replies_become_acks() {
        let r = parse_reply("$dr", br#"{"msgid":"m1","code":0,"interval":60}"#).unwrap();
        assert_eq!(r.msgid, "m1");
        let ack = r.into_ack("c1");
        assert!(ack.ok);
        assert_eq!(ack.result, json!({"interval": 60}));
        let r = parse_reply("$dr/m2", br#"{"code":3,"msg":"busy"}"#).unwrap();
        assert_eq!(r.msgid, "m2");
        assert_eq!(r.error.as_deref(), Some("device answered code 3: busy"));
        assert!(parse_reply("$dr", br#"{"code":0}"#).is_err());
        assert!(parse_reply("$dr", b"nope").is_err());
    }
}
