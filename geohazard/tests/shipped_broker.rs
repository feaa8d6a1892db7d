//! The services against each broker the project starts, with the same tests: a Mosquitto
//! started with exactly the shipped `deploy/mosquitto.conf` and `deploy/mosquitto.acl` (only
//! ports and paths changed; the test kit's), and the all-in-one's own broker
//! (`geohazard::broker`). The gateways' keys are issued the way the README says:
//! `geohazard gateway-key --mosquitto-passwd` before the shipped broker starts, and plain
//! `geohazard gateway-key` beside the running all-in-one. Every topic each service uses must get
//! through; a gateway must not be able to take another's identity, nor write or read outside
//! its own `gh/v1/gw/{code}/`; a service's credentials must not take another service's session.
//! On the services' listener the broker takes the user name as the client id, so each test
//! connection signs in as a user no running service uses (one per connection, as the services
//! themselves do).

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
/// The services' further connections' users (see `geohazard::broker::service_users`).
const UNIVERSAL: &str = "geohazard-collector-universal";
const CENTER_VIDEO: &str = "geohazard-command-center-video";
const CENTER_READINGS: &str = "geohazard-command-center-readings";
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
    each_services_connection_gets_the_topics_it_uses,
    a_services_credentials_cannot_take_another_services_session,
);

enum Running {
    Shipped(Broker),
    AllInOne {
        broker: Embedded,
        _data_dir: tempfile::TempDir,
    },
}

/// A broker with two registered gateways' keys issued, and the password of each user of the
/// services' listener.
struct Brokered {
    running: Running,
    passwords: Vec<(String, String)>,
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
                // Every user the shipped ACL names, as an operator adds them: a password for
                // each service, which its further connections' users share.
                let mut by_service: Vec<(&str, String)> = Vec::new();
                let passwords: Vec<(String, String)> = geohazard::broker::service_users()
                    .into_iter()
                    .map(|(service, user)| {
                        if !by_service.iter().any(|(s, _)| *s == service) {
                            by_service.push((service, geohazard_store::registry::new_secret(20)));
                        }
                        let (_, password) = by_service.iter().find(|(s, _)| *s == service).unwrap();
                        (user, password.clone())
                    })
                    .collect();
                let services: Vec<(&str, &str)> = passwords
                    .iter()
                    .map(|(u, p)| (u.as_str(), p.as_str()))
                    .collect();
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
                // Each connection's user has its service's password.
                let passwords = geohazard::broker::service_users()
                    .into_iter()
                    .map(|(service, user)| {
                        let (_, password) =
                            broker.services.iter().find(|(s, _)| *s == service).unwrap();
                        (user, password.clone())
                    })
                    .collect();
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

