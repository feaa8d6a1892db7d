//! Versioned, rooted topics. Every gateway owns one subtree, `gh/v1/gw/{gateway}/...`, so a broker
//! ACL of `pattern readwrite gh/v1/gw/%u/#` confines a device to its own topics.

use crate::is_valid_identifier;

/// Root of every version-1 topic.
pub const ROOT: &str = "gh/v1";

/// Subscription filter for all gateways' telemetry.
pub const ALL_TELEMETRY: &str = "gh/v1/gw/+/telemetry";
/// Subscription filter for all gateways' status (retained, with last will).
pub const ALL_STATUS: &str = "gh/v1/gw/+/status";
/// Subscription filter for all camera frames.
pub const ALL_VIDEO: &str = "gh/v1/gw/+/video/#";
/// Subscription filter for all command acknowledgements.
pub const ALL_COMMAND_ACKS: &str = "gh/v1/gw/+/cmd/ack";
/// Subscription filter for all warnings the analyzer publishes.
pub const ALL_WARNINGS: &str = "gh/v1/warning/#";

/// A parsed topic of protocol version 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// `gh/v1/gw/{gateway}/telemetry`: a [`crate::TelemetryBatch`] as JSON.
    Telemetry { gateway: String },
    /// `gh/v1/gw/{gateway}/status`: a [`crate::GatewayStatus`] as JSON, retained; also the last will.
    Status { gateway: String },
    /// `gh/v1/gw/{gateway}/video/{camera}/{captured_at_ms}`: one JPEG frame, raw bytes.
    Video {
        gateway: String,
        camera: String,
        captured_at_ms: i64,
    },
    /// `gh/v1/gw/{gateway}/cmd`: a [`crate::Command`] from the center.
    Command { gateway: String },
    /// `gh/v1/gw/{gateway}/cmd/ack`: a [`crate::CommandAck`] from the gateway.
    CommandAck { gateway: String },
    /// `gh/v1/warning/{division}/{site}`: a warning state change from the analyzer.
    Warning { division: String, site: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic is not under {ROOT}/")]
    WrongRoot,
    #[error("topic has an unknown shape")]
    UnknownShape,
    #[error("topic has an invalid identifier `{0}`")]
    InvalidIdentifier(String),
}

impl Topic {
    pub fn telemetry(gateway: &str) -> String {
        format!("{ROOT}/gw/{gateway}/telemetry")
    }
    /// `gh/v1/gw/{gateway}/telemetry/ack`: the collector's [`crate::TelemetryAck`], center →
    /// gateway.
    pub fn telemetry_ack(gateway: &str) -> String {
        format!("{ROOT}/gw/{gateway}/telemetry/ack")
    }
    pub fn status(gateway: &str) -> String {
        format!("{ROOT}/gw/{gateway}/status")
    }
    pub fn video(gateway: &str, camera: &str, captured_at_ms: i64) -> String {
        format!("{ROOT}/gw/{gateway}/video/{camera}/{captured_at_ms}")
    }
    pub fn command(gateway: &str) -> String {
        format!("{ROOT}/gw/{gateway}/cmd")
    }
    pub fn command_ack(gateway: &str) -> String {
        format!("{ROOT}/gw/{gateway}/cmd/ack")
    }
    pub fn warning(division: &str, site: &str) -> String {
        format!("{ROOT}/warning/{division}/{site}")
    }

    /// The topic's string form.
    pub fn to_topic_string(&self) -> String {
        match self {
            Topic::Telemetry { gateway } => Self::telemetry(gateway),
            Topic::Status { gateway } => Self::status(gateway),
            Topic::Video {
                gateway,
                camera,
                captured_at_ms,
            } => Self::video(gateway, camera, *captured_at_ms),
            Topic::Command { gateway } => Self::command(gateway),
            Topic::CommandAck { gateway } => Self::command_ack(gateway),
            Topic::Warning { division, site } => Self::warning(division, site),
        }
    }

