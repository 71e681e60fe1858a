//! Parked events read back from the retry topic wait here until their due time, without holding
//! a processor or blocking other keys; their offsets stay uncommitted meanwhile.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::parked::now_ms;

/// Parked events read back from the retry topic, held until due and then released in
/// (due time, offset) order, so a follower never overtakes the event it follows.
#[derive(Debug)]
pub struct DelayQueue<T> {
    tx: mpsc::UnboundedSender<(i64, i64, T)>,
    held: std::sync::Arc<AtomicUsize>,
}

impl<T: Send + 'static> DelayQueue<T> {
    /// Starts the timer task; `release` is awaited for each due item, in order.
    pub fn start<F, Fut>(
        release: F,
        stop: CancellationToken,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> Self
    where
        F: Fn(T) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<(i64, i64, T)>();
        let held = std::sync::Arc::new(AtomicUsize::new(0));
        let count = std::sync::Arc::clone(&held);
        tasks.spawn(async move {
            let mut heap: BinaryHeap<Reverse<Item<T>>> = BinaryHeap::new();
            loop {
                let wait = heap
                    .peek()
                    .map(|Reverse(i)| i.due_ms - now_ms())
                    .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
                tokio::select! {
                    () = stop.cancelled() => break,
                    got = rx.recv() => match got {
                        Some((due_ms, offset, item)) => {
                            heap.push(Reverse(Item { due_ms, offset, item }));
                            // Take everything already sent, so items pushed together are
                            // ordered together before any is released.
                            while let Ok((due_ms, offset, item)) = rx.try_recv() {
                                heap.push(Reverse(Item { due_ms, offset, item }));
                            }
                        }
                        None => break,
                    },
                    () = sleep_or_forever(wait) => {
                        while heap.peek().is_some_and(|Reverse(i)| i.due_ms <= now_ms()) {
                            if let Some(Reverse(i)) = heap.pop() {
                                count.fetch_sub(1, Ordering::Relaxed);
                                release(i.item).await;
                            }
                        }
                    }
                }
            }
        });
        Self { tx, held }
    }

    /// Holds `item` until `due_ms`; `offset` orders items due at the same time.
    pub fn push(&self, due_ms: i64, offset: i64, item: T) -> bool {
        self.held.fetch_add(1, Ordering::Relaxed);
        let sent = self.tx.send((due_ms, offset, item)).is_ok();
        if !sent {
            self.held.fetch_sub(1, Ordering::Relaxed);
        }
        sent
    }

    /// Items held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

struct Item<T> {
    due_ms: i64,
    offset: i64,
    item: T,
}

impl<T> PartialEq for Item<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.due_ms, self.offset) == (other.due_ms, other.offset)
    }
}
impl<T> Eq for Item<T> {}
impl<T> PartialOrd for Item<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Item<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due_ms, self.offset).cmp(&(other.due_ms, other.offset))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_delay_queue_releases_in_due_then_offset_order() {
        let stop = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let q = DelayQueue::start(
            move |i: u32| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(i);
                }
            },
            stop.clone(),
            &mut tasks,
        );
        let now = now_ms();
        // Paused tokio time does not move the wall clock, so due times are in the past or
        // near: order is what this checks.
        assert!(q.push(now - 5, 7, 3));
        assert!(q.push(now - 10, 9, 1));
        assert!(q.push(now - 5, 2, 2));
        let mut got = Vec::new();
        while got.len() < 3 {
            got.push(rx.recv().await.expect("released"));
        }
        assert_eq!(got, [1, 2, 3]);
        assert_eq!(q.held(), 0);
        stop.cancel();
    }
}
