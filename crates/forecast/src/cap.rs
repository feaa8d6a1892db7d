//! The public feed in the Common Alerting Protocol 1.2 (OASIS): one `alert` per released
//! warning, an `info` per level issued (Chinese, then English) with an `area` holding the
//! level's polygons and the GB/T 2260 codes of its divisions. A revision is an `Update` and a
//! withdrawal a `Cancel`, each naming the alert it replaces in `references`.
//! The schema is vendored in `schema/CAP-v1.2.xsd` (see `schema/README.md`).

use chrono::{DateTime, FixedOffset};
use geo::MultiPolygon;
use geohazard_domain::WarningLevel;

use crate::areas::{Product, area_polygons};

/// CAP's `msgType` for what we publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    Alert,
    Update,
    Cancel,
}

impl MsgType {
    pub fn as_str(self) -> &'static str {
        match self {
            MsgType::Alert => "Alert",
            MsgType::Update => "Update",
            MsgType::Cancel => "Cancel",
        }
    }
}

/// An earlier alert, as `references` names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub identifier: String,
    pub sent: DateTime<FixedOffset>,
}

/// One alert to write.
#[derive(Debug, Clone)]
pub struct Alert<'a> {
    pub identifier: String,
    /// The agency's CAP sender id (e.g. an address), the same on every alert.
    pub sender: String,
    pub sender_name: String,
    pub sent: DateTime<FixedOffset>,
    pub msg_type: MsgType,
    pub references: Vec<Reference>,
    pub effective: DateTime<FixedOffset>,
    pub expires: DateTime<FixedOffset>,
    /// The officer's text in Chinese (the description), may be empty.
    pub text_zh: &'a str,
    pub product: &'a Product,
}

/// CAP's `dateTime`: seconds, an explicit offset.
pub fn cap_time(t: &DateTime<FixedOffset>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// The identifier of an alert: no spaces, commas or XML specials.
pub fn identifier(sender_id: &str, forecast_id: i64, version: i32) -> String {
    let clean: String = sender_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
        .collect();
    format!("{clean}.forecast.{forecast_id}.{version}")
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// CAP severity of a level.
pub fn severity(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Blue => "Minor",
        WarningLevel::Yellow => "Moderate",
        WarningLevel::Orange => "Severe",
        WarningLevel::Red => "Extreme",
    }
}

fn grade_zh(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Blue => "四级",
        WarningLevel::Yellow => "三级",
        WarningLevel::Orange => "二级",
        WarningLevel::Red => "一级",
    }
}

fn level_en(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Blue => "blue",
        WarningLevel::Yellow => "yellow",
        WarningLevel::Orange => "orange",
        WarningLevel::Red => "red",
    }
}