    /// The gateway whose subtree this topic is in, if any.
    pub fn gateway(&self) -> Option<&str> {
        match self {
            Topic::Telemetry { gateway }
            | Topic::Status { gateway }
            | Topic::Video { gateway, .. }
            | Topic::Command { gateway }
            | Topic::CommandAck { gateway } => Some(gateway),
            Topic::Warning { .. } => None,
        }
    }

    pub fn parse(topic: &str) -> Result<Topic, TopicError> {
        let rest = topic
            .strip_prefix(ROOT)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or(TopicError::WrongRoot)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let ident = |s: &str| -> Result<String, TopicError> {
            if is_valid_identifier(s) {
                Ok(s.to_owned())
            } else {
                Err(TopicError::InvalidIdentifier(truncate_for_display(s)))
            }
        };
        match parts.as_slice() {
            ["gw", gw, "telemetry"] => Ok(Topic::Telemetry {
                gateway: ident(gw)?,
            }),
            ["gw", gw, "status"] => Ok(Topic::Status {
                gateway: ident(gw)?,
            }),
            ["gw", gw, "cmd"] => Ok(Topic::Command {
                gateway: ident(gw)?,
            }),
            ["gw", gw, "cmd", "ack"] => Ok(Topic::CommandAck {
                gateway: ident(gw)?,
            }),
            ["gw", gw, "video", camera, ts] => Ok(Topic::Video {
                gateway: ident(gw)?,
                camera: ident(camera)?,
                captured_at_ms: ts.parse().map_err(|_| TopicError::UnknownShape)?,
            }),
            ["warning", division, site] => Ok(Topic::Warning {
                division: ident(division)?,
                site: ident(site)?,
            }),
            _ => Err(TopicError::UnknownShape),
        }
    }
}

/// A hostile identifier is quoted back in errors, but never at unbounded length.
pub(crate) fn truncate_for_display(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_or_gateway_named_dot_or_dot_dot_is_refused_as_it_would_name_a_folder() {
        for bad in [
            "gh/v1/gw/gw-01/video/../1764000000000",
            "gh/v1/gw/gw-01/video/./1764000000000",
            "gh/v1/gw/../video/cam1/1764000000000",
            "gh/v1/gw/gw-01/video/.hidden/1764000000000",
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad}");
        }
        assert!(Topic::parse("gh/v1/gw/gw-01/video/cam.1/1764000000000").is_ok());
    }

    #[test]
    fn every_topic_round_trips_through_its_string_form() {
        let topics = [
            Topic::Telemetry {
                gateway: "gw-01".into(),
            },
            Topic::Status {
                gateway: "gw-01".into(),
            },
            Topic::Video {
                gateway: "gw-01".into(),
                camera: "cam1".into(),
                captured_at_ms: 1_764_000_000_000,
            },
            Topic::Command {
                gateway: "gw-01".into(),
            },
            Topic::CommandAck {
                gateway: "gw-01".into(),
            },
            Topic::Warning {
                division: "511525".into(),
                site: "LS-001".into(),
            },
        ];
        for t in topics {
            assert_eq!(Topic::parse(&t.to_topic_string()).unwrap(), t);
        }
    }

    #[test]
    fn topics_with_wildcards_or_foreign_roots_are_refused() {
        assert_eq!(
            Topic::parse("other/gw/x/telemetry"),
            Err(TopicError::WrongRoot)
        );
        assert!(matches!(
            Topic::parse("gh/v1/gw/a+b/telemetry"),
            Err(TopicError::InvalidIdentifier(_))
        ));
        assert_eq!(
            Topic::parse("gh/v1/gw/x/unknown"),
            Err(TopicError::UnknownShape)
        );
        assert_eq!(
            Topic::parse("gh/v1/gw/x/telemetry/extra"),
            Err(TopicError::UnknownShape)
        );
    }
}
