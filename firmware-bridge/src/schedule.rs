//! Poll intervals that commands can change for a while (`set_interval`: emergency mode).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Override {
    interval: Duration,
    until: Option<Instant>,
}

impl Override {
    fn live(&self, now: Instant) -> bool {
        self.until.is_none_or(|u| now < u)
    }
}

#[derive(Default)]
struct Overrides {
    all: Option<Override>,
    channels: HashMap<String, Override>,
}

/// Shared by the pollers (which read it) and the command handler (which changes it).
pub struct Schedule {
    inner: Mutex<Overrides>,
    changed: watch::Sender<u64>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            inner: Mutex::new(Overrides::default()),
            changed: watch::channel(0).0,
        }
    }
}

impl Schedule {
    /// The interval to use now: a channel's own override, else one for all channels, else the
    /// configured one. Expired overrides fall away.
    pub fn interval(&self, channel: &str, configured: Duration) -> Duration {
        let now = Instant::now();
        let mut o = self.inner.lock().expect("schedule lock");
        if o.channels.get(channel).is_some_and(|x| !x.live(now)) {
            o.channels.remove(channel);
        }
        if o.all.is_some_and(|x| !x.live(now)) {
            o.all = None;
        }
        o.channels
            .get(channel)
            .or(o.all.as_ref())
            .map(|x| x.interval)
            .unwrap_or(configured)
    }

    /// Sets an override for one channel or (None) for all, optionally for a limited time.
    pub fn set(&self, channel: Option<&str>, interval: Duration, duration: Option<Duration>) {
        let o = Override {
            interval,
            until: duration.map(|d| Instant::now() + d),
        };
        {
            let mut g = self.inner.lock().expect("schedule lock");
            match channel {
                Some(c) => {
                    g.channels.insert(c.to_owned(), o);
                }
                None => {
                    // A rate for all replaces the per-channel ones: "everything every 10 s".
                    g.channels.clear();
                    g.all = Some(o);
                }
            }
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// Back to the configured interval for one channel or all.
    pub fn reset(&self, channel: Option<&str>) {
        {
            let mut g = self.inner.lock().expect("schedule lock");
            match channel {
                Some(c) => {
                    g.channels.remove(c);
                }
                None => *g = Overrides::default(),
            }
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// Wakes a poller when an override changes, so a faster rate starts now, not after the old
    /// (possibly hour-long) interval.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_timed_override_ends_by_itself_and_a_channel_override_beats_the_global_one() {
        let s = Schedule::default();
        let base = Duration::from_secs(600);
        s.set(None, Duration::from_secs(10), Some(Duration::from_secs(60)));
        s.set(Some("a"), Duration::from_secs(5), None);
        assert_eq!(s.interval("a", base), Duration::from_secs(5));
        assert_eq!(s.interval("b", base), Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(s.interval("b", base), base);
        assert_eq!(s.interval("a", base), Duration::from_secs(5));
        s.reset(None);
        assert_eq!(s.interval("a", base), base);
    }
}
