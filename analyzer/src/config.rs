//! The analyzer's configuration: the `[analyzer]` section of the service's TOML file (the same
//! section in the all-in-one's), every key overridable as `GEOHAZARD_ANALYZER__<KEY>` (e.g.
//! `GEOHAZARD_ANALYZER__ENGINE__TIME_SCALE`).

use geohazard_bus::BusConfig;
pub use geohazard_notify::NotifierConfig;
use geohazard_protocol::Limits;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnalyzerConfig {
    #[serde(default = "default_mqtt")]
    pub mqtt: BusConfig,
    /// Share telemetry between several analyzers: `$share/{group}/gh/v1/gw/+/telemetry`.
    /// Without it the analyzer has a plain subscription of its own.
    #[serde(default)]
    pub shared_group: Option<String>,
    /// Deliveries buffered between the connection and the engine.
    #[serde(default = "default_queue")]
    pub queue: usize,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub notifier: NotifierConfig,
    /// Where to serve `/healthz`, `/readyz` and Prometheus `/metrics`; none to not serve them.
    #[serde(default)]
    pub health_addr: Option<std::net::SocketAddr>,
}

fn default_queue() -> usize {
    4096
}

/// A local broker and the analyzer's own client id; the all-in-one replaces the URL.
fn default_mqtt() -> BusConfig {
    BusConfig::new("mqtt://127.0.0.1:1883", "geohazard-analyzer")
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig::new(default_mqtt())
    }
}

impl AnalyzerConfig {
    pub fn new(mqtt: BusConfig) -> AnalyzerConfig {
        AnalyzerConfig {
            mqtt,
            shared_group: None,
            queue: default_queue(),
            limits: Limits::default(),
            engine: EngineConfig::default(),
            notifier: NotifierConfig::default(),
            health_addr: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// Raw readings kept per sensor, hours of reading time (72 h of rain).
    pub raw_horizon_h: f64,
    /// Hourly sums kept per sensor, days (antecedent rain, steady creep velocity).
    pub long_horizon_days: f64,
    /// How often silence (gateways, sensors) is checked, wall-clock milliseconds.
    pub health_check_ms: u64,
    /// How often rules and the registry are reloaded from the database, seconds.
    pub reload_s: u64,
    /// An unknown (gateway, channel) is looked up again after this many seconds.
    pub unknown_retry_s: u64,
    /// Gateway battery below this (from its status) is a device fault.
    pub min_battery_pct: f64,
    /// Gateway supply below this (from its status) is a device fault.
    pub min_gateway_supply_v: f64,
    /// Demos only: readings carry wall-clock timestamps of a scenario that runs this many times
    /// faster, so reading time is stretched by it (from the analyzer's start) before the rules
    /// see it. 1 in production.
    pub time_scale: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            raw_horizon_h: 72.0,
            long_horizon_days: 30.0,
            health_check_ms: 10_000,
            reload_s: 60,
            unknown_retry_s: 30,
            min_battery_pct: 20.0,
            min_gateway_supply_v: 11.0,
            time_scale: 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};
    use geohazard_notify::SmsConfig;
    use geohazard_rules::levels::Level;

    #[test]
    fn the_example_configuration_parses_with_its_defaults() {
        let c: AnalyzerConfig =
            Figment::from(Serialized::default("analyzer", AnalyzerConfig::default()))
                .merge(Toml::string(include_str!("../analyzer.example.toml")))
                .extract_inner("analyzer")
                .unwrap();
        assert_eq!(c.mqtt.client_id, "geohazard-analyzer");
        assert!(matches!(c.notifier.sms, SmsConfig::None));
        assert_eq!(
            c.notifier.policy().ack_deadline(Level::Red),
            Some(Duration::from_secs(600))
        );
        assert_eq!(c.notifier.policy().ack_deadline(Level::Blue), None);
        assert_eq!(c.engine.raw_horizon_h, 72.0);
        assert_eq!(c.notifier.app_fallback(), Some(Duration::from_secs(300)));
        assert!(c.notifier.worker);
    }
}
