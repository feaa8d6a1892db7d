//! Why a message, a reading or a camera frame was refused: the reason every quarantine row
//! carries, whoever wrote it (the collector's validation and writer, the universal-type endpoint,
//! the video consumer). The codes are stable: they are stored, counted in metrics and named in
//! both languages by the message catalogue (`reason.<code>`).

use std::fmt;
use std::str::FromStr;

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum QuarantineReason {
            $($(#[$doc])* $name,)*
        }

        impl QuarantineReason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [QuarantineReason] = &[$(QuarantineReason::$name,)*];

            /// The stored code, e.g. `invalid_topic`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(QuarantineReason::$name => $code,)*
                }
            }
        }

        impl FromStr for QuarantineReason {
            type Err = UnknownReason;
            fn from_str(code: &str) -> Result<Self, UnknownReason> {
                match code {
                    $($code => Ok(QuarantineReason::$name),)*
                    _ => Err(UnknownReason(code.to_owned())),
                }
            }
        }
    };
}

reasons! {
    // The MQTT wire protocol's validation (crates/protocol) and the collector.
    /// The topic is not a version-1 topic the receiver handles.
    InvalidTopic = "invalid_topic",
    /// The payload is larger than the protocol allows.
    OversizedPayload = "oversized_payload",
    /// The payload is not UTF-8 JSON.
    MalformedJson = "malformed_json",
    /// A field has the wrong JSON type (a string where a number belongs, ...).
    WrongType = "wrong_type",
    /// A required field is absent.
    MissingField = "missing_field",
    /// More readings in one message than the protocol allows.
    TooManyReadings = "too_many_readings",
    /// A value is NaN or infinite, or out of the range of a 64-bit float.
    NonFiniteValue = "non_finite_value",
    /// A timestamp before 2000-01-01.
    TimestampTooOld = "timestamp_too_old",
    /// A timestamp further in the future than the allowed clock skew.
    TimestampInFuture = "timestamp_in_future",
    /// A timestamp that is not a time (not RFC 3339, or out of range).
    InvalidTimestamp = "invalid_timestamp",
    /// A sensor channel that is not a valid identifier.
    InvalidChannel = "invalid_channel",
    /// A quality flag other than good, suspect or bad.
    InvalidQuality = "invalid_quality",
    /// The gateway in the topic is not registered.
    UnknownGateway = "unknown_gateway",
    /// The gateway is known, but has no sensor on that channel.
    UnknownSensor = "unknown_sensor",
    /// A telemetry message with an empty `readings` array (the protocol asks for 1 or more).
    NoReadings = "no_readings",
    /// A timestamp older than the store keeps raw readings (`storage_settings.retention`).
    BeyondRetention = "beyond_retention",
    /// A number outside what its field can mean or the store can hold: a battery above 100 %,
    /// a queue depth beyond 2^63-1, ...
    OutOfRange = "out_of_range",
    // The collector's writer.
    /// The database refused the data itself (a constraint or value error, never an outage).
    StoreRejected = "store_rejected",
    // The command-center's video consumer.
    /// A camera frame larger than the configured maximum.
    FrameTooLarge = "frame_too_large",
    /// A camera frame that is not a whole JPEG image.
    FrameNotJpeg = "frame_not_jpeg",
    /// Frames beyond a gateway's byte rate (`max_gateway_bytes_per_minute`).
    RateExceeded = "rate_exceeded",
    // The universal-type (普适型) endpoint.
    /// A `$dp` frame whose header or length does not match its bytes.
    MalformedFrame = "malformed_frame",
    /// A `$dp` frame of a type the endpoint has nowhere to put (file, firmware).
    UnsupportedFrameType = "unsupported_frame_type",
    /// A `$dp` frame of a type the protocol does not define.
    UnknownFrameType = "unknown_frame_type",
    /// Data about another device than the one connected.
    ForeignDevice = "foreign_device",
    /// A command reply no command awaits (answered late, or never sent).
    UnexpectedReply = "unexpected_reply",
    /// A command reply that cannot be read.
    MalformedReply = "malformed_reply",
}

/// A stored or received code that names no [`QuarantineReason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownReason(pub String);

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a quarantine reason", self.0)
    }
}

impl std::error::Error for UnknownReason {}

impl fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for QuarantineReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for QuarantineReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

impl sqlx::Type<sqlx::Postgres> for QuarantineReason {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for QuarantineReason {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
    }
}

impl sqlx::Decode<'_, sqlx::Postgres> for QuarantineReason {
    fn decode(value: sqlx::postgres::PgValueRef<'_>) -> Result<Self, sqlx::error::BoxDynError> {
        let code = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Ok(code.parse()?)
    }
}

impl sqlx::postgres::PgHasArrayType for QuarantineReason {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_from_its_code_and_codes_are_distinct() {
        let mut codes = std::collections::HashSet::new();
        for &r in QuarantineReason::ALL {
            assert_eq!(r.as_str().parse::<QuarantineReason>(), Ok(r));
            assert!(codes.insert(r.as_str()), "{r} twice");
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{r}\""));
            assert_eq!(serde_json::from_str::<QuarantineReason>(&json).unwrap(), r);
        }
    }

    #[test]
    fn the_old_misspellings_and_unknown_codes_are_refused() {
        for code in ["bad_topic", "bad_timestamp", "", "Invalid_Topic"] {
            assert_eq!(
                code.parse::<QuarantineReason>(),
                Err(UnknownReason(code.to_owned()))
            );
            assert!(serde_json::from_str::<QuarantineReason>(&format!("\"{code}\"")).is_err());
        }
    }
}
