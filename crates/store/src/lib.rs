//! geohazard's store: PostgreSQL (TimescaleDB when present) through sqlx.
//!
//! Migrations live in `crates/store/migrations` and run at every service's start-up (and by the
//! `geohazard migrate` command). Readings are written in bulk with `UNNEST` arrays.

pub mod cluster;
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
pub use readings::{PartitionCache, ReadingRows, RetentionCache, StorageMode};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A connection pool to a migrated database, and how it stores readings.
#[derive(Clone)]
pub struct Store {
    pub pool: PgPool,
    pub mode: StorageMode,
}

impl Store {
    /// Connects, runs pending migrations and, with TimescaleDB, aligns its retention policy.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        Store::open(url, max_connections, true).await
    }

    /// Connects; with `migrate` runs pending migrations, without it (the schema is the deploy
    /// step's, `geohazard migrate`, and the service's role may not change it) refuses a schema
    /// that is behind.
    pub async fn open(url: &str, max_connections: u32, migrate: bool) -> anyhow::Result<Store> {
        let options = PgConnectOptions::from_str(url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2));
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        if migrate {
            MIGRATOR.run(&pool).await?;
        } else {
            let pending = pending_migrations(&pool).await?;
            anyhow::ensure!(
                pending.is_empty(),
                "the database schema is behind ({} migrations pending, the first {}): run `geohazard migrate`",
                pending.len(),
                pending[0]
            );
        }
        let mode = storage_mode(&pool).await?;
        if mode == StorageMode::TimescaleDb {
            readings::sync_timescale_retention(&pool).await?;
        }
        Ok(Store { pool, mode })
    }
}

impl Store {
    /// [`readiness_checks`] of this store's pool.
    pub fn readiness_checks(&self) -> Vec<std::sync::Arc<dyn geohazard_runtime::ReadinessCheck>> {
        readiness_checks(&self.pool)
    }
}

/// What a store's readiness means: the database answers, and its schema is the one this build
/// embeds.
pub fn readiness_checks(
    pool: &PgPool,
) -> Vec<std::sync::Arc<dyn geohazard_runtime::ReadinessCheck>> {
    let (ping, schema) = (pool.clone(), pool.clone());
    vec![
        geohazard_runtime::health::check("database", move || {
            let pool = ping.clone();
            async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }),
        geohazard_runtime::health::check("migrations", move || {
            let pool = schema.clone();
            async move {
                match pending_migrations(&pool).await {
                    Ok(p) if p.is_empty() => Ok(()),
                    Ok(p) => Err(format!("{} pending, the first {}", p.len(), p[0])),
                    Err(e) => Err(e.to_string()),
                }
            }
        }),
    ]
}

/// The embedded migrations the database has not applied (successfully), by version.
pub async fn pending_migrations(pool: &PgPool) -> sqlx::Result<Vec<i64>> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .or_else(|e| match &e {
                // Never migrated at all: every migration is pending.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(vec![]),
                _ => Err(e),
            })?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect())
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
