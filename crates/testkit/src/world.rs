//! The world a service test stands in: a fresh database with the test divisions, a private
//! broker, and a shutdown token that stops whatever the test started on it when the world is
//! dropped. Built the same way by every test that runs a service, so none builds its own.

use std::time::Duration;

use geohazard_bus::{Bus, BusConfig, Qos};
use geohazard_protocol::topic::Topic;
use geohazard_protocol::warning::Warning;
use geohazard_store::Store;
use tokio_util::sync::CancellationToken;

use crate::{Broker, TestDb, fixtures};

pub struct World {
    pub store: Store,
    pub broker: Broker,
    /// Cancelled when the world is dropped: hand it (or a child) to what the test starts.
    pub shutdown: CancellationToken,
    pub db: TestDb,
}

impl World {
    /// A database (a pool of `connections`, migrated) with Sichuan → Yibin → Gao registered,
    /// and a broker.
    pub async fn start(connections: u32) -> World {
        let db = TestDb::create().await;
        let store = Store::connect(&db.url, connections)
            .await
            .expect("the test database");
        let broker = Broker::start().await;
        fixtures::register_divisions(&store).await;
        World {
            store,
            broker,
            shutdown: CancellationToken::new(),
            db,
        }
    }

    /// An MQTT client of this world's broker for publishing what a gateway or a service
    /// would, connected by the time it is returned.
    pub async fn publisher(&self, client_id: &str) -> Bus {
        publisher(&self.broker, client_id).await
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An MQTT client of `broker` that only publishes (clean session), connected by the time it
/// is returned: nothing it publishes waits on the connection.
pub async fn publisher(broker: &Broker, client_id: &str) -> Bus {
    let mut config = BusConfig::new(broker.url(), client_id);
    config.persistent_session = false;
    let mut bus = Bus::start(&config, vec![], None, 16).expect("a publisher");
    // With nothing to subscribe to, this is the broker's CONNACK.
    bus.wait_subscribed(Duration::from_secs(10))
        .await
        .expect("the publisher connects");
    bus
}

/// Publishes a warning change as the analyzer does: QoS 1 on its division's and site's topic.
pub async fn publish_warning(bus: &Bus, w: &Warning) {
    bus.client()
        .publish(
            Topic::warning(&w.division, &w.site),
            Qos::AtLeastOnce,
            false,
            w.to_json(),
        )
        .await
        .expect("publishing a warning");
}
