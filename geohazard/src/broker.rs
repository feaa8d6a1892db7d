//! The embedded MQTT broker (rumqttd) for single-machine use when no broker URL is configured.
//! It listens on loopback only; production deployments use Mosquitto or EMQX with device
//! credentials and per-gateway ACLs (deploy/mosquitto.conf).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Starts the broker on its own threads and waits until it accepts connections.
pub async fn start_embedded(port: u16, max_payload_bytes: usize) -> anyhow::Result<String> {
    let listen: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = ServerSettings {
        name: "geohazard-v4".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: max_payload_bytes,
            // Matches the collector's batch sizes: many unacknowledged messages may be in flight.
            max_inflight_count: 1000,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 10_010,
            max_outgoing_packet_count: 1000,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("embedded-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // Wait until the broker listens. Not by connecting: a probe connection that closes
    // without CONNECT makes rumqttd log an error.
    while !is_listening(port) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the embedded broker did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(%listen, "embedded MQTT broker listening");
    Ok(format!("mqtt://{listen}"))
}

/// Whether a TCP socket listens on `port` (Linux: /proc/net/tcp, state 0A).
fn is_listening(port: u16) -> bool {
    let suffix = format!(":{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .map(|table| {
            table.lines().skip(1).any(|line| {
                let mut fields = line.split_whitespace();
                let local = fields.nth(1).unwrap_or_default();
                let state = fields.nth(1).unwrap_or_default();
                local.ends_with(&suffix) && state == "0A"
            })
        })
        // Without /proc, assume it is up: clients retry with backoff anyway.
        .unwrap_or(true)
}
