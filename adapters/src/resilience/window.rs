//! A rolling window of counters split into time buckets, shared by the breaker (accepts and
//! totals over the last 10 s) and the retry budget (tokens deposited and withdrawn over the last
//! TTL). Running sums are kept alongside the buckets, so reading the window is O(1) and advancing
//! it touches only the buckets that expired; the hot path never sums the whole ring.

use std::time::Duration;

use tokio::time::Instant;

/// Two counters per bucket; each user gives them its own meaning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) a: i64,
    pub(crate) b: i64,
}

/// The ring of buckets; the caller holds it under its own lock.
#[derive(Debug)]
pub(crate) struct Window {
    start: Instant,
    bucket_nanos: u64,
    slots: Vec<Slot>,
    /// Absolute index (since `start`) of the newest bucket.
    head: u64,
    sum: Slot,
}

impl Window {
    /// `span` split into `buckets` (both validated non-zero by the configs).
    pub(crate) fn new(start: Instant, span: Duration, buckets: usize) -> Self {
        let buckets = buckets.max(1);
        let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        Self {
            start,
            bucket_nanos: (nanos / buckets as u64).max(1),
            slots: vec![Slot::default(); buckets],
            head: 0,
            sum: Slot::default(),
        }
    }

    /// Moves the head to `now`, clearing buckets that fell out of the window.
    pub(crate) fn advance(&mut self, now: Instant) {
        let elapsed =
            u64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        let index = elapsed / self.bucket_nanos;
        if index <= self.head {
            return;
        }
        let len = self.slots.len() as u64;
        let expired = (index - self.head).min(len);
        for i in 1..=expired {
            let slot = &mut self.slots[((self.head + i) % len) as usize];
            self.sum.a -= slot.a;
            self.sum.b -= slot.b;
            *slot = Slot::default();
        }
        self.head = index;
    }

    /// Adds to the newest bucket (call [`Window::advance`] first).
    pub(crate) fn add(&mut self, a: i64, b: i64) {
        let len = self.slots.len() as u64;
        let slot = &mut self.slots[(self.head % len) as usize];
        slot.a += a;
        slot.b += b;
        self.sum.a += a;
        self.sum.b += b;
    }

    /// Sums over the window.
    pub(crate) fn sum(&self) -> Slot {
        self.sum
    }

    /// How many buckets hold anything (for diagnostics and tests).
    #[cfg(test)]
    pub(crate) fn busy_buckets(&self) -> usize {
        self.slots.iter().filter(|s| **s != Slot::default()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_buckets_expire_and_sums_follow() {
        let t0 = Instant::now();
        let mut w = Window::new(t0, Duration::from_secs(10), 40);
        w.advance(t0);
        w.add(1, 2);
        w.advance(t0 + Duration::from_millis(300));
        w.add(3, 4);
        assert_eq!(w.sum(), Slot { a: 4, b: 6 });
        assert_eq!(w.busy_buckets(), 2);
        // 10.1 s later the first bucket is gone, the second (at 0.3 s) still inside.
        w.advance(t0 + Duration::from_millis(10_100));
        assert_eq!(w.sum(), Slot { a: 3, b: 4 });
        // Far in the future everything is gone, in one bounded sweep.
        w.advance(t0 + Duration::from_secs(3_600));
        assert_eq!(w.sum(), Slot::default());
        assert_eq!(w.busy_buckets(), 0);
    }
}
