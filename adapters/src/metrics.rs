//! The adapters' metrics: their names, labels and help texts, and the handles one
//! [`Resilient`](crate::resilient::Resilient) wrapper records into. They go through the `metrics`
//! facade into whatever recorder the application installed; the `orderbus` binary installs the
//! one Prometheus registry of `consumers::runtime::exporter`, which also holds the buckets of
//! [`CALL_SECONDS`] (this crate depends on the facade only).
//!
//! Every call through a wrapper records, labelled `provider` (`twilio`, `stripe`, `log`, ...)
//! and `kind` ([`Kind`]: `sms`, `email`, `payment`):
//!
//! | name | type | what |
//! |---|---|---|
//! | [`CALLS`] | counter | calls, one per call (not per attempt), also by `outcome` ([`Outcome`]) |
//! | [`CALL_SECONDS`] | histogram | each attempt's latency; its count minus the calls is the retries; a shed call makes no attempt |
//! | [`BREAKER_STATE`] | gauge | the breaker as the call's last allow decision found it: 0 closed, 1 half-open, 2 open |
//!
//! and logs one line when a provider's breaker starts shedding (warn) and one when it stops
//! (info), not one per shed call. The gauge is set after every call, because the exporter drops
//! gauges nobody set for 30 s; a provider that took no call for that long shows no breaker gauge
//! until its next call (a paused consumer still probes once per `force_pass_ms`).
//!
//! Handles are made once per wrapper, and the breaker's state is the one its last allow decision
//! stored, so a call costs two clock reads per attempt and a few atomic operations, not a
//! registry lookup or a second breaker lock. Handles made before the application
//! installs its recorder record nowhere: build providers after it.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};

use metrics::{Counter, Gauge, Histogram, Unit, counter, describe_counter, describe_gauge};
use metrics::{describe_histogram, gauge, histogram};
use tokio::time::Instant;

use crate::error::{Error, FailureKind, Result};
use crate::resilience::breaker::{Breaker, BreakerState};

/// Provider calls by `provider`, `kind` and `outcome`.
pub const CALLS: &str = "orderbus_provider_calls_total";
/// Latency of each attempt of a provider call, by `provider` and `kind`.
pub const CALL_SECONDS: &str = "orderbus_provider_call_seconds";
/// A provider's circuit breaker by `provider` and `kind`: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "orderbus_provider_breaker_state";

/// What a provider is for: the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Text messages ([`SmsSender`](crate::sms::SmsSender)).
    Sms,
    /// E-mail ([`EmailSender`](crate::email::EmailSender)).
    Email,
    /// Payments ([`PaymentGateway`](crate::payment::PaymentGateway)).
    Payment,
}

impl Kind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
            Self::Payment => "payment",
        }
    }
}

/// How a call ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The provider took it (after retries, if any).
    Ok,
    /// Failed in a way a later call may not: 5xx, 429, connection, retry budget spent.
    Retryable,
    /// Refused for good: invalid recipient, declined card, rejected request, bad credentials.
    Permanent,
    /// The breaker shed it; the provider was not called.
    Shed,
    /// Ran out of time: the last attempt timed out, or the call's deadline ran out.
    Timeout,
}

