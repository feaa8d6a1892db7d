//! A hazard site as an officer types it (in a form, or a row of a county's register) and its
//! checking into a `SiteRecord`: every problem named by its field and a stable reason, so the
//! API and the import report say which field is wrong and why, in the officer's language
//! (`register.reason.<reason>` and `register.field.<field>` in the server's catalogue).
//! Pure: no database; the division is checked against the officer's scope, so a division
//! outside it reads exactly like one that does not exist.

use geohazard_domain::{Scope, SiteKind, SiteStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a field was refused. Each has `register.reason.<code>` in zh-CN and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Nothing given where something is needed.
    Required,
    /// Longer than the field allows.
    TooLong,
    /// A unified code is 1 to 64 letters, digits and `_.-`.
    BadCode,
    /// Not a division the officer may register in (absent, or outside their scope).
    UnknownDivision,
    /// A number outside the field's range (latitude 95, negative people).
    OutOfRange,
    /// Not a number.
    NotANumber,
    /// Not a whole number.
    NotAWholeNumber,
    /// Not one of the hazard types.
    UnknownKind,
    /// Not one of the scale classes.
    UnknownScale,
    /// Not one of the statuses.
    UnknownStatus,
    /// Not a phone number (5 to 20 digits).
    BadPhone,
    /// Neither decimal degrees nor degrees-minutes-seconds.
    BadCoordinate,
    /// Another site has this code (in the store, or another row of the file).
    DuplicateCode,
    /// Not a GeoJSON Polygon of WGS 84 positions.
    BadThreatZone,
    /// A NUL or another control character.
    ControlCharacter,
    /// Not a person of the register the officer may reach (absent, or outside their scope).
    UnknownPerson,
    /// Not one of the roles this field takes.
    UnknownRole,
    /// A user name is 1 to 64 letters, digits and `_.@-`.
    BadUsername,
    /// Another officer has this user name.
    UsernameTaken,
    /// Officers may not change their own role, division or state.
    OwnAccount,
    /// The end of a period is not after its start.
    EndsBeforeStart,
    /// Not a time (RFC 3339, e.g. 2026-12-07T08:00:00+08:00).
    BadTime,
    /// Not a GB/T 2260 code (6 digits, 9 for a township).
    BadDivisionCode,
    /// A division's parent is neither in the register nor in the file.
    UnknownParent,
    /// A parent code given that is not the one the division's code implies.
    ParentMismatch,
    /// A division outside the officer's subtree.
    OutOfScope,
    /// Not a valid Polygon or MultiPolygon of WGS 84 positions.
    BadGeometry,
    /// A threat zone farther than [`crate::site_input::MAX_ZONE_DISTANCE_M`] from its site.
    ThreatZoneFar,
    /// Another row of the file names the same entry (a person's phone, a gateway's code, a
    /// gateway's point).
    DuplicateRow,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Required => "required",
            Reason::TooLong => "too_long",
            Reason::BadCode => "bad_code",
            Reason::UnknownDivision => "unknown_division",
            Reason::OutOfRange => "out_of_range",
            Reason::NotANumber => "not_a_number",
            Reason::NotAWholeNumber => "not_a_whole_number",
            Reason::UnknownKind => "unknown_kind",
            Reason::UnknownScale => "unknown_scale",
            Reason::UnknownStatus => "unknown_status",
            Reason::BadPhone => "bad_phone",
            Reason::BadCoordinate => "bad_coordinate",
            Reason::DuplicateCode => "duplicate_code",
            Reason::BadThreatZone => "bad_threat_zone",
            Reason::ControlCharacter => "control_character",
            Reason::UnknownPerson => "unknown_person",
            Reason::UnknownRole => "unknown_role",
            Reason::BadUsername => "bad_username",
            Reason::UsernameTaken => "username_taken",
            Reason::OwnAccount => "own_account",
            Reason::EndsBeforeStart => "ends_before_start",
            Reason::BadTime => "bad_time",
            Reason::BadDivisionCode => "bad_division_code",
            Reason::UnknownParent => "unknown_parent",
            Reason::ParentMismatch => "parent_mismatch",
            Reason::OutOfScope => "out_of_scope",
            Reason::BadGeometry => "bad_geometry",
            Reason::ThreatZoneFar => "threat_zone_far",
            Reason::DuplicateRow => "duplicate_row",
        }
    }

    pub const ALL: [Reason; 29] = [
        Reason::Required,
        Reason::TooLong,
        Reason::BadCode,
        Reason::UnknownDivision,
        Reason::OutOfRange,
        Reason::NotANumber,
        Reason::NotAWholeNumber,
        Reason::UnknownKind,
        Reason::UnknownScale,
        Reason::UnknownStatus,
        Reason::BadPhone,
        Reason::BadCoordinate,
        Reason::DuplicateCode,
        Reason::BadThreatZone,
        Reason::ControlCharacter,
        Reason::UnknownPerson,
        Reason::UnknownRole,
        Reason::BadUsername,
        Reason::UsernameTaken,
        Reason::OwnAccount,
        Reason::EndsBeforeStart,
        Reason::BadTime,
        Reason::BadDivisionCode,
        Reason::UnknownParent,
        Reason::ParentMismatch,
        Reason::OutOfScope,
        Reason::BadGeometry,
        Reason::ThreatZoneFar,
        Reason::DuplicateRow,
    ];

    /// The reason in `lang` (zh-CN or en).
    pub fn text(self, lang: &str) -> &'static str {
        geohazard_domain::catalogue::message(&format!("register.reason.{}", self.as_str()), lang)
            .unwrap_or("?")
    }
}

