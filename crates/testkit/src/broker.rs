//! A private Mosquitto broker for one test, with persistence so that a restart keeps sessions
//! and queued messages, exactly as a production broker configured per `deploy/mosquitto.conf`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Child;

use crate::{free_port, wait_for_port};

pub struct Broker {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Run with `deploy/mosquitto.conf` and `deploy/mosquitto.acl` as shipped instead of the
    /// open test configuration.
    shipped: Option<Shipped>,
}

/// The shipped configuration's second listener, for the services, and both password files.
struct Shipped {
    services_port: u16,
    gateways_passwd: PathBuf,
    services_passwd: PathBuf,
}

/// The repository's `deploy/` folder.
fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Where Debian installs the broker; `MOSQUITTO` overrides.
impl Broker {
    /// Starts a broker on a free port. Panics with a clear message when Mosquitto is missing
    /// (`deploy/install-deps.sh` installs it).
    pub async fn start() -> Broker {
        let dir = tempfile::tempdir().expect("a temporary folder for the broker");
        let mut broker = Broker {
            port: free_port(),
            dir,
            child: None,
            shipped: None,
        };
        broker.launch().await;
        broker
    }

    /// Starts a broker configured by `deploy/mosquitto.conf` and `deploy/mosquitto.acl` exactly
    /// as shipped (persistence, autosave interval, limits, authentication, ACL, the gateways'
    /// and the services' listeners), except for where it listens and keeps its files.
    /// `gateways` and `services` are (name, password) pairs for each listener's password file.
    pub async fn start_as_shipped(gateways: &[(&str, &str)], services: &[(&str, &str)]) -> Broker {
        let dir = tempfile::tempdir().expect("a temporary folder for the broker");
        let gateways_passwd = dir.path().join("gateways.passwd");
        write_passwd(&gateways_passwd, gateways);
        Broker::launch_shipped(dir, gateways_passwd, services).await
    }

    /// As [`Broker::start_as_shipped`], with the gateways' password file made elsewhere (by
    /// `geohazard gateway-key --mosquitto-passwd`, say), copied as it is.
    pub async fn start_as_shipped_with_gateways_file(
        gateways_passwd: &Path,
        services: &[(&str, &str)],
    ) -> Broker {
        let dir = tempfile::tempdir().expect("a temporary folder for the broker");
        let copy = dir.path().join("gateways.passwd");
        std::fs::copy(gateways_passwd, &copy).expect("the gateways' password file");
        readable_by_the_broker(&copy);
        Broker::launch_shipped(dir, copy, services).await
    }

    async fn launch_shipped(
        dir: tempfile::TempDir,
        gateways_passwd: PathBuf,
        services: &[(&str, &str)],
    ) -> Broker {
        let services_passwd = dir.path().join("services.passwd");
        write_passwd(&services_passwd, services);
        let mut broker = Broker {
            port: free_port(),
            dir,
            child: None,
            shipped: Some(Shipped {
                services_port: free_port(),
                gateways_passwd,
                services_passwd,
            }),
        };
        broker.launch().await;
        broker
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// `mqtt://127.0.0.1:{port}`, the form the services' configuration takes.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// `mqtt://{user}:{password}@127.0.0.1:{port}`: on a shipped broker, the gateways' listener.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("mqtt://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// A shipped broker's services' listener, as `user`.
    pub fn service_url_as(&self, user: &str, password: &str) -> String {
        format!(
            "mqtt://{user}:{password}@127.0.0.1:{}",
            self.services_port()
        )
    }

    /// A shipped broker's services' listener's port (the gateways' is [`Broker::port`]).
    pub fn services_port(&self) -> u16 {
        let shipped = self.shipped.as_ref().expect("a broker started as shipped");
        shipped.services_port
    }

    /// A shipped broker's gateways' password file, as the broker reads it (a key added here
    /// works once the broker is told to reload: [`Broker::pid_file`]).
    pub fn gateways_passwd(&self) -> &Path {
        let shipped = self.shipped.as_ref().expect("a broker started as shipped");
        &shipped.gateways_passwd
    }

    /// A file holding the running broker's process id, as Debian's `/run/mosquitto/mosquitto.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.path().join("mosquitto.pid")
    }

