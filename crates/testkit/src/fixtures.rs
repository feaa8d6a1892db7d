//! A small registry for tests: Sichuan province → Yibin city → Gao county, a landslide site,
//! and gateways with crack meters.

use chrono::{DateTime, Duration, Utc};
use geohazard_store::Store;
use geohazard_store::readings::{self, PartitionCache, ReadingRows};
use geohazard_store::registry::{
    self, DivisionLevel, NewDivision, NewSensor, NewSite, SensorKind, SiteKind,
};

pub const PROVINCE: &str = "510000";
pub const CITY: &str = "511500";
pub const COUNTY: &str = "511525";

/// Registers the province, city and county (idempotent).
pub async fn register_divisions(store: &Store) {
    for (code, name, level, parent) in [
        (PROVINCE, "四川省", DivisionLevel::Province, None),
        (CITY, "宜宾市", DivisionLevel::City, Some(PROVINCE)),
        (COUNTY, "高县", DivisionLevel::County, Some(CITY)),
    ] {
        registry::upsert_division(
            &store.pool,
            &NewDivision {
                code,
                name,
                level,
                parent_code: parent,
                boundary: None,
            },
        )
        .await
        .expect("registering a division");
    }
}

/// Registers a landslide site in the county (with its divisions) and returns its id.
pub async fn register_site(store: &Store, code: &str) -> i64 {
    register_divisions(store).await;
    registry::upsert_site(
        &store.pool,
        &NewSite {
            code,
            name: "test slope",
            kind: SiteKind::Landslide,
            division_code: COUNTY,
            location: geo::Point::new(104.5, 28.4),
            threat_zone: None,
            scale_class: Some("medium"),
            volume_m3: Some(2.0e5),
            threatened_people: 120,
            threatened_property: 800.0,
        },
    )
    .await
    .expect("registering a site")
}

/// Registers a site `site-{code}`, a gateway `code` on it and one crack meter per channel;
/// returns the gateway's id.
pub async fn register_gateway(store: &Store, code: &str, channels: &[&str]) -> i64 {
    let site = register_site(store, &format!("site-{code}")).await;
    let gateway = registry::upsert_gateway(&store.pool, code, Some(site), code, None)
        .await
        .expect("registering a gateway");
    for channel in channels {
        register_crack_meter(store, gateway, site, channel).await;
    }
    gateway
}

/// Registers a crack meter (mm, one reading a minute) on `channel` of a gateway, on a site;
/// returns its id.
pub async fn register_crack_meter(store: &Store, gateway: i64, site: i64, channel: &str) -> i32 {
    registry::upsert_sensor(
        &store.pool,
        &NewSensor {
            gateway_id: gateway,
            channel,
            site_id: site,
            kind: SensorKind::CrackMeter,
            unit: "mm",
            location: None,
            elevation_m: None,
            depth_m: None,
            sampling_interval_s: 60,
        },
    )
    .await
    .expect("registering a sensor")
}

/// Stores readings as the collector does: partitions first (partitioned mode), then one
/// transaction for the readings and their hourly rollup. Returns how many were new.
pub async fn store_readings(store: &Store, rows: &ReadingRows) -> u64 {
    PartitionCache::default()
        .ensure_for(&store.pool, store.mode, &rows.ts)
        .await
        .expect("partitions for the readings");
    let mut tx = store.pool.begin().await.unwrap();
    let inserted = readings::insert(&mut tx, rows)
        .await
        .expect("readings stored");
    tx.commit().await.unwrap();
    inserted
}

/// A person with a phone on `division`'s duty roster from an hour ago to an hour from now;
/// returns their id.
pub async fn on_duty_now(store: &Store, name: &str, phone: &str, division: &str) -> i64 {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO people (name, phone, division_code) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(phone)
    .bind(division)
    .fetch_one(&store.pool)
    .await
    .expect("adding a person");
    sqlx::query(
        "INSERT INTO duty_roster (division_code, person_id, starts_at, ends_at)
         VALUES ($1, $2, now() - interval '1 hour', now() + interval '1 hour')",
    )
    .bind(division)
    .bind(id)
    .execute(&store.pool)
    .await
    .expect("putting them on the roster");
    id
}

/// The times from `from` (included) to `to` (excluded), `step` apart: when a sensor that keeps
/// its interval reports.
pub fn every(from: DateTime<Utc>, to: DateTime<Utc>, step: Duration) -> Vec<DateTime<Utc>> {
    let mut out = vec![];
    let mut t = from;
    while t < to {
        out.push(t);
        t += step;
    }
    out
}
