//! Rule parameters as stored in `analyzer_rules` (JSON per sensor kind, with per-site and
//! per-sensor overrides merged key by key), and the four-level lines they draw. The analyzer
//! evaluates the rules; the console draws a sensor's threshold lines from the same merge.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;

use geohazard_domain::PerLevel;
use geohazard_protocol::warning::WarningLevel as Level;

/// Whether exceeding a threshold means going above it or falling below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Above,
    Below,
}

/// One threshold per level; a missing level is skipped. For `Above`, blue < yellow < orange < red.
pub type Thresholds = PerLevel<Option<f64>>;

/// What a rule's thresholds say about a value: the level it reaches, with or without a band.
pub trait LevelLines {
    /// The highest level whose threshold `x` reaches, each threshold relaxed by `slack(t)`
    /// (zero to raise, the hysteresis band to hold a level already reached).
    fn level(&self, x: f64, dir: Direction, slack: impl Fn(f64) -> f64) -> Option<Level>;

    /// (level to raise to, level to hold) for `x` with an absolute hysteresis band.
    fn assess(&self, x: f64, dir: Direction, hysteresis: f64) -> Assessment {
        Assessment {
            up: self.level(x, dir, |_| 0.0),
            hold: self.level(x, dir, |_| hysteresis.abs()),
        }
    }

    /// The same with a band proportional to each threshold.
    fn assess_fraction(&self, x: f64, dir: Direction, fraction: f64) -> Assessment {
        Assessment {
            up: self.level(x, dir, |_| 0.0),
            hold: self.level(x, dir, |t| (t * fraction).abs()),
        }
    }
}

impl LevelLines for Thresholds {
    fn level(&self, x: f64, dir: Direction, slack: impl Fn(f64) -> f64) -> Option<Level> {
        if !x.is_finite() {
            return None;
        }
        Level::ALL.iter().rev().copied().find(|l| {
            self.get(*l).is_some_and(|t| match dir {
                Direction::Above => x >= t - slack(t),
                Direction::Below => x <= t + slack(t),
            })
        })
    }
}

/// A rainfall intensity–duration threshold curve, I = a·D^(−b) (mm/h over D hours): rain
/// above it at some duration has triggered slides in the region.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct IdCurve {
    pub a: f64,
    pub b: f64,
}

/// What one evaluation says: the level the value reaches, and the level it still holds given
/// the hysteresis band (hold ≥ up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Assessment {
    pub up: Option<Level>,
    pub hold: Option<Level>,
}

impl Assessment {
    pub fn max(self, other: Assessment) -> Assessment {
        Assessment {
            up: self.up.max(other.up),
            hold: self.hold.max(other.hold),
        }
    }
}

/// How long a new level must be seen before it is taken: N consecutive evaluations and at least
/// a duration of reading time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persistence {
    pub readings: u32,
    pub seconds: u64,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            readings: 1,
            seconds: 0,
        }
    }
}

impl Persistence {
    pub const fn readings(n: u32) -> Persistence {
        Persistence {
            readings: n,
            seconds: 0,
        }
    }
}

/// The `threshold` rule: a sensor's value against four lines.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ThresholdParams {
    pub direction: Direction,
    pub levels: Thresholds,
    /// Absolute band below (above, for `below`) a threshold within which a level is held.
    pub hysteresis: f64,
    pub persistence: Persistence,
}

impl Default for ThresholdParams {
    fn default() -> Self {
        ThresholdParams {
            direction: Direction::Above,
            levels: Thresholds::default(),
            hysteresis: 0.0,
            persistence: Persistence::readings(3),
        }
    }
}

/// The rules in `analyzer_rules.rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Threshold,
    Rate,
    Rainfall,
    Trend,
    Health,
    /// A site rule: rain together with ground movement.
    Combined,
}

