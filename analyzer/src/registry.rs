//! What the analyzer needs from the registry: (gateway, channel) → sensor, site and rules,
//! cached and refreshed on a miss; rules merged from kind, site and sensor scopes; regional
//! intensity–duration curves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;

use crate::rules::{self, CombinedParams, IdCurve, SensorRules};

#[derive(Debug, Clone)]
pub struct SensorInfo {
    pub id: i32,
    pub gateway: String,
    pub gateway_id: i64,
    pub channel: String,
    pub kind: String,
    pub unit: String,
    pub sampling_interval_s: i32,
    pub site_id: i64,
    pub site_code: String,
    pub site_name: String,
    pub division: String,
    pub rules: SensorRules,
}

impl SensorInfo {
    /// How sources name the sensor: `{gateway}/{channel}`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.gateway, self.channel)
    }
}

#[derive(Debug, Clone)]
pub struct SiteInfo {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub division: String,
    pub combined: Option<CombinedParams>,
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

#[derive(sqlx::FromRow)]
struct SensorRow {
    id: i32,
    gateway: String,
    gateway_id: i64,
    channel: String,
    kind: String,
    unit: String,
    sampling_interval_s: i32,
    site_id: i64,
    site_code: String,
    site_name: String,
    division: String,
}

const SENSOR_SELECT: &str =
    "SELECT s.id, g.code AS gateway, g.id AS gateway_id, s.channel, s.kind, s.unit,
        s.sampling_interval_s, s.site_id, h.code AS site_code, h.name AS site_name,
        h.division_code AS division
    FROM sensors s JOIN gateways g ON g.id = s.gateway_id JOIN hazard_sites h ON h.id = s.site_id
    WHERE s.active";

/// The cached registry and rules.
pub struct Registry {
    pool: PgPool,
    by_channel: HashMap<(String, String), Arc<SensorInfo>>,
    unknown: HashMap<(String, String), Instant>,
    unknown_retry: Duration,
    rules: Vec<RuleRow>,
    sites: HashMap<i64, Arc<SiteInfo>>,
    parents: HashMap<String, String>,
    id_curves: HashMap<String, IdCurve>,
}

impl Registry {
    pub async fn load(pool: PgPool, unknown_retry: Duration) -> sqlx::Result<Registry> {
        let mut r = Registry {
            pool,
            by_channel: HashMap::new(),
            unknown: HashMap::new(),
            unknown_retry,
            rules: Vec::new(),
            sites: HashMap::new(),
            parents: HashMap::new(),
            id_curves: HashMap::new(),
        };
        r.reload().await?;
        Ok(r)
    }

    /// Reloads everything: rules, divisions, curves, sites and sensors.
    pub async fn reload(&mut self) -> sqlx::Result<()> {
        self.rules = sqlx::query_as(
            "SELECT scope, sensor_kind, site_id, sensor_id, rule, params, enabled FROM analyzer_rules",
        )
        .fetch_all(&self.pool)
        .await?;
        let divisions: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT code, parent_code FROM divisions")
                .fetch_all(&self.pool)
                .await?;
        self.parents = divisions
            .into_iter()
            .filter_map(|(c, p)| p.map(|p| (c, p)))
            .collect();
        let curves: Vec<(String, f64, f64)> =
            sqlx::query_as("SELECT division_code, a, b FROM rainfall_id_thresholds")
                .fetch_all(&self.pool)
                .await?;
        self.id_curves = curves
            .into_iter()
            .map(|(d, a, b)| (d, IdCurve { a, b }))
            .collect();
        self.sites.clear();
        self.reload_sites().await?;
        let sensors: Vec<SensorRow> = sqlx::query_as(SENSOR_SELECT).fetch_all(&self.pool).await?;
        self.by_channel.clear();
        self.unknown.clear();
        for s in sensors {
            self.add(s);
        }
        Ok(())
    }

    fn add(&mut self, s: SensorRow) -> Arc<SensorInfo> {
        let label = format!("{}/{}", s.gateway, s.channel);
        let rule = |name: &str| self.merged(&s.kind, Some(s.site_id), Some(s.id), name);
        let rules = SensorRules {
            threshold: rule("threshold").and_then(|v| parse(&v, "threshold", &label)),
            rate: rule("rate").and_then(|v| parse(&v, "rate", &label)),
            rainfall: rule("rainfall").and_then(|v| parse(&v, "rainfall", &label)),
            trend: rule("trend").and_then(|v| parse(&v, "trend", &label)),
            health: rule("health").and_then(|v| parse(&v, "health", &label)),
        };
        let info = Arc::new(SensorInfo {
            id: s.id,
            gateway: s.gateway,
            gateway_id: s.gateway_id,
            channel: s.channel,
            kind: s.kind,
            unit: s.unit,
            sampling_interval_s: s.sampling_interval_s,
            site_id: s.site_id,
            site_code: s.site_code,
            site_name: s.site_name,
            division: s.division,
            rules,
        });
        self.by_channel
            .insert((info.gateway.clone(), info.channel.clone()), info.clone());
        info
    }

