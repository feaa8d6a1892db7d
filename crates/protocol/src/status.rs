//! Gateway status, `gh/v1/gw/{gateway}/status`, retained. The gateway's MQTT last will is the
//! same topic with `{"online": false}`, so a dropped link marks it offline.

use serde::{Deserialize, Serialize};

use crate::Limits;
use crate::reject::{MessageReject, QuarantineReason};
use crate::telemetry::check_timestamp;

/// Most sensor faults one status may list (a gateway has a few dozen points at most).
pub const MAX_FAULTS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GatewayStatus {
    pub online: bool,
    /// When the gateway wrote this status, Unix milliseconds. On the wire it takes every form a
    /// reading's `ts` takes (one parser): milliseconds or an RFC 3339 string.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::telemetry::optional_wire_time"
    )]
    pub ts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u64>,
    /// Messages waiting in the gateway's store-and-forward queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_depth: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supply_v: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_dbm: Option<f64>,
    /// Sensor points the gateway currently cannot read; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<PointFault>,
}

/// A point whose last read failed: its slave answered with a Modbus exception, or did not
/// answer at all. It leaves the list when a read succeeds again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointFault {
    /// The sensor channel.
    pub channel: String,
    /// The gateway's name for the Modbus link (`[[modbus]] name`).
    pub device: String,
    pub slave: u8,
    pub error: String,
    /// When the point started failing, Unix milliseconds.
    pub since: i64,
}

impl GatewayStatus {
    pub fn offline() -> GatewayStatus {
        GatewayStatus::default()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a status always serializes")
    }

    /// Decodes and checks a status payload. Unknown extra fields are allowed (newer firmware).
    pub fn decode(payload: &[u8], max_bytes: usize) -> Result<GatewayStatus, MessageReject> {
        if payload.len() > max_bytes {
            return Err(MessageReject {
                reason: QuarantineReason::OversizedPayload,
                detail: format!(
                    "payload is {} bytes, the limit is {max_bytes}",
                    payload.len()
                ),
            });
        }
        let status: GatewayStatus = serde_json::from_slice(payload).map_err(|e| MessageReject {
            reason: crate::reject::reason_of_json_error(&e),
            detail: e.to_string(),
        })?;
        if let Some(fw) = &status.firmware
            && (fw.len() > 64 || fw.chars().any(char::is_control))
        {
            return Err(MessageReject {
                reason: QuarantineReason::WrongType,
                detail: "firmware must be at most 64 printable characters".into(),
            });
        }
        status.check_ranges()?;
        Ok(status)
    }

    /// Every number within what its field can mean and the store can hold (the protocol's
    /// integers are unsigned 64-bit; the store's are signed): a status that passes is written
    /// and read back without overflow.
    fn check_ranges(&self) -> Result<(), MessageReject> {
        const STORE_MAX: u64 = i64::MAX as u64;
        let out_of_range = |detail: String| {
            Err(MessageReject {
                reason: QuarantineReason::OutOfRange,
                detail,
            })
        };
        for (field, value) in [
            ("uptime_s", self.uptime_s),
            ("queue_depth", self.queue_depth),
        ] {
            if let Some(v) = value
                && v > STORE_MAX
            {
                return out_of_range(format!("{field} {v} is above {STORE_MAX}"));
            }
        }
        for (field, value, min, max) in [
            ("battery_pct", self.battery_pct, 0.0, 100.0),
            ("supply_v", self.supply_v, 0.0, 1000.0),
            ("signal_dbm", self.signal_dbm, -200.0, 100.0),
        ] {
            if let Some(v) = value
                && !(min..=max).contains(&v)
            {
                return out_of_range(format!("{field} {v} is outside {min}..={max}"));
            }
        }
        if self.faults.len() > MAX_FAULTS {
            return out_of_range(format!(
                "{} faults listed, at most {MAX_FAULTS}",
                self.faults.len()
            ));
        }
        Ok(())
    }

