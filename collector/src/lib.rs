//! The collector: takes telemetry and status from every gateway off the MQTT bus, validates it,
//! writes readings in batches (de-duplicated on sensor and time), quarantines what is bad with
//! its reason, and acknowledges each message only after what it carries is committed.
//!
//! Its surface: [`Collector`] (or [`run`]) with its [`CollectorConfig`], and its [`Metrics`].

mod batch;
mod metrics;
mod registry_cache;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use geohazard_bus::{Acker, Bus, BusConfig, Delivery, Qos};
use geohazard_protocol::{Limits, TelemetryAck, Topic, topic};
use geohazard_runtime::Backoff;
use geohazard_store::{Failure, PartitionCache, RetentionCache, StorageMode, Store, classify};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use metrics::{FailureLabels, MessageLabels, Metrics, ReadingLabels, RejectLabels};

use crate::batch::{PreparedBatch, prepare};
use crate::registry_cache::RegistryCache;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CollectorConfig {
    /// MQTT client id; with a persistent session the broker keeps our messages while we are away.
    pub client_id: String,
    /// Share the subscription with other collectors (`$share/{group}/...`) to scale out.
    pub shared_group: Option<String>,
    pub limits: Limits,
    /// A batch closes at this many readings...
    pub max_batch_readings: usize,
    /// ...or this many messages, whichever comes first.
    pub max_batch_messages: usize,
    /// Messages received but not yet written, at most.
    pub queue: usize,
    /// Payload bytes received but not yet written, at most: while the database is away the
    /// collector holds this much and the broker keeps the rest (the shipped broker's
    /// `max_inflight_bytes` is this budget, so it sends no more than that unacknowledged).
    pub max_held_bytes: usize,
    /// Where to serve `/healthz`, `/readyz` and Prometheus `/metrics`; none to not serve them.
    pub metrics_addr: Option<SocketAddr>,
    /// Database connections.
    pub db_connections: u32,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            client_id: "geohazard-collector".into(),
            shared_group: None,
            limits: Limits::default(),
            max_batch_readings: 20_000,
            max_batch_messages: 5_000,
            queue: 10_000,
            max_held_bytes: 64 * 1024 * 1024,
            metrics_addr: None,
            db_connections: 4,
        }
    }
}

impl CollectorConfig {
    fn subscriptions(&self) -> Vec<(String, Qos)> {
        [topic::ALL_TELEMETRY, topic::ALL_STATUS]
            .into_iter()
            .map(|filter| {
                let filter =
                    geohazard_bus::shared_subscription(self.shared_group.as_deref(), filter);
                (filter, Qos::AtLeastOnce)
            })
            .collect()
    }
}

/// A running collector, for embedding (all-in-one, tests).
pub struct Collector {
    pub metrics: Metrics,
    bus: Bus,
    store: Store,
    config: CollectorConfig,
}

impl Collector {
    /// Connects to the broker and subscribes; `run` then processes messages.
    pub fn start(
        config: CollectorConfig,
        mqtt_url: &str,
        store: Store,
        registry: &mut Registry,
    ) -> anyhow::Result<Collector> {
        let bus_config = BusConfig {
            max_held_bytes: Some(config.max_held_bytes),
            ..BusConfig::new(mqtt_url, config.client_id.clone())
        };
        let bus = Bus::start(&bus_config, config.subscriptions(), None, config.queue)?;
        Ok(Collector {
            metrics: Metrics::new(registry, bus.held()),
            bus,
            store,
            config,
        })
    }

    /// Waits until the broker confirmed the subscriptions.
    pub async fn wait_subscribed(&mut self, timeout: Duration) -> anyhow::Result<()> {
        self.bus.wait_subscribed(timeout).await
    }

