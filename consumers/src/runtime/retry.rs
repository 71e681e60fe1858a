//! The retry topic. An event whose in-process retries are spent is parked on the group's retry
//! topic (`<group>.retry`, keyed like its source so it stays co-partitioned) with a not-before
//! time, and comes back to the same group after its delay without holding up other keys: the
//! runtime keeps parked events it has read in a [`DelayQueue`] (their offsets stay uncommitted,
//! so a crash loses nothing) and hands each to the scheduler when it is due.
//!
//! While an event of a key is parked, later events of that key either wait behind it
//! ([`RetryMode::BlockKey`], the default: they are parked too, as *followers*, and run after it
//! succeeds or is dead-lettered) or run on ([`RetryMode::Skip`]). [`Parking`] holds which keys
//! are blocked; sequence numbers that increase across processes order the parkings of one key.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use events::headers;
use rdkafka::message::OwnedMessage;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::runtime::dlq::header_str;

/// What later events of a key do while an earlier one waits on the retry topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RetryMode {
    /// They wait behind it (parked as followers), so the key's order holds; a key whose
    /// event keeps failing stalls until that event succeeds or is dead-lettered.
    #[default]
    BlockKey,
    /// They run on; nothing stalls, but the failed event is handled after later ones.
    Skip,
}

/// Why an event is on the retry topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkKind {
    /// Its handler failed.
    Failed,
    /// It only waits behind an earlier parked event of its key.
    Follower,
}

impl ParkKind {
    fn as_str(self) -> &'static str {
        match self {
            ParkKind::Failed => "failed",
            ParkKind::Follower => "follower",
        }
    }
}

/// The retry headers of a message read from the retry topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parked {
    /// Not to be handled before this (ms since the epoch).
    pub not_before_ms: i64,
    /// Times parked for failing so far.
    pub round: u32,
    /// Handling attempts made so far.
    pub attempts: u32,
    /// Parking sequence number.
    pub seq: u64,
}

impl Parked {
    /// Reads the headers; missing or garbled ones read as "due now, round 0".
    pub fn of(message: &OwnedMessage) -> Self {
        let header = |name: &str| header_str(message, name);
        Parked {
            not_before_ms: header(headers::NOT_BEFORE)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            round: header(headers::RETRY_ROUND)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            attempts: header(headers::ATTEMPTS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            seq: header(headers::RETRY_SEQ)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros()
            / 1000,
    )
    .unwrap_or(i64::MAX)
}

/// A parking sequence number: microseconds since the epoch, strictly increasing within the
/// process, so numbers given after a restart are above those given before it.
pub fn next_seq() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(now_ms()).unwrap_or(0) * 1000;
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => prev = seen,
        }
    }
}

/// Headers of a copy parked on the retry topic.
pub(crate) struct ParkHeaders {
    values: [String; 4],
    kind: ParkKind,
    error: String,
}

impl ParkHeaders {
    pub(crate) fn new(
        not_before_ms: i64,
        round: u32,
        attempts: u32,
        seq: u64,
        kind: ParkKind,
        error: String,
    ) -> Self {
        Self {
            values: [
                not_before_ms.to_string(),
                round.to_string(),
                attempts.to_string(),
                seq.to_string(),
            ],
            kind,
            error,
        }
    }

    /// The names a parked copy sets (so older values are replaced).
    pub(crate) const NAMES: [&'static str; 6] = [
        headers::NOT_BEFORE,
        headers::RETRY_ROUND,
        headers::ATTEMPTS,
        headers::RETRY_SEQ,
        headers::RETRY_KIND,
        headers::RETRY_ERROR,
    ];

    pub(crate) fn pairs(&self) -> [(&str, &[u8]); 6] {
        [
            (headers::NOT_BEFORE, self.values[0].as_bytes()),
            (headers::RETRY_ROUND, self.values[1].as_bytes()),
            (headers::ATTEMPTS, self.values[2].as_bytes()),
            (headers::RETRY_SEQ, self.values[3].as_bytes()),
            (headers::RETRY_KIND, self.kind.as_str().as_bytes()),
            (headers::RETRY_ERROR, self.error.as_bytes()),
        ]
    }
}

#[derive(Debug, Default)]
struct KeyState {
    /// This key's events on the retry topic not yet taken back.
    parked: u32,
    /// Sequence number of the key's latest parking for failure.
    last_failed_seq: u64,
    /// When the key's latest failed event is due; followers are due with it.
    blocked_until_ms: i64,
    /// Partition the key lives on, to forget it when that partition is revoked.
    partition: i32,
}

/// Which keys have events on the retry topic. Counted when this process parks an event and
/// when it reads a parked event it did not park itself (parked before a restart or by
/// another member), uncounted when a parked event is taken back for handling.
#[derive(Debug, Default)]
pub struct Parking {
    inner: Mutex<ParkingInner>,
}

#[derive(Debug, Default)]
struct ParkingInner {
    keys: HashMap<String, KeyState>,
    /// Parked by this process and not read back yet, so the read does not count them twice.
    unread: HashSet<u64>,
}