    /// Checks the status's own time (when it has one) against the bounds readings have: a
    /// gateway with a wild clock must not make itself look heard from in 2286.
    /// A fault's `since` has the same bounds.
    pub fn check_time(&self, limits: &Limits, now_ms: i64) -> Result<(), MessageReject> {
        let times = self
            .ts
            .into_iter()
            .chain(self.faults.iter().map(|f| f.since));
        for ts in times {
            check_timestamp(ts, limits.min_timestamp_ms, limits.max_timestamp_ms(now_ms))
                .map_err(|(reason, detail)| MessageReject { reason, detail })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_the_store_cannot_hold_or_that_mean_nothing_are_refused_as_out_of_range() {
        for payload in [
            r#"{"online":true,"queue_depth":18446744073709551615}"#,
            r#"{"online":true,"uptime_s":9223372036854775808}"#,
            r#"{"online":true,"battery_pct":101}"#,
            r#"{"online":true,"battery_pct":-1}"#,
            r#"{"online":true,"supply_v":1e300}"#,
            r#"{"online":true,"signal_dbm":-1e300}"#,
        ] {
            let e = GatewayStatus::decode(payload.as_bytes(), 4096).unwrap_err();
            assert_eq!(e.reason, QuarantineReason::OutOfRange, "{payload}: {e:?}");
        }
        let largest = r#"{"online":true,"queue_depth":9223372036854775807,"uptime_s":0,
            "battery_pct":100,"supply_v":0,"signal_dbm":-200}"#;
        GatewayStatus::decode(largest.as_bytes(), 4096).unwrap();
    }

    #[test]
    fn a_fault_dated_in_2100_is_refused_like_a_reading() {
        let s = GatewayStatus::decode(
            br#"{"online":true,"faults":[{"channel":"rain-1","device":"rs485","slave":3,
                 "error":"timeout","since":4102444800000}]}"#,
            4096,
        )
        .unwrap();
        let e = s
            .check_time(&Limits::default(), 1_764_212_400_000)
            .unwrap_err();
        assert_eq!(e.reason, QuarantineReason::TimestampInFuture);
    }

    #[test]
    fn a_last_will_decodes_as_offline() {
        let s = GatewayStatus::decode(&GatewayStatus::offline().to_json(), 4096).unwrap();
        assert!(!s.online);
    }

    #[test]
    fn faults_are_listed_when_present_and_absent_when_none() {
        let ok = GatewayStatus {
            online: true,
            ..Default::default()
        };
        assert!(!String::from_utf8(ok.to_json()).unwrap().contains("faults"));
        let s = GatewayStatus::decode(
            br#"{"online":true,"faults":[{"channel":"rain-1","device":"rs485","slave":3,
                 "error":"modbus exception IllegalDataAddress","since":1764212300000}]}"#,
            4096,
        )
        .unwrap();
        assert_eq!(s.faults[0].channel, "rain-1");
        assert_eq!(s.faults[0].slave, 3);
        assert_eq!(GatewayStatus::decode(&s.to_json(), 4096).unwrap(), s);
    }

    #[test]
    fn status_with_unknown_fields_is_accepted_and_wrong_types_are_not() {
        let s = GatewayStatus::decode(br#"{"online":true,"firmware":"1.2.0","new_field":1}"#, 4096)
            .unwrap();
        assert_eq!(s.firmware.as_deref(), Some("1.2.0"));
        let e = GatewayStatus::decode(br#"{"online":"yes"}"#, 4096).unwrap_err();
        assert_eq!(e.reason, QuarantineReason::WrongType);
    }

    #[test]
    fn status_times_too_far_ahead_or_too_old_are_refused_like_reading_times() {
        let now = 1_764_212_400_000;
        let at = |ts| GatewayStatus {
            online: true,
            ts: Some(ts),
            ..Default::default()
        };
        let limits = Limits::default();
        assert_eq!(
            at(9_999_999_999_999)
                .check_time(&limits, now)
                .unwrap_err()
                .reason,
            QuarantineReason::TimestampInFuture
        );
        assert_eq!(
            at(1000).check_time(&limits, now).unwrap_err().reason,
            QuarantineReason::TimestampTooOld
        );
        assert!(at(now - 60_000).check_time(&limits, now).is_ok());
        assert!(GatewayStatus::offline().check_time(&limits, now).is_ok());
    }

    #[test]
    fn status_times_take_every_form_reading_times_take() {
        let now = 1_764_212_400_000;
        let limits = Limits::default();
        let decode = |ts: &str| {
            GatewayStatus::decode(format!(r#"{{"online":true,"ts":{ts}}}"#).as_bytes(), 4096)
                .and_then(|s| s.check_time(&limits, now).map(|()| s))
        };
        assert_eq!(
            decode(r#""2025-11-27T11:00:00+08:00""#).unwrap().ts,
            Some(now)
        );
        assert_eq!(decode(&now.to_string()).unwrap().ts, Some(now));
        assert_eq!(decode("null").unwrap().ts, None);
        assert_eq!(
            decode("18446744073709551615").unwrap_err().reason,
            QuarantineReason::TimestampInFuture
        );
        assert_eq!(
            decode(r#""yesterday""#).unwrap_err().reason,
            QuarantineReason::InvalidTimestamp
        );
    }
}
