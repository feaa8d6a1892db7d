//! The all-in-one's broker: a real Mosquitto run with the shipped `deploy/mosquitto.conf` and
//! `deploy/mosquitto.acl` (only ports and paths changed), so a single machine gets exactly the
//! confinement of a production broker: a gateway reads and writes only under its own
//! `gh/v1/gw/{code}/`, takes its user name as client id, and only the services write warnings
//! and commands. (rumqttd, used before, checks credentials at connection but has no per-client
//! topic ACL: any gateway key could publish warnings, other gateways' telemetry and commands,
//! and read everything.)
//!
//! Its files live in `{data_dir}/mosquitto/`. The gateways' password file there is kept across
//! starts and `geohazard gateway-key CODE` adds to it and tells the running broker to reload
//! (SIGHUP to the pid in `mosquitto.pid`); the services' passwords are made up at each start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::process::Child;
use tokio_util::sync::CancellationToken;

/// The services' user names in the shipped ACL, each with its own topics.
pub const COLLECTOR: &str = "geohazard-collector";
pub const ANALYZER: &str = "geohazard-analyzer";
pub const COMMAND_CENTER: &str = "geohazard-command-center";

/// Every user of the services' listener with the service whose password it shares: each
/// service's own, and `{service}-{connection}` for each of its further MQTT connections (the
/// broker takes the user name as the client id there, so each connection has a user of its
/// own). The shipped ACL has a block for each.
pub fn service_users() -> Vec<(&'static str, String)> {
    let services: [(&str, &[&str]); 3] = [
        (COLLECTOR, &[geohazard_universal::MQTT_CONNECTION]),
        (ANALYZER, &[]),
        (COMMAND_CENTER, &geohazard_command_center::MQTT_CONNECTIONS),
    ];
    let mut users = Vec::new();
    for (service, connections) in services {
        users.push((service, service.to_owned()));
        users.extend(
            connections
                .iter()
                .map(|c| (service, format!("{service}-{c}"))),
        );
    }
    users
}

const SHIPPED_CONF: &str = include_str!("../../deploy/mosquitto.conf");
const SHIPPED_ACL: &str = include_str!("../../deploy/mosquitto.acl");

/// Where Debian installs the broker; `MOSQUITTO` overrides.
/// The broker's files under a data folder.
#[derive(Debug, Clone)]
pub struct BrokerFiles {
    dir: PathBuf,
}

impl BrokerFiles {
    pub fn new(data_dir: &Path) -> BrokerFiles {
        BrokerFiles {
            dir: data_dir.join("mosquitto"),
        }
    }

    /// The gateways' password file (`geohazard gateway-key` adds to it).
    pub fn gateways_passwd(&self) -> PathBuf {
        self.dir.join("gateways.passwd")
    }

    fn services_passwd(&self) -> PathBuf {
        self.dir.join("services.passwd")
    }

    /// The running broker's process id, for [`reload`].
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("mosquitto.pid")
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join("mosquitto.log")
    }
}

/// A running broker. Dropping it kills the broker; [`Embedded::supervise`] stops it cleanly.
pub struct Embedded {
    /// The gateways' listener (loopback).
    pub port: u16,
    /// The services' listener (loopback).
    pub services_port: u16,
    /// Each service's (user name, password) on the services' listener; its further
    /// connections' users (see [`service_users`]) have the same password.
    pub services: Vec<(&'static str, String)>,
    pub files: BrokerFiles,
    child: Child,
}

impl Embedded {
    /// `mqtt://{service}:{password}@127.0.0.1:{services_port}`.
    pub fn service_url(&self, service: &str) -> String {
        let (user, password) = self
            .services
            .iter()
            .find(|(s, _)| *s == service)
            .expect("one of the services in the ACL");
        format!("mqtt://{user}:{password}@127.0.0.1:{}", self.services_port)
    }

    /// For gateways: the address only; each brings its own code and key.
    pub fn devices_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's log, for errors.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.files.log_file()).unwrap_or_default()
    }

    /// Until `shutdown`, then stops the broker with SIGTERM (it saves its sessions and queued
    /// messages) and waits for it. A broker that stops on its own is an error.
    pub async fn supervise(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tokio::select! {
            status = self.child.wait() => {
                anyhow::bail!("the embedded MQTT broker stopped: {status:?}\n{}", self.log())
            }
            _ = shutdown.cancelled() => {}
        }
        signal(&self.child, libc::SIGTERM);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = std::fs::remove_file(self.files.pid_file());
        Ok(())
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(pid as libc::pid_t, sig) };
    }
}

