//! Administrative divisions (GB/T 2260) kept from the console: codes, names and boundaries
//! imported from a GeoJSON FeatureCollection, names edited. A division's level and parent are
//! read from its code (`510000` a province, `511500` a city, `511525` a county below
//! `511500`, or below `510000` when the province has no city of that code; nine digits a
//! township below its county). Every feature is checked first and each problem named by
//! feature, field, value and reason; nothing is stored while anything is bad. An officer
//! imports and edits only their own division and those below it; each change is audited with
//! the division before and after.

use std::collections::{HashMap, HashSet};

use geohazard_audit::Entry;
use geohazard_domain::{AuditAction, DivisionLevel, Scope};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::site_edit::Actor;
use crate::site_input::{FieldError, Reason};

/// Features in one file, at most.
pub const MAX_FEATURES: usize = 20_000;

/// Property names a feature's code is read from, first found wins (DataV and most GIS
/// exports say `adcode`).
const CODE_KEYS: [&str; 8] = [
    "code",
    "adcode",
    "ADCODE",
    "division_code",
    "gb",
    "GB",
    "区划代码",
    "行政区划代码",
];
const NAME_KEYS: [&str; 5] = ["name", "NAME", "名称", "区划名称", "name_zh"];
const PARENT_KEYS: [&str; 4] = ["parent", "parent_code", "parent_adcode", "上级代码"];

/// One thing wrong in a file: the feature (counted from 1), the field, the value found and
/// why, in the officer's language.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeatureProblem {
    pub feature: u32,
    pub field: &'static str,
    pub value: String,
    pub reason: Reason,
    pub message: String,
}

/// A division as the register keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DivisionRecord {
    pub code: String,
    pub name: String,
    pub level: DivisionLevel,
    pub parent_code: Option<String>,
    /// GeoJSON Polygon or MultiPolygon; `None` keeps what is stored.
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<Value>,
}

/// What is known of a division already in the register.
#[derive(Debug, Clone)]
pub struct Known {
    pub in_scope: bool,
}

/// A file read and checked.
#[derive(Debug, Default)]
pub struct Checked {
    /// The good features' divisions with their numbers, parents before children.
    pub divisions: Vec<(u32, DivisionRecord)>,
    pub problems: Vec<FeatureProblem>,
}

/// The features of a GeoJSON FeatureCollection; `None` when the file is not one.
pub fn features(bytes: &[u8]) -> Option<Vec<Value>> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    if v.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return None;
    }
    match v.get("features") {
        Some(Value::Array(f)) if f.len() <= MAX_FEATURES => Some(f.clone()),
        _ => None,
    }
}

/// A code's level and the parents it may have, nearest first; `None` when it is not a
/// GB/T 2260 code.
pub fn level_of(code: &str) -> Option<(DivisionLevel, Vec<String>)> {
    if !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let province: u32 = code.get(..2)?.parse().ok()?;
    if !(11..=82).contains(&province) {
        return None;
    }
    match code.len() {
        9 if &code[6..] != "000" => Some((DivisionLevel::Township, vec![code[..6].to_owned()])),
        6 if &code[2..] == "0000" => Some((DivisionLevel::Province, vec![])),
        6 if &code[4..] == "00" => Some((DivisionLevel::City, vec![format!("{}0000", &code[..2])])),
        6 => Some((
            DivisionLevel::County,
            vec![format!("{}00", &code[..4]), format!("{}0000", &code[..2])],
        )),
        _ => None,
    }
}

/// A property's value as text: a string trimmed, a whole number's digits; an object's
/// `adcode` or `code` (DataV writes `parent: {"adcode": 510000}`).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => o.get("adcode").or_else(|| o.get("code")).and_then(text_of),
        _ => None,
    }
}

fn property(props: Option<&serde_json::Map<String, Value>>, keys: &[&str]) -> Option<Value> {
    let props = props?;
    keys.iter()
        .find_map(|k| props.get(*k).filter(|v| !v.is_null()).cloned())
}

struct Parsed {
    n: u32,
    code: String,
    name: String,
    level: DivisionLevel,
    parents: Vec<String>,
    given_parent: Option<String>,
    boundary: Option<Value>,
}

