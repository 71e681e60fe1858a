//! What the consumer-group tests share: a handler that records what it saw and decides per
//! event, the group settings they run with, and the per-order order they must see.
// Each test file compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consumers::runtime::{Context, GroupConfig, Handler, HandlerError};
use events::Envelope;
use testkit::ordering::per_key;
use tokio::sync::watch;

pub type Seen = Arc<Mutex<HashMap<(String, String), Vec<uuid::Uuid>>>>;
pub type Decide = dyn Fn(&Envelope, &Context) -> Result<(), HandlerError> + Send + Sync;

/// Records what it handled, per (topic, order), and counts finished events. Clones share
/// their records, so several group members can report into one.
#[derive(Clone)]
pub struct Recorder {
    pub seen: Seen,
    /// Highest handled offset per (topic, partition).
    pub offsets: Arc<Mutex<HashMap<(String, i32), i64>>>,
    pub attempts: Arc<Mutex<HashMap<uuid::Uuid, u32>>>,
    /// Distinct events finished (handled, or failed for good): duplicates do not count.
    pub finished: Arc<watch::Sender<usize>>,
    pub finished_ids: Arc<Mutex<std::collections::HashSet<uuid::Uuid>>>,
    pub running: Arc<AtomicUsize>,
    pub peak: Arc<AtomicUsize>,
    pub max_delay_us: u64,
    pub decide: Arc<Decide>,
}

impl Recorder {
    pub fn new(max_delay_us: u64, decide: Box<Decide>) -> (Self, watch::Receiver<usize>) {
        let (finished, rx) = watch::channel(0);
        let r = Recorder {
            seen: Arc::default(),
            offsets: Arc::default(),
            attempts: Arc::default(),
            finished: Arc::new(finished),
            finished_ids: Arc::default(),
            running: Arc::default(),
            peak: Arc::default(),
            max_delay_us,
            decide: Arc::from(decide),
        };
        (r, rx)
    }
}

impl Handler for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if self.max_delay_us > 0 {
            let d = rand::random_range(0..self.max_delay_us);
            tokio::time::sleep(Duration::from_micros(d)).await;
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        *self
            .attempts
            .lock()
            .expect("lock")
            .entry(event.event_id)
            .or_default() = ctx.attempt;
        let decision = (self.decide)(event, ctx);
        if decision.is_ok() {
            let mut offsets = self.offsets.lock().expect("lock");
            let top = offsets
                .entry((ctx.topic.clone(), ctx.partition))
                .or_insert(ctx.offset);
            *top = (*top).max(ctx.offset);
            drop(offsets);
            self.seen
                .lock()
                .expect("lock")
                .entry((ctx.topic.clone(), event.order_id.clone()))
                .or_default()
                .push(event.event_id);
        }
        if (!matches!(decision, Err(HandlerError::Retryable(_))) || ctx.attempt >= 3)
            && self
                .finished_ids
                .lock()
                .expect("lock")
                .insert(event.event_id)
        {
            self.finished.send_modify(|n| *n += 1);
        }
        decision
    }
}

pub fn group_config() -> GroupConfig {
    GroupConfig {
        consumers: 2,
        processors: 16,
        // Low enough that the clients wait at the in-flight limit many times during a test.
        max_in_flight: 64,
        session_timeout_ms: 6_000,
        commit_interval_ms: 200,
        max_attempts: 3,
        retry_initial_ms: 10,
        retry_max_ms: 50,
        // These tests cover in-process retries and dead letters; tests/retry_topic.rs covers
        // the retry topic.
        retry_delays_ms: Vec::new(),
        ..GroupConfig::default()
    }
}

/// Each (topic, order)'s event IDs in publish order: what a consumer must see per partition.
pub fn per_order<'a>(
    topics: &producers::TopicsConfig,
    events: impl IntoIterator<Item = &'a Envelope>,
) -> HashMap<(String, String), Vec<uuid::Uuid>> {
    per_key(events, |e| {
        (
            topics.topic_for(e.event_type()).to_owned(),
            e.order_id.clone(),
        )
    })
}
