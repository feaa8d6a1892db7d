//! The one place where universal-type identifiers meet our vocabulary: monitoring methods
//! (`L{group}_{method}_{n}`) to sensor kinds, units and fields, channel naming, and warning codes.
//! `docs/universal-protocol.md` shows the same tables.

use geohazard_protocol::warning::WarningLevel;
use geohazard_store::registry::SensorKind;

/// One monitoring method of the platform's type definition (监测类型定义).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Method {
    /// Monitoring group: 1 deformation, 2 physical field, 3 influencing factors, 4 macroscopic.
    pub group: u8,
    /// Method code, e.g. `LF`.
    pub code: &'static str,
    pub name: &'static str,
    pub kind: SensorKind,
    pub unit: &'static str,
    /// The data fields a reading carries; `["value"]` is a single-value method.
    pub fields: &'static [&'static str],
}

const VALUE: &[&str] = &["value"];

/// Methods the endpoint knows. The group matters: `YL` is stress in group 2 and rain in group 3.
#[rustfmt::skip]
pub const METHODS: &[Method] = &[
    Method { group: 1, code: "LF", name: "crack (裂缝)", kind: SensorKind::CrackMeter, unit: "mm", fields: VALUE },
    Method { group: 1, code: "GP", name: "GNSS surface displacement (地表位移)", kind: SensorKind::Gnss, unit: "mm", fields: &["gpsTotalX", "gpsTotalY", "gpsTotalZ"] },
    Method { group: 1, code: "SW", name: "deep displacement (深部位移)", kind: SensorKind::Inclinometer, unit: "mm", fields: &["dispsX", "dispsY"] },
    Method { group: 1, code: "JS", name: "acceleration (加速度)", kind: SensorKind::Other, unit: "mg", fields: &["gX", "gY", "gZ"] },
    Method { group: 1, code: "QJ", name: "tilt (倾角)", kind: SensorKind::Inclinometer, unit: "°", fields: &["X", "Y", "Z", "angle", "AZI"] },
    Method { group: 1, code: "ZD", name: "vibration (振动)", kind: SensorKind::Other, unit: "mm", fields: &["value", "PLX", "PLY", "PLZ", "SJX", "SJY", "SJZ", "SJValue"] },
    Method { group: 2, code: "YL", name: "stress (应力)", kind: SensorKind::Other, unit: "kN", fields: VALUE },
    Method { group: 2, code: "TY", name: "earth pressure (土压力)", kind: SensorKind::Other, unit: "kPa", fields: VALUE },
    Method { group: 2, code: "KS", name: "pore water pressure (孔隙水压力)", kind: SensorKind::Piezometer, unit: "kPa", fields: VALUE },
    Method { group: 3, code: "YL", name: "rain (雨量)", kind: SensorKind::RainGauge, unit: "mm", fields: VALUE },
    Method { group: 3, code: "HS", name: "soil moisture (含水率)", kind: SensorKind::SoilMoisture, unit: "%", fields: VALUE },
    Method { group: 3, code: "DB", name: "surface water level (地表水位)", kind: SensorKind::WaterLevel, unit: "m", fields: VALUE },
    Method { group: 3, code: "DX", name: "groundwater level (地下水位)", kind: SensorKind::WaterLevel, unit: "m", fields: VALUE },
    Method { group: 4, code: "NW", name: "mud level (泥位)", kind: SensorKind::MudLevel, unit: "m", fields: VALUE },
];

/// A monitoring identifier `L{group}_{method}_{n}`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    pub group: u8,
    pub method: String,
    pub index: u32,
}

impl Identifier {
    pub fn parse(s: &str) -> Option<Identifier> {
        let mut parts = s.strip_prefix('L')?.split('_');
        let group = parts.next()?.parse().ok()?;
        let method = parts.next()?;
        let index = parts.next()?.parse().ok()?;
        if parts.next().is_some()
            || method.is_empty()
            || !method.bytes().all(|b| b.is_ascii_uppercase())
        {
            return None;
        }
        Some(Identifier {
            group,
            method: method.to_owned(),
            index,
        })
    }

    pub fn method(&self) -> Option<&'static Method> {
        METHODS
            .iter()
            .find(|m| m.group == self.group && m.code == self.method)
    }
}

/// The channel a reading of `identifier` (and, for multi-field data, `field`) is stored under:
/// `L1_LF_1` for single-value data, `L1_GP_1.gpsTotalX` for one field of multi-field data.
/// A lone `value` field of a single-value method is the identifier itself.
pub fn channel(identifier: &str, field: Option<&str>) -> String {
    match field {
        None => identifier.to_owned(),
        Some("value") if is_single_value(identifier) => identifier.to_owned(),
        Some(f) => format!("{identifier}.{f}"),
    }
}

