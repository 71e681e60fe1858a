//! Running a consumer group member inside a test: start it with any handler, stop it cleanly,
//! wait until it has partitions, and count what its handler did.

use std::sync::Arc;

use consumers::runtime::{ConsumerGroup, GroupConfig, Handler};
use producers::EventProducer;
use tokio::sync::watch;

use crate::wait::wait_until;

/// A running group member: stop it with `stop`, then await `run` for its result.
#[derive(Debug)]
pub struct Member {
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub run: tokio::task::JoinHandle<consumers::Result<()>>,
    pub stats: Arc<consumers::runtime::GroupStats>,
}

impl Member {
    /// Stops the member and expects a clean shutdown.
    pub async fn stop(self) {
        self.stop.send(()).expect("running");
        self.run.await.expect("task").expect("clean shutdown");
    }
}

pub fn spawn_group(
    group: &str,
    config: GroupConfig,
    kafka: producers::KafkaConfig,
    topics: &producers::TopicsConfig,
    handler: impl Handler,
    producer: &EventProducer,
) -> Member {
    let runtime =
        ConsumerGroup::new(group, config, kafka, topics, handler, producer.clone()).expect("group");
    let stats = runtime.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runtime.run(async move {
        let _ = stopped.await;
    }));
    Member { stop, run, stats }
}

/// Waits until a member has partitions assigned.
pub async fn wait_assigned(member: &Member) {
    wait_until("the member was given partitions", || {
        member
            .stats
            .assigned
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    })
    .await;
}

/// A handler around another that counts its successful handlings (every one, repeats
/// included), so a test can await a number of them.
#[derive(Debug)]
pub struct Counted<H> {
    pub inner: Arc<H>,
    pub ok: Arc<watch::Sender<usize>>,
}

impl<H> Counted<H> {
    pub fn new(inner: Arc<H>) -> (Self, watch::Receiver<usize>) {
        let (tx, rx) = watch::channel(0);
        (
            Counted {
                inner,
                ok: Arc::new(tx),
            },
            rx,
        )
    }
}

impl<H: Handler> Handler for Counted<H> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn handle(
        &self,
        event: &events::Envelope,
        ctx: &consumers::runtime::Context,
    ) -> Result<(), consumers::runtime::HandlerError> {
        let outcome = self.inner.handle(event, ctx).await;
        if outcome.is_ok() {
            self.ok.send_modify(|n| *n += 1);
        }
        outcome
    }
}

/// Handlings per (topic, order id), in the order they happened.
pub type Handlings = std::collections::HashMap<(String, String), Vec<uuid::Uuid>>;

/// A handler that records every handling per (topic, order id) and counts distinct events, so
/// a test can await "every event handled at least once" and then check per-order ordering.
/// Clones share their records, so several members can report into one.
#[derive(Debug, Clone)]
pub struct OrderLog {
    handled: Arc<std::sync::Mutex<Handlings>>,
    distinct: Arc<std::sync::Mutex<std::collections::HashSet<uuid::Uuid>>>,
    count: Arc<watch::Sender<usize>>,
}

impl OrderLog {
    /// An empty log and a receiver of its distinct count.
    pub fn new() -> (Self, watch::Receiver<usize>) {
        let (tx, rx) = watch::channel(0);
        (
            OrderLog {
                handled: Arc::default(),
                distinct: Arc::default(),
                count: Arc::new(tx),
            },
            rx,
        )
    }

    /// Every handling so far.
    pub fn handled(&self) -> Handlings {
        self.handled.lock().expect("lock").clone()
    }

    /// Handlings in all, repeats included.
    pub fn handlings(&self) -> usize {
        self.handled
            .lock()
            .expect("lock")
            .values()
            .map(Vec::len)
            .sum()
    }
}

impl Handler for OrderLog {
    fn name(&self) -> &str {
        "order-log"
    }

    async fn handle(
        &self,
        event: &events::Envelope,
        ctx: &consumers::runtime::Context,
    ) -> Result<(), consumers::runtime::HandlerError> {
        self.handled
            .lock()
            .expect("lock")
            .entry((ctx.topic.clone(), event.order_id.clone()))
            .or_default()
            .push(event.event_id);
        if self.distinct.lock().expect("lock").insert(event.event_id) {
            self.count.send_modify(|n| *n += 1);
        }
        Ok(())
    }
}