/// The shipped configuration with this machine's ports and files: the first listener (the
/// gateways') on `port`, the second (the services') on `services_port`, both on loopback.
fn config(files: &BrokerFiles, port: u16, services_port: u16) -> String {
    let ports = [port, services_port];
    let passwds = [files.gateways_passwd(), files.services_passwd()];
    let (mut listeners, mut passwd_files) = (0, 0);
    let mut out = String::new();
    for line in SHIPPED_CONF.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        let line = match key {
            "listener" => {
                listeners += 1;
                format!("listener {} 127.0.0.1", ports[listeners - 1])
            }
            "persistence_location" => {
                format!("persistence_location {}/", files.dir.join("data").display())
            }
            "password_file" => {
                passwd_files += 1;
                format!("password_file {}", passwds[passwd_files - 1].display())
            }
            "acl_file" => format!("acl_file {}", files.dir.join("mosquitto.acl").display()),
            _ => line.to_owned(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!("log_dest file {}\n", files.log_file().display()));
    // As root, Mosquitto would change to its own user, which may not reach the data folder
    // (under /root, say); everything else in this process runs as root anyway.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        out.push_str("user root\n");
    }
    out
}

/// A loopback port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// Starts Mosquitto with the shipped configuration, gateways on `port` and services on
/// `services_port` (0: any free one), and waits until both listen.
pub async fn start_embedded(
    data_dir: &Path,
    port: u16,
    services_port: u16,
) -> anyhow::Result<Embedded> {
    let files = BrokerFiles::new(data_dir);
    std::fs::create_dir_all(files.dir.join("data"))
        .with_context(|| format!("creating {}", files.dir.display()))?;
    let services_port = match services_port {
        0 => free_port()?,
        p => p,
    };
    std::fs::write(files.dir.join("mosquitto.acl"), SHIPPED_ACL)?;
    let services_passwd = files.services_passwd();
    let _ = std::fs::remove_file(&services_passwd);
    let mut services: Vec<(&'static str, String)> = Vec::new();
    for (service, user) in service_users() {
        let password = match services.iter().find(|(s, _)| *s == service) {
            Some((_, password)) => password.clone(),
            None => {
                let password = geohazard_store::registry::new_secret(32);
                services.push((service, password.clone()));
                password
            }
        };
        add_to_mosquitto_passwd(&services_passwd, &user, &password)?;
    }
    // The gateways' file must exist, even before the first key is issued.
    let gateways_passwd = files.gateways_passwd();
    if !gateways_passwd.exists() {
        std::fs::write(&gateways_passwd, "")?;
    }
    for file in [&gateways_passwd, &services_passwd] {
        private(file)?;
    }
    let conf = files.dir.join("mosquitto.conf");
    std::fs::write(&conf, config(&files, port, services_port))?;
    let binary = geohazard_runtime::mosquitto::binary();
    let child = geohazard_runtime::mosquitto::spawn(&conf).with_context(|| {
        format!(
            "starting {} (package mosquitto; run deploy/install-deps.sh)",
            binary.display()
        )
    })?;
    if let Some(pid) = child.id() {
        std::fs::write(files.pid_file(), format!("{pid}\n"))?;
    }
    let mut broker = Embedded {
        port,
        services_port,
        services,
        files,
        child,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut pause =
        geohazard_runtime::Backoff::new(Duration::from_millis(10), Duration::from_millis(200));
    while !(is_listening(port) && is_listening(services_port)) {
        if let Ok(Some(status)) = broker.child.try_wait() {
            anyhow::bail!(
                "the embedded MQTT broker stopped at start ({status}):\n{}",
                broker.log()
            );
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the embedded MQTT broker did not start:\n{}",
            broker.log()
        );
        pause.wait().await;
    }
    tracing::info!(
        port,
        services_port,
        dir = %broker.files.dir.display(),
        "embedded MQTT broker (Mosquitto, shipped configuration) listening"
    );
    Ok(broker)
}

/// Readable and writable by its owner only.
fn private(file: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("permissions of {}", file.display()))
}

pub use geohazard_runtime::mosquitto::{add_to_passwd as add_to_mosquitto_passwd, reload};

/// Whether a TCP socket listens on `port` (Linux: /proc/net/tcp, state 0A).
fn is_listening(port: u16) -> bool {
    let suffix = format!(":{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .map(|table| {
            table.lines().skip(1).any(|line| {
                let mut fields = line.split_whitespace();
                let local = fields.nth(1).unwrap_or_default();
                let state = fields.nth(1).unwrap_or_default();
                local.ends_with(&suffix) && state == "0A"
            })
        })
        // Without /proc, assume it is up: clients retry with backoff anyway.
        .unwrap_or(true)
}
