//! The contract workers implement: take one decoded event with its context, return Ok, a
//! retryable error (try again later) or a permanent one (dead-letter it now). The split is made
//! by the handler, which knows whether a failure can heal, before any retry happens.

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

/// Why a handler failed.
#[derive(Debug)]
pub enum HandlerError {
    /// May succeed later (timeout, provider 5xx, rate limit): retried with backoff.
    Retryable(String),
    /// Will never succeed (bad data, business rule): dead-lettered at once.
    Permanent(String),
}

impl HandlerError {
    /// A retryable failure.
    pub fn retryable(reason: impl fmt::Display) -> Self {
        HandlerError::Retryable(reason.to_string())
    }

    /// A permanent failure.
    pub fn permanent(reason: impl fmt::Display) -> Self {
        HandlerError::Permanent(reason.to_string())
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
