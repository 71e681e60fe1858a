//! How fast a replay goes and how far it is: the rate limit (`--rate`) and the live progress
//! counters a progress bar reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Live progress for a bar: `done` of `total` events.
#[derive(Debug, Default)]
pub struct Progress {
    /// Events in the plan (offsets; an upper bound where offsets have gaps).
    pub total: AtomicU64,
    /// Events finished (handled, dead-lettered, or copied and acknowledged).
    pub done: AtomicU64,
}

impl Progress {
    pub(crate) fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}

/// Paces events to at most `rate` per second (no bursts beyond one second's backlog).
#[derive(Debug)]
pub(crate) struct Pacer {
    period: Option<Duration>,
    next: Instant,
}

impl Pacer {
    pub(crate) fn new(rate: Option<u32>) -> Self {
        Pacer {
            period: rate.filter(|r| *r > 0).map(|r| Duration::from_secs(1) / r),
            next: Instant::now(),
        }
    }

    pub(crate) async fn wait(&mut self) {
        let Some(period) = self.period else { return };
        let now = Instant::now();
        // After a stall, do not catch up faster than the rate allows.
        if self.next + Duration::from_secs(1) < now {
            self.next = now;
        }
        tokio::time::sleep_until(self.next).await;
        self.next += period;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pacer_holds_the_rate() {
        let mut pacer = Pacer::new(Some(50));
        let start = Instant::now();
        for _ in 0..100 {
            pacer.wait().await;
        }
        // 100 events at 50/s: the 100th may go at 99 periods = 1.98 s.
        assert_eq!(start.elapsed(), Duration::from_millis(1980));
        let mut free = Pacer::new(None);
        let start = Instant::now();
        free.wait().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
