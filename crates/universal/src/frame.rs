//! `$dp` frames: one type byte, a big-endian 2-byte length, then that many bytes of JSON; and
//! their translation into our protocol's telemetry and status payloads.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use serde_json::{Map, Value, json};

use geohazard_store::quarantine::QuarantineReason;

use crate::mapping;

/// Why a frame was refused; the code is the quarantine row's reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub reason: QuarantineReason,
    pub detail: String,
}

impl Refusal {
    fn new(reason: QuarantineReason, detail: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            detail: detail.into(),
        }
    }
}

/// A decoded `$dp` frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Type 1: device status.
    Status(Map<String, Value>),
    /// Type 2: monitoring data keyed by device id, identifier and time.
    Data(Map<String, Value>),
}

/// Splits and checks a `$dp` payload. Types 3 (file) and 4 (firmware) are refused: the endpoint
/// has nowhere to put them, and the quarantine keeps their bytes.
pub fn decode(payload: &[u8]) -> Result<Frame, Refusal> {
    let [kind, hi, lo, body @ ..] = payload else {
        return Err(Refusal::new(
            QuarantineReason::MalformedFrame,
            format!(
                "a $dp frame needs a type byte and a 2-byte length; got {} bytes",
                payload.len()
            ),
        ));
    };
    let declared = u16::from_be_bytes([*hi, *lo]) as usize;
    match kind {
        1 | 2 => {}
        3 | 4 => {
            let what = if *kind == 3 { "file" } else { "firmware" };
            return Err(Refusal::new(
                QuarantineReason::UnsupportedFrameType,
                format!(
                    "type {kind} ({what}) frames are not accepted by this endpoint; the frame is kept here"
                ),
            ));
        }
        other => {
            return Err(Refusal::new(
                QuarantineReason::UnknownFrameType,
                format!(
                    "frame type {other} is not one of 1 (status), 2 (data), 3 (file), 4 (firmware)"
                ),
            ));
        }
    }
    if declared != body.len() {
        return Err(Refusal::new(
            QuarantineReason::MalformedFrame,
            format!(
                "the frame declares {declared} bytes of JSON but carries {}",
                body.len()
            ),
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Refusal::new(
            QuarantineReason::MalformedJson,
            format!("type {kind} frame: {e}"),
        )
    })?;
    let Value::Object(map) = value else {
        return Err(Refusal::new(
            QuarantineReason::WrongType,
            format!("type {kind} frame: the JSON must be an object"),
        ));
    };
    Ok(if *kind == 1 {
        Frame::Status(map)
    } else {
        Frame::Data(map)
    })
}

/// Builds a `$dp` frame; for devices, simulators and tests.
pub fn encode(kind: u8, json: &[u8]) -> Vec<u8> {
    let len = u16::try_from(json.len()).expect("a $dp frame holds at most 65535 bytes of JSON");
    let mut frame = Vec::with_capacity(json.len() + 3);
    frame.push(kind);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(json);
    frame
}

/// Translates type-2 data into our telemetry payload (JSON), one reading per identifier, time
/// and field. Values and times are passed on as found when they cannot be read, so the collector
/// quarantines that one reading with its reason and stores the rest. `seq` is the endpoint's own
/// counter: the platform protocol has none.
pub fn telemetry(device: &str, data: &Map<String, Value>, seq: u64) -> Result<Vec<u8>, Refusal> {
    let mut readings = Vec::new();
    for (key, by_identifier) in data {
        if key != device {
            // A device publishes only its own data: never store readings under another device.
            return Err(Refusal::new(
                QuarantineReason::ForeignDevice,
                format!(
                    "device `{device}` sent data keyed by device `{}`",
                    short(key)
                ),
            ));
        }
        let Value::Object(by_identifier) = by_identifier else {
            return Err(Refusal::new(
                QuarantineReason::WrongType,
                "the data under the device id must be an object of monitoring identifiers",
            ));
        };
        for (identifier, by_time) in by_identifier {
            let Value::Object(by_time) = by_time else {
                return Err(Refusal::new(
                    QuarantineReason::WrongType,
                    format!("`{}` must be an object keyed by time", short(identifier)),
                ));
            };
            for (time, value) in by_time {
                let ts = parse_time(time).map_or_else(|| json!(time), |ms| json!(ms));
                match value {
                    Value::Object(fields) => {
                        for (field, v) in fields {
                            readings.push(json!({
                                "sensor": mapping::channel(identifier, Some(field)),
                                "ts": ts, "value": v,
                            }));
                        }
                    }
                    v => readings.push(json!({
                        "sensor": mapping::channel(identifier, None),
                        "ts": ts, "value": v,
                    })),
                }
            }
        }
    }
    Ok(
        serde_json::to_vec(&json!({"seq": seq, "readings": readings}))
            .expect("JSON values always serialize"),
    )
}

/// The platform's times are ISO 8601. Without an offset they are China Standard Time (UTC+8),
/// the platform's clock. Integers are taken as Unix milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let cst = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return cst
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.timestamp_millis());
        }
    }
    s.parse::<i64>().ok()
}