/// Checks `features`, `known` holding the divisions of the register among the codes the file
/// names and their parents, each with whether it is in the officer's scope.
pub fn check(features: &[Value], known: &HashMap<String, Known>, lang: &str) -> Checked {
    let mut out = Checked::default();
    let problem = |n: u32, e: FieldError| FeatureProblem {
        feature: n,
        field: e.field,
        value: e.value,
        reason: e.reason,
        message: e.reason.text(lang).to_owned(),
    };
    let mut parsed = Vec::new();
    let mut seen = HashSet::new();
    for (i, f) in features.iter().enumerate() {
        let n = i as u32 + 1;
        let mut errors = Vec::new();
        let props = f.get("properties").and_then(Value::as_object);
        let code = match property(props, &CODE_KEYS) {
            None => {
                errors.push(FieldError::new("code", "", Reason::Required));
                None
            }
            Some(v) => {
                let text = text_of(&v).unwrap_or_else(|| v.to_string());
                match level_of(&text) {
                    None => {
                        errors.push(FieldError::new("code", text, Reason::BadDivisionCode));
                        None
                    }
                    Some(_) if !seen.insert(text.clone()) => {
                        errors.push(FieldError::new("code", text, Reason::DuplicateCode));
                        None
                    }
                    Some(lp) => Some((text, lp)),
                }
            }
        };
        let name_value = property(props, &NAME_KEYS).and_then(|v| text_of(&v));
        let name =
            crate::site_input::checked_text(&mut errors, "name", name_value.as_deref(), 100, true);
        let given_parent = property(props, &PARENT_KEYS).and_then(|v| text_of(&v));
        let boundary = match f.get("geometry") {
            None | Some(Value::Null) => None,
            Some(g) => match crate::geometry::polygon(g, true) {
                Ok(_) => Some(g.clone()),
                // The value found, as for a threat zone: what is wrong with it is the
                // reason's text, in the officer's language.
                Err(_) => {
                    errors.push(FieldError::new(
                        "geometry",
                        crate::site_input::text_of(g)
                            .chars()
                            .take(80)
                            .collect::<String>(),
                        Reason::BadGeometry,
                    ));
                    None
                }
            },
        };
        out.problems
            .extend(errors.into_iter().map(|e| problem(n, e)));
        if let (Some((code, (level, parents))), Some(name)) = (code, name) {
            parsed.push(Parsed {
                n,
                code,
                name,
                level,
                parents,
                given_parent,
                boundary,
            });
        }
    }
    // Parents before children: a division is in scope when the register says so, or when
    // it is new and its parent (in the register or earlier in this order) is.
    parsed.sort_by(|a, b| a.level.cmp(&b.level).then(a.code.cmp(&b.code)));
    let in_file: HashSet<&str> = parsed.iter().map(|p| p.code.as_str()).collect();
    let mut reachable: HashMap<String, bool> = HashMap::new();
    let mut good = Vec::new();
    for p in &parsed {
        let parent = p
            .parents
            .iter()
            .find(|c| known.contains_key(*c) || in_file.contains(c.as_str()))
            .cloned();
        let mut errors = Vec::new();
        if let Some(given) = &p.given_parent {
            let country = p.level == DivisionLevel::Province && given.trim_matches('0') == "1";
            if !country && Some(given) != parent.as_ref() && !p.parents.contains(given) {
                errors.push(FieldError::new("parent", given, Reason::ParentMismatch));
            }
        }
        let ours = match known.get(&p.code) {
            Some(k) => k.in_scope,
            None => match &parent {
                None if p.level != DivisionLevel::Province => {
                    errors.push(FieldError::new(
                        "parent",
                        p.parents.first().cloned().unwrap_or_default(),
                        Reason::UnknownParent,
                    ));
                    true
                }
                None => false,
                Some(parent) => known.get(parent).map_or_else(
                    || reachable.get(parent).copied().unwrap_or(false),
                    |k| k.in_scope,
                ),
            },
        };
        reachable.insert(p.code.clone(), ours && errors.is_empty());
        if !ours {
            errors.push(FieldError::new("code", &p.code, Reason::OutOfScope));
        }
        if errors.is_empty() {
            good.push((
                p.n,
                DivisionRecord {
                    code: p.code.clone(),
                    name: p.name.clone(),
                    level: p.level,
                    parent_code: parent,
                    boundary: p.boundary.clone(),
                },
            ));
        } else {
            out.problems
                .extend(errors.into_iter().map(|e| problem(p.n, e)));
        }
    }
    out.problems.sort_by_key(|p| p.feature);
    out.divisions = good;
    out
}

