//! The crate's one error type, split the way the consumer runtime routes failures: a
//! [`Error::Retryable`] failure goes back to the retry path, a [`Error::Permanent`] one to the
//! dead-letter topic, and the resilience outcomes ([`Error::BreakerOpen`],
//! [`Error::DeadlineExceeded`], [`Error::BudgetExhausted`]) say why no further attempt was made.
//!
//! Provider messages are copied into [`Failure::message`]; credentials never are (HTTP errors are
//! stripped of their URL, which for Aliyun carries the signed query).

use std::fmt;
use std::time::Duration;

/// What kind of answer (or non-answer) a provider gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No answer within the attempt timeout.
    Timeout,
    /// Could not connect, or the connection broke mid-request.
    Connection,
    /// The provider failed (HTTP 5xx, SMTP 4xx).
    Server,
    /// The provider asked us to slow down (HTTP 429, Aliyun `Throttling`).
    RateLimited,
    /// The recipient is unusable: invalid phone number or e-mail address.
    InvalidRecipient,
    /// The card was declined (Stripe `card_error`).
    Declined,
    /// The provider refused the request as malformed (other 4xx, SMTP 5xx).
    Rejected,
    /// Our credentials were refused (401/403): a configuration problem, not the message's.
    Unauthorized,
    /// The answer could not be understood.
    Protocol,
}

impl FailureKind {
    /// Whether this is the business saying no (a declined card, a bad phone number) rather than
    /// the provider being unwell. The breaker counts these as successes: they prove the provider
    /// answers, and a run of declined cards must not shed everyone else's payments.
    pub fn is_business(self) -> bool {
        matches!(
            self,
            Self::InvalidRecipient | Self::Declined | Self::Rejected
        )
    }

    fn label(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connection => "connection error",
            Self::Server => "server error",
            Self::RateLimited => "rate limited",
            Self::InvalidRecipient => "invalid recipient",
            Self::Declined => "declined",
            Self::Rejected => "rejected",
            Self::Unauthorized => "unauthorized",
            Self::Protocol => "protocol error",
        }
    }
}

/// One provider failure: what kind, and the provider's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The classification that decided retryable or permanent.
    pub kind: FailureKind,
    /// HTTP status or SMTP reply code, when there was one.
    pub status: Option<u16>,
    /// The provider's error code (`21211`, `isv.MOBILE_NUMBER_ILLEGAL`, `card_declined`).
    pub code: Option<String>,
    /// Stripe's `decline_code` (`insufficient_funds`, ...), for declined cards.
    pub decline_code: Option<String>,
    /// The provider's message, or ours when it gave none.
    pub message: String,
}

impl Failure {
    /// A failure with only a kind and a message.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            code: None,
            decline_code: None,
            message: message.into(),
        }
    }

    /// Sets the HTTP status / SMTP code.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the provider's error code.
    #[must_use]
    pub fn with_code(mut self, code: Option<String>) -> Self {
        self.code = code;
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.label())?;
        if let Some(status) = self.status {
            write!(f, " ({status})")?;
        }
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        if let Some(decline) = &self.decline_code {
            write!(f, " decline_code={decline}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in the adapters crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// May pass if tried again later.
    #[error("{provider}: {failure} (retryable)")]
    Retryable {
        /// Provider name (`twilio`, `stripe`, ...).
        provider: &'static str,
        /// What happened (boxed: keeps `Result<T, Error>` small on the hot path).
        failure: Box<Failure>,
        /// How long the provider asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Will fail the same way every time: do not retry.
    #[error("{provider}: {failure} (permanent)")]
    Permanent {
        /// Provider name.
        provider: &'static str,
        /// What happened (boxed: keeps `Result<T, Error>` small on the hot path).
        failure: Box<Failure>,
    },
    /// The circuit breaker shed the call: the provider is failing; pause and try later.
    #[error("{provider}: circuit breaker open, call shed")]
    BreakerOpen {
        /// Provider name.
        provider: &'static str,
    },
    /// The call's deadline ran out (waiting for a rate-limit permit, an attempt, or a backoff
    /// that would have ended past it).
    #[error("{provider}: deadline exceeded after {attempts} attempt(s){}", last_suffix(.last))]
    DeadlineExceeded {
        /// Provider name.
        provider: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's failure, if any attempt was made.
        last: Option<Box<Error>>,
    },
    /// The retry budget is spent: the provider is failing for many callers, so this one does not
    /// add retries.
    #[error("{provider}: retry budget exhausted after {attempts} attempt(s): {last}")]
    BudgetExhausted {
        /// Provider name.
        provider: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's failure.
        last: Box<Error>,
    },
    /// Bad configuration, naming the field.
    #[error("invalid config `{field}`: {reason}")]
    Config {
        /// Dotted path of the field (`resilience.breaker.k`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn last_suffix(last: &Option<Box<Error>>) -> String {
    last.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
}

/// `Result` with the adapters crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A retryable failure.
    pub fn retryable(provider: &'static str, failure: Failure) -> Self {
        Self::retryable_after(provider, failure, None)
    }

    /// A retryable failure with the provider's `Retry-After`.
    pub fn retryable_after(
        provider: &'static str,
        failure: Failure,
        retry_after: Option<Duration>,
    ) -> Self {
        Self::Retryable {
            provider,
            failure: Box::new(failure),
            retry_after,
        }
    }

    /// A permanent failure.
    pub fn permanent(provider: &'static str, failure: Failure) -> Self {
        Self::Permanent {
            provider,
            failure: Box::new(failure),
        }
    }

    /// A configuration error naming `field`.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Puts `prefix` before a config error's field (`resilience.k` → `sms.resilience.k`).
    #[must_use]
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            Self::Config { field, reason } => Self::Config {
                field: format!("{prefix}{field}"),
                reason,
            },
            other => other,
        }
    }

    /// Whether a later attempt may succeed: everything but permanent failures and bad config.
    /// The consumer runtime sends retryable errors to its retry path, the rest to the DLQ.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Retryable { .. } | Self::BreakerOpen { .. } => true,
            Self::DeadlineExceeded { last, .. } => last.as_ref().is_none_or(|e| e.is_retryable()),
            Self::BudgetExhausted { last, .. } => last.is_retryable(),
            Self::Permanent { .. } | Self::Config { .. } => false,
        }
    }

    /// The provider's `Retry-After`, if the (last) failure carried one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retryable { retry_after, .. } => *retry_after,
            Self::DeadlineExceeded { last, .. } => last.as_ref().and_then(|e| e.retry_after()),
            Self::BudgetExhausted { last, .. } => last.retry_after(),
            _ => None,
        }
    }

    /// The provider failure behind this error, if there is one.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Retryable { failure, .. } | Self::Permanent { failure, .. } => Some(failure),
            Self::DeadlineExceeded { last, .. } => last.as_ref().and_then(|e| e.failure()),
            Self::BudgetExhausted { last, .. } => last.failure(),
            _ => None,
        }
    }

    /// Whether the circuit breaker should count this as a success: a business answer (declined
    /// card, invalid number) proves the provider is healthy.
    pub fn is_acceptable(&self) -> bool {
        matches!(self, Self::Permanent { failure, .. } if failure.kind.is_business())
    }
}
