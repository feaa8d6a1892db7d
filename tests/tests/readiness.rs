//! Every service answers `/healthz` while it runs and `/readyz` only while it can do its work:
//! 503 while its database refuses connections, 200 once it takes them again. Real PostgreSQL
//! (the database locked with `ALLOW_CONNECTIONS false` and its sessions ended), real Mosquitto.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use geohazard_analyzer::AnalyzerConfig;
use geohazard_bus::BusConfig;
use geohazard_collector::CollectorConfig;
use geohazard_e2e::allow_connections;
use geohazard_testkit::api::{Api, StatusCode};
use geohazard_testkit::{World, eventually, free_port};

const WAIT: Duration = Duration::from_secs(30);

async fn get(addr: SocketAddr, path: &str) -> Option<(StatusCode, String)> {
    let r = Api::new(addr)
        .http
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .ok()?;
    let status = r.status();
    Some((status, r.text().await.unwrap_or_default()))
}

/// Waits until `/readyz` answers `status`; returns its body.
async fn readyz_becomes(addr: SocketAddr, status: StatusCode) -> String {
    eventually(WAIT, &format!("/readyz answering {status}"), || async {
        get(addr, "/readyz")
            .await
            .filter(|(s, _)| *s == status)
            .map(|(_, body)| body)
    })
    .await
}

/// The service at `addr` is ready; not while its database refuses connections (alive all the
/// while); ready again once the database is back.
async fn readiness_follows_the_database(w: &World, addr: SocketAddr, what: &str) {
    readyz_becomes(addr, StatusCode::OK).await;
    allow_connections(&w.db, false).await.unwrap();
    let body = readyz_becomes(addr, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(body.contains("database"), "{what}: {body}");
    assert_eq!(
        get(addr, "/healthz").await.map(|(s, _)| s),
        Some(StatusCode::OK),
        "{what} is alive while not ready"
    );
    allow_connections(&w.db, true).await.unwrap();
    readyz_becomes(addr, StatusCode::OK).await;
    let (status, metrics) = get(addr, "/metrics").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains("geohazard_"),
        "{what} has metrics of its own: {metrics}"
    );
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_is_not_ready_while_its_database_refuses_connections() {
    let w = World::start(4).await;
    let addr = local(free_port());
    let config = CollectorConfig {
        metrics_addr: Some(addr),
        ..Default::default()
    };
    let (url, store, shutdown) = (w.broker.url(), w.store.clone(), w.shutdown.clone());
    tokio::spawn(async move { geohazard_collector::run(config, &url, store, shutdown).await });
    readiness_follows_the_database(&w, addr, "the collector").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analyzer_is_not_ready_while_its_database_refuses_connections() {
    let w = World::start(4).await;
    let addr = local(free_port());
    let mut config = AnalyzerConfig::new(BusConfig::new(w.broker.url(), "analyzer-readiness"));
    config.health_addr = Some(addr);
    tokio::spawn(geohazard_analyzer::run(
        config,
        w.store.clone(),
        w.shutdown.clone(),
    ));
    readiness_follows_the_database(&w, addr, "the analyzer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_universal_endpoint_is_not_ready_while_its_database_refuses_connections() {
    let w = World::start(4).await;
    let addr = local(free_port());
    let config = geohazard_universal::UniversalConfig {
        listen: Some(local(0)),
        health_addr: Some(addr),
        client_id: "universal-readiness".into(),
        ..Default::default()
    };
    let endpoint =
        geohazard_universal::UniversalEndpoint::bind(config, &w.broker.url(), w.store.clone())
            .await
            .unwrap();
    tokio::spawn(endpoint.run(w.shutdown.clone()));
    readiness_follows_the_database(&w, addr, "the universal-type endpoint").await;
    let (_, metrics) = get(addr, "/metrics").await.unwrap();
    for name in [
        "geohazard_universal_connections",
        "geohazard_universal_messages_forwarded",
        "geohazard_universal_messages_quarantined",
    ] {
        assert!(metrics.contains(name), "{name} missing: {metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_center_is_not_ready_while_its_database_refuses_connections() {
    let w = World::start(4).await;
    let (server, _frames) = common::command_center(&w, |_| {}).await;
    readiness_follows_the_database(&w, server.addr, "the command-center").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_is_not_ready_on_a_schema_behind_its_build() {
    let w = World::start(4).await;
    let (server, _frames) = common::command_center(&w, |_| {}).await;
    readyz_becomes(server.addr, StatusCode::OK).await;
    // As if the deploy step had not run this build's last migration yet.
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&w.store.pool)
    .await
    .unwrap();
    let body = readyz_becomes(server.addr, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(body.contains("migrations: 1 pending"), "{body}");
    // And a service told not to migrate refuses to start on it.
    let e = geohazard_store::Store::open(&w.db.url, 1, false)
        .await
        .err()
        .expect("a schema behind is refused");
    assert!(e.to_string().contains("geohazard migrate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_center_answer_carries_a_request_id_its_own_or_the_callers() {
    let w = World::start(4).await;
    let (server, _frames) = common::command_center(&w, |_| {}).await;
    let http = Api::new(server.addr).http;
    let url = format!("http://{}/healthz", server.addr);
    let made = http.get(&url).send().await.unwrap();
    let id = made.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let given = http
        .get(&url)
        .header("x-request-id", "console-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "console-42");
}
