//! The embedded MQTT broker (rumqttd) for single-machine use when no broker URL is configured.
//! It listens on loopback only and lets in only those with credentials: the services in this
//! process (a password made up at each start) and registered gateways with their key, whose
//! client id must be their code. Production deployments use Mosquitto or EMQX with device
//! credentials and per-gateway ACLs (deploy/mosquitto.conf).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

/// The user name the services in this process connect with.
pub const SERVICE_USER: &str = "geohazard";

/// A running embedded broker.
pub struct Embedded {
    /// For the services in this process: with their credentials.
    pub services_url: String,
    /// For gateways: the address only; each brings its own code and key.
    pub devices_url: String,
}

/// One connection's credentials to check, and where to say whether they are good.
type Check = (String, String, String, oneshot::Sender<bool>);

/// Whether a connection may in: the services' password, or a registered gateway's key with its
/// code as both user name and client id (so no gateway can take another's identity).
async fn allowed(pool: &PgPool, service_password: &str, check: &Check) -> bool {
    let (client_id, user, password, _) = check;
    if user == SERVICE_USER {
        return password == service_password;
    }
    if client_id != user || !geohazard_protocol::is_valid_identifier(user) {
        return false;
    }
    match geohazard_store::registry::verify_gateway_password(pool, user, password).await {
        Ok(ok) => ok,
        Err(e) => {
            tracing::warn!(error = %e, "checking a gateway's key");
            false
        }
    }
}

/// Checks credentials on this runtime (where the pool lives) for the broker's threads.
async fn check_credentials(pool: PgPool, service_password: String, mut rx: mpsc::Receiver<Check>) {
    while let Some(check) = rx.recv().await {
        let ok = allowed(&pool, &service_password, &check).await;
        if !ok {
            tracing::warn!(client_id = %check.0, user = %check.1, "embedded broker: connection refused");
        }
        let _ = check.3.send(ok);
    }
}

/// Starts the broker on its own threads and waits until it accepts connections.
pub async fn start_embedded(
    port: u16,
    max_payload_bytes: usize,
    pool: PgPool,
) -> anyhow::Result<Embedded> {
    let listen: SocketAddr = ([127, 0, 0, 1], port).into();
    let service_password = geohazard_store::registry::new_secret(32);
    let (checks, rx) = mpsc::channel::<Check>(64);
    tokio::spawn(check_credentials(pool, service_password.clone(), rx));
    let mut server = ServerSettings {
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
    server
        .connections
        .set_auth_handler(move |client_id, user, password| {
            let checks = checks.clone();
            async move {
                let (tx, rx) = oneshot::channel();
                if checks.send((client_id, user, password, tx)).await.is_err() {
                    return false;
                }
                rx.await.unwrap_or(false)
            }
        });
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
    let mut pause =
        geohazard_runtime::Backoff::new(Duration::from_millis(10), Duration::from_millis(200));
    while !is_listening(port) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the embedded broker did not start"
        );
        pause.wait().await;
    }
    tracing::info!(%listen, "embedded MQTT broker listening");
    Ok(Embedded {
        services_url: format!("mqtt://{SERVICE_USER}:{service_password}@{listen}"),
        devices_url: format!("mqtt://{listen}"),
    })
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
