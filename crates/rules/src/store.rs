//! A sensor's rules as officers keep them, always through a `Scope`: the parameters in force
//! with where each comes from, a change to one rule row (with the version it was made on,
//! recorded in `register_changes` and the audit log with before and after), and a backtest of
//! a change over the sensor's stored readings before it is saved.

use chrono::{DateTime, Utc};
use geohazard_audit::Entry;
use geohazard_domain::{AuditAction, Scope};
use geohazard_warnings::rules::{self as stored, Layer, RuleEdit, RuleKind, RuleSet};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::backtest::{self, Outcome as Raised, Sensor};
use crate::explain::{self, BadParam, Param};
use crate::levels::IdCurve;
use crate::rules::SensorRules;

/// The sensor a rule view is about.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RuleSensor {
    pub id: i32,
    /// `{gateway}/{channel}`, as warnings name it.
    pub label: String,
    pub kind: String,
    pub unit: String,
    pub sampling_interval_s: i32,
    pub site_id: i64,
    pub site_name: String,
    pub division_code: String,
}

/// One stored row of a rule in a layer: its parameters as set there, and its version (the
/// ETag a change is made on; 0 when the layer has no row yet).
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RuleRow {
    pub layer: Layer,
    pub params: Value,
    pub enabled: bool,
    pub version: i32,
}

/// One rule of a sensor: whether it applies, the parameters in force with their origin, and
/// the rows of the three layers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleView {
    /// `threshold`, `rate`, `rainfall`, `trend`, `health`.
    pub rule: String,
    pub applies: bool,
    pub params: Vec<Param>,
    pub rows: Vec<RuleRow>,
}

/// Every rule of one sensor.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SensorRulesView {
    pub sensor: RuleSensor,
    pub rules: Vec<RuleView>,
}

/// What became of a change or a backtest.
#[derive(Debug)]
pub enum Edited<T> {
    Done(T),
    /// The sensor is absent or outside the scope (the two are not told apart).
    NotFound,
    /// A sensor kind's rule holds in every division: only a top-level officer changes it.
    KindRuleAboveScope,
    /// The row changed since the version the change was made on: the row now.
    Conflict(RuleRow),
    Invalid(BadParam),
}

/// An active sensor in scope.
pub async fn sensor(
    db: &mut PgConnection,
    scope: &Scope,
    id: i32,
) -> sqlx::Result<Option<RuleSensor>> {
    sqlx::query_as(
        "SELECT s.id, g.code || '/' || s.channel AS label, s.kind, s.unit, s.sampling_interval_s,
                s.site_id, h.name AS site_name, h.division_code
         FROM sensors s JOIN gateways g ON g.id = s.gateway_id
              JOIN hazard_sites h ON h.id = s.site_id
         WHERE s.id = $1 AND h.division_code = ANY($2)",
    )
    .bind(id)
    .bind(scope.divisions())
    .fetch_optional(db)
    .await
}

fn scope_of(s: &RuleSensor) -> stored::Scope<'_> {
    stored::Scope {
        kind: &s.kind,
        site: Some(s.site_id),
        sensor: Some(s.id),
    }
}

/// The row of `rule` in `layer` for sensor `s` (`lock`: held until the transaction ends).
async fn row(
    db: &mut PgConnection,
    s: &RuleSensor,
    layer: Layer,
    rule: RuleKind,
    lock: bool,
) -> sqlx::Result<Option<RuleRow>> {
    let mut sql = String::from(
        "SELECT params, enabled, version FROM analyzer_rules WHERE rule = $1 AND CASE $2
             WHEN 'kind' THEN scope = 'kind' AND sensor_kind = $3
             WHEN 'site' THEN scope = 'site' AND site_id = $4 AND sensor_kind = $3
             ELSE scope = 'sensor' AND sensor_id = $5 END",
    );
    if lock {
        sql.push_str(" FOR UPDATE");
    }
    let found: Option<(Value, bool, i32)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(rule.as_str())
        .bind(layer.as_str())
        .bind(&s.kind)
        .bind(s.site_id)
        .bind(s.id)
        .fetch_optional(db)
        .await?;
    Ok(found.map(|(params, enabled, version)| RuleRow {
        layer,
        params,
        enabled,
        version,
    }))
}

