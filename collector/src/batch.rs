//! Turning a batch of MQTT deliveries into what the store writes: readings, quarantine rows,
//! gateway bookkeeping and status changes, in delivery order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use geohazard_bus::Delivery;
use geohazard_protocol::telemetry::{ValidReading, decode_telemetry, format_ms, telemetry_seq};
use geohazard_protocol::{GatewayStatus, Limits, QuarantineReason, Topic};
use geohazard_store::{QuarantineRow, ReadingRows, RetentionCache};
use sqlx::PgPool;

use crate::metrics::{MessageLabels, Metrics, ReadingLabels, RejectLabels};
use crate::registry_cache::RegistryCache;

/// Largest status payload accepted.
const MAX_STATUS_BYTES: usize = 64 * 1024;

/// Everything one batch writes, prepared before the transaction opens.
#[derive(Default)]
pub struct PreparedBatch {
    pub deliveries: Vec<Delivery>,
    pub readings: ReadingRows,
    pub quarantine: Vec<QuarantineRow>,
    /// Per gateway: when it was last heard from and its highest telemetry sequence number.
    pub heard_from: HashMap<i64, (DateTime<Utc>, Option<i64>)>,
    /// Status messages in arrival order, with when the gateway was heard from: now for a live
    /// message, the status's own time (if any) for a retained one replayed on subscription.
    pub statuses: Vec<(i64, GatewayStatus, Option<DateTime<Utc>>)>,
    /// Per gateway code: the telemetry `seq`s to confirm to it once the batch is committed.
    pub confirmations: HashMap<String, Vec<u64>>,
    /// Counts for the metrics, applied after the commit.
    pub tally: Tally,
}

#[derive(Default)]
pub struct Tally {
    pub messages: Vec<MessageLabels>,
    pub rejects: Vec<QuarantineReason>,
}

impl PreparedBatch {
    pub fn record_metrics(&self, metrics: &Metrics, inserted: u64) {
        for m in &self.tally.messages {
            metrics.messages.get_or_create(m).inc();
        }
        for r in &self.tally.rejects {
            metrics
                .rejects
                .get_or_create(&RejectLabels { reason: r.as_str() })
                .inc();
        }
        let readings = self.readings.len() as u64;
        metrics
            .readings
            .get_or_create(&ReadingLabels { outcome: "stored" })
            .inc_by(inserted);
        metrics
            .readings
            .get_or_create(&ReadingLabels {
                outcome: "duplicate",
            })
            .inc_by(readings.saturating_sub(inserted));
        metrics
            .readings
            .get_or_create(&ReadingLabels {
                outcome: "rejected",
            })
            .inc_by(
                self.quarantine
                    .iter()
                    .filter(|q| q.reading_index.is_some())
                    .count() as u64,
            );
        metrics.batch_readings.observe(readings as f64);
    }

    fn confirm(&mut self, gateway: &str, seq: Option<u64>) {
        if let Some(seq) = seq {
            self.confirmations
                .entry(gateway.to_owned())
                .or_default()
                .push(seq);
        }
    }

    /// Quarantines one valid reading the collector still cannot store, as its JSON.
    fn quarantine_reading(
        &mut self,
        d: &Delivery,
        gateway: &str,
        r: &ValidReading,
        reason: QuarantineReason,
        detail: String,
    ) {
        let raw = serde_json::json!({
            "sensor": r.channel, "ts": r.ts_ms, "value": r.value, "quality": r.quality,
        });
        self.tally.rejects.push(reason);
        self.quarantine.push(QuarantineRow::new(
            d.topic(),
            Some(gateway),
            reason,
            detail,
            Some(r.index),
            raw.to_string().as_bytes(),
        ));
    }

    fn quarantine_message(
        &mut self,
        d: &Delivery,
        gateway: Option<&str>,
        reason: QuarantineReason,
        detail: String,
        kind: &'static str,
    ) {
        self.quarantine.push(QuarantineRow::new(
            d.topic(),
            gateway,
            reason,
            detail,
            None,
            d.payload(),
        ));
        self.tally.rejects.push(reason);
        self.tally.messages.push(MessageLabels {
            kind,
            outcome: "quarantined",
        });
    }
}

