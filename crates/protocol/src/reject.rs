//! Why a message or a reading was refused. The codes are stable: they are stored in the
//! quarantine table and counted in metrics.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The topic is not a version-1 topic the receiver handles.
    InvalidTopic,
    /// The payload is larger than [`crate::Limits::max_payload_bytes`].
    OversizedPayload,
    /// The payload is not UTF-8 JSON.
    MalformedJson,
    /// A field has the wrong JSON type (a string where a number belongs, ...).
    WrongType,
    /// A required field is absent.
    MissingField,
    /// More readings than [`crate::Limits::max_readings_per_message`].
    TooManyReadings,
    /// A value is NaN or infinite, or out of the range of a 64-bit float.
    NonFiniteValue,
    /// A timestamp before 2000-01-01.
    TimestampTooOld,
    /// A timestamp further in the future than the allowed clock skew.
    TimestampInFuture,
    /// A timestamp string that is not RFC 3339.
    InvalidTimestamp,
    /// A sensor channel that is not a valid identifier.
    InvalidChannel,
    /// A quality flag other than good, suspect or bad.
    InvalidQuality,
    /// The gateway in the topic is not registered.
    UnknownGateway,
    /// A telemetry message with an empty `readings` array (the protocol asks for 1 or more).
    NoReadings,
    /// The gateway is known, but has no sensor on that channel.
    UnknownSensor,
    /// A timestamp older than the store keeps raw readings (`storage_settings.retention`):
    /// refused rather than stored and then dropped by the housekeeping.
    BeyondRetention,
    /// A number outside what its field can mean or the store can hold: a battery above 100 %,
    /// a queue depth beyond 2^63-1, ...
    OutOfRange,
}

impl RejectReason {
    pub const ALL: [RejectReason; 17] = [
        RejectReason::InvalidTopic,
        RejectReason::OversizedPayload,
        RejectReason::MalformedJson,
        RejectReason::WrongType,
        RejectReason::MissingField,
        RejectReason::TooManyReadings,
        RejectReason::NonFiniteValue,
        RejectReason::TimestampTooOld,
        RejectReason::TimestampInFuture,
        RejectReason::InvalidTimestamp,
        RejectReason::InvalidChannel,
        RejectReason::InvalidQuality,
        RejectReason::UnknownGateway,
        RejectReason::UnknownSensor,
        RejectReason::NoReadings,
        RejectReason::BeyondRetention,
        RejectReason::OutOfRange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidTopic => "invalid_topic",
            RejectReason::OversizedPayload => "oversized_payload",
            RejectReason::MalformedJson => "malformed_json",
            RejectReason::WrongType => "wrong_type",
            RejectReason::MissingField => "missing_field",
            RejectReason::TooManyReadings => "too_many_readings",
            RejectReason::NonFiniteValue => "non_finite_value",
            RejectReason::TimestampTooOld => "timestamp_too_old",
            RejectReason::TimestampInFuture => "timestamp_in_future",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
            RejectReason::InvalidChannel => "invalid_channel",
            RejectReason::InvalidQuality => "invalid_quality",
            RejectReason::UnknownGateway => "unknown_gateway",
            RejectReason::UnknownSensor => "unknown_sensor",
            RejectReason::NoReadings => "no_readings",
            RejectReason::BeyondRetention => "beyond_retention",
            RejectReason::OutOfRange => "out_of_range",
        }
    }

    /// Classifies a serde_json error about one value into the closest reason.
    pub(crate) fn from_json_error(e: &serde_json::Error) -> RejectReason {
        use serde_json::error::Category;
        let msg = e.to_string();
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => RejectReason::MalformedJson,
            Category::Data if msg.starts_with("missing field") => RejectReason::MissingField,
            // First: the quality's own text may quote anything.
            Category::Data if msg.starts_with("invalid quality") => RejectReason::InvalidQuality,
            Category::Data if msg.contains("non-finite") || msg.contains("out of range") => {
                RejectReason::NonFiniteValue
            }
            Category::Data if msg.contains("timestamp") => RejectReason::InvalidTimestamp,
            Category::Data => RejectReason::WrongType,
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole message refused, with a human-readable detail.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageReject {
    pub reason: RejectReason,
    pub detail: String,
}

/// One reading refused inside an otherwise acceptable message.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadingReject {
    /// Position of the reading in the message's `readings` array.
    pub index: usize,
    pub reason: RejectReason,
    pub detail: String,
    /// The reading's own JSON text, kept so nothing is lost.
    pub raw: String,
}
