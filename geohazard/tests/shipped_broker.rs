//! The services against a Mosquitto started with exactly the shipped `deploy/mosquitto.conf`
//! and `deploy/mosquitto.acl` (only ports and paths changed; the test kit's), with the gateways'
//! keys issued the way the README says: `geohazard gateway-key --mosquitto-passwd`. Every topic
//! each service uses must get through, and a gateway must not be able to take another's
//! identity.

mod common;

use std::time::Duration;

use common::{Client, connect, gateway_key};
use futures::StreamExt;
use geohazard_collector::{Collector, CollectorConfig};
use geohazard_command_center::{CommandCenterConfig, Role};
use geohazard_command_center::{NewOfficer, add_officer};
use geohazard_protocol::{GatewayStatus, Reading, TelemetryBatch, Topic};
use geohazard_store::Store;
use geohazard_testkit::fixtures::{self, COUNTY};
use geohazard_testkit::{Broker, TestDb, eventually};
use rumqttc::{LastWill, QoS};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;

const COLLECTOR: &str = "geohazard-collector";
const ANALYZER: &str = "geohazard-analyzer";
const COMMAND_CENTER: &str = "geohazard-command-center";
const OFFICER_PASSWORD: &str = "correct horse battery";

/// Everything running: the broker, the store, the three services, and two gateways' keys.
struct World {
    broker: Broker,
    /// Each service's password on the broker's services' listener.
    passwords: Vec<(&'static str, String)>,
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

    fn password(&self, service: &str) -> &str {
        &self
            .passwords
            .iter()
            .find(|(s, _)| *s == service)
            .unwrap()
            .1
    }

    /// A gateway connecting as itself, subscribed to what a firmware-bridge reads.
    async fn gateway(&self, code: &str, will: Option<LastWill>) -> Client {
        connect(
            self.broker.port(),
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

    /// Waits until the store holds `n` readings.
    async fn wait_for_readings(&self, n: i64, what: &str) {
        eventually(Duration::from_secs(15), what, || async {
            let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM readings")
                .fetch_one(&self.store.pool)
                .await
                .ok()?;
            (stored == n).then_some(())
        })
        .await;
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
        keys.push((gw.to_owned(), gateway_key(&db.url, gw, &file, &[]).await));
    }
    let passwords: Vec<(&str, String)> = [COLLECTOR, ANALYZER, COMMAND_CENTER]
        .into_iter()
        .map(|s| (s, geohazard_store::registry::new_secret(20)))
        .collect();
    let services: Vec<(&str, &str)> = passwords.iter().map(|(s, p)| (*s, p.as_str())).collect();
    let broker = Broker::start_as_shipped_with_gateways_file(&file, &services).await;
    let service_url = |service: &str| {
        let (_, password) = passwords.iter().find(|(s, _)| *s == service).unwrap();
        broker.service_url_as(service, password)
    };

    let shutdown = CancellationToken::new();
    let mut registry = prometheus_client::registry::Registry::default();
    let mut collector = Collector::start(
        CollectorConfig::default(),
        &service_url(COLLECTOR),
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
        service_url(ANALYZER),
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
        &service_url(COMMAND_CENTER),
        shutdown.clone(),
    )
    .await
    .expect("the command-center starts");
    World {
        broker,
        passwords,
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
    world.wait_for_readings(1, "the reading stored").await;

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
        broker.services_port(),
        "command-center-test",
        Some((COMMAND_CENTER, world.password(COMMAND_CENTER))),
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
        broker.services_port(),
        "collector-test",
        Some((COLLECTOR, world.password(COLLECTOR))),
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
        (broker.port(), None),
        (broker.services_port(), None),
        (broker.services_port(), Some(("GW-A", world.key("GW-A")))),
        (broker.port(), Some((COLLECTOR, world.password(COLLECTOR)))),
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
        world.broker.port(),
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
    world.wait_for_readings(1, "the intruder's reading").await;
    assert!(!gw_b.is_dropped(), "the real GW-B was disconnected");
    assert_eq!(
        world.online("GW-B").await,
        Some(true),
        "GW-B's last will fired"
    );
    // GW-B still gets its commands.
    let center = connect(
        world.broker.services_port(),
        "command-center-test",
        Some((COMMAND_CENTER, world.password(COMMAND_CENTER))),
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
