//! The one retry pause every geohazard component uses: exponential, capped, optionally jittered.

use std::time::Duration;

/// Doubles from `min` to `max` on each failure; [`Backoff::reset`] after a success.
/// With jitter (±20 %), a fleet of clients that lost the same server does not come back in
/// lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    jitter: bool,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            next: min,
            jitter: false,
        }
    }

    /// Spread each pause over ±20 % of its nominal length.
    pub fn with_jitter(mut self) -> Backoff {
        self.jitter = true;
        self
    }

    /// The pause before the next attempt; each call doubles the one after (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (self.next * 2).min(self.max);
        if self.jitter {
            nominal.mul_f64(rand::random_range(0.8..1.2))
        } else {
            nominal
        }
    }

    /// The nominal pause the next attempt will wait (for log lines), without advancing.
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// Back to the shortest pause: the thing retried has worked.
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// Sleeps for [`Backoff::next_delay`]; on tokio's clock, so paused-time tests drive it.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let seen: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(seen, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jittered_pauses_stay_within_a_fifth_of_nominal() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).with_jitter();
        for _ in 0..200 {
            let d = b.next_delay().as_secs_f64();
            assert!((0.8..1.2).contains(&d), "{d}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn wait_runs_on_the_tokio_clock() {
        let mut b = Backoff::new(Duration::from_secs(30), Duration::from_secs(60));
        let started = tokio::time::Instant::now();
        b.wait().await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