impl Parking {
    fn with<R>(&self, f: impl FnOnce(&mut ParkingInner) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// This process parked an event of `key` with sequence `seq`, due at `due_ms`.
    pub fn parked(&self, key: &str, partition: i32, seq: u64, due_ms: i64, kind: ParkKind) {
        self.with(|p| {
            p.unread.insert(seq);
            let k = p.keys.entry(key.to_owned()).or_default();
            k.parked += 1;
            k.partition = partition;
            if kind == ParkKind::Failed {
                k.last_failed_seq = k.last_failed_seq.max(seq);
                k.blocked_until_ms = due_ms;
            }
        });
    }

    /// Parking `seq` failed (shutdown came first): undo [`Parking::parked`].
    pub fn unpark(&self, key: &str, seq: u64) {
        let counted = self.with(|p| p.unread.remove(&seq));
        if counted {
            self.taken(key);
        }
    }

    /// A parked event of `key` was read from the retry topic (it now waits in memory).
    pub fn read(&self, key: &str, partition: i32, parked: &Parked) {
        self.with(|p| {
            if p.unread.remove(&parked.seq) {
                return;
            }
            let k = p.keys.entry(key.to_owned()).or_default();
            k.parked += 1;
            k.partition = partition;
            k.blocked_until_ms = k.blocked_until_ms.max(parked.not_before_ms);
        });
    }

    /// A parked event of `key` is taken back for handling (or dropped as revoked).
    pub fn taken(&self, key: &str) {
        self.with(|p| {
            if let Some(k) = p.keys.get_mut(key) {
                k.parked = k.parked.saturating_sub(1);
                if k.parked == 0 {
                    p.keys.remove(key);
                }
            }
        });
    }

    /// Under `block-key`: whether an event of `key` must be parked behind an earlier one, and
    /// until when. `seq` is the event's parking number when it comes from the retry topic
    /// (then it waits only if an earlier event was re-parked after it), `None` when fresh
    /// (then it waits while anything of its key is parked).
    pub fn must_follow(&self, key: &str, seq: Option<u64>) -> Option<i64> {
        self.with(|p| {
            let k = p.keys.get(key)?;
            let blocked = match seq {
                None => k.parked > 0,
                Some(s) => k.last_failed_seq > s,
            };
            blocked.then_some(k.blocked_until_ms)
        })
    }

    /// Forgets keys of partitions this process no longer owns; their new owner rebuilds
    /// the state as it reads the retry topic.
    pub fn revoke(&self, partitions: &[i32]) {
        self.with(|p| p.keys.retain(|_, k| !partitions.contains(&k.partition)));
    }

    /// Keys with events parked.
    pub fn blocked_keys(&self) -> usize {
        self.with(|p| p.keys.len())
    }
}

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

    #[test]
    fn sequence_numbers_only_grow() {
        let a = next_seq();
        let b = next_seq();
        assert!(b > a);
    }

    #[test]
    fn a_fresh_event_follows_while_its_key_is_parked() {
        let p = Parking::default();
        assert_eq!(p.must_follow("k", None), None);
        p.parked("k", 0, 10, 5_000, ParkKind::Failed);
        assert_eq!(p.must_follow("k", None), Some(5_000));
        assert_eq!(p.must_follow("other", None), None);
        // The parked event comes back: reading it does not count it twice.
        p.read(
            "k",
            0,
            &Parked {
                not_before_ms: 5_000,
                round: 1,
                attempts: 3,
                seq: 10,
            },
        );
        p.taken("k");
        assert_eq!(p.must_follow("k", None), None);
        assert_eq!(p.blocked_keys(), 0);
    }

    #[test]
    fn a_parked_follower_waits_again_when_the_event_ahead_is_reparked() {
        let p = Parking::default();
        p.parked("k", 0, 1, 1_000, ParkKind::Failed);
        p.parked("k", 0, 2, 1_000, ParkKind::Follower);
        // The failed one comes back, fails again and is parked anew with seq 3.
        p.taken("k");
        p.parked("k", 0, 3, 9_000, ParkKind::Failed);
        // The follower (seq 2) must go behind it again, until its new due time.
        p.taken("k");
        assert_eq!(p.must_follow("k", Some(2)), Some(9_000));
        p.parked("k", 0, 4, 9_000, ParkKind::Follower);
        // The re-parked one succeeds; the follower (seq 4) now runs.
        p.taken("k");
        assert_eq!(p.must_follow("k", Some(4)), None);
    }

    #[test]
    fn events_parked_by_another_life_block_their_key_once_read() {
        let p = Parking::default();
        p.read(
            "k",
            3,
            &Parked {
                not_before_ms: 7_000,
                round: 1,
                attempts: 3,
                seq: 99,
            },
        );
        assert_eq!(p.must_follow("k", None), Some(7_000));
        p.revoke(&[3]);
        assert_eq!(p.must_follow("k", None), None);
    }

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
