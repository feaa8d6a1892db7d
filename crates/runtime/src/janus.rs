//! Running Debian's Janus (the WebRTC SFU behind consultation rooms) from a folder of its own:
//! the all-in-one's media server and the test kit's are configured the same way, loading only
//! the REST transport and the video-room plugin.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where Debian puts Janus's plugins and transports.
const JANUS_LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";

/// The Janus binary: `$JANUS`, else Debian's `/usr/bin/janus`.
pub fn binary() -> PathBuf {
    std::env::var_os("JANUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/janus"))
}

/// A Janus configuration written into one folder.
pub struct JanusFiles {
    pub dir: PathBuf,
    /// The REST API's address: `http://{listen}/janus`.
    pub listen: SocketAddr,
    /// The video-room plugin's admin key: only its holder makes rooms.
    pub admin_key: String,
}

impl JanusFiles {
    /// Writes the configuration into `dir` (created if need be, rewritten on every start):
    /// REST on `listen` without the admin interface, RTP on `rtp_ports`, and a fresh admin key.
    pub fn write(dir: &Path, listen: SocketAddr, rtp_ports: (u16, u16)) -> std::io::Result<Self> {
        for sub in ["plugins", "transports", "events", "loggers"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        // Only what is used is loaded: the REST transport and the video room.
        for (kind, lib) in [
            ("plugins", "libjanus_videoroom.so"),
            ("transports", "libjanus_http.so"),
        ] {
            let link = dir.join(kind).join(lib);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(format!("{JANUS_LIB}/{kind}/{lib}"), link)?;
        }
        let admin_key = format!("{:032x}", rand::random::<u128>());
        let d = dir.display();
        let (from, to) = rtp_ports;
        std::fs::write(
            dir.join("janus.jcfg"),
            format!(
                "general: {{\n configs_folder = \"{d}\"\n plugins_folder = \"{d}/plugins\"\n \
                 transports_folder = \"{d}/transports\"\n events_folder = \"{d}/events\"\n \
                 loggers_folder = \"{d}/loggers\"\n debug_level = 4\n session_timeout = 60\n}}\n\
                 media: {{\n rtp_port_range = \"{from}-{to}\"\n}}\n"
            ),
        )?;
        std::fs::write(
            dir.join("janus.transport.http.jcfg"),
            format!(
                "general: {{\n base_path = \"/janus\"\n http = true\n port = {}\n ip = \"{}\"\n \
                 https = false\n}}\nadmin: {{\n admin_http = false\n admin_https = false\n}}\n",
                listen.port(),
                listen.ip()
            ),
        )?;
        std::fs::write(
            dir.join("janus.plugin.videoroom.jcfg"),
            format!("general: {{\n admin_key = \"{admin_key}\"\n}}\n"),
        )?;
        Ok(JanusFiles {
            dir: dir.to_owned(),
            listen,
            admin_key,
        })
    }

    /// Janus's arguments for this configuration (after the program name).
    pub fn args(&self) -> Vec<std::ffi::OsString> {
        vec![
            "-F".into(),
            self.dir.clone().into_os_string(),
            "-C".into(),
            self.dir.join("janus.jcfg").into_os_string(),
        ]
    }

    /// The REST API's URL.
    pub fn url(&self) -> String {
        format!("http://{}/janus", self.listen)
    }
}
