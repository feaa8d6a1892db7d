//! Telemetry: a batch of readings from one gateway, `gh/v1/gw/{gateway}/telemetry`.
//!
//! ```json
//! {"seq": 42, "readings": [
//!   {"sensor": "crack-1", "ts": 1764212400000, "value": 12.53},
//!   {"sensor": "rain-1", "ts": "2026-11-27T03:00:00Z", "value": 0.5, "quality": "suspect"}
//! ]}
//! ```
//! `ts` is Unix milliseconds or an RFC 3339 string. A reading is identified by (sensor, ts):
//! redelivered readings are absorbed by the store.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::reject::{MessageReject, QuarantineReason, ReadingReject};
use crate::{Limits, is_valid_identifier};

/// The quality flag a gateway attaches to a reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    #[default]
    Good,
    /// The gateway doubts it (sensor self-test warning, out of the sensor's calibrated range).
    Suspect,
    /// The gateway knows it is wrong but forwards it for diagnosis.
    Bad,
}

impl Quality {
    pub fn is_good(&self) -> bool {
        *self == Quality::Good
    }
    /// The code stored in the database.
    pub fn code(self) -> i16 {
        match self {
            Quality::Good => 0,
            Quality::Suspect => 1,
            Quality::Bad => 2,
        }
    }
    pub fn from_code(code: i16) -> Option<Quality> {
        match code {
            0 => Some(Quality::Good),
            1 => Some(Quality::Suspect),
            2 => Some(Quality::Bad),
            _ => None,
        }
    }
}

/// A telemetry message as a gateway builds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryBatch {
    /// The gateway's own message counter; it lets the center see gaps and replays.
    pub seq: u64,
    pub readings: Vec<Reading>,
}

/// The collector's confirmation to a gateway, on `gh/v1/gw/{gateway}/telemetry/ack`, that the
/// telemetry messages with these `seq`s are committed (stored, or quarantined with a reason):
/// the gateway may forget them. Until then it keeps them and sends them again after a
/// reconnect, so a broker that crashes with them unsaved loses nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryAck {
    pub seqs: Vec<u64>,
}

impl TelemetryAck {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a confirmation always serializes")
    }
}

/// The `seq` of a telemetry payload whose envelope is JSON with a numeric `seq`, whatever else is
/// wrong with it: a refused message is confirmed too, or its gateway would send it forever.
pub fn telemetry_seq(payload: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    serde_json::from_slice::<SeqOnly>(payload)
        .ok()
        .map(|s| s.seq)
}

/// One reading as a gateway builds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The sensor's channel on its gateway.
    pub sensor: String,
    /// Unix milliseconds.
    pub ts: i64,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Quality::is_good")]
    pub quality: Quality,
}

impl TelemetryBatch {
    /// Good readings of one channel, `(ts_ms, value)` each: what a replay of a recorded series
    /// sends.
    pub fn of_channel(seq: u64, channel: &str, points: &[(i64, f64)]) -> TelemetryBatch {
        TelemetryBatch {
            seq,
            readings: points
                .iter()
                .map(|&(ts, value)| Reading {
                    sensor: channel.to_owned(),
                    ts,
                    value,
                    quality: Quality::Good,
                })
                .collect(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a telemetry batch always serializes")
    }
}

/// A reading that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidReading {
    /// Position of the reading in the message's `readings` array.
    pub index: usize,
    pub channel: String,
    pub ts_ms: i64,
    pub value: f64,
    pub quality: Quality,
}

/// The outcome of decoding one telemetry message whose envelope was sound: the readings to
/// store and the ones refused, each with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedTelemetry {
    pub seq: u64,
    pub readings: Vec<ValidReading>,
    pub rejects: Vec<ReadingReject>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    seq: u64,
    #[serde(borrow)]
    readings: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireReading<'a> {
    #[serde(borrow)]
    sensor: Cow<'a, str>,
    ts: WireTime,
    value: WireValue,
    #[serde(default)]
    quality: WireQuality,
}

