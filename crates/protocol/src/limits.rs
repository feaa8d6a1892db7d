//! Bounds on what one message may carry. The collector and the gateways read the same values.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest telemetry or status payload accepted, in bytes. Larger ones are quarantined whole.
    pub max_payload_bytes: usize,
    /// Most readings one telemetry message may carry.
    pub max_readings_per_message: usize,
    /// How far in the future (by the receiver's clock) a reading's timestamp may be.
    pub max_future_skew_secs: i64,
    /// Earliest timestamp accepted: 2000-01-01T00:00:00Z, in Unix milliseconds.
    pub min_timestamp_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 1024 * 1024,
            max_readings_per_message: 10_000,
            max_future_skew_secs: 600,
            min_timestamp_ms: 946_684_800_000,
        }
    }
}

impl Limits {
    /// The latest timestamp accepted when the receiver's clock reads `now_ms`.
    pub fn max_timestamp_ms(&self, now_ms: i64) -> i64 {
        now_ms.saturating_add(self.max_future_skew_secs.saturating_mul(1000))
    }
}
