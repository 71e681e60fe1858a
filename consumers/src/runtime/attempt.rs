//! One attempt of a handler at an event: the context it sees, the panic caught (it fails that
//! event only), the time it took and the event's age recorded.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use events::Envelope;
use futures::FutureExt;
use rdkafka::message::{Message, OwnedMessage};

use crate::runtime::deps::Deps;
use crate::runtime::handler::{Context, Handler};
use crate::runtime::next_step::Outcome;

/// Runs `deps.handler` once on `event` as attempt `attempt` (from 1, counted over the event's
/// whole life, retry-topic rounds included).
pub(crate) async fn attempt<H: Handler>(
    deps: &Deps<H>,
    event: &Envelope,
    message: &OwnedMessage,
    attempt: u32,
) -> Outcome {
    let ctx = Context {
        group: deps.group.clone(),
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
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
    let outcome = AssertUnwindSafe(deps.handler.handle(event, &ctx))
        .catch_unwind()
        .await;
    deps.stats.observe_handler(started.elapsed());
    match outcome {
        Ok(Ok(())) => Outcome::Handled,
        Ok(Err(e)) => Outcome::Failed(e),
        Err(panic) => Outcome::Panicked(
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "handler panicked".to_owned()),
        ),
    }
}