/// Translates a type-1 status into our status payload. The known fields become ours; the whole
/// original stays under `universal` (our status accepts unknown fields).
pub fn status(frame: &Map<String, Value>, now_ms: i64) -> Vec<u8> {
    // The status sits under a key like `S1_ZT_1`; a device may also send it flat.
    let inner = frame
        .iter()
        .find(|(k, v)| is_status_key(k) && v.is_object())
        .and_then(|(_, v)| v.as_object())
        .unwrap_or(frame);
    let num = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| inner.get(*k).and_then(number))
            .map(Value::from)
    };
    let mut out = Map::new();
    out.insert("online".into(), Value::Bool(true));
    out.insert("ts".into(), Value::from(now_ms));
    let firmware = ["sw_version", "firmware_version", "version"]
        .iter()
        .find_map(|k| inner.get(*k))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    if let Some(fw) = firmware {
        out.insert("firmware".into(), Value::String(fw));
    }
    let fields: [(&str, &[&str]); 5] = [
        ("supply_v", &["ext_power_volt", "power_volt"]),
        ("battery_pct", &["battery_dump_energy", "battery"]),
        (
            "signal_dbm",
            // Both spellings of the 4G key are seen from devices in the field.
            &[
                "signal_4G",
                "signal_4g",
                "signal_NB",
                "signal_nb",
                "signal_db",
                "signal",
            ],
        ),
        ("solar_v", &["solar_volt"]),
        ("temperature_c", &["temp", "temperature"]),
    ];
    for (ours, theirs) in fields {
        if let Some(v) = num(theirs) {
            out.insert(ours.into(), v);
        }
    }
    if let Some(state) = inner.get("sensor_state") {
        out.insert("sensor_state".into(), state.clone());
    }
    if let Some(code) = ["warning_level", "alarm_level"]
        .iter()
        .find_map(|k| inner.get(*k).and_then(Value::as_i64))
    {
        let level = match mapping::level_from_code(code) {
            Ok(Some(level)) => Value::String(level.as_str().into()),
            Ok(None) => Value::String("none".into()),
            Err(e) => Value::String(format!("invalid: {e}")),
        };
        out.insert("warning_level".into(), level);
    }
    out.insert("universal".into(), Value::Object(frame.clone()));
    serde_json::to_vec(&out).expect("JSON values always serialize")
}

fn is_status_key(k: &str) -> bool {
    let mut parts = k.split('_');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(s), Some("ZT"), Some(n), None)
            if s.strip_prefix('S').is_some_and(|g| g.parse::<u32>().is_ok()) && n.parse::<u32>().is_ok()
    )
}

