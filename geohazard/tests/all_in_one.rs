//! The all-in-one binary as a newcomer runs it: it starts its embedded broker, migrates the
//! database, registers the demo sites, and readings from the simulated gateways arrive, with the
//! collector's metrics served over HTTP, and the demo officer signs in to the command-center.

mod common;

use std::process::Stdio;
use std::time::Duration;

use futures::SinkExt;
use geohazard_testkit::api::{Api, next_json};
use geohazard_testkit::{TestDb, eventually, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite;

async fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await.ok()?;
    Some(body)
}

/// A fresh database with gateway `code` registered (without a key).
async fn with_gateway(code: &str) -> (TestDb, geohazard_store::Store) {
    let db = TestDb::create().await;
    let store = geohazard_store::Store::connect(&db.url, 2).await.unwrap();
    geohazard_store::registry::upsert_gateway(&store.pool, code, None, "test", None)
        .await
        .unwrap();
    (db, store)
}

/// Connects to the embedded broker and leaves; Err when it refuses.
async fn mqtt_connect(
    port: u16,
    client_id: &str,
    login: Option<(&str, &str)>,
) -> anyhow::Result<()> {
    let client = common::connect(port, client_id, login, &[], None).await?;
    client.disconnect();
    Ok(())
}

#[tokio::test]
async fn the_all_in_one_brings_up_the_demo_and_readings_flow_into_the_store() {
    let db = TestDb::create().await;
    let (broker_port, metrics_port, universal_port, api_port) =
        (free_port(), free_port(), free_port(), free_port());
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_geohazard"))
        .arg("run")
        .env("GEOHAZARD_DATA_DIR", data_dir.path())
        .env("DATABASE_URL", &db.url)
        .env_remove("MQTT_URL")
        .env("GEOHAZARD_EMBEDDED_BROKER__PORT", broker_port.to_string())
        .env(
            "GEOHAZARD_COLLECTOR__METRICS_ADDR",
            format!("127.0.0.1:{metrics_port}"),
        )
        .env("GEOHAZARD_DEMO__INTERVAL_SECS", "1")
        .env(
            "GEOHAZARD_COLLECTOR__UNIVERSAL__LISTEN",
            format!("127.0.0.1:{universal_port}"),
        )
        .env(
            "GEOHAZARD_COMMAND_CENTER__LISTEN",
            format!("127.0.0.1:{api_port}"),
        )
        .env("GEOHAZARD_EMBEDDED_MEDIA__PORT", free_port().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the geohazard binary starts");

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let (readings, gateways) = eventually(
        Duration::from_secs(60),
        "demo readings in the store",
        || async {
            let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT (SELECT count(*) FROM readings), (SELECT count(*) FROM gateways WHERE online)",
        )
        .fetch_one(&pool)
        .await
        .ok();
            row.filter(|(r, g)| *r >= 50 && *g == 4)
        },
    )
    .await;
    assert!(readings >= 50 && gateways == 4);
    let sites: i64 = sqlx::query_scalar("SELECT count(*) FROM hazard_sites")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sites, 4);
    let quarantined: i64 = sqlx::query_scalar("SELECT count(*) FROM quarantine")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        quarantined, 0,
        "the simulated gateways send only valid data"
    );

    let metrics = eventually(Duration::from_secs(10), "the metrics endpoint", || {
        http_get(metrics_port, "/metrics")
    })
    .await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("geohazard_collector_readings_total{outcome=\"stored\"}"),
        "{metrics}"
    );

    // The all-in-one's broker lets in only the services and registered gateways with their own
    // key: no anonymous client, no wrong key. A key issued while it runs, as the README says,
    // works at once (the command tells the broker to reload). (The demo gateways above are
    // online with theirs; tests/shipped_broker.rs checks its confinement.)
    let gateway = "gw-newcomer".to_owned();
    {
        let store = geohazard_store::Store::connect(&db.url, 1).await.unwrap();
        geohazard_store::registry::upsert_gateway(&store.pool, &gateway, None, "test", None)
            .await
            .unwrap();
    }
    let key = common::all_in_one_gateway_key(&db.url, &gateway, data_dir.path()).await;
    for (client_id, login) in [
        ("anyone", None),
        (gateway.as_str(), Some((gateway.as_str(), "wrong key"))),
    ] {
        let outcome = mqtt_connect(broker_port, client_id, login).await;
        assert!(outcome.is_err(), "{client_id} {login:?} was let in");
    }
    eventually(
        Duration::from_secs(10),
        "the new gateway's key works",
        || async {
            mqtt_connect(broker_port, &gateway, Some((&gateway, &key)))
                .await
                .ok()
        },
    )
    .await;

    // The endpoint for universal-type (普适型) devices listens when configured.
    geohazard_testkit::wait_for_port(universal_port, Duration::from_secs(10))
        .await
        .expect("the universal-type endpoint listens");

    // The demo officer's generated password is in the data folder, readable by its owner only,
    // and signs in to the API, which lists the demo sites.
    let credentials = data_dir.path().join("demo-officer.txt");
    let text = std::fs::read_to_string(&credentials).expect("the demo officer's credentials");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&credentials).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the credentials file is private");
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a password line");
    let api = format!("http://127.0.0.1:{api_port}/api/v1");
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{api}/login"))
        .json(&serde_json::json!({"username": "duty", "password": password}))
        .send()
        .await
        .expect("the API answers")
        .error_for_status()
        .expect("the demo officer signs in")
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("a session token");
    let sites: serde_json::Value = http
        .get(format!("{api}/sites"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sites.as_array().map(Vec::len), Some(4), "{sites}");
    let anonymous = http.get(format!("{api}/sites")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // The all-in-one started Janus for consultation rooms: a room's participant joins its video
    // room (Janus made it with the admin key the all-in-one gave the command-center).
    let center = Api::new(([127, 0, 0, 1], api_port).into());
    let (status, room) = center
        .post(
            token,
            "/consult/rooms",
            serde_json::json!({"title": "高县滑坡会商", "invited_divisions": []}),
        )
        .await;
    assert_eq!(status, 201, "{room}");
    let (mut ws, _) = tokio_tungstenite::connect_async(
        center.ws_request(&format!("/consult/rooms/{}/socket", room["id"]), token),
    )
    .await
    .expect("the room's socket");
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["media"], true, "{welcome}");
    ws.send(tungstenite::Message::Text(
        serde_json::json!({"type": "media.join"}).to_string().into(),
    ))
    .await
    .unwrap();
    let joined = loop {
        let m = next_json(&mut ws).await;
        if m["type"] != "event" {
            break m;
        }
    };
    assert_eq!(joined["type"], "media.joined", "{joined}");
    drop(ws);

    // Ctrl-C / SIGTERM: a clean stop.
    let status = geohazard_testkit::terminate(&mut child, Duration::from_secs(20))
        .await
        .expect("it stops");
    assert!(status.success(), "{status}");
    pool.close().await;
}

