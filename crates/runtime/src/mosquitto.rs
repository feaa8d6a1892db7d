//! Starting a real Mosquitto from a configuration file: the all-in-one's broker and the test
//! kit's brokers are the same process started the same way; its password files edited and the
//! running broker told to reload them (`geohazard gateway-key`, the console's gateway keys).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;

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

/// Adds (or replaces) `user` with `key` in a Mosquitto password file with `mosquitto_passwd`.
/// The key goes to its standard input (it asks twice), never on its command line, where `ps`
/// would show it. The file keeps its permissions.
pub fn add_to_passwd(file: &Path, user: &str, key: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut cmd = std::process::Command::new("mosquitto_passwd");
    if !file.exists() || std::fs::metadata(file)?.len() == 0 {
        cmd.arg("-c");
    }
    let mut child = cmd
        .arg(file)
        .arg(user)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("running mosquitto_passwd (package mosquitto)")?;
    let mut stdin = child.stdin.take().context("mosquitto_passwd's stdin")?;
    stdin
        .write_all(format!("{key}\n{key}\n").as_bytes())
        .context("giving mosquitto_passwd the key")?;
    drop(stdin);
    let status = child.wait().context("waiting for mosquitto_passwd")?;
    anyhow::ensure!(status.success(), "mosquitto_passwd failed: {status}");
    Ok(())
}

/// Takes `user` out of a Mosquitto password file (`mosquitto_passwd -D`); a user who is not
/// there is no error.
pub fn remove_from_passwd(file: &Path, user: &str) -> anyhow::Result<()> {
    let listed = std::fs::read_to_string(file)
        .with_context(|| format!("reading {}", file.display()))?
        .lines()
        .any(|l| l.split(':').next() == Some(user));
    if !listed {
        return Ok(());
    }
    let status = std::process::Command::new("mosquitto_passwd")
        .arg("-D")
        .arg(file)
        .arg(user)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("running mosquitto_passwd (package mosquitto)")?;
    anyhow::ensure!(status.success(), "mosquitto_passwd -D failed: {status}");
    Ok(())
}

/// Tells the Mosquitto whose pid is in `pid_file` to reload its password and ACL files
/// (SIGHUP): a new key works at once, and a client whose key is gone or changed is
/// disconnected and refused. `Ok(false)`: no such broker runs.
pub fn reload(pid_file: &Path) -> anyhow::Result<bool> {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return Ok(false);
    };
    let pid: libc::pid_t = text
        .trim()
        .parse()
        .with_context(|| format!("a process id in {}", pid_file.display()))?;
    // A pid file left by a crash may name some other process by now.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "mosquitto" {
        return Ok(false);
    }
    // SAFETY: kill(2) has no memory effects; a stale pid gives ESRCH.
    Ok(unsafe { libc::kill(pid, libc::SIGHUP) } == 0)
}
