//! The consumer-group runtime at its in-flight limit, against Apache Kafka: it stops taking
//! messages instead of buffering them (without pausing, which would drop librdkafka's prefetch),
//! a shutdown while every handler is stuck still ends cleanly after the drain deadline and
//! commits nothing, and the next member handles every event.

use testkit::group::{Counted, spawn_group};
use testkit::{wait_for, wait_until};

use std::sync::Arc;
use std::sync::atomic::Ordering;

use consumers::runtime::{Context, GroupConfig, Handler, HandlerError};
use events::{Envelope, samples::Generator};
use producers::EventProducer;
use tokio::sync::watch;

/// Never finishes an event on its own: it holds it until the runtime cancels it at shutdown.
struct Stuck {
    started: watch::Sender<usize>,
}

impl Handler for Stuck {
    fn name(&self) -> &str {
        "stuck"
    }

    async fn handle(&self, _: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        self.started.send_modify(|n| *n += 1);
        ctx.cancel.cancelled().await;
        Err(HandlerError::retryable("shutting down"))
    }
}

struct Done;

impl Handler for Done {
    fn name(&self) -> &str {
        "done"
    }

    async fn handle(&self, _: &Envelope, _: &Context) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_the_limit_the_group_takes_no_more_and_a_stuck_shutdown_commits_nothing() {
    let topics = testkit::topics::fresh_topics(1).await;
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    let events: Vec<Envelope> = (0..12)
        .flat_map(|n| Generator::new(21, "it").order_flow(n))
        .collect();
    for e in &events {
        producer.publish(e).await.expect("published");
    }
    let group = testkit::unique("it-group-limit");
    let config = GroupConfig {
        processors: 2,
        max_in_flight: 4,
        session_timeout_ms: 6_000,
        drain_timeout_ms: 300,
        commit_interval_ms: 100,
        max_attempts: 1,
        retry_delays_ms: Vec::new(),
        ..GroupConfig::default()
    };
    let (started, mut started_rx) = watch::channel(0);
    let stuck = spawn_group(
        &group,
        config.clone(),
        testkit::kafka(),
        &topics,
        Stuck { started },
        &producer,
    );
    wait_for(&mut started_rx, 2).await;
    let stats = Arc::clone(&stuck.stats);
    // The limit's worth of events held, plus the one the client waits to hand over.
    let limit = (config.max_in_flight + 1) as u64;
    wait_until("the group filled its in-flight limit", || {
        stats.received.load(Ordering::SeqCst) >= limit
    })
    .await;
    // A client waiting for room must still hear the stop (the bound turns a hang into a
    // failure; nothing is timed).
    tokio::time::timeout(std::time::Duration::from_secs(120), stuck.stop())
        .await
        .expect("the group stopped while its client waited at the limit");
    // No handler ever finished, so no room ever opened: whatever arrived later stayed with
    // librdkafka (and the broker), not in the runtime.
    assert_eq!(stats.received.load(Ordering::SeqCst), limit);
    assert_eq!(stats.handled.load(Ordering::SeqCst), 0);
    assert_eq!(
        stats.dead_lettered.load(Ordering::SeqCst),
        0,
        "cancelled at shutdown is not a failure"
    );

    // Nothing was committed, so the next member starts at the beginning and sees everything.
    let (done, mut done_rx) = Counted::new(Arc::new(Done));
    let next = spawn_group(&group, config, testkit::kafka(), &topics, done, &producer);
    wait_for(&mut done_rx, events.len()).await;
    next.stop().await;
}
