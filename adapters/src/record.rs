//! A bounded, countable record of what a log provider would have sent, for tests and the demo:
//! the newest `capacity` items are kept, and the total count keeps growing.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Newest-`capacity` items plus a running count.
#[derive(Debug)]
pub struct Recorder<T> {
    capacity: usize,
    inner: Mutex<(VecDeque<T>, u64)>,
}

impl<T: Clone> Recorder<T> {
    /// Keeps at most `capacity` items (0 keeps none, only the count).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new((VecDeque::with_capacity(capacity.min(1_024)), 0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<T>, u64)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records one item, dropping the oldest when full.
    pub fn push(&self, item: T) {
        let mut inner = self.lock();
        inner.1 += 1;
        if self.capacity == 0 {
            return;
        }
        if inner.0.len() == self.capacity {
            inner.0.pop_front();
        }
        inner.0.push_back(item);
    }

    /// The kept items, oldest first.
    pub fn records(&self) -> Vec<T> {
        self.lock().0.iter().cloned().collect()
    }

    /// Items recorded since start (including dropped ones).
    pub fn count(&self) -> u64 {
        self.lock().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_counts_all() {
        let r = Recorder::new(2);
        for i in 0..5 {
            r.push(i);
        }
        assert_eq!(r.records(), vec![3, 4]);
        assert_eq!(r.count(), 5);
    }
}
