//! A private Mosquitto broker for one test, with persistence so that a restart keeps sessions
//! and queued messages, exactly as a production broker configured per `deploy/mosquitto.conf`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::{free_port, wait_for_port};

pub struct Broker {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// Where Debian installs the broker; `MOSQUITTO` overrides.
fn mosquitto_binary() -> PathBuf {
    std::env::var_os("MOSQUITTO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/mosquitto"))
}

impl Broker {
    /// Starts a broker on a free port. Panics with a clear message when Mosquitto is missing
    /// (`deploy/install-deps.sh` installs it).
    pub async fn start() -> Broker {
        let dir = tempfile::tempdir().expect("a temporary folder for the broker");
        let mut broker = Broker {
            port: free_port(),
            dir,
            child: None,
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
        let text = format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence true\n\
             persistence_location {data}/\n\
             autosave_interval 1\n\
             max_inflight_messages 1000\n\
             max_queued_messages 1000000\n\
             max_packet_size 8388608\n\
             set_tcp_nodelay true\n\
             log_dest file {dir}/mosquitto.log\n",
            port = self.port,
            data = persistence.display(),
            dir = self.dir.path().display(),
        );
        std::fs::write(&conf, text).expect("broker configuration");
        let binary = mosquitto_binary();
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): run deploy/install-deps.sh",
                    binary.display()
                )
            });
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(10))
            .await
            .expect("the broker starts listening");
    }

    /// Stops the broker the way an operator or a power-aware init system would: SIGTERM, so it
    /// writes its persistence file, then waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
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
