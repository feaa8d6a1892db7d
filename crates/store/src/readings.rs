//! Readings: bulk insert with de-duplication on (sensor, time), the exact hourly rollup (the same
//! table in both storage modes), partitions, retention, and the history the analyzer warms from.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use sqlx::{PgConnection, PgPool};

/// How readings are stored, decided by the migrations from what the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageMode {
    /// A TimescaleDB hypertable with compression and a retention policy.
    TimescaleDb,
    /// Native monthly range partitions the store creates and drops itself.
    Partitioned,
}

/// Readings to insert, column by column, as `UNNEST` wants them.
#[derive(Debug, Default, Clone)]
pub struct ReadingRows {
    pub sensor_ids: Vec<i32>,
    pub ts: Vec<DateTime<Utc>>,
    pub values: Vec<f64>,
    pub quality: Vec<i16>,
}

impl ReadingRows {
    pub fn with_capacity(n: usize) -> ReadingRows {
        ReadingRows {
            sensor_ids: Vec::with_capacity(n),
            ts: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
            quality: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, sensor_id: i32, ts: DateTime<Utc>, value: f64, quality: i16) {
        self.sensor_ids.push(sensor_id);
        self.ts.push(ts);
        self.values.push(value);
        self.quality.push(quality);
    }

    pub fn len(&self) -> usize {
        self.sensor_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sensor_ids.is_empty()
    }

    pub fn clear(&mut self) {
        self.sensor_ids.clear();
        self.ts.clear();
        self.values.clear();
        self.quality.clear();
    }
}

/// Inserts readings, skipping those already stored (same sensor and time), and returns how
/// many were new. Must run inside a transaction.
///
/// The common case, a batch with nothing already stored, goes in by binary `COPY`, about four
/// times faster than `INSERT ... ON CONFLICT`. If the batch holds a duplicate (a redelivery),
/// the `COPY` fails on the primary key, is rolled back to a savepoint, and the batch goes in
/// by `INSERT ... SELECT FROM UNNEST ... ON CONFLICT DO NOTHING` instead. Either way, in both
/// storage modes, the hourly rollup is updated in the same transaction from exactly the new
/// rows, so it is current whatever the arrival order and redeliveries never inflate it.
pub async fn insert(conn: &mut PgConnection, rows: &ReadingRows) -> sqlx::Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    sqlx::query("SAVEPOINT readings_copy")
        .execute(&mut *conn)
        .await?;
    match copy_in(conn, rows).await {
        Ok(()) => {
            sqlx::query("RELEASE SAVEPOINT readings_copy")
                .execute(&mut *conn)
                .await?;
            add_to_rollup(conn, rows).await?;
            Ok(rows.len() as u64)
        }
        Err(e) if is_unique_violation(&e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT readings_copy")
                .execute(&mut *conn)
                .await?;
            insert_skipping_duplicates(conn, rows).await
        }
        Err(e) => Err(e),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// Microseconds between the Unix epoch and PostgreSQL's, 2000-01-01.
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// Binary `COPY` of the rows (format: PostgreSQL's documented binary copy file).
async fn copy_in(conn: &mut PgConnection, rows: &ReadingRows) -> sqlx::Result<()> {
    let mut buf = Vec::with_capacity(19 + rows.len() * 40 + 2);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes()); // flags
    buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for i in 0..rows.len() {
        buf.extend_from_slice(&4i16.to_be_bytes());
        buf.extend_from_slice(&4i32.to_be_bytes());
        buf.extend_from_slice(&rows.sensor_ids[i].to_be_bytes());
        buf.extend_from_slice(&8i32.to_be_bytes());
        let us = rows.ts[i].timestamp_micros() - PG_EPOCH_OFFSET_US;
        buf.extend_from_slice(&us.to_be_bytes());
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&rows.values[i].to_bits().to_be_bytes());
        buf.extend_from_slice(&2i32.to_be_bytes());
        buf.extend_from_slice(&rows.quality[i].to_be_bytes());
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    let mut copy = conn
        .copy_in_raw("COPY readings (sensor_id, ts, value, quality) FROM STDIN (FORMAT binary)")
        .await?;
    if let Err(e) = copy.send(buf).await {
        let _ = copy.abort("send failed").await;
        return Err(e);
    }
    copy.finish().await?;
    Ok(())
}

/// Adds rows that are all new to the hourly rollup: aggregated here, upserted in one statement.
async fn add_to_rollup(conn: &mut PgConnection, rows: &ReadingRows) -> sqlx::Result<()> {
    // Sorted, so concurrent writers (collectors sharing a subscription) lock rollup rows in the
    // same order and do not deadlock.
    let mut hours: std::collections::BTreeMap<(i32, i64), (i64, f64, f64, f64)> =
        std::collections::BTreeMap::new();
    for i in 0..rows.len() {
        let hour = rows.ts[i].timestamp().div_euclid(3600) * 3600;
        let v = rows.values[i];
        let e = hours.entry((rows.sensor_ids[i], hour)).or_insert((
            0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
        ));
        e.0 += 1;
        e.1 = e.1.min(v);
        e.2 = e.2.max(v);
        e.3 += v;
    }
    let mut sensor_ids = Vec::with_capacity(hours.len());
    let mut buckets = Vec::with_capacity(hours.len());
    let (mut n, mut vmin, mut vmax, mut vsum) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((sensor, hour), (count, lo, hi, sum)) in hours {
        sensor_ids.push(sensor);
        buckets.push(DateTime::from_timestamp(hour, 0).expect("an hour of a valid timestamp"));
        n.push(count);
        vmin.push(lo);
        vmax.push(hi);
        vsum.push(sum);
    }
    sqlx::query(
        "INSERT INTO readings_hourly AS h (sensor_id, bucket, n, vmin, vmax, vsum)
         SELECT * FROM UNNEST($1::int4[], $2::timestamptz[], $3::int8[], $4::float8[], $5::float8[], $6::float8[])
         ON CONFLICT (sensor_id, bucket) DO UPDATE SET
             n = h.n + EXCLUDED.n,
             vmin = LEAST(h.vmin, EXCLUDED.vmin),
             vmax = GREATEST(h.vmax, EXCLUDED.vmax),
             vsum = h.vsum + EXCLUDED.vsum",
    )
    .bind(&sensor_ids)
    .bind(&buckets)
    .bind(&n)
    .bind(&vmin)
    .bind(&vmax)
    .bind(&vsum)
    .execute(conn)
    .await?;
    Ok(())
}

/// The slower path for batches that may hold readings already stored: the rows that were new
/// come back, and only they go into the rollup.
async fn insert_skipping_duplicates(
    conn: &mut PgConnection,
    rows: &ReadingRows,
) -> sqlx::Result<u64> {
    let new_rows: Vec<(i32, DateTime<Utc>, f64)> = sqlx::query_as(
        "INSERT INTO readings (sensor_id, ts, value, quality)
         SELECT * FROM UNNEST($1::int4[], $2::timestamptz[], $3::float8[], $4::int2[])
         ON CONFLICT DO NOTHING
         RETURNING sensor_id, ts, value",
    )
    .bind(&rows.sensor_ids)
    .bind(&rows.ts)
    .bind(&rows.values)
    .bind(&rows.quality)
    .fetch_all(&mut *conn)
    .await?;
    if !new_rows.is_empty() {
        let mut inserted = ReadingRows::with_capacity(new_rows.len());
        for (sensor_id, ts, value) in &new_rows {
            inserted.push(*sensor_id, *ts, *value, 0);
        }
        add_to_rollup(conn, &inserted).await?;
    }
    Ok(new_rows.len() as u64)
}

/// A month as a number: year·12 + month0. Partitions are monthly.
fn month_key(t: DateTime<Utc>) -> i32 {
    t.year() * 12 + t.month0() as i32
}

fn month_start(key: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(
        key.div_euclid(12),
        key.rem_euclid(12) as u32 + 1,
        1,
        0,
        0,
        0,
    )
    .single()
    .expect("the first of a month at midnight UTC exists")
}

fn partition_name(key: i32) -> String {
    format!(
        "readings_y{:04}m{:02}",
        key.div_euclid(12),
        key.rem_euclid(12) + 1
    )
}

/// The months that already have a partition, so the writer asks the database only about new
/// ones. Partitions are created before the insert that needs them, never by a default partition
/// (which would block creating the right partition later).
#[derive(Debug, Default)]
pub struct PartitionCache {
    known: HashSet<i32>,
}

impl PartitionCache {
    /// Makes sure every month these timestamps fall in has a partition.
    pub async fn ensure_for(
        &mut self,
        pool: &PgPool,
        mode: StorageMode,
        ts: &[DateTime<Utc>],
    ) -> sqlx::Result<()> {
        if mode != StorageMode::Partitioned {
            return Ok(());
        }
        let mut missing: Vec<i32> = ts
            .iter()
            .map(|t| month_key(*t))
            .filter(|k| !self.known.contains(k))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        for key in missing {
            create_partition(pool, key).await?;
            self.known.insert(key);
        }
        Ok(())
    }
}

async fn create_partition(pool: &PgPool, key: i32) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    // Collectors may race to create the same month: serialise them on one advisory lock.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('geohazard.readings.partitions'))")
        .execute(&mut *tx)
        .await?;
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} PARTITION OF readings FOR VALUES FROM ('{}') TO ('{}')",
        partition_name(key),
        month_start(key).to_rfc3339(),
        month_start(key + 1).to_rfc3339(),
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Housekeeping for plain PostgreSQL: partitions for this month and the next two exist, and
/// partitions wholly older than the retention period are dropped. Returns the dropped names.
pub async fn maintain_partitions(pool: &PgPool, now: DateTime<Utc>) -> sqlx::Result<Vec<String>> {
    let current = month_key(now);
    for key in current..=current + 2 {
        create_partition(pool, key).await?;
    }
    let cutoff = now - retention(pool).await?;
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid
         JOIN pg_class p ON p.oid = i.inhparent
         WHERE p.relname = 'readings'",
    )
    .fetch_all(pool)
    .await?;
    let mut dropped = Vec::new();
    for name in partitions {
        let Some(key) = parse_partition_name(&name) else {
            continue;
        };
        if month_start(key + 1) <= cutoff {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
                .execute(pool)
                .await?;
            dropped.push(name);
        }
    }
    Ok(dropped)
}