    /// The shipped configuration with this broker's ports, folders and password files: the
    /// first listener (the gateways') on `port`, the second (the services') on `services_port`.
    fn shipped_config(&self, shipped: &Shipped, data: &std::path::Path) -> String {
        let text = std::fs::read_to_string(deploy_dir().join("mosquitto.conf"))
            .expect("deploy/mosquitto.conf");
        let ports = [self.port, shipped.services_port];
        let passwds = [&shipped.gateways_passwd, &shipped.services_passwd];
        let (mut listeners, mut passwd_files) = (0, 0);
        let mut out = String::new();
        for line in text.lines() {
            let key = line.split_whitespace().next().unwrap_or("");
            let line = match key {
                "listener" => {
                    listeners += 1;
                    format!("listener {} 127.0.0.1", ports[listeners - 1])
                }
                "persistence_location" => format!("persistence_location {}/", data.display()),
                "password_file" => {
                    passwd_files += 1;
                    format!("password_file {}", passwds[passwd_files - 1].display())
                }
                "acl_file" => {
                    // A copy beside the other files, where the broker's own user can read it.
                    let acl = self.dir.path().join("mosquitto.acl");
                    std::fs::copy(deploy_dir().join("mosquitto.acl"), &acl)
                        .expect("deploy/mosquitto.acl");
                    format!("acl_file {}", acl.display())
                }
                _ => line.to_owned(),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(&format!(
            "log_dest file {}/mosquitto.log\n",
            self.dir.path().display()
        ));
        out
    }

    async fn launch(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        let persistence = self.dir.path().join("data");
        std::fs::create_dir_all(&persistence).expect("broker data folder");
        // Started as root, Mosquitto drops to its own user: it must be able to write its
        // persistence file and log here, or it silently forgets sessions across a restart.
        use std::os::unix::fs::PermissionsExt;
        for dir in [self.dir.path(), persistence.as_path()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
                .expect("broker folder permissions");
        }
        let open = format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence true\n\
             persistence_location {data}/\n\
             autosave_interval 1\n\
             max_inflight_messages 1000\n\
             max_inflight_bytes 67108864\n\
             max_queued_messages 1000000\n\
             max_packet_size 8388608\n\
             set_tcp_nodelay true\n\
             log_dest file {dir}/mosquitto.log\n",
            port = self.port,
            data = persistence.display(),
            dir = self.dir.path().display(),
        );
        let text = match &self.shipped {
            Some(shipped) => self.shipped_config(shipped, &persistence),
            None => open,
        };
        std::fs::write(&conf, text).expect("broker configuration");
        let binary = geohazard_runtime::mosquitto::binary();
        let child = geohazard_runtime::mosquitto::spawn(&conf).unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}): run deploy/install-deps.sh",
                binary.display()
            )
        });
        if let Some(pid) = child.id() {
            std::fs::write(self.pid_file(), format!("{pid}\n")).expect("the broker's pid file");
        }
        self.child = Some(child);
        let services_port = self.shipped.as_ref().map(|s| s.services_port);
        for port in std::iter::once(self.port).chain(services_port) {
            if let Err(e) = wait_for_port(port, Duration::from_secs(10)).await {
                panic!("the broker does not start: {e}\n{}", self.log());
            }
        }
    }

    /// Stops the broker the way an operator or a power-aware init system would: SIGTERM, so it
    /// writes its persistence file, then waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::terminate(&mut child, Duration::from_secs(10)).await;
        }
    }

    /// Kills the broker with SIGKILL, as a crash or the OOM killer would: nothing is saved
    /// beyond what its last autosave wrote.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }

    /// Starts the broker again on the same port with the same persistence.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    /// The broker's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

/// A Mosquitto password file with `users` as (name, password).
fn write_passwd(file: &Path, users: &[(&str, &str)]) {
    std::fs::write(file, "").expect("password file");
    for (user, password) in users {
        let ok = std::process::Command::new("mosquitto_passwd")
            .arg("-b")
            .arg(file)
            .arg(user)
            .arg(password)
            .status()
            .expect("mosquitto_passwd runs (deploy/install-deps.sh installs it)");
        assert!(ok.success(), "mosquitto_passwd failed for {user}");
    }
    readable_by_the_broker(file);
}

/// Started as root, Mosquitto drops to its own user, which must be able to read the file.
fn readable_by_the_broker(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644))
        .expect("password file permissions");
}
