//! What the analyzer needs from the registry: (gateway, channel) → sensor, site and rules,
//! cached and refreshed on a miss; rules merged from kind, site and sensor scopes; regional
//! intensity–duration curves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use geohazard_warnings::rules::{RuleKind, RuleSet, Scope};
use sqlx::PgPool;
// The tokio clock, so a paused-clock test drives the unknown-channel retry.
use tokio::time::Instant;

use geohazard_rules::levels::IdCurve;
use geohazard_rules::rules::{CombinedParams, SensorRules};

#[derive(Debug, Clone)]
pub struct SensorInfo {
    pub id: i32,
    pub gateway: String,
    pub channel: String,
    pub unit: String,
    pub sampling_interval_s: i32,
    pub site_id: i64,
    pub division: String,
    /// Where it is: its own location, else its site's (longitude, latitude).
    pub location: geo::Point<f64>,
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
    /// The site rule, when it applies.
    pub combined: Option<CombinedParams>,
}

#[derive(sqlx::FromRow)]
struct SensorRow {
    id: i32,
    gateway: String,
    channel: String,
    kind: String,
    unit: String,
    sampling_interval_s: i32,
    site_id: i64,
    division: String,
    longitude: f64,
    latitude: f64,
}

const SENSOR_SELECT: &str = "SELECT s.id, g.code AS gateway, s.channel, s.kind, s.unit,
        s.sampling_interval_s, s.site_id, h.division_code AS division,
        CASE WHEN s.longitude IS NULL OR s.latitude IS NULL THEN h.longitude ELSE s.longitude END
            AS longitude,
        CASE WHEN s.longitude IS NULL OR s.latitude IS NULL THEN h.latitude ELSE s.latitude END
            AS latitude
    FROM sensors s JOIN gateways g ON g.id = s.gateway_id JOIN hazard_sites h ON h.id = s.site_id
    WHERE s.active";

/// The cached registry and rules.
pub struct Registry {
    pool: PgPool,
    by_channel: HashMap<(String, String), Arc<SensorInfo>>,
    unknown: HashMap<(String, String), Instant>,
    unknown_retry: Duration,
    rules: RuleSet,
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
            rules: RuleSet::default(),
            sites: HashMap::new(),
            parents: HashMap::new(),
            id_curves: HashMap::new(),
        };
        r.reload().await?;
        Ok(r)
    }

    /// Reloads everything: rules, divisions, curves, sites and sensors.
    pub async fn reload(&mut self) -> sqlx::Result<()> {
        self.rules = RuleSet::load(&self.pool).await?;
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
        let scope = Scope {
            kind: &s.kind,
            site: Some(s.site_id),
            sensor: Some(s.id),
        };
        let rules = SensorRules::from_set(&self.rules, scope, &label);
        let info = Arc::new(SensorInfo {
            id: s.id,
            gateway: s.gateway,
            channel: s.channel,
            unit: s.unit,
            sampling_interval_s: s.sampling_interval_s,
            site_id: s.site_id,
            division: s.division,
            location: geo::Point::new(s.longitude, s.latitude),
            rules,
        });
        self.by_channel
            .insert((info.gateway.clone(), info.channel.clone()), info.clone());
        info
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
        let sites: Vec<(i64, String)> = sqlx::query_as("SELECT id, code FROM hazard_sites")
            .fetch_all(&self.pool)
            .await?;
        for (id, code) in sites {
            let scope = Scope {
                kind: "site",
                site: Some(id),
                sensor: None,
            };
            let combined = self.rules.params(scope, RuleKind::Combined, &code);
            self.sites.insert(id, Arc::new(SiteInfo { combined }));
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
