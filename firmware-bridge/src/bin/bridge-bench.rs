//! `bridge-bench [--sensors 64] [--seconds 60] [--backlog 10000]`: the cost of one bridge
//! polling N sensors every second. Starts a private Mosquitto, the sensor simulator (in this
//! process) and the `firmware-bridge` binary as a child, counts the readings that reach the
//! broker, and reports the child's resident memory, CPU time and disk writes from /proc. Then, with
//! `--backlog`, how fast a queue left by a long outage is replayed.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use geohazard_bus::rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use geohazard_firmware_bridge::{DiskQueue, Lane, Message, demo, start_sensor_sim};
use geohazard_protocol::{Reading, TelemetryBatch, Topic};

/// The cost of one firmware-bridge polling N sensors every second, and of replaying a backlog.
#[derive(Parser)]
struct Cli {
    /// Simulated sensors, each polled every second.
    #[arg(long, default_value_t = 64)]
    sensors: usize,
    /// Length of the measured steady-state window, after a 5 s warm-up.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Telemetry messages left queued (as after a long outage) whose replay is then timed; 0
    /// for none.
    #[arg(long, default_value_t = 0)]
    backlog: u64,
    /// The `queue.sync_interval_ms` of this build's bridge; several (comma-separated) run one
    /// bridge each, side by side over the same window.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    sync_interval_ms: Vec<u64>,
    /// Another `firmware-bridge` binary (e.g. an earlier build) run beside them over the same
    /// window, with the same sensors, as "before".
    #[arg(long)]
    before_exe: Option<PathBuf>,
    /// The `queue.sync_interval_ms` given to `--before-exe`.
    #[arg(long, default_value_t = 0)]
    before_sync_interval_ms: u64,
    /// Count each bridge's fsync and fdatasync calls by attaching `strace` to it for the window.
    #[arg(long)]
    count_fsyncs: bool,
}

/// One bridge measured: its binary, its configuration, and what it did in the window.
struct Run {
    label: String,
    exe: PathBuf,
    gateway: String,
    sync_interval_ms: u64,
    config_path: PathBuf,
    received: Arc<AtomicU64>,
}

/// fsync and fdatasync calls in an `strace -f -o FILE` output.
fn fsync_calls(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
        .filter(|l| !l.contains("resumed>"))
        .count() as u64
}

