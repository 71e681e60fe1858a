//! Group commit for workers whose store likes big writes: concurrent `handle` calls (one per
//! processor) each hand their item to a [`Batcher`] and wait for their own answer, while a few
//! flush tasks turn whatever has queued up into one write (one PostgreSQL statement, one Redis
//! pipeline). Used by the analytics and cache-warming workers.
//!
//! Batches form by themselves: a flush task takes the first waiting item, everything else already
//! queued (up to `max_batch`), yields once or more so callers just answered can queue again,
//! optionally waits `linger` for more, and writes. While every flush task is busy, new items
//! queue, so under load batches grow towards `max_batch`; when idle an item is written at once,
//! alone. Each flush task owns its state (a connection, a counter
//! shard), so no two batches in flight share it. Every write's size is recorded
//! ([`BATCH_SIZE`](crate::metrics::BATCH_SIZE), by the batcher's name).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use metrics::{Histogram, histogram};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::metrics::{BATCH_SIZE, describe};
use consumers::runtime::HandlerError;

/// What one item's write came to.
pub type Outcome = Result<(), HandlerError>;

/// Writes batches. One value per flush task; `flush` is never called twice at once on it.
pub trait Flush: Send + 'static {
    /// What callers submit.
    type Item: Send + 'static;

    /// Writes `items`, returning one outcome per item, in the same order.
    fn flush(&mut self, items: &[Self::Item]) -> impl Future<Output = Vec<Outcome>> + Send;
}

/// How batches are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Most items in one write.
    pub max_batch: usize,
    /// How long a flush task waits for more items after the first, when fewer than `max_batch`
    /// are queued. Zero: write what is there.
    pub linger: Duration,
}

struct Job<I> {
    item: I,
    reply: oneshot::Sender<Outcome>,
}

/// The submitting side. Dropping it lets the flush tasks finish what is queued and end.
pub struct Batcher<I> {
    tx: async_channel::Sender<Job<I>>,
}

impl<I> std::fmt::Debug for Batcher<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("queued", &self.tx.len())
            .finish()
    }
}

impl<I: Send + 'static> Batcher<I> {
    /// Spawns one flush task per flusher on the current Tokio runtime; `name` labels the
    /// sizes of its writes (`analytics`, `notification_claims`, ...).
    pub fn spawn<F>(name: &'static str, flushers: Vec<F>, settings: BatchSettings) -> Self
    where
        F: Flush<Item = I>,
    {
        describe();
        let sizes = histogram!(BATCH_SIZE, "batcher" => name);
        let max_batch = settings.max_batch.max(1);
        let settings = BatchSettings {
            max_batch,
            ..settings
        };
        // Room for one full batch per flusher waiting: callers beyond that wait to submit,
        // which is the back-pressure the runtime's processors feel.
        let (tx, rx) = async_channel::bounded(max_batch * flushers.len().max(1));
        for flusher in flushers {
            tokio::spawn(run(flusher, rx.clone(), settings, sizes.clone()));
        }
        Self { tx }
    }

    /// Queues `item` and waits for the outcome of the batch it lands in.
    pub async fn submit(&self, item: I) -> Outcome {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { item, reply })
            .await
            .map_err(|_| HandlerError::retryable("batch writer stopped"))?;
        answer.await.unwrap_or_else(|_| {
            Err(HandlerError::retryable(
                "batch writer ended before answering",
            ))
        })
    }
}

/// The same failure for every item of a batch that failed as a whole.
pub fn fail_all<T>(items: &[T], e: &HandlerError) -> Vec<Outcome> {
    items.iter().map(|_| Err(e.clone())).collect()
}

/// Moves jobs already queued into the batch, up to `max` items in all; returns how many moved.
fn drain<I>(
    rx: &async_channel::Receiver<Job<I>>,
    items: &mut Vec<I>,
    replies: &mut Vec<oneshot::Sender<Outcome>>,
    max: usize,
) -> usize {
    let mut moved = 0;
    while items.len() < max {
        let Ok(job) = rx.try_recv() else { break };
        items.push(job.item);
        replies.push(job.reply);
        moved += 1;
    }
    moved
}