/// Decodes and validates every delivery and resolves gateways and sensors. Fails only when the
/// registry or the retention cannot be read (the database is away): the caller retries the
/// same deliveries.
pub async fn prepare(
    deliveries: Vec<Delivery>,
    pool: &PgPool,
    registry: &mut RegistryCache,
    retention: &mut RetentionCache,
    limits: &Limits,
) -> sqlx::Result<PreparedBatch> {
    let now = Utc::now();
    let now_ms = now.timestamp_millis();
    let kept_from = retention.cutoff(pool, now).await?;
    let mut batch = PreparedBatch::default();
    for d in &deliveries {
        let topic = match Topic::parse(d.topic()) {
            Ok(t @ (Topic::Telemetry { .. } | Topic::Status { .. })) => t,
            Ok(_) => {
                batch.quarantine_message(
                    d,
                    None,
                    QuarantineReason::InvalidTopic,
                    "the collector takes only telemetry and status topics".into(),
                    "other",
                );
                continue;
            }
            Err(e) => {
                batch.quarantine_message(
                    d,
                    None,
                    QuarantineReason::InvalidTopic,
                    e.to_string(),
                    "other",
                );
                continue;
            }
        };
        let code = topic
            .gateway()
            .expect("telemetry and status topics name a gateway");
        let kind = if matches!(topic, Topic::Telemetry { .. }) {
            "telemetry"
        } else {
            "status"
        };
        let Some(gateway_id) = registry.gateway(pool, code).await? else {
            if kind == "telemetry" {
                batch.confirm(code, telemetry_seq(d.payload()));
            }
            batch.quarantine_message(
                d,
                Some(code),
                QuarantineReason::UnknownGateway,
                format!("gateway `{code}` is not registered"),
                kind,
            );
            continue;
        };
        match topic {
            Topic::Status { .. } => match GatewayStatus::decode(d.payload(), MAX_STATUS_BYTES)
                .and_then(|status| status.check_time(limits, now_ms).map(|()| status))
            {
                Ok(status) => {
                    let heard_at = if d.publish.retain {
                        status.ts.and_then(DateTime::from_timestamp_millis)
                    } else {
                        batch.heard_from.entry(gateway_id).or_insert((now, None));
                        Some(now)
                    };
                    batch.statuses.push((gateway_id, status, heard_at));
                    batch.tally.messages.push(MessageLabels {
                        kind,
                        outcome: "stored",
                    });
                }
                Err(r) => batch.quarantine_message(d, Some(code), r.reason, r.detail, kind),
            },
            Topic::Telemetry { .. } => match decode_telemetry(d.payload(), limits, now_ms) {
                Ok(decoded) => {
                    for reject in decoded.rejects {
                        batch.tally.rejects.push(reject.reason);
                        batch.quarantine.push(QuarantineRow::new(
                            d.topic(),
                            Some(code),
                            reject.reason,
                            reject.detail,
                            Some(reject.index),
                            reject.raw.as_bytes(),
                        ));
                    }
                    for r in decoded.readings {
                        if r.ts_ms < kept_from.timestamp_millis() {
                            batch.quarantine_reading(
                                d,
                                code,
                                &r,
                                QuarantineReason::BeyondRetention,
                                format!(
                                    "timestamp {} is older than the retention (readings are kept from {})",
                                    format_ms(r.ts_ms),
                                    kept_from.to_rfc3339()
                                ),
                            );
                            continue;
                        }
                        match registry.sensor(pool, code, &r.channel).await? {
                            Some(sensor_id) => batch.readings.push(
                                sensor_id,
                                DateTime::from_timestamp_millis(r.ts_ms)
                                    .expect("validated timestamps are representable"),
                                r.value,
                                r.quality.code(),
                            ),
                            None => batch.quarantine_reading(
                                d,
                                code,
                                &r,
                                QuarantineReason::UnknownSensor,
                                format!(
                                    "gateway `{code}` has no sensor on channel `{}`",
                                    r.channel
                                ),
                            ),
                        }
                    }
                    let seen = batch.heard_from.entry(gateway_id).or_insert((now, None));
                    seen.1 = seen.1.max(Some(decoded.seq.min(i64::MAX as u64) as i64));
                    batch.confirm(code, Some(decoded.seq));
                    batch.tally.messages.push(MessageLabels {
                        kind,
                        outcome: "stored",
                    });
                }
                Err(r) => {
                    batch.confirm(code, telemetry_seq(d.payload()));
                    batch.quarantine_message(d, Some(code), r.reason, r.detail, kind);
                }
            },
            _ => unreachable!("filtered above"),
        }
    }
    batch.deliveries = deliveries;
    Ok(batch)
}