impl RuleKind {
    /// The rules a sensor is evaluated with (`combined` is a site's).
    pub const OF_SENSORS: [RuleKind; 5] = [
        RuleKind::Threshold,
        RuleKind::Rate,
        RuleKind::Rainfall,
        RuleKind::Trend,
        RuleKind::Health,
    ];

    pub fn from_name(name: &str) -> Option<RuleKind> {
        [Self::OF_SENSORS.as_slice(), &[RuleKind::Combined]]
            .concat()
            .into_iter()
            .find(|r| r.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Threshold => "threshold",
            RuleKind::Rate => "rate",
            RuleKind::Rainfall => "rainfall",
            RuleKind::Trend => "trend",
            RuleKind::Health => "health",
            RuleKind::Combined => "combined",
        }
    }
}

/// JSON merge patch (RFC 7396): `patch` onto `base`.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    // A null in an override means "no value" for optional parameters.
                    b.insert(k.clone(), Value::Null);
                } else {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct RuleRow {
    scope: String,
    sensor_kind: Option<String>,
    site_id: Option<i64>,
    sensor_id: Option<i32>,
    rule: String,
    params: Value,
    enabled: bool,
}

/// Rows of `analyzer_rules`, loaded once and merged per sensor or site.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rows: Vec<RuleRow>,
}

/// Which rows of `analyzer_rules` a parameter comes from: a sensor kind's rule, a site's
/// override (for the kind or every kind), a sensor's override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Kind,
    Site,
    Sensor,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Kind => "kind",
            Layer::Site => "site",
            Layer::Sensor => "sensor",
        }
    }
}

/// One rule row as an officer sets it for a sensor: in its kind's rule, its site's rule for
/// that kind, or its own.
#[derive(Debug, Clone)]
pub struct RuleEdit {
    pub layer: Layer,
    pub kind: String,
    pub site: i64,
    pub sensor: i32,
    pub rule: RuleKind,
    pub params: Value,
    pub enabled: bool,
}

/// What a rule applies to.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The sensor kind (`site` for site rules).
    pub kind: &'a str,
    pub site: Option<i64>,
    pub sensor: Option<i32>,
}

impl RuleSet {
    /// Every rule.
    pub async fn load(pool: &PgPool) -> sqlx::Result<RuleSet> {
        let rows = sqlx::query_as(
            "SELECT scope, sensor_kind, site_id, sensor_id, rule, params, enabled FROM analyzer_rules",
        )
        .fetch_all(pool)
        .await?;
        Ok(RuleSet { rows })
    }

    async fn load_rule(pool: &PgPool, rule: RuleKind) -> sqlx::Result<RuleSet> {
        let rows = sqlx::query_as(
            "SELECT scope, sensor_kind, site_id, sensor_id, rule, params, enabled FROM analyzer_rules
             WHERE rule = $1",
        )
        .bind(rule.as_str())
        .fetch_all(pool)
        .await?;
        Ok(RuleSet { rows })
    }

    /// Every rule of a sensor kind, site or sensor (the rows a sensor's rules merge from).
    pub async fn load_for(
        db: impl sqlx::PgExecutor<'_>,
        kind: &str,
        site: i64,
        sensor: i32,
    ) -> sqlx::Result<RuleSet> {
        let rows = sqlx::query_as(
            "SELECT scope, sensor_kind, site_id, sensor_id, rule, params, enabled FROM analyzer_rules
             WHERE (scope = 'kind' AND sensor_kind = $1) OR (scope = 'site' AND site_id = $2)
                OR (scope = 'sensor' AND sensor_id = $3)",
        )
        .bind(kind)
        .bind(site)
        .bind(sensor)
        .fetch_all(db)
        .await?;
        Ok(RuleSet { rows })
    }

