//! What a processor does with one event: skip it if its partition was revoked meanwhile, park
//! it behind an earlier parked event of its key (`block-key`), run handler attempts and do what
//! [`next_step`] decides after each (retry in-process with backoff, park on the retry topic,
//! dead-letter), record metrics, and settle its offset. An event that could not be decoded goes
//! straight to the dead-letter topic through the same path.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use events::Envelope;
use rdkafka::message::{Message, OwnedMessage};
use tracing::Instrument;

use crate::runtime::attempt::attempt;
use crate::runtime::deps::Deps;
use crate::runtime::dlq::{Copy, Forwarded, Reason, dead_letter, forward};
use crate::runtime::handler::Handler;
use crate::runtime::next_step::{Step, next_step};
use crate::runtime::partition_state::Ticket;
use crate::runtime::retry::{ParkHeaders, ParkKind, Parked, RetryMode, next_seq, now_ms};
use crate::runtime::trace::event_span;

/// What came in: a decoded event, or one that did not decode and why.
#[derive(Debug)]
pub(crate) enum Item {
    /// Decoded and valid.
    Event(Box<Envelope>),
    /// Not an event (not JSON, missing field, unknown type, ...).
    Undecodable(Reason),
}

/// One message on its way through the scheduler.
#[derive(Debug)]
pub(crate) struct Work {
    pub(crate) item: Item,
    pub(crate) message: OwnedMessage,
    pub(crate) ticket: Ticket,
    /// Its retry headers when it came from the retry topic.
    pub(crate) parked: Option<Parked>,
}

impl Work {
    /// The key it is ordered by: the order id, or for an undecodable message its raw key.
    pub(crate) fn key(&self) -> String {
        match &self.item {
            Item::Event(e) => e.order_id.clone(),
            Item::Undecodable(_) => {
                String::from_utf8_lossy(self.message.key().unwrap_or_default()).into_owned()
            }
        }
    }
}

/// Handles one message and settles its offset.
pub(crate) async fn process<H: Handler>(work: Work, deps: &Deps<H>) {
    let Work {
        item,
        message,
        ticket,
        parked,
    } = work;
    let finished = match item {
        Item::Undecodable(reason) => dead_letter_counted(deps, &message, &reason, None).await,
        Item::Event(event) => {
            let span = event_span(&deps.group, &message, &event);
            handle_event(&event, &message, &ticket, parked, deps)
                .instrument(span)
                .await
        }
    };
    settle(ticket, &message, finished);
}

/// The one place an offset is marked finished: only when the event was handled, parked or
/// dead-lettered. Otherwise (shutdown first, partition revoked) the ticket is dropped and the
/// offset stays uncommitted, so the event is read again.
fn settle(ticket: Ticket, message: &OwnedMessage, finished: bool) {
    if finished {
        ticket.done(message.topic());
    }
}

/// Runs the event to its end; true when its offset may be committed.
async fn handle_event<H: Handler>(
    event: &Envelope,
    message: &OwnedMessage,
    ticket: &Ticket,
    parked: Option<Parked>,
    deps: &Deps<H>,
) -> bool {
    if parked.is_some() {
        deps.parking.taken(&event.order_id);
    }
    if !ticket.is_current(message.topic()) {
        // Revoked while it waited: its new owner reads it again from the last commit.
        deps.stats.record_skipped_revoked();
        return false;
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
        let park_as = ParkAs::new(until, round, attempts_before, ParkKind::Follower, why);
        return park(deps, message, event, &park_as).await;
    }
    run_attempts(event, message, round, attempts_before, deps).await
}

/// Attempts until [`next_step`] says anything but retry, then does it.
async fn run_attempts<H: Handler>(
    event: &Envelope,
    message: &OwnedMessage,
    round: u32,
    attempts_before: u32,
    deps: &Deps<H>,
) -> bool {
    let config = &deps.config;
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(config.retry_initial_ms))
        .with_max_delay(Duration::from_millis(config.retry_max_ms))
        .with_max_times(config.max_attempts as usize)
        .with_jitter()
        .build();
    let mut in_round = 0;
    loop {
        in_round += 1;
        let attempt_no = attempts_before + in_round;
        let outcome = attempt(deps, event, message, attempt_no).await;
        match next_step(&outcome, in_round, round, config) {
            Step::Done => {
                deps.stats.record_handled(event.event_type());
                return true;
            }
            Step::Retry => {
                let delay = backoff
                    .next()
                    .unwrap_or(Duration::from_millis(config.retry_max_ms));
                tracing::debug!(group = %deps.group, event_id = %event.event_id, attempt = attempt_no, ?delay, ?outcome, "retrying");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    // Shutting down mid-retry: leave it uncommitted for the next run.
                    () = deps.cancel.cancelled() => return false,
                }
                deps.stats.record_retried(event.event_type());
            }
            Step::Park {
                round,
                delay,
                failure,
            } => {
                let due =
                    now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                tracing::info!(group = %deps.group, event_id = %event.event_id, round, due_ms = due, code = %failure.code, reason = %failure.reason, "parking on the retry topic");
                let park_as = ParkAs::new(due, round, attempt_no, ParkKind::Failed, failure.reason);
                return park(deps, message, event, &park_as).await;
            }
            Step::DeadLetter { code, error } => {
                tracing::warn!(group = %deps.group, event_id = %event.event_id, %code, %error, "dead-lettering");
                let reason = Reason {
                    code,
                    error,
                    attempts: attempt_no,
                };
                return dead_letter_counted(deps, message, &reason, Some(event.event_type())).await;
            }
        }
    }
}

/// How an event is parked.
struct ParkAs {
    due_ms: i64,
    round: u32,
    attempts: u32,
    kind: ParkKind,
    error: String,
}

impl ParkAs {
    fn new(due_ms: i64, round: u32, attempts: u32, kind: ParkKind, error: String) -> Self {
        Self {
            due_ms,
            round,
            attempts,
            kind,
            error,
        }
    }
}

/// Parks `message` on the retry topic; false when shutdown came first.
async fn park<H>(deps: &Deps<H>, message: &OwnedMessage, event: &Envelope, how: &ParkAs) -> bool {
    let seq = next_seq();
    let key = event.order_id.as_str();
    // Counted before sending: the copy may be read back before the acknowledgement arrives.
    deps.parking
        .parked(key, message.partition(), seq, how.due_ms, how.kind);
    let hdrs = ParkHeaders::new(
        how.due_ms,
        how.round,
        how.attempts,
        seq,
        how.kind,
        how.error.clone(),
    );
    let pairs = hdrs.pairs();
    let copy = Copy {
        payload: message.payload().unwrap_or_default(),
        extra: pairs.to_vec(),
    };
    let forwarded = forward(
        &deps.producer,
        &deps.retry_topic,
        message,
        &ParkHeaders::NAMES,
        &copy,
        &deps.cancel,
    )
    .await;
    match forwarded {
        Forwarded::Stored => {
            deps.stats.record_parked(event.event_type());
            true
        }
        Forwarded::Cancelled => {
            deps.parking.unpark(key, seq);
            false
        }
        // The event with the retry headers is over the size limit: it cannot wait on the retry
        // topic, and trying again would block its partition, so it is dead-lettered now.
        Forwarded::TooLarge => {
            deps.parking.unpark(key, seq);
            let reason = Reason {
                code: "too_large_to_park".to_owned(),
                error: format!(
                    "{} (could not be parked: too large with the retry headers)",
                    how.error
                ),
                attempts: how.attempts,
            };
            dead_letter_counted(deps, message, &reason, Some(event.event_type())).await
        }
    }
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