/// Every code `features` names and the parents their codes imply.
pub fn codes_named(features: &[Value]) -> Vec<String> {
    let mut codes = HashSet::new();
    for f in features {
        let props = f.get("properties").and_then(Value::as_object);
        if let Some(code) = property(props, &CODE_KEYS).and_then(|v| text_of(&v))
            && let Some((_, parents)) = level_of(&code)
        {
            codes.extend(parents);
            codes.insert(code);
        }
    }
    codes.into_iter().collect()
}

/// The divisions of the register among `codes`, each with whether it is in `scope`.
pub async fn known(
    db: &mut PgConnection,
    scope: &Scope,
    codes: &[String],
) -> sqlx::Result<HashMap<String, Known>> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT code FROM divisions WHERE code = ANY($1)")
        .bind(codes)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(code,)| {
            let in_scope = scope.contains(&code);
            (code, Known { in_scope })
        })
        .collect())
}

/// How an import went.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct DivisionsImported {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

#[derive(sqlx::FromRow)]
struct Stored {
    code: String,
    name: String,
    level: DivisionLevel,
    parent_code: Option<String>,
    boundary: Option<Value>,
}

impl Stored {
    fn record(self) -> DivisionRecord {
        DivisionRecord {
            code: self.code,
            name: self.name,
            level: self.level,
            parent_code: self.parent_code,
            boundary: self.boundary,
        }
    }
}

async fn stored(db: &mut PgConnection, code: &str) -> sqlx::Result<Option<DivisionRecord>> {
    let row: Option<Stored> = sqlx::query_as(
        "SELECT code, name, level, parent_code, boundary FROM divisions WHERE code = $1
         FOR UPDATE",
    )
    .bind(code)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Stored::record))
}

/// Stores checked divisions (parents first), in the caller's transaction: a new code added,
/// a known one given the file's name and boundary (a feature without geometry keeps the
/// stored boundary); each change audited with before and after.
pub async fn apply(
    tx: &mut PgConnection,
    actor: &Actor,
    divisions: &[(u32, DivisionRecord)],
) -> sqlx::Result<DivisionsImported> {
    let mut done = DivisionsImported::default();
    for (_, d) in divisions {
        let before = stored(tx, &d.code).await?;
        let after = DivisionRecord {
            boundary: d
                .boundary
                .clone()
                .or_else(|| before.as_ref().and_then(|b| b.boundary.clone())),
            parent_code: before
                .as_ref()
                .map_or(d.parent_code.clone(), |b| b.parent_code.clone()),
            ..d.clone()
        };
        if before.as_ref() == Some(&after) {
            done.unchanged += 1;
            continue;
        }
        sqlx::query(
            "INSERT INTO divisions (code, name, level, parent_code, boundary)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, boundary = EXCLUDED.boundary",
        )
        .bind(&after.code)
        .bind(&after.name)
        .bind(after.level)
        .bind(&after.parent_code)
        .bind(&after.boundary)
        .execute(&mut *tx)
        .await?;
        let action = if before.is_some() {
            done.updated += 1;
            AuditAction::DivisionUpdate
        } else {
            done.created += 1;
            AuditAction::DivisionCreate
        };
        audit(tx, actor, action, before.as_ref(), &after).await?;
    }
    Ok(done)
}

/// Gives division `code` (in scope) a new name; `None` when it is absent or out of scope.
/// The division before and after, audited.
pub async fn rename(
    tx: &mut PgConnection,
    scope: &Scope,
    actor: &Actor,
    code: &str,
    name: &str,
) -> sqlx::Result<Option<DivisionRecord>> {
    if !scope.contains(code) {
        return Ok(None);
    }
    let Some(before) = stored(tx, code).await? else {
        return Ok(None);
    };
    if before.name == name {
        return Ok(Some(before));
    }
    sqlx::query("UPDATE divisions SET name = $2 WHERE code = $1")
        .bind(code)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let after = DivisionRecord {
        name: name.to_owned(),
        ..before.clone()
    };
    audit(
        tx,
        actor,
        AuditAction::DivisionUpdate,
        Some(&before),
        &after,
    )
    .await?;
    Ok(Some(after))
}