    /// Processes messages until `shutdown`. The batch in hand is finished first; anything not
    /// yet acknowledged is redelivered by the broker on the next start.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let acker = self.bus.acker();
        let mut registry = RegistryCache::default();
        let mut retention = RetentionCache::default();
        let mut partitions = PartitionCache::default();
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                d = self.bus.recv() => match d {
                    Some(d) => d,
                    None => break,
                },
            };
            let started = Instant::now();
            let deliveries = self.take_batch(first);
            let inserted = self
                .process(
                    deliveries,
                    &mut registry,
                    &mut retention,
                    &mut partitions,
                    &acker,
                    &shutdown,
                )
                .await;
            if inserted.is_none() {
                break; // shut down while the database was away: nothing was acknowledged
            }
            self.metrics
                .batch_latency
                .observe(started.elapsed().as_secs_f64());
        }
        self.bus.shutdown().await;
        Ok(())
    }

    /// The first delivery plus whatever else is already waiting, up to the batch limits.
    fn take_batch(&mut self, first: Delivery) -> Vec<Delivery> {
        // Payload size is a cheap proxy for readings (~40 bytes each) that needs no parsing.
        let budget = self.config.max_batch_readings * 40;
        let mut bytes = first.payload().len();
        let mut batch = vec![first];
        while batch.len() < self.config.max_batch_messages && bytes < budget {
            match self.bus.try_recv() {
                Some(d) => {
                    bytes += d.payload().len();
                    batch.push(d);
                }
                None => break,
            }
        }
        batch
    }

    /// Prepares, writes and acknowledges one batch, holding it while the database is away.
    /// Returns the number of new readings, or `None` if shut down before it could be written.
    async fn process(
        &self,
        deliveries: Vec<Delivery>,
        registry: &mut RegistryCache,
        retention: &mut RetentionCache,
        partitions: &mut PartitionCache,
        acker: &Acker,
        shutdown: &CancellationToken,
    ) -> Option<u64> {
        let batch = self
            .prepare_retrying(deliveries.clone(), registry, retention, shutdown)
            .await?;
        match self.write_retrying(partitions, &batch, shutdown).await? {
            Ok(n) => {
                self.committed(&batch, n, acker).await;
                Some(n)
            }
            Err(e) => {
                // Something in the batch is unstorable: write message by message so only the
                // culprit is set aside.
                tracing::warn!(error = %e, messages = deliveries.len(), "batch refused by the store; writing message by message");
                let mut total = 0;
                for d in deliveries {
                    total += self
                        .process_one(d, registry, retention, partitions, acker, shutdown)
                        .await?;
                }
                Some(total)
            }
        }
    }

    /// One message of a refused batch: stored, or (if the store refuses its data) its readings
    /// quarantined with the store's reason. Never skipped: it is held until one of the two is
    /// committed.
    async fn process_one(
        &self,
        delivery: Delivery,
        registry: &mut RegistryCache,
        retention: &mut RetentionCache,
        partitions: &mut PartitionCache,
        acker: &Acker,
        shutdown: &CancellationToken,
    ) -> Option<u64> {
        let mut backoff = retry_backoff();
        loop {
            let mut single = self
                .prepare_retrying(vec![delivery.clone()], registry, retention, shutdown)
                .await?;
            let refused = match self.write_retrying(partitions, &single, shutdown).await? {
                Ok(n) => {
                    self.committed(&single, n, acker).await;
                    return Some(n);
                }
                Err(e) => e,
            };
            tracing::error!(error = %refused, topic = delivery.topic(), "message refused by the store; quarantined");
            writer::quarantine_unstorable(&mut single, &refused);
            match self.write_retrying(partitions, &single, shutdown).await? {
                Ok(n) => {
                    self.committed(&single, n, acker).await;
                    return Some(n);
                }
                // A quarantine row the store refuses too: hold the message and try again
                // rather than lose it.
                Err(e) => {
                    tracing::error!(error = %e, "cannot quarantine a message; holding it");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = backoff.wait() => {}
            }
        }
    }

    /// What follows a commit: metrics, acknowledgements to the broker, and confirmations to
    /// each gateway of the telemetry `seq`s now safe.
    async fn committed(&self, batch: &PreparedBatch, inserted: u64, acker: &Acker) {
        batch.record_metrics(&self.metrics, inserted);
        for d in &batch.deliveries {
            acker.ack(d).await;
        }
        for (gateway, seqs) in &batch.confirmations {
            let ack = TelemetryAck { seqs: seqs.clone() };
            acker.publish(Topic::telemetry_ack(gateway), ack.to_json());
        }
    }

    async fn prepare_retrying(
        &self,
        deliveries: Vec<Delivery>,
        registry: &mut RegistryCache,
        retention: &mut RetentionCache,
        shutdown: &CancellationToken,
    ) -> Option<PreparedBatch> {
        let mut backoff = retry_backoff();
        loop {
            match prepare(
                deliveries.clone(),
                &self.store.pool,
                registry,
                retention,
                &self.config.limits,
            )
            .await
            {
                Ok(b) => return Some(b),
                Err(e) => {
                    self.record_failure(&e);
                    tracing::warn!(error = %e, "registry or retention unavailable; holding the batch");
                    self.metrics.db_retries.inc();
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = backoff.wait() => {}
            }
        }
    }

    /// Counts a failed database call by its class, and returns the class.
    fn record_failure(&self, e: &sqlx::Error) -> Failure {
        let class = classify(e);
        let label = match class {
            Failure::Transient => "transient",
            Failure::DataRefused => "data_refused",
            Failure::Unexpected => "unexpected",
        };
        self.metrics
            .store_failures
            .get_or_create(&FailureLabels { class: label })
            .inc();
        class
    }

    /// Writes until it succeeds or the store refuses the data itself (retrying cannot help);
    /// on any other failure the batch is held and retried.
    async fn write_retrying(
        &self,
        partitions: &mut PartitionCache,
        batch: &PreparedBatch,
        shutdown: &CancellationToken,
    ) -> Option<Result<u64, sqlx::Error>> {
        let mut backoff = retry_backoff();
        loop {
            let e = match writer::write(&self.store, partitions, batch).await {
                Ok(n) => return Some(Ok(n)),
                Err(e) => e,
            };
            match self.record_failure(&e) {
                Failure::DataRefused => return Some(Err(e)),
                Failure::Transient => {
                    tracing::warn!(error = %e, "database unavailable; holding the batch")
                }
                Failure::Unexpected => {
                    tracing::error!(error = %e, "unexpected database failure; holding the batch")
                }
            }
            self.metrics.db_retries.inc();
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = backoff.wait() => {}
            }
        }
    }
}

