//! The store against a real PostgreSQL: migrations, de-duplication, rollups, partitions.

use chrono::{TimeZone, Utc};
use geohazard_store::registry;
use geohazard_store::{PartitionCache, ReadingRows, StorageMode, Store, readings};
use geohazard_testkit::TestDb;
use geohazard_testkit::fixtures::register_gateway;

async fn store_with_one_sensor() -> (TestDb, Store, i32) {
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 4)
        .await
        .expect("migrations run on a fresh database");
    let gateway = register_gateway(&store, "gw-1", &["crack-1"]).await;
    registry::upsert_gateway(&store.pool, "gw-1", None, "gw", Some("s3cret"))
        .await
        .unwrap();
    let sensor = registry::gateway_sensors(&store.pool, "gw-1")
        .await
        .unwrap()
        .expect("registered")
        .sensors["crack-1"];
    assert_eq!(
        registry::gateway_sensors(&store.pool, "gw-1")
            .await
            .unwrap()
            .unwrap()
            .gateway_id,
        gateway
    );
    (db, store, sensor)
}

#[tokio::test]
async fn duplicate_readings_are_stored_once_and_counted_once_in_the_hourly_rollup() {
    let (_db, store, sensor) = store_with_one_sensor().await;
    assert_eq!(store.mode, StorageMode::Partitioned);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
    let mut rows = ReadingRows::default();
    for i in 0..120 {
        // Two hours across a month boundary, one reading a minute.
        rows.push(sensor, t0 + chrono::Duration::minutes(i), i as f64, 0);
    }
    let mut partitions = PartitionCache::default();
    partitions
        .ensure_for(&store.pool, store.mode, &rows.ts)
        .await
        .unwrap();
    let mut tx = store.pool.begin().await.unwrap();
    assert_eq!(
        readings::insert(&mut tx, store.mode, &rows).await.unwrap(),
        120
    );
    tx.commit().await.unwrap();
    // A redelivery of the whole batch, and a batch holding one new reading among old ones.
    let mut tx = store.pool.begin().await.unwrap();
    assert_eq!(
        readings::insert(&mut tx, store.mode, &rows).await.unwrap(),
        0
    );
    let mut mixed = rows.clone();
    mixed.push(sensor, t0 + chrono::Duration::minutes(120), 1000.0, 0);
    assert_eq!(
        readings::insert(&mut tx, store.mode, &mixed).await.unwrap(),
        1
    );
    tx.commit().await.unwrap();
    sqlx::query("DELETE FROM readings WHERE value = 1000")
        .execute(&store.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM readings_hourly WHERE vmax = 1000")
        .execute(&store.pool)
        .await
        .unwrap();

    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM readings")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(stored, 120);
    let hourly: Vec<(i64, f64, f64, f64)> =
        sqlx::query_as("SELECT n, vmin, vmax, vsum FROM readings_hourly ORDER BY bucket")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    assert_eq!(
        hourly,
        vec![
            (60, 0.0, 59.0, (0..60).sum::<i32>() as f64),
            (60, 60.0, 119.0, (60..120).sum::<i32>() as f64)
        ]
    );
    let partitions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings'::regclass",
    )
    .fetch_one(&store.pool)
    .await
    .unwrap();
    assert_eq!(partitions, 2, "November and December 2026");
}

#[tokio::test]
async fn partitions_older_than_the_retention_are_dropped_and_upcoming_ones_created() {
    let (_db, store, sensor) = store_with_one_sensor().await;
    sqlx::query("UPDATE storage_settings SET retention = interval '1 year'")
        .execute(&store.pool)
        .await
        .unwrap();
    let old = Utc.with_ymd_and_hms(2020, 3, 15, 0, 0, 0).unwrap();
    let mut rows = ReadingRows::default();
    rows.push(sensor, old, 1.0, 0);
    PartitionCache::default()
        .ensure_for(&store.pool, store.mode, &rows.ts)
        .await
        .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
    let dropped = readings::maintain_partitions(&store.pool, now)
        .await
        .unwrap();
    assert_eq!(dropped, vec!["readings_y2020m03".to_owned()]);
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'readings'::regclass ORDER BY 1",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    assert_eq!(
        names,
        vec![
            "readings_y2026m11",
            "readings_y2026m12",
            "readings_y2027m01"
        ]
    );
}

#[tokio::test]
async fn gateway_passwords_are_stored_as_argon2_hashes_and_verified() {
    let (_db, store, _) = store_with_one_sensor().await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM gateways WHERE code = 'gw-1'")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(
        registry::verify_gateway_password(&store.pool, "gw-1", "s3cret")
            .await
            .unwrap()
    );
    assert!(
        !registry::verify_gateway_password(&store.pool, "gw-1", "wrong")
            .await
            .unwrap()
    );
    assert!(
        !registry::verify_gateway_password(&store.pool, "nobody", "s3cret")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_site_location_finds_its_division_by_boundary() {
    let (_db, store, _) = store_with_one_sensor().await;
    let square = geo::Geometry::Polygon(geo::Polygon::new(
        geo::LineString::from(vec![
            (104.0, 28.0),
            (105.0, 28.0),
            (105.0, 29.0),
            (104.0, 29.0),
            (104.0, 28.0),
        ]),
        vec![],
    ));
    registry::upsert_division(
        &store.pool,
        &registry::NewDivision {
            code: "511525",
            name: "Gao county",
            level: registry::DivisionLevel::County,
            parent_code: Some("510000"),
            boundary: Some(square),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        registry::division_containing(&store.pool, geo::Point::new(104.5, 28.5))
            .await
            .unwrap()
            .as_deref(),
        Some("511525")
    );
    assert_eq!(
        registry::division_containing(&store.pool, geo::Point::new(110.0, 28.5))
            .await
            .unwrap(),
        None
    );
}
