//! Prometheus metrics of the collector.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// telemetry, status or other.
    pub kind: &'static str,
    /// stored (at least partly) or quarantined (whole).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadingLabels {
    /// stored, duplicate or rejected.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    pub reason: &'static str,
}

#[derive(Clone)]
pub struct Metrics {
    pub messages: Family<MessageLabels, Counter>,
    pub readings: Family<ReadingLabels, Counter>,
    pub rejects: Family<RejectLabels, Counter>,
    /// Seconds from taking a batch off the bus to acknowledging it.
    pub batch_latency: Histogram,
    pub batch_readings: Histogram,
    pub db_retries: Counter,
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            messages: Family::default(),
            readings: Family::default(),
            rejects: Family::default(),
            batch_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            batch_readings: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            db_retries: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("geohazard_collector");
        r.register("messages", "MQTT messages handled", m.messages.clone());
        r.register("readings", "Readings handled", m.readings.clone());
        r.register(
            "rejects",
            "Refused messages and readings by reason",
            m.rejects.clone(),
        );
        r.register(
            "batch_latency_seconds",
            "Time from taking a batch off the bus to acknowledging it",
            m.batch_latency.clone(),
        );
        r.register(
            "batch_readings",
            "Readings per written batch",
            m.batch_readings.clone(),
        );
        r.register(
            "db_retries",
            "Batch writes retried because the database was unavailable",
            m.db_retries.clone(),
        );
        m
    }
}