/// One refused field: which, the value given (as text), and why.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: &'static str,
    pub value: String,
    pub reason: Reason,
}

impl FieldError {
    pub fn new(field: &'static str, value: impl Into<String>, reason: Reason) -> FieldError {
        FieldError {
            field,
            value: value.into(),
            reason,
        }
    }
}

/// How far a threat zone may lie from its site's location, metres: a failure's reach (a
/// debris flow's run-out) rarely goes farther; a zone beyond it was drawn around the wrong site.
pub const MAX_ZONE_DISTANCE_M: f64 = 5_000.0;

/// Every field of a site, by the name the API and the reports use, in register order.
pub const FIELDS: [&str; 14] = [
    "code",
    "name",
    "type",
    "division_code",
    "longitude",
    "latitude",
    "scale_class",
    "volume_m3",
    "threatened_people",
    "threatened_property",
    "status",
    "monitor_name",
    "monitor_phone",
    "threat_zone",
];

/// A site as given: every field optional so that a missing one is reported by name.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct SiteInput {
    /// The unified code (统一编号): 1 to 64 letters, digits and `_.-`.
    pub code: Option<String>,
    pub name: Option<String>,
    /// landslide, rockfall, debris_flow, subsidence, fissure.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// GB/T 2260 code of the county or township it is registered in.
    pub division_code: Option<String>,
    /// WGS 84 / CGCS2000 decimal degrees, or degrees-minutes-seconds as text.
    #[schema(value_type = Option<Value>)]
    pub longitude: Option<Value>,
    #[schema(value_type = Option<Value>)]
    pub latitude: Option<Value>,
    /// GeoJSON Polygon of the area a failure would reach.
    #[schema(value_type = Option<Value>)]
    pub threat_zone: Option<Value>,
    /// small, medium, large, huge (小型, 中型, 大型, 特大型).
    pub scale_class: Option<String>,
    #[schema(value_type = Option<f64>)]
    pub volume_m3: Option<Value>,
    #[schema(value_type = Option<i64>)]
    pub threatened_people: Option<Value>,
    /// In 10,000 CNY (万元).
    #[schema(value_type = Option<f64>)]
    pub threatened_property: Option<Value>,
    /// monitoring (default), emergency, mitigated, closed.
    pub status: Option<String>,
    /// The village monitor responsible (监测责任人) and their phone (联系电话).
    pub monitor_name: Option<String>,
    pub monitor_phone: Option<String>,
}

/// A site that passed every check: what the store holds, and what the audit log and the
/// register's change rows record as before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SiteRecord {
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: SiteKind,
    pub division_code: String,
    pub longitude: f64,
    pub latitude: f64,
    #[schema(value_type = Option<Value>)]
    pub threat_zone: Option<Value>,
    pub scale_class: Option<String>,
    pub volume_m3: Option<f64>,
    pub threatened_people: i32,
    pub threatened_property: f64,
    pub status: SiteStatus,
    pub monitor_name: Option<String>,
    pub monitor_phone: Option<String>,
}

impl SiteRecord {
    /// The fields whose values differ between `self` and `other`, in register order.
    pub fn changed_fields(&self, other: &SiteRecord) -> Vec<&'static str> {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        FIELDS
            .into_iter()
            .filter(|f| a.get(f) != b.get(f))
            .collect()
    }
}

