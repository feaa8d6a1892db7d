//! Whether a gateway counts as online, against a real PostgreSQL (`gateway_online_now`).

use geohazard_store::Store;
use geohazard_testkit::TestDb;
use geohazard_testkit::fixtures::register_gateway;

async fn online_now(store: &Store, code: &str) -> bool {
    sqlx::query_scalar(
        "SELECT gateway_online_now(id, online, last_seen_at) FROM gateways WHERE code = $1",
    )
    .bind(code)
    .fetch_one(&store.pool)
    .await
    .unwrap()
}

async fn heard(store: &Store, code: &str, online: bool, minutes_ago: i32) {
    sqlx::query(
        "UPDATE gateways SET online = $2, last_seen_at = now() - make_interval(mins => $3)
         WHERE code = $1",
    )
    .bind(code)
    .bind(online)
    .bind(minutes_ago)
    .execute(&store.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_gateway_silent_for_three_sampling_intervals_is_offline_though_no_last_will_came() {
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 2).await.unwrap();
    // Crack meters sampled every minute.
    register_gateway(&store, "gw-1", &["crack-1", "crack-2"]).await;
    heard(&store, "gw-1", true, 1).await;
    assert!(online_now(&store, "gw-1").await);
    // Stopped without a last will 13 minutes ago: still "online" by its link, silent since.
    heard(&store, "gw-1", true, 13).await;
    assert!(!online_now(&store, "gw-1").await);
    // A last will is offline at once, however recent.
    heard(&store, "gw-1", false, 0).await;
    assert!(!online_now(&store, "gw-1").await);
    // Never heard from.
    register_gateway(&store, "gw-2", &[]).await;
    sqlx::query("UPDATE gateways SET online = true WHERE code = 'gw-2'")
        .execute(&store.pool)
        .await
        .unwrap();
    assert!(!online_now(&store, "gw-2").await);
    // Without sensors: ten minutes is its interval.
    heard(&store, "gw-2", true, 20).await;
    assert!(online_now(&store, "gw-2").await);
    heard(&store, "gw-2", true, 31).await;
    assert!(!online_now(&store, "gw-2").await);
}
