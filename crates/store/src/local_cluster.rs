//! A private PostgreSQL cluster in a data folder, started from the system's PostgreSQL binaries,
//! so that a newcomer (or a test) needs no database set-up. PostgreSQL refuses to run as root,
//! so when we are root the cluster runs as the `postgres` system user that Debian's package
//! creates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

pub struct LocalCluster {
    data_dir: PathBuf,
    port: u16,
    run_as: Option<&'static str>,
}

impl LocalCluster {
    /// Initialises the cluster on first use (initdb) and starts it on 127.0.0.1:`port`, or
    /// adopts it if it is already running from that folder. `durable: false` turns off fsync,
    /// for throw-away test clusters only.
    pub async fn start(data_dir: &Path, port: u16, durable: bool) -> anyhow::Result<LocalCluster> {
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some("postgres")
        } else {
            None
        };
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let cluster = LocalCluster {
            data_dir,
            port,
            run_as,
        };
        cluster.prepare_ownership()?;
        if !cluster.pgdata().join("PG_VERSION").exists() {
            let mut args = vec![
                "-D".to_owned(),
                cluster.pgdata().display().to_string(),
                "-U".into(),
                "postgres".into(),
                "-A".into(),
                "trust".into(),
                "-E".into(),
                "UTF8".into(),
                "--locale=C".into(),
            ];
            if !durable {
                args.push("--no-sync".into());
            }
            cluster.run("initdb", &args).await?;
        }
        let mut options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200"
        );
        if !durable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        if cluster
            .run(
                "pg_ctl",
                &[
                    "-D".into(),
                    cluster.pgdata().display().to_string(),
                    "status".into(),
                ],
            )
            .await
            .is_err()
        {
            cluster
                .run(
                    "pg_ctl",
                    &[
                        "-D".into(),
                        cluster.pgdata().display().to_string(),
                        "-l".into(),
                        cluster.data_dir.join("postgres.log").display().to_string(),
                        "-o".into(),
                        options,
                        "-w".into(),
                        "-t".into(),
                        "60".into(),
                        "start".into(),
                    ],
                )
                .await
                .with_context(|| {
                    format!(
                        "starting PostgreSQL; its log: {}",
                        cluster.data_dir.join("postgres.log").display()
                    )
                })?;
        }
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection URL of a database in this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates the database unless it exists.
    pub async fn ensure_database(&self, database: &str) -> anyhow::Result<()> {
        ensure_database(&self.url("postgres"), database).await
    }

    /// Fast shutdown: open sessions are ended, committed work is safe.
    pub async fn stop(&self) -> anyhow::Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D".into(),
                self.pgdata().display().to_string(),
                "-m".into(),
                "fast".into(),
                "-w".into(),
                "stop".into(),
            ],
        )
        .await
    }

    fn pgdata(&self) -> PathBuf {
        self.data_dir.join("pgdata")
    }

    /// As root, hand the folder to the postgres user, and make sure it can reach it.
    fn prepare_ownership(&self) -> anyhow::Result<()> {
        let Some(user) = self.run_as else {
            return Ok(());
        };
        let status = std::process::Command::new("chown")
            .args(["-R", &format!("{user}:{user}")])
            .arg(&self.data_dir)
            .status()?;
        if !status.success() {
            bail!("chown of {} to {user} failed", self.data_dir.display());
        }
        // Every folder above must be traversable by the postgres user (temp folders are 0700).
        let mut dir = self.data_dir.parent();
        while let Some(d) = dir {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(d) {
                let mode = meta.permissions().mode();
                if mode & 0o001 == 0 {
                    std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode | 0o011))?;
                }
            }
            dir = d.parent();
        }
        Ok(())
    }

    async fn run(&self, tool: &str, args: &[String]) -> anyhow::Result<()> {
        let binary = postgres_bin_dir().join(tool);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.args(args).output())
            .await
            .with_context(|| format!("{tool} did not finish in 120 s"))?
            .with_context(|| format!("running {}", binary.display()))?;
        if !out.status.success() {
            bail!(
                "{tool} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

/// Creates `database` on the server at `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &str, database: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = database.replace('"', "\"\"");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{quoted}\"")))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

/// The newest PostgreSQL server binaries on the machine: `PG_BINDIR`, else the highest
/// `/usr/lib/postgresql/*/bin` (Debian's layout), else whatever is on PATH.
pub fn postgres_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .unwrap_or_else(|| PathBuf::from("/usr/bin"))
}