fn parse_partition_name(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("readings_y")?;
    let (y, m) = rest.split_once('m')?;
    let (y, m): (i32, i32) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then_some(y * 12 + m - 1)
}

/// How long raw readings are kept (`storage_settings.retention`; hourly rollups are kept for
/// good). Readings older than that are refused at the door rather than stored and then dropped.
pub async fn retention(pool: &PgPool) -> sqlx::Result<chrono::Duration> {
    let seconds: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM retention)::float8 FROM storage_settings")
            .fetch_one(pool)
            .await?;
    Ok(chrono::Duration::seconds(seconds as i64))
}

/// The retention, re-read from the database at most once a minute, for the collector's door.
#[derive(Debug, Default)]
pub struct RetentionCache {
    read: Option<(std::time::Instant, chrono::Duration)>,
}

impl RetentionCache {
    const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

    /// The oldest timestamp still kept at `now`: readings before it are past the retention.
    pub async fn cutoff(
        &mut self,
        pool: &PgPool,
        now: DateTime<Utc>,
    ) -> sqlx::Result<DateTime<Utc>> {
        let retention = match self.read {
            Some((at, retention)) if at.elapsed() < Self::MAX_AGE => retention,
            _ => {
                let retention = retention(pool).await?;
                self.read = Some((std::time::Instant::now(), retention));
                retention
            }
        };
        Ok(now - retention)
    }
}