/// (write_bytes, wchar) of a process from /proc/{pid}/io: bytes it sent to the storage layer
/// (pages dirtied, so a page rewritten after each fsync counts each time) and bytes it passed to
/// write calls.
fn io_written(pid: u32) -> anyhow::Result<(u64, u64)> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    let field = |name: &str| -> u64 {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Ok((field("write_bytes:"), field("wchar:")))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// (VmRSS, VmHWM) in KiB.
fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

/// User + system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').ok_or_else(|| anyhow::anyhow!("bad stat"))? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks as f64 / hz)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (sensors, seconds) = (cli.sensors, cli.seconds);
    let dir = tempfile::tempdir()?;

    // A private broker.
    let mqtt_port = free_port()?;
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {mqtt_port} 127.0.0.1\nallow_anonymous true\nmax_packet_size 8388608\n"),
    )?;
    let mut mosquitto = tokio::process::Command::new(
        std::env::var("MOSQUITTO").unwrap_or_else(|_| "/usr/sbin/mosquitto".into()),
    )
    .arg("-c")
    .arg(&conf)
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .kill_on_drop(true)
    .spawn()
    .map_err(|e| anyhow::anyhow!("cannot start mosquitto: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", mqtt_port))
        .await
        .is_err()
    {
        anyhow::ensure!(Instant::now() < deadline, "mosquitto does not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Per bridge: a simulator with N demo sensors and the matching configuration.
    let this_exe: PathBuf = std::env::current_exe()?
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no exe folder"))?
        .join("firmware-bridge");
    let list = demo::sensor_list(sensors);
    let mut plan: Vec<(String, PathBuf, u64)> = Vec::new();
    if let Some(before) = &cli.before_exe {
        plan.push(("before".into(), before.clone(), cli.before_sync_interval_ms));
    }
    for s in &cli.sync_interval_ms {
        plan.push(("this build".to_owned(), this_exe.clone(), *s));
    }
    let mut runs = Vec::new();
    let mut sims = Vec::new();
    for (i, (label, exe, sync_interval_ms)) in plan.into_iter().enumerate() {
        let gateway = format!("gw-bench-{i}");
        let sim_addr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let (sim_cfg, mut bridge_cfg) = demo::matching_maps(
            &gateway,
            &list,
            sim_addr,
            &format!("mqtt://127.0.0.1:{mqtt_port}"),
            dir.path().join(format!("queue-{i}")),
            1.0,
        );
        bridge_cfg.status.interval_s = 10.0;
        // No collector confirms here: the broker's PUBACK ends a message's stay in the queue.
        bridge_cfg.queue.until_confirmed = false;
        bridge_cfg.queue.sync_interval_ms = sync_interval_ms;
        sims.push(start_sensor_sim(sim_cfg).await?);
        let config_path = dir.path().join(format!("bridge-{i}.toml"));
        std::fs::write(&config_path, bridge_cfg.to_toml())?;
        runs.push(Run {
            label,
            exe,
            gateway,
            sync_interval_ms,
            config_path,
            received: Arc::new(AtomicU64::new(0)),
        });
    }

    // Count what arrives, per bridge.
    let mut o = MqttOptions::new("bench-counter", "127.0.0.1", mqtt_port);
    o.set_max_packet_size(8 << 20, 8 << 20);
    let (client, mut eventloop) = AsyncClient::new(o, 10);
    for r in &runs {
        client
            .subscribe(Topic::telemetry(&r.gateway), QoS::AtLeastOnce)
            .await?;
    }
    let counters: Vec<(String, Arc<AtomicU64>)> = runs
        .iter()
        .map(|r| (Topic::telemetry(&r.gateway), r.received.clone()))
        .collect();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let Some((_, r)) = counters.iter().find(|(t, _)| *t == p.topic) else {
                        continue;
                    };
                    if let Ok(b) = serde_json::from_slice::<TelemetryBatch>(&p.payload) {
                        r.fetch_add(b.readings.len() as u64, Ordering::Relaxed);
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });

    let spawn_bridge = |exe: &PathBuf, config_path: &PathBuf| {
        tokio::process::Command::new(exe)
            .arg("--config")
            .arg(config_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {} ({e}): build it first", exe.display()))
    };
    let mut children = Vec::new();
    for r in &runs {
        let child = spawn_bridge(&r.exe, &r.config_path)?;
        let pid = child.id().ok_or_else(|| anyhow::anyhow!("bridge exited"))?;
        children.push((child, pid));
    }

    // Warm up, then measure a steady-state window, every bridge over the same one.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut tracers = Vec::new();
    if cli.count_fsyncs {
        for (i, (_, pid)) in children.iter().enumerate() {
            let out = dir.path().join(format!("strace-{i}.txt"));
            let tracer = tokio::process::Command::new("strace")
                .args(["-f", "-qq", "-e", "trace=fsync,fdatasync", "-o"])
                .arg(&out)
                .arg("-p")
                .arg(pid.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| anyhow::anyhow!("cannot start strace: {e}"))?;
            tracers.push((tracer, out));
        }
        // strace attaches to every thread before the window starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let before: Vec<_> = children
        .iter()
        .map(|(_, pid)| Ok((cpu_seconds(*pid)?, io_written(*pid)?)))
        .collect::<anyhow::Result<_>>()?;
    let got0: Vec<u64> = runs
        .iter()
        .map(|r| r.received.load(Ordering::Relaxed))
        .collect();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after: Vec<_> = children
        .iter()
        .map(|(_, pid)| Ok((cpu_seconds(*pid)?, io_written(*pid)?, memory_kib(*pid)?)))
        .collect::<anyhow::Result<_>>()?;
    let wall = t0.elapsed().as_secs_f64();
    let mut fsyncs = Vec::new();
    for (mut tracer, out) in tracers {
        if let Some(pid) = tracer.id() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid as i32, libc::SIGINT) };
        }
        let _ = tracer.wait().await;
        fsyncs.push(fsync_calls(&out));
    }
    for (child, _) in &mut children {
        child.start_kill()?;
        let _ = child.wait().await;
    }

    let points = sensors + 1; // + the supply-voltage point, polled every 10 s
    let expected = sensors as f64 * wall;
    let per_day = |bytes: u64| bytes as f64 * 86_400.0 / wall / (1u64 << 20) as f64;
    println!(
        "firmware-bridge bench: {sensors} sensors every 1 s (+1 supply point), {wall:.1} s measured after 5 s warm-up, {} bridges side by side",
        runs.len()
    );
    let mut short = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let got = r.received.load(Ordering::Relaxed) - got0[i];
        let (cpu0, io0) = before[i];
        let (cpu1, io1, (rss, hwm)) = after[i];
        println!(
            "{} ({}), queue.sync_interval_ms = {}:",
            r.label,
            r.exe.display(),
            r.sync_interval_ms
        );
        println!(
            "  readings delivered to the broker: {got} ({:.1}/s; expected about {expected:.0} for {points} points)",
            got as f64 / wall,
        );
        println!(
            "  RSS: {:.1} MiB (peak {:.1} MiB); CPU: {:.2} s user+system = {:.2}% of one core",
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0,
            cpu1 - cpu0,
            100.0 * (cpu1 - cpu0) / wall
        );
        println!(
            "  disk writes: /proc write_bytes {} B = {:.0} MiB/day; wchar {} B = {:.0} MiB/day",
            io1.0 - io0.0,
            per_day(io1.0 - io0.0),
            io1.1 - io0.1,
            per_day(io1.1 - io0.1)
        );
        if let Some(n) = fsyncs.get(i) {
            println!(
                "  fsync + fdatasync calls: {n} = {:.2}/s = {:.0}/day",
                *n as f64 / wall,
                *n as f64 * 86_400.0 / wall
            );
        }
        if (got as f64) < 0.95 * expected {
            short.push(format!("{}: only {got} readings", r.label));
        }
    }
    // Replay: a queue holding `backlog` telemetry messages of `sensors` readings each, as after
    // a long outage, drained by a fresh bridge (its pollers adding live data meanwhile).
    let backlog = cli.backlog;
    let mut replay = None;
    if backlog > 0 {
        let last = runs.len() - 1;
        let queue_dir = dir.path().join(format!("queue-{last}"));
        let (exe, config_path, received) = (
            &runs[last].exe,
            &runs[last].config_path,
            runs[last].received.clone(),
        );
        {
            let mut q = DiskQueue::open(&queue_dir, 1 << 34, 4 << 20)?;
            let ts = chrono::Utc::now().timestamp_millis() - 86_400_000;
            for n in 0..backlog {
                let seq = q.next_id(Lane::Readings);
                let readings = list
                    .iter()
                    .map(|(c, _)| Reading {
                        sensor: c.clone(),
                        ts: ts + n as i64 * 1000,
                        value: 1.0,
                        quality: Default::default(),
                    })
                    .collect();
                let payload = TelemetryBatch { seq, readings }.to_json();
                let topic = Topic::telemetry(&runs[last].gateway);
                q.push(
                    Lane::Readings,
                    &Message {
                        topic,
                        payload: payload.into(),
                    },
                )?;
            }
        }
        let queued_readings = backlog * sensors as u64;
        let start_count = received.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let mut bridge = spawn_bridge(exe, config_path)?;
        let pid = bridge
            .id()
            .ok_or_else(|| anyhow::anyhow!("bridge exited"))?;
        while received.load(Ordering::Relaxed) - start_count < queued_readings {
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(600),
                "replay did not finish in 600 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid)?;
        let (_, hwm) = memory_kib(pid)?;
        bridge.start_kill()?;
        let _ = bridge.wait().await;
        replay = Some((queued_readings, took, cpu, hwm));
    }
    let _ = mosquitto.start_kill();
    if let Some((readings, took, cpu, hwm)) = replay {
        println!(
            "  replay of {backlog} queued messages ({readings} readings): {took:.1} s = {:.0} messages/s, {cpu:.1} s CPU, peak RSS {:.1} MiB",
            backlog as f64 / took,
            hwm as f64 / 1024.0
        );
    }
    drop(sims);
    anyhow::ensure!(short.is_empty(), "too few readings delivered: {short:?}");
    Ok(())
}
