//! The universal-type (普适型) endpoint end to end: a real Mosquitto, a real PostgreSQL, the real
//! collector, and devices speaking the platform protocol over a real MQTT client (rumqttc).

use std::net::SocketAddr;
use std::time::Duration;

use geohazard_bus::Bus;
use geohazard_collector::CollectorConfig;
use geohazard_e2e::{
    RunningCollector, WAIT, count, minutes_ago, register_gateway, subscriber, wait_for_count,
};
use geohazard_protocol::{CommandAck, CommandEnvelope as Command, Topic};
use geohazard_store::Store;
use geohazard_store::registry::{self, NewSensor};
use geohazard_testkit::{Broker, TestDb};
use geohazard_universal::{UniversalConfig, UniversalEndpoint, encode_frame, sensors_for};
use rumqttc::mqttbytes::v4;
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const KEY: &str = "k3y-of-UNI-001";
const OTHER_KEY: &str = "k3y-of-UNI-002";

struct Env {
    broker: Broker,
    _db: TestDb,
    store: Store,
    collector: RunningCollector,
    endpoint: SocketAddr,
    shutdown: CancellationToken,
}

/// Registers a universal-type device with its key and one sensor per channel of `identifiers`.
async fn register_device(store: &Store, code: &str, key: &str, identifiers: &[&str]) {
    let gw = register_gateway(store, code, &[]).await;
    let site: i64 = sqlx::query_scalar("SELECT site_id FROM gateways WHERE id = $1")
        .bind(gw)
        .fetch_one(&store.pool)
        .await
        .unwrap();
    registry::upsert_gateway(&store.pool, code, Some(site), code, Some(key))
        .await
        .unwrap();
    for identifier in identifiers {
        for (channel, kind, unit) in sensors_for(identifier).unwrap() {
            registry::upsert_sensor(
                &store.pool,
                &NewSensor {
                    gateway_id: gw,
                    channel: &channel,
                    site_id: site,
                    kind,
                    unit,
                    location: None,
                    elevation_m: None,
                    depth_m: None,
                    sampling_interval_s: 600,
                },
            )
            .await
            .unwrap();
        }
    }
}

async fn setup(command_timeout_secs: u64) -> Env {
    let broker = Broker::start().await;
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    let identifiers = ["L1_LF_1", "L1_GP_1", "L1_QJ_1", "L3_YL_1"];
    register_device(&store, "UNI-001", KEY, &identifiers).await;
    register_device(&store, "UNI-002", OTHER_KEY, &identifiers).await;
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    let config = UniversalConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        client_id: "universal-under-test".into(),
        command_timeout_secs,
        ..UniversalConfig::default()
    };
    let endpoint = UniversalEndpoint::bind(config, &broker.url(), store.clone())
        .await
        .unwrap();
    let addr = endpoint.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(endpoint.run(shutdown.clone()));
    Env {
        broker,
        _db: db,
        store,
        collector,
        endpoint: addr,
        shutdown,
    }
}

impl Env {
    async fn stop(self) {
        self.shutdown.cancel();
        self.collector.stop().await;
    }
}

/// A universal-type device: a plain rumqttc client with the device id as client id and its key
/// as password, as it would connect to the platform.
struct Device {
    client: AsyncClient,
    packets: mpsc::UnboundedReceiver<Packet>,
    task: tokio::task::JoinHandle<()>,
}

