//! The services against a Mosquitto started with exactly the shipped `deploy/mosquitto.conf`
//! and `deploy/mosquitto.acl` (only ports and paths changed), with credentials made the way the
//! README says: gateways' keys with `geohazard gateway-key --mosquitto-passwd`, the services'
//! passwords with `mosquitto_passwd` asking on stdin. Every topic each service uses must get
//! through, and a gateway must not be able to take another's identity.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use geohazard_collector::{Collector, CollectorConfig};
use geohazard_command_center::{CommandCenterConfig, Role};
use geohazard_command_center::{NewOfficer, add_officer};
use geohazard_protocol::{GatewayStatus, Reading, TelemetryBatch, Topic};
use geohazard_store::Store;
use geohazard_testkit::fixtures::{self, COUNTY};
use geohazard_testkit::{TestDb, eventually, free_port, wait_for_port};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, Publish, QoS};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;

const COLLECTOR: &str = "geohazard-collector";
const ANALYZER: &str = "geohazard-analyzer";
const COMMAND_CENTER: &str = "geohazard-command-center";
const OFFICER_PASSWORD: &str = "correct horse battery";

/// Mosquitto with the shipped files.
struct ShippedBroker {
    dir: tempfile::TempDir,
    gateways_port: u16,
    services_port: u16,
    _child: tokio::process::Child,
    /// Each service's password.
    passwords: Vec<(&'static str, String)>,
}

fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with `from` replaced, which must be there.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the shipped file has no `{from}`");
    text.replace(from, to)
}

/// Adds `user` to a Mosquitto password file as the README says: mosquitto_passwd asks for the
/// password (twice) on its standard input.
async fn mosquitto_passwd(file: &Path, user: &str, password: &str) {
    let mut cmd = tokio::process::Command::new("mosquitto_passwd");
    if !file.exists() {
        cmd.arg("-c");
    }
    let mut child = cmd
        .arg(file)
        .arg(user)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("mosquitto_passwd (deploy/install-deps.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n{password}\n").as_bytes())
        .await
        .unwrap();
    assert!(child.wait().await.unwrap().success());
}

/// `geohazard gateway-key CODE --mosquitto-passwd FILE`: the gateway's new key.
async fn gateway_key(db_url: &str, code: &str, file: &Path) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_geohazard"))
        .args(["gateway-key", code, "--mosquitto-passwd"])
        .arg(file)
        .env("DATABASE_URL", db_url)
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