/// Every rule of sensor `id` in scope.
pub async fn view(
    db: &mut PgConnection,
    scope: &Scope,
    id: i32,
) -> sqlx::Result<Option<SensorRulesView>> {
    let Some(s) = sensor(db, scope, id).await? else {
        return Ok(None);
    };
    let set = RuleSet::load_for(&mut *db, &s.kind, s.site_id, s.id).await?;
    let mut rules = Vec::new();
    for rule in RuleKind::OF_SENSORS {
        let layers = set.layers(scope_of(&s), rule);
        let mut rows = Vec::new();
        for layer in [Layer::Kind, Layer::Site, Layer::Sensor] {
            rows.extend(row(db, &s, layer, rule, false).await?);
        }
        rules.push(RuleView {
            rule: rule.as_str().to_owned(),
            applies: layers.is_some(),
            params: explain::explain(rule, &layers.unwrap_or_default()),
            rows,
        });
    }
    Ok(Some(SensorRulesView { sensor: s, rules }))
}

/// A change to one rule row of a sensor: the layer, the parameters set there and whether the
/// rule is on.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct RuleChange {
    pub layer: Layer,
    pub params: Value,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

fn edit_of(s: &RuleSensor, rule: RuleKind, c: &RuleChange) -> RuleEdit {
    RuleEdit {
        layer: c.layer,
        kind: s.kind.clone(),
        site: s.site_id,
        sensor: s.id,
        rule,
        params: c.params.clone(),
        enabled: c.enabled,
    }
}

/// The rule set with the change, checked: the row's keys are the rule's, and what the sensor
/// then merges parses as the analyzer parses it.
fn changed(
    set: &RuleSet,
    s: &RuleSensor,
    rule: RuleKind,
    c: &RuleChange,
) -> Result<RuleSet, BadParam> {
    let new = set.with(&edit_of(s, rule, c));
    let merged = new.merged(scope_of(s), rule).unwrap_or_else(|| json!({}));
    explain::check(rule, &c.params, &merged)?;
    Ok(new)
}

pub use geohazard_audit::Actor;

/// Sets the row of `rule` in `c.layer` for sensor `id` if it still has version `base` (0: no
/// row yet), in the caller's transaction, recorded with the row before and after.
pub async fn update(
    tx: &mut PgConnection,
    scope: &Scope,
    actor: &Actor,
    id: i32,
    rule: RuleKind,
    base: i32,
    c: &RuleChange,
) -> sqlx::Result<Edited<SensorRulesView>> {
    let Some(s) = sensor(tx, scope, id).await? else {
        return Ok(Edited::NotFound);
    };
    if c.layer == Layer::Kind && !scope.sees_unassigned() {
        return Ok(Edited::KindRuleAboveScope);
    }
    let before = row(tx, &s, c.layer, rule, true).await?;
    let version = before.as_ref().map_or(0, |r| r.version);
    if version != base {
        let current = before.unwrap_or(RuleRow {
            layer: c.layer,
            params: json!({}),
            enabled: true,
            version: 0,
        });
        return Ok(Edited::Conflict(current));
    }
    let set = RuleSet::load_for(&mut *tx, &s.kind, s.site_id, s.id).await?;
    if let Err(bad) = changed(&set, &s, rule, c) {
        return Ok(Edited::Invalid(bad));
    }
    let (kind, site, sensor): (Option<&str>, Option<i64>, Option<i32>) = match c.layer {
        Layer::Kind => (Some(&s.kind), None, None),
        Layer::Site => (Some(&s.kind), Some(s.site_id), None),
        Layer::Sensor => (None, None, Some(s.id)),
    };
    let version: i32 = sqlx::query_scalar(
        "INSERT INTO analyzer_rules (scope, sensor_kind, site_id, sensor_id, rule, params, enabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (scope, sensor_kind, site_id, sensor_id, rule) DO UPDATE
             SET params = EXCLUDED.params, enabled = EXCLUDED.enabled,
                 version = analyzer_rules.version + 1, updated_at = now()
         RETURNING version",
    )
    .bind(c.layer.as_str())
    .bind(kind)
    .bind(site)
    .bind(sensor)
    .bind(rule.as_str())
    .bind(&c.params)
    .bind(c.enabled)
    .fetch_one(&mut *tx)
    .await?;
    let after = RuleRow {
        layer: c.layer,
        params: c.params.clone(),
        enabled: c.enabled,
        version,
    };
    // A kind's rule concerns every division: its change is filed under the officer's own.
    let division = match c.layer {
        Layer::Kind => scope.root().to_owned(),
        _ => s.division_code.clone(),
    };
    let target = match c.layer {
        Layer::Kind => format!("rule:kind:{}:{}", s.kind, rule.as_str()),
        Layer::Site => format!("rule:site:{}:{}:{}", s.site_id, s.kind, rule.as_str()),
        Layer::Sensor => format!("rule:sensor:{}:{}", s.id, rule.as_str()),
    };
    let before_json = before.as_ref().map(|b| json!({"target": target, "row": b}));
    let after_json = json!({"target": target, "row": after});
    sqlx::query(
        "INSERT INTO register_changes (officer_id, kind, site_id, division_code, before, after,
                                       version)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(actor.officer_id)
    .bind(AuditAction::RuleUpdate.as_str())
    .bind((c.layer != Layer::Kind).then_some(s.site_id))
    .bind(&division)
    .bind(&before_json)
    .bind(&after_json)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    geohazard_audit::record(
        &mut *tx,
        &Entry {
            officer_id: Some(actor.officer_id),
            action: AuditAction::RuleUpdate,
            target: Some(target),
            division_code: Some(division),
            detail: json!({"sensor": s.label, "rule": rule.as_str(), "layer": c.layer,
                           "version": version, "before": before, "after": after}),
            remote_addr: actor.remote_addr.clone(),
        },
    )
    .await?;
    let view = view(tx, scope, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(Edited::Done(view))
}

/// The longest stretch one backtest covers.
pub const MAX_BACKTEST_DAYS: i64 = 92;

/// A backtest's answer: what the rules in force and the changed ones would have raised.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Backtest {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub old: Raised,
    pub new: Raised,
}