/// Polygon rings as CAP wants them: "lat,lon" pairs, closed, one per outer ring.
pub fn cap_polygons(area: &MultiPolygon<f64>) -> Vec<String> {
    area.0
        .iter()
        .map(|p| {
            p.exterior()
                .coords()
                .map(|c| format!("{:.4},{:.4}", c.y, c.x))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The Chinese headline of a level's info.
pub fn headline_zh(sender_name: &str, level: WarningLevel) -> String {
    format!(
        "{sender_name}发布地质灾害气象风险{}预警（{}）",
        level.name_zh(),
        grade_zh(level)
    )
}

/// Writes one element, its value escaped.
fn el(x: &mut String, indent: usize, name: &str, value: &str) {
    x.push_str(&format!(
        "{}<{name}>{}</{name}>\n",
        "  ".repeat(indent),
        esc(value)
    ));
}

/// The XML declaration and the alert's opening and message elements, up to its `info`s.
fn head(
    identifier: &str,
    sender: &str,
    sent: &DateTime<FixedOffset>,
    msg_type: MsgType,
    references: &[Reference],
) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n");
    el(&mut x, 1, "identifier", identifier);
    el(&mut x, 1, "sender", sender);
    el(&mut x, 1, "sent", &cap_time(sent));
    el(&mut x, 1, "status", "Actual");
    el(&mut x, 1, "msgType", msg_type.as_str());
    el(&mut x, 1, "scope", "Public");
    if !references.is_empty() {
        let refs: Vec<String> = references
            .iter()
            .map(|r| format!("{sender},{},{}", r.identifier, cap_time(&r.sent)))
            .collect();
        el(&mut x, 1, "references", &refs.join(" "));
    }
    x
}

/// Writes the alert.
pub fn to_xml(a: &Alert) -> String {
    let mut x = head(&a.identifier, &a.sender, &a.sent, a.msg_type, &a.references);
    let levels: Vec<_> = a.product.areas.iter().collect();
    if a.msg_type == MsgType::Cancel || levels.is_empty() {
        for (lang, event, headline, text) in [
            (
                "zh-CN",
                "地质灾害气象风险预警",
                format!("{}解除地质灾害气象风险预警", a.sender_name),
                a.text_zh.to_owned(),
            ),
            (
                "en",
                "Geohazard meteorological risk warning",
                format!(
                    "{}: geohazard meteorological risk warning withdrawn",
                    a.sender_name
                ),
                String::new(),
            ),
        ] {
            x.push_str("  <info>\n");
            el(&mut x, 2, "language", lang);
            el(&mut x, 2, "category", "Geo");
            el(&mut x, 2, "event", event);
            el(&mut x, 2, "responseType", "AllClear");
            el(&mut x, 2, "urgency", "Past");
            el(&mut x, 2, "severity", "Minor");
            el(&mut x, 2, "certainty", "Observed");
            el(&mut x, 2, "effective", &cap_time(&a.effective));
            el(&mut x, 2, "expires", &cap_time(&a.expires));
            el(&mut x, 2, "senderName", &a.sender_name);
            el(&mut x, 2, "headline", &headline);
            if !text.is_empty() {
                el(&mut x, 2, "description", &text);
            }
            x.push_str("  </info>\n");
        }
        x.push_str("</alert>\n");
        return x;
    }
    for area in &levels {
        let divisions: Vec<_> = a
            .product
            .divisions
            .iter()
            .filter(|d| d.level == area.level)
            .collect();
        let sites = a
            .product
            .sites
            .iter()
            .filter(|s| s.level == area.level)
            .count();
        let names: Vec<&str> = divisions.iter().map(|d| d.name.as_str()).collect();
        let polygons = cap_polygons(&area_polygons(area));
        for lang in ["zh-CN", "en"] {
            let zh = lang == "zh-CN";
            x.push_str("  <info>\n");
            el(&mut x, 2, "language", lang);
            el(&mut x, 2, "category", "Geo");
            el(
                &mut x,
                2,
                "event",
                if zh {
                    "地质灾害气象风险预警"
                } else {
                    "Geohazard meteorological risk warning"
                },
            );
            el(
                &mut x,
                2,
                "responseType",
                if area.level >= WarningLevel::Orange {
                    "Evacuate"
                } else {
                    "Monitor"
                },
            );
            el(&mut x, 2, "urgency", "Expected");
            el(&mut x, 2, "severity", severity(area.level));
            el(&mut x, 2, "certainty", "Likely");
            el(&mut x, 2, "effective", &cap_time(&a.effective));
            el(&mut x, 2, "expires", &cap_time(&a.expires));
            el(&mut x, 2, "senderName", &a.sender_name);
            let (headline, description, instruction, area_desc) = if zh {
                let mut d = format!(
                    "预计{}至{}，",
                    a.effective.format("%m月%d日%H时"),
                    a.expires.format("%m月%d日%H时")
                );
                if names.is_empty() {
                    d.push_str(&format!(
                        "图示区域发生地质灾害的风险{}。",
                        risk_zh(area.level)
                    ));
                } else {
                    d.push_str(&format!(
                        "{}等地发生地质灾害的风险{}。",
                        names.join("、"),
                        risk_zh(area.level)
                    ));
                }
                if sites > 0 {
                    d.push_str(&format!("区内有登记隐患点{sites}处。"));
                }
                if !a.text_zh.is_empty() {
                    d.push_str(a.text_zh);
                }
                (
                    headline_zh(&a.sender_name, area.level),
                    d,
                    instruction_zh(area.level).to_owned(),
                    if names.is_empty() {
                        format!("{}预警区域", area.level.name_zh())
                    } else {
                        names.join("、")
                    },
                )
            } else {
                (
                    format!("Geohazard meteorological risk warning, {} (level {})", level_en(area.level), 4 - area.level.rank()),
                    format!(
                        "From {} to {} the risk of geohazards is {} in the area shown{}.",
                        cap_time(&a.effective),
                        cap_time(&a.expires),
                        ["elevated", "high", "very high", "extremely high"][area.level.rank()],
                        if sites > 0 { format!(", with {sites} registered hazard sites") } else { String::new() }
                    ),
                    "Follow the instructions of local authorities; keep away from slopes and gullies.".to_owned(),
                    format!("{} warning area", level_en(area.level)),
                )
            };
            el(&mut x, 2, "headline", &headline);
            el(&mut x, 2, "description", &description);
            el(&mut x, 2, "instruction", &instruction);
            x.push_str("    <parameter>\n");
            el(&mut x, 3, "valueName", "level");
            el(&mut x, 3, "value", level_en(area.level));
            x.push_str("    </parameter>\n");
            x.push_str("    <area>\n");
            el(&mut x, 3, "areaDesc", &area_desc);
            for p in &polygons {
                el(&mut x, 3, "polygon", p);
            }
            for d in &divisions {
                x.push_str("      <geocode>\n");
                el(&mut x, 4, "valueName", "GB/T 2260");
                el(&mut x, 4, "value", &d.code);
                x.push_str("      </geocode>\n");
            }
            x.push_str("    </area>\n");
            x.push_str("  </info>\n");
        }
    }
    x.push_str("</alert>\n");
    x
}

fn risk_zh(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Blue => "较高",
        WarningLevel::Yellow => "高",
        WarningLevel::Orange => "很高",
        WarningLevel::Red => "极高",
    }
}

/// What the public is asked to do, per level.
pub fn instruction_zh(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Blue => "请关注降雨和预警信息，注意防范。",
        WarningLevel::Yellow => "请加强巡查监测，做好防范准备。",
        WarningLevel::Orange => "请加密巡查，危险区人员做好转移准备。",
        WarningLevel::Red => "请立即组织危险区人员转移避险，远离斜坡、沟谷。",
    }
}

