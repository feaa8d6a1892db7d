//! The last value read from each tipping-bucket counter, kept in the bridge's data folder so
//! that rain which falls while the bridge is stopped is reported at its first read after start.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tracing::{error, warn};

pub const FILE_NAME: &str = "counters.json";

pub struct CounterStore {
    path: PathBuf,
    values: Mutex<BTreeMap<String, u64>>,
    /// A value changed since the file was last written.
    changed: AtomicBool,
    /// Held while the file is written: writes never overtake each other, and a save returns
    /// only once the values it saw are on disk.
    writing: tokio::sync::Mutex<()>,
}

impl CounterStore {
    /// Reads `counters.json` in `dir`. A missing file is a first start; an unreadable one is
    /// logged and treated the same (the next reads set new baselines).
    pub fn open(dir: &Path) -> CounterStore {
        let path = dir.join(FILE_NAME);
        let values = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(file = %path.display(), "counter baselines unreadable, starting afresh: {e}");
                BTreeMap::new()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                warn!(file = %path.display(), "counter baselines unreadable, starting afresh: {e}");
                BTreeMap::new()
            }
        };
        CounterStore {
            path,
            values: Mutex::new(values),
            changed: AtomicBool::new(false),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn get(&self, key: &str) -> Option<u64> {
        self.values.lock().expect("counters lock").get(key).copied()
    }

    /// Records a counter's value in memory; [`CounterStore::save`] writes it.
    pub fn set(&self, key: &str, value: u64) {
        let mut values = self.values.lock().expect("counters lock");
        if values.get(key) != Some(&value) {
            values.insert(key.to_owned(), value);
            self.changed.store(true, Ordering::Release);
        }
    }

    /// Rewrites the file (atomically, on a blocking thread) when a value changed, so a dry gauge
    /// costs no writes.
    pub async fn save(self: Arc<Self>) {
        let _turn = self.writing.lock().await;
        if !self.changed.swap(false, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        let written = tokio::task::spawn_blocking(move || {
            // The values as they are now: a later change is in this write or the next one.
            let json = serde_json::to_vec(&*store.values.lock().expect("counters lock"))
                .expect("counter values serialize");
            write_atomically(&store.path, &json)
        })
        .await;
        let error = match written {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        self.changed.store(true, Ordering::Release); // tried again at the next save
        error!(file = %self.path.display(), "counter baseline not saved: rain during a restart may go unreported: {error}");
    }
}

/// Writes a whole file so that a power cut leaves either the old or the new content.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counter_values_survive_a_reopen_and_a_torn_file_is_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CounterStore::open(dir.path()));
        assert_eq!(store.get("rain-1"), None);
        store.set("rain-1", 41);
        store.clone().save().await;
        store.set("rain-1", 42);
        store.clone().save().await;
        assert_eq!(CounterStore::open(dir.path()).get("rain-1"), Some(42));
        std::fs::write(dir.path().join(FILE_NAME), b"{\"rain-1\": 4").unwrap();
        assert_eq!(CounterStore::open(dir.path()).get("rain-1"), None);
    }
}
