//! The last value read from each tipping-bucket counter, kept in the bridge's data folder so
//! that rain which falls while the bridge is stopped is reported at its first read after start.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::{error, warn};

pub const FILE_NAME: &str = "counters.json";

pub struct CounterStore {
    path: PathBuf,
    values: Mutex<BTreeMap<String, u64>>,
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
        }
    }

    pub fn get(&self, key: &str) -> Option<u64> {
        self.values.lock().expect("counters lock").get(key).copied()
    }

    /// Records a counter's value; the file is rewritten (atomically) only when it changed, so a
    /// dry gauge costs no writes.
    pub fn set(&self, key: &str, value: u64) {
        let mut values = self.values.lock().expect("counters lock");
        if values.get(key) == Some(&value) {
            return;
        }
        values.insert(key.to_owned(), value);
        let json = serde_json::to_vec(&*values).expect("counter values serialize");
        if let Err(e) = write_atomically(&self.path, &json) {
            error!(file = %self.path.display(), "counter baseline not saved: rain during a restart may go unreported: {e}");
        }
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

    #[test]
    fn counter_values_survive_a_reopen_and_a_torn_file_is_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let store = CounterStore::open(dir.path());
        assert_eq!(store.get("rain-1"), None);
        store.set("rain-1", 41);
        store.set("rain-1", 42);
        assert_eq!(CounterStore::open(dir.path()).get("rain-1"), Some(42));
        std::fs::write(dir.path().join(FILE_NAME), b"{\"rain-1\": 4").unwrap();
        assert_eq!(CounterStore::open(dir.path()).get("rain-1"), None);
    }
}
