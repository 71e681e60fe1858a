//! The way every message takes into the processors, the same for a consumer group and for a
//! replay: decode it (an undecodable one is dead-lettered with its reason, through the same
//! processors), hold a message read back from the retry topic in the delay queue until it is
//! due, and hand everything else to the key-ordered scheduler.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use events::Envelope;
use rdkafka::message::{Message, OwnedMessage};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::runtime::deps::Deps;
use crate::runtime::dlq::Reason;
use crate::runtime::handler::Handler;
use crate::runtime::partition_state::ClientState;
use crate::runtime::process::{Item, Work, process};
use crate::runtime::retry::{DelayQueue, Parked};
use crate::runtime::scheduler::Scheduler;

/// What became of an offered message.
// `Full` carries the message back by value: boxing it would cost an allocation for every
// message while the group sits at its limit, and the value moves out at once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Offer {
    /// On its way (scheduled, or waiting for its due time).
    Taken,
    /// The in-flight limit is reached: wait with [`Pipeline::submit`].
    Full(Work),
    /// The pipeline has shut down.
    Closed,
}

/// The scheduler and delay queue one group (or replay) feeds.
#[derive(Debug)]
pub(crate) struct Pipeline<H> {
    deps: Arc<Deps<H>>,
    scheduler: Arc<Scheduler<String, Work>>,
    delay: Arc<DelayQueue<Work>>,
}

impl<H: Handler> Pipeline<H> {
    /// Starts the processors (and the delay queue, which releases due parked events to them)
    /// on `tasks`; `on_done` runs after each message is processed.
    pub(crate) fn start(
        deps: Arc<Deps<H>>,
        stop: &CancellationToken,
        tasks: &mut JoinSet<()>,
        on_done: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let worker_deps = Arc::clone(&deps);
        let on_done = Arc::new(on_done);
        let scheduler = Arc::new(Scheduler::start(
            deps.config.processors,
            deps.config.max_in_flight,
            move |work: Work| {
                let (deps, on_done) = (Arc::clone(&worker_deps), Arc::clone(&on_done));
                async move {
                    process(work, &deps).await;
                    on_done();
                }
            },
            tasks,
        ));
        let release_to = Arc::clone(&scheduler);
        let delay = Arc::new(DelayQueue::start(
            move |work: Work| {
                let scheduler = Arc::clone(&release_to);
                async move {
                    work.ticket.client().delayed.fetch_sub(1, Ordering::Relaxed);
                    let key = work.key();
                    let _ = scheduler.submit(key, work).await;
                }
            },
            stop.clone(),
            tasks,
        ));
        Self {
            deps,
            scheduler,
            delay,
        }
    }

    /// Parked events read back and not yet due.
    pub(crate) fn delayed(&self) -> usize {
        self.delay.held()
    }

    /// The delay queue, for the gauges.
    pub(crate) fn delay_queue(&self) -> &Arc<DelayQueue<Work>> {
        &self.delay
    }

    /// Takes `message`, received through `client`, without waiting.
    pub(crate) fn offer(&self, message: OwnedMessage, client: &Arc<ClientState>) -> Offer {
        let deps = &self.deps;
        let ticket = client.receive(message.topic(), message.partition(), message.offset());
        let decoded = events::decode(message.payload().unwrap_or_default());
        deps.stats
            .record_received(decoded.as_ref().ok().map(Envelope::event_type));
        let item = match decoded {
            Ok(event) => Item::Event(Box::new(event)),
            Err(e) => Item::Undecodable(Reason {
                code: e.reason_code().to_owned(),
                error: e.to_string(),
                attempts: 0,
            }),
        };
        let from_retry_topic =
            matches!(item, Item::Event(_)) && message.topic() == deps.retry_topic;
        let parked = from_retry_topic.then(|| Parked::of(&message));
        let work = Work {
            item,
            message,
            ticket,
            parked,
        };
        match parked {
            Some(p) => self.hold(work, p),
            None => match self.scheduler.try_submit(work.key(), work) {
                Ok(()) => Offer::Taken,
                Err(work) => Offer::Full(work),
            },
        }
    }

    /// A parked event read back: into the delay queue until it is due.
    fn hold(&self, work: Work, parked: Parked) -> Offer {
        let key = work.key();
        self.deps
            .parking
            .read(&key, work.message.partition(), &parked);
        let client = Arc::clone(work.ticket.client());
        client.delayed.fetch_add(1, Ordering::Relaxed);
        let offset = work.message.offset();
        if self.delay.push(parked.not_before_ms, offset, work) {
            Offer::Taken
        } else {
            client.delayed.fetch_sub(1, Ordering::Relaxed);
            Offer::Closed
        }
    }

    /// Hands `work` to the scheduler, waiting for room; false when it has shut down.
    pub(crate) async fn submit(&self, work: Work) -> bool {
        self.scheduler.submit(work.key(), work).await.is_ok()
    }

    /// Takes `message`, waiting for room at the in-flight limit; false when shut down.
    pub(crate) async fn take(&self, message: OwnedMessage, client: &Arc<ClientState>) -> bool {
        match self.offer(message, client) {
            Offer::Taken => true,
            Offer::Full(work) => self.submit(work).await,
            Offer::Closed => false,
        }
    }
}