/// Devices send numbers, sometimes as strings.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(json: &str) -> Map<String, Value> {
        match decode(&encode(2, json.as_bytes())).unwrap() {
            Frame::Data(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_with_bad_lengths_unknown_types_or_bad_json_are_refused_with_their_reason() {
        let mut short_len = encode(2, b"{}");
        short_len[2] = 5;
        assert_eq!(
            decode(&short_len).unwrap_err().reason,
            QuarantineReason::MalformedFrame
        );
        assert_eq!(
            decode(&[2, 0]).unwrap_err().reason,
            QuarantineReason::MalformedFrame
        );
        let mut trailing = encode(1, b"{}");
        trailing.push(b' ');
        assert_eq!(
            decode(&trailing).unwrap_err().reason,
            QuarantineReason::MalformedFrame
        );
        assert_eq!(
            decode(&encode(9, b"{}")).unwrap_err().reason,
            QuarantineReason::UnknownFrameType
        );
        assert_eq!(
            decode(&encode(3, b"{}")).unwrap_err().reason,
            QuarantineReason::UnsupportedFrameType
        );
        assert_eq!(
            decode(&encode(2, b"{\"a\":")).unwrap_err().reason,
            QuarantineReason::MalformedJson
        );
        assert_eq!(
            decode(&encode(1, b"[1]")).unwrap_err().reason,
            QuarantineReason::WrongType
        );
    }

    #[test]
    fn type_2_data_becomes_one_reading_per_identifier_time_and_field() {
        let d = data(
            r#"{"dev-1":{"L1_LF_1":{"2026-11-27T10:00:00.000Z":12.5},
                "L1_GP_1":{"2026-11-27T10:00:00Z":{"gpsTotalX":1.5,"gpsTotalY":-2,"gpsTotalZ":0.25}},
                "L3_YL_1":{"2026-11-27 18:00:00":0.5}}}"#,
        );
        let out: Value = serde_json::from_slice(&telemetry("dev-1", &d, 7).unwrap()).unwrap();
        assert_eq!(out["seq"], 7);
        let readings = out["readings"].as_array().unwrap();
        let t = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .unwrap()
            .timestamp_millis();
        let mut got: Vec<(&str, i64, f64)> = readings
            .iter()
            .map(|r| {
                (
                    r["sensor"].as_str().unwrap(),
                    r["ts"].as_i64().unwrap(),
                    r["value"].as_f64().unwrap(),
                )
            })
            .collect();
        got.sort_by(|a, b| a.0.cmp(b.0));
        assert_eq!(
            got,
            vec![
                ("L1_GP_1.gpsTotalX", t, 1.5),
                ("L1_GP_1.gpsTotalY", t, -2.0),
                ("L1_GP_1.gpsTotalZ", t, 0.25),
                ("L1_LF_1", t, 12.5),
                // No offset: China Standard Time, so 18:00 there is 10:00 UTC.
                ("L3_YL_1", t, 0.5),
            ]
        );
    }

    #[test]
    fn data_keyed_by_another_device_is_refused_whole() {
        let d = data(
            r#"{"dev-1":{"L1_LF_1":{"2026-11-27T10:00:00Z":1}},"dev-2":{"L1_LF_1":{"2026-11-27T10:00:00Z":2}}}"#,
        );
        let e = telemetry("dev-1", &d, 1).unwrap_err();
        assert_eq!(e.reason, QuarantineReason::ForeignDevice);
        assert!(e.detail.contains("dev-2"), "{}", e.detail);
    }

    #[test]
    fn unreadable_times_and_values_are_passed_on_for_the_collector_to_refuse_one_by_one() {
        let d = data(r#"{"dev-1":{"L1_LF_1":{"yesterday":1,"2026-11-27T10:00:00Z":"high"}}}"#);
        let out: Value = serde_json::from_slice(&telemetry("dev-1", &d, 1).unwrap()).unwrap();
        let r = out["readings"].as_array().unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.iter().any(|r| r["ts"] == "yesterday"));
        assert!(r.iter().any(|r| r["value"] == "high"));
    }

    #[test]
    fn type_1_status_maps_known_fields_and_keeps_the_original() {
        let frame = match decode(&encode(
            1,
            br#"{"S1_ZT_1":{"ext_power_volt":12.3,"solar_volt":"18.1","battery_dump_energy":87,
                 "temp":21.5,"signal_4G":-71,"sw_version":"V2.1.0","sensor_state":{"L1_LF_1":0},
                 "alarm_level":1}}"#,
        ))
        .unwrap()
        {
            Frame::Status(m) => m,
            other => panic!("{other:?}"),
        };
        let s: Value = serde_json::from_slice(&status(&frame, 1_000)).unwrap();
        assert_eq!(s["online"], true);
        assert_eq!(s["ts"], 1_000);
        assert_eq!(s["firmware"], "V2.1.0");
        assert_eq!(s["supply_v"], 12.3);
        assert_eq!(s["solar_v"], 18.1);
        assert_eq!(s["battery_pct"], 87.0);
        assert_eq!(s["signal_dbm"], -71.0);
        assert_eq!(s["warning_level"], "orange");
        assert_eq!(s["universal"]["S1_ZT_1"]["temp"], 21.5);
        let ours = geohazard_protocol::GatewayStatus::decode(&status(&frame, 1_000), 4096).unwrap();
        assert_eq!(ours.supply_v, Some(12.3));
    }
}