    /// The set with the row of `edit`'s layer and rule replaced (or added).
    pub fn with(&self, edit: &RuleEdit) -> RuleSet {
        let (scope, kind, site, sensor) = match edit.layer {
            Layer::Kind => ("kind", Some(edit.kind.clone()), None, None),
            Layer::Site => ("site", Some(edit.kind.clone()), Some(edit.site), None),
            Layer::Sensor => ("sensor", None, None, Some(edit.sensor)),
        };
        let mut rows: Vec<RuleRow> = self
            .rows
            .iter()
            .filter(|r| {
                !(r.rule == edit.rule.as_str()
                    && r.scope == scope
                    && r.sensor_kind == kind
                    && r.site_id == site
                    && r.sensor_id == sensor)
            })
            .cloned()
            .collect();
        rows.push(RuleRow {
            scope: scope.into(),
            sensor_kind: kind,
            site_id: site,
            sensor_id: sensor,
            rule: edit.rule.as_str().into(),
            params: edit.params.clone(),
            enabled: edit.enabled,
        });
        RuleSet { rows }
    }

    /// The enabled rows a rule's parameters in `scope` merge from, least specific first, each
    /// with the layer it is ([`Layer`] of the row: kind, site, sensor). `None` when no scope
    /// enables it or the most specific scope disables it.
    pub fn layers(&self, scope: Scope<'_>, rule: RuleKind) -> Option<Vec<(Layer, &Value)>> {
        let Scope { kind, site, sensor } = scope;
        let rank = |r: &RuleRow| match r.scope.as_str() {
            "kind" if r.sensor_kind.as_deref() == Some(kind) => Some(0),
            "site" if r.site_id == site && r.sensor_kind.is_none() => Some(1),
            "site" if r.site_id == site && r.sensor_kind.as_deref() == Some(kind) => Some(2),
            "sensor" if sensor.is_some() && r.sensor_id == sensor => Some(3),
            _ => None,
        };
        let mut matching: Vec<(u8, &RuleRow)> = self
            .rows
            .iter()
            .filter(|r| r.rule == rule.as_str())
            .filter_map(|r| rank(r).map(|k| (k, r)))
            .collect();
        matching.sort_by_key(|(k, _)| *k);
        let (_, last) = matching.last()?;
        if !last.enabled {
            return None;
        }
        let layer = |k: u8| match k {
            0 => Layer::Kind,
            3 => Layer::Sensor,
            _ => Layer::Site,
        };
        Some(
            matching
                .iter()
                .filter(|(_, r)| r.enabled)
                .map(|(k, r)| (layer(*k), &r.params))
                .collect(),
        )
    }

    /// A rule's parameters in `scope`: the kind's, then the site's override for that kind (or
    /// for every kind), then the sensor's. `None` when no scope enables it or the most specific
    /// scope disables it.
    pub fn merged(&self, scope: Scope<'_>, rule: RuleKind) -> Option<Value> {
        let layers = self.layers(scope, rule)?;
        let mut v = Value::Object(Default::default());
        for (_, params) in layers {
            merge(&mut v, params);
        }
        Some(v)
    }

    /// [`RuleSet::merged`], parsed. Parameters that do not parse are skipped, loudly: a broken
    /// rule must not stop the analyzer. `what` names the sensor or site in the log.
    pub fn params<T: DeserializeOwned>(
        &self,
        scope: Scope<'_>,
        rule: RuleKind,
        what: &str,
    ) -> Option<T> {
        let v = self.merged(scope, rule)?;
        match serde_json::from_value(v) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(rule = rule.as_str(), sensor_or_site = what, error = %e,
                    "invalid rule parameters, rule skipped");
                None
            }
        }
    }
}

