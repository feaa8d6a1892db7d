//! Console benchmarks, recorded in BENCHMARKS.md.
//!
//! ```sh
//! cargo build --release -p geohazard-command-center --bins --examples
//! target/release/examples/console_bench [consoles=1000] [sites=10000]
//! ```
//!
//! 1. Live fan-out: `consoles` WebSocket consoles on one command-center (the release
//!    `command-center` binary as its own process), each with its own session as each duty
//!    officer's console has (one session may only open `live_max_sockets_per_session`), warning
//!    changes published on MQTT → the time until each console has it (p50/p99/max), and until
//!    all have it; the command-center's memory per console (RSS growth over the idle sockets).
//!    Each warning is first stored through the analyzer's state machine, as the analyzer does
//!    before it publishes: the command-center passes on only what the store has. Baseline in
//!    the same run: 1 console.
//! 2. Map: the console in headless Chromium with `sites` sites (clustered): time from sign-in
//!    to the markers drawn, and frame times while panning. Baseline in the same run: 100 sites.
//!
//! ```sh
//! target/release/examples/console_bench --idle 10000 [consoles=1000]
//! ```
//!
//! 3. Crowded (`--idle N`): N idle authenticated live sockets (each session its own, reading
//!    and never writing) plus `consoles` consoles, the clients bound to many 127.x.y.z
//!    addresses (past the per-address limit and port exhaustion): warning fan-out to the
//!    consoles p50/p99/max, sign-in and acknowledgement p99 while they are all open, and the
//!    command-center's memory per socket. Baseline in the same run: sign-in and acknowledgement
//!    with nothing else open, fan-out to one console. The idle sockets connect as the field app
//!    does (`?feeds=notifications,incidents`, [`FIELD_APP_FEEDS`]); with `--idle-all-feeds` they
//!    ask for no feeds and so carry every feed, as every socket did before feeds (run 7 in
//!    BENCHMARKS.md). Consoles name the console's feeds ([`CONSOLE_FEEDS`]).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use geohazard_bus::Bus;
use geohazard_command_center::{NewOfficer, Role, Settings, add_officer, open_session};
use geohazard_protocol::warning::{Summary, WarningLevel};
use geohazard_store::Store;
use geohazard_store::registry::{self, NewSite, SiteKind};
use geohazard_testkit::fixtures::{self, COUNTY};
use geohazard_testkit::{
    Broker, TestDb, browser, free_port, publish_warning, publisher, wait_for_port,
};
use geohazard_warnings::{LevelChange, Lifecycle};
use serde_json::{Value, json};

const PASSWORD: &str = "benchmark password";
/// The feeds the console's live socket names (`web/views/live.js`).
const CONSOLE_FEEDS: &str =
    "warnings,incidents,deliveries,field_reports,patrols,readings,notifications";
/// The feeds the field app's live socket names (`web/app/app.js`).
const FIELD_APP_FEEDS: &str = "notifications,incidents";
const EVENTS: usize = 50;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user and system) process `pid` (`self`: this benchmark) has used:
/// `/proc/<pid>/stat`'s utime and stime.
fn cpu_s(pid: &str) -> f64 {
    // SAFETY: sysconf only reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's name in parentheses: state is field 3, utime 14, stime 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field(11) + field(12)) / ticks
}

/// CPU seconds used by every process whose command is `comm` (PostgreSQL's backends, the broker).
fn cpu_s_of_all(comm: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .map(|pid| cpu_s(&pid))
        .sum()
}

/// Who used the cores during a stretch of the benchmark: CPU seconds of the command-center, of
/// this benchmark's clients, of PostgreSQL and of Mosquitto, and the wall-clock seconds.
struct CpuUse {
    wall: Instant,
    server: f64,
    clients: f64,
    postgres: f64,
    broker: f64,
}

impl CpuUse {
    fn start(cc: &CommandCenter) -> CpuUse {
        CpuUse {
            wall: Instant::now(),
            server: cpu_s(&cc.child.id().to_string()),
            clients: cpu_s("self"),
            postgres: cpu_s_of_all("postgres"),
            broker: cpu_s_of_all("mosquitto"),
        }
    }