    /// A rule's parameters for a sensor of `kind` at `site`: the kind's, then the site's
    /// override for that kind (or for every kind), then the sensor's. `None` when no scope
    /// enables it or the most specific scope disables it.
    fn merged(
        &self,
        kind: &str,
        site: Option<i64>,
        sensor: Option<i32>,
        rule: &str,
    ) -> Option<Value> {
        let rank = |r: &RuleRow| match r.scope.as_str() {
            "kind" if r.sensor_kind.as_deref() == Some(kind) => Some(0),
            "site" if r.site_id == site && r.sensor_kind.is_none() => Some(1),
            "site" if r.site_id == site && r.sensor_kind.as_deref() == Some(kind) => Some(2),
            "sensor" if sensor.is_some() && r.sensor_id == sensor => Some(3),
            _ => None,
        };
        let mut matching: Vec<(u8, &RuleRow)> = self
            .rules
            .iter()
            .filter(|r| r.rule == rule)
            .filter_map(|r| rank(r).map(|k| (k, r)))
            .collect();
        matching.sort_by_key(|(k, _)| *k);
        let (_, last) = matching.last()?;
        if !last.enabled {
            return None;
        }
        let mut v = Value::Object(Default::default());
        for (_, r) in matching.iter().filter(|(_, r)| r.enabled) {
            rules::merge(&mut v, &r.params);
        }
        Some(v)
    }

    /// The sensor a gateway's channel is, looking it up in the database on a miss. Unknown
    /// channels are remembered for a while so a misconfigured gateway cannot flood the database.
    pub async fn sensor(&mut self, gateway: &str, channel: &str) -> Option<Arc<SensorInfo>> {
        let key = (gateway.to_owned(), channel.to_owned());
        if let Some(s) = self.by_channel.get(&key) {
            return Some(s.clone());
        }
        if self
            .unknown
            .get(&key)
            .is_some_and(|t| t.elapsed() < self.unknown_retry)
        {
            return None;
        }
        let sql = format!("{SENSOR_SELECT} AND g.code = $1");
        match sqlx::query_as::<_, SensorRow>(sqlx::AssertSqlSafe(sql))
            .bind(gateway)
            .fetch_all(&self.pool)
            .await
        {
            Ok(rows) => {
                for r in rows {
                    if !self.sites.contains_key(&r.site_id) {
                        // A site registered since the last reload.
                        let _ = self.reload_sites().await;
                    }
                    self.add(r);
                }
            }
            Err(e) => tracing::warn!(error = %e, gateway, "registry look-up failed"),
        }
        match self.by_channel.get(&key) {
            Some(s) => Some(s.clone()),
            None => {
                if self.unknown.len() > 100_000 {
                    self.unknown.clear();
                }
                self.unknown.insert(key, Instant::now());
                None
            }
        }
    }

    async fn reload_sites(&mut self) -> sqlx::Result<()> {
        let sites: Vec<(i64, String, String, String)> =
            sqlx::query_as("SELECT id, code, name, division_code FROM hazard_sites")
                .fetch_all(&self.pool)
                .await?;
        for (id, code, name, division) in sites {
            let combined = self
                .merged("site", Some(id), None, "combined")
                .and_then(|v| parse(&v, "combined", &code));
            self.sites.insert(
                id,
                Arc::new(SiteInfo {
                    id,
                    code,
                    name,
                    division,
                    combined,
                }),
            );
        }
        Ok(())
    }

    pub fn sensors(&self) -> impl Iterator<Item = &Arc<SensorInfo>> {
        self.by_channel.values()
    }

    pub fn site(&self, id: i64) -> Option<&Arc<SiteInfo>> {
        self.sites.get(&id)
    }

    /// The I–D curve of a division, or of its nearest ancestor that has one.
    pub fn id_curve(&self, division: &str) -> Option<IdCurve> {
        let mut code = division;
        for _ in 0..8 {
            if let Some(c) = self.id_curves.get(code) {
                return Some(*c);
            }
            code = self.parents.get(code)?;
        }
        None
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value, rule: &str, what: &str) -> Option<T> {
    match serde_json::from_value(v.clone()) {
        Ok(p) => Some(p),
        Err(e) => {
            // A broken rule must not stop the analyzer: it is skipped, loudly.
            tracing::error!(rule, sensor_or_site = what, error = %e, "invalid rule parameters, rule skipped");
            None
        }
    }
}