/// The vendored OASIS CAP 1.2 schema.
pub fn schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/CAP-v1.2.xsd")
}

/// Checks an alert against the CAP 1.2 schema with `xmllint --schema` (Debian's
/// libxml2-utils): Err with xmllint's words when refused, or when xmllint cannot run.
pub fn check_with_xmllint(xml: &str) -> Result<(), String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let file = std::env::temp_dir().join(format!(
        "geohazard-cap-{}-{}.xml",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, xml).map_err(|e| format!("writing {}: {e}", file.display()))?;
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema_path())
        .arg(&file)
        .output();
    let _ = std::fs::remove_file(&file);
    let out = out.map_err(|e| {
        format!("xmllint (libxml2-utils, deploy/install-deps.sh) does not run: {e}")
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The area of a published site warning: its threat zone, else a circle round the site.
#[derive(Debug, Clone, PartialEq)]
pub enum SiteArea {
    /// The threat zone's outer ring as (longitude, latitude), closed.
    Polygon(Vec<(f64, f64)>),
    Circle {
        lon: f64,
        lat: f64,
        radius_km: f64,
    },
}

/// One alert of a site warning an officer published.
#[derive(Debug, Clone)]
pub struct SiteAlert<'a> {
    pub identifier: String,
    pub sender: String,
    pub sender_name: String,
    pub sent: DateTime<FixedOffset>,
    pub msg_type: MsgType,
    pub references: Vec<Reference>,
    pub level: WarningLevel,
    pub site_name: &'a str,
    /// The hazard's kind in Chinese and English (滑坡, landslide).
    pub kind_zh: &'a str,
    pub kind_en: &'a str,
    pub division_code: &'a str,
    pub division_name: &'a str,
    pub area: SiteArea,
    /// The officer's words for the public (Chinese), may be empty.
    pub text_zh: &'a str,
}

/// The Chinese headline of a published site warning.
pub fn site_headline_zh(a: &SiteAlert) -> String {
    if a.msg_type == MsgType::Cancel {
        format!(
            "{}解除{}{}{}预警",
            a.sender_name,
            a.division_name,
            a.site_name,
            a.level.name_zh()
        )
    } else {
        format!(
            "{}发布{}{}地质灾害{}预警（{}）",
            a.sender_name,
            a.division_name,
            a.site_name,
            a.level.name_zh(),
            grade_zh(a.level)
        )
    }
}

/// The Chinese description of a published site warning (no internal details: the place, the
/// kind, the level and the officer's words).
pub fn site_description_zh(a: &SiteAlert) -> String {
    let mut d = if a.msg_type == MsgType::Cancel {
        format!(
            "{}{}（{}隐患点）的地质灾害预警已解除。",
            a.division_name, a.site_name, a.kind_zh
        )
    } else {
        format!(
            "{}{}（{}隐患点）发生{}的风险{}。",
            a.division_name,
            a.site_name,
            a.kind_zh,
            a.kind_zh,
            risk_zh(a.level)
        )
    };
    d.push_str(a.text_zh);
    d
}

/// Writes a site warning's alert: one `info` in Chinese and one in English, the area the
/// site's threat zone (or a circle round it) with the GB/T 2260 code of its division.
pub fn site_to_xml(a: &SiteAlert) -> String {
    let mut x = head(&a.identifier, &a.sender, &a.sent, a.msg_type, &a.references);
    let cancel = a.msg_type == MsgType::Cancel;
    for zh in [true, false] {
        x.push_str("  <info>\n");
        el(&mut x, 2, "language", if zh { "zh-CN" } else { "en" });
        el(&mut x, 2, "category", "Geo");
        el(
            &mut x,
            2,
            "event",
            if zh {
                "地质灾害隐患点预警"
            } else {
                "Geohazard site warning"
            },
        );
        let response = if cancel {
            "AllClear"
        } else if a.level >= WarningLevel::Orange {
            "Evacuate"
        } else {
            "Monitor"
        };
        el(&mut x, 2, "responseType", response);
        el(
            &mut x,
            2,
            "urgency",
            if cancel { "Past" } else { "Immediate" },
        );
        el(
            &mut x,
            2,
            "severity",
            if cancel { "Minor" } else { severity(a.level) },
        );
        el(
            &mut x,
            2,
            "certainty",
            if cancel { "Observed" } else { "Likely" },
        );
        el(&mut x, 2, "effective", &cap_time(&a.sent));
        el(&mut x, 2, "senderName", &a.sender_name);
        if zh {
            el(&mut x, 2, "headline", &site_headline_zh(a));
            el(&mut x, 2, "description", &site_description_zh(a));
            if !cancel {
                el(&mut x, 2, "instruction", instruction_zh(a.level));
            }
        } else {
            let level = level_en(a.level);
            el(
                &mut x,
                2,
                "headline",
                &if cancel {
                    format!(
                        "{}: {level} warning for a {} site withdrawn",
                        a.sender_name, a.kind_en
                    )
                } else {
                    format!(
                        "{}: {level} geohazard warning (level {}) for a {} site",
                        a.sender_name,
                        4 - a.level.rank(),
                        a.kind_en
                    )
                },
            );
            if !cancel {
                el(
                    &mut x,
                    2,
                    "instruction",
                    "Follow the instructions of local authorities; keep away from the area shown.",
                );
            }
        }
        x.push_str("    <parameter>\n");
        el(&mut x, 3, "valueName", "level");
        el(&mut x, 3, "value", level_en(a.level));
        x.push_str("    </parameter>\n");
        x.push_str("    <area>\n");
        el(
            &mut x,
            3,
            "areaDesc",
            &if zh {
                format!("{}{}及其威胁范围", a.division_name, a.site_name)
            } else {
                format!("{} site and the area it threatens", a.kind_en)
            },
        );
        match &a.area {
            SiteArea::Polygon(ring) => {
                let p: Vec<String> = ring
                    .iter()
                    .map(|(lon, lat)| format!("{lat:.5},{lon:.5}"))
                    .collect();
                el(&mut x, 3, "polygon", &p.join(" "));
            }
            SiteArea::Circle {
                lon,
                lat,
                radius_km,
            } => el(
                &mut x,
                3,
                "circle",
                &format!("{lat:.5},{lon:.5} {radius_km}"),
            ),
        }
        x.push_str("      <geocode>\n");
        el(&mut x, 4, "valueName", "GB/T 2260");
        el(&mut x, 4, "value", a.division_code);
        x.push_str("      </geocode>\n");
        x.push_str("    </area>\n");
        x.push_str("  </info>\n");
    }
    x.push_str("</alert>\n");
    x
}