impl Device {
    async fn connect(addr: SocketAddr, id: &str, key: &str) -> Result<Device, ConnectionError> {
        let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        options
            .set_credentials("platform-product-id", key)
            .set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        loop {
            match eventloop.poll().await? {
                Event::Incoming(Packet::ConnAck(_)) => break,
                _ => continue,
            }
        }
        let (tx, packets) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                if let Event::Incoming(p) = event
                    && tx.send(p).is_err()
                {
                    return;
                }
            }
        });
        Ok(Device {
            client,
            packets,
            task,
        })
    }

    async fn publish(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    async fn frame(&self, kind: u8, json: &str) {
        self.publish("$dp", encode_frame(kind, json.as_bytes()))
            .await;
    }

    /// A type-2 frame with one crack reading, keyed by `owner` (normally the device itself).
    async fn crack(&self, owner: &str, ts: &str, value: f64) {
        self.frame(
            2,
            &format!(r#"{{"{owner}":{{"L1_LF_1":{{"{ts}":{value}}}}}}}"#),
        )
        .await;
    }

    /// Waits for the endpoint's next PUBACK.
    async fn puback(&mut self) {
        self.next(|p| matches!(p, Packet::PubAck(_)).then_some(()))
            .await
    }

    /// The next packet from the endpoint that `pick` accepts.
    async fn next<T>(&mut self, mut pick: impl FnMut(Packet) -> Option<T>) -> T {
        tokio::time::timeout(WAIT, async {
            loop {
                let p = self.packets.recv().await.expect("the connection is up");
                if let Some(t) = pick(p) {
                    return t;
                }
            }
        })
        .await
        .expect("the endpoint sent the expected packet in time")
    }

    /// Vanishes without DISCONNECT, as a device losing power does.
    fn cut(self) {
        self.task.abort();
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

async fn value_of(store: &Store, channel: &str) -> f64 {
    sqlx::query_scalar(
        "SELECT r.value FROM readings r JOIN sensors s ON s.id = r.sensor_id
         JOIN gateways g ON g.id = s.gateway_id WHERE s.channel = $1 AND g.code = 'UNI-001'",
    )
    .bind(channel)
    .fetch_one(&store.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_type_2_frame_is_acknowledged_and_stored_as_one_reading_per_identifier_and_field() {
    let env = setup(60).await;
    let mut device = Device::connect(env.endpoint, "UNI-001", KEY).await.unwrap();
    let t = minutes_ago(10);
    let ts = iso(t);
    let json = format!(
        r#"{{"UNI-001":{{
            "L1_LF_1":{{"{ts}":12.53}},
            "L1_GP_1":{{"{ts}":{{"gpsTotalX":1.5,"gpsTotalY":-2.25,"gpsTotalZ":0.75}}}},
            "L1_QJ_1":{{"{ts}":{{"X":0.12,"Y":-0.3,"Z":89.9,"angle":0.32,"AZI":145.0}}}},
            "L3_YL_1":{{"{ts}":0.5}}}}}}"#
    );
    device.frame(2, &json).await;
    // PUBACK comes only once our broker has the translated message.
    device.puback().await;
    wait_for_count(&env.store, "SELECT count(*) FROM readings", 10).await;
    assert_eq!(value_of(&env.store, "L1_LF_1").await, 12.53);
    assert_eq!(value_of(&env.store, "L1_GP_1.gpsTotalY").await, -2.25);
    assert_eq!(value_of(&env.store, "L1_QJ_1.AZI").await, 145.0);
    assert_eq!(value_of(&env.store, "L3_YL_1").await, 0.5);
    let stored_ts: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT min(ts) FROM readings")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(stored_ts.timestamp_millis(), t);
    assert_eq!(
        count(&env.store, "SELECT count(*) FROM quarantine").await,
        0
    );
    env.stop().await;
}

#[tokio::test]
async fn a_frame_is_not_acknowledged_to_the_device_while_our_broker_is_down() {
    let mut env = setup(60).await;
    let mut device = Device::connect(env.endpoint, "UNI-001", KEY).await.unwrap();
    env.broker.stop().await;
    let ts = iso(minutes_ago(5));
    device.crack("UNI-001", &ts, 7.25).await;
    let early = tokio::time::timeout(Duration::from_millis(1500), device.puback()).await;
    assert!(early.is_err(), "PUBACK before our broker had the message");
    env.broker.restart().await;
    device.puback().await;
    wait_for_count(&env.store, "SELECT count(*) FROM readings", 1).await;
    assert_eq!(value_of(&env.store, "L1_LF_1").await, 7.25);
    env.stop().await;
}

#[tokio::test]
async fn a_type_1_status_reaches_the_gateways_table_and_a_dropped_link_marks_it_offline() {
    let env = setup(60).await;
    let device = Device::connect(env.endpoint, "UNI-001", KEY).await.unwrap();
    device
        .frame(
            1,
            r#"{"S1_ZT_1":{"ext_power_volt":12.3,"solar_volt":18.1,"battery_dump_energy":87,
                "temp":21.5,"signal_4G":-71,"sw_version":"V2.1.0","sensor_state":{"L1_LF_1":0}}}"#,
        )
        .await;
    wait_for_count(
        &env.store,
        "SELECT count(*) FROM gateways WHERE code = 'UNI-001' AND online
           AND firmware_version = 'V2.1.0' AND (last_status->>'supply_v')::float8 = 12.3
           AND (last_status->>'battery_pct')::float8 = 87 AND (last_status->>'signal_dbm')::float8 = -71",
        1,
    )
    .await;
    device.cut();
    wait_for_count(
        &env.store,
        "SELECT count(*) FROM gateways WHERE code = 'UNI-001' AND NOT online AND firmware_version = 'V2.1.0'",
        1,
    )
    .await;
    env.stop().await;
}

