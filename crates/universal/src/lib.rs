//! The universal-type endpoint: a small MQTT 3.1.1 server for devices that speak China's
//! national universal-type (普适型) geohazard monitoring device protocol (the `$dp` convention of
//! the national geohazard monitoring IoT platform).
//!
//! Such a device publishes on `$dp` with no device id in the topic (and, for status, none in the
//! payload), so a plain subscriber on our broker could not tell who sent what. The endpoint is
//! the device's MQTT server instead: it authenticates each device (client id = gateway code,
//! password = its key, argon2 via the store), decodes its frames and republishes them in our
//! protocol on our broker, where the collector stores them like any gateway's. Commands flow the
//! other way. See `docs/universal-protocol.md`.
//!
//! A protocol adapter of its own, beside the collector: it shares nothing with the ingest
//! pipeline but the broker and the store. The collector's binary and the all-in-one run it when
//! `[collector.universal] listen` is set.

mod command;
mod frame;
mod health;
mod mapping;
mod server;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

pub use frame::encode as encode_frame;
pub use mapping::{METHODS, Method, sensors_for};
pub use server::{UniversalEndpoint, run};

/// The endpoint's MQTT connection signs in as the URL's user name plus `-universal` (it runs
/// with the collector's URL): see [`geohazard_bus::connection_url`].
pub const MQTT_CONNECTION: &str = "universal";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct UniversalConfig {
    /// Where devices connect, e.g. `0.0.0.0:1884`; none (the default) turns the endpoint off.
    pub listen: Option<SocketAddr>,
    /// Where the endpoint answers `/healthz`, `/readyz` and `/metrics`; none: not served.
    pub health_addr: Option<SocketAddr>,
    /// The endpoint's own MQTT client id on our broker; unique per endpoint.
    pub client_id: String,
    /// Device connections open at once, at most; more are closed on arrival.
    pub max_connections: usize,
    /// Largest MQTT packet accepted from a device.
    pub max_packet_bytes: usize,
    /// How long a device has to send CONNECT after opening the connection.
    pub connect_timeout_secs: u64,
    /// How long to wait for our broker to accept a translated message before giving up on it
    /// (the device is then disconnected unacknowledged, and resends).
    pub broker_timeout_secs: u64,
    /// How long a device has to answer a command before it gets an error ack.
    pub command_timeout_secs: u64,
    /// How long to wait for the collector to confirm that a data frame is committed to the
    /// store: the device's PUBACK waits for it (a frame our broker only holds is not yet safe);
    /// past this the device is disconnected unacknowledged, and resends.
    pub commit_timeout_secs: u64,
}

impl Default for UniversalConfig {
    fn default() -> Self {
        UniversalConfig {
            listen: None,
            health_addr: None,
            client_id: "geohazard-universal".into(),
            max_connections: 10_000,
            max_packet_bytes: 256 * 1024,
            connect_timeout_secs: 10,
            broker_timeout_secs: 30,
            command_timeout_secs: 60,
            commit_timeout_secs: 30,
        }
    }
}