    fn password(&self, user: &str) -> &str {
        &self.passwords.iter().find(|(u, _)| u == user).unwrap().1
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

    /// A connection as `service` (one of the services' listener's users) on that listener,
    /// subscribed to `filters`. The broker replaces `client_id` with the user name.
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

    /// What `observer` (which reads `marker`, a topic of GW-A's own) received until the broker
    /// had handled everything `intruder` (GW-A) sent: GW-A's own message on `marker` after it,
    /// or, if the broker dropped the intruder, one the universal endpoint's user (which may
    /// write both kinds of marker) then sends for it.
    async fn handled(
        &self,
        observer: &mut Client,
        intruder: &Client,
        marker: String,
    ) -> Vec<rumqttc::Publish> {
        intruder.publish(marker.clone(), online(), false).await;
        let (mut before, dropped) = observer
            .all_until_handled(&marker, intruder)
            .await
            .unwrap_or_else(|| panic!("nothing on {marker} in time\n{}", self.log()));
        if dropped {
            let universal = self.service(UNIVERSAL, "universal-marker", &[]).await;
            universal.publish(marker.clone(), online(), false).await;
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

/// The collector on `b`, subscribed, until `shutdown`.
async fn start_collector(b: &Brokered, shutdown: &CancellationToken) {
    let mut registry = prometheus_client::registry::Registry::default();
    let mut collector = Collector::start(
        CollectorConfig::default(),
        &b.service_url(COLLECTOR),
        b.store.clone(),
        &mut registry,
    )
    .unwrap();
    collector
        .wait_subscribed(Duration::from_secs(10))
        .await
        .expect("the collector subscribes");
    tokio::spawn(collector.run(shutdown.clone()));
}

async fn start_world(kind: Kind) -> World {
    let b = Brokered::start(kind).await;
    let store = &b.store;
    let shutdown = CancellationToken::new();
    start_collector(&b, &shutdown).await;

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
    // Each of the running services' connections signed in as a user of its own, which the
    // broker took as its client id (the universal endpoint does not run here).
    let users: Vec<String> = geohazard::broker::service_users()
        .into_iter()
        .map(|(_, u)| u)
        .filter(|u| u != UNIVERSAL)
        .collect();
    eventually(
        Duration::from_secs(15),
        "every service connection signed in as itself",
        || async {
            let log = broker.log();
            users
                .iter()
                .all(|u| log.contains(&format!(" as {u} (")) && log.contains(&format!("u'{u}'")))
                .then_some(())
        },
    )
    .await;

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
    let batch = one_reading(1, 1.5);
    gateway
        .publish(Topic::telemetry("GW-A"), batch.to_json(), false)
        .await;
    world.b.wait_for_readings(1, "the reading stored").await;
    // Telemetry confirmation out (collector), to the gateway.
    gateway.next_on(&Topic::telemetry_ack("GW-A")).await;

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
    assert!(!gateway.is_dropped());
}

async fn a_gateway_cannot_take_another_gateways_identity(kind: Kind) {
    let b = Brokered::start(kind).await;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    start_collector(&b, &shutdown).await;
    let will = LastWill::new(
        Topic::status("GW-B"),
        GatewayStatus::offline().to_json(),
        QoS::AtLeastOnce,
        true,
    );
    let mut gw_b = b.gateway("GW-B", Some(will)).await;
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
        b.online("GW-B").await.filter(|o| *o)
    })
    .await;

    // GW-A, with its own key, asks for GW-B's client id. The broker gives it its own instead.
    let intruder = connect(b.port(), "GW-B", Some(("GW-A", b.key("GW-A"))), &[], None)
        .await
        .expect("GW-A's key is valid");
    // Once the intruder's own telemetry is stored, a takeover would long have shown.
    let batch = one_reading(7, 2.0);
    intruder
        .publish(Topic::telemetry("GW-A"), batch.to_json(), false)
        .await;
    b.wait_for_readings(1, "the intruder's reading").await;
    assert!(!gw_b.is_dropped(), "the real GW-B was disconnected");
    assert_eq!(b.online("GW-B").await, Some(true), "GW-B's last will fired");
    // GW-B still gets its commands.
    let center = b.service(CENTER_VIDEO, "command-center-test", &[]).await;
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

/// A telemetry batch `seq` of one reading of GW-A's or GW-B's `crack-1`, made now.
fn one_reading(seq: u64, value: f64) -> TelemetryBatch {
    TelemetryBatch {
        seq,
        readings: vec![Reading {
            sensor: "crack-1".into(),
            ts: chrono::Utc::now().timestamp_millis() / 1000 * 1000,
            value,
            quality: Default::default(),
        }],
    }
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
    let before = b
        .handled(&mut center, &gateway, Topic::status("GW-A"))
        .await;
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
    let batch = one_reading(1, 99.0);
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
    let before = b
        .handled(&mut collector, &gateway, Topic::status("GW-A"))
        .await;
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
    let video = b.service(CENTER_VIDEO, "video-test", &[]).await;

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
    video
        .publish(Topic::command("GW-B"), br#"{"id":"b1"}"#.to_vec(), false)
        .await;
    gw_b.next_on(&Topic::command("GW-B")).await;
    // Then one for GW-A itself: everything before it on its connection must be its own.
    video
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
            CENTER_VIDEO,
            "center-test",
            &["gh/v1/gw/+/cmd/ack".to_owned()],
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
    let before = b
        .handled(&mut center, &intruder, Topic::command_ack("GW-A"))
        .await;
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
            CENTER_VIDEO,
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

/// Each user of the services' listener gets what its connection reads and writes: the
/// command-center's cameras' (commands out, their answers and frames in), its readings' and
/// the universal endpoint's (the collector's confirmations), the universal endpoint's devices'
/// telemetry, status and command answers to the collector and the cameras.
async fn each_services_connection_gets_the_topics_it_uses(kind: Kind) {
    let b = Brokered::start(kind).await;
    let mut gateway = b.gateway("GW-A", None).await;
    let mut video = b
        .service(
            CENTER_VIDEO,
            "video-test",
            &[
                "gh/v1/gw/+/cmd/ack".to_owned(),
                "gh/v1/gw/+/video/#".to_owned(),
            ],
        )
        .await;
    let mut readings = b
        .service(
            CENTER_READINGS,
            "readings-test",
            &["gh/v1/gw/+/telemetry/ack".to_owned()],
        )
        .await;
    let mut universal = b
        .service(
            UNIVERSAL,
            "universal-test",
            &[
                "gh/v1/gw/+/cmd".to_owned(),
                "gh/v1/gw/+/telemetry/ack".to_owned(),
            ],
        )
        .await;
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

    // A command to GW-A reaches it (and the universal endpoint, which answers for its own
    // devices); GW-A's answer and a frame reach the cameras' connection.
    video
        .publish(Topic::command("GW-A"), br#"{"id":"c1"}"#.to_vec(), false)
        .await;
    let got = gateway.next_on(&Topic::command("GW-A")).await;
    assert_eq!(got.payload.as_ref(), br#"{"id":"c1"}"#);
    universal.next_on(&Topic::command("GW-A")).await;
    gateway
        .publish(
            Topic::command_ack("GW-A"),
            br#"{"id":"c1"}"#.to_vec(),
            false,
        )
        .await;
    video.next_on(&Topic::command_ack("GW-A")).await;
    let frame = Topic::video("GW-A", "cam-1", chrono::Utc::now().timestamp_millis());
    gateway
        .publish(frame.clone(), vec![0xff, 0xd8, 0xff], false)
        .await;
    video.next_on(&frame).await;

    // The collector's confirmation reaches the gateway, the consoles' charts and the endpoint.
    let confirmation = Topic::telemetry_ack("GW-A");
    collector
        .publish(confirmation.clone(), br#"{"seq":1}"#.to_vec(), false)
        .await;
    gateway.next_on(&confirmation).await;
    readings.next_on(&confirmation).await;
    universal.next_on(&confirmation).await;

    // The endpoint speaks for a device (UNI-1): telemetry and status to the collector, its
    // command answer to the cameras' connection.
    universal
        .publish(
            Topic::telemetry("UNI-1"),
            TelemetryBatch {
                seq: 1,
                readings: vec![],
            }
            .to_json(),
            false,
        )
        .await;
    collector.next_on(&Topic::telemetry("UNI-1")).await;
    universal
        .publish(Topic::status("UNI-1"), online(), false)
        .await;
    collector.next_on(&Topic::status("UNI-1")).await;
    universal
        .publish(
            Topic::command_ack("UNI-1"),
            br#"{"id":"u1"}"#.to_vec(),
            false,
        )
        .await;
    video.next_on(&Topic::command_ack("UNI-1")).await;
    for client in [&gateway, &video, &readings, &universal, &collector] {
        assert!(!client.is_dropped(), "{}", b.log());
    }
}

/// Another service's credentials (the analyzer's) asking for the collector's client id get
/// the analyzer's own instead: the collector keeps its connection and its persistent session
/// (subscriptions and queued messages), and goes on storing and confirming readings.
async fn a_services_credentials_cannot_take_another_services_session(kind: Kind) {
    let b = Brokered::start(kind).await;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    start_collector(&b, &shutdown).await;
    let mut gateway = b.gateway("GW-A", None).await;

    let victim = CollectorConfig::default().client_id;
    let mut intruder = connect(
        b.services_port(),
        &victim,
        Some((ANALYZER, b.password(ANALYZER))),
        &[],
        None,
    )
    .await
    .expect("the analyzer's credentials are valid");
    assert!(
        !intruder.session_present,
        "the analyzer's credentials took the collector's session\n{}",
        b.log()
    );

    // The collector still has GW-A's telemetry: stored and confirmed, none of it to the
    // intruder, and nobody fought over the client id (the intruder was not dropped by a
    // collector taking its session back).
    let batch = one_reading(11, 3.0);
    gateway
        .publish(Topic::telemetry("GW-A"), batch.to_json(), false)
        .await;
    b.wait_for_readings(1, "GW-A's reading stored by the collector")
        .await;
    gateway.next_on(&Topic::telemetry_ack("GW-A")).await;
    let got = intruder.received_now();
    assert_eq!(
        got.iter().map(|p| p.topic.clone()).collect::<Vec<_>>(),
        Vec::<String>::new(),
        "the intruder got the collector's messages"
    );
    assert!(
        !intruder.is_dropped(),
        "the collector and the intruder fought over the client id\n{}",
        b.log()
    );
}

#[test]
fn the_shipped_acl_has_a_block_for_every_services_connection_and_no_other() {
    let acl = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/mosquitto.acl"
    ))
    .unwrap();
    let mut in_acl: Vec<&str> = acl
        .lines()
        .filter_map(|l| l.strip_prefix("user "))
        .map(str::trim)
        .collect();
    let mut users: Vec<String> = geohazard::broker::service_users()
        .into_iter()
        .map(|(_, u)| u)
        .collect();
    in_acl.sort();
    users.sort();
    assert_eq!(in_acl, users);
}
