//! Running a consumer group inside a test: start a member with any handler, stop it cleanly,
//! and wait for a counter to reach a number without timing anything.

use std::sync::Arc;
use std::time::Duration;

use consumers::runtime::{ConsumerGroup, GroupConfig, Handler};
use producers::EventProducer;
use tokio::sync::watch;

/// A running group member: stop it with `stop`, then await `run` for its result.
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

/// Waits until the watched count reaches `n`; the bound only turns a stall into a failure with
/// a message, nothing is timed.
pub async fn wait_for(rx: &mut watch::Receiver<usize>, n: usize) {
    let reached = tokio::time::timeout(Duration::from_secs(180), rx.wait_for(|c| *c >= n))
        .await
        .is_ok();
    assert!(reached, "stalled at {} of {n}", *rx.borrow());
}

/// Waits until `holds` is true, for state the runtime offers no notification of (its gauges
/// and counters): checked every few milliseconds; the bound only turns a stall into a failure.
pub async fn wait_until(what: &str, mut holds: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while !holds() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