impl Outcome {
    /// Every outcome, in the order of [`Outcome::index`].
    pub const ALL: [Outcome; 5] = [
        Self::Ok,
        Self::Retryable,
        Self::Permanent,
        Self::Shed,
        Self::Timeout,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Retryable => "retryable",
            Self::Permanent => "permanent",
            Self::Shed => "shed",
            Self::Timeout => "timeout",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The outcome of a call that returned `result`.
    pub fn of<T>(result: &Result<T>) -> Self {
        let Err(error) = result else {
            return Self::Ok;
        };
        match error {
            Error::BreakerOpen { .. } => Self::Shed,
            Error::DeadlineExceeded { .. } => Self::Timeout,
            e if e.failure().is_some_and(|f| f.kind == FailureKind::Timeout) => Self::Timeout,
            e if e.is_retryable() => Self::Retryable,
            _ => Self::Permanent,
        }
    }
}

/// Gives the metrics their help texts in the installed recorder (harmless when repeated).
fn describe() {
    describe_counter!(CALLS, "Provider calls (not attempts), by how they ended.");
    describe_histogram!(
        CALL_SECONDS,
        Unit::Seconds,
        "Latency of each attempt of a provider call."
    );
    describe_gauge!(
        BREAKER_STATE,
        "A provider's circuit breaker: 0 closed, 1 half-open, 2 open."
    );
}

/// The handles of one wrapper, and the breaker state it last reported.
#[derive(Debug)]
pub(crate) struct CallMetrics {
    provider: &'static str,
    kind: Kind,
    /// By [`Outcome::index`].
    calls: [Counter; 5],
    seconds: Histogram,
    breaker: Gauge,
    /// The breaker state last reported, as its gauge value; swapped, so of concurrent calls
    /// only one sees (and logs) a change.
    state: AtomicU8,
}

impl CallMetrics {
    /// Handles for `provider` of `kind` in the recorder installed now; the gauge starts closed.
    pub(crate) fn new(provider: &'static str, kind: Kind) -> Self {
        describe();
        let k = kind.as_str();
        let calls = Outcome::ALL
            .map(|o| counter!(CALLS, "provider" => provider, "kind" => k, "outcome" => o.as_str()));
        let closed = BreakerState::Closed.as_gauge();
        let breaker = gauge!(BREAKER_STATE, "provider" => provider, "kind" => k);
        breaker.set(f64::from(closed));
        Self {
            provider,
            kind,
            calls,
            seconds: histogram!(CALL_SECONDS, "provider" => provider, "kind" => k),
            breaker,
            state: AtomicU8::new(closed),
        }
    }

    /// `attempt`, its latency recorded when it ends or is dropped (an attempt the policy's
    /// timeout abandons is dropped, and counts as long as it was let run).
    pub(crate) fn timed<F: Future>(&self, attempt: F) -> impl Future<Output = F::Output> {
        let timer = Timer {
            seconds: &self.seconds,
            start: Instant::now(),
        };
        async move {
            let _timer = timer;
            attempt.await
        }
    }

    /// Records a finished call: its outcome, and the breaker's state as its last allow decision
    /// (this call's last attempt, or its shedding) found it.
    pub(crate) fn finished<T>(&self, result: &Result<T>, breaker: &Breaker) {
        self.calls[Outcome::of(result).index()].increment(1);
        let now = breaker.decided().as_gauge();
        self.breaker.set(f64::from(now));
        let before = self.state.swap(now, Ordering::Relaxed);
        let closed = BreakerState::Closed.as_gauge();
        let (provider, kind) = (self.provider, self.kind.as_str());
        if before == closed && now != closed {
            tracing::warn!(
                provider,
                kind,
                drop_ratio = breaker.drop_ratio(),
                "circuit breaker opened: shedding calls"
            );
        } else if before != closed && now == closed {
            tracing::info!(provider, kind, "circuit breaker closed: calls go out again");
        }
    }
}

/// Records the time since `start` when dropped.
struct Timer<'a> {
    seconds: &'a Histogram,
    start: Instant,
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.seconds.record(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Failure;

    #[test]
    fn outcomes_follow_the_error_kinds() {
        let f = |kind| Failure::new(kind, "x");
        let of = |e: Error| Outcome::of::<()>(&Err(e));
        assert_eq!(Outcome::of(&Ok(())), Outcome::Ok);
        assert_eq!(
            of(Error::retryable("p", f(FailureKind::Server))),
            Outcome::Retryable
        );
        assert_eq!(
            of(Error::retryable("p", f(FailureKind::Timeout))),
            Outcome::Timeout
        );
        assert_eq!(
            of(Error::permanent("p", f(FailureKind::Declined))),
            Outcome::Permanent
        );
        assert_eq!(of(Error::BreakerOpen { provider: "p" }), Outcome::Shed);
        let deadline = Error::DeadlineExceeded {
            provider: "p",
            attempts: 1,
            last: Some(Box::new(Error::retryable("p", f(FailureKind::RateLimited)))),
        };
        assert_eq!(of(deadline), Outcome::Timeout);
        let budget = Error::BudgetExhausted {
            provider: "p",
            attempts: 2,
            last: Box::new(Error::retryable("p", f(FailureKind::Connection))),
        };
        assert_eq!(of(budget), Outcome::Retryable);
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
    }
}