impl ShippedBroker {
    /// Starts the broker with `gateways_passwd` as the gateways' password file.
    async fn start(gateways_passwd: &[u8]) -> ShippedBroker {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        // Mosquitto started as root drops to its own user: it must read and write here.
        use std::os::unix::fs::PermissionsExt;
        for d in [dir.path(), data.as_path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let (gateways_port, services_port) = (free_port(), free_port());
        let etc = format!("{}/", dir.path().display());
        let conf = deploy_file("mosquitto.conf");
        let conf = substitute(
            &conf,
            "listener 1883\n",
            &format!("listener {gateways_port}\n"),
        );
        let conf = substitute(
            &conf,
            "listener 1884 127.0.0.1\n",
            &format!("listener {services_port} 127.0.0.1\n"),
        );
        let conf = substitute(
            &conf,
            "/var/lib/mosquitto/",
            &format!("{}/", data.display()),
        );
        let conf = substitute(&conf, "/etc/mosquitto/", &etc);
        std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        std::fs::write(
            dir.path().join("geohazard.acl"),
            deploy_file("mosquitto.acl"),
        )
        .unwrap();

        let services = dir.path().join("geohazard-services.passwd");
        let mut passwords = Vec::new();
        for user in [COLLECTOR, ANALYZER, COMMAND_CENTER] {
            let password = geohazard_store::registry::new_secret(20);
            mosquitto_passwd(&services, user, &password).await;
            passwords.push((user, password));
        }
        let gateways = dir.path().join("geohazard.passwd");
        std::fs::write(&gateways, gateways_passwd).unwrap();
        for file in [&services, &gateways] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let log = std::fs::File::create(dir.path().join("mosquitto.log")).unwrap();
        // Where Debian installs it, as the test kit's broker; `MOSQUITTO` overrides.
        let mosquitto =
            std::env::var_os("MOSQUITTO").unwrap_or_else(|| "/usr/sbin/mosquitto".into());
        let child = tokio::process::Command::new(mosquitto)
            .arg("-c")
            .arg(dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto (deploy/install-deps.sh)");
        let broker = ShippedBroker {
            dir,
            gateways_port,
            services_port,
            _child: child,
            passwords,
        };
        for port in [gateways_port, services_port] {
            if let Err(e) = wait_for_port(port, Duration::from_secs(10)).await {
                panic!("{e}\n{}", broker.log());
            }
        }
        broker
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    fn password(&self, user: &str) -> &str {
        &self.passwords.iter().find(|(u, _)| *u == user).unwrap().1
    }

    /// A service's URL, as its configuration would have it.
    fn service_url(&self, user: &str) -> String {
        format!(
            "mqtt://{user}:{}@127.0.0.1:{}",
            self.password(user),
            self.services_port
        )
    }
}

/// A test client: its publishes arrive on `received`; `dropped` tells when the broker closed
/// its connection (it does not reconnect, so that is seen).
struct Client {
    client: AsyncClient,
    received: mpsc::UnboundedReceiver<Publish>,
    dropped: tokio::sync::watch::Receiver<bool>,
}

/// Connects to 127.0.0.1:`port`, subscribes to `filters`; Err with the reason when refused.
async fn connect(
    port: u16,
    client_id: &str,
    login: Option<(&str, &str)>,
    filters: &[String],
    will: Option<LastWill>,
) -> Result<Client, String> {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(false)
        .set_max_packet_size(1 << 20, 1 << 20);
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
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .map_err(|_| "no CONNACK in time".to_owned())?;
    connected?;
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
            Ok(Err(e)) => return Err(format!("{client_id} dropped while subscribing: {e}")),
            Err(_) => return Err(format!("{client_id}: no SUBACK in time")),
        }
    }
    let (tx, received) = mpsc::unbounded_channel();
    let (dropped_tx, dropped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(p);
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
        dropped,
    })
}

impl Client {
    async fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
    }

    /// The next message on `topic`.
    async fn next_on(&mut self, topic: &str) -> Publish {
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

    fn is_dropped(&self) -> bool {
        *self.dropped.borrow()
    }
}

/// Everything running: the broker, the store, the three services, and two gateways' keys.
struct World {
    broker: ShippedBroker,
    store: Store,
    keys: Vec<(String, String)>,
    api: String,
    ws: String,
    shutdown: CancellationToken,
    _db: TestDb,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl World {
    fn key(&self, gateway: &str) -> &str {
        &self.keys.iter().find(|(g, _)| g == gateway).unwrap().1
    }

    /// A gateway connecting as itself, subscribed to what a firmware-bridge reads.
    async fn gateway(&self, code: &str, will: Option<LastWill>) -> Client {
        connect(
            self.broker.gateways_port,
            code,
            Some((code, self.key(code))),
            &[
                Topic::command(code),
                format!("{}/ack", Topic::telemetry(code)),
            ],
            will,
        )
        .await
        .unwrap_or_else(|e| panic!("gateway {code} connects: {e}\n{}", self.broker.log()))
    }

    async fn online(&self, gateway: &str) -> Option<bool> {
        sqlx::query_scalar("SELECT online FROM gateways WHERE code = $1")
            .bind(gateway)
            .fetch_one(&self.store.pool)
            .await
            .ok()
    }
}

async fn start_world() -> World {
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 8).await.unwrap();
    for gw in ["GW-A", "GW-B"] {
        fixtures::register_gateway(&store, gw, &["crack-1"]).await;
    }
    // The gateways' keys, issued with the CLI into a password file the broker then uses.
    let issued = tempfile::tempdir().unwrap();
    let file = issued.path().join("geohazard.passwd");
    let mut keys = Vec::new();
    for gw in ["GW-A", "GW-B"] {
        keys.push((gw.to_owned(), gateway_key(&db.url, gw, &file).await));
    }
    let broker = ShippedBroker::start(&std::fs::read(&file).unwrap()).await;

    let shutdown = CancellationToken::new();
    let mut registry = prometheus_client::registry::Registry::default();
    let mut collector = Collector::start(
        CollectorConfig::default(),
        &broker.service_url(COLLECTOR),
        store.clone(),
        &mut registry,
    )
    .unwrap();
    collector
        .wait_subscribed(Duration::from_secs(10))
        .await
        .expect("the collector subscribes");
    tokio::spawn(collector.run(shutdown.clone()));

