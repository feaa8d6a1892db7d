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
        evidence: json!({"method": "benchmark"}),
        reading_ts: None,
        failure_forecast: None,
    }
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
        let url = format!("ws://127.0.0.1:{}/api/v1/live?token={token}", cc.port);
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("a console");
        let first = ws.next().await.unwrap().unwrap();
        assert!(first.to_text().unwrap().contains("ready"), "{first}");
        let tx = tx.clone();
        let published = published.clone();
        ready.push(tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                let now = Instant::now();
                let Ok(text) = m.to_text() else { continue };
                let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if let Some(id) = v["warning"]["id"].as_i64()
                    && let Some(at) = published.lock().unwrap().get(&id)
                {
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

/// (ms from sign-in to markers drawn, frame times in ms while panning)
async fn map(port: u16) -> (f64, Vec<f64>) {
    let b = browser::browser().await;
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
             const m = map.leaflet, deltas = [];
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
    b.close().await;
    let mut frames: Vec<f64> = frames
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    frames.sort_by(f64::total_cmp);
    (first_render, frames)
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

/// The console's fan-out and map benchmark.
#[derive(clap::Parser)]
struct BenchArgs {
    /// Consoles connected at once.
    #[arg(default_value_t = 1000)]
    consoles: usize,
    /// Sites on the map.
    #[arg(default_value_t = 10_000)]
    sites: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let BenchArgs { consoles, sites } = clap::Parser::parse();
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

    println!(
        "== live fan-out: {EVENTS} warning changes, published on MQTT → received by each console"
    );
    // One publisher for the whole run: two clients with one id would keep kicking each other.
    let bus = publisher(&broker, "bench-publisher").await;
    let (one, _, _) = fan_out(&cc, &store, &bus, officer_id, site_id, 1).await;
    line("1 console (baseline), per delivery", &one);
    let (all, last, per_console) = fan_out(&cc, &store, &bus, officer_id, site_id, consoles).await;
    line(&format!("{consoles} consoles, per delivery"), &all);
    line(&format!("{consoles} consoles, until all have it"), &last);
    println!(
        "p99 ratio {consoles} consoles / 1 console: {:.1}; memory per console: {:.1} KiB",
        percentile(&all, 0.99) / percentile(&one, 0.99),
        per_console as f64 / 1024.0
    );

    println!("== map in headless Chromium");
    let (first_100, frames_100) = map(cc.port).await;
    println!("100 sites (baseline): first render {first_100:.0} ms");
    line("100 sites, frame time while panning", &frames_100);
    seed_sites(&store, sites).await;
    let (first_n, frames_n) = map(cc.port).await;
    println!("{sites} sites: first render {first_n:.0} ms");
    line(
        &format!("{sites} sites, frame time while panning"),
        &frames_n,
    );
    println!(
        "ratios {sites} / 100 sites: first render {:.2}, p99 frame {:.2}",
        first_n / first_100,
        percentile(&frames_n, 0.99) / percentile(&frames_100, 0.99)
    );
}