/// Runs a collector with its metrics endpoint until `shutdown`.
pub async fn run(
    config: CollectorConfig,
    mqtt_url: &str,
    store: Store,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut registry = Registry::default();
    let collector = Collector::start(config, mqtt_url, store, &mut registry)?;
    collector.serve(registry, shutdown).await
}

impl Collector {
    /// Runs the collector, its health and metrics endpoint (serving `registry`, which may hold
    /// other services' metrics too) and the storage housekeeping.
    pub async fn serve(
        self,
        registry: Registry,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        if let Some(addr) = self.config.metrics_addr {
            let mut checks = self.store.readiness_checks();
            checks.push(self.bus.readiness_check());
            let endpoints = geohazard_runtime::Endpoints::new(Arc::new(registry), checks);
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                if let Err(e) = geohazard_runtime::health::serve(addr, endpoints, shutdown).await {
                    tracing::error!(error = %e, "health and metrics endpoint failed");
                }
            });
        }
        tokio::spawn(housekeeping(self.store.clone(), shutdown.clone()));
        self.run(shutdown).await
    }
}

/// The pause between attempts while the database is away: 100 ms, doubling up to 5 s.
fn retry_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
}

/// Storage housekeeping, hourly. Plain PostgreSQL: partitions ahead of the data, expired ones
/// dropped. TimescaleDB does that with its own policies: its retention policy is kept in step
/// with `storage_settings.retention`.
async fn housekeeping(store: Store, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // One collector of the cluster at a time: the others skip this round.
        let work =
            async {
                match store.mode {
                    StorageMode::Partitioned => geohazard_store::readings::maintain_partitions(
                        &store.pool,
                        chrono::Utc::now(),
                    )
                    .await
                    .map(|dropped| {
                        if !dropped.is_empty() {
                            tracing::info!(?dropped, "dropped partitions past the retention period")
                        }
                    }),
                    StorageMode::TimescaleDb => {
                        geohazard_store::readings::sync_timescale_retention(&store.pool).await
                    }
                }
            };
        let result =
            match geohazard_store::cluster::exclusively(&store.pool, "storage_housekeeping", work)
                .await
            {
                Ok(Some(done)) => done,
                Ok(None) => continue,
                Err(e) => Err(e),
            };
        if let Err(e) = result {
            tracing::warn!(error = %e, "storage housekeeping failed; retrying in an hour");
        }
    }
}
