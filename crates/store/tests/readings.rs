//! The store against a real PostgreSQL: migrations, de-duplication, rollups, partitions,
//! retention. Tests whose subject depends on the storage mode say so and run once per mode the
//! server offers (both where TimescaleDB is preloaded).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use geohazard_store::registry;
use geohazard_store::{PartitionCache, ReadingRows, StorageMode, Store, readings};
use geohazard_testkit::fixtures::{self, register_gateway};
use geohazard_testkit::{TestDb, storage_modes};

async fn store_with_one_sensor() -> (TestDb, Store, i32) {
    let db = TestDb::create().await;
    let (store, sensor) = one_sensor(&db).await;
    (db, store, sensor)
}

/// A database in `mode`, migrated, with one crack meter.
async fn store_in(mode: StorageMode) -> (TestDb, Store, i32) {
    let db = TestDb::create_in(mode).await;
    let (store, sensor) = one_sensor(&db).await;
    assert_eq!(store.mode, mode, "the migrations chose the mode asked for");
    (db, store, sensor)
}

async fn one_sensor(db: &TestDb) -> (Store, i32) {
    let store = Store::connect(&db.url, 4)
        .await
        .expect("migrations run on a fresh database");
    let gateway = register_gateway(&store, "gw-1", &["crack-1"]).await;
    registry::upsert_gateway(&store.pool, "gw-1", None, "gw", Some("s3cret"))
        .await
        .unwrap();
    let sensors = registry::gateway_sensors(&store.pool, "gw-1")
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(sensors.gateway_id, gateway);
    let sensor = sensors.sensors["crack-1"];
    (store, sensor)
}

/// The hourly rollup as stored: (hour, n, min, max, sum).
async fn rollup(store: &Store) -> Vec<(DateTime<Utc>, i64, f64, f64, f64)> {
    sqlx::query_as("SELECT bucket, n, vmin, vmax, vsum FROM readings_hourly ORDER BY bucket")
        .fetch_all(&store.pool)
        .await
        .unwrap()
}

/// The hourly rollup computed here from (time, value) pairs.
fn rollup_of(readings: &[(DateTime<Utc>, f64)]) -> Vec<(DateTime<Utc>, i64, f64, f64, f64)> {
    let mut hours: BTreeMap<i64, (i64, f64, f64, f64)> = BTreeMap::new();
    for (t, v) in readings {
        let e = hours
            .entry(t.timestamp().div_euclid(3600) * 3600)
            .or_insert((0, f64::INFINITY, f64::NEG_INFINITY, 0.0));
        *e = (e.0 + 1, e.1.min(*v), e.2.max(*v), e.3 + v);
    }
    hours
        .into_iter()
        .map(|(h, (n, lo, hi, sum))| (DateTime::from_timestamp(h, 0).unwrap(), n, lo, hi, sum))
        .collect()
}

/// PostgreSQL keeps microseconds: times compared after a round trip are whole seconds.
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

fn rows_of(sensor: i32, readings: &[(DateTime<Utc>, f64)]) -> ReadingRows {
    let mut rows = ReadingRows::default();
    for (t, v) in readings {
        rows.push(sensor, *t, *v, 0);
    }
    rows
}

