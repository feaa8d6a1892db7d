//! A network namespace of a test's own, joined to the host by a veth pair, and Janus (Debian's
//! `janus`, its REST transport and video-room plugin only) running inside it.
//!
//! Janus never gathers ICE candidates on a loopback interface, so on a host whose only address
//! is loopback it cannot answer an offer. Inside the namespace it has the veth's address; the
//! browsers run there too (see `browser::browser_in`), so media never leaves the namespace,
//! while the command-center stays on the host and reaches Janus, as the browsers reach the
//! command-center, over the pair. Needs root (CAP_NET_ADMIN) and `ip` (iproute2).

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use geohazard_runtime::janus::JanusFiles;

/// A network namespace with one veth pair: `host_ip` on the host's end, `ns_ip` inside.
pub struct NetNs {
    pub name: String,
    pub host_ip: Ipv4Addr,
    pub ns_ip: Ipv4Addr,
    /// The namespace's end of its pair: what a test shapes (see `weaken_media`) to make its
    /// link weak.
    pub link: String,
    /// The host's route to a namespace behind another (see `behind`), removed with it.
    host_route: Option<String>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    run(Command::new("ip"), "ip", args)
}

/// Runs `command` (`name`, for what is said of a failure) with `args`; its error output if it
/// fails.
fn run(mut command: Command, name: &str, args: &[&str]) -> Result<(), String> {
    let out = command
        .args(args)
        .output()
        .map_err(|e| format!("{name} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{name} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetNs {
    /// A fresh namespace, or why there cannot be one here (not root, no `ip`).
    pub fn create() -> Result<NetNs, String> {
        let tag: u32 = rand::random::<u32>() & 0x00ff_ffff;
        let name = format!("gh-{}-{tag:06x}", std::process::id());
        // A /30 of its own in 10.200.0.0/16.
        let net = (tag & 0x3fff) * 4;
        let host_ip = Ipv4Addr::new(10, 200, (net >> 8) as u8, (net & 0xff) as u8 + 1);
        let ns_ip = Ipv4Addr::new(10, 200, (net >> 8) as u8, (net & 0xff) as u8 + 2);
        ip(&["netns", "add", &name])?;
        let outer = format!("gho{tag:06x}");
        let inner = format!("ghi{tag:06x}");
        let ns = NetNs {
            name,
            host_ip,
            ns_ip,
            link: inner.clone(),
            host_route: None,
        };
        ip(&[
            "link", "add", &outer, "type", "veth", "peer", "name", &inner,
        ])?;
        ip(&["link", "set", &inner, "netns", &ns.name])?;
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &outer])?;
        ip(&["link", "set", &outer, "up"])?;
        let n = ns.name.clone();
        ip(&[
            "-n",
            &n,
            "addr",
            "add",
            &format!("{ns_ip}/30"),
            "dev",
            &inner,
        ])?;
        ip(&["-n", &n, "link", "set", &inner, "up"])?;
        ip(&["-n", &n, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A second namespace reached through this one, for a participant on a link of its own
    /// that the test shapes with `tc` (inside one namespace, traffic between its own addresses
    /// goes over loopback, never over a veth). A veth pair joins the two, this namespace
    /// forwards, and the host routes the new one's /30 through this one. Its `host_ip` is the
    /// host's address as seen from it (this namespace's host end), so the command-center and
    /// `browser::browser_in` work unchanged; `link` is its end of the new pair.
    pub fn behind(&self) -> Result<NetNs, String> {
        let tag: u32 = rand::random::<u32>() & 0x00ff_ffff;
        let name = format!("gh-{}-{tag:06x}", std::process::id());
        let net = (tag & 0x3fff) * 4;
        let (a, b) = ((net >> 8) as u8, (net & 0xff) as u8);
        let gateway = Ipv4Addr::new(10, 201, a, b + 1);
        let own = Ipv4Addr::new(10, 201, a, b + 2);
        let (outer, inner) = (format!("gbo{tag:06x}"), format!("gbi{tag:06x}"));
        ip(&["netns", "add", &name])?;
        let mut ns = NetNs {
            name,
            host_ip: self.host_ip,
            ns_ip: own,
            link: inner.clone(),
            host_route: None,
        };
        let (n, here) = (ns.name.clone(), self.name.clone());
        ip(&[
            "link", "add", &outer, "type", "veth", "peer", "name", &inner,
        ])?;
        ip(&["link", "set", &outer, "netns", &here])?;
        ip(&["link", "set", &inner, "netns", &n])?;
        ip(&[
            "-n",
            &here,
            "addr",
            "add",
            &format!("{gateway}/30"),
            "dev",
            &outer,
        ])?;
        ip(&["-n", &here, "link", "set", &outer, "up"])?;
        ip(&["-n", &n, "addr", "add", &format!("{own}/30"), "dev", &inner])?;
        ip(&["-n", &n, "link", "set", &inner, "up"])?;
        ip(&["-n", &n, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &n,
            "route",
            "add",
            "default",
            "via",
            &gateway.to_string(),
        ])?;
        run(
            self.command("sysctl"),
            "sysctl",
            &["-q", "-w", "net.ipv4.ip_forward=1"],
        )?;
        let route = format!("10.201.{a}.{b}/30");
        ip(&["route", "add", &route, "via", &self.ns_ip.to_string()])?;
        ns.host_route = Some(route);
        Ok(ns)
    }

    /// Runs `tc` inside the namespace (`args` after `tc`).
    pub fn tc(&self, args: &[&str]) -> Result<(), String> {
        run(self.command("tc"), "tc", args)
    }

    /// Makes the media this namespace sends out over `link` (UDP: WebRTC's RTP and RTCP) go
    /// at `kbit` kbit/s at most, dropping what waits over 300 ms, while TCP (the browser's
    /// driver, HTTP, the room's socket) stays at full speed, so a test can still drive a
    /// browser whose media link it made weak. An HTB with a slow class for UDP (u32 on the IP
    /// protocol) holding a token bucket; this kernel has no netem, prio, flower or matchall.
    pub fn weaken_media(&self, kbit: u32) -> Result<(), String> {
        let link = self.link.as_str();
        let rate = format!("{kbit}kbit");
        self.tc(&[
            "qdisc", "add", "dev", link, "root", "handle", "1:", "htb", "default", "10",
        ])?;
        self.tc(&[
            "class", "add", "dev", link, "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit",
        ])?;
        self.tc(&[
            "class", "add", "dev", link, "parent", "1:", "classid", "1:20", "htb", "rate", &rate,
            "ceil", &rate, "burst", "3000",
        ])?;
        self.tc(&[
            "qdisc", "add", "dev", link, "parent", "1:20", "handle", "20:", "tbf", "rate", &rate,
            "burst", "3000", "latency", "300ms",
        ])?;
        self.tc(&[
            "filter", "add", "dev", link, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
            "match", "ip", "protocol", "17", "0xff", "flowid", "1:20",
        ])
    }

    /// The media link back to full speed (undoes `weaken_media`).
    pub fn restore_media(&self) -> Result<(), String> {
        self.tc(&["qdisc", "del", "dev", &self.link, "root"])
    }

    /// `program` to run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// The same for tokio.
    pub fn tokio_command(&self, program: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Whatever still runs inside ends with it; the veth pair goes with the namespace.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = ip(&["netns", "del", &self.name]);
        if let Some(route) = &self.host_route {
            let _ = ip(&["route", "del", route]);
        }
    }
}

/// Janus running in a namespace: REST on `url`, no admin interface, the video-room plugin
/// whose rooms only the holder of `admin_key` makes.
pub struct Janus {
    child: std::process::Child,
    pub url: String,
    pub admin_key: String,
    pub log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Janus {
    /// Janus's process id (`ip netns exec` execs it), for measuring what it uses.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts Janus inside `ns` and waits until its REST API answers.
    pub async fn start(ns: &NetNs) -> Janus {
        let dir = tempfile::tempdir().expect("a folder for Janus's configuration");
        let files = JanusFiles::write(
            dir.path(),
            std::net::SocketAddr::from((ns.ns_ip, 8088)),
            (20000, 20999),
        )
        .expect("Janus's configuration written");
        let d = dir.path();
        let log = d.join("janus.log");
        let child = ns
            .command("janus")
            .args(files.args())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("janus (Debian's janus package; deploy/install-deps.sh)");
        let janus = Janus {
            child,
            url: files.url(),
            admin_key: files.admin_key,
            log,
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let addr = std::net::SocketAddr::from((ns.ns_ip, 8088));
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "Janus did not listen within 20 s: {}",
                std::fs::read_to_string(&janus.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        janus
    }
}
