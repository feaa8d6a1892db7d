//! Benchmark (ignored by default; BENCHMARKS.md has the command and the numbers): a
//! consultation room with six participants, each a headless Chromium with a fake camera in the
//! test's network namespace, everyone publishing and receiving everyone else. Measures Janus's
//! and the command-center's CPU and memory while the room runs, and the end-to-end chat latency
//! through the command-center (room socket to room socket, stored in between).

mod common;

use std::time::{Duration, Instant};

use common::PASSWORD;
use futures::SinkExt;
use geohazard_command_center::Role;
use geohazard_testkit::api::next_json;
use geohazard_testkit::fixtures::CITY;
use geohazard_testkit::netns::{Janus, NetNs};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// CPU seconds (user + system) and resident memory (MiB) of process `pid`.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (ticks / 100.0, rss_kb / 1024.0)
}

#[tokio::test]
#[ignore = "a benchmark: run it alone (BENCHMARKS.md)"]
async fn six_participants_in_one_room() {
    const PEOPLE: usize = 6;
    let ns = NetNs::create().expect("a network namespace (root, iproute2)");
    let janus = Janus::start(&ns).await;
    let env = common::start_with_janus(&ns, &janus, |c| {
        c.api.live_max_sockets_per_session = 8;
    })
    .await;
    for i in 0..PEOPLE {
        env.officer(&format!("p{i}"), CITY, Role::DutyOfficer).await;
    }
    let token = env.login("p0").await;
    let (_, room) = env
        .api
        .post(&token, "/consult/rooms", json!({"title": "六方会商"}))
        .await;
    let room = room["id"].as_i64().unwrap();
    let mut browsers = Vec::new();
    for i in 0..PEOPLE {
        let b = env.media_browser(&ns).await;
        b.sign_in(&env.api.console_url(), &format!("p{i}"), PASSWORD)
            .await;
        b.click("#tab-consult").await;
        b.click(&format!("#consult-rooms tr[data-room='{room}']"))
            .await;
        b.until(
            "the room",
            Duration::from_secs(30),
            "return document.getElementById('consult-room') !== null",
        )
        .await;
        b.click("#consult-media-join").await;
        browsers.push(b);
    }
    let everyone = format!(
        "const m = window.geohazardConsult.media; if (!m) return false;
         return m.inboundVideoBytes().then((b) => Object.keys(b).length === {} && Object.values(b).every((n) => n > 0));",
        PEOPLE - 1
    );
    for b in &browsers {
        b.until(
            "video from everyone else",
            Duration::from_secs(180),
            &everyone,
        )
        .await;
    }
    println!("all {PEOPLE} receive the other {} videos", PEOPLE - 1);

    // Steady state: what Janus and the command-center (this process) use over 30 s.
    let me = std::process::id();
    let (j0, _) = usage(janus.pid());
    let (c0, _) = usage(me);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let wall = t0.elapsed().as_secs_f64();
    let (j1, janus_rss) = usage(janus.pid());
    let (c1, center_rss) = usage(me);
    println!(
        "janus: {:.1} % of a core, {janus_rss:.0} MiB; command-center (test process): {:.1} % of a core, {center_rss:.0} MiB",
        (j1 - j0) / wall * 100.0,
        (c1 - c0) / wall * 100.0
    );

    // Chat latency, room socket to room socket, while the six are in the call.
    let url = |t: &str| {
        env.api
            .ws_request(&format!("/consult/rooms/{room}/socket"), t)
    };
    let (t1, t2) = (env.login("p1").await, env.login("p2").await);
    let (mut a, _) = tokio_tungstenite::connect_async(url(&t1)).await.unwrap();
    let (mut b, _) = tokio_tungstenite::connect_async(url(&t2)).await.unwrap();
    assert_eq!(next_json(&mut a).await["type"], "welcome");
    assert_eq!(next_json(&mut b).await["type"], "welcome");
    let mut latencies = Vec::new();
    for i in 0..100 {
        let text = format!("延迟测试 {i}");
        let sent = Instant::now();
        a.send(Message::Text(
            json!({"type": "chat", "text": text}).to_string().into(),
        ))
        .await
        .unwrap();
        loop {
            let m = next_json(&mut b).await;
            if m["event"]["body"]["text"] == text.as_str() {
                break;
            }
        }
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    println!(
        "chat latency over 100 messages: median {:?}, p95 {:?}, max {:?}",
        latencies[50], latencies[95], latencies[99]
    );
    // And browser to browser, once: p0 types, p5's page shows it.
    let sent = Instant::now();
    browsers[0]
        .js("document.getElementById('consult-chat-text').value = '浏览器到浏览器'; return true")
        .await;
    browsers[0].click("#consult-chat-send").await;
    browsers[PEOPLE - 1]
        .until(
            "the chat line",
            Duration::from_secs(10),
            "return [...document.querySelectorAll('#consult-log .consult-chat')].some((l) => l.textContent.includes('浏览器到浏览器'))",
        )
        .await;
    println!("browser to browser chat: {:?}", sent.elapsed());
    for b in browsers {
        b.close().await;
    }
}
