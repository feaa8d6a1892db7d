//! Jobs that must happen once per cluster happen once however many replicas run: two
//! command-centers on one database and one broker hear the same orange warning, and the site's
//! gateway is asked for one snapshot, not two. Real PostgreSQL, real Mosquitto.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use geohazard_e2e::subscriber;
use geohazard_protocol::topic::Topic;
use geohazard_protocol::warning::{
    Warning, WarningCategory, WarningLevel, WarningState, WarningTransition,
};
use geohazard_testkit::api::Api;
use geohazard_testkit::fixtures::{self, COUNTY};
use geohazard_testkit::{World, eventually, publish_warning};
use serde_json::{Value, json};

const GATEWAY: &str = "gw-snap";

/// A counter of the command-center at `addr`, from its `/metrics`.
async fn counter(addr: SocketAddr, name: &str) -> u64 {
    let text = Api::new(addr)
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!("{name}_total ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("{name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_command_centers_ask_for_one_snapshot_per_orange_warning() {
    let w = World::start(8).await;
    fixtures::register_gateway(&w.store, GATEWAY, &["crack-1"]).await;
    let site = format!("site-{GATEWAY}");
    let source = format!("threshold:{GATEWAY}/crack-1");
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO warnings (site_id, source, category, level, peak_level, state, summary, evidence)
         SELECT id, $2, 'hazard', 'orange', 'orange', 'open', 'crack-1 above the orange line', $3
         FROM hazard_sites WHERE code = $1 RETURNING id",
    )
    .bind(&site)
    .bind(&source)
    // The evidence as the analyzer writes it: the command-center reads it back typed.
    .bind(sqlx::types::Json(geohazard_warnings::Evidence::threshold(
        0,
        32.0,
        "mm",
        geohazard_warnings::rules::Thresholds::some(10.0, 20.0, 30.0, 50.0),
    )))
    .fetch_one(&w.store.pool)
    .await
    .unwrap();
    let mut commands =
        subscriber(&w.broker.url(), "gw-snap-listener", Topic::command(GATEWAY)).await;

    let mut replicas = Vec::new();
    let mut frames = Vec::new();
    for replica in 0..2 {
        let (server, dir) = common::command_center(&w, |config| {
            config.video.client_id = format!("command-center-{replica}-video");
            config.video.shared_group = Some("command-centers".to_owned());
        })
        .await;
        replicas.push(server.addr);
        frames.push(dir);
    }

    let analyzer = w.publisher("analyzer-stand-in").await;
    publish_warning(
        &analyzer,
        &Warning {
            id,
            site: site.clone(),
            division: COUNTY.to_owned(),
            source,
            category: WarningCategory::Hazard,
            level: WarningLevel::Orange,
            state: WarningState::Open,
            transition: WarningTransition::Raised,
            at: chrono::Utc::now().timestamp_millis(),
            reading_ts: None,
            failure_forecast_ts: None,
            summary: "crack-1 above the orange line".to_owned(),
            summary_zh: "裂缝计 crack-1 超过橙色预警线".to_owned(),
            evidence: json!({}),
        },
    )
    .await;

    // Both replicas have handled the warning: one asked, the other found it taken.
    eventually(
        Duration::from_secs(30),
        "both replicas' decisions",
        || async {
            let mut decided = 0;
            for addr in &replicas {
                decided += counter(*addr, "geohazard_command_center_snapshots_asked").await
                    + counter(*addr, "geohazard_command_center_snapshots_left").await;
            }
            (decided == 2).then_some(())
        },
    )
    .await;
    let mut asked = 0;
    for addr in &replicas {
        asked += counter(*addr, "geohazard_command_center_snapshots_asked").await;
    }
    assert_eq!(asked, 1, "snapshots asked across the cluster");
    let command = tokio::time::timeout(Duration::from_secs(10), commands.recv())
        .await
        .expect("the snapshot command")
        .unwrap();
    let command: Value = serde_json::from_slice(command.payload()).unwrap();
    assert_eq!(command["name"], "snapshot", "{command}");
    assert!(commands.try_recv().is_none(), "a second snapshot command");
}
