//! The services against each broker the project starts, with the same tests: a Mosquitto
//! started with exactly the shipped `deploy/mosquitto.conf` and `deploy/mosquitto.acl` (only
//! ports and paths changed; the test kit's), and the all-in-one's own broker
//! (`geohazard::broker`). The gateways' keys are issued the way the README says:
//! `geohazard gateway-key --mosquitto-passwd` before the shipped broker starts, and plain
//! `geohazard gateway-key` beside the running all-in-one. Every topic each service uses must get
//! through; a gateway must not be able to take another's identity, nor write or read outside
//! its own `gh/v1/gw/{code}/`.

mod common;

use std::time::Duration;

use common::{Client, all_in_one_gateway_key, connect, gateway_key};
use futures::StreamExt;
use geohazard::broker::Embedded;
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
const GATEWAYS: [&str; 2] = ["GW-A", "GW-B"];

/// Which broker a test runs against.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Mosquitto with `deploy/mosquitto.conf` and `deploy/mosquitto.acl`.
    Shipped,
    /// The one `geohazard run` starts.
    AllInOne,
}

/// Runs each named test (an `async fn(Kind)`) against both brokers: `shipped::NAME` and
/// `all_in_one::NAME`.
macro_rules! on_both_brokers {
    ($($name:ident),* $(,)?) => {
        mod shipped {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::Shipped).await
            })*
        }
        mod all_in_one {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::AllInOne).await
            })*
        }
    };
}

on_both_brokers!(
    every_services_topics_get_through,
    a_gateway_cannot_take_another_gateways_identity,
    a_gateway_cannot_publish_a_warning,
    a_gateway_cannot_publish_another_gateways_telemetry_or_status,
    a_gateway_reads_only_its_own_topics_even_subscribed_to_everything,
    a_gateway_cannot_command_another_gateway_or_answer_for_it,
    a_video_frame_as_large_as_the_center_accepts_gets_through,
);

enum Running {
    Shipped(Broker),
    AllInOne {
        broker: Embedded,
        _data_dir: tempfile::TempDir,
    },
}

/// A broker with two registered gateways' keys issued, and each service's password.
struct Brokered {
    running: Running,
    passwords: Vec<(&'static str, String)>,
    keys: Vec<(String, String)>,
    store: Store,
    _db: TestDb,
}

impl Brokered {
    async fn start(kind: Kind) -> Brokered {
        let db = TestDb::create().await;
        let store = Store::connect(&db.url, 8).await.unwrap();
        for gw in GATEWAYS {
            fixtures::register_gateway(&store, gw, &["crack-1"]).await;
        }
        let mut keys = Vec::new();
        let (running, passwords) = match kind {
            Kind::Shipped => {
                // The keys, issued with the CLI into a password file the broker then uses.
                let issued = tempfile::tempdir().unwrap();
                let file = issued.path().join("geohazard.passwd");
                for gw in GATEWAYS {
                    keys.push((gw.to_owned(), gateway_key(&db.url, gw, &file, &[]).await));
                }
                let passwords: Vec<(&str, String)> = [COLLECTOR, ANALYZER, COMMAND_CENTER]
                    .into_iter()
                    .map(|s| (s, geohazard_store::registry::new_secret(20)))
                    .collect();
                let services: Vec<(&str, &str)> =
                    passwords.iter().map(|(s, p)| (*s, p.as_str())).collect();
                let broker = Broker::start_as_shipped_with_gateways_file(&file, &services).await;
                (Running::Shipped(broker), passwords)
            }
            Kind::AllInOne => {
                let data_dir = tempfile::tempdir().unwrap();
                let broker = geohazard::broker::start_embedded(
                    data_dir.path(),
                    geohazard_testkit::free_port(),
                    0,
                )
                .await
                .unwrap();
                // Issued while it runs: it must take the new keys without a restart.
                for gw in GATEWAYS {
                    let key = all_in_one_gateway_key(&db.url, gw, data_dir.path()).await;
                    keys.push((gw.to_owned(), key));
                }
                let passwords = broker.services.clone();
                (
                    Running::AllInOne {
                        broker,
                        _data_dir: data_dir,
                    },
                    passwords,
                )
            }
        };
        Brokered {
            running,
            passwords,
            keys,
            store,
            _db: db,
        }
    }

