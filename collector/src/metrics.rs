//! Prometheus metrics of the collector.

use geohazard_bus::Held;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// transient, data_refused or unexpected (see `geohazard_store::Failure`).
    pub class: &'static str,
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
    /// Failed database calls while storing, by whether retrying can help.
    pub store_failures: Family<FailureLabels, Counter>,
    /// Messages taken off the broker and not yet acknowledged or set aside, and their bytes.
    pub held: Held,
}

/// Reads what is held at each scrape.
#[derive(Debug)]
struct HeldGauges(Held);

impl Collector for HeldGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, value) in [
            (
                "held_messages",
                "Messages taken off the broker and not yet acknowledged",
                self.0.messages(),
            ),
            (
                "held_bytes",
                "Payload bytes of the held messages (bounded by max_held_bytes)",
                self.0.bytes(),
            ),
        ] {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

impl Metrics {
    pub fn new(registry: &mut Registry, held: Held) -> Metrics {
        let m = Metrics {
            messages: Family::default(),
            readings: Family::default(),
            rejects: Family::default(),
            batch_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            batch_readings: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            db_retries: Counter::default(),
            store_failures: Family::default(),
            held,
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
        r.register(
            "store_failures",
            "Failed database calls while storing, by whether retrying can help",
            m.store_failures.clone(),
        );
        r.register_collector(Box::new(HeldGauges(m.held.clone())));
        m
    }
}
