//! What a processor does with one event: skip it if its partition was revoked meanwhile, park it
//! behind an earlier parked event of its key (`block-key`), run the handler (catching panics)
//! with in-process retries (exponential backoff with jitter), park it on the retry topic when
//! those are spent, dead-letter it when it will never succeed, record metrics, and mark its
//! offset done.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use events::Envelope;
use futures::FutureExt;
use producers::EventProducer;
use rdkafka::message::{Message, OwnedMessage};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::runtime::config::GroupConfig;
use crate::runtime::dlq::{Reason, dead_letter, forward};
use crate::runtime::group::ClientState;
use crate::runtime::handler::{Context, Handler, HandlerError};
use crate::runtime::metrics::GroupStats;
use crate::runtime::retry::{ParkHeaders, ParkKind, Parked, Parking, RetryMode, next_seq, now_ms};
use crate::runtime::trace::event_span;

/// One event on its way through the scheduler.
pub(crate) struct Work {
    pub(crate) event: Envelope,
    pub(crate) message: OwnedMessage,
    pub(crate) client: Arc<ClientState>,
    pub(crate) generation: u64,
    /// Its retry headers when it came from the retry topic.
    pub(crate) parked: Option<Parked>,
}

/// Everything a worker needs, shared.
pub(crate) struct Deps<H> {
    pub(crate) group: String,
    pub(crate) handler: Arc<H>,
    pub(crate) producer: EventProducer,
    pub(crate) dlq_topic: String,
    pub(crate) retry_topic: String,
    pub(crate) parking: Arc<Parking>,
    /// Events are replayed for backfill, not consumed live (the handler sees the flag).
    pub(crate) replay: bool,
    pub(crate) config: GroupConfig,
    pub(crate) cancel: CancellationToken,
    pub(crate) stats: Arc<GroupStats>,
}

/// Dead-letters through the group's producer and counts it; false when shutdown came first.
pub(crate) async fn dead_letter_counted<H>(
    deps: &Deps<H>,
    message: &OwnedMessage,
    reason: &Reason,
    event_type: Option<events::EventType>,
) -> bool {
    let stored = dead_letter(
        &deps.producer,
        &deps.dlq_topic,
        message,
        reason,
        &deps.cancel,
    )
    .await;
    if stored {
        deps.stats.record_dead_lettered(event_type);
    }
    stored
}

/// Parks `message` on the retry topic until `due_ms`; false when shutdown came first.
#[allow(clippy::too_many_arguments)]
async fn park<H>(
    deps: &Deps<H>,
    message: &OwnedMessage,
    event: &Envelope,
    due_ms: i64,
    round: u32,
    attempts: u32,
    kind: ParkKind,
    error: String,
) -> bool {
    let seq = next_seq();
    let key = event.order_id.as_str();
    // Counted before sending: the copy may be read back before the acknowledgement arrives.
    deps.parking
        .parked(key, message.partition(), seq, due_ms, kind);
    let hdrs = ParkHeaders::new(due_ms, round, attempts, seq, kind, error);
    let stored = forward(
        &deps.producer,
        &deps.retry_topic,
        message,
        &ParkHeaders::NAMES,
        &hdrs.pairs(),
        &deps.cancel,
    )
    .await;
    if stored {
        deps.stats.record_parked(event.event_type());
    } else {
        deps.parking.unpark(key, seq);
    }
    stored
}

/// Handles one event inside its tracing span (see `trace`).
pub(crate) async fn process<H: Handler>(work: Work, deps: &Deps<H>) {
    let span = event_span(&deps.group, &work.message, &work.event);
    handle_one(work, deps).instrument(span).await;
}

async fn handle_one<H: Handler>(work: Work, deps: &Deps<H>) {
    let Work {
        event,
        message,
        client,
        generation,
        parked,
    } = work;
    let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
    if parked.is_some() {
        deps.parking.taken(&event.order_id);
    }
    if !client.with(|t| t.is_current(topic, partition, generation)) {
        // Revoked while it waited: its new owner reads it again from the last commit.
        deps.stats.skipped_revoked.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let (round, attempts_before) = parked.map_or((0, 0), |p| (p.round, p.attempts));
    let retry_topic_on = !deps.config.retry_delays_ms.is_empty();
    if retry_topic_on
        && deps.config.retry_mode == RetryMode::BlockKey
        && let Some(until) = deps
            .parking
            .must_follow(&event.order_id, parked.map(|p| p.seq))
    {
        let why = "waits behind an earlier event of its key on the retry topic".to_owned();
        let (r, a) = (round, attempts_before);
        if park(deps, &message, &event, until, r, a, ParkKind::Follower, why).await {
            client.with(|t| t.done(topic, partition, offset, generation));
        }
        return;
    }
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(deps.config.retry_initial_ms))
        .with_max_delay(Duration::from_millis(deps.config.retry_max_ms))
        .with_max_times(deps.config.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
        .build();
    let mut attempt = attempts_before + 1;
    let failure = loop {
        let ctx = Context {
            group: deps.group.clone(),
            topic: topic.to_owned(),
            partition,
            offset,
            attempt,
            replay: deps.replay,
            cancel: deps.cancel.clone(),
        };
        if attempt == 1 {
            let age = events::now_micros() - event.occurred_at;
            deps.stats
                .observe_event_age(age.try_into().unwrap_or_default());
        }
        let started = Instant::now();
        let outcome = AssertUnwindSafe(deps.handler.handle(&event, &ctx))
            .catch_unwind()
            .await;
        deps.stats.observe_handler(started.elapsed());
        match outcome {
            Ok(Ok(())) => break None,
            Ok(Err(HandlerError::Permanent(r))) => break Some(("handler_permanent", r)),
            Ok(Err(HandlerError::Retryable(r))) => match delays.next() {
                Some(delay) => {
                    tracing::debug!(group = %deps.group, event_id = %event.event_id, attempt, ?delay, reason = %r, "retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        // Shutting down mid-retry: leave it uncommitted for the next run.
                        () = deps.cancel.cancelled() => return,
                    }
                    deps.stats.record_retried(event.event_type());
                    attempt += 1;
                }
                None => {
                    if let Some(delay) = deps.config.retry_delays_ms.get(round as usize) {
                        let due =
                            now_ms().saturating_add(i64::try_from(*delay).unwrap_or(i64::MAX));
                        tracing::info!(group = %deps.group, event_id = %event.event_id, round = round + 1, due_ms = due, reason = %r, "parking on the retry topic");
                        if park(
                            deps,
                            &message,
                            &event,
                            due,
                            round + 1,
                            attempt,
                            ParkKind::Failed,
                            r,
                        )
                        .await
                        {
                            client.with(|t| t.done(topic, partition, offset, generation));
                        }
                        return;
                    }
                    break Some(("retries_exhausted", r));
                }
            },
            Err(panic) => {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "handler panicked".to_owned());
                break Some(("handler_panic", text));
            }
        }
    };
    match failure {
        None => deps.stats.record_handled(event.event_type()),
        Some((code, error)) => {
            tracing::warn!(group = %deps.group, event_id = %event.event_id, code, %error, "dead-lettering");
            let reason = Reason {
                code: code.to_owned(),
                error,
                attempts: attempt,
            };
            if !dead_letter_counted(deps, &message, &reason, Some(event.event_type())).await {
                return;
            }
        }
    }
    client.with(|t| t.done(topic, partition, offset, generation));
}