/// The I–D curve of a division: its own, else its nearest ancestor's.
async fn id_curve(db: &mut PgConnection, division: &str) -> sqlx::Result<Option<IdCurve>> {
    let found: Option<(f64, f64)> = sqlx::query_as(
        "WITH RECURSIVE up(code, depth) AS (
             SELECT code, 0 FROM divisions WHERE code = $1
             UNION ALL
             SELECT d.parent_code, up.depth + 1 FROM up JOIN divisions d ON d.code = up.code
             WHERE d.parent_code IS NOT NULL
         )
         SELECT t.a, t.b FROM up JOIN rainfall_id_thresholds t ON t.division_code = up.code
         ORDER BY up.depth LIMIT 1",
    )
    .bind(division)
    .fetch_optional(db)
    .await?;
    Ok(found.map(|(a, b)| IdCurve { a, b }))
}

/// Runs the sensor's rules as they are and with change `c` over its readings from `from` to
/// `to` (the window warmed from the readings before `from`, as far back as the analyzer
/// keeps them).
pub async fn backtest(
    db: &mut PgConnection,
    scope: &Scope,
    id: i32,
    rule: RuleKind,
    c: &RuleChange,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Edited<Backtest>> {
    let Some(s) = sensor(db, scope, id).await? else {
        return Ok(Edited::NotFound);
    };
    if to <= from {
        return Ok(Edited::Invalid(BadParam {
            field: "to".into(),
            message: "must be after from".into(),
        }));
    }
    if to - from > chrono::Duration::days(MAX_BACKTEST_DAYS) {
        return Ok(Edited::Invalid(BadParam {
            field: "to".into(),
            message: format!("a backtest covers at most {MAX_BACKTEST_DAYS} days"),
        }));
    }
    let set = RuleSet::load_for(&mut *db, &s.kind, s.site_id, s.id).await?;
    let new = match changed(&set, &s, rule, c) {
        Ok(new) => new,
        Err(bad) => return Ok(Edited::Invalid(bad)),
    };
    let warm_from = from - chrono::Duration::milliseconds(backtest::LONG_HORIZON_MS);
    let readings: Vec<(DateTime<Utc>, f64)> = sqlx::query_as(
        "SELECT ts, value FROM readings WHERE sensor_id = $1 AND quality < 2
             AND ts >= $2 AND ts <= $3 ORDER BY ts",
    )
    .bind(s.id)
    .bind(warm_from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    let readings: Vec<(i64, f64)> = readings
        .into_iter()
        .map(|(t, v)| (t.timestamp_millis(), v))
        .collect();
    let sensor = Sensor {
        unit: s.unit.clone(),
        sampling_interval_s: s.sampling_interval_s,
        id_curve: id_curve(db, &s.division_code).await?,
    };
    let from_ms = from.timestamp_millis();
    let old_rules = SensorRules::from_set(&set, scope_of(&s), &s.label);
    let new_rules = SensorRules::from_set(&new, scope_of(&s), &s.label);
    Ok(Edited::Done(Backtest {
        from,
        to,
        old: backtest::run(&old_rules, &sensor, &readings, from_ms),
        new: backtest::run(&new_rules, &sensor, &readings, from_ms),
    }))
}