/// TimescaleDB mode only: compresses every chunk, as the compression policy does after 7 days,
/// so that late readings land in compressed chunks.
async fn compress_all_chunks(store: &Store) {
    sqlx::query(
        "SELECT count(compress_chunk(c, if_not_compressed => true)) FROM show_chunks('readings') c",
    )
    .execute(&store.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn duplicate_readings_are_stored_once_and_counted_once_in_the_hourly_rollup_in_each_storage_mode()
 {
    for mode in storage_modes().await {
        let (_db, store, sensor) = store_in(mode).await;
        let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
        // Two hours across a month boundary, one reading a minute.
        let readings: Vec<_> = (0..120)
            .map(|i| (t0 + chrono::Duration::minutes(i), i as f64))
            .collect();
        let rows = rows_of(sensor, &readings);
        assert_eq!(fixtures::store_readings(&store, &rows).await, 120);
        // A redelivery of the whole batch, and a batch holding one new reading among old ones.
        let mut tx = store.pool.begin().await.unwrap();
        assert_eq!(readings::insert(&mut tx, &rows).await.unwrap(), 0);
        let mut mixed = rows.clone();
        mixed.push(sensor, t0 + chrono::Duration::minutes(120), 1000.0, 0);
        assert_eq!(readings::insert(&mut tx, &mixed).await.unwrap(), 1);
        tx.commit().await.unwrap();

        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM readings")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(stored, 121, "{mode:?}");
        let mut expected = readings.clone();
        expected.push((t0 + chrono::Duration::minutes(120), 1000.0));
        assert_eq!(rollup(&store).await, rollup_of(&expected), "{mode:?}");
        // Where the readings went: a partition per month, or a hypertable chunk per day.
        let pieces: i64 = sqlx::query_scalar(match mode {
            StorageMode::Partitioned => {
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings'::regclass"
            }
            StorageMode::TimescaleDb => "SELECT count(*) FROM show_chunks('readings')",
        })
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert_eq!(pieces, 2, "{mode:?}: November and December, or two days");
    }
}

#[tokio::test]
async fn late_out_of_order_and_redelivered_batches_keep_the_hourly_rollup_exact_in_each_storage_mode()
 {
    for mode in storage_modes().await {
        let (_db, store, sensor) = store_in(mode).await;
        // Twenty days, a reading every 10 minutes, in 40 half-day batches (integer values, so
        // sums are exact whatever the order of addition).
        let from = Utc::now() - chrono::Duration::days(20);
        let readings: Vec<_> = (0..20 * 144)
            .map(|i| (from + chrono::Duration::minutes(10 * i), (i % 97) as f64))
            .collect();
        let batches: Vec<&[_]> = readings.chunks(72).collect();
        // The last two days arrive first (live), then, after a long outage, the gateway's
        // store-and-forward replays the rest newest first, redelivering some batches twice.
        let mut order: Vec<usize> = (36..40).collect();
        order.extend((0..36).rev());
        order.extend([38, 5, 20]);
        for (k, i) in order.into_iter().enumerate() {
            fixtures::store_readings(&store, &rows_of(sensor, batches[i])).await;
            if k == 3 && mode == StorageMode::TimescaleDb {
                // The live data has been compressed by now; late readings go into the same
                // compressed chunks.
                compress_all_chunks(&store).await;
            }
            if k == 20 && mode == StorageMode::TimescaleDb {
                compress_all_chunks(&store).await;
            }
        }
        assert_eq!(
            rollup(&store).await,
            rollup_of(&readings),
            "{mode:?}: the rollup is exact and current"
        );
    }
}

#[tokio::test]
async fn the_analyzer_warms_the_same_history_from_either_storage_mode() {
    let now = whole_seconds(Utc::now());
    let long_from = now - chrono::Duration::days(30);
    let raw_from = now - chrono::Duration::days(3);
    // A crack meter every 10 minutes for 25 days, two of its readings marked bad, and one
    // reading of another sensor that must not show up.
    let readings: Vec<_> = (0..25 * 144)
        .map(|i| {
            (
                now - chrono::Duration::minutes(10 * (25 * 144 - i)),
                12.0 + i as f64 / 8.0,
            )
        })
        .collect();
    let mut histories = Vec::new();
    for mode in storage_modes().await {
        let (_db, store, sensor) = store_in(mode).await;
        // Each mode gets the same readings in a different arrival order: live first, then the
        // older history back-filled, in TimescaleDB mode into compressed chunks.
        let (old, recent) = readings.split_at(readings.len() - 6 * 144);
        let mut rows = rows_of(sensor, recent);
        let bad = [rows.len() - 10, rows.len() - 11];
        for i in bad {
            rows.quality[i] = 2;
        }
        fixtures::store_readings(&store, &rows).await;
        if mode == StorageMode::TimescaleDb {
            compress_all_chunks(&store).await;
        }
        for batch in old.chunks(500).rev() {
            fixtures::store_readings(&store, &rows_of(sensor, batch)).await;
        }
        let mut other = ReadingRows::default();
        other.push(sensor + 1, now - chrono::Duration::days(5), 99.0, 0);
        fixtures::store_readings(&store, &other).await;

        let history = readings::history(&store.pool, &[sensor], long_from, raw_from)
            .await
            .unwrap();
        let bucket = |t: &DateTime<Utc>| {
            DateTime::from_timestamp(t.timestamp().div_euclid(3600) * 3600, 0).unwrap()
        };
        let in_hours: Vec<_> = readings
            .iter()
            .copied()
            .filter(|(t, _)| bucket(t) >= long_from && bucket(t) < raw_from)
            .collect();
        let expected_hours: Vec<_> = rollup_of(&in_hours)
            .into_iter()
            .map(|(h, n, _, _, sum)| (sensor, h, n, sum))
            .collect();
        assert!(expected_hours.len() > 500);
        assert_eq!(history.hours, expected_hours, "{mode:?}: hourly rollups");
        let bad = bad.map(|i| recent[i].0);
        let expected_raw: Vec<_> = readings
            .iter()
            .filter(|(t, _)| *t >= raw_from && !bad.contains(t))
            .map(|(t, v)| (sensor, *t, *v))
            .collect();
        assert!(expected_raw.len() > 400);
        assert_eq!(history.raw, expected_raw, "{mode:?}: raw readings");
        histories.push((mode, history));
    }
    // And the two modes agree with each other.
    for pair in histories.windows(2) {
        assert_eq!(pair[0].1, pair[1].1, "{:?} and {:?}", pair[0].0, pair[1].0);
    }
}

#[tokio::test]
async fn partitioned_mode_drops_partitions_past_the_retention_and_creates_upcoming_ones() {
    let (_db, store, sensor) = store_in(StorageMode::Partitioned).await;
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
async fn timescaledb_mode_drops_chunks_past_the_retention_in_storage_settings_and_keeps_their_rollups()
 {
    if !storage_modes().await.contains(&StorageMode::TimescaleDb) {
        return; // storage_modes said why
    }
    let (_db, store, sensor) = store_in(StorageMode::TimescaleDb).await;
    let old = whole_seconds(Utc::now()) - chrono::Duration::days(400);
    let recent = whole_seconds(Utc::now()) - chrono::Duration::days(10);
    let readings = [(old, 1.0), (recent, 2.0)];
    fixtures::store_readings(&store, &rows_of(sensor, &readings)).await;
    sqlx::query("UPDATE storage_settings SET retention = interval '1 year'")
        .execute(&store.pool)
        .await
        .unwrap();
    readings::sync_timescale_retention(&store.pool)
        .await
        .unwrap();
    readings::sync_timescale_retention(&store.pool)
        .await
        .unwrap();
    let (job, drop_after): (i32, String) = sqlx::query_as(
        "SELECT job_id, config->>'drop_after' FROM timescaledb_information.jobs
         WHERE proc_name = 'policy_retention' AND hypertable_name = 'readings'",
    )
    .fetch_one(&store.pool)
    .await
    .unwrap();
    assert_eq!(drop_after, "1 year");
    sqlx::query(sqlx::AssertSqlSafe(format!("CALL run_job({job})")))
        .execute(&store.pool)
        .await
        .unwrap();
    let left: Vec<DateTime<Utc>> = sqlx::query_scalar("SELECT ts FROM readings")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert_eq!(left, vec![recent]);
    assert_eq!(rollup(&store).await, rollup_of(&readings));
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