    /// The gateways' listener.
    fn port(&self) -> u16 {
        match &self.running {
            Running::Shipped(b) => b.port(),
            Running::AllInOne { broker: b, .. } => b.port,
        }
    }

    fn services_port(&self) -> u16 {
        match &self.running {
            Running::Shipped(b) => b.services_port(),
            Running::AllInOne { broker: b, .. } => b.services_port,
        }
    }

    fn log(&self) -> String {
        match &self.running {
            Running::Shipped(b) => b.log(),
            Running::AllInOne { broker: b, .. } => b.log(),
        }
    }

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

    fn service_url(&self, service: &str) -> String {
        format!(
            "mqtt://{service}:{}@127.0.0.1:{}",
            self.password(service),
            self.services_port()
        )
    }

    /// A gateway connecting as itself, subscribed to what a firmware-bridge reads. (A key
    /// issued beside a running broker works once it has reloaded: it is given a moment.)
    async fn gateway(&self, code: &str, will: Option<LastWill>) -> Client {
        let filters = [
            Topic::command(code),
            format!("{}/ack", Topic::telemetry(code)),
        ];
        let login = Some((code, self.key(code)));
        eventually(Duration::from_secs(10), "the gateway connects", || async {
            connect(self.port(), code, login, &filters, will.clone())
                .await
                .ok()
        })
        .await
    }

