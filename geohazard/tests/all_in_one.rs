//! The all-in-one binary as a newcomer runs it: it starts its embedded broker, migrates the
//! database, registers the demo sites, and readings from the simulated gateways arrive, with the
//! collector's metrics served over HTTP, and the demo officer signs in to the command-center.

use std::process::Stdio;
use std::time::Duration;

use geohazard_testkit::{TestDb, eventually, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    // Ctrl-C / SIGTERM: a clean stop.
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("it stops")
        .unwrap();
    assert!(status.success(), "{status}");
    pool.close().await;
}

#[tokio::test]
async fn a_gateway_key_is_issued_once_stored_as_argon2_and_added_to_the_mosquitto_password_file() {
    let db = TestDb::create().await;
    let store = geohazard_store::Store::connect(&db.url, 2).await.unwrap();
    geohazard_store::registry::upsert_gateway(&store.pool, "gw-key-test", None, "test", None)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_geohazard"))
        .args(["gateway-key", "gw-key-test", "--mosquitto-passwd"])
        .arg(&passwd)
        .env("DATABASE_URL", &db.url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
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