async fn run<F: Flush>(
    mut flusher: F,
    rx: async_channel::Receiver<Job<F::Item>>,
    s: BatchSettings,
    sizes: Histogram,
) {
    let max = s.max_batch;
    let mut items = Vec::with_capacity(max);
    let mut replies = Vec::with_capacity(max);
    while let Ok(first) = rx.recv().await {
        items.push(first.item);
        replies.push(first.reply);
        drain(&rx, &mut items, &mut replies, max);
        // Callers answered by the previous batch are usually about to submit again; yielding
        // lets them run first, so they join this batch instead of waiting for the next one.
        // Costs microseconds and needs no timer (whose granularity is a millisecond).
        while items.len() < max {
            tokio::task::yield_now().await;
            if drain(&rx, &mut items, &mut replies, max) == 0 {
                break;
            }
        }
        if items.len() < max && !s.linger.is_zero() {
            let deadline = Instant::now() + s.linger;
            while items.len() < max {
                let Ok(Ok(job)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                    break;
                };
                items.push(job.item);
                replies.push(job.reply);
            }
        }
        sizes.record(items.len() as f64);
        // A panicking flush must not take this task (and its share of throughput) down; its
        // callers get a retryable error and the next batch starts clean.
        let outcomes = AssertUnwindSafe(flusher.flush(&items))
            .catch_unwind()
            .await
            .unwrap_or_default();
        let mut outcomes = outcomes.into_iter();
        for reply in replies.drain(..) {
            let outcome = outcomes
                .next()
                .unwrap_or_else(|| Err(HandlerError::retryable("batch write gave no outcome")));
            // The caller may have given up (shutdown); the write stands either way.
            let _ = reply.send(outcome);
        }
        items.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Records batch sizes; fails odd items permanently; panics on item 666.
    struct Probe {
        sizes: Arc<std::sync::Mutex<Vec<usize>>>,
        busy: Arc<AtomicUsize>,
    }

    impl Flush for Probe {
        type Item = u32;
        async fn flush(&mut self, items: &[u32]) -> Vec<Outcome> {
            assert_eq!(
                self.busy.fetch_add(1, Ordering::SeqCst),
                0,
                "one flush at a time"
            );
            tokio::task::yield_now().await;
            self.busy.fetch_sub(1, Ordering::SeqCst);
            self.sizes.lock().expect("lock").push(items.len());
            assert!(!items.contains(&666), "boom");
            items
                .iter()
                .map(|i| {
                    if i % 2 == 1 {
                        Err(HandlerError::permanent(i))
                    } else {
                        Ok(())
                    }
                })
                .collect()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_caller_gets_its_own_outcome_and_batches_respect_the_cap() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let probe = Probe {
            sizes: sizes.clone(),
            busy: Arc::new(AtomicUsize::new(0)),
        };
        let settings = BatchSettings {
            max_batch: 8,
            linger: Duration::from_millis(1),
        };
        let batcher = Arc::new(Batcher::spawn("probe", vec![probe], settings));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200u32 {
            let b = batcher.clone();
            tasks.spawn(async move { (i, b.submit(i).await) });
        }
        while let Some(done) = tasks.join_next().await {
            let (i, outcome) = done.expect("task");
            match outcome {
                Ok(()) => assert_eq!(i % 2, 0),
                Err(HandlerError::Permanent(r)) => assert_eq!(r.reason, i.to_string()),
                Err(other) => panic!("{i}: {other}"),
            }
        }
        let sizes = sizes.lock().expect("lock").clone();
        assert_eq!(sizes.iter().sum::<usize>(), 200);
        assert!(sizes.iter().all(|&n| (1..=8).contains(&n)), "{sizes:?}");
        assert!(
            sizes.iter().any(|&n| n > 1),
            "concurrent calls batch: {sizes:?}"
        );
    }

    #[tokio::test]
    async fn a_panicking_flush_fails_its_callers_retryably_and_the_writer_goes_on() {
        let probe = Probe {
            sizes: Arc::default(),
            busy: Arc::new(AtomicUsize::new(0)),
        };
        let batcher = Batcher::spawn(
            "probe",
            vec![probe],
            BatchSettings {
                max_batch: 4,
                linger: Duration::ZERO,
            },
        );
        assert!(matches!(
            batcher.submit(666).await,
            Err(HandlerError::Retryable(_))
        ));
        assert!(batcher.submit(2).await.is_ok());
    }
}
