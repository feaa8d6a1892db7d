//! Which gateways and sensors exist, cached so the hot path does not ask the database. A miss
//! reloads from the database (at most every few seconds per gateway), so newly registered
//! gateways and sensors are picked up without a restart.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use geohazard_store::registry::{self, GatewaySensors};
use sqlx::PgPool;

const RELOAD_AFTER: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 100_000;
/// Even a hit is reloaded after this long, so deactivated or moved sensors are noticed.
const MAX_AGE: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct RegistryCache {
    gateways: HashMap<String, Entry>,
}

struct Entry {
    gateway: Option<GatewaySensors>,
    loaded_at: Instant,
}

impl RegistryCache {
    /// The gateway's id, or `None` when it is not registered.
    pub async fn gateway(&mut self, pool: &PgPool, code: &str) -> sqlx::Result<Option<i64>> {
        self.refresh_if(pool, code, |e| e.gateway.is_none()).await?;
        Ok(self.entry(code).map(|g| g.gateway_id))
    }

    /// The sensor id for a gateway's channel, or `None` when no such sensor is registered.
    pub async fn sensor(
        &mut self,
        pool: &PgPool,
        code: &str,
        channel: &str,
    ) -> sqlx::Result<Option<i32>> {
        self.refresh_if(pool, code, |e| {
            !e.gateway
                .as_ref()
                .is_some_and(|g| g.sensors.contains_key(channel))
        })
        .await?;
        Ok(self
            .entry(code)
            .and_then(|g| g.sensors.get(channel).copied()))
    }

    fn entry(&self, code: &str) -> Option<&GatewaySensors> {
        self.gateways.get(code).and_then(|e| e.gateway.as_ref())
    }

    /// Reloads the gateway when it was never loaded, or when `stale` says the cached entry may
    /// be out of date and it was loaded long enough ago.
    async fn refresh_if(
        &mut self,
        pool: &PgPool,
        code: &str,
        stale: impl Fn(&Entry) -> bool,
    ) -> sqlx::Result<()> {
        let needs = match self.gateways.get(code) {
            None => true,
            Some(e) => {
                let age = e.loaded_at.elapsed();
                age >= MAX_AGE || (stale(e) && age >= RELOAD_AFTER)
            }
        };
        if needs {
            let gateway = registry::gateway_sensors(pool, code).await?;
            if gateway.is_none() && self.gateways.len() >= MAX_ENTRIES {
                // A flood of made-up gateway codes must not grow the cache without bound.
                self.gateways.retain(|_, e| e.gateway.is_some());
            }
            self.gateways.insert(
                code.to_owned(),
                Entry {
                    gateway,
                    loaded_at: Instant::now(),
                },
            );
        }
        Ok(())
    }
}