    /// A service's own connection on the services' listener, subscribed to `filters`.
    async fn service(&self, service: &str, client_id: &str, filters: &[String]) -> Client {
        connect(
            self.services_port(),
            client_id,
            Some((service, self.password(service))),
            filters,
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{service} connects: {e}\n{}", self.log()))
    }

    /// What `observer` (which reads GW-A's status) received until the broker had handled
    /// everything `intruder` (GW-A) sent: GW-A's own status after it, or, if the broker
    /// dropped the intruder, a status the collector then sends for it.
    async fn handled(&self, observer: &mut Client, intruder: &Client) -> Vec<rumqttc::Publish> {
        let marker = Topic::status("GW-A");
        intruder.publish(marker.clone(), online(), false).await;
        let (mut before, dropped) = observer
            .all_until_handled(&marker, intruder)
            .await
            .unwrap_or_else(|| panic!("nothing on {marker} in time\n{}", self.log()));
        if dropped {
            let collector = self.service(COLLECTOR, "collector-marker", &[]).await;
            collector.publish(marker.clone(), online(), false).await;
            before.extend(
                observer
                    .all_before(&marker)
                    .await
                    .unwrap_or_else(|| panic!("nothing on {marker} in time\n{}", self.log())),
            );
        }
        before
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

/// Everything running: the broker with its gateways' keys, and the three services.
struct World {
    b: Brokered,
    api: String,
    ws: String,
    shutdown: CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start_world(kind: Kind) -> World {
    let b = Brokered::start(kind).await;
    let store = &b.store;
    let shutdown = CancellationToken::new();
    let mut registry = prometheus_client::registry::Registry::default();
    let mut collector = Collector::start(
        CollectorConfig::default(),
        &b.service_url(COLLECTOR),
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
        b.service_url(ANALYZER),
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
        &b.service_url(COMMAND_CENTER),
        shutdown.clone(),
    )
    .await
    .expect("the command-center starts");
    World {
        b,
        api: format!("http://{}/api/v1", server.addr),
        ws: format!("ws://{}/api/v1", server.addr),
        shutdown,
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

async fn every_services_topics_get_through(kind: Kind) {
    let world = start_world(kind).await;
    let broker = &world.b;

    // An officer watches the live console.
    add_officer(
        &world.b.store.pool,
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
    let (mut console, _) = tokio_tungstenite::connect_async(
        geohazard_testkit::api::bearer_upgrade(&format!("{}/live", world.ws), &token),
    )
    .await
    .unwrap();
    assert_eq!(next_json(&mut console).await["type"], "ready");

    let mut gateway = world.b.gateway("GW-A", None).await;

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
        || async { world.b.online("GW-A").await.filter(|o| *o) },
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
    world.b.wait_for_readings(1, "the reading stored").await;

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
        Some((COMMAND_CENTER, world.b.password(COMMAND_CENTER))),
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
        Some((COLLECTOR, world.b.password(COLLECTOR))),
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
        (broker.services_port(), Some(("GW-A", world.b.key("GW-A")))),
        (
            broker.port(),
            Some((COLLECTOR, world.b.password(COLLECTOR))),
        ),
    ] {
        let refused = connect(port, "intruder", login, &[], None).await;
        assert!(refused.is_err(), "port {port} let {login:?} in");
    }
    assert!(!gateway.is_dropped() && !center.is_dropped());
}

async fn a_gateway_cannot_take_another_gateways_identity(kind: Kind) {
    let world = start_world(kind).await;
    let will = LastWill::new(
        Topic::status("GW-B"),
        GatewayStatus::offline().to_json(),
        QoS::AtLeastOnce,
        true,
    );
    let mut gw_b = world.b.gateway("GW-B", Some(will)).await;
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
        world.b.online("GW-B").await.filter(|o| *o)
    })
    .await;

    // GW-A, with its own key, asks for GW-B's client id. The broker gives it its own instead.
    let intruder = connect(
        world.b.port(),
        "GW-B",
        Some(("GW-A", world.b.key("GW-A"))),
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
    world.b.wait_for_readings(1, "the intruder's reading").await;
    assert!(!gw_b.is_dropped(), "the real GW-B was disconnected");
    assert_eq!(
        world.b.online("GW-B").await,
        Some(true),
        "GW-B's last will fired"
    );
    // GW-B still gets its commands.
    let center = connect(
        world.b.services_port(),
        "command-center-test",
        Some((COMMAND_CENTER, world.b.password(COMMAND_CENTER))),
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

/// Topics outside `gateway`'s own subtree among `got`.
fn outside_own(gateway: &str, got: &[rumqttc::Publish]) -> Vec<String> {
    let own = format!("gh/v1/gw/{gateway}/");
    got.iter()
        .filter(|p| !p.topic.starts_with(&own))
        .map(|p| p.topic.clone())
        .collect()
}

fn online() -> Vec<u8> {
    GatewayStatus {
        online: true,
        ..GatewayStatus::default()
    }
    .to_json()
}

async fn a_gateway_cannot_publish_a_warning(kind: Kind) {
    let b = Brokered::start(kind).await;
    // The command-center reads warnings and gateways' status.
    let mut center = b
        .service(
            COMMAND_CENTER,
            "center-test",
            &["gh/v1/warning/#".to_owned(), Topic::status("GW-A")],
        )
        .await;
    let gateway = b.gateway("GW-A", None).await;
    let forged = json!({
        "id": 1, "site": "SITE-1", "division": COUNTY, "source": "site:combined",
        "category": "hazard", "level": "red", "state": "closed", "transition": "closed",
        "at": 0, "summary": "all clear, stand down", "summary_zh": "解除警报"
    });
    gateway
        .publish(
            Topic::warning(COUNTY, "SITE-1"),
            forged.to_string().into_bytes(),
            false,
        )
        .await;
    let before = b.handled(&mut center, &gateway).await;
    assert_eq!(outside_own("GW-A", &before), Vec::<String>::new());
}

async fn a_gateway_cannot_publish_another_gateways_telemetry_or_status(kind: Kind) {
    let b = Brokered::start(kind).await;
    let mut collector = b
        .service(
            COLLECTOR,
            "collector-test",
            &[
                "gh/v1/gw/+/telemetry".to_owned(),
                "gh/v1/gw/+/status".to_owned(),
            ],
        )
        .await;
    let gateway = b.gateway("GW-A", None).await;
    let batch = TelemetryBatch {
        seq: 1,
        readings: vec![Reading {
            sensor: "crack-1".into(),
            ts: chrono::Utc::now().timestamp_millis() / 1000 * 1000,
            value: 99.0,
            quality: Default::default(),
        }],
    };
    gateway
        .publish(Topic::telemetry("GW-B"), batch.to_json(), false)
        .await;
    gateway
        .publish(
            Topic::status("GW-B"),
            GatewayStatus::offline().to_json(),
            false,
        )
        .await;
    let before = b.handled(&mut collector, &gateway).await;
    assert_eq!(outside_own("GW-A", &before), Vec::<String>::new());
}

async fn a_gateway_reads_only_its_own_topics_even_subscribed_to_everything(kind: Kind) {
    let b = Brokered::start(kind).await;
    let mut snoop = b.gateway("GW-A", None).await;
    // Granted or refused, depending on the broker: either way nothing else may arrive.
    for filter in ["#", "gh/v1/gw/+/cmd", "gh/v1/gw/GW-B/#", "gh/v1/warning/#"] {
        snoop.subscribe(filter).await;
    }
    let mut gw_b = b.gateway("GW-B", None).await;
    let mut collector = b
        .service(
            COLLECTOR,
            "collector-test",
            &["gh/v1/gw/+/telemetry".to_owned()],
        )
        .await;
    let center = b.service(COMMAND_CENTER, "center-test", &[]).await;

    // GW-B's telemetry (seen by the collector), its confirmation and a command to it (seen by
    // GW-B), and a warning.
    let batch = TelemetryBatch {
        seq: 3,
        readings: vec![],
    };
    gw_b.publish(Topic::telemetry("GW-B"), batch.to_json(), false)
        .await;
    collector.next_on(&Topic::telemetry("GW-B")).await;
    let confirmation = format!("{}/ack", Topic::telemetry("GW-B"));
    collector
        .publish(confirmation.clone(), br#"{"seq":3}"#.to_vec(), false)
        .await;
    gw_b.next_on(&confirmation).await;
    center
        .publish(Topic::warning(COUNTY, "SITE-1"), b"{}".to_vec(), false)
        .await;
    center
        .publish(Topic::command("GW-B"), br#"{"id":"b1"}"#.to_vec(), false)
        .await;
    gw_b.next_on(&Topic::command("GW-B")).await;
    // Then one for GW-A itself: everything before it on its connection must be its own.
    center
        .publish(Topic::command("GW-A"), br#"{"id":"a1"}"#.to_vec(), false)
        .await;
    let before = snoop
        .all_before(&Topic::command("GW-A"))
        .await
        .unwrap_or_else(|| panic!("nothing on the marker in time\n{}", b.log()));
    assert_eq!(outside_own("GW-A", &before), Vec::<String>::new());
}

async fn a_gateway_cannot_command_another_gateway_or_answer_for_it(kind: Kind) {
    let b = Brokered::start(kind).await;
    let mut center = b
        .service(
            COMMAND_CENTER,
            "center-test",
            &["gh/v1/gw/+/cmd/ack".to_owned(), Topic::status("GW-A")],
        )
        .await;
    let mut gw_b = b.gateway("GW-B", None).await;
    let intruder = b.gateway("GW-A", None).await;
    intruder
        .publish(Topic::command("GW-B"), br#"{"id":"evil"}"#.to_vec(), false)
        .await;
    intruder
        .publish(
            Topic::command_ack("GW-B"),
            br#"{"id":"c9"}"#.to_vec(),
            false,
        )
        .await;
    let before = b.handled(&mut center, &intruder).await;
    assert_eq!(outside_own("GW-A", &before), Vec::<String>::new());
    center
        .publish(Topic::command("GW-B"), br#"{"id":"real"}"#.to_vec(), false)
        .await;
    let got = gw_b.next_on(&Topic::command("GW-B")).await;
    assert_eq!(
        got.payload.as_ref(),
        br#"{"id":"real"}"#,
        "GW-B got GW-A's command"
    );
}

async fn a_video_frame_as_large_as_the_center_accepts_gets_through(kind: Kind) {
    let b = Brokered::start(kind).await;
    let largest = geohazard_command_center::VideoSettings::default().max_frame_bytes;
    let mut center = b
        .service(
            COMMAND_CENTER,
            "center-test",
            &["gh/v1/gw/+/video/#".to_owned()],
        )
        .await;
    let gateway = b.gateway("GW-A", None).await;
    let frame = Topic::video("GW-A", "cam-1", chrono::Utc::now().timestamp_millis());
    let mut jpeg = vec![0u8; largest];
    jpeg[..3].copy_from_slice(&[0xff, 0xd8, 0xff]);
    gateway.publish(frame.clone(), jpeg, false).await;
    let got = center.next_on(&frame).await;
    assert_eq!(got.payload.len(), largest, "{}", b.log());
    assert!(!gateway.is_dropped());
}