#[tokio::test]
async fn a_wrong_key_or_an_unknown_device_is_refused_at_connect() {
    let env = setup(60).await;
    for (id, key) in [
        ("UNI-001", "not-the-key"),
        ("UNI-001", OTHER_KEY),
        ("UNI-404", KEY),
    ] {
        match Device::connect(env.endpoint, id, key).await {
            Err(ConnectionError::ConnectionRefused(code)) => {
                assert_eq!(
                    code,
                    rumqttc::ConnectReturnCode::BadUserNamePassword,
                    "{id}"
                )
            }
            Err(other) => panic!("{id}: expected a refusal, got {other}"),
            Ok(_) => panic!("{id} with key {key} was let in"),
        }
    }
    // The right key still works afterwards.
    Device::connect(env.endpoint, "UNI-001", KEY).await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn malformed_frames_are_quarantined_with_a_reason_and_no_device_is_disconnected() {
    let env = setup(60).await;
    let mut bad = Device::connect(env.endpoint, "UNI-001", KEY).await.unwrap();
    let mut good = Device::connect(env.endpoint, "UNI-002", OTHER_KEY)
        .await
        .unwrap();
    let mut wrong_length = encode_frame(2, br#"{"UNI-001":{}}"#);
    wrong_length[2] += 7;
    bad.publish("$dp", wrong_length).await;
    bad.frame(2, r#"{"UNI-001":{"L1_LF_1":"#).await;
    bad.frame(9, "{}").await;
    bad.frame(3, r#"{"file":"photo.jpg"}"#).await;
    bad.publish("$dp", vec![2]).await;
    for _ in 0..5 {
        bad.puback().await;
    }
    wait_for_count(&env.store, "SELECT count(*) FROM quarantine", 5).await;
    let rows: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT reason, detail, topic, gateway_code FROM quarantine ORDER BY id")
            .fetch_all(&env.store.pool)
            .await
            .unwrap();
    let reasons: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "malformed_frame",
            "malformed_json",
            "unknown_frame_type",
            "unsupported_frame_type",
            "malformed_frame"
        ]
    );
    assert!(rows[0].1.contains("declares"), "{}", rows[0].1);
    assert!(rows.iter().all(|r| r.2 == "$dp" && r.3 == "UNI-001"));

    // Both devices carry on: the other one, and the one that sent garbage.
    let ts = iso(minutes_ago(5));
    good.crack("UNI-002", &ts, 3.5).await;
    bad.crack("UNI-001", &ts, 4.5).await;
    good.puback().await;
    wait_for_count(&env.store, "SELECT count(*) FROM readings", 2).await;
    assert_eq!(value_of(&env.store, "L1_LF_1").await, 4.5);
    env.stop().await;
}

#[tokio::test]
async fn a_type_2_frame_keyed_by_another_device_is_refused_and_stores_nothing() {
    let env = setup(60).await;
    let mut device = Device::connect(env.endpoint, "UNI-001", KEY).await.unwrap();
    let ts = iso(minutes_ago(5));
    device.crack("UNI-002", &ts, 99.0).await;
    device.puback().await;
    wait_for_count(
        &env.store,
        "SELECT count(*) FROM quarantine WHERE reason = 'foreign_device' AND gateway_code = 'UNI-001'
           AND detail LIKE '%UNI-002%'",
        1,
    )
    .await;
    // A correct frame after it is stored, which shows the refused one had its turn first.
    device.crack("UNI-001", &ts, 1.0).await;
    wait_for_count(&env.store, "SELECT count(*) FROM readings", 1).await;
    assert_eq!(
        count(
            &env.store,
            "SELECT count(*) FROM readings r JOIN sensors s ON s.id = r.sensor_id
             JOIN gateways g ON g.id = s.gateway_id WHERE g.code = 'UNI-002'"
        )
        .await,
        0
    );
    env.stop().await;
}

/// The command center's side: publishes commands and reads their acks on our broker.
async fn command_center(broker: &Broker, device: &str) -> Bus {
    subscriber(
        &broker.url(),
        "command-center-under-test",
        Topic::command_ack(device),
    )
    .await
}

async fn send_command(bus: &Bus, device: &str, command: &Command) {
    bus.client()
        .publish(
            Topic::command(device),
            QoS::AtLeastOnce,
            false,
            command.to_json(),
        )
        .await
        .unwrap();
}

async fn next_ack(bus: &mut Bus) -> CommandAck {
    let delivery = tokio::time::timeout(WAIT, bus.recv())
        .await
        .expect("an ack in time")
        .expect("the bus is up");
    serde_json::from_slice(delivery.payload()).unwrap()
}

#[tokio::test]
async fn a_command_reaches_the_device_as_creq_and_its_dr_reply_comes_back_as_an_ack() {
    let env = setup(60).await;
    let mut center = command_center(&env.broker, "UNI-001").await;
    let mut device = Device::connect(env.endpoint, "UNI-001", KEY).await.unwrap();
    device
        .client
        .subscribe("$creq/#", QoS::AtMostOnce)
        .await
        .unwrap();
    send_command(
        &center,
        "UNI-001",
        &Command {
            id: "c-1".into(),
            name: "set_interval".into(),
            args: serde_json::json!({"interval_s": 60, "channel": "L1_LF_1"}),
        },
    )
    .await;
    let (topic, body) = device
        .next(|p| match p {
            Packet::Publish(p) => Some((p.topic.clone(), p.payload.to_vec())),
            _ => None,
        })
        .await;
    let msgid = topic
        .strip_prefix("$creq/UNI-001/")
        .unwrap_or_else(|| panic!("unexpected topic {topic}"))
        .to_owned();
    assert!(!msgid.is_empty());
    assert_eq!(body, b"$cmd=setSampleInterval&interval=60&monitor=L1_LF_1");
    let reply = serde_json::json!({"msgid": msgid, "code": 0, "interval": 60});
    device
        .publish("$dr", serde_json::to_vec(&reply).unwrap())
        .await;
    let ack = next_ack(&mut center).await;
    assert_eq!(
        ack,
        CommandAck::success("c-1", serde_json::json!({"interval": 60}))
    );

    // A command the device has no equivalent for is answered with an error, never silence.
    send_command(
        &center,
        "UNI-001",
        &Command {
            id: "c-2".into(),
            name: "live_view".into(),
            args: serde_json::json!({"camera": "cam1", "action": "start"}),
        },
    )
    .await;
    let ack = next_ack(&mut center).await;
    assert_eq!(ack.id, "c-2");
    assert!(!ack.ok);
    assert!(
        ack.error
            .as_deref()
            .unwrap()
            .contains("unknown command `live_view`"),
        "{ack:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_command_the_device_never_answers_gets_an_error_ack_after_the_timeout() {
    let env = setup(1).await;
    let mut center = command_center(&env.broker, "UNI-001").await;
    let mut device = Device::connect(env.endpoint, "UNI-001", KEY).await.unwrap();
    send_command(
        &center,
        "UNI-001",
        &Command {
            id: "c-9".into(),
            name: "reboot".into(),
            args: serde_json::Value::Null,
        },
    )
    .await;
    let body = device
        .next(|p| match p {
            Packet::Publish(p) => Some(p.payload.to_vec()),
            _ => None,
        })
        .await;
    assert_eq!(body, b"$cmd=reboot");
    let ack = next_ack(&mut center).await;
    assert_eq!(ack.id, "c-9");
    assert!(ack.error.unwrap().contains("did not answer"));
    env.stop().await;
}

/// A raw TCP connection speaking MQTT through rumqttc's codec, for what a well-behaved client
/// library would never send.
struct Raw {
    stream: tokio::net::TcpStream,
    buf: bytes::BytesMut,
}

impl Raw {
    async fn open(addr: SocketAddr) -> Raw {
        Raw {
            stream: tokio::net::TcpStream::connect(addr).await.unwrap(),
            buf: bytes::BytesMut::new(),
        }
    }

    async fn send(&mut self, packet: v4::Packet) {
        use tokio::io::AsyncWriteExt;
        let mut out = bytes::BytesMut::new();
        packet.write(&mut out, 1 << 20).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next packet, or `None` once the endpoint closed the connection.
    async fn recv(&mut self) -> Option<v4::Packet> {
        use tokio::io::AsyncReadExt;
        loop {
            match v4::Packet::read(&mut self.buf, 1 << 20) {
                Ok(p) => return Some(p),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("the endpoint sent something unreadable: {e}"),
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}

#[tokio::test]
async fn garbage_on_the_wire_closes_only_that_connection_and_a_silent_device_is_dropped_offline() {
    let env = setup(60).await;
    // Not MQTT at all: that connection is closed, nothing else notices.
    let mut garbage = Raw::open(env.endpoint).await;
    {
        use tokio::io::AsyncWriteExt;
        garbage
            .stream
            .write_all(b"\x10\xff\xff\xff\xff\xffGET / HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
    }
    assert_eq!(
        tokio::time::timeout(WAIT, garbage.recv()).await.unwrap(),
        None
    );

    // A device with a 1 s keep-alive that goes quiet after its status.
    let mut quiet = Raw::open(env.endpoint).await;
    let mut connect = v4::Connect::new("UNI-001");
    connect.keep_alive = 1;
    connect.set_login("platform-product-id", KEY);
    quiet.send(v4::Packet::Connect(connect)).await;
    match quiet.recv().await {
        Some(v4::Packet::ConnAck(ack)) => {
            assert_eq!(ack.code, v4::ConnectReturnCode::Success)
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let mut status = v4::Publish::new(
        "$dp",
        QoS::AtLeastOnce,
        encode_frame(
            1,
            br#"{"S1_ZT_1":{"sw_version":"V3.0.1","ext_power_volt":11.9}}"#,
        ),
    );
    status.pkid = 7;
    quiet.send(v4::Packet::Publish(status)).await;
    // The endpoint's keep-alive clock runs from the last packet it received: this one.
    let silent_since = tokio::time::Instant::now();
    assert_eq!(
        quiet.recv().await,
        Some(v4::Packet::PubAck(v4::PubAck::new(7)))
    );
    wait_for_count(
        &env.store,
        "SELECT count(*) FROM gateways WHERE code = 'UNI-001' AND online AND firmware_version = 'V3.0.1'",
        1,
    )
    .await;
    assert_eq!(
        tokio::time::timeout(WAIT, quiet.recv()).await.unwrap(),
        None
    );
    let waited = silent_since.elapsed();
    // Never before 1.5 × keep-alive; the upper bound only catches "never dropped" on a busy
    // machine.
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(10),
        "dropped after {waited:?}; 1.5 × keep-alive is 1.5 s"
    );
    wait_for_count(
        &env.store,
        "SELECT count(*) FROM gateways WHERE code = 'UNI-001' AND NOT online AND firmware_version = 'V3.0.1'",
        1,
    )
    .await;

    // The endpoint still serves everyone else.
    let mut device = Device::connect(env.endpoint, "UNI-002", OTHER_KEY)
        .await
        .unwrap();
    let ts = iso(minutes_ago(1));
    device.crack("UNI-002", &ts, 2.0).await;
    device.puback().await;
    env.stop().await;
}

#[tokio::test]
async fn two_devices_sending_the_same_bad_frame_each_get_their_own_quarantine_row() {
    let env = setup(60).await;
    let mut one = Device::connect(env.endpoint, "UNI-001", KEY).await.unwrap();
    let mut two = Device::connect(env.endpoint, "UNI-002", OTHER_KEY)
        .await
        .unwrap();
    // Both publish on `$dp`, so topic, reason and bytes are the same: only the device differs.
    let frame = encode_frame(9, b"{}");
    one.publish("$dp", frame.clone()).await;
    one.puback().await;
    two.publish("$dp", frame.clone()).await;
    two.puback().await;
    one.publish("$dp", frame).await;
    one.puback().await;
    wait_for_count(
        &env.store,
        "SELECT count(*) FROM quarantine WHERE gateway_code = 'UNI-002' AND repeats = 1",
        1,
    )
    .await;
    let rows: Vec<(String, i32)> =
        sqlx::query_as("SELECT gateway_code, repeats FROM quarantine ORDER BY gateway_code")
            .fetch_all(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(rows, [("UNI-001".to_owned(), 2), ("UNI-002".to_owned(), 1)]);
    env.stop().await;
}

#[tokio::test]
async fn a_command_to_a_device_that_is_not_connected_gets_an_error_ack_at_once() {
    let env = setup(60).await;
    let mut center = command_center(&env.broker, "UNI-001").await;
    let reboot = |id: &str| Command {
        id: id.into(),
        name: "reboot".into(),
        args: serde_json::Value::Null,
    };
    // A battery logger: connects, uploads, disconnects cleanly.
    let mut device = Device::connect(env.endpoint, "UNI-001", KEY).await.unwrap();
    device.crack("UNI-001", &iso(minutes_ago(5)), 1.0).await;
    device.puback().await;
    device.client.disconnect().await.unwrap();
    let _ = tokio::time::timeout(WAIT, device.task).await;
    send_command(&center, "UNI-001", &reboot("c-gone")).await;
    let ack = next_ack(&mut center).await;
    assert_eq!(ack.id, "c-gone");
    assert!(!ack.ok);
    // "not connected", or (if the command overtook the DISCONNECT) "disconnected before
    // answering": an error either way, never silence.
    assert!(ack.error.unwrap().contains("connected"));

    // After the endpoint restarts, it still answers for the device it served.
    env.shutdown.cancel();
    let config = UniversalConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        client_id: "universal-under-test".into(),
        ..UniversalConfig::default()
    };
    let restarted = UniversalEndpoint::bind(config, &env.broker.url(), env.store.clone())
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(restarted.run(shutdown.clone()));
    send_command(&center, "UNI-001", &reboot("c-after-restart")).await;
    let ack = next_ack(&mut center).await;
    assert_eq!(ack.id, "c-after-restart");
    assert!(
        ack.error.unwrap().contains("not connected"),
        "at once, not after a timeout"
    );
    shutdown.cancel();
    env.stop().await;
}

#[tokio::test]
async fn a_frame_is_acknowledged_to_the_device_only_once_the_collector_has_committed_it() {
    let Env {
        broker,
        _db,
        store,
        collector,
        endpoint,
        shutdown,
    } = setup(60).await;
    // The collector is away: our broker takes the frame, nothing commits it.
    collector.stop().await;
    let mut device = Device::connect(endpoint, "UNI-001", KEY).await.unwrap();
    device.crack("UNI-001", &iso(minutes_ago(5)), 4.75).await;
    let early = tokio::time::timeout(Duration::from_secs(3), device.puback()).await;
    assert!(
        early.is_err(),
        "PUBACK while only our broker had the frame (a broker crash now would lose it)"
    );
    // The collector is back: it stores the frame, confirms it, and only then the device hears.
    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;
    device.puback().await;
    assert_eq!(
        count(&store, "SELECT count(*) FROM readings").await,
        1,
        "stored before the PUBACK"
    );
    assert_eq!(value_of(&store, "L1_LF_1").await, 4.75);
    shutdown.cancel();
    collector.stop().await;
}
