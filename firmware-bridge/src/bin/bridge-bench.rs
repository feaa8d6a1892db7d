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
    /// The bridge's `queue.sync_interval_ms` (0, the default: an fsync per message).
    #[arg(long, default_value_t = 0)]
    sync_interval_ms: u64,
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

    // The simulator with N demo sensors, and the matching bridge configuration.
    let list = demo::sensor_list(sensors);
    let sim_addr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let (sim_cfg, mut bridge_cfg) = demo::matching_maps(
        "gw-bench",
        &list,
        sim_addr,
        &format!("mqtt://127.0.0.1:{mqtt_port}"),
        dir.path().join("queue"),
        1.0,
    );
    bridge_cfg.status.interval_s = 10.0;
    // No collector confirms here: the broker's PUBACK ends a message's stay in the queue.
    bridge_cfg.queue.until_confirmed = false;
    bridge_cfg.queue.sync_interval_ms = cli.sync_interval_ms;
    let _sim = start_sensor_sim(sim_cfg).await?;
    let config_path = dir.path().join("bridge.toml");
    std::fs::write(&config_path, bridge_cfg.to_toml())?;

    // Count what arrives.
    let received = Arc::new(AtomicU64::new(0));
    let mut o = MqttOptions::new("bench-counter", "127.0.0.1", mqtt_port);
    o.set_max_packet_size(8 << 20, 8 << 20);
    let (client, mut eventloop) = AsyncClient::new(o, 10);
    client
        .subscribe(Topic::telemetry("gw-bench"), QoS::AtLeastOnce)
        .await?;
    let r = received.clone();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    if let Ok(b) = serde_json::from_slice::<TelemetryBatch>(&p.payload) {
                        r.fetch_add(b.readings.len() as u64, Ordering::Relaxed);
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });

    let exe: PathBuf = std::env::current_exe()?
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no exe folder"))?
        .join("firmware-bridge");
    let spawn_bridge = || {
        tokio::process::Command::new(&exe)
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {} ({e}): build it first", exe.display()))
    };
    let mut bridge = spawn_bridge()?;
    let pid = bridge
        .id()
        .ok_or_else(|| anyhow::anyhow!("bridge exited"))?;

    // Warm up, then measure a steady-state window.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu0 = cpu_seconds(pid)?;
    let io0 = io_written(pid)?;
    let got0 = received.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu1 = cpu_seconds(pid)?;
    let io1 = io_written(pid)?;
    let wall = t0.elapsed().as_secs_f64();
    let got = received.load(Ordering::Relaxed) - got0;
    let (rss, hwm) = memory_kib(pid)?;
    bridge.start_kill()?;
    let _ = bridge.wait().await;

    // Replay: a queue holding `backlog` telemetry messages of `sensors` readings each, as after
    // a long outage, drained by a fresh bridge (its pollers adding live data meanwhile).
    let backlog = cli.backlog;
    let mut replay = None;
    if backlog > 0 {
        let queue_dir = dir.path().join("queue");
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
                let topic = Topic::telemetry("gw-bench");
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
        let mut bridge = spawn_bridge()?;
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

    let points = sensors + 1; // + the supply-voltage point, polled every 10 s
    let expected = sensors as f64 * wall;
    println!(
        "firmware-bridge bench: {sensors} sensors every 1 s (+1 supply point), {wall:.1} s measured after 5 s warm-up"
    );
    println!(
        "  readings delivered to the broker: {got} ({:.1}/s; expected about {:.0} for {points} points)",
        got as f64 / wall,
        expected
    );
    println!(
        "  bridge RSS: {:.1} MiB (peak {:.1} MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "  bridge CPU: {:.2} s user+system in {wall:.1} s = {:.2}% of one core",
        cpu1 - cpu0,
        100.0 * (cpu1 - cpu0) / wall
    );
    let per_day = |bytes: u64| bytes as f64 * 86_400.0 / wall / (1u64 << 20) as f64;
    println!(
        "  bridge disk writes (queue.sync_interval_ms = {}): /proc write_bytes {} B = {:.0} MiB/day; wchar {} B = {:.0} MiB/day",
        cli.sync_interval_ms,
        io1.0 - io0.0,
        per_day(io1.0 - io0.0),
        io1.1 - io0.1,
        per_day(io1.1 - io0.1)
    );
    if let Some((readings, took, cpu, hwm)) = replay {
        println!(
            "  replay of {backlog} queued messages ({readings} readings): {took:.1} s = {:.0} messages/s, {cpu:.1} s CPU, peak RSS {:.1} MiB",
            backlog as f64 / took,
            hwm as f64 / 1024.0
        );
    }
    anyhow::ensure!(
        got as f64 >= 0.95 * expected,
        "only {got} readings delivered, expected about {expected:.0}"
    );
    Ok(())
}