    fn report(&self, cc: &CommandCenter, what: &str) {
        let wall = self.wall.elapsed().as_secs_f64();
        let server = cpu_s(&cc.child.id().to_string()) - self.server;
        let clients = cpu_s("self") - self.clients;
        let postgres = cpu_s_of_all("postgres") - self.postgres;
        let broker = cpu_s_of_all("mosquitto") - self.broker;
        println!(
            "CPU during {what} ({wall:.1} s of wall clock, {:.1} core-s on 2 cores): \
             command-center {server:.2} s ({:.0} %), benchmark clients {clients:.2} s ({:.0} %), \
             PostgreSQL {postgres:.2} s, Mosquitto {broker:.2} s",
            wall * 2.0,
            100.0 * server / (wall * 2.0),
            100.0 * clients / (wall * 2.0),
        );
    }
}

struct CommandCenter {
    child: std::process::Child,
    port: u16,
    _frames: tempfile::TempDir,
}

impl Drop for CommandCenter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebSocket to the live feed from loopback address `local` carrying `feeds` (every feed when
/// `None`), past its `ready`.
async fn live_socket(
    port: u16,
    token: &str,
    local: std::net::Ipv4Addr,
    feeds: Option<&str>,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((local, 0).into()).unwrap();
    let stream = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("a connection");
    let query = feeds.map(|f| format!("?feeds={f}")).unwrap_or_default();
    let request = geohazard_testkit::api::bearer_upgrade(
        &format!("ws://127.0.0.1:{port}/api/v1/live{query}"),
        token,
    );
    // A small read buffer, as the server's: 11,000 clients at 128 KiB each would be 1.4 GB.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .expect("a live socket");
    let first = ws.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("ready"), "{first}");
    ws
}

/// The `i`-th client address: 100 sockets to each, well within the per-address limit.
fn client_address(i: usize) -> std::net::Ipv4Addr {
    let a = i / 100;
    std::net::Ipv4Addr::new(127, 1 + (a / 250) as u8, (a % 250) as u8, 1)
}