    let analyzer = geohazard_analyzer::AnalyzerConfig::new(geohazard_bus::BusConfig::new(
        broker.service_url(ANALYZER),
        "geohazard-analyzer",
    ));
    let (ready, started) = tokio::sync::oneshot::channel();
    tokio::spawn(geohazard_analyzer::run_with(
        analyzer,
        store.clone(),
        shutdown.clone(),
        Some(ready),
        Default::default(),
    ));
    tokio::time::timeout(Duration::from_secs(30), started)
        .await
        .expect("the analyzer starts in time")
        .expect("the analyzer starts");

    let config = CommandCenterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let server = geohazard_command_center::start(
        &config,
        store.pool.clone(),
        &broker.service_url(COMMAND_CENTER),
        shutdown.clone(),
    )
    .await
    .expect("the command-center starts");
    World {
        broker,
        store,
        keys,
        api: format!("http://{}/api/v1", server.addr),
        ws: format!("ws://{}/api/v1", server.addr),
        shutdown,
        _db: db,
    }
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures::Stream<Item = Result<tungstenite::Message, tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("a message on the live socket in time")
            .expect("the socket is open")
            .expect("a readable message");
        if let tungstenite::Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test]
async fn every_services_topics_get_through_the_shipped_broker_configuration() {
    let world = start_world().await;
    let broker = &world.broker;

    // An officer watches the live console.
    add_officer(
        &world.store.pool,
        &NewOfficer {
            username: "gao-duty",
            display_name: None,
            division_code: COUNTY,
            role: Role::DutyOfficer,
            password: OFFICER_PASSWORD,
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{}/login", world.api))
        .json(&json!({"username": "gao-duty", "password": OFFICER_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("signed in").to_owned();
    let (mut console, _) =
        tokio_tungstenite::connect_async(format!("{}/live?token={token}", world.ws))
            .await
            .unwrap();
    assert_eq!(next_json(&mut console).await["type"], "ready");

    let mut gateway = world.gateway("GW-A", None).await;

    // Status in (collector and analyzer): a gateway on 3 % battery and 9.1 V is online in the
    // store and raises a power warning, which goes out to the console (warning out).
    let status = GatewayStatus {
        online: true,
        battery_pct: Some(3.0),
        supply_v: Some(9.1),
        ..GatewayStatus::default()
    };
    gateway
        .publish(Topic::status("GW-A"), status.to_json(), true)
        .await;
    eventually(
        Duration::from_secs(15),
        "GW-A online in the store",
        || async { world.online("GW-A").await.filter(|o| *o) },
    )
    .await;
    let raised = next_json(&mut console).await;
    assert_eq!(raised["type"], "warning", "{raised}\n{}", broker.log());
    assert_eq!(raised["warning"]["source"], "device:power:gateway:GW-A");
    let warning_id = raised["warning"]["id"].as_i64().unwrap();

    // Telemetry in (collector and analyzer).
    let now = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
    let batch = TelemetryBatch {
        seq: 1,
        readings: vec![Reading {
            sensor: "crack-1".into(),
            ts: now,
            value: 1.5,
            quality: Default::default(),
        }],
    };
    gateway
        .publish(Topic::telemetry("GW-A"), batch.to_json(), false)
        .await;
    eventually(Duration::from_secs(15), "the reading stored", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM readings")
            .fetch_one(&world.store.pool)
            .await
            .ok()?;
        (n == 1).then_some(())
    })
    .await;

    // Acknowledgement out (command-center publishes the warning change) and back to consoles.
    let r = http
        .post(format!("{}/warnings/{warning_id}/acknowledge", world.api))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let acked = next_json(&mut console).await;
    assert_eq!(
        acked["warning"]["transition"],
        "acknowledged",
        "{acked}\n{}",
        broker.log()
    );

    // Commands out, acknowledgements and video in (command-center's user); telemetry
    // confirmations out (collector's user) to the gateway.
    let mut center = connect(
        broker.services_port,
        "command-center-test",
        Some((COMMAND_CENTER, broker.password(COMMAND_CENTER))),
        &[Topic::command_ack("GW-A"), "gh/v1/gw/+/video/#".to_owned()],
        None,
    )
    .await
    .unwrap();
    center
        .publish(Topic::command("GW-A"), br#"{"id":"c1"}"#.to_vec(), false)
        .await;
    assert_eq!(
        gateway
            .next_on(&Topic::command("GW-A"))
            .await
            .payload
            .as_ref(),
        br#"{"id":"c1"}"#
    );
    gateway
        .publish(
            Topic::command_ack("GW-A"),
            br#"{"id":"c1"}"#.to_vec(),
            false,
        )
        .await;
    center.next_on(&Topic::command_ack("GW-A")).await;
    let frame = Topic::video("GW-A", "cam-1", now);
    gateway
        .publish(frame.clone(), vec![0xff, 0xd8, 0xff], false)
        .await;
    center.next_on(&frame).await;
    let collector = connect(
        broker.services_port,
        "collector-test",
        Some((COLLECTOR, broker.password(COLLECTOR))),
        &[],
        None,
    )
    .await
    .unwrap();
    let confirmation = format!("{}/ack", Topic::telemetry("GW-A"));
    collector
        .publish(confirmation.clone(), br#"{"seq":1}"#.to_vec(), false)
        .await;
    gateway.next_on(&confirmation).await;

    // Nobody gets in anonymously, and neither kind of credentials works on the other's port.
    for (port, login) in [
        (broker.gateways_port, None),
        (broker.services_port, None),
        (broker.services_port, Some(("GW-A", world.key("GW-A")))),
        (
            broker.gateways_port,
            Some((COLLECTOR, broker.password(COLLECTOR))),
        ),
    ] {
        let refused = connect(port, "intruder", login, &[], None).await;
        assert!(refused.is_err(), "port {port} let {login:?} in");
    }
    assert!(!gateway.is_dropped() && !center.is_dropped());
}

#[tokio::test]
async fn a_gateway_cannot_take_another_gateways_identity() {
    let world = start_world().await;
    let will = LastWill::new(
        Topic::status("GW-B"),
        GatewayStatus::offline().to_json(),
        QoS::AtLeastOnce,
        true,
    );
    let mut gw_b = world.gateway("GW-B", Some(will)).await;
    gw_b.publish(
        Topic::status("GW-B"),
        GatewayStatus {
            online: true,
            ..GatewayStatus::default()
        }
        .to_json(),
        true,
    )
    .await;
    eventually(Duration::from_secs(15), "GW-B online", || async {
        world.online("GW-B").await.filter(|o| *o)
    })
    .await;

    // GW-A, with its own key, asks for GW-B's client id. The broker gives it its own instead.
    let intruder = connect(
        world.broker.gateways_port,
        "GW-B",
        Some(("GW-A", world.key("GW-A"))),
        &[],
        None,
    )
    .await
    .expect("GW-A's key is valid");
    // Once the intruder's own telemetry is stored, a takeover would long have shown.
    let batch = TelemetryBatch {
        seq: 7,
        readings: vec![Reading {
            sensor: "crack-1".into(),
            ts: chrono::Utc::now().timestamp_millis() / 1000 * 1000,
            value: 2.0,
            quality: Default::default(),
        }],
    };
    intruder
        .publish(Topic::telemetry("GW-A"), batch.to_json(), false)
        .await;
    eventually(
        Duration::from_secs(15),
        "the intruder's reading",
        || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM readings")
                .fetch_one(&world.store.pool)
                .await
                .ok()?;
            (n == 1).then_some(())
        },
    )
    .await;
    assert!(!gw_b.is_dropped(), "the real GW-B was disconnected");
    assert_eq!(
        world.online("GW-B").await,
        Some(true),
        "GW-B's last will fired"
    );
    // GW-B still gets its commands.
    let center = connect(
        world.broker.services_port,
        "command-center-test",
        Some((COMMAND_CENTER, world.broker.password(COMMAND_CENTER))),
        &[],
        None,
    )
    .await
    .unwrap();
    center
        .publish(Topic::command("GW-B"), br#"{"id":"c2"}"#.to_vec(), false)
        .await;
    gw_b.next_on(&Topic::command("GW-B")).await;
    assert!(!gw_b.is_dropped() && !intruder.is_dropped());
}