/// Scale classes as registers write them, in Chinese or in English.
pub fn scale_of(text: &str) -> Option<&'static str> {
    Some(match text.trim() {
        "small" | "小型" | "小" => "small",
        "medium" | "中型" | "中" => "medium",
        "large" | "大型" | "大" => "large",
        "huge" | "特大型" | "特大" => "huge",
        _ => return None,
    })
}

/// A coordinate from decimal degrees (`104.61`) or degrees-minutes-seconds as registers write
/// them (`104°36'36.5"E`, `104°36′36.5″`, `104 36 36.5`, `28度48分3秒`); a trailing S or W
/// makes it negative. `None` when it is neither.
pub fn parse_degrees(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(v) = t.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    let (body, sign) = match t.chars().last()? {
        'N' | 'E' | 'n' | 'e' => (&t[..t.len() - 1], 1.0),
        'S' | 'W' | 's' | 'w' => (&t[..t.len() - 1], -1.0),
        _ => (t, 1.0),
    };
    let parts: Vec<&str> = body
        .split(|c: char| "°º度'′’分\"″”秒 :".contains(c))
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut numbers = Vec::with_capacity(3);
    for p in &parts {
        numbers.push(p.trim().parse::<f64>().ok().filter(|v| v.is_finite())?);
    }
    let degrees = numbers[0];
    let minutes = numbers.get(1).copied().unwrap_or(0.0);
    let seconds = numbers.get(2).copied().unwrap_or(0.0);
    // Only the last part may have a fraction; minutes and seconds stay below 60.
    let whole = |v: f64| v.fract() == 0.0;
    if !(0.0..60.0).contains(&minutes)
        || !(0.0..60.0).contains(&seconds)
        || degrees < 0.0
        || (numbers.len() > 1 && !whole(degrees))
        || (numbers.len() > 2 && !whole(minutes))
    {
        return None;
    }
    Some(sign * (degrees + minutes / 60.0 + seconds / 3600.0))
}

/// A value as a report shows it (a whole number without its `.0`, as a spreadsheet shows it).
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A number from JSON: a number, or text holding one (a register's cell).
fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|v| v.is_finite())
}

fn blank(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control())
}

/// A text field trimmed: `None` when blank (a problem if `required`), too long (over `max`
/// characters) or holding a control character, each problem added to `errors`.
pub fn checked_text(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    v: Option<&str>,
    max: usize,
    required: bool,
) -> Option<String> {
    let s = v.map(str::trim).unwrap_or("");
    if s.is_empty() {
        if required {
            errors.push(FieldError::new(field, "", Reason::Required));
        }
        return None;
    }
    if has_control(s) {
        errors.push(FieldError::new(
            field,
            s.replace(|c: char| c.is_control(), "\u{fffd}"),
            Reason::ControlCharacter,
        ));
        None
    } else if s.chars().count() > max {
        errors.push(FieldError::new(field, s, Reason::TooLong));
        None
    } else {
        Some(s.to_owned())
    }
}

/// A division code (`field` division_code) that is one of `scope`'s; outside it (or absent)
/// reads as `unknown_division`.
pub fn checked_division(
    errors: &mut Vec<FieldError>,
    scope: &Scope,
    v: Option<&str>,
    required: bool,
) -> Option<String> {
    let d = checked_text(errors, "division_code", v, 9, required)?;
    if scope.contains(&d) {
        Some(d)
    } else {
        errors.push(FieldError::new("division_code", d, Reason::UnknownDivision));
        None
    }
}

/// A phone number as stored: 5 to 20 digits once spaces and dashes are taken out (`139 0000
/// 1111`, `0831-1234567`); anything else is a `bad_phone` problem added to `errors`.
pub fn checked_phone(errors: &mut Vec<FieldError>, field: &'static str, p: &str) -> Option<String> {
    let digits: String = p.chars().filter(|c| !" -".contains(*c)).collect();
    if (5..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Some(digits)
    } else {
        errors.push(FieldError::new(field, p, Reason::BadPhone));
        None
    }
}

