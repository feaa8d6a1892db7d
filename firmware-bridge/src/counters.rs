//! The last value read from each tipping-bucket counter, so that rain which falls while the
//! bridge is stopped is reported at its first read after start. The values are kept on disk by
//! the queue, inside the telemetry records that carry the readings computed from them (see
//! `queue.rs`): a baseline is exactly as durable as its reading. This is the pollers' view.

use std::collections::BTreeMap;
use std::sync::Mutex;

use geohazard_protocol::Reading;

pub struct CounterStore {
    values: Mutex<BTreeMap<String, u64>>,
}

/// What a poller hands the batcher: a reading, and for a rain counter its raw value (the
/// baseline of the next read), queued in the same record as the reading.
#[derive(Debug, Clone)]
pub struct Polled {
    pub reading: Option<Reading>,
    pub counter: Option<(String, u64)>,
}

impl CounterStore {
    /// The baselines the queue recovered.
    pub fn new(values: BTreeMap<String, u64>) -> CounterStore {
        CounterStore {
            values: Mutex::new(values),
        }
    }

    pub fn get(&self, key: &str) -> Option<u64> {
        self.values.lock().expect("counters lock").get(key).copied()
    }

    /// Records a counter's value in memory (pollers restarted by a configuration change start
    /// from it); the queue keeps it on disk with the reading.
    pub fn set(&self, key: &str, value: u64) {
        self.values
            .lock()
            .expect("counters lock")
            .insert(key.to_owned(), value);
    }
}
