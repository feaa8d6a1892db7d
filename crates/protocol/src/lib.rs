//! geohazard's MQTT wire protocol, version 1.
//!
//! One place for topic names, payload shapes and their validation, shared by every binary that
//! speaks to the broker (collector, analyzer, command-center, firmware-bridge, simulators).
//! The human-readable specification with examples is `docs/protocol.md`.

pub mod command;
pub mod limits;
pub mod reject;
pub mod status;
pub mod telemetry;
pub mod topic;
pub mod warning;

pub use command::{Command, CommandAck, CommandEnvelope, CommandError, MalformedCommand};
pub use limits::Limits;
pub use reject::{QuarantineReason, ReadingReject};
pub use status::{GatewayStatus, PointFault};
pub use telemetry::{
    DecodedTelemetry, Quality, Reading, TelemetryAck, TelemetryBatch, ValidReading, telemetry_seq,
};
pub use topic::{Topic, TopicError};
pub use warning::{
    DeviceFault, Summary, Warning, WarningCategory, WarningLevel, WarningSource, WarningState,
    WarningTransition,
};

/// Checks an identifier that becomes part of a topic or a database key (gateway code, sensor
/// channel, camera name): 1 to 64 ASCII letters, digits, `_`, `-` or `.`, the first a letter or
/// a digit. Anything else (MQTT wildcards, `/`, `.` and `..`, control characters, SQL or HTML
/// fragments) is refused before it goes further: an identifier may name a file.
pub fn is_valid_identifier(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