/// Checks `input` for an officer with `scope`: the record, or every problem found.
pub fn check(input: &SiteInput, scope: &Scope) -> Result<SiteRecord, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut text = |field: &'static str, v: &Option<String>, max: usize, required: bool| {
        checked_text(&mut errors, field, v.as_deref(), max, required)
    };
    let code = text("code", &input.code, 64, true);
    let name = text("name", &input.name, 200, true);
    let kind_text = text("type", &input.kind, 32, true);
    let division = text("division_code", &input.division_code, 9, true);
    let scale_text = text("scale_class", &input.scale_class, 16, false);
    let status_text = text("status", &input.status, 16, false);
    let monitor_name = text("monitor_name", &input.monitor_name, 100, false);
    let phone_text = text("monitor_phone", &input.monitor_phone, 24, false);

    if let Some(c) = &code
        && !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
    {
        errors.push(FieldError::new("code", c, Reason::BadCode));
    }
    let kind = kind_text.as_deref().and_then(|k| {
        let kind = SiteKind::by_name(k);
        if kind.is_none() {
            errors.push(FieldError::new("type", k, Reason::UnknownKind));
        }
        kind
    });
    if let Some(d) = &division
        && !scope.contains(d)
    {
        errors.push(FieldError::new("division_code", d, Reason::UnknownDivision));
    }
    let mut coordinate = |field: &'static str, v: &Option<Value>, limit: f64| {
        if blank(v) {
            errors.push(FieldError::new(field, "", Reason::Required));
            return None;
        }
        let v = v.as_ref()?;
        let parsed = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => parse_degrees(s),
            _ => None,
        };
        match parsed {
            None => {
                errors.push(FieldError::new(field, text_of(v), Reason::BadCoordinate));
                None
            }
            Some(x) if !(-limit..=limit).contains(&x) => {
                errors.push(FieldError::new(field, text_of(v), Reason::OutOfRange));
                None
            }
            Some(x) => Some(x),
        }
    };
    let longitude = coordinate("longitude", &input.longitude, 180.0);
    let latitude = coordinate("latitude", &input.latitude, 90.0);
    let mut number = |field: &'static str, v: &Option<Value>, max: f64, whole: bool| {
        if blank(v) {
            return Ok(None);
        }
        let v = v.as_ref().expect("not blank");
        match number_of(v) {
            None => {
                errors.push(FieldError::new(field, text_of(v), Reason::NotANumber));
                Err(())
            }
            Some(x) if whole && x.fract() != 0.0 => {
                errors.push(FieldError::new(field, text_of(v), Reason::NotAWholeNumber));
                Err(())
            }
            Some(x) if !(0.0..=max).contains(&x) => {
                errors.push(FieldError::new(field, text_of(v), Reason::OutOfRange));
                Err(())
            }
            Some(x) => Ok(Some(x)),
        }
    };
    let volume_m3 = number("volume_m3", &input.volume_m3, 1e12, false);
    let people = number(
        "threatened_people",
        &input.threatened_people,
        i32::MAX as f64,
        true,
    );
    let property = number(
        "threatened_property",
        &input.threatened_property,
        1e12,
        false,
    );
    let scale_class = scale_text.as_deref().and_then(|s| {
        let scale = scale_of(s);
        if scale.is_none() {
            errors.push(FieldError::new("scale_class", s, Reason::UnknownScale));
        }
        scale
    });
    let status = match status_text.as_deref() {
        None => Some(SiteStatus::Monitoring),
        Some(s) => {
            let status = SiteStatus::by_name(s);
            if status.is_none() {
                errors.push(FieldError::new("status", s, Reason::UnknownStatus));
            }
            status
        }
    };
    let monitor_phone = phone_text.and_then(|p| checked_phone(&mut errors, "monitor_phone", &p));
    let threat_zone = match &input.threat_zone {
        None | Some(Value::Null) => None,
        Some(z) => match crate::geometry::polygon(z, false) {
            Err(_) => {
                errors.push(FieldError::new(
                    "threat_zone",
                    text_of(z).chars().take(80).collect::<String>(),
                    Reason::BadThreatZone,
                ));
                None
            }
            Ok(zone) => {
                let far = longitude
                    .zip(latitude)
                    .map(|(lon, lat)| crate::geometry::distance_m(&zone, lon, lat))
                    .filter(|d| *d > MAX_ZONE_DISTANCE_M);
                if let Some(d) = far {
                    errors.push(FieldError::new(
                        "threat_zone",
                        format!("{:.1} km", d / 1000.0),
                        Reason::ThreatZoneFar,
                    ));
                }
                Some(z.clone())
            }
        },
    };
    if !errors.is_empty() {
        errors.sort_by_key(|e| FIELDS.iter().position(|f| *f == e.field));
        return Err(errors);
    }
    let (Some(code), Some(name), Some(kind), Some(division_code), Some(longitude), Some(latitude)) =
        (code, name, kind, division, longitude, latitude)
    else {
        unreachable!("a missing required field is an error");
    };
    Ok(SiteRecord {
        code,
        name,
        kind,
        division_code,
        longitude,
        latitude,
        threat_zone,
        scale_class: scale_class.map(str::to_owned),
        volume_m3: volume_m3.ok().flatten(),
        threatened_people: people.ok().flatten().unwrap_or(0.0) as i32,
        threatened_property: property.ok().flatten().unwrap_or(0.0),
        status: status.unwrap_or(SiteStatus::Monitoring),
        monitor_name,
        monitor_phone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        Scope::new("511525".into(), vec!["511525".into()], false)
    }

    fn good() -> SiteInput {
        serde_json::from_value(json!({
            "code": "HP-001", "name": "老屋基滑坡", "type": "滑坡", "division_code": "511525",
            "longitude": "104°36'36\"E", "latitude": 28.8, "scale_class": "中型",
            "threatened_people": "35", "threatened_property": 120.5,
            "monitor_name": "王五", "monitor_phone": "138 0000 1111"
        }))
        .unwrap()
    }

    #[test]
    fn degrees_minutes_seconds_as_registers_write_them_are_read_and_nonsense_is_not() {
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(close(parse_degrees("104°36'36\"E"), 104.61));
        assert!(close(parse_degrees("104°36′36″"), 104.61));
        assert!(close(parse_degrees("28度48分36秒"), 28.81));
        assert!(close(parse_degrees("104 36 36"), 104.61));
        assert!(close(parse_degrees("12°30'S"), -12.5));
        assert!(close(parse_degrees(" 104.5 "), 104.5));
        for bad in [
            "",
            "abc",
            "104°61'00\"",
            "104°30'75\"",
            "1°2'3'4\"",
            "104.5°30'",
            "NaN",
        ] {
            assert_eq!(parse_degrees(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_good_site_in_register_words_is_read_whole() {
        let r = check(&good(), &scope()).unwrap();
        assert_eq!(r.kind, SiteKind::Landslide);
        assert_eq!(r.scale_class.as_deref(), Some("medium"));
        assert_eq!(r.threatened_people, 35);
        assert_eq!(r.monitor_phone.as_deref(), Some("13800001111"));
        assert!((r.longitude - 104.61).abs() < 1e-9);
        assert_eq!(r.status, SiteStatus::Monitoring);
    }

    #[test]
    fn every_bad_field_is_named_with_its_reason() {
        let mut i = good();
        i.code = Some("HP 001".into());
        i.name = Some("  ".into());
        i.division_code = Some("511502".into());
        i.latitude = Some(json!(95));
        i.longitude = Some(json!("104°75'00\""));
        i.threatened_people = Some(json!("3.5"));
        i.kind = Some("volcano".into());
        i.monitor_phone = Some("call me".into());
        i.threat_zone = Some(json!({"type": "Point", "coordinates": [1, 2]}));
        let errors = check(&i, &scope()).unwrap_err();
        let got: Vec<(&str, Reason)> = errors.iter().map(|e| (e.field, e.reason)).collect();
        for want in [
            ("code", Reason::BadCode),
            ("name", Reason::Required),
            ("division_code", Reason::UnknownDivision),
            ("latitude", Reason::OutOfRange),
            ("longitude", Reason::BadCoordinate),
            ("threatened_people", Reason::NotAWholeNumber),
            ("type", Reason::UnknownKind),
            ("monitor_phone", Reason::BadPhone),
            ("threat_zone", Reason::BadThreatZone),
        ] {
            assert!(got.contains(&want), "{want:?} not in {got:?}");
        }
        assert_eq!(got.len(), 9, "{got:?}");
    }

    #[test]
    fn every_reason_and_field_has_a_text_in_both_languages() {
        for r in Reason::ALL {
            for lang in geohazard_domain::catalogue::LANGUAGES {
                assert_ne!(r.text(lang), "?", "{} in {lang}", r.as_str());
            }
        }
        for f in FIELDS {
            for lang in geohazard_domain::catalogue::LANGUAGES {
                assert!(
                    geohazard_domain::catalogue::message(&format!("register.field.{f}"), lang)
                        .is_some(),
                    "register.field.{f} in {lang}"
                );
            }
        }
    }
}