/// Decodes and validates a telemetry payload. `now_ms` is the receiver's clock, for the
/// future-timestamp check. A broken envelope refuses the whole message; a broken reading
/// refuses only itself.
pub fn decode_telemetry(
    payload: &[u8],
    limits: &Limits,
    now_ms: i64,
) -> Result<DecodedTelemetry, MessageReject> {
    if payload.len() > limits.max_payload_bytes {
        return Err(MessageReject {
            reason: QuarantineReason::OversizedPayload,
            detail: format!(
                "payload is {} bytes, the limit is {}",
                payload.len(),
                limits.max_payload_bytes
            ),
        });
    }
    let envelope: Envelope = serde_json::from_slice(payload).map_err(|e| MessageReject {
        reason: message_reason(&e),
        detail: e.to_string(),
    })?;
    if envelope.readings.is_empty() {
        return Err(MessageReject {
            reason: QuarantineReason::NoReadings,
            detail: format!(
                "message carries no readings; it must carry 1 to {}",
                limits.max_readings_per_message
            ),
        });
    }
    if envelope.readings.len() > limits.max_readings_per_message {
        return Err(MessageReject {
            reason: QuarantineReason::TooManyReadings,
            detail: format!(
                "message carries {} readings, the limit is {}",
                envelope.readings.len(),
                limits.max_readings_per_message
            ),
        });
    }
    let max_ts = limits.max_timestamp_ms(now_ms);
    let mut readings = Vec::with_capacity(envelope.readings.len());
    let mut rejects = Vec::new();
    for (index, raw) in envelope.readings.iter().enumerate() {
        match validate_reading(index, raw.get(), limits.min_timestamp_ms, max_ts) {
            Ok(r) => readings.push(r),
            Err((reason, detail)) => rejects.push(ReadingReject {
                index,
                reason,
                detail,
                raw: raw.get().to_owned(),
            }),
        }
    }
    Ok(DecodedTelemetry {
        seq: envelope.seq,
        readings,
        rejects,
    })
}

fn message_reason(e: &serde_json::Error) -> QuarantineReason {
    match crate::reject::reason_of_json_error(e) {
        // A wrong-typed `seq` or `readings` makes the envelope unusable: say so precisely.
        QuarantineReason::NonFiniteValue => QuarantineReason::WrongType,
        other => other,
    }
}

fn validate_reading(
    index: usize,
    raw: &str,
    min_ts: i64,
    max_ts: i64,
) -> Result<ValidReading, (QuarantineReason, String)> {
    let wire: WireReading =
        serde_json::from_str(raw).map_err(|e| (reading_reason(&e), e.to_string()))?;
    if !is_valid_identifier(&wire.sensor) {
        return Err((
            QuarantineReason::InvalidChannel,
            format!(
                "sensor channel `{}` must be 1-64 characters of A-Z a-z 0-9 _ - .",
                crate::topic::truncate_for_display(&wire.sensor)
            ),
        ));
    }
    let ts = wire.ts.0;
    check_timestamp(ts, min_ts, max_ts)?;
    Ok(ValidReading {
        index,
        channel: wire.sensor.into_owned(),
        ts_ms: ts,
        value: wire.value.0,
        quality: wire.quality.0,
    })
}

/// The bounds every time a gateway sends (readings and status) must be within: not before
/// `min_ts`, not after `max_ts` (the receiver's clock plus the allowed skew).
pub(crate) fn check_timestamp(
    ts: i64,
    min_ts: i64,
    max_ts: i64,
) -> Result<(), (QuarantineReason, String)> {
    if ts < min_ts {
        return Err((
            QuarantineReason::TimestampTooOld,
            format!("timestamp {} is before 2000-01-01", format_ms(ts)),
        ));
    }
    if ts > max_ts {
        return Err((
            QuarantineReason::TimestampInFuture,
            format!("timestamp {} is in the future", format_ms(ts)),
        ));
    }
    Ok(())
}

fn reading_reason(e: &serde_json::Error) -> QuarantineReason {
    if e.to_string().contains("number out of range") {
        QuarantineReason::NonFiniteValue
    } else {
        crate::reject::reason_of_json_error(e)
    }
}

/// A reading's timestamp as RFC 3339, for refusal details.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// A timestamp on the wire: Unix milliseconds, or an RFC 3339 string.
struct WireTime(i64);

/// An optional time on the wire (a status's `ts`), in every form a reading's `ts` takes.
pub(crate) fn optional_wire_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<WireTime>::deserialize(d)?.map(|t| t.0))
}

