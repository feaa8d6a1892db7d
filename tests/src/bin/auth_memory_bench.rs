//! What argon2 key checks leave in memory: a storm of 200 CONNECTs with wrong keys at the
//! universal-type endpoint, then a burst of 1,000 sign-in password checks, with the process's
//! RSS before and after each. The burst runs twice, each in a process of its own so its RSS is
//! its own: through the bounded pool of checks (`geohazard_secrets`, after) and the way every
//! component checked before it, a `spawn_blocking` per check allocating its own block (before).
//!
//! `cargo run -p geohazard-e2e --bin auth-memory-bench -- [connects] [sign_ins]`
//! (defaults: 200 connects, 1000 sign-ins).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use clap::Parser;
use geohazard_e2e::register_gateway;
use geohazard_secrets::PasswordChecks;
use geohazard_store::{Store, registry};
use geohazard_testkit::{Broker, TestDb};
use geohazard_universal::{UniversalConfig, UniversalEndpoint};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};

#[derive(Parser)]
#[command(about = "What argon2 key checks leave in memory")]
struct Args {
    #[arg(default_value_t = 200)]
    connects: usize,
    #[arg(default_value_t = 1000)]
    sign_ins: usize,
    /// Run one burst in this process: `pool` or `spawn-blocking`.
    #[arg(long, hide = true)]
    burst: Option<String>,
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(mode) = &args.burst {
        return burst(mode, args.sign_ins).await;
    }
    let storm = storm(args.connects).await?;
    println!("{storm}");
    let exe = std::env::current_exe()?;
    for mode in ["spawn-blocking", "pool"] {
        let out = std::process::Command::new(&exe)
            .args(["--burst", mode, "0", &args.sign_ins.to_string()])
            .output()?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// 200 devices connecting at once with a wrong key, to a fresh endpoint in this process.
async fn storm(connects: usize) -> anyhow::Result<String> {
    let broker = Broker::start().await;
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 4).await?;
    register_gateway(&store, "UNI-001", &[]).await;
    registry::upsert_gateway(
        &store.pool,
        "UNI-001",
        None,
        "UNI-001",
        Some("the-real-key"),
    )
    .await?;
    let config = UniversalConfig {
        listen: Some("127.0.0.1:0".parse()?),
        ..UniversalConfig::default()
    };
    let endpoint = UniversalEndpoint::bind(config, &broker.url(), store.clone()).await?;
    let addr = endpoint.local_addr()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(endpoint.run(shutdown.clone()));
    let before = rss_mib();
    let started = Instant::now();
    let tries: Vec<_> = (0..connects)
        .map(|i| tokio::spawn(connect_wrong(addr, i)))
        .collect();
    let mut refused = 0;
    for t in tries {
        refused += usize::from(t.await?);
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_mib();
    shutdown.cancel();
    Ok(format!(
        "connect storm: {connects} CONNECTs with a wrong key ({refused} answered refused) in {:.1} s: RSS {before:.0} MiB before, {after:.0} MiB after",
        took.as_secs_f64()
    ))
}

/// One CONNECT with a wrong key; true when the endpoint answered (refused).
async fn connect_wrong(addr: SocketAddr, i: usize) -> bool {
    let mut options = MqttOptions::new("UNI-001", addr.ip().to_string(), addr.port());
    options
        .set_credentials("product", format!("wrong-key-{i}"))
        .set_keep_alive(Duration::from_secs(30));
    let (_client, mut eventloop) = AsyncClient::new(options, 4);
    loop {
        match tokio::time::timeout(Duration::from_secs(300), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => return false,
            Ok(Ok(_)) => continue,
            Ok(Err(_)) => return true,
            Err(_) => return false,
        }
    }
}

/// 1,000 password checks at once, the way a sign-in burst makes them.
async fn burst(mode: &str, sign_ins: usize) -> anyhow::Result<()> {
    let phc = registry::hash_password("the officer's password");
    // The command-center lets 4 checks run at once (`login_max_concurrent_hashes`), before and
    // after: the difference is only where they run.
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let before = rss_mib();
    let started = Instant::now();
    let checks: Vec<_> = (0..sign_ins)
        .map(|i| {
            let (phc, mode, gate) = (phc.clone(), mode.to_owned(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                let password = format!("guess {i}");
                if mode == "pool" {
                    loop {
                        match PasswordChecks::shared()
                            .verify(password.as_bytes(), &phc)
                            .await
                        {
                            Ok(v) => return v,
                            // Busy: the sign-in is told to come back; it does.
                            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                    }
                } else {
                    tokio::task::spawn_blocking(move || {
                        let hash = PasswordHash::new(&phc).unwrap();
                        argon2::Argon2::default()
                            .verify_password(password.as_bytes(), &hash)
                            .is_ok()
                    })
                    .await
                    .unwrap()
                }
            })
        })
        .collect();
    let mut matched = 0;
    for c in checks {
        matched += usize::from(c.await?);
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "sign-in burst through {mode}: {sign_ins} checks ({matched} matched) in {:.1} s: RSS {before:.0} MiB before, {:.0} MiB after",
        took.as_secs_f64(),
        rss_mib()
    );
    Ok(())
}
