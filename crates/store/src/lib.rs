//! geohazard's store: PostgreSQL (TimescaleDB when present) through sqlx.
//!
//! Migrations live in `crates/store/migrations` and run at every service's start-up (and by the
//! `geohazard migrate` command). Readings are written in bulk with `UNNEST` arrays.

pub mod local_cluster;
pub mod quarantine;
pub mod readings;
pub mod registry;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

pub use local_cluster::LocalCluster;
pub use quarantine::QuarantineRow;
pub use readings::{PartitionCache, ReadingRows, RetentionCache};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How readings are stored, decided by the migrations from what the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageMode {
    /// A TimescaleDB hypertable with compression and a retention policy.
    TimescaleDb,
    /// Native monthly range partitions the store creates and drops itself.
    Partitioned,
}

/// A connection pool to a migrated database, and how it stores readings.
#[derive(Clone)]
pub struct Store {
    pub pool: PgPool,
    pub mode: StorageMode,
}

impl Store {
    /// Connects, runs pending migrations and, with TimescaleDB, aligns its retention policy.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        let options = PgConnectOptions::from_str(url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2));
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let mode = storage_mode(&pool).await?;
        if mode == StorageMode::TimescaleDb {
            readings::sync_timescale_retention(&pool).await?;
        }
        Ok(Store { pool, mode })
    }
}

async fn storage_mode(pool: &PgPool) -> sqlx::Result<StorageMode> {
    let mode: String = sqlx::query_scalar("SELECT mode FROM storage_settings")
        .fetch_one(pool)
        .await?;
    Ok(if mode == "timescaledb" {
        StorageMode::TimescaleDb
    } else {
        StorageMode::Partitioned
    })
}

/// Whether an error means the database is unreachable or restarting (worth retrying the same
/// work later) rather than something wrong with the work itself.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            // Class 08: connection exception; 57P01-03: admin shutdown, crash shutdown, cannot
            // connect now; 53: insufficient resources; 40001/40P01: serialization, deadlock.
            let code = db.code().unwrap_or_default();
            code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
                || code == "40001"
                || code == "40P01"
        }
        _ => false,
    }
}
