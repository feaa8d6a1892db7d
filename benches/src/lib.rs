//! What the benchmark binaries share: a private Mosquitto and a fresh database (as the tests
//! have), one analyzer started on them and waited for, and a plain MQTT client that publishes
//! and hands back the warnings it receives with their arrival time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use geohazard_analyzer::{AnalyzerConfig, Stats};
use geohazard_bus::BusConfig;
use geohazard_bus::rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use geohazard_protocol::warning::Warning;
use geohazard_store::Store;
use geohazard_testkit::{Broker, TestDb};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Logs warnings and errors only (`RUST_LOG` overrides): the benchmarks print their figures.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
}

/// A broker and a migrated database of the benchmark's own.
pub struct World {
    pub broker: Broker,
    pub store: Store,
    /// Dropped last: the database goes with it.
    _db: TestDb,
}

impl World {
    pub async fn start() -> anyhow::Result<World> {
        let broker = Broker::start().await;
        let db = TestDb::create().await;
        let store = Store::connect(&db.url, 8).await?;
        Ok(World {
            broker,
            store,
            _db: db,
        })
    }

    /// An analyzer configuration on this broker.
    pub fn analyzer_config(&self, client_id: &str) -> AnalyzerConfig {
        AnalyzerConfig::new(BusConfig::new(self.broker.url(), client_id))
    }

    /// Starts an analyzer and waits until it is subscribed.
    pub async fn start_analyzer(&self, config: AnalyzerConfig) -> anyhow::Result<Analyzer> {
        let stats = Arc::new(Stats::default());
        let shutdown = CancellationToken::new();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(geohazard_analyzer::run_with(
            config,
            self.store.clone(),
            shutdown.clone(),
            Some(ready_tx),
            stats.clone(),
        ));
        ready.await.context("the analyzer did not start")?;
        Ok(Analyzer {
            stats,
            shutdown,
            task,
        })
    }

    /// A client of this broker (see [`Client`]).
    pub fn client(&self, id: &str, inflight: u16, capacity: usize) -> Client {
        Client::connect(&self.broker, id, inflight, capacity)
    }
}

/// A running analyzer and its counters.
pub struct Analyzer {
    pub stats: Arc<Stats>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Analyzer {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// An MQTT client with clean sessions and large packets. Its event loop forwards every warning
/// it receives, with the time it arrived, and counts the broker's PUBACKs.
pub struct Client {
    pub client: AsyncClient,
    pub warnings: mpsc::UnboundedReceiver<(Instant, Warning)>,
    pub acked: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    fn connect(broker: &Broker, id: &str, inflight: u16, capacity: usize) -> Client {
        let mut o = MqttOptions::new(id, broker.host(), broker.port());
        o.set_max_packet_size(16 << 20, 16 << 20)
            .set_inflight(inflight)
            .set_clean_session(true);
        let (client, mut el) = AsyncClient::new(o, capacity);
        let (tx, warnings) = mpsc::unbounded_channel();
        let acked = Arc::new(AtomicU64::new(0));
        let counter = acked.clone();
        let name = id.to_owned();
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Ok(w) = Warning::decode(&p.payload) {
                            let _ = tx.send((Instant::now(), w));
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("{name}: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                }
            }
        });
        Client {
            client,
            warnings,
            acked,
            task,
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The value at fraction `p` of a sorted series (NaN when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// The median (NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Peak resident memory of this process, kB, from /proc (`?` where there is none).
pub fn peak_rss_kb() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles_of_small_series() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&sorted, 0.5), 3.0);
        assert_eq!(percentile(&sorted, 1.0), 5.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
