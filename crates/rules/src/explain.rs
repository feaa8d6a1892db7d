//! A rule's parameters as a sensor ends up with them, and where each comes from: the
//! analyzer's built-in default, the sensor kind's rule, the site's override, the sensor's own.
//! And the check of a rule's parameters before they are saved, naming the parameter at fault.

use geohazard_warnings::rules::{Layer, RuleKind, ThresholdParams, merge};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::rules::{CombinedParams, HealthParams, RainfallParams, RateParams, TrendParams};

/// Where a parameter's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The analyzer's built-in value (no row sets it).
    Default,
    Kind,
    Site,
    Sensor,
}

impl From<Layer> for Origin {
    fn from(l: Layer) -> Origin {
        match l {
            Layer::Kind => Origin::Kind,
            Layer::Site => Origin::Site,
            Layer::Sensor => Origin::Sensor,
        }
    }
}

/// One parameter in force: its path (`velocity_mm_per_day.red`), value and origin.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Param {
    pub key: String,
    pub value: Value,
    pub from: Origin,
}

/// A parameter refused: its path under `params` and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadParam {
    pub field: String,
    pub message: String,
}

/// The built-in parameters of a rule, as the analyzer uses them when no row sets them.
pub fn defaults(rule: RuleKind) -> Value {
    let v = match rule {
        RuleKind::Threshold => serde_json::to_value(ThresholdParams::default()),
        RuleKind::Rate => serde_json::to_value(RateParams::default()),
        RuleKind::Rainfall => serde_json::to_value(RainfallParams::default()),
        RuleKind::Trend => serde_json::to_value(TrendParams::default()),
        RuleKind::Health => serde_json::to_value(HealthParams::default()),
        RuleKind::Combined => serde_json::to_value(CombinedParams::default()),
    };
    v.unwrap_or(Value::Null)
}

/// The leaves of a JSON object with their dotted paths (arrays are leaves).
fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() || prefix.is_empty() => {
            for (k, x) in m {
                let path = match prefix {
                    "" => k.clone(),
                    p => format!("{p}.{k}"),
                };
                leaves(&path, x, out);
            }
        }
        x => out.push((prefix.to_owned(), x.clone())),
    }
}

/// The parameters in force after the built-in defaults and `layers` (least specific first),
/// each with the layer that set it last.
pub fn explain(rule: RuleKind, layers: &[(Layer, &Value)]) -> Vec<Param> {
    let mut merged = defaults(rule);
    let mut set_by: Vec<(String, Origin)> = Vec::new();
    for (layer, params) in layers {
        merge(&mut merged, params);
        let mut set = Vec::new();
        leaves("", params, &mut set);
        for (path, _) in set {
            set_by.retain(|(p, _)| *p != path && !p.starts_with(&format!("{path}.")));
            set_by.push((path, (*layer).into()));
        }
    }
    let mut all = Vec::new();
    leaves("", &merged, &mut all);
    all.into_iter()
        .map(|(key, value)| {
            // Set by the row that set it or a parent object of it, last.
            let from = set_by
                .iter()
                .rev()
                .find(|(p, _)| *p == key || key.starts_with(&format!("{p}.")))
                .map(|(_, o)| *o)
                .unwrap_or(Origin::Default);
            Param { key, value, from }
        })
        .collect()
}

fn parse<T: DeserializeOwned>(v: Value) -> Result<(), BadParam> {
    serde_path_to_error::deserialize::<_, T>(v)
        .map(|_| ())
        .map_err(|e| BadParam {
            field: format!("params.{}", e.path()),
            message: e.into_inner().to_string(),
        })
}