#[tokio::test]
async fn a_gateway_key_is_issued_once_stored_as_argon2_and_added_to_the_mosquitto_password_file() {
    let (db, store) = with_gateway("gw-key-test").await;
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let key = common::gateway_key(&db.url, "gw-key-test", &passwd, &[]).await;
    assert_eq!(key.len(), 24);
    assert!(
        geohazard_store::registry::verify_gateway_password(&store.pool, "gw-key-test", &key)
            .await
            .unwrap()
    );
    let file = std::fs::read_to_string(&passwd).unwrap();
    assert!(
        file.starts_with("gw-key-test:$7$"),
        "a Mosquitto PBKDF2 hash: {file}"
    );
    assert!(!file.contains(&key), "the key itself is never written");

    let unknown = tokio::process::Command::new(env!("CARGO_BIN_EXE_geohazard"))
        .args(["gateway-key", "nobody"])
        .env("DATABASE_URL", &db.url)
        .output()
        .await
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no gateway `nobody` is registered"));
    store.pool.close().await;
}

#[tokio::test]
async fn run_logs_the_database_and_broker_urls_without_their_passwords() {
    use tokio::io::AsyncBufReadExt;
    const SECRET: &str = "Pa55-w0rd-never-logged";
    let db = TestDb::create().await;
    let broker = geohazard_testkit::Broker::start().await;
    // The local server trusts loopback and the test broker is anonymous: the passwords are
    // ignored there, but they are in the URLs exactly as an operator would write them.
    let db_url = db
        .url
        .replacen("://postgres@", &format!("://postgres:{SECRET}@"), 1);
    assert!(db_url.contains(SECRET), "{db_url}");
    let mqtt_url = format!("mqtt://geohazard:{SECRET}@127.0.0.1:{}", broker.port());
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_geohazard"))
        .arg("run")
        .env("GEOHAZARD_DATA_DIR", data_dir.path())
        .env("DATABASE_URL", &db_url)
        .env("MQTT_URL", &mqtt_url)
        .env("GEOHAZARD_DEMO__ENABLED", "false")
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .env(
            "GEOHAZARD_COLLECTOR__METRICS_ADDR",
            format!("127.0.0.1:{}", free_port()),
        )
        .env(
            "GEOHAZARD_COMMAND_CENTER__LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the geohazard binary starts");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            log.push_str(&line);
            log.push('\n');
            if line.contains("geohazard is running") {
                return;
            }
        }
        panic!("geohazard stopped before it was running:\n{log}");
    })
    .await
    .unwrap_or_else(|_| panic!("geohazard did not start in time"));
    let running = log.lines().last().unwrap().to_owned();
    assert!(
        running.contains(&format!("geohazard:***@127.0.0.1:{}", broker.port())),
        "{running}"
    );
    assert!(running.contains("postgres:***@127.0.0.1"), "{running}");
    assert!(!log.contains(SECRET), "a password reached the log:\n{log}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn gateway_key_never_puts_the_key_on_mosquitto_passwds_command_line() {
    let (db, store) = with_gateway("gw-ps-test").await;
    // A mosquitto_passwd ahead on PATH that records its arguments (what `ps` shows) and then
    // runs the real one.
    let dir = tempfile::tempdir().unwrap();
    let argv_log = dir.path().join("argv.log");
    let real = ["/usr/bin/mosquitto_passwd", "/usr/sbin/mosquitto_passwd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("mosquitto_passwd is installed (deploy/install-deps.sh)");
    let wrapper = dir.path().join("mosquitto_passwd");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec {real} \"$@\"\n",
            argv_log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let passwd = dir.path().join("passwd");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let key = common::gateway_key(&db.url, "gw-ps-test", &passwd, &[("PATH", &path)]).await;
    assert_eq!(key.len(), 24, "only the key is printed: {key}");
    let argv = std::fs::read_to_string(&argv_log).expect("mosquitto_passwd ran");
    assert!(argv.contains("gw-ps-test"), "{argv}");
    assert!(
        !argv.contains(&key),
        "the key was on the command line: {argv}"
    );
    let file = std::fs::read_to_string(&passwd).unwrap();
    assert!(file.starts_with("gw-ps-test:$7$"), "{file}");
    store.pool.close().await;
}
