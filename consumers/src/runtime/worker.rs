//! What a processor does with one event: skip it if its partition was revoked meanwhile, run
//! the handler (catching panics) with in-process retries, exponential backoff with jitter, dead-letter
//! it when it will never succeed, record metrics, and mark its offset done.

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

use crate::runtime::config::GroupConfig;
use crate::runtime::dlq::{Reason, dead_letter};
use crate::runtime::group::ClientState;
use crate::runtime::handler::{Context, Handler, HandlerError};
use crate::runtime::metrics::GroupStats;

/// One event on its way through the scheduler.
pub(crate) struct Work {
    pub(crate) event: Envelope,
    pub(crate) message: OwnedMessage,
    pub(crate) client: Arc<ClientState>,
    pub(crate) generation: u64,
}

/// Everything a worker needs, shared.
pub(crate) struct Deps<H> {
    pub(crate) group: String,
    pub(crate) handler: Arc<H>,
    pub(crate) producer: EventProducer,
    pub(crate) dlq_topic: String,
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

pub(crate) async fn process<H: Handler>(work: Work, deps: &Deps<H>) {
    let Work {
        event,
        message,
        client,
        generation,
    } = work;
    let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
    if !client.with(|t| t.is_current(topic, partition, generation)) {
        // Revoked while it waited: its new owner reads it again from the last commit.
        deps.stats.skipped_revoked.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(deps.config.retry_initial_ms))
        .with_max_delay(Duration::from_millis(deps.config.retry_max_ms))
        .with_max_times(deps.config.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
        .build();
    let mut attempt = 1;
    let failure = loop {
        let ctx = Context {
            group: deps.group.clone(),
            topic: topic.to_owned(),
            partition,
            offset,
            attempt,
            replay: false,
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
                None => break Some(("retries_exhausted", r)),
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
