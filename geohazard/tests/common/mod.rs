//! What the all-in-one's tests share: `geohazard gateway-key` as an operator runs it, and an
//! MQTT client as a gateway or a service would connect (it subscribes, hands over what arrives,
//! and never reconnects, so a refusal or a connection the broker closed is seen).

// Each test file uses its part.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, Publish, QoS};
use tokio::sync::mpsc;

/// `geohazard gateway-key CODE --mosquitto-passwd FILE` with `env` besides the database's URL:
/// the gateway's new key, as printed.
pub async fn gateway_key(db_url: &str, code: &str, file: &Path, env: &[(&str, &str)]) -> String {
    let file = file.to_str().unwrap();
    run_gateway_key(db_url, &[code, "--mosquitto-passwd", file], env).await
}

/// `geohazard gateway-key CODE` as run beside an all-in-one whose data folder is `data_dir` and
/// no broker URL is configured: the key goes to its broker's password file, which it reloads.
pub async fn all_in_one_gateway_key(db_url: &str, code: &str, data_dir: &Path) -> String {
    let data_dir = data_dir.to_str().unwrap();
    run_gateway_key(db_url, &[code], &[("GEOHAZARD_DATA_DIR", data_dir)]).await
}

async fn run_gateway_key(db_url: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_geohazard"))
        .arg("gateway-key")
        .args(args)
        .env("DATABASE_URL", db_url)
        .env_remove("MQTT_URL")
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A test client: its publishes arrive on `received`; `dropped` tells when the broker closed
/// its connection (it does not reconnect, so that is seen).
pub struct Client {
    client: AsyncClient,
    received: mpsc::UnboundedReceiver<Publish>,
    acks: mpsc::UnboundedReceiver<rumqttc::SubAck>,
    dropped: tokio::sync::watch::Receiver<bool>,
    /// The broker's CONNACK said it had a session for this client id (kept from before).
    pub session_present: bool,
}

/// Connects to 127.0.0.1:`port`, subscribes to `filters`; Err with the reason when refused.
pub async fn connect(
    port: u16,
    client_id: &str,
    login: Option<(&str, &str)>,
    filters: &[String],
    will: Option<LastWill>,
) -> anyhow::Result<Client> {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(false)
        // Room for the largest video frame.
        .set_max_packet_size(8 << 20, 8 << 20);
    if let Some((user, password)) = login {
        options.set_credentials(user, password);
    }
    if let Some(will) = will {
        options.set_last_will(will);
    }
    let (client, mut events) = AsyncClient::new(options, 64);
    let connected = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return Ok(ack.session_present),
                Ok(_) => {}
                Err(e) => return Err(anyhow::Error::from(e)),
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no CONNACK in time"))?;
    let session_present = connected?;
    for filter in filters {
        client
            .subscribe(filter.as_str(), QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    let mut pending = filters.len();
    while pending > 0 {
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) => {
                assert!(
                    ack.return_codes
                        .iter()
                        .all(|c| !matches!(c, rumqttc::SubscribeReasonCode::Failure)),
                    "{client_id}: subscription refused"
                );
                pending -= 1;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => anyhow::bail!("{client_id} dropped while subscribing: {e}"),
            Err(_) => anyhow::bail!("{client_id}: no SUBACK in time"),
        }
    }
    let (tx, received) = mpsc::unbounded_channel();
    let (acks_tx, acks) = mpsc::unbounded_channel();
    let (dropped_tx, dropped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(p);
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    let _ = acks_tx.send(ack);
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = dropped_tx.send(true);
                    return;
                }
            }
        }
    });
    Ok(Client {
        client,
        received,
        acks,
        dropped,
        session_present,
    })
}

impl Client {
    /// Subscribes to `filter` after connecting: whether the broker granted it. (A broker may
    /// grant a filter and still deliver only what its ACL lets this client read.)
    pub async fn subscribe(&mut self, filter: &str) -> bool {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        let ack = tokio::time::timeout(Duration::from_secs(10), self.acks.recv())
            .await
            .expect("a SUBACK in time")
            .expect("the client runs");
        ack.return_codes
            .iter()
            .all(|c| !matches!(c, rumqttc::SubscribeReasonCode::Failure))
    }

    pub async fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
    }

    /// The next message on `topic`.
    pub async fn next_on(&mut self, topic: &str) -> Publish {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let p = self.received.recv().await.expect("the client runs");
                if p.topic == topic {
                    return p;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("nothing on {topic} in time"))
    }

    /// Everything received before the next message on `marker` (which is left out); `None`
    /// when nothing came on `marker` in time.
    pub async fn all_before(&mut self, marker: &str) -> Option<Vec<Publish>> {
        let mut before = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let p = self.received.recv().await.expect("the client runs");
                if p.topic == marker {
                    return;
                }
                before.push(p);
            }
        })
        .await
        .ok()?;
        Some(before)
    }

    /// Everything received until the broker has passed on `sender`'s next message on `marker`
    /// or dropped `sender` (a broker may disconnect a client that writes where it may not):
    /// either way it has handled all `sender` sent before. `None` if neither happens in time.
    pub async fn all_until_handled(
        &mut self,
        marker: &str,
        sender: &Client,
    ) -> Option<(Vec<Publish>, bool)> {
        let mut before = Vec::new();
        let mut dropped = sender.dropped.clone();
        let handled = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                tokio::select! {
                    p = self.received.recv() => {
                        let p = p.expect("the client runs");
                        if p.topic == marker {
                            return false;
                        }
                        before.push(p);
                    }
                    _ = dropped.wait_for(|d| *d) => return true,
                }
            }
        })
        .await
        .ok()?;
        Some((before, handled))
    }

    /// What has arrived and not been taken yet, without waiting.
    pub fn received_now(&mut self) -> Vec<Publish> {
        let mut got = Vec::new();
        while let Ok(p) = self.received.try_recv() {
            got.push(p);
        }
        got
    }

    pub fn is_dropped(&self) -> bool {
        *self.dropped.borrow()
    }

    /// Leaves cleanly (no last will).
    pub fn disconnect(&self) {
        let _ = self.client.try_disconnect();
    }
}
