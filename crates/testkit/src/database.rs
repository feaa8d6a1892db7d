//! A fresh, empty database per test, on the server `DATABASE_URL` names, else on the local
//! default (127.0.0.1:5432, user postgres), else in a private cluster started for the test run.
//! A test that depends on the storage mode asks for a database in each mode the server offers.

use std::sync::atomic::{AtomicU32, Ordering};

use geohazard_store::local_cluster::ensure_database;
use geohazard_store::{LocalCluster, StorageMode};
use tokio::sync::OnceCell;

const LOCAL_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server tests create their databases on, as an admin URL (database `postgres`).
static SERVER: OnceCell<String> = OnceCell::const_new();

async fn server_admin_url() -> String {
    SERVER
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                return with_database(&url, "postgres");
            }
            if can_connect(LOCAL_DEFAULT).await {
                return LOCAL_DEFAULT.to_owned();
            }
            // No server to use: start a private one that lives as long as the machine's /tmp.
            let dir =
                std::env::temp_dir().join(format!("geohazard-test-pg-{}", std::process::id()));
            let cluster = LocalCluster::start(&dir, crate::free_port(), false)
                .await
                .expect("a private PostgreSQL cluster for the tests");
            cluster.url("postgres")
        })
        .await
        .clone()
}

async fn can_connect(url: &str) -> bool {
    use sqlx::Connection;
    matches!(
        tokio::time::timeout(
            std::time::Duration::from_secs(3),
            sqlx::PgConnection::connect(url)
        )
        .await,
        Ok(Ok(_))
    )
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// A database that exists for one test and is dropped after it.
pub struct TestDb {
    pub url: String,
    pub name: String,
    admin_url: String,
}

/// Set by CI's TimescaleDB pass (`deploy/test.sh --timescaledb`): a test that covers both storage
/// modes fails, rather than testing the partitioned mode only, when the server lacks TimescaleDB.
pub const REQUIRE_TIMESCALEDB: &str = "GEOHAZARD_TEST_TIMESCALEDB";

/// The storage modes this test run's server can give a database: the partitioned mode always
/// (TimescaleDB can be switched off per database), TimescaleDB when the server has it
/// preloaded. Tests that depend on the mode run once per mode listed here.
pub async fn storage_modes() -> Vec<StorageMode> {
    static TIMESCALEDB: OnceCell<bool> = OnceCell::const_new();
    let available = *TIMESCALEDB
        .get_or_init(|| async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&server_admin_url().await)
                .await
                .expect("connecting to the test server");
            // The same test as the readings migration's.
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
                    AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'",
            )
            .fetch_one(&mut conn)
            .await
            .expect("asking the test server about TimescaleDB")
        })
        .await;
    if available {
        return vec![StorageMode::Partitioned, StorageMode::TimescaleDb];
    }
    assert!(
        std::env::var_os(REQUIRE_TIMESCALEDB).is_none(),
        "{REQUIRE_TIMESCALEDB} is set but the test server has no TimescaleDB preloaded"
    );
    eprintln!(
        "note: the test server has no TimescaleDB: only the partitioned storage mode is tested \
         (deploy/test.sh --timescaledb runs the TimescaleDB pass)"
    );
    vec![StorageMode::Partitioned]
}

impl TestDb {
    /// A database in the server's own storage mode (TimescaleDB where it is preloaded).
    pub async fn create() -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = server_admin_url().await;
        let name = format!(
            "gh_test_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        ensure_database(&admin_url, &name)
            .await
            .expect("creating the test database");
        TestDb {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        }
    }

    /// A database whose migrations choose `mode`: the partitioned mode by switching TimescaleDB
    /// off for the database (as an operator can), TimescaleDB when the server has it (see
    /// [`storage_modes`]).
    pub async fn create_in(mode: StorageMode) -> TestDb {
        let db = TestDb::create().await;
        if mode == StorageMode::Partitioned {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&db.admin_url)
                .await
                .expect("connecting to the test server");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE \"{}\" SET geohazard.timescaledb = 'off'",
                db.name
            )))
            .execute(&mut conn)
            .await
            .expect("switching TimescaleDB off for the test database");
        } else {
            assert!(
                storage_modes().await.contains(&mode),
                "the test server cannot give a {mode:?} database"
            );
        }
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside async context: use a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