impl<'de> Deserialize<'de> for WireTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WireTime;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a timestamp: Unix milliseconds or an RFC 3339 string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireTime, E> {
                Ok(WireTime(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireTime, E> {
                // Beyond i64 is still a time, only far in the future: the bounds check says so.
                Ok(WireTime(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireTime, E> {
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| WireTime(t.timestamp_millis()))
                    .map_err(|e| {
                        E::custom(format!(
                            "invalid timestamp `{}`: {e}",
                            crate::topic::truncate_for_display(v)
                        ))
                    })
            }
        }
        d.deserialize_any(V)
    }
}

/// A quality flag on the wire. Anything but one of the three names (`null`, a number, another
/// word) is an invalid quality of this one reading, not a broken message.
#[derive(Default)]
struct WireQuality(Quality);

impl<'de> Deserialize<'de> for WireQuality {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        match value.as_str() {
            Some("good") => Ok(WireQuality(Quality::Good)),
            Some("suspect") => Ok(WireQuality(Quality::Suspect)),
            Some("bad") => Ok(WireQuality(Quality::Bad)),
            _ => Err(de::Error::custom(format!(
                "invalid quality {}: expected \"good\", \"suspect\" or \"bad\"",
                crate::topic::truncate_for_display(&value.to_string())
            ))),
        }
    }
}

/// A value on the wire: a finite JSON number. `"NaN"` and `"Infinity"` strings, which some
/// loggers emit, are named as non-finite rather than as a type error.
struct WireValue(f64);

impl<'de> Deserialize<'de> for WireValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WireValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a finite number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<WireValue, E> {
                if v.is_finite() {
                    Ok(WireValue(v))
                } else {
                    Err(E::custom("non-finite value"))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireValue, E> {
                Ok(WireValue(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireValue, E> {
                Ok(WireValue(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireValue, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "nan" | "inf" | "-inf" | "+inf" | "infinity" | "-infinity" | "+infinity" => {
                        Err(E::custom(format!("non-finite value `{v}`")))
                    }
                    _ => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_212_400_000; // 2025-11-27T03:00:00Z

    fn decode(s: &str) -> Result<DecodedTelemetry, MessageReject> {
        decode_telemetry(s.as_bytes(), &Limits::default(), NOW)
    }

    fn reasons(d: &DecodedTelemetry) -> Vec<QuarantineReason> {
        d.rejects.iter().map(|r| r.reason).collect()
    }

    #[test]
    fn a_batch_built_by_a_gateway_decodes_to_the_same_readings() {
        let batch = TelemetryBatch {
            seq: 7,
            readings: vec![
                Reading {
                    sensor: "crack-1".into(),
                    ts: NOW - 1000,
                    value: 12.5,
                    quality: Quality::Good,
                },
                Reading {
                    sensor: "rain-1".into(),
                    ts: NOW,
                    value: 0.5,
                    quality: Quality::Suspect,
                },
            ],
        };
        let d = decode_telemetry(&batch.to_json(), &Limits::default(), NOW).unwrap();
        assert_eq!(d.seq, 7);
        assert!(d.rejects.is_empty());
        assert_eq!(d.readings.len(), 2);
        assert_eq!(d.readings[1].channel, "rain-1");
        assert_eq!(d.readings[1].quality, Quality::Suspect);
        assert_eq!(d.readings[0].ts_ms, NOW - 1000);
    }

    #[test]
    fn values_decode_to_the_nearest_f64_of_their_text() {
        // The shortest texts of many values of every magnitude (splitmix64 bit patterns), and
        // one the bridge sent: each must decode to the very same f64.
        let mut state = 6_u64;
        let mut texts = vec!["123.60000000000001".to_owned()];
        for _ in 0..20_000 {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let v = f64::from_bits(z ^ (z >> 31));
            if v.is_finite() {
                texts.push(format!("{v:?}"));
            }
        }
        let readings: Vec<String> = texts
            .iter()
            .map(|t| format!(r#"{{"sensor":"a","ts":{NOW},"value":{t}}}"#))
            .collect();
        let limits = Limits {
            max_readings_per_message: usize::MAX,
            max_payload_bytes: usize::MAX,
            ..Limits::default()
        };
        let payload = format!(r#"{{"seq":1,"readings":[{}]}}"#, readings.join(","));
        let d = decode_telemetry(payload.as_bytes(), &limits, NOW).unwrap();
        let off: Vec<&String> = texts
            .iter()
            .zip(&d.readings)
            .filter(|(t, r)| t.parse::<f64>().unwrap().to_bits() != r.value.to_bits())
            .map(|(t, _)| t)
            .collect();
        assert!(
            off.is_empty(),
            "{} decoded off, e.g. {:?}",
            off.len(),
            &off[..off.len().min(5)]
        );
    }

    #[test]
    fn rfc3339_timestamps_are_accepted_beside_milliseconds() {
        let d = decode(
            r#"{"seq":1,"readings":[{"sensor":"a","ts":"2025-11-27T11:00:00+08:00","value":1}]}"#,
        )
        .unwrap();
        assert_eq!(d.readings[0].ts_ms, NOW);
    }

    #[test]
    fn bad_readings_are_refused_one_by_one_with_their_reasons() {
        let d = decode(&format!(
            r#"{{"seq":1,"readings":[
                {{"sensor":"ok","ts":{NOW},"value":1.5}},
                {{"sensor":"a","ts":{NOW},"value":"NaN"}},
                {{"sensor":"a","ts":{NOW},"value":1e400}},
                {{"sensor":"a","ts":{NOW},"value":"12"}},
                {{"sensor":"a","value":1}},
                {{"sensor":"a","ts":915148800000,"value":1}},
                {{"sensor":"a","ts":{},"value":1}},
                {{"sensor":"a","ts":"yesterday","value":1}},
                {{"sensor":"<script>alert(1)</script>","ts":{NOW},"value":1}},
                {{"sensor":"a","ts":{NOW},"value":1,"quality":"excellent"}},
                {{"sensor":"ok2","ts":{NOW},"value":-3}}
            ]}}"#,
            NOW + 3_600_000
        ))
        .unwrap();
        assert_eq!(d.readings.len(), 2);
        assert_eq!(
            reasons(&d),
            vec![
                QuarantineReason::NonFiniteValue,
                QuarantineReason::NonFiniteValue,
                QuarantineReason::WrongType,
                QuarantineReason::MissingField,
                QuarantineReason::TimestampTooOld,
                QuarantineReason::TimestampInFuture,
                QuarantineReason::InvalidTimestamp,
                QuarantineReason::InvalidChannel,
                QuarantineReason::InvalidQuality,
            ]
        );
        assert_eq!(d.rejects[0].index, 1);
        assert!(d.rejects[0].raw.contains("NaN"));
    }

    #[test]
    fn broken_envelopes_refuse_the_whole_message() {
        assert_eq!(
            decode("{not json").unwrap_err().reason,
            QuarantineReason::MalformedJson
        );
        assert_eq!(
            decode(r#"{"readings":[]}"#).unwrap_err().reason,
            QuarantineReason::MissingField
        );
        assert_eq!(
            decode(r#"{"seq":"x","readings":[]}"#).unwrap_err().reason,
            QuarantineReason::WrongType
        );
        assert_eq!(
            decode(r#"{"seq":1,"readings":{}}"#).unwrap_err().reason,
            QuarantineReason::WrongType
        );
        assert_eq!(
            decode("").unwrap_err().reason,
            QuarantineReason::MalformedJson
        );
    }

    #[test]
    fn oversized_payloads_and_overfull_batches_are_refused() {
        let limits = Limits {
            max_payload_bytes: 100,
            max_readings_per_message: 2,
            ..Limits::default()
        };
        let big = vec![b' '; 101];
        assert_eq!(
            decode_telemetry(&big, &limits, NOW).unwrap_err().reason,
            QuarantineReason::OversizedPayload
        );
        let three = format!(
            r#"{{"seq":1,"readings":[{{"sensor":"a","ts":{NOW},"value":1}},{{"sensor":"a","ts":{NOW},"value":1}},{{"sensor":"a","ts":{NOW},"value":1}}]}}"#
        );
        let limits = Limits {
            max_readings_per_message: 2,
            ..Limits::default()
        };
        assert_eq!(
            decode_telemetry(three.as_bytes(), &limits, NOW)
                .unwrap_err()
                .reason,
            QuarantineReason::TooManyReadings
        );
    }

    #[test]
    fn escaped_channel_names_are_unescaped_before_validation() {
        let d = decode(&format!(
            r#"{{"seq":1,"readings":[{{"sensor":"crack\u002d1","ts":{NOW},"value":1}}]}}"#
        ))
        .unwrap();
        assert_eq!(d.readings[0].channel, "crack-1");
    }

    #[test]
    fn an_empty_readings_array_is_refused_as_carrying_no_readings() {
        let e = decode(r#"{"seq":1,"readings":[]}"#).unwrap_err();
        assert_eq!(e.reason, QuarantineReason::NoReadings);
        assert!(e.detail.contains("1 to 10000"), "{}", e.detail);
    }

    #[test]
    fn a_timestamp_beyond_64_bits_is_in_the_future_and_a_null_quality_is_an_invalid_quality() {
        let d = decode(&format!(
            r#"{{"seq":1,"readings":[
                {{"sensor":"a","ts":9223372036854775808,"value":1}},
                {{"sensor":"a","ts":18446744073709551615,"value":1}},
                {{"sensor":"a","ts":{NOW},"value":1,"quality":null}},
                {{"sensor":"a","ts":{NOW},"value":1,"quality":3}},
                {{"sensor":"a","ts":{NOW},"value":1,"quality":"out of range"}},
                {{"sensor":"a","ts":{NOW},"value":1,"quality":"bad"}}
            ]}}"#
        ))
        .unwrap();
        assert_eq!(
            reasons(&d),
            vec![
                QuarantineReason::TimestampInFuture,
                QuarantineReason::TimestampInFuture,
                QuarantineReason::InvalidQuality,
                QuarantineReason::InvalidQuality,
                QuarantineReason::InvalidQuality,
            ]
        );
        assert_eq!(d.readings[0].quality, Quality::Bad);
    }
}
