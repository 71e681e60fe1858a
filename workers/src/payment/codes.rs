//! Every reason code the payment worker gives, in one list: what `orderbus dlq list` counts and
//! `orderbus dlq redrive --reason` picks.
//!
//! A refusal that is the business saying no (a declined card, `insufficient_funds`, an invalid
//! request) is not a failure of the worker: it publishes `payment.failed` with the gateway's
//! decline code as `failure_code` (so the customer is told), the event succeeds, and nothing is
//! dead-lettered. The codes here are for the events that could not be settled.
//!
//! Permanent (the event is dead-lettered with the code as `orderbus.dlq.reason`):
//! - [`PROVIDER_AUTH`]: the gateway refused our credentials; fix the key, then redrive (the
//!   charge's idempotency key makes a redrive safe);
//! - [`PROVIDER_REJECTED`]: the gateway refused the call for a lasting reason that is not a
//!   business answer (e.g. a request it could not even read);
//! - [`PUBLISH_REFUSED`]: the broker refused the outcome event for good.
//!
//! Retryable (retried, then parked; after the last round dead-lettered as `retries_exhausted`
//! with the code in its error):
//! - [`BREAKER_OPEN`]: the gateway's breaker sheds calls;
//! - [`PROVIDER_UNAVAILABLE`]: 5xx, 429, refused connection, retry budget spent;
//! - [`OUTCOME_UNKNOWN`]: no answer in time: the gateway may have charged; the retry carries the
//!   same idempotency key, so it gets the first answer back instead of charging again (within
//!   Stripe's 24 h);
//! - [`PUBLISH_FAILED`]: publishing the outcome event failed for now.

pub use crate::support::reasons::{
    BREAKER_OPEN, OUTCOME_UNKNOWN, PROVIDER_AUTH, PROVIDER_REJECTED, PROVIDER_UNAVAILABLE, of,
};

/// The outcome event could not be published yet (retryable).
pub const PUBLISH_FAILED: &str = "publish_failed";
/// The broker refused the outcome event for good.
pub const PUBLISH_REFUSED: &str = "publish_refused";