/// Checks the parameters of one rule row: every key one the rule has, and the parameters
/// `merged` from every layer (with this row) parse as the analyzer parses them. Lines of a
/// level must rise from blue to red (fall, for a threshold read downwards).
pub fn check(rule: RuleKind, row: &Value, merged: &Value) -> Result<(), BadParam> {
    let Value::Object(_) = row else {
        return Err(BadParam {
            field: "params".into(),
            message: "must be a JSON object".into(),
        });
    };
    let known = defaults(rule);
    let mut set = Vec::new();
    leaves("", row, &mut set);
    for (path, _) in &set {
        let mut at = &known;
        let mut reached = String::new();
        for part in path.split('.') {
            if !reached.is_empty() {
                reached.push('.');
            }
            reached.push_str(part);
            match at {
                Value::Object(m) if m.contains_key(part) => at = &m[part],
                // Below a leaf of the defaults (an array, an optional value): the parse judges.
                Value::Object(_) => {
                    return Err(BadParam {
                        field: format!("params.{reached}"),
                        message: format!("no such parameter of the {} rule", rule.as_str()),
                    });
                }
                _ => break,
            }
        }
    }
    let mut full = known.clone();
    merge(&mut full, merged);
    match rule {
        RuleKind::Threshold => parse::<ThresholdParams>(full.clone())?,
        RuleKind::Rate => parse::<RateParams>(full.clone())?,
        RuleKind::Rainfall => parse::<RainfallParams>(full.clone())?,
        RuleKind::Trend => parse::<TrendParams>(full.clone())?,
        RuleKind::Health => parse::<HealthParams>(full.clone())?,
        RuleKind::Combined => parse::<CombinedParams>(full.clone())?,
    }
    // Every set of four lines in force rises (or, read downwards, falls) from blue to red.
    let mut all = Vec::new();
    leaves("", &full, &mut all);
    let below = full.get("direction").and_then(Value::as_str) == Some("below");
    let mut groups: Map<String, Value> = Map::new();
    for (path, v) in all {
        if let Some((parent, level)) = path.rsplit_once('.')
            && ["blue", "yellow", "orange", "red"].contains(&level)
            && let Some(x) = v.as_f64()
        {
            let g = groups
                .entry(parent.to_owned())
                .or_insert(Value::Array(Vec::new()));
            if let Value::Array(a) = g {
                a.push(serde_json::json!([level, x]));
            }
        }
    }
    for (parent, lines) in groups {
        let order = |l: &str| {
            ["blue", "yellow", "orange", "red"]
                .iter()
                .position(|x| *x == l)
        };
        let mut lines: Vec<(usize, f64, String)> = lines
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let l = p.get(0)?.as_str()?;
                Some((order(l)?, p.get(1)?.as_f64()?, l.to_owned()))
            })
            .collect();
        lines.sort_by_key(|l| l.0);
        let downwards = below && parent == "levels";
        for w in lines.windows(2) {
            let wrong = match downwards {
                true => w[1].1 > w[0].1,
                false => w[1].1 < w[0].1,
            };
            if wrong {
                return Err(BadParam {
                    field: format!("params.{parent}.{}", w[1].2),
                    message: format!(
                        "the {} line ({}) must be {} the {} line ({})",
                        w[1].2,
                        w[1].1,
                        if downwards { "at most" } else { "at least" },
                        w[0].2,
                        w[0].1
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_parameter_names_the_layer_that_set_it_last_and_the_rest_are_defaults() {
        let kind = json!({"levels": {"blue": 0.5, "red": 2.0}, "hysteresis": 0.05});
        let sensor = json!({"levels": {"red": 1.2}});
        let params = explain(
            RuleKind::Threshold,
            &[(Layer::Kind, &kind), (Layer::Sensor, &sensor)],
        );
        let at = |k: &str| params.iter().find(|p| p.key == k).cloned().unwrap();
        assert_eq!(at("levels.red").value, json!(1.2));
        assert_eq!(at("levels.red").from, Origin::Sensor);
        assert_eq!(at("levels.blue").from, Origin::Kind);
        assert_eq!(at("hysteresis").from, Origin::Kind);
        assert_eq!(at("persistence.readings").from, Origin::Default);
        assert_eq!(at("persistence.readings").value, json!(3));
    }

    #[test]
    fn a_bad_parameter_is_refused_by_its_path() {
        let bad = json!({"levels": {"red": "high"}});
        let e = check(RuleKind::Threshold, &bad, &bad).unwrap_err();
        assert_eq!(e.field, "params.levels.red");
        let unknown = json!({"levls": {"red": 1.0}});
        let e = check(RuleKind::Threshold, &unknown, &unknown).unwrap_err();
        assert_eq!(e.field, "params.levls");
        let falling = json!({"levels": {"orange": 1.5, "red": 1.0}});
        let e = check(RuleKind::Threshold, &falling, &falling).unwrap_err();
        assert_eq!(e.field, "params.levels.red");
        let fine = json!({"levels": {"orange": 1.5, "red": 2.0}});
        assert_eq!(check(RuleKind::Threshold, &fine, &fine), Ok(()));
    }
}
