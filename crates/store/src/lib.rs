//! geohazard's store: PostgreSQL (TimescaleDB when present) through sqlx.
//!
//! Migrations live in `crates/store/migrations` and run at every service's start-up (and by the
//! `geohazard migrate` command). Readings are written in bulk with `UNNEST` arrays.

pub mod idempotency;
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

/// What a failed database call says about retrying the same work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database is unreachable, starting, stopping, refusing connections (`ALLOW_CONNECTIONS
    /// false`, SQLSTATE 55000), short of resources or read-only during a fail-over: the same
    /// work succeeds once it is back.
    Transient,
    /// The work itself is refused (a constraint, a value the database will not take): retrying
    /// cannot help; only the data that caused it can be set aside.
    DataRefused,
    /// Anything else (a schema or driver problem): retrying may help once someone fixes it,
    /// setting data aside would not.
    Unexpected,
}

/// Classifies a failed database call by whether retrying can help.
pub fn classify(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => Failure::Transient,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match code.get(..2).unwrap_or_default() {
                // Connection exception; insufficient resources; object not in prerequisite
                // state (55000: database not accepting connections); operator intervention
                // (57P01-03: shutdown, crash, starting up; 57014: cancelled); system error.
                "08" | "53" | "55" | "57" | "58" => Failure::Transient,
                // Read-only transaction (a standby during fail-over); serialization, deadlock.
                _ if code == "25006" || code == "40001" || code == "40P01" => Failure::Transient,
                // Data exception; integrity constraint violation.
                "22" | "23" => Failure::DataRefused,
                _ => Failure::Unexpected,
            }
        }
        _ => Failure::Unexpected,
    }
}

/// Whether an error means the database is unreachable or restarting (worth retrying the same
/// work later) rather than something wrong with the work itself.
pub fn is_transient(e: &sqlx::Error) -> bool {
    classify(e) == Failure::Transient
}
