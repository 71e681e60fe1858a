//! The key-ordered scheduler: events with the same key run one at a time in arrival (offset)
//! order; events of different keys run in parallel on `processors` workers, beyond the number
//! of partitions. [`Lanes`] is the bookkeeping (pure, so it can be tested exhaustively);
//! [`Scheduler`] drives it with worker tasks and bounds the events it holds, so the caller stops
//! taking messages instead of buffering without limit.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use futures::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// Per-key queues. A key is *busy* while one of its events is running; later events of that
/// key wait in its lane and are released one by one as the running one finishes.
#[derive(Debug)]
pub struct Lanes<K, T> {
    waiting: HashMap<K, VecDeque<T>>,
}

impl<K: Hash + Eq + Clone, T> Default for Lanes<K, T> {
    fn default() -> Self {
        Self {
            waiting: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, T> Lanes<K, T> {
    /// An event arrived. Returns it back when its key is idle (run it now); otherwise it waits
    /// behind the running event of its key.
    pub fn push(&mut self, key: K, item: T) -> Option<T> {
        match self.waiting.get_mut(&key) {
            Some(lane) => {
                lane.push_back(item);
                None
            }
            None => {
                // An empty lane marks the key busy.
                self.waiting.insert(key, VecDeque::new());
                Some(item)
            }
        }
    }

    /// The running event of `key` finished. Returns the key's next event to run, if any;
    /// otherwise the key becomes idle.
    pub fn finish(&mut self, key: &K) -> Option<T> {
        let lane = self.waiting.get_mut(key)?;
        match lane.pop_front() {
            Some(next) => Some(next),
            None => {
                self.waiting.remove(key);
                None
            }
        }
    }

    /// Keys with an event running.
    pub fn busy_keys(&self) -> usize {
        self.waiting.len()
    }

    /// Events waiting behind a running event of their key.
    pub fn waiting(&self) -> usize {
        self.waiting.values().map(VecDeque::len).sum()
    }
}

/// One unit of work: the key it is ordered by, and the item.
#[derive(Debug)]
pub struct Job<K, T> {
    /// Ordering key (the order ID).
    pub key: K,
    /// What to handle.
    pub item: T,
    permit: OwnedSemaphorePermit,
}

type SharedLanes<K, T> = Arc<Mutex<Lanes<K, (T, OwnedSemaphorePermit)>>>;

/// Drives [`Lanes`] with `processors` worker tasks running `handle` for each item. An event
/// whose key is idle goes straight to a worker; a worker that finishes an event takes the next
/// one of the same key itself. So each event crosses threads once (caller to worker), with no
/// dispatcher task in between: every extra hop was a wake-up and, on a busy machine, a wait
/// for a thread to be scheduled, which showed in the latency tail.
#[derive(Debug)]
pub struct Scheduler<K, T> {
    lanes: SharedLanes<K, T>,
    work: async_channel::Sender<Job<K, T>>,
    capacity: Arc<Semaphore>,
    max_in_flight: usize,
}

impl<K, T> Scheduler<K, T>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
{
    /// Starts `processors` workers on `tasks`. At most `max_in_flight` events are held (running
    /// or waiting) at once. `handle` runs every item; when it returns the key's next item may
    /// start. Dropping the scheduler lets the workers finish what they hold and end.
    pub fn start<F, Fut>(
        processors: usize,
        max_in_flight: usize,
        handle: F,
        tasks: &mut JoinSet<()>,
    ) -> Self
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let processors = processors.max(1);
        let max_in_flight = max_in_flight.max(1);
        // Unbounded, since the semaphore bounds what is held in all.
        let (work, work_rx) = async_channel::unbounded::<Job<K, T>>();
        let lanes: SharedLanes<K, T> = Arc::default();
        let handle = Arc::new(handle);
        for _ in 0..processors {
            let (work_rx, lanes, handle) =
                (work_rx.clone(), Arc::clone(&lanes), Arc::clone(&handle));
            tasks.spawn(async move {
                while let Ok(job) = work_rx.recv().await {
                    run_key(job, &lanes, &*handle).await;
                }
            });
        }
        Self {
            lanes,
            work,
            capacity: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        }
    }

    /// Hands an item to the scheduler, waiting while `max_in_flight` items are held. Returns
    /// the item back if the scheduler has stopped.
    pub async fn submit(&self, key: K, item: T) -> Result<(), T> {
        let Ok(permit) = Arc::clone(&self.capacity).acquire_owned().await else {
            return Err(item);
        };
        self.place(key, item, permit)
    }

    /// Like [`submit`](Self::submit) but never waits: at the limit it returns the item, so the
    /// caller can stop fetching and wait with `submit`.
    pub fn try_submit(&self, key: K, item: T) -> Result<(), T> {
        let Ok(permit) = Arc::clone(&self.capacity).try_acquire_owned() else {
            return Err(item);
        };
        self.place(key, item, permit)
    }

    /// Runs the item now if its key is idle, else queues it behind the key's running event.
    fn place(&self, key: K, item: T, permit: OwnedSemaphorePermit) -> Result<(), T> {
        let runnable = lock(&self.lanes).push(key.clone(), (item, permit));
        match runnable {
            Some((item, permit)) => self
                .work
                .try_send(Job { key, item, permit })
                .map_err(|e| e.into_inner().item),
            None => Ok(()),
        }
    }

    /// Items held now (running or waiting).
    pub fn in_flight(&self) -> usize {
        self.max_in_flight - self.capacity.available_permits()
    }
}

/// Runs `job`, then every event of its key that queued meanwhile, until the key is idle.
async fn run_key<K, T, F, Fut>(job: Job<K, T>, lanes: &SharedLanes<K, T>, handle: &F)
where
    K: Hash + Eq + Clone,
    F: Fn(T) -> Fut,
    Fut: Future<Output = ()>,
{
    let Job {
        key,
        mut item,
        mut permit,
    } = job;
    loop {
        // A panicking handler must not take its key's lane (or this worker) down with it: the
        // key is released either way. Turning the panic into a failed event is the handler
        // layer's job.
        if let Err(panic) = AssertUnwindSafe(handle(item)).catch_unwind().await {
            tracing::error!(panic = ?panic.downcast_ref::<&str>(), "handler panicked");
        }
        drop(permit);
        let next = lock(lanes).finish(&key);
        match next {
            Some((i, p)) => (item, permit) = (i, p),
            None => return,
        }
    }
}

/// The lanes' lock; a panic while holding it cannot leave them half-changed (each call is one
/// map operation), so a poisoned lock is used as it is.
fn lock<K, T>(
    lanes: &SharedLanes<K, T>,
) -> std::sync::MutexGuard<'_, Lanes<K, (T, OwnedSemaphorePermit)>> {
    lanes.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn lanes_run_one_event_per_key_in_order() {
        let mut lanes: Lanes<&str, u32> = Lanes::default();
        assert_eq!(lanes.push("a", 1), Some(1), "idle key: run now");
        assert_eq!(lanes.push("b", 10), Some(10));
        assert_eq!(lanes.push("a", 2), None, "a is busy: wait");
        assert_eq!(lanes.push("a", 3), None);
        assert_eq!(lanes.waiting(), 2);
        assert_eq!(lanes.finish(&"a"), Some(2), "next of a, in order");
        assert_eq!(lanes.finish(&"b"), None, "b idle again");
        assert_eq!(lanes.push("b", 11), Some(11));
        assert_eq!(lanes.finish(&"a"), Some(3));
        assert_eq!(lanes.finish(&"a"), None);
        assert_eq!(lanes.finish(&"b"), None);
        assert_eq!(lanes.busy_keys(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn keys_keep_their_order_while_different_keys_run_in_parallel() {
        let seen: Arc<Mutex<HashMap<u32, Vec<u32>>>> = Arc::default();
        let running_per_key: Arc<Mutex<HashMap<u32, usize>>> = Arc::default();
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = JoinSet::new();
        let scheduler = {
            let (seen, running_per_key) = (Arc::clone(&seen), Arc::clone(&running_per_key));
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            Scheduler::start(
                16,
                256,
                move |(key, seq): (u32, u32)| {
                    let (seen, running_per_key) = (Arc::clone(&seen), Arc::clone(&running_per_key));
                    let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
                    async move {
                        {
                            let mut r = running_per_key.lock().expect("lock");
                            let n = r.entry(key).or_default();
                            *n += 1;
                            assert_eq!(*n, 1, "two events of key {key} ran at once");
                        }
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        let delay = rand::random_range(0..300u64);
                        tokio::time::sleep(Duration::from_micros(delay)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        seen.lock().expect("lock").entry(key).or_default().push(seq);
                        *running_per_key
                            .lock()
                            .expect("lock")
                            .get_mut(&key)
                            .expect("key") -= 1;
                    }
                },
                &mut tasks,
            )
        };
        let (keys, per_key) = (2_000u32, 5u32);
        for seq in 0..per_key {
            for key in 0..keys {
                scheduler.submit(key, (key, seq)).await.expect("running");
                assert!(scheduler.in_flight() <= 256, "bounded");
            }
        }
        drop(scheduler);
        while let Some(r) = tasks.join_next().await {
            r.expect("task");
        }
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), keys as usize);
        for (key, seqs) in seen.iter() {
            assert_eq!(
                seqs,
                &(0..per_key).collect::<Vec<_>>(),
                "key {key} out of order"
            );
        }
        assert!(
            peak.load(Ordering::SeqCst) > 1,
            "different keys ran in parallel"
        );
    }

    #[tokio::test]
    async fn a_panicking_handler_releases_its_key() {
        let handled: Arc<Mutex<Vec<u32>>> = Arc::default();
        let mut tasks = JoinSet::new();
        let scheduler = {
            let handled = Arc::clone(&handled);
            Scheduler::start(
                1,
                8,
                move |n: u32| {
                    let handled = Arc::clone(&handled);
                    async move {
                        if n == 1 {
                            panic!("poison event");
                        }
                        handled.lock().expect("lock").push(n);
                    }
                },
                &mut tasks,
            )
        };
        for n in 0..4 {
            scheduler.submit("same-key", n).await.expect("running");
        }
        drop(scheduler);
        while let Some(r) = tasks.join_next().await {
            r.expect("no task died");
        }
        assert_eq!(*handled.lock().expect("lock"), vec![0, 2, 3]);
    }

    #[tokio::test]
    async fn at_the_limit_try_submit_refuses_instead_of_buffering() {
        let gate = Arc::new(Semaphore::new(0));
        let mut tasks = JoinSet::new();
        let scheduler = {
            let gate = Arc::clone(&gate);
            Scheduler::start(
                2,
                3,
                move |_: u32| {
                    let gate = Arc::clone(&gate);
                    async move {
                        let _ = gate.acquire().await.map(|p| p.forget());
                    }
                },
                &mut tasks,
            )
        };
        for i in 0..3 {
            scheduler.try_submit(i, i).expect("room");
        }
        assert_eq!(
            scheduler.try_submit(9, 9),
            Err(9),
            "full: the caller must wait"
        );
        gate.add_permits(1);
        scheduler
            .submit(9, 9)
            .await
            .expect("room after one finished");
        gate.add_permits(10);
        drop(scheduler);
        while let Some(r) = tasks.join_next().await {
            r.expect("task");
        }
    }
}