/// Opens `n` idle authenticated live sockets carrying `feeds` that read everything and say
/// nothing; the tasks reading them, and how many messages they read.
async fn idle_sockets(
    cc: &CommandCenter,
    store: &Store,
    officer_id: i64,
    n: usize,
    first_address: usize,
    feeds: Option<&str>,
) -> (
    Vec<tokio::task::JoinHandle<()>>,
    Arc<std::sync::atomic::AtomicU64>,
) {
    let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ttl_s = Settings::default().session_ttl_s;
    let mut open = Vec::with_capacity(n);
    for i in 0..n {
        let (token, _) = open_session(&store.pool, officer_id, ttl_s).await.unwrap();
        let mut ws = live_socket(cc.port, &token, client_address(first_address + i), feeds).await;
        let read = read.clone();
        open.push(tokio::spawn(async move {
            while let Some(Ok(_)) = ws.next().await {
                read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    (open, read)
}

/// Sign-in and acknowledgement latencies (ms), `rounds` of each, one after the other, from
/// an address of their own.
async fn sign_in_and_acknowledge(
    port: u16,
    store: &Store,
    site_id: i64,
    rounds: usize,
) -> (Vec<f64>, Vec<f64>) {
    let api = geohazard_testkit::api::Api::from_address(
        ([127, 0, 0, 1], port).into(),
        std::net::IpAddr::from([127, 250, 0, 1]),
    );
    let lifecycle = Lifecycle::default();
    let (mut sign_in, mut ack) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let token = api.token("bench", PASSWORD).await;
        sign_in.push(started.elapsed().as_secs_f64() * 1000.0);
        // An open warning on another source, to acknowledge.
        let mut change = bench_change(site_id, Some(WarningLevel::Orange));
        change.source = "threshold:bench/ack".parse().unwrap();
        let w = lifecycle
            .apply(&store.pool, &change)
            .await
            .unwrap()
            .unwrap();
        let started = Instant::now();
        let (status, body) = api
            .post(
                &token,
                &format!("/warnings/{}/acknowledge", w.id),
                json!({}),
            )
            .await;
        assert!(status.is_success(), "acknowledgement: {status} {body}");
        ack.push(started.elapsed().as_secs_f64() * 1000.0);
        change.level = None;
        lifecycle.apply(&store.pool, &change).await.unwrap();
    }
    sign_in.sort_by(f64::total_cmp);
    ack.sort_by(f64::total_cmp);
    (sign_in, ack)
}

/// The crowded benchmark: `idle` idle sockets carrying `idle_feeds` (every feed when `None`)
/// and `consoles` consoles on one command-center, the fan-out measured once every idle socket
/// has been open for a session-check interval.
#[allow(clippy::too_many_arguments)]
async fn crowded(
    cc: &CommandCenter,
    store: &Store,
    bus: &Bus,
    officer_id: i64,
    site_id: i64,
    idle: usize,
    consoles: usize,
    idle_feeds: Option<&str>,
) {
    println!(
        "== crowded: {idle} idle live sockets ({}) + {consoles} consoles",
        match idle_feeds {
            Some(f) => format!("as the field app: feeds={f}"),
            None => "every feed, as before feeds".to_owned(),
        }
    );
    let (sign_in_0, ack_0) = sign_in_and_acknowledge(cc.port, store, site_id, 30).await;
    line("sign-in, nothing else open (baseline)", &sign_in_0);
    line("acknowledgement, nothing else open (baseline)", &ack_0);
    let (one, _, _) = fan_out(cc, store, bus, officer_id, site_id, 1).await;
    line("fan-out to 1 console (baseline)", &one);
    let before = rss_kib(cc.child.id());
    let started = Instant::now();
    let (readers, idle_read) = idle_sockets(cc, store, officer_id, idle, 0, idle_feeds).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_socket = (rss_kib(cc.child.id()).saturating_sub(before)) as f64 / idle as f64;
    println!(
        "{idle} idle sockets open in {:.1} s; command-center memory per socket: {per_socket:.1} KiB",
        started.elapsed().as_secs_f64()
    );
    // Steady state: every idle socket has been open longer than the session-check interval
    // (`live_recheck_s`), so the checks of their sessions go on during the fan-out.
    if idle > 0 {
        let settle = Settings::default().live_recheck_s + 5;
        println!("waiting {settle} s: one session-check interval and a little");
        tokio::time::sleep(Duration::from_secs(settle)).await;
    }
    // The consoles' fan-out, with sign-ins and acknowledgements going on at the same time.
    let (port, ack_store) = (cc.port, store.clone());
    let during = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        sign_in_and_acknowledge(port, &ack_store, site_id, 30).await
    });
    let idle_read_before = idle_read.load(std::sync::atomic::Ordering::Relaxed);
    let (all, last, _) = fan_out(cc, store, bus, officer_id, site_id, consoles).await;
    let (sign_in, ack) = during.await.unwrap();
    println!(
        "messages the {idle} idle sockets read during the fan-out: {}",
        idle_read.load(std::sync::atomic::Ordering::Relaxed) - idle_read_before
    );
    line(
        &format!("fan-out to {consoles} consoles beside {idle} idle sockets, per delivery"),
        &all,
    );
    line(
        &format!("fan-out to {consoles} consoles, until all have it"),
        &last,
    );
    line("sign-in while all are open", &sign_in);
    line("acknowledgement while all are open", &ack);
    println!(
        "ratios to baseline: fan-out p99 {:.1}, sign-in p99 {:.1}, acknowledgement p99 {:.1}",
        percentile(&all, 0.99) / percentile(&one, 0.99),
        percentile(&sign_in, 0.99) / percentile(&sign_in_0, 0.99),
        percentile(&ack, 0.99) / percentile(&ack_0, 0.99),
    );
    for r in readers {
        r.abort();
    }
}

async fn command_center(db_url: &str, mqtt_url: &str) -> CommandCenter {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("command-center");
    let port = free_port();
    let frames = tempfile::tempdir().unwrap();
    let child = Command::new(&bin)
        .env("DATABASE_URL", db_url)
        .env("MQTT_URL", mqtt_url)
        .env(
            "GEOHAZARD_COMMAND_CENTER__LISTEN",
            format!("127.0.0.1:{port}"),
        )
        .env("GEOHAZARD_COMMAND_CENTER__VIDEO__DIR", frames.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (build it with --bins)", bin.display()));
    wait_for_port(port, Duration::from_secs(30)).await.unwrap();
    CommandCenter {
        child,
        port,
        _frames: frames,
    }
}

/// A warning change on the site `site_id`: raised red, or closed when `level` is `None`.
fn bench_change(site_id: i64, level: Option<WarningLevel>) -> LevelChange {
    LevelChange {
        site_id,
        source: "threshold:bench/crack-1".parse().expect("a warning source"),
        sensor_id: None,
        level,
        summary: Summary::new("benchmark", "基准测试"),
        evidence: geohazard_warnings::Evidence::threshold(
            0,
            1.0,
            "mm",
            geohazard_warnings::rules::Thresholds::some(1.0, 2.0, 5.0, 10.0),
        ),
        reading_ts: None,
        failure_forecast: None,
    }
}

/// What a console reads of a live message: the id of its warning, if it has one.
#[derive(serde::Deserialize)]
struct Delivered {
    warning: Option<WarningId>,
}

#[derive(serde::Deserialize)]
struct WarningId {
    id: i64,
}

/// Latencies (ms) of every delivery, and of the last delivery of each event.
async fn fan_out(
    cc: &CommandCenter,
    store: &Store,
    bus: &Bus,
    officer_id: i64,
    site_id: i64,
    consoles: usize,
) -> (Vec<f64>, Vec<f64>, u64) {
    let before = rss_kib(cc.child.id());
    let published: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i64, f64)>();
    let mut ready = Vec::new();
    let ttl_s = Settings::default().session_ttl_s;
    for _ in 0..consoles {
        // A session of its own, as if signed in (without an argon2 check per console).
        let (token, _) = open_session(&store.pool, officer_id, ttl_s).await.unwrap();
        // Addresses of their own, after the idle sockets' (at most 40,000 of those).
        let mut ws = live_socket(
            cc.port,
            &token,
            client_address(40_000 + ready.len()),
            Some(CONSOLE_FEEDS),
        )
        .await;
        let tx = tx.clone();
        let published = published.clone();
        ready.push(tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                let now = Instant::now();
                let Ok(text) = m.to_text() else { continue };
                // Only the warning's id is read: the clients share the server's two cores.
                let Ok(Delivered {
                    warning: Some(WarningId { id }),
                }) = serde_json::from_str(text)
                else {
                    continue;
                };
                if let Some(at) = published.lock().unwrap().get(&id) {
                    let _ = tx.send((id, (now - *at).as_secs_f64() * 1000.0));
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_console = (rss_kib(cc.child.id()).saturating_sub(before)) * 1024 / consoles as u64;
    let mut all = Vec::new();
    let mut last: HashMap<i64, f64> = HashMap::new();
    let lifecycle = Lifecycle::default();
    let cpu = CpuUse::start(cc);
    for i in 0..EVENTS {
        // Stored first, as the analyzer does: a new warning each time, so its id is never one
        // of an earlier event or run (a late delivery is never counted).
        let w = lifecycle
            .apply(&store.pool, &bench_change(site_id, Some(WarningLevel::Red)))
            .await
            .unwrap()
            .expect("a raised warning");
        let id = w.id;
        published.lock().unwrap().insert(id, Instant::now());
        publish_warning(bus, &w).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut got = 0;
        while got < consoles {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((eid, ms))) => {
                    all.push(ms);
                    let e = last.entry(eid).or_default();
                    *e = e.max(ms);
                    if eid == id {
                        got += 1;
                    }
                }
                _ => break,
            }
        }
        assert_eq!(got, consoles, "event {i}: every console gets it");
        // Closed in the store (not published), so the next event raises a new warning.
        lifecycle
            .apply(&store.pool, &bench_change(site_id, None))
            .await
            .unwrap()
            .expect("the warning closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cpu.report(
        cc,
        &format!("the {EVENTS} changes' fan-out to {consoles} consoles"),
    );
    for r in ready {
        r.abort();
    }
    let mut last: Vec<f64> = last.into_values().collect();
    all.sort_by(f64::total_cmp);
    last.sort_by(f64::total_cmp);
    (all, last, per_console)
}

/// Registers sites `B-0` … `B-{n-1}`; returns the id of `B-0`.
async fn seed_sites(store: &Store, n: usize) -> i64 {
    // A grid over the county: about 100 × 100 points within a degree.
    let side = (n as f64).sqrt().ceil() as usize;
    let mut first = None;
    for i in 0..n {
        let code = format!("B-{i}");
        let id = registry::upsert_site(
            &store.pool,
            &NewSite {
                code: &code,
                name: &code,
                kind: SiteKind::Landslide,
                division_code: COUNTY,
                location: geo::Point::new(
                    104.0 + (i % side) as f64 / side as f64,
                    28.0 + (i / side) as f64 / side as f64,
                ),
                threat_zone: None,
                scale_class: None,
                volume_m3: None,
                threatened_people: 10,
                threatened_property: 1.0,
            },
        )
        .await
        .unwrap();
        first.get_or_insert(id);
    }
    first.expect("at least one site")
}

/// Sign-in to markers drawn, then frame times while panning and zooming, and a filter change.
async fn map(port: u16) -> Map {
    let b = browser::browser().await;
    // A map that stalls for seconds on each zoom step still gets its frame times measured.
    let mut timeouts = b.client.get_timeouts().await.unwrap();
    timeouts.set_script(Some(Duration::from_secs(600)));
    b.client.update_timeouts(timeouts).await.unwrap();
    // The console's map lives inside its modules: the benchmark keeps a hand on it as Leaflet
    // makes it.
    b.on_every_page(
        "let leaflet;
         Object.defineProperty(window, 'L', { configurable: true, get: () => leaflet, set: (v) => {
           leaflet = v;
           const make = v.map;
           v.map = function (...args) { const m = make.apply(this, args); window.benchMap = m; return m; };
         } });",
    )
    .await;
    let base = format!("http://127.0.0.1:{port}/");
    let started = Instant::now();
    b.sign_in(&base, "bench", PASSWORD).await;
    b.until(
        "markers or clusters drawn",
        Duration::from_secs(120),
        "return document.querySelectorAll('.site-marker, .cluster').length > 0",
    )
    .await;
    let first_render = started.elapsed().as_secs_f64() * 1000.0;
    b.screenshot("bench-map").await;
    let frames = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const m = window.benchMap, deltas = [];
             let last = performance.now(), running = true;
             const tick = (t) => { deltas.push(t - last); last = t; if (running) requestAnimationFrame(tick); };
             requestAnimationFrame(tick);
             const steps = [[300, 0], [0, 200], [-300, 0], [0, -200], [400, 150], [-400, -150]];
             let i = 0;
             const next = () => {
               if (i === steps.length * 2) { running = false; done(deltas.slice(1)); return; }
               m.panBy(steps[i % steps.length], { animate: true, duration: 0.4 });
               i++; setTimeout(next, 500);
             };
             next();",
            vec![],
        )
        .await
        .unwrap();
    // Zooming in and out step by step (each step redraws the clusters), then a filter change:
    // the time the page is blocked by the change's handler.
    let zoom = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const m = window.benchMap, deltas = [];
             let last = performance.now(), running = true;
             const tick = (t) => { deltas.push(t - last); last = t; if (running) requestAnimationFrame(tick); };
             requestAnimationFrame(tick);
             const start = m.getZoom();
             const steps = [1, 1, 1, -1, -1, -1, -1, -1, 1, 1];
             let i = 0;
             const next = () => {
               if (i === steps.length) { running = false; m.setZoom(start, { animate: false }); done(deltas.slice(1)); return; }
               m.setZoom(m.getZoom() + steps[i], { animate: true });
               i++; setTimeout(next, 700);
             };
             next();",
            vec![],
        )
        .await
        .unwrap();
    let filter = b
        .js(
            "const s = document.getElementById('f-kind'); const t0 = performance.now();
             s.value = 'debris_flow'; s.dispatchEvent(new Event('change'));
             const t1 = performance.now();
             s.value = ''; s.dispatchEvent(new Event('change'));
             return [t1 - t0, performance.now() - t1]",
        )
        .await;
    b.close().await;
    let sorted = |v: &Value| {
        let mut v: Vec<f64> = v
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    Map {
        first_render,
        pan: sorted(&frames),
        zoom: sorted(&zoom),
        filter: sorted(&filter),
    }
}

/// What the map benchmark measured for one number of sites (ms).
struct Map {
    first_render: f64,
    /// Frame times while panning.
    pan: Vec<f64>,
    /// Frame times while zooming in and out.
    zoom: Vec<f64>,
    /// How long a filter change and its undoing blocked the page.
    filter: Vec<f64>,
}

fn line(name: &str, v: &[f64]) {
    println!(
        "{name}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        v.len(),
        percentile(v, 0.5),
        percentile(v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    );
}

/// The live fan-out part: one console, then `consoles`.
async fn fan_outs(
    cc: &CommandCenter,
    store: &Store,
    bus: &Bus,
    officer_id: i64,
    site_id: i64,
    consoles: usize,
) {
    println!(
        "== live fan-out: {EVENTS} warning changes, published on MQTT → received by each console"
    );
    let (one, _, _) = fan_out(cc, store, bus, officer_id, site_id, 1).await;
    line("1 console (baseline), per delivery", &one);
    let (all, last, per_console) = fan_out(cc, store, bus, officer_id, site_id, consoles).await;
    line(&format!("{consoles} consoles, per delivery"), &all);
    line(&format!("{consoles} consoles, until all have it"), &last);
    println!(
        "p99 ratio {consoles} consoles / 1 console: {:.1}; memory per console: {:.1} KiB",
        percentile(&all, 0.99) / percentile(&one, 0.99),
        per_console as f64 / 1024.0
    );
}

fn report_map(what: &str, m: &Map) {
    println!("{what}: first render {:.0} ms", m.first_render);
    line(&format!("{what}, frame time while panning"), &m.pan);
    line(&format!("{what}, frame time while zooming"), &m.zoom);
    line(
        &format!("{what}, page blocked by a filter change"),
        &m.filter,
    );
}

/// The console's fan-out and map benchmark.
#[derive(clap::Parser)]
struct BenchArgs {
    /// Consoles connected at once.
    #[arg(default_value_t = 1000)]
    consoles: usize,
    /// Sites on the map.
    #[arg(default_value_t = 10_000)]
    sites: usize,
    /// Instead: the crowded benchmark with this many idle live sockets besides the consoles.
    #[arg(long)]
    idle: Option<usize>,
    /// The idle sockets name no feeds and so carry every one (as before feeds, run 7), instead
    /// of the field app's.
    #[arg(long)]
    idle_all_feeds: bool,
    /// Only the map benchmark.
    #[arg(long)]
    map_only: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let BenchArgs {
        consoles,
        sites,
        idle,
        idle_all_feeds,
        map_only,
    } = clap::Parser::parse();
    // Every client socket is a file.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 8).await.unwrap();
    let broker = Broker::start().await;
    fixtures::register_divisions(&store).await;
    let officer_id = add_officer(
        &store.pool,
        &NewOfficer {
            username: "bench",
            display_name: None,
            division_code: COUNTY,
            role: Role::DutyOfficer,
            password: PASSWORD,
        },
    )
    .await
    .unwrap()
    .0;
    let site_id = seed_sites(&store, 100).await;
    let cc = command_center(&db.url, &broker.url()).await;

    // One publisher for the whole run: two clients with one id would keep kicking each other.
    let bus = publisher(&broker, "bench-publisher").await;
    if let Some(idle) = idle {
        let idle_feeds = (!idle_all_feeds).then_some(FIELD_APP_FEEDS);
        crowded(
            &cc, &store, &bus, officer_id, site_id, idle, consoles, idle_feeds,
        )
        .await;
        return;
    }
    if !map_only {
        fan_outs(&cc, &store, &bus, officer_id, site_id, consoles).await;
    }
    println!("== map in headless Chromium");
    let small = map(cc.port).await;
    report_map("100 sites (baseline)", &small);
    seed_sites(&store, sites).await;
    let big = map(cc.port).await;
    report_map(&format!("{sites} sites"), &big);
    println!(
        "ratios {sites} / 100 sites: first render {:.2}, pan p99 frame {:.2}, zoom p99 frame {:.2}",
        big.first_render / small.first_render,
        percentile(&big.pan, 0.99) / percentile(&small.pan, 0.99),
        percentile(&big.zoom, 0.99) / percentile(&small.zoom, 0.99)
    );
}