/// TimescaleDB only: makes the hypertable's retention policy drop what `storage_settings` says
/// is past the retention, as the partitioned mode's housekeeping does. Idempotent.
pub async fn sync_timescale_retention(pool: &PgPool) -> sqlx::Result<()> {
    let in_step: bool = sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM timescaledb_information.jobs j, storage_settings s
             WHERE j.proc_name = 'policy_retention' AND j.hypertable_name = 'readings'
               AND (j.config->>'drop_after')::interval = s.retention)",
    )
    .fetch_one(pool)
    .await?;
    if !in_step {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT remove_retention_policy('readings', if_exists => true)")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "SELECT add_retention_policy('readings', (SELECT retention FROM storage_settings))",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// What the analyzer warms a sensor's memory from at start-up: hourly rollups for
/// `[long_from, raw_from)`, raw readings (good and suspect) from `raw_from` on. The same in
/// both storage modes, whatever order the readings arrived in.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct History {
    /// (sensor, hour, readings in the hour, their sum), by sensor and hour.
    pub hours: Vec<(i32, DateTime<Utc>, i64, f64)>,
    /// (sensor, time, value), by sensor and time.
    pub raw: Vec<(i32, DateTime<Utc>, f64)>,
}

pub async fn history(
    pool: &PgPool,
    sensor_ids: &[i32],
    long_from: DateTime<Utc>,
    raw_from: DateTime<Utc>,
) -> sqlx::Result<History> {
    let hours = sqlx::query_as(
        "SELECT sensor_id, bucket, n::int8, vsum FROM readings_hourly
         WHERE sensor_id = ANY($1) AND bucket >= $2 AND bucket < $3 ORDER BY sensor_id, bucket",
    )
    .bind(sensor_ids)
    .bind(long_from)
    .bind(raw_from)
    .fetch_all(pool)
    .await?;
    let raw = sqlx::query_as(
        "SELECT sensor_id, ts, value FROM readings
         WHERE sensor_id = ANY($1) AND ts >= $2 AND quality < 2 ORDER BY sensor_id, ts",
    )
    .bind(sensor_ids)
    .bind(raw_from)
    .fetch_all(pool)
    .await?;
    Ok(History { hours, raw })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip_and_cover_whole_months() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        let key = month_key(t);
        assert_eq!(partition_name(key), "readings_y2026m12");
        assert_eq!(parse_partition_name("readings_y2026m12"), Some(key));
        assert_eq!(
            month_start(key + 1),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        assert!(month_start(key) <= t && t < month_start(key + 1));
        assert_eq!(parse_partition_name("readings_hourly"), None);
    }
}