/// The parameters of `rule` in force for an active sensor, merged as the analyzer merges them;
/// `None` for an unknown or inactive sensor, or one the rule does not apply to.
pub async fn sensor_rule<T: DeserializeOwned>(
    pool: &PgPool,
    sensor_id: i32,
    rule: RuleKind,
) -> sqlx::Result<Option<T>> {
    let sensor: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT s.kind, s.site_id, g.code || '/' || s.channel
         FROM sensors s JOIN gateways g ON g.id = s.gateway_id JOIN hazard_sites h ON h.id = s.site_id
         WHERE s.id = $1 AND s.active",
    )
    .bind(sensor_id)
    .fetch_optional(pool)
    .await?;
    let Some((kind, site, label)) = sensor else {
        return Ok(None);
    };
    let rules = RuleSet::load_rule(pool, rule).await?;
    let scope = Scope {
        kind: &kind,
        site: Some(site),
        sensor: Some(sensor_id),
    };
    Ok(rules.params(scope, rule, &label))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: Thresholds = Thresholds::some(1.0, 2.0, 3.0, 4.0);

    #[test]
    fn thresholds_pick_the_highest_level_reached_in_either_direction() {
        assert_eq!(T.level(0.5, Direction::Above, |_| 0.0), None);
        assert_eq!(T.level(2.5, Direction::Above, |_| 0.0), Some(Level::Yellow));
        assert_eq!(T.level(9.0, Direction::Above, |_| 0.0), Some(Level::Red));
        let below = Thresholds::some(12.0, 11.5, 11.0, 10.5);
        assert_eq!(
            below.level(11.2, Direction::Below, |_| 0.0),
            Some(Level::Yellow)
        );
        assert_eq!(T.level(f64::NAN, Direction::Above, |_| 0.0), None);
    }

    fn row(
        scope: &str,
        kind: Option<&str>,
        site: Option<i64>,
        sensor: Option<i32>,
        params: Value,
        enabled: bool,
    ) -> RuleRow {
        RuleRow {
            scope: scope.into(),
            sensor_kind: kind.map(Into::into),
            site_id: site,
            sensor_id: sensor,
            rule: "threshold".into(),
            params,
            enabled,
        }
    }

    #[test]
    fn scopes_merge_from_kind_to_site_to_sensor_and_the_most_specific_can_disable() {
        let rules = RuleSet {
            rows: vec![
                row(
                    "sensor",
                    None,
                    None,
                    Some(7),
                    json!({"levels": {"red": 9.0}}),
                    true,
                ),
                row(
                    "kind",
                    Some("piezometer"),
                    None,
                    None,
                    json!({"levels": {"yellow": 5.0, "red": 7.0}}),
                    true,
                ),
                row(
                    "site",
                    None,
                    Some(1),
                    None,
                    json!({"hysteresis": 0.5}),
                    true,
                ),
                row(
                    "kind",
                    Some("crack_meter"),
                    None,
                    None,
                    json!({"levels": {"red": 1.0}}),
                    true,
                ),
            ],
        };
        let scope = |sensor| Scope {
            kind: "piezometer",
            site: Some(1),
            sensor,
        };
        let p: ThresholdParams = rules
            .params(scope(Some(7)), RuleKind::Threshold, "gw/p")
            .unwrap();
        assert_eq!(p.levels.yellow, Some(5.0));
        assert_eq!(p.levels.red, Some(9.0));
        assert_eq!(p.hysteresis, 0.5);
        let p: ThresholdParams = rules
            .params(scope(Some(8)), RuleKind::Threshold, "gw/q")
            .unwrap();
        assert_eq!(p.levels.red, Some(7.0));
        assert!(rules.merged(scope(Some(7)), RuleKind::Rate).is_none());

        let mut off = rules.clone();
        off.rows
            .push(row("sensor", None, None, Some(8), json!({}), false));
        assert!(off.merged(scope(Some(8)), RuleKind::Threshold).is_none());
        assert!(off.merged(scope(Some(7)), RuleKind::Threshold).is_some());
    }

    #[test]
    fn parameters_that_do_not_parse_skip_the_rule() {
        let rules = RuleSet {
            rows: vec![row(
                "kind",
                Some("piezometer"),
                None,
                None,
                json!({"hysteresis": "wide"}),
                true,
            )],
        };
        let scope = Scope {
            kind: "piezometer",
            site: None,
            sensor: None,
        };
        assert!(
            rules
                .params::<ThresholdParams>(scope, RuleKind::Threshold, "gw/p")
                .is_none()
        );
    }
}
