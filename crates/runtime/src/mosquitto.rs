//! Starting a real Mosquitto from a configuration file: the all-in-one's broker and the test
//! kit's brokers are the same process started the same way.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

/// The Mosquitto binary: `$MOSQUITTO`, else Debian's `/usr/sbin/mosquitto`.
pub fn binary() -> PathBuf {
    std::env::var_os("MOSQUITTO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/mosquitto"))
}

/// Starts Mosquitto on `conf`, its output discarded (the configuration names its log), killed
/// when the returned child is dropped.
pub fn spawn(conf: &Path) -> std::io::Result<Child> {
    Command::new(binary())
        .arg("-c")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
}