fn is_single_value(identifier: &str) -> bool {
    Identifier::parse(identifier)
        .and_then(|i| i.method())
        .is_none_or(|m| m.fields == VALUE)
}

/// The sensors to register for a monitoring identifier: `(channel, kind, unit)` per field.
/// `None` when the identifier is malformed or its method is not in [`METHODS`].
pub fn sensors_for(identifier: &str) -> Option<Vec<(String, SensorKind, &'static str)>> {
    let method = Identifier::parse(identifier)?.method()?;
    Some(
        method
            .fields
            .iter()
            .map(|f| (channel(identifier, Some(f)), method.kind, method.unit))
            .collect(),
    )
}

/// A platform warning code outside 0–4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("warning code {0} is not one of 0 (red), 1 (orange), 2 (yellow), 3 (blue), 4 (normal)")]
pub struct UnknownWarningCode(pub i64);

/// The platform's warning code, which runs the other way from our levels:
/// 0 red, 1 orange, 2 yellow, 3 blue, 4 normal (no warning).
pub fn level_from_code(code: i64) -> Result<Option<WarningLevel>, UnknownWarningCode> {
    match code {
        0 => Ok(Some(WarningLevel::Red)),
        1 => Ok(Some(WarningLevel::Orange)),
        2 => Ok(Some(WarningLevel::Yellow)),
        3 => Ok(Some(WarningLevel::Blue)),
        4 => Ok(None),
        other => Err(UnknownWarningCode(other)),
    }
}

/// Our level as the platform's warning code; `None` (no warning) is 4.
pub fn code_from_level(level: Option<WarningLevel>) -> u8 {
    match level {
        Some(WarningLevel::Red) => 0,
        Some(WarningLevel::Orange) => 1,
        Some(WarningLevel::Yellow) => 2,
        Some(WarningLevel::Blue) => 3,
        None => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_codes_run_opposite_to_our_levels_and_round_trip() {
        assert_eq!(level_from_code(0), Ok(Some(WarningLevel::Red)));
        assert_eq!(level_from_code(1), Ok(Some(WarningLevel::Orange)));
        assert_eq!(level_from_code(2), Ok(Some(WarningLevel::Yellow)));
        assert_eq!(level_from_code(3), Ok(Some(WarningLevel::Blue)));
        assert_eq!(level_from_code(4), Ok(None));
        assert_eq!(level_from_code(5), Err(UnknownWarningCode(5)));
        assert!(level_from_code(-1).is_err());
        // A lower code is a higher level, exactly reversed.
        for code in 0..3 {
            let higher = level_from_code(code).unwrap().unwrap();
            let lower = level_from_code(code + 1).unwrap().unwrap();
            assert!(higher > lower, "code {code} must outrank code {}", code + 1);
        }
        for level in WarningLevel::ALL.map(Some).into_iter().chain([None]) {
            assert_eq!(level_from_code(code_from_level(level) as i64), Ok(level));
        }
    }

    #[test]
    fn identifiers_parse_and_the_group_decides_the_method() {
        let rain = Identifier::parse("L3_YL_1").unwrap();
        assert_eq!(rain.method().unwrap().kind, SensorKind::RainGauge);
        let stress = Identifier::parse("L2_YL_2").unwrap();
        assert_eq!(stress.method().unwrap().unit, "kN");
        for bad in [
            "LF_1",
            "L1_LF",
            "L1_lf_1",
            "L1_LF_1_2",
            "X1_LF_1",
            "L_LF_1",
            "",
        ] {
            assert_eq!(Identifier::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn channels_name_single_values_by_identifier_and_fields_by_suffix() {
        assert_eq!(channel("L1_LF_1", None), "L1_LF_1");
        assert_eq!(channel("L1_LF_1", Some("value")), "L1_LF_1");
        assert_eq!(channel("L1_GP_1", Some("gpsTotalX")), "L1_GP_1.gpsTotalX");
        assert_eq!(channel("L1_ZD_1", Some("value")), "L1_ZD_1.value");
        let tilt = sensors_for("L1_QJ_1").unwrap();
        assert_eq!(tilt.len(), 5);
        assert_eq!(
            tilt[4],
            ("L1_QJ_1.AZI".into(), SensorKind::Inclinometer, "°")
        );
        assert_eq!(
            sensors_for("L1_LF_3").unwrap(),
            vec![("L1_LF_3".into(), SensorKind::CrackMeter, "mm")]
        );
        assert_eq!(sensors_for("L9_XX_1"), None);
    }
}