async fn audit(
    tx: &mut PgConnection,
    actor: &Actor,
    action: AuditAction,
    before: Option<&DivisionRecord>,
    after: &DivisionRecord,
) -> sqlx::Result<()> {
    geohazard_audit::record(
        &mut *tx,
        &Entry {
            officer_id: Some(actor.officer_id),
            action,
            target: Some(format!("division:{}", after.code)),
            division_code: Some(after.code.clone()),
            detail: json!({"before": before, "after": after, "source": actor.source}),
            remote_addr: actor.remote_addr.clone(),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> HashMap<String, Known> {
        [
            ("510000", false),
            ("511500", false),
            ("511502", false),
            ("511525", true),
            ("511525100", true),
        ]
        .into_iter()
        .map(|(c, s)| (c.to_owned(), Known { in_scope: s }))
        .collect()
    }

    fn feature(props: Value, geometry: Value) -> Value {
        json!({"type": "Feature", "properties": props, "geometry": geometry})
    }

    fn square() -> Value {
        json!({"type": "Polygon", "coordinates": [[[104.5, 28.7], [104.6, 28.7], [104.6, 28.8], [104.5, 28.8], [104.5, 28.7]]]})
    }

    #[test]
    fn a_level_and_its_parents_come_from_the_code() {
        assert_eq!(level_of("510000").unwrap().0, DivisionLevel::Province);
        assert_eq!(
            level_of("511500").unwrap(),
            (DivisionLevel::City, vec!["510000".to_owned()])
        );
        assert_eq!(
            level_of("511525").unwrap(),
            (
                DivisionLevel::County,
                vec!["511500".to_owned(), "510000".to_owned()]
            )
        );
        assert_eq!(
            level_of("511525101").unwrap(),
            (DivisionLevel::Township, vec!["511525".to_owned()])
        );
        for bad in [
            "51152",
            "5115250",
            "001525",
            "991525",
            "51a525",
            "511525000",
        ] {
            assert!(level_of(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn new_townships_below_ones_own_county_pass_and_everything_else_is_named() {
        let features = vec![
            // 1: a new township of Gao, its code a number as DataV writes it.
            feature(json!({"adcode": 511525101, "name": "庆符镇"}), square()),
            // 2: a new township below feature 1's county, parent given as DataV does.
            feature(
                json!({"adcode": "511525102", "name": "沙河镇", "parent": {"adcode": 511525}}),
                Value::Null,
            ),
            // 3: the neighbour county: not ours.
            feature(json!({"code": "511502", "name": "翠屏区"}), square()),
            // 4: a township of the neighbour: its parent is not ours.
            feature(json!({"code": "511502001", "name": "某镇"}), square()),
            // 5: a bad code; 6: no name and a bow tie for a boundary.
            feature(json!({"code": "5115X5", "name": "错"}), square()),
            feature(
                json!({"code": "511525103"}),
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),
            ),
            // 7: a parent given that the code does not imply; 8: a duplicate of 1.
            feature(
                json!({"code": "511525104", "name": "甲", "parent": "511502"}),
                Value::Null,
            ),
            feature(json!({"code": "511525101", "name": "重复"}), Value::Null),
            // 9: a township whose county exists nowhere.
            feature(json!({"code": "511529001", "name": "乙"}), Value::Null),
        ];
        let c = check(&features, &known(), "zh-CN");
        let got: Vec<(u32, &str, &str, Reason)> = c
            .problems
            .iter()
            .map(|p| (p.feature, p.field, p.value.as_str(), p.reason))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "code", "511502", Reason::OutOfScope),
                (4, "code", "511502001", Reason::OutOfScope),
                (5, "code", "5115X5", Reason::BadDivisionCode),
                (6, "name", "", Reason::Required),
                (6, "geometry", got[4].2, Reason::BadGeometry),
                (7, "parent", "511502", Reason::ParentMismatch),
                (8, "code", "511525101", Reason::DuplicateCode),
                (9, "parent", "511529", Reason::UnknownParent),
            ]
        );
        assert_eq!(c.problems[0].message, "不在本级管辖范围内");
        let good: Vec<(u32, &str, Option<&str>)> = c
            .divisions
            .iter()
            .map(|(n, d)| (*n, d.code.as_str(), d.parent_code.as_deref()))
            .collect();
        assert_eq!(
            good,
            vec![
                (1, "511525101", Some("511525")),
                (2, "511525102", Some("511525"))
            ]
        );
    }
}
