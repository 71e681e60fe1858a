//! The contract workers implement: take one decoded event with its context, return Ok, a
//! retryable error (try again later) or a permanent one (dead-letter it now). The split is made
//! by the handler, which knows whether a failure can heal, before any retry happens.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use events::Envelope;
use tokio_util::sync::CancellationToken;

/// Where an event came from and how often it has been tried.
#[derive(Debug, Clone)]
pub struct Context {
    /// Consumer group handling it.
    pub group: String,
    /// Topic read from.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// 1 on the first try.
    pub attempt: u32,
    /// True when the event is being replayed for backfill, not consumed live.
    pub replay: bool,
    /// Cancelled when the runtime shuts down past its drain deadline; long handlers should
    /// stop and return a retryable error.
    pub cancel: CancellationToken,
}

/// Why a handler failed, in words for people and as a stable code for machines: the code is
/// what a dead letter's `orderbus.dlq.reason` says (`invalid_phone`, `card_declined`, ...), so a
/// person can list and redrive dead letters by cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Stable, snake_case: `handler_permanent` or `handler_retryable` unless the handler said more.
    pub code: Cow<'static, str>,
    /// Text for people.
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Why a handler failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// May succeed later (timeout, provider 5xx, rate limit): retried with backoff.
    Retryable(Failure),
    /// Will never succeed (bad data, business rule): dead-lettered at once.
    Permanent(Failure),
}

impl HandlerError {
    /// A retryable failure (code `handler_retryable`).
    pub fn retryable(reason: impl fmt::Display) -> Self {
        HandlerError::Retryable(Failure {
            code: Cow::Borrowed("handler_retryable"),
            reason: reason.to_string(),
        })
    }

    /// A permanent failure (code `handler_permanent`).
    pub fn permanent(reason: impl fmt::Display) -> Self {
        HandlerError::Permanent(Failure {
            code: Cow::Borrowed("handler_permanent"),
            reason: reason.to_string(),
        })
    }

    /// The same failure with a more telling code, e.g. `invalid_phone`.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        match &mut self {
            HandlerError::Retryable(f) | HandlerError::Permanent(f) => f.code = code.into(),
        }
        self
    }

    /// What failed and why.
    pub fn failure(&self) -> &Failure {
        match self {
            HandlerError::Retryable(f) | HandlerError::Permanent(f) => f,
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Retryable(r) => write!(f, "retryable: {r}"),
            HandlerError::Permanent(r) => write!(f, "permanent: {r}"),
        }
    }
}

/// A worker: notification, analytics, cache warming, ... Must be idempotent by `event_id`, since
/// delivery is at least once.
pub trait Handler: Send + Sync + 'static {
    /// Short name for logs and metrics.
    fn name(&self) -> &str;

    /// Handles one event.
    fn handle(
        &self,
        event: &Envelope,
        ctx: &Context,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// A shared handler is a handler, so the caller can keep a handle on a worker it gives a group
/// (to read its results afterwards).
impl<H: Handler> Handler for std::sync::Arc<H> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn handle(
        &self,
        event: &Envelope,
        ctx: &Context,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).handle(event, ctx)
    }
}
